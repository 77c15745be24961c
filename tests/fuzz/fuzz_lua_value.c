/* mh_value <-> Lua (bindings/value/lua_value.c, lua_types.c): a frame
 * of any codec (JSON, structured-clone records, devframe) is decoded, the
 * value pushed into Lua and converted back.
 *
 * The bindings need the state's engine only for the array metatable and
 * the key-order table, so this sets up a bare lua_State the way
 * mh_lua_state_new (runtime/lua_state.c) does: the engine pointer in the
 * extra space, the array marker and the weak-keyed key-order table in the
 * registry; the moonhost.* type metatables are created on first use.
 *
 * Invariants:
 *   - everything a codec decodes can be pushed and converted back with the
 *     same depth limit (plus one: Date, BigInt, RegExp, Error and typed
 *     arrays are tables in Lua but leaves in the codecs);
 *   - mh_lua_push_nested + mh_lua_to_value gives the very same value
 *     (null and undefined stay themselves inside and at the top);
 *   - mh_lua_push_value gives it too, except that a top-level null or
 *     undefined is nil, which reads back as null;
 *   - every object comes back with its keys in the order they came (equality
 *     ignores order): each key once, at its first place, with the value of
 *     its last duplicate, as JSON.parse builds it. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "core/error.h"
#include "runtime/lua_runtime.h"

#define DEPTH 64
static const mh_codec_limits lim = {DEPTH};

static lua_State *L;
static mh_engine engine;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  L = luaL_newstate();
  if (!L) abort();
  engine.L = L;
  *(void **)lua_getextraspace(L) = &engine;
  lua_newtable(L);
  lua_pushliteral(L, "array");
  lua_setfield(L, -2, "__name");
  engine.values.array_mt = lua_topointer(L, -1);
  engine.values.array_mt_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  engine.values.key_order_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  return 0;
}

typedef struct trip {
  const mh_value *in;
  bool nested;
  mh_value *out;
  char *err;
} trip;

/* Runs protected: a push may raise (memory, stack). */
static int push_and_back(lua_State *S) {
  trip *t = lua_touserdata(S, 1);
  if (t->nested) mh_lua_push_nested(S, t->in);
  else mh_lua_push_value(S, t->in);
  t->out = mh_lua_to_value(S, -1, DEPTH + 1, &t->err);
  return 0;
}

static mh_value *through_lua(const mh_value *v, bool nested) {
  trip t = {v, nested, NULL, NULL};
  lua_pushcfunction(L, push_and_back);
  lua_pushlightuserdata(L, &t);
  int rc = lua_pcall(L, 1, 0, 0);
  if (rc != LUA_OK) {
    fuzz_print_value("value", v);
    FUZZ_CHECK(false, "pushing into Lua raised: %s", lua_tostring(L, -1));
  }
  if (!t.out) {
    fuzz_print_value("value", v);
    FUZZ_CHECK(false, "converting back from Lua failed: %s", t.err ? t.err : "?");
  }
  lua_settop(L, 0);
  /* Free the garbage now: an input whose mallocs outlive it looks like a
   * leak to libFuzzer, which then runs a costly leak check. */
  lua_gc(L, LUA_GCCOLLECT, 0);
  return t.out;
}

static bool same_key(const mh_value *a, const mh_value *b) {
  return a->u.str.len == b->u.str.len && memcmp(a->u.str.ptr, b->u.str.ptr, a->u.str.len) == 0;
}

/* The index of the last pair of obj with key k. */
static size_t last_pair(const mh_value *obj, const mh_value *k) {
  size_t last = 0;
  for (size_t i = 0; i < obj->u.obj.len; i++)
    if (same_key(obj->u.obj.items[i].key, k)) last = i;
  return last;
}

/* out (equal to in) has every object's keys in in's order, as described
 * at the top; quadratic in the keys of one object, which fuzz inputs keep small. */
static void check_key_order(const mh_value *in, const mh_value *out) {
  switch (in->type) {
  case MH_V_ARRAY:
  case MH_V_SET:
    for (size_t i = 0; i < in->u.arr.len; i++) check_key_order(in->u.arr.items[i], out->u.arr.items[i]);
    return;
  case MH_V_MAP:
    for (size_t i = 0; i < in->u.obj.len; i++) {
      check_key_order(in->u.obj.items[i].key, out->u.obj.items[i].key);
      check_key_order(in->u.obj.items[i].val, out->u.obj.items[i].val);
    }
    return;
  case MH_V_OBJECT: {
    size_t k = 0;
    for (size_t i = 0; i < in->u.obj.len; i++) {
      const mh_value *key = in->u.obj.items[i].key;
      bool repeated = false;
      for (size_t j = 0; j < i && !repeated; j++) repeated = same_key(in->u.obj.items[j].key, key);
      if (repeated) continue;
      FUZZ_CHECK(k < out->u.obj.len && same_key(out->u.obj.items[k].key, key),
                 "key '%s' is not at place %zu after Lua", key->u.str.ptr, k);
      check_key_order(in->u.obj.items[last_pair(in, key)].val, out->u.obj.items[k].val);
      k++;
    }
    FUZZ_CHECK(k == out->u.obj.len, "an object came back with %zu keys, sent with %zu", out->u.obj.len, k);
    return;
  }
  default: return;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_set_input(data, size);
  const char *in = (const char *)data;
  const mh_codec *c = mh_codec_detect(in, size);
  if (!c) return 0;
  mh_error *err = NULL;
  mh_value *v = c->decode(in, size, &lim, &err);
  if (!v) {
    mh_error_free(err);
    return 0;
  }

  mh_value *back = through_lua(v, true);
  fuzz_check_same(v, back, "value -> Lua (nested) -> value");
  check_key_order(v, back);
  mh_value_free(back);

  back = through_lua(v, false);
  if (v->type == MH_V_NULL || v->type == MH_V_UNDEFINED) {
    FUZZ_CHECK(back->type == MH_V_NULL, "a top-level %s came back as %s", mh_value_type_name(v->type),
               mh_value_type_name(back->type));
  } else {
    fuzz_check_same(v, back, "value -> Lua -> value");
    check_key_order(v, back);
  }
  mh_value_free(back);
  mh_value_free(v);
  return 0;
}
