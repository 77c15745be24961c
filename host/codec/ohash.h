/* ohash 2.x's serialize(value) and hash(value), byte for byte: devframe's
 * static RPC dump names a query's record after hash(args), and its static
 * client looks a call up by hashing the arguments it was given, so a
 * static build (`moonhost build`) must name the file exactly so.
 *
 * The serializer writes strings in single quotes without escaping, object
 * keys bare and sorted by ohash's own collation (punctuation, digits, then
 * letters case-blind with lower case first on a tie, then everything else
 * by UTF-16 code unit), numbers as JavaScript prints them, Map and Set
 * entries sorted, Date as Date(ISO), and so on; tests/vectors/ohash.json
 * holds what the real package makes of each case. */
#ifndef MH_OHASH_H
#define MH_OHASH_H
#include "core/buf.h"
#include "core/error.h"
#include "core/value.h"

/* base64url (no padding) of a SHA-256 digest. */
#define MH_OHASH_LEN 43

/* Appends serialize(v) to out. -1 with *err: memory, or a value ohash
 * cannot serialize either (a DataView). */
int mh_ohash_serialize(const mh_value *v, mh_buf *out, mh_error **err);

/* hash(v) into out (NUL-terminated). 0, or -1 with *err. */
int mh_ohash(const mh_value *v, char out[MH_OHASH_LEN + 1], mh_error **err);

#endif
