/* oRPC's {json, meta} serializer (orpc_serial.c): a codec with no HTTP in
 * it, used by the endpoint (orpc.h), the C tests and the fuzz target. */
#ifndef MH_ORPC_SERIAL_H
#define MH_ORPC_SERIAL_H
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "codec/codec.h"
#include "core/error.h"
#include "core/value.h"

/* StandardRPCJsonSerializer's meta type codes (@orpc/client 1.x). */
enum {
  MH_ORPC_BIGINT = 0,
  MH_ORPC_DATE = 1,
  MH_ORPC_NAN = 2,
  MH_ORPC_UNDEFINED = 3,
  MH_ORPC_URL = 4,
  MH_ORPC_REGEXP = 5,
  MH_ORPC_SET = 6,
  MH_ORPC_MAP = 7,
};

/* Appends {"json": ..., "meta": [...]} for v to out. -1 and *err (internal)
 * for a value JSON cannot carry (a string that is not UTF-8). */
int mh_orpc_encode(const mh_value *v, mh_buf *out, mh_error **err);
/* mh_orpc_encode's general path: builds the JSON form and the meta list as
 * a value tree, then encodes that. mh_orpc_encode writes a value for which
 * mh_orpc_plain holds (nothing to mark or change) straight out instead;
 * both give the same text, which the C tests compare. */
int mh_orpc_encode_marked(const mh_value *v, mh_buf *out, mh_error **err);
bool mh_orpc_plain(const mh_value *v);

/* Applies meta (an ARRAY of [type, ...path], or NULL) to json (taken; an
 * UNDEFINED value when the input had none) and returns the result. NULL and
 * *err (bad_request) when meta is malformed or points outside the value. */
mh_value *mh_orpc_apply_meta(mh_value *json, const mh_value *meta, mh_error **err);

/* The slot that path[from..] names inside *root (arrays by index, objects by
 * key, nothing else), or NULL with *err. what names the path in messages;
 * budget bounds the object keys compared (0: "too costly"). */
mh_value **mh_orpc_slot(mh_value **root, const mh_value *path, size_t from, const char *what, uint64_t *budget,
                        mh_error **err);
/* The key comparisons one request may spend following paths. */
#define MH_ORPC_PATH_BUDGET 50000000u

/* A JSON body {json, meta} (empty: no input) to the input value (UNDEFINED
 * when there is none). NULL and *err (bad_request) when it is malformed. */
mh_value *mh_orpc_decode_json(const char *text, size_t len, const mh_codec_limits *lim, mh_error **err);

#endif
