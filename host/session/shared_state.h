/* Shared state: named values that plugins (Lua) and connected clients read
 * and write, kept in step as devframe's shared state does.
 *
 * One store per host (host->states): key -> value, the plugin that owns the
 * key, and which clients subscribed to it. Writes reach every subscribed
 * trusted client except the writer as `devframe:rpc:client-state:updated`
 * [key, value, syncId], or `devframe:rpc:client-state:patch` [key, patches,
 * syncId] for keys declared with patches. Every write carries a syncId; the
 * store remembers recent ones and drops a write it has seen (a devframe
 * client sends an update it received back with the same syncId). Client
 * writes also reach the listeners (ctx.rpc.shared_state(...):on_change).
 *
 * A key belongs to the plugin that declared it. When the plugin loads again
 * and the new generation declares the key, the value survives (its
 * `initial` applies only to new keys); keys the new generation does not
 * declare, and all keys of an unloaded plugin, are dropped. */
#ifndef MH_SHARED_STATE_H
#define MH_SHARED_STATE_H
#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"
#include "core/value.h"

typedef struct mh_host mh_host;
typedef struct mh_states mh_states;

/* Creates host->states (with the host's own read-only key devframe:services)
 * and listens for reloads and closing clients. 0 or -1 (memory). */
int mh_states_init(mh_host *h);
void mh_states_free(mh_host *h);

typedef struct mh_state_decl {
  const char *plugin;    /* owner */
  uint32_t generation;   /* the generation declaring it */
  const mh_value *initial; /* copied when the key is new; NULL: {} */
  bool patches;          /* send changes to clients as patches */
  bool readonly;         /* clients may read, not write */
} mh_state_decl;

/* Declares (or re-declares, from the owner's next generation) key. -1 with
 * *err when another plugin owns it, or memory runs out. */
int mh_state_declare(mh_host *h, const char *key, const mh_state_decl *d, mh_error **err);

/* The value of key, or NULL when there is no such key. Borrowed. */
const mh_value *mh_state_value(mh_host *h, const char *key);

/* Replaces key's value (taken) on behalf of the owning plugin; subscribed
 * clients are told. -1 with *err: no such key, or memory. */
int mh_state_set(mh_host *h, const char *key, mh_value *take, mh_error **err);

/* A new ARRAY of the keys, sorted. */
mh_value *mh_state_keys(mh_host *h);

/* fn(ud, key, value, client_id) after a client changed key. */
typedef void (*mh_state_change_fn)(void *ud, const char *key, const mh_value *value, const char *client_id);
/* 0 or -1 (memory). */
int mh_state_listen(mh_host *h, const char *key, mh_state_change_fn fn, void *ud);
void mh_state_unlisten(mh_host *h, mh_state_change_fn fn, void *ud);

/* The client side (devframe:rpc:server-state:*, shared_state_wire.c). */
/* Adds the client to key's subscribers. -1 with *err: no such key, memory. */
int mh_state_subscribe(mh_host *h, const char *key, const char *client_id, mh_error **err);
/* A client's write: a new value (taken), or patches (borrowed) when take is
 * NULL. A syncId the store has seen is dropped (0). -1 with *err: no such
 * key (not_found), a read-only key or a patch that does not fit (bad_request). */
int mh_state_client_write(mh_host *h, const char *key, mh_value *take, const mh_value *patches, const char *sync_id,
                          const char *client_id, mh_error **err);

/* Patches (shared_state_patch.c), immer's shape: {op = "add"|"replace"|"remove", path = [...], value}. */
/* Appends to the ARRAY `out` the patches that turn a into b. 0 or -1 (memory). */
int mh_state_diff(const mh_value *a, const mh_value *b, mh_value *out);
/* Applies patches to *root (which may be replaced). -1 with *err (bad_request) when one does not fit. */
int mh_state_apply(mh_value **root, const mh_value *patches, mh_error **err);

#endif
