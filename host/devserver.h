/* The dev server moonhost runs beside itself (`moonhost run -- npx vite`):
 * a child process started without a shell, its output prefixed into our
 * log, signals forwarded, its exit reported. */
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
void mh_devserver_signal(mh_devserver *d, int signum);
bool mh_devserver_running(const mh_devserver *d);
int mh_devserver_pid(const mh_devserver *d);
const char *mh_devserver_command(const mh_devserver *d); /* argv joined with spaces, for display */
/* Closes the handles (after the child has exited, or kills it first). */
void mh_devserver_free(mh_devserver *d);

#endif
