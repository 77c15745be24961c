/* Per-connection state shared by the WebSocket and HTTP halves of the
 * server (lws gives one per-session block to both), and the server itself.
 * Internal to the transport layer: server.c, ws_conn.c, ws_link.c,
 * http_conn.c, http_routes.c (which reads the bound port) and the SSE
 * sessions (sse_conn.c, sse_session.c). */
#ifndef MH_CONN_H
#define MH_CONN_H
#include <libwebsockets.h>
#include <stdbool.h>
#include <uv.h>

#include "core/bucket.h"
#include "core/buf.h"
#include "core/map.h"
#include "session/client.h"

typedef struct mh_server mh_server;
typedef struct mh_http_exchange mh_http_exchange;

struct mh_server {
  mh_host *host;
  struct lws_context *ctx;
  struct lws_vhost *vhost;
  char *address; /* the numeric address listened on (listen's host name resolved) */
  int port;
  struct mh_listener *listener; /* our listen socket (listener.h) */
  lws_retry_bo_t idle_policy; /* keep-alive pings and idle hang-up */
  struct mh_io_phase *io;     /* whether the loop is in its I/O phase (mh_server_reading) */
  bool coalescing;            /* this server set up poll_coalesce.c (one server per loop does) */
  /* mh_http_add_route, in order: the nexact routes with a fixed path
   * first, then those whose claims() decides (find_route looks at them in
   * that order anyway). */
  struct mh_route_entry *routes;
  size_t nroutes, caproutes, nexact;
  mh_bucket untrusted_http_rate; /* shared by untrusted HTTP calls (orpc.c) */
  mh_map sse_sessions; /* session id -> mh_sse_session (sse_session.c) */
  struct mh_mcp_sessions *mcp_sessions; /* /__mcp sessions (mcp_session.c); NULL until the first */
};

/* A route and the length of its fixed path (SIZE_MAX for a route whose
 * claims() decides): a request's path is compared only with the paths of
 * its length (find_route, once per request). */
struct mh_route_entry {
  const struct mh_http_route *route;
  size_t path_len;
};

typedef struct ws_msg {
  struct ws_msg *next;
  size_t len;
  unsigned char data[]; /* LWS_PRE bytes of headroom, then the frame */
} ws_msg;

typedef struct mh_conn {
  struct lws *wsi;
  mh_server *server;
  /* WebSocket */
  mh_client *client;
  mh_buf rx;
  ws_msg *head, *tail;
  size_t queued;
  /* slow-consumer check (ws_conn.c): frames written from the queue, and
   * the count when the running check last looked */
  uint64_t written, written_mark;
  int stall_strikes;
  struct mh_timer *stall_timer;
  int close_code; /* non-zero: close at the next writeable callback */
  char close_reason[96];
  /* HTTP */
  mh_http_exchange *http;
} mh_conn;

/* ws_conn.c */
int mh_ws_established(mh_conn *c, struct lws *wsi, mh_server *s);
int mh_ws_receive(mh_conn *c, const void *in, size_t len);
int mh_ws_writeable(mh_conn *c);
void mh_ws_closed(mh_conn *c);
bool mh_ws_path_ok(const char *path);

/* http_conn.c */
int mh_http_request(mh_conn *c, struct lws *wsi, mh_server *s, const char *uri);
int mh_http_body(mh_conn *c, const void *in, size_t len);
int mh_http_body_done(mh_conn *c);
int mh_http_writeable(mh_conn *c);
void mh_http_closed(mh_conn *c);

/* Copies a header into buf (NUL-terminated); returns its length or -1 when
 * absent or longer than buf. Only for values whose length is bounded by
 * their meaning (paths we serve, numbers): never for a security check. */
int mh_conn_header(struct lws *wsi, enum lws_token_indexes h, char *buf, int len);
/* A header, whole, in a new string (*out, to free): its length, -1 when
 * absent, -2 when it cannot be read (out of memory, a NUL inside). */
int mh_conn_header_dup(struct lws *wsi, enum lws_token_indexes h, char **out);
/* The checks every HTTP request and WebSocket upgrade passes first: a Host
 * header (mh_auth_host_ok: DNS rebinding) and, if any, an allowed Origin
 * (cross-site pages). 0, or the HTTP status to refuse with and *why (a
 * refusal is logged). *origin gets the Origin header (NULL if absent), to
 * free. A header that cannot be read whole is a refusal, never an absence. */
int mh_conn_gate(struct lws *wsi, mh_host *h, char **origin, const char **why);

/* The loop's I/O phase, between its prepare and check callbacks (server.c
 * keeps it): where lws reads sockets. */
struct mh_io_phase {
  uv_prepare_t enter;
  uv_check_t leave;
  bool in_io;
  int open;          /* handles not closed yet: the last close frees this */
  struct lws_context *ctx;
  struct lws **settling; /* keep-alive connections lws waits to see writable (mh_server_settle) */
  size_t nsettling, capsettling;
  /* Exchanges whose request timer starts at the phase's end (http.h), and
   * what starts them: set by http_conn.c (a callback: the HTTP code uses
   * this file, not the other way round). */
  mh_list deadlines;
  void (*start_deadlines)(mh_list *pending);
};

/* True while the loop is in its I/O phase; lws handles bytes it buffered
 * earlier (pipelined requests) from an idle callback, outside it. */
static inline bool mh_server_reading(const mh_server *s) { return s->io && s->io->in_io; }

#endif
