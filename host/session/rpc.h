/* Server -> clients: broadcasts and gathered calls (ctx.rpc.broadcast,
 * ctx.rpc.broadcast_call). */
#ifndef MH_RPC_H
#define MH_RPC_H
#include <stddef.h>
#include <stdint.h>

#include "session/client.h"
#include "core/error.h"
#include "core/value.h"

typedef struct mh_host mh_host;
typedef struct mh_gather mh_gather;

/* Sends an optional event to every trusted client (those without the
 * function ignore it). Returns how many clients it was queued for. */
int mh_rpc_broadcast(mh_host *host, const char *name, const mh_value *args);

/* results: an ARRAY with one {client, ok=true, value} or {client, ok=false,
 * error} per client, in the order given; owned by the receiver. */
typedef void (*mh_gather_cb)(void *ud, mh_value *results);

/* Calls `name` on each of the clients (ids) and gathers every outcome. cb
 * runs once (maybe before this returns); the handle is valid until then. */
mh_gather *mh_rpc_broadcast_call(mh_host *host, char **client_ids, size_t n, const char *name, const mh_value *args,
                                 uint64_t timeout_ms, mh_gather_cb cb, void *ud);
/* The same with an "x" field on every call (a relayed identity). */
mh_gather *mh_rpc_broadcast_call_ex(mh_host *host, char **client_ids, size_t n, const char *name,
                                    const mh_value *args, const mh_value *extra, uint64_t timeout_ms, mh_gather_cb cb,
                                    void *ud);
/* Fills a gathered entry: ok=true with value, or ok=false with error (both taken). */
void mh_rpc_fill_outcome(mh_value *entry, mh_value *result, mh_error *err);
/* Gives up: outstanding client calls are dropped, cb is not called. */
void mh_gather_cancel(mh_gather *g);


#endif
