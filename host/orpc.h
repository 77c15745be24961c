/* The oRPC-compatible HTTP endpoint (README "HTTP (oRPC)"): what the real
 * @orpc/client RPCLink sends and expects, over the host's HTTP exchanges.
 *
 *   orpc.c            routing, methods, trust, CORS, the call and its reply
 *   orpc_serial.c     the {json, meta} serializer, both ways
 *   orpc_multipart.c  multipart/form-data bodies (inputs holding files)
 *   orpc_error.c      moonhost error codes <-> oRPC error bodies and statuses */
#ifndef MH_ORPC_H
#define MH_ORPC_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "codec.h"
#include "error.h"
#include "value.h"

typedef struct mh_host mh_host;
typedef struct mh_http_exchange mh_http_exchange;

/* ---- the endpoint (orpc.c) ---- */

/* Whether path lies under http.prefix ("/rpc" or "/rpc/..."). */
bool mh_orpc_claims(const mh_host *h, const char *path);
/* Answers one request under the prefix (the origin is checked already). */
void mh_orpc_route(mh_http_exchange *x);

/* The function name for the path below the prefix, e.g. "/analytics/get-metrics"
 * -> "analytics:get-metrics". lws has percent-decoded the path once and
 * resolved "." and ".." already; this never decodes again, and refuses
 * empty, "." and ".." segments, control characters and invalid UTF-8.
 * False when the path names no function (or name is too small). */
bool mh_orpc_name(const char *rest, char *name, size_t len);

/* ---- the serializer (orpc_serial.c) ---- */

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

/* ---- multipart bodies (orpc_multipart.c) ---- */

/* A multipart/form-data body as RPCLink sends an input holding Blobs: part
 * "data" is {json, meta, maps}, parts "0", "1", ... the files, maps[i] the
 * path of file i. Each file becomes {name, type, size, bytes} (bytes: a
 * STRING holding the raw bytes, which may not be UTF-8). */
mh_value *mh_orpc_decode_multipart(const char *body, size_t len, const char *content_type,
                                   const mh_codec_limits *lim, mh_error **err);

/* ---- errors (orpc_error.c) ---- */

/* The oRPC code and HTTP status for an error: moonhost's own codes map to
 * oRPC's (not_found -> NOT_FOUND 404, ...); other codes pass unchanged
 * with the plugin's status, oRPC's status for the code, or 500. */
const char *mh_orpc_error_code(const mh_error *e, int *status);

/* Appends the serialized oRPC error body {defined, code, status, message,
 * data} for e to out and returns the HTTP status. */
int mh_orpc_error_body(const mh_error *e, mh_buf *out);

/* Answers x with an error (and the CORS headers its origin gets). */
void mh_orpc_respond_error(mh_http_exchange *x, int status, const char *code, const char *message);
void mh_orpc_respond_mh_error(mh_http_exchange *x, const mh_error *e);

#endif
