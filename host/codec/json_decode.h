/* JSON text to values (json_decode.c): cJSON parses, the tree it builds is
 * mapped onto mh_value. Shared by the JSON codec (json_codec.c) and oRPC's
 * serializer, which takes two members out of its body. */
#ifndef MH_JSON_DECODE_H
#define MH_JSON_DECODE_H
#include <stdbool.h>
#include <stddef.h>

#include "codec/codec.h"
#include "core/error.h"
#include "core/value.h"

/* mh_codec_json.decode: one JSON text to a value; NULL and *err
 * (bad_request) when it is malformed, too deep, holds a NUL (raw or
 * escaped) or a string that is not UTF-8. */
mh_value *mh_json_decode(const char *data, size_t len, const mh_codec_limits *lim, mh_error **err);

/* Decodes as mh_json_decode does, but builds only the values of the given
 * top-level keys (the last of duplicates, the one JSON.parse keeps); the
 * other members are checked as mh_json_decode checks them (nesting, UTF-8),
 * so the same texts fail with the same errors. Returns 1 when the text is
 * an object (vals[i]: the value under keys[i], or NULL when it has none),
 * 0 when it is valid JSON of another kind (vals all NULL), -1 with *err
 * when mh_json_decode would fail. */
int mh_json_decode_members(const char *data, size_t len, const mh_codec_limits *lim, const char *const *keys,
                           mh_value **vals, size_t n, mh_error **err);

/* A JSON number as a value: INT when it is an integer a double holds
 * exactly (|x| <= 2^53, not -0), FLOAT otherwise. NULL when memory runs out. */
mh_value *mh_json_number(double x);

#endif
