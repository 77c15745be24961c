/* core/log_ring: the inspector's log tail keeps the last N lines (older
 * ones counted as skipped), cuts long messages at a UTF-8 boundary, keeps
 * no line logged inside a hidden scope (the inspector's own delivery, a
 * line carrying a secret), and keeps nothing while off. Also
 * mh_metrics_quantile_ns, which the inspector shows as p50/p99. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/log_ring.h"
#include "core/metrics.h"

static int taps;
static void on_tap(void *ud) {
  (void)ud;
  taps++;
}

static void ring_bounds(void) {
  CHECK(mh_log_ring_enable(4) == 0);
  mh_log_ring_set_tap(on_tap, NULL);
  for (int i = 1; i <= 10; i++) mh_log_info("test", "line %d", i);
  CHECK(mh_log_ring_last_seq() == 10);
  CHECK(taps == 10);
  uint64_t skipped;
  const mh_log_line *l = mh_log_ring_next(0, &skipped);
  CHECK(l && l->seq == 7 && skipped == 6 && strcmp(l->msg, "line 7") == 0 && strcmp(l->area, "test") == 0);
  l = mh_log_ring_next(8, &skipped);
  CHECK(l && l->seq == 9 && skipped == 0 && l->level == MH_LOG_INFO);
  CHECK(mh_log_ring_next(10, &skipped) == NULL);
}

static void hidden_lines_not_kept(void) {
  taps = 0;
  mh_log_ring_hide_enter();
  mh_log_warn("inspect", "about the inspector");
  mh_log_ring_hide_leave();
  mh_log_warn("test", "after");
  uint64_t skipped;
  const mh_log_line *l = mh_log_ring_next(10, &skipped);
  CHECK(l && l->seq == 11 && strcmp(l->msg, "after") == 0);
  CHECK(taps == 1);
}

static void long_message_cut(void) {
  /* "é" is 2 bytes: 1500 of them cross MH_LOG_RING_MSG_MAX mid-character. */
  size_t n = 1500;
  char *big = malloc(n * 2 + 1);
  if (!big) return;
  for (size_t i = 0; i < n; i++) memcpy(big + 2 * i, "\xc3\xa9", 2);
  big[n * 2] = '\0';
  mh_log_info("test", "%s", big);
  uint64_t skipped;
  const mh_log_line *l = mh_log_ring_next(mh_log_ring_last_seq() - 1, &skipped);
  size_t len = l ? strlen(l->msg) : 0;
  CHECK(len > 0 && len <= MH_LOG_RING_MSG_MAX + 3);
  CHECK(l && strcmp(l->msg + len - 3, "...") == 0);
  CHECK((len - 3) % 2 == 0); /* whole characters only */
  free(big);
}

static void off_keeps_nothing(void) {
  CHECK(mh_log_ring_enable(0) == 0);
  CHECK(!mh_log_ring_on());
  mh_log_info("test", "not kept");
  uint64_t skipped;
  CHECK(mh_log_ring_next(0, &skipped) == NULL);
}

static void quantiles(void) {
  mh_fn_metrics f = {0};
  CHECK(mh_metrics_quantile_ns(&f, 0.5) == 0);
  for (int i = 0; i < 98; i++) mh_metrics_observe(&f, MH_OUTCOME_OK, 50000);       /* under 100 us */
  for (int i = 0; i < 2; i++) mh_metrics_observe(&f, MH_OUTCOME_OK, 30000000);     /* 25-50 ms */
  CHECK(mh_metrics_quantile_ns(&f, 0.5) == 100000);
  CHECK(mh_metrics_quantile_ns(&f, 0.98) == 100000);
  CHECK(mh_metrics_quantile_ns(&f, 0.99) == 50000000);
  mh_metrics_observe(&f, MH_OUTCOME_OK, 20000000000ull); /* past the last bound */
  CHECK(mh_metrics_quantile_ns(&f, 1.0) == UINT64_MAX);
}

int main(void) {
  ring_bounds();
  hidden_lines_not_kept();
  long_message_cut();
  off_keeps_nothing();
  quantiles();
  return check_failures ? 1 : 0;
}
