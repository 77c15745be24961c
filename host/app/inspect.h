/* The inspector page's side of the host (README "Inspector"): trusted host
 * functions that tell the page what the host holds, and the live log tail.
 *
 *   moonhost:inspect:overview()        -> {host, plugins, functions, clients, peers, state, runs}
 *   moonhost:inspect:reload(plugin)    -> {plugin, ok, generation?, error?} once the load is done
 *   moonhost:inspect:logs()            -> {lines, skipped}: the recent lines; from then on the
 *                                         caller gets moonhost:inspect:log {lines, skipped} events
 *
 * They are not `anonymous:*`, so an untrusted client is refused them
 * (unauthorized) like every other function. */
#ifndef MH_INSPECT_H
#define MH_INSPECT_H

typedef struct mh_host mh_host;

/* Registers the functions, listens for plugin errors and keeps the recent
 * log lines (core/log_ring.h). 0 or -1 (memory). */
int mh_inspect_init(mh_host *h);
void mh_inspect_free(mh_host *h);

#endif
