/* moonhost.call: what a handler knows about the call it is serving.
 *   caller()      -> {id=, trusted=} of the client that started the call, or nil
 *   on_cancel(fn) -> runs fn if the call is cancelled (by the client, a
 *                    disconnect or a timeout), before its to-be-closed variables */
#include "client.h"
#include "lua_engine.h"

static mh_lua_call *current(lua_State *L, const char *what) {
  mh_lua_call *call = mh_lua_engine_of(L)->running;
  if (!call) luaL_error(L, "%s: only inside a handler", what);
  return call;
}

static int l_caller(lua_State *L) {
  mh_lua_call *call = current(L, "moonhost.caller");
  if (!call->caller[0]) {
    lua_pushnil(L);
    return 1;
  }
  mh_client *c = mh_client_find(mh_lua_engine_of(L)->host, call->caller);
  lua_createtable(L, 0, 3);
  lua_pushstring(L, call->caller);
  lua_setfield(L, -2, "id");
  lua_pushboolean(L, c && c->trusted);
  lua_setfield(L, -2, "trusted");
  lua_pushboolean(L, c != NULL);
  lua_setfield(L, -2, "connected");
  return 1;
}

static int l_on_cancel(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  mh_lua_call *call = current(L, "moonhost.on_cancel");
  if (call->on_cancel_ref == LUA_NOREF) {
    lua_newtable(L);
    call->on_cancel_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, call->on_cancel_ref);
  lua_pushvalue(L, 1);
  lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
  return 0;
}

int mh_luaopen_call(lua_State *L) {
  static const luaL_Reg fns[] = {{"caller", l_caller}, {"on_cancel", l_on_cancel}, {NULL, NULL}};
  luaL_newlib(L, fns);
  return 1;
}
