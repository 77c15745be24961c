/* http:// and https:// URLs for moonhost.fetch: split (with lws'
 * lws_parse_uri) and checked, and a redirect's Location made absolute. */
#ifndef MH_HTTP_URL_H
#define MH_HTTP_URL_H
#include <stdbool.h>

typedef struct mh_url {
  bool tls;   /* https */
  char *host; /* a name or a numeric address, without IPv6's brackets */
  int port;
  char *path; /* "/..." with its query, without the fragment */
  char *host_header; /* "host" or "host:port" (the port when it is not the scheme's) */
} mh_url;

/* 0, or -1 with *why (a static sentence) when url is not one we fetch. */
int mh_url_parse(const char *url, mh_url *u, const char **why);
void mh_url_free(mh_url *u);
/* location (absolute, scheme-relative, absolute path or relative path)
 * made absolute against base; NULL when out of memory. */
char *mh_url_resolve(const char *base, const char *location);
/* Scheme, host and port are the same (what a redirect may carry the caller's credentials to). */
bool mh_url_same_origin(const mh_url *a, const mh_url *b);

#endif
