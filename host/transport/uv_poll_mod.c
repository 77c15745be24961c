/* libwebsockets 4.1 on libuv changes a socket's poll events with
 * uv_poll_start, and libuv 1.44 carries out every uv_poll_start on a started
 * handle as a full stop and start: epoll_ctl(DEL) at once, epoll_ctl(ADD) on
 * the next loop turn. lws asks for POLLOUT after every keep-alive HTTP
 * transaction and drops it again, and calls uv_poll_start twice per change,
 * so an HTTP request cost 6 epoll_ctl calls (2 of them failing with ENOENT)
 * where one MOD per change does (bench/README.md "What is left against
 * OpenResty").
 *
 * The executable exports this uv_poll_start (CMakeLists.txt), so lws' event
 * library plugin binds to it. For a handle that is started, registered and
 * has no change pending, with the same callback, it changes the events with
 * one epoll_ctl(MOD), or none when they are the same, and records them in
 * the watcher as libuv itself does after its own epoll_ctl; everything else
 * goes to libuv's uv_poll_start. The watcher's fields are libuv's private
 * ones (uv/unix.h), so this path is used only with the libuv version it was
 * built against (uv_version() checked at run time), on Linux. */
#include <dlfcn.h>
#include <uv.h>

#include "transport/uv_poll_mod.h"

typedef int (*uv_poll_start_fn)(uv_poll_t *, int, uv_poll_cb);

static uv_poll_start_fn libuv_poll_start;
static bool mod_ok; /* the running libuv is the one the fields were read from */

#if defined(__linux__)
#include <poll.h>
#include <sys/epoll.h>

/* uv_poll_start's mapping of UV_* events onto the watcher's poll bits. */
static unsigned poll_bits(int events) {
  unsigned bits = 0;
  if (events & UV_READABLE) bits |= POLLIN;
  if (events & UV_PRIORITIZED) bits |= POLLPRI;
  if (events & UV_WRITABLE) bits |= POLLOUT;
  if (events & UV_DISCONNECT) bits |= EPOLLRDHUP;
  return bits;
}

/* 0 when done here, -1 when libuv must do it. */
static int modify(uv_poll_t *h, int events, uv_poll_cb cb) {
  uv__io_t *w = &h->io_watcher;
  if (!mod_ok || !events || !uv_is_active((uv_handle_t *)h) || uv_is_closing((uv_handle_t *)h) || h->poll_cb != cb)
    return -1;
  if (w->events == 0 || w->events != w->pevents || w->fd < 0) return -1; /* not registered, or a change pending */
  unsigned want = poll_bits(events);
  if (want == w->pevents) return 0;
  struct epoll_event e = {0};
  e.events = want;
  e.data.fd = w->fd; /* as libuv registers it */
  if (epoll_ctl(uv_backend_fd(h->loop), EPOLL_CTL_MOD, w->fd, &e)) return -1;
  w->pevents = w->events = want;
  return 0;
}
#else
static int modify(uv_poll_t *h, int events, uv_poll_cb cb) {
  (void)h, (void)events, (void)cb;
  return -1;
}
#endif

int uv_poll_start(uv_poll_t *h, int events, uv_poll_cb cb) {
  if (modify(h, events, cb) == 0) return 0;
  if (!libuv_poll_start) mh_uv_poll_mod_init();
  return libuv_poll_start(h, events, cb);
}

void mh_uv_poll_mod_init(void) {
  if (libuv_poll_start) return;
  libuv_poll_start = (uv_poll_start_fn)dlsym(RTLD_NEXT, "uv_poll_start");
  mod_ok = libuv_poll_start && uv_version() == UV_VERSION_HEX;
}
