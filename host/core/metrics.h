/* Counters for /metrics (transport/metrics_route.c renders them). They live
 * in the host (mh_host.metrics) and whoever sees a thing happen adds to them
 * directly: plain integers on the hot path, no allocation per call, no
 * call back up the layers. Per-function series are keyed by registered
 * function name only (never arguments), so their number is bounded by the
 * functions plugins and the host define; a call to a name nobody defines
 * counts under one series, MH_METRICS_UNKNOWN_FN. */
#ifndef MH_METRICS_H
#define MH_METRICS_H
#include <stddef.h>
#include <stdint.h>

#include "core/map.h"

#define MH_METRICS_UNKNOWN_FN "(unknown)"

/* Upper bounds of the call duration histogram, in nanoseconds (fixed:
 * observing is a short scan, rendering prints them as seconds). */
#define MH_METRICS_BUCKETS 14
extern const uint64_t mh_metrics_bucket_ns[MH_METRICS_BUCKETS];

typedef enum { MH_OUTCOME_OK, MH_OUTCOME_ERROR, MH_OUTCOME_CANCELLED, MH_OUTCOME_N } mh_call_outcome;
extern const char *const mh_call_outcome_names[MH_OUTCOME_N];

typedef enum {
  MH_REFUSED_HOST,       /* Host header not allowed (DNS rebinding) */
  MH_REFUSED_ORIGIN,     /* Origin not allowed (cross-site page) */
  MH_REFUSED_BAD_REQUEST, /* no Host, a header that cannot be read */
  MH_REFUSED_PATH,       /* a WebSocket upgrade to a path we do not serve */
  MH_REFUSED_TOO_MANY,   /* limits.max_connections */
  MH_REFUSED_SHUTDOWN,   /* the host is shutting down */
  MH_REFUSED_STARTING,   /* the plugins found at start are still loading */
  MH_REFUSED_N
} mh_refused_reason;
extern const char *const mh_refused_reason_names[MH_REFUSED_N];

/* One function name, across its generations (reloads keep counting). */
typedef struct mh_fn_metrics {
  const char *type; /* mh_fn_type_name of its latest registration: static */
  uint64_t calls[MH_OUTCOME_N];
  uint64_t buckets[MH_METRICS_BUCKETS]; /* per bucket, not cumulative */
  uint64_t count, sum_ns;
  uint64_t cache_hits, cache_misses;
} mh_fn_metrics;

/* Close codes are client-chosen 16-bit numbers: a few distinct ones are
 * kept, the rest count under code 0 ("other"). */
#define MH_METRICS_CLOSE_CODES 16
typedef struct mh_close_count {
  int code;
  uint64_t n;
} mh_close_count;

typedef struct mh_metrics {
  uint64_t connections_accepted;
  uint64_t refused[MH_REFUSED_N];
  uint64_t bytes_sent, bytes_received;
  uint64_t broadcasts;
  int64_t inflight_calls;
  mh_close_count closes[MH_METRICS_CLOSE_CODES + 1]; /* the last: other */
  mh_map fns;          /* name -> mh_fn_metrics */
  mh_fn_metrics unknown; /* MH_METRICS_UNKNOWN_FN */
  mh_fn_metrics lost;    /* where a name goes when memory ran out (not rendered) */
  mh_map plugin_errors; /* plugin name -> uint64_t * (failed loads) */
} mh_metrics;

void mh_metrics_free(mh_metrics *m);

/* The series of function `name` (created on first use; type is a static
 * string). Never NULL: out of memory, a sink nobody renders. */
mh_fn_metrics *mh_metrics_fn(mh_metrics *m, const char *name, const char *type);

/* One call answered after ns nanoseconds. */
static inline void mh_metrics_observe(mh_fn_metrics *f, mh_call_outcome o, uint64_t ns) {
  f->calls[o]++;
  f->count++;
  f->sum_ns += ns;
  size_t i = 0;
  while (i < MH_METRICS_BUCKETS && ns > mh_metrics_bucket_ns[i]) i++;
  if (i < MH_METRICS_BUCKETS) f->buckets[i]++; /* past the last bound: only +Inf (count) */
}

/* The upper bound, in ns, of the bucket holding quantile q (0 < q <= 1) of
 * f's calls: "p99 <= X". 0 when nothing was observed, UINT64_MAX when it
 * lies past the last bound. */
uint64_t mh_metrics_quantile_ns(const mh_fn_metrics *f, double q);

void mh_metrics_close(mh_metrics *m, int code);
void mh_metrics_plugin_error(mh_metrics *m, const char *plugin);
uint64_t mh_metrics_plugin_errors(const mh_metrics *m, const char *plugin);

#endif
