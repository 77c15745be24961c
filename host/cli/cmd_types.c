/* `moonhost types [--out FILE] [--watch]`: loads every plugin (no server) and
 * writes TypeScript declarations of the functions they register and the
 * client functions they declare (lua/moonhost/types.lua does the writing).
 * With --watch it stays, and writes them again after each change under the
 * plugins directory (app/watch.c, the watcher hot reload uses), until
 * SIGINT or SIGTERM. */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

#include "app/watch.h"
#include "cli/cmds.h"

typedef struct types_watch {
  bool changed;
  bool stop;
  int closed; /* signal handles closed so far */
} types_watch;

static void on_change(void *ud, const mh_watch_event *events, size_t n) {
  (void)events;
  if (n) ((types_watch *)ud)->changed = true;
}

static void on_signal(uv_signal_t *sig, int signum) {
  (void)signum;
  ((types_watch *)sig->data)->stop = true;
}

static void on_signal_closed(uv_handle_t *handle) { ((types_watch *)handle->data)->closed++; }

/* Runs the script, then again after each batch of changes. The script
 * runs the loop itself (it loads plugins), so it is never called from a
 * loop callback: the callbacks only set flags this loop reads. */
static int watch_and_write(mh_host *h, const mh_host_parts *parts, const mh_script *s) {
  types_watch tw = {false, false, 0};
  uv_signal_t sigs[2];
  const int signums[2] = {SIGINT, SIGTERM};
  for (int i = 0; i < 2; i++) {
    uv_signal_init(h->loop, &sigs[i]);
    sigs[i].data = &tw;
    uv_signal_start(&sigs[i], on_signal, signums[i]);
  }
  const char *err = NULL;
  mh_watch *w = mh_watch_start(h->loop, h->cfg->plugins_dir, &(mh_watch_opts){0}, on_change, &tw, &err);
  int rc = w ? 0 : 1;
  if (!w) fprintf(stderr, "moonhost types: cannot watch %s: %s\n", h->cfg->plugins_dir, err ? err : "error");
  while (w && !tw.stop) {
    tw.changed = false;
    parts->run_script(h, s);
    fprintf(stderr, "moonhost types: watching %s for changes (Ctrl-C to stop)\n", h->cfg->plugins_dir);
    while (!tw.changed && !tw.stop) uv_run(h->loop, UV_RUN_ONCE);
  }
  if (w) mh_watch_stop(w);
  /* The handles live on this stack frame: wait until libuv is done with them. */
  for (int i = 0; i < 2; i++) uv_close((uv_handle_t *)&sigs[i], on_signal_closed);
  while (tw.closed < 2) uv_run(h->loop, UV_RUN_ONCE);
  return rc;
}

int mh_cmd_types(mh_config *cfg, const mh_host_parts *parts, const mh_cli *cli) {
  const char *opts[] = {"plugins_dir", cfg->plugins_dir, cli->out ? "out" : NULL, cli->out, NULL};
  mh_script s = {"moonhost.types", NULL, 0, opts, cli->watch ? watch_and_write : NULL};
  return mh_cmd_script(cfg, parts, &s);
}
