/* Result cache: a chained hash table (FNV-1a over the key bytes) for lookup
 * plus a doubly linked list in recency order for LRU eviction. Expired
 * entries are removed lazily, when a get() finds them. */
#include "call/cache.h"

#include <stdlib.h>
#include <string.h>

typedef struct mh_centry {
  char *key;
  size_t keylen;
  uint64_t hash;
  mh_value *value;
  size_t bytes;        /* accounted size: key + approximate value size */
  uint64_t expires_at; /* UINT64_MAX: never */
  struct mh_centry *chain;      /* next in the hash bucket */
  struct mh_centry *prev, *next; /* recency list: head is the most recent */
} mh_centry;

struct mh_cache {
  uint64_t ttl_ms;
  size_t max_entries, max_bytes;
  mh_centry **buckets;
  size_t nbuckets; /* a power of two */
  mh_centry *head, *tail;
  mh_cache_stats stats;
};

#define MH_CACHE_MIN_BUCKETS 16

static uint64_t mh_cache_hash(const char *key, size_t len) {
  uint64_t h = UINT64_C(0xcbf29ce484222325);
  for (size_t i = 0; i < len; i++) {
    h ^= (unsigned char)key[i];
    h *= UINT64_C(0x100000001b3);
  }
  return h;
}

static size_t mh_cstr_size(const char *s) { return s ? strlen(s) + 1 : 0; }

/* Approximate heap footprint of a value tree: nodes, slot arrays, strings.
 * It only needs to be proportional to real use for max_bytes to work. */
static size_t mh_cache_value_size(const mh_value *v) {
  if (!v) return 0;
  size_t n = sizeof *v;
  switch (v->type) {
  case MH_V_STRING:
  case MH_V_BIGINT:
  case MH_V_URL:
    n += v->u.str.len + 1;
    break;
  case MH_V_ARRAY:
  case MH_V_SET:
    n += v->u.arr.cap * sizeof(mh_value *);
    for (size_t i = 0; i < v->u.arr.len; i++) n += mh_cache_value_size(v->u.arr.items[i]);
    break;
  case MH_V_OBJECT:
  case MH_V_MAP:
    n += v->u.obj.cap * sizeof(mh_pair);
    for (size_t i = 0; i < v->u.obj.len; i++)
      n += mh_cache_value_size(v->u.obj.items[i].key) + mh_cache_value_size(v->u.obj.items[i].val);
    break;
  case MH_V_REGEXP:
    n += mh_cstr_size(v->u.re.source) + mh_cstr_size(v->u.re.flags);
    break;
  case MH_V_ERROR:
    n += mh_cstr_size(v->u.err.name) + mh_cstr_size(v->u.err.message);
    break;
  case MH_V_BYTES:
    n += mh_cstr_size(v->u.bytes.kind) + v->u.bytes.len * sizeof(double);
    break;
  default:
    break;
  }
  return n;
}

mh_cache *mh_cache_new(uint64_t ttl_ms, size_t max_entries, size_t max_bytes) {
  mh_cache *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->buckets = calloc(MH_CACHE_MIN_BUCKETS, sizeof *c->buckets);
  if (!c->buckets) {
    free(c);
    return NULL;
  }
  c->nbuckets = MH_CACHE_MIN_BUCKETS;
  c->ttl_ms = ttl_ms;
  c->max_entries = max_entries;
  c->max_bytes = max_bytes;
  return c;
}

static void mh_centry_free(mh_centry *e) {
  free(e->key);
  mh_value_free(e->value);
  free(e);
}

void mh_cache_clear(mh_cache *c) {
  if (!c) return;
  for (mh_centry *e = c->head, *next; e; e = next) {
    next = e->next;
    mh_centry_free(e);
  }
  memset(c->buckets, 0, c->nbuckets * sizeof *c->buckets);
  c->head = c->tail = NULL;
  c->stats.entries = 0;
  c->stats.bytes = 0; /* the counters (hits, misses, ...) are cumulative and stay */
}

void mh_cache_free(mh_cache *c) {
  if (!c) return;
  mh_cache_clear(c);
  free(c->buckets);
  free(c);
}

/* ---- recency list ------------------------------------------------------- */

static void mh_lru_unlink(mh_cache *c, mh_centry *e) {
  if (e->prev) e->prev->next = e->next;
  else c->head = e->next;
  if (e->next) e->next->prev = e->prev;
  else c->tail = e->prev;
  e->prev = e->next = NULL;
}

static void mh_lru_push_front(mh_cache *c, mh_centry *e) {
  e->prev = NULL;
  e->next = c->head;
  if (c->head) c->head->prev = e;
  c->head = e;
  if (!c->tail) c->tail = e;
}

/* ---- hash table --------------------------------------------------------- */

static mh_centry **mh_cache_slot(const mh_cache *c, uint64_t hash) {
  return &c->buckets[hash & (c->nbuckets - 1)];
}

static mh_centry *mh_cache_find(const mh_cache *c, const char *key, size_t keylen, uint64_t hash) {
  for (mh_centry *e = *mh_cache_slot(c, hash); e; e = e->chain)
    if (e->hash == hash && e->keylen == keylen && (keylen == 0 || memcmp(e->key, key, keylen) == 0)) return e;
  return NULL;
}

/* Doubles the bucket array to keep chains short. Failing is harmless: the
 * table keeps working with longer chains. */
static void mh_cache_grow(mh_cache *c) {
  size_t n = c->nbuckets * 2;
  if (n < c->nbuckets || n > ((size_t)-1) / sizeof *c->buckets) return;
  mh_centry **b = calloc(n, sizeof *b);
  if (!b) return;
  for (mh_centry *e = c->head; e; e = e->next) {
    mh_centry **slot = &b[e->hash & (n - 1)];
    e->chain = *slot;
    *slot = e;
  }
  free(c->buckets);
  c->buckets = b;
  c->nbuckets = n;
}

/* Unlinks e from its bucket and the recency list and frees it. */
static void mh_cache_remove(mh_cache *c, mh_centry *e) {
  for (mh_centry **p = mh_cache_slot(c, e->hash); *p; p = &(*p)->chain) {
    if (*p == e) {
      *p = e->chain;
      break;
    }
  }
  mh_lru_unlink(c, e);
  c->stats.entries--;
  c->stats.bytes -= e->bytes;
  mh_centry_free(e);
}

/* ---- public operations -------------------------------------------------- */

const mh_value *mh_cache_get(mh_cache *c, const char *key, size_t keylen, uint64_t now_ms) {
  mh_centry *e = mh_cache_find(c, key, keylen, mh_cache_hash(key, keylen));
  if (e && now_ms >= e->expires_at) {
    mh_cache_remove(c, e);
    c->stats.expirations++;
    e = NULL;
  }
  if (!e) {
    c->stats.misses++;
    return NULL;
  }
  c->stats.hits++;
  mh_lru_unlink(c, e);
  mh_lru_push_front(c, e);
  return e->value;
}

static bool mh_cache_over_limits(const mh_cache *c) {
  return (c->max_entries && c->stats.entries > c->max_entries) || (c->max_bytes && c->stats.bytes > c->max_bytes);
}

int mh_cache_put(mh_cache *c, const char *key, size_t keylen, const mh_value *value, uint64_t now_ms) {
  mh_value *copy = mh_value_copy(value);
  if (!copy) return -1;
  size_t bytes = keylen + mh_cache_value_size(copy);
  uint64_t expires_at = c->ttl_ms == 0 || now_ms > UINT64_MAX - c->ttl_ms ? UINT64_MAX : now_ms + c->ttl_ms;
  uint64_t hash = mh_cache_hash(key, keylen);
  mh_centry *e = mh_cache_find(c, key, keylen, hash);

  /* A value that cannot fit even alone is not stored; flushing every other
   * entry for it would be pointless. A stale old value must not stay. */
  if (c->max_bytes && bytes > c->max_bytes) {
    if (e) mh_cache_remove(c, e);
    mh_value_free(copy);
    return 0;
  }

  if (e) {
    mh_value_free(e->value);
    c->stats.bytes -= e->bytes;
    mh_lru_unlink(c, e);
  } else {
    e = calloc(1, sizeof *e);
    char *k = malloc(keylen ? keylen : 1);
    if (!e || !k) {
      free(e);
      free(k);
      mh_value_free(copy);
      return -1;
    }
    if (keylen) memcpy(k, key, keylen);
    e->key = k;
    e->keylen = keylen;
    e->hash = hash;
    if (c->stats.entries >= c->nbuckets) mh_cache_grow(c);
    mh_centry **slot = mh_cache_slot(c, hash);
    e->chain = *slot;
    *slot = e;
    c->stats.entries++;
  }
  e->value = copy;
  e->bytes = bytes;
  e->expires_at = expires_at;
  c->stats.bytes += bytes;
  mh_lru_push_front(c, e);

  /* The new entry is at the head and fits alone, so it is never evicted. */
  while (mh_cache_over_limits(c) && c->tail != e) {
    mh_cache_remove(c, c->tail);
    c->stats.evictions++;
  }
  return 0;
}

int mh_cache_drop(mh_cache *c, const char *key, size_t keylen) {
  mh_centry *e = mh_cache_find(c, key, keylen, mh_cache_hash(key, keylen));
  if (!e) return 0;
  mh_cache_remove(c, e);
  return 1;
}

void mh_cache_get_stats(const mh_cache *c, mh_cache_stats *out) { *out = c->stats; }
