/* Bounded __gc finalizers in plugin states (lua_budget.c).
 *
 * Lua runs a finalizer with debug hooks off on the thread that collects, so
 * the instruction budget cannot stop it there. The guard makes every __gc a
 * plugin sets through setmetatable or debug.setmetatable run on a fresh
 * coroutine, where hooks work, under a budget its finalizers share. */
#ifndef MH_LUA_GC_GUARD_H
#define MH_LUA_GC_GUARD_H
#include <lua.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct mh_engine mh_engine;

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

/* Replaces setmetatable and debug.setmetatable of a plugin state. */
void mh_lua_gc_guard_install(lua_State *L);
/* The budget charge while e->gc.depth > 0 (the count hook, a guarded
 * library function): adds cost, raises once over budget. */
void mh_lua_gc_charge(lua_State *L, mh_engine *e, uint64_t cost);
/* The finalizers of this turn spent their budget. */
bool mh_lua_gc_over_budget(mh_engine *e);

#endif
