/* Growable byte buffer. One owner; released with mh_buf_free. */
#ifndef MH_BUF_H
#define MH_BUF_H
#include <stdarg.h>
#include <stddef.h>

typedef struct mh_buf {
  char *data;
  size_t len;
  size_t cap;
} mh_buf;

#define MH_BUF_INIT {NULL, 0, 0}

/* All return 0 on success, -1 when memory runs out (the buffer is unchanged). */
int mh_buf_reserve(mh_buf *b, size_t extra);
int mh_buf_append(mh_buf *b, const void *data, size_t len);
int mh_buf_append_str(mh_buf *b, const char *s);
int mh_buf_appendf(mh_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int mh_buf_vappendf(mh_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Makes data a NUL-terminated C string (the NUL is not counted in len). */
int mh_buf_terminate(mh_buf *b);
void mh_buf_reset(mh_buf *b); /* len = 0, keeps memory */
void mh_buf_free(mh_buf *b);
/* Hands the memory to the caller (NUL-terminated) and leaves the buffer empty. */
char *mh_buf_steal(mh_buf *b, size_t *len);

#endif
