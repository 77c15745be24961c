/* moonhost.project: what a plugin sees around it: file watches on ctx.root
 * (ctx.watch), the dev server (ctx.dev_server) and mesh directory changes
 * (ctx.mesh.on('change')). Watches and listeners belong to the plugin
 * generation and stop when it is retired. */
#include <stdlib.h>
#include <string.h>

#include "app/devserver.h"
#include "core/log.h"
#include "mesh/mesh.h"
#include "lua_engine.h"
#include "moonhost_lua.h"
#include "app/watch.h"

#define WATCH_MT "moonhost.watch"

typedef struct lua_watch {
  mh_list link; /* engine->watches */
  mh_engine *e;
  mh_watch *w;
  int cb_ref;
  char **patterns;
} lua_watch;

static void watch_close(lua_watch *lw) {
  if (!lw->w) return;
  mh_watch_stop(lw->w);
  lw->w = NULL;
  mh_list_remove(&lw->link);
  luaL_unref(lw->e->L, LUA_REGISTRYINDEX, lw->cb_ref);
  for (char **p = lw->patterns; p && *p; p++) free(*p);
  free(lw->patterns);
  lw->patterns = NULL;
}

/* A ctx.mesh.on('change', fn) listener: on the same list as the watches,
 * told apart by w == NULL. */
static void on_mesh_change(void *ud, const mh_value *delta);

static void listener_close(lua_watch *lw) {
  mh_mesh_unlisten(lw->e->host, on_mesh_change, lw);
  mh_list_remove(&lw->link);
  luaL_unref(lw->e->L, LUA_REGISTRYINDEX, lw->cb_ref);
  free(lw);
}

void mh_lua_watches_stop(mh_engine *e) {
  mh_list_each_safe(pos, &e->watches) {
    lua_watch *lw = mh_container_of(pos, lua_watch, link);
    if (lw->w)
      watch_close(lw);
    else
      listener_close(lw);
  }
}

static void callback_done(void *ud, mh_value *result, mh_error *err) {
  (void)ud;
  mh_value_free(result);
  mh_error_free(err); /* the engine logged it with its traceback */
}

static const char *kind_name(mh_watch_kind k) {
  return k == MH_WATCH_ADD ? "add" : k == MH_WATCH_UNLINK ? "unlink" : "change";
}

/* Each event runs the callback in its own coroutine, like a handler call,
 * so it may wait (call a client) without blocking the others. */
static void on_files(void *ud, const mh_watch_event *ev, size_t n) {
  lua_watch *lw = ud;
  mh_engine *e = lw->e;
  for (size_t i = 0; i < n && lw->w && !e->retired; i++) {
    mh_value *arg = mh_value_new(MH_V_OBJECT), *args = mh_value_new(MH_V_ARRAY);
    if (!arg || !args) {
      mh_value_free(arg);
      mh_value_free(args);
      return;
    }
    mh_value_obj_set(arg, "path", mh_value_cstring(ev[i].path));
    mh_value_obj_set(arg, "kind", mh_value_cstring(kind_name(ev[i].kind)));
    mh_value_push(args, arg);
    mh_lua_engine.call(e, lw->cb_ref, args, NULL, callback_done, NULL);
  }
}

/* watch(patterns_table, callback) -> handle */
static int l_watch(lua_State *L) {
  mh_engine *e = mh_lua_engine_of(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  if (e->retired) return luaL_error(L, "ctx.watch: this plugin version has been replaced");
  lua_Integer n = (lua_Integer)luaL_len(L, 1);
  lua_watch *lw = lua_newuserdatauv(L, sizeof *lw, 0);
  memset(lw, 0, sizeof *lw);
  lw->e = e;
  lw->cb_ref = LUA_NOREF;
  luaL_setmetatable(L, WATCH_MT);
  lw->patterns = calloc((size_t)n + 1, sizeof *lw->patterns);
  if (!lw->patterns) return luaL_error(L, "out of memory");
  for (lua_Integer i = 1; i <= n; i++) {
    lua_geti(L, 1, i);
    const char *pat = luaL_checkstring(L, -1);
    lw->patterns[i - 1] = strdup(pat);
    lua_pop(L, 1);
  }
  const char *err = NULL;
  mh_watch_opts opts = {.debounce_ms = 30, .patterns = (const char *const *)lw->patterns};
  lw->w = mh_watch_start(e->host->loop, e->host->cfg->root, &opts, on_files, lw, &err);
  if (!lw->w) {
    for (char **p = lw->patterns; *p; p++) free(*p);
    free(lw->patterns);
    lw->patterns = NULL;
    return luaL_error(L, "ctx.watch: cannot watch %s: %s", e->host->cfg->root, err ? err : "error");
  }
  lua_pushvalue(L, 2);
  lw->cb_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  mh_list_insert_tail(&e->watches, &lw->link);
  /* The userdata is kept alive by the registry while the watch runs. */
  lua_pushvalue(L, -1);
  luaL_ref(L, LUA_REGISTRYINDEX);
  return 1;
}

static int l_watch_close(lua_State *L) {
  watch_close(luaL_checkudata(L, 1, WATCH_MT));
  return 0;
}

static void on_mesh_change(void *ud, const mh_value *delta) {
  lua_watch *lw = ud;
  mh_value *args = mh_value_new(MH_V_ARRAY), *copy = mh_value_copy(delta);
  if (!args || !copy || mh_value_push(args, copy)) {
    mh_value_free(args);
    return;
  }
  mh_lua_engine.call(lw->e, lw->cb_ref, args, NULL, callback_done, NULL);
}

/* on_mesh_change(fn): fn({kind='added'|'updated'|'removed', peer={...}}) */
static int l_on_mesh_change(lua_State *L) {
  mh_engine *e = mh_lua_engine_of(L);
  luaL_checktype(L, 1, LUA_TFUNCTION);
  if (e->retired) return luaL_error(L, "ctx.mesh.on: this plugin version has been replaced");
  lua_watch *lw = calloc(1, sizeof *lw);
  if (!lw) return luaL_error(L, "out of memory");
  lw->e = e;
  lua_pushvalue(L, 1);
  lw->cb_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  if (mh_mesh_listen(e->host, on_mesh_change, lw)) {
    luaL_unref(L, LUA_REGISTRYINDEX, lw->cb_ref);
    free(lw);
    return luaL_error(L, "ctx.mesh.on: too many listeners");
  }
  mh_list_insert_tail(&e->watches, &lw->link);
  return 0;
}

/* dev_server() -> {command, pid, running, url} or nil */
static int l_dev_server(lua_State *L) {
  mh_host *h = mh_lua_engine_of(L)->host;
  if (!h->devserver) {
    lua_pushnil(L);
    return 1;
  }
  lua_createtable(L, 0, 4);
  lua_pushstring(L, mh_devserver_command(h->devserver));
  lua_setfield(L, -2, "command");
  lua_pushinteger(L, mh_devserver_pid(h->devserver));
  lua_setfield(L, -2, "pid");
  lua_pushboolean(L, mh_devserver_running(h->devserver));
  lua_setfield(L, -2, "running");
  if (h->cfg->dev_server_url && *h->cfg->dev_server_url) {
    lua_pushstring(L, h->cfg->dev_server_url);
    lua_setfield(L, -2, "url");
  }
  return 1;
}

int mh_luaopen_project(lua_State *L) {
  if (luaL_newmetatable(L, WATCH_MT)) {
    lua_newtable(L);
    lua_pushcfunction(L, l_watch_close);
    lua_setfield(L, -2, "close");
    lua_setfield(L, -2, "__index");
  }
  lua_pop(L, 1);
  static const luaL_Reg fns[] = {
    {"watch", l_watch}, {"dev_server", l_dev_server}, {"on_mesh_change", l_on_mesh_change}, {NULL, NULL}};
  luaL_newlib(L, fns);
  return 1;
}
