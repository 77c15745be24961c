/* moonhost:inspect:overview(): one snapshot of what the inspector page
 * shows. It walks everything and allocates, once per page refresh; it is
 * never on a call's path. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "app/inspect_internal.h"
#include "call/call_metrics.h"
#include "call/dispatch.h"
#include "call/host.h"
#include "call/plugin.h"
#include "core/log_ring.h"
#include "mesh/mesh.h"
#include "session/client.h"
#include "session/shared_state.h"

static void put_int(mh_value *o, const char *key, int64_t n) { mh_value_obj_set(o, key, mh_value_int(n)); }
static void put_str(mh_value *o, const char *key, const char *s) {
  mh_value_obj_set(o, key, s ? mh_value_cstring(s) : mh_value_null());
}

/* A quantile bound in milliseconds; null with no call yet or past the last bucket. */
static mh_value *quantile_ms(const mh_fn_metrics *m, double q) {
  uint64_t ns = mh_metrics_quantile_ns(m, q);
  return ns == 0 || ns == UINT64_MAX ? mh_value_null() : mh_value_float((double)ns / 1e6);
}

static mh_value *plugin_value(mh_host *h, const mh_plugin *p) {
  mh_value *o = mh_value_new(MH_V_OBJECT);
  const mh_gen *g = p->current;
  put_str(o, "name", p->name);
  put_str(o, "file", p->path);
  put_int(o, "generation", g ? g->number : 0);
  put_int(o, "load_errors", (int64_t)mh_metrics_plugin_errors(&h->metrics, p->name));
  put_int(o, "memory", g && g->engine && h->engine->memory ? (int64_t)h->engine->memory(g->engine) : 0);
  const char *last = mh_map_get(&h->inspect->last_errors, p->name, strlen(p->name));
  put_str(o, "error", last ? last : p->load_error);
  mh_value_obj_set(o, "serving", mh_value_bool(g != NULL));
  return o;
}

static mh_value *plugins_value(mh_host *h) {
  mh_value *arr = mh_value_new(MH_V_ARRAY);
  mh_list_each(pos, &h->plugins) mh_value_push(arr, plugin_value(h, mh_container_of(pos, mh_plugin, link)));
  return arr;
}

static int by_name(const void *a, const void *b) {
  return strcmp((*(mh_fn *const *)a)->name, (*(mh_fn *const *)b)->name);
}

static mh_value *function_value(mh_host *h, mh_fn *fn) {
  mh_value *o = mh_value_new(MH_V_OBJECT);
  const mh_fn_metrics *m = mh_call_metrics_of(h, fn);
  put_str(o, "name", fn->name);
  put_str(o, "type", mh_fn_type_name(fn->type));
  mh_value_obj_set(o, "cached", mh_value_bool(fn->cache != NULL));
  mh_value_obj_set(o, "stream", mh_value_bool(fn->stream));
  put_str(o, "plugin", fn->gen ? fn->gen->plugin->name : NULL);
  put_int(o, "calls", (int64_t)m->count);
  put_int(o, "errors", (int64_t)m->calls[MH_OUTCOME_ERROR]);
  put_int(o, "cache_hits", (int64_t)m->cache_hits);
  put_int(o, "cache_misses", (int64_t)m->cache_misses);
  put_int(o, "runs", (int64_t)fn->stats.runs);
  mh_value_obj_set(o, "p50_ms", quantile_ms(m, 0.5));
  mh_value_obj_set(o, "p99_ms", quantile_ms(m, 0.99));
  return o;
}

/* Every registered function, sorted by name, with its /metrics numbers. */
static mh_value *functions_value(mh_host *h) {
  mh_map *reg = &h->registry.by_name;
  mh_fn **list = calloc(reg->len + 1, sizeof *list);
  mh_value *arr = mh_value_new(MH_V_ARRAY);
  if (!list || !arr) {
    free(list);
    mh_value_free(arr);
    return NULL;
  }
  size_t n = 0;
  for (size_t i = 0; i < reg->cap; i++)
    if (mh_map_live(&reg->slots[i]) && reg->slots[i].value) list[n++] = reg->slots[i].value;
  qsort(list, n, sizeof *list, by_name);
  for (size_t i = 0; i < n; i++) mh_value_push(arr, function_value(h, list[i]));
  free(list);
  return arr;
}

static mh_value *client_value(const mh_client *c, const mh_client *caller) {
  mh_value *o = mh_value_new(MH_V_OBJECT);
  put_str(o, "id", c->id);
  put_str(o, "codec", c->codec ? c->codec->name : NULL);
  mh_value_obj_set(o, "trusted", mh_value_bool(c->trusted));
  put_int(o, "inflight", c->nincoming);
  put_int(o, "queue_bytes", c->transport && c->ops->queued ? (int64_t)c->ops->queued(c->transport) : 0);
  put_str(o, "peer", c->peer ? c->peer->id : NULL);
  mh_value_obj_set(o, "link", mh_value_bool(c->hostlink != NULL));
  mh_value_obj_set(o, "you", mh_value_bool(c == caller));
  return o;
}

static mh_value *clients_value(mh_host *h, const mh_client *caller) {
  mh_value *arr = mh_value_new(MH_V_ARRAY);
  mh_client_each(c, h) mh_value_push(arr, client_value(c, caller));
  return arr;
}

static mh_value *host_value(mh_host *h) {
  mh_value *o = mh_value_new(MH_V_OBJECT);
  put_str(o, "version", MOONHOST_VERSION);
  put_str(o, "id", h->mesh ? mh_mesh_host_id(h) : NULL);
  put_int(o, "clients", (int64_t)h->nclients);
  put_int(o, "inflight_calls", h->metrics.inflight_calls);
  put_int(o, "log_seq", (int64_t)mh_log_ring_last_seq());
  return o;
}

mh_value *mh_inspect_overview(mh_host *h, const mh_caller *from, const mh_value *args, mh_error **err) {
  mh_client *caller = from->client;
  (void)args;
  mh_log_ring_hide_enter();
  mh_value *o = mh_value_new(MH_V_OBJECT);
  if (o && (mh_value_obj_set(o, "host", host_value(h)) || mh_value_obj_set(o, "plugins", plugins_value(h)) ||
            mh_value_obj_set(o, "functions", functions_value(h)) ||
            mh_value_obj_set(o, "clients", clients_value(h, caller)) ||
            mh_value_obj_set(o, "peers", h->mesh ? mh_mesh_directory(h) : mh_value_new(MH_V_ARRAY)) ||
            mh_value_obj_set(o, "state", h->states ? mh_state_keys(h) : mh_value_new(MH_V_ARRAY)) ||
            mh_value_obj_set(o, "runs", mh_dispatch_runs(h)))) {
    mh_value_free(o);
    o = NULL;
  }
  mh_log_ring_hide_leave();
  if (!o) *err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
  return o;
}
