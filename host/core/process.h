/* A program run to its end with its output collected (moonhost.exec).
 * No shell: argv is handed to execvp as it is (argv[0] is found on PATH),
 * so no argument is ever parsed, split or expanded. The program leads a
 * process group of its own, so a timeout or a cancel (SIGKILL to the group)
 * also stops what it started. */
#ifndef MH_PROCESS_H
#define MH_PROCESS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/buf.h"

typedef struct mh_process_spec {
  char **argv;      /* NULL-terminated; borrowed until mh_process_start returns */
  const char *cwd;  /* NULL: the host's working directory */
  char **env;       /* NULL: the host's environment; else "NAME=value" entries */
  const char *input; /* written to its stdin, which then closes; NULL: /dev/null */
  size_t input_len;
  size_t max_output; /* bytes kept of stdout and of stderr each; the rest is read and dropped */
  uint64_t timeout_ms; /* 0: none */
} mh_process_spec;

typedef struct mh_process_result {
  int64_t exit_status; /* when it exited, else -1 */
  int term_signal;     /* the signal that ended it, else 0 */
  bool timed_out;      /* killed by spec.timeout_ms */
  mh_buf out, err;
  bool out_truncated, err_truncated; /* over spec.max_output */
  uint64_t ms;         /* from start to the end of its output */
  int pid;
} mh_process_result;

/* The program exited and its stdout and stderr reached their end. r is
 * borrowed (its buffers may be taken with mh_buf_steal). */
typedef void (*mh_process_done)(void *ud, mh_process_result *r);

typedef struct mh_process mh_process;

/* Starts the program; NULL when it cannot start, with *uv_err (libuv's
 * error: UV_ENOENT when argv[0] is not found, UV_EACCES...). */
mh_process *mh_process_start(uv_loop_t *loop, const mh_process_spec *spec, mh_process_done done, void *ud,
                             int *uv_err);
int mh_process_pid(const mh_process *p);
/* Kills it (SIGKILL to its group) and frees it once its handles close;
 * done is not called. Not after done. */
void mh_process_cancel(mh_process *p);

/* The host's environment with each names[i] removed, then set to values[i]
 * when that is not NULL: "NAME=value" entries, NULL-terminated, for
 * mh_process_spec.env (free with mh_env_free). NULL when out of memory. */
char **mh_env_with(const char *const *names, const char *const *values, size_t n);
void mh_env_free(char **env);

#endif
