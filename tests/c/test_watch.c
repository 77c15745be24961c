/* mh_watch on real files in a mkdtemp directory with a real uv loop.
 *
 * Each step does its file operations, then runs the loop until a batch
 * arrives (the 5 s deadline is only a failure bound) and compares the batch
 * exactly. Where "nothing else" must be shown, a sentinel file is written
 * after the operations that must stay silent: its batch proves they were
 * seen and dropped (inotify delivers events in order). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "app/watch.h"

#define MAX_EVENTS 64
#define DEADLINE_MS 5000

typedef struct rec {
  int batches;
  size_t n;
  char ev[MAX_EVENTS][300]; /* "ADD path" */
  mh_watch *w;
  bool stop_in_cb;
} rec;

static uv_loop_t *loop;
static uv_timer_t tick; /* keeps UV_RUN_ONCE from blocking past the deadline */
static char dir[256];

static const char *kind_name(mh_watch_kind k) {
  return k == MH_WATCH_ADD ? "ADD" : k == MH_WATCH_CHANGE ? "CHANGE" : "UNLINK";
}

static void on_batch(void *ud, const mh_watch_event *events, size_t n) {
  rec *r = ud;
  r->batches++;
  for (size_t i = 0; i < n; i++) {
    if (i > 0) CHECK(strcmp(events[i - 1].path, events[i].path) < 0); /* sorted, each path once */
    if (r->n < MAX_EVENTS) snprintf(r->ev[r->n++], sizeof r->ev[0], "%s %s", kind_name(events[i].kind), events[i].path);
  }
  if (r->stop_in_cb) {
    mh_watch_stop(r->w);
    r->w = NULL;
  }
}

static void on_tick(uv_timer_t *t) { (void)t; }

static void reset(rec *r) {
  r->batches = 0;
  r->n = 0;
}

/* Runs the loop until r has `want` batches or the deadline passes. */
static bool wait_batches(rec *r, int want) {
  uint64_t deadline = uv_now(loop) + DEADLINE_MS;
  while (r->batches < want && uv_now(loop) < deadline) uv_run(loop, UV_RUN_ONCE);
  return r->batches >= want;
}

/* Runs the loop for ms (for checks that something does not happen). */
static void run_for(uint64_t ms) {
  uint64_t end = uv_now(loop) + ms;
  while (uv_now(loop) < end) uv_run(loop, UV_RUN_ONCE);
}

/* Waits for one batch and checks it holds exactly the given events (sorted). */
static bool expect_batch(rec *r, int line, ...) {
  bool ok = wait_batches(r, 1) && r->batches == 1;
  va_list ap;
  va_start(ap, line);
  size_t i = 0;
  for (const char *e; (e = va_arg(ap, const char *)); i++) ok = ok && i < r->n && strcmp(r->ev[i], e) == 0;
  va_end(ap);
  ok = ok && i == r->n;
  if (!ok) {
    fprintf(stderr, "line %d: unexpected batch (%d batches):\n", line, r->batches);
    for (size_t k = 0; k < r->n; k++) fprintf(stderr, "  %s\n", r->ev[k]);
  }
  reset(r);
  return ok;
}
#define EXPECT(r, ...) CHECK(expect_batch(r, __LINE__, __VA_ARGS__, (const char *)NULL))

static char *p(const char *rel) {
  static char buf[4][512];
  static int i;
  i = (i + 1) % 4;
  snprintf(buf[i], sizeof buf[i], "%s/%s", dir, rel);
  return buf[i];
}

static void write_file(const char *rel, const char *text) {
  int fd = open(p(rel), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  if (fd < 0) return;
  CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
  close(fd);
}

static void append_file(const char *rel, const char *text) {
  int fd = open(p(rel), O_WRONLY | O_APPEND);
  CHECK(fd >= 0);
  if (fd < 0) return;
  CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
  close(fd);
}

static void make_dir(const char *rel) { CHECK(mkdir(p(rel), 0755) == 0); }

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}
static void rm_rf(const char *path) { nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static void new_dir(void) {
  snprintf(dir, sizeof dir, "%s/mh_watch_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  CHECK(mkdtemp(dir) != NULL);
}

static mh_watch *start(rec *r, const mh_watch_opts *opts) {
  const char *err = NULL;
  memset(r, 0, sizeof *r);
  r->w = mh_watch_start(loop, dir, opts, on_batch, r, &err);
  if (!r->w) fprintf(stderr, "mh_watch_start: %s\n", err ? err : "?");
  CHECK(r->w != NULL);
  return r->w;
}

static void finish(rec *r) {
  if (r->w) mh_watch_stop(r->w);
  r->w = NULL;
  rm_rf(dir);
}

/* (1)-(6): add, change, atomic saves, unlink, new directories, bursts. */
static void test_basic(void) {
  rec r;
  new_dir();
  write_file("old.txt", "old"); /* from before the start: not reported */
  if (!start(&r, NULL)) return;

  write_file("a.txt", "1"); /* (1) */
  EXPECT(&r, "ADD a.txt");
  append_file("a.txt", "2"); /* (2) */
  EXPECT(&r, "CHANGE a.txt");
  append_file("old.txt", "2"); /* files of the initial scan are known */
  EXPECT(&r, "CHANGE old.txt");

  /* (3) atomic saves: temp file + rename over, with an ordinary temp name
   * (write-file-atomic style) and with an ignored one */
  write_file("a.txt.4f3a91", "3");
  CHECK(rename(p("a.txt.4f3a91"), p("a.txt")) == 0);
  EXPECT(&r, "CHANGE a.txt");
  write_file("a.txt.tmp", "4");
  CHECK(rename(p("a.txt.tmp"), p("a.txt")) == 0);
  EXPECT(&r, "CHANGE a.txt");
  /* vim backupcopy=no: rename to a.txt~, write a.txt, delete the backup;
   * vim also probes with a file named 4913 */
  write_file("4913", "");
  CHECK(unlink(p("4913")) == 0);
  CHECK(rename(p("a.txt"), p("a.txt~")) == 0);
  write_file("a.txt", "5");
  CHECK(unlink(p("a.txt~")) == 0);
  EXPECT(&r, "CHANGE a.txt");
  /* unlink then add again = change; add then unlink = nothing */
  CHECK(unlink(p("a.txt")) == 0);
  write_file("a.txt", "6");
  write_file("brief.txt", "");
  CHECK(unlink(p("brief.txt")) == 0);
  EXPECT(&r, "CHANGE a.txt");

  CHECK(unlink(p("a.txt")) == 0); /* (4) */
  EXPECT(&r, "UNLINK a.txt");

  make_dir("sub"); /* (5) */
  write_file("sub/f.txt", "1");
  EXPECT(&r, "ADD sub/f.txt");
  append_file("sub/f.txt", "2");
  write_file("sub/g.txt", "1");
  EXPECT(&r, "CHANGE sub/f.txt", "ADD sub/g.txt");
  /* a tree created at once (mkdir -p, git checkout) */
  make_dir("sub/d1");
  make_dir("sub/d1/d2");
  write_file("sub/d1/d2/deep.txt", "1");
  write_file("sub/d1/x.txt", "1");
  EXPECT(&r, "ADD sub/d1/d2/deep.txt", "ADD sub/d1/x.txt");
  append_file("sub/d1/d2/deep.txt", "2");
  EXPECT(&r, "CHANGE sub/d1/d2/deep.txt");
  /* a directory removed and created again: a new inode is watched anew */
  rm_rf(p("sub/d1"));
  make_dir("sub/d1");
  write_file("sub/d1/x.txt", "2");
  EXPECT(&r, "UNLINK sub/d1/d2/deep.txt", "CHANGE sub/d1/x.txt");
  append_file("sub/d1/x.txt", "3");
  EXPECT(&r, "CHANGE sub/d1/x.txt");
  /* a directory renamed inside the tree */
  CHECK(rename(p("sub/d1"), p("moved")) == 0);
  EXPECT(&r, "ADD moved/x.txt", "UNLINK sub/d1/x.txt");
  append_file("moved/x.txt", "4");
  EXPECT(&r, "CHANGE moved/x.txt");
  /* a whole directory removed */
  rm_rf(p("sub"));
  EXPECT(&r, "UNLINK sub/f.txt", "UNLINK sub/g.txt");

  write_file("b.txt", "0"); /* (6) */
  EXPECT(&r, "ADD b.txt");
  for (int i = 0; i < 50; i++) append_file("b.txt", "x");
  EXPECT(&r, "CHANGE b.txt");
  write_file("sentinel", ""); /* and no late second batch for the burst */
  EXPECT(&r, "ADD sentinel");
  finish(&r);
}

/* The net kind of a path when the loop sees the intermediate states (the
 * steps above usually happen before the loop reads the first event). The
 * pauses give the loop time to read raw events; they are not needed for
 * the outcome, which is the same either way. */
static void test_net_kinds(void) {
  rec r;
  new_dir();
  write_file("z", "0");
  mh_watch_opts opts = {.debounce_ms = 150};
  if (!start(&r, &opts)) return;
  write_file("x", "1"); /* add then change = add */
  run_for(40);
  append_file("x", "2");
  EXPECT(&r, "ADD x");
  write_file("y", "1"); /* add then unlink = nothing */
  run_for(40);
  CHECK(unlink(p("y")) == 0);
  run_for(40);
  write_file("sentinel", "");
  EXPECT(&r, "ADD sentinel");
  CHECK(unlink(p("z")) == 0); /* unlink then add = change */
  run_for(40);
  write_file("z", "1");
  EXPECT(&r, "CHANGE z");
  write_file("z.new", "2"); /* atomic save, slowly */
  run_for(40);
  CHECK(rename(p("z.new"), p("z")) == 0);
  EXPECT(&r, "CHANGE z");
  CHECK(rename(p("z"), p("z~")) == 0); /* vim backupcopy=no, slowly */
  run_for(20);
  write_file("z", "3");
  run_for(20);
  CHECK(unlink(p("z~")) == 0);
  EXPECT(&r, "CHANGE z");
  finish(&r);
}

/* (7) ignored directories and temp files; include_ignored reports them. */
static void test_ignores(void) {
  rec r;
  new_dir();
  make_dir(".git");
  make_dir("node_modules");
  if (!start(&r, NULL)) return;
  write_file(".git/HEAD", "ref");
  write_file("node_modules/x.js", "1");
  make_dir(".cache"); /* created later: not watched either */
  write_file(".cache/c", "1");
  make_dir("node_modules/pkg");
  write_file("node_modules/pkg/y.js", "1");
  write_file(".x.lua.swp", "1");
  write_file("x.lua~", "1");
  write_file(".#x.lua", "1");
  write_file("#x.lua#", "1");
  write_file(".DS_Store", "1");
  write_file("ok.txt", "1");
  EXPECT(&r, "ADD ok.txt");
  append_file(".git/HEAD", "2");
  append_file("node_modules/x.js", "2");
  append_file(".cache/c", "2");
  write_file("ok2.txt", "1");
  EXPECT(&r, "ADD ok2.txt");
  finish(&r);

  new_dir();
  make_dir("node_modules");
  mh_watch_opts opts = {.include_ignored = true};
  if (!start(&r, &opts)) return;
  write_file("node_modules/x.js", "1");
  write_file("x.swp", "1");
  EXPECT(&r, "ADD node_modules/x.js", "ADD x.swp");
  finish(&r);
}

/* (8) patterns filter events, but directories are still watched. */
static void test_patterns(void) {
  rec r;
  new_dir();
  make_dir("sub");
  const char *const pats[] = {"**/*.lua", "conf/*.json", NULL};
  mh_watch_opts opts = {.patterns = pats, .debounce_ms = 10};
  if (!start(&r, &opts)) return;
  write_file("a.lua", "1");
  write_file("b.txt", "1");
  write_file("sub/c.lua", "1");
  write_file("sub/c.json", "1");
  make_dir("new");
  make_dir("new/deeper");
  write_file("new/deeper/d.lua", "1");
  make_dir("conf");
  write_file("conf/e.json", "1");
  EXPECT(&r, "ADD a.lua", "ADD conf/e.json", "ADD new/deeper/d.lua", "ADD sub/c.lua");
  append_file("b.txt", "2");
  append_file("sub/c.lua", "2");
  EXPECT(&r, "CHANGE sub/c.lua");
  finish(&r);
}

/* (9) stopping from inside the callback, and stopping with events pending. */
static void test_stop(void) {
  rec r;
  new_dir();
  if (!start(&r, NULL)) return;
  r.stop_in_cb = true;
  write_file("a.txt", "1");
  CHECK(wait_batches(&r, 1));
  CHECK(r.w == NULL);
  write_file("b.txt", "1"); /* nothing may be delivered any more */
  run_for(150);
  CHECK(r.batches == 1);
  finish(&r);

  new_dir();
  mh_watch_opts opts = {.debounce_ms = 300};
  if (!start(&r, &opts)) return;
  write_file("a.txt", "1");
  run_for(60); /* the raw event is read, the batch is still waiting */
  CHECK(r.batches == 0);
  mh_watch_stop(r.w);
  r.w = NULL;
  run_for(500);
  CHECK(r.batches == 0);
  finish(&r);

  /* stopped right after the start, before the loop ran at all */
  new_dir();
  if (!start(&r, NULL)) return;
  finish(&r);
}

/* (10) errors. */
static void test_errors(void) {
  rec r;
  const char *err = NULL;
  CHECK(mh_watch_start(loop, "/nonexistent/mh_watch_test", NULL, on_batch, &r, &err) == NULL);
  CHECK(err && strcmp(err, "no such directory") == 0);
  new_dir();
  write_file("file", "1");
  err = NULL;
  CHECK(mh_watch_start(loop, p("file"), NULL, on_batch, &r, &err) == NULL);
  CHECK(err && strcmp(err, "not a directory") == 0);
  rm_rf(dir);
}

/* The root may be given with a trailing slash and its name may start with '.'. */
static void test_dot_root(void) {
  rec r;
  new_dir();
  char base[sizeof dir];
  memcpy(base, dir, sizeof dir);
  size_t n = strlen(base);
  CHECK(n + sizeof "/.root/" <= sizeof dir);
  memcpy(dir + n, "/.root/", sizeof "/.root/");
  CHECK(mkdir(dir, 0755) == 0);
  if (!start(&r, NULL)) return;
  write_file("a.lua", "1");
  EXPECT(&r, "ADD a.lua");
  mh_watch_stop(r.w);
  r.w = NULL;
  memcpy(dir, base, sizeof dir);
  finish(&r);
}

int main(void) {
  loop = uv_default_loop();
  uv_timer_init(loop, &tick);
  uv_timer_start(&tick, on_tick, 20, 20);
  test_basic();
  test_net_kinds();
  test_ignores();
  test_patterns();
  test_stop();
  test_errors();
  test_dot_root();
  uv_close((uv_handle_t *)&tick, NULL);
  uv_run(loop, UV_RUN_DEFAULT); /* every watch handle closes; ASan checks the memory */
  CHECK(uv_loop_close(loop) == 0);
  return check_failures ? 1 : 0;
}
