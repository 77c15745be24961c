/* Result cache for one cached query function: canonical argument encoding
 * -> value, with a TTL per entry and an LRU bound on entries and bytes. */
#ifndef MH_CACHE_H
#define MH_CACHE_H
#include <stddef.h>
#include <stdint.h>

#include "core/value.h"

typedef struct mh_cache mh_cache;

typedef struct mh_cache_stats {
  uint64_t hits, misses, evictions, expirations;
  size_t entries, bytes;
} mh_cache_stats;

/* ttl_ms 0 means no expiry. max_entries/max_bytes 0 mean unbounded. */
mh_cache *mh_cache_new(uint64_t ttl_ms, size_t max_entries, size_t max_bytes);
void mh_cache_free(mh_cache *c);
/* Borrowed pointer valid until the next call that changes the cache; counts a hit or a miss. */
const mh_value *mh_cache_get(mh_cache *c, const char *key, size_t keylen, uint64_t now_ms);
/* Stores a copy of value (the caller keeps its own). Returns 0 or -1. */
int mh_cache_put(mh_cache *c, const char *key, size_t keylen, const mh_value *value, uint64_t now_ms);
/* Drops one key; returns whether it was there. */
int mh_cache_drop(mh_cache *c, const char *key, size_t keylen);
void mh_cache_clear(mh_cache *c);
void mh_cache_get_stats(const mh_cache *c, mh_cache_stats *out);

#endif
