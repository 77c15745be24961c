/* mh_value <-> Lua.
 *
 *   null       nil at the top level (an argument), moonhost.null inside tables
 *   undefined  nil at the top level, moonhost.undefined inside tables
 *   integer    Lua integer; float: Lua float (kept distinct both ways; NaN,
 *              +-Infinity and -0 are plain floats)
 *   array      table 1..n marked with the array metatable, so [] stays []
 *   object     table with string keys
 *   Date       {ms = number} with metatable moonhost.Date
 *   BigInt     {value = "decimal"} with moonhost.BigInt
 *   Map        {entries = {{k, v}, ...}} with moonhost.Map (keys of any type, in order)
 *   Set        {values = {...}} with moonhost.Set
 *   RegExp     {source =, flags =} with moonhost.RegExp
 *   Error      {name =, message =} with moonhost.JsError
 *   typed array {kind = "Uint8Array", values = {...}} with moonhost.TypedArray
 * Going back, a table is one of those types by its metatable; otherwise it
 * is an array when marked, or when its keys are exactly 1..n; an empty
 * unmarked table is an object. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "value/lua_value.h"

#include "value/lua_types.h"

char mh_lua_undefined_tag;

static void push_collection(lua_State *L, const mh_value *v);
static void push_object(lua_State *L, const mh_value *v);

/* Pushes v where one stack slot is known to be free: a leaf takes one, so
 * only a container checks the stack (for itself, an item and its key or
 * metatable), once, not every item. */
static void push_item(lua_State *L, const mh_value *v) {
  switch (v->type) {
  case MH_V_UNDEFINED: lua_pushlightuserdata(L, MH_LUA_UNDEFINED); return;
  case MH_V_NULL: lua_pushlightuserdata(L, MH_LUA_NULL); return;
  case MH_V_BOOL: lua_pushboolean(L, v->u.b); return;
  case MH_V_INT: lua_pushinteger(L, (lua_Integer)v->u.i); return;
  case MH_V_FLOAT: lua_pushnumber(L, v->u.f); return;
  case MH_V_STRING: lua_pushlstring(L, v->u.str.ptr, v->u.str.len); return;
  case MH_V_ARRAY:
    luaL_checkstack(L, 4, "value nested too deeply");
    lua_createtable(L, (int)v->u.arr.len, 0);
    for (size_t i = 0; i < v->u.arr.len; i++) {
      push_item(L, v->u.arr.items[i]);
      lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    mh_lua_push_array_mt(L);
    lua_setmetatable(L, -2);
    return;
  case MH_V_OBJECT: push_object(L, v); return;
  case MH_V_MAP:
  case MH_V_SET: push_collection(L, v); return;
  default: mh_lua_push_special(L, v); return;
  }
}

void mh_lua_push_nested(lua_State *L, const mh_value *v) {
  luaL_checkstack(L, 4, "value nested too deeply");
  push_item(L, v);
}

/* An object, its key order remembered when it has one (lua_key_order.c). */
static void push_object(lua_State *L, const mh_value *v) {
  luaL_checkstack(L, 4, "value nested too deeply");
  lua_createtable(L, 0, (int)v->u.obj.len);
  for (size_t i = 0; i < v->u.obj.len; i++) {
    const mh_pair *p = &v->u.obj.items[i];
    lua_pushlstring(L, p->key->u.str.ptr, p->key->u.str.len);
    push_item(L, p->val);
    lua_rawset(L, -3);
  }
  if (v->u.obj.len > 1) mh_lua_key_order_remember(L, -1, v);
}

/* The JavaScript types that hold values: a Map as {entries = {{k, v}, ...}},
 * a Set as {values = {...}}, both lists marked as arrays. The types without
 * nested values are lua_types.c's. */
static void push_collection(lua_State *L, const mh_value *v) {
  bool map = v->type == MH_V_MAP;
  size_t n = map ? v->u.obj.len : v->u.arr.len;
  luaL_checkstack(L, 6, "value nested too deeply");
  lua_createtable(L, 0, 1);
  lua_createtable(L, (int)n, 0);
  for (size_t i = 0; i < n; i++) {
    if (map) {
      lua_createtable(L, 2, 0);
      push_item(L, v->u.obj.items[i].key);
      lua_rawseti(L, -2, 1);
      push_item(L, v->u.obj.items[i].val);
      lua_rawseti(L, -2, 2);
    } else {
      push_item(L, v->u.arr.items[i]);
    }
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  mh_lua_push_array_mt(L);
  lua_setmetatable(L, -2);
  lua_setfield(L, -2, map ? "entries" : "values");
  mh_lua_push_type_mt(L, map ? MH_LT_MAP : MH_LT_SET);
  lua_setmetatable(L, -2);
}

void mh_lua_push_value(lua_State *L, const mh_value *v) {
  if (v->type == MH_V_NULL || v->type == MH_V_UNDEFINED)
    lua_pushnil(L);
  else
    mh_lua_push_nested(L, v);
}

int mh_lua_push_args(lua_State *L, const mh_value *args) {
  size_t n = args->u.arr.len;
  luaL_checkstack(L, (int)n + 1, "too many arguments");
  for (size_t i = 0; i < n; i++) {
    const mh_value *v = args->u.arr.items[i];
    if (v->type == MH_V_NULL || v->type == MH_V_UNDEFINED)
      lua_pushnil(L);
    else
      push_item(L, v); /* a slot each: checked above */
  }
  return (int)n;
}

/* ---- Lua -> value --------------------------------------------------- */

/* One step of the path to the value being converted: an array index, or a
 * key (borrowed from the Lua stack, where it stays while we are below it). */
typedef struct path_seg {
  const char *key; /* NULL: an index */
  size_t klen;
  lua_Integer index;
} path_seg;

typedef struct conv {
  lua_State *L;
  int max_depth;
  int depth;
  const void **ancestors; /* tables being converted, to detect cycles */
  /* The path is kept as steps and only turned into text by fail(): every
   * conversion walks it, few fail (formatting it eagerly cost ~3k
   * instructions per call in bench/). A table level adds at most 3 steps
   * (a Map's "entries", the index, the pair's slot). */
  path_seg *path;
  int nsegs;
  char *err;
  size_t left; /* bytes the value may still take (mh_lua_values.limit) */
  size_t limit;
  unsigned nodes;       /* converted since the clock was last read */
  uint64_t deadline;    /* uv_hrtime() past which conversion stops (0: none) */
  uint32_t max_run_ms;
  size_t node_cost; /* mh_value_cost(0): what a value without bytes takes */
} conv;

#define CONV_SEGS_PER_LEVEL 3

static void path_format(const conv *c, mh_buf *b) {
  if (c->nsegs == 0) {
    mh_buf_append_str(b, "the top");
    return;
  }
  for (int i = 0; i < c->nsegs; i++) {
    const path_seg *s = &c->path[i];
    if (!s->key) {
      mh_buf_appendf(b, "[%lld]", (long long)s->index);
    } else {
      if (i) mh_buf_append(b, ".", 1);
      mh_buf_append(b, s->key, s->klen);
    }
  }
}

static mh_value *fail(conv *c, const char *fmt, const char *what) __attribute__((format(printf, 2, 0)));
static mh_value *fail(conv *c, const char *fmt, const char *what) {
  if (c->err) return NULL;
  mh_buf b = MH_BUF_INIT;
  mh_buf_appendf(&b, fmt, what);
  mh_buf_append_str(&b, " at ");
  path_format(c, &b);
  c->err = mh_buf_steal(&b, NULL);
  return NULL;
}

static mh_value *convert_as(conv *c, int idx, int type);
static mh_value *convert(conv *c, int idx);

/* Why spend() stops: over the memory budget, or past the deadline. Out of
 * line, so the check every node pays stays small. */
static __attribute__((noinline)) bool overspent(conv *c) {
  char limit[32];
  snprintf(limit, sizeof limit, "%zu", c->limit);
  fail(c, "a value over %s bytes once converted (a table used in several places is copied for each; "
          "the limit is lua.memory_bytes)", limit);
  return false;
}

static __attribute__((noinline)) bool overtime(conv *c) {
  char limit[32];
  snprintf(limit, sizeof limit, "%u", c->max_run_ms);
  fail(c, "converting the value took over %s ms (lua.max_run_ms; a table used in several places is "
          "copied for each)", limit);
  return false;
}

/* Counts the memory the converted value takes: a table used in n places
 * is copied n times, so 30 levels of {t, t} are 2^30 copies of a small
 * table. False, with the error set, once over mh_lua_values.limit. */
static inline bool spend(conv *c, size_t bytes) {
  if (bytes > c->left) return overspent(c);
  c->left -= bytes;
  /* The loop serves nobody while a value converts: as long as Lua code may
   * run without waiting, no longer. */
  if (c->deadline && ++c->nodes % 1024 == 0 && uv_hrtime() > c->deadline) return overtime(c);
  return true;
}

static int path_push_index(conv *c, lua_Integer i) {
  c->path[c->nsegs] = (path_seg){NULL, 0, i};
  return c->nsegs++;
}

static int path_push_name(conv *c, const char *key, size_t klen) {
  c->path[c->nsegs] = (path_seg){key, klen, 0};
  return c->nsegs++;
}

static void path_pop(conv *c, int mark) { c->nsegs = mark; }

static mh_value *convert_array(conv *c, int idx, lua_Integer n) {
  lua_State *L = c->L;
  mh_value *arr = mh_value_container(MH_V_ARRAY, (size_t)n); /* room for all: no regrowing */
  if (!arr) return fail(c, "%s", "out of memory");
  int slot = lua_gettop(L) + 1; /* where each item is read */
  for (lua_Integer i = 1; i <= n; i++) {
    int type = lua_rawgeti(L, idx, i);
    int mark = path_push_index(c, i);
    mh_value *item = type == LUA_TNIL ? mh_value_null() : convert_as(c, slot, type);
    path_pop(c, mark);
    lua_pop(L, 1);
    if (!item) {
      mh_value_free(arr);
      return fail(c, "%s", "out of memory");
    }
    arr->u.arr.items[arr->u.arr.len++] = item; /* room reserved above */
  }
  return arr;
}

/* An object of n keys, converted in Lua's order, then put in the order
 * lua_key_order.c gives. */
static mh_value *convert_object(conv *c, int idx, lua_Integer n) {
  lua_State *L = c->L;
  mh_value *obj = mh_value_container(MH_V_OBJECT, (size_t)n); /* room for all: no regrowing */
  if (!obj) return fail(c, "%s", "out of memory");
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    size_t klen;
    const char *k = lua_tolstring(L, -2, &klen); /* a string already: lua_next stays valid */
    int mark = path_push_name(c, k, klen);
    mh_value *val = !spend(c, mh_value_cost(klen)) ? NULL
                    : mh_utf8_valid(k, klen)        ? convert(c, lua_gettop(L))
                                                    : fail(c, "%s", "a key that is not UTF-8");
    path_pop(c, mark);
    lua_pop(L, 1);
    if (!val || mh_value_obj_append(obj, k, klen, val)) {
      lua_pop(L, 1);
      mh_value_free(obj);
      return fail(c, "%s", "out of memory");
    }
  }
  if (mh_lua_key_order_apply(L, idx, obj)) {
    mh_value_free(obj);
    return fail(c, "%s", "out of memory");
  }
  return obj;
}

/* Appends ".field" to the path for the duration of a nested conversion. */
static int path_push_field(conv *c, const char *field) { return path_push_name(c, field, strlen(field)); }

static mh_value *oom_or(conv *c, mh_value *v) { return v ? v : fail(c, "%s", "out of memory"); }

/* One {key, value} pair of a Map's entries (the pair is on top). */
static int convert_map_pair(conv *c, mh_value *map) {
  lua_State *L = c->L;
  int pidx = lua_gettop(L);
  mh_value *kv[2] = {NULL, NULL};
  for (int i = 0; i < 2; i++) {
    lua_rawgeti(L, pidx, i + 1);
    int mark = path_push_index(c, i + 1);
    kv[i] = lua_isnil(L, -1) ? mh_value_null() : convert(c, lua_gettop(L));
    path_pop(c, mark);
    lua_pop(L, 1);
  }
  if (kv[0] && kv[1]) return mh_value_map_append(map, kv[0], kv[1]) ? (fail(c, "%s", "out of memory"), -1) : 0;
  mh_value_free(kv[0]);
  mh_value_free(kv[1]);
  fail(c, "%s", "out of memory");
  return -1;
}

/* {entries = {{k, v}, ...}}: keys of any type, order kept. */
static mh_value *convert_map(conv *c, int idx) {
  lua_State *L = c->L;
  int t = mh_lua_rawfield(L, idx, "entries");
  int eidx = lua_gettop(L);
  mh_value *map = t == LUA_TTABLE || t == LUA_TNIL ? oom_or(c, mh_value_new(MH_V_MAP))
                                                    : fail(c, "%s", "a moonhost.Map whose entries is not a list");
  int mark = path_push_field(c, "entries");
  lua_Integer n = t == LUA_TTABLE ? (lua_Integer)lua_rawlen(L, eidx) : 0;
  for (lua_Integer i = 1; map && i <= n; i++) {
    int imark = path_push_index(c, i);
    int rc = -1;
    if (lua_rawgeti(L, eidx, i) == LUA_TTABLE)
      rc = convert_map_pair(c, map);
    else
      fail(c, "%s", "a Map entry that is not a {key, value} pair");
    lua_pop(L, 1);
    path_pop(c, imark);
    if (rc) {
      mh_value_free(map);
      map = NULL;
    }
  }
  path_pop(c, mark);
  lua_pop(L, 1);
  return map;
}

/* {values = {...}}: a Set's values read like an array's items. */
static mh_value *convert_set(conv *c, int idx) {
  lua_State *L = c->L;
  int t = mh_lua_rawfield(L, idx, "values");
  int vidx = lua_gettop(L);
  mh_value *out = NULL;
  if (t == LUA_TTABLE || t == LUA_TNIL) {
    int mark = path_push_field(c, "values");
    out = t == LUA_TNIL ? oom_or(c, mh_value_new(MH_V_ARRAY))
                        : convert_array(c, vidx, (lua_Integer)lua_rawlen(L, vidx));
    if (out) out->type = MH_V_SET; /* the same layout as an array */
    path_pop(c, mark);
  } else {
    fail(c, "%s", "a moonhost.Set whose values is not a list");
  }
  lua_pop(L, 1);
  return out;
}

/* A table with one of the metatables of the types beyond JSON. */
static mh_value *convert_special(conv *c, int idx, int kind) {
  if (kind == MH_LT_MAP) return convert_map(c, idx);
  if (kind == MH_LT_SET) return convert_set(c, idx);
  const char *why = NULL;
  mh_value *v = mh_lua_to_leaf(c->L, idx, (mh_lua_type)kind, &why);
  return v ? v : fail(c, "%s", why ? why : "out of memory");
}

static mh_value *convert_table(conv *c, int idx) {
  lua_State *L = c->L;
  const void *self = lua_topointer(L, idx);
  for (int i = 0; i < c->depth; i++)
    if (c->ancestors[i] == self) return fail(c, "%s", "a table that contains itself (a cycle)");
  if (c->depth >= c->max_depth) {
    char limit[32];
    snprintf(limit, sizeof limit, "%d", c->max_depth);
    return fail(c, "nesting deeper than %s levels (limits.json_max_depth)", limit);
  }
  if (!lua_checkstack(L, 8)) return fail(c, "%s", "nesting too deep for the Lua stack");
  c->ancestors[c->depth++] = self;
  mh_value *out;
  if (lua_getmetatable(L, idx)) {
    int kind = mh_lua_metatable_kind(L);
    if (kind >= 0) {
      out = kind == MH_LT_ARRAY ? convert_array(c, idx, (lua_Integer)lua_rawlen(L, idx))
                                : convert_special(c, idx, kind);
      c->depth--;
      return out;
    }
  }
  lua_Integer count = 0, max = 0;
  int ints = 0, strings = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    count++;
    int ktype = lua_type(L, -1);
    lua_Integer i = ktype == LUA_TNUMBER && lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 0; /* one read a key */
    if (ktype == LUA_TSTRING) {
      strings++;
    } else if (i > 0) {
      ints++;
      if (i > max) max = i;
    } else {
      const char *type = luaL_typename(L, -1);
      lua_pop(L, 1);
      c->depth--;
      return fail(c, "a table key of type %s (keys must be strings, or 1..n for an array)", type);
    }
  }
  if (ints && strings)
    out = fail(c, "%s", "a table mixing string keys and array items");
  else if (ints && max != count)
    out = fail(c, "%s", "an array with holes (use moonhost.null for missing items)");
  else if (ints)
    out = convert_array(c, idx, max);
  else
    out = convert_object(c, idx, count);
  c->depth--;
  return out;
}

/* The value at idx, of Lua type type (lua_type's). */
static mh_value *convert_as(conv *c, int idx, int type) {
  lua_State *L = c->L;
  switch (type) {
  case LUA_TSTRING: {
    size_t len;
    const char *s = lua_tolstring(L, idx, &len); /* a string already: no conversion */
    if (!spend(c, mh_value_cost(len))) return NULL;
    if (!mh_utf8_valid(s, len)) return fail(c, "%s", "a string that is not valid UTF-8");
    return mh_value_string(s, len);
  }
  case LUA_TNUMBER:
    if (!spend(c, c->node_cost)) return NULL;
    if (lua_isinteger(L, idx)) return mh_value_int((int64_t)lua_tointeger(L, idx));
    return mh_value_float((double)lua_tonumber(L, idx));
  default: break;
  }
  if (!spend(c, c->node_cost)) return NULL;
  switch (type) {
  case LUA_TNIL: return mh_value_null();
  case LUA_TBOOLEAN: return mh_value_bool(lua_toboolean(L, idx));
  case LUA_TLIGHTUSERDATA: {
    void *p = lua_touserdata(L, idx);
    if (p == MH_LUA_NULL) return mh_value_null();
    if (p == MH_LUA_UNDEFINED) return mh_value_undefined();
    return fail(c, "%s", "a light userdata");
  }
  case LUA_TTABLE: return convert_table(c, idx);
  default: return fail(c, "a %s (only nil, booleans, numbers, strings and tables can be sent)", luaL_typename(L, idx));
  }
}

static mh_value *convert(conv *c, int idx) { return convert_as(c, idx, lua_type(c->L, idx)); }

/* Depths up to this convert with the bookkeeping on the C stack. */
#define CONV_STACK_DEPTH 128 /* limits.json_max_depth defaults to 128 */

mh_value *mh_lua_to_value(lua_State *L, int idx, int max_depth, char **err) {
  const mh_lua_values *e = mh_lua_values_of(L);
  size_t limit = e->limit;
  conv c = {.L = L, .max_depth = max_depth < 0 ? 0 : max_depth, .limit = limit, .left = limit ? limit : SIZE_MAX,
            .node_cost = mh_value_cost(0)};
  if (limit) { /* a plugin state */
    c.max_run_ms = e->host->cfg->lua.max_run_ms;
    c.deadline = uv_hrtime() + (uint64_t)c.max_run_ms * 1000000;
  }
  const void *ancestors[CONV_STACK_DEPTH + 1];
  path_seg path[CONV_SEGS_PER_LEVEL * CONV_STACK_DEPTH + 1];
  bool small = c.max_depth <= CONV_STACK_DEPTH;
  c.ancestors = small ? ancestors : malloc(((size_t)c.max_depth + 1) * sizeof *c.ancestors);
  c.path = small ? path : malloc((CONV_SEGS_PER_LEVEL * (size_t)c.max_depth + 1) * sizeof *c.path);
  if (!c.ancestors || !c.path) {
    if (!small) {
      free(c.ancestors);
      free(c.path);
    }
    *err = strdup("out of memory");
    return NULL;
  }
  mh_value *v = convert(&c, lua_absindex(L, idx));
  if (!small) {
    free(c.ancestors);
    free(c.path);
  }
  if (!v) {
    *err = c.err ? c.err : strdup("out of memory");
  } else {
    free(c.err);
  }
  return v;
}

/* ---- errors --------------------------------------------------------- */

static int error_tostring(lua_State *L) {
  lua_getfield(L, 1, "message");
  lua_getfield(L, 1, "code");
  lua_pushfstring(L, "%s (%s)", luaL_optstring(L, -2, "error"), luaL_optstring(L, -1, "internal"));
  return 1;
}

void mh_lua_push_error(lua_State *L, const mh_error *err) {
  lua_createtable(L, 0, 4);
  lua_pushstring(L, err->code);
  lua_setfield(L, -2, "code");
  lua_pushstring(L, err->message);
  lua_setfield(L, -2, "message");
  lua_pushstring(L, err->name ? err->name : "Error");
  lua_setfield(L, -2, "name");
  if (err->data) {
    mh_lua_push_nested(L, err->data);
    lua_setfield(L, -2, "data");
  }
  if (luaL_newmetatable(L, "moonhost.error")) {
    lua_pushcfunction(L, error_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_setmetatable(L, -2);
}
