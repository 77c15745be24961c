#include "mesh/mesh.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "session/client.h"
#include "call/host.h"
#include "core/log.h"
#include "mesh/mesh_identity.h"
#include "mesh/mesh_link.h"
#include "mesh/mesh_parse.h"
#include "mesh/mesh_target.h"

typedef struct mesh_listener {
  mh_mesh_listener cb;
  void *ud;
} mesh_listener;

struct mh_mesh {
  char *host_id; /* whole, however long it was configured; NULL until known */
  mh_mesh_key key;
  bool key_configured; /* mesh.key set: only then may host links prove it */
  uint64_t rr; /* round-robin position, shared by every selector */
  int port;    /* the listening port, once serving (mh_mesh_set_port) */
  mesh_listener listeners[64];
  size_t nlisteners;
  const mh_mesh_remote *remotes[MH_MESH_MAX_REMOTES]; /* host links, NATS */
  size_t nremotes;
};

int mh_mesh_add_remote(mh_host *h, const mh_mesh_remote *remote) {
  mh_mesh *m = h->mesh;
  if (m->nremotes == MH_MESH_MAX_REMOTES) return -1;
  m->remotes[m->nremotes++] = remote;
  return 0;
}

void mh_mesh_set_port(mh_host *h, int port) { h->mesh->port = port; }

int mh_mesh_listen(mh_host *h, mh_mesh_listener cb, void *ud) {
  mh_mesh *m = h->mesh;
  if (m->nlisteners == sizeof m->listeners / sizeof *m->listeners) return -1;
  m->listeners[m->nlisteners].cb = cb;
  m->listeners[m->nlisteners].ud = ud;
  m->nlisteners++;
  return 0;
}

void mh_mesh_unlisten(mh_host *h, mh_mesh_listener cb, void *ud) {
  mh_mesh *m = h->mesh;
  for (size_t i = 0; i < m->nlisteners; i++)
    if (m->listeners[i].cb == cb && m->listeners[i].ud == ud) {
      m->listeners[i] = m->listeners[--m->nlisteners];
      return;
    }
}

/* ---- configuration ---------------------------------------------------- */

/* -1 and *errmsg (NULL when memory runs out) for the first bad rule. */
static int check_rules(const mh_value *rules, char **errmsg) {
  if (!rules || rules->type != MH_V_ARRAY) return 0;
  for (size_t i = 0; i < rules->u.arr.len; i++) {
    const mh_value *r = rules->u.arr.items[i];
    const char *bad = NULL;
    if (r->type != MH_V_OBJECT)
      bad = "must be a table {roles=, allow=, deny=}";
    else if (!mh_mesh_strings_only(mh_value_obj_get(r, "roles")) || !mh_mesh_strings_only(mh_value_obj_get(r, "allow")) ||
             !mh_mesh_strings_only(mh_value_obj_get(r, "deny")))
      bad = "roles, allow and deny must be lists of strings";
    if (bad) {
      char msg[256];
      snprintf(msg, sizeof msg, "mesh.permissions[%zu]: %s", i + 1, bad);
      *errmsg = strdup(msg);
      return -1;
    }
  }
  return 0;
}

static void client_gone(mh_host *h, mh_client *c);

static void on_host_event(mh_host *h, const mh_event *ev, void *ud) {
  (void)ud;
  if (ev->kind == MH_EV_CLIENT_GONE) client_gone(h, ev->client);
}

int mh_mesh_init(mh_host *h, char **errmsg) {
  if (check_rules(h->cfg->mesh.permissions, errmsg)) return MH_START_BAD_CONFIG;
  mh_mesh *m = calloc(1, sizeof *m);
  if (!m) return -1;
  /* Without a configured id, mh_mesh_host_id makes one once the port is known. */
  if (h->cfg->mesh.host_id && *h->cfg->mesh.host_id && !(m->host_id = strdup(h->cfg->mesh.host_id))) {
    free(m);
    return -1;
  }
  const char *key = h->cfg->mesh.key;
  if (key && *key) {
    m->key.len = strlen(key) < sizeof m->key.bytes ? strlen(key) : sizeof m->key.bytes;
    memcpy(m->key.bytes, key, m->key.len);
    m->key_configured = true;
  } else if (RAND_bytes(m->key.bytes, 32) == 1) {
    m->key.len = 32;
  } else {
    free(m->host_id);
    free(m);
    *errmsg = strdup("no randomness for the mesh key");
    return -1;
  }
  h->mesh = m;
  return mh_events_listen(h, on_host_event, NULL);
}

void mh_mesh_free(mh_host *h) {
  if (h->mesh) free(h->mesh->host_id);
  free(h->mesh);
  h->mesh = NULL;
}

size_t mh_mesh_next_rr(mh_host *h, size_t n) { return mh_mesh_round_robin(&h->mesh->rr, n); }

const char *mh_mesh_host_id(const mh_host *h) {
  mh_mesh *m = h->mesh;
  if (!m->host_id) {
    char name[64] = "localhost";
    gethostname(name, sizeof name - 1);
    int port = m->port ? m->port : h->cfg->listen_port;
    char id[sizeof name + 32]; /* room for the whole name and any port */
    snprintf(id, sizeof id, "moonhost:%s:%d", name, port);
    if (!(m->host_id = strdup(id))) return "moonhost"; /* out of memory: made again next time */
  }
  return m->host_id;
}

/* ---- the directory ---------------------------------------------------- */

mh_value *mh_mesh_peer_value(mh_host *h, const mh_peer *p) {
  mh_value *o = mh_value_new(MH_V_OBJECT);
  if (!o) return NULL;
  mh_value_obj_set(o, "id", mh_value_cstring(p->id));
  mh_value_obj_set(o, "role", mh_value_cstring(p->role));
  mh_value_obj_set(o, "capabilities", mh_value_copy(p->capabilities));
  mh_value_obj_set(o, "meta", mh_value_copy(p->meta));
  mh_value_obj_set(o, "provides", mh_value_copy(p->provides));
  mh_value_obj_set(o, "host", mh_value_cstring(mh_mesh_host_id(h)));
  return o;
}

mh_value *mh_mesh_public_entry(const mh_value *e) {
  mh_value *o = mh_value_new(MH_V_OBJECT);
  static const char *const keys[] = {"id", "role", "capabilities", "meta", "provides", "host"};
  for (size_t i = 0; o && i < sizeof keys / sizeof *keys; i++) {
    const mh_value *v = mh_value_obj_get(e, keys[i]);
    if (v) mh_value_obj_set(o, keys[i], mh_value_copy(v));
  }
  return o;
}

mh_value *mh_mesh_directory(mh_host *h) {
  mh_value *arr = mh_value_new(MH_V_ARRAY);
  mh_client_each(c, h) {
    if (arr && mh_client_is_mesh_peer(c)) mh_value_push(arr, mh_mesh_peer_value(h, c->peer));
  }
  /* Peers behind host links, as this host names them. */
  mh_client_each(c, h) {
    for (size_t i = 0; arr && c->hostlink && c->hostlink->peers && i < c->hostlink->peers->u.arr.len; i++)
      mh_value_push(arr, mh_mesh_public_entry(c->hostlink->peers->u.arr.items[i]));
  }
  return arr;
}

/* Tells every announced peer (but `skip`) and the host's listeners that
 * `peer` (taken) was added, updated or removed. */
void mh_mesh_announce(mh_host *h, mh_client *skip, const char *kind, mh_value *peer) {
  mh_value *args = mh_value_new(MH_V_ARRAY), *d = mh_value_new(MH_V_OBJECT);
  if (!args || !d || mh_value_push(args, d)) {
    mh_value_free(args);
    mh_value_free(peer);
    return;
  }
  mh_value_obj_set(d, "kind", mh_value_cstring(kind));
  mh_value_obj_set(d, "peer", peer);
  mh_client_each(c, h) {
    if (c != skip && mh_client_is_mesh_peer(c))
      mh_client_event(c, "devtoolskit:internal:peer:directory-delta", args, true);
  }
  /* Listeners may unlisten while we go: walk a copy. */
  mh_mesh *m = h->mesh;
  size_t n = m->nlisteners;
  mesh_listener copy[sizeof m->listeners / sizeof *m->listeners];
  memcpy(copy, m->listeners, n * sizeof *copy);
  for (size_t i = 0; i < n; i++) copy[i].cb(copy[i].ud, d);
  mh_value_free(args);
}

void mh_mesh_send_delta(mh_host *h, mh_client *subject, const char *kind) {
  mh_mesh_announce(h, subject, kind, mh_mesh_peer_value(h, subject->peer));
  for (size_t i = 0; i < h->mesh->nremotes; i++) h->mesh->remotes[i]->local_changed(h); /* other hosts learn it too */
}

static void peer_free(mh_peer *p) {
  free(p->role);
  mh_value_free(p->capabilities);
  mh_value_free(p->meta);
  mh_value_free(p->provides);
  free(p);
}

static void client_gone(mh_host *h, mh_client *c) {
  if (!c->peer) return;
  if (c->trusted) mh_mesh_send_delta(h, c, "removed");
  peer_free(c->peer);
  c->peer = NULL;
}

/* ---- builtins: announce, provide, unprovide -------------------------- */

static mh_peer *ensure_peer(mh_client *c, bool *added) {
  *added = !c->peer;
  if (c->peer) return c->peer;
  mh_peer *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  snprintf(p->id, sizeof p->id, "%s", c->id);
  p->role = strdup("peer");
  p->capabilities = mh_value_new(MH_V_ARRAY);
  p->meta = mh_value_new(MH_V_OBJECT);
  p->provides = mh_value_new(MH_V_ARRAY);
  if (!p->role || !p->capabilities || !p->meta || !p->provides) {
    peer_free(p);
    return NULL;
  }
  c->peer = p;
  return p;
}

static mh_error *need_caller(mh_client *caller, const char *what) {
  if (caller) return NULL;
  return mh_error_new(MH_ERR_BAD_REQUEST, "%s needs a WebSocket connection (it makes the caller a peer)", what);
}

/* announce({role, capabilities, meta}) -> {id, directory} */
static mh_value *fn_announce(mh_host *h, const mh_caller *from, const mh_value *args, mh_error **err) {
  mh_client *caller = from->client;
  if ((*err = need_caller(caller, "announce"))) return NULL;
  mh_announce_args a;
  if (mh_mesh_parse_announce(args, &a, err)) return NULL;
  /* before anything changes: a meta JSON cannot carry is refused */
  mh_value *meta = a.meta ? mh_mesh_announced_meta(a.meta, err) : NULL;
  if (a.meta && !meta) return NULL;
  bool added;
  mh_peer *p = ensure_peer(caller, &added);
  if (!p) goto oom;
  if (a.role) {
    char *r = strdup(a.role);
    if (!r) goto oom;
    free(p->role);
    p->role = r;
  }
  if (a.capabilities) {
    mh_value_free(p->capabilities);
    p->capabilities = mh_value_copy(a.capabilities);
  }
  if (meta) {
    mh_value_free(p->meta);
    p->meta = meta;
    meta = NULL;
  }
  if (!p->capabilities || !p->meta) goto oom;
  mh_log_info("mesh", "%s %s as %s", p->id, added ? "joined" : "updated", p->role);
  mh_mesh_send_delta(h, caller, added ? "added" : "updated");
  mh_value *out = mh_value_new(MH_V_OBJECT);
  if (!out) goto oom;
  mh_value_obj_set(out, "id", mh_value_cstring(p->id));
  mh_value_obj_set(out, "host", mh_value_cstring(mh_mesh_host_id(h)));
  mh_value_obj_set(out, "directory", mh_mesh_directory(h));
  return out;
oom:
  mh_value_free(meta);
  *err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
  return NULL;
}

static ptrdiff_t provided_at(const mh_peer *p, const char *name) {
  for (size_t i = 0; i < p->provides->u.arr.len; i++)
    if (strcmp(p->provides->u.arr.items[i]->u.str.ptr, name) == 0) return (ptrdiff_t)i;
  return -1;
}

/* The name provide and unprovide take, or a bad_request that says so:
 * unprovide(42) answered not_found ("\"?\" is not provided"), as if a name
 * had been given that nobody provides. */
static const char *name_arg(const mh_value *args, const char *fn, mh_error **err) {
  const char *name = mh_mesh_parse_name(args);
  if (!name) *err = mh_error_new(MH_ERR_BAD_REQUEST, "%s expects {name: string} (a non-empty name)", fn);
  return name;
}

/* provide({name}): this peer serves `name` to make() callers. */
static mh_value *fn_provide(mh_host *h, const mh_caller *from, const mh_value *args, mh_error **err) {
  mh_client *caller = from->client;
  if ((*err = need_caller(caller, "provide"))) return NULL;
  const char *name = name_arg(args, "provide", err);
  if (!name) return NULL; /* before the caller becomes a peer: a refused provide changes nothing */
  bool added;
  mh_peer *p = ensure_peer(caller, &added);
  if (!p) {
    *err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
    return NULL;
  }
  if (provided_at(p, name) >= 0) {
    *err = mh_error_new(MH_ERR_ALREADY_REGISTERED, "%s provides \"%s\" already", p->id, name);
    return NULL;
  }
  mh_value_push(p->provides, mh_value_cstring(name));
  mh_mesh_send_delta(h, caller, added ? "added" : "updated");
  return mh_value_bool(true);
}

static mh_value *fn_unprovide(mh_host *h, const mh_caller *from, const mh_value *args, mh_error **err) {
  mh_client *caller = from->client;
  if ((*err = need_caller(caller, "unprovide"))) return NULL;
  const char *name = name_arg(args, "unprovide", err);
  if (!name) return NULL;
  ptrdiff_t at = caller->peer ? provided_at(caller->peer, name) : -1;
  if (at < 0) {
    *err = mh_error_new(MH_ERR_NOT_FOUND, "\"%s\" is not provided by this peer", name);
    return NULL;
  }
  mh_value *arr = caller->peer->provides;
  mh_value_free(arr->u.arr.items[at]);
  memmove(arr->u.arr.items + at, arr->u.arr.items + at + 1, (arr->u.arr.len - (size_t)at - 1) * sizeof(mh_value *));
  arr->u.arr.len--;
  mh_mesh_send_delta(h, caller, "updated");
  return mh_value_bool(true);
}

/* ---- identity ---------------------------------------------------------- */

mh_value *mh_mesh_identity(mh_host *h, const mh_caller *who) {
  mh_value *from = mh_value_new(MH_V_OBJECT);
  if (!from) return NULL;
  const mh_client *caller = who ? who->client : NULL;
  const mh_peer *p = caller ? caller->peer : NULL;
  /* An HTTP request is not the host: a token holder over HTTP must not pass
   * for it (peers may trust what the host itself asks). */
  bool http = !caller && who && who->http;
  mh_value_obj_set(from, "id", mh_value_cstring(p ? p->id : caller ? caller->id : http ? "http" : mh_mesh_host_id(h)));
  mh_value_obj_set(from, "role", mh_value_cstring(p ? p->role : caller ? "anonymous" : http ? "http" : "host"));
  mh_value_obj_set(from, "meta", p ? mh_value_copy(p->meta) : mh_value_new(MH_V_OBJECT));
  mh_value_obj_set(from, "host", mh_value_cstring(mh_mesh_host_id(h)));
  /* The roles mesh.permissions judge: granted by configuration (the token's
   * auth.tokens entry), never announced. Left out when there are none, so an
   * identity without grants reads as it always did. A request over HTTP
   * holds those of its token; the host's own calls (a plugin's ctx.mesh)
   * hold none. */
  const mh_value *roles = caller ? caller->roles : who && who->token_roles ? who->token_roles(who->ctx) : NULL;
  if (roles) mh_value_obj_set(from, "roles", mh_value_copy(roles));
  return mh_identity_sign(&h->mesh->key, from);
}

const struct mh_mesh_key *mh_mesh_link_key(const mh_host *h) {
  return h->mesh->key_configured ? &h->mesh->key : NULL;
}

bool mh_mesh_verify(const mh_host *h, const mh_value *identity) { return mh_identity_verify(&h->mesh->key, identity); }

/* Which host signed a verified identity must fit the link it came over: we
 * never take back one of our own (we issued it to one of our connections;
 * coming back over a link it is a replay, as no route leads back here), and
 * at the first hop the host at the other end of the link is the one that
 * signed it. Further on, the signer is behind the link, which a host that
 * holds mesh.key could claim anyway: it can sign any identity. */
static int check_issuer(mh_host *h, const char *link_host, const mh_value *identity, int64_t hops, mh_error **err) {
  const mh_value *from = mh_value_obj_get(identity, "from"), *signer = mh_value_obj_get(from, "host");
  const char *issuer = signer && signer->type == MH_V_STRING ? signer->u.str.ptr : "";
  const char *why = NULL;
  if (strcmp(issuer, mh_mesh_host_id(h)) == 0)
    why = "it is one this host issued";
  else if (hops == 1 && strcmp(issuer, link_host) != 0)
    why = "at the first hop it must be the linked host's own";
  if (!why) return 0;
  mh_log_warn("mesh", "relay over the link to %s refused: identity signed by host '%s', %s", link_host, issuer, why);
  *err = mh_error_new(MH_ERR_UNAUTHORIZED, "relayed identity signed by host '%s' refused over the link to %s: %s",
                      issuer, link_host, why);
  return -1;
}

int mh_mesh_accept_relayed(mh_host *h, const mh_client *link, const mh_value *identity, int64_t hops, mh_error **err) {
  /* A link whose handshake has not proven mesh.key has no host id yet. */
  if (!link->hostlink->host_id) {
    mh_log_warn("mesh", "%s relayed before its link handshake finished: refused", link->id);
    *err = mh_error_new(MH_ERR_UNAUTHORIZED, "relay over a link whose handshake has not finished");
    return -1;
  }
  const char *from = link->hostlink->host_id;
  if (mh_identity_accept_relayed(&h->mesh->key, identity, hops, (int64_t)h->cfg->mesh.max_hops, from, err))
    return -1;
  return check_issuer(h, from, identity, hops, err);
}

/* verify({from, sig}) -> {valid}: lets a peer check an identity it was given. */
static mh_value *fn_verify(mh_host *h, const mh_caller *from, const mh_value *args, mh_error **err) {
  (void)from, (void)err;
  mh_value *out = mh_value_new(MH_V_OBJECT);
  if (out) mh_value_obj_set(out, "valid", mh_value_bool(mh_mesh_verify(h, mh_mesh_first_arg(args))));
  return out;
}

static mh_value *fn_directory(mh_host *h, const mh_caller *from, const mh_value *args, mh_error **err) {
  (void)from, (void)args, (void)err;
  return mh_mesh_directory(h);
}

static const mh_host_fn_def mesh_fns[] = {
    {"devtoolskit:internal:peer:announce", MH_FN_ACTION, fn_announce, NULL},
    {"devtoolskit:internal:peer:directory", MH_FN_ACTION, fn_directory, NULL},
    {"devtoolskit:internal:mesh:provide", MH_FN_ACTION, fn_provide, NULL},
    {"devtoolskit:internal:mesh:unprovide", MH_FN_ACTION, fn_unprovide, NULL},
    {"devtoolskit:internal:mesh:verify", MH_FN_ACTION, fn_verify, NULL},
};

int mh_mesh_add_builtins(mh_host *h) {
  return mh_registry_add_host_fns(&h->registry, mesh_fns, MH_HOST_FNS_COUNT(mesh_fns));
}
