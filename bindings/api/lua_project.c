/* moonhost.project: what a plugin sees around it: file watches on ctx.root
 * (ctx.watch), the dev server (ctx.dev_server) and mesh directory changes
 * (ctx.mesh.on('change')). Watches and listeners belong to the plugin
 * generation and stop when it is retired. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "app/devserver.h"
#include "core/log.h"
#include "mesh/mesh.h"
#include "api/lua_api.h"
#include "app/watch.h"

#define WATCH_MT "moonhost.watch"

/* A ctx.watch: C memory owned by the generation, as luv's handles are. The
 * Lua handle is a userdata holding a pointer to it (box), so it may be
 * collected while the watch goes on (a plugin need not keep the handle);
 * whichever goes first clears the other's pointer. */
typedef struct watch_handle {
  gen_resource res;
  mh_engine *e;
  mh_watch *w;
  int cb_ref;
  char **patterns;
  struct watch_handle **box; /* the handle's pointer to us, or NULL once collected */
} watch_handle;

static void free_patterns(char **patterns) {
  for (char **p = patterns; p && *p; p++) free(*p);
  free(patterns);
}

static void watch_close(gen_resource *r) {
  watch_handle *lw = (watch_handle *)r;
  mh_watch_stop(lw->w);
  mh_list_remove(&lw->res.link);
  mh_lua_unref(lw->e->L, lw->cb_ref);
  free_patterns(lw->patterns);
  if (lw->box) *lw->box = NULL;
  free(lw);
}

/* A ctx.mesh.on('change', fn) listener. */
typedef struct mesh_listener {
  gen_resource res;
  mh_engine *e;
  int cb_ref;
} mesh_listener;

static void on_mesh_change(void *ud, const mh_value *delta);

static void listener_close(gen_resource *r) {
  mesh_listener *ml = (mesh_listener *)r;
  mh_mesh_unlisten(ml->e->host, on_mesh_change, ml);
  mh_list_remove(&ml->res.link);
  mh_lua_unref(ml->e->L, ml->cb_ref);
  free(ml);
}

void mh_lua_watches_stop(mh_engine *e) {
  mh_list_each_safe(pos, &e->watches) {
    gen_resource *r = mh_container_of(pos, gen_resource, link);
    r->close(r);
  }
}

void mh_lua_callback_done(void *ud, mh_value *result, mh_error *err) {
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
  watch_handle *lw = ud;
  mh_engine *e = lw->e;
  for (size_t i = 0; i < n && e->state != MH_LUA_RETIRED; i++) {
    mh_value *arg = mh_value_new(MH_V_OBJECT), *args = mh_value_new(MH_V_ARRAY);
    if (!arg || !args) {
      mh_value_free(arg);
      mh_value_free(args);
      return;
    }
    mh_value_obj_set(arg, "path", mh_value_cstring(ev[i].path));
    mh_value_obj_set(arg, "kind", mh_value_cstring(kind_name(ev[i].kind)));
    mh_value_push(args, arg);
    mh_lua_call_handler(e, lw->cb_ref, args, NULL, mh_lua_callback_done, NULL);
  }
}

/* watch(patterns_table, callback) -> handle */
static int l_watch(lua_State *L) {
  mh_engine *e = mh_lua_engine_of(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  mh_lua_check_context(L, "ctx.watch", MH_LUA_NEED_LIVE);
  lua_Integer n = (lua_Integer)luaL_len(L, 1);
  for (lua_Integer i = 1; i <= n; i++) { /* checked before anything is allocated: errors leak nothing */
    lua_geti(L, 1, i);
    luaL_checkstring(L, -1);
    lua_pop(L, 1);
  }
  watch_handle **box = lua_newuserdatauv(L, sizeof *box, 0);
  *box = NULL;
  luaL_setmetatable(L, WATCH_MT);
  watch_handle *lw = calloc(1, sizeof *lw);
  char **patterns = calloc((size_t)n + 1, sizeof *patterns);
  bool ok = lw && patterns;
  for (lua_Integer i = 1; ok && i <= n; i++) {
    lua_geti(L, 1, i);
    ok = (patterns[i - 1] = strdup(lua_tostring(L, -1))) != NULL;
    lua_pop(L, 1);
  }
  const char *err = "out of memory";
  mh_watch_opts opts = {.debounce_ms = 30, .patterns = (const char *const *)patterns};
  mh_watch *w = ok ? mh_watch_start(e->host->loop, e->host->cfg->root, &opts, on_files, lw, &err) : NULL;
  if (!w) {
    free(lw);
    free_patterns(patterns);
    return luaL_error(L, "ctx.watch: cannot watch %s: %s", e->host->cfg->root, err ? err : "error");
  }
  *lw = (watch_handle){.res.close = watch_close, .e = e, .w = w, .patterns = patterns, .box = box};
  lua_pushvalue(L, 2);
  lw->cb_ref = mh_lua_ref(L);
  mh_list_insert_tail(&e->watches, &lw->res.link);
  *box = lw;
  return 1;
}

/* handle:close(): stops the watch (again: nothing). */
static int l_watch_close(lua_State *L) {
  watch_handle **box = luaL_checkudata(L, 1, WATCH_MT);
  if (*box) watch_close(&(*box)->res);
  return 0;
}

/* The handle is collected: the watch goes on, owned by its generation. */
static int l_watch_gc(lua_State *L) {
  watch_handle **box = luaL_checkudata(L, 1, WATCH_MT);
  if (*box) (*box)->box = NULL;
  return 0;
}

static void on_mesh_change(void *ud, const mh_value *delta) {
  mesh_listener *lw = ud;
  mh_value *args = mh_value_new(MH_V_ARRAY), *copy = mh_value_copy(delta);
  if (!args || !copy || mh_value_push(args, copy)) {
    mh_value_free(args);
    return;
  }
  mh_lua_call_handler(lw->e, lw->cb_ref, args, NULL, mh_lua_callback_done, NULL);
}

/* on_mesh_change(fn): fn({kind='added'|'updated'|'removed', peer={...}}) */
static int l_on_mesh_change(lua_State *L) {
  mh_engine *e = mh_lua_engine_of(L);
  luaL_checktype(L, 1, LUA_TFUNCTION);
  mh_lua_check_context(L, "ctx.mesh.on", MH_LUA_NEED_LIVE);
  mesh_listener *ml = calloc(1, sizeof *ml);
  if (!ml) return luaL_error(L, "out of memory");
  if (mh_mesh_listen(e->host, on_mesh_change, ml)) {
    free(ml);
    return luaL_error(L, "ctx.mesh.on: too many listeners");
  }
  *ml = (mesh_listener){.res.close = listener_close, .e = e};
  lua_pushvalue(L, 1);
  ml->cb_ref = mh_lua_ref(L);
  mh_list_insert_tail(&e->watches, &ml->res.link);
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
    lua_pushcfunction(L, l_watch_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  static const luaL_Reg fns[] = {
    {"watch", l_watch}, {"dev_server", l_dev_server}, {"on_mesh_change", l_on_mesh_change}, {NULL, NULL}};
  luaL_newlib(L, fns);
  return 1;
}
