/* A recycling allocator for the small, short-lived blocks of the call path
 * (cJSON's nodes and strings while a frame is decoded, values and the
 * item arrays of their containers, and the records of a call in flight:
 * its run, waiter, client-side and Lua-side state). Every
 * call allocates and frees a few dozen of them in a burst; glibc's per-thread
 * cache keeps only 7 blocks per size, so most of a burst went through its
 * slower bins (~4k instructions per call in bench/). Freed blocks go on a
 * free list per size class, bounded, and are handed out again.
 *
 * Under AddressSanitizer nothing is kept: every block goes back to free(),
 * so use-after-free and leaks of these blocks stay visible. A block from
 * here must go back through mh_small_free, never free(). */
#ifndef MH_SMALL_ALLOC_H
#define MH_SMALL_ALLOC_H
#include <stdbool.h>
#include <stddef.h>

void *mh_small_alloc(size_t n);
/* A block of n zero bytes, as calloc(1, n) gives. */
void *mh_small_zalloc(size_t n);
void mh_small_free(void *p);
/* realloc() for a block from here (p NULL: a new one); NULL when memory
 * runs out, p then unchanged. */
void *mh_small_realloc(void *p, size_t n);
/* Whether freed blocks are kept for reuse (false under AddressSanitizer). */
bool mh_small_alloc_recycles(void);

/* Makes cJSON allocate through mh_small_alloc (call once, at start-up,
 * before any cJSON tree exists). */
void mh_small_alloc_for_cjson(void);

#endif
