/* The budget of plugin states (lua_budget.c): the count hook that stops a
 * call over lua.instruction_budget or lua.max_run_ms, the meter the guarded
 * library functions charge (lua_lib_guard.h), and bounded __gc finalizers.
 *
 * Lua runs a finalizer with debug hooks off on the thread that collects, so
 * the instruction budget cannot stop it there. The guard makes every __gc a
 * plugin sets through setmetatable or debug.setmetatable run on a fresh
 * coroutine, where hooks work, under a budget its finalizers share. */
#ifndef MH_LUA_BUDGET_H
#define MH_LUA_BUDGET_H
#include <lua.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct mh_engine mh_engine;

#define MH_LUA_HOOK_EVERY 1000 /* instructions between two runs of the budget hook */

/* Puts a plugin state under its budget: the count hook, the guarded
 * library functions and the finalizer guard. */
void mh_lua_budget_install(lua_State *L);
/* The count hook of plugin states: stops calls and finalizers over budget. */
void mh_lua_budget_hook(lua_State *L, lua_Debug *ar);

/* What a plugin's finalizers used in one turn of the event loop: together
 * they get lua.instruction_budget instructions and lua.max_run_ms. */
typedef struct mh_lua_gc_budget {
  uint64_t turn;         /* uv_now() of that turn */
  uint64_t used_ns;      /* run time of the finalizers that returned */
  uint64_t instructions; /* counted by the hook, the running one included */
  uint64_t started;      /* uv_hrtime() when the running finalizer began */
  int depth;             /* finalizers running now (0: none) */
  bool warned;           /* the turn's stop is logged already */
} mh_lua_gc_budget;

#endif
