/* Errors that travel to clients: a stable code, a human message, a name and
 * optional data. Codes are stable strings documented in the README. */
#ifndef MH_ERROR_H
#define MH_ERROR_H
#include <stdbool.h>

#include "core/value.h"

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
