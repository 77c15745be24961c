#include "core/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* 100 us to 10 s: a cache hit lands in the first, a handler that waits on
 * the network somewhere in the middle, a runaway near lua.max_run_ms. */
const uint64_t mh_metrics_bucket_ns[MH_METRICS_BUCKETS] = {
    100000,    250000,    500000,     1000000,    2500000,    5000000,    10000000,
    25000000,  50000000,  100000000,  250000000,  500000000,  1000000000, 10000000000,
};

const char *const mh_call_outcome_names[MH_OUTCOME_N] = {"ok", "error", "cancelled"};
const char *const mh_refused_reason_names[MH_REFUSED_N] = {"host",        "origin",      "bad_request",
                                                            "path",        "too_many",    "shutting_down", "starting"};

void mh_metrics_free(mh_metrics *m) {
  for (size_t i = 0; i < m->fns.cap; i++)
    if (mh_map_live(&m->fns.slots[i])) free(m->fns.slots[i].value);
  for (size_t i = 0; i < m->plugin_errors.cap; i++)
    if (mh_map_live(&m->plugin_errors.slots[i])) free(m->plugin_errors.slots[i].value);
  mh_map_free(&m->fns);
  mh_map_free(&m->plugin_errors);
}

mh_fn_metrics *mh_metrics_fn(mh_metrics *m, const char *name, const char *type) {
  size_t n = strlen(name);
  mh_fn_metrics *f = mh_map_get(&m->fns, name, n);
  if (!f) {
    f = calloc(1, sizeof *f);
    if (!f) return &m->lost;
    if (mh_map_put(&m->fns, name, n, f)) {
      free(f);
      return &m->lost;
    }
  }
  f->type = type;
  return f;
}

uint64_t mh_metrics_quantile_ns(const mh_fn_metrics *f, double q) {
  if (!f->count) return 0;
  uint64_t rank = (uint64_t)ceil(q * (double)f->count); /* the call at that rank, 1-based */
  if (rank == 0) rank = 1;
  uint64_t seen = 0;
  for (size_t i = 0; i < MH_METRICS_BUCKETS; i++)
    if ((seen += f->buckets[i]) >= rank) return mh_metrics_bucket_ns[i];
  return UINT64_MAX;
}

void mh_metrics_close(mh_metrics *m, int code) {
  mh_close_count *c = m->closes;
  size_t i = 0;
  while (i < MH_METRICS_CLOSE_CODES && c[i].n && c[i].code != code) i++;
  if (i == MH_METRICS_CLOSE_CODES) code = 0; /* every slot holds another code */
  c[i].code = code;
  c[i].n++;
}

void mh_metrics_plugin_error(mh_metrics *m, const char *plugin) {
  size_t n = strlen(plugin);
  uint64_t *count = mh_map_get(&m->plugin_errors, plugin, n);
  if (!count) {
    if (!(count = calloc(1, sizeof *count))) return;
    if (mh_map_put(&m->plugin_errors, plugin, n, count)) {
      free(count);
      return;
    }
  }
  (*count)++;
}

uint64_t mh_metrics_plugin_errors(const mh_metrics *m, const char *plugin) {
  const uint64_t *count = mh_map_get(&m->plugin_errors, plugin, strlen(plugin));
  return count ? *count : 0;
}
