/* The libwebsockets context: one vhost, one protocol that carries both the
 * WebSocket RPC connections and plain HTTP requests. */
#include "transport/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "session/auth.h"
#include "transport/conn.h"
#include "call/host.h"
#include "transport/http.h"
#include "transport/http_routes.h"
#include "transport/listener.h"
#include "transport/lws_alloc.h"
#include "transport/lws_log.h"
#include "core/poll_coalesce.h"
#include "transport/io_phase.h"
#include "core/error.h"
#include "core/log.h"
#include "transport/mcp.h"
#include "transport/orpc.h"
#include "transport/sse_conn.h"
#include "transport/ws_link.h"

/* The upgrade is the place to turn away a browser page from another site
 * (cross-site WebSocket hijacking), a DNS-rebinding page (its Host) and
 * paths we do not serve. */
static int confirm_upgrade(struct lws *wsi, mh_server *s) {
  char *path = NULL, *origin = NULL;
  const char *why = NULL;
  int status = mh_conn_gate(wsi, s->host, &origin, &why);
  if (!status && mh_conn_header_dup(wsi, WSI_TOKEN_GET_URI, &path) == -2) {
    why = "the path could not be read";
    status = 500;
  }
  if (!status && !mh_ws_path_ok(path ? path : "")) {
    why = "no WebSocket endpoint here (use /__ws)";
    status = 404;
    s->host->metrics.refused[MH_REFUSED_PATH]++;
  }
  if (!status && !s->host->plugins_loaded) {
    why = "starting: the plugins are loading";
    status = 503;
    s->host->metrics.refused[MH_REFUSED_STARTING]++;
  }
  free(path);
  free(origin);
  if (!status) return 0;
  mh_log_warn_limited("ws", "upgrade refused: %d %s", status, why);
  if (lws_return_http_status(wsi, (unsigned)status, why)) return -1;
  return 1; /* handled: no upgrade */
}

/* lws 4.1 turns a CONNECT request into a raw socket (lws_http_to_fallback)
 * before any HTTP callback, and a raw socket has no timeout: it stayed
 * open, unanswered, until the client left. moonhost is no proxy: it says
 * so and closes (returning nonzero makes lws close it). */
static int refuse_connect(struct lws *wsi) {
  static const char body[] = "CONNECT is not served: moonhost is no proxy\n";
  unsigned char buf[LWS_PRE + 256];
  int n = snprintf((char *)buf + LWS_PRE, sizeof buf - LWS_PRE,
                   "HTTP/1.1 405 Method Not Allowed\r\ncontent-type: text/plain; charset=utf-8\r\n"
                   "content-length: %zu\r\nconnection: close\r\n\r\n%s",
                   sizeof body - 1, body);
  mh_log_warn_limited("http", "a CONNECT request: 405, closing (moonhost is no proxy)");
  lws_write(wsi, buf + LWS_PRE, (size_t)n, LWS_WRITE_RAW);
  return -1;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len) {
  mh_conn *c = user;
  mh_server *s = lws_context_user(lws_get_context(wsi));
  if (reason == LWS_CALLBACK_RAW_ADOPT) return refuse_connect(wsi); /* the only raw socket lws makes here */
  if (reason == LWS_CALLBACK_WSI_DESTROY) {
    mh_server_unsettle(s, wsi);
    return 0;
  }
  /* A connection that closes before lws bound it to our protocol (a TCP
   * connect and nothing else) has no per-session block. */
  if (!c && reason != LWS_CALLBACK_HTTP_CONFIRM_UPGRADE && reason != LWS_CALLBACK_CLIENT_CONNECTION_ERROR) return 0;
  switch (reason) {
  case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: return confirm_upgrade(wsi, s);
  case LWS_CALLBACK_ESTABLISHED: return mh_ws_established(c, wsi, s);
  case LWS_CALLBACK_RECEIVE: return mh_ws_receive(c, in, len);
  case LWS_CALLBACK_SERVER_WRITEABLE: return mh_ws_writeable(c);
  case LWS_CALLBACK_CLOSED: mh_ws_closed(c); return 0;
  case LWS_CALLBACK_HTTP: return mh_http_request(c, wsi, s, in);
  case LWS_CALLBACK_HTTP_BODY: return mh_http_body(c, in, len);
  case LWS_CALLBACK_HTTP_BODY_COMPLETION: return mh_http_body_done(c);
  case LWS_CALLBACK_HTTP_WRITEABLE: return mh_http_writeable(c);
  case LWS_CALLBACK_CLOSED_HTTP: mh_http_closed(c); return 0;
  /* our side of a link to another host (mesh.upstreams) */
  case LWS_CALLBACK_CLIENT_ESTABLISHED: return mh_ws_link_established(c, wsi, s);
  case LWS_CALLBACK_CLIENT_RECEIVE: return mh_ws_receive(c, in, len);
  case LWS_CALLBACK_CLIENT_WRITEABLE: return mh_ws_writeable(c);
  case LWS_CALLBACK_CLIENT_CLOSED:
  case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: mh_ws_link_closed(c, wsi); return 0;
  default: return 0;
  }
}

/* lws 4.1 hands send() at most tx_packet_size bytes per write, or with 0
 * the receive buffer size (4 KiB by default), and keeps the rest of a frame
 * to send 4 KiB per loop turn. A prompt reader of 64 KiB broadcasts then
 * drained more slowly than the host queued and was dropped as a slow
 * consumer. The kernel takes what fits in the socket; the rest still waits
 * in lws (ws_conn.c checks lws_partial_buffered). */
#define TX_PACKET_BYTES (1024 * 1024)

/* How long an idle kept-alive HTTP connection stays open (create_vhost). */
#define MH_HTTP_KEEPALIVE_S 60

static const struct lws_protocols protocols[] = {
  {"moonhost", callback, sizeof(mh_conn), 0, 0, NULL, TX_PACKET_BYTES},
  {"moonhost-link", callback, sizeof(mh_conn), 0, 0, NULL, TX_PACKET_BYTES},
  {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* The address to listen on (listener.c binds it) and to announce: a host
 * name is resolved here, once, at start: its first IPv4 address, or its
 * first IPv6 one when it has none. An IPv6 literal (maybe with a %scope) and
 * an IPv4 one are used as they are. NULL (logged) when it does not resolve. */
static char *numeric_host(const char *name) {
  struct in_addr v4;
  if (strchr(name, ':') || inet_pton(AF_INET, name, &v4) == 1) return strdup(name);
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
  int rc = getaddrinfo(name, NULL, &hints, &res);
  if (rc) {
    mh_log_error("server", "cannot listen on %s: the host name does not resolve (%s)", name, gai_strerror(rc));
    return NULL;
  }
  const struct addrinfo *pick = NULL;
  for (const struct addrinfo *a = res; a && !(pick && pick->ai_family == AF_INET); a = a->ai_next)
    if (a->ai_family == AF_INET || (a->ai_family == AF_INET6 && !pick)) pick = a;
  char buf[INET6_ADDRSTRLEN] = "";
  if (pick) {
    const void *addr = pick->ai_family == AF_INET ? (const void *)&((struct sockaddr_in *)(void *)pick->ai_addr)->sin_addr
                                                  : (const void *)&((struct sockaddr_in6 *)(void *)pick->ai_addr)->sin6_addr;
    inet_ntop(pick->ai_family, addr, buf, sizeof buf);
  }
  freeaddrinfo(res);
  if (!buf[0]) {
    mh_log_error("server", "cannot listen on %s: it has no IPv4 or IPv6 address", name);
    return NULL;
  }
  mh_log_info("server", "%s resolves to %s: listening there only", name, buf);
  return strdup(buf);
}

/* 0 when addr:port can be bound, else the errno. lws logs a failed bind
 * only as a number, so we bind the address ourselves first (with
 * SO_REUSEADDR, as lws does) to say why in words. The socket is closed at
 * once, before it listens, so it leaves nothing behind. */
static int bind_error(const char *addr, int port) {
  char service[8];
  snprintf(service, sizeof service, "%d", port);
  struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM}, *res = NULL;
  if (getaddrinfo(addr, service, &hints, &res)) return EINVAL;
  int err = 0, one = 1;
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) || bind(fd, res->ai_addr, res->ai_addrlen))
    err = errno;
  if (fd >= 0) close(fd);
  freeaddrinfo(res);
  return err;
}

static const char *bind_error_words(int err) {
  switch (err) {
  case EADDRINUSE: return "address already in use (another process listens on that port)";
  case EADDRNOTAVAIL: return "address not available (no interface of this machine has it)";
  case EACCES: return "permission denied (ports below 1024 need privileges)";
  default: return strerror(err);
  }
}

/* A connection our listener accepted: lws takes it from here, as if its own
 * listen socket had (it closes the socket itself when it cannot). */
static void on_accept(void *ud, int fd) {
  mh_server *s = ud;
  if (!lws_adopt_socket_vhost(s->vhost, fd))
    mh_log_warn_limited("server", "connection dropped: libwebsockets could not take it (no free slot)");
}

/* info: the context's, completed for the vhost. The vhost serves what it is
 * given; the listen socket is ours (listener.h: lws 4.1 spins on accept() at
 * the open-file limit), which also binds exactly s->address (lws 4.1 opened
 * [::] whatever IPv4 address it was told). */
static struct lws_vhost *create_vhost(mh_server *s, struct lws_context_creation_info *info) {
  mh_host *host = s->host;
  info->port = CONTEXT_PORT_NO_LISTEN_SERVER;
  info->protocols = protocols;
  info->vhost_name = "moonhost";
  /* lws pings a silent client, then hangs up when even the pong is missing. */
  s->idle_policy.secs_since_valid_ping = (uint16_t)host->cfg->limits.ping_interval_s;
  s->idle_policy.secs_since_valid_hangup = (uint16_t)host->cfg->limits.idle_timeout_s;
  info->retry_and_idle_policy = &s->idle_policy;
  /* lws closes a kept-alive HTTP connection idle for keepalive_timeout,
   * 5 s by default: exactly how long Node's http.Agent keeps a free
   * socket, so a client busy for a few ms around then sent its next
   * request into the close (ECONNRESET, "socket hang up"). Client pools
   * keep idle sockets 4 s (undici) or 5 s (Node): the host waits longer. */
  info->keepalive_timeout = MH_HTTP_KEEPALIVE_S;
  return lws_create_vhost(s->ctx, info);
}

/* Before the lws context exists: nothing to tear down but s. */
static int start_failed(mh_server *s, int rc) {
  free(s->address);
  free(s->routes);
  free(s);
  return rc;
}

int mh_server_start(mh_host *host, mh_server **out) {
  *out = NULL;
  mh_server *s = calloc(1, sizeof *s);
  if (!s) {
    mh_log_error("server", "cannot start: out of memory");
    return -1;
  }
  s->host = host;
  /* The routes of the transport itself; the app adds its own (app/reload_route.c). */
  if (mh_http_add_host_routes(s) || mh_sse_add_routes(s) || mh_orpc_add_routes(s) || mh_mcp_add_routes(s)) {
    mh_log_error("server", "cannot start: out of memory for the HTTP routes");
    return start_failed(s, -1);
  }
  int port = host->cfg->listen_port;
  s->address = numeric_host(host->cfg->listen_host); /* logs why not */
  if (!s->address) return start_failed(s, MH_START_BAD_CONFIG);
  int err = bind_error(s->address, port);
  if (err) {
    mh_log_error("server", "cannot listen on %s port %d: %s", s->address, port, bind_error_words(err));
    return start_failed(s, -1);
  }
  mh_lws_log_level(LLL_ERR | LLL_WARN, mh_lws_log_emit);
  mh_lws_alloc_install();
  void *loops[1] = {host->loop};
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
  info.foreign_loops = loops;
  info.user = s;
  info.gid = -1;
  info.uid = -1;
  info.pcontext = &s->ctx; /* lws clears it once the context is fully gone */
  s->ctx = lws_create_context(&info);
  if (!s->ctx) {
    mh_log_error("server", "cannot create the libwebsockets context (see the [lws] lines above)");
    return start_failed(s, -1);
  }
  *out = s; /* from here on, lws tears down in two steps on our loop: stop, then free */
  s->vhost = create_vhost(s, &info);
  if (!s->vhost) {
    mh_log_error("server", "cannot create the libwebsockets vhost (see the [lws] lines above)");
    return -1;
  }
  /* The address was bindable a moment ago; if something took it since, the
   * listener says so and nothing is announced. */
  s->listener = mh_listener_start(host->loop, s->address, port, on_accept, s); /* logs why not */
  if (!s->listener) return -1;
  s->port = mh_listener_port(s->listener);
  s->io = mh_io_phase_start(host->loop, s->ctx);
  if (!s->io) {
    mh_log_error("server", "cannot start: out of memory");
    return -1;
  }
  s->coalescing = mh_poll_coalesce_start(host->loop) == 0;
  return 0;
}

int mh_server_port(const mh_server *s) { return s->port; }
const char *mh_server_address(const mh_server *s) { return s->address; }

static void coalesce_stop(mh_server *s) {
  if (s->coalescing) mh_poll_coalesce_stop();
  s->coalescing = false;
}

void mh_server_stop(mh_server *s) {
  coalesce_stop(s);
  mh_io_phase_stop(s);
  mh_listener_stop(s->listener);
  s->listener = NULL;
  if (s->ctx) lws_context_destroy(s->ctx);
}

void mh_server_free(mh_server *s) {
  mh_listener_stop(s->listener);
  s->listener = NULL;
  /* On a foreign loop lws finishes tearing down in a second call, after the
   * loop has run its handle close callbacks. */
  coalesce_stop(s);
  mh_io_phase_stop(s); /* not stopped before: its handles close with the loop's next run */
  if (s->ctx) lws_context_destroy(s->ctx);
  mh_lws_alloc_release(); /* lws has freed what it will */
  mh_sse_free(s);
  free(s->address);
  free(s->routes);
  mh_mcp_sessions_free(s->mcp_sessions);
  free(s);
}
