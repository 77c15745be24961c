/* moonhost: command-line entry point. */
#include <libwebsockets.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cli.h"
#include "config.h"
#include "host.h"
#include "log.h"
#include "plugin.h"
#include "server.h"

typedef struct boot {
  mh_host *host;
  int started, finished;
  bool scanning;
  uv_signal_t sigint, sigterm;
  int exit_code;
} boot;

/* Flags override configuration files: they are merged as one more fragment. */
static int apply_flags(mh_config *cfg, const mh_cli *cli) {
  mh_value *frag = mh_value_new(MH_V_OBJECT);
  if (!frag) return -1;
  if (cli->listen) mh_value_obj_set(frag, "listen", mh_value_cstring(cli->listen));
  if (cli->plugins) mh_value_obj_set(frag, "plugins_dir", mh_value_cstring(cli->plugins));
  if (cli->root) mh_value_obj_set(frag, "root", mh_value_cstring(cli->root));
  if (cli->log_level) {
    mh_value *log = mh_value_new(MH_V_OBJECT);
    mh_value_obj_set(log, "level", mh_value_cstring(cli->log_level));
    mh_value_obj_set(frag, "log", log);
  }
  char *msg = NULL;
  mh_value *tree = mh_value_copy(cfg->tree);
  int rc = -1;
  if (tree && mh_config_check(frag, "command line", &msg) == 0 && mh_config_merge(tree, frag) == 0) {
    mh_config_free(cfg);
    rc = mh_config_apply(cfg, tree, &msg);
  }
  if (msg) fprintf(stderr, "moonhost: %s\n", msg);
  free(msg);
  mh_value_free(tree);
  mh_value_free(frag);
  return rc;
}

static int load_config(mh_config *cfg, const mh_cli *cli) {
  char *msg = NULL;
  memset(cfg, 0, sizeof *cfg);
  if (mh_config_load(cfg, cli->config ? cli->config : "conf.d", cli->config != NULL, &msg)) {
    fprintf(stderr, "moonhost: %s\n", msg ? msg : "cannot load the configuration");
    free(msg);
    return -1;
  }
  return apply_flags(cfg, cli);
}

static void on_close_signal(uv_handle_t *h) { (void)h; }

static void stop(boot *b) {
  mh_host *host = b->host;
  if (host->stopping) return;
  host->stopping = true;
  mh_log_info("host", "shutting down");
  if (host->server) mh_server_stop(host->server);
  uv_signal_stop(&b->sigint);
  uv_signal_stop(&b->sigterm);
  uv_close((uv_handle_t *)&b->sigint, on_close_signal);
  uv_close((uv_handle_t *)&b->sigterm, on_close_signal);
}

static void on_signal(uv_signal_t *s, int signum) {
  mh_log_info("host", "signal %d received", signum);
  stop(s->data);
}

static void start_serving(boot *b) {
  mh_host *host = b->host;
  host->server = mh_server_start(host);
  if (!host->server) {
    b->exit_code = 1;
    stop(b);
    return;
  }
  const char *h = host->cfg->listen_host;
  int v6 = strchr(h, ':') != NULL;
  int port = mh_server_port(host->server);
  mh_log_info("host", "listening on ws://%s%s%s:%d/__ws", v6 ? "[" : "", h, v6 ? "]" : "", port);
  if (host->token[0])
    mh_log_info("host", "connect with ws://%s%s%s:%d/__ws?token=%s (token made at start; set auth.tokens to keep one)",
                v6 ? "[" : "", h, v6 ? "]" : "", port, host->token);
  else if (!host->cfg->auth.required)
    mh_log_warn("host", "auth.required is false: every local client is trusted");
}

static void on_plugin_loaded(mh_plugin *p, const mh_error *err, void *ud) {
  (void)p;
  (void)err;
  boot *b = ud;
  b->finished++;
  if (!b->scanning && b->finished == b->started) start_serving(b);
}

static int cmd_run(mh_config *cfg) {
  uv_loop_t *loop = uv_default_loop();
  mh_host host;
  boot b = {.host = &host, .scanning = true};
  signal(SIGPIPE, SIG_IGN);
  if (mh_host_init(&host, loop, cfg)) {
    fprintf(stderr, "moonhost: out of memory\n");
    return 1;
  }
  uv_signal_init(loop, &b.sigint);
  uv_signal_init(loop, &b.sigterm);
  b.sigint.data = b.sigterm.data = &b;
  uv_signal_start(&b.sigint, on_signal, SIGINT);
  uv_signal_start(&b.sigterm, on_signal, SIGTERM);
  mh_log_info("host", "moonhost %s (mode %s, root %s)", MOONHOST_VERSION, cfg->mode, cfg->root);
  b.started = mh_plugins_load_dir(&host, cfg->plugins_dir, on_plugin_loaded, &b);
  b.scanning = false;
  if (b.finished == b.started) start_serving(&b);
  uv_run(loop, UV_RUN_DEFAULT);
  if (host.server) mh_server_free(host.server);
  mh_host_free(&host);
  uv_run(loop, UV_RUN_DEFAULT); /* let handles released by plugins close */
  if (uv_loop_close(loop)) mh_log_warn("host", "event loop closed with handles still open");
  return b.exit_code;
}

static int cmd_config(const mh_config *cfg) {
  mh_buf out = MH_BUF_INIT;
  mh_error *err = NULL;
  if (mh_codec_json.encode(cfg->tree, &out, &err)) {
    fprintf(stderr, "moonhost: %s\n", err->message);
    mh_error_free(err);
    return 1;
  }
  printf("%.*s\n", (int)out.len, out.data);
  mh_buf_free(&out);
  return 0;
}

int main(int argc, char **argv) {
  mh_cli cli;
  int rc = mh_cli_parse(argc, argv, &cli);
  if (rc) return rc;
  if (cli.command == MH_CMD_HELP) {
    mh_cli_usage();
    return 0;
  }
  if (cli.command == MH_CMD_VERSION) {
    printf("moonhost %s (%s, libuv %s, libwebsockets %s)\n", MOONHOST_VERSION, mh_lua_engine.name, uv_version_string(),
           lws_get_library_version());
    return 0;
  }
  mh_config cfg;
  if (load_config(&cfg, &cli)) return 2;
  mh_log_set_level(cfg.log_level);
  rc = cli.command == MH_CMD_CONFIG ? cmd_config(&cfg) : cmd_run(&cfg);
  mh_config_free(&cfg);
  return rc;
}
