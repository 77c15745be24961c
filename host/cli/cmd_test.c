/* `moonhost test [options] [BUSTED OPTIONS] [PATHS...]`: busted with
 * moonhost as the Lua interpreter. The specs run on a runner state beside a
 * real host (no server): they load plugins as real generations, call them
 * through the dispatcher and connect in-process clients; waiting runs the
 * real libuv loop (lua/moonhost/testing.lua). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#include "cli/cmds.h"
#include "app/host_setup.h"
#include "core/log.h"
#include "transport/http_client.h"

int mh_cmd_script(mh_config *cfg, const mh_host_parts *parts, const mh_script *s) {
  uv_loop_t *loop = uv_default_loop();
  signal(SIGPIPE, SIG_IGN);
  mh_host h;
  char *msg = NULL;
  if (mh_host_setup(&h, loop, cfg, parts, &msg)) {
    fprintf(stderr, "moonhost: %s\n", msg ? msg : "cannot start (out of memory or no randomness for the token)");
    free(msg);
    return 2;
  }
  int rc = s->drive ? s->drive(&h, parts, s) : parts->run_script(&h, s);
  mh_host_teardown(&h);
  uv_run(loop, UV_RUN_DEFAULT); /* loads still running finish; released handles close */
  mh_http_client_free();
  if (uv_loop_close(loop)) mh_log_warn("host", "event loop closed with handles still open");
  return rc;
}

int mh_cmd_test(mh_config *cfg, const mh_host_parts *parts, const mh_cli *cli) {
  /* With no PATHS busted would look in ./spec: the default is the plugins
   * directory instead, where each plugin's spec sits (plugins/spec/). */
  const char *opts[] = {"default_path", cfg->plugins_dir, NULL};
  mh_script s = {"moonhost.test_main", cli->rest, cli->nrest, opts, NULL};
  return mh_cmd_script(cfg, parts, &s);
}
