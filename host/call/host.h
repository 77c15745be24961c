/* The host: one loop, its configuration, connected clients, plugins and
 * the function registry. There is one per process. */
#ifndef MH_HOST_H
#define MH_HOST_H
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "codec/codec.h"
#include "core/config.h"
#include "call/engine.h"
#include "call/events.h"
#include "core/list.h"
#include "core/metrics.h"
#include "call/registry.h"

typedef struct mh_server mh_server;
typedef struct mh_watch mh_watch;
typedef struct mh_devserver mh_devserver;
typedef struct mh_mesh mh_mesh;
typedef struct mh_upstream mh_upstream;
typedef struct mh_host mh_host;
typedef struct mh_script mh_script;

/* What the composition root (main.c) plugs into a host. host/ names none of
 * these itself, so it builds without Lua and its C tests drive it with a fake
 * engine (tests/c/fake_engine.c); bindings/moonhost_lua.h has the real ones. */
typedef struct mh_host_parts {
  const mh_engine_vt *engine;   /* runs plugins */
  mh_config_eval_fn eval_config; /* evaluates conf.d fragments */
  /* Runs a `moonhost test`/`types` program beside host h (cmds.h); returns
   * its exit code. NULL where no such runner exists. */
  int (*run_script)(mh_host *h, const mh_script *s);
} mh_host_parts;

struct mh_host {
  uv_loop_t *loop;
  mh_config *cfg;
  const mh_host_parts *parts;
  const mh_engine_vt *engine; /* parts->engine */
  mh_registry registry;
  mh_event_listeners events; /* events.h */
  mh_list clients;
  size_t nclients;
  uint64_t next_client_id;
  mh_list plugins;
  mh_list runs;  /* handlers running (dispatch.c): told when the host goes first */
  mh_list loads; /* plugin loads under way (plugin.c): stopped on shutdown */
  mh_server *server;
  char token[33]; /* generated at start when auth.generate_token; "" otherwise */
  /* where the configuration came from, to reload it */
  const char *config_dir;
  bool config_required;
  const mh_value *config_overlay; /* command-line flags */
  mh_watch *plugins_watch, *config_watch;
  mh_devserver *devserver;
  mh_mesh *mesh;
  mh_upstream *upstreams; /* host links we dial (mesh_link.c) */
  struct mh_cluster *cluster; /* hosts met through NATS (mesh_cluster.c), or NULL */
  struct mh_states *states;   /* shared state (session/shared_state.c), or NULL */
  struct mh_inspect *inspect; /* the inspector page's side (app/inspect.c), or NULL */
  struct mh_dfstreams *dfstreams; /* devframe streaming channels (session/devframe_stream.c), or NULL */
  struct mh_dfuploads *dfuploads; /* uploads to them (session/devframe_upload.c), or NULL */
  mh_codec_limits codec_limits;
  mh_metrics metrics; /* counters for /metrics (core/metrics.h) */
  bool plugins_loaded; /* the loads at start are done (run.c): /readyz */
  bool stopping;
};

/* The call layer of a host: registry, plugins, the dispatcher's builtins.
 * A serving host also needs its sessions and mesh: mh_host_setup
 * (host_setup.h) does both. parts must outlive the host. Returns -1 with
 * *errmsg (malloc'd) when it cannot start. */
int mh_host_init(mh_host *h, uv_loop_t *loop, mh_config *cfg, const mh_host_parts *parts, char **errmsg);
void mh_host_free(mh_host *h);

#endif
