/* The network front: one libwebsockets context on the host's libuv loop,
 * serving WebSocket RPC and plain HTTP on the same port. */
#ifndef MH_SERVER_H
#define MH_SERVER_H

typedef struct mh_host mh_host;
typedef struct mh_server mh_server;

/* Listens on cfg->listen_host:listen_port. NULL on failure (logged). */
mh_server *mh_server_start(mh_host *host);
/* The port actually bound (useful when 0 was asked for). */
int mh_server_port(const mh_server *s);
/* Starts tearing lws down; the loop then runs until its handles close. */
void mh_server_stop(mh_server *s);
/* After the loop has stopped: releases what is left. */
void mh_server_free(mh_server *s);

#endif
