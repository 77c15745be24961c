/* small_alloc: blocks of every class and beyond are usable, aligned and
 * distinct; a freed block is handed out again for the same class (in a
 * release build); realloc keeps the contents; cJSON works through the hooks. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "core/small_alloc.h"

#define N 64

static void test_sizes(void) {
  static const size_t sizes[] = {0, 1, 15, 16, 17, 40, 64, 100, 255, 256, 257, 1000, 70000};
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    unsigned char *p[N];
    for (int i = 0; i < N; i++) {
      p[i] = mh_small_alloc(sizes[s]);
      CHECK(p[i] != NULL);
      CHECK(((uintptr_t)p[i] & 15) == 0);
      if (sizes[s]) memset(p[i], i, sizes[s]); /* all of it is writable */
    }
    for (int i = 0; i < N; i++)
      if (sizes[s]) CHECK(p[i][0] == (unsigned char)i && p[i][sizes[s] - 1] == (unsigned char)i);
    for (int i = 0; i < N; i++) mh_small_free(p[i]);
  }
  mh_small_free(NULL);
}

static void test_reuse(void) {
  void *a = mh_small_alloc(48);
  mh_small_free(a);
  void *b = mh_small_alloc(40); /* the same 48-byte class */
  if (mh_small_alloc_recycles()) CHECK(a == b);
  mh_small_free(b);
}

/* Growing a block keeps what it held, from class to class and into and
 * within the big blocks; zalloc gives zeroes. */
static void test_realloc(void) {
  static const size_t steps[] = {1, 16, 17, 64, 200, 256, 257, 1000, 70000};
  unsigned char *p = mh_small_realloc(NULL, 0);
  CHECK(p != NULL);
  size_t had = 0;
  for (size_t s = 0; p && s < sizeof steps / sizeof steps[0]; s++) {
    p = mh_small_realloc(p, steps[s]);
    CHECK(p != NULL && ((uintptr_t)p & 15) == 0);
    if (!p) return;
    for (size_t i = 0; i < had; i++) CHECK(p[i] == (unsigned char)(i * 7));
    for (size_t i = had; i < steps[s]; i++) p[i] = (unsigned char)(i * 7);
    had = steps[s];
  }
  mh_small_free(p);
  unsigned char *dirty = mh_small_alloc(100); /* given back, then handed out again by zalloc */
  if (dirty) memset(dirty, 0xff, 100);
  mh_small_free(dirty);
  unsigned char *z = mh_small_zalloc(100);
  CHECK(z != NULL);
  for (int i = 0; z && i < 100; i++) CHECK(z[i] == 0);
  mh_small_free(z);
}

static void test_cjson(void) {
  mh_small_alloc_for_cjson();
  cJSON *j = cJSON_Parse("{\"t\":\"q\",\"i\":\"1\",\"a\":[1,\"two\",{\"x\":null}]}");
  CHECK(j != NULL);
  char *text = cJSON_PrintUnformatted(j);
  CHECK(text && strcmp(text, "{\"t\":\"q\",\"i\":\"1\",\"a\":[1,\"two\",{\"x\":null}]}") == 0);
  cJSON_free(text);
  cJSON_Delete(j);
}

int main(void) {
  test_sizes();
  test_reuse();
  test_realloc();
  test_cjson();
  return check_failures ? 1 : 0;
}
