/* moonhost.call: what a handler knows about the call it is serving, and
 * calls it makes to other functions.
 *   caller()        -> {id=, trusted=, connected=} of the client that started the call, or nil
 *   on_cancel(fn)   -> runs fn if the call is cancelled (by the client, a
 *                      disconnect or a timeout), before its to-be-closed variables
 *   dispatch(n,...) -> ok, value|error: calls any registered function (any
 *                      plugin's, or the host's) through the dispatcher, waiting */
#include <stdlib.h>

#include "session/client.h"
#include "call/dispatch.h"
#include "api/lua_api.h"

static int l_caller(lua_State *L) {
  mh_lua_call *call = mh_lua_check_context(L, "moonhost.caller", MH_LUA_NEED_CALL);
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
  mh_lua_call *call = mh_lua_check_context(L, "moonhost.on_cancel", MH_LUA_NEED_CALL);
  if (call->on_cancel_ref == LUA_NOREF) {
    lua_newtable(L);
    call->on_cancel_ref = mh_lua_ref(L);
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, call->on_cancel_ref);
  lua_pushvalue(L, 1);
  lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
  return 0;
}

/* The dispatcher's reply is borrowed: the waiting coroutine gets copies. */
static void dispatch_reply(void *ud, const mh_value *result, const mh_error *err) {
  mh_lua_call *call = ud;
  if (err) {
    mh_lua_wake(call, NULL, mh_error_copy(err));
    return;
  }
  mh_value *copy = mh_value_copy(result);
  mh_lua_wake(call, copy, copy ? NULL : mh_error_new(MH_ERR_INTERNAL, "out of memory"));
}

static void dispatch_cancel(void *op) { mh_dispatch_cancel(op); }

static int l_dispatch(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  mh_lua_call *call = mh_lua_check_context(L, "moonhost.call", MH_LUA_NEED_WAIT);
  mh_engine *e = mh_lua_engine_of(L);
  mh_value *args = mh_lua_args(L, 2, "moonhost.call");
  mh_waiter *w = mh_dispatch(e->host, NULL, name, args, false, dispatch_reply, call);
  return mh_lua_await(L, call, dispatch_cancel, w);
}

int mh_luaopen_call(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"caller", l_caller}, {"on_cancel", l_on_cancel}, {"dispatch", l_dispatch}, {NULL, NULL}};
  luaL_newlib(L, fns);
  return 1;
}
