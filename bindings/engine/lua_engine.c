/* The Lua engine behind host/call/engine.h (the top layer of bindings/):
 * one lua_State per plugin generation with the plugin API modules of api/
 * assembled into it, under the budget of runtime/lua_budget.c. Calls,
 * waits and the door into Lua are runtime/lua_runtime.c's. */
#include <lualib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/lua_api.h"
#include "moonhost_lua.h"
#include "runtime/lua_runtime.h"

/* The plugin's directory on package.path, and the modules of api/. */
static void install_modules(lua_State *L, const char *plugin_dir) {
  lua_getglobal(L, "package");
  lua_pushfstring(L, "%s/?.lua;%s/?/init.lua", plugin_dir, plugin_dir);
  lua_setfield(L, -2, "path");
  lua_pop(L, 1);
  static const luaL_Reg modules[] = {
      {"moonhost.core", mh_luaopen_core}, {"moonhost.project", mh_luaopen_project}, {"moonhost.call", mh_luaopen_call},
      {"moonhost.state", mh_luaopen_state}, {"moonhost.streaming", mh_luaopen_streaming},
      {"moonhost.process", mh_luaopen_process}, {"moonhost.files", mh_luaopen_files},
      {"moonhost.http", mh_luaopen_http}, {NULL, NULL}};
  mh_lua_preload(L, modules);
}

static mh_engine *engine_create(mh_gen *gen, mh_error **err) {
  mh_engine *e = mh_lua_state_new(gen->plugin->host, gen->plugin->host->cfg->lua.memory_bytes);
  if (!e) {
    *err = mh_error_new(MH_ERR_INTERNAL, "cannot create a Lua state (out of memory)");
    return NULL;
  }
  e->gen = gen;
  e->state = MH_LUA_LOADING;
  e->values.limit = e->mem_limit;
  install_modules(e->L, gen->plugin->dir);
  mh_lua_budget_install(e->L);
  return e;
}

/* ---- loading -------------------------------------------------------- */

/* The plugin's file ran to its end: its handlers may be called. */
static int load_cont(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  mh_engine *e = mh_lua_engine_of(L);
  if (e->state == MH_LUA_LOADING) e->state = MH_LUA_SERVING; /* not if retired meanwhile */
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
  lua_call(L, 1, 1); /* inside the load's coroutine: an error is the load's */
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
  return load_cont(L, LUA_OK, 0);
}

static mh_engine_call *engine_load(mh_engine *e, mh_engine_done done, void *ud) {
  return (mh_engine_call *)mh_lua_start(e, load_body, LUA_NOREF, NULL, NULL, done, ud);
}

/* ---- lifecycle ------------------------------------------------------ */

static void engine_release(mh_engine *e, int handler) { mh_lua_unref(e->L, handler); }

static void engine_retire(mh_engine *e) {
  e->state = MH_LUA_RETIRED;
  mh_lua_watches_stop(e);
  mh_lua_end_streams(e);
}

static void engine_destroy(mh_engine *e) {
  mh_lua_watches_stop(e);
  mh_lua_state_free(e);
}

static size_t engine_memory(mh_engine *e) { return e->mem_used; }

const mh_engine_vt mh_lua_engine = {
  .name = LUA_RELEASE,
  .create = engine_create,
  .load = engine_load,
  .call = mh_lua_call_handler,
  .stream = mh_lua_call_stream,
  .drained = mh_lua_drained,
  .cancel = mh_lua_cancel,
  .release = engine_release,
  .retire = engine_retire,
  .destroy = engine_destroy,
  .memory = engine_memory,
};

const mh_host_parts mh_lua_host_parts = {
  .engine = &mh_lua_engine,
  .eval_config = mh_config_eval_file,
  .run_script = mh_lua_script_main,
};
