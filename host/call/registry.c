#include "call/registry.h"

#include <stdlib.h>
#include <string.h>

#include "call/plugin.h"

static const char *const type_names[] = {"query", "action", "static", "event"};

const char *mh_fn_type_name(mh_fn_type t) { return type_names[t]; }

int mh_fn_type_parse(const char *s) {
  for (int i = 0; i < 4; i++)
    if (strcmp(s, type_names[i]) == 0) return i;
  return -1;
}

void mh_registry_init(mh_registry *r) { r->by_name = (mh_map)MH_MAP_INIT; }

mh_fn *mh_registry_get(mh_registry *r, const char *name) {
  return mh_map_get(&r->by_name, name, strlen(name));
}

mh_fn *mh_fn_new(const char *name, mh_fn_type type) {
  mh_fn *fn = calloc(1, sizeof *fn);
  if (!fn) return NULL;
  fn->name = strdup(name);
  if (!fn->name) {
    free(fn);
    return NULL;
  }
  fn->type = type;
  fn->refs = 1;
  fn->runs = (mh_map)MH_MAP_INIT;
  return fn;
}

void mh_fn_ref(mh_fn *fn) { fn->refs++; }

void mh_fn_unref(mh_fn *fn) {
  if (--fn->refs > 0) return;
  mh_cache_free(fn->cache);
  mh_map_free(&fn->runs);
  mh_value_free(fn->static_value);
  mh_value_free(fn->agent);
  if (fn->release) fn->release(fn); /* last: it may free the generation */
  free(fn->name);
  free(fn);
}

static int add_host_fn(mh_registry *r, const char *name, mh_fn_type type, mh_builtin_fn builtin,
                       const mh_native *native) {
  mh_fn *fn = mh_fn_new(name, type);
  if (!fn) return -1;
  fn->builtin = builtin;
  fn->native = native;
  fn->registered = true;
  if (mh_map_put(&r->by_name, name, strlen(name), fn)) {
    mh_fn_unref(fn);
    return -1;
  }
  return 0;
}

int mh_registry_add_host_fns(mh_registry *r, const mh_host_fn_def *defs, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (add_host_fn(r, defs[i].name, defs[i].type, defs[i].builtin, defs[i].native)) return -1;
  return 0;
}

bool mh_registry_name_free_for(mh_registry *r, const char *name, const mh_gen *gen) {
  mh_fn *fn = mh_registry_get(r, name);
  return !fn || (fn->gen && fn->gen->plugin == gen->plugin);
}

int mh_registry_check_name(mh_registry *r, const char *name, const mh_gen *gen, mh_error **err) {
  if (mh_registry_name_free_for(r, name, gen)) return 0;
  const mh_fn *other = mh_registry_get(r, name);
  if (!other->gen)
    *err = mh_error_new(MH_ERR_ALREADY_REGISTERED, "function \"%s\" is built into the host", other->name);
  else
    *err = mh_error_new(MH_ERR_ALREADY_REGISTERED, "function \"%s\" is already registered by plugin \"%s\"",
                        other->name, other->gen->plugin->name);
  return -1;
}

static void unregister(mh_registry *r, mh_fn *fn) {
  mh_map_del(&r->by_name, fn->name, strlen(fn->name));
  fn->registered = false;
  mh_fn_unref(fn);
}

void mh_registry_remove_gen(mh_registry *r, mh_gen *gen) {
  for (size_t i = 0; i < r->by_name.cap; i++) {
    mh_map_slot *s = &r->by_name.slots[i];
    if (mh_map_live(s) && ((mh_fn *)s->value)->gen == gen) unregister(r, s->value);
  }
}

int mh_registry_commit(mh_registry *r, mh_gen *gen, mh_error **err) {
  for (size_t i = 0; i < gen->nstaged; i++)
    if (mh_registry_check_name(r, gen->staged[i]->name, gen, err)) return -1;
  /* Everything below is infallible except map growth; grow first so the
   * swap cannot stop half-way. */
  for (size_t i = 0; i < gen->nstaged; i++) {
    if (!mh_registry_get(r, gen->staged[i]->name) &&
        mh_map_put(&r->by_name, gen->staged[i]->name, strlen(gen->staged[i]->name), NULL)) {
      *err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
      return -1;
    }
  }
  for (size_t i = 0; i < r->by_name.cap; i++) {
    mh_map_slot *s = &r->by_name.slots[i];
    mh_fn *fn = s->value;
    if (mh_map_live(s) && fn && fn->gen && fn->gen != gen && fn->gen->plugin == gen->plugin) {
      /* The old generation's function: dropped even if the new one does not
       * register that name again. */
      s->value = NULL;
      fn->registered = false;
      mh_fn_unref(fn);
    }
  }
  for (size_t i = 0; i < gen->nstaged; i++) {
    mh_fn *fn = gen->staged[i];
    fn->registered = true;
    mh_map_put(&r->by_name, fn->name, strlen(fn->name), fn); /* slot exists: cannot fail */
  }
  gen->nstaged = 0;
  /* Names the old generation had and the new one dropped are left as NULL slots. */
  for (size_t i = 0; i < r->by_name.cap; i++) {
    mh_map_slot *s = &r->by_name.slots[i];
    if (mh_map_live(s) && !s->value) mh_map_del(&r->by_name, s->key, s->keylen);
  }
  return 0;
}

void mh_registry_free(mh_registry *r) {
  for (size_t i = 0; i < r->by_name.cap; i++) {
    mh_map_slot *s = &r->by_name.slots[i];
    if (mh_map_live(s) && s->value) {
      ((mh_fn *)s->value)->registered = false;
      mh_fn_unref(s->value);
    }
  }
  mh_map_free(&r->by_name);
}
