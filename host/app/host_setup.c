#include "app/host_setup.h"

#include <stdlib.h>
#include <string.h>

#include "app/inspect.h"
#include "session/auth.h"
#include "mesh/mesh.h"
#include "mesh/mesh_cluster.h"
#include "mesh/mesh_link.h"
#include "mesh/mesh_relay.h"
#include "session/notify.h"
#include "session/shared_state.h"
#include "session/shared_state_wire.h"
#include "session/devframe_stream.h"
#include "session/devframe_upload.h"
#include "transport/http_client.h"

/* A failed step that has no message of its own gets `cause`; -1 with no
 * message at all is left only when even that copy cannot be made. */
static int setup_failed(int rc, char **errmsg, const char *cause) {
  if (!*errmsg) *errmsg = strdup(cause);
  return rc;
}

int mh_host_setup(mh_host *h, uv_loop_t *loop, mh_config *cfg, const mh_host_parts *parts, char **errmsg) {
  *errmsg = NULL;
  if (mh_host_init(h, loop, cfg, parts, errmsg)) return setup_failed(-1, errmsg, "out of memory");
  int rc = 0;
  const char *cause = "out of memory"; /* the steps without a message fail of nothing else (but auth) */
  if (mh_auth_init(h)) {
    rc = -1;
    cause = "no random bytes for the start-up token";
  } else if (mh_notify_init(h) || mh_states_init(h) || mh_dfstreams_init(h) || mh_dfuploads_init(h)) {
    rc = -1;
  } else if ((rc = mh_mesh_init(h, errmsg)) == 0 &&
             (mh_link_init(h) || mh_auth_add_builtins(h) || mh_state_wire_add_builtins(h) || mh_dfstream_wire_add_builtins(h) || mh_mesh_add_builtins(h) || mh_relay_add_builtins(h) ||
              mh_link_add_builtins(h) || mh_inspect_init(h))) {
    rc = -1;
  } else if (rc == 0) {
    rc = mh_cluster_init(h, errmsg);
  }
  if (rc) {
    mh_host_teardown(h);
    return setup_failed(rc, errmsg, cause);
  }
  return 0;
}

void mh_host_teardown(mh_host *h) {
  mh_inspect_free(h);
  mh_cluster_free(h);
  mh_dfuploads_free(h);
  mh_dfstreams_free(h);
  mh_states_free(h);
  mh_host_free(h);
  mh_mesh_free(h);
  mh_http_client_stop(); /* the loop's last run closes its connections; mh_http_client_free then */
}
