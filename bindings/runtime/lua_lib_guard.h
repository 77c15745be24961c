/* Budgets for the C library functions of plugin and conf.d states
 * (lua_lib_guard.c).
 *
 * The count hook runs between VM instructions, so it never sees the time a
 * single C function takes: string.find with a backtracking pattern, a
 * table.move over 2^40 slots, or a loop whose every iteration is one
 * string.rep of 100 MB. The guard wraps the library functions whose cost
 * depends on their arguments: each charges its work to the state's budget
 * (in instructions, MH_LUA_BYTES_PER_INSTRUCTION bytes each) before it runs,
 * which also checks the wall clock. The pattern functions (find, match,
 * gmatch, gsub) first simulate the search liblua is about to make, step by
 * step under the budget (lua_pattern_cost.h), then let liblua run it.
 * It also makes xpcall's message handler skip once a budget stop is
 * unwinding: Lua calls the handler of an error raised in a hook with hooks
 * off, where a looping handler would never be stopped. */
#ifndef MH_LUA_LIB_GUARD_H
#define MH_LUA_LIB_GUARD_H
#include <lua.h>
#include <stdbool.h>
#include <stdint.h>

/* One instruction's worth of memory traffic for a charge: a VM
 * instruction costs a few nanoseconds, about as long as copying this many
 * bytes. */
#define MH_LUA_BYTES_PER_INSTRUCTION 32

typedef struct mh_lua_meter {
  /* Adds cost instructions to the budget of what runs now; raises a Lua
   * error (does not return) once the budget or the wall time is spent. */
  void (*charge)(lua_State *L, uint64_t cost);
  /* True once what runs now was stopped (its stop error is unwinding). */
  bool (*stopping)(lua_State *L);
} mh_lua_meter;

/* Replaces the costly functions of string, table and utf8 (those that are
 * loaded), load and xpcall in L with guarded ones metered by m (which must
 * outlive L). */
void mh_lua_lib_guard_install(lua_State *L, const mh_lua_meter *m);
/* Charges cost through the meter installed in L (none: nothing). */
void mh_lua_charge(lua_State *L, uint64_t cost);

#endif
