/* The listening socket of the server, accepted on our side of libwebsockets.
 *
 * lws 4.1 accepts on its own listen socket and, when accept() fails with
 * EMFILE (the open-file limit), logs and returns with the connection still
 * pending: the level-triggered poll wakes it again at once, so the loop
 * spins on accept() (~360 000 log lines a second) and starves the clients
 * already connected. Here accept() is ours, and each accepted socket is
 * handed to lws with lws_adopt_socket_vhost() as if its listener had taken
 * it. At the limit we shed the pending connections through a spare
 * descriptor and stop polling the socket for a while (listener.c). */
#ifndef MH_LISTENER_H
#define MH_LISTENER_H
#include <uv.h>

typedef struct mh_listener mh_listener;
/* Takes ownership of fd (non-blocking, close-on-exec, TCP_NODELAY). */
typedef void (*mh_listener_accept_fn)(void *ud, int fd);

/* Listens on host (a numeric address or a name), port (0: a free one).
 * NULL on failure, with the reason logged. */
mh_listener *mh_listener_start(uv_loop_t *loop, const char *host, int port, mh_listener_accept_fn cb, void *ud);
int mh_listener_port(const mh_listener *l);
/* Closes the socket; the memory goes when the loop has closed the handles. */
void mh_listener_stop(mh_listener *l);

#endif
