/* The loop's I/O phase, observed (mh_server_reading), and the keep-alive
 * HTTP connections told they are writable at its end (mh_server_settle):
 * see conn.h. */
#include <stdlib.h>

#include "transport/io_phase.h"

static void io_enter(uv_prepare_t *p) { ((struct mh_io_phase *)p->data)->in_io = true; }

void mh_server_settle(mh_server *s, struct lws *wsi) {
  struct mh_io_phase *io = s->io;
  if (!io) return;
  if (io->nsettling == io->capsettling) {
    size_t cap = io->capsettling ? 2 * io->capsettling : 16;
    struct lws **n = realloc(io->settling, cap * sizeof *n);
    if (!n) return; /* lws then learns it from the loop, as without this */
    io->settling = n;
    io->capsettling = cap;
  }
  io->settling[io->nsettling++] = wsi;
}

void mh_server_unsettle(mh_server *s, struct lws *wsi) {
  struct mh_io_phase *io = s->io;
  for (size_t i = 0; io && i < io->nsettling; i++)
    if (io->settling[i] == wsi) io->settling[i] = NULL;
}

/* The POLLOUT lws waits for, given as lws' libuv event library gives it:
 * lws moves the connection to reading again and drops its POLLOUT. It
 * writes nothing (it has nothing to write) and may close the connection,
 * whose entry WSI_DESTROY then clears. */
static void settle_all(struct mh_io_phase *io) {
  for (size_t i = 0; i < io->nsettling; i++) {
    struct lws *wsi = io->settling[i];
    if (!wsi) continue;
    io->settling[i] = NULL;
    struct lws_pollfd pfd = {.fd = lws_get_socket_fd(wsi), .events = LWS_POLLIN | LWS_POLLOUT, .revents = LWS_POLLOUT};
    if (pfd.fd >= 0) lws_service_fd(io->ctx, &pfd);
  }
  io->nsettling = 0;
}

static void io_leave(uv_check_t *c) {
  struct mh_io_phase *io = c->data;
  io->in_io = false;
  settle_all(io);
  if (io->start_deadlines) io->start_deadlines(&io->deadlines);
}

static void io_closed(uv_handle_t *handle) {
  struct mh_io_phase *io = handle->data;
  if (--io->open == 0) {
    free(io->settling);
    free(io);
  }
}

struct mh_io_phase *mh_io_phase_start(uv_loop_t *loop, struct lws_context *ctx) {
  struct mh_io_phase *io = calloc(1, sizeof *io);
  if (!io) return NULL;
  uv_prepare_init(loop, &io->enter);
  uv_check_init(loop, &io->leave);
  io->enter.data = io->leave.data = io;
  io->open = 2;
  io->ctx = ctx;
  mh_list_init(&io->deadlines);
  uv_prepare_start(&io->enter, io_enter);
  uv_check_start(&io->leave, io_leave);
  /* They observe the loop; they must not keep it running. */
  uv_unref((uv_handle_t *)&io->enter);
  uv_unref((uv_handle_t *)&io->leave);
  return io;
}

void mh_io_phase_stop(mh_server *s) {
  if (!s->io) return;
  s->io->nsettling = 0;
  if (s->io->start_deadlines) s->io->start_deadlines(&s->io->deadlines); /* the list goes with s->io */
  uv_close((uv_handle_t *)&s->io->enter, io_closed);
  uv_close((uv_handle_t *)&s->io->leave, io_closed);
  s->io = NULL;
}
