/* JavaScript's Number::toString for a double: the shortest digits that
 * read back to the same double, written as JavaScript writes them
 * ("1e+21", "1e-7", "0.000001", "123456789012345680000", "NaN",
 * "-Infinity", and "0" for -0). ohash (codec/ohash.c) hashes this text. */
#ifndef MH_JS_NUMBER_H
#define MH_JS_NUMBER_H

/* Room for the longest form ("-1.2345678901234567e-308" and more) and a NUL. */
#define MH_JS_NUMBER_BUF 40

/* Writes x into buf; returns buf. */
char *mh_js_number_format(double x, char buf[MH_JS_NUMBER_BUF]);

#endif
