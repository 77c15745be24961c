/* The seam between the host and a scripting engine (Lua, in bindings/).
 *
 * The host never includes lua.h: it loads plugins, calls handlers and
 * cancels calls through this table, modelled on Redis functions' engine
 * table. The composition root (main.c) hands the host the table to use
 * (mh_host_parts); bindings/ provides the Lua one. A handler is an engine-specific integer the engine hands to
 * mh_gen_register while a plugin's setup runs. */
#ifndef MH_ENGINE_H
#define MH_ENGINE_H
#include <stddef.h>

#include "core/error.h"
#include "core/value.h"
#include "call/stream.h"

typedef struct mh_gen mh_gen;
typedef struct mh_engine mh_engine;
typedef struct mh_engine_call mh_engine_call;

/* Completion of a load or a call. Exactly one of result/err is non-NULL;
 * the receiver owns both. It may run before `call` or `load` returns (the
 * handler finished without waiting: `call` then returns NULL), so callers
 * must be ready for it at any time after they start the work. */
typedef void (*mh_engine_done)(void *ud, mh_value *result, mh_error *err);

typedef struct mh_engine_vt {
  const char *name;
  /* A fresh engine (one lua_State) for a plugin generation; gen->plugin->path
   * names the file to run. NULL and *err on failure. */
  mh_engine *(*create)(mh_gen *gen, mh_error **err);
  /* Runs the plugin file and its setup(ctx); registrations reach gen through
   * mh_gen_register. done(ud, value, NULL) on success. Returns a handle to
   * stop a setup that waits (cancel), or NULL when it completed already or
   * the engine cannot stop its loads. */
  mh_engine_call *(*load)(mh_engine *e, mh_engine_done done, void *ud);
  /* Calls a handler with positional args (an ARRAY, taken) on behalf of
   * caller (borrowed for the call's start; NULL: the host itself). Returns
   * a handle for cancel, or NULL when it already completed. */
  mh_engine_call *(*call)(mh_engine *e, int handler, mh_value *args, const mh_caller *caller, mh_engine_done done,
                          void *ud);
  /* Calls the handler of a function registered as a stream (call/stream.h):
   * it produces chunks through mh_stream_emit until it ends with done. NULL
   * when the engine has no streams (calls of them are then refused). */
  mh_engine_call *(*stream)(mh_engine *e, int handler, mh_value *args, const mh_stream_call *sc,
                            mh_engine_done done, void *ud);
  /* The reader of a stream call caught up after mh_stream_emit returned
   * true: the producer goes on. */
  void (*drained)(mh_engine_call *c);
  /* Stops a running call: its coroutine is closed and done is called with
   * rpc_cancelled before cancel returns. */
  void (*cancel)(mh_engine_call *c);
  /* Releases a handler id (its function was unregistered). */
  void (*release)(mh_engine *e, int handler);
  /* Stops generation-owned activity (timers, watches) ahead of destroy,
   * and ends its stream calls (their readers get an error): a call finishes
   * on its generation, but a stream need never finish. */
  void (*retire)(mh_engine *e);
  /* Frees the engine. Only called when no call is running on it. */
  void (*destroy)(mh_engine *e);
  size_t (*memory)(mh_engine *e);
} mh_engine_vt;

#endif
