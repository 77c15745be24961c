/* A prepare and a check handle around the loop's I/O phase (io_phase.c):
 * mh_server_reading and mh_server_settle (conn.h) rely on them. */
#ifndef MH_IO_PHASE_H
#define MH_IO_PHASE_H
#include "transport/conn.h"

/* NULL when out of memory. */
struct mh_io_phase *mh_io_phase_start(uv_loop_t *loop, struct lws_context *ctx);

/* Closes s->io's handles (freed once closed) and clears s->io. */
void mh_io_phase_stop(mh_server *s);

#endif
