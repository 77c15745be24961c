/* The WebSocket transport (libwebsockets on the host's libuv loop).
 * It frames, queues and limits; everything else is mh_client's job. */
#ifndef MH_WS_SERVER_H
#define MH_WS_SERVER_H

typedef struct mh_host mh_host;
typedef struct mh_ws_server mh_ws_server;

/* Listens on cfg->listen_host:listen_port. Returns NULL on failure (logged). */
mh_ws_server *mh_ws_server_start(mh_host *host);
/* The port actually bound (useful when 0 was asked for). */
int mh_ws_server_port(const mh_ws_server *s);
/* Closes every connection with `code` and starts tearing lws down; the
 * loop then runs until lws has closed its handles. */
void mh_ws_server_stop(mh_ws_server *s, int code);
/* After the loop has stopped: releases what is left. */
void mh_ws_server_free(mh_ws_server *s);

#endif
