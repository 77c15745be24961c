/* The dispatcher's side of /metrics: binding a function to its series and
 * counting a call once its caller has the answer (core/metrics.h). Inline:
 * this runs on every call, and is a few increments and a clock read. */
#ifndef MH_CALL_METRICS_H
#define MH_CALL_METRICS_H
#include <string.h>
#include <uv.h>

#include "call/host.h"
#include "call/registry.h"
#include "core/metrics.h"

/* fn's series, looked up by name on its first call (then kept on fn). */
static inline mh_fn_metrics *mh_call_metrics_of(mh_host *h, mh_fn *fn) {
  if (!fn->metrics) fn->metrics = mh_metrics_fn(&h->metrics, fn->name, mh_fn_type_name(fn->type));
  return fn->metrics;
}

static inline mh_call_outcome mh_call_outcome_of(const mh_error *err) {
  if (!err) return MH_OUTCOME_OK;
  return strcmp(err->code, MH_ERR_CANCELLED) == 0 ? MH_OUTCOME_CANCELLED : MH_OUTCOME_ERROR;
}

/* A call answered before the dispatcher returned (cache, builtin, not found). */
static inline void mh_call_answered(mh_fn_metrics *f, const mh_error *err, uint64_t t0) {
  mh_metrics_observe(f, mh_call_outcome_of(err), uv_hrtime() - t0);
}

/* n calls that were waiting (counted in inflight_calls) got their outcome. */
static inline void mh_call_finished(mh_host *h, mh_fn_metrics *f, mh_call_outcome o, uint64_t t0, uint32_t n) {
  if (!n) return;
  uint64_t ns = uv_hrtime() - t0;
  h->metrics.inflight_calls -= n;
  for (uint32_t i = 0; i < n; i++) mh_metrics_observe(f, o, ns);
}

#endif
