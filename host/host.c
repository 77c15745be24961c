#include "host.h"

#include <string.h>

#include "auth.h"
#include "dispatch.h"
#include "mesh.h"
#include "plugin.h"

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
  if (mh_auth_init(h) || mh_mesh_init(h, errmsg)) return -1;
  return mh_dispatch_add_builtins(h) || mh_auth_add_builtins(h) || mh_mesh_add_builtins(h) ? -1 : 0;
}

void mh_host_free(mh_host *h) {
  mh_plugins_unload_all(h);
  mh_registry_free(&h->registry);
  mh_mesh_free(h);
}
