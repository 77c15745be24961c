/* lws 4.1 allocates a header table for every HTTP/1 request (a 976-byte
 * struct and 4 KiB of header data) and frees both when a keep-alive
 * transaction completes, so a keep-alive connection pays for them again on
 * every request. The 4 KiB block is too large for glibc's per-thread cache:
 * each malloc and free of it goes through the bins. Its default allocator
 * also logs a debug line and asks malloc_usable_size twice per call.
 *
 * lws_set_allocator routes all of lws' allocations here. A block lws frees
 * on the loop's thread is kept in a short list by size class (the power of
 * two at or below its usable size) and handed back to lws' next allocation
 * of a size that fits in it. Kept blocks are plain malloc blocks, so lws
 * may free or realloc them as any other; everything else is the C library's
 * malloc, realloc and free. */
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include <libwebsockets.h>

#include "transport/lws_alloc.h"

/* Classes 2^10 (1 KiB: glibc's per-thread cache takes up to 1032 bytes)
 * to 2^16 (lws' largest per-connection buffers); a few blocks each. */
#define MIN_CLASS 10
#define MAX_CLASS 16
#define KEPT_PER_CLASS 8

static struct {
  void *blocks[KEPT_PER_CLASS];
  int n;
} kept[MAX_CLASS + 1];

static bool keeping;
static pthread_t loop_thread;

static int class_below(size_t n) { /* floor(log2 n), n > 0 */
  return (int)(sizeof(unsigned long) * 8 - 1) - __builtin_clzl(n);
}

static int class_above(size_t n) { /* ceil(log2 n), n > 1 */
  return class_below(n - 1) + 1;
}

static bool on_loop_thread(void) { return keeping && pthread_equal(pthread_self(), loop_thread); }

static void *take(size_t size) {
  if (size > 1u << (MIN_CLASS - 1) && size <= 1u << MAX_CLASS && on_loop_thread()) {
    int c = class_above(size);
    if (c < MIN_CLASS) c = MIN_CLASS;
    if (kept[c].n) return kept[c].blocks[--kept[c].n];
  }
  return malloc(size);
}

static void give_back(void *p) {
  if (!p) return;
  size_t usable = malloc_usable_size(p);
  if (usable >= 1u << MIN_CLASS && usable < 1u << (MAX_CLASS + 1) && on_loop_thread()) {
    int c = class_below(usable);
    if (kept[c].n < KEPT_PER_CLASS) {
      kept[c].blocks[kept[c].n++] = p;
      return;
    }
  }
  free(p);
}

static void *lws_allocator(void *ptr, size_t size, const char *reason) {
  (void)reason;
  if (!size) {
    give_back(ptr);
    return NULL;
  }
  return ptr ? realloc(ptr, size) : take(size);
}

void mh_lws_alloc_install(void) {
  loop_thread = pthread_self();
  keeping = true;
  lws_set_allocator(lws_allocator);
}

void mh_lws_alloc_release(void) {
  keeping = false;
  for (int c = MIN_CLASS; c <= MAX_CLASS; c++)
    while (kept[c].n) free(kept[c].blocks[--kept[c].n]);
}

int mh_lws_alloc_kept(void) {
  int n = 0;
  for (int c = MIN_CLASS; c <= MAX_CLASS; c++) n += kept[c].n;
  return n;
}
