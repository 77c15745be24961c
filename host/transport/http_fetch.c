/* A fetch (http_fetch.h): resolve, connect to each address in turn, follow
 * redirects; every step starts from a libuv or lws callback on the loop. */
#include "transport/http_fetch.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/timer.h"
#include "transport/http_client.h"
#include "transport/http_url.h"

struct mh_fetch {
  uv_loop_t *loop;
  mh_fetch_done done;
  void *ud;
  char *method;
  char **names, **values; /* the request's headers */
  size_t nheaders;
  char **extra; /* spec.extra_headers */
  size_t nextra;
  char *body; /* NULL: none */
  size_t body_len, max_body;
  bool follow, insecure;
  uint64_t timeout_ms, started;
  char *url; /* this hop's */
  mh_url u;
  int hops;
  uv_getaddrinfo_t *dns; /* a lookup under way; its callback frees it */
  char **addresses;
  size_t naddr, next;
  char *connect_error; /* the last address' failure, while others are tried */
  mh_client_exchange *x;
  mh_timer *timer;
  mh_buf error;
};

static void free_addresses(mh_fetch *f) {
  for (size_t i = 0; i < f->naddr; i++) free(f->addresses[i]);
  free(f->addresses);
  f->addresses = NULL;
  f->naddr = f->next = 0;
}

static void drop_header(mh_fetch *f, size_t i) {
  free(f->names[i]);
  free(f->values[i]);
  f->names[i] = f->names[f->nheaders - 1];
  f->values[i] = f->values[f->nheaders - 1];
  f->nheaders--;
}

static void free_fetch(mh_fetch *f) {
  while (f->nheaders) drop_header(f, 0);
  free(f->names);
  free(f->values);
  for (size_t i = 0; i < f->nextra; i++) free(f->extra[i]);
  free(f->extra);
  free(f->method);
  free(f->body);
  free(f->url);
  mh_url_free(&f->u);
  free_addresses(f);
  free(f->connect_error);
  mh_buf_free(&f->error);
  free(f);
}

/* Nothing of f runs any more: no timer, no lookup, no connection. */
static void halt(mh_fetch *f) {
  if (f->timer) mh_timer_stop(f->timer);
  f->timer = NULL;
  if (f->dns) {
    f->dns->data = NULL; /* its callback frees it */
    uv_cancel((uv_req_t *)f->dns);
  }
  f->dns = NULL;
  if (f->x) mh_client_exchange_cancel(f->x);
  f->x = NULL;
}

static void report(mh_fetch *f, mh_fetch_result *r) {
  halt(f);
  r->url = f->url;
  r->ms = mh_now_ms(f->loop) - f->started;
  f->done(f->ud, r);
  mh_buf_free(&r->headers);
  mh_buf_free(&r->body);
  free_fetch(f);
}

static void fail(mh_fetch *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(mh_fetch *f, const char *fmt, ...) {
  mh_buf_reset(&f->error);
  va_list ap;
  va_start(ap, fmt);
  int rc = mh_buf_appendf(&f->error, "%s %s: ", f->method, f->url) || mh_buf_vappendf(&f->error, fmt, ap) ||
           mh_buf_terminate(&f->error);
  va_end(ap);
  mh_log_debug("fetch", "%s", rc ? "a fetch failed (out of memory)" : f->error.data);
  mh_fetch_result r = {.error = rc ? "out of memory" : f->error.data, .headers = MH_BUF_INIT, .body = MH_BUF_INIT};
  report(f, &r);
}

/* ---- connecting ---- */

static void on_answer(void *ud, mh_http_answer *a);

/* lws' words for a failure, made into what happened. */
static void fail_exchange(mh_fetch *f, const char *error) {
  if (strstr(error, "TLS certificate verification failed") || strstr(error, "cert didn't look good"))
    fail(f, "%s (insecure = true accepts it: a local dev server only)", error);
  else if (strstr(error, "SSL") || strstr(error, "tls"))
    fail(f, "TLS handshake failed (%s)", error);
  else
    fail(f, "%s", error);
}

static void connect_next(mh_fetch *f) {
  if (f->next == f->naddr) {
    fail_exchange(f, f->connect_error ? f->connect_error : "no address to connect to");
    return;
  }
  mh_client_exchange_spec spec = {.method = f->method, .address = f->addresses[f->next++], .port = f->u.port,
                                  .tls = f->u.tls, .insecure = f->insecure, .host = f->u.host_header, .path = f->u.path,
                                  .header_names = (const char *const *)f->names,
                                  .header_values = (const char *const *)f->values, .nheaders = f->nheaders,
                                  .body = f->body, .body_len = f->body_len, .max_body = f->max_body,
                                  .extra_headers = (const char *const *)f->extra, .nextra = f->nextra};
  const char *why = NULL;
  f->x = mh_client_exchange_start(f->loop, &spec, on_answer, f, &why);
  if (!f->x) fail(f, "%s", why);
}

/* ---- resolving ---- */

static int add_address(mh_fetch *f, const struct addrinfo *a) {
  char buf[INET6_ADDRSTRLEN] = "";
  const void *addr = a->ai_family == AF_INET ? (const void *)&((struct sockaddr_in *)(void *)a->ai_addr)->sin_addr
                                             : (const void *)&((struct sockaddr_in6 *)(void *)a->ai_addr)->sin6_addr;
  if (!inet_ntop(a->ai_family, addr, buf, sizeof buf)) return 0;
  for (size_t i = 0; i < f->naddr; i++)
    if (!strcmp(f->addresses[i], buf)) return 0;
  char **grown = realloc(f->addresses, (f->naddr + 1) * sizeof *grown);
  if (!grown) return -1;
  f->addresses = grown;
  if (!(f->addresses[f->naddr] = strdup(buf))) return -1;
  f->naddr++;
  return 0;
}

/* Its IPv4 addresses first: a name like localhost has both, and a local
 * server often listens on 127.0.0.1 only. */
static int take_addresses(mh_fetch *f, const struct addrinfo *res) {
  int rc = 0;
  for (int family = 0; family < 2 && !rc; family++)
    for (const struct addrinfo *a = res; a && !rc; a = a->ai_next)
      if (a->ai_family == (family ? AF_INET6 : AF_INET)) rc = add_address(f, a);
  return rc;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  mh_fetch *f = req->data;
  free(req);
  if (!f) { /* cancelled meanwhile */
    if (res) uv_freeaddrinfo(res);
    return;
  }
  f->dns = NULL;
  int rc = status ? 0 : take_addresses(f, res);
  if (res) uv_freeaddrinfo(res);
  if (status)
    fail(f, "cannot resolve '%s': %s", f->u.host, uv_strerror(status));
  else if (rc)
    fail(f, "out of memory");
  else if (!f->naddr)
    fail(f, "'%s' has no IPv4 or IPv6 address", f->u.host);
  else
    connect_next(f);
}

/* 0, or the libuv error that kept the lookup from starting. */
static int resolve(mh_fetch *f) {
  free_addresses(f);
  free(f->connect_error);
  f->connect_error = NULL;
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  f->dns = calloc(1, sizeof *f->dns);
  int rc = f->dns ? uv_getaddrinfo(f->loop, f->dns, on_resolved, f->u.host, NULL, &hints) : UV_ENOMEM;
  if (!rc) {
    f->dns->data = f;
    return 0;
  }
  free(f->dns);
  f->dns = NULL;
  return rc;
}

/* ---- redirects ---- */

static const char *header_of(const mh_buf *headers, const char *name) {
  for (size_t at = 0; at < headers->len;) {
    const char *n = headers->data + at;
    const char *v = n + strlen(n) + 1;
    if (!strcmp(n, name)) return v;
    at = (size_t)(v + strlen(v) + 1 - headers->data);
  }
  return NULL;
}

static bool is_redirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* What a browser does: 303 (and 301/302 after a POST) asks with GET,
 * without the body; 307 and 308 repeat the request as it was. */
static void redirect_method(mh_fetch *f, int status) {
  bool to_get = (status == 303 && strcmp(f->method, "HEAD")) ||
                ((status == 301 || status == 302) && !strcmp(f->method, "POST"));
  if (!to_get) return;
  free(f->method);
  f->method = strdup("GET");
  free(f->body);
  f->body = NULL;
  f->body_len = 0;
  for (size_t i = f->nheaders; i-- > 0;)
    if (!strcasecmp(f->names[i], "content-type")) drop_header(f, i);
}

/* Another origin does not get the caller's credentials. */
static void drop_credentials(mh_fetch *f) {
  for (size_t i = f->nheaders; i-- > 0;)
    if (!strcasecmp(f->names[i], "authorization") || !strcasecmp(f->names[i], "cookie") ||
        !strcasecmp(f->names[i], "proxy-authorization"))
      drop_header(f, i);
}

static void follow(mh_fetch *f, int status, const char *location) {
  if (++f->hops > MH_FETCH_MAX_REDIRECTS) {
    fail(f, "too many redirects (more than %d)", MH_FETCH_MAX_REDIRECTS);
    return;
  }
  char *next = mh_url_resolve(f->url, location);
  mh_url u;
  const char *why = "out of memory";
  if (!next || mh_url_parse(next, &u, &why)) {
    free(next);
    fail(f, "cannot follow the redirect to '%s': %s", location, why);
    return;
  }
  if (f->u.tls && !u.tls) {
    mh_url_free(&u);
    free(next);
    fail(f, "a redirect from https to http ('%s') is refused", location);
    return;
  }
  mh_log_debug("fetch", "%s %s: %d to %s", f->method, f->url, status, next);
  if (!mh_url_same_origin(&f->u, &u)) drop_credentials(f);
  redirect_method(f, status);
  mh_url_free(&f->u);
  f->u = u;
  free(f->url);
  f->url = next;
  int rc = f->method ? resolve(f) : UV_ENOMEM;
  if (rc) fail(f, "cannot resolve '%s': %s", f->u.host, uv_strerror(rc));
}

static void on_answer(void *ud, mh_http_answer *a) {
  mh_fetch *f = ud;
  f->x = NULL;
  if (a->error && a->connect_failed && f->next < f->naddr) {
    free(f->connect_error);
    f->connect_error = strdup(a->error);
    connect_next(f); /* the name's next address */
    return;
  }
  if (a->error) {
    fail_exchange(f, a->error);
    return;
  }
  const char *location = header_of(&a->headers, "location");
  if (f->follow && is_redirect(a->status) && location) {
    follow(f, a->status, location);
    return;
  }
  mh_fetch_result r = {.status = a->status, .headers = a->headers, .body = a->body};
  a->headers = (mh_buf)MH_BUF_INIT;
  a->body = (mh_buf)MH_BUF_INIT;
  report(f, &r);
}

/* ---- the whole ---- */

static void on_timeout(void *ud) {
  mh_fetch *f = ud;
  f->timer = NULL;
  fail(f, "timed out after %.3g s", (double)f->timeout_ms / 1000);
}

static bool copy_spec(mh_fetch *f, const mh_fetch_spec *spec) {
  f->names = calloc(spec->nheaders + 1, sizeof *f->names);
  f->values = calloc(spec->nheaders + 1, sizeof *f->values);
  f->extra = calloc(spec->nextra + 1, sizeof *f->extra);
  f->method = strdup(spec->method);
  f->url = strdup(spec->url);
  if (!f->names || !f->values || !f->extra || !f->method || !f->url) return false;
  for (; f->nextra < spec->nextra; f->nextra++)
    if (!(f->extra[f->nextra] = strdup(spec->extra_headers[f->nextra]))) return false;
  for (size_t i = 0; i < spec->nheaders; i++) {
    f->names[i] = strdup(spec->header_names[i]);
    f->values[i] = strdup(spec->header_values[i]);
    f->nheaders++;
    if (!f->names[i] || !f->values[i]) return false;
  }
  if (spec->body && !(f->body = malloc(spec->body_len ? spec->body_len : 1))) return false;
  if (spec->body) memcpy(f->body, spec->body, spec->body_len);
  f->body_len = spec->body_len;
  return true;
}

mh_fetch *mh_fetch_start(uv_loop_t *loop, const mh_fetch_spec *spec, mh_fetch_done done, void *ud, const char **why) {
  mh_url u;
  if (mh_url_parse(spec->url, &u, why)) return NULL;
  mh_fetch *f = calloc(1, sizeof *f);
  if (f) {
    *f = (mh_fetch){.loop = loop, .done = done, .ud = ud, .max_body = spec->max_body, .follow = spec->follow,
                    .insecure = spec->insecure, .timeout_ms = spec->timeout_ms, .started = mh_now_ms(loop), .u = u,
                    .error = MH_BUF_INIT};
    u = (mh_url){0};
  }
  if (!f || !copy_spec(f, spec) ||
      (spec->timeout_ms && !(f->timer = mh_timer_start(loop, spec->timeout_ms, on_timeout, f)))) {
    mh_url_free(&u);
    if (f) halt(f), free_fetch(f);
    *why = "out of memory";
    return NULL;
  }
  if (resolve(f)) { /* done is not called from here: the caller is not waiting yet */
    halt(f);
    free_fetch(f);
    *why = "the DNS lookup could not start";
    return NULL;
  }
  return f;
}

void mh_fetch_cancel(mh_fetch *f) {
  halt(f);
  free_fetch(f);
}
