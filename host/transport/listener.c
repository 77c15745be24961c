/* Our own listen socket (why: listener.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4 */
#endif
#include "transport/listener.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"

/* How long the socket is left alone once the open-file limit was hit:
 * the clients already connected get the loop meanwhile. */
#define BACKOFF_MS 100
/* Connections taken per wake-up, so a burst of them cannot hold the loop. */
#define ACCEPTS_PER_WAKE 64

struct mh_listener {
  uv_poll_t poll;
  uv_timer_t backoff;
  int fd;
  int spare; /* an open /dev/null kept to be given up at the limit, or -1 */
  int port;
  int open_handles; /* freed when both handles are closed */
  mh_listener_accept_fn cb;
  void *ud;
};

static void open_spare(mh_listener *l) {
  if (l->spare < 0) l->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static bool out_of_descriptors(int err) { return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM; }

/* At the limit the pending connections would wake the poll again at once:
 * give up the spare descriptor so accept() can take each one, close it
 * (the client sees the connection end instead of hanging), and take the
 * spare back. Returns how many were closed. */
static int shed_pending(mh_listener *l) {
  if (l->spare < 0) return 0;
  close(l->spare);
  l->spare = -1;
  int shed = 0;
  for (int i = 0; i < ACCEPTS_PER_WAKE; i++) {
    int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) break;
    close(fd);
    shed++;
  }
  open_spare(l);
  return shed;
}

static void on_readable(uv_poll_t *p, int status, int events);

static void resume(uv_timer_t *t) {
  mh_listener *l = t->data;
  open_spare(l); /* it may have been taken by something else last time */
  uv_poll_start(&l->poll, UV_READABLE, on_readable);
}

static void back_off(mh_listener *l, int err) {
  int shed = out_of_descriptors(err) ? shed_pending(l) : 0;
  mh_log_warn_limited("server", "accept: %s: %d pending connection(s) closed; not accepting for %d ms",
                      strerror(err), shed, BACKOFF_MS);
  uv_poll_stop(&l->poll);
  uv_timer_start(&l->backoff, resume, BACKOFF_MS, 0);
}

static void on_readable(uv_poll_t *p, int status, int events) {
  (void)events;
  mh_listener *l = p->data;
  if (status < 0) {
    back_off(l, -status);
    return;
  }
  for (int i = 0; i < ACCEPTS_PER_WAKE; i++) {
    int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) return;
      if (err == EINTR || err == ECONNABORTED || err == EPROTO || err == EPERM) continue; /* that one is gone */
      back_off(l, err);
      return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* as lws sets on what it accepts */
    l->cb(l->ud, fd);
  }
}

/* A bound, listening, non-blocking socket, or -1 with the reason logged. */
static int listen_socket(const char *host, int port, int *bound_port) {
  char service[16];
  snprintf(service, sizeof service, "%d", port);
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
  struct addrinfo *res = NULL;
  int rc = getaddrinfo(host, service, &hints, &res);
  if (rc) {
    mh_log_error("server", "cannot resolve %s: %s", host, gai_strerror(rc));
    return -1;
  }
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
      bind(fd, res->ai_addr, res->ai_addrlen) || listen(fd, SOMAXCONN)) {
    mh_log_error("server", "cannot listen on %s:%d: %s", host, port, strerror(errno));
    if (fd >= 0) close(fd);
    freeaddrinfo(res);
    return -1;
  }
  freeaddrinfo(res);
  struct sockaddr_storage sa;
  socklen_t len = sizeof sa;
  *bound_port = port;
  if (getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
    *bound_port = sa.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&sa)->sin6_port)
                                           : ntohs(((struct sockaddr_in *)&sa)->sin_port);
  return fd;
}

mh_listener *mh_listener_start(uv_loop_t *loop, const char *host, int port, mh_listener_accept_fn cb, void *ud) {
  mh_listener *l = calloc(1, sizeof *l);
  if (!l) {
    mh_log_error("server", "cannot listen on %s:%d: out of memory", host, port);
    return NULL;
  }
  l->cb = cb;
  l->ud = ud;
  l->spare = -1;
  l->fd = listen_socket(host, port, &l->port);
  if (l->fd < 0) {
    free(l);
    return NULL;
  }
  int rc = uv_poll_init(loop, &l->poll, l->fd);
  if (rc) {
    mh_log_error("server", "cannot poll the listen socket on %s:%d: %s", host, port, uv_strerror(rc));
    close(l->fd);
    free(l);
    return NULL;
  }
  uv_timer_init(loop, &l->backoff);
  l->poll.data = l->backoff.data = l;
  l->open_handles = 2;
  open_spare(l);
  uv_poll_start(&l->poll, UV_READABLE, on_readable);
  return l;
}

int mh_listener_port(const mh_listener *l) { return l->port; }

static void on_closed(uv_handle_t *h) {
  mh_listener *l = h->data;
  if (--l->open_handles == 0) free(l);
}

void mh_listener_stop(mh_listener *l) {
  if (!l) return;
  uv_close((uv_handle_t *)&l->poll, on_closed); /* stops watching the fd before it is closed */
  uv_close((uv_handle_t *)&l->backoff, on_closed);
  close(l->fd);
  if (l->spare >= 0) close(l->spare);
}
