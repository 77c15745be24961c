/* The key order of objects between a client and Lua (see lua_value.h).
 *
 * A Lua table has no order, but a client's object has one, and JavaScript
 * users see it (UIs, snapshots, diffs). So each object pushed into Lua with
 * two or more keys gets its key list remembered in a weak-keyed side table
 * of the state (mh_lua_values.key_order_ref): it goes with the table, the
 * plugin can neither see nor change it, and a table the plugin builds has
 * none. Converting back, the remembered keys still present come first in
 * their order, then the others sorted by their bytes, which is also the
 * order of every object a plugin builds: the same output on every run and
 * every host, whatever Lua's hash order.
 *
 * The list is one userdata holding the keys' bytes: cheaper to make than a
 * table of strings, and read back in C, which reorders the pairs converted
 * in Lua's order without one more Lua call per key. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "value/lua_value.h"

/* Objects up to this many keys are matched pairwise; larger ones sorted
 * and searched. */
#define MH_ORDER_SMALL 16

/* Key list: for each key, its length (uint32_t, unaligned) then its bytes. */
void mh_lua_key_order_remember(lua_State *L, int obj, const mh_value *v) {
  size_t size = 0;
  for (size_t i = 0; i < v->u.obj.len; i++) size += sizeof(uint32_t) + v->u.obj.items[i].key->u.str.len;
  obj = lua_absindex(L, obj);
  lua_rawgeti(L, LUA_REGISTRYINDEX, mh_lua_values_of(L)->key_order_ref);
  lua_pushvalue(L, obj);
  char *p = lua_newuserdatauv(L, size, 0);
  for (size_t i = 0; i < v->u.obj.len; i++) {
    const mh_value *k = v->u.obj.items[i].key;
    uint32_t len = (uint32_t)k->u.str.len; /* a key is part of one message: far below 4 GiB */
    memcpy(p, &len, sizeof len);
    memcpy(p + sizeof len, k->u.str.ptr, len);
    p += sizeof len + len;
  }
  lua_rawset(L, -3);
  lua_pop(L, 1);
}

static int compare_keys(const void *pa, const void *pb) {
  const mh_value *a = ((const mh_pair *)pa)->key, *b = ((const mh_pair *)pb)->key;
  size_t n = a->u.str.len < b->u.str.len ? a->u.str.len : b->u.str.len;
  int c = memcmp(a->u.str.ptr, b->u.str.ptr, n);
  if (c) return c;
  return a->u.str.len < b->u.str.len ? -1 : a->u.str.len > b->u.str.len;
}

/* Sorts pairs by key: insertion sort for the few keys most objects have
 * (qsort's indirect calls cost more there), qsort beyond. */
static void sort_pairs(mh_pair *pairs, size_t n) {
  if (n > MH_ORDER_SMALL) {
    qsort(pairs, n, sizeof *pairs, compare_keys);
    return;
  }
  for (size_t i = 1; i < n; i++) {
    mh_pair p = pairs[i];
    size_t j = i;
    for (; j > 0 && compare_keys(&pairs[j - 1], &p) > 0; j--) pairs[j] = pairs[j - 1];
    pairs[j] = p;
  }
}

static bool key_is(const mh_pair *p, const char *k, uint32_t len) {
  const mh_value *key = p->key;
  return key->u.str.len == len && (len == 0 || (key->u.str.ptr[0] == k[0] && memcmp(key->u.str.ptr, k, len) == 0));
}

/* Reads the key at *at of a key list of size bytes; false at its end. */
static bool next_key(const char *list, size_t size, size_t *at, const char **k, uint32_t *len) {
  if (*at + sizeof *len > size) return false;
  memcpy(len, list + *at, sizeof *len);
  *k = list + *at + sizeof *len;
  *at += sizeof *len + *len;
  return true;
}

/* A few pairs: each listed key is swapped into the next place, found
 * among the pairs not placed yet (a removed or repeated key finds none). */
static void reorder_small(mh_pair *pairs, size_t n, const char *list, size_t size) {
  size_t placed = 0, at = 0;
  const char *k;
  uint32_t len;
  while (placed < n && next_key(list, size, &at, &k, &len)) {
    for (size_t j = placed; j < n; j++) {
      if (!key_is(&pairs[j], k, len)) continue;
      mh_pair p = pairs[j];
      pairs[j] = pairs[placed];
      pairs[placed++] = p;
      break;
    }
  }
  sort_pairs(pairs + placed, n - placed);
}

/* Many pairs: sorted, each listed key found by binary search. */
static int reorder_large(mh_pair *pairs, size_t n, const char *list, size_t size) {
  mh_pair *out = malloc(n * sizeof *out);
  bool *taken = calloc(n, sizeof *taken);
  if (!out || !taken) {
    free(out);
    free(taken);
    return -1;
  }
  sort_pairs(pairs, n);
  size_t k = 0, at = 0;
  const char *key;
  uint32_t len;
  while (k < n && next_key(list, size, &at, &key, &len)) {
    mh_value kv = {.type = MH_V_STRING, .u.str = {(char *)key, len}};
    mh_pair probe = {.key = &kv};
    const mh_pair *hit = bsearch(&probe, pairs, n, sizeof *pairs, compare_keys);
    if (hit && !taken[hit - pairs]) taken[hit - pairs] = true, out[k++] = *hit;
  }
  for (size_t j = 0; j < n; j++) /* the others, still sorted */
    if (!taken[j]) out[k++] = pairs[j];
  memcpy(pairs, out, n * sizeof *pairs);
  free(out);
  free(taken);
  return 0;
}

int mh_lua_key_order_apply(lua_State *L, int idx, mh_value *obj) {
  size_t n = obj->u.obj.len;
  if (n < 2) return 0;
  idx = lua_absindex(L, idx);
  lua_rawgeti(L, LUA_REGISTRYINDEX, mh_lua_values_of(L)->key_order_ref);
  lua_pushvalue(L, idx);
  int rc = 0;
  if (lua_rawget(L, -2) != LUA_TUSERDATA)
    sort_pairs(obj->u.obj.items, n);
  else if (n <= MH_ORDER_SMALL)
    reorder_small(obj->u.obj.items, n, lua_touserdata(L, -1), lua_rawlen(L, -1));
  else
    rc = reorder_large(obj->u.obj.items, n, lua_touserdata(L, -1), lua_rawlen(L, -1));
  lua_pop(L, 2);
  return rc;
}
