/* The script runner of `moonhost test` and `moonhost types`
 * (lua_testing.c); no Lua in its interface, so the composition root
 * includes it through moonhost_lua.h. */
#ifndef MH_LUA_SCRIPT_H
#define MH_LUA_SCRIPT_H
#include "call/host.h"
#include "cli/cmds.h"

/* Runs a program on a runner state beside host h. Returns its exit code.
 * Everything the program started (clients, the dev server, pending calls)
 * is stopped before it returns; the plugins it loaded are left for
 * mh_host_free. */
int mh_lua_script_main(mh_host *h, const mh_script *s);

#endif
