/* What a failed call becomes (see lua_runtime.h): the mh_error its caller
 * gets, read from the plugin's error value without trusting it, and the
 * log line with the coroutine's traceback (the resume door's failure). */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "runtime/lua_runtime.h"
#include "value/lua_types.h"

/* Reads a failed call's error value (argument 1) on the main thread, in a
 * protected call the caller runs under the call's budget: the value is the
 * plugin's, and its metamethods (__index, __tostring, __name) are plugin
 * code that may raise or loop. Fields are read raw; only a message that is
 * not a string field goes through luaL_tolstring (__tostring, __name).
 * Returns code, message, data, status, whether it is a moonhost.error, and
 * whether it is an answer rather than a fault: its metatable says so with
 * __moonhost_answer (the ones of moonhost.error and of the args schema's
 * bad_request do; an error of the host passed on by the plugin does not). */
static int read_error(lua_State *L) {
  bool table = lua_type(L, 1) == LUA_TTABLE;
  for (int i = 0; i < 4; i++) lua_pushnil(L); /* 2 code, 3 message, 4 data, 5 status */
  bool defined = false, answer = false;
  if (table) {
    static const char *const fields[] = {"code", "message", "data", "status"};
    for (int i = 0; i < 4; i++) {
      mh_lua_rawfield(L, 1, fields[i]);
      lua_replace(L, 2 + i);
    }
    int ct = lua_type(L, 2);
    if (ct != LUA_TSTRING && ct != LUA_TNUMBER) lua_pushnil(L), lua_replace(L, 2);
    if (luaL_getmetafield(L, 1, "__name") != LUA_TNIL) {
      defined = lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "moonhost.error") == 0;
      lua_pop(L, 1);
    }
    if (luaL_getmetafield(L, 1, "__moonhost_answer") != LUA_TNIL) {
      answer = lua_toboolean(L, -1);
      lua_pop(L, 1);
    }
  }
  int mt = lua_type(L, 3);
  if (mt != LUA_TSTRING && mt != LUA_TNUMBER) {
    /* A table without __tostring keeps the old "error". */
    if (table && luaL_getmetafield(L, 1, "__tostring") == LUA_TNIL) {
      lua_pushliteral(L, "error");
    } else {
      if (table) lua_pop(L, 1); /* the __tostring found */
      luaL_tolstring(L, 1, NULL);
    }
    lua_replace(L, 3);
  }
  lua_pushboolean(L, defined);
  lua_pushboolean(L, answer);
  return 6;
}

/* The data, status and kinds read_error left above top (raw reads only). */
static void fill_error(mh_engine *e, mh_error *err, int top) {
  lua_State *L = e->L;
  if (!lua_isnil(L, top + 3)) {
    char *why = NULL;
    err->data = mh_lua_to_value(L, top + 3, e->host->cfg->limits.json_max_depth, &why);
    free(why);
  }
  /* Raised with moonhost.error: over HTTP an oRPC "defined" error. status
   * is optional; only an error status (400..599) is taken, else the code decides. */
  err->defined = lua_toboolean(L, top + 5);
  lua_Integer st = lua_isinteger(L, top + 4) ? lua_tointeger(L, top + 4) : 0;
  if (st >= 400 && st <= 599) err->status = (int)st;
}

/* Whether read_error found an answer (see read_error). */
static bool answered(mh_engine *e, int top) { return lua_toboolean(e->L, top + 6); }

mh_error *mh_lua_call_error(mh_lua_call *call, int status) {
  mh_engine *e = call->e;
  lua_State *co = call->co;
  if (call->killed && call->killed_by_time)
    return mh_error_new(MH_ERR_TIMEOUT, "%s: call stopped after running %u ms without waiting (lua.max_run_ms)",
                        mh_lua_state_name(e), e->host->cfg->lua.max_run_ms);
  if (call->killed)
    return mh_error_new(MH_ERR_TIMEOUT, "%s: call stopped after %llu instructions (lua.instruction_budget)",
                        mh_lua_state_name(e), (unsigned long long)e->host->cfg->lua.instruction_budget);
  if (status == LUA_ERRMEM)
    return mh_error_new(MH_ERR_INTERNAL, "%s: plugin memory limit of %zu bytes reached (lua.memory_bytes)",
                        mh_lua_state_name(e), e->mem_limit);
  lua_State *L = e->L;
  int top = lua_gettop(L);
  size_t limit = mh_lua_lift_cap(e); /* unprotected: see mh_lua_lift_cap */
  lua_pushcfunction(L, read_error);
  lua_pushvalue(co, -1);
  lua_xmove(co, L, 1);
  mh_lua_restore_cap(e, limit);
  mh_lua_call *outer = e->running;
  uint64_t outer_at = e->resumed_at;
  e->running = call;
  e->resumed_at = uv_hrtime();
  int rc = mh_lua_pcall(L, 1, 6);
  e->running = outer;
  e->resumed_at = outer_at;
  lua_sethook(L, mh_lua_budget_hook, LUA_MASKCOUNT, MH_LUA_HOOK_EVERY); /* a stop set it to 1 */
  mh_error *err;
  limit = mh_lua_lift_cap(e);
  if (rc != LUA_OK) {
    /* The door's text; the caller gets its first part (the log has the traceback). */
    const char *why = lua_tostring(L, -1);
    mh_log_debug("plugin", "%s: reading an error value failed: %s", mh_lua_state_name(e), why);
    err = mh_error_new(MH_ERR_INTERNAL, "%s: the call failed, and reading its error value failed too: %.*s",
                       mh_lua_state_name(e), (int)mh_lua_message_len(why), why);
  } else {
    const char *code = lua_tostring(L, top + 1);
    err = mh_error_new(code ? code : MH_ERR_INTERNAL, "%s", lua_tostring(L, top + 2));
    if (!mh_error_is_static(err)) fill_error(e, err, top);
    call->answered = answered(e, top);
  }
  mh_lua_restore_cap(e, limit);
  lua_settop(L, top);
  return err;
}

/* An answer (a moonhost.error, a schema's bad_request) is what the plugin
 * meant to say to a caller who got something wrong: a debug line naming
 * the function. A fault (a Lua error, a stop, any other value) is the
 * plugin's: an error line with the traceback. */
void mh_lua_log_failure(mh_lua_call *call, const mh_error *err) {
  mh_engine *e = call->e;
  if (call->cancelled) return;
  bool answer = call->answered;
  if (answer && !mh_log_enabled(MH_LOG_DEBUG)) return;
  /* The failed call's values are still on its stack: see mh_lua_lift_cap. */
  size_t limit = mh_lua_lift_cap(e);
  const char *fn = mh_lua_handler_name(e->L, call->handler);
  const char *sep = !fn ? "" : answer ? " " : ": ";
  if (!fn) fn = "";
  if (answer) {
    mh_log_debug("plugin", "%s: %s%sanswered %s: %s", mh_lua_state_name(e), fn, sep, err->code, err->message);
  } else {
    mh_lua_push_traceback(e->L, call->co, err->message, 0);
    mh_log_about(MH_LOG_ERROR, "plugin", mh_lua_state_name(e),
                 (const char *const[]){"function", fn, "code", err->code, NULL}, "%s%s%s: %s", fn, sep, err->code,
                 lua_tostring(e->L, -1));
    lua_pop(e->L, 1);
  }
  mh_lua_restore_cap(e, limit);
}

