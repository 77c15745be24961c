/* Internals shared by the Lua bindings (not seen by host/).
 *
 * Every handler call runs in its own coroutine. A binding that waits (sleep,
 * calling a client) starts the work, records how to cancel it, and calls
 * mh_lua_await, which yields; the work's completion calls mh_lua_wake,
 * which resumes the coroutine from the loop. */
#ifndef MH_LUA_ENGINE_H
#define MH_LUA_ENGINE_H
#include <lauxlib.h>
#include <lua.h>
#include <stdbool.h>

#include "call/engine.h"
#include "call/host.h"
#include "core/list.h"
#include "lua_gc_guard.h"
#include "call/plugin.h"
#include "lua_lib_guard.h"

typedef struct mh_lua_call mh_lua_call;

#define MH_LUA_SPARE_THREADS 16
#define MH_LUA_HOOK_EVERY 1000 /* instructions between two runs of the budget hook */

struct mh_engine {
  lua_State *L;
  mh_gen *gen;
  mh_host *host;
  size_t mem_used, mem_limit;
  /* Bytes a value converted from this state may take as mh_values (0: no
   * limit): shared subtables are copied for every use, so a small table
   * can stand for an exponentially large value (lua_value.c). */
  size_t value_limit;
  mh_lua_call *running; /* the call whose coroutine is executing now */
  uint64_t resumed_at;  /* uv_hrtime() when it was resumed */
  mh_list calls;        /* calls alive on this engine */
  bool retired;
  int array_mt_ref;     /* metatable that marks a table as a JSON array */
  mh_list watches;      /* ctx.watch handles of this generation (lua_project.c) */
  mh_lua_gc_budget gc;  /* what __gc finalizers used (lua_gc_guard.c) */
  /* Coroutines of calls that returned normally, kept for the next calls:
   * a fresh lua_newthread plus its registry reference and its later
   * collection cost more than the rest of a small call's Lua side. */
  struct {
    lua_State *co;
    int ref;
  } spare[MH_LUA_SPARE_THREADS];
  int nspare;
};

struct mh_lua_call {
  mh_list link;
  mh_engine *e;
  lua_State *co;
  int co_ref;
  int handler;
  mh_value *args; /* handed to the coroutine on its first resume */
  mh_engine_done done;
  void *ud;
  uint64_t instructions;
  bool killed;     /* over budget: every further instruction raises */
  bool killed_by_time;
  char caller[24];    /* id of the client that started the call ("" if none) */
  int on_cancel_ref;  /* table of moonhost.on_cancel callbacks, or LUA_NOREF */
  bool cancelled;
  bool compile_failed; /* a load whose file does not compile: plugin.c logs it, once */
  bool finished;
  bool *finished_flag; /* set while `start` runs, to learn of a synchronous finish */
  /* The operation the coroutine waits on. */
  bool suspended;  /* yielded in mh_lua_await */
  bool woke;       /* the operation finished; outcome below */
  mh_value *wake_value;
  mh_error *wake_err;
  void (*cancel_wait)(void *op);
  void *wait_op;
};

/* Sentinels pushed for JavaScript null and undefined inside containers. */
#define MH_LUA_NULL NULL
extern char mh_lua_undefined_tag;
#define MH_LUA_UNDEFINED ((void *)&mh_lua_undefined_tag)

mh_engine *mh_lua_engine_of(lua_State *L);
/* The count hook of plugin states: stops calls and finalizers over budget. */
void mh_lua_budget_hook(lua_State *L, lua_Debug *ar);
/* Registers C modules in package.preload, for `require`. */
void mh_lua_preload(lua_State *L, const luaL_Reg *modules);
/* The call running on coroutine L, or a Lua error naming `what` when L is not
 * a handler's own coroutine (a yielding call is not allowed there). */
mh_lua_call *mh_lua_require_call(lua_State *L, const char *what);
/* Yields until mh_lua_wake; then returns (true, value) or (false, error). */
int mh_lua_await(lua_State *L, mh_lua_call *call, void (*cancel)(void *op), void *op);
/* Completes the awaited operation (value and err owned; one is NULL). */
void mh_lua_wake(mh_lua_call *call, mh_value *value, mh_error *err);

/* Value conversion (lua_value.c). */
/* Pushes v; nested null/undefined become the sentinels, top-level ones nil. */
void mh_lua_push_value(lua_State *L, const mh_value *v);
void mh_lua_push_nested(lua_State *L, const mh_value *v);
/* Converts the value at idx; NULL and *err (message with the path) on failure. */
mh_value *mh_lua_to_value(lua_State *L, int idx, int max_depth, char **err);
/* Pushes an error as a table {code=, message=, name=, data=} with a __tostring. */
void mh_lua_push_error(lua_State *L, const mh_error *err);

/* moonhost.core, the C half of the plugin API (lua_core.c). */
int mh_luaopen_core(lua_State *L);
/* moonhost.project: ctx.watch and ctx.dev_server (lua_project.c). */
int mh_luaopen_project(lua_State *L);
void mh_lua_watches_stop(mh_engine *e);
/* moonhost.call: caller() and on_cancel() (lua_call.c). */
int mh_luaopen_call(lua_State *L);

/* A state that belongs to no plugin, for `moonhost test` and `moonhost
 * types` (lua_testing.c): values convert as in plugin states and the
 * embedded lua/moonhost modules come first, but it has no generation, no
 * instruction budget and no memory cap (busted runs whole suites on it).
 * package.path keeps Lua's default, so busted and its modules are found. */
mh_engine *mh_lua_runner_new(mh_host *host);
void mh_lua_runner_free(mh_engine *e);

#endif
