#include "app/devserver.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/process.h"

typedef struct pipe_reader {
  uv_pipe_t pipe;
  mh_buf line; /* a partial line waiting for its '\n' */
  bool is_stderr;
  bool eof; /* end of file seen, or we stopped reading */
  mh_devserver *owner;
} pipe_reader;

struct mh_devserver {
  uv_process_t proc;
  pipe_reader out, err;
  int open_handles;
  bool running, freeing;
  int pid; /* also the id of its process group: it runs in a session of its own */
  bool group_gone;     /* no live process left in it: final (nothing can rejoin) */
  uint64_t scanned_at; /* when /proc was last read for it */
  char *command;
  mh_devserver_exit_cb cb;
  void *ud;
};

static void maybe_release(mh_devserver *d) {
  if (d->freeing && d->open_handles == 0) {
    mh_buf_free(&d->out.line);
    mh_buf_free(&d->err.line);
    free(d->command);
    free(d);
  }
}

static void on_handle_closed(uv_handle_t *h) {
  mh_devserver *d = h->data;
  d->open_handles--;
  maybe_release(d);
}

static void emit(pipe_reader *r, const char *s, size_t n) {
  while (n && (s[n - 1] == '\r')) n--;
  mh_log(r->is_stderr ? MH_LOG_WARN : MH_LOG_INFO, "dev", "%.*s", (int)n, s);
}

static void flush_lines(pipe_reader *r, bool all) {
  if (!r->line.data) return; /* nothing was ever read */
  size_t start = 0;
  for (size_t i = 0; i < r->line.len; i++) {
    if (r->line.data[i] != '\n') continue;
    emit(r, r->line.data + start, i - start);
    start = i + 1;
  }
  if (all && start < r->line.len) {
    emit(r, r->line.data + start, r->line.len - start);
    start = r->line.len;
  }
  memmove(r->line.data, r->line.data + start, r->line.len - start);
  r->line.len -= start;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  buf->base = malloc(suggested);
  buf->len = buf->base ? suggested : 0;
}

/* A stopped pipe no longer keeps the loop alive (the handle closes in free). */
static void stop_reading(pipe_reader *r) {
  if (r->eof) return;
  r->eof = true;
  flush_lines(r, true);
  uv_read_stop((uv_stream_t *)&r->pipe);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  pipe_reader *r = (pipe_reader *)(void *)s; /* the pipe is the reader's first member */
  if (n > 0) {
    mh_buf_append(&r->line, buf->base, (size_t)n);
    /* A child that never prints a newline must not grow us without bound. */
    flush_lines(r, r->line.len > 65536);
  }
  free(buf->base);
  if (n < 0) stop_reading(r);
}

static void on_child_exit(uv_process_t *p, int64_t status, int term_signal) {
  mh_devserver *d = p->data;
  d->running = false;
  int code = term_signal ? 128 + term_signal : (int)status;
  mh_log_info("dev", "'%s' exited with %s %d", d->command, term_signal ? "signal" : "code",
              term_signal ? term_signal : (int)status);
  if (d->cb) d->cb(d->ud, code);
}

static char *join(char **argv) {
  mh_buf b = MH_BUF_INIT;
  for (int i = 0; argv[i]; i++) mh_buf_appendf(&b, "%s%s", i ? " " : "", argv[i]);
  return mh_buf_steal(&b, NULL);
}

/* How the child reaches moonhost, as URLs: a wildcard address is reached on
 * loopback, and an IPv6 one goes in brackets. */
static void append_authority(mh_buf *b, const mh_devserver_link *link) {
  const char *a = link->address;
  if (strcmp(a, "0.0.0.0") == 0) a = "127.0.0.1";
  if (strcmp(a, "::") == 0) a = "::1";
  mh_buf_appendf(b, strchr(a, ':') ? "[%s]:%d" : "%s:%d", a, link->port);
}

enum { LINK_URL, LINK_WS_URL, LINK_PORT, LINK_TOKEN, LINK_VARS };
static const char *const link_names[LINK_VARS] = {"MOONHOST_URL", "MOONHOST_WS_URL", "MOONHOST_PORT", "MOONHOST_TOKEN"};

static const char *const vite_names[LINK_VARS] = {"VITE_MOONHOST_URL", "VITE_MOONHOST_WS_URL", "VITE_MOONHOST_PORT",
                                                  "VITE_MOONHOST_TOKEN"};

/* environ with each variable set, as is and with VITE_, where values[i] is
 * not NULL (a NULL one keeps what moonhost inherited). */
static char **env_with(const char *const values[LINK_VARS]) {
  const char *names[2 * LINK_VARS], *set[2 * LINK_VARS];
  size_t n = 0;
  for (int i = 0; i < LINK_VARS; i++) {
    if (!values[i]) continue;
    names[n] = link_names[i], set[n++] = values[i];
    names[n] = vite_names[i], set[n++] = values[i];
  }
  return mh_env_with(names, set, n);
}

/* Our environment plus MOONHOST_{URL,WS_URL,PORT,TOKEN} and the same with
 * VITE_ (Vite hands only VITE_* to pages). The token: the one made at start,
 * else an inherited MOONHOST_TOKEN (conf.d may trust that one), else none.
 * NULL when out of memory. */
static char **link_env(const mh_devserver_link *link) {
  mh_buf url = MH_BUF_INIT, ws = MH_BUF_INIT;
  mh_buf_appendf(&url, "http://");
  append_authority(&url, link);
  mh_buf_appendf(&ws, "ws://");
  append_authority(&ws, link);
  mh_buf_appendf(&ws, "/__ws");
  char port[16];
  snprintf(port, sizeof port, "%d", link->port);
  const char *token = link->token && link->token[0] ? link->token : getenv("MOONHOST_TOKEN");
  char *http_url = mh_buf_steal(&url, NULL), *ws_url = mh_buf_steal(&ws, NULL);
  const char *values[LINK_VARS] = {http_url, ws_url, port, token};
  char **env = http_url && ws_url ? env_with(values) : NULL;
  free(http_url);
  free(ws_url);
  return env;
}

mh_devserver *mh_devserver_start(uv_loop_t *loop, char **argv, const char *cwd, mh_devserver_exit_cb cb, void *ud) {
  return mh_devserver_start_linked(loop, argv, cwd, NULL, cb, ud);
}

mh_devserver *mh_devserver_start_linked(uv_loop_t *loop, char **argv, const char *cwd, const mh_devserver_link *link,
                                        mh_devserver_exit_cb cb, void *ud) {
  char **env = link ? link_env(link) : NULL;
  if (link && !env) {
    mh_log_error("dev", "cannot start the dev server: out of memory");
    return NULL;
  }
  mh_devserver *d = calloc(1, sizeof *d);
  if (!d) {
    mh_env_free(env);
    mh_log_error("dev", "cannot start the dev server: out of memory");
    return NULL;
  }
  d->cb = cb;
  d->ud = ud;
  d->command = join(argv);
  pipe_reader *readers[2] = {&d->out, &d->err};
  for (int i = 0; i < 2; i++) {
    uv_pipe_init(loop, &readers[i]->pipe, 0);
    readers[i]->pipe.data = d;
    readers[i]->owner = d;
    readers[i]->is_stderr = i == 1;
    d->open_handles++;
  }
  uv_stdio_container_t stdio[3] = {
    {.flags = UV_IGNORE},
    {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&d->out.pipe},
    {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&d->err.pipe},
  };
  /* DETACHED: the child calls setsid(), so it leads a process group of its
   * own that its children (npm exec -> sh -> node vite) inherit. Signalling
   * that group reaches the real server, not only the launcher; a launcher
   * that does not forward signals would otherwise leave it running. */
  uv_process_options_t opts = {
    .exit_cb = on_child_exit, .file = argv[0], .args = argv, .cwd = cwd, .stdio_count = 3, .stdio = stdio,
    .flags = UV_PROCESS_DETACHED, .env = env,
  };
  d->proc.data = d;
  d->open_handles++; /* uv_spawn puts the handle on the loop even when it fails */
  int rc = uv_spawn(loop, &d->proc, &opts);
  mh_env_free(env); /* uv_spawn returns once the child has exec'd (or failed to) */
  if (rc) {
    mh_log_error("dev", "cannot start '%s': %s", d->command, uv_strerror(rc));
    d->freeing = true;
    uv_close((uv_handle_t *)&d->proc, on_handle_closed);
    uv_close((uv_handle_t *)&d->out.pipe, on_handle_closed);
    uv_close((uv_handle_t *)&d->err.pipe, on_handle_closed);
    return NULL;
  }
  d->running = true;
  d->pid = d->proc.pid;
  mh_log_info("dev", "started '%s' (pid %d) in %s", d->command, d->pid, cwd);
  for (int i = 0; i < 2; i++) uv_read_start((uv_stream_t *)&readers[i]->pipe, on_alloc, on_read);
  return d;
}

#ifdef __linux__
/* Whether /proc/PID/stat (one entry of /proc) is a live process in group pgid. */
static bool proc_in_group(int dirfd, const char *pid, int pgid) {
  char path[64], buf[512];
  if (snprintf(path, sizeof path, "%s/stat", pid) >= (int)sizeof path) return false;
  int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  /* "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses,
   * and is at most 64 bytes, so the fields we need are inside buf. */
  char *rp = strrchr(buf, ')');
  char state;
  int ppid, pgrp;
  if (!rp || sscanf(rp + 1, " %c %d %d", &state, &ppid, &pgrp) != 3) return false;
  return pgrp == pgid && state != 'Z' && state != 'X';
}
#endif

/* Whether a process other than a zombie is in group pgid. kill(-pgid, 0)
 * alone counts zombies: orphans whose new parent (PID 1 in a container that
 * is not an init) never reaps them would look alive forever. A group we may
 * not signal (EPERM) is not one we can stop, so it counts as gone. */
static bool group_has_live_member(int pgid) {
  if (kill(-pgid, 0) != 0) return false;
#ifdef __linux__
  DIR *proc = opendir("/proc");
  if (!proc) return true;
  bool found = false;
  for (struct dirent *e; !found && (e = readdir(proc));)
    if (e->d_name[0] >= '1' && e->d_name[0] <= '9') found = proc_in_group(dirfd(proc), e->d_name, pgid);
  closedir(proc);
  return found;
#else
  return true;
#endif
}

/* Reading /proc costs about 8 us a process: shutting down polls this every
 * 10 ms, so a live answer is trusted for GROUP_RESCAN_MS. */
#define GROUP_RESCAN_MS 50

bool mh_devserver_group_alive(mh_devserver *d) {
  if (d->running) return true;
  if (d->group_gone || d->pid <= 0) return false;
  uint64_t now = uv_now(d->proc.loop);
  if (d->scanned_at && now - d->scanned_at < GROUP_RESCAN_MS) return true;
  d->scanned_at = now;
  d->group_gone = !group_has_live_member(d->pid);
  return !d->group_gone;
}

/* The whole process group, not just the child: `npx vite` is npm exec, and
 * the server is its grandchild. Once the child has exited the group id is
 * only used while live members hold it, so it cannot name someone else's. */
void mh_devserver_signal(mh_devserver *d, int signum) {
  if (!mh_devserver_group_alive(d)) return;
  kill(-d->pid, signum);
}

bool mh_devserver_output_open(const mh_devserver *d) { return !d->out.eof || !d->err.eof; }

void mh_devserver_let_go(mh_devserver *d) {
  stop_reading(&d->out);
  stop_reading(&d->err);
  uv_unref((uv_handle_t *)&d->proc);
}

bool mh_devserver_running(const mh_devserver *d) { return d->running; }
int mh_devserver_pid(const mh_devserver *d) { return d->pid; }
const char *mh_devserver_command(const mh_devserver *d) { return d->command; }

void mh_devserver_free(mh_devserver *d) {
  if (!d) return;
  mh_devserver_signal(d, SIGKILL);
  d->cb = NULL;
  d->freeing = true;
  uv_close((uv_handle_t *)&d->proc, on_handle_closed);
  uv_close((uv_handle_t *)&d->out.pipe, on_handle_closed);
  uv_close((uv_handle_t *)&d->err.pipe, on_handle_closed);
}
