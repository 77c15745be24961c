/* A prepare and a check handle around the loop's I/O phase (io_phase.c):
 * mh_server_reading and mh_server_settle (conn.h) rely on them. */
#ifndef MH_IO_PHASE_H
#define MH_IO_PHASE_H
#include "transport/conn.h"

/* NULL when out of memory. */
struct mh_io_phase *mh_io_phase_start(uv_loop_t *loop, struct lws_context *ctx);

/* Closes s->io's handles (freed once closed) and clears s->io. */
void mh_io_phase_stop(mh_server *s);

/* After a keep-alive HTTP transaction lws 4.1 waits to see the socket
 * writable before it reads the next request, and asks the loop for POLLOUT
 * to learn it: two changes of the socket's poll events per request. When
 * the response went out whole the socket is writable: mh_server_settle has
 * lws told so at the end of this loop turn, before the loop polls, and with
 * core/poll_coalesce.c the POLLOUT asked for and dropped within the turn
 * never reaches epoll. By wsi: lws frees an HTTP connection's mh_conn when
 * the transaction completes. mh_server_unsettle: the connection is being
 * destroyed (LWS_CALLBACK_WSI_DESTROY). */
void mh_server_settle(mh_server *s, struct lws *wsi);
void mh_server_unsettle(mh_server *s, struct lws *wsi);

#endif
