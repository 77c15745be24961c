/* moonhost.http: moonhost.fetch's C half (transport/http_fetch.h fetches).
 *   fetch(url, opts) -> true, {status=, headers={name=value}, body=, url=, ms=}
 *                    |  false, error ("moonhost.fetch: METHOD URL: why")
 * opts: method, headers ({name = value}), body (a string), timeout
 * (seconds, the whole exchange), max_body (bytes), redirect ('follow' or
 * 'manual'), insecure (any TLS certificate), response_headers ({names} of
 * the answer's headers lws does not know, to report too). The handler waits without
 * blocking the host; a cancelled call closes the connection. An HTTP error
 * status is an answer, not an error. Bad arguments raise at once. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/lua_api.h"
#include "core/log.h"
#include "transport/http_fetch.h"

#define DEFAULT_TIMEOUT_S 30
#define DEFAULT_MAX_BODY (16 * 1024 * 1024)
#define MAX_HEADERS 100

/* "moonhost.fetch: ..." at the plugin's line (the Lua half re-raises it). */
#define fail(L, ...) mh_lua_fail(L, "moonhost.fetch", __VA_ARGS__)

typedef struct fetch_op {
  mh_lua_call *call;
  mh_fetch *f;
} fetch_op;

/* headers: "name\0value\0" pairs into {name = value}. */
static mh_value *headers_value(const mh_buf *h) {
  mh_value *v = mh_value_new(MH_V_OBJECT);
  for (size_t at = 0; v && at < h->len;) {
    const char *name = h->data + at, *value = name + strlen(name) + 1;
    at = (size_t)(value + strlen(value) + 1 - h->data);
    if (mh_value_obj_set(v, name, mh_value_string(value, strlen(value)))) {
      mh_value_free(v);
      return NULL;
    }
  }
  return v;
}

static mh_value *result_value(const mh_fetch_result *r) {
  mh_value *v = mh_value_new(MH_V_OBJECT), *headers = headers_value(&r->headers);
  bool ok = v && headers && !mh_value_obj_set(v, "status", mh_value_int(r->status));
  if (ok) ok = !mh_value_obj_set(v, "headers", headers);
  else mh_value_free(headers);
  ok = ok && !mh_value_obj_set(v, "body", mh_value_string(r->body.data ? r->body.data : "", r->body.len)) &&
       !mh_value_obj_set(v, "url", mh_value_string(r->url, strlen(r->url))) &&
       !mh_value_obj_set(v, "ms", mh_value_int((int64_t)r->ms));
  if (ok) return v;
  mh_value_free(v);
  return NULL;
}

static void fetch_done(void *ud, mh_fetch_result *r) {
  fetch_op *op = ud;
  mh_lua_call *call = op->call;
  free(op);
  if (r->error) {
    mh_lua_wake(call, NULL, mh_error_new("fetch_failed", "moonhost.fetch: %s", r->error));
    return;
  }
  mh_log_debug("fetch", "%s: %d, %zu bytes in %llu ms", r->url, r->status, r->body.len, (unsigned long long)r->ms);
  mh_value *v = result_value(r);
  mh_lua_wake(call, v, v ? NULL : mh_error_new(MH_ERR_INTERNAL, "moonhost.fetch: out of memory"));
}

static void fetch_cancel(void *ud) {
  fetch_op *op = ud;
  mh_log_debug("fetch", "its call was cancelled: the fetch is closed");
  mh_fetch_cancel(op->f);
  free(op);
}

/* A string option (NULL when absent): no NUL in it. */
static const char *opt_string(lua_State *L, int opts, const char *name, size_t *len) {
  if (lua_getfield(L, opts, name) == LUA_TNIL) {
    lua_pop(L, 1);
    return NULL;
  }
  if (lua_type(L, -1) != LUA_TSTRING) fail(L, "%s must be a string, got %s", name, luaL_typename(L, -1));
  const char *s = lua_tolstring(L, -1, len);
  lua_pop(L, 1); /* opts holds it */
  return s;
}

static double opt_number(lua_State *L, int opts, const char *name, double dflt) {
  lua_getfield(L, opts, name);
  double v = dflt;
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) != LUA_TNUMBER) fail(L, "%s must be a number, got %s", name, luaL_typename(L, -1));
    v = lua_tonumber(L, -1);
    if (!(v > 0 && v < 1e12)) fail(L, "%s must be more than 0", name);
  }
  lua_pop(L, 1);
  return v;
}

static bool is_token_char(unsigned char c) {
  return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* The method in upper case, on the stack. */
static const char *read_method(lua_State *L, int opts) {
  size_t len = 0;
  const char *m = opt_string(L, opts, "method", &len);
  if (!m) return lua_pushliteral(L, "GET");
  luaL_Buffer b;
  char *up = luaL_buffinitsize(L, &b, len);
  for (size_t i = 0; i < len; i++) {
    if (!is_token_char((unsigned char)m[i])) fail(L, "method '%s' is not an HTTP method name", m);
    up[i] = (char)toupper((unsigned char)m[i]);
  }
  luaL_pushresultsize(&b, len);
  if (!len) fail(L, "method is empty");
  const char *method = lua_tostring(L, -1);
  /* CONNECT asks for a tunnel, and lws takes RAW as "no HTTP at all" */
  if (!strcmp(method, "CONNECT") || !strcmp(method, "RAW")) fail(L, "method %s is not supported", method);
  return method;
}

/* What the request itself carries: lws writes them, or they would make
 * two bodies of one. */
static bool reserved_header(const char *name) {
  static const char *const names[] = {"host", "content-length", "transfer-encoding", "connection", "upgrade"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    if (!strcasecmp(name, names[i])) return true;
  return false;
}

static void check_header(lua_State *L, const char *name, size_t nlen, const char *value, size_t vlen) {
  if (!nlen) fail(L, "a header name is empty");
  for (size_t i = 0; i < nlen; i++)
    if (!is_token_char((unsigned char)name[i])) fail(L, "header name '%s' holds a character a header name cannot", name);
  if (reserved_header(name)) fail(L, "header '%s' is set by moonhost.fetch itself", name);
  for (size_t i = 0; i < vlen; i++)
    if (value[i] == '\r' || value[i] == '\n' || value[i] == '\0')
      fail(L, "header '%s' holds a CR, LF or NUL byte in its value", name); /* the value is never echoed */
}

/* opts.headers: the names and values (the table's strings), in two arrays on the stack. */
static size_t read_headers(lua_State *L, int opts, const char ***names, const char ***values) {
  *names = *values = NULL;
  if (lua_getfield(L, opts, "headers") == LUA_TNIL) {
    lua_pop(L, 1);
    return 0;
  }
  if (!lua_istable(L, -1)) fail(L, "headers must be a table {name = value}, got %s", luaL_typename(L, -1));
  int t = lua_gettop(L);
  size_t n = 0;
  for (lua_pushnil(L); lua_next(L, t); lua_pop(L, 1))
    if (++n > MAX_HEADERS) fail(L, "more than %d headers", MAX_HEADERS);
  *names = lua_newuserdatauv(L, sizeof **names * (n + 1), 0);
  *values = lua_newuserdatauv(L, sizeof **values * (n + 1), 0);
  size_t k = 0;
  for (lua_pushnil(L); lua_next(L, t); lua_pop(L, 1)) {
    if (lua_type(L, -2) != LUA_TSTRING) fail(L, "headers keys must be names (strings)");
    if (lua_type(L, -1) != LUA_TSTRING)
      fail(L, "header '%s' must be a string, got %s", lua_tostring(L, -2), luaL_typename(L, -1));
    size_t nlen, vlen;
    const char *name = lua_tolstring(L, -2, &nlen), *value = lua_tolstring(L, -1, &vlen);
    check_header(L, name, nlen, value, vlen);
    (*names)[k] = name, (*values)[k] = value, k++;
  }
  return k; /* the table and the arrays stay on the stack */
}

/* opts.response_headers: {name, ...} in lower case; the array and a table
 * that holds its strings stay on the stack. */
static size_t read_extra(lua_State *L, int opts, const char ***names) {
  *names = NULL;
  if (lua_getfield(L, opts, "response_headers") == LUA_TNIL) {
    lua_pop(L, 1);
    return 0;
  }
  if (!lua_istable(L, -1)) fail(L, "response_headers must be a list of header names, got %s", luaL_typename(L, -1));
  int t = lua_gettop(L);
  size_t n = (size_t)lua_rawlen(L, t);
  if (n > MAX_HEADERS) fail(L, "more than %d response_headers", MAX_HEADERS);
  lua_createtable(L, (int)n, 0);
  int keep = lua_gettop(L);
  *names = lua_newuserdatauv(L, sizeof **names * (n + 1), 0);
  for (size_t i = 0; i < n; i++) {
    if (lua_rawgeti(L, t, (lua_Integer)i + 1) != LUA_TSTRING)
      fail(L, "response_headers[%d] is %s, not a header name", (int)i + 1, luaL_typename(L, -1));
    size_t len;
    const char *name = lua_tolstring(L, -1, &len);
    luaL_Buffer b;
    char *lower = luaL_buffinitsize(L, &b, len);
    for (size_t j = 0; j < len; j++) {
      if (!is_token_char((unsigned char)name[j])) fail(L, "response_headers[%d] is not a header name", (int)i + 1);
      lower[j] = (char)tolower((unsigned char)name[j]);
    }
    luaL_pushresultsize(&b, len);
    if (!len) fail(L, "response_headers[%d] is empty", (int)i + 1);
    (*names)[i] = lua_tostring(L, -1);
    lua_rawseti(L, keep, (lua_Integer)i + 1); /* the table keeps it */
    lua_pop(L, 1);
  }
  return n;
}

static bool read_follow(lua_State *L, int opts) {
  size_t len;
  const char *r = opt_string(L, opts, "redirect", &len);
  if (!r || !strcmp(r, "follow")) return true;
  if (!strcmp(r, "manual")) return false;
  return fail(L, "redirect must be 'follow' or 'manual', got '%s'", r);
}

static int l_fetch(lua_State *L) {
  mh_lua_call *call = mh_lua_check_context(L, "moonhost.fetch", MH_LUA_NEED_WAIT);
  mh_engine *e = mh_lua_engine_of(L);
  if (lua_type(L, 1) != LUA_TSTRING) fail(L, "url must be a string, got %s", luaL_typename(L, 1));
  if (lua_isnoneornil(L, 2)) {
    lua_settop(L, 1);
    lua_newtable(L);
  }
  if (!lua_istable(L, 2)) fail(L, "opts must be a table, got %s", luaL_typename(L, 2));
  lua_settop(L, 2);
  size_t url_len;
  const char *url = lua_tolstring(L, 1, &url_len);
  if (strlen(url) != url_len) fail(L, "the URL holds a NUL byte");
  mh_fetch_spec spec = {.url = url, .method = read_method(L, 2), .follow = read_follow(L, 2)};
  spec.body = opt_string(L, 2, "body", &spec.body_len);
  spec.timeout_ms = (uint64_t)(opt_number(L, 2, "timeout", DEFAULT_TIMEOUT_S) * 1000);
  spec.max_body = (size_t)opt_number(L, 2, "max_body", DEFAULT_MAX_BODY);
  lua_getfield(L, 2, "insecure");
  if (!lua_isnil(L, -1) && !lua_isboolean(L, -1)) fail(L, "insecure must be true or false");
  spec.insecure = lua_toboolean(L, -1);
  lua_pop(L, 1);
  const char **names, **values;
  spec.nheaders = read_headers(L, 2, &names, &values);
  spec.header_names = names, spec.header_values = values;
  const char **extra;
  spec.nextra = read_extra(L, 2, &extra);
  spec.extra_headers = extra;
  fetch_op *op = calloc(1, sizeof *op);
  if (!op) return fail(L, "out of memory");
  op->call = call;
  const char *why = NULL;
  op->f = mh_fetch_start(e->host->loop, &spec, fetch_done, op, &why);
  if (!op->f) {
    free(op);
    return fail(L, "%s %s: %s", spec.method, url, why);
  }
  mh_log_debug("fetch", "%s %s", spec.method, url);
  return mh_lua_await(L, call, fetch_cancel, op);
}

int mh_luaopen_http(lua_State *L) {
  static const luaL_Reg fns[] = {{"fetch", l_fetch}, {NULL, NULL}};
  luaL_newlib(L, fns);
  return 1;
}
