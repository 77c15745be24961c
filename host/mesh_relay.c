/* The mesh functions that reach other peers: relay (awaited), relay-event
 * (fire and forget) and make (a provider chosen by the host, with fallback
 * to the next one when a provider rejects). */
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "dispatch.h"
#include "host.h"
#include "log.h"
#include "mesh.h"
#include "rpc.h"

#define MAX_TARGETS 1024

struct mh_native_call {
  mh_host *h;
  mh_native_done done;
  void *ud;
  mh_outcall *oc;     /* the call in flight to one peer, or */
  mh_gather *gather;  /* the calls in flight to all of them */
  mh_waiter *host_waiter; /* make(): the host's own provider running */
  /* make(): the providers left to try */
  char *name;
  mh_value *args;
  mh_value *identity;
  char (*ids)[24];
  size_t n, tried, next;
  uint64_t timeout_ms;
  bool *finished_flag; /* set while starting: learns of a synchronous finish */
};

static const mh_value *field(const mh_value *o, const char *k) {
  return o && o->type == MH_V_OBJECT ? mh_value_obj_get(o, k) : NULL;
}

static const mh_value *first_arg(const mh_value *args) {
  return args && args->type == MH_V_ARRAY && args->u.arr.len ? args->u.arr.items[0] : NULL;
}

static const char *role_of(const mh_client *caller) {
  if (!caller) return "http";
  return caller->peer ? caller->peer->role : "anonymous";
}

static uint64_t timeout_of(mh_host *h, const mh_value *opts) {
  const mh_value *t = field(opts, "timeout");
  if (t && t->type == MH_V_INT && t->u.i > 0) return (uint64_t)t->u.i;
  if (t && t->type == MH_V_FLOAT && t->u.f > 0) return (uint64_t)t->u.f;
  return h->cfg->limits.call_timeout_ms;
}

static void finish(mh_native_call *nc, mh_value *result, mh_error *err) {
  if (nc->finished_flag) *nc->finished_flag = true;
  mh_native_done done = nc->done;
  void *ud = nc->ud;
  free(nc->name);
  free(nc->ids);
  mh_value_free(nc->args);
  mh_value_free(nc->identity);
  free(nc);
  done(ud, result, err);
}

static mh_native_call *fail_now(mh_native_done done, void *ud, mh_error *err) {
  done(ud, NULL, err);
  return NULL;
}

/* Checks a relay request and finds its targets. */
static mh_error *prepare(mh_host *h, mh_client *caller, const mh_value *opts, const char *what, mh_client **targets,
                         size_t *n, bool *all) {
  const mh_value *to = field(opts, "to"), *method = field(opts, "method"), *args = field(opts, "args");
  if (!to || !method || method->type != MH_V_STRING || (args && args->type != MH_V_ARRAY))
    return mh_error_new(MH_ERR_BAD_REQUEST, "%s expects {to, method: string, args?: array}", what);
  if (!mh_mesh_allowed(h, role_of(caller), method->u.str.ptr))
    return mh_error_new(MH_ERR_UNAUTHORIZED, "role '%s' may not call \"%s\" through the mesh (mesh.permissions)",
                        role_of(caller), method->u.str.ptr);
  const mh_value *all_flag = field(opts, "all");
  *all = all_flag && all_flag->type == MH_V_BOOL && all_flag->u.b;
  *n = mh_mesh_resolve(h, to, targets, MAX_TARGETS, all);
  if (*n == 0)
    return mh_error_new(MH_ERR_NOT_FOUND, "no peer matches %s",
                        to->type == MH_V_STRING ? to->u.str.ptr : "the target description");
  return NULL;
}

static void on_relay_answer(void *ud, mh_value *result, mh_error *err) {
  mh_native_call *nc = ud;
  nc->oc = NULL;
  finish(nc, result, err);
}

static void on_gathered(void *ud, mh_value *results) {
  mh_native_call *nc = ud;
  nc->gather = NULL;
  finish(nc, results, NULL);
}

/* relay({to, method, args, all?, timeout?}) -> the target's result (or, for
 * several targets, [{client, ok, value|error}]) */
static mh_native_call *relay_start(mh_host *h, mh_client *caller, mh_value *args, mh_native_done done, void *ud) {
  mh_client **targets = malloc(MAX_TARGETS * sizeof *targets);
  size_t n = 0;
  bool all = false;
  const mh_value *opts = first_arg(args);
  mh_error *err = targets ? prepare(h, caller, opts, "relay", targets, &n, &all)
                          : mh_error_new(MH_ERR_INTERNAL, "out of memory");
  mh_native_call *nc = err ? NULL : calloc(1, sizeof *nc);
  if (!err && !nc) err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
  if (err) {
    free(targets);
    mh_value_free(args);
    return fail_now(done, ud, err);
  }
  nc->h = h;
  nc->done = done;
  nc->ud = ud;
  nc->identity = mh_mesh_identity(h, caller);
  const char *method = field(opts, "method")->u.str.ptr;
  const mh_value *call_args = field(opts, "args");
  uint64_t timeout = timeout_of(h, opts);
  bool finished = false;
  nc->finished_flag = &finished;
  if (all) {
    char **ids = malloc(n * sizeof *ids);
    for (size_t i = 0; ids && i < n; i++) ids[i] = targets[i]->id;
    mh_gather *g = mh_rpc_broadcast_call_ex(h, ids, ids ? n : 0, method, call_args, nc->identity, timeout,
                                            on_gathered, nc);
    if (!finished) nc->gather = g;
    free(ids);
  } else {
    mh_client *t = targets[mh_mesh_pick(h, n)];
    mh_log_debug("mesh", "relay %s -> %s: %s", caller ? caller->id : "host", t->id, method);
    mh_outcall *oc = mh_client_call_ex(t, method, call_args, nc->identity, timeout, on_relay_answer, nc);
    if (!finished) nc->oc = oc;
  }
  free(targets);
  mh_value_free(args);
  if (finished) return NULL; /* answered (and freed) already */
  nc->finished_flag = NULL;
  return nc;
}

static void relay_cancel(mh_native_call *nc) {
  /* The target is told to stop too: the cancel travels along the relay. */
  if (nc->oc) mh_outcall_abort(nc->oc);
  if (nc->gather) mh_gather_cancel(nc->gather);
  if (nc->host_waiter) mh_dispatch_cancel(nc->host_waiter);
  nc->oc = NULL;
  nc->gather = NULL;
  nc->host_waiter = NULL;
  finish(nc, NULL, mh_error_new(MH_ERR_CANCELLED, "relayed call cancelled"));
}

static const mh_native relay_native = {relay_start, relay_cancel};

/* relay-event({to, method, args}): fire and forget, to one target (or all). */
static mh_value *fn_relay_event(mh_host *h, mh_client *caller, const mh_value *args, mh_error **err) {
  mh_client *targets[64];
  size_t n = 0;
  bool all = false;
  const mh_value *opts = first_arg(args);
  if ((*err = prepare(h, caller, opts, "relay-event", targets, &n, &all))) return NULL;
  const mh_value *call_args = field(opts, "args");
  mh_value empty = {.type = MH_V_ARRAY};
  size_t first = all ? 0 : mh_mesh_pick(h, n), last = all ? n : first + 1;
  for (size_t i = first; i < last; i++)
    mh_client_event(targets[i], field(opts, "method")->u.str.ptr, call_args ? call_args : &empty, false);
  return mh_value_int((int64_t)(last - first));
}

/* ---- make ------------------------------------------------------------- */

static void try_next_provider(mh_native_call *nc);

static bool is_rejection(const mh_error *err) {
  return strcmp(err->code, "rejected") == 0 || strcmp(err->code, MH_ERR_DISCONNECTED) == 0;
}

static void on_provider_answer(void *ud, mh_value *result, mh_error *err) {
  mh_native_call *nc = ud;
  nc->oc = NULL;
  nc->host_waiter = NULL;
  if (err && is_rejection(err)) {
    mh_log_debug("mesh", "make %s: provider rejected (%s), trying the next", nc->name, err->message);
    mh_error_free(err);
    try_next_provider(nc);
    return;
  }
  finish(nc, result, err);
}

/* The host's own provider (a plugin's ctx.mesh.provide) answers through the
 * dispatcher; its reply is borrowed, the make waiting gets copies. */
static void on_host_answer(void *ud, const mh_value *result, const mh_error *err) {
  on_provider_answer(ud, err ? NULL : mh_value_copy(result), err ? mh_error_copy(err) : NULL);
}

static void try_next_provider(mh_native_call *nc) {
  while (nc->tried < nc->n) {
    const char *id = nc->ids[(nc->next + nc->tried++) % nc->n];
    if (!id[0]) {
      bool finished = false;
      bool *outer = nc->finished_flag;
      nc->finished_flag = &finished;
      mh_value *args = mh_value_copy(nc->args);
      mh_waiter *w = mh_dispatch(nc->h, NULL, nc->name, args, false, on_host_answer, nc);
      if (finished) {
        if (outer) *outer = true;
        return;
      }
      nc->finished_flag = outer;
      if (!nc->host_waiter) nc->host_waiter = w;
      return;
    }
    mh_client *c = mh_client_find(nc->h, id);
    if (!c) continue; /* gone since we looked */
    /* The answer may arrive (and nc be gone) before the call returns. */
    bool finished = false;
    bool *outer = nc->finished_flag;
    nc->finished_flag = &finished;
    mh_outcall *oc = mh_client_call_ex(c, nc->name, nc->args, nc->identity, nc->timeout_ms, on_provider_answer, nc);
    if (finished) {
      if (outer) *outer = true;
      return;
    }
    nc->finished_flag = outer;
    if (nc->oc == NULL) nc->oc = oc;
    return;
  }
  finish(nc, NULL, mh_error_new(MH_ERR_NOT_FOUND, "every provider of \"%s\" rejected the call", nc->name));
}

/* The arguments a provider gets: the caller's, plus {requestor} when enabled. */
static mh_value *provider_args(mh_host *h, mh_client *caller, const mh_value *given) {
  mh_value *args = given ? mh_value_copy(given) : mh_value_new(MH_V_ARRAY);
  if (args && h->cfg->mesh.requestor_details) {
    mh_value *r = mh_value_new(MH_V_OBJECT), *who = mh_value_new(MH_V_OBJECT);
    const mh_peer *p = caller ? caller->peer : NULL;
    mh_value_obj_set(who, "id", mh_value_cstring(p ? p->id : caller ? caller->id : mh_mesh_host_id(h)));
    mh_value_obj_set(who, "role", mh_value_cstring(role_of(caller)));
    mh_value_obj_set(who, "meta", p ? mh_value_copy(p->meta) : mh_value_new(MH_V_OBJECT));
    mh_value_obj_set(r, "requestor", who);
    mh_value_push(args, r);
  }
  return args;
}

/* make({name, args}) -> the result of one provider of `name` */
static mh_native_call *make_start(mh_host *h, mh_client *caller, mh_value *args, mh_native_done done, void *ud) {
  const mh_value *opts = first_arg(args);
  const mh_value *name = field(opts, "name"), *given = field(opts, "args");
  mh_error *err = NULL;
  if (!name || name->type != MH_V_STRING || (given && given->type != MH_V_ARRAY))
    err = mh_error_new(MH_ERR_BAD_REQUEST, "make expects {name: string, args?: array}");
  else if (!mh_mesh_allowed(h, role_of(caller), name->u.str.ptr))
    err = mh_error_new(MH_ERR_UNAUTHORIZED, "role '%s' may not call \"%s\" through the mesh (mesh.permissions)",
                       role_of(caller), name->u.str.ptr);
  mh_client *found[MAX_TARGETS / 16];
  size_t n = err ? 0 : mh_mesh_providers(h, name->u.str.ptr, found, sizeof found / sizeof *found);
  mh_fn *own = err ? NULL : mh_registry_get(&h->registry, name->u.str.ptr);
  bool host_provides = own && own->mesh_provided;
  if (host_provides) n++; /* the host is one more provider, written as "" */
  if (!err && n == 0) err = mh_error_new(MH_ERR_NOT_FOUND, "no peer provides \"%s\"", name->u.str.ptr);
  mh_native_call *nc = err ? NULL : calloc(1, sizeof *nc);
  if (nc) {
    nc->h = h;
    nc->done = done;
    nc->ud = ud;
    nc->name = strdup(name->u.str.ptr);
    nc->args = provider_args(h, caller, given);
    nc->identity = mh_mesh_identity(h, caller);
    nc->ids = calloc(n, sizeof *nc->ids);
    nc->n = n;
    nc->next = mh_mesh_pick(h, n);
    nc->timeout_ms = timeout_of(h, opts);
    for (size_t i = 0; nc->ids && i < n - host_provides; i++) snprintf(nc->ids[i], sizeof nc->ids[i], "%s", found[i]->id);
  }
  mh_value_free(args);
  if (err) return fail_now(done, ud, err);
  if (!nc || !nc->name || !nc->args || !nc->ids) {
    if (nc) finish(nc, NULL, mh_error_new(MH_ERR_INTERNAL, "out of memory"));
    return nc ? NULL : fail_now(done, ud, mh_error_new(MH_ERR_INTERNAL, "out of memory"));
  }
  /* try_next_provider may finish (and free) nc before it returns. */
  bool finished = false;
  nc->finished_flag = &finished;
  try_next_provider(nc);
  if (finished) return NULL;
  nc->finished_flag = NULL;
  return nc;
}

static void make_cancel(mh_native_call *nc) { relay_cancel(nc); }

static const mh_native make_native = {make_start, make_cancel};

int mh_mesh_add_relay_builtins(mh_host *h) {
  mh_registry *r = &h->registry;
  if (mh_registry_add_native(r, "devtoolskit:internal:mesh:relay", MH_FN_ACTION, &relay_native) ||
      mh_registry_add_builtin(r, "devtoolskit:internal:mesh:relay-event", MH_FN_EVENT, fn_relay_event) ||
      mh_registry_add_native(r, "devtoolskit:internal:mesh:make", MH_FN_ACTION, &make_native))
    return -1;
  return 0;
}
