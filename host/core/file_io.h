/* Whole-file reads and writes off the loop (libuv's thread pool), for
 * moonhost.read_file and moonhost.write_file. A write is atomic: the data
 * goes to a temporary file beside the target, which then replaces it by
 * rename(), so a watcher (a dev server) never sees half a file. */
#ifndef MH_FILE_IO_H
#define MH_FILE_IO_H
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "core/buf.h"

typedef struct mh_file_op mh_file_op;

/* The outcome of a read: uv_err 0 and the bytes (data may be taken with
 * mh_buf_steal), or a libuv error; not_regular and too_large say why when
 * the error is UV_EINVAL or UV_EFBIG. */
typedef struct mh_file_read_result {
  int uv_err;
  bool not_regular; /* a directory, a FIFO, a device */
  bool too_large;   /* over max_bytes */
  mh_buf data;
} mh_file_read_result;

typedef void (*mh_file_read_done)(void *ud, mh_file_read_result *r);
/* uv_err: 0 when the file now holds the data. */
typedef void (*mh_file_write_done)(void *ud, int uv_err);

/* Reads a regular file of at most max_bytes. NULL when it cannot even
 * start (*uv_err says why); else done is called later, from the loop. */
mh_file_op *mh_file_read(uv_loop_t *loop, const char *path, size_t max_bytes, mh_file_read_done done, void *ud,
                         int *uv_err);
/* Replaces path's content with data (copied), keeping its permission bits,
 * through a symbolic link to its target; creates it (0666 less the umask)
 * when absent. */
mh_file_op *mh_file_write(uv_loop_t *loop, const char *path, const char *data, size_t len, mh_file_write_done done,
                          void *ud, int *uv_err);
/* Stops it: done is never called; a half-written temporary file is
 * removed. Not after done. */
void mh_file_cancel(mh_file_op *op);

#endif
