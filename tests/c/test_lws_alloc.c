/* host/transport/lws_alloc.c: a block lws frees on the loop's thread comes
 * back to lws' next allocation that fits in it; blocks freed elsewhere, or
 * too small or too large to keep, go back to the C library; release frees
 * what is kept (LeakSanitizer, in the ASan run, sees a block it missed). */
#include <pthread.h>
#include <string.h>

#include <libwebsockets.h>

#include "check.h"

/* lws' own lws_malloc and lws_free are internal; both are lws_realloc */
#define lws_malloc(size, why) lws_realloc(NULL, size, why)
#define lws_free(p) lws_realloc(p, 0, "lws_free")
#include "transport/lws_alloc.h"

static void *free_elsewhere(void *p) {
  lws_free(p);
  return NULL;
}

int main(void) {
  mh_lws_alloc_install();

  /* lws' header table: 4 KiB freed, then asked for again */
  void *ah = lws_malloc(4096, "ah data");
  CHECK(ah != NULL);
  memset(ah, 1, 4096);
  lws_free(ah);
  void *again = lws_malloc(4096, "ah data");
  CHECK(again == ah);
  /* a smaller size of the same class fits in the kept block too */
  lws_free(again);
  void *smaller = lws_malloc(3000, "smaller");
  CHECK(smaller == ah);
  memset(smaller, 0, 3000);

  /* realloc of a block lws holds is the C library's */
  void *grown = lws_realloc(smaller, 300000, "grown");
  CHECK(grown != NULL);
  lws_free(grown); /* too large to keep */
  CHECK(mh_lws_alloc_kept() == 0);

  /* small blocks are left to glibc's own per-thread cache */
  lws_free(lws_malloc(200, "small"));
  CHECK(mh_lws_alloc_kept() == 0);

  /* a block freed on another thread is not kept */
  void *big = lws_malloc(8192, "big");
  pthread_t t;
  CHECK(pthread_create(&t, NULL, free_elsewhere, big) == 0);
  pthread_join(t, NULL);
  CHECK(mh_lws_alloc_kept() == 0);

  /* a few blocks per size, the rest go back */
  void *blocks[20];
  for (int i = 0; i < 20; i++) blocks[i] = lws_malloc(8192, "many");
  for (int i = 0; i < 20; i++) lws_free(blocks[i]);
  CHECK(mh_lws_alloc_kept() > 0 && mh_lws_alloc_kept() < 20);

  /* release frees what is kept, and nothing is kept after it */
  mh_lws_alloc_release();
  CHECK(mh_lws_alloc_kept() == 0);
  lws_free(lws_malloc(8192, "after"));
  CHECK(mh_lws_alloc_kept() == 0);
  lws_free(NULL);
  return check_failures ? 1 : 0;
}
