/* mh_url_parse and mh_url_resolve (moonhost.fetch's URLs): the parts, the
 * Host header, what is refused, and redirect locations made absolute. */
#include <string.h>

#include "check.h"
#include "transport/http_url.h"

typedef struct {
  const char *url;
  bool tls;
  const char *host, *path, *host_header;
  int port;
} parse_case;

static const parse_case parsed[] = {
    {"http://example.com", false, "example.com", "/", "example.com", 80},
    {"https://example.com/", true, "example.com", "/", "example.com", 443},
    {"HTTPS://Example.com:8443/a/b?x=1#frag", true, "Example.com", "/a/b?x=1", "Example.com:8443", 8443},
    {"http://127.0.0.1:3000?q=1", false, "127.0.0.1", "/?q=1", "127.0.0.1:3000", 3000},
    {"http://[::1]:8080/x", false, "::1", "/x", "[::1]:8080", 8080},
    {"http://h:80/", false, "h", "/", "h", 80},
    {"http://under_score.local/", false, "under_score.local", "/", "under_score.local", 80},
};

static const char *const refused[] = {
    "ftp://example.com/", "example.com", "http://", "http:///path", "http://user:pw@example.com/",
    "http://exa mple.com/", "http://h:0/", "http://h:65536/", "http://h:8x/", "http://h:/",
    "http://h/a b", "http://h/a\x01", "http://[::1/", "ws://h/",
    /* brackets hold an IPv6 address only ("[1]" went to the resolver as 0.0.0.1; fuzz_url) */
    "http://[1]:3000/", "http://[example.com]/", "http://[::1%]/", "http://[127.0.0.1]/",
};

typedef struct {
  const char *base, *location, *want;
} resolve_case;

static const resolve_case resolved[] = {
    {"http://a.com/x/y?q=1", "https://b.com/z", "https://b.com/z"},
    {"http://a.com/x/y?q=1", "//b.com/z", "http://b.com/z"},
    {"http://a.com:81/x/y?q=1", "/z?w=2", "http://a.com:81/z?w=2"},
    {"http://a.com/x/y?q=1", "z", "http://a.com/x/z"},
    {"http://a.com/x/", "z", "http://a.com/x/z"},
    {"http://a.com", "z", "http://a.com/z"},
    {"http://a.com?q=/p/", "z", "http://a.com/z"},
    {"http://a.com/x/y", "next?u=http://c.com/", "http://a.com/x/next?u=http://c.com/"},
};

int main(void) {
  for (size_t i = 0; i < sizeof parsed / sizeof *parsed; i++) {
    const parse_case *c = &parsed[i];
    mh_url u;
    const char *why = NULL;
    int rc = mh_url_parse(c->url, &u, &why);
    if (rc) fprintf(stderr, "'%s' refused: %s\n", c->url, why);
    CHECK(rc == 0);
    if (rc) continue;
    bool same = u.tls == c->tls && !strcmp(u.host, c->host) && !strcmp(u.path, c->path) &&
                !strcmp(u.host_header, c->host_header) && u.port == c->port;
    if (!same) fprintf(stderr, "'%s': %d %s %s %s %d\n", c->url, u.tls, u.host, u.path, u.host_header, u.port);
    CHECK(same);
    mh_url_free(&u);
  }
  for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
    mh_url u;
    const char *why = NULL;
    int rc = mh_url_parse(refused[i], &u, &why);
    if (!rc) fprintf(stderr, "'%s' was taken\n", refused[i]);
    CHECK(rc == -1 && why && *why);
    if (!rc) mh_url_free(&u);
  }
  for (size_t i = 0; i < sizeof resolved / sizeof *resolved; i++) {
    char *got = mh_url_resolve(resolved[i].base, resolved[i].location);
    if (!got || strcmp(got, resolved[i].want))
      fprintf(stderr, "'%s' + '%s': got '%s', want '%s'\n", resolved[i].base, resolved[i].location, got ? got : "(null)", resolved[i].want);
    CHECK(got && !strcmp(got, resolved[i].want));
    free(got);
  }
  mh_url a, b, c;
  const char *why;
  CHECK(!mh_url_parse("http://h.com/x", &a, &why) && !mh_url_parse("HTTP://H.COM:80/y", &b, &why) &&
        !mh_url_parse("https://h.com/x", &c, &why));
  CHECK(mh_url_same_origin(&a, &b));
  CHECK(!mh_url_same_origin(&a, &c));
  mh_url_free(&a), mh_url_free(&b), mh_url_free(&c);
  return check_failures ? 1 : 0;
}
