/* moonhost.call: what a handler knows about the call it is serving, and
 * calls it makes to other functions.
 *   caller()        -> {id=, trusted=, connected=} of the client that started the call;
 *                      {id='http', http=true, trusted=, connected=true} for a request
 *                      over HTTP (oRPC, MCP); nil for the host's own calls
 *   on_cancel(fn)   -> runs fn if the call is cancelled (by the client, a
 *                      disconnect or a timeout), before its to-be-closed variables
 *   dispatch(n,...) -> ok, value|error: calls any registered function (any
 *                      plugin's, or the host's) through the dispatcher, waiting
 *   stream_start()  -> last_event_id|nil: the current call is a stream (else an error)
 *   emit(v[, meta]) -> sends one chunk of the current stream, waiting while
 *                      its reader is behind (moonhost.stream's emit) */
#include <stdlib.h>
#include <string.h>

#include "session/client.h"
#include "call/dispatch.h"
#include "api/lua_api.h"

static int l_caller(lua_State *L) {
  mh_lua_call *call = mh_lua_check_context(L, "moonhost.caller", MH_LUA_NEED_CALL);
  if (call->caller_http) {
    /* No client to call back; the request is there while its call runs
     * (one that leaves cancels it). 'http' is the id the mesh gives it. */
    lua_createtable(L, 0, 4);
    lua_pushliteral(L, "http");
    lua_setfield(L, -2, "id");
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "http");
    lua_pushboolean(L, call->caller_trusted);
    lua_setfield(L, -2, "trusted");
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "connected");
    return 1;
  }
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

/* ---- streams (call/stream.h) ---- */

static mh_lua_call *stream_call(lua_State *L, const char *what, mh_lua_need need) {
  mh_lua_call *call = mh_lua_check_context(L, what, need);
  if (!call->stream)
    luaL_error(L, "%s: only in a function defined with stream = true (this call is not a stream)", what);
  return call;
}

static int l_stream_start(lua_State *L) {
  mh_lua_call *call = stream_call(L, "moonhost.stream", MH_LUA_NEED_WAIT);
  if (call->last_event_id)
    lua_pushstring(L, call->last_event_id);
  else
    lua_pushnil(L);
  return 1;
}

/* emit's options {id=, retry=}; the id stays on the stack (index 3). */
static mh_chunk_meta chunk_meta(lua_State *L) {
  mh_chunk_meta meta = {.id = NULL, .retry_ms = -1};
  if (lua_isnoneornil(L, 2)) return meta;
  luaL_checktype(L, 2, LUA_TTABLE);
  int t = lua_getfield(L, 2, "id");
  bool integer = t == LUA_TNUMBER && lua_isinteger(L, 3);
  if (t != LUA_TNIL && t != LUA_TSTRING && !integer)
    luaL_error(L, "emit: id must be a string or an integer, got %s", luaL_typename(L, 3));
  if (t != LUA_TNIL) { /* an integer becomes its text: ids are text on the wire */
    size_t n;
    meta.id = lua_tolstring(L, 3, &n);
    if (strcspn(meta.id, "\r\n") != n) luaL_error(L, "emit: id must not hold a line break or a NUL");
  }
  lua_getfield(L, 2, "retry");
  if (!lua_isnil(L, 4)) {
    if (!lua_isinteger(L, 4) || lua_tointeger(L, 4) < 0)
      luaL_error(L, "emit: retry must be an integer >= 0 (milliseconds)");
    meta.retry_ms = (int64_t)lua_tointeger(L, 4);
  }
  return meta;
}

static void emit_cancel(void *op) { ((mh_lua_call *)op)->draining = false; }

static int l_emit(lua_State *L) {
  mh_lua_call *call = stream_call(L, "emit", MH_LUA_NEED_WAIT);
  mh_engine *e = mh_lua_engine_of(L);
  lua_settop(L, 2);
  mh_chunk_meta meta = chunk_meta(L);
  char *why = NULL;
  mh_value *v = mh_lua_to_value(L, 1, e->host->cfg->limits.json_max_depth, &why);
  if (!v) {
    lua_pushfstring(L, "emit: cannot send the chunk: %s", why ? why : "out of memory");
    free(why);
    return lua_error(L);
  }
  /* A stream may run for as long as its reader reads: the instruction
   * budget counts from one chunk to the next. */
  call->instructions = 0;
  if (!mh_stream_emit(call->stream, v, &meta)) return 0;
  call->draining = true;
  return mh_lua_await(L, call, emit_cancel, call);
}

int mh_luaopen_call(lua_State *L) {
  static const luaL_Reg fns[] = {{"caller", l_caller},
                                 {"on_cancel", l_on_cancel},
                                 {"dispatch", l_dispatch},
                                 {"stream_start", l_stream_start},
                                 {"emit", l_emit},
                                 {NULL, NULL}};
  luaL_newlib(L, fns);
  return 1;
}
