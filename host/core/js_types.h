/* The JavaScript types beyond JSON, as text: Date's ISO form, BigInt's
 * decimal form, a URL's scheme, RegExp flags and typed array kinds. Shared by the
 * structured-clone codec and the Lua bindings, so that the wire and the Lua
 * constructors accept exactly the same forms. */
#ifndef MH_JS_TYPES_H
#define MH_JS_TYPES_H
#include <stdbool.h>
#include <stddef.h>

/* Room for the longest ISO date ("+275760-09-13T00:00:00.000Z") and a NUL. */
#define MH_JS_DATE_BUF 40

/* Date.prototype.toISOString: "YYYY-MM-DDTHH:mm:ss.sssZ", or a signed
 * six-digit year outside 0..9999. False (buf untouched) for an invalid date
 * (NaN, or beyond JavaScript's +-8.64e15 ms), where toISOString throws. */
bool mh_js_date_format(double ms, char buf[MH_JS_DATE_BUF]);

/* The inverse, and strict: only what toISOString writes is accepted (a
 * real calendar day, milliseconds and 'Z' required, within JS's range). */
bool mh_js_date_parse(const char *s, size_t len, double *ms);

/* Canonical BigInt decimal text: -?(0|[1-9][0-9]*), and not "-0". */
bool mh_js_bigint_valid(const char *s, size_t len);

/* A URL's href as far as moonhost checks it: it starts with a scheme
 * ([A-Za-z][A-Za-z0-9+.-]*:), which `new URL` needs of an absolute URL.
 * The rest is the receiver's to parse. */
bool mh_js_url_valid(const char *s, size_t len);

/* RegExp flags `new RegExp` accepts: distinct letters of "dgimsuvy", not u with v. */
bool mh_js_regexp_flags_valid(const char *s, size_t len);

/* Index of a typed array kind structured-clone can carry as a list of
 * numbers ("Uint8Array", ..., "Float64Array", "ArrayBuffer", "DataView"),
 * or -1. The BigInt64 kinds are not here: their elements are BigInts, which
 * the JSON form cannot hold. */
int mh_js_typed_kind(const char *name, size_t len);
const char *mh_js_typed_kind_name(int kind);

/* Element x as the typed array stores it (ToInt8, ToUint8Clamp, float32
 * rounding, ...), so Lua sees what a JavaScript receiver would see. */
double mh_js_typed_coerce(int kind, double x);

#endif
