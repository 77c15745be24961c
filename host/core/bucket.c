#include "core/bucket.h"

bool mh_bucket_take(mh_bucket *b, double rate, double burst, uint64_t now_ms) {
  if (!b->started) {
    b->started = true;
    b->tokens = burst;
  } else if (now_ms > b->last_ms) {
    b->tokens += (double)(now_ms - b->last_ms) * rate / 1000.0;
    if (b->tokens > burst) b->tokens = burst;
  }
  b->last_ms = now_ms;
  if (b->tokens < 1.0) return false;
  b->tokens -= 1.0;
  return true;
}
