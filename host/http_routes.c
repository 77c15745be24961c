/* What plain HTTP requests get: discovery documents for Vite DevTools
 * clients and a health check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "conn.h"
#include "host.h"
#include "hotreload.h"
#include "http.h"
#include "log.h"
#include "orpc.h"
#include "server.h"
#include "www.h"

static void respond_json(mh_http_exchange *x, int status, const char *json) {
  mh_http_header(x, "cache-control", "no-store");
  mh_http_respond(x, status, "application/json;charset=UTF-8", json, strlen(json));
}

/* The value of cookie `name` in a Cookie header, copied into out. */
static bool cookie_value(const char *header, const char *name, char *out, size_t len) {
  size_t n = strlen(name);
  for (const char *p = header; *p;) {
    p += strspn(p, " \t");
    size_t seg = strcspn(p, ";");
    if (seg > n && strncmp(p, name, n) == 0 && p[n] == '=' && seg - n - 1 < len) {
      snprintf(out, len, "%.*s", (int)(seg - n - 1), p + n + 1);
      return true;
    }
    p += seg + (p[seg] == ';');
  }
  return false;
}

/* The token of an HTTP request: "Authorization: Bearer T", ?token=T or the
 * cookie moonhost_token=T (a page served beside the host can set it). */
bool mh_http_trusted(const mh_http_exchange *x) {
  if (!x->host->cfg->auth.required) return true;
  char buf[4096];
  if (mh_http_req_header(x, "authorization", buf, sizeof buf) > 7 && strncasecmp(buf, "Bearer ", 7) == 0 &&
      mh_auth_token_ok(x->host, buf + 7))
    return true;
  char tok[256];
  if (mh_http_query_param(x, "token", tok, sizeof tok) && mh_auth_token_ok(x->host, tok)) return true;
  return mh_http_req_header(x, "cookie", buf, sizeof buf) > 0 && cookie_value(buf, "moonhost_token", tok, sizeof tok) &&
         mh_auth_token_ok(x->host, tok);
}

void mh_http_route_error(mh_http_exchange *x, int status, const char *code, const char *message) {
  if (mh_orpc_claims(x->host, x->path)) {
    mh_orpc_respond_error(x, status, code, message);
    return;
  }
  char text[300];
  snprintf(text, sizeof text, "%s: %s\n", code, message);
  mh_http_respond_text(x, status, text);
}

/* POST /__moonhost/reload[?plugin=NAME]: answers when every load is done. */
typedef struct reload_op {
  mh_http_exchange *x;
  int pending;
  bool started;
  mh_value *results;
} reload_op;

static void reload_finish(reload_op *op) {
  mh_value *o = mh_value_new(MH_V_OBJECT);
  mh_buf b = MH_BUF_INIT;
  mh_error *err = NULL;
  bool ok = true;
  for (size_t i = 0; i < op->results->u.arr.len; i++)
    ok = ok && mh_value_obj_get(op->results->u.arr.items[i], "ok")->u.b;
  mh_value_obj_set(o, "ok", mh_value_bool(ok));
  mh_value_obj_set(o, "reloaded", op->results);
  if (mh_codec_json.encode(o, &b, &err)) mh_error_free(err);
  mh_http_header(op->x, "cache-control", "no-store");
  mh_http_respond(op->x, ok ? 200 : 500, "application/json;charset=UTF-8", b.data ? b.data : "{}", b.len);
  mh_buf_free(&b);
  mh_value_free(o);
  free(op);
}

static void reload_done(mh_plugin *p, const mh_error *err, void *ud) {
  reload_op *op = ud;
  mh_value *r = mh_value_new(MH_V_OBJECT);
  mh_value_obj_set(r, "plugin", mh_value_cstring(p->name));
  mh_value_obj_set(r, "ok", mh_value_bool(err == NULL));
  if (err) mh_value_obj_set(r, "error", mh_error_to_value(err));
  mh_value_push(op->results, r);
  if (--op->pending == 0 && op->started) reload_finish(op);
}

static void route_reload(mh_http_exchange *x) {
  if (!mh_http_trusted(x)) {
    respond_json(x, 401, "{\"ok\":false,\"error\":\"unauthorized: send Authorization: Bearer TOKEN\"}");
    return;
  }
  char plugin[256];
  bool one = mh_http_query_param(x, "plugin", plugin, sizeof plugin);
  reload_op *op = calloc(1, sizeof *op);
  if (!op || !(op->results = mh_value_new(MH_V_ARRAY))) {
    free(op);
    respond_json(x, 500, "{\"ok\":false}");
    return;
  }
  op->x = x;
  op->pending = 1; /* held until every load has started */
  int n = mh_hotreload_now(x->host, one ? plugin : NULL, reload_done, op);
  if (n < 0) {
    mh_value_free(op->results);
    free(op);
    respond_json(x, 404, "{\"ok\":false,\"error\":\"no such plugin\"}");
    return;
  }
  op->pending += n;
  op->started = true;
  if (--op->pending == 0) reload_finish(op);
}

void mh_http_route(mh_http_exchange *x) {
  mh_host *h = x->host;
  char body[256];
  /* Host and Origin were checked when the request came in (mh_conn_gate). */
  bool get = strcmp(x->method_name, "GET") == 0 || strcmp(x->method_name, "HEAD") == 0;
  if (get && strcmp(x->path, "/__devtools/__connection.json") == 0) {
    /* Vite DevTools 0.8 (devframe): the path is resolved against this file's URL. */
    respond_json(x, 200, "{\"backend\":\"websocket\",\"websocket\":{\"path\":\"/__devtools/__ws\"}}");
    return;
  }
  if (get && strcmp(x->path, "/.devtools/.connection.json") == 0) {
    /* Vite DevTools 0.1: a bare port means ws://<page host>:<port>/. */
    snprintf(body, sizeof body, "{\"backend\":\"websocket\",\"websocket\":%d}", mh_server_port(h->server));
    respond_json(x, 200, body);
    return;
  }
  if (strcmp(x->method_name, "POST") == 0 && strcmp(x->path, "/__moonhost/reload") == 0) {
    route_reload(x);
    return;
  }
  if (get && strncmp(x->path, "/__moonhost/", 12) == 0) {
    /* Names are matched exactly against the embedded files: never a path on disk. */
    const mh_www_file *f = mh_www_find(x->path + 12);
    if (f) {
      mh_http_header(x, "cache-control", "no-cache");
      mh_http_header(x, "access-control-allow-origin", "*");
      mh_http_respond(x, 200, mh_www_content_type(f->name), f->data, f->len);
      return;
    }
  }
  if (get && strcmp(x->path, "/__moonhost/health") == 0) {
    snprintf(body, sizeof body, "{\"ok\":true,\"version\":\"%s\",\"clients\":%zu}", MOONHOST_VERSION, h->nclients);
    respond_json(x, 200, body);
    return;
  }
  if (mh_orpc_claims(h, x->path)) {
    mh_orpc_route(x); /* after the fixed routes, so no prefix can hide them */
    return;
  }
  mh_http_respond_text(x, 404, "not found: moonhost speaks WebSocket RPC at /__ws\n");
}
