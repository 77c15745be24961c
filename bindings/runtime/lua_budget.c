/* Bounded __gc finalizers (see lua_budget.h).
 *
 * GCTM (lgc.c) calls a finalizer with allowhook = 0 on the collecting
 * thread, so the count hook never fires there and a looping finalizer hangs
 * the host. A thread made by lua_newthread starts with allowhook = 1, and a
 * C function may lua_resume another thread even inside a finalizer (as
 * coroutine.resume does). So the guard stores in the metatable, in place of
 * __gc, a C closure over the original; the collector calls the closure,
 * and the closure runs the original on a new coroutine with the budget hook.
 *
 * One collection can call any number of finalizers and the loop serves
 * nobody until the last returns, so the budget is not per finalizer: all of
 * a plugin's finalizers in one turn of the loop share lua.instruction_budget
 * and lua.max_run_ms. Past it the running finalizer is stopped and the rest
 * due in that turn are skipped (their objects are freed unfinalized).
 *
 * Covered: a __gc present in the metatable when setmetatable or
 * debug.setmetatable is called (that is when Lua marks the object), also on
 * userdata that C code had marked. Not covered: a function stored into the
 * __gc of a metatable after that (the objects it already marked call it
 * unguarded until the next setmetatable with that metatable guards it
 * again), and finalizers written in C. */
#include "runtime/lua_budget.h"

#include <lauxlib.h>

#include "core/log.h"
#include "runtime/lua_runtime.h"

static int guarded_gc(lua_State *L);

bool mh_lua_gc_over_budget(mh_engine *e) {
  const mh_config *cfg = e->host->cfg;
  uint64_t ns = e->gc.used_ns + (e->gc.depth > 0 ? uv_hrtime() - e->gc.started : 0);
  return e->gc.instructions > cfg->lua.instruction_budget || ns / 1000000 > cfg->lua.max_run_ms;
}

void mh_lua_gc_charge(lua_State *L, mh_engine *e, uint64_t cost) {
  e->gc.instructions += cost;
  if (!mh_lua_gc_over_budget(e)) return;
  /* From now on every instruction raises, so a pcall cannot swallow the stop. */
  lua_sethook(L, mh_lua_budget_hook, LUA_MASKCOUNT, 1);
  luaL_error(L, "stopped: a __gc finalizer ran past its budget");
}

/* Logs what went wrong with the finalizer of guarded_gc's upvalue. co holds
 * its error (or nothing: skipped, yielded). Raises nothing. */
static void report(mh_engine *e, lua_State *L, lua_State *co, int status) {
  lua_Debug ar;
  const char *src = "?";
  int line = 0;
  lua_pushvalue(L, lua_upvalueindex(1));
  if (lua_isfunction(L, -1)) {
    lua_getinfo(L, ">S", &ar); /* pops the function */
    src = ar.short_src;
    line = ar.linedefined;
  } else {
    lua_pop(L, 1);
  }
  const char *plugin = e->gen->plugin->name;
  if (status == LUA_YIELD) {
    mh_log_warn("plugin", "%s: a __gc finalizer (%s:%d) yielded; the rest of it does not run", plugin, src, line);
  } else if (mh_lua_gc_over_budget(e)) {
    if (e->gc.warned) return; /* one line per turn, not one per object */
    e->gc.warned = true;
    mh_log_warn("plugin",
                "%s: a __gc finalizer (%s:%d) ran past its budget (lua.instruction_budget, lua.max_run_ms) "
                "and was %s; finalizers due before the host next waits for events are skipped",
                plugin, src, line, co ? "stopped" : "skipped");
  } else {
    /* Not lua_tostring on a number: converting allocates, and may raise. */
    if (lua_type(co, -1) == LUA_TSTRING)
      mh_log_warn("plugin", "%s: a __gc finalizer (%s:%d) failed: %s", plugin, src, line, lua_tostring(co, -1));
    else
      mh_log_warn("plugin", "%s: a __gc finalizer (%s:%d) failed (error object is a %s value)", plugin, src, line,
                  luaL_typename(co, -1));
  }
}

/* What the collector calls: the original finalizer (upvalue 1) runs on a
 * new coroutine under the turn's budget. Errors are logged, never raised
 * (the collector would drop them silently), and it never yields. */
static int guarded_gc(lua_State *L) {
  mh_engine *e = mh_lua_engine_of(L);
  mh_lua_gc_budget *b = &e->gc;
  if (b->depth == 0) {
    uint64_t turn = uv_now(e->host->loop);
    if (turn != b->turn) *b = (mh_lua_gc_budget){.turn = turn};
  }
  if (mh_lua_gc_over_budget(e)) {
    report(e, L, NULL, LUA_ERRRUN);
    return 0;
  }
  lua_settop(L, 1);
  /* At the memory cap this raises: nothing is changed yet, and the
   * collector catches it (this finalizer then does not run, as in Lua). */
  lua_State *co = lua_newthread(L);
  lua_sethook(co, mh_lua_budget_hook, LUA_MASKCOUNT, MH_LUA_HOOK_EVERY);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushvalue(L, 1);
  lua_xmove(L, co, 2);
  uint64_t started = uv_hrtime();
  if (b->depth++ == 0) b->started = started;
  int nres;
  int status = lua_resume(co, L, 1, &nres);
  if (--b->depth == 0) {
    uint64_t spent = uv_hrtime() - started;
    b->used_ns += spent;
    /* The collector runs in whatever call allocated: that call's own run
     * time (lua.max_run_ms) does not include the finalizer's. */
    if (e->running) e->resumed_at += spent;
  }
  if (status != LUA_OK) report(e, L, co, status);
  return 0;
}

/* Stores guarded_gc(original) as the metatable's __gc, unless there is none
 * or it is one already (a metatable shared by many objects). Raw, as the
 * collector reads it. */
static void guard(lua_State *L, int mt) {
  lua_pushliteral(L, "__gc");
  if (lua_rawget(L, mt) == LUA_TNIL || lua_tocfunction(L, -1) == guarded_gc) {
    lua_pop(L, 1);
    return;
  }
  lua_pushcclosure(L, guarded_gc, 1);
  lua_pushliteral(L, "__gc");
  lua_insert(L, -2);
  lua_rawset(L, mt);
}

/* setmetatable as lbaselib.c has it, guarding before the object is marked. */
static int gc_setmetatable(lua_State *L) {
  int t = lua_type(L, 2);
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
  if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL) return luaL_error(L, "cannot change a protected metatable");
  lua_settop(L, 2);
  if (t == LUA_TTABLE) guard(L, 2);
  lua_setmetatable(L, 1);
  return 1;
}

/* debug.setmetatable as ldblib.c has it (any value, no protection check). */
static int gc_debug_setmetatable(lua_State *L) {
  int t = lua_type(L, 2);
  luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
  lua_settop(L, 2);
  if (t == LUA_TTABLE) guard(L, 2);
  lua_setmetatable(L, 1);
  return 1;
}

void mh_lua_gc_guard_install(lua_State *L) {
  lua_pushcfunction(L, gc_setmetatable);
  lua_setglobal(L, "setmetatable");
  if (lua_getglobal(L, "debug") == LUA_TTABLE) {
    lua_pushcfunction(L, gc_debug_setmetatable);
    lua_setfield(L, -2, "setmetatable");
  }
  lua_pop(L, 1);
}
