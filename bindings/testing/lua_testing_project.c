/* The project a spec's plugins live in (part of moonhost.testing.core, see
 * lua_testing.c): loading and unloading plugins as real generations, their
 * ctx.config, ctx.root and ctx.dev_server, and temporary directories.
 * What a spec changes is put back by testing.reset (conf.d's settings are
 * kept here to restore them). */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "app/devserver.h"
#include "core/path_abs.h"
#include "testing/lua_testing.h"

#define MAX_TMPDIRS 64

static struct project {
  mh_host *host;
  mh_value *plugins0; /* cfg->plugins as conf.d made it, to restore per plugin */
  char *url0;         /* cfg->dev_server_url as it was */
  char *tmpdirs[MAX_TMPDIRS];
  int ntmp;
} P;

static int max_depth(void) { return P.host->cfg->limits.json_max_depth; }

static void load_done(mh_plugin *p, const mh_error *err, void *ud) {
  mh_test_op *op = ud;
  if (op->orphaned) {
    free(op);
    return;
  }
  op->done = true;
  if (err)
    op->err = mh_error_copy(err);
  else
    op->value = mh_value_int(p->current ? p->current->number : 0);
}

static int l_load(lua_State *L) {
  const char *name = luaL_checkstring(L, 1), *path = luaL_checkstring(L, 2), *dir = luaL_checkstring(L, 3);
  mh_plugin *p = mh_plugin_get(P.host, name, path, dir);
  if (!p) return luaL_error(L, "out of memory");
  mh_test_op *op = mh_lua_testing_push_op(L, true);
  mh_plugin_load(p, load_done, op);
  return 1;
}

/* Cancels the calls still running on the plugin's current generation (a
 * client's event that sleeps, say), as if their callers went away: a spec
 * that ends must not leave work that keeps the loop, and the process, alive. */
static void cancel_calls(mh_plugin *p) {
  if (!p->current || !p->current->engine) return;
  mh_engine *e = p->current->engine; /* p->current keeps it alive meanwhile */
  while (!mh_list_empty(&e->calls)) {
    mh_lua_call *call = mh_container_of(e->calls.next, mh_lua_call, link);
    if (call == e->running) break; /* cannot happen from the runner; never loop on it */
    mh_lua_cancel((mh_engine_call *)call);
  }
}

void mh_lua_testing_cancel_all(void) {
  if (!P.host) return;
  mh_list_each(pos, &P.host->plugins) cancel_calls(mh_container_of(pos, mh_plugin, link));
}

static int l_cancel_calls(lua_State *L) {
  mh_plugin *p = mh_plugin_find(P.host, luaL_checkstring(L, 1));
  if (p) cancel_calls(p);
  return 0;
}

static int l_unload(lua_State *L) {
  mh_plugin *p = mh_plugin_find(P.host, luaL_checkstring(L, 1));
  if (p) mh_plugin_unload(p);
  return 0;
}

/* set_config(name, value): ctx.config of the plugin's next load; nil puts
 * back what conf.d said. */
static int l_set_config(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  mh_value *v;
  if (lua_isnoneornil(L, 2)) {
    const mh_value *was = P.plugins0 ? mh_value_obj_get(P.plugins0, name) : NULL;
    v = was ? mh_value_copy(was) : mh_value_new(MH_V_OBJECT);
  } else {
    luaL_checktype(L, 2, LUA_TTABLE);
    char *why = NULL;
    v = mh_lua_to_value(L, 2, max_depth(), &why);
    if (!v) {
      lua_pushfstring(L, "moonhost.testing: config cannot be used: %s", why ? why : "out of memory");
      free(why);
      return lua_error(L);
    }
  }
  if (mh_value_obj_set(P.host->cfg->plugins, name, v)) return luaL_error(L, "out of memory");
  return 0;
}

/* Calls moonhost.runtime[fn]() in the plugin's state (through the door:
 * it is the plugin's code) and pushes what it returned, converted; nothing
 * when the plugin has no state. A Lua error "PLUGIN: cannot WHAT: why". */
static int from_runtime(lua_State *L, const char *fn, const char *what) {
  mh_plugin *p = mh_plugin_find(P.host, luaL_checkstring(L, 1));
  if (!p || !p->current || !p->current->engine) return 0;
  lua_State *PL = p->current->engine->L;
  int top = lua_gettop(PL);
  lua_getglobal(PL, "package");
  lua_getfield(PL, -1, "loaded");
  lua_getfield(PL, -1, "moonhost.runtime");
  if (!lua_istable(PL, -1)) {
    lua_settop(PL, top);
    return 0;
  }
  lua_getfield(PL, -1, fn);
  mh_value *v = NULL;
  char *why = NULL;
  if (mh_lua_pcall(PL, 0, 1) == LUA_OK)
    v = mh_lua_to_value(PL, -1, max_depth(), &why);
  else
    why = strdup(lua_tostring(PL, -1));
  lua_settop(PL, top);
  if (!v) {
    lua_pushfstring(L, "%s: cannot %s: %s", p->name, what, why ? why : "out of memory");
    free(why);
    return lua_error(L);
  }
  mh_lua_push_value(L, v);
  mh_value_free(v);
  return 1;
}

/* The plugin's own account of what it registered (moonhost.runtime.describe),
 * for `moonhost types`. */
static int l_describe(lua_State *L) { return from_runtime(L, "describe", "describe the plugin"); }

/* What `moonhost build` dumps of the plugin (moonhost.runtime.dump_plan):
 * its dump functions run here. */
static int l_dump_plan(lua_State *L) { return from_runtime(L, "dump_plan", "plan its static build"); }

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* plugin_entries(dir) -> { {name=, path=, dir=}, ... } sorted, as `run` finds them. */
static int l_plugin_entries(lua_State *L) {
  const char *dir = luaL_checkstring(L, 1);
  lua_newtable(L);
  DIR *d = opendir(dir);
  if (!d) return 1;
  char *names[1024];
  size_t n = 0;
  for (struct dirent *de; (de = readdir(d)) && n < 1024;)
    if (de->d_name[0] != '.' && (names[n] = strdup(de->d_name))) n++;
  closedir(d);
  qsort(names, n, sizeof *names, by_name);
  lua_Integer k = 0;
  for (size_t i = 0; i < n; i++) {
    char name[256], path[4096], pdir[4096];
    if (mh_plugin_entry(dir, names[i], name, sizeof name, path, sizeof path, pdir, sizeof pdir)) {
      lua_createtable(L, 0, 3);
      lua_pushstring(L, name);
      lua_setfield(L, -2, "name");
      lua_pushstring(L, path);
      lua_setfield(L, -2, "path");
      lua_pushstring(L, pdir);
      lua_setfield(L, -2, "dir");
      lua_rawseti(L, -2, ++k);
    }
    free(names[i]);
  }
  return 1;
}

/* ---- the project around the plugins ----------------------------------- */

static int replace_str(char **slot, const char *s) {
  char *copy = strdup(s);
  if (!copy) return -1;
  free(*slot);
  *slot = copy;
  return 0;
}

static int l_root(lua_State *L) {
  lua_pushstring(L, P.host->cfg->root);
  return 1;
}

/* ctx.root of the plugins loaded from now on (and where ctx.watch looks). */
static int l_set_root(lua_State *L) {
  char *abs = mh_path_absolute(luaL_checkstring(L, 1));
  int rc = !abs || replace_str(&P.host->cfg->root, abs);
  free(abs);
  if (rc) return luaL_error(L, "out of memory");
  return 0;
}

/* set_dev_server_url(url): what ctx.dev_server.url says; nil puts back conf.d's. */
static int l_set_dev_server_url(lua_State *L) {
  const char *url = luaL_optstring(L, 1, P.url0 ? P.url0 : "");
  if (replace_str(&P.host->cfg->dev_server_url, url)) return luaL_error(L, "out of memory");
  return 0;
}

/* A real child process as ctx.dev_server sees it (no exit callback: the
 * runner polls dev_server_running). */
static int l_dev_server_start(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  mh_host *h = P.host;
  if (h->devserver) return luaL_error(L, "moonhost.testing: a dev server is running already");
  lua_Integer n = (lua_Integer)luaL_len(L, 1);
  luaL_argcheck(L, n >= 1 && n < 64, 1, "expected a command as a list of strings");
  char *argv[64];
  for (lua_Integer i = 1; i <= n; i++) {
    lua_geti(L, 1, i);
    argv[i - 1] = (char *)luaL_checkstring(L, -1); /* kept alive on the stack until the spawn */
  }
  argv[n] = NULL;
  h->devserver = mh_devserver_start(h->loop, argv, h->cfg->root, NULL, NULL);
  if (!h->devserver) return luaL_error(L, "moonhost.testing: cannot start '%s'", argv[0]);
  lua_pushinteger(L, mh_devserver_pid(h->devserver));
  return 1;
}

static int l_dev_server_running(lua_State *L) {
  lua_pushboolean(L, P.host->devserver && mh_devserver_running(P.host->devserver));
  return 1;
}

/* dev_server_stop(signal_first): signals it (SIGTERM), or, once it has
 * exited (or on the second call), closes its handles. */
static int l_dev_server_stop(lua_State *L) {
  mh_host *h = P.host;
  if (!h->devserver) return 0;
  if (lua_toboolean(L, 1) && mh_devserver_running(h->devserver)) {
    mh_devserver_signal(h->devserver, SIGTERM);
    return 0;
  }
  mh_devserver_free(h->devserver); /* kills it if it still runs */
  h->devserver = NULL;
  return 0;
}

static int l_mkdtemp(lua_State *L) {
  if (P.ntmp >= MAX_TMPDIRS) return luaL_error(L, "moonhost.testing: too many temporary directories");
  const char *base = getenv("TMPDIR");
  char path[4096];
  snprintf(path, sizeof path, "%s/moonhost-test-XXXXXX", base && *base ? base : "/tmp");
  if (!mkdtemp(path)) return luaL_error(L, "moonhost.testing: cannot make a temporary directory");
  P.tmpdirs[P.ntmp++] = strdup(path);
  lua_pushstring(L, path);
  return 1;
}

/* mkdirs(path): like mkdir -p (touch writes files in new directories). */
static int l_mkdirs(lua_State *L) {
  char path[4096];
  const char *p = luaL_checkstring(L, 1);
  if (strlen(p) >= sizeof path) return luaL_error(L, "moonhost.testing: path too long");
  strcpy(path, p);
  for (char *c = path + 1;; c++) {
    if (*c != '/' && *c != '\0') continue;
    char was = *c;
    *c = '\0';
    if (mkdir(path, 0777) != 0 && errno != EEXIST) return luaL_error(L, "cannot create %s: %s", path, strerror(errno));
    *c = was;
    if (!was) break;
  }
  return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  remove(path);
  return 0;
}


int mh_lua_testing_project_init(mh_host *h) {
  memset(&P, 0, sizeof P);
  P.host = h;
  P.plugins0 = mh_value_copy(h->cfg->plugins);
  P.url0 = strdup(h->cfg->dev_server_url ? h->cfg->dev_server_url : "");
  return P.plugins0 && P.url0 ? 0 : -1;
}

void mh_lua_testing_project_free(void) {
  if (P.host && P.host->devserver) mh_devserver_free(P.host->devserver);
  if (P.host) P.host->devserver = NULL;
  for (int i = 0; i < P.ntmp; i++) {
    if (P.tmpdirs[i]) nftw(P.tmpdirs[i], rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(P.tmpdirs[i]);
  }
  mh_value_free(P.plugins0);
  free(P.url0);
  memset(&P, 0, sizeof P);
}

void mh_lua_testing_project_open(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"load", l_load},
    {"unload", l_unload},
    {"cancel_calls", l_cancel_calls},
    {"set_config", l_set_config},
    {"describe", l_describe},
    {"dump_plan", l_dump_plan},
    {"plugin_entries", l_plugin_entries},
    {"root", l_root},
    {"set_root", l_set_root},
    {"set_dev_server_url", l_set_dev_server_url},
    {"dev_server_start", l_dev_server_start},
    {"dev_server_running", l_dev_server_running},
    {"dev_server_stop", l_dev_server_stop},
    {"mkdtemp", l_mkdtemp},
    {"mkdirs", l_mkdirs},
    {NULL, NULL},
  };
  luaL_setfuncs(L, fns, 0);
}
