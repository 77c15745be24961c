/* The Lua modules plugins see (bindings/api/), which engine/lua_engine.c
 * preloads into every plugin state. One file per module, each with one
 * open function (luaopen style) and l_* functions. */
#ifndef MH_LUA_API_H
#define MH_LUA_API_H
#include "runtime/lua_runtime.h"

/* moonhost.core, the C half of the plugin API (lua_core.c). */
int mh_luaopen_core(lua_State *L);
/* moonhost.project: ctx.watch, ctx.dev_server, ctx.mesh.on (lua_project.c). */
int mh_luaopen_project(lua_State *L);
/* What a generation holds open for its plugin, on engine->watches; each
 * closes itself when the generation is retired (mh_lua_watches_stop). */
typedef struct gen_resource {
  mh_list link;
  void (*close)(struct gen_resource *r);
} gen_resource;
/* The done callback of a listener's call (ctx.watch, ctx.mesh.on, shared
 * state on_change): drops the outcome, which the engine already logged. */
void mh_lua_callback_done(void *ud, mh_value *result, mh_error *err);
/* Closes every watch and listener a generation holds (retire, destroy). */
void mh_lua_watches_stop(mh_engine *e);
/* moonhost.call: caller(), on_cancel() and dispatch() (lua_callinfo.c). */
int mh_luaopen_call(lua_State *L);
/* moonhost.state: ctx.rpc.shared_state's C half (lua_state.c). */
int mh_luaopen_state(lua_State *L);
/* moonhost.streaming: ctx.rpc.streaming's C half (lua_streaming.c). */
int mh_luaopen_streaming(lua_State *L);
/* moonhost.process: moonhost.exec's C half (lua_process.c). */
int mh_luaopen_process(lua_State *L);
/* moonhost.files: moonhost.read_file and write_file's C half (lua_files.c). */
int mh_luaopen_files(lua_State *L);
/* moonhost.http: moonhost.fetch's C half (lua_fetch.c). */
int mh_luaopen_http(lua_State *L);

#endif
