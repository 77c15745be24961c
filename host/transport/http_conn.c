/* The HTTP half of a connection: collects a request, hands it to the
 * router, writes the response from the writeable callback. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "session/auth.h"
#include "transport/conn.h"
#include "transport/http_head.h"
#include "transport/io_phase.h"
#include "core/error.h"
#include "call/host.h"
#include "transport/http.h"
#include "core/log.h"
#include "core/small_alloc.h"
#include "core/timer.h"

#define CHUNK 16384

/* snprintf(dst, size, "%.*s", n, src) without printf's machinery, which
 * costs more than the rest of the copy on every request. */
static void copy_text(char *dst, size_t size, const char *src, size_t n) {
  if (n >= size) n = size - 1;
  memcpy(dst, src, n);
  dst[n] = '\0';
}

static void copy_cstr(char *dst, size_t size, const char *src) { copy_text(dst, size, src, strnlen(src, size)); }

/* lws_hdr_copy(wsi, buf, len, h) for a header of total length n (> 0),
 * byte for byte, in one memcpy for the usual header that came once and
 * holds no NUL (lws_hdr_copy counts the length again and copies with
 * strncpy); a header that came more than once (its parts joined) or holds
 * a NUL is copied by lws_hdr_copy, which overwrites all of this. */
static int header_copy(struct lws *wsi, enum lws_token_indexes h, int n, char *buf, int len) {
  if (n >= len) return -1; /* as lws_hdr_copy */
  if (lws_hdr_copy_fragment(wsi, buf, len, h, 0) == n && !memchr(buf, '\0', (size_t)n)) return n;
  return lws_hdr_copy(wsi, buf, len, h);
}

int mh_conn_header(struct lws *wsi, enum lws_token_indexes h, char *buf, int len) {
  buf[0] = '\0';
  int n = lws_hdr_total_length(wsi, h);
  if (n <= 0) return -1;
  return header_copy(wsi, h, n, buf, len);
}

/* Header h, of total length n (> 0), whole into buf (n + 1 bytes): n, or
 * -2 when it cannot be read whole. */
static int header_whole(struct lws *wsi, enum lws_token_indexes h, int n, char *buf) {
  int got = header_copy(wsi, h, n, buf, n + 1);
  /* lws_hdr_copy stops at a NUL inside the value (strncpy): what is left
   * would be a different value, so it counts as unreadable. */
  return got == n && strlen(buf) == (size_t)n ? n : -2;
}

int mh_conn_header_dup(struct lws *wsi, enum lws_token_indexes h, char **out) {
  *out = NULL;
  int n = lws_hdr_total_length(wsi, h);
  if (n <= 0) return -1;
  char *buf = malloc((size_t)n + 1);
  if (!buf) return -2;
  if (header_whole(wsi, h, n, buf) < 0) {
    free(buf);
    return -2;
  }
  *out = buf;
  return n;
}

/* A header only read while the request is handled, whole, as
 * mh_conn_header_dup reads it: into small (len bytes) when it fits, else
 * into a new string (*copy, to free). *value is it; its length, -1
 * absent, -2 unreadable. */
static int header_read(struct lws *wsi, enum lws_token_indexes h, char *small, int len, const char **value,
                       char **copy) {
  *value = *copy = NULL;
  int n = lws_hdr_total_length(wsi, h);
  if (n <= 0) return -1;
  if (n < len) {
    n = header_whole(wsi, h, n, small);
    *value = n < 0 ? NULL : small;
    return n;
  }
  n = mh_conn_header_dup(wsi, h, copy);
  *value = *copy;
  return n;
}

int mh_conn_gate(struct lws *wsi, mh_host *h, char **origin, const char **why) {
  const char *host = NULL;
  char small[256], *host_copy = NULL;
  int status = 0;
  *origin = NULL;
  int hn = header_read(wsi, WSI_TOKEN_HOST, small, sizeof small, &host, &host_copy);
  int on = mh_conn_header_dup(wsi, WSI_TOKEN_ORIGIN, origin); /* kept: the response reads it */
  if (hn == -2 || on == -2) {
    *why = "a header could not be read";
    status = 500;
    h->metrics.refused[MH_REFUSED_BAD_REQUEST]++;
  } else if (hn < 0) {
    *why = "no Host header (HTTP/1.1 requires one)";
    status = 400;
    h->metrics.refused[MH_REFUSED_BAD_REQUEST]++;
  } else if (!mh_auth_host_ok(h, host)) {
    /* DNS rebinding: the page's own name, pointed at us, arrives as Host. */
    mh_log_warn_limited("http", "Host %s refused (not loopback, an address or in auth.allowed_hosts)", host);
    *why = "host not allowed";
    status = 403;
    h->metrics.refused[MH_REFUSED_HOST]++;
  } else if (!mh_auth_origin_ok(h, *origin)) {
    mh_log_warn_limited("http", "origin %s refused (not in auth.allowed_origins)", *origin);
    *why = "origin not allowed";
    status = 403;
    h->metrics.refused[MH_REFUSED_ORIGIN]++;
  }
  free(host_copy);
  return status;
}

/* ---- the route table ---------------------------------------------------- */

int mh_http_add_route(mh_server *s, const mh_http_route *r) {
  if (s->nroutes == s->caproutes) {
    size_t cap = s->caproutes ? s->caproutes * 2 : 8;
    struct mh_route_entry *grown = realloc(s->routes, cap * sizeof *grown);
    if (!grown) return -1;
    s->routes = grown;
    s->caproutes = cap;
  }
  size_t at = s->nroutes++;
  if (r->path) { /* after the fixed paths before it, before every claim */
    at = s->nexact++;
    memmove(s->routes + at + 1, s->routes + at, (s->nroutes - 1 - at) * sizeof *s->routes);
  }
  s->routes[at] = (struct mh_route_entry){r, r->path ? strlen(r->path) : SIZE_MAX};
  return 0;
}

static bool method_matches(const mh_http_route *r, const mh_http_exchange *x) {
  if (!r->method || strcmp(r->method, x->method_name) == 0) return true;
  return strcmp(r->method, "GET") == 0 && strcmp(x->method_name, "HEAD") == 0;
}

/* Exact paths first, then claims in order: no prefix can hide a fixed route. */
static const mh_http_route *find_route(const mh_http_exchange *x) {
  const mh_server *s = x->conn ? x->conn->server : x->host->server;
  if (!s) return NULL;
  size_t n = strlen(x->path);
  for (size_t i = 0; i < s->nexact; i++) {
    const mh_http_route *r = s->routes[i].route;
    if (s->routes[i].path_len == n && memcmp(r->path, x->path, n) == 0 && method_matches(r, x)) return r;
  }
  for (size_t i = s->nexact; i < s->nroutes; i++) {
    const mh_http_route *r = s->routes[i].route;
    if (r->claims(x->host, x->path) && method_matches(r, x)) return r;
  }
  return NULL;
}

/* Before the plugins found at start have loaded, only the health probes
 * answer: a call now would find its function missing. */
static void answer_starting(mh_http_exchange *x, const mh_http_route *r) {
  static const char why[] = "starting: the plugins are loading (GET /readyz says when they are)";
  if (r->error) {
    r->error(x, 503, "SERVICE_UNAVAILABLE", why);
    return;
  }
  char text[sizeof why + 1];
  snprintf(text, sizeof text, "%s\n", why);
  mh_http_respond_text(x, 503, text);
}

static void fail_early(mh_http_exchange *x, int status, const char *code, const char *message);

static void route(mh_http_exchange *x) {
  const mh_http_route *r = find_route(x);
  if (x->chunked && !(r && r->chunked_body))
    fail_early(x, 411, "LENGTH_REQUIRED", "a chunked request body is taken only by oRPC streamed inputs: send Content-Length");
  else if (r && !r->before_ready && !x->host->plugins_loaded)
    answer_starting(x, r);
  else if (r)
    r->handle(x);
  else
    mh_http_respond_text(x, 404, "not found: moonhost speaks WebSocket RPC at /__ws\n");
}

/* An error answer in the format of the route the request was for. */
static void route_error(mh_http_exchange *x, int status, const char *code, const char *message) {
  const mh_http_route *r = find_route(x);
  if (r && r->error) {
    r->error(x, status, code, message);
    return;
  }
  char text[300];
  snprintf(text, sizeof text, "%s: %s\n", code, message);
  mh_http_respond_text(x, status, text);
}

/* ---- trust --------------------------------------------------------------- */

/* The value of cookie `name` in a Cookie header, copied into out. */
static bool cookie_value(const char *header, const char *name, char *out, size_t len) {
  size_t n = strlen(name);
  for (const char *p = header; *p;) {
    p += strspn(p, " \t");
    size_t seg = strcspn(p, ";");
    if (seg > n && strncmp(p, name, n) == 0 && p[n] == '=' && seg - n - 1 < len) {
      snprintf(out, len, "%.*s", (int)(seg - n - 1), p + n + 1);
      return true;
    }
    p += seg + (p[seg] == ';');
  }
  return false;
}

/* One place a token may come in: true when it holds ours (and *roles, when
 * asked, what it grants); a non-empty one that is not ours sets *refused. */
static bool token_from(const mh_http_exchange *x, const char *token, bool *refused, const mh_value **roles) {
  if (!*token) return false;
  if (mh_auth_token_ok(x->host, token)) {
    if (roles) *roles = mh_auth_token_roles(x->host, token);
    return true;
  }
  *refused = true;
  return false;
}

/* mh_http_req_header for a header whose lws token is known. */
static int req_header_token(const mh_http_exchange *x, enum lws_token_indexes h, char *buf, int len) {
  buf[0] = '\0';
  return x->conn ? mh_conn_header(x->conn->wsi, h, buf, len) : -1;
}

/* A cookie is the one credential a browser attaches by itself, and a GET
 * from another site's page (a link, an <img>) carries no Origin for the
 * Origin check to refuse: with the cookie set, such a page could run a
 * query as trusted. Sec-Fetch-Site, which no page can set, tells those
 * requests apart; then the cookie does not count. */
static bool cookie_may_count(const mh_http_exchange *x) {
  char site[32];
  return mh_http_req_header(x, "sec-fetch-site", site, sizeof site) < 0 || strcasecmp(site, "cross-site") != 0;
}

/* ?token=, read whole: x->query leaves out arguments of 512 bytes or more,
 * so a longer token counted as "no token" there (until 2026-12-03) while
 * Bearer took it. x->query only once the connection is gone. */
static bool query_token(const mh_http_exchange *x, bool *refused, const mh_value **roles) {
  if (!x->conn) {
    char tok[sizeof x->query];
    return mh_http_query_param(x, "token", tok, sizeof tok) && token_from(x, tok, refused, roles);
  }
  mh_buf v = MH_BUF_INIT;
  bool ok = mh_http_query_arg(x, "token", &v) == 1 && token_from(x, v.data, refused, roles);
  mh_buf_free(&v);
  return ok;
}

/* The token of an HTTP request: "Authorization: Bearer T", ?token=T or the
 * cookie moonhost_token=T (a page served beside the host can set it), the
 * first that is ours; roles (when asked): what it grants. */
static bool trust(const mh_http_exchange *x, bool *token_refused, const mh_value **roles) {
  bool refused = false;
  if (token_refused) *token_refused = false;
  if (roles) *roles = NULL;
  if (!x->host->cfg->auth.required && !roles) return true;
  char buf[4096];
  if (req_header_token(x, WSI_TOKEN_HTTP_AUTHORIZATION, buf, sizeof buf) > 7 && strncasecmp(buf, "Bearer ", 7) == 0 &&
      token_from(x, buf + 7, &refused, roles))
    return true;
  if (query_token(x, &refused, roles)) return true;
  char tok[sizeof buf]; /* as long as the Cookie header can be */
  if (cookie_may_count(x) && req_header_token(x, WSI_TOKEN_HTTP_COOKIE, buf, sizeof buf) > 0 &&
      cookie_value(buf, "moonhost_token", tok, sizeof tok) && token_from(x, tok, &refused, roles))
    return true;
  if (token_refused) *token_refused = refused;
  return !x->host->cfg->auth.required;
}

bool mh_http_trust(mh_http_exchange *x, bool *token_refused) { return x->trusted = trust(x, token_refused, NULL); }

const mh_value *mh_http_token_roles(const mh_http_exchange *x) {
  const mh_value *roles;
  trust(x, NULL, &roles);
  return roles;
}

static void on_timeout(void *ud);

/* Starts x's request timer: due request_timeout_ms after the request came
 * (mh_timer_start counts from the loop's time, which may have moved on
 * since, when the timer was deferred). */
static void deadline_start(mh_http_exchange *x) {
  uint64_t due = x->started_ms + x->host->cfg->http.request_timeout_ms, now = mh_now_ms(x->host->loop);
  x->timer = mh_timer_start(x->host->loop, due > now ? due - now : 0, on_timeout, x);
}

static void start_deadlines(mh_list *pending);

static void deadline_defer(mh_http_exchange *x, struct mh_io_phase *io) {
  x->deadline_pending = true;
  mh_list_insert_tail(&io->deadlines, &x->deadline_link);
  io->start_deadlines = start_deadlines;
}

/* A deferred timer starts now (or never: a stream's response has no
 * request timeout, mh_http_stream_begin). */
static void deadline_undefer(mh_http_exchange *x, bool start) {
  if (!x->deadline_pending) return;
  x->deadline_pending = false;
  mh_list_remove(&x->deadline_link);
  if (start && !x->streaming && !x->timer) deadline_start(x);
}

/* The end of the loop's I/O phase (io_phase.c): the timers of the
 * exchanges still there start. */
static void start_deadlines(mh_list *pending) {
  while (!mh_list_empty(pending)) deadline_undefer(mh_container_of(pending->next, mh_http_exchange, deadline_link), true);
}

/* As long as mh_http_exchange.method_name, NUL-padded: copied whole. */
static const char method_names[][sizeof ((mh_http_exchange *)0)->method_name] = {
    "GET", "POST", "OPTIONS", "PUT", "PATCH", "DELETE", "CONNECT", "HEAD"};

/* Answers before the body is in (too large, too slow). The rest of the body
 * is never read, so the connection is closed after the response. */
static void fail_early(mh_http_exchange *x, int status, const char *code, const char *message) {
  x->routed = true; /* the body completing later must not route it again */
  x->close_after = true;
  deadline_undefer(x, true); /* it may linger for the rest of the body: mh_http_writeable */
  /* rate-limited, as every line a client can cause at will (and the Host
   * and Origin refusals): a flood of bad requests costs a few lines */
  mh_log_warn_limited("http", "%s %s: %d %s", x->method_name, x->path, status, message);
  route_error(x, status, code, message);
}

/* Exchanges freed, kept for the next requests: each is ~6 KiB, which
 * malloc serves from its slower bins, on every request, and so are the
 * body and response buffers, kept with them up to KEEP_BYTES each. Not
 * under AddressSanitizer (mh_small_alloc_recycles), which then sees every
 * one. */
#define SPARE_EXCHANGES 4
#define KEEP_BYTES 16384
static struct {
  mh_http_exchange *kept[SPARE_EXCHANGES];
  int n;
} spare;

/* A new exchange, zeroed up to path (the text buffers after it are set as
 * they are used), with a kept exchange's buffers if there is one. */
static mh_http_exchange *exchange_new(void) {
  mh_buf body = MH_BUF_INIT, resp = MH_BUF_INIT;
  mh_http_exchange *x = spare.n ? spare.kept[--spare.n] : NULL;
  if (x) {
    body = x->kept_body;
    resp = x->resp;
  } else if (!(x = malloc(sizeof *x))) {
    return NULL;
  }
  memset(x, 0, offsetof(mh_http_exchange, path));
  x->path[0] = x->query[0] = '\0';
  x->resp = resp;
  x->kept_body = body;
  return x;
}

static void keep_or_free(mh_buf *b) {
  if (b->cap > KEEP_BYTES)
    mh_buf_free(b);
  else
    mh_buf_reset(b);
}

/* Frees x with its buffers, or keeps it for exchange_new. */
static void exchange_release(mh_http_exchange *x) {
  if (spare.n < SPARE_EXCHANGES && mh_small_alloc_recycles()) {
    if (x->body.data) {
      mh_buf_free(&x->kept_body);
      x->kept_body = x->body;
    }
    keep_or_free(&x->kept_body);
    keep_or_free(&x->resp);
    spare.kept[spare.n++] = x;
    return;
  }
  mh_buf_free(&x->body);
  mh_buf_free(&x->kept_body);
  mh_buf_free(&x->resp);
  free(x);
}

static void on_timeout(void *ud) {
  mh_http_exchange *x = ud;
  x->timer = NULL; /* a fired timer frees itself */
  if (x->lingering) {
    /* answered; its body did not end in time. From a timer, outside lws'
     * callbacks: closing here is safe (the close frees x). */
    mh_log_debug("http", "%s %s: the rest of the body did not come in time: closing", x->method_name, x->path);
    if (x->conn) lws_set_timeout(x->conn->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
    return;
  }
  if (x->ready) return;
  if (x->moved_ms) { /* a streamed input: only a body that stopped moving times out */
    uint64_t due = x->moved_ms + x->host->cfg->http.request_timeout_ms, now = mh_now_ms(x->host->loop);
    if (due > now) {
      x->timer = mh_timer_start(x->host->loop, due - now, on_timeout, x);
      return;
    }
  }
  if (!x->routed) {
    fail_early(x, 408, MH_ERR_TIMEOUT, "the request body did not arrive within http.request_timeout_ms");
    return;
  }
  if (x->on_abort) x->on_abort(x, true); /* handlers without it answer in their own time */
}

/* The Content-Length (*cl: -1 absent, -2 invalid: anything but digits, RFC
 * 9112 6.3, refused) and whether lws 4.1 will read body bytes after the
 * headers: the Content-Length as atoll() reads it, or, without one, 100 MiB
 * for POST, PUT and PATCH (lws_http_action). From one copy of the header;
 * digits are read here, not with strtoll/atoll. */
static void read_framing(struct lws *wsi, int method, long long *cl, bool *lws_body) {
  char v[32];
  int n = mh_conn_header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, v, sizeof v);
  if (n <= 0) { /* absent, or too long to copy: lws reads it */
    *cl = n == -1 ? -1 : -2;
    *lws_body = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0 || method == LWSHUMETH_POST ||
                method == LWSHUMETH_PUT || method == LWSHUMETH_PATCH;
    return;
  }
  long long d = 0;
  int i = 0;
  while (i < n && i < 18 && v[i] >= '0' && v[i] <= '9') d = d * 10 + (v[i++] - '0');
  if (i == n) { /* 1 to 18 digits: what strtoll and atoll read too */
    *cl = d;
    *lws_body = d > 0;
    return;
  }
  *cl = -2; /* a NUL (lws_hdr_copy counts the whole length), a sign, a space, ...: invalid */
  *lws_body = atoll(v) > 0;
}

/* Whether lws 4.1 will read body bytes after this request's headers. */
static bool lws_reads_body(struct lws *wsi, int method) {
  long long cl;
  bool reads;
  read_framing(wsi, method, &cl, &reads);
  return reads;
}

static int route_now(mh_conn *c, mh_http_exchange *x);

/* Whether `list` (a Connection header) holds the option `name`. */
static bool has_option(const char *list, const char *name) {
  size_t n = strlen(name);
  for (const char *p = list; *p;) {
    p += strspn(p, " \t,");
    size_t len = strcspn(p, ",");
    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
    if (len == n && strncasecmp(p, name, n) == 0) return true;
    p += strcspn(p, ",");
  }
  return false;
}

/* Whether the connection ends with this request's answer by the client's
 * word: HTTP/1.0 unless "Connection: keep-alive" (lws 4.1's rule, which
 * then closes after lws_http_transaction_completed), or "close" among the
 * Connection options (RFC 9112 9.6; lws only reads a header that is
 * exactly "close", and would keep "close, te" open). The answer must say
 * it too: a client counting on keep-alive would send its next request into
 * the close. */
static bool client_closes(struct lws *wsi, int v11) {
  char v[64];
  int n = mh_conn_header(wsi, WSI_TOKEN_CONNECTION, v, sizeof v);
  if (n > 0 && has_option(v, "close")) return true;
  if (n > 0 && strcasecmp(v, "keep-alive") == 0) return false;
  return v11 != 1; /* no version at all: 1.0 to lws */
}

/* Pipelining. lws 4.1 keeps bytes read past a request (pipelined requests)
 * and parses them after the response, from an idle callback. For a request
 * with a body parsed that way, lws_http_action() then loops over that same
 * buffer a second time, handing us the request's own header bytes as its
 * body, and once the request is answered spins forever (CPU at 100 %, no
 * signal handled): issue 13 item 1. The bug is inside lws, which gives no
 * access to its buffer, so the one safe answer is to close the connection
 * before lws gets there: requests before this one are answered already
 * (in order), this one and what follows are not (RFC 9112 9.3.2: a client
 * retries them on a new connection). Requests read from the socket come in
 * lws' I/O callbacks, buffered ones outside them (mh_server_reading). The
 * one gap: libuv calls epoll_wait again within one I/O phase when more
 * than 1024 descriptors were ready, so under that load a buffered request
 * could be handled inside it, if its client sent more bytes meanwhile. */
static bool pipelined_body(mh_conn *c, struct lws *wsi, int method) {
  if (mh_server_reading(c->server) || !lws_reads_body(wsi, method)) return false;
  mh_log_warn_limited("http", "a pipelined request with a body: closing the connection (answered requests: all before it)");
  return true;
}

/* The path (as sent, without the query) and the short query arguments. */
static void read_target(mh_http_exchange *x, struct lws *wsi, const char *u, int ulen) {
  if (u && ulen > 0) {
    size_t n = strcspn(u, "?");
    if ((int)n > ulen) n = (size_t)ulen;
    copy_text(x->path, sizeof x->path, u, n);
  }
  /* lws keeps the query apart, one fragment per argument. A long one (an
   * oRPC ?data=, read whole with mh_http_query_arg) is skipped here, so the
   * short ones after it (?token=) still count. */
  for (int i = 0;; i++) {
    char frag[512];
    int flen = lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i);
    if (flen <= 0) break;
    if (flen >= (int)sizeof frag) continue;
    if (lws_hdr_copy_fragment(wsi, frag, sizeof frag, WSI_TOKEN_HTTP_URI_ARGS, i) < 0) break;
    size_t n = strlen(x->query);
    snprintf(x->query + n, sizeof x->query - n, "%s%s", n ? "&" : "", frag);
  }
}

/* Refusals before any body is read: Host/Origin (mh_conn_gate), then the
 * body's framing and declared size. */
static void refuse_early(mh_http_exchange *x, struct lws *wsi, long long cl) {
  const char *why = NULL;
  int status = mh_conn_gate(wsi, x->host, &x->origin, &why);
  /* The framing is checked whatever the method: a GET's chunked body or a
   * Content-Length lws reads as negative (atoll) was left on the
   * connection for lws to parse as the next request. */
  if (status) {
    fail_early(x, status, status == 403 ? "FORBIDDEN" : status == 400 ? MH_ERR_BAD_REQUEST : MH_ERR_INTERNAL, why);
  } else if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
    /* lws 4.1 hands a chunked request body over undecoded and never
     * reports it complete: only routes that decode it take one (route()). */
    char te[32];
    if (x->method == LWSHUMETH_POST && cl < 0 &&
        mh_conn_header(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING, te, sizeof te) > 0 && strcasecmp(te, "chunked") == 0) {
      x->chunked = true;
      /* lws cannot tell where such a body ends, so nothing after it can be
       * read as the next request: the connection closes after the answer,
       * which may come before the body's end (a refusal, a handler that
       * answers early) */
      x->close_after = true;
      mh_chunked_init(&x->body_dec, x->host->cfg->limits.max_message_bytes);
    } else
      fail_early(x, 411, "LENGTH_REQUIRED", "this transfer coding is not supported: send Content-Length");
  } else if (cl == -2) {
    fail_early(x, 400, MH_ERR_BAD_REQUEST, "Content-Length is not a number");
  } else if (cl > 0 && (unsigned long long)cl > x->host->cfg->limits.max_message_bytes) {
    /* A declared body over the limit is refused before any of it is buffered. */
    x->body_too_large = true;
    fail_early(x, 413, MH_ERR_TOO_LARGE, "request body over limits.max_message_bytes");
  }
}

/* lws_http_get_uri_and_method, which looks at every method's header
 * twice. lws calls us (LWS_CALLBACK_HTTP, no mounts: lws_http_action) once
 * it has checked that the request line names exactly one method, with
 * that method's URI as uri: a GET or POST is known by one look. The rest
 * is left to lws. */
static int request_method(struct lws *wsi, const char *uri, char **u, int *ulen) {
  static const enum lws_token_indexes common[] = {WSI_TOKEN_GET_URI, WSI_TOKEN_POST_URI};
  static const int number[] = {LWSHUMETH_GET, LWSHUMETH_POST};
  for (int i = 0; uri && i < 2; i++) {
    int n = lws_hdr_total_length(wsi, common[i]);
    if (n) {
      *u = (char *)uri;
      *ulen = n;
      return number[i];
    }
  }
  return lws_http_get_uri_and_method(wsi, u, ulen);
}

int mh_http_request(mh_conn *c, struct lws *wsi, mh_server *s, const char *uri) {
  if (c->http) {
    /* Not expected from lws; closing beats losing the request in flight. */
    mh_log_warn("http", "a request arrived while one is in flight on the connection: closing it");
    return -1;
  }
  memset(c, 0, sizeof *c);
  c->wsi = wsi;
  c->server = s;
  char *u = NULL;
  int ulen = 0;
  int method = request_method(wsi, uri, &u, &ulen);
  if (pipelined_body(c, wsi, method)) return -1;
  mh_http_exchange *x = exchange_new();
  if (!x) return -1;
  x->conn = c;
  x->host = s->host;
  c->http = x;
  x->method = method;
  if (method >= 0 && method < (int)(sizeof method_names / sizeof *method_names))
    memcpy(x->method_name, method_names[method], sizeof x->method_name);
  read_target(x, wsi, u, ulen);
  x->started_ms = mh_now_ms(x->host->loop);
  bool has_body = method == LWSHUMETH_POST || method == LWSHUMETH_PUT || method == LWSHUMETH_PATCH;
  long long cl;
  bool lws_body;
  read_framing(wsi, method, &cl, &lws_body);
  x->http11 = (signed char)mh_http_version11(wsi);
  /* A body lws reads that we do not (a GET with Content-Length, a POST
   * without one): the connection cannot carry another request after it. */
  if ((lws_body && !(has_body && cl > 0)) || client_closes(wsi, x->http11)) x->close_after = true;
  x->body_left = lws_body && cl > 0 ? cl : 0;
  refuse_early(x, wsi, cl);
  /* A connection closed after the response may linger for the rest of its
   * body within the request timeout (mh_http_writeable): such a request
   * has its timer now, as one read outside the I/O phase. */
  if (x->close_after || x->chunked || !mh_server_reading(s))
    deadline_start(x);
  else
    deadline_defer(x, s->io);
  if (x->routed) return 0; /* answered early: written from the writeable callback */
  /* With a Content-Length the body is routed once in; without one, no body
   * (RFC 9112 6.3): route now. lws 4.1 reports an empty body complete for a
   * POST, but never for a PUT or PATCH, which would wait for it forever. */
  if (has_body && (cl > 0 || (cl == 0 && method == LWSHUMETH_POST))) return 0;
  return route_now(c, x);
}

static int body_out(void *ud, const char *data, size_t n) {
  mh_http_exchange *x = ud;
  if (x->on_body) x->on_body(x, data, n);
  return 0;
}

/* A chunked body's bytes: decoded for the handler (on_body), or dropped
 * once it stopped listening. The callback's return value: -1 closes a
 * lingering connection once its body is in (or broken). */
static int chunked_body(mh_http_exchange *x, const void *in, size_t len) {
  mh_chunked *d = &x->body_dec;
  if (d->state == MH_CHUNKED_DONE || d->state == MH_CHUNKED_FAILED) return x->lingering ? -1 : 0;
  x->host->metrics.bytes_received += len;
  if (!x->lingering) x->moved_ms = mh_now_ms(x->host->loop); /* on_timeout */
  mh_chunked_feed(d, in, len, body_out, x);
  bool over = d->state == MH_CHUNKED_DONE || d->state == MH_CHUNKED_FAILED;
  if (over && x->on_body_end) {
    void (*end)(mh_http_exchange *, const char *, bool) = x->on_body_end;
    x->on_body_end = NULL;
    end(x, d->state == MH_CHUNKED_FAILED ? d->error : NULL, d->too_large);
  }
  return over && x->lingering ? -1 : 0;
}

int mh_http_body(mh_conn *c, const void *in, size_t len) {
  mh_http_exchange *x = c->http;
  if (x && x->chunked) return chunked_body(x, in, len);
  if (x) x->body_left = (unsigned long long)x->body_left > len ? x->body_left - (long long)len : 0;
  if (x && x->lingering) return x->body_left ? 0 : -1; /* answered: dropped, closed at its end */
  if (!x || x->body_too_large || x->routed) return 0; /* routed: answered early, the rest is dropped */
  if (x->body.len + len > x->host->cfg->limits.max_message_bytes) {
    x->body_too_large = true;
    mh_buf_free(&x->body);
    fail_early(x, 413, MH_ERR_TOO_LARGE, "request body over limits.max_message_bytes");
    return 0;
  }
  x->host->metrics.bytes_received += len;
  if (!x->body.data && x->kept_body.data) {
    x->body = x->kept_body;
    x->kept_body = (mh_buf)MH_BUF_INIT;
  }
  return mh_buf_append(&x->body, in, len);
}

/* Routes x; a response that is ready at once (most are: the Lua handler
 * returned without waiting) is written right away instead of on the next
 * writeable callback, as lws' own lws_return_http_status does, saving an
 * epoll round trip per request. The callback's return value. */
static int route_now(mh_conn *c, mh_http_exchange *x) {
  x->routed = true;
  x->routing = true;
  route(x);
  if (c->http != x) return 0;
  x->routing = false;
  if (!x->ready) return 0; /* answered later, through mh_http_respond */
  if (!lws_partial_buffered(c->wsi)) return mh_http_writeable(c);
  lws_callback_on_writable(c->wsi);
  return 0;
}

int mh_http_body_done(mh_conn *c) {
  if (c->http && c->http->lingering) return -1; /* answered, and now all read: close */
  if (c->http && !c->http->routed) return route_now(c, c->http);
  return 0;
}

/* lws 4.1's rx flow control also holds back writeable callbacks on the
 * connection: the handler resumes reading before it answers (orpc_input.c
 * does so when its call ends). */
void mh_http_pause_body(mh_http_exchange *x, bool pause) {
  if (x->conn) lws_rx_flow_control(x->conn->wsi, pause ? 0 : 1);
}

void mh_http_body_moved(mh_http_exchange *x) {
  if (x->moved_ms) x->moved_ms = mh_now_ms(x->host->loop); /* on_timeout */
}

bool mh_http_query_param(const mh_http_exchange *x, const char *name, char *buf, size_t len) {
  size_t n = strlen(name);
  for (const char *p = x->query; *p;) {
    size_t seg = strcspn(p, "&");
    if (seg > n && strncmp(p, name, n) == 0 && p[n] == '=') {
      size_t vlen = seg - n - 1;
      if (vlen >= len) return false;
      /* lws has decoded the arguments already */
      memcpy(buf, p + n + 1, vlen);
      buf[vlen] = '\0';
      return true;
    }
    p += seg + (p[seg] == '&');
  }
  return false;
}

/* A header lws has no token for (Last-Event-ID): lws 4.1 keeps those by
 * their name, lower case, with its colon. -2 when longer than buf. */
static int custom_header(struct lws *wsi, const char *name, size_t n, char *buf, size_t len) {
  char key[64];
  if (n + 2 > sizeof key) return -1;
  memcpy(key, name, n);
  key[n] = ':';
  key[n + 1] = '\0';
  int have = lws_hdr_custom_length(wsi, key, (int)n + 1);
  if (have < 0) return -1;
  if ((size_t)have >= len) return -2;
  if (lws_hdr_custom_copy(wsi, buf, (int)len, key, (int)n + 1) < 0) return -1;
  buf[have] = '\0';
  return have;
}

/* lws' header tokens by the first letter of their name (lws' names are
 * lower case, with a colon), built once: a route reads a few headers per
 * request, and scanning all of lws' ~90 names for each cost more than
 * reading the header. */
typedef struct token_name {
  const char *name;
  size_t len; /* without the colon */
  enum lws_token_indexes token;
} token_name;

static struct {
  token_name *by_letter[26];
  size_t count[26];
  bool built;
} tokens;

static void build_token_index(void) {
  static token_name all[WSI_TOKEN_COUNT];
  size_t n = 0;
  for (int letter = 0; letter < 26; letter++) {
    tokens.by_letter[letter] = all + n;
    for (int t = 0; t < (int)WSI_TOKEN_COUNT; t++) {
      const char *s = (const char *)lws_token_to_string((enum lws_token_indexes)t);
      size_t len = s ? strlen(s) : 0;
      if (!len || s[0] != 'a' + letter || s[len - 1] != ':') continue;
      all[n++] = (token_name){s, len - 1, (enum lws_token_indexes)t};
      tokens.count[letter]++;
    }
  }
  tokens.built = true;
}

/* lws' token for the header name, or -1 when lws keeps it by name. */
static int header_token(const char *name, size_t n) {
  if (!tokens.built) build_token_index();
  int letter = tolower((unsigned char)name[0]) - 'a';
  if (letter < 0 || letter >= 26) return -1;
  for (size_t i = 0; i < tokens.count[letter]; i++) {
    const token_name *tn = &tokens.by_letter[letter][i];
    if (tn->len == n && strncasecmp(tn->name, name, n) == 0) return (int)tn->token;
  }
  return -1;
}

int mh_http_req_header(const mh_http_exchange *x, const char *name, char *buf, size_t len) {
  buf[0] = '\0';
  if (!x->conn || len > INT_MAX) return -1;
  size_t n = strlen(name);
  int t = header_token(name, n);
  if (t >= 0) return mh_conn_header(x->conn->wsi, (enum lws_token_indexes)t, buf, (int)len);
  return custom_header(x->conn->wsi, name, n, buf, len);
}

int mh_http_query_arg(const mh_http_exchange *x, const char *name, mh_buf *out) {
  if (!x->conn) return 0;
  struct lws *wsi = x->conn->wsi;
  size_t n = strlen(name);
  int found = 0;
  for (int i = 0;; i++) {
    int flen = lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i);
    if (flen <= 0) break;
    char *frag = malloc((size_t)flen + 1);
    if (!frag) return -1;
    int got = lws_hdr_copy_fragment(wsi, frag, flen + 1, WSI_TOKEN_HTTP_URI_ARGS, i);
    if (got >= 0 && (size_t)got > n && strncmp(frag, name, n) == 0 && frag[n] == '=') {
      mh_buf_reset(out); /* the last one wins, as URLSearchParams.getAll(name).at(-1) */
      if (mh_buf_append(out, frag + n + 1, (size_t)got - n - 1) || mh_buf_terminate(out)) {
        free(frag);
        return -1;
      }
      found = 1;
    }
    free(frag);
    if (got < 0) break;
  }
  return found;
}

void mh_http_header(mh_http_exchange *x, const char *name, const char *value) {
  if (x->nheaders >= MH_HTTP_MAX_HEADERS) return;
  /* lws wants the name with its colon */
  size_t n = strnlen(name, sizeof x->header_names[0] - 2);
  memcpy(x->header_names[x->nheaders], name, n);
  memcpy(x->header_names[x->nheaders] + n, ":", 2);
  copy_cstr(x->header_values[x->nheaders], sizeof x->header_values[0], value);
  x->nheaders++;
}

static void exchange_free(mh_http_exchange *x) {
  deadline_undefer(x, false);
  if (x->timer) mh_timer_stop(x->timer);
  free(x->origin);
  exchange_release(x);
}

/* x->resp holds the body: the response is ready to go. */
static void respond_ready(mh_http_exchange *x, int status, const char *content_type) {
  x->status = status;
  x->host->metrics.bytes_sent += x->resp.len;
  copy_cstr(x->content_type, sizeof x->content_type, content_type);
  x->ready = true;
  if (!x->routing) lws_callback_on_writable(x->conn->wsi); /* else route_now writes it */
}

void mh_http_respond(mh_http_exchange *x, int status, const char *content_type, const char *body, size_t len) {
  if (!x->conn) {
    exchange_free(x); /* the client left while we were working */
    return;
  }
  mh_buf_reset(&x->resp);
  mh_buf_append(&x->resp, body, len);
  respond_ready(x, status, content_type);
}

void mh_http_respond_buf(mh_http_exchange *x, int status, const char *content_type, mh_buf *body) {
  if (!x->conn) {
    exchange_free(x);
    return;
  }
  mh_buf had = x->resp;
  x->resp = *body;
  *body = had;
  mh_buf_reset(body);
  respond_ready(x, status, content_type);
}

void mh_http_respond_text(mh_http_exchange *x, int status, const char *text) {
  mh_http_respond(x, status, "text/plain; charset=utf-8", text, strlen(text));
}

/* The status line and headers at *p, up to end, with the blank line. */
static int add_headers(mh_http_exchange *x, struct lws *wsi, unsigned char **p, unsigned char *end) {
  /* a stream has no length: lws adds "connection: close" and will close */
  if (x->streaming ? lws_add_http_common_headers(wsi, (unsigned)x->status, x->content_type,
                                                 LWS_ILLEGAL_HTTP_CONTENT_LEN, p, end)
                   : mh_http_head(wsi, x->http11, x->status, x->content_type, x->resp.len, p, end))
    return -1;
  /* A connection closed after the answer says so, or the client may send
   * its next request on it and lose that one to the close. */
  if (x->close_after && !x->streaming &&
      lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const unsigned char *)"close", 5, p, end))
    return -1;
  for (int i = 0; i < x->nheaders; i++)
    if (lws_add_http_header_by_name(wsi, (unsigned char *)x->header_names[i], (unsigned char *)x->header_values[i],
                                    (int)strlen(x->header_values[i]), p, end))
      return -1;
  return lws_finalize_http_header(wsi, p, end) ? -1 : 0;
}

static int write_headers(mh_http_exchange *x, struct lws *wsi) {
  unsigned char buf[LWS_PRE + 4096], *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf - 1;
  if (add_headers(x, wsi, &p, end)) return -1;
  if (lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_HEADERS) != (int)(p - start)) return -1;
  x->headers_sent = true;
  return 0;
}

/* A whole response whose body fits in one buffer with its headers: one
 * write, so one send() and one TCP segment instead of two (HTTP/1 without
 * TLS or compression, where lws writes the bytes as they are). 1 when it
 * was written, 0 when it does not fit (nothing written), -1 on error. */
static int write_whole(mh_http_exchange *x, struct lws *wsi) {
  size_t body = x->method == LWSHUMETH_HEAD ? 0 : x->resp.len;
  if (body > CHUNK) return 0;
  unsigned char buf[LWS_PRE + 4096 + CHUNK], *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf - 1;
  if (add_headers(x, wsi, &p, end - body)) return -1;
  if (body) memcpy(p, x->resp.data, body);
  size_t n = (size_t)(p - start) + body;
  if (lws_write(wsi, start, n, LWS_WRITE_HTTP_FINAL) != (int)n) return -1;
  x->headers_sent = true;
  x->sent = x->resp.len;
  return 1;
}

/* ---- open-ended responses ---- */

void mh_http_stream_begin(mh_http_exchange *x, int status, const char *content_type) {
  x->streaming = true;
  x->status = status;
  copy_cstr(x->content_type, sizeof x->content_type, content_type);
  mh_buf_reset(&x->resp);
  x->sent = 0;
  x->ready = true; /* the request timeout (on_timeout) no longer applies */
  if (x->timer) mh_timer_stop(x->timer);
  x->timer = NULL;
  if (x->conn && !x->routing) lws_callback_on_writable(x->conn->wsi); /* else route_now writes */
}

size_t mh_http_stream_write(mh_http_exchange *x, const void *data, size_t len) {
  if (!x->conn || x->stream_ended) return 0;
  if (mh_buf_append(&x->resp, data, len)) {
    /* Out of memory: the reader would miss a part of the stream, so it
     * loses all of it, clearly, rather than a piece silently. */
    mh_log_warn("http", "%s: out of memory queueing a stream: closing it", x->path);
    x->stream_ended = true;
    x->resp.len = x->sent;
  }
  if (!x->routing) lws_callback_on_writable(x->conn->wsi);
  return x->resp.len - x->sent;
}

void mh_http_stream_end(mh_http_exchange *x) {
  if (!x->conn) {
    exchange_free(x);
    return;
  }
  x->stream_ended = true;
  if (!x->routing) lws_callback_on_writable(x->conn->wsi);
}

/* lws' own asynchronous kill waits for its next service pass, which an
 * idle loop may not make for a while: a zero-delay timer closes it
 * instead, outside any callback of lws'. The close frees x. */
static void stream_kill(void *ud) {
  mh_http_exchange *x = ud;
  x->timer = NULL; /* a fired timer frees itself */
  if (x->conn) lws_set_timeout(x->conn->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
}

void mh_http_stream_abort(mh_http_exchange *x) {
  if (!x->conn) {
    exchange_free(x);
    return;
  }
  x->stream_ended = true;
  x->on_abort = NULL;
  x->on_drain = NULL;
  mh_buf_free(&x->resp);
  x->sent = 0;
  mh_timer_stop(x->timer);
  x->timer = mh_timer_start(x->host->loop, 0, stream_kill, x);
}

/* lws 4.1 reads nothing from a connection whose response is under way
 * (its state is "doing transaction"): a reader that left an idle stream
 * was noticed only at the next write (a keep-alive, seconds later), and
 * meanwhile its unread end of file kept the loop polling that socket at
 * full speed. lws offers no way to take input in that state (its rx flow
 * control would stop the writes too), so the socket is looked at every
 * STREAM_PEEK_MS: the end of file (or an error) closes the connection,
 * which tells the handler (on_abort). A client has nothing to send on it
 * (no request follows a body without a length); bytes it sends anyway
 * are dropped. Limit: the loop still spins for up to STREAM_PEEK_MS after
 * a reader leaves. */
#define STREAM_PEEK_MS 250

static void stream_peek(void *ud) {
  mh_http_exchange *x = ud;
  x->timer = NULL; /* a fired timer frees itself */
  if (!x->conn) return;
  int fd = lws_get_socket_fd(x->conn->wsi);
  char drop[4096];
  ssize_t n = fd < 0 ? 0 : recv(fd, drop, sizeof drop, MSG_DONTWAIT);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
    /* From a timer, outside lws' callbacks: closing here is safe, and the
     * close callback frees x (mh_http_closed). */
    lws_set_timeout(x->conn->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
    return;
  }
  x->timer = mh_timer_start(x->host->loop, STREAM_PEEK_MS, stream_peek, x);
}

/* One write per writeable callback: while the socket is full lws holds
 * the rest of it and calls back only once it went out, so a reader that
 * stops reading holds at most one write in lws plus what the handler
 * queued before on_drain stopped being called. */
static int stream_writeable(mh_conn *c, mh_http_exchange *x) {
  if (!x->headers_sent) {
    if (write_headers(x, c->wsi)) return -1;
    /* What lws_http_mark_sse does for h1, without its error line ("not h2
     * substream"): give the header table back to lws' pool (a stream may
     * last for hours; the request's headers were read already) and no lws
     * timeout on a long-lived response. */
    lws_http_headers_detach(c->wsi);
    lws_set_timeout(c->wsi, NO_PENDING_TIMEOUT, 0);
    if (!x->timer) x->timer = mh_timer_start(x->host->loop, STREAM_PEEK_MS, stream_peek, x); /* else: being killed */
  }
  size_t n = x->resp.len - x->sent;
  if (n > CHUNK) n = CHUNK;
  if (n && !lws_partial_buffered(c->wsi)) {
    unsigned char buf[LWS_PRE + CHUNK];
    memcpy(buf + LWS_PRE, x->resp.data + x->sent, n);
    if (lws_write(c->wsi, buf + LWS_PRE, n, LWS_WRITE_HTTP) != (int)n) return -1;
    x->sent += n;
  }
  if (x->sent == x->resp.len) {
    mh_buf_reset(&x->resp);
    x->sent = 0;
  } else if (x->sent >= 4 * CHUNK) { /* keep the queue from creeping forward in its buffer */
    memmove(x->resp.data, x->resp.data + x->sent, x->resp.len - x->sent);
    x->resp.len -= x->sent;
    x->sent = 0;
  }
  if (x->resp.len > x->sent) {
    lws_callback_on_writable(c->wsi);
  } else if (x->stream_ended) {
    c->http = NULL;
    exchange_free(x);
    return -1; /* the end of a body without a length is the end of the connection */
  }
  if (x->on_drain && x->resp.len - x->sent < CHUNK) x->on_drain(x);
  return 0;
}

int mh_http_writeable(mh_conn *c) {
  mh_http_exchange *x = c->http;
  if (x && x->streaming) return stream_writeable(c, x);
  if (!x || !x->ready) return 0;
  int whole = x->headers_sent ? 0 : write_whole(x, c->wsi);
  if (whole < 0) return -1;
  if (!x->headers_sent) {
    if (write_headers(x, c->wsi)) return -1;
    /* The body follows in this same callback when the socket takes more
     * (HTTP/1 only here: no TLS, so no h2), saving a writeable round trip
     * per request; lws keeps what the kernel did not take. */
    if (x->resp.len && x->method != LWSHUMETH_HEAD && lws_partial_buffered(c->wsi)) {
      lws_callback_on_writable(c->wsi);
      return 0;
    }
  }
  /* A HEAD answer carries the GET's headers (Content-Length too) and no
   * body (RFC 9110 9.3.2): a body would be read as the next response. */
  if (!whole && x->resp.len && x->method != LWSHUMETH_HEAD) {
    /* Body in chunks: lws wants LWS_PRE bytes in front of what it writes. */
    unsigned char buf[LWS_PRE + CHUNK];
    size_t n = x->resp.len - x->sent;
    if (n > CHUNK) n = CHUNK;
    memcpy(buf + LWS_PRE, x->resp.data + x->sent, n);
    x->sent += n;
    bool last = x->sent == x->resp.len;
    if (lws_write(c->wsi, buf + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n) return -1;
    if (!last) {
      lws_callback_on_writable(c->wsi);
      return 0;
    }
  }
  bool close = x->close_after;
  /* Lingers within the request timeout; once it fired (a 408) the rest of
   * the body is not waited for. */
  bool body_unread = x->chunked ? x->body_dec.state != MH_CHUNKED_DONE && x->body_dec.state != MH_CHUNKED_FAILED
                                 : x->body_left > 0;
  if (close && x->timer && body_unread) {
    x->lingering = true; /* closed once the body is in: chunked_body, on_timeout */
    x->on_body = NULL;
    x->on_body_end = NULL;
    return 0;
  }
  c->http = NULL;
  exchange_free(x);
  if (close) return -1; /* unread body bytes would be taken for the next request */
  /* c is freed inside: lws gives the connection a new per-session block */
  struct lws *wsi = c->wsi;
  mh_server *s = c->server;
  bool sent_all = !lws_partial_buffered(wsi);
  if (lws_http_transaction_completed(wsi)) return -1;
  if (sent_all) mh_server_settle(s, wsi); /* the socket is writable */
  return 0;
}

void mh_http_closed(mh_conn *c) {
  mh_http_exchange *x = c->http;
  if (!x) return;
  c->http = NULL;
  x->conn = NULL;
  /* A response being computed (HTTP RPC) frees it when it arrives; a
   * handler that can stop early is told so, and answers (freeing it). A
   * stream still producing is told too; it ends its response (freeing it). */
  if (x->streaming && !x->stream_ended && x->on_abort)
    x->on_abort(x, false);
  else if (x->ready || !x->routed)
    exchange_free(x);
  else if (x->on_abort)
    x->on_abort(x, false);
}
