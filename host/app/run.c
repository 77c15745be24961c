#include "app/run.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "session/auth.h"
#include "session/client.h"
#include "app/devserver.h"
#include "call/host.h"
#include "app/host_setup.h"
#include "app/hotreload.h"
#include "app/reload_route.h"
#include "core/log.h"
#include "core/log_ring.h"
#include "mesh/mesh.h"
#include "mesh/mesh_cluster.h"
#include "transport/ws_link.h"
#include "call/plugin.h"
#include "transport/http_client.h"
#include "transport/server.h"

#define SHUTDOWN_GRACE_MS 5000
#define SHUTDOWN_TICK_MS 10
#define SHUTDOWN_FLUSH_MS 200
/* After SIGKILL to the dev server's group: how long to wait for it to go. */
#define SHUTDOWN_KILL_WAIT_MS 1000
/* After the dev server's group is gone: how long its pipes may take to reach
 * end of file (only a process outside the group can hold them longer). */
#define SHUTDOWN_DRAIN_MS 200

typedef struct run_state {
  mh_host host;
  const mh_run_opts *opts;
  int started, finished; /* initial plugin loads */
  bool scanning, serving;
  uv_signal_t sigint, sigterm, sighup;
  uv_timer_t tick;
  uint64_t shutdown_at;
  uint64_t closing_since; /* when the forced closes went out */
  int exit_code;
  bool child_signalled;   /* the dev server's group was told to stop */
  uint64_t killed_at;     /* when its group got SIGKILL */
  uint64_t group_gone_at; /* when no process of its group was left */
  int tty;                /* our controlling terminal (to tell a hang-up from `kill -HUP`), or -1 */
} run_state;

static void on_handle_closed(uv_handle_t *h) { (void)h; }

static void close_signals(run_state *r) {
  uv_signal_t *sigs[] = {&r->sigint, &r->sigterm, &r->sighup};
  for (int i = 0; i < 3; i++)
    if (!uv_is_closing((uv_handle_t *)sigs[i])) uv_close((uv_handle_t *)sigs[i], on_handle_closed);
}

/* Whether shutting down may go on as far as the dev server is concerned:
 * its process group has exited (SIGKILL at the end of the grace period, then
 * at most SHUTDOWN_KILL_WAIT_MS more) and its output has been read (at most
 * SHUTDOWN_DRAIN_MS more). Never waits without a bound. */
static bool devserver_settled(run_state *r, bool late) {
  mh_devserver *d = r->host.devserver;
  if (!d) return true;
  uint64_t now = uv_now(r->host.loop);
  if (mh_devserver_group_alive(d)) {
    if (!late) return false;
    if (!r->killed_at) {
      mh_log_warn("dev", "'%s' still runs after the grace period: SIGKILL to its process group",
                  mh_devserver_command(d));
      mh_devserver_signal(d, SIGKILL);
      r->killed_at = now;
    }
    if (now - r->killed_at < SHUTDOWN_KILL_WAIT_MS) return false;
    mh_log_warn("dev", "processes of '%s' outlived SIGKILL; not waiting for them", mh_devserver_command(d));
  } else if (mh_devserver_output_open(d)) {
    if (!r->group_gone_at) r->group_gone_at = now;
    if (now - r->group_gone_at < SHUTDOWN_DRAIN_MS) return false;
    mh_log_warn("dev", "a process outside the group of '%s' holds its output open; no longer reading it",
                mh_devserver_command(d));
  }
  mh_devserver_let_go(d);
  return true;
}

/* Runs every few ms while shutting down: idle clients get 1001 at once,
 * busy ones when their calls are done or the grace period is over. */
static void shutdown_tick(uv_timer_t *t) {
  run_state *r = t->data;
  mh_host *h = &r->host;
  bool late = uv_now(h->loop) - r->shutdown_at >= SHUTDOWN_GRACE_MS;
  mh_client_each(c, h) {
    if ((c->nincoming == 0 || late) && c->transport) c->ops->close(c->transport, 1001, "server shutting down");
  }
  if (!devserver_settled(r, late)) return;
  if (h->nclients > 0) {
    if (!late) return;
    /* Past the grace period every client was just told 1001: give the close
     * frames a moment to leave before lws is torn down. */
    if (!r->closing_since) r->closing_since = uv_now(h->loop);
    if (uv_now(h->loop) - r->closing_since < SHUTDOWN_FLUSH_MS) return;
  }
  uv_timer_stop(t);
  uv_close((uv_handle_t *)t, on_handle_closed);
  close_signals(r);
  if (h->server) mh_server_stop(h->server);
  mh_http_client_stop(); /* its lws context would keep the loop running */
}

static void begin_shutdown(run_state *r, int exit_code, const char *why) {
  mh_host *h = &r->host;
  if (h->stopping) return;
  h->stopping = true;
  r->exit_code = exit_code;
  mh_log_info("host", "shutting down (%s)", why);
  mh_hotreload_stop(h);
  mh_links_stop(h);
  mh_cluster_stop(h);
  mh_plugins_quiesce(h);
  /* Also when the child exited by itself: what it started may still run. */
  if (h->devserver && !r->child_signalled) {
    mh_devserver_signal(h->devserver, SIGTERM);
    r->child_signalled = true;
  }
  r->shutdown_at = uv_now(h->loop);
  uv_timer_init(h->loop, &r->tick);
  r->tick.data = r;
  uv_timer_start(&r->tick, shutdown_tick, 0, SHUTDOWN_TICK_MS);
}

static void on_child_exit(void *ud, int code) {
  run_state *r = ud;
  if (!r->host.stopping) {
    begin_shutdown(r, code, "the dev server exited");
  } else if (r->exit_code == 0) {
    /* Told to stop, it stopped: dying of that signal is a clean stop too. */
    r->exit_code = code == 128 + SIGTERM || code == 128 + SIGINT || code == 128 + SIGHUP ? 0 : code;
  }
}

/* The dev server runs in a session of its own, so a terminal that closes
 * signals only moonhost: SIGHUP, which otherwise means "reload". When the
 * terminal we started on is gone, it means what it says, and moonhost stops
 * (passing SIGHUP on to the dev server's group). Under nohup (SIGHUP ignored
 * at start) it always means reload. */
static bool terminal_hung_up(run_state *r) { return r->tty >= 0 && tcgetpgrp(r->tty) < 0; }

static int open_tty_unless_nohup(void) {
  struct sigaction old;
  if (sigaction(SIGHUP, NULL, &old) == 0 && old.sa_handler == SIG_IGN) return -1;
  return open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC); /* -1 without a controlling terminal */
}

static void on_signal(uv_signal_t *s, int signum) {
  run_state *r = s->data;
  if (signum == SIGHUP && !terminal_hung_up(r)) {
    mh_log_info("host", "SIGHUP: reloading the configuration and every plugin");
    mh_hotreload_now(&r->host, NULL, NULL, NULL);
    return;
  }
  if (r->host.stopping) {
    mh_log_warn("host", "second signal: stopping now");
    r->shutdown_at -= SHUTDOWN_GRACE_MS; /* the next tick is past the grace period */
    return;
  }
  /* The dev server's process group gets the same signal, the way a terminal
   * sends Ctrl-C to every process of the foreground job. */
  if (r->host.devserver) {
    mh_devserver_signal(r->host.devserver, signum);
    r->child_signalled = true; /* it was told; don't send SIGTERM on top */
  }
  begin_shutdown(r, 0, signum == SIGINT ? "SIGINT" : signum == SIGTERM ? "SIGTERM" : "the terminal hung up");
}

/* Tokens in auth.tokens that can match (an empty one never does). */
static size_t configured_tokens(const mh_host *h) {
  const mh_value *list = h->cfg->auth.tokens;
  size_t n = 0;
  if (list && list->type == MH_V_ARRAY)
    for (size_t i = 0; i < list->u.arr.len; i++) n += *mh_auth_entry_token(list->u.arr.items[i]) != '\0';
  return n;
}

/* A token a client can guess by trying: each try costs it one connection
 * and nothing more, so only length keeps a hand-written token safe (the one
 * made at start has 32 hex digits). */
#define MIN_TOKEN_CHARS 16

static size_t short_tokens(const mh_host *h) {
  const mh_value *list = h->cfg->auth.tokens;
  size_t n = 0;
  if (list && list->type == MH_V_ARRAY)
    for (size_t i = 0; i < list->u.arr.len; i++) {
      size_t len = strlen(mh_auth_entry_token(list->u.arr.items[i]));
      n += len > 0 && len < MIN_TOKEN_CHARS;
    }
  return n;
}

/* Only once the port is bound, with the address really listened on. How to
 * connect, by where the tokens come from; a warning when none can. */
static void announce(mh_host *h) {
  const char *host = mh_server_address(h->server);
  int v6 = strchr(host, ':') != NULL, port = mh_server_port(h->server);
  const char *l = v6 ? "[" : "", *rb = v6 ? "]" : "";
  size_t configured = configured_tokens(h);
  mh_log_info("host", "listening on ws://%s%s%s:%d/__ws", l, host, rb, port);
  bool secret = h->cfg->auth.required && h->token[0]; /* the line carries the start-up token */
  if (secret) mh_log_ring_hide_enter(); /* not for the inspector's log tail (core/log_ring.h) */
  if (!h->cfg->auth.required)
    mh_log_warn("host", "auth.required is false: every local client is trusted");
  else if (h->token[0] && !configured)
    mh_log_info("host", "connect with ws://%s%s%s:%d/__ws?token=%s (token made at start; set auth.tokens to keep one)",
                l, host, rb, port, h->token);
  else if (h->token[0])
    mh_log_info("host", "connect with ws://%s%s%s:%d/__ws?token=TOKEN, TOKEN one of the %zu in auth.tokens or %s "
                "(this start's; auth.generate_token = false stops making one)", l, host, rb, port, configured, h->token);
  else if (configured)
    mh_log_info("host", "connect with ws://%s%s%s:%d/__ws?token=TOKEN, TOKEN one of the %zu in auth.tokens", l, host,
                rb, port, configured);
  else
    mh_log_warn("host", "no token can ever be trusted: auth.tokens is empty and auth.generate_token is false, so "
                "only anonymous:* functions answer; set auth.tokens (or auth.required = false)");
  if (secret) mh_log_ring_hide_leave();
  size_t weak = h->cfg->auth.required ? short_tokens(h) : 0;
  if (weak) /* never the tokens themselves */
    mh_log_warn("host", "%zu of the tokens in auth.tokens %s shorter than %d characters: a client that can reach the "
                "port can guess a short token by trying; use %d or more random ones (openssl rand -hex 16)",
                weak, weak == 1 ? "is" : "are", MIN_TOKEN_CHARS, MIN_TOKEN_CHARS);
}

/* The port is bound before the plugins load, so that a process manager's
 * /readyz probe gets 503 rather than no answer while they do; until then
 * the transport answers only /healthz and /readyz (plugins_loaded). The
 * "listening on" line waits for the loads: it says calls will be served. */
static int open_port(run_state *r) {
  mh_host *h = &r->host;
  int rc = mh_server_start(h, &h->server);
  if (rc) {
    begin_shutdown(r, rc == MH_START_BAD_CONFIG ? 2 : 1, "cannot listen");
    return -1;
  }
  mh_mesh_set_port(h, mh_server_port(h->server)); /* the default host id names it */
  mh_log_debug("host", "bound %s port %d; loading plugins (/readyz answers 503 until they are loaded)",
               mh_server_address(h->server), mh_server_port(h->server));
  return 0;
}

static void start_serving(run_state *r) {
  mh_host *h = &r->host;
  if (r->serving || h->stopping) return;
  r->serving = true;
  h->plugins_loaded = true;
  announce(h);
  if (mh_reload_route_add(h)) mh_log_error("host", "out of memory: POST /__moonhost/reload is not served");
  mh_hotreload_start(h);
  mh_links_start(h);
  mh_cluster_start(h);
  if (r->opts->child_argv) {
    /* Started after the bind, so it is told the port really bound (--listen 127.0.0.1:0). */
    mh_devserver_link link = {.address = mh_server_address(h->server), .port = mh_server_port(h->server), .token = h->token};
    h->devserver = mh_devserver_start_linked(h->loop, r->opts->child_argv, h->cfg->root, &link, on_child_exit, r);
    if (!h->devserver) begin_shutdown(r, 127, "the dev server did not start");
  }
}

static void on_initial_load(mh_plugin *p, const mh_error *err, void *ud) {
  (void)p, (void)err;
  run_state *r = ud;
  r->finished++;
  if (!r->scanning && r->finished == r->started) start_serving(r);
}

int mh_run_serve(mh_config *cfg, const mh_run_opts *opts) {
  static run_state r; /* signal handles must outlive every callback */
  memset(&r, 0, sizeof r);
  r.opts = opts;
  r.scanning = true;
  mh_host *h = &r.host;
  uv_loop_t *loop = uv_default_loop();
  signal(SIGPIPE, SIG_IGN);
  char *msg = NULL;
  int setup = mh_host_setup(h, loop, cfg, opts->parts, &msg);
  if (setup) {
    fprintf(stderr, "moonhost: %s\n", msg ? msg : "out of memory");
    free(msg);
    return setup == MH_START_BAD_CONFIG ? 2 : 1;
  }
  h->config_dir = opts->config_dir;
  h->config_required = opts->config_required;
  h->config_overlay = opts->overlay;
  r.tty = open_tty_unless_nohup(); /* before uv_signal_start replaces nohup's SIG_IGN */
  uv_signal_t *sigs[] = {&r.sigint, &r.sigterm, &r.sighup};
  int nums[] = {SIGINT, SIGTERM, SIGHUP};
  for (int i = 0; i < 3; i++) {
    uv_signal_init(loop, sigs[i]);
    sigs[i]->data = &r;
    uv_signal_start(sigs[i], on_signal, nums[i]);
  }
  mh_log_info("host", "moonhost %s (mode %s, root %s)", MOONHOST_VERSION, cfg->mode, cfg->root);
  if (open_port(&r) == 0) {
    r.started = mh_plugins_load_dir(h, cfg->plugins_dir, on_initial_load, &r);
    r.scanning = false;
    if (r.finished == r.started) start_serving(&r);
  }
  uv_run(loop, UV_RUN_DEFAULT);
  if (h->server) mh_server_free(h->server);
  mh_devserver_free(h->devserver);
  mh_host_teardown(h);
  uv_run(loop, UV_RUN_DEFAULT); /* let handles released by plugins close */
  mh_http_client_free();
  if (uv_loop_close(loop)) mh_log_warn("host", "event loop closed with handles still open");
  if (r.tty >= 0) close(r.tty);
  return r.exit_code;
}
