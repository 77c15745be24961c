#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mh_buf_reserve(mh_buf *b, size_t extra) {
  if (b->cap - b->len > extra) return 0; /* keep one byte spare for a NUL */
  size_t cap = b->cap ? b->cap : 64;
  while (cap - b->len <= extra) {
    if (cap > ((size_t)-1) / 2) return -1;
    cap *= 2;
  }
  char *p = realloc(b->data, cap);
  if (!p) return -1;
  b->data = p;
  b->cap = cap;
  return 0;
}

int mh_buf_append(mh_buf *b, const void *data, size_t len) {
  if (mh_buf_reserve(b, len)) return -1;
  if (len) memcpy(b->data + b->len, data, len);
  b->len += len;
  return 0;
}

int mh_buf_append_str(mh_buf *b, const char *s) { return mh_buf_append(b, s, strlen(s)); }

/* Measures first, so the text is never cut whatever its length. */
int mh_buf_vappendf(mh_buf *b, const char *fmt, va_list ap) {
  va_list measure;
  va_copy(measure, ap);
  int n = vsnprintf(NULL, 0, fmt, measure);
  va_end(measure);
  if (n < 0 || mh_buf_reserve(b, (size_t)n)) return -1;
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  b->len += (size_t)n;
  return 0;
}

int mh_buf_appendf(mh_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = mh_buf_vappendf(b, fmt, ap);
  va_end(ap);
  return rc;
}

int mh_buf_terminate(mh_buf *b) {
  if (mh_buf_reserve(b, 0)) return -1;
  b->data[b->len] = '\0';
  return 0;
}

void mh_buf_reset(mh_buf *b) { b->len = 0; }

void mh_buf_free(mh_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

char *mh_buf_steal(mh_buf *b, size_t *len) {
  if (mh_buf_terminate(b)) return NULL;
  char *p = b->data;
  if (len) *len = b->len;
  b->data = NULL;
  b->len = b->cap = 0;
  return p;
}
