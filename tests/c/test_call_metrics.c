/* What the dispatcher counts for /metrics (core/metrics.h, call_metrics.h),
 * driven through a real host with the fake engine: every caller is counted
 * once with its outcome, whether it ran, joined a run, was answered from the
 * cache, left, or made a call nobody answers (an event); calls in flight
 * come back to zero; unknown names share one series; a function's series
 * outlives a reload; close codes past the slots count as "other". */
#include <stdlib.h>
#include <string.h>

#include "call/dispatch.h"
#include "call/host.h"
#include "call/plugin.h"
#include "check.h"
#include "core/metrics.h"
#include "fake_engine.h"

static fake_plugin demo = {
    .name = "demo",
    .fns = {{.name = "demo:q", .type = MH_FN_QUERY},
            {.name = "demo:cq", .type = MH_FN_QUERY, .cached = true},
            {.name = "demo:ev", .type = MH_FN_EVENT},
            {.name = "demo:sync", .type = MH_FN_QUERY, .sync = true}},
};

static fake_fixture fx;
static mh_host *H;

static mh_value *one(int i) {
  mh_value *a = mh_value_new(MH_V_ARRAY);
  mh_value_push(a, mh_value_int(i));
  return a;
}

static mh_waiter *call(const char *name, int arg, fake_reply *r) {
  return mh_dispatch(H, NULL, name, one(arg), false, fake_on_reply, r);
}

static const mh_fn_metrics *series(const char *name) { return mh_map_get(&H->metrics.fns, name, strlen(name)); }

static bool counted(const char *name, uint64_t ok, uint64_t error, uint64_t cancelled) {
  const mh_fn_metrics *m = series(name);
  return m && m->calls[MH_OUTCOME_OK] == ok && m->calls[MH_OUTCOME_ERROR] == error &&
         m->calls[MH_OUTCOME_CANCELLED] == cancelled && m->count == ok + error + cancelled;
}

static void test_calls(void) {
  fake_reply a = {0}, b = {0}, c = {0};
  /* two callers of one run: two calls, both in flight until it ends */
  call("demo:q", 1, &a);
  call("demo:q", 1, &b);
  CHECK(H->metrics.inflight_calls == 2);
  fake_complete(fake_running("demo:q", 0), mh_value_int(1));
  CHECK(counted("demo:q", 2, 0, 0) && H->metrics.inflight_calls == 0);
  CHECK(strcmp(series("demo:q")->type, "query") == 0);
  /* one of two leaves: cancelled; the other gets the failure */
  fake_reply_clear(&a), fake_reply_clear(&b);
  mh_waiter *w = call("demo:q", 2, &a);
  call("demo:q", 2, &b);
  mh_dispatch_cancel(w);
  CHECK(H->metrics.inflight_calls == 1);
  fake_fail(fake_running("demo:q", 0), MH_ERR_INTERNAL, "boom");
  CHECK(counted("demo:q", 2, 1, 1) && H->metrics.inflight_calls == 0);
  /* alone and cancelled: the run is cancelled too, the call counted once */
  mh_dispatch_cancel(call("demo:q", 3, &c));
  CHECK(counted("demo:q", 2, 1, 2) && H->metrics.inflight_calls == 0);
  /* a miss, then a hit answered before the dispatcher returns */
  fake_reply_clear(&a), fake_reply_clear(&b);
  call("demo:cq", 1, &a);
  fake_complete(fake_running("demo:cq", 0), mh_value_int(5));
  CHECK(call("demo:cq", 1, &b) == NULL && fake_reply_int(&b, 5));
  const mh_fn_metrics *cq = series("demo:cq");
  CHECK(cq->cache_hits == 1 && cq->cache_misses == 1 && counted("demo:cq", 2, 0, 0));
  /* every call lands in a bucket or past the last: the buckets add up */
  uint64_t in_buckets = 0;
  for (int i = 0; i < MH_METRICS_BUCKETS; i++) in_buckets += cq->buckets[i];
  CHECK(in_buckets <= cq->count && cq->buckets[0] >= 1); /* the hit took well under 100 us */
  /* a handler done inside the call */
  fake_reply_clear(&a);
  CHECK(call("demo:sync", 0, &a) == NULL && counted("demo:sync", 1, 0, 0));
  /* an event nobody answers: counted when its run ends */
  CHECK(mh_dispatch(H, NULL, "demo:ev", one(0), false, NULL, NULL) == NULL);
  CHECK(H->metrics.inflight_calls == 1 && !series("demo:ev")->count);
  fake_fail(fake_last_call(), MH_ERR_INTERNAL, "event failed (expected in this test)");
  CHECK(counted("demo:ev", 0, 1, 0) && H->metrics.inflight_calls == 0);
  fake_reply_clear(&a), fake_reply_clear(&b), fake_reply_clear(&c);
}

static void test_unknown_names(void) {
  fake_reply r = {0};
  size_t before = H->metrics.fns.len;
  call("no:such", 0, &r);
  fake_reply_clear(&r);
  call("no:other", 0, &r);
  fake_reply_clear(&r);
  CHECK(mh_dispatch(H, NULL, "no:third", one(0), true, fake_on_reply, &r) == NULL);
  fake_reply_clear(&r);
  CHECK(H->metrics.fns.len == before); /* no series per made-up name */
  CHECK(H->metrics.unknown.calls[MH_OUTCOME_ERROR] == 2 && H->metrics.unknown.calls[MH_OUTCOME_OK] == 1);
}

static void test_reload_keeps_series(void) {
  fake_reply r = {0};
  fake_load(H, "demo", NULL, NULL); /* generation 2: new mh_fn objects */
  call("demo:q", 9, &r);
  fake_complete(fake_running("demo:q", 0), mh_value_int(9));
  CHECK(fake_reply_int(&r, 9) && counted("demo:q", 3, 1, 2));
  fake_reply_clear(&r);
}

static void test_close_codes(void) {
  mh_metrics m = {0};
  for (int i = 0; i < MH_METRICS_CLOSE_CODES + 3; i++) mh_metrics_close(&m, 4000 + i);
  mh_metrics_close(&m, 4000);
  CHECK(m.closes[0].code == 4000 && m.closes[0].n == 2);
  CHECK(m.closes[MH_METRICS_CLOSE_CODES - 1].code == 4000 + MH_METRICS_CLOSE_CODES - 1);
  CHECK(m.closes[MH_METRICS_CLOSE_CODES].code == 0 && m.closes[MH_METRICS_CLOSE_CODES].n == 3);
  mh_metrics_free(&m);
}

int main(void) {
  mh_log_set_level(MH_LOG_ERROR);
  fake_reset();
  fake_define(&demo);
  if (fake_fixture_init(&fx)) return 2;
  H = &fx.host;
  fake_load(H, "demo", NULL, NULL);
  test_calls();
  test_unknown_names();
  test_reload_keeps_series();
  fake_fixture_free(&fx);
  CHECK(fake_all_released());
  fake_reset();
  test_close_codes();
  if (!check_failures) printf("test_call_metrics: ok\n");
  return check_failures ? 1 : 0;
}
