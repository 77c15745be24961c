/* Shared by the inspector's files (inspect.c, inspect_overview.c,
 * inspect_log.c); nothing else includes it. */
#ifndef MH_INSPECT_INTERNAL_H
#define MH_INSPECT_INTERNAL_H
#include <stddef.h>
#include <stdint.h>

#include "call/registry.h"
#include "core/map.h"
#include "core/timer.h"

/* A client that asked for the log tail, and the last line it was sent. */
typedef struct mh_inspect_sub {
  char id[24];
  uint64_t seq;
} mh_inspect_sub;

typedef struct mh_inspect {
  mh_host *host;
  /* plugin name -> char * (owned): why its last load failed, kept until a
   * load succeeds (plugin.h keeps one only while no generation serves). */
  mh_map last_errors;
  mh_inspect_sub *subs;
  size_t nsubs, capsubs;
  mh_timer *flush; /* a delivery of new lines is due */
} mh_inspect;

/* inspect_overview.c */
mh_value *mh_inspect_overview(mh_host *h, const mh_caller *caller, const mh_value *args, mh_error **err);

/* inspect_log.c */
mh_value *mh_inspect_logs(mh_host *h, const mh_caller *caller, const mh_value *args, mh_error **err);
/* Starts keeping lines and hearing of new ones; 0 or -1 (memory). */
int mh_inspect_log_start(mh_inspect *in);
void mh_inspect_log_stop(mh_inspect *in);
/* The client went away: it gets no more lines. */
void mh_inspect_log_forget(mh_inspect *in, const char *client_id);

#endif
