/* The oRPC-compatible HTTP endpoint (README "HTTP (oRPC)"): what the real
 * @orpc/client RPCLink sends and expects, over the host's HTTP exchanges.
 *
 *   orpc.c            routing, methods, trust, CORS, the call and its reply
 *   orpc_stream.c     a stream function's answer: an event stream (SSE)
 *   orpc_answer.c     CORS headers and error answers, for both
 *   orpc_serial.c     the {json, meta} serializer, both ways
 *   orpc_multipart.c  multipart/form-data bodies (inputs holding files)
 *   orpc_error.c      moonhost error codes <-> oRPC error bodies and statuses */
#ifndef MH_ORPC_H
#define MH_ORPC_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "codec/codec.h"
#include "core/error.h"
#include "codec/orpc_serial.h"
#include "core/value.h"

typedef struct mh_host mh_host;
typedef struct mh_http_exchange mh_http_exchange;

/* ---- the endpoint (orpc.c) ---- */

/* Whether path lies under http.prefix ("/rpc" or "/rpc/..."). */
bool mh_orpc_claims(const mh_host *h, const char *path);
/* Answers one request under the prefix (the origin is checked already). */
void mh_orpc_route(mh_http_exchange *x);
/* Adds the endpoint to the server's routes (after the fixed ones). */
typedef struct mh_server mh_server;
int mh_orpc_add_routes(mh_server *s);

/* The function name for the path below the prefix, e.g. "/analytics/get-metrics"
 * -> "analytics:get-metrics". lws has percent-decoded the path once and
 * resolved "." and ".." already; this never decodes again, and refuses
 * empty, "." and ".." segments, control characters and invalid UTF-8.
 * False when the path names no function (or name is too small). */
bool mh_orpc_name(const char *rest, char *name, size_t len);


/* ---- event streams (orpc_stream.c) ---- */

/* Calls stream function `name` with args (taken) and answers x with its
 * chunks as oRPC's event iterator: text/event-stream, a comment first and
 * every http.sse_keepalive_ms while idle, `event: message` per chunk,
 * `event: done` for a final value, `event: error` with the oRPC error body.
 * The Last-Event-ID header reaches the producer. */
void mh_orpc_stream(mh_http_exchange *x, const char *name, mh_value *args);

/* ---- streamed inputs (orpc_input.c) ---- */

/* A client's event iterator as the input of a function declared with
 * input_stream: the body (text/event-stream; chunked as it comes, or whole
 * with a Content-Length) is decoded as it arrives and its items queued for
 * the handler (a fed upload on channel MH_ORPC_INPUT_CHANNEL, whose id is
 * the call's one argument; session/devframe_upload.h). */
#define MH_ORPC_INPUT_CHANNEL "orpc:input"
typedef struct mh_orpc_input mh_orpc_input;
/* Opens the input for fn's call; its id is written to id (33 bytes). NULL
 * and *err when it cannot be opened. */
mh_orpc_input *mh_orpc_input_begin(mh_http_exchange *x, const char *plugin, uint32_t generation, char *id,
                                   mh_error **err);
/* The call ended (x NULL when the client left): reading stops, the input
 * is dropped. */
void mh_orpc_input_end(mh_http_exchange *x, mh_orpc_input *in);

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

/* ---- answers (orpc_answer.c) ---- */

/* The CORS headers an allowed Origin gets on an answer. */
void mh_orpc_cors(mh_http_exchange *x);
/* Answers x with an error (and the CORS headers its origin gets). */
void mh_orpc_respond_error(mh_http_exchange *x, int status, const char *code, const char *message);
void mh_orpc_respond_mh_error(mh_http_exchange *x, const mh_error *e);

#endif
