/* One HTTP/1.1 exchange as a client (moonhost.fetch's wire half), on a
 * libwebsockets context of its own: made on the host loop at the first
 * exchange, apart from the server's (which may not exist: `moonhost test`),
 * so TLS client setup never touches the server. lws parses the answer and
 * speaks TLS; it connects to a numeric address only (http_fetch.c resolves
 * names off the loop: lws 4.1 would call getaddrinfo on it). */
#ifndef MH_HTTP_CLIENT_H
#define MH_HTTP_CLIENT_H
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "core/buf.h"

typedef struct mh_client_exchange_spec {
  const char *method;  /* an HTTP token, upper case */
  const char *address; /* numeric IPv4 or IPv6 */
  int port;
  bool tls;
  bool insecure;       /* TLS: accept a self-signed, expired or other-named certificate */
  const char *host;    /* the Host header ("name" or "name:port"); TLS SNI and name check use its name */
  const char *path;    /* "/..." with its query */
  const char *const *header_names, *const *header_values; /* checked: no CR, LF or NUL */
  size_t nheaders;
  const char *body;    /* sent with a content-length when not NULL */
  size_t body_len;
  size_t max_body;     /* bytes of the answer's body kept; more is an error */
  const char *const *extra_headers; /* lower-case names of the answer's headers lws does not know, to report too */
  size_t nextra;
} mh_client_exchange_spec;

typedef struct mh_http_answer {
  int status;
  mh_buf headers; /* "name\0value\0" pairs, names lower case (those lws 4.1 knows, and the extra ones) */
  mh_buf body;
  const char *error; /* NULL, or why the exchange failed (status may be 0) */
  bool connect_failed; /* the error came before the request went out: another address may do */
} mh_http_answer;

/* The exchange ended: a is borrowed (its buffers may be taken). */
typedef void (*mh_client_exchange_done)(void *ud, mh_http_answer *a);

typedef struct mh_client_exchange mh_client_exchange;

/* Starts the exchange; NULL with *why when it cannot start (done is then
 * never called). done is called from the loop, once. */
mh_client_exchange *mh_client_exchange_start(uv_loop_t *loop, const mh_client_exchange_spec *spec,
                                             mh_client_exchange_done done, void *ud, const char **why);
/* Closes its connection now; done is not called. Not after done. */
void mh_client_exchange_cancel(mh_client_exchange *x);

/* Starts tearing the client context down (once the host stops serving: its
 * lws context would keep the loop running); exchanges still open end with
 * an error. A second call does nothing. */
void mh_http_client_stop(void);
/* After the loop's last run: releases what lws left. */
void mh_http_client_free(void);

#endif
