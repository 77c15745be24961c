/* GET /metrics: the host's counters in Prometheus text format 0.0.4
 * (metrics_route.c), for trusted requests and metrics.token only. */
#ifndef MH_METRICS_ROUTE_H
#define MH_METRICS_ROUTE_H
#include "core/buf.h"

typedef struct mh_host mh_host;
typedef struct mh_server mh_server;

/* Renders every metric into b; 0 or -1 (memory). */
int mh_metrics_render(mh_host *h, mh_buf *b);
/* Adds the route to server s; 0 or -1 (memory). */
int mh_metrics_route_add(mh_server *s);

#endif
