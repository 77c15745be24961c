/* Host events announced to every trusted client as optional events:
 *   moonhost:functions-changed {plugin, generation}  (generation null: unloaded)
 *   devframe:rpc:cache:invalidate                   (Vite DevTools clients drop their caches)
 *   moonhost:plugin-error {plugin, code, message}    (a load failed; the old version serves) */
#include "session/notify.h"

#include "call/events.h"
#include "call/host.h"
#include "session/rpc.h"

/* Broadcasts an event whose single argument is `arg` (taken). */
static void announce(mh_host *host, const char *name, mh_value *arg) {
  mh_value *args = mh_value_new(MH_V_ARRAY);
  if (args && arg && mh_value_push(args, arg) == 0) arg = NULL;
  if (args) mh_rpc_broadcast(host, name, args);
  mh_value_free(arg);
  mh_value_free(args);
}

static void cache_invalidated(mh_host *host) {
  /* devframe's event carries no argument: clients drop everything */
  mh_value *args = mh_value_new(MH_V_ARRAY);
  if (args) mh_rpc_broadcast(host, "devframe:rpc:cache:invalidate", args);
  mh_value_free(args);
}

static void functions_changed(mh_host *host, const char *plugin, uint32_t generation) {
  if (host->nclients == 0) return;
  mh_value *o = mh_value_new(MH_V_OBJECT);
  if (!o) return;
  mh_value_obj_set(o, "plugin", mh_value_cstring(plugin));
  mh_value_obj_set(o, "generation", generation ? mh_value_int(generation) : mh_value_null());
  announce(host, "moonhost:functions-changed", o);
  cache_invalidated(host);
}

static void plugin_error(mh_host *host, const char *plugin, const mh_error *err) {
  if (host->nclients == 0) return;
  mh_value *o = mh_value_new(MH_V_OBJECT);
  if (!o) return;
  mh_value_obj_set(o, "plugin", mh_value_cstring(plugin));
  mh_value_obj_set(o, "code", mh_value_cstring(err->code));
  mh_value_obj_set(o, "message", mh_value_cstring(err->message));
  announce(host, "moonhost:plugin-error", o);
}

static void on_event(mh_host *h, const mh_event *ev, void *ud) {
  (void)ud;
  switch (ev->kind) {
  case MH_EV_FUNCTIONS_CHANGED: functions_changed(h, ev->plugin, ev->generation); break;
  case MH_EV_PLUGIN_ERROR: plugin_error(h, ev->plugin, ev->err); break;
  case MH_EV_CACHE_INVALIDATED: cache_invalidated(h); break; /* clients may cache what we no longer do */
  case MH_EV_CLIENT_GONE:
  case MH_EV_CLIENT_DRAINED: break;
  }
}

int mh_notify_init(mh_host *h) { return mh_events_listen(h, on_event, NULL); }
