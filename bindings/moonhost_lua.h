/* What the Lua bindings offer the composition root (host/cli/main.c): the one
 * header outside bindings/ that names Lua's side of the seam. host/ itself
 * never includes it; main.c puts these into an mh_host_parts. */
#ifndef MH_MOONHOST_LUA_H
#define MH_MOONHOST_LUA_H
#include "cli/cmds.h"
#include "core/config.h"
#include "call/engine.h"
#include "call/host.h"

/* The plugin engine: one lua_State per plugin generation (engine/lua_engine.c). */
extern const mh_engine_vt mh_lua_engine;

/* Evaluates one conf.d fragment in a sandbox (api/lua_config.c); an
 * mh_config_eval_fn. */
mh_value *mh_config_eval_file(const char *path, char **errmsg);

/* Runs a `moonhost test`/`types` program on a runner state beside host h
 * (testing/lua_testing.c). Returns its exit code. Everything the program started
 * (clients, the dev server, pending calls) is stopped before it returns;
 * the plugins it loaded are left for mh_host_free. */
int mh_lua_script_main(mh_host *h, const mh_script *s);

/* The three together, as main.c and the C tests use them. */
extern const mh_host_parts mh_lua_host_parts;

#endif
