/* The transport's own HTTP routes (http_routes.c): Vite DevTools discovery
 * documents, the health check and the embedded files. */
#ifndef MH_HTTP_ROUTES_H
#define MH_HTTP_ROUTES_H

typedef struct mh_server mh_server;

int mh_http_add_host_routes(mh_server *s);

#endif
