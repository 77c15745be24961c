/* A token bucket: `rate` tokens a second, at most `burst` saved up, full at
 * the first take. Used to rate-limit log lines per call site (log.c) and
 * untrusted clients' calls (client.c). The caller supplies the clock. */
#ifndef MH_BUCKET_H
#define MH_BUCKET_H
#include <stdbool.h>
#include <stdint.h>

typedef struct mh_bucket {
  bool started;
  double tokens;
  uint64_t last_ms;
} mh_bucket;

/* Takes one token at now_ms (a monotonic clock); false when none is left. */
bool mh_bucket_take(mh_bucket *b, double rate, double burst, uint64_t now_ms);

#endif
