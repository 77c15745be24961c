/* moonhost.state: the C half of ctx.rpc.shared_state (lua/moonhost/shared_state.lua).
 * The values live in the host's store (session/shared_state.c), which
 * clients reach too; on_change listeners belong to the generation that
 * added them and stop when it is retired. */
#include <stdlib.h>
#include <string.h>

#include "api/lua_api.h"
#include "call/registry.h"
#include "session/shared_state.h"
#include "value/lua_value.h"

static mh_engine *engine(lua_State *L) { return mh_lua_engine_of(L); }

static int raise_error(lua_State *L, mh_error *err) {
  mh_lua_push_error(L, err);
  mh_error_free(err);
  return lua_error(L);
}

/* The value at idx (nil: null), or a Lua error naming `what`. */
static mh_value *value_at(lua_State *L, int idx, const char *what) {
  char *why = NULL;
  mh_value *v = mh_lua_to_value(L, idx, engine(L)->host->cfg->limits.json_max_depth, &why);
  if (v) return v;
  lua_pushfstring(L, "%s: the value cannot be shared: %s", what, why ? why : "out of memory");
  free(why);
  return lua_error(L), NULL;
}

/* declare(key, initial|nil, patches, readonly) */
static int l_declare(lua_State *L) {
  const char *key = luaL_checkstring(L, 1);
  mh_lua_check_context(L, "ctx.rpc.shared_state", MH_LUA_NEED_LIVE);
  mh_engine *e = engine(L);
  if (!e->gen) return luaL_error(L, "ctx.rpc.shared_state: only plugins have shared state");
  mh_value *initial = lua_isnoneornil(L, 2) ? NULL : value_at(L, 2, "ctx.rpc.shared_state");
  mh_state_decl d = {.plugin = e->gen->plugin->name, .generation = e->gen->number, .initial = initial,
                     .patches = lua_toboolean(L, 3), .readonly = lua_toboolean(L, 4)};
  mh_error *err = NULL;
  int rc = mh_state_declare(e->host, key, &d, &err);
  mh_value_free(initial);
  return rc ? raise_error(L, err) : 0;
}

static int l_get(lua_State *L) {
  const char *key = luaL_checkstring(L, 1);
  const mh_value *v = mh_state_value(engine(L)->host, key);
  if (!v) return luaL_error(L, "no shared state '%s' (dropped by a reload?)", key);
  mh_lua_push_value(L, v);
  return 1;
}

static int l_set(lua_State *L) {
  const char *key = luaL_checkstring(L, 1);
  mh_value *v = value_at(L, 2, "shared state set");
  mh_error *err = NULL;
  return mh_state_set(engine(L)->host, key, v, &err) ? raise_error(L, err) : 0;
}

static int l_keys(lua_State *L) {
  mh_value *keys = mh_state_keys(engine(L)->host);
  if (!keys) return luaL_error(L, "out of memory");
  lua_createtable(L, (int)keys->u.arr.len, 0);
  for (size_t i = 0; i < keys->u.arr.len; i++) {
    lua_pushstring(L, keys->u.arr.items[i]->u.str.ptr);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  mh_value_free(keys);
  return 1;
}

/* An on_change listener: runs fn(value, client_id) for each client write. */
typedef struct state_listener {
  gen_resource res;
  mh_engine *e;
  int cb_ref;
} state_listener;

static void on_change(void *ud, const char *key, const mh_value *value, const char *client_id);

static void listener_close(gen_resource *r) {
  state_listener *sl = (state_listener *)r;
  mh_state_unlisten(sl->e->host, on_change, sl);
  mh_list_remove(&sl->res.link);
  mh_lua_unref(sl->e->L, sl->cb_ref);
  free(sl);
}

static void on_change(void *ud, const char *key, const mh_value *value, const char *client_id) {
  (void)key;
  state_listener *sl = ud;
  if (sl->e->state == MH_LUA_RETIRED) return;
  mh_value *args = mh_value_new(MH_V_ARRAY);
  if (!args || mh_value_push(args, mh_value_copy(value)) ||
      mh_value_push(args, client_id ? mh_value_cstring(client_id) : mh_value_null())) {
    mh_value_free(args);
    return;
  }
  mh_caller who = {.id = client_id}; /* the engine keeps the id only */
  mh_lua_call_handler(sl->e, sl->cb_ref, args, client_id ? &who : NULL, mh_lua_callback_done, NULL);
}

/* on_change(key, fn) */
static int l_on_change(lua_State *L) {
  const char *key = luaL_checkstring(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  mh_lua_check_context(L, "shared state on_change", MH_LUA_NEED_LIVE);
  mh_engine *e = engine(L);
  state_listener *sl = calloc(1, sizeof *sl);
  if (!sl) return luaL_error(L, "out of memory");
  if (mh_state_listen(e->host, key, on_change, sl)) {
    free(sl);
    return luaL_error(L, "out of memory");
  }
  *sl = (state_listener){.res.close = listener_close, .e = e};
  lua_pushvalue(L, 2);
  sl->cb_ref = mh_lua_ref(L);
  mh_list_insert_tail(&e->watches, &sl->res.link);
  return 0;
}

int mh_luaopen_state(lua_State *L) {
  static const luaL_Reg fns[] = {{"declare", l_declare}, {"get", l_get},           {"set", l_set},
                                 {"keys", l_keys},       {"on_change", l_on_change}, {NULL, NULL}};
  luaL_newlib(L, fns);
  return 1;
}
