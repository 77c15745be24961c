/* `moonhost run`: the life of a serving process, from loading plugins to a
 * graceful shutdown (clients get 1001 once their calls have finished, or
 * when the grace period ends). */
#ifndef MH_RUN_H
#define MH_RUN_H
#include <stdbool.h>

#include "core/config.h"
#include "call/host.h"

typedef struct mh_run_opts {
  const mh_host_parts *parts; /* the engine and config evaluator (main.c) */
  const char *config_dir;
  bool config_required;
  const mh_value *overlay; /* command-line flags, re-applied on config reload */
  char **child_argv;       /* dev server command after `--`, or NULL */
} mh_run_opts;

/* Returns the process exit code: 0 after a clean stop, the dev server's
 * exit code when it ended the run, 1 when serving failed. */
int mh_run_serve(mh_config *cfg, const mh_run_opts *opts);

#endif
