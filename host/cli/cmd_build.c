/* `moonhost build --out DIR`: a static DevTools. Loads every plugin (no
 * server) in mode 'build', runs their static functions and the queries
 * that declare a dump, and writes devframe's static RPC dump into DIR:
 * __connection.json ({backend: 'static'}) and __rpc-dump/ (index.json and
 * one file per value), which devframe's client reads from any static file
 * server. lua/moonhost/build.lua does the work on the runner state, with
 * the hashing and encoding of moonhost.testing.core (lua_testing_dump.c);
 * docs/plugins.md "Static builds" has the options. */
#include "cli/cmds.h"

int mh_cmd_build(mh_config *cfg, const mh_host_parts *parts, const mh_cli *cli) {
  const char *opts[] = {"plugins_dir", cfg->plugins_dir, "out", cli->out, NULL};
  mh_script s = {"moonhost.build", NULL, 0, opts, NULL};
  return mh_cmd_script(cfg, parts, &s);
}
