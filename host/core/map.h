/* String-keyed hash map (keys are copied bytes, values are borrowed pointers).
 * Open addressing with linear probing and tombstones. */
#ifndef MH_MAP_H
#define MH_MAP_H
#include <stddef.h>
#include <stdint.h>

typedef struct mh_map_slot {
  char *key; /* NULL: empty; MH_MAP_TOMBSTONE: deleted */
  size_t keylen;
  uint64_t hash;
  void *value;
} mh_map_slot;

typedef struct mh_map {
  mh_map_slot *slots;
  size_t cap; /* power of two, or 0 */
  size_t len; /* live entries */
  size_t used; /* live + tombstones */
} mh_map;

#define MH_MAP_INIT {NULL, 0, 0, 0}

uint64_t mh_hash_bytes(const void *data, size_t len);
void *mh_map_get(const mh_map *m, const char *key, size_t keylen);
/* Inserts or replaces. Returns 0, or -1 when memory runs out. */
int mh_map_put(mh_map *m, const char *key, size_t keylen, void *value);
/* Removes the key; returns its value or NULL. */
void *mh_map_del(mh_map *m, const char *key, size_t keylen);
void mh_map_free(mh_map *m); /* frees keys and slots, not values */

/* Iteration: for (size_t i = 0; i < m->cap; i++) if (mh_map_live(&m->slots[i])) ... */
int mh_map_live(const mh_map_slot *s);

#endif
