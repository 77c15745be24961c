#include "mesh/mesh_cluster_config.h"

#include <stdbool.h>
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

/* One server of nats.url: nats://, maybe user:password@ or token@, a host,
 * maybe :PORT (1..65535). nats.c would take more (no scheme, say) and fail
 * later, at every reconnect; a typo is better said at start. tls:// is
 * refused while there are no TLS settings (CA, certificate) to go with it. */
static bool server_url_ok(const char *s, size_t n) {
  size_t skip = n >= 7 && strncmp(s, "nats://", 7) == 0 ? 7 : 0;
  if (!skip) return false;
  const char *p = s + skip, *end = s + n, *at = memchr(p, '@', (size_t)(end - p));
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

static bool url_ok(const char *url) {
  for (const char *p = url;;) {
    const char *comma = strchr(p, ','), *end = comma ? comma : p + strlen(p);
    while (p < end && *p == ' ') p++;
    if (!server_url_ok(p, (size_t)(end - p))) return false;
    if (!comma) return true;
    p = comma + 1;
  }
}

int mh_cluster_check_config(const mh_config *cfg, char **errmsg) {
  bool token = *cfg->nats.token, user = *cfg->nats.user, password = *cfg->nats.password;
  if (!url_ok(cfg->nats.url))
    return bad_config(errmsg, "nats.url: expected nats://HOST:PORT, several separated by commas (no tls:// yet)");
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
