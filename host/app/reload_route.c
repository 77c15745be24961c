/* POST /__moonhost/reload[?plugin=NAME] (trusted requests only): reloads
 * plugins as `moonhost reload` asks, and answers once every load is done
 * with {ok, reloaded: [{plugin, ok, error?}]}. */
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"
#include "core/log.h"
#include "call/host.h"
#include "app/hotreload.h"
#include "transport/http.h"
#include "app/reload_route.h"

static void respond_json(mh_http_exchange *x, int status, const char *json) {
  mh_http_header(x, "cache-control", "no-store");
  mh_http_respond(x, status, "application/json;charset=UTF-8", json, strlen(json));
}

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
  bool token_refused;
  if (!mh_http_trust(x, &token_refused)) {
    if (token_refused) mh_log_warn_limited("auth", "POST /__moonhost/reload refused: token presented and refused");
    respond_json(x, 401, token_refused ? "{\"ok\":false,\"error\":\"unauthorized: the token is not valid\"}"
                                       : "{\"ok\":false,\"error\":\"unauthorized: no token (send Authorization: Bearer TOKEN)\"}");
    return;
  }
  /* Read whole: a name too long for a fixed buffer (or for x->query) was
   * taken as no ?plugin= at all, and reloaded every plugin. */
  mh_buf plugin = MH_BUF_INIT;
  int one = mh_http_query_arg(x, "plugin", &plugin);
  reload_op *op = one < 0 ? NULL : calloc(1, sizeof *op);
  if (!op || !(op->results = mh_value_new(MH_V_ARRAY))) {
    free(op);
    mh_buf_free(&plugin);
    respond_json(x, 500, "{\"ok\":false}");
    return;
  }
  op->x = x;
  op->pending = 1; /* held until every load has started */
  int n = mh_hotreload_now(x->host, one ? plugin.data : NULL, reload_done, op);
  mh_buf_free(&plugin);
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

static const mh_http_route reload_route = {.method = "POST", .path = "/__moonhost/reload", .handle = route_reload};

int mh_reload_route_add(mh_host *h) { return h->server ? mh_http_add_route(h->server, &reload_route) : 0; }
