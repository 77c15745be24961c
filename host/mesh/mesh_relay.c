/* The mesh functions that reach other peers: relay (awaited), relay-event
 * (fire and forget) and make (a provider chosen by the host, with fallback
 * to the next one when a provider rejects). A peer behind a host link is
 * reached by relaying through that link, one hop at a time. */
#include "mesh/mesh_relay.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "session/client.h"
#include "call/dispatch.h"
#include "call/host.h"
#include "core/finish_watch.h"
#include "core/log.h"
#include "mesh/mesh.h"
#include "mesh/mesh_link.h"
#include "mesh/mesh_parse.h"
#include "session/rpc.h"

#define RELAY "devtoolskit:internal:mesh:relay"
#define RELAY_EVENT "devtoolskit:internal:mesh:relay-event"
#define MAX_TARGETS 256

/* A target remembered by name, so it can be found again (or found gone).
 * The remote id is copied whole: it is another host's text, and a copy cut
 * to a fixed size made two long ids one. */
typedef struct saved_target {
  char client[sizeof ((mh_client *)0)->id]; /* "" for the host's own provider */
  char *remote;                            /* NULL for a local peer */
} saved_target;

typedef struct pending_call {
  struct mh_native_call *nc;
  size_t index;
  mh_outcall *oc;
} pending_call;

struct mh_native_call {
  mh_host *h;
  mh_native_done done;
  void *ud;
  char *method;
  mh_value *args;
  mh_value *identity;
  int64_t hops;
  uint64_t timeout_ms;
  bool *finished_flag; /* a starter's mh_finish_watch while it runs */
  /* relay: one call per target (several with all) */
  pending_call *calls;
  size_t ncalls, outstanding;
  mh_value *results; /* all: [{client, ok, value|error}] */
  bool all;
  /* make: the providers left to try */
  saved_target *providers;
  size_t nproviders, tried, next;
  mh_waiter *host_waiter; /* the host's own provider (ctx.mesh.provide) running */
};

static const mh_value *field(const mh_value *o, const char *k) { return mh_mesh_member(o, k); }

static uint64_t timeout_or_default(mh_host *h, uint64_t timeout_ms) {
  return timeout_ms ? timeout_ms : h->cfg->limits.call_timeout_ms;
}

/* Who is calling. A host link forwards the identity the first host signed
 * and the hops so far: both must pass, or the call is refused. Anyone else
 * is who they are, and starts at 0 hops: a client's own "hops" counted too,
 * and 2^63-1 overflowed the hops + 1 sent to the next host. A client never
 * presents an identity: the host attaches the one it issues for that very
 * connection. One that brings an identity (one it captured from a call it
 * received, say) is refused, not silently re-signed, so a replay is seen. */
static mh_error *identity_of(mh_host *h, const mh_caller *from, const mh_value *given, int64_t given_hops,
                             mh_value **identity, int64_t *hops) {
  mh_client *caller = from->client;
  mh_error *err = NULL;
  *hops = 0;
  if (caller && caller->hostlink) {
    if (mh_mesh_accept_relayed(h, caller, given, given_hops, &err)) return err;
    *hops = given_hops;
    *identity = mh_value_copy(given);
  } else if (given) {
    mh_log_warn("mesh", "%s presented an identity in a relay: refused (only host links forward identities)",
                caller ? caller->id : from->http ? "an HTTP caller" : "a host-side caller");
    return mh_error_new(MH_ERR_UNAUTHORIZED,
                        "a client cannot present an identity: the host attaches its own (replay refused)");
  } else {
    *identity = mh_mesh_identity(h, from);
  }
  return *identity ? NULL : mh_error_new(MH_ERR_INTERNAL, "out of memory");
}

/* The granted roles an identity carries (from.roles), or NULL for none. */
static const mh_value *roles_in(const mh_value *identity) {
  const mh_value *r = field(field(identity, "from"), "roles");
  return r && r->type == MH_V_ARRAY ? r : NULL;
}

/* Who is calling (identity_of), and whether mesh.permissions let the roles
 * granted to that caller reach method. Relay, relay-event and make all ask
 * here, so each host on the way judges the first caller, never the link it
 * came over. The caller frees *identity (NULL to start with) whether or not
 * this refuses. */
static mh_error *admit(mh_host *h, const mh_caller *from, const mh_value *given, int64_t given_hops,
                       const char *method, mh_value **identity, int64_t *hops) {
  mh_error *err = identity_of(h, from, given, given_hops, identity, hops);
  if (err || mh_mesh_allowed(h, roles_in(*identity), method)) return err;
  mh_buf names = MH_BUF_INIT;
  const mh_value *roles = roles_in(*identity);
  for (size_t i = 0; roles && i < roles->u.arr.len; i++)
    if (roles->u.arr.items[i]->type == MH_V_STRING)
      mh_buf_appendf(&names, "%s%s", names.len ? "," : "", roles->u.arr.items[i]->u.str.ptr);
  err = mh_error_new(MH_ERR_UNAUTHORIZED, "role '%s' may not call \"%s\" through the mesh (mesh.permissions)",
                     names.len ? names.data : "anonymous", method);
  mh_buf_free(&names);
  return err;
}

/* What goes to each target of a relay, a relay-event or a make. */
typedef struct outgoing {
  const char *method;
  const mh_value *args;     /* an ARRAY */
  const mh_value *identity; /* the first caller's, as the first host signed it */
  int64_t hops;             /* hops so far */
  uint64_t timeout_ms;      /* calls only */
} outgoing;

/* Sends a call (cb set) or an event (cb NULL) to one target. A local peer
 * gets it with the identity as "x"; a peer behind a host link is reached by
 * a relay (or relay-event) to the id that host knows it by, carrying the
 * same identity and one hop more. Calls and events take this one path: an
 * event once went on re-signed as the link, and the next host judged (and
 * its peer saw) the link instead of the caller. */
static mh_outcall *send_to(const outgoing *m, const mh_target *t, mh_outcall_cb cb, void *ud) {
  if (!t->remote) {
    if (cb) return mh_client_call_ex(t->client, m->method, m->args, m->identity, m->timeout_ms, cb, ud);
    mh_client_event_ex(t->client, m->method, m->args, false, m->identity);
    return NULL;
  }
  mh_value *args = mh_value_new(MH_V_ARRAY), *o = mh_value_new(MH_V_OBJECT);
  mh_value_obj_set(o, "to", mh_value_cstring(t->remote));
  mh_value_obj_set(o, "method", mh_value_cstring(m->method));
  mh_value_obj_set(o, "args", mh_value_copy(m->args));
  mh_value_obj_set(o, "identity", mh_value_copy(m->identity));
  mh_value_obj_set(o, "hops", mh_value_int(m->hops + 1));
  if (cb) mh_value_obj_set(o, "timeout", mh_value_int((int64_t)m->timeout_ms));
  mh_value_push(args, o);
  mh_outcall *oc = NULL;
  if (cb)
    oc = mh_client_call(t->client, RELAY, args, m->timeout_ms + 100, cb, ud);
  else
    mh_client_event(t->client, RELAY_EVENT, args, false);
  mh_value_free(args);
  return oc;
}

static mh_outcall *call_target(mh_native_call *nc, const mh_target *t, mh_outcall_cb cb, void *ud) {
  outgoing m = {nc->method, nc->args, nc->identity, nc->hops, nc->timeout_ms};
  return send_to(&m, t, cb, ud);
}

static void finish(mh_native_call *nc, mh_value *result, mh_error *err) {
  mh_finish_mark(nc->finished_flag);
  mh_native_done done = nc->done;
  void *ud = nc->ud;
  free(nc->method);
  free(nc->calls);
  for (size_t i = 0; nc->providers && i < nc->nproviders; i++) free(nc->providers[i].remote);
  free(nc->providers);
  mh_value_free(nc->args);
  mh_value_free(nc->identity);
  mh_value_free(nc->results);
  free(nc);
  done(ud, result, err);
}

static mh_native_call *new_call(mh_host *h, mh_native_done done, void *ud, const char *method, const mh_value *args) {
  mh_native_call *nc = calloc(1, sizeof *nc);
  if (!nc) return NULL;
  nc->h = h;
  nc->done = done;
  nc->ud = ud;
  nc->method = strdup(method);
  nc->args = args ? mh_value_copy(args) : mh_value_new(MH_V_ARRAY);
  if (!nc->method || !nc->args) {
    free(nc->method);
    mh_value_free(nc->args);
    free(nc);
    return NULL;
  }
  return nc;
}

/* ---- relay ------------------------------------------------------------ */

static void on_relay_answer(void *ud, mh_value *result, mh_error *err) {
  pending_call *pc = ud;
  mh_native_call *nc = pc->nc;
  pc->oc = NULL;
  if (!nc->all) {
    finish(nc, result, err);
    return;
  }
  mh_rpc_fill_outcome(nc->results->u.arr.items[pc->index], result, err);
  if (--nc->outstanding == 0) {
    mh_value *results = nc->results;
    nc->results = NULL;
    finish(nc, results, NULL);
  }
}

/* relay({to, method, args, all?, timeout?}) -> the target's result, or for
 * several targets [{client, ok, value|error}] */
static mh_native_call *relay_start(mh_host *h, const mh_caller *from, mh_value *args, mh_native_done done, void *ud) {
  mh_client *caller = from->client;
  mh_relay_args r;
  mh_target targets[MAX_TARGETS];
  mh_native_call *nc = NULL;
  mh_error *err = NULL;
  mh_value *identity = NULL;
  int64_t hops = 0;
  size_t n = 0;
  bool all = false;
  if (mh_mesh_parse_relay(args, "relay", &r, &err) == 0 &&
      !(err = admit(h, from, r.identity, r.hops, r.method, &identity, &hops))) {
    all = r.all;
    if ((n = mh_mesh_resolve(h, r.to, targets, MAX_TARGETS, &all)) == 0)
      err = mh_error_new(MH_ERR_NOT_FOUND, "no peer matches %s",
                         r.to->type == MH_V_STRING ? r.to->u.str.ptr : "the target");
    else if (!(nc = new_call(h, done, ud, r.method, r.args)))
      err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
  }
  if (err) {
    mh_value_free(identity);
    mh_value_free(args);
    done(ud, NULL, err);
    return NULL;
  }
  nc->identity = identity;
  nc->hops = hops;
  nc->timeout_ms = timeout_or_default(h, r.timeout_ms);
  nc->all = all;
  size_t first = all ? 0 : mh_mesh_pick(h, n);
  nc->ncalls = all ? n : 1;
  nc->calls = calloc(nc->ncalls, sizeof *nc->calls);
  if (all) nc->results = mh_value_new(MH_V_ARRAY);
  for (size_t i = 0; all && i < n; i++) {
    mh_value *entry = mh_value_new(MH_V_OBJECT);
    mh_value_obj_set(entry, "client", mh_value_cstring(targets[i].remote ? targets[i].remote : targets[i].client->id));
    mh_value_push(nc->results, entry);
  }
  mh_value_free(args);
  mh_finish_watch fw;
  mh_finish_watch_begin(&fw, &nc->finished_flag);
  nc->outstanding = nc->ncalls;
  for (size_t i = 0; i < nc->ncalls && !fw.finished; i++) {
    pending_call *pc = &nc->calls[i];
    pc->nc = nc;
    pc->index = i;
    mh_log_debug("mesh", "relay %s -> %s%s%s", caller ? caller->id : from->http ? "http" : "host", targets[first + i].client->id,
                 targets[first + i].remote ? " for " : "", targets[first + i].remote ? targets[first + i].remote : "");
    mh_outcall *oc = call_target(nc, &targets[first + i], on_relay_answer, pc);
    if (!fw.finished) pc->oc = oc;
  }
  if (mh_finish_watch_end(&fw)) return NULL; /* answered (and freed) already */
  return nc;
}

static void relay_cancel(mh_native_call *nc) {
  /* The target is told to stop too: the cancel travels along the relay. */
  for (size_t i = 0; i < nc->ncalls; i++)
    if (nc->calls[i].oc) mh_outcall_abort(nc->calls[i].oc);
  if (nc->host_waiter) mh_dispatch_cancel(nc->host_waiter);
  finish(nc, NULL, mh_error_new(MH_ERR_CANCELLED, "relayed call cancelled"));
}

static const mh_native relay_native = {relay_start, relay_cancel};

/* relay-event({to, method, args}): fire and forget, to one target (or all). */
static mh_value *fn_relay_event(mh_host *h, const mh_caller *from, const mh_value *args, mh_error **err) {
  mh_relay_args r;
  mh_value empty = {.type = MH_V_ARRAY}, *identity = NULL;
  int64_t hops;
  if (mh_mesh_parse_relay(args, "relay-event", &r, err)) return NULL;
  if ((*err = admit(h, from, r.identity, r.hops, r.method, &identity, &hops))) {
    mh_value_free(identity);
    return NULL;
  }
  mh_target targets[MAX_TARGETS];
  bool all = false;
  size_t n = mh_mesh_resolve(h, r.to, targets, MAX_TARGETS, &all);
  size_t first = all ? 0 : mh_mesh_pick(h, n), last = all ? n : (n ? first + 1 : 0);
  outgoing m = {r.method, r.args ? r.args : &empty, identity, hops, 0};
  for (size_t i = first; i < last; i++) send_to(&m, &targets[i], NULL, NULL);
  mh_value_free(identity);
  return mh_value_int((int64_t)(last - first));
}

/* ---- make ------------------------------------------------------------- */

static void try_next_provider(mh_native_call *nc);

static bool is_rejection(const mh_error *err) {
  return strcmp(err->code, "rejected") == 0 || strcmp(err->code, MH_ERR_DISCONNECTED) == 0;
}

static void on_provider_answer(void *ud, mh_value *result, mh_error *err) {
  mh_native_call *nc = ud;
  nc->calls[0].oc = NULL;
  nc->host_waiter = NULL;
  if (err && is_rejection(err)) {
    mh_log_debug("mesh", "make %s: provider rejected (%s), trying the next", nc->method, err->message);
    mh_error_free(err);
    try_next_provider(nc);
    return;
  }
  finish(nc, result, err);
}

/* The host's own provider answers through the dispatcher; its reply is
 * borrowed, the make waiting gets copies. */
static void on_host_answer(void *ud, const mh_value *result, const mh_error *err) {
  on_provider_answer(ud, err ? NULL : mh_value_copy(result), err ? mh_error_copy(err) : NULL);
}

/* Starts one provider; true when nc finished (and is gone) meanwhile. */
static bool start_provider(mh_native_call *nc, const saved_target *p) {
  mh_finish_watch fw;
  mh_finish_watch_begin(&fw, &nc->finished_flag);
  if (!p->client[0]) {
    mh_waiter *w = mh_dispatch(nc->h, NULL, nc->method, mh_value_copy(nc->args), false, on_host_answer, nc);
    if (!fw.finished && !nc->host_waiter) nc->host_waiter = w;
  } else {
    mh_client *c = mh_client_find(nc->h, p->client);
    mh_target t = {c, p->remote};
    mh_outcall *oc = call_target(nc, &t, (mh_outcall_cb)on_provider_answer, nc);
    if (!fw.finished && !nc->calls[0].oc) nc->calls[0].oc = oc;
  }
  return mh_finish_watch_end(&fw);
}

static void try_next_provider(mh_native_call *nc) {
  while (nc->tried < nc->nproviders) {
    const saved_target *p = &nc->providers[(nc->next + nc->tried++) % nc->nproviders];
    if (p->client[0] && !mh_client_find(nc->h, p->client)) continue; /* gone since we looked */
    start_provider(nc, p);
    return; /* the answer (maybe already delivered) continues from on_provider_answer */
  }
  finish(nc, NULL, mh_error_new(MH_ERR_NOT_FOUND, "every provider of \"%s\" rejected the call", nc->method));
}

/* The arguments a provider gets: the caller's, plus {requestor} when enabled. */
static void add_requestor(mh_host *h, mh_native_call *nc) {
  if (!h->cfg->mesh.requestor_details) return;
  const mh_value *from = field(nc->identity, "from");
  mh_value *r = mh_value_new(MH_V_OBJECT), *who = mh_value_new(MH_V_OBJECT);
  static const char *const keys[] = {"id", "role", "meta", "roles"};
  for (size_t i = 0; who && i < sizeof keys / sizeof *keys; i++)
    if (field(from, keys[i])) mh_value_obj_set(who, keys[i], mh_value_copy(field(from, keys[i])));
  mh_value_obj_set(r, "requestor", who);
  mh_value_push(nc->args, r);
}

/* make({name, args}) -> the result of one provider of `name` */
static mh_native_call *make_start(mh_host *h, const mh_caller *from, mh_value *args, mh_native_done done, void *ud) {
  mh_make_args m;
  mh_error *err = NULL;
  mh_value *identity = NULL;
  mh_native_call *nc = NULL;
  int64_t hops = 0;
  mh_target found[MAX_TARGETS];
  size_t n = 0;
  if (mh_mesh_parse_make(args, &m, &err) == 0) err = admit(h, from, m.identity, m.hops, m.name, &identity, &hops);
  mh_fn *own = err ? NULL : mh_registry_get(&h->registry, m.name);
  bool host_provides = own && own->mesh_provided;
  if (!err) n = mh_mesh_providers(h, m.name, found, MAX_TARGETS - 1);
  if (!err && n + host_provides == 0) err = mh_error_new(MH_ERR_NOT_FOUND, "no peer provides \"%s\"", m.name);
  if (!err && !(nc = new_call(h, done, ud, m.name, m.args))) err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
  uint64_t timeout = err ? 0 : timeout_or_default(h, m.timeout_ms);
  mh_value_free(args); /* m points into it */
  if (err) {
    mh_value_free(identity);
    done(ud, NULL, err);
    return NULL;
  }
  nc->identity = identity;
  nc->hops = hops;
  nc->timeout_ms = timeout;
  nc->ncalls = 1;
  nc->calls = calloc(1, sizeof *nc->calls);
  nc->providers = calloc(n + 1, sizeof *nc->providers);
  nc->nproviders = n + host_provides; /* the host's own is written as client "" */
  bool oom = !nc->calls || !nc->providers;
  for (size_t i = 0; !oom && i < n; i++) {
    memcpy(nc->providers[i].client, found[i].client->id, sizeof nc->providers[i].client);
    if (found[i].remote && !(nc->providers[i].remote = strdup(found[i].remote))) oom = true;
  }
  if (oom) {
    finish(nc, NULL, mh_error_new(MH_ERR_INTERNAL, "out of memory"));
    return NULL;
  }
  add_requestor(h, nc);
  nc->next = mh_mesh_pick(h, nc->nproviders);
  mh_finish_watch fw;
  mh_finish_watch_begin(&fw, &nc->finished_flag);
  try_next_provider(nc);
  if (mh_finish_watch_end(&fw)) return NULL;
  return nc;
}

static const mh_native make_native = {make_start, relay_cancel};

static const mh_host_fn_def relay_fns[] = {
    {RELAY, MH_FN_ACTION, NULL, &relay_native},
    {RELAY_EVENT, MH_FN_EVENT, fn_relay_event, NULL},
    {"devtoolskit:internal:mesh:make", MH_FN_ACTION, NULL, &make_native},
};

int mh_relay_add_builtins(mh_host *h) {
  return mh_registry_add_host_fns(&h->registry, relay_fns, MH_HOST_FNS_COUNT(relay_fns));
}
