/* Whole-file reads and atomic writes (file_io.h) as chains of libuv file
 * requests, one at a time on one uv_fs_t: each callback starts the next
 * step. A step that fails, or a cancel, jumps to the cleanup: the file is
 * closed, a temporary file removed, and then done is called (not when
 * cancelled) and the operation freed. */
#include "core/file_io.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/random_hex.h"

#define READ_STEP (256 * 1024)

struct mh_file_op {
  uv_loop_t *loop;
  uv_fs_t req;
  bool cancelled;
  int fd;    /* -1 when not open */
  int err;   /* the first error */
  char *path; /* a write's: its target, through links once resolved */
  char *tmp;  /* a write's temporary file, once created */
  mh_buf data;
  size_t max, written;
  int mode;  /* a write's permission bits; -1: a new file */
  mh_file_read_result read;
  mh_file_read_done read_done;
  mh_file_write_done write_done;
  void *ud;
};

static void cleanup(mh_file_op *op);

static void free_op(mh_file_op *op) {
  mh_buf_free(&op->data);
  mh_buf_free(&op->read.data);
  free(op->path);
  free(op->tmp);
  free(op);
}

/* The result of the request that just ended; the request is reset. */
static ssize_t took(mh_file_op *op, uv_fs_t *req) {
  ssize_t r = req->result;
  uv_fs_req_cleanup(req);
  return r;
}

/* rc of a uv_fs_* call: one that failed at once never calls back. */
static void started(mh_file_op *op, int rc) {
  if (rc < 0) {
    if (!op->err) op->err = rc;
    cleanup(op);
  }
}

static bool failed(mh_file_op *op, ssize_t r) {
  if (r < 0 && !op->err) op->err = (int)r;
  if (op->err || op->cancelled) {
    cleanup(op);
    return true;
  }
  return false;
}

/* ---- the end: close, remove the temporary file, report ---- */

static void finish(mh_file_op *op) {
  if (op->cancelled) {
    free_op(op);
    return;
  }
  if (op->read_done) {
    op->read.uv_err = op->err;
    if (!op->err) {
      op->read.data = op->data;
      op->data = (mh_buf)MH_BUF_INIT;
    }
    op->read_done(op->ud, &op->read);
  } else {
    op->write_done(op->ud, op->err);
  }
  free_op(op);
}

static void on_unlinked(uv_fs_t *req) {
  mh_file_op *op = req->data;
  took(op, req);
  free(op->tmp);
  op->tmp = NULL;
  finish(op);
}

static void on_closed_for_cleanup(uv_fs_t *req) {
  mh_file_op *op = req->data;
  took(op, req);
  op->fd = -1;
  cleanup(op);
}

static void cleanup(mh_file_op *op) {
  if (op->fd >= 0) {
    if (uv_fs_close(op->loop, &op->req, op->fd, on_closed_for_cleanup) == 0) return;
    op->fd = -1;
  }
  if (op->tmp && uv_fs_unlink(op->loop, &op->req, op->tmp, on_unlinked) == 0) return;
  finish(op);
}

static mh_file_op *op_new(uv_loop_t *loop, void *ud) {
  mh_file_op *op = calloc(1, sizeof *op);
  if (!op) return NULL;
  op->loop = loop;
  op->ud = ud;
  op->fd = -1;
  op->mode = -1;
  op->req.data = op;
  return op;
}

void mh_file_cancel(mh_file_op *op) {
  op->cancelled = true;
  uv_cancel((uv_req_t *)&op->req); /* a request not yet running ends with UV_ECANCELED */
}

/* ---- reads: open, fstat, read to the end, close ---- */

static void read_more(mh_file_op *op);

static void on_read(uv_fs_t *req) {
  mh_file_op *op = req->data;
  ssize_t n = took(op, req);
  if (failed(op, n)) return;
  op->data.len += (size_t)n;
  if (op->data.len > op->max) { /* it grew past the bound while we read */
    op->read.too_large = true;
    op->err = UV_EFBIG;
  }
  if (n == 0 || op->err) {
    cleanup(op); /* the end: closed, then reported */
    return;
  }
  read_more(op);
}

/* Reads up to one byte past max, to tell a file of exactly max bytes from a longer one. */
static void read_more(mh_file_op *op) {
  size_t want = op->max + 1 - op->data.len;
  if (want > READ_STEP) want = READ_STEP;
  if (mh_buf_reserve(&op->data, want)) {
    op->err = UV_ENOMEM;
    cleanup(op);
    return;
  }
  uv_buf_t b = uv_buf_init(op->data.data + op->data.len, (unsigned)want);
  started(op, uv_fs_read(op->loop, &op->req, op->fd, &b, 1, -1, on_read));
}

static void on_fstat(uv_fs_t *req) {
  mh_file_op *op = req->data;
  uv_stat_t st = req->statbuf;
  if (failed(op, took(op, req))) return;
  if (!S_ISREG(st.st_mode)) {
    op->read.not_regular = true;
    op->err = UV_EINVAL;
  } else if (st.st_size > op->max) {
    op->read.too_large = true;
    op->err = UV_EFBIG;
  }
  if (op->err) {
    cleanup(op);
    return;
  }
  read_more(op);
}

static void on_open_for_read(uv_fs_t *req) {
  mh_file_op *op = req->data;
  ssize_t fd = took(op, req);
  if (fd >= 0) op->fd = (int)fd;
  if (failed(op, fd)) return;
  started(op, uv_fs_fstat(op->loop, &op->req, op->fd, on_fstat));
}

mh_file_op *mh_file_read(uv_loop_t *loop, const char *path, size_t max_bytes, mh_file_read_done done, void *ud,
                         int *uv_err) {
  mh_file_op *op = op_new(loop, ud);
  if (!op) {
    *uv_err = UV_ENOMEM;
    return NULL;
  }
  op->max = max_bytes;
  op->read_done = done;
  /* O_NONBLOCK: opening a FIFO would wait for a writer, holding one of
   * libuv's few pool threads; it opens at once and fstat refuses it. */
  int rc = uv_fs_open(loop, &op->req, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK, 0, on_open_for_read);
  if (rc < 0) {
    *uv_err = rc;
    free_op(op);
    return NULL;
  }
  return op;
}

/* ---- writes: resolve links, stat, write a temporary file, rename ---- */

static void write_more(mh_file_op *op);

static void on_renamed(uv_fs_t *req) {
  mh_file_op *op = req->data;
  if (failed(op, took(op, req))) return;
  free(op->tmp); /* it is the target now */
  op->tmp = NULL;
  finish(op);
}

static void on_closed_for_rename(uv_fs_t *req) {
  mh_file_op *op = req->data;
  ssize_t r = took(op, req);
  op->fd = -1;
  if (failed(op, r)) return;
  started(op, uv_fs_rename(op->loop, &op->req, op->tmp, op->path, on_renamed));
}

static void on_written(uv_fs_t *req) {
  mh_file_op *op = req->data;
  ssize_t n = took(op, req);
  if (failed(op, n)) return;
  op->written += (size_t)n;
  write_more(op);
}

static void write_more(mh_file_op *op) {
  if (op->written == op->data.len) {
    started(op, uv_fs_close(op->loop, &op->req, op->fd, on_closed_for_rename));
    return;
  }
  uv_buf_t b = uv_buf_init(op->data.data + op->written, (unsigned)(op->data.len - op->written));
  started(op, uv_fs_write(op->loop, &op->req, op->fd, &b, 1, -1, on_written));
}

/* The old file's bits exactly, which the umask applied by open() may not keep. */
static void on_chmod(uv_fs_t *req) {
  mh_file_op *op = req->data;
  if (failed(op, took(op, req))) return;
  write_more(op);
}

static void on_open_tmp(uv_fs_t *req) {
  mh_file_op *op = req->data;
  ssize_t fd = took(op, req);
  if (fd >= 0) op->fd = (int)fd;
  else {
    free(op->tmp); /* not created: nothing to remove */
    op->tmp = NULL;
  }
  if (failed(op, fd)) return;
  if (op->mode >= 0)
    started(op, uv_fs_fchmod(op->loop, &op->req, op->fd, op->mode, on_chmod));
  else
    write_more(op);
}

/* The temporary file: beside the target (rename stays in one file system),
 * hidden, and named so that no two writes collide. */
static void open_tmp(mh_file_op *op) {
  char rnd[17];
  mh_buf b = MH_BUF_INIT;
  const char *slash = strrchr(op->path, '/');
  size_t dir = slash ? (size_t)(slash - op->path) + 1 : 0;
  if (mh_random_hex(rnd, 8) || mh_buf_appendf(&b, "%.*s.%s.moonhost-%s.tmp", (int)dir, op->path, op->path + dir, rnd) ||
      !(op->tmp = mh_buf_steal(&b, NULL))) {
    mh_buf_free(&b);
    op->err = UV_ENOMEM;
    cleanup(op);
    return;
  }
  int mode = op->mode >= 0 ? op->mode : 0666;
  started(op, uv_fs_open(op->loop, &op->req, op->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode, on_open_tmp));
}

static void on_stat_target(uv_fs_t *req) {
  mh_file_op *op = req->data;
  uv_stat_t st = req->statbuf;
  ssize_t r = took(op, req);
  if (op->cancelled) {
    cleanup(op);
    return;
  }
  if (r == 0 && !S_ISREG(st.st_mode)) {
    op->err = S_ISDIR(st.st_mode) ? UV_EISDIR : UV_EINVAL;
    cleanup(op);
    return;
  }
  if (r == 0) op->mode = (int)(st.st_mode & 07777);
  else if (r != UV_ENOENT && failed(op, r)) return;
  open_tmp(op);
}

static void on_realpath(uv_fs_t *req) {
  mh_file_op *op = req->data;
  if (req->result == 0 && req->ptr) { /* it exists: write where a link points */
    char *real = strdup(req->ptr);
    if (real) {
      free(op->path);
      op->path = real;
    }
  }
  took(op, req); /* absent: created as named */
  if (op->cancelled) {
    cleanup(op);
    return;
  }
  started(op, uv_fs_stat(op->loop, &op->req, op->path, on_stat_target));
}

mh_file_op *mh_file_write(uv_loop_t *loop, const char *path, const char *data, size_t len, mh_file_write_done done,
                          void *ud, int *uv_err) {
  mh_file_op *op = op_new(loop, ud);
  if (!op || !(op->path = strdup(path)) || mh_buf_append(&op->data, data, len)) {
    if (op) free_op(op);
    *uv_err = UV_ENOMEM;
    return NULL;
  }
  op->write_done = done;
  int rc = uv_fs_realpath(loop, &op->req, path, on_realpath);
  if (rc < 0) {
    *uv_err = rc;
    free_op(op);
    return NULL;
  }
  return op;
}
