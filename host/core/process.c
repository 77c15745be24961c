/* A program run to its end (process.h): its exit, its stdout and its
 * stderr are three events in any order; the result goes out once all three
 * came, and the memory once libuv has closed every handle. */
#include "core/process.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/timer.h"

extern char **environ;

struct mh_process {
  uv_loop_t *loop;
  uv_process_t proc;
  uv_pipe_t in, out, err;
  uv_write_t write;
  char *input;
  mh_timer *timer;
  uint64_t started_ms;
  size_t max_output;
  int handles; /* initialised and not yet closed */
  int streams; /* of stdout and stderr, those not at their end */
  bool has_input, exited;
  bool over; /* done was called, or it was cancelled: nothing more is reported */
  mh_process_done done;
  void *ud;
  mh_process_result r;
};

static void free_if_closed(mh_process *p) {
  if (p->handles || !p->over) return;
  mh_buf_free(&p->r.out);
  mh_buf_free(&p->r.err);
  free(p->input);
  free(p);
}

static void on_closed(uv_handle_t *h) {
  mh_process *p = h->data;
  p->handles--;
  free_if_closed(p);
}

static void close_handle(uv_handle_t *h) {
  if (!uv_is_closing(h)) uv_close(h, on_closed);
}

/* The whole group: what the program started too, which may hold its pipes. */
static void kill_group(mh_process *p) {
  if (p->r.pid > 0) kill(-p->r.pid, SIGKILL);
}

static void finish_if_over(mh_process *p) {
  if (p->over || !p->exited || p->streams) return;
  p->over = true;
  if (p->timer) mh_timer_stop(p->timer);
  p->timer = NULL;
  p->r.ms = mh_now_ms(p->loop) - p->started_ms;
  p->handles++; /* held while done runs: it may not free p under us */
  p->done(p->ud, &p->r);
  p->handles--;
  free_if_closed(p);
}

static void on_child_exit(uv_process_t *proc, int64_t status, int term_signal) {
  mh_process *p = proc->data;
  p->exited = true;
  p->r.exit_status = term_signal ? -1 : status;
  p->r.term_signal = term_signal;
  close_handle((uv_handle_t *)proc);
  finish_if_over(p);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h, (void)suggested;
  static char scratch[65536]; /* read into, then copied: the loop is single-threaded */
  *buf = uv_buf_init(scratch, sizeof scratch);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  mh_process *p = s->data;
  bool is_err = s == (uv_stream_t *)&p->err;
  if (n > 0) {
    mh_buf *b = is_err ? &p->r.err : &p->r.out;
    bool *truncated = is_err ? &p->r.err_truncated : &p->r.out_truncated;
    size_t room = p->max_output > b->len ? p->max_output - b->len : 0;
    size_t keep = (size_t)n < room ? (size_t)n : room;
    if (keep && mh_buf_append(b, buf->base, keep)) keep = 0; /* out of memory: dropped as well */
    if (keep < (size_t)n) *truncated = true;
    return;
  }
  if (n == 0) return; /* EAGAIN */
  /* the end (UV_EOF) or an error: nothing more comes from this pipe */
  close_handle((uv_handle_t *)s);
  p->streams--;
  finish_if_over(p);
}

static void on_written(uv_write_t *w, int status) {
  (void)status; /* a program that exits without reading its input: EPIPE, which is fine */
  mh_process *p = w->data;
  close_handle((uv_handle_t *)&p->in);
}

static void on_timeout(void *ud) {
  mh_process *p = ud;
  p->timer = NULL;
  p->r.timed_out = true;
  kill_group(p);
}

static void init_pipe(mh_process *p, uv_pipe_t *pipe) {
  uv_pipe_init(p->loop, pipe, 0);
  pipe->data = p;
  p->handles++;
}

/* uv_spawn failed: every handle it had is closed, then p is freed. */
static void abandon(mh_process *p) {
  p->over = true;
  close_handle((uv_handle_t *)&p->proc);
  close_handle((uv_handle_t *)&p->out);
  close_handle((uv_handle_t *)&p->err);
  if (p->has_input) close_handle((uv_handle_t *)&p->in);
}

mh_process *mh_process_start(uv_loop_t *loop, const mh_process_spec *spec, mh_process_done done, void *ud,
                             int *uv_err) {
  mh_process *p = calloc(1, sizeof *p);
  char *input = spec->input && spec->input_len ? malloc(spec->input_len) : NULL;
  if (!p || (spec->input && spec->input_len && !input)) {
    free(p);
    free(input);
    *uv_err = UV_ENOMEM;
    return NULL;
  }
  if (input) memcpy(input, spec->input, spec->input_len);
  *p = (mh_process){.loop = loop, .input = input, .max_output = spec->max_output, .done = done, .ud = ud,
                    .has_input = spec->input != NULL, .r = {.out = MH_BUF_INIT, .err = MH_BUF_INIT}};
  init_pipe(p, &p->out);
  init_pipe(p, &p->err);
  if (p->has_input) init_pipe(p, &p->in);
  uv_stdio_container_t stdio[3] = {
      {.flags = p->has_input ? UV_CREATE_PIPE | UV_READABLE_PIPE : UV_IGNORE, .data.stream = (uv_stream_t *)&p->in},
      {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&p->out},
      {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&p->err},
  };
  /* DETACHED: the child calls setsid(), leading a group of its own (kill_group). */
  uv_process_options_t opts = {.exit_cb = on_child_exit, .file = spec->argv[0], .args = spec->argv, .cwd = spec->cwd,
                               .env = spec->env, .stdio_count = 3, .stdio = stdio, .flags = UV_PROCESS_DETACHED};
  p->proc.data = p;
  p->handles++; /* uv_spawn initialises the handle even when it fails */
  int rc = uv_spawn(loop, &p->proc, &opts);
  if (rc) {
    *uv_err = rc;
    abandon(p);
    return NULL;
  }
  p->r.pid = p->proc.pid;
  p->started_ms = mh_now_ms(loop);
  p->streams = 2;
  uv_read_start((uv_stream_t *)&p->out, on_alloc, on_read);
  uv_read_start((uv_stream_t *)&p->err, on_alloc, on_read);
  if (p->has_input && !spec->input_len) {
    close_handle((uv_handle_t *)&p->in); /* an empty input: its end at once */
  } else if (p->has_input) {
    uv_buf_t b = uv_buf_init(p->input ? p->input : (char *)"", (unsigned)spec->input_len);
    p->write.data = p;
    if (uv_write(&p->write, (uv_stream_t *)&p->in, &b, 1, on_written)) close_handle((uv_handle_t *)&p->in);
  }
  if (spec->timeout_ms) p->timer = mh_timer_start(loop, spec->timeout_ms, on_timeout, p);
  return p;
}

int mh_process_pid(const mh_process *p) { return p->r.pid; }

void mh_process_cancel(mh_process *p) {
  if (p->over) return;
  p->over = true;
  if (p->timer) mh_timer_stop(p->timer);
  p->timer = NULL;
  kill_group(p);
  /* The exit still comes (libuv reaps the child); the pipes are closed now. */
  close_handle((uv_handle_t *)&p->out);
  close_handle((uv_handle_t *)&p->err);
  if (p->has_input) close_handle((uv_handle_t *)&p->in);
  if (p->exited) free_if_closed(p);
}

/* ---- environments ---- */

static bool named(const char *entry, const char *name) {
  size_t n = strlen(name);
  return strncmp(entry, name, n) == 0 && entry[n] == '=';
}

static bool any_named(const char *entry, const char *const *names, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (named(entry, names[i])) return true;
  return false;
}

void mh_env_free(char **env) {
  for (size_t i = 0; env && env[i]; i++) free(env[i]);
  free(env);
}

char **mh_env_with(const char *const *names, const char *const *values, size_t n) {
  size_t have = 0, k = 0;
  while (environ[have]) have++;
  char **env = calloc(have + n + 1, sizeof *env);
  bool ok = env != NULL;
  for (size_t i = 0; ok && i < have; i++)
    if (!any_named(environ[i], names, n)) ok = (env[k++] = strdup(environ[i])) != NULL;
  for (size_t i = 0; ok && i < n; i++) {
    if (!values[i]) continue;
    mh_buf b = MH_BUF_INIT;
    ok = mh_buf_appendf(&b, "%s=%s", names[i], values[i]) == 0 && (env[k++] = mh_buf_steal(&b, NULL)) != NULL;
  }
  if (ok) return env;
  mh_env_free(env);
  return NULL;
}
