/* The network front: one libwebsockets context on the host's libuv loop,
 * serving WebSocket RPC and plain HTTP on the same port. */
#ifndef MH_SERVER_H
#define MH_SERVER_H

typedef struct mh_host mh_host;
typedef struct mh_server mh_server;

/* Listens on cfg->listen_host:listen_port (a host name is resolved first).
 * Returns 0 with *out set once the port is bound; else a log line says why
 * and it returns MH_START_BAD_CONFIG when the host name does not resolve,
 * -1 when the address cannot be listened on (in use, not on this machine,
 * ...), lws cannot start or memory runs out.
 * Even then *out may be set (lws was started): stop and free it as usual. */
int mh_server_start(mh_host *host, mh_server **out);
/* The port actually bound (useful when 0 was asked for). */
int mh_server_port(const mh_server *s);
/* The numeric address bound ("127.0.0.1" for listen = 'localhost:PORT'). */
const char *mh_server_address(const mh_server *s);
/* Starts tearing lws down; the loop then runs until its handles close. */
void mh_server_stop(mh_server *s);
/* After the loop has stopped: releases what is left. */
void mh_server_free(mh_server *s);

#endif
