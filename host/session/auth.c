#include "session/auth.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "session/client.h"
#include "call/host.h"
#include "core/log.h"
#include "core/random_hex.h"
#include "core/timer.h"
#include "call/registry.h"

const char *const mh_auth_token_params[] = {"token", "vite_devtools_auth_token", "devframe_auth_token", NULL};

int mh_auth_init(mh_host *h) {
  h->token[0] = '\0';
  if (!h->cfg->auth.generate_token) return 0;
  if (mh_random_hex(h->token, (sizeof h->token - 1) / 2) == 0) return 0;
  mh_log_error("auth", "cannot get random bytes for the start-up token");
  return -1;
}

static bool equal_secret(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  /* Constant time over the token's length so timing does not leak a prefix. */
  return la == lb && la > 0 && CRYPTO_memcmp(a, b, la) == 0;
}

const char *mh_auth_entry_token(const mh_value *entry) {
  const mh_value *t = entry && entry->type == MH_V_OBJECT ? mh_value_obj_get(entry, "token") : entry;
  return t && t->type == MH_V_STRING ? t->u.str.ptr : "";
}

/* The auth.tokens entry `token` matches, or NULL (the start-up token has no
 * entry: *generated says it matched). */
static const mh_value *token_entry(const mh_host *h, const char *token, bool *generated) {
  *generated = false;
  if (!token || !*token) return NULL;
  if (h->token[0] && equal_secret(token, h->token)) {
    *generated = true;
    return NULL;
  }
  const mh_value *list = h->cfg->auth.tokens;
  if (list && list->type == MH_V_ARRAY)
    for (size_t i = 0; i < list->u.arr.len; i++)
      if (equal_secret(token, mh_auth_entry_token(list->u.arr.items[i]))) return list->u.arr.items[i];
  return NULL;
}

bool mh_auth_token_ok(const mh_host *h, const char *token) {
  bool generated;
  return token_entry(h, token, &generated) || generated;
}

/* The non-empty roles array of an auth.tokens entry, or NULL. */
static const mh_value *entry_roles(const mh_value *e) {
  const mh_value *roles = e && e->type == MH_V_OBJECT ? mh_value_obj_get(e, "roles") : NULL;
  return roles && roles->type == MH_V_ARRAY && roles->u.arr.len ? roles : NULL;
}

const mh_value *mh_auth_token_roles(const mh_host *h, const char *token) {
  bool generated;
  return entry_roles(token_entry(h, token, &generated));
}

bool mh_auth_metrics_token_ok(const mh_host *h, const char *token) {
  return token && equal_secret(token, h->cfg->metrics.token);
}

const char *mh_auth_refusal(bool token_presented) { return token_presented ? "the token is not valid" : "no token"; }

bool mh_auth_trust(mh_client *c, const char *token) {
  bool generated;
  const mh_value *e = token_entry(c->host, token, &generated);
  if (!e && !generated) {
    if (token && *token) {
      /* Rate-limited: a client may retry in a loop. The value stays out of
       * the log (it may be a real token of another host). */
      mh_log_warn_limited("auth", "%s: token presented and refused (not in auth.tokens nor made at start)", c->id);
      c->token_refused = true;
    }
    return false;
  }
  c->trusted = true;
  c->token_refused = false;
  /* A copy: a configuration reload frees the tree the entry lives in. The
   * roles stay what the token granted when it was presented. */
  const mh_value *roles = entry_roles(e);
  mh_value_free(c->roles);
  c->roles = roles ? mh_value_copy(roles) : NULL;
  if (c->roles) mh_log_info("auth", "%s granted %zu role(s) by its token", c->id, c->roles->u.arr.len);
  return true;
}

/* A host name as a URL parser leaves it: letters, digits, '-', '_' and
 * dots. Matching by suffix (".localhost", ".example.test") is only sound
 * over such names: "evil.example#.localhost" or "evil.example/.localhost"
 * ends with ".localhost" but names evil.example. */
static bool name_chars_ok(const char *host, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char ch = host[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
          ch == '_' || ch == '.'))
      return false;
  }
  return true;
}

/* An IPv6 literal in brackets: hex digits, ':' and '.' (an embedded
 * IPv4), "%zone" after them. Anything else in brackets is not an address
 * and so not exempt from the Host check. */
static bool ipv6_literal(const char *host, size_t n) {
  if (n < 4 || host[0] != '[' || host[n - 1] != ']') return false;
  size_t i = 1;
  for (; i < n - 1 && host[i] != '%'; i++) {
    char ch = host[i];
    if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F') || ch == ':' || ch == '.'))
      return false;
  }
  return i < n - 1 ? name_chars_ok(host + i + 1, n - 2 - i) : true;
}

/* Loopback hosts: localhost, *.localhost, 127.0.0.0/8, [::1]. */
static bool loopback_host(const char *host, size_t n) {
  if (n == 9 && strncasecmp(host, "localhost", 9) == 0) return true;
  if (n > 10 && strncasecmp(host + n - 10, ".localhost", 10) == 0) return true;
  if (n == 5 && strncmp(host, "[::1]", 5) == 0) return true;
  if (n < 9 || strncmp(host, "127.", 4) != 0) return false;
  int dots = 0;
  for (size_t i = 0; i < n; i++) {
    if (host[i] == '.')
      dots++;
    else if (host[i] < '0' || host[i] > '9')
      return false;
  }
  return dots == 3;
}

/* A dotted quad of decimal numbers (the Host header's IPv4 form). */
static bool ipv4_literal(const char *host, size_t n) {
  int dots = 0, digits = 0;
  for (size_t i = 0; i < n; i++) {
    if (host[i] == '.') {
      if (!digits) return false;
      dots++;
      digits = 0;
    } else if (host[i] >= '0' && host[i] <= '9') {
      digits++;
    } else {
      return false;
    }
  }
  return dots == 3 && digits > 0;
}

/* An allowed_hosts entry: "name" matches that name, ".name" it and every
 * name under it, "*" any name (no DNS-rebinding defence: for a host behind
 * a proxy that checks Host itself). Case-insensitive; n excludes the port. */
static bool host_listed(const char *entry, const char *host, size_t n) {
  size_t e = strlen(entry);
  if (e == 1 && entry[0] == '*') return true;
  if (e > 1 && entry[0] == '.') {
    if (n == e - 1 && strncasecmp(host, entry + 1, n) == 0) return true;
    return n > e && strncasecmp(host + n - e, entry, e) == 0;
  }
  return n == e && strncasecmp(host, entry, n) == 0;
}

bool mh_auth_host_ok(const mh_host *h, const char *host) {
  if (!host || !*host) return false;
  size_t n;
  if (*host == '[') {
    /* An IPv6 literal: no DNS name, so nothing to rebind. */
    const char *close = strchr(host, ']');
    if (!close || close == host + 1) return false;
    n = (size_t)(close - host) + 1;
  } else {
    n = strcspn(host, ":");
  }
  const char *rest = host + n;
  if (*rest == ':') rest += 1 + strspn(rest + 1, "0123456789");
  if (*rest != '\0' || n == 0) return false; /* host[:port] and nothing else */
  if (*host == '[') return ipv6_literal(host, n);
  if (host[n - 1] == '.') n--; /* "localhost." is localhost */
  if (n == 0 || !name_chars_ok(host, n)) return false;
  if (ipv4_literal(host, n) || loopback_host(host, n)) return true;
  const char *listen = h->cfg->listen_host;
  if (listen && strlen(listen) == n && strncasecmp(listen, host, n) == 0) return true;
  const mh_value *list = h->cfg->auth.allowed_hosts;
  if (list && list->type == MH_V_ARRAY)
    for (size_t i = 0; i < list->u.arr.len; i++)
      if (host_listed(list->u.arr.items[i]->u.str.ptr, host, n)) return true;
  return false;
}

bool mh_auth_origin_ok(const mh_host *h, const char *origin) {
  if (!origin || !*origin) return true;
  const mh_value *list = h->cfg->auth.allowed_origins;
  if (list && list->type == MH_V_ARRAY)
    for (size_t i = 0; i < list->u.arr.len; i++)
      if (strcasecmp(origin, list->u.arr.items[i]->u.str.ptr) == 0) return true;
  const char *p = strstr(origin, "://");
  if (!p) return false; /* "null" (sandboxed iframes, file://) and garbage */
  size_t scheme = (size_t)(p - origin);
  if (!((scheme == 4 && strncasecmp(origin, "http", 4) == 0) || (scheme == 5 && strncasecmp(origin, "https", 5) == 0)))
    return false;
  const char *host = p + 3;
  size_t n;
  if (*host == '[') {
    const char *close = strchr(host, ']');
    if (!close) return false;
    n = (size_t)(close - host) + 1;
  } else {
    n = strcspn(host, ":/");
  }
  const char *rest = host + n;
  if (*rest == ':') rest += 1 + strspn(rest + 1, "0123456789");
  if (*rest != '\0') return false; /* an Origin is scheme://host[:port] and nothing else */
  return (*host == '[' || name_chars_ok(host, n)) && loopback_host(host, n);
}

/* Names an untrusted client may call: the documented "anonymous:" prefix,
 * and the handshake names of the real clients that do not use it, listed
 * one by one. (A substring rule such as ":anonymous:" anywhere made any
 * plugin function like "x:anonymous:y" callable without a token.) */
static const char *const untrusted_exact_names[] = {
  "vite:anonymous:auth", /* @vitejs/devtools-rpc 0.1.x */
  NULL,
};

static bool name_is_anonymous(const char *method) {
  if (strncmp(method, "anonymous:", 10) == 0) return true;
  for (const char *const *n = untrusted_exact_names; *n; n++)
    if (strcmp(method, *n) == 0) return true;
  return false;
}

bool mh_auth_untrusted_rate_ok(mh_host *h, bool trusted, mh_bucket *b) {
  if (trusted || !h->cfg->auth.required) return true;
  double rate = h->cfg->limits.untrusted_calls_per_s;
  return mh_bucket_take(b, rate, rate, mh_now_ms(h->loop));
}

bool mh_auth_may_call(const mh_client *c, const char *method) {
  if (c->trusted || !c->host->cfg->auth.required) return true;
  return name_is_anonymous(method);
}

/* ---- the handshake functions ---------------------------------------- */

/* {authToken, ua?, origin?} -> {isTrusted} (devframe and Vite DevTools 0.1). */
static mh_value *fn_auth(mh_host *host, const mh_caller *from, const mh_value *args, mh_error **err) {
  mh_client *caller = from->client;
  (void)err;
  const mh_value *opts = args && args->u.arr.len ? args->u.arr.items[0] : NULL;
  const mh_value *tok = opts && opts->type == MH_V_OBJECT ? mh_value_obj_get(opts, "authToken") : NULL;
  if (caller && !caller->trusted && tok && tok->type == MH_V_STRING && mh_auth_trust(caller, tok->u.str.ptr)) {
    mh_log_info("auth", "%s trusted (token presented in the handshake)", caller->id);
  }
  bool trusted = !host->cfg->auth.required || (caller && caller->trusted);
  mh_value *out = mh_value_new(MH_V_OBJECT);
  if (out) mh_value_obj_set(out, "isTrusted", mh_value_bool(trusted));
  return out;
}

/* devframe's one-time-code flow: moonhost trusts tokens only, so it answers
 * the way a server with no pending code does. */
static mh_value *fn_exchange(mh_host *host, const mh_caller *from, const mh_value *args, mh_error **err) {
  (void)host, (void)from, (void)args, (void)err;
  mh_value *out = mh_value_new(MH_V_OBJECT);
  if (out) mh_value_obj_set(out, "authToken", mh_value_null());
  return out;
}

static mh_value *fn_request_code(mh_host *host, const mh_caller *from, const mh_value *args, mh_error **err) {
  mh_client *caller = from->client;
  (void)host, (void)args, (void)err;
  mh_log_info("auth", "%s asked for a one-time code; moonhost uses tokens: open the URL with ?token= from the start-up log",
              caller ? caller->id : "a client");
  return mh_value_undefined();
}

static mh_value *fn_revoke(mh_host *host, const mh_caller *from, const mh_value *args, mh_error **err) {
  mh_client *caller = from->client;
  (void)host, (void)args, (void)err;
  if (caller) {
    caller->trusted = false;
    mh_value_free(caller->roles); /* the grants came with the token */
    caller->roles = NULL;
  }
  return mh_value_undefined();
}

static const mh_host_fn_def auth_fns[] = {
    {"anonymous:devframe:auth", MH_FN_ACTION, fn_auth, NULL},
    {"vite:anonymous:auth", MH_FN_ACTION, fn_auth, NULL},
    {"anonymous:devframe:auth:exchange", MH_FN_ACTION, fn_exchange, NULL},
    {"anonymous:devframe:auth:request-code", MH_FN_ACTION, fn_request_code, NULL},
    {"devframe:auth:revoke", MH_FN_ACTION, fn_revoke, NULL},
};

int mh_auth_add_builtins(mh_host *h) {
  return mh_registry_add_host_fns(&h->registry, auth_fns, MH_HOST_FNS_COUNT(auth_fns));
}
