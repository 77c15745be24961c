/* The dialing side of host links (ws_link.c): WebSocket connections to
 * mesh.upstreams, redialed with backoff. The handshake and directory sync
 * over them are the mesh's (mesh_link.h). */
#ifndef MH_WS_LINK_H
#define MH_WS_LINK_H
#include <libwebsockets.h>

typedef struct mh_host mh_host;
typedef struct mh_conn mh_conn;
typedef struct mh_server mh_server;

/* Dials mesh.upstreams (after the server listens); stops redialing. */
int mh_links_start(mh_host *h);
void mh_links_stop(mh_host *h);

/* The lws client side of a link (server.c's protocol callback). */
int mh_ws_link_established(mh_conn *c, struct lws *wsi, mh_server *s);
void mh_ws_link_closed(mh_conn *c, struct lws *wsi);

#endif
