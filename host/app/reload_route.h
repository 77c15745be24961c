/* POST /__moonhost/reload (reload_route.c). */
#ifndef MH_RELOAD_ROUTE_H
#define MH_RELOAD_ROUTE_H

typedef struct mh_host mh_host;

/* Adds the route to the host's server (run.c, once it listens); 0 or -1. */
int mh_reload_route_add(mh_host *h);

#endif
