/* The caching dispatcher: routes a call to its function and decides whether
 * it runs, joins a run already in flight, or is answered from the cache.
 *
 *   static  runs once per plugin generation; concurrent first calls share it
 *   query   identical concurrent calls share one run; with a cache the
 *           result is kept per canonical argument encoding (TTL + LRU)
 *   action, event  always run, never shared or cached */
#ifndef MH_DISPATCH_H
#define MH_DISPATCH_H
#include <stdbool.h>

#include "call/registry.h" /* mh_caller, mh_fn */
#include "core/error.h"
#include "core/value.h"

typedef struct mh_host mh_host;
typedef struct mh_waiter mh_waiter;

/* Receives the outcome of a call. Both pointers are borrowed for the
 * duration of the callback; exactly one is non-NULL. */
typedef void (*mh_reply_fn)(void *ud, const mh_value *result, const mh_error *err);

/* Starts a call to `name` with positional args (an ARRAY, taken). reply may
 * be NULL for events. If the outcome is known at once (unknown function,
 * cache hit, memoized static) reply runs before this returns and NULL is
 * returned; otherwise a waiter handle is returned for mh_dispatch_cancel. */
/* caller (registry.h): who makes the call; NULL stands for the host itself. */
mh_waiter *mh_dispatch(mh_host *host, const mh_caller *caller, const char *name, mh_value *args, bool optional,
                       mh_reply_fn reply, void *ud);
/* mh_dispatch for a function the caller found already, by its name in
 * host->registry (mh_registry_get), in this same turn of the loop (so no
 * reload came in between): one lookup per call instead of two. */
typedef struct mh_fn mh_fn;
mh_waiter *mh_dispatch_fn(mh_host *host, const mh_caller *caller, mh_fn *fn, mh_value *args, mh_reply_fn reply,
                          void *ud);

/* An event (nobody is answered: a failure of an event function is logged,
 * as with mh_dispatch and no reply), but done runs once the run is over,
 * like a reply would, so the caller can count its events in flight.
 * Returns a waiter handle as mh_dispatch does. */
mh_waiter *mh_dispatch_event(mh_host *host, const mh_caller *caller, const char *name, mh_value *args, bool optional,
                             mh_reply_fn done, void *ud);
/* The caller goes away but the run goes on: done/reply is not called. */
void mh_dispatch_detach(mh_waiter *w);

/* The caller gives up: its reply will not be called. A run nobody waits for
 * any more is cancelled (except static runs, which others may join). */
void mh_dispatch_cancel(mh_waiter *w);

/* Drops cached results of `name`: all of them when args is NULL, or the
 * entry for exactly these args. Runs of them in flight (and a static run)
 * still answer their callers, but later calls start a new run and their
 * results are not kept. Returns the number of results dropped, -1 if the
 * function is unknown. */
int mh_dispatch_invalidate(mh_host *host, const char *name, const mh_value *args);

/* Starts a call of a stream function (call/stream.h): its chunks go to
 * sink (with ud), its end to on_end, as a reply. last_event_id is where
 * the reader resumes (NULL: from the start), handed to the producer. A
 * function that is not a stream is called as mh_dispatch would (sink
 * unused); mh_dispatch on a stream is answered bad_request. */
typedef struct mh_stream_sink mh_stream_sink;
mh_waiter *mh_dispatch_stream(mh_host *host, const mh_caller *caller, const char *name, mh_value *args,
                              const mh_stream_sink *sink, const char *last_event_id, mh_reply_fn on_end, void *ud);
/* The reader of a stream delivered what it held (its queue is under the
 * bound again): a producer waiting in mh_stream_emit goes on. Cheap when
 * nothing waits, so a reader may call it after every write. */
void mh_dispatch_drained(mh_waiter *w);

/* The runs in flight, oldest first: an ARRAY of {function, type, stream,
 * callers, ms (since the first caller came), paused (a stream waiting for
 * its reader)}. NULL when memory runs out. */
mh_value *mh_dispatch_runs(mh_host *host);

/* Registers the host's own functions (moonhost:functions, moonhost:stats). */
int mh_dispatch_add_builtins(mh_host *host);
/* The host is going while handlers still run (their generations wait for
 * them): when they end they answer their callers and count nowhere. */
void mh_dispatch_orphan_runs(mh_host *host);

#endif
