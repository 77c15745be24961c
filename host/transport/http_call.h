/* A function call answered over HTTP (the oRPC endpoint, MCP's tools/call):
 * the dispatch, and what happens when the request times out or its client
 * leaves first, in one place. */
#ifndef MH_HTTP_CALL_H
#define MH_HTTP_CALL_H
#include "call/registry.h" /* mh_caller */
#include "core/error.h"
#include "core/value.h"

typedef struct mh_http_exchange mh_http_exchange;

/* Called exactly once. With x: answer it, from result or err (err is
 * rpc_timeout, naming http.request_timeout_ms, when no answer came in
 * time: the call was cancelled). With x NULL: the client left, the call
 * was cancelled and the request answered already; only release ud. */
typedef void (*mh_http_call_done)(mh_http_exchange *x, void *ud, const mh_value *result, const mh_error *err);

/* Calls function `name` with args (an ARRAY, taken) for the request x; done
 * may run before this returns. */
void mh_http_call(mh_http_exchange *x, const char *name, mh_value *args, mh_http_call_done done, void *ud);
/* The same for a function found by its name in this same turn of the loop
 * (mh_dispatch_fn): no second lookup. */
void mh_http_call_fn(mh_http_exchange *x, mh_fn *fn, mh_value *args, mh_http_call_done done, void *ud);

/* Who the call of request x is to the dispatcher: a request over HTTP,
 * which has no connection to name and is not the host either
 * (mh_mesh_identity), with the roles of its token. Valid while x is. */
mh_caller mh_http_caller(const mh_http_exchange *x);

#endif
