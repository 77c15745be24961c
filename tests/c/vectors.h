/* Reading the vector files under tests/vectors (the tests run with the
 * repo root as cwd). */
#ifndef MH_TEST_VECTORS_H
#define MH_TEST_VECTORS_H
#include <stdio.h>

#include "core/buf.h"

/* The whole file, NUL-terminated (malloc'd), or NULL. */
static inline char *read_vector_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  mh_buf b = MH_BUF_INIT;
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) mh_buf_append(&b, chunk, n);
  fclose(f);
  mh_buf_terminate(&b);
  return mh_buf_steal(&b, NULL);
}

#endif
