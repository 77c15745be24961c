/* The Lua engine behind host/call/engine.h: one lua_State per plugin generation,
 * one coroutine per call, an instruction budget and a memory cap. */
#include "lua_engine.h"

#include <lualib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "embedded.h"
#include "core/log.h"
#include "moonhost_lua.h"
#include "lua_types.h"

char mh_lua_undefined_tag;

mh_engine *mh_lua_engine_of(lua_State *L) { return *(mh_engine **)lua_getextraspace(L); }

/* Counts every byte a plugin holds and refuses to go over its cap. */
static void *counting_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  mh_engine *e = ud;
  size_t old = ptr ? osize : 0;
  if (nsize == 0) {
    free(ptr);
    e->mem_used -= old;
    return NULL;
  }
  if (nsize > old && e->mem_used - old + nsize > e->mem_limit) return NULL;
  void *p = realloc(ptr, nsize);
  if (p) e->mem_used = e->mem_used - old + nsize;
  return p;
}

/* Stops runaway handlers: the count hook and the guarded library functions
 * (lua_lib_guard.h) charge here what the running call or finalizer does.
 * Once over budget every instruction raises again, so a pcall in the
 * handler cannot swallow the stop. */
static void budget_charge(lua_State *L, uint64_t cost) {
  mh_engine *e = mh_lua_engine_of(L);
  /* Only a finalizer's coroutine runs Lua while one is running. */
  if (e->gc.depth > 0) {
    mh_lua_gc_charge(L, e, cost);
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
  if (e->gc.depth > 0) return mh_lua_gc_over_budget(e);
  return e->running && e->running->killed;
}

static const mh_lua_meter budget_meter = {budget_charge, budget_stopping};

void mh_lua_budget_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  budget_charge(L, MH_LUA_HOOK_EVERY);
}

/* package.searchers entry that finds lua/moonhost modules inside the binary. */
static int embedded_searcher(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  for (const mh_embedded_module *m = mh_embedded_modules; m->name; m++) {
    if (strcmp(m->name, name) != 0) continue;
    char chunk[128];
    snprintf(chunk, sizeof chunk, "@%s", m->chunk);
    if (luaL_loadbufferx(L, m->source, m->len, chunk, "t") != LUA_OK) return lua_error(L);
    lua_pushstring(L, m->chunk);
    return 2;
  }
  lua_pushfstring(L, "no module '%s' built into moonhost", name);
  return 1;
}

/* Puts the embedded modules right after package.preload, so the binary's
 * own lua/moonhost wins over any copy on package.path. */
static void add_embedded_searcher(lua_State *L) {
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "searchers");
  for (lua_Integer i = (lua_Integer)luaL_len(L, -1); i >= 2; i--) {
    lua_rawgeti(L, -1, i);
    lua_rawseti(L, -2, i + 1);
  }
  lua_pushcfunction(L, embedded_searcher);
  lua_rawseti(L, -2, 2);
  lua_pop(L, 2);
}

void mh_lua_preload(lua_State *L, const luaL_Reg *modules) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  for (const luaL_Reg *m = modules; m->name; m++) {
    lua_pushcfunction(L, m->func);
    lua_setfield(L, -2, m->name);
  }
  lua_pop(L, 1);
}

static void install_searcher(lua_State *L, const char *plugin_dir) {
  add_embedded_searcher(L);
  lua_getglobal(L, "package");
  lua_pushfstring(L, "%s/?.lua;%s/?/init.lua", plugin_dir, plugin_dir);
  lua_setfield(L, -2, "path");
  lua_pop(L, 1);
  static const luaL_Reg modules[] = {
      {"moonhost.core", mh_luaopen_core}, {"moonhost.project", mh_luaopen_project}, {"moonhost.call", mh_luaopen_call},
      {NULL, NULL}};
  mh_lua_preload(L, modules);
}

/* A state with the standard libraries and the array marker that value
 * conversion needs; plugin engines and the test runner both start here. */
static mh_engine *engine_new(mh_host *host, size_t mem_limit) {
  mh_engine *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  e->host = host;
  e->mem_limit = mem_limit;
  mh_list_init(&e->calls);
  mh_list_init(&e->watches);
  e->L = lua_newstate(counting_alloc, e);
  if (!e->L) {
    free(e);
    return NULL;
  }
  /* Threads copy the main thread's extra space and hook: set both first. */
  *(mh_engine **)lua_getextraspace(e->L) = e;
  luaL_openlibs(e->L);
  lua_newtable(e->L);
  lua_pushliteral(e->L, "array");
  lua_setfield(e->L, -2, "__name");
  e->array_mt_ref = luaL_ref(e->L, LUA_REGISTRYINDEX);
  return e;
}

static mh_engine *lua_create(mh_gen *gen, mh_error **err) {
  mh_engine *e = engine_new(gen->plugin->host, gen->plugin->host->cfg->lua.memory_bytes);
  if (!e) {
    *err = mh_error_new(MH_ERR_INTERNAL, "cannot create a Lua state (out of memory)");
    return NULL;
  }
  e->gen = gen;
  e->value_limit = e->mem_limit;
  install_searcher(e->L, gen->plugin->dir);
  mh_lua_gc_guard_install(e->L);
  mh_lua_lib_guard_install(e->L, &budget_meter);
  lua_sethook(e->L, mh_lua_budget_hook, LUA_MASKCOUNT, MH_LUA_HOOK_EVERY);
  return e;
}

mh_engine *mh_lua_runner_new(mh_host *host) {
  mh_engine *e = engine_new(host, SIZE_MAX);
  if (e) add_embedded_searcher(e->L);
  return e;
}

void mh_lua_runner_free(mh_engine *e) {
  if (!e) return;
  lua_close(e->L);
  free(e);
}

/* ---- calls ---------------------------------------------------------- */

static const char *plugin_name(mh_engine *e) { return e->gen->plugin->name; }

/* The host's own bookkeeping in a plugin's state runs outside any protected
 * call, where an allocation error would be a panic (an abort of the whole
 * host) when the plugin sits at its memory cap. It is the host's memory, so
 * it may go past the plugin's cap: lift_cap ... restore_cap around it. */
static size_t lift_cap(mh_engine *e) {
  size_t limit = e->mem_limit;
  e->mem_limit = SIZE_MAX;
  return limit;
}

static void restore_cap(mh_engine *e, size_t limit) { e->mem_limit = limit; }

/* Reads a failed call's error value (argument 1) on the main thread, in a
 * protected call the caller runs under the call's budget: the value is the
 * plugin's, and its metamethods (__index, __tostring, __name) are plugin
 * code that may raise or loop. Fields are read raw; only a message that is
 * not a string field goes through luaL_tolstring (__tostring, __name).
 * Returns code, message, data, status, and whether it is a moonhost.error. */
static int read_error(lua_State *L) {
  bool table = lua_type(L, 1) == LUA_TTABLE;
  for (int i = 0; i < 4; i++) lua_pushnil(L); /* 2 code, 3 message, 4 data, 5 status */
  bool defined = false;
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
  return 5;
}

/* The data, status and kind read_error left above top (raw reads only). */
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

static mh_error *error_from_lua(mh_lua_call *call, int status) {
  mh_engine *e = call->e;
  lua_State *co = call->co;
  if (call->killed && call->killed_by_time)
    return mh_error_new(MH_ERR_TIMEOUT, "%s: call stopped after running %u ms without waiting (lua.max_run_ms)",
                        plugin_name(e), e->host->cfg->lua.max_run_ms);
  if (call->killed)
    return mh_error_new(MH_ERR_TIMEOUT, "%s: call stopped after %llu instructions (lua.instruction_budget)",
                        plugin_name(e), (unsigned long long)e->host->cfg->lua.instruction_budget);
  if (status == LUA_ERRMEM)
    return mh_error_new(MH_ERR_INTERNAL, "%s: plugin memory limit of %zu bytes reached (lua.memory_bytes)",
                        plugin_name(e), e->mem_limit);
  lua_State *L = e->L;
  int top = lua_gettop(L);
  size_t limit = lift_cap(e); /* unprotected: see lift_cap */
  lua_pushcfunction(L, read_error);
  lua_pushvalue(co, -1);
  lua_xmove(co, L, 1);
  restore_cap(e, limit);
  mh_lua_call *outer = e->running;
  uint64_t outer_at = e->resumed_at;
  e->running = call;
  e->resumed_at = uv_hrtime();
  int rc = lua_pcall(L, 1, 5, 0);
  e->running = outer;
  e->resumed_at = outer_at;
  lua_sethook(L, mh_lua_budget_hook, LUA_MASKCOUNT, MH_LUA_HOOK_EVERY); /* a stop set it to 1 */
  mh_error *err;
  limit = lift_cap(e);
  if (rc != LUA_OK) {
    const char *why = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : luaL_typename(L, -1);
    err = mh_error_new(MH_ERR_INTERNAL, "%s: the call failed, and reading its error value failed too: %s",
                       plugin_name(e), why);
  } else {
    const char *code = lua_tostring(L, top + 1);
    err = mh_error_new(code ? code : MH_ERR_INTERNAL, "%s", lua_tostring(L, top + 2));
    if (!mh_error_is_static(err)) fill_error(e, err, top);
  }
  restore_cap(e, limit);
  lua_settop(L, top);
  return err;
}

static void log_failure(mh_lua_call *call, const mh_error *err) {
  mh_engine *e = call->e;
  if (call->cancelled) return;
  /* The failed call's values are still on its stack: see lift_cap. */
  size_t limit = lift_cap(e);
  luaL_traceback(e->L, call->co, err->message, 0);
  restore_cap(e, limit);
  mh_log_error("plugin", "%s: %s: %s", plugin_name(e), err->code, lua_tostring(e->L, -1));
  lua_pop(e->L, 1);
}

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
  luaL_unref(e->L, LUA_REGISTRYINDEX, call->co_ref);
}

static void take_thread(mh_lua_call *call) {
  mh_engine *e = call->e;
  if (e->nspare > 0) {
    e->nspare--;
    call->co = e->spare[e->nspare].co;
    call->co_ref = e->spare[e->nspare].ref;
    return;
  }
  size_t limit = lift_cap(e); /* unprotected: see lift_cap */
  call->co = lua_newthread(e->L);
  call->co_ref = luaL_ref(e->L, LUA_REGISTRYINDEX);
  restore_cap(e, limit);
}

static void finish_call(mh_lua_call *call, mh_value *result, mh_error *err, bool clean) {
  mh_engine *e = call->e;
  mh_gen *gen = e->gen;
  call->finished = true;
  if (call->finished_flag) *call->finished_flag = true;
  release_thread(call, clean);
  luaL_unref(e->L, LUA_REGISTRYINDEX, call->on_cancel_ref);
  mh_list_remove(&call->link);
  mh_value_free(call->args);
  mh_value_free(call->wake_value);
  mh_error_free(call->wake_err);
  mh_engine_done done = call->done;
  void *ud = call->ud;
  free(call);
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
                        "use moonhost.sleep or the ctx.rpc calls to wait", plugin_name(e)));
    return;
  }
  if (status != LUA_OK) {
    mh_error *err = error_from_lua(call, status);
    if (!call->compile_failed) log_failure(call, err); /* its traceback would be "[C]: in ?" */
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
     * unprotected, see lift_cap. */
    size_t limit = lift_cap(e);
    result = mh_lua_to_value(co, -nres, e->host->cfg->limits.json_max_depth, &why);
    restore_cap(e, limit);
    if (!result) {
      err = mh_error_new(MH_ERR_INTERNAL, "%s: cannot send the result: %s", plugin_name(e), why ? why : "?");
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
    luaL_checkstack(L, (int)call->args->u.arr.len + 1, "too many arguments");
    for (size_t i = 0; i < call->args->u.arr.len; i++, n++) mh_lua_push_value(L, call->args->u.arr.items[i]);
    mh_value_free(call->args);
    call->args = NULL;
  }
  lua_callk(L, n, LUA_MULTRET, 0, body_cont);
  return body_cont(L, LUA_OK, 0);
}

static int load_cont(lua_State *L, int status, lua_KContext ctx) {
  (void)L, (void)status, (void)ctx;
  return 0; /* a load has no result */
}

/* The load's body: run the file, then moonhost.runtime.boot(chunk, info). */
static int load_body(lua_State *L) {
  mh_lua_call *call = lua_touserdata(L, 1);
  mh_engine *e = call->e;
  mh_plugin *p = e->gen->plugin;
  lua_settop(L, 0);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "moonhost.runtime");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "boot");
  if (luaL_loadfilex(L, p->path, "t") != LUA_OK) {
    call->compile_failed = true;
    return lua_error(L);
  }
  lua_createtable(L, 0, 6);
  lua_pushstring(L, p->name);
  lua_setfield(L, -2, "name");
  lua_pushstring(L, p->path);
  lua_setfield(L, -2, "path");
  lua_pushstring(L, e->host->cfg->root);
  lua_setfield(L, -2, "root");
  lua_pushstring(L, e->host->cfg->mode);
  lua_setfield(L, -2, "mode");
  lua_pushinteger(L, e->gen->number);
  lua_setfield(L, -2, "generation");
  const mh_value *conf = mh_value_obj_get(e->host->cfg->plugins, p->name);
  if (conf)
    mh_lua_push_value(L, conf);
  else
    lua_newtable(L);
  lua_setfield(L, -2, "config");
  lua_callk(L, 2, 0, 0, load_cont);
  return 0;
}

static mh_lua_call *start(mh_engine *e, lua_CFunction body, int handler, mh_value *args, const char *caller,
                          mh_engine_done done, void *ud) {
  mh_lua_call *call = malloc(sizeof *call); /* not calloc: see mh_value_alloc */
  if (!call) {
    mh_value_free(args);
    done(ud, NULL, mh_error_new(MH_ERR_INTERNAL, "out of memory"));
    return NULL;
  }
  *call = (mh_lua_call){.e = e, .handler = handler, .args = args, .on_cancel_ref = LUA_NOREF, .done = done, .ud = ud};
  if (caller) {
    size_t n = strnlen(caller, sizeof call->caller - 1);
    memcpy(call->caller, caller, n);
    call->caller[n] = '\0';
  }
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

static void lua_load_plugin(mh_engine *e, mh_engine_done done, void *ud) {
  start(e, load_body, LUA_NOREF, NULL, NULL, done, ud);
}

static mh_engine_call *lua_call_handler(mh_engine *e, int handler, mh_value *args, const char *caller,
                                        mh_engine_done done, void *ud) {
  return (mh_engine_call *)start(e, call_body, handler, args, caller, done, ud);
}

/* The callbacks moonhost.on_cancel registered, newest first; they run on the
 * main thread, not yieldable, each in its own protected call. */
static void run_on_cancel(mh_lua_call *call) {
  lua_State *L = call->e->L;
  if (call->on_cancel_ref == LUA_NOREF) return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, call->on_cancel_ref);
  for (lua_Integer i = (lua_Integer)lua_rawlen(L, -1); i >= 1; i--) {
    lua_rawgeti(L, -1, i);
    if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
      /* Not lua_tostring on a table: that would be NULL (a metamethod is never called here). */
      const char *why = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : luaL_typename(L, -1);
      mh_log_warn("plugin", "%s: an on_cancel callback failed: %s", plugin_name(call->e), why);
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
}

static void lua_cancel(mh_engine_call *c) {
  mh_lua_call *call = (mh_lua_call *)c;
  if (call->e->running == call) {
    /* Cancelling itself from inside its own run: it has not yielded, so
     * there is nothing to stop; its outcome still arrives as usual. */
    mh_log_warn("plugin", "%s: a call tried to cancel itself", plugin_name(call->e));
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
  finish(call, NULL, mh_error_new(MH_ERR_CANCELLED, "call cancelled"));
}

/* ---- waiting -------------------------------------------------------- */

mh_lua_call *mh_lua_require_call(lua_State *L, const char *what) {
  mh_engine *e = mh_lua_engine_of(L);
  mh_lua_call *call = e->running;
  if (!call || call->co != L || !lua_isyieldable(L))
    luaL_error(L, "%s: not allowed in this context (only directly inside a handler or while a plugin loads, "
                  "not in a callback, a nested coroutine or a metamethod)", what);
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

/* ---- lifecycle ------------------------------------------------------ */

static void lua_release(mh_engine *e, int handler) { luaL_unref(e->L, LUA_REGISTRYINDEX, handler); }

static void lua_retire(mh_engine *e) {
  e->retired = true;
  mh_lua_watches_stop(e);
}

static void lua_destroy(mh_engine *e) {
  mh_lua_watches_stop(e);
  lua_close(e->L);
  free(e);
}

static size_t lua_memory(mh_engine *e) { return e->mem_used; }

const mh_engine_vt mh_lua_engine = {
  .name = LUA_RELEASE,
  .create = lua_create,
  .load = lua_load_plugin,
  .call = lua_call_handler,
  .cancel = lua_cancel,
  .release = lua_release,
  .retire = lua_retire,
  .destroy = lua_destroy,
  .memory = lua_memory,
};

const mh_host_parts mh_lua_host_parts = {
  .engine = &mh_lua_engine,
  .eval_config = mh_config_eval_file,
  .run_script = mh_lua_script_main,
};
