/* A tiny test harness: CHECK(expr) reports file:line and the failed
 * expression and counts the failure; main ends with
 * `return check_failures ? 1 : 0;` so ctest sees the failure. */
#ifndef MH_TEST_CHECK_H
#define MH_TEST_CHECK_H
#include <stdbool.h>
#include <stdio.h>

static int check_failures;

#define CHECK(expr)                                                                                \
  do {                                                                                             \
    if (!(expr)) {                                                                                 \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #expr);                   \
      check_failures++;                                                                            \
    }                                                                                              \
  } while (0)

#endif
