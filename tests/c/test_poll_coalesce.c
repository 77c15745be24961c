/* host/core/poll_coalesce.c: changes of a started poll handle's
 * events wait for the loop's next poll and are made once; events still
 * arrive as asked. Real sockets (a socketpair) on a real libuv loop; what
 * epoll holds is read from /proc/self/fdinfo of the loop's epoll fd. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "check.h"
#include "core/poll_coalesce.h"

/* The events epoll has for fd (the "events:" mask of its fdinfo line), or
 * -1 when epoll does not hold fd. */
static long epoll_mask(uv_loop_t *loop, int fd) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/self/fdinfo/%d", uv_backend_fd(loop));
  FILE *f = fopen(path, "r");
  long mask = -1;
  int tfd;
  unsigned long events;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "tfd: %d events: %lx", &tfd, &events) == 2 && tfd == fd) mask = (long)events;
  if (f) fclose(f);
  return mask;
}

static int seen; /* UV_READABLE / UV_WRITABLE bits the callback got */
static void on_events(uv_poll_t *h, int status, int events) {
  (void)h;
  if (status == 0) seen |= events;
}

static void run_once(uv_loop_t *loop) {
  seen = 0;
  uv_run(loop, UV_RUN_NOWAIT);
}

static int closed;
static void on_closed(uv_handle_t *h) {
  (void)h;
  closed++;
}

int main(void) {
  uv_loop_t loop;
  int sv[2];
  CHECK(uv_loop_init(&loop) == 0);
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  CHECK(mh_poll_coalesce_start(&loop) == 0);
  CHECK(mh_poll_coalesce_start(&loop) == -1); /* one loop at a time */

  uv_poll_t h;
  CHECK(uv_poll_init(&loop, &h, sv[0]) == 0);
  CHECK(uv_poll_start(&h, UV_READABLE, on_events) == 0);
  run_once(&loop);
  long in_mask = epoll_mask(&loop, sv[0]);
  CHECK(in_mask > 0);
  CHECK(seen == 0); /* nothing to read yet */

  /* Unchanged: epoll keeps the fd as it was (libuv alone removes it at once). */
  CHECK(uv_poll_start(&h, UV_READABLE, on_events) == 0);
  CHECK(epoll_mask(&loop, sv[0]) == in_mask);

  /* On and off within one turn: epoll never sees it. */
  CHECK(uv_poll_start(&h, UV_READABLE | UV_WRITABLE, on_events) == 0);
  CHECK(uv_poll_start(&h, UV_READABLE, on_events) == 0);
  CHECK(epoll_mask(&loop, sv[0]) == in_mask);
  run_once(&loop);
  CHECK(seen == 0);
  CHECK(epoll_mask(&loop, sv[0]) == in_mask);

  /* A change that stands is made before the loop polls: the socket is
   * writable, so the next turn reports it. */
  CHECK(uv_poll_start(&h, UV_READABLE | UV_WRITABLE, on_events) == 0);
  run_once(&loop);
  CHECK(seen & UV_WRITABLE);
  CHECK(epoll_mask(&loop, sv[0]) != in_mask);

  /* Back to reading: no writable events, and data is still seen. */
  CHECK(uv_poll_start(&h, UV_READABLE, on_events) == 0);
  run_once(&loop);
  CHECK(write(sv[1], "x", 1) == 1);
  run_once(&loop);
  CHECK(seen == UV_READABLE);
  char c;
  CHECK(read(sv[0], &c, 1) == 1);

  /* Two handles changed in turn: each change reaches its own descriptor
   * (poll_coalesce.c remembers the last handle's descriptor). */
  uv_poll_t h2;
  CHECK(uv_poll_init(&loop, &h2, sv[1]) == 0);
  CHECK(uv_poll_start(&h2, UV_READABLE, on_events) == 0);
  run_once(&loop);
  long in_mask2 = epoll_mask(&loop, sv[1]);
  CHECK(in_mask2 > 0);
  CHECK(uv_poll_start(&h2, UV_READABLE | UV_WRITABLE, on_events) == 0);
  CHECK(uv_poll_start(&h, UV_READABLE, on_events) == 0);
  CHECK(uv_poll_start(&h2, UV_READABLE | UV_WRITABLE, on_events) == 0);
  run_once(&loop);
  CHECK(epoll_mask(&loop, sv[0]) == in_mask);
  CHECK(epoll_mask(&loop, sv[1]) != in_mask2 && epoll_mask(&loop, sv[1]) > 0);
  CHECK(uv_poll_start(&h2, UV_READABLE, on_events) == 0);
  run_once(&loop);
  CHECK(epoll_mask(&loop, sv[1]) == in_mask2);
  uv_close((uv_handle_t *)&h2, on_closed);
  run_once(&loop);
  CHECK(closed == 1);
  closed = 0;

  /* Stopped with a change waiting: nothing more arrives. */
  CHECK(uv_poll_start(&h, UV_READABLE | UV_WRITABLE, on_events) == 0);
  CHECK(uv_poll_stop(&h) == 0);
  run_once(&loop);
  CHECK(seen == 0);
  CHECK(epoll_mask(&loop, sv[0]) == -1);

  /* Started again, changed, and closed before the loop polls: the change
   * is dropped with the handle (ASan would see a use after close). */
  CHECK(uv_poll_start(&h, UV_READABLE, on_events) == 0);
  run_once(&loop);
  CHECK(uv_poll_start(&h, UV_READABLE | UV_WRITABLE, on_events) == 0);
  uv_close((uv_handle_t *)&h, on_closed);
  run_once(&loop);
  CHECK(closed == 1);
  CHECK(seen == 0);

  mh_poll_coalesce_stop();
  uv_run(&loop, UV_RUN_DEFAULT); /* closes the coalescer's prepare handle */
  CHECK(uv_loop_close(&loop) == 0);
  close(sv[0]);
  close(sv[1]);
  return check_failures ? 1 : 0;
}
