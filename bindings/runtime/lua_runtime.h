/* The runtime under the Lua bindings (bindings/runtime/): a state per plugin
 * generation (or per test runner), a coroutine per call, and the one door
 * into Lua. Not seen by host/.
 *
 * Every handler call runs in its own coroutine. A binding that waits (sleep,
 * calling a client) starts the work, records how to cancel it, and calls
 * mh_lua_await, which yields; the work's completion calls mh_lua_wake,
 * which resumes the coroutine from the loop.
 *
 * Layers of bindings/ (tests/check-layers.mjs), lowest first:
 *   value/    mh_value <-> Lua, nothing else
 *   runtime/  states, calls, the door, budgets (this header)
 *   api/      the Lua modules plugins see (moonhost.core, .call, .project) and conf.d
 *   testing/  the runner of `moonhost test` and `moonhost types`
 *   engine/   the engine vtable, which assembles the modules into a plugin state */
#ifndef MH_LUA_RUNTIME_H
#define MH_LUA_RUNTIME_H
#include <lauxlib.h>
#include <lua.h>
#include <stdbool.h>
#include <stdint.h>

#include "call/engine.h"
#include "call/host.h"
#include "call/plugin.h"
#include "core/list.h"
#include "runtime/lua_budget.h"
#include "value/lua_value.h"

typedef struct mh_lua_call mh_lua_call;

#define MH_LUA_SPARE_THREADS 16

/* Where a state is in its life (the host's side of a generation is in
 * call/plugin.h). */
typedef enum mh_lua_gen_state {
  MH_LUA_RUNNER,  /* no plugin's: `moonhost test`/`types` (gen is NULL) */
  MH_LUA_LOADING, /* the plugin's file runs (moonhost.runtime.boot) */
  MH_LUA_SERVING, /* loaded: the dispatcher calls its handlers */
  MH_LUA_RETIRED, /* replaced or unloaded: running calls finish; no new watches */
} mh_lua_gen_state;

struct mh_engine {
  mh_lua_values values; /* first: value/ finds it through the extra space */
  lua_State *L;
  mh_gen *gen; /* NULL in a runner state */
  mh_host *host;
  mh_lua_gen_state state;
  size_t mem_used, mem_limit;
  mh_lua_call *running; /* the call whose coroutine is executing now */
  uint64_t resumed_at;  /* uv_hrtime() when it was resumed */
  mh_list calls;        /* calls alive on this engine */
  mh_list watches;      /* ctx.watch handles and listeners of this generation (api/lua_project.c) */
  mh_lua_gc_budget gc;  /* what __gc finalizers used (runtime/lua_budget.c) */
  int nrefs;            /* registry references taken with mh_lua_ref and not released */
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
  bool caller_http;   /* it came over HTTP (oRPC, MCP): no client */
  bool caller_trusted; /* that HTTP request's token is ours */
  int on_cancel_ref;  /* table of moonhost.on_cancel callbacks, or LUA_NOREF */
  bool cancelled;
  /* It failed with an answer, not a fault: a moonhost.error or an args
   * schema's bad_request (lua_failure.c); logged without a traceback. */
  bool answered;
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
  /* A stream call (call/stream.h): where emit sends chunks, and where its
   * reader resumes (NULL: from the start). */
  mh_stream *stream;
  char *last_event_id;
  bool draining; /* waiting in emit for its reader to catch up */
};

static inline mh_engine *mh_lua_engine_of(lua_State *L) { return *(void **)lua_getextraspace(L); }

/* The name a state's log lines and errors carry. */
static inline const char *mh_lua_state_name(const mh_engine *e) {
  return e->gen ? e->gen->plugin->name : "test";
}

/* The host's own bookkeeping in a plugin's state runs outside any protected
 * call, where an allocation error would be a panic (an abort of the whole
 * host) when the plugin sits at its memory cap. It is the host's memory, so
 * it may go past the plugin's cap: mh_lua_lift_cap ... mh_lua_restore_cap
 * around it. */
static inline size_t mh_lua_lift_cap(mh_engine *e) {
  size_t limit = e->mem_limit;
  e->mem_limit = SIZE_MAX;
  return limit;
}

static inline void mh_lua_restore_cap(mh_engine *e, size_t limit) { e->mem_limit = limit; }

/* ---- states (lua_state.c) -------------------------------------------- */

/* A state with the standard libraries, the array marker that value
 * conversion needs and the embedded lua/moonhost modules first on the
 * searchers; plugin engines and the test runner both start here. */
mh_engine *mh_lua_state_new(mh_host *host, size_t mem_limit);
/* Closes the state; a registry reference still counted is a leak (logged;
 * fatal in sanitizer builds, MOONHOST_SANITIZE). */
void mh_lua_state_free(mh_engine *e);
/* Registers C modules in package.preload, for `require`. */
void mh_lua_preload(lua_State *L, const luaL_Reg *modules);
/* The one pair for registry references in mh_engine states: counted per
 * state (mh_engine.nrefs), so mh_lua_state_free sees a reference nobody
 * released. mh_lua_ref pops the value on top; LUA_NOREF/LUA_REFNIL are
 * not counted. */
int mh_lua_ref(lua_State *L);
void mh_lua_unref(lua_State *L, int ref);
/* The RPC function a handler serves, for the log lines of its calls: set
 * at registration for the Lua function at idx (a weak-keyed table: it goes
 * with the function); read by the handler's registry reference, NULL when
 * it is no function's (a watch callback, a load). */
void mh_lua_handler_name_set(lua_State *L, int idx, const char *name);
const char *mh_lua_handler_name(lua_State *L, int handler);

/* A state that belongs to no plugin, for `moonhost test` and `moonhost
 * types` (testing/lua_testing.c): values convert as in plugin states and
 * the embedded lua/moonhost modules come first, but it has no generation,
 * no instruction budget and no memory cap (busted runs whole suites on it).
 * package.path keeps Lua's default, so busted and its modules are found. */
mh_engine *mh_lua_runner_new(mh_host *host);
void mh_lua_runner_free(mh_engine *e);

/* ---- the door (lua_door.c) --------------------------------------------
 * Every entry from C into plugin, spec or conf.d code goes through here: a
 * protected call (mh_lua_pcall), or a call's coroutine resumed by
 * lua_runtime.c, whose failures read the same (mh_lua_push_traceback). */

/* lua_pcall of the function below its nargs arguments, with a message
 * handler: on failure the top is always a string, "message\nstack
 * traceback:\n..." (mh_lua_message_len finds where the message ends). A
 * number raised becomes its text, a value with a __tostring what that
 * returns (it runs inside the protected call, under the state's budget),
 * anything else "(error object is a T value)". */
int mh_lua_pcall(lua_State *L, int nargs, int nresults);
/* Pushes onto L: msg, then the traceback of thread co from level. */
void mh_lua_push_traceback(lua_State *L, lua_State *co, const char *msg, int level);
/* Pushes onto L the error value at idx of co as text, with co's traceback:
 * a string as it is, any other value by its type, without running any of
 * its metamethods (for a stack no protected call covers). */
void mh_lua_push_failure(lua_State *L, lua_State *co, int idx, int level);
/* Length of the message at the start of a door's error text (before its
 * traceback), for one-line error replies. */
size_t mh_lua_message_len(const char *text);

/* ---- calls (lua_runtime.c) ------------------------------------------- */

/* Runs body(call) in a coroutine of its own; done(ud, result, err) gets the
 * outcome, maybe before this returns (then it returns NULL). */
mh_lua_call *mh_lua_start(mh_engine *e, lua_CFunction body, int handler, mh_value *args, const mh_caller *caller,
                          mh_engine_done done, void *ud);
/* Calls the function of registry reference handler with args (mh_engine_vt.call). */
mh_engine_call *mh_lua_call_handler(mh_engine *e, int handler, mh_value *args, const mh_caller *caller,
                                    mh_engine_done done, void *ud);
/* Calls a stream function's handler (mh_engine_vt.stream): as
 * mh_lua_call_handler, and moonhost.stream's emit sends to sc->stream. */
mh_engine_call *mh_lua_call_stream(mh_engine *e, int handler, mh_value *args, const mh_stream_call *sc,
                                   mh_engine_done done, void *ud);
/* The reader of a stream caught up (mh_engine_vt.drained): an emit waiting
 * for it returns. */
void mh_lua_drained(mh_engine_call *c);
/* Cancels a call (mh_engine_vt.cancel): its on_cancel callbacks run, then
 * its to-be-closed variables; done gets MH_ERR_CANCELLED. */
void mh_lua_cancel(mh_engine_call *c);

/* Ends the engine's stream calls (a retired generation): each is
 * cancelled, with its cleanups, and its reader is told why. */
void mh_lua_end_streams(mh_engine *e);

/* What a binding needs of the code that calls it (mh_lua_check_context). */
typedef enum mh_lua_need {
  MH_LUA_NEED_LIVE, /* a generation not replaced yet (it opens something the generation owns) */
  MH_LUA_NEED_CALL, /* code running for a call, at any depth (moonhost.caller, on_cancel) */
  MH_LUA_NEED_WAIT, /* a call's own coroutine, able to yield (sleep, ctx.rpc calls) */
} mh_lua_need;

/* The one context check: the running call (NULL for MH_LUA_NEED_LIVE
 * outside any call), or a Lua error "WHAT: not allowed in this context (...)". */
mh_lua_call *mh_lua_check_context(lua_State *L, const char *what, mh_lua_need need);
/* Raises "WHAT: message" with no position: for a binding whose Lua half
 * re-raises it at the plugin's line (moonhost.options.raise). */
int mh_lua_fail(lua_State *L, const char *what, const char *fmt, ...);
/* Yields until mh_lua_wake; then returns (true, value) or (false, error). */
int mh_lua_await(lua_State *L, mh_lua_call *call, void (*cancel)(void *op), void *op);
/* Completes the awaited operation (value and err owned; one is NULL). */
void mh_lua_wake(mh_lua_call *call, mh_value *value, mh_error *err);

/* ---- what a failed call becomes (lua_failure.c) ----------------------- */

/* The error the caller of a failed call gets (status of lua_resume). */
mh_error *mh_lua_call_error(mh_lua_call *call, int status);
/* Logs a failed call's error with its coroutine's traceback. */
void mh_lua_log_failure(mh_lua_call *call, const mh_error *err);

#endif
