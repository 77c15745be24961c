/* One HTTP request and its response, for route handlers (http_routes.c,
 * the oRPC endpoint, app/reload_route.c). A handler answers with
 * mh_http_respond, now or later; if the connection goes away first, x->conn
 * becomes NULL and the exchange lives until mh_http_respond is called (which
 * then frees it). Handlers are found in a route table that modules register
 * into (mh_http_add_route), so the connection code names none of them. */
#ifndef MH_HTTP_H
#define MH_HTTP_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec/chunked.h"
#include "core/buf.h"
#include "core/list.h"

typedef struct mh_host mh_host;
typedef struct mh_conn mh_conn;
typedef struct mh_server mh_server;
typedef struct mh_timer mh_timer;

#define MH_HTTP_MAX_HEADERS 8

typedef struct mh_http_exchange {
  mh_conn *conn;     /* NULL once the connection is gone */
  mh_host *host;
  int method;        /* LWSHUMETH_GET, LWSHUMETH_POST, ... */
  char method_name[8];
  mh_buf body;
  bool body_too_large;
  bool routed;       /* handed to the router: a handler may answer later */
  bool routing;      /* inside the router's call: a response is written on return */
  /* response */
  bool ready;
  int status;
  char content_type[64];
  mh_buf resp;
  size_t sent;
  bool headers_sent;
  int nheaders;
  bool trusted;      /* mh_http_trust said so */
  signed char http11; /* mh_http_version11 of the request: 1, 0, -1 unknown (read once) */
  bool close_after;  /* the connection closes after the answer, which says so (a body not read, or lws cannot find its end) */
  mh_timer *timer;   /* http.request_timeout_ms, from the request line to the response */
  /* A request read in the loop's I/O phase gets that timer at the end of
   * the phase (mh_http_start_deadlines), due request_timeout_ms after
   * started_ms, if it is still there: most are answered by then and need
   * none. Until then it waits in the phase's list (deadline_link). */
  bool deadline_pending;
  mh_list deadline_link;
  uint64_t started_ms;
  /* A streamed input's request (a chunked body being read for its handler)
   * is open-ended: its timeout counts from when its body last moved (bytes
   * came, or the handler took an item: mh_http_body_moved), not from
   * started_ms. 0 for every other request. */
  uint64_t moved_ms;
  /* Set by a handler that answers later and can stop its work: called once,
   * before any response, when the request times out (timed_out) or the
   * client leaves (x->conn is NULL then). It must call mh_http_respond. A
   * handler that leaves it NULL is never interrupted. */
  void (*on_abort)(struct mh_http_exchange *x, bool timed_out);
  void *ud;
  /* An open-ended response (mh_http_stream_begin): its body is written as
   * it comes and ends by closing the connection. */
  bool streaming;
  bool stream_ended; /* mh_http_stream_end: close once the queue is written */
  /* Called after a write leaves less than one write's worth queued, so
   * the handler can produce more (backpressure). */
  void (*on_drain)(struct mh_http_exchange *x);
  char *origin;      /* the Origin header, whole; NULL when absent */
  /* A body sent with Transfer-Encoding: chunked, to a route that takes one
   * (chunked_body): routed once its headers are in; lws 4.1 neither decodes
   * it nor says where it ends, so body_dec does. The handler may set
   * on_body, which gets the decoded bytes as they come, and on_body_end:
   * the body's end (error NULL) or its failure (error says why; too_large:
   * a chunk over limits.max_message_bytes). A body not read to its end
   * when the response has gone is read on and dropped (lingering) up to
   * its end or the request timeout, then the connection closes: closing
   * with unread bytes would reset it, and the client might lose the answer. */
  bool chunked;
  mh_chunked body_dec;
  /* The same for a body with a Content-Length answered before it was all
   * read (a 413, a refusal): the bytes lws will still hand over. */
  long long body_left;
  bool lingering;
  void (*on_body)(struct mh_http_exchange *x, const char *data, size_t len);
  void (*on_body_end)(struct mh_http_exchange *x, const char *error, bool too_large);
  void *body_ud;
  /* The large text buffers last: a new exchange zeroes only what comes
   * before them (mh_http_request), not ~6 KiB per request. */
  char path[1024];   /* as sent, without the query */
  char query[2048];  /* without the '?' */
  char header_names[MH_HTTP_MAX_HEADERS][48];   /* nheaders of them are set */
  char header_values[MH_HTTP_MAX_HEADERS][256];
  /* The body buffer of an exchange freed before (http_conn.c keeps a few),
   * taken by this one's first body bytes: a request without a body still
   * has body.data NULL. */
  mh_buf kept_body;
} mh_http_exchange;

/* Adds a response header (before mh_http_respond); name without ':'. */
void mh_http_header(mh_http_exchange *x, const char *name, const char *value);
/* Sets the response and starts writing it. Frees x if its connection is gone. */
void mh_http_respond(mh_http_exchange *x, int status, const char *content_type, const char *body, size_t len);
void mh_http_respond_text(mh_http_exchange *x, int status, const char *text);
/* mh_http_respond with body's bytes taken instead of copied: body is left
 * empty (its owner still frees it). */
void mh_http_respond_buf(mh_http_exchange *x, int status, const char *content_type, mh_buf *body);

/* ---- open-ended responses (event streams) ----
 * No Content-Length: lws 4.1 then sends `connection: close` and the body
 * ends when the connection does, so nothing after it is read as another
 * request (no pipelining behind a stream). */

/* Starts such a response (headers added before it go out with it); the
 * request timeout stops applying. */
void mh_http_stream_begin(mh_http_exchange *x, int status, const char *content_type);
/* Appends body bytes; returns the bytes queued and not yet handed to the
 * socket (0 when the client is gone: the bytes are dropped). */
size_t mh_http_stream_write(mh_http_exchange *x, const void *data, size_t len);
/* Ends the body: the connection closes once the queue is written. Frees x
 * if its connection is gone. */
void mh_http_stream_end(mh_http_exchange *x);
/* Ends the body now: what is queued is dropped and the connection closed
 * at the loop's next turn, however full the client's socket is (a reader
 * that reads nothing). Frees x if its connection is gone; x is not to be
 * used after this either way. */
void mh_http_stream_abort(mh_http_exchange *x);
/* Bytes of the body queued and not yet handed to the socket. */
static inline size_t mh_http_stream_backlog(const mh_http_exchange *x) { return x->resp.len - x->sent; }

/* Stops (pause) or resumes reading the request's body from the socket:
 * backpressure for a handler that consumes it as it comes (on_body). */
void mh_http_pause_body(mh_http_exchange *x, bool pause);
/* Its handler consumed some of a streamed body: the request is moving, and
 * its timeout counts from now (moved_ms; nothing for other requests). */
void mh_http_body_moved(mh_http_exchange *x);

/* A query parameter, percent-decoded into buf; false when absent. */
bool mh_http_query_param(const mh_http_exchange *x, const char *name, char *buf, size_t len);

/* A request header by name, lower case ("content-type", "authorization",
 * "last-event-id"), copied into buf; its length, or -1 when absent, too
 * long for buf, or the client is gone (-2 when too long, for a header lws
 * has no token for, such as last-event-id). */
int mh_http_req_header(const mh_http_exchange *x, const char *name, char *buf, size_t len);

/* The last query argument `name`, percent-decoded, whole (x->query is lossy
 * for values holding '&'). 1 found, 0 absent, -1 out of memory. */
int mh_http_query_arg(const mh_http_exchange *x, const char *name, mh_buf *out);

/* A route. A request goes to the first route whose path it names exactly
 * (method "GET" also takes HEAD; NULL takes any), else to the first whose
 * claims() accepts its path, in the order they were added; else 404. */
typedef struct mh_http_route {
  const char *method;
  const char *path; /* NULL: claims() decides */
  bool (*claims)(const mh_host *h, const char *path);
  void (*handle)(mh_http_exchange *x);
  /* Error answers (408, 413, refusals) for requests this route takes, in its
   * own format (oRPC error bodies); NULL: plain text. */
  void (*error)(mh_http_exchange *x, int status, const char *code, const char *message);
  /* Answers while the plugins found at start are still loading (the health
   * probes); every other route gets 503 until mh_host.plugins_loaded. */
  bool before_ready;
  /* Takes chunked request bodies (x->chunked, x->on_body); other routes
   * answer them 411. */
  bool chunked_body;
} mh_http_route;

/* Adds a route (borrowed: keep it static) to server s; 0, or -1 (memory). */
int mh_http_add_route(mh_server *s, const mh_http_route *r);

/* Whether the request carries a valid token (always, when auth.required is
 * off): "Authorization: Bearer T", ?token=T or the cookie moonhost_token=T;
 * kept in x->trusted for its calls (mh_http_caller). When it is not trusted,
 * whether it presented a token that is not ours (*token_refused; may be
 * NULL). */
bool mh_http_trust(mh_http_exchange *x, bool *token_refused);
/* The roles the request's token is granted in auth.tokens, or NULL
 * (borrowed from the configuration, for this turn of the loop). */
const mh_value *mh_http_token_roles(const mh_http_exchange *x);

#endif
