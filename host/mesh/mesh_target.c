#include "mesh/mesh_target.h"

#include <string.h>

#include "mesh/mesh_parse.h"

/* want as a subset of have. want is read as JavaScript reads it: of
 * duplicate keys the last counts ({"k":1,"k":2} is {k: 2}); comparing every
 * pair asked for k to be 1 and 2 at once, which no peer was (fuzz_relay). */
static bool meta_matches(const mh_value *want, const mh_value *have) {
  if (!want || want->type != MH_V_OBJECT) return true;
  for (size_t i = 0; i < want->u.obj.len; i++) {
    const char *k = want->u.obj.items[i].key->u.str.ptr;
    if (mh_value_obj_get(want, k) != want->u.obj.items[i].val) continue; /* a duplicate that does not count */
    const mh_value *v = have ? mh_value_obj_get(have, k) : NULL;
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
  const mh_value *to;   /* an object description, or NULL */
  const char *id;       /* an exact id, or NULL */
  const char *role;     /* a role (role_len bytes, not NUL-terminated), or NULL */
  size_t role_len;
  const char *provides; /* a provided name, or NULL */
  mh_target *out;
  size_t n, max;
} query;

static bool collect(void *ud, const mh_mesh_candidate *c) {
  query *q = ud;
  if (q->id && strcmp(c->id, q->id) != 0) return true;
  if (q->role && (strlen(c->role) != q->role_len || memcmp(c->role, q->role, q->role_len) != 0)) return true;
  if (q->provides && !has_string(c->provides, q->provides)) return true;
  if (q->to) {
    /* read as the argument objects are: undefined is absent (mesh_parse.h) */
    const mh_value *role = mh_mesh_member(q->to, "role"), *cap = mh_mesh_member(q->to, "capability");
    if (role && (role->type != MH_V_STRING || strcmp(c->role, role->u.str.ptr) != 0)) return true;
    if (cap && (cap->type != MH_V_STRING || !has_string(c->caps, cap->u.str.ptr))) return true;
    if (!meta_matches(mh_mesh_member(q->to, "meta"), c->meta)) return true;
  }
  if (q->n < q->max) q->out[q->n++] = c->target;
  return q->n < q->max;
}

size_t mh_mesh_select(mh_mesh_walk walk, void *dir, const mh_value *to, mh_target *out, size_t max, bool *all) {
  query q = {.out = out, .max = max};
  if (!to || (to->type != MH_V_STRING && to->type != MH_V_OBJECT)) return 0;
  if (to->type == MH_V_OBJECT) {
    q.to = to;
    walk(dir, collect, &q);
    return q.n;
  }
  /* An exact peer id wins over a role of the same name. */
  q.id = to->u.str.ptr;
  q.max = max ? 1 : 0;
  walk(dir, collect, &q);
  if (q.n) return q.n;
  q.id = NULL;
  q.max = max;
  q.role = to->u.str.ptr;
  q.role_len = to->u.str.len;
  /* "ROLE:*": the role is compared by length, in place. A copy into a
   * 128-byte buffer cut a longer role, and "r...r:*" then selected the peers
   * of its first 127 bytes (fuzz_relay). */
  if (q.role_len > 2 && memcmp(q.role + q.role_len - 2, ":*", 2) == 0) {
    *all = true;
    q.role_len -= 2;
  }
  walk(dir, collect, &q);
  return q.n;
}

size_t mh_mesh_select_providers(mh_mesh_walk walk, void *dir, const char *name, mh_target *out, size_t max) {
  query q = {.provides = name, .out = out, .max = max};
  walk(dir, collect, &q);
  return q.n;
}

size_t mh_mesh_round_robin(uint64_t *pos, size_t n) { return n ? (size_t)((*pos)++ % n) : 0; }
