/* The host's own functions: introspection for tools and tests. */
#include <stdlib.h>
#include <string.h>

#include "call/dispatch.h"
#include "call/host.h"
#include "call/plugin.h"

static int put_uint(mh_value *obj, const char *key, uint64_t n) {
  return mh_value_obj_set(obj, key, mh_value_int((int64_t)n));
}

/* moonhost:functions() -> [{name, type, cached, plugin, stream?}] sorted by
 * name; stream = true marks a stream function (call/stream.h). */
static int by_name(const void *a, const void *b) {
  return strcmp((*(mh_fn *const *)a)->name, (*(mh_fn *const *)b)->name);
}

static mh_value *fn_functions(mh_host *host, const mh_caller *from, const mh_value *args, mh_error **err) {
  (void)from, (void)args;
  mh_map *m = &host->registry.by_name;
  mh_fn **list = calloc(m->len + 1, sizeof *list);
  mh_value *out = mh_value_new(MH_V_ARRAY);
  if (!list || !out) goto oom;
  size_t n = 0;
  for (size_t i = 0; i < m->cap; i++)
    if (mh_map_live(&m->slots[i]) && m->slots[i].value) list[n++] = m->slots[i].value;
  qsort(list, n, sizeof *list, by_name);
  for (size_t i = 0; i < n; i++) {
    mh_value *o = mh_value_new(MH_V_OBJECT);
    if (!o || mh_value_push(out, o)) goto oom;
    mh_value_obj_set(o, "name", mh_value_cstring(list[i]->name));
    mh_value_obj_set(o, "type", mh_value_cstring(mh_fn_type_name(list[i]->type)));
    mh_value_obj_set(o, "cached", mh_value_bool(list[i]->cache != NULL));
    if (list[i]->stream) mh_value_obj_set(o, "stream", mh_value_bool(true));
    mh_value_obj_set(o, "plugin", list[i]->gen ? mh_value_cstring(list[i]->gen->plugin->name) : mh_value_null());
  }
  free(list);
  return out;
oom:
  free(list);
  mh_value_free(out);
  *err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
  return NULL;
}

/* moonhost:stats() -> {clients, functions: {NAME: {calls, runs, shared, hits, misses, errors}}} */
static mh_value *fn_stats(mh_host *host, const mh_caller *from, const mh_value *args, mh_error **err) {
  (void)from, (void)args;
  mh_value *out = mh_value_new(MH_V_OBJECT);
  mh_value *fns = mh_value_new(MH_V_OBJECT);
  if (!out || !fns) {
    mh_value_free(out);
    mh_value_free(fns);
    *err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
    return NULL;
  }
  put_uint(out, "clients", host->nclients);
  mh_map *m = &host->registry.by_name;
  for (size_t i = 0; i < m->cap; i++) {
    mh_fn *fn = mh_map_live(&m->slots[i]) ? m->slots[i].value : NULL;
    if (!fn || !fn->gen) continue; /* host functions have no stats worth showing */
    mh_value *s = mh_value_new(MH_V_OBJECT);
    if (!s) continue;
    put_uint(s, "calls", fn->stats.calls);
    put_uint(s, "runs", fn->stats.runs);
    put_uint(s, "shared", fn->stats.shared);
    put_uint(s, "hits", fn->stats.hits);
    put_uint(s, "misses", fn->stats.misses);
    put_uint(s, "errors", fn->stats.errors);
    mh_value_obj_set(fns, fn->name, s);
  }
  mh_value_obj_set(out, "functions", fns);
  return out;
}

/* devframe:rpc:cacheable-functions() -> names a client may cache: static
 * functions and cached queries (devframe's own rule). */
static mh_value *fn_cacheable(mh_host *host, const mh_caller *from, const mh_value *args, mh_error **err) {
  (void)from, (void)args, (void)err;
  mh_value *out = mh_value_new(MH_V_ARRAY);
  mh_map *m = &host->registry.by_name;
  for (size_t i = 0; out && i < m->cap; i++) {
    mh_fn *fn = mh_map_live(&m->slots[i]) ? m->slots[i].value : NULL;
    if (fn && fn->gen && (fn->type == MH_FN_STATIC || fn->cache)) mh_value_push(out, mh_value_cstring(fn->name));
  }
  return out;
}

static const mh_host_fn_def dispatch_fns[] = {
    {"moonhost:functions", MH_FN_QUERY, fn_functions, NULL},
    {"moonhost:stats", MH_FN_QUERY, fn_stats, NULL},
    {"devframe:rpc:cacheable-functions", MH_FN_QUERY, fn_cacheable, NULL},
};

int mh_dispatch_add_builtins(mh_host *host) {
  return mh_registry_add_host_fns(&host->registry, dispatch_fns, MH_HOST_FNS_COUNT(dispatch_fns));
}
