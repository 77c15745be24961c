/* Calls (see lua_runtime.h): each runs in a coroutine of its own, resumed
 * here and only here (the resume door); a wait yields in mh_lua_await and
 * mh_lua_wake resumes it from the loop. Cancelling runs the call's
 * on_cancel callbacks through the door (mh_lua_pcall). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/small_alloc.h"
#include "runtime/lua_runtime.h"

/* Keeps the coroutine of a call that returned normally (its stack is empty,
 * nothing is pending on it) for a later call; otherwise lets it go. */
static void release_thread(mh_lua_call *call, bool clean) {
  mh_engine *e = call->e;
  if (clean && !call->killed && e->nspare < MH_LUA_SPARE_THREADS && lua_status(call->co) == LUA_OK &&
      lua_gettop(call->co) == 0) {
    e->spare[e->nspare].co = call->co;
    e->spare[e->nspare].ref = call->co_ref;
    e->nspare++;
    return;
  }
  mh_lua_unref(e->L, call->co_ref);
}

static void take_thread(mh_lua_call *call) {
  mh_engine *e = call->e;
  if (e->nspare > 0) {
    e->nspare--;
    call->co = e->spare[e->nspare].co;
    call->co_ref = e->spare[e->nspare].ref;
    return;
  }
  size_t limit = mh_lua_lift_cap(e); /* unprotected: see mh_lua_lift_cap */
  call->co = lua_newthread(e->L);
  call->co_ref = mh_lua_ref(e->L);
  mh_lua_restore_cap(e, limit);
}

static void finish_call(mh_lua_call *call, mh_value *result, mh_error *err, bool clean) {
  mh_engine *e = call->e;
  mh_gen *gen = e->gen;
  call->finished = true;
  if (call->finished_flag) *call->finished_flag = true;
  release_thread(call, clean);
  mh_lua_unref(e->L, call->on_cancel_ref);
  mh_list_remove(&call->link);
  mh_value_free(call->args);
  free(call->last_event_id);
  mh_value_free(call->wake_value);
  mh_error_free(call->wake_err);
  mh_engine_done done = call->done;
  void *ud = call->ud;
  mh_small_free(call);
  done(ud, result, err);
  mh_gen_unref(gen); /* may destroy the engine: last */
}

static void finish(mh_lua_call *call, mh_value *result, mh_error *err) { finish_call(call, result, err, false); }

static void resume(mh_lua_call *call, int nargs) {
  mh_engine *e = call->e;
  lua_State *co = call->co;
  mh_lua_call *outer = e->running;
  int nres = 0;
  uint64_t outer_started = e->resumed_at;
  e->running = call;
  e->resumed_at = uv_hrtime();
  int status = lua_resume(co, NULL, nargs, &nres);
  e->resumed_at = outer_started;
  e->running = outer;
  if (status == LUA_YIELD) {
    if (call->suspended) return; /* waiting in mh_lua_await */
    lua_resetthread(co);
    finish(call, NULL,
           mh_error_new(MH_ERR_INTERNAL, "%s: coroutine.yield() at the top of a handler is not supported; "
                        "use moonhost.sleep or the ctx.rpc calls to wait", mh_lua_state_name(e)));
    return;
  }
  if (status != LUA_OK) {
    mh_error *err = mh_lua_call_error(call, status);
    if (!call->compile_failed) mh_lua_log_failure(call, err); /* its traceback would be "[C]: in ?" */
    lua_resetthread(co);
    finish(call, NULL, err);
    return;
  }
  mh_value *result;
  mh_error *err = NULL;
  if (nres == 0) {
    result = mh_value_undefined();
  } else {
    char *why = NULL;
    /* Raw reads only, but a key pushed to look up a field may allocate:
     * unprotected, see mh_lua_lift_cap. */
    size_t limit = mh_lua_lift_cap(e);
    result = mh_lua_to_value(co, -nres, e->host->cfg->limits.json_max_depth, &why);
    mh_lua_restore_cap(e, limit);
    if (!result) {
      err = mh_error_new(MH_ERR_INTERNAL, "%s: cannot send the result: %s", mh_lua_state_name(e), why ? why : "?");
      mh_log_error("plugin", "%s", err->message);
    }
    free(why);
  }
  lua_settop(co, 0);
  finish_call(call, result, err, true);
}

static int body_cont(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  return lua_gettop(L);
}

/* The coroutine's body: converting the arguments here means a failure to
 * convert is an error of this call, not of the host. */
static int call_body(lua_State *L) {
  mh_lua_call *call = lua_touserdata(L, 1);
  lua_settop(L, 0);
  lua_rawgeti(L, LUA_REGISTRYINDEX, call->handler);
  int n = 0;
  if (call->args) {
    n = mh_lua_push_args(L, call->args);
    mh_value_free(call->args);
    call->args = NULL;
  }
  lua_callk(L, n, LUA_MULTRET, 0, body_cont);
  return body_cont(L, LUA_OK, 0);
}

static mh_lua_call *start_call(mh_engine *e, lua_CFunction body, int handler, mh_value *args, const mh_caller *caller,
                               const mh_stream_call *sc, mh_engine_done done, void *ud) {
  mh_lua_call *call = mh_small_alloc(sizeof *call); /* as each call's values: small_alloc.h */
  char *leid = sc && sc->last_event_id ? strdup(sc->last_event_id) : NULL;
  if (!call || (sc && sc->last_event_id && !leid)) {
    mh_small_free(call);
    mh_value_free(args);
    done(ud, NULL, mh_error_new(MH_ERR_INTERNAL, "out of memory"));
    return NULL;
  }
  *call = (mh_lua_call){.e = e, .handler = handler, .args = args, .on_cancel_ref = LUA_NOREF, .done = done, .ud = ud,
                        .stream = sc ? sc->stream : NULL, .last_event_id = leid};
  if (caller && caller->id) {
    size_t n = strnlen(caller->id, sizeof call->caller - 1);
    memcpy(call->caller, caller->id, n);
    call->caller[n] = '\0';
  }
  call->caller_http = caller && caller->http;
  call->caller_trusted = caller && caller->trusted;
  take_thread(call);
  mh_list_insert_tail(&e->calls, &call->link);
  mh_gen_ref(e->gen);
  lua_pushcfunction(call->co, body);
  lua_pushlightuserdata(call->co, call);
  bool finished = false;
  call->finished_flag = &finished;
  resume(call, 1);
  if (finished) return NULL; /* it completed and was freed already */
  call->finished_flag = NULL;
  return call;
}

mh_lua_call *mh_lua_start(mh_engine *e, lua_CFunction body, int handler, mh_value *args, const mh_caller *caller,
                          mh_engine_done done, void *ud) {
  return start_call(e, body, handler, args, caller, NULL, done, ud);
}

mh_engine_call *mh_lua_call_stream(mh_engine *e, int handler, mh_value *args, const mh_stream_call *sc,
                                   mh_engine_done done, void *ud) {
  return (mh_engine_call *)start_call(e, call_body, handler, args, sc->caller, sc, done, ud);
}

void mh_lua_drained(mh_engine_call *c) {
  mh_lua_call *call = (mh_lua_call *)c;
  if (!call->draining) return;
  call->draining = false;
  mh_lua_wake(call, NULL, NULL);
}

mh_engine_call *mh_lua_call_handler(mh_engine *e, int handler, mh_value *args, const mh_caller *caller,
                                    mh_engine_done done, void *ud) {
  return (mh_engine_call *)mh_lua_start(e, call_body, handler, args, caller, done, ud);
}

/* The callbacks moonhost.on_cancel registered, newest first; they run on the
 * main thread, not yieldable, each in its own protected call. */
static void run_on_cancel(mh_lua_call *call) {
  lua_State *L = call->e->L;
  if (call->on_cancel_ref == LUA_NOREF) return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, call->on_cancel_ref);
  for (lua_Integer i = (lua_Integer)lua_rawlen(L, -1); i >= 1; i--) {
    lua_rawgeti(L, -1, i);
    if (mh_lua_pcall(L, 0, 0) != LUA_OK) {
      mh_log_warn("plugin", "%s: an on_cancel callback failed: %s", mh_lua_state_name(call->e), lua_tostring(L, -1));
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
}

/* Stops a call (see mh_lua_cancel); err is what its caller gets. */
static void cancel_with(mh_lua_call *call, mh_error *err) {
  if (call->e->running == call) {
    /* Cancelling itself from inside its own run: it has not yielded, so
     * there is nothing to stop; its outcome still arrives as usual. */
    mh_log_warn("plugin", "%s: a call tried to cancel itself", mh_lua_state_name(call->e));
    mh_error_free(err);
    return;
  }
  call->cancelled = true;
  if (call->cancel_wait) call->cancel_wait(call->wait_op);
  call->cancel_wait = NULL;
  /* The on_cancel callbacks and the handler's to-be-closed variables are
   * plugin code too: they run as this call, so the budget hook counts them
   * against its budget and stops a runaway one (a stopped callback is
   * logged; a stopped __close ends the unwinding). */
  mh_engine *e = call->e;
  mh_lua_call *outer = e->running;
  uint64_t outer_at = e->resumed_at;
  e->running = call;
  e->resumed_at = uv_hrtime();
  run_on_cancel(call);
  lua_resetthread(call->co); /* runs the handler's to-be-closed variables */
  e->running = outer;
  e->resumed_at = outer_at;
  /* A stop leaves the hook firing on every instruction of the thread it
   * stopped; the main thread (on_cancel runs there) gets its normal rate
   * back. The call's own coroutine is not reused after a cancel. */
  lua_sethook(e->L, mh_lua_budget_hook, LUA_MASKCOUNT, MH_LUA_HOOK_EVERY);
  finish(call, NULL, err);
}

void mh_lua_cancel(mh_engine_call *c) {
  cancel_with((mh_lua_call *)c, mh_error_new(MH_ERR_CANCELLED, "call cancelled"));
}

/* A call finishes on the generation that started it, but a stream may
 * never finish (a log tail): it would keep a replaced version of the plugin
 * alive for as long as its reader reads. So the version's end ends its
 * streams, with their on_cancel cleanups, and tells the readers why; a
 * reader that resumes (oRPC's ClientRetryPlugin, with Last-Event-ID) goes
 * on with the current version. */
void mh_lua_end_streams(mh_engine *e) {
  for (;;) {
    mh_lua_call *found = NULL;
    mh_list_each(pos, &e->calls) {
      mh_lua_call *call = mh_container_of(pos, mh_lua_call, link);
      if (call->stream && e->running != call) {
        found = call;
        break;
      }
    }
    if (!found) return;
    mh_log_info("plugin", "%s: a stream ends with this version of the plugin", mh_lua_state_name(e));
    cancel_with(found, mh_error_new(MH_ERR_CANCELLED,
                                    "%s: the stream ended: this version of the plugin was replaced or unloaded; "
                                    "call again (with Last-Event-ID to resume)",
                                    mh_lua_state_name(e)));
  }
}

/* ---- waiting -------------------------------------------------------- */

/* One message for every binding used where it cannot work: WHAT, then why. */
static const char *const needs[] = {
  [MH_LUA_NEED_LIVE] = "this plugin version has been replaced",
  [MH_LUA_NEED_CALL] = "only while a handler runs or a plugin loads",
  [MH_LUA_NEED_WAIT] = ("only directly inside a handler or while a plugin loads, "
                        "not in a callback, a nested coroutine or a metamethod"),
};

mh_lua_call *mh_lua_check_context(lua_State *L, const char *what, mh_lua_need need) {
  mh_engine *e = mh_lua_engine_of(L);
  mh_lua_call *call = e->running;
  bool ok;
  switch (need) {
  case MH_LUA_NEED_LIVE: ok = e->state != MH_LUA_RETIRED; break;
  case MH_LUA_NEED_CALL: ok = call != NULL; break;
  default: ok = call && call->co == L && lua_isyieldable(L); break;
  }
  if (!ok) luaL_error(L, "%s: not allowed in this context (%s)", what, needs[need]);
  return call;
}

static int push_outcome(lua_State *L, mh_lua_call *call) {
  mh_value *v = call->wake_value;
  mh_error *err = call->wake_err;
  call->wake_value = NULL;
  call->wake_err = NULL;
  call->woke = false;
  if (err) {
    lua_pushboolean(L, 0);
    mh_lua_push_error(L, err);
    mh_error_free(err);
    return 2;
  }
  lua_pushboolean(L, 1);
  if (v) {
    mh_lua_push_value(L, v);
    mh_value_free(v);
  } else {
    lua_pushnil(L);
  }
  return 2;
}

static int await_cont(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  return push_outcome(L, (mh_lua_call *)ctx);
}

int mh_lua_await(lua_State *L, mh_lua_call *call, void (*cancel)(void *op), void *op) {
  if (call->woke) return push_outcome(L, call); /* finished while starting */
  call->cancel_wait = cancel;
  call->wait_op = op;
  call->suspended = true;
  return lua_yieldk(L, 0, (lua_KContext)call, await_cont);
}

void mh_lua_wake(mh_lua_call *call, mh_value *value, mh_error *err) {
  call->woke = true;
  call->wake_value = value;
  call->wake_err = err;
  call->cancel_wait = NULL;
  call->wait_op = NULL;
  if (!call->suspended) return; /* still inside the binding that started the wait */
  call->suspended = false;
  resume(call, 0);
}

int mh_lua_fail(lua_State *L, const char *what, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  lua_pushfstring(L, "%s: ", what);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  lua_concat(L, 2);
  return lua_error(L);
}
