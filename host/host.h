/* The host: one loop, its configuration, connected clients, plugins and
 * the function registry. There is one per process. */
#ifndef MH_HOST_H
#define MH_HOST_H
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "codec.h"
#include "config.h"
#include "engine.h"
#include "list.h"
#include "registry.h"

typedef struct mh_server mh_server;

typedef struct mh_host {
  uv_loop_t *loop;
  mh_config *cfg;
  const mh_engine_vt *engine;
  mh_registry registry;
  mh_list clients;
  size_t nclients;
  uint64_t next_client_id;
  mh_list plugins;
  mh_server *server;
  char token[33]; /* generated at start when auth.generate_token; "" otherwise */
  mh_codec_limits codec_limits;
  bool stopping;
} mh_host;

int mh_host_init(mh_host *h, uv_loop_t *loop, mh_config *cfg);
void mh_host_free(mh_host *h);

#endif
