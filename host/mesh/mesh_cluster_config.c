#include "mesh/mesh_cluster_config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/error.h"

static bool has_control_chars(const char *s) {
  for (; s && *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f) return true;
  return false;
}

static int bad_config(char **errmsg, const char *msg) {
  *errmsg = strdup(msg);
  return MH_START_BAD_CONFIG;
}

typedef enum { URL_BAD, URL_NATS, URL_TLS, URL_MIXED } url_scheme;

/* What follows the scheme: maybe user:password@ or token@, a host, maybe :PORT. */
static bool server_url_ok(const char *s, size_t n) {
  const char *p = s, *end = s + n, *at = memchr(p, '@', (size_t)(end - p));
  if (at) p = at + 1;
  const char *colon = p < end && *p == '[' ? memchr(p, ']', (size_t)(end - p)) : p;
  colon = colon ? memchr(colon, ':', (size_t)(end - colon)) : NULL;
  const char *host_end = colon ? colon : end;
  if (host_end == p) return false;
  for (const char *c = p; c < host_end; c++)
    if ((unsigned char)*c <= ' ' || *c == '/') return false;
  if (!colon) return true;
  long port = 0;
  for (const char *c = colon + 1; c < end; c++) {
    if (*c < '0' || *c > '9' || (port = port * 10 + (*c - '0')) > 65535) return false;
  }
  return colon + 1 < end && port >= 1;
}

/* One server of nats.url: nats:// or tls://, maybe user:password@ or
 * token@, a host, maybe :PORT (1..65535). nats.c would take more (no scheme,
 * say) and fail later, at every reconnect; a typo is better said at start. */
static url_scheme server_url_scheme(const char *s, size_t n) {
  url_scheme scheme = n >= 7 && strncmp(s, "nats://", 7) == 0 ? URL_NATS
                      : n >= 6 && strncmp(s, "tls://", 6) == 0 ? URL_TLS
                                                               : URL_BAD;
  return scheme != URL_BAD && server_url_ok(s + (scheme == URL_NATS ? 7 : 6), n - (scheme == URL_NATS ? 7 : 6))
             ? scheme
             : URL_BAD;
}

/* The scheme all servers of nats.url share (URL_MIXED when they differ). */
static url_scheme url_scheme_of(const char *url) {
  url_scheme all = URL_BAD;
  for (const char *p = url;;) {
    const char *comma = strchr(p, ','), *end = comma ? comma : p + strlen(p);
    while (p < end && *p == ' ') p++;
    url_scheme one = server_url_scheme(p, (size_t)(end - p));
    if (one == URL_BAD) return URL_BAD;
    if (all != URL_BAD && one != all) return URL_MIXED;
    all = one;
    if (!comma) return all;
    p = comma + 1;
  }
}

/* tls:// needs a CA to check the server against; nats.tls with nats:// would
 * be ignored by a reader of the file, so it is refused. */
static int check_tls(const mh_config *cfg, url_scheme scheme, char **errmsg) {
  bool ca = *cfg->nats.tls.ca, cert = *cfg->nats.tls.cert, key = *cfg->nats.tls.key;
  if (scheme == URL_TLS && !ca)
    return bad_config(errmsg, "nats.url is tls:// but nats.tls.ca is empty: give the CA file the NATS server's "
                              "certificate chains to");
  if (scheme == URL_NATS && (ca || cert || key))
    return bad_config(errmsg, "nats.tls is set but nats.url is nats://: write tls://HOST:PORT");
  if (cert != key) return bad_config(errmsg, "nats.tls.cert and nats.tls.key go together: set both or neither");
  const char *names[] = {"ca", "cert", "key"}, *files[] = {cfg->nats.tls.ca, cfg->nats.tls.cert, cfg->nats.tls.key};
  for (size_t i = 0; i < 3; i++) {
    FILE *f = *files[i] ? fopen(files[i], "r") : NULL;
    if (*files[i] && !f) {
      mh_buf msg = MH_BUF_INIT;
      mh_buf_appendf(&msg, "nats.tls.%s: cannot read %s: %s", names[i], files[i], strerror(errno));
      *errmsg = mh_buf_steal(&msg, NULL);
      return MH_START_BAD_CONFIG;
    }
    if (f) fclose(f);
  }
  return 0;
}

int mh_cluster_check_config(const mh_config *cfg, char **errmsg) {
  bool token = *cfg->nats.token, user = *cfg->nats.user, password = *cfg->nats.password;
  url_scheme scheme = url_scheme_of(cfg->nats.url);
  if (scheme == URL_BAD)
    return bad_config(errmsg, "nats.url: expected nats://HOST:PORT or tls://HOST:PORT, several separated by commas");
  if (scheme == URL_MIXED)
    return bad_config(errmsg, "nats.url: mixes nats:// and tls:// servers: use one scheme for all");
  int rc = check_tls(cfg, scheme, errmsg);
  if (rc) return rc;
  if (!*cfg->mesh.key)
    return bad_config(errmsg, "nats.url is set but mesh.key is empty: the hosts of a cluster sign identities and "
                              "every message with mesh.key, the same on every host");
  if (token && (user || password))
    return bad_config(errmsg, "nats.token and nats.user/nats.password are both set: give one way to log in");
  if (user != password) return bad_config(errmsg, "nats.user and nats.password go together: set both or neither");
  if (has_control_chars(cfg->mesh.host_id))
    return bad_config(errmsg, "mesh.host_id holds control characters, which NATS headers cannot carry");
  return 0;
}

/* The URL as the log may show it: "user:password@" or "token@" cut out. */
char *mh_cluster_url_shown(const char *url) {
  mh_buf out = MH_BUF_INIT;
  const char *p = url;
  while (*p) {
    const char *comma = strchr(p, ','), *end = comma ? comma : p + strlen(p);
    const char *scheme = strstr(p, "://"), *host = scheme && scheme < end ? scheme + 3 : p;
    const char *at = memchr(host, '@', (size_t)(end - host));
    mh_buf_append(&out, p, (size_t)(host - p));
    if (at) mh_buf_append_str(&out, "***@");
    mh_buf_append(&out, at ? at + 1 : host, (size_t)(end - (at ? at + 1 : host)));
    if (!comma) break;
    mh_buf_append_str(&out, ",");
    p = comma + 1;
  }
  return mh_buf_terminate(&out) ? (mh_buf_free(&out), NULL) : mh_buf_steal(&out, NULL);
}
