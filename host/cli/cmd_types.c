/* `moonhost types [--out FILE]`: loads every plugin (no server) and writes
 * TypeScript declarations of the functions they register and the client
 * functions they declare (lua/moonhost/types.lua does the writing). */
#include "cli/cmds.h"

int mh_cmd_types(mh_config *cfg, const mh_host_parts *parts, const mh_cli *cli) {
  const char *opts[] = {"plugins_dir", cfg->plugins_dir, cli->out ? "out" : NULL, cli->out, NULL};
  mh_script s = {"moonhost.types", NULL, 0, opts};
  return mh_cmd_script(cfg, parts, &s);
}
