/* libuv 1.44 carries out every uv_poll_start on a started handle as a stop
 * and a start: epoll_ctl(DEL) at once and epoll_ctl(ADD) when the loop next
 * polls, even when the events do not change. lws 4.1's libuv event library
 * calls it on every change of a socket's wanted events, often twice, and
 * asks for POLLOUT after every keep-alive HTTP transaction only to drop it
 * again: six epoll_ctl system calls per HTTP request.
 *
 * The executable exports uv_poll_start, uv_poll_stop and uv_close
 * (CMakeLists.txt, --export-dynamic-symbol), so lws' calls bind here. A
 * change of a started handle's events is not made at once: it is noted and
 * made, once, just before the loop polls (a prepare handle), when the
 * events wanted then differ from the ones libuv has. Events switched on and
 * off again within one loop turn cost nothing; everything else goes to
 * libuv as it was called. Only libuv's public interface is used (the
 * handle's documented type and loop fields, uv_is_active, uv_fileno) and
 * libuv's own functions (dlsym RTLD_NEXT) do the work, so a libuv update
 * cannot break it.
 *
 * Why the delay is safe: the loop only waits in epoll after its prepare
 * phase, and a change made during its I/O phase is at most followed by a
 * poll with a zero timeout in the same phase; so a wanted event is always
 * registered before the loop can block. A handle stopped, closed, or
 * stopped by libuv itself (an error) drops what was noted for it. */
#include <dlfcn.h>
#include <stdbool.h>
#include <stdlib.h>

#include "core/poll_coalesce.h"

typedef int (*poll_start_fn)(uv_poll_t *, int, uv_poll_cb);
typedef int (*poll_stop_fn)(uv_poll_t *);
typedef void (*close_fn)(uv_handle_t *, uv_close_cb);

/* What is known of the handle polling a descriptor: the events libuv has
 * (applied) and the ones last asked for (wanted). */
typedef struct watch {
  uv_poll_t *handle; /* NULL: nothing known */
  uv_poll_cb cb;
  int applied, wanted;
  bool noted; /* in the list of changes to make */
} watch;

static struct {
  uv_loop_t *loop; /* the loop whose changes wait (mh_poll_coalesce_start); NULL: none do */
  uv_prepare_t before_poll;
  bool closing; /* before_poll is closing: it cannot be set up again yet */
  watch *by_fd;
  size_t nfds;
  int *noted; /* descriptors with a change to make */
  size_t nnoted, capnoted;
  /* The handle last asked about and its descriptor: lws changes one
   * connection's events several times in a row, and uv_fileno is a call
   * into libuv each time. Forgotten when that handle stops or closes (only
   * then can its descriptor change). */
  uv_poll_t *last;
  int last_fd;
  poll_start_fn start; /* set once all three are found */
  poll_stop_fn stop;
  close_fn close;
} S;

static bool find_libuv(void) {
  poll_start_fn start = (poll_start_fn)dlsym(RTLD_NEXT, "uv_poll_start");
  S.stop = (poll_stop_fn)dlsym(RTLD_NEXT, "uv_poll_stop");
  S.close = (close_fn)dlsym(RTLD_NEXT, "uv_close");
  if (start && S.stop && S.close) S.start = start;
  return S.start != NULL;
}

static inline bool bind_libuv(void) { return S.start || find_libuv(); }

/* Room for descriptor fd in by_fd; false when out of memory (then the call
 * goes to libuv as it is). */
static bool grow_to(int fd) {
  if ((size_t)fd < S.nfds) return true;
  size_t n = S.nfds ? S.nfds : 256;
  while (n <= (size_t)fd) n *= 2;
  watch *w = realloc(S.by_fd, n * sizeof *w);
  if (!w) return false;
  for (size_t i = S.nfds; i < n; i++) w[i] = (watch){0};
  S.by_fd = w;
  S.nfds = n;
  return true;
}

/* What is known of h's descriptor (*fd), or NULL when h is not on the
 * coalesced loop; grow: make room for it (a start) rather than give up. */
static inline __attribute__((always_inline)) watch *watch_of(uv_poll_t *h, bool grow, int *fd) {
  uv_os_fd_t f;
  if (!S.loop || h->loop != S.loop) return NULL;
  if (h == S.last) {
    f = S.last_fd;
  } else {
    if (uv_fileno((uv_handle_t *)h, &f) || f < 0) return NULL;
    S.last = h;
    S.last_fd = f;
  }
  if ((size_t)f >= S.nfds && !(grow && grow_to(f))) return NULL;
  *fd = f;
  return &S.by_fd[f];
}

static void make_noted_changes(uv_prepare_t *p) {
  (void)p;
  for (size_t i = 0; i < S.nnoted; i++) {
    watch *w = &S.by_fd[S.noted[i]];
    w->noted = false;
    if (!w->handle || w->wanted == w->applied) continue;
    if (!uv_is_active((uv_handle_t *)w->handle)) { /* libuv stopped it meanwhile */
      w->handle = NULL;
      continue;
    }
    S.start(w->handle, w->wanted, w->cb);
    w->applied = w->wanted;
  }
  S.nnoted = 0;
}

static bool note(int fd) {
  if (S.nnoted == S.capnoted) {
    size_t cap = S.capnoted ? 2 * S.capnoted : 64;
    int *n = realloc(S.noted, cap * sizeof *n);
    if (!n) return false;
    S.noted = n;
    S.capnoted = cap;
  }
  S.noted[S.nnoted++] = fd;
  return true;
}

int uv_poll_start(uv_poll_t *h, int events, uv_poll_cb cb) {
  if (!bind_libuv()) abort(); /* no libuv behind us: nothing can poll */
  int fd;
  watch *w = watch_of(h, true, &fd);
  if (w && w->handle == h && w->cb == cb && events && uv_is_active((uv_handle_t *)h)) {
    w->wanted = events;
    if (w->wanted == w->applied || w->noted) return 0;
    if (note(fd)) {
      w->noted = true;
      return 0;
    }
  }
  int rc = S.start(h, events, cb);
  if (w) *w = (watch){.handle = rc == 0 && events ? h : NULL, .cb = cb, .applied = events, .wanted = events,
                      .noted = w->noted};
  return rc;
}

static void forget(uv_poll_t *h) {
  int fd;
  watch *w = watch_of(h, false, &fd);
  if (w && w->handle == h) w->handle = NULL;
  if (S.last == h) S.last = NULL;
}

int uv_poll_stop(uv_poll_t *h) {
  if (!bind_libuv()) abort();
  forget(h);
  return S.stop(h);
}

void uv_close(uv_handle_t *h, uv_close_cb cb) {
  if (!bind_libuv()) abort();
  if (h->type == UV_POLL) forget((uv_poll_t *)h);
  S.close(h, cb);
}

static void before_poll_closed(uv_handle_t *h) {
  (void)h;
  S.closing = false;
}

int mh_poll_coalesce_start(uv_loop_t *loop) {
  if (S.loop || S.closing || !bind_libuv()) return -1;
  if (uv_prepare_init(loop, &S.before_poll)) return -1;
  /* Started for good (a loop turn with nothing noted costs it a test; a
   * start and a stop per keep-alive request cost more): it observes the
   * loop, it must not keep it running. */
  uv_prepare_start(&S.before_poll, make_noted_changes);
  uv_unref((uv_handle_t *)&S.before_poll);
  S.loop = loop;
  return 0;
}

void mh_poll_coalesce_stop(void) {
  if (!S.loop) return;
  /* What was noted is made now: the handles may be polled once more. */
  make_noted_changes(&S.before_poll);
  S.loop = NULL;
  S.closing = true;
  S.close((uv_handle_t *)&S.before_poll, before_poll_closed);
  free(S.by_fd);
  free(S.noted);
  S.by_fd = NULL;
  S.noted = NULL;
  S.last = NULL;
  S.nfds = S.nnoted = S.capnoted = 0;
}
