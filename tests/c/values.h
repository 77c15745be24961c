/* Building values in the C tests. */
#ifndef MH_TEST_VALUES_H
#define MH_TEST_VALUES_H
#include <stdarg.h>

#include "core/value.h"

/* An ARRAY of n values (taken). */
static inline mh_value *arr(int n, ...) {
  mh_value *a = mh_value_new(MH_V_ARRAY);
  va_list ap;
  va_start(ap, n);
  for (int i = 0; i < n; i++) mh_value_push(a, va_arg(ap, mh_value *));
  va_end(ap);
  return a;
}

#endif
