/* The dev server moonhost runs beside itself (`moonhost run -- npx vite`):
 * a child process started without a shell in a session (so a process group)
 * of its own, its output prefixed into our log, signals forwarded to its
 * whole group, its exit reported. */
#ifndef MH_DEVSERVER_H
#define MH_DEVSERVER_H
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

typedef struct mh_devserver mh_devserver;

/* exit_code: the child's exit status, or 128 + signal when a signal ended it. */
typedef void (*mh_devserver_exit_cb)(void *ud, int exit_code);

/* argv is NULL-terminated; argv[0] is looked up in PATH. NULL and a log line on failure. */
mh_devserver *mh_devserver_start(uv_loop_t *loop, char **argv, const char *cwd, mh_devserver_exit_cb cb, void *ud);

/* Where moonhost serves, told to the child in its environment. */
typedef struct mh_devserver_link {
  const char *address; /* numeric address bound (a wildcard becomes loopback in the URLs) */
  int port;            /* the port bound */
  const char *token;   /* the token made at start, or NULL/"" */
} mh_devserver_link;

/* mh_devserver_start, with MOONHOST_URL (http://HOST:PORT), MOONHOST_WS_URL
 * (ws://HOST:PORT/__ws), MOONHOST_PORT and MOONHOST_TOKEN in the child's
 * environment, and each again prefixed VITE_ for Vite pages (import.meta.env). */
mh_devserver *mh_devserver_start_linked(uv_loop_t *loop, char **argv, const char *cwd, const mh_devserver_link *link,
                                        mh_devserver_exit_cb cb, void *ud);
/* Sends signum to the child's process group (the child and what it started),
 * as long as a live process is left in it. */
void mh_devserver_signal(mh_devserver *d, int signum);
/* Whether the child we started is still running (not yet reaped). */
bool mh_devserver_running(const mh_devserver *d);
/* Whether the child, or another process of its group that is not a zombie, runs. */
bool mh_devserver_group_alive(mh_devserver *d);
/* Whether its stdout or stderr has not reached end of file: some process,
 * maybe one outside its group, still holds the pipe. */
bool mh_devserver_output_open(const mh_devserver *d);
/* Stops reading its output (logging what was read) and stops waiting for
 * the child: a process that keeps our pipes open, or one that outlives
 * SIGKILL, cannot keep the event loop (and moonhost) alive. */
void mh_devserver_let_go(mh_devserver *d);
int mh_devserver_pid(const mh_devserver *d);
const char *mh_devserver_command(const mh_devserver *d); /* argv joined with spaces, for display */
/* Closes the handles (SIGKILL to its group first if a process in it still runs). */
void mh_devserver_free(mh_devserver *d);

#endif
