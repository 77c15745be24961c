/* The client side of libwebsockets for moonhost.fetch (http_client.h).
 * An exchange is tied to its lws connection by the connection's opaque
 * user data; ending it for any reason (its end, an error, a cancel) first
 * unties the two, so whatever lws still reports of that connection while
 * closing it finds no exchange and is ignored. */
#include "transport/http_client.h"

#include <ctype.h>
#include <errno.h>
#include <sys/socket.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "core/list.h"
#include "core/log.h"
#include "core/timer.h"
#include "transport/lws_log.h"

#define PROTOCOL "moonhost-fetch"
#define WRITE_CHUNK 16384
/* lws' per-connection header table for the answer and its buffer for the
 * request's head: room for large cookies and tokens. */
#define HEADER_BYTES 32768

struct mh_client_exchange {
  mh_list link; /* in client.live */
  struct lws *wsi; /* NULL once untied */
  uv_loop_t *loop;
  mh_client_exchange_done done;
  void *ud;
  char **names, **values; /* the request's headers, copied */
  size_t nheaders;
  char **extra; /* spec.extra_headers as "name:" (lws' form), copied */
  size_t nextra;
  char *body;
  size_t body_len, body_sent;
  bool has_body, head_only;
  size_t max_body;
  bool starting;  /* inside lws_client_connect_via_info: an error is reported later */
  bool asked;       /* the request went out: never asked again elsewhere (a POST twice) */
  bool established; /* the answer's head came */
  bool tls;
  mh_timer *late; /* reports an error that came while starting */
  char *error;
  mh_http_answer a;
};

static struct {
  struct lws_context *ctx; /* lws clears it once it is gone (info.pcontext) */
  mh_list live;
  bool stopping;
} client = {.live = {&client.live, &client.live}};

static void free_exchange(mh_client_exchange *x) {
  for (size_t i = 0; i < x->nheaders; i++) free(x->names[i]), free(x->values[i]);
  free(x->names);
  free(x->values);
  for (size_t i = 0; i < x->nextra; i++) free(x->extra[i]);
  free(x->extra);
  free(x->body);
  free(x->error);
  mh_buf_free(&x->a.headers);
  mh_buf_free(&x->a.body);
  free(x);
}

/* Whatever lws reports of its connection from now on is ignored. */
static void untie(mh_client_exchange *x) {
  if (x->wsi) lws_set_opaque_user_data(x->wsi, NULL);
  x->wsi = NULL;
  mh_list_remove(&x->link);
  mh_list_init(&x->link);
}

static void report(mh_client_exchange *x) {
  x->a.error = x->error;
  x->done(x->ud, &x->a);
  free_exchange(x);
}

static void report_late(void *ud) {
  mh_client_exchange *x = ud;
  x->late = NULL;
  report(x);
}

/* The exchange ends: with error NULL, the answer is complete. */
static void finish(mh_client_exchange *x, const char *error, size_t len) {
  untie(x);
  if (error && !x->error) x->error = strndup(error, len);
  if (error && !x->error) x->error = strdup("out of memory");
  if (x->starting) return; /* mh_client_exchange_start reports it from the loop */
  report(x);
}

static void fail(mh_client_exchange *x, const char *error) { finish(x, error, strlen(error)); }

/* ---- the request ---- */

static int add_header(struct lws *wsi, const char *name, const char *value, size_t vlen, unsigned char **p,
                      unsigned char *end) {
  mh_buf n = MH_BUF_INIT; /* lws wants the name with its colon */
  int rc = mh_buf_appendf(&n, "%s:", name) || mh_buf_terminate(&n) ||
           lws_add_http_header_by_name(wsi, (const unsigned char *)n.data, (const unsigned char *)value, (int)vlen, p, end);
  mh_buf_free(&n);
  return rc;
}

static int append_headers(mh_client_exchange *x, struct lws *wsi, unsigned char **p, size_t room) {
  unsigned char *end = *p + room;
  x->asked = true; /* connected (and TLS done): lws writes the request next */
  bool full = false;
  for (size_t i = 0; i < x->nheaders && !full; i++)
    full = add_header(wsi, x->names[i], x->values[i], strlen(x->values[i]), p, end) != 0;
  if (x->has_body && !full) {
    char len[24];
    int n = snprintf(len, sizeof len, "%zu", x->body_len);
    full = add_header(wsi, "content-length", len, (size_t)n, p, end) != 0;
  }
  if (full) {
    fail(x, "the request's headers are too large");
    return -1;
  }
  if (x->body_len) lws_client_http_body_pending(wsi, 1); /* lws then asks for writes */
  return 0;
}

static int write_body(mh_client_exchange *x, struct lws *wsi) {
  static unsigned char buf[LWS_PRE + WRITE_CHUNK]; /* copied into: the loop is single-threaded */
  size_t n = x->body_len - x->body_sent;
  if (n > WRITE_CHUNK) n = WRITE_CHUNK;
  bool last = x->body_sent + n == x->body_len;
  memcpy(buf + LWS_PRE, x->body + x->body_sent, n);
  if (lws_write(wsi, buf + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < (int)n) {
    fail(x, "the request's body could not be sent");
    return -1;
  }
  x->body_sent += n;
  if (last)
    lws_client_http_body_pending(wsi, 0);
  else
    lws_callback_on_writable(wsi);
  return 0;
}

/* ---- the answer ---- */

static int add_answer_header(mh_client_exchange *x, const char *name, size_t nlen, const char *value, size_t vlen) {
  return mh_buf_append(&x->a.headers, name, nlen) || mh_buf_append(&x->a.headers, "", 1) ||
         mh_buf_append(&x->a.headers, value, vlen) || mh_buf_append(&x->a.headers, "", 1);
}

/* Headers lws files under no name of its own, asked for by name (lws 4.1
 * cannot list them). */
static int collect_extra_headers(mh_client_exchange *x, struct lws *wsi, mh_buf *value) {
  int rc = 0;
  for (size_t i = 0; i < x->nextra && !rc; i++) {
    int nlen = (int)strlen(x->extra[i]), vlen = lws_hdr_custom_length(wsi, x->extra[i], nlen);
    if (vlen < 0) continue;
    mh_buf_reset(value);
    if ((rc = mh_buf_reserve(value, (size_t)vlen + 1))) break;
    int got = lws_hdr_custom_copy(wsi, value->data, vlen + 1, x->extra[i], nlen);
    if (got >= 0) rc = add_answer_header(x, x->extra[i], (size_t)nlen - 1, value->data, (size_t)got);
  }
  return rc;
}

/* The answer's headers that lws 4.1 keeps under its known names, then the
 * extra ones asked for. */
static int collect_headers(mh_client_exchange *x, struct lws *wsi) {
  mh_buf value = MH_BUF_INIT;
  int rc = 0;
  for (int t = 0; t < WSI_TOKEN_COUNT && !rc; t++) {
    const char *name = (const char *)lws_token_to_string((enum lws_token_indexes)t);
    size_t nlen = name ? strlen(name) : 0;
    /* "content-type:": a header; "get ", ":path"...: the request line's parts */
    if (nlen < 2 || name[nlen - 1] != ':' || name[0] == ':') continue;
    int vlen = lws_hdr_total_length(wsi, (enum lws_token_indexes)t);
    if (vlen <= 0) continue;
    mh_buf_reset(&value);
    rc = mh_buf_reserve(&value, (size_t)vlen + 1);
    if (rc) break;
    int got = lws_hdr_copy(wsi, value.data, vlen + 1, (enum lws_token_indexes)t);
    if (got >= 0) rc = add_answer_header(x, name, nlen - 1, value.data, (size_t)got);
  }
  if (!rc) rc = collect_extra_headers(x, wsi, &value);
  mh_buf_free(&value);
  return rc;
}

static void over_max_body(mh_client_exchange *x) {
  char why[64];
  snprintf(why, sizeof why, "response body over max_body (%zu bytes)", x->max_body); /* fits: a message, not a limit */
  fail(x, why);
}

static bool has_no_body(const mh_client_exchange *x) {
  int s = x->a.status;
  return x->head_only || (s >= 100 && s < 200) || s == 204 || s == 304;
}

static int on_head(mh_client_exchange *x, struct lws *wsi) {
  x->established = true;
  x->a.status = (int)lws_http_client_http_response(wsi);
  if (collect_headers(x, wsi)) {
    fail(x, "out of memory");
    return -1;
  }
  /* lws would wait for a body these answers do not have (HEAD's content-length) */
  if (has_no_body(x)) {
    finish(x, NULL, 0);
    return -1; /* closes the connection; nothing else is read */
  }
  char cl[24];
  if (lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0 && strtoull(cl, NULL, 10) > x->max_body) {
    over_max_body(x);
    return -1;
  }
  return 0;
}

static int on_body(mh_client_exchange *x, const void *in, size_t len) {
  if (len > x->max_body - x->a.body.len) {
    over_max_body(x);
    return -1;
  }
  if (mh_buf_append(&x->a.body, in, len)) {
    fail(x, "out of memory");
    return -1;
  }
  return 0;
}

static int read_body(struct lws *wsi) {
  char buf[LWS_PRE + 4096], *p = buf + LWS_PRE;
  int n = sizeof buf - LWS_PRE;
  /* lws hands the body, dechunked, to RECEIVE_CLIENT_HTTP_READ */
  return lws_http_client_read(wsi, &p, &n) < 0 ? -1 : 0;
}

/* Why a connect failed: the socket's pending error (libuv only saw an
 * error event; the socket is still open while lws reports it). 0: none known. */
static int socket_error(struct lws *wsi) {
  int fd = (int)lws_get_socket_fd(wsi), err = 0;
  socklen_t len = sizeof err;
  if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)) return 0;
  return err;
}

/* lws' words for a failed connection say little ("closed before
 * established", "connect SSL err 1"): the certificate's verdict and the
 * socket's error say what happened. */
static void connection_error(mh_client_exchange *x, struct lws *wsi, const char *in, size_t len) {
  x->a.connect_failed = !x->asked;
  int err = x->asked ? 0 : socket_error(wsi);
  SSL *ssl = x->tls ? lws_get_ssl(wsi) : NULL;
  long verdict = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
  mh_buf why = MH_BUF_INIT;
  int rc;
  if (verdict != X509_V_OK)
    rc = mh_buf_appendf(&why, "TLS certificate verification failed: %s", X509_verify_cert_error_string(verdict));
  else if (err && !(rc = mh_buf_append_str(&why, strerror(err)))) /* "Connection refused" */
    why.data[0] = (char)tolower((unsigned char)why.data[0]);
  else if (x->asked) /* lws' words depend on how it noticed: a read failed, the peer hung up... */
    rc = mh_buf_appendf(&why, "the connection closed before %s (%.*s)", x->established ? "the answer's end" : "an answer",
                        (int)(in && len ? strnlen(in, len) : 6), in && len ? in : "closed");
  else
    rc = mh_buf_append(&why, in && len ? in : "the connection failed", in && len ? strnlen(in, len) : 21);
  finish(x, rc ? "out of memory" : why.data, rc ? 13 : why.len);
  mh_buf_free(&why);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len) {
  (void)user;
  mh_client_exchange *x = lws_get_opaque_user_data(wsi);
  if (x) x->wsi = wsi; /* already while lws_client_connect_via_info runs: untie needs it */
  switch (reason) {
  case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
    return x ? append_headers(x, wsi, in, len) : -1;
  case LWS_CALLBACK_CLIENT_HTTP_WRITEABLE:
    return x ? write_body(x, wsi) : -1;
  case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
    return x ? on_head(x, wsi) : -1;
  case LWS_CALLBACK_RECEIVE_CLIENT_HTTP:
    return x ? read_body(wsi) : -1;
  case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
    return x ? on_body(x, in, len) : -1;
  case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
    if (x) finish(x, NULL, 0);
    return -1; /* one exchange per connection */
  case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
    if (x) connection_error(x, wsi, in, len);
    return 0;
  case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
    if (x) fail(x, x->established ? "the connection closed before the answer's end" : "the connection closed before an answer");
    return 0;
  case LWS_CALLBACK_WSI_DESTROY:
    if (x) fail(x, "the connection closed");
    return 0;
  default:
    return 0;
  }
}

static const struct lws_protocols protocols[] = {
    {PROTOCOL, callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* ---- the context ---- */

static bool context_ready(uv_loop_t *loop) {
  if (client.ctx) return true;
  mh_lws_log_level(LLL_ERR | LLL_WARN, mh_lws_log_emit);
  void *loops[1] = {loop};
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  /* The default vhost (no listener) carries the client TLS context, with
   * the system's CA certificates. */
  info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = protocols;
  info.foreign_loops = loops;
  info.gid = -1;
  info.uid = -1;
  info.max_http_header_data = HEADER_BYTES;
  info.pt_serv_buf_size = HEADER_BYTES;
  info.timeout_secs = 24 * 3600; /* the caller's timeout governs (http_fetch.c), not lws' own */
  info.pcontext = &client.ctx;
  client.ctx = lws_create_context(&info);
  if (!client.ctx) mh_log_error("fetch", "cannot create the libwebsockets client context (see the [lws] lines above)");
  return client.ctx != NULL;
}

static bool copy_extra(mh_client_exchange *x, const mh_client_exchange_spec *spec) {
  x->extra = calloc(spec->nextra + 1, sizeof *x->extra);
  if (!x->extra) return false;
  for (; x->nextra < spec->nextra; x->nextra++) {
    mh_buf b = MH_BUF_INIT;
    if (mh_buf_appendf(&b, "%s:", spec->extra_headers[x->nextra]) || mh_buf_terminate(&b)) {
      mh_buf_free(&b);
      return false;
    }
    x->extra[x->nextra] = mh_buf_steal(&b, NULL);
  }
  return true;
}

static bool copy_spec(mh_client_exchange *x, const mh_client_exchange_spec *spec) {
  x->names = calloc(spec->nheaders + 1, sizeof *x->names);
  x->values = calloc(spec->nheaders + 1, sizeof *x->values);
  if (!x->names || !x->values || !copy_extra(x, spec)) return false;
  for (; x->nheaders < spec->nheaders; x->nheaders++) {
    x->names[x->nheaders] = strdup(spec->header_names[x->nheaders]);
    x->values[x->nheaders] = strdup(spec->header_values[x->nheaders]);
    if (!x->names[x->nheaders] || !x->values[x->nheaders]) {
      x->nheaders++;
      return false;
    }
  }
  x->has_body = spec->body != NULL;
  x->body_len = spec->body_len;
  if (spec->body_len && !(x->body = malloc(spec->body_len))) return false;
  if (spec->body_len) memcpy(x->body, spec->body, spec->body_len);
  return true;
}

static int connect_flags(const mh_client_exchange_spec *spec) {
  int flags = LCCSCF_HTTP_NO_FOLLOW_REDIRECT; /* lws would resolve the next host on the loop */
  if (spec->tls) flags |= LCCSCF_USE_SSL;
  if (spec->tls && spec->insecure)
    flags |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK | LCCSCF_ALLOW_EXPIRED |
             LCCSCF_ALLOW_INSECURE;
  return flags;
}

mh_client_exchange *mh_client_exchange_start(uv_loop_t *loop, const mh_client_exchange_spec *spec,
                                             mh_client_exchange_done done, void *ud, const char **why) {
  if (client.stopping) {
    *why = "the host is stopping";
    return NULL;
  }
  if (!context_ready(loop)) {
    *why = "libwebsockets could not start its client";
    return NULL;
  }
  mh_client_exchange *x = calloc(1, sizeof *x);
  if (!x || (*x = (mh_client_exchange){.loop = loop, .done = done, .ud = ud, .max_body = spec->max_body,
                                     .head_only = !strcmp(spec->method, "HEAD"), .tls = spec->tls,
                                     .a = {.headers = MH_BUF_INIT, .body = MH_BUF_INIT}},
             !copy_spec(x, spec))) {
    if (x) free_exchange(x);
    *why = "out of memory";
    return NULL;
  }
  mh_list_insert_tail(&client.live, &x->link);
  struct lws_client_connect_info ci;
  memset(&ci, 0, sizeof ci);
  ci.context = client.ctx;
  ci.address = spec->address;
  ci.port = spec->port;
  ci.path = spec->path;
  ci.host = spec->host;
  ci.method = spec->method;
  ci.alpn = "http/1.1";
  ci.ssl_connection = connect_flags(spec);
  ci.local_protocol_name = PROTOCOL;
  ci.opaque_user_data = x;
  x->starting = true;
  struct lws *wsi = lws_client_connect_via_info(&ci);
  x->starting = false;
  if (wsi && !x->error) {
    x->wsi = wsi;
    return x;
  }
  /* It failed at once: reported from the loop, as any other failure. */
  if (wsi && lws_get_opaque_user_data(wsi) == x) lws_set_opaque_user_data(wsi, NULL);
  untie(x);
  x->a.connect_failed = !x->asked;
  if (!x->error) x->error = strdup("the connection could not be started");
  x->late = mh_timer_start(loop, 0, report_late, x);
  if (!x->late) {
    free_exchange(x);
    *why = "out of memory";
    return NULL;
  }
  return x;
}

void mh_client_exchange_cancel(mh_client_exchange *x) {
  if (x->late) {
    mh_timer_stop(x->late);
    free_exchange(x);
    return;
  }
  struct lws *wsi = x->wsi;
  untie(x);
  /* Now: lws' "async" kill waits for its next timer (seconds). Never from
   * this connection's own callbacks (they untie before any caller runs),
   * so lws is not using it. */
  if (wsi) lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
  free_exchange(x);
}

void mh_http_client_stop(void) {
  if (client.stopping) return;
  client.stopping = true;
  /* Their callers would have cancelled them: whoever still waits is told. */
  while (!mh_list_empty(&client.live)) {
    mh_client_exchange *x = mh_container_of(client.live.next, mh_client_exchange, link);
    struct lws *wsi = x->wsi;
    fail(x, "the host is stopping");
    if (wsi) lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
  }
  if (client.ctx) lws_context_destroy(client.ctx);
}

void mh_http_client_free(void) {
  /* On a foreign loop lws finishes in a second call, once the loop has run
   * its close callbacks. */
  if (client.ctx) lws_context_destroy(client.ctx);
}
