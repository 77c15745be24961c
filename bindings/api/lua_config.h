/* The conf.d evaluator (lua_config.c); no Lua in its interface, so the
 * composition root includes it through moonhost_lua.h. */
#ifndef MH_LUA_CONFIG_H
#define MH_LUA_CONFIG_H
#include "core/value.h"

/* Evaluates one conf.d fragment in a sandbox; an mh_config_eval_fn. */
mh_value *mh_config_eval_file(const char *path, char **errmsg);

#endif
