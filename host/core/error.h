/* Errors that travel to clients: a stable code, a human message, a name and
 * optional data. Codes are stable strings documented in docs/protocol.md ("Error codes").
 *
 * How a host function says it failed depends on who reads the failure:
 *
 * - Runtime paths (a call, a frame, a reply: a client reads it) return NULL
 *   or -1 and set an `mh_error **err`. mh_error_new never returns NULL, so
 *   the failure path needs no check of its own.
 * - Start-up paths composed before the loop runs (mh_host_setup and the
 *   *_init functions it calls, mh_config_load: the operator reads it, then
 *   the process exits) return -1 (MH_START_BAD_CONFIG for a setting the host
 *   refuses) and set a malloc'd `char **errmsg` naming the cause, except
 *   when memory runs out: -1 with *errmsg NULL means that (the message's
 *   own copy could fail too). mh_host_setup names the cause of a step that
 *   takes no errmsg, so the composition root prints one message and picks
 *   the exit code from the return, never guessing.
 * - Starts that run inside the loop (mh_server_start, mh_listener_start,
 *   mh_links_start, mh_devserver_start, the watchers) have no caller left to
 *   print: they log the cause (bind, uv, lws context, configuration, memory)
 *   with mh_log_error where it happens, then return -1 or NULL.
 * - Leaves that can only run out of memory (mh_buf, mh_value, mh_map, the
 *   registry) return -1 or NULL with no message; their caller says what
 *   could not be done.
 *
 * One exception waits for bindings/ to be free to change: mh_watch_start
 * hands back a static reason through `const char **` (app/watch.h). */
#ifndef MH_ERROR_H
#define MH_ERROR_H
#include <stdbool.h>

#include "core/value.h"

/* Start-up returns: -1 for the machine (memory, randomness, a socket), this
 * for a configuration the host refuses (the process exits 2, not 1). */
#define MH_START_BAD_CONFIG (-2)

#define MH_ERR_NOT_FOUND "not_found"
#define MH_ERR_BAD_REQUEST "bad_request"
#define MH_ERR_UNAUTHORIZED "unauthorized"
#define MH_ERR_TOO_LARGE "too_large"
#define MH_ERR_TIMEOUT "rpc_timeout"
#define MH_ERR_CANCELLED "rpc_cancelled"
#define MH_ERR_ALREADY_REGISTERED "rpc_method_already_registered"
#define MH_ERR_OVERLOADED "overloaded"
#define MH_ERR_INTERNAL "internal"
#define MH_ERR_DISCONNECTED "disconnected"

typedef struct mh_error {
  char *code;    /* one of the MH_ERR_* strings (copied) */
  char *name;    /* JS error name, "Error" unless a plugin says otherwise */
  char *message;
  mh_value *data; /* optional, owned */
  /* Set when a plugin raised it with moonhost.error{...}: over HTTP it is an
   * oRPC "defined" error, with the HTTP status the plugin chose (0: the
   * status its code maps to). Other transports ignore both. */
  bool defined;
  int status;
} mh_error;

/* Never returns NULL: when memory runs out a static fallback is returned,
 * and mh_error_free knows not to free it. */
mh_error *mh_error_new(const char *code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
mh_error *mh_error_copy(const mh_error *e);
/* Whether e is the shared out-of-memory error (read-only: do not change it). */
bool mh_error_is_static(const mh_error *e);
void mh_error_free(mh_error *e);
/* {name, message, code, data?} as sent on the wire. */
mh_value *mh_error_to_value(const mh_error *e);
/* Reads an error value sent by a client (any shape) into an mh_error. */
mh_error *mh_error_from_value(const mh_value *v);

#endif
