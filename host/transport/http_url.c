/* URLs for moonhost.fetch (http_url.h). lws_parse_uri splits them; what it
 * lets through loosely (a port atoi reads, characters a host cannot have,
 * user info) is refused here, before anything reaches the wire. */
#include "transport/http_url.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libwebsockets.h>

#include "core/buf.h"

/* lws writes the request line with at most 2048 bytes and the Host header
 * with at most 128: longer ones would be cut, so they are refused. */
#define MAX_PATH 2000
#define MAX_HOST 100

/* Brackets hold an IPv6 address (with a %zone), nothing else: "[1]" would
 * otherwise go to the resolver as the name "1" (0.0.0.1). */
static bool ipv6_ok(const char *h) {
  char addr[64];
  size_t n = strcspn(h, "%");
  if (n >= sizeof addr) return false;
  memcpy(addr, h, n);
  addr[n] = '\0';
  struct in6_addr a;
  return inet_pton(AF_INET6, addr, &a) == 1 && (h[n] == '\0' || h[n + 1] != '\0');
}

static bool host_ok(const char *h, bool bracketed) {
  if (!*h || strlen(h) > MAX_HOST) return false;
  if (bracketed && !ipv6_ok(h)) return false;
  for (const char *p = h; *p; p++) {
    unsigned char c = (unsigned char)*p;
    bool ok = isalnum(c) || c == '-' || c == '.' || (c == '_' && !bracketed) || (bracketed && (c == ':' || c == '%'));
    if (!ok) return false;
  }
  return true;
}

static bool path_ok(const char *p) {
  if (strlen(p) > MAX_PATH) return false;
  for (; *p; p++)
    if ((unsigned char)*p <= 0x20 || *p == 0x7f) return false;
  return true;
}

/* "digits" then the end or '/': what lws' atoi read, checked. */
static bool port_text_ok(const char *authority_end) {
  const char *p = authority_end;
  if (!isdigit((unsigned char)*p)) return false;
  while (isdigit((unsigned char)*p)) p++;
  return *p == '\0' || *p == '/';
}

/* The copy lws_parse_uri cuts up: the scheme in lower case, the fragment
 * dropped, a query right after the host given its '/'. */
static char *prepared(const char *url, const char **why) {
  const char *sep = strstr(url, "://");
  if (!sep) {
    *why = "an http:// or https:// URL is expected";
    return NULL;
  }
  mh_buf b = MH_BUF_INIT;
  size_t authority = strcspn(sep + 3, "/?#");
  size_t head = (size_t)(sep + 3 - url) + authority;
  int rc = mh_buf_append(&b, url, head);
  const char *rest = url + head;
  if (!rc && *rest == '?') rc = mh_buf_append(&b, "/", 1);
  if (!rc) rc = mh_buf_append(&b, rest, strcspn(rest, "#"));
  if (!rc) rc = mh_buf_terminate(&b);
  if (rc) {
    mh_buf_free(&b);
    *why = "out of memory";
    return NULL;
  }
  if (memchr(url + (sep + 3 - url), '@', authority)) {
    mh_buf_free(&b);
    *why = "user info (user:password@) in a URL is not supported: send an authorization header";
    return NULL;
  }
  for (char *p = b.data; p < b.data + (sep - url); p++) *p = (char)tolower((unsigned char)*p); /* HTTP:// too */
  return mh_buf_steal(&b, NULL);
}

int mh_url_parse(const char *url, mh_url *u, const char **why) {
  memset(u, 0, sizeof *u);
  char *copy = prepared(url, why);
  if (!copy) return -1;
  const char *prot, *ads, *path;
  int port = 0;
  bool bracketed = strstr(copy, "://[") != NULL;
  const char *colon = NULL; /* the port's colon, found before lws cuts the string */
  {
    const char *a = strstr(copy, "://") + 3;
    const char *end = a + strcspn(a, "/");
    const char *after = bracketed ? memchr(a, ']', (size_t)(end - a)) : a;
    if (after) colon = memchr(after, ':', (size_t)(end - after));
    if (bracketed && !after) {
      free(copy);
      *why = "the URL's IPv6 address has no closing ']'";
      return -1;
    }
  }
  if (colon && !port_text_ok(colon + 1)) {
    free(copy);
    *why = "the URL's port is not a number";
    return -1;
  }
  *why = NULL;
  if (lws_parse_uri(copy, &prot, &ads, &port, &path)) /* 4.1 always splits; a later one may refuse */
    *why = "the URL cannot be split into its parts";
  else if (!strcmp(prot, "http"))
    u->tls = false;
  else if (!strcmp(prot, "https"))
    u->tls = true;
  else
    *why = "only http:// and https:// URLs are fetched";
  if (!*why && !host_ok(ads, bracketed)) *why = "the URL's host is empty, too long or holds characters a host name cannot";
  if (!*why && (port < 1 || port > 65535)) *why = "the URL's port is not between 1 and 65535";
  if (!*why && !path_ok(path)) *why = "the URL's path holds a space or a control character, or is too long";
  mh_buf hh = MH_BUF_INIT;
  if (!*why) {
    bool default_port = port == (u->tls ? 443 : 80);
    int rc = bracketed ? mh_buf_appendf(&hh, "[%s]", ads) : mh_buf_append_str(&hh, ads);
    if (!rc && !default_port) rc = mh_buf_appendf(&hh, ":%d", port);
    if (!rc) rc = mh_buf_terminate(&hh);
    u->host = strdup(ads);
    u->path = path[0] == '/' ? strdup(path) : NULL;
    if (!u->path) {
      mh_buf p = MH_BUF_INIT;
      if (!mh_buf_appendf(&p, "/%s", path) && !mh_buf_terminate(&p)) u->path = mh_buf_steal(&p, NULL);
      mh_buf_free(&p);
    }
    u->host_header = rc ? NULL : mh_buf_steal(&hh, NULL);
    u->port = port;
    if (!u->host || !u->path || !u->host_header) *why = "out of memory";
  }
  mh_buf_free(&hh);
  free(copy);
  if (!*why) return 0;
  mh_url_free(u);
  return -1;
}

void mh_url_free(mh_url *u) {
  free(u->host);
  free(u->path);
  free(u->host_header);
  memset(u, 0, sizeof *u);
}

char *mh_url_resolve(const char *base, const char *location) {
  mh_buf b = MH_BUF_INIT;
  const char *sep = strstr(base, "://");
  size_t scheme = sep ? (size_t)(sep - base) : 0;
  size_t origin = sep ? scheme + 3 + strcspn(sep + 3, "/?#") : 0;
  int rc;
  if (strstr(location, "://") && strcspn(location, "/?#") > (size_t)(strstr(location, "://") - location))
    rc = mh_buf_append_str(&b, location);
  else if (location[0] == '/' && location[1] == '/')
    rc = mh_buf_append(&b, base, scheme + 1) || mh_buf_append_str(&b, location);
  else if (location[0] == '/')
    rc = mh_buf_append(&b, base, origin) || mh_buf_append_str(&b, location);
  else {
    /* relative to the base's directory */
    size_t path_end = origin + strcspn(base + origin, "?#");
    size_t dir = path_end;
    while (dir > origin && base[dir - 1] != '/') dir--;
    rc = mh_buf_append(&b, base, dir) || (dir == origin && mh_buf_append(&b, "/", 1)) ||
         mh_buf_append_str(&b, location);
  }
  if (!rc) rc = mh_buf_terminate(&b);
  if (rc) {
    mh_buf_free(&b);
    return NULL;
  }
  return mh_buf_steal(&b, NULL);
}

bool mh_url_same_origin(const mh_url *a, const mh_url *b) {
  return a->tls == b->tls && a->port == b->port && !strcasecmp(a->host, b->host);
}
