/* moonhost.fetch's C half: a URL fetched to its answer without blocking
 * the loop. The host name is resolved in libuv's thread pool
 * (uv_getaddrinfo), then each of its addresses is tried in turn
 * (http_client.h); redirects are followed here, each hop resolved again;
 * one timer bounds the whole. */
#ifndef MH_HTTP_FETCH_H
#define MH_HTTP_FETCH_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/buf.h"

#define MH_FETCH_MAX_REDIRECTS 5

typedef struct mh_fetch_spec {
  const char *url;
  const char *method; /* an HTTP token, upper case */
  const char *const *header_names, *const *header_values; /* checked: no CR, LF or NUL */
  size_t nheaders;
  const char *body; /* NULL: none */
  size_t body_len;
  uint64_t timeout_ms; /* the whole exchange, redirects included; 0: none */
  size_t max_body;
  const char *const *extra_headers; /* lower-case names of the answer's headers lws 4.1 does not know, to report */
  size_t nextra;
  bool follow;   /* follow redirects (at most MH_FETCH_MAX_REDIRECTS); else a 3xx is the answer */
  bool insecure; /* accept any TLS certificate */
} mh_fetch_spec;

typedef struct mh_fetch_result {
  const char *error; /* NULL, or "METHOD URL: why" */
  int status;
  mh_buf headers; /* "name\0value\0" pairs, names lower case */
  mh_buf body;
  const char *url; /* the last one asked */
  uint64_t ms;
} mh_fetch_result;

/* r is borrowed (its buffers may be taken). */
typedef void (*mh_fetch_done)(void *ud, mh_fetch_result *r);

typedef struct mh_fetch mh_fetch;

/* NULL with *why (a static sentence) when the URL is not one we fetch;
 * else done comes from the loop, once. */
mh_fetch *mh_fetch_start(uv_loop_t *loop, const mh_fetch_spec *spec, mh_fetch_done done, void *ud, const char **why);
/* Closes its connection (or drops its lookup) now; done is not called. */
void mh_fetch_cancel(mh_fetch *f);

#endif
