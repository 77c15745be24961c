#include "app/host_setup.h"

#include "session/auth.h"
#include "mesh/mesh.h"
#include "mesh/mesh_link.h"
#include "mesh/mesh_relay.h"
#include "session/notify.h"

int mh_host_setup(mh_host *h, uv_loop_t *loop, mh_config *cfg, const mh_host_parts *parts, char **errmsg) {
  *errmsg = NULL;
  if (mh_host_init(h, loop, cfg, parts, errmsg)) return -1;
  if (mh_auth_init(h) || mh_notify_init(h) || mh_mesh_init(h, errmsg) || mh_link_init(h) ||
      mh_auth_add_builtins(h) || mh_mesh_add_builtins(h) || mh_relay_add_builtins(h) || mh_link_add_builtins(h)) {
    mh_host_teardown(h);
    return -1;
  }
  return 0;
}

void mh_host_teardown(mh_host *h) {
  mh_host_free(h);
  mh_mesh_free(h);
}
