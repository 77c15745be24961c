/* moonhost.fetch's URLs (host/transport/http_url.c): what a plugin passes,
 * and the Location of a redirect, which the remote server chooses.
 *
 * Input: a base URL, '\n', a Location. Invariants:
 *   - a URL that parses has a host of host characters only (no '/', '@',
 *     '#', '?', spaces: nothing that could name another server), at most
 *     100 bytes; a port in 1..65535; a path that starts with '/' and holds
 *     no byte <= 0x20 or DEL (nothing that could split the request line);
 *     a Host header that is the host (in brackets for IPv6) with ":port"
 *     exactly when the port is not the scheme's; parsing is deterministic
 *     and the URL is its own origin;
 *   - resolving a Location against a base that parses always gives a URL;
 *     an absolute http(s) Location is kept as it is;
 *   - a Location that names no origin of its own (a path, absolute or
 *     relative, or a query) resolves to the base's origin: the redirect
 *     rule that keeps credentials for the same origin relies on it. */
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "transport/http_url.h"

static bool host_char(char c, bool bracketed) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         (c == '_' && !bracketed) || (bracketed && (c == ':' || c == '%'));
}

static void check_parsed(const char *url, const mh_url *u) {
  bool bracketed = strchr(u->host, ':') != NULL; /* brackets hold only IPv6 addresses */
  size_t hn = strlen(u->host);
  FUZZ_CHECK(hn > 0 && hn <= 100, "host '%s' of %s", u->host, url);
  for (const char *p = u->host; *p; p++) FUZZ_CHECK(host_char(*p, bracketed), "host '%s' of %s", u->host, url);
  FUZZ_CHECK(u->port >= 1 && u->port <= 65535, "port %d of %s", u->port, url);
  FUZZ_CHECK(u->path[0] == '/', "path '%s' of %s", u->path, url);
  for (const char *p = u->path; *p; p++)
    FUZZ_CHECK((unsigned char)*p > 0x20 && *p != 0x7f, "path '%s' of %s", u->path, url);
  char want[160];
  bool default_port = u->port == (u->tls ? 443 : 80);
  int n = snprintf(want, sizeof want, bracketed ? "[%s]" : "%s", u->host);
  if (!default_port) snprintf(want + n, sizeof want - (size_t)n, ":%d", u->port);
  FUZZ_CHECK(strcmp(want, u->host_header) == 0, "Host header '%s', expected '%s', of %s", u->host_header, want, url);
  FUZZ_CHECK(mh_url_same_origin(u, u), "%s is not its own origin", url);
  mh_url again;
  const char *why = NULL;
  FUZZ_CHECK(mh_url_parse(url, &again, &why) == 0, "%s parsed once, then not: %s", url, why);
  FUZZ_CHECK(again.tls == u->tls && again.port == u->port && !strcmp(again.host, u->host) &&
                 !strcmp(again.path, u->path) && !strcmp(again.host_header, u->host_header),
             "%s parsed twice differently", url);
  mh_url_free(&again);
}

/* Whether location names an origin: "scheme://" before any '/', '?' or '#', or "//". */
static bool names_origin(const char *location) {
  const char *sep = strstr(location, "://");
  if (sep && (size_t)(sep - location) < strcspn(location, "/?#")) return true;
  return location[0] == '/' && location[1] == '/';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_set_input(data, size);
  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  if (strlen(text) != size) { /* no NUL: neither URLs nor Location headers hold one */
    free(text);
    return 0;
  }
  char *nl = strchr(text, '\n');
  const char *location = nl ? nl + 1 : "";
  if (nl) *nl = '\0';
  mh_url base;
  const char *why = NULL;
  if (mh_url_parse(text, &base, &why) != 0) {
    FUZZ_CHECK(why && *why, "%s refused without a reason", text);
    free(text);
    return 0;
  }
  check_parsed(text, &base);
  char *resolved = mh_url_resolve(text, location);
  FUZZ_CHECK(resolved != NULL, "no resolution of '%s' against %s", location, text);
  if (names_origin(location) && strstr(location, "://")) {
    mh_url l;
    if (mh_url_parse(location, &l, &why) == 0) {
      FUZZ_CHECK(strcmp(resolved, location) == 0, "absolute '%s' resolved to '%s'", location, resolved);
      mh_url_free(&l);
    }
  }
  mh_url r;
  if (mh_url_parse(resolved, &r, &why) == 0) {
    check_parsed(resolved, &r);
    if (!names_origin(location))
      FUZZ_CHECK(mh_url_same_origin(&base, &r), "'%s' against %s left the origin: %s", location, text, resolved);
    mh_url_free(&r);
  }
  free(resolved);
  mh_url_free(&base);
  free(text);
  return 0;
}
