/* The inspector's host functions, what it remembers of plugin errors, and
 * its reload button (inspect.h). */
#include "app/inspect.h"

#include <stdlib.h>
#include <string.h>

#include "app/hotreload.h"
#include "app/inspect_internal.h"
#include "call/events.h"
#include "call/host.h"
#include "call/plugin.h"
#include "core/log.h"
#include "session/client.h"

static void set_last_error(mh_inspect *in, const char *plugin, const char *message) {
  size_t n = strlen(plugin);
  free(mh_map_del(&in->last_errors, plugin, n));
  char *copy = message ? strdup(message) : NULL;
  if (copy && mh_map_put(&in->last_errors, plugin, n, copy)) free(copy);
}

static void on_event(mh_host *h, const mh_event *ev, void *ud) {
  mh_inspect *in = ud;
  (void)h;
  switch (ev->kind) {
  case MH_EV_PLUGIN_ERROR: set_last_error(in, ev->plugin, ev->err->message); break;
  case MH_EV_FUNCTIONS_CHANGED:
    if (ev->generation) set_last_error(in, ev->plugin, NULL); /* a load succeeded */
    break;
  case MH_EV_CLIENT_GONE: mh_inspect_log_forget(in, ev->client->id); break;
  case MH_EV_CACHE_INVALIDATED:
  case MH_EV_CLIENT_DRAINED: break;
  }
}

/* ---- moonhost:inspect:reload(plugin) ---- */

struct mh_native_call {
  mh_native_done done; /* NULL once answered (cancelled) */
  void *ud;
  int pending;         /* loads not finished, +1 while starting them */
  bool started;        /* every load has started: the count is complete */
  mh_value *result;
};

static void reload_finish(mh_native_call *rc) {
  if (rc->done) rc->done(rc->ud, rc->result, NULL);
  else mh_value_free(rc->result);
  free(rc);
}

static void reload_loaded(mh_plugin *p, const mh_error *err, void *ud) {
  mh_native_call *rc = ud;
  mh_value_obj_set(rc->result, "ok", mh_value_bool(err == NULL));
  if (err) mh_value_obj_set(rc->result, "error", mh_value_cstring(err->message));
  if (p->current) mh_value_obj_set(rc->result, "generation", mh_value_int(p->current->number));
  if (--rc->pending == 0 && rc->started) reload_finish(rc); /* a load may finish before it is counted */
}

static mh_native_call *reload_start(mh_host *h, const mh_caller *from, mh_value *args, mh_native_done done, void *ud) {
  (void)from;
  const mh_value *name = args && args->type == MH_V_ARRAY && args->u.arr.len == 1 ? args->u.arr.items[0] : NULL;
  mh_native_call *rc = NULL;
  if (!name || name->type != MH_V_STRING) {
    mh_log_warn_limited("inspect", "moonhost:inspect:reload refused: its argument is not one plugin name");
    done(ud, NULL, mh_error_new(MH_ERR_BAD_REQUEST, "moonhost:inspect:reload takes one argument, a plugin name"));
  } else if (!mh_plugin_find(h, name->u.str.ptr)) {
    /* Echoed only when short: the name comes from the caller (and cutting it could split a character). */
    const char *shown = name->u.str.len <= 128 ? name->u.str.ptr : "(a name over 128 bytes)";
    mh_log_warn_limited("inspect", "moonhost:inspect:reload refused: no plugin named \"%s\"", shown);
    done(ud, NULL, mh_error_new(MH_ERR_NOT_FOUND, "no plugin named \"%s\"", shown));
  } else if (!(rc = calloc(1, sizeof *rc)) || !(rc->result = mh_value_new(MH_V_OBJECT))) {
    free(rc);
    rc = NULL;
    done(ud, NULL, mh_error_new(MH_ERR_INTERNAL, "out of memory"));
  } else {
    rc->done = done;
    rc->ud = ud;
    rc->pending = 1;
    mh_value_obj_set(rc->result, "plugin", mh_value_cstring(name->u.str.ptr));
    mh_value_obj_set(rc->result, "ok", mh_value_bool(false));
    int started = mh_hotreload_now(h, name->u.str.ptr, reload_loaded, rc);
    rc->pending += started > 0 ? started : 0;
    rc->started = true;
    bool answered = --rc->pending == 0;
    if (answered) reload_finish(rc);
    if (answered) rc = NULL;
  }
  mh_value_free(args);
  return rc;
}

/* A load cannot be stopped halfway: the caller is answered now, the load
 * finishes on its own. */
static void reload_cancel(mh_native_call *rc) {
  mh_native_done done = rc->done;
  rc->done = NULL;
  if (done) done(rc->ud, NULL, mh_error_new(MH_ERR_CANCELLED, "reload cancelled (the load goes on)"));
}

static const mh_native reload_native = {reload_start, reload_cancel};

static const mh_host_fn_def inspect_fns[] = {
    {"moonhost:inspect:overview", MH_FN_QUERY, mh_inspect_overview, NULL},
    {"moonhost:inspect:reload", MH_FN_ACTION, NULL, &reload_native},
    {"moonhost:inspect:logs", MH_FN_ACTION, mh_inspect_logs, NULL},
};

int mh_inspect_init(mh_host *h) {
  mh_inspect *in = calloc(1, sizeof *in);
  if (!in) return -1;
  in->host = h;
  h->inspect = in;
  if (mh_events_listen(h, on_event, in) || mh_inspect_log_start(in)) return -1;
  return mh_registry_add_host_fns(&h->registry, inspect_fns, MH_HOST_FNS_COUNT(inspect_fns));
}

void mh_inspect_free(mh_host *h) {
  mh_inspect *in = h->inspect;
  if (!in) return;
  mh_inspect_log_stop(in);
  for (size_t i = 0; i < in->last_errors.cap; i++)
    if (mh_map_live(&in->last_errors.slots[i])) free(in->last_errors.slots[i].value);
  mh_map_free(&in->last_errors);
  free(in);
  h->inspect = NULL;
}
