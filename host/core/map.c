#include "core/map.h"

#include <stdlib.h>
#include <string.h>

static char tombstone_mark;
#define MH_MAP_TOMBSTONE (&tombstone_mark)

uint64_t mh_hash_bytes(const void *data, size_t len) {
  /* FNV-1a: keys are short names and canonical argument encodings. */
  const unsigned char *p = data;
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < len; i++) {
    h ^= p[i];
    h *= 1099511628211ULL;
  }
  return h;
}

int mh_map_live(const mh_map_slot *s) { return s->key && s->key != MH_MAP_TOMBSTONE; }

static mh_map_slot *find(const mh_map *m, const char *key, size_t keylen, uint64_t h) {
  if (!m->cap) return NULL;
  size_t mask = m->cap - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    mh_map_slot *s = &m->slots[i];
    if (!s->key) return NULL;
    if (s->key != MH_MAP_TOMBSTONE && s->hash == h && s->keylen == keylen &&
        memcmp(s->key, key, keylen) == 0)
      return s;
  }
}

void *mh_map_get(const mh_map *m, const char *key, size_t keylen) {
  mh_map_slot *s = find(m, key, keylen, mh_hash_bytes(key, keylen));
  return s ? s->value : NULL;
}

static int grow(mh_map *m) {
  size_t cap = m->cap ? m->cap * 2 : 16;
  if (m->len * 4 < m->cap) cap = m->cap; /* mostly tombstones: rehash in place size */
  mh_map_slot *slots = calloc(cap, sizeof *slots);
  if (!slots) return -1;
  for (size_t i = 0; i < m->cap; i++) {
    mh_map_slot *s = &m->slots[i];
    if (!mh_map_live(s)) continue;
    size_t j = s->hash & (cap - 1);
    while (slots[j].key) j = (j + 1) & (cap - 1);
    slots[j] = *s;
  }
  free(m->slots);
  m->slots = slots;
  m->cap = cap;
  m->used = m->len;
  return 0;
}

int mh_map_put(mh_map *m, const char *key, size_t keylen, void *value) {
  uint64_t h = mh_hash_bytes(key, keylen);
  mh_map_slot *s = find(m, key, keylen, h);
  if (s) {
    s->value = value;
    return 0;
  }
  if ((m->used + 1) * 4 > m->cap * 3 && grow(m)) return -1;
  char *k = malloc(keylen + 1);
  if (!k) return -1;
  memcpy(k, key, keylen);
  k[keylen] = '\0';
  size_t mask = m->cap - 1;
  size_t i = h & mask;
  while (mh_map_live(&m->slots[i])) i = (i + 1) & mask;
  if (!m->slots[i].key) m->used++;
  m->slots[i] = (mh_map_slot){k, keylen, h, value};
  m->len++;
  return 0;
}

void *mh_map_del(mh_map *m, const char *key, size_t keylen) {
  mh_map_slot *s = find(m, key, keylen, mh_hash_bytes(key, keylen));
  if (!s) return NULL;
  void *v = s->value;
  free(s->key);
  s->key = MH_MAP_TOMBSTONE;
  s->value = NULL;
  m->len--;
  return v;
}

void mh_map_free(mh_map *m) {
  for (size_t i = 0; i < m->cap; i++)
    if (mh_map_live(&m->slots[i])) free(m->slots[i].key);
  free(m->slots);
  *m = (mh_map)MH_MAP_INIT;
}
