/* devframe:rpc:server-state:{subscribe,get,set,patch}: shared state as the
 * devframe 1.3 client speaks it. Its client sends subscribe, set and patch
 * as events; answered as calls (with an id) they reply undefined or the
 * error. Untrusted clients never reach these (the dispatcher refuses
 * names that are not anonymous). */
#include "session/shared_state_wire.h"

#include <string.h>

#include "call/dispatch.h"
#include "call/host.h"
#include "core/log.h"
#include "session/client.h"
#include "session/shared_state.h"

static const mh_value *arg(const mh_value *args, size_t i) {
  return args && args->type == MH_V_ARRAY && i < args->u.arr.len ? args->u.arr.items[i] : NULL;
}

/* The key (argument 0), or NULL with *err. */
static const char *key_arg(const mh_value *args, const char *fn, mh_error **err) {
  const mh_value *k = arg(args, 0);
  if (k && k->type == MH_V_STRING) return k->u.str.ptr;
  *err = mh_error_new(MH_ERR_BAD_REQUEST, "%s: expected a shared-state key (a string) as the first argument", fn);
  return NULL;
}

static const char *sync_id_arg(const mh_value *args) {
  const mh_value *s = arg(args, 2);
  return s && s->type == MH_V_STRING ? s->u.str.ptr : NULL;
}

static mh_value *failed(const char *who, const char *fn, mh_error **err) {
  mh_log_warn("state", "%s: %s refused: %s", who, fn, (*err)->message);
  return NULL;
}

static mh_value *fn_subscribe(mh_host *h, const mh_caller *from, const mh_value *args, mh_error **err) {
  mh_client *caller = from->client;
  const char *key = key_arg(args, "server-state:subscribe", err);
  if (key && !caller) *err = mh_error_new(MH_ERR_BAD_REQUEST, "server-state:subscribe needs a connection");
  if (!key || !caller || mh_state_subscribe(h, key, caller->id, err)) return failed(caller ? caller->id : "http", "subscribe", err);
  return mh_value_undefined();
}

/* undefined for a key the host does not have, as devframe answers. */
static mh_value *fn_get(mh_host *h, const mh_caller *from, const mh_value *args, mh_error **err) {
  (void)from;
  const char *key = key_arg(args, "server-state:get", err);
  if (!key) return NULL;
  const mh_value *v = mh_state_value(h, key);
  mh_value *out = v ? mh_value_copy(v) : mh_value_undefined();
  if (!out) *err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
  return out;
}

/* set(key, value, syncId?) */
static mh_value *fn_set(mh_host *h, const mh_caller *from, const mh_value *args, mh_error **err) {
  mh_client *caller = from->client;
  const char *key = key_arg(args, "server-state:set", err);
  const mh_value *v = arg(args, 1);
  if (key && !v) *err = mh_error_new(MH_ERR_BAD_REQUEST, "server-state:set: expected (key, value, syncId)");
  const char *who = caller ? caller->id : "http";
  if (!key || !v) return failed(who, "set", err);
  mh_value *copy = mh_value_copy(v);
  if (mh_state_client_write(h, key, copy, NULL, sync_id_arg(args), caller ? caller->id : NULL, err))
    return failed(who, "set", err);
  return mh_value_undefined();
}

/* patch(key, patches, syncId?) */
static mh_value *fn_patch(mh_host *h, const mh_caller *from, const mh_value *args, mh_error **err) {
  mh_client *caller = from->client;
  const char *key = key_arg(args, "server-state:patch", err);
  const mh_value *patches = arg(args, 1);
  if (key && (!patches || patches->type != MH_V_ARRAY))
    *err = mh_error_new(MH_ERR_BAD_REQUEST, "server-state:patch: expected (key, patches, syncId)");
  const char *who = caller ? caller->id : "http";
  if (*err) return failed(who, "patch", err);
  if (mh_state_client_write(h, key, NULL, patches, sync_id_arg(args), caller ? caller->id : NULL, err))
    return failed(who, "patch", err);
  return mh_value_undefined();
}

static const mh_host_fn_def state_fns[] = {
    {"devframe:rpc:server-state:subscribe", MH_FN_EVENT, fn_subscribe, NULL},
    {"devframe:rpc:server-state:get", MH_FN_QUERY, fn_get, NULL},
    {"devframe:rpc:server-state:set", MH_FN_ACTION, fn_set, NULL},
    {"devframe:rpc:server-state:patch", MH_FN_ACTION, fn_patch, NULL},
};

int mh_state_wire_add_builtins(mh_host *h) {
  return mh_registry_add_host_fns(&h->registry, state_fns, MH_HOST_FNS_COUNT(state_fns));
}
