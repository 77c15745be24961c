/* A whole host, as `moonhost run` and the script runner use it: the call
 * layer (mh_host_init) plus what the layers above it add: trust (the
 * start-up token and auth builtins), client notifications of host events,
 * and the mesh. This is where the layers are joined, so that none of them
 * calls upward to set itself up. */
#ifndef MH_HOST_SETUP_H
#define MH_HOST_SETUP_H
#include "call/host.h"

/* 0, or MH_START_BAD_CONFIG when the configuration cannot be used, or -1
 * (memory, randomness); *errmsg (malloc'd) names the cause, NULL only when
 * memory ran out (core/error.h). */
int mh_host_setup(mh_host *h, uv_loop_t *loop, mh_config *cfg, const mh_host_parts *parts, char **errmsg);
/* Unloads plugins and frees everything mh_host_setup made. */
void mh_host_teardown(mh_host *h);

#endif
