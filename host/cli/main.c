/* moonhost: command-line entry point, and the composition root: the only
 * file of host/ that names the Lua bindings. It hands their engine, conf.d
 * evaluator and script runner (mh_lua_host_parts) to the rest of the host. */
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cli/cli.h"
#include "cli/cmds.h"
#include "codec/codec.h"
#include "core/config.h"
#include "core/log.h"
#include "moonhost_lua.h"
#include "app/reload_client.h"
#include "app/run.h"
#include "core/small_alloc.h"

/* Flags override configuration files: they are merged as one last fragment. */
static mh_value *flags_fragment(const mh_cli *cli) {
  mh_value *frag = mh_value_new(MH_V_OBJECT);
  if (!frag) return NULL;
  if (cli->listen) mh_value_obj_set(frag, "listen", mh_value_cstring(cli->listen));
  if (cli->plugins) mh_value_obj_set(frag, "plugins_dir", mh_value_cstring(cli->plugins));
  if (cli->root) mh_value_obj_set(frag, "root", mh_value_cstring(cli->root));
  if (cli->log_level || cli->log_format) {
    mh_value *log = mh_value_new(MH_V_OBJECT);
    if (cli->log_level) mh_value_obj_set(log, "level", mh_value_cstring(cli->log_level));
    if (cli->log_format) mh_value_obj_set(log, "format", mh_value_cstring(cli->log_format));
    mh_value_obj_set(frag, "log", log);
  }
  return frag;
}

int main(int argc, char **argv) {
  const mh_host_parts *parts = &mh_lua_host_parts;
  mh_small_alloc_for_cjson();
  mh_cli cli;
  int rc = mh_cli_parse(argc, argv, &cli);
  if (rc) return rc;
  if (cli.command == MH_CMD_HELP) {
    mh_cli_usage();
    return 0;
  }
  if (cli.command == MH_CMD_VERSION) {
    printf("moonhost %s (%s, libuv %s, libwebsockets %s)\n", MOONHOST_VERSION, parts->engine->name, uv_version_string(),
           lws_get_library_version());
    return 0;
  }
  if (cli.command == MH_CMD_NEW) return mh_cmd_new(&cli);
  const char *config_dir = cli.config ? cli.config : "conf.d";
  mh_value *overlay = flags_fragment(&cli);
  mh_config cfg;
  char *msg = NULL;
  if (!overlay || mh_config_load_with(&cfg, parts->eval_config, config_dir, cli.config != NULL, overlay,
                                      "command line", &msg)) {
    fprintf(stderr, "moonhost: %s\n", msg ? msg : "out of memory");
    free(msg);
    mh_value_free(overlay);
    return 2;
  }
  mh_log_set_level(cfg.log_level);
  mh_log_set_format(mh_log_format_parse(cfg.log_format));
  /* test and types print their own results: the host's info lines (plugin
   * loaded, ...) would only bury them, so they log warnings and up. */
  bool quiet = (cli.command == MH_CMD_TEST || cli.command == MH_CMD_TYPES) && !cli.log_level;
  if (quiet && cfg.log_level > MH_LOG_WARN) mh_log_set_level(MH_LOG_WARN);
  switch (cli.command) {
  case MH_CMD_CONFIG: rc = mh_cmd_config(&cfg); break;
  case MH_CMD_RELOAD: rc = mh_reload_client(&cfg, cli.token, cli.plugin); break;
  case MH_CMD_TEST: rc = mh_cmd_test(&cfg, parts, &cli); break;
  case MH_CMD_TYPES: rc = mh_cmd_types(&cfg, parts, &cli); break;
  default: {
    mh_run_opts opts = {parts, config_dir, cli.config != NULL, overlay, cli.child_argv};
    rc = mh_run_serve(&cfg, &opts);
  }
  }
  mh_config_free(&cfg);
  mh_value_free(overlay);
  return rc;
}
