/* The plugin-authoring commands: `moonhost test`, `moonhost types`,
 * `moonhost build` and `moonhost new plugin` (docs/plugins.md).
 *
 * test, types and build run a Lua program (lua/moonhost/test_main.lua,
 * lua/moonhost/types.lua) on a runner state next to a real host: real
 * plugin generations, the real dispatcher and libuv loop, but no server.
 * The runner state is no plugin's; bindings/testing/lua_testing.c implements it. */
#ifndef MH_CMDS_H
#define MH_CMDS_H
#include "cli/cli.h"
#include "core/config.h"
#include "call/host.h"

/* A Lua program for the runner: require(module).main(args, opts) where args
 * is argv as a list and opts the key/value pairs of `opts` (NULL-terminated:
 * key, value, key, value, ..., NULL). */
struct mh_script {
  const char *module;
  char **argv;
  int argc;
  const char *const *opts;
  /* NULL: run it once. Else what mh_cmd_script calls instead, between host
   * setup and teardown (`types --watch` runs it again on changes). */
  int (*drive)(mh_host *h, const mh_host_parts *parts, const mh_script *s);
};

/* A host on the default loop around parts->run_script (the Lua runner,
 * mh_lua_script_main), torn down after. */
int mh_cmd_script(mh_config *cfg, const mh_host_parts *parts, const mh_script *s);

int mh_cmd_test(mh_config *cfg, const mh_host_parts *parts, const mh_cli *cli);
int mh_cmd_types(mh_config *cfg, const mh_host_parts *parts, const mh_cli *cli);
int mh_cmd_new(const mh_cli *cli);
/* `moonhost build --out DIR`: lua/moonhost/build.lua on the runner. */
int mh_cmd_build(mh_config *cfg, const mh_host_parts *parts, const mh_cli *cli);
/* `moonhost config`: the effective configuration as JSON, secrets hidden. */
int mh_cmd_config(const mh_config *cfg);

#endif
