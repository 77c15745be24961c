/* Lua states of the bindings (see lua_runtime.h): a memory cap, the
 * embedded lua/moonhost modules, and registry references counted per state
 * so that one nobody released shows when the state closes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lualib.h>
#include <unistd.h>

#include "core/log.h"
#include "runtime/embedded.h"
#include "runtime/lua_runtime.h"

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

int mh_lua_ref(lua_State *L) {
  int ref = luaL_ref(L, LUA_REGISTRYINDEX);
  if (ref != LUA_NOREF && ref != LUA_REFNIL) mh_lua_engine_of(L)->nrefs++;
  return ref;
}

void mh_lua_unref(lua_State *L, int ref) {
  if (ref == LUA_NOREF || ref == LUA_REFNIL) return;
  luaL_unref(L, LUA_REGISTRYINDEX, ref);
  mh_lua_engine_of(L)->nrefs--;
}

/* Registry field of the table handler reference -> function name. */
#define HANDLER_NAMES "moonhost.handler_names"

void mh_lua_handler_name_set(lua_State *L, int idx, const char *name) {
  idx = lua_absindex(L, idx);
  if (luaL_getsubtable(L, LUA_REGISTRYINDEX, HANDLER_NAMES) == 0) { /* new: make its keys weak */
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
  }
  lua_pushvalue(L, idx);
  lua_pushstring(L, name);
  lua_rawset(L, -3);
  lua_pop(L, 1);
}

const char *mh_lua_handler_name(lua_State *L, int handler) {
  const char *name = NULL;
  int top = lua_gettop(L);
  if (lua_getfield(L, LUA_REGISTRYINDEX, HANDLER_NAMES) == LUA_TTABLE &&
      lua_rawgeti(L, LUA_REGISTRYINDEX, handler) == LUA_TFUNCTION && lua_rawget(L, -2) == LUA_TSTRING)
    name = lua_tostring(L, -1); /* the table keeps it while the function lives */
  lua_settop(L, top);
  return name;
}

mh_engine *mh_lua_state_new(mh_host *host, size_t mem_limit) {
  mh_engine *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  e->host = host;
  e->values.host = host;
  e->mem_limit = mem_limit;
  mh_list_init(&e->calls);
  mh_list_init(&e->watches);
  e->L = lua_newstate(counting_alloc, e);
  if (!e->L) {
    free(e);
    return NULL;
  }
  /* Threads copy the main thread's extra space and hook: set both first. */
  *(void **)lua_getextraspace(e->L) = e;
  luaL_openlibs(e->L);
  lua_newtable(e->L);
  lua_pushliteral(e->L, "array");
  lua_setfield(e->L, -2, "__name");
  e->values.array_mt = lua_topointer(e->L, -1);
  e->values.array_mt_ref = mh_lua_ref(e->L);
  /* The key order of objects pushed into the state (value/lua_key_order.c):
   * weak keys, so an entry goes with its table. */
  lua_newtable(e->L);
  lua_createtable(e->L, 0, 1);
  lua_pushliteral(e->L, "k");
  lua_setfield(e->L, -2, "__mode");
  lua_setmetatable(e->L, -2);
  e->values.key_order_ref = mh_lua_ref(e->L);
  add_embedded_searcher(e->L);
  return e;
}

/* A reference still counted when its state closes was never released:
 * the value it pinned lived as long as the state instead of its owner.
 * Sanitizer builds (MOONHOST_SANITIZE) make that an error exit, so the
 * tests that run them fail on it. */
static void check_refs(mh_engine *e) {
  if (e->nrefs == 0) return;
  mh_log_error("lua", "%s: %d registry reference(s) not released when the state closed", mh_lua_state_name(e),
               e->nrefs);
#ifdef MH_LUA_REFS_FATAL
  fflush(NULL);
  _exit(70);
#endif
}

void mh_lua_state_free(mh_engine *e) {
  if (!e) return;
  while (e->nspare > 0) mh_lua_unref(e->L, e->spare[--e->nspare].ref);
  mh_lua_unref(e->L, e->values.array_mt_ref);
  mh_lua_unref(e->L, e->values.key_order_ref);
  check_refs(e);
  lua_close(e->L);
  free(e);
}

mh_engine *mh_lua_runner_new(mh_host *host) {
  mh_engine *e = mh_lua_state_new(host, SIZE_MAX);
  if (e) e->state = MH_LUA_RUNNER;
  return e;
}

void mh_lua_runner_free(mh_engine *e) { mh_lua_state_free(e); }
