/* Result cache: hits and misses, TTL expiry, LRU eviction by entries and by
 * bytes, drop, clear and stats. Time is passed explicitly as now_ms. */
#include <stdlib.h>
#include <string.h>

#include "call/cache.h"
#include "check.h"

static const mh_value *get(mh_cache *c, const char *key, uint64_t now) {
  return mh_cache_get(c, key, strlen(key), now);
}

static int put_int(mh_cache *c, const char *key, int64_t i, uint64_t now) {
  mh_value *v = mh_value_int(i);
  int rc = mh_cache_put(c, key, strlen(key), v, now);
  mh_value_free(v);
  return rc;
}

static bool has_int(mh_cache *c, const char *key, int64_t i, uint64_t now) {
  const mh_value *v = get(c, key, now);
  return v && v->type == MH_V_INT && v->u.i == i;
}

static mh_cache_stats stats(const mh_cache *c) {
  mh_cache_stats s;
  mh_cache_get_stats(c, &s);
  return s;
}

static void test_hit_miss(void) {
  mh_cache *c = mh_cache_new(0, 0, 0);
  CHECK(c != NULL);
  CHECK(get(c, "a", 0) == NULL);
  CHECK(put_int(c, "a", 1, 0) == 0);
  CHECK(has_int(c, "a", 1, 0));
  CHECK(has_int(c, "a", 1, UINT64_MAX - 1)); /* ttl 0: never expires */

  /* the cache keeps its own copy */
  mh_value *v = mh_value_cstring("mine");
  CHECK(mh_cache_put(c, "s", 1, v, 0) == 0);
  mh_value_free(v);
  const mh_value *got = get(c, "s", 0);
  CHECK(got && got->type == MH_V_STRING && strcmp(got->u.str.ptr, "mine") == 0);

  /* keys are bytes: embedded NULs and prefixes are distinct, empty is fine */
  v = mh_value_int(7);
  CHECK(mh_cache_put(c, "k\0x", 3, v, 0) == 0);
  CHECK(mh_cache_put(c, "", 0, v, 0) == 0);
  mh_value_free(v);
  CHECK(mh_cache_get(c, "k\0x", 3, 0) != NULL);
  CHECK(mh_cache_get(c, "k", 1, 0) == NULL);
  CHECK(mh_cache_get(c, "k\0y", 3, 0) == NULL);
  CHECK(mh_cache_get(c, "", 0, 0) != NULL);

  /* put on an existing key replaces */
  CHECK(put_int(c, "a", 2, 0) == 0);
  CHECK(has_int(c, "a", 2, 0));

  mh_cache_stats s = stats(c);
  CHECK(s.entries == 4);
  CHECK(s.hits == 6 && s.misses == 3);
  CHECK(s.evictions == 0 && s.expirations == 0);
  CHECK(s.bytes > 0);
  mh_cache_free(c);
  mh_cache_free(NULL);
}

static void test_many_keys(void) {
  /* enough keys to make the table grow several times */
  mh_cache *c = mh_cache_new(0, 0, 0);
  char key[32];
  for (int i = 0; i < 5000; i++) {
    snprintf(key, sizeof key, "key-%d", i);
    CHECK(put_int(c, key, i, 0) == 0);
  }
  int found = 0;
  for (int i = 0; i < 5000; i++) {
    snprintf(key, sizeof key, "key-%d", i);
    found += has_int(c, key, i, 0);
  }
  CHECK(found == 5000);
  CHECK(stats(c).entries == 5000);
  for (int i = 0; i < 5000; i += 2) {
    snprintf(key, sizeof key, "key-%d", i);
    CHECK(mh_cache_drop(c, key, strlen(key)) == 1);
  }
  CHECK(stats(c).entries == 2500);
  CHECK(!has_int(c, "key-0", 0, 0) && has_int(c, "key-1", 1, 0));
  mh_cache_free(c);
}

static void test_ttl(void) {
  mh_cache *c = mh_cache_new(100, 0, 0);
  CHECK(put_int(c, "a", 1, 1000) == 0);
  CHECK(has_int(c, "a", 1, 1000));
  CHECK(has_int(c, "a", 1, 1099));
  CHECK(get(c, "a", 1100) == NULL); /* lives for [put, put + ttl) */
  mh_cache_stats s = stats(c);
  CHECK(s.expirations == 1 && s.misses == 1 && s.hits == 2 && s.entries == 0 && s.bytes == 0);
  /* it is gone, not just hidden */
  CHECK(get(c, "a", 1000) == NULL);
  CHECK(stats(c).expirations == 1 && stats(c).misses == 2);

  /* put refreshes the expiry */
  CHECK(put_int(c, "b", 1, 0) == 0);
  CHECK(put_int(c, "b", 2, 90) == 0);
  CHECK(has_int(c, "b", 2, 150));
  CHECK(get(c, "b", 190) == NULL);

  /* a hit does not extend it */
  CHECK(put_int(c, "c", 3, 0) == 0);
  CHECK(has_int(c, "c", 3, 99));
  CHECK(get(c, "c", 100) == NULL);

  /* no overflow near the end of time */
  CHECK(put_int(c, "d", 4, UINT64_MAX - 10) == 0);
  CHECK(has_int(c, "d", 4, UINT64_MAX - 1));
  mh_cache_free(c);
}

static void test_lru_entries(void) {
  mh_cache *c = mh_cache_new(0, 3, 0);
  put_int(c, "a", 1, 0);
  put_int(c, "b", 2, 0);
  put_int(c, "c", 3, 0);
  CHECK(has_int(c, "a", 1, 0)); /* a becomes the most recent; b is now the oldest */
  put_int(c, "d", 4, 0);
  CHECK(stats(c).entries == 3 && stats(c).evictions == 1);
  CHECK(get(c, "b", 0) == NULL);
  CHECK(has_int(c, "a", 1, 0) && has_int(c, "c", 3, 0) && has_int(c, "d", 4, 0));
  /* replacing counts as use */
  put_int(c, "a", 10, 0); /* order now (old->new): c d a */
  put_int(c, "e", 5, 0);  /* evicts c */
  CHECK(get(c, "c", 0) == NULL);
  CHECK(has_int(c, "a", 10, 0) && has_int(c, "d", 4, 0) && has_int(c, "e", 5, 0));
  CHECK(stats(c).evictions == 2);
  mh_cache_free(c);

  c = mh_cache_new(0, 1, 0);
  put_int(c, "a", 1, 0);
  put_int(c, "b", 2, 0);
  CHECK(get(c, "a", 0) == NULL && has_int(c, "b", 2, 0));
  CHECK(stats(c).entries == 1);
  mh_cache_free(c);
}

static mh_value *blob(size_t n, char fill) {
  char *s = malloc(n);
  memset(s, fill, n);
  mh_value *v = mh_value_string(s, n);
  free(s);
  return v;
}

static void test_lru_bytes(void) {
  /* each entry is a bit over 1000 bytes: two fit in 2500, three do not */
  mh_cache *c = mh_cache_new(0, 0, 2500);
  mh_value *v = blob(1000, 'x');
  CHECK(mh_cache_put(c, "a", 1, v, 0) == 0);
  size_t one = stats(c).bytes;
  CHECK(one >= 1001 && one < 1250);
  CHECK(mh_cache_put(c, "b", 1, v, 0) == 0);
  CHECK(stats(c).bytes == 2 * one);
  CHECK(mh_cache_get(c, "a", 1, 0) != NULL); /* b is the oldest now */
  CHECK(mh_cache_put(c, "c", 1, v, 0) == 0);
  mh_cache_stats s = stats(c);
  CHECK(s.entries == 2 && s.evictions == 1 && s.bytes == 2 * one);
  CHECK(mh_cache_get(c, "b", 1, 0) == NULL);
  CHECK(mh_cache_get(c, "a", 1, 0) && mh_cache_get(c, "c", 1, 0));

  /* a small value fits beside them */
  mh_value *small = mh_value_int(1);
  CHECK(mh_cache_put(c, "s", 1, small, 0) == 0);
  CHECK(stats(c).entries == 3 && stats(c).evictions == 1);

  /* growing an entry by replacement re-evaluates the bound: a (oldest) goes */
  CHECK(mh_cache_put(c, "s", 1, v, 0) == 0);
  s = stats(c);
  CHECK(s.entries == 2 && s.evictions == 2 && s.bytes == 2 * one);
  CHECK(mh_cache_get(c, "a", 1, 0) == NULL);
  CHECK(mh_cache_get(c, "c", 1, 0) && mh_cache_get(c, "s", 1, 0));

  /* a value larger than the whole budget is not stored and evicts nothing */
  mh_value *huge = blob(3000, 'y');
  CHECK(mh_cache_put(c, "h", 1, huge, 0) == 0);
  CHECK(mh_cache_get(c, "h", 1, 0) == NULL);
  CHECK(stats(c).entries == 2 && stats(c).evictions == 2);
  /* and replacing an entry with one drops the stale entry */
  CHECK(mh_cache_put(c, "s", 1, huge, 0) == 0);
  CHECK(mh_cache_get(c, "s", 1, 0) == NULL);
  CHECK(stats(c).entries == 1 && stats(c).bytes == one);

  mh_value_free(huge);
  mh_value_free(small);
  mh_value_free(v);
  mh_cache_free(c);
}

static void test_deep_value_size(void) {
  /* a nested value is accounted by its contents, not just its root */
  mh_cache *c = mh_cache_new(0, 0, 0);
  mh_value *small = mh_value_new(MH_V_OBJECT);
  mh_value *big = mh_value_new(MH_V_OBJECT);
  mh_value *inner = mh_value_new(MH_V_ARRAY);
  for (int i = 0; i < 10; i++) mh_value_push(inner, blob(100, 'z'));
  mh_value_obj_set(big, "list", inner);
  CHECK(mh_cache_put(c, "k", 1, small, 0) == 0);
  size_t s1 = stats(c).bytes;
  CHECK(mh_cache_put(c, "k", 1, big, 0) == 0);
  size_t s2 = stats(c).bytes;
  CHECK(s2 > s1 + 1000);
  mh_value_free(small);
  mh_value_free(big);
  mh_cache_free(c);
}

static void test_drop_clear(void) {
  mh_cache *c = mh_cache_new(0, 0, 0);
  put_int(c, "a", 1, 0);
  put_int(c, "b", 2, 0);
  CHECK(mh_cache_drop(c, "a", 1) == 1);
  CHECK(mh_cache_drop(c, "a", 1) == 0);
  CHECK(mh_cache_drop(c, "zz", 2) == 0);
  CHECK(get(c, "a", 0) == NULL);
  CHECK(has_int(c, "b", 2, 0));
  mh_cache_stats s = stats(c);
  CHECK(s.entries == 1 && s.evictions == 0);

  put_int(c, "c", 3, 0);
  mh_cache_clear(c);
  s = stats(c);
  CHECK(s.entries == 0 && s.bytes == 0);
  CHECK(s.hits == 1 && s.misses == 1); /* counters are cumulative */
  CHECK(get(c, "b", 0) == NULL && get(c, "c", 0) == NULL);
  /* usable after clear */
  put_int(c, "d", 4, 0);
  CHECK(has_int(c, "d", 4, 0));
  CHECK(stats(c).entries == 1);
  mh_cache_free(c);
}

int main(void) {
  test_hit_miss();
  test_many_keys();
  test_ttl();
  test_lru_entries();
  test_lru_bytes();
  test_deep_value_size();
  test_drop_clear();
  return check_failures ? 1 : 0;
}
