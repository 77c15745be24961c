#include "core/small_alloc.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define MH_SMALL_PASSTHROUGH 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MH_SMALL_PASSTHROUGH 1
#endif
#endif

/* A 16-byte header in front of each block keeps the block 16-byte aligned
 * (as malloc's are) and says which class it belongs to. The header is there
 * under AddressSanitizer too, so a block given to plain free() (or a
 * malloc'd one to mh_small_free) is reported there instead of corrupting
 * the heap of a release build. */
#define HEADER 16
#define CLASS_BYTES 16
#define NCLASSES 16                       /* blocks up to 256 bytes */
#define BIG ((uint32_t)NCLASSES)          /* larger: never kept */
#define MAX_KEPT 4096                     /* per class: ~1 MiB at most in all */

typedef union block {
  union block *next; /* while on a free list */
  unsigned char header[HEADER];
} block;

typedef struct {
  block *head;
  uint32_t kept;
} free_list;

/* Per thread: moonhost runs its loop on one, but tests and tools may not. */
static _Thread_local free_list lists[NCLASSES];

void *mh_small_alloc(size_t n) {
  size_t cls = n == 0 ? 0 : (n - 1) / CLASS_BYTES;
  if (cls >= NCLASSES) {
    if (n > SIZE_MAX - HEADER) return NULL;
    block *big = malloc(HEADER + n);
    if (!big) return NULL;
    *(uint32_t *)big->header = BIG;
    return big->header + HEADER;
  }
  free_list *l = &lists[cls];
  block *b = l->head;
  if (b) {
    l->head = b->next;
    l->kept--;
  } else if (!(b = malloc(HEADER + (cls + 1) * CLASS_BYTES))) {
    return NULL;
  }
  *(uint32_t *)b->header = (uint32_t)cls;
  return b->header + HEADER;
}

void *mh_small_zalloc(size_t n) {
  void *p = mh_small_alloc(n);
  if (p) memset(p, 0, n);
  return p;
}

void mh_small_free(void *p) {
  if (!p) return;
  block *b = (block *)((unsigned char *)p - HEADER);
  uint32_t cls = *(uint32_t *)b->header;
#ifdef MH_SMALL_PASSTHROUGH
  bool keep = false; /* every block goes back to ASan, which watches it */
#else
  bool keep = cls < NCLASSES && lists[cls].kept < MAX_KEPT;
#endif
  if (!keep) {
    free(b);
    return;
  }
  b->next = lists[cls].head;
  lists[cls].head = b;
  lists[cls].kept++;
}

/* The bytes a block of a small class can hold. */
static size_t class_capacity(uint32_t cls) { return (size_t)(cls + 1) * CLASS_BYTES; }

void *mh_small_realloc(void *p, size_t n) {
  if (!p) return mh_small_alloc(n);
  block *b = (block *)((unsigned char *)p - HEADER);
  uint32_t cls = *(uint32_t *)b->header;
  if (cls >= NCLASSES) { /* a big block stays one: malloc's realloc keeps its header */
    if (n > SIZE_MAX - HEADER) return NULL;
    block *big = realloc(b, HEADER + n);
    return big ? big->header + HEADER : NULL;
  }
  size_t cap = class_capacity(cls);
  if (n <= cap) return p;
  void *q = mh_small_alloc(n);
  if (!q) return NULL;
  memcpy(q, p, cap);
  mh_small_free(p);
  return q;
}

bool mh_small_alloc_recycles(void) {
#ifdef MH_SMALL_PASSTHROUGH
  return false;
#else
  return true;
#endif
}

void mh_small_alloc_for_cjson(void) {
  cJSON_Hooks hooks = {mh_small_alloc, mh_small_free};
  cJSON_InitHooks(&hooks);
}
