/* Recursive file watching on the host loop (libuv fs events, one per
 * directory, as inotify works), with ignore rules, glob filters and
 * debouncing. Used for plugins/ (hot reload), conf.d/ and ctx.watch. */
#ifndef MH_WATCH_H
#define MH_WATCH_H
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

typedef struct mh_watch mh_watch;

typedef enum { MH_WATCH_ADD, MH_WATCH_CHANGE, MH_WATCH_UNLINK } mh_watch_kind;

typedef struct mh_watch_event {
  const char *path; /* relative to the watched root, '/'-separated, e.g. "src/main.ts" */
  mh_watch_kind kind;
} mh_watch_event;

/* A batch of events after a quiet period (debounce): each path appears once,
 * with the net kind (add then change = add; add then unlink = nothing;
 * unlink then add = change). Directories are not reported, only files. */
typedef void (*mh_watch_cb)(void *ud, const mh_watch_event *events, size_t n);

typedef struct mh_watch_opts {
  unsigned debounce_ms;        /* quiet time before a batch is delivered (default 30 when 0) */
  const char *const *patterns; /* NULL-terminated globs a file must match (NULL: every file) */
  bool include_ignored;        /* also report .git, node_modules and editor temp files (default false: skipped) */
} mh_watch_opts;

/* Starts watching root recursively. NULL and *err (static string) on failure. */
mh_watch *mh_watch_start(uv_loop_t *loop, const char *root, const mh_watch_opts *opts, mh_watch_cb cb, void *ud,
                         const char **err);
/* Stops and frees (handles close asynchronously; the callback is never called again). */
void mh_watch_stop(mh_watch *w);

/* Editor temporary and backup files (foo.swp, foo~, .#foo, 4913, ...). */
bool mh_watch_is_temp_file(const char *name);

#endif
