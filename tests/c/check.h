/* A tiny test harness: CHECK(expr) reports file:line and the failed
 * expression and counts the failure; main ends with
 * `return check_failures ? 1 : 0;` so ctest sees the failure. */
#ifndef MH_TEST_CHECK_H
#define MH_TEST_CHECK_H
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

static int check_failures;

#define CHECK(expr)                                                                                \
  do {                                                                                             \
    if (!(expr)) {                                                                                 \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #expr);                   \
      check_failures++;                                                                            \
    }                                                                                              \
  } while (0)

/* Everything written to f so far (a tmpfile stderr was pointed at), as a
 * malloc'd string. */
static inline char *check_slurp(FILE *f) {
  fflush(f);
  long size = ftell(f);
  char *buf = calloc(1, (size_t)size + 1);
  rewind(f);
  if (buf && fread(buf, 1, (size_t)size, f) != (size_t)size) buf[0] = '\0';
  return buf;
}

#endif
