/* Choosing peers: every peer, local or reached through a host link, is a
 * candidate; targets, providers and permissions are decided on candidates. */
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "host.h"
#include "mesh.h"
#include "mesh_link.h"
#include "watch.h"

typedef struct candidate {
  mh_target target;
  const char *id, *role;
  const mh_value *caps, *meta, *provides;
} candidate;

static const char *str_field(const mh_value *o, const char *k) {
  const mh_value *v = mh_value_obj_get(o, k);
  return v && v->type == MH_V_STRING ? v->u.str.ptr : "";
}

/* Calls fn for every candidate until it returns false. */
static void each_candidate(mh_host *h, bool (*fn)(void *ud, const candidate *c), void *ud) {
  mh_list_each(pos, &h->clients) {
    mh_client *c = mh_container_of(pos, mh_client, link);
    if (!c->trusted) continue;
    if (c->peer && !c->hostlink) {
      candidate k = {{c, NULL}, c->peer->id, c->peer->role, c->peer->capabilities, c->peer->meta, c->peer->provides};
      if (!fn(ud, &k)) return;
    }
    const mh_value *peers = c->hostlink ? c->hostlink->peers : NULL;
    for (size_t i = 0; peers && i < peers->u.arr.len; i++) {
      const mh_value *e = peers->u.arr.items[i];
      candidate k = {{c, str_field(e, "remote")}, str_field(e, "id"), str_field(e, "role"),
                     mh_value_obj_get(e, "capabilities"), mh_value_obj_get(e, "meta"), mh_value_obj_get(e, "provides")};
      if (!fn(ud, &k)) return;
    }
  }
}

static bool meta_matches(const mh_value *want, const mh_value *have) {
  if (!want || want->type != MH_V_OBJECT) return true;
  for (size_t i = 0; i < want->u.obj.len; i++) {
    const mh_value *v = have ? mh_value_obj_get(have, want->u.obj.items[i].key->u.str.ptr) : NULL;
    if (!v || !mh_value_equal(v, want->u.obj.items[i].val)) return false;
  }
  return true;
}

static bool has_string(const mh_value *arr, const char *s) {
  for (size_t i = 0; arr && arr->type == MH_V_ARRAY && i < arr->u.arr.len; i++)
    if (arr->u.arr.items[i]->type == MH_V_STRING && strcmp(arr->u.arr.items[i]->u.str.ptr, s) == 0) return true;
  return false;
}

typedef struct query {
  const mh_value *to;  /* an object description, or NULL */
  const char *id;      /* an exact id, or NULL */
  const char *role;    /* a role, or NULL */
  const char *provides; /* a provided name, or NULL */
  mh_target *out;
  size_t n, max;
} query;

static bool collect(void *ud, const candidate *c) {
  query *q = ud;
  if (q->id && strcmp(c->id, q->id) != 0) return true;
  if (q->role && strcmp(c->role, q->role) != 0) return true;
  if (q->provides && !has_string(c->provides, q->provides)) return true;
  if (q->to) {
    const mh_value *role = mh_value_obj_get(q->to, "role"), *cap = mh_value_obj_get(q->to, "capability");
    if (role && (role->type != MH_V_STRING || strcmp(c->role, role->u.str.ptr) != 0)) return true;
    if (cap && (cap->type != MH_V_STRING || !has_string(c->caps, cap->u.str.ptr))) return true;
    if (!meta_matches(mh_value_obj_get(q->to, "meta"), c->meta)) return true;
  }
  if (q->n < q->max) q->out[q->n++] = c->target;
  return q->n < q->max;
}

size_t mh_mesh_resolve(mh_host *h, const mh_value *to, mh_target *out, size_t max, bool *all) {
  query q = {.out = out, .max = max};
  if (!to || (to->type != MH_V_STRING && to->type != MH_V_OBJECT)) return 0;
  if (to->type == MH_V_OBJECT) {
    q.to = to;
    each_candidate(h, collect, &q);
    return q.n;
  }
  /* An exact peer id wins over a role of the same name. */
  q.id = to->u.str.ptr;
  q.max = max ? 1 : 0;
  each_candidate(h, collect, &q);
  if (q.n) return q.n;
  q.id = NULL;
  q.max = max;
  char role[128];
  size_t n = to->u.str.len;
  if (n > 2 && strcmp(to->u.str.ptr + n - 2, ":*") == 0) {
    *all = true;
    snprintf(role, sizeof role, "%.*s", (int)(n - 2), to->u.str.ptr);
    q.role = role;
  } else {
    q.role = to->u.str.ptr;
  }
  each_candidate(h, collect, &q);
  return q.n;
}

size_t mh_mesh_providers(mh_host *h, const char *name, mh_target *out, size_t max) {
  query q = {.provides = name, .out = out, .max = max};
  each_candidate(h, collect, &q);
  return q.n;
}

size_t mh_mesh_pick(mh_host *h, size_t n) { return mh_mesh_next_rr(h, n); }

static bool any_glob(const mh_value *globs, const char *s) {
  for (size_t i = 0; globs && globs->type == MH_V_ARRAY && i < globs->u.arr.len; i++)
    if (mh_glob_match(globs->u.arr.items[i]->u.str.ptr, s)) return true;
  return false;
}

bool mh_mesh_allowed(const mh_host *h, const char *role, const char *method) {
  const mh_value *rules = h->cfg->mesh.permissions;
  for (size_t i = 0; rules && rules->type == MH_V_ARRAY && i < rules->u.arr.len; i++) {
    const mh_value *r = rules->u.arr.items[i];
    if (!any_glob(mh_value_obj_get(r, "roles"), role)) continue;
    if (any_glob(mh_value_obj_get(r, "deny"), method)) return false;
    const mh_value *allow = mh_value_obj_get(r, "allow");
    return !allow || allow->type != MH_V_ARRAY || any_glob(allow, method);
  }
  return true;
}
