#include "mesh/mesh_link.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session/client.h"
#include "call/host.h"
#include "core/log.h"
#include "core/random_hex.h"
#include "mesh/mesh.h"
#include "mesh/mesh_identity.h"
#include "mesh/mesh_parse.h"

#define LINK_CHALLENGE "devtoolskit:internal:mesh:link-challenge"
#define LINK_HELLO "devtoolskit:internal:mesh:link"
#define NONCE_HEX 32      /* 16 random bytes */
#define NONCE_MIN 16      /* a dialer's nonce: at least 8 bytes' worth of hex */
#define NONCE_MAX 256
#define LINK_SYNC "devtoolskit:internal:mesh:link-sync"

/* ---- directories crossing links ---------------------------------------- */

/* What we tell the host at the other end of `to`: our own peers, and the
 * peers we reach through other links (never its own, never back where they
 * came from, never past mesh.max_hops). */
static mh_value *export_for(mh_host *h, const mh_client *to) {
  mh_value *arr = mh_value_new(MH_V_ARRAY);
  const char *self = mh_mesh_host_id(h);
  mh_client_each(c, h) {
    if (!arr || !c->trusted) continue;
    if (mh_client_is_mesh_peer(c)) {
      mh_value *e = mh_mesh_peer_value(h, c->peer);
      if (e) mh_value_obj_set(e, "hops", mh_value_int(0));
      mh_value_push(arr, e);
    }
    /* Peers met through NATS stay there: the hosts of a cluster all hear
     * each other, and a link carries only what it alone reaches. */
    if (!c->hostlink || c == to || !c->hostlink->peers || c->hostlink->bus) continue;
    for (size_t i = 0; i < c->hostlink->peers->u.arr.len; i++) {
      const mh_value *p = c->hostlink->peers->u.arr.items[i];
      int64_t hops = mh_mesh_int_member(p, "hops") + 1;
      const char *to_host = to->hostlink->host_id ? to->hostlink->host_id : "";
      if (strcmp(mh_mesh_str_member(p, "host"), to_host) == 0 || strcmp(mh_mesh_str_member(p, "host"), self) == 0 ||
          hops > (int64_t)h->cfg->mesh.max_hops)
        continue;
      mh_value *e = mh_mesh_public_entry(p);
      if (e) mh_value_obj_set(e, "hops", mh_value_int(hops));
      mh_value_push(arr, e);
    }
  }
  return arr;
}

/* Entries as the sender named them, renamed for this host: an id without
 * a host part gets the sender's; "remote" keeps the sender's name. Both are
 * kept whole, however long: a copy cut to a fixed size made two peers of
 * long ids one. */
static mh_value *import_from(mh_host *h, const char *sender, const mh_value *peers) {
  mh_value *arr = mh_value_new(MH_V_ARRAY);
  const char *self = mh_mesh_host_id(h);
  for (size_t i = 0; arr && peers && peers->type == MH_V_ARRAY && i < peers->u.arr.len; i++) {
    const mh_value *p = peers->u.arr.items[i];
    const char *id = mh_mesh_str_member(p, "id");
    if (!*id || strcmp(mh_mesh_str_member(p, "host"), self) == 0) continue; /* ours, come back round */
    mh_value *e = mh_mesh_public_entry(p);
    if (!e) continue;
    mh_buf named = MH_BUF_INIT;
    if (strchr(id, '/') ? mh_buf_append_str(&named, id) : mh_buf_appendf(&named, "%s/%s", sender, id)) {
      mh_value_free(e);
      continue;
    }
    mh_value_obj_set(e, "id", mh_value_string(named.data, named.len));
    mh_buf_free(&named);
    mh_value_obj_set(e, "remote", mh_value_cstring(id));
    mh_value_obj_set(e, "hops", mh_value_int(mh_mesh_int_member(p, "hops")));
    mh_value_push(arr, e);
  }
  return arr;
}

static const mh_value *find_entry(const mh_value *peers, const char *id) {
  for (size_t i = 0; peers && i < peers->u.arr.len; i++)
    if (strcmp(mh_mesh_str_member(peers->u.arr.items[i], "id"), id) == 0) return peers->u.arr.items[i];
  return NULL;
}

void mh_link_apply(mh_host *h, mh_client *c, const char *sender, const mh_value *peers) {
  mh_link *l = c->hostlink;
  mh_value *next = import_from(h, sender, peers), *old = l->peers;
  if (!next) return;
  l->peers = next;
  for (size_t i = 0; i < next->u.arr.len; i++) {
    const mh_value *e = next->u.arr.items[i], *was = find_entry(old, mh_mesh_str_member(e, "id"));
    if (!was)
      mh_mesh_announce(h, NULL, "added", mh_mesh_public_entry(e));
    else if (!mh_value_equal(was, e))
      mh_mesh_announce(h, NULL, "updated", mh_mesh_public_entry(e));
  }
  for (size_t i = 0; old && i < old->u.arr.len; i++)
    if (!find_entry(next, mh_mesh_str_member(old->u.arr.items[i], "id")))
      mh_mesh_announce(h, NULL, "removed", mh_mesh_public_entry(old->u.arr.items[i]));
  mh_value_free(old);
  mh_link_sync_all(h, c);
}

/* Sends `to` our directory if it differs from what it last got. Returns the
 * directory when `reply` asks for it instead of an event. */
static mh_value *sync_one(mh_host *h, mh_client *to, bool reply) {
  mh_value *peers = export_for(h, to), *msg = mh_value_new(MH_V_OBJECT);
  mh_buf canon = MH_BUF_INIT;
  if (!peers || !msg || mh_value_canonical(peers, &canon)) goto out;
  mh_link *l = to->hostlink;
  bool same = canon.len == l->last_sent.len && memcmp(canon.data, l->last_sent.data, canon.len) == 0;
  mh_value_obj_set(msg, "host", mh_value_cstring(mh_mesh_host_id(h)));
  mh_value_obj_set(msg, "peers", peers);
  peers = NULL;
  mh_buf_free(&l->last_sent);
  l->last_sent = canon;
  canon = (mh_buf)MH_BUF_INIT;
  if (reply) return msg;
  if (!same) {
    mh_value *args = mh_value_new(MH_V_ARRAY);
    if (args && mh_value_push(args, msg) == 0) {
      msg = NULL;
      mh_client_event(to, LINK_SYNC, args, false);
    }
    mh_value_free(args);
  }
out:
  mh_value_free(peers);
  mh_value_free(msg);
  mh_buf_free(&canon);
  return NULL;
}

void mh_link_sync_all(mh_host *h, mh_client *except) {
  mh_client_each(c, h) {
    if (c->hostlink && c != except && c->hostlink->host_id && !c->hostlink->bus) sync_one(h, c, false);
  }
}

static void link_free(mh_link *l) {
  free(l->host_id);
  free(l->proven_host);
  free(l->url);
  mh_value_free(l->peers);
  mh_buf_free(&l->last_sent);
  free(l);
}

static void link_gone(mh_host *h, mh_client *c) {
  mh_link *l = c->hostlink;
  mh_log_info("mesh", "link to %s closed", l->host_id ? l->host_id : c->id);
  for (size_t i = 0; l->peers && i < l->peers->u.arr.len; i++)
    mh_mesh_announce(h, NULL, "removed", mh_mesh_public_entry(l->peers->u.arr.items[i]));
  c->hostlink = NULL;
  link_free(l);
  mh_link_sync_all(h, c);
}

/* ---- the handshake and the sync event ----------------------------------- */

/* The other host's id, copied whole. -1 when memory runs out. */
static int set_host_id(mh_link *l, const char *host) {
  char *copy = strdup(host);
  if (!copy) return -1;
  free(l->host_id);
  l->host_id = copy;
  return 0;
}

/* A handshake under way on the accepting side: what the dialer claimed and
 * both nonces, until its link call proves mesh.key (or fails) once. */
struct mh_link_challenge {
  char *dialer_host;
  char *dialer_nonce;
  char server_nonce[NONCE_HEX + 1];
};

static void challenge_free(mh_link_challenge *ch) {
  if (!ch) return;
  free(ch->dialer_host);
  free(ch->dialer_nonce);
  free(ch);
}

static void client_gone(mh_host *h, mh_client *c) {
  challenge_free(c->link_challenge);
  c->link_challenge = NULL;
  if (c->hostlink) link_gone(h, c);
}

/* A fresh random nonce as hex; -1 without randomness. */
static int make_nonce(char out[NONCE_HEX + 1]) { return mh_random_hex(out, NONCE_HEX / 2); }

/* Refuses a link step: the reason goes to the log and, as unauthorized, to
 * the caller (the dialer logs it and hangs up). */
static mh_value *refuse_link(mh_client *caller, mh_error **err, const char *why) {
  mh_log_warn("mesh", "%s: host link refused: %s", caller ? caller->id : "?", why);
  *err = mh_error_new(MH_ERR_UNAUTHORIZED, "host link refused: %s", why);
  return NULL;
}

/* link-challenge({host, nonce}) -> {host, nonce, proof}: the first step of
 * the link handshake. This host proves mesh.key over the dialer's nonce
 * and gives a nonce of its own, which the dialer's link call must answer.
 * A client token lets a connection ask; only the key lets it link. */
static mh_value *fn_link_challenge(mh_host *h, const mh_caller *from, const mh_value *args, mh_error **err) {
  mh_client *caller = from->client;
  const mh_value *o = mh_mesh_first_arg(args), *nonce = o && o->type == MH_V_OBJECT ? mh_value_obj_get(o, "nonce") : NULL;
  const char *host = mh_mesh_str_member(o, "host");
  const mh_mesh_key *key = mh_mesh_link_key(h);
  if (!caller || !*host || !nonce || nonce->type != MH_V_STRING || nonce->u.str.len < NONCE_MIN ||
      nonce->u.str.len > NONCE_MAX || strlen(nonce->u.str.ptr) != nonce->u.str.len) {
    *err = mh_error_new(MH_ERR_BAD_REQUEST, "link-challenge expects {host, nonce: %d..%d characters} over a WebSocket",
                        NONCE_MIN, NONCE_MAX);
    return NULL;
  }
  if (!key) return refuse_link(caller, err, "this host has no mesh.key configured, so it takes no host links");
  if (caller->hostlink) return refuse_link(caller, err, "this connection is a host link already");
  if (strcmp(host, mh_mesh_host_id(h)) == 0) {
    *err = mh_error_new(MH_ERR_BAD_REQUEST, "a host cannot link to itself (%s)", host);
    return NULL;
  }
  mh_link_challenge *ch = calloc(1, sizeof *ch);
  char proof[MH_LINK_PROOF_HEX + 1];
  mh_value *out = mh_value_new(MH_V_OBJECT);
  if (!ch || !out || !(ch->dialer_host = strdup(host)) || !(ch->dialer_nonce = strdup(nonce->u.str.ptr)) ||
      make_nonce(ch->server_nonce) ||
      mh_identity_link_proof(key, "server", ch->dialer_nonce, ch->server_nonce, host, mh_mesh_host_id(h), proof)) {
    challenge_free(ch);
    mh_value_free(out);
    *err = mh_error_new(MH_ERR_INTERNAL, "out of memory (or no randomness) for a link challenge");
    return NULL;
  }
  challenge_free(caller->link_challenge); /* a new challenge replaces an unanswered one */
  caller->link_challenge = ch;
  mh_value_obj_set(out, "host", mh_value_cstring(mh_mesh_host_id(h)));
  mh_value_obj_set(out, "nonce", mh_value_cstring(ch->server_nonce));
  mh_value_obj_set(out, "proof", mh_value_cstring(proof));
  return out;
}

/* Whether the link call answers this connection's challenge. The challenge
 * is used up either way: one guess per challenge. */
static const char *link_refusal(mh_host *h, mh_client *caller, const char *host, const char *proof) {
  mh_link_challenge *ch = caller->link_challenge;
  caller->link_challenge = NULL;
  const char *why = NULL;
  if (!ch)
    why = "no link-challenge first: a host link must prove mesh.key, a client token is not enough";
  else if (strcmp(ch->dialer_host, host) != 0)
    why = "the link names another host than its challenge";
  else if (!mh_identity_link_proof_ok(mh_mesh_link_key(h), "dialer", ch->dialer_nonce, ch->server_nonce, host,
                                      mh_mesh_host_id(h), proof))
    why = "its proof of mesh.key is wrong (the hosts' mesh.key differ)";
  challenge_free(ch);
  return why;
}

/* link({host, peers, proof}) -> {host, peers}: the caller, having answered
 * this connection's challenge with proof of mesh.key, becomes a host link. */
static mh_value *fn_link(mh_host *h, const mh_caller *from, const mh_value *args, mh_error **err) {
  mh_client *caller = from->client;
  const mh_value *o = mh_mesh_first_arg(args);
  const char *host = mh_mesh_str_member(o, "host"), *why = NULL;
  if (!caller || !*host) {
    *err = mh_error_new(MH_ERR_BAD_REQUEST, "link expects {host, peers, proof} over a WebSocket connection");
    return NULL;
  }
  if (caller->hostlink) return refuse_link(caller, err, "this connection is a host link already");
  if (!mh_mesh_link_key(h)) return refuse_link(caller, err, "this host has no mesh.key configured, so it takes no host links");
  if ((why = link_refusal(h, caller, host, mh_mesh_str_member(o, "proof")))) return refuse_link(caller, err, why);
  if (!(caller->hostlink = calloc(1, sizeof *caller->hostlink)) || set_host_id(caller->hostlink, host)) {
    *err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
    return NULL;
  }
  mh_log_info("mesh", "%s linked as host %s (proved mesh.key)", caller->id, host);
  mh_link_apply(h, caller, host, mh_value_obj_get(o, "peers"));
  return sync_one(h, caller, true);
}

static mh_value *fn_link_sync(mh_host *h, const mh_caller *from, const mh_value *args, mh_error **err) {
  mh_client *caller = from->client;
  const mh_value *o = mh_mesh_first_arg(args);
  if (!caller || !caller->hostlink || !caller->hostlink->host_id || caller->hostlink->bus ||
      strcmp(mh_mesh_str_member(o, "host"), caller->hostlink->host_id) != 0) {
    *err = mh_error_new(MH_ERR_BAD_REQUEST, "link-sync from a connection that is not that host's link");
    return NULL;
  }
  mh_link_apply(h, caller, caller->hostlink->host_id, mh_value_obj_get(o, "peers"));
  return mh_value_undefined();
}

static const mh_host_fn_def link_fns[] = {
    {LINK_CHALLENGE, MH_FN_ACTION, fn_link_challenge, NULL},
    {LINK_HELLO, MH_FN_ACTION, fn_link, NULL},
    {LINK_SYNC, MH_FN_EVENT, fn_link_sync, NULL},
};

int mh_link_add_builtins(mh_host *h) {
  return mh_registry_add_host_fns(&h->registry, link_fns, MH_HOST_FNS_COUNT(link_fns));
}

/* ---- the dialing side's handshake ---------------------------------------- */

/* The dialing side gives up on a link: logged, and the connection closed
 * (the upstream is redialed with backoff). */
static void drop_link(mh_client *c, const char *what, const char *why) {
  mh_log_warn("mesh", "link handshake with %s %s: %s", c->hostlink && c->hostlink->url ? c->hostlink->url : "?", what,
              why);
  if (c->transport) c->ops->close(c->transport, 1008, "link refused");
}

static void on_hello_answer(void *ud, mh_value *result, mh_error *err) {
  mh_client *c = ud; /* still alive: a gone client fails its calls first */
  mh_host *h = c->host;
  const char *host = mh_mesh_str_member(result, "host");
  if (err) {
    drop_link(c, "refused", err->message);
  } else if (!c->hostlink || !c->hostlink->proven_host || strcmp(host, c->hostlink->proven_host) != 0) {
    drop_link(c, "failed", "the link answer names another host than the one that proved mesh.key");
  } else if (set_host_id(c->hostlink, host) == 0) {
    mh_log_info("mesh", "linked to host %s (%s)", host, c->hostlink->url);
    if (c->hostlink->on_linked) c->hostlink->on_linked(c);
    mh_link_apply(h, c, host, mh_value_obj_get(result, "peers"));
    /* Changes made while the handshake was in flight skipped this link (it
     * had no host id yet): send them now, if there are any. */
    sync_one(h, c, false);
  }
  mh_error_free(err);
  mh_value_free(result);
}

/* The upstream answered our challenge: when its proof holds, we answer its
 * nonce with ours and send the hello (our directory). Before that the other
 * end is not a host link here: it may not relay identities to us. */
static void on_challenge_answer(void *ud, mh_value *result, mh_error *err) {
  mh_client *c = ud;
  mh_host *h = c->host;
  mh_link *l = c->hostlink;
  const mh_mesh_key *key = mh_mesh_link_key(h);
  const char *host = mh_mesh_str_member(result, "host"), *nonce = mh_mesh_str_member(result, "nonce");
  char proof[MH_LINK_PROOF_HEX + 1];
  if (err) {
    drop_link(c, "refused", err->message);
  } else if (!l || !key || !*host || !*nonce ||
             !mh_identity_link_proof_ok(key, "server", l->nonce, nonce, mh_mesh_host_id(h), host,
                                        mh_mesh_str_member(result, "proof"))) {
    drop_link(c, "failed", "the host did not prove mesh.key (the hosts' mesh.key differ?)");
  } else if (!(l->proven_host = strdup(host)) ||
             mh_identity_link_proof(key, "dialer", l->nonce, nonce, mh_mesh_host_id(h), host, proof)) {
    drop_link(c, "failed", "out of memory");
  } else {
    mh_value *args = mh_value_new(MH_V_ARRAY), *hello = mh_value_new(MH_V_OBJECT);
    mh_value_obj_set(hello, "host", mh_value_cstring(mh_mesh_host_id(h)));
    mh_value_obj_set(hello, "proof", mh_value_cstring(proof));
    mh_value *peers = export_for(h, c);
    /* What the other host knows once it has the hello, so that the sync
     * after its answer sends only what changed meanwhile. */
    mh_buf_free(&l->last_sent);
    if (peers) mh_value_canonical(peers, &l->last_sent);
    mh_value_obj_set(hello, "peers", peers);
    mh_value_push(args, hello);
    mh_client_call(c, LINK_HELLO, args, h->cfg->limits.call_timeout_ms, on_hello_answer, c);
    mh_value_free(args);
  }
  mh_error_free(err);
  mh_value_free(result);
}

int mh_link_dialed(mh_client *cl, const char *url, void (*on_linked)(mh_client *c)) {
  mh_host *h = cl->host;
  cl->trusted = true; /* we chose to connect to it, with its token */
  if (!(cl->hostlink = calloc(1, sizeof *cl->hostlink)) || !(cl->hostlink->url = strdup(url))) return -1;
  cl->hostlink->on_linked = on_linked;
  if (!mh_mesh_link_key(h)) {
    drop_link(cl, "not started", "mesh.key is not configured: a link has nothing to prove itself with");
    return 0;
  }
  if (make_nonce(cl->hostlink->nonce)) {
    drop_link(cl, "not started", "no randomness for the challenge");
    return 0;
  }
  mh_value *args = mh_value_new(MH_V_ARRAY), *hello = mh_value_new(MH_V_OBJECT);
  mh_value_obj_set(hello, "host", mh_value_cstring(mh_mesh_host_id(h)));
  mh_value_obj_set(hello, "nonce", mh_value_cstring(cl->hostlink->nonce));
  mh_value_push(args, hello);
  mh_client_call(cl, LINK_CHALLENGE, args, h->cfg->limits.call_timeout_ms, on_challenge_answer, cl);
  mh_value_free(args);
  return 0;
}

/* ---- joining the mesh ---------------------------------------------------- */

static void local_changed(mh_host *h) { mh_link_sync_all(h, NULL); }

static const mh_mesh_remote links_remote = {.local_changed = local_changed};

static void on_host_event(mh_host *h, const mh_event *ev, void *ud) {
  (void)ud;
  if (ev->kind == MH_EV_CLIENT_GONE) client_gone(h, ev->client);
}

int mh_link_init(mh_host *h) {
  if (mh_mesh_add_remote(h, &links_remote)) return -1;
  return mh_events_listen(h, on_host_event, NULL);
}
