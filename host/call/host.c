#include "call/host.h"

#include <string.h>

#include "call/dispatch.h"
#include "call/plugin.h"

int mh_host_init(mh_host *h, uv_loop_t *loop, mh_config *cfg, const mh_host_parts *parts, char **errmsg) {
  memset(h, 0, sizeof *h);
  h->loop = loop;
  h->cfg = cfg;
  h->parts = parts;
  h->engine = parts->engine;
  h->codec_limits.max_depth = cfg->limits.json_max_depth;
  mh_registry_init(&h->registry);
  mh_list_init(&h->clients);
  mh_list_init(&h->plugins);
  mh_list_init(&h->runs);
  mh_list_init(&h->loads);
  return mh_dispatch_add_builtins(h); /* fails only for memory: *errmsg stays NULL */
}

void mh_host_free(mh_host *h) {
  mh_plugins_unload_all(h);
  mh_dispatch_orphan_runs(h);
  mh_registry_free(&h->registry);
  mh_events_free(&h->events);
  mh_metrics_free(&h->metrics);
}
