/* The budget of plugin states (see lua_budget.h).
 *
 * The count hook and the guarded library functions charge what the running
 * call does (budget_charge); once over budget every instruction raises
 * again, so a pcall in the handler cannot swallow the stop.
 *
 * Bounded __gc finalizers: GCTM (lgc.c) calls a finalizer with allowhook = 0 on the collecting
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
#include "runtime/lua_lib_guard.h"
#include "runtime/lua_runtime.h"

static int guarded_gc(lua_State *L);

/* The finalizers of this turn spent their budget. */
static bool gc_over_budget(mh_engine *e) {
  const mh_config *cfg = e->host->cfg;
  uint64_t ns = e->gc.used_ns + (e->gc.depth > 0 ? uv_hrtime() - e->gc.started : 0);
  return e->gc.instructions > cfg->lua.instruction_budget || ns / 1000000 > cfg->lua.max_run_ms;
}

/* The charge while e->gc.depth > 0: adds cost, raises once over budget. */
static void gc_charge(lua_State *L, mh_engine *e, uint64_t cost) {
  e->gc.instructions += cost;
  if (!gc_over_budget(e)) return;
  /* From now on every instruction raises, so a pcall cannot swallow the stop. */
  lua_sethook(L, mh_lua_budget_hook, LUA_MASKCOUNT, 1);
  luaL_error(L, "stopped: a __gc finalizer ran past its budget");
}

/* What the count hook and the guarded library functions (lua_lib_guard.h)
 * charge: the running finalizer's or the running call's work. */
static void budget_charge(lua_State *L, uint64_t cost) {
  mh_engine *e = mh_lua_engine_of(L);
  /* Only a finalizer's coroutine runs Lua while one is running. */
  if (e->gc.depth > 0) {
    gc_charge(L, e, cost);
    return;
  }
  mh_lua_call *call = e->running;
  if (!call) return;
  if (!call->killed) {
    call->instructions += cost;
    bool over_count = call->instructions > e->host->cfg->lua.instruction_budget;
    /* Wall time since this resume began: the loop serves nobody meanwhile. */
    bool over_time = (uv_hrtime() - e->resumed_at) / 1000000 > e->host->cfg->lua.max_run_ms;
    if (!over_count && !over_time) return;
    call->killed = true;
    call->killed_by_time = over_time && !over_count;
  }
  lua_sethook(L, mh_lua_budget_hook, LUA_MASKCOUNT, 1);
  luaL_error(L, "stopped: the call ran past its budget");
}

static bool budget_stopping(lua_State *L) {
  mh_engine *e = mh_lua_engine_of(L);
  if (e->gc.depth > 0) return gc_over_budget(e);
  return e->running && e->running->killed;
}

static const mh_lua_meter budget_meter = {budget_charge, budget_stopping};

void mh_lua_budget_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  budget_charge(L, MH_LUA_HOOK_EVERY);
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
  const char *plugin = mh_lua_state_name(e);
  if (status == LUA_YIELD) {
    mh_log_warn("plugin", "%s: a __gc finalizer (%s:%d) yielded; the rest of it does not run", plugin, src, line);
  } else if (gc_over_budget(e)) {
    if (e->gc.warned) return; /* one line per turn, not one per object */
    e->gc.warned = true;
    mh_log_warn("plugin",
                "%s: a __gc finalizer (%s:%d) ran past its budget (lua.instruction_budget, lua.max_run_ms) "
                "and was %s; finalizers due before the host next waits for events are skipped",
                plugin, src, line, co ? "stopped" : "skipped");
  } else {
    /* The door's text of the error (no metamethod runs), with the
     * finalizer's traceback; the host's memory, as in the resume door. */
    size_t limit = mh_lua_lift_cap(e);
    mh_lua_push_failure(L, co, -1, 0);
    mh_lua_restore_cap(e, limit);
    mh_log_warn("plugin", "%s: a __gc finalizer (%s:%d) failed: %s", plugin, src, line, lua_tostring(L, -1));
    lua_pop(L, 1);
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
  if (gc_over_budget(e)) {
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

void mh_lua_budget_install(lua_State *L) {
  mh_lua_lib_guard_install(L, &budget_meter);
  lua_sethook(L, mh_lua_budget_hook, LUA_MASKCOUNT, MH_LUA_HOOK_EVERY);
  lua_pushcfunction(L, gc_setmetatable);
  lua_setglobal(L, "setmetatable");
  if (lua_getglobal(L, "debug") == LUA_TTABLE) {
    lua_pushcfunction(L, gc_debug_setmetatable);
    lua_setfield(L, -2, "setmetatable");
  }
  lua_pop(L, 1);
}
