/* What the Lua bindings offer the composition root (host/cli/main.c): the one
 * header outside bindings/ that names Lua's side of the seam. host/ itself
 * never includes it; main.c puts these into an mh_host_parts. It includes
 * no Lua header. */
#ifndef MH_MOONHOST_LUA_H
#define MH_MOONHOST_LUA_H
#include "api/lua_config.h"
#include "core/config.h"
#include "call/engine.h"
#include "call/host.h"
#include "testing/lua_script.h"

/* The plugin engine: one lua_State per plugin generation (engine/lua_engine.c). */
extern const mh_engine_vt mh_lua_engine;

/* The engine, the conf.d evaluator (api/lua_config.c) and the script
 * runner (testing/lua_testing.c) together, as main.c and the C tests use them. */
extern const mh_host_parts mh_lua_host_parts;

#endif
