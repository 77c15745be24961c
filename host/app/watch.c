/* Recursive file watching: one uv_fs_event_t per directory (inotify is per
 * directory), a map of the files seen so far to classify events, and a
 * debounce timer that delivers one sorted batch after a quiet period.
 *
 * Every raw event is re-checked with lstat, so the net kind of a path in a
 * batch only depends on whether it existed when the window opened and
 * whether it exists now: that turns "write temp + rename over", vim's
 * "rename to foo~ + write foo" and similar dances into one CHANGE.
 *
 * Default ignores (unless opts->include_ignored is true, which turns them
 * off): directories named node_modules or starting with '.' (.git, .cache,
 * .idea, ...; the root itself is always watched, even when its name starts
 * with '.'), and editor temporary files (mh_watch_is_temp_file). Symbolic
 * links are reported as files and never followed. */
#include "app/watch.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/buf.h"
#include "core/glob.h"
#include "core/list.h"
#include "core/log.h"
#include "core/map.h"

#define MAX_WAIT_MIN_MS 1000 /* a file written without pause still gets batches */

typedef struct wdir {
  uv_fs_event_t h;
  mh_watch *w;
  char *rel; /* "" for the root */
  dev_t dev;
  ino_t ino;
} wdir;

struct mh_watch {
  uv_loop_t *loop;
  char *root;
  mh_watch_cb cb;
  void *ud;
  unsigned debounce_ms;
  char **patterns; /* NULL: every file */
  bool defaults;   /* apply the default ignores */
  bool stopped;
  unsigned open;    /* handles not closed yet (directories + timer) */
  mh_map dirs;      /* rel dir -> wdir* */
  mh_map files;     /* rel file -> &known: files that exist as far as we know */
  mh_map pending;   /* rel file -> &was_new / &known: state when the window opened */
  uint64_t batch_t; /* when the first pending event of the window came */
  uv_timer_t timer;
};

static char known, was_new; /* map value markers */
static bool enospc_warned;

static char *join(const char *dir, const char *name) {
  mh_buf b = MH_BUF_INIT;
  if (*dir && (mh_buf_append_str(&b, dir) || mh_buf_append(&b, "/", 1))) goto fail;
  if (mh_buf_append_str(&b, name) || mh_buf_terminate(&b)) goto fail;
  return b.data;
fail:
  mh_buf_free(&b);
  return NULL;
}

static char *abs_path(const mh_watch *w, const char *rel) {
  if (!*rel) return strdup(w->root);
  mh_buf b = MH_BUF_INIT;
  if (mh_buf_appendf(&b, "%s/%s", w->root, rel)) return NULL;
  return b.data;
}

static const char *base_name(const char *path) {
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

static bool ends_with(const char *s, size_t n, const char *suffix) {
  size_t k = strlen(suffix);
  return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

bool mh_watch_is_temp_file(const char *name) {
  name = base_name(name);
  size_t n = strlen(name);
  if (n == 0) return false;
  if (name[n - 1] == '~' || ends_with(name, n, ".swp") || ends_with(name, n, ".swx") ||
      ends_with(name, n, ".swo") || ends_with(name, n, ".tmp"))
    return true;
  if (strncmp(name, ".#", 2) == 0 || (n >= 2 && name[0] == '#' && name[n - 1] == '#')) return true;
  return strcmp(name, "4913") == 0 || strcmp(name, ".DS_Store") == 0;
}

static bool dir_ignored(const mh_watch *w, const char *name) {
  return w->defaults && (name[0] == '.' || strcmp(name, "node_modules") == 0);
}

static bool file_wanted(const mh_watch *w, const char *rel) {
  if (w->defaults && mh_watch_is_temp_file(base_name(rel))) return false;
  if (!w->patterns) return true;
  for (char **p = w->patterns; *p; p++)
    if (mh_glob_match(*p, rel)) return true;
  return false;
}

/* ---- lifetime ---- */

static void free_watch(mh_watch *w) {
  mh_map_free(&w->dirs);
  mh_map_free(&w->files);
  mh_map_free(&w->pending);
  for (char **p = w->patterns; p && *p; p++) free(*p);
  free(w->patterns);
  free(w->root);
  free(w);
}

static void handle_closed(mh_watch *w) {
  if (--w->open == 0 && w->stopped) free_watch(w);
}

static void on_dir_close(uv_handle_t *h) {
  wdir *d = h->data;
  mh_watch *w = d->w;
  free(d->rel);
  free(d);
  handle_closed(w);
}

static void on_timer_close(uv_handle_t *h) { handle_closed(h->data); }

/* ---- debounce and delivery ---- */

static int cmp_event(const void *a, const void *b) {
  return strcmp(((const mh_watch_event *)a)->path, ((const mh_watch_event *)b)->path);
}

static void on_flush(uv_timer_t *t) {
  mh_watch *w = t->data;
  if (w->stopped || w->pending.len == 0) return;
  mh_map pend = w->pending; /* the batch owns the keys; the watch starts a new window */
  w->pending = (mh_map)MH_MAP_INIT;
  mh_watch_event *ev = malloc(pend.len * sizeof *ev);
  size_t n = 0;
  for (size_t i = 0; ev && i < pend.cap; i++) {
    mh_map_slot *s = &pend.slots[i];
    if (!mh_map_live(s)) continue;
    bool was = s->value == &known, now = mh_map_get(&w->files, s->key, s->keylen) != NULL;
    if (!was && !now) continue; /* added and removed in the same window */
    ev[n].path = s->key;
    ev[n++].kind = was && now ? MH_WATCH_CHANGE : now ? MH_WATCH_ADD : MH_WATCH_UNLINK;
  }
  if (!ev) mh_log_error("watch", "%s: out of memory, %zu events lost", w->root, pend.len);
  if (n) qsort(ev, n, sizeof *ev, cmp_event);
  /* Nothing of w is used after the callback: it may call mh_watch_stop (w
   * itself is freed only once every handle has closed, later in the loop). */
  if (n) w->cb(w->ud, ev, n);
  free(ev);
  mh_map_free(&pend);
}

static void arm(mh_watch *w) {
  uint64_t now = uv_now(w->loop), delay = w->debounce_ms;
  uint64_t max_wait = (uint64_t)w->debounce_ms * 10;
  if (max_wait < MAX_WAIT_MIN_MS) max_wait = MAX_WAIT_MIN_MS;
  uint64_t waited = now - w->batch_t;
  if (waited + delay > max_wait) delay = waited >= max_wait ? 0 : max_wait - waited;
  uv_timer_start(&w->timer, on_flush, delay, 0);
}

/* Records that rel (a wanted file) exists or not after a raw event. */
static void touch(mh_watch *w, const char *rel, bool exists) {
  size_t len = strlen(rel);
  bool was = mh_map_get(&w->files, rel, len) != NULL;
  if (!exists && !was) return;
  if (w->pending.len == 0) w->batch_t = uv_now(w->loop);
  if (!mh_map_get(&w->pending, rel, len) && mh_map_put(&w->pending, rel, len, was ? &known : &was_new))
    mh_log_error("watch", "%s: out of memory, event for %s lost", w->root, rel);
  if (exists && !was && mh_map_put(&w->files, rel, len, &known))
    mh_log_error("watch", "%s: out of memory tracking %s", w->root, rel);
  if (!exists) mh_map_del(&w->files, rel, len);
  arm(w);
}

/* ---- directories ---- */

static void add_dir(mh_watch *w, const char *rel, const struct stat *st, bool report);

/* Files of a directory become known (and ADD when report); subdirectories are
 * watched. Subdirectories are collected first so only one DIR is open. */
static void scan_dir(mh_watch *w, const char *rel, const char *abs, bool report) {
  DIR *dp = opendir(abs);
  if (!dp) {
    mh_log_debug("watch", "cannot read %s: %s", abs, strerror(errno));
    return;
  }
  mh_list subdirs;
  mh_list_init(&subdirs);
  typedef struct sub { mh_list link; char name[]; } sub;
  for (struct dirent *de; (de = readdir(dp));) {
    const char *name = de->d_name;
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) continue;
    bool isdir = de->d_type == DT_DIR;
    if (de->d_type == DT_UNKNOWN) {
      struct stat st;
      char *p = join(abs, name);
      isdir = p && lstat(p, &st) == 0 && S_ISDIR(st.st_mode);
      free(p);
    }
    if (isdir) {
      if (dir_ignored(w, name)) continue;
      sub *s = malloc(sizeof *s + strlen(name) + 1);
      if (!s) continue;
      strcpy(s->name, name);
      mh_list_insert_tail(&subdirs, &s->link);
      continue;
    }
    char *child = join(rel, name);
    if (child && file_wanted(w, child)) {
      if (report) touch(w, child, true);
      else if (mh_map_put(&w->files, child, strlen(child), &known))
        mh_log_error("watch", "%s: out of memory tracking %s", w->root, child);
    }
    free(child);
  }
  closedir(dp);
  mh_list_each_safe(pos, &subdirs) {
    sub *s = mh_container_of(pos, sub, link);
    char *child = join(rel, s->name), *cabs = child ? abs_path(w, child) : NULL;
    struct stat st;
    if (cabs && lstat(cabs, &st) == 0 && S_ISDIR(st.st_mode) && !mh_map_get(&w->dirs, child, strlen(child)))
      add_dir(w, child, &st, report);
    free(cabs);
    free(child);
    free(s);
  }
}

static void on_event(uv_fs_event_t *h, const char *filename, int events, int status);

static void add_dir(mh_watch *w, const char *rel, const struct stat *st, bool report) {
  wdir *d = calloc(1, sizeof *d);
  char *abs = abs_path(w, rel);
  if (!d || !abs || !(d->rel = strdup(rel))) {
    mh_log_error("watch", "%s: out of memory, not watching %s", w->root, rel);
    free(abs);
    if (d) free(d->rel);
    free(d);
    return;
  }
  d->w = w;
  d->dev = st->st_dev;
  d->ino = st->st_ino;
  uv_fs_event_init(w->loop, &d->h);
  d->h.data = d;
  w->open++;
  int rc = uv_fs_event_start(&d->h, on_event, abs, 0);
  if (rc == 0 && mh_map_put(&w->dirs, rel, strlen(rel), d)) rc = UV_ENOMEM;
  if (rc) {
    if (rc == UV_ENOSPC && !enospc_warned) {
      enospc_warned = true;
      mh_log_warn("watch", "inotify watch limit reached at %s: changes below it are not seen; raise it with "
                  "`sysctl fs.inotify.max_user_watches=524288` (persist in /etc/sysctl.d/)", abs);
    } else if (rc != UV_ENOSPC && rc != UV_ENOENT) {
      mh_log_warn("watch", "cannot watch %s: %s", abs, uv_strerror(rc));
    }
    uv_close((uv_handle_t *)&d->h, on_dir_close);
    free(abs);
    return;
  }
  scan_dir(w, rel, abs, report);
  free(abs);
}

/* Drops the watch on rel and every directory below it; its files are gone. */
static void remove_dir(mh_watch *w, const char *rel) {
  size_t n = strlen(rel);
  for (size_t i = 0; i < w->dirs.cap; i++) { /* deleting leaves tombstones: iteration stays valid */
    mh_map_slot *s = &w->dirs.slots[i];
    if (!mh_map_live(s) || !(s->keylen == n || (s->keylen > n && s->key[n] == '/')) || memcmp(s->key, rel, n))
      continue;
    wdir *d = mh_map_del(&w->dirs, s->key, s->keylen);
    uv_close((uv_handle_t *)&d->h, on_dir_close);
  }
  for (size_t i = 0; i < w->files.cap; i++) {
    mh_map_slot *s = &w->files.slots[i];
    if (mh_map_live(s) && s->keylen > n && s->key[n] == '/' && memcmp(s->key, rel, n) == 0) touch(w, s->key, false);
  }
}

/* A raw event names rel: find out what it is now. */
static void check_path(mh_watch *w, const char *rel) {
  char *abs = abs_path(w, rel);
  if (!abs) return;
  struct stat st;
  bool exists = lstat(abs, &st) == 0, isdir = exists && S_ISDIR(st.st_mode);
  free(abs);
  size_t len = strlen(rel);
  wdir *d = mh_map_get(&w->dirs, rel, len);
  /* gone, replaced by a file, or removed and created again (another inode) */
  if (d && (!isdir || d->dev != st.st_dev || d->ino != st.st_ino)) remove_dir(w, rel), d = NULL;
  if (isdir) {
    if (mh_map_get(&w->files, rel, len)) touch(w, rel, false); /* a file became a directory */
    if (!d && !dir_ignored(w, base_name(rel))) add_dir(w, rel, &st, true);
  } else if (file_wanted(w, rel)) {
    touch(w, rel, exists);
  }
}

static void on_event(uv_fs_event_t *h, const char *filename, int events, int status) {
  wdir *d = h->data;
  mh_watch *w = d->w;
  if (w->stopped || uv_is_closing((uv_handle_t *)h)) return;
  if (status < 0) {
    mh_log_warn("watch", "%s/%s: %s", w->root, d->rel, uv_strerror(status));
    return;
  }
  if (!filename || !*filename) return;
  char *rel = join(d->rel, filename), *abs = rel ? abs_path(w, rel) : NULL;
  struct stat st;
  /* Events about the directory itself (deleted, moved) carry its own name.
   * Unless "dir/dir" is real or known, take it as such: the directory may
   * have been removed and created again with the same inode number. */
  if (abs && *d->rel && strcmp(filename, base_name(d->rel)) == 0 && lstat(abs, &st) != 0 &&
      !mh_map_get(&w->files, rel, strlen(rel)) && !mh_map_get(&w->dirs, rel, strlen(rel))) {
    char *self = strdup(d->rel); /* d closes in remove_dir */
    if (self) remove_dir(w, self), check_path(w, self);
    free(self);
  } else if (rel) {
    check_path(w, rel);
  }
  free(abs);
  free(rel);
}

/* ---- public ---- */

mh_watch *mh_watch_start(uv_loop_t *loop, const char *root, const mh_watch_opts *opts, mh_watch_cb cb, void *ud,
                         const char **err) {
  static const char *dummy;
  if (!err) err = &dummy;
  struct stat st;
  if (!root || stat(root, &st) != 0) return *err = "no such directory", NULL;
  if (!S_ISDIR(st.st_mode)) return *err = "not a directory", NULL;
  mh_watch *w = calloc(1, sizeof *w);
  if (!w || !(w->root = strdup(root))) goto oom;
  for (size_t n = strlen(w->root); n > 1 && w->root[n - 1] == '/';) w->root[--n] = '\0';
  w->loop = loop;
  w->cb = cb;
  w->ud = ud;
  w->debounce_ms = opts && opts->debounce_ms ? opts->debounce_ms : 30;
  w->defaults = !(opts && opts->include_ignored);
  if (opts && opts->patterns) {
    size_t n = 0;
    while (opts->patterns[n]) n++;
    if (!(w->patterns = calloc(n + 1, sizeof *w->patterns))) goto oom;
    for (size_t i = 0; i < n; i++)
      if (!(w->patterns[i] = strdup(opts->patterns[i]))) goto oom;
  }
  uv_timer_init(loop, &w->timer);
  w->timer.data = w;
  w->open = 1;
  add_dir(w, "", &st, false);
  if (!mh_map_get(&w->dirs, "", 0)) {
    mh_watch_stop(w);
    return *err = "cannot watch directory", NULL;
  }
  return w;
oom:
  if (w) free_watch(w);
  return *err = "out of memory", NULL;
}

void mh_watch_stop(mh_watch *w) {
  if (!w || w->stopped) return;
  w->stopped = true;
  for (size_t i = 0; i < w->dirs.cap; i++)
    if (mh_map_live(&w->dirs.slots[i])) uv_close((uv_handle_t *)&((wdir *)w->dirs.slots[i].value)->h, on_dir_close);
  mh_map_free(&w->dirs);
  uv_timer_stop(&w->timer);
  uv_close((uv_handle_t *)&w->timer, on_timer_close);
}
