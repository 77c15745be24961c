/* `moonhost reload`: asks a running host over HTTP to reload plugins. */
#ifndef MH_RELOAD_CLIENT_H
#define MH_RELOAD_CLIENT_H
#include "core/config.h"

/* Returns the exit code: 0 when every reload succeeded, 1 otherwise. */
int mh_reload_client(const mh_config *cfg, const char *token, const char *plugin);

#endif
