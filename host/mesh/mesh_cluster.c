#include "mesh/mesh_cluster.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call/host.h"
#include "codec/codec.h"
#include "core/buf.h"
#include "core/list.h"
#include "core/log.h"
#include "core/random_hex.h"
#include "core/timer.h"
#include "mesh/mesh.h"
#include "mesh/mesh_cluster_config.h"
#include "mesh/mesh_identity.h"
#include "mesh/mesh_link.h"
#include "mesh/mesh_nats.h"
#include "mesh/mesh_seq.h"
#include "session/client.h"
#include "session/rpc.h"

#define MISSED_HEARTBEATS 3 /* silent this long, a host is gone */
#define HOST_TOKEN_HEX 32   /* of SHA-256 of the host id: a subject token whatever the id holds */
#define BYE_FLUSH_MS 200

#define FORGET_AFTER_MS (2 * MH_SEQ_MAX_SKEW_MS) /* a host gone this long: its record goes */

/* Another host of the cluster: a host link while it is in the cluster
 * (client set), and what its sequence numbers were, kept after it left so
 * that its old messages replayed stay refused (mesh_seq.h). */
typedef struct cluster_host {
  mh_list link; /* mh_cluster.hosts */
  mh_cluster *cl;
  char *id;
  char *subject;     /* where its frames go */
  mh_client *client; /* NULL while it is out of the cluster */
  mh_buf last_dir;   /* the directory message it last sent, to skip repeats */
  uint64_t last_seen;
  mh_seq_state seq;
  mh_timer *drop; /* its connection was asked to close: dropped on the next turn */
} cluster_host;

struct mh_cluster {
  mh_host *h;
  mh_nats *nats;
  char *dir_subject; /* PREFIX.dir */
  char *own_subject; /* PREFIX.host.TOKEN of this host */
  char *bcast_subject; /* PREFIX.bcast */
  char *url_shown;   /* nats.url without credentials, for the log */
  mh_list hosts;
  mh_timer *tick;
  uint64_t last_published;
  bool down_logged; /* this outage was logged: the next connect says NATS is back */
  bool ever_up;
  char boot[MH_SEQ_BOOT_HEX + 1]; /* random per start: our messages' sequence (mesh_seq.h) */
  uint64_t seq;                   /* of the last message published */
};

/* ---- subjects ------------------------------------------------------------ */

/* PREFIX.host.TOKEN for a host id; NULL when memory runs out. */
static char *host_subject(const char *prefix, const char *id) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  if (!EVP_Digest(id, strlen(id), md, &mdlen, EVP_sha256(), NULL)) return NULL;
  mh_buf s = MH_BUF_INIT;
  if (mh_buf_appendf(&s, "%s.host.", prefix)) return NULL;
  for (unsigned i = 0; i < HOST_TOKEN_HEX / 2 && i < mdlen; i++)
    if (mh_buf_appendf(&s, "%02x", md[i])) {
      mh_buf_free(&s);
      return NULL;
    }
  return mh_buf_steal(&s, NULL);
}

/* ---- publishing ------------------------------------------------------------- */

static int64_t wall_ms(void) {
  uv_timeval64_t tv;
  return uv_gettimeofday(&tv) == 0 ? tv.tv_sec * 1000 + tv.tv_usec / 1000 : 0;
}

static int publish(mh_cluster *cl, const char *subject, const char *data, size_t len) {
  char sig[MH_BUS_SIG_HEX + 1], seq[MH_SEQ_MAX_LEN];
  const char *self = mh_mesh_host_id(cl->h);
  if (!mh_nats_connected(cl->nats)) return -1;
  mh_seq_format(cl->boot, ++cl->seq, wall_ms(), seq);
  if (mh_identity_bus_sig(mh_mesh_link_key(cl->h), self, subject, seq, data, len, sig)) return -1;
  return mh_nats_publish(cl->nats, subject, self, seq, sig, data, len);
}

static int publish_value(mh_cluster *cl, const char *subject, const mh_value *v) {
  mh_buf b = MH_BUF_INIT;
  mh_error *err = NULL;
  int rc = v && mh_codec_json.encode(v, &b, &err) == 0 ? publish(cl, subject, b.data, b.len) : -1;
  mh_error_free(err);
  mh_buf_free(&b);
  return rc;
}

/* {host, peers: [this host's own peers]} on PREFIX.dir. */
static void publish_directory(mh_cluster *cl) {
  mh_host *h = cl->h;
  if (!mh_nats_connected(cl->nats)) return; /* before the work of the message */
  mh_value *msg = mh_value_new(MH_V_OBJECT), *peers = mh_value_new(MH_V_ARRAY);
  mh_client_each(c, h) {
    if (peers && mh_client_is_mesh_peer(c)) mh_value_push(peers, mh_mesh_peer_value(h, c->peer));
  }
  if (msg && peers) {
    mh_value_obj_set(msg, "host", mh_value_cstring(mh_mesh_host_id(h)));
    mh_value_obj_set(msg, "peers", peers);
    peers = NULL;
    if (publish_value(cl, cl->dir_subject, msg) == 0) cl->last_published = mh_now_ms(h->loop);
  }
  mh_value_free(peers);
  mh_value_free(msg);
}

static void publish_bye(mh_cluster *cl) {
  mh_value *msg = mh_value_new(MH_V_OBJECT);
  if (msg) {
    mh_value_obj_set(msg, "host", mh_value_cstring(mh_mesh_host_id(cl->h)));
    mh_value_obj_set(msg, "bye", mh_value_bool(true));
  }
  publish_value(cl, cl->dir_subject, msg);
  mh_value_free(msg);
}

static void local_changed(mh_host *h) {
  if (h->cluster) publish_directory(h->cluster);
}

static const mh_mesh_remote cluster_remote = {.local_changed = local_changed};

/* ---- the other hosts, as host links ---------------------------------------- */

/* Its peers leave the directory (mesh_link.c, on the client's going) and
 * pending calls to it fail as disconnected. The record stays (mesh_seq.h). */
static void leave(cluster_host *ch, const char *why) {
  if (ch->drop) mh_timer_stop(ch->drop);
  ch->drop = NULL;
  mh_client *c = ch->client;
  if (!c) return;
  ch->client = NULL;
  mh_log_info("mesh", "NATS: host %s left the cluster (%s)", ch->id, why);
  c->transport = NULL;
  mh_client_gone(c);
  mh_buf_free(&ch->last_dir);
  ch->last_dir = (mh_buf)MH_BUF_INIT;
}

static void forget(cluster_host *ch) {
  leave(ch, "forgotten");
  mh_list_remove(&ch->link);
  free(ch->id);
  free(ch->subject);
  free(ch);
}

static void leave_all(mh_cluster *cl, const char *why) {
  mh_list_each(pos, &cl->hosts) leave(mh_container_of(pos, cluster_host, link), why);
}

static int bus_send(void *transport, const char *data, size_t len) {
  cluster_host *ch = transport;
  if (publish(ch->cl, ch->subject, data, len) == 0) return 0;
  mh_log_warn_limited("mesh", "NATS: a frame of %zu bytes for host %s was not sent (NATS down, or over its "
                      "max_payload)", len, ch->id);
  return -1;
}

static void drop_later(void *ud) {
  cluster_host *ch = ud;
  ch->drop = NULL;
  leave(ch, "closed");
}

/* The host is closing its connections (shutting down): dropped on the next
 * turn, as a client cannot be freed while the clients are walked. */
static void bus_close(void *transport, int code, const char *reason) {
  (void)code, (void)reason;
  cluster_host *ch = transport;
  if (!ch->drop) ch->drop = mh_timer_start(ch->cl->h->loop, 0, drop_later, ch);
}

static const mh_client_ops bus_ops = {.send = bus_send, .close = bus_close};

static cluster_host *find_host(mh_cluster *cl, const char *id) {
  mh_list_each(pos, &cl->hosts) {
    cluster_host *ch = mh_container_of(pos, cluster_host, link);
    if (strcmp(ch->id, id) == 0) return ch;
  }
  return NULL;
}

static cluster_host *add_host(mh_cluster *cl, const char *id) {
  cluster_host *ch = calloc(1, sizeof *ch);
  if (!ch) return NULL;
  ch->cl = cl;
  ch->last_dir = (mh_buf)MH_BUF_INIT;
  if (!(ch->id = strdup(id)) || !(ch->subject = host_subject(cl->h->cfg->nats.subject_prefix, id))) {
    free(ch->id);
    free(ch);
    return NULL;
  }
  mh_list_insert_tail(&cl->hosts, &ch->link);
  return ch;
}

/* The host is in the cluster again (or for the first time): a host link. */
static int join(cluster_host *ch) {
  if (ch->client) return 0;
  mh_link *l = calloc(1, sizeof *l);
  if (!l || !(l->host_id = strdup(ch->id))) {
    free(l);
    return -1;
  }
  l->bus = true;
  if (!(ch->client = mh_client_new(ch->cl->h, &bus_ops, ch))) {
    free(l->host_id);
    free(l);
    return -1;
  }
  ch->client->trusted = true; /* it proved mesh.key: every message is signed with it */
  ch->client->hostlink = l;
  mh_log_info("mesh", "NATS: host %s joined the cluster (as %s)", ch->id, ch->client->id);
  return 0;
}

/* ---- what arrives ------------------------------------------------------------ */

/* The sending host, in the cluster, when the message's sequence number is
 * one to take (mesh_seq.h); NULL (logged) when it is not. A new start of a
 * host that was known replaces the old one: its peers and pending calls go. */
static cluster_host *heard_from(mh_cluster *cl, const mh_nats_event *ev, mh_seq_stream stream) {
  mh_seq q;
  cluster_host *ch = find_host(cl, ev->sender);
  mh_seq_state none = {0};
  mh_seq_verdict v =
      mh_seq_parse(ev->seq, &q) ? mh_seq_judge(ch ? &ch->seq : &none, &q, stream, wall_ms()) : MH_SEQ_BAD;
  if (v != MH_SEQ_NEXT && v != MH_SEQ_NEW_BOOT) {
    mh_log_warn_limited("mesh", "NATS: a message on %s from host %s dropped: %s", ev->subject, ev->sender,
                        mh_seq_why(v));
    return NULL;
  }
  if (v == MH_SEQ_NEW_BOOT && ch && ch->seq.boot[0]) leave(ch, "it restarted");
  if (!ch && !(ch = add_host(cl, ev->sender))) return NULL;
  mh_seq_take(&ch->seq, &q, stream);
  ch->last_seen = mh_now_ms(cl->h->loop);
  return join(ch) ? NULL : ch;
}

/* {host, peers} or {host, bye: true} from another host. */
static void on_directory(mh_cluster *cl, const mh_nats_event *ev) {
  mh_host *h = cl->h;
  const char *sender = ev->sender, *data = ev->data;
  size_t len = ev->len;
  mh_error *err = NULL;
  mh_value *msg = mh_codec_json.decode(data, len, &h->codec_limits, &err);
  const mh_value *host = msg ? mh_value_obj_get(msg, "host") : NULL, *peers = msg ? mh_value_obj_get(msg, "peers") : NULL,
                 *bye = msg ? mh_value_obj_get(msg, "bye") : NULL;
  if (!host || host->type != MH_V_STRING || strcmp(host->u.str.ptr, sender) != 0 ||
      (!(bye && bye->type == MH_V_BOOL && bye->u.b) && (!peers || peers->type != MH_V_ARRAY))) {
    mh_log_warn_limited("mesh", "NATS: a directory message from host %s is not {host, peers}: dropped (%s)", sender,
                        err ? err->message : "wrong shape");
  } else if (bye && bye->type == MH_V_BOOL && bye->u.b) {
    cluster_host *ch = find_host(cl, sender); /* a goodbye from a host not in the cluster changes nothing */
    if (ch && ch->client && (ch = heard_from(cl, ev, MH_SEQ_DIR))) leave(ch, "it said goodbye");
  } else {
    cluster_host *ch = heard_from(cl, ev, MH_SEQ_DIR);
    /* A heartbeat repeats the last message: nothing changed. */
    bool same = ch && ch->last_dir.len == len && memcmp(ch->last_dir.data, data, len) == 0;
    if (ch && !same) {
      mh_buf_free(&ch->last_dir);
      ch->last_dir = (mh_buf)MH_BUF_INIT;
      mh_buf_append(&ch->last_dir, data, len);
      mh_link_apply(h, ch->client, sender, peers);
    }
  }
  mh_error_free(err);
  mh_value_free(msg);
}

static void on_frame(mh_cluster *cl, const mh_nats_event *ev) {
  if (ev->len > cl->h->cfg->limits.max_message_bytes) {
    mh_log_warn_limited("mesh", "NATS: a frame of %zu bytes from host %s is over limits.max_message_bytes: dropped",
                        ev->len, ev->sender);
    return;
  }
  cluster_host *ch = heard_from(cl, ev, MH_SEQ_FRAME);
  if (ch) mh_client_on_frame(ch->client, ev->data, ev->len);
}

/* {name, args} from another host: a broadcast to this host's own clients,
 * with a local broadcast's rules (trusted application clients only). */
static void on_broadcast(mh_cluster *cl, const mh_nats_event *ev) {
  mh_host *h = cl->h;
  if (ev->len > h->cfg->limits.max_message_bytes) {
    mh_log_warn_limited("mesh", "NATS: a broadcast of %zu bytes from host %s is over limits.max_message_bytes: "
                        "dropped", ev->len, ev->sender);
    return;
  }
  if (!heard_from(cl, ev, MH_SEQ_BCAST)) return;
  mh_error *err = NULL;
  mh_value *msg = mh_codec_json.decode(ev->data, ev->len, &h->codec_limits, &err);
  const mh_value *name = msg ? mh_value_obj_get(msg, "name") : NULL, *args = msg ? mh_value_obj_get(msg, "args") : NULL;
  if (name && name->type == MH_V_STRING && args && args->type == MH_V_ARRAY)
    mh_rpc_broadcast(h, name->u.str.ptr, args);
  else
    mh_log_warn_limited("mesh", "NATS: a broadcast from host %s is not {name, args}: dropped (%s)", ev->sender,
                        err ? err->message : "wrong shape");
  mh_error_free(err);
  mh_value_free(msg);
}

static void on_message(mh_cluster *cl, const mh_nats_event *ev) {
  const char *self = mh_mesh_host_id(cl->h);
  if (!ev->sender || !mh_identity_bus_sig_ok(mh_mesh_link_key(cl->h), ev->sender, ev->subject, ev->seq, ev->data,
                                             ev->len, ev->sig)) {
    mh_log_warn_limited("mesh", "NATS: a message on %s %s%s is not signed with this host's mesh.key: dropped",
                        ev->subject, ev->sender ? "from host " : "without a sender", ev->sender ? ev->sender : "");
    return;
  }
  if (strcmp(ev->sender, self) == 0) {
    mh_log_warn_limited("mesh", "NATS: another host calls itself %s (mesh.host_id): its messages are dropped", self);
    return;
  }
  if (strcmp(ev->subject, cl->dir_subject) == 0)
    on_directory(cl, ev);
  else if (strcmp(ev->subject, cl->own_subject) == 0)
    on_frame(cl, ev);
  else if (strcmp(ev->subject, cl->bcast_subject) == 0)
    on_broadcast(cl, ev);
}

/* Logged once an outage, however many reconnects fail. */
static void on_nats(void *ud, const mh_nats_event *ev) {
  mh_cluster *cl = ud;
  switch (ev->kind) {
  case MH_NATS_MESSAGE: on_message(cl, ev); break;
  case MH_NATS_UP:
    if (cl->down_logged || !cl->ever_up)
      mh_log_info("mesh", "NATS: %s %s as host %s (subjects %s.*)", cl->ever_up ? "back at" : "connected to",
                  cl->url_shown, mh_mesh_host_id(cl->h), cl->h->cfg->nats.subject_prefix);
    cl->down_logged = false;
    cl->ever_up = true;
    publish_directory(cl); /* the others learn this host again now, and it learns them at their next heartbeat */
    break;
  case MH_NATS_DOWN:
    if (!cl->down_logged)
      mh_log_warn("mesh", "NATS at %s %s%s%.*s%s: this host keeps serving its own clients; other hosts' peers leave "
                  "the directory until it is back (retrying with backoff)", cl->url_shown,
                  cl->ever_up ? "lost" : "unreachable", ev->len ? " (" : "", (int)ev->len, ev->data,
                  ev->len ? ")" : "");
    cl->down_logged = true;
    leave_all(cl, "NATS is down");
    break;
  case MH_NATS_DROPPED:
    mh_log_warn_limited("mesh", "NATS: %zu messages dropped: this host reads them slower than they come", ev->len);
    break;
  case MH_NATS_FAILED:
    mh_log_error("mesh", "NATS: cannot connect to %s: %.*s; this host serves alone", cl->url_shown, (int)ev->len,
                 ev->data);
    break;
  }
}

/* ---- heartbeat and expiry --------------------------------------------------- */

static void on_tick(void *ud) {
  mh_cluster *cl = ud;
  mh_host *h = cl->h;
  uint64_t now = mh_now_ms(h->loop), beat = h->cfg->nats.heartbeat_ms;
  cl->tick = NULL;
  if (now - cl->last_published >= beat) publish_directory(cl);
  /* After the loop was busy (a long plugin call), libuv runs timers before
   * it reads the wake-up: heartbeats that came meanwhile count first. */
  mh_nats_deliver(cl->nats);
  now = mh_now_ms(h->loop);
  mh_list_each_safe(pos, &cl->hosts) {
    cluster_host *ch = mh_container_of(pos, cluster_host, link);
    if (ch->client && now - ch->last_seen > MISSED_HEARTBEATS * beat) leave(ch, "no heartbeat");
    /* Past this, anything of it replayed is refused for its time (mesh_seq.h). */
    if (!ch->client && now - ch->last_seen > FORGET_AFTER_MS) forget(ch);
  }
  /* Twice a heartbeat: a silent host goes at most half a beat late. */
  cl->tick = mh_timer_start(h->loop, beat / 2 ? beat / 2 : 1, on_tick, cl);
}

/* ---- cluster broadcast ------------------------------------------------------ */

int mh_cluster_broadcast(mh_host *h, const char *name, const mh_value *args) {
  int sent = mh_rpc_broadcast(h, name, args);
  mh_cluster *cl = h->cluster;
  if (!cl) return sent;
  mh_value *msg = mh_value_new(MH_V_OBJECT);
  mh_value *copy = args ? mh_value_copy(args) : mh_value_new(MH_V_ARRAY);
  if (msg && copy) {
    mh_value_obj_set(msg, "name", mh_value_cstring(name));
    mh_value_obj_set(msg, "args", copy);
    copy = NULL;
  }
  if (!msg || publish_value(cl, cl->bcast_subject, msg))
    mh_log_warn_limited("mesh", "NATS: broadcast %s reached this host's clients only (NATS down, or over its "
                        "max_payload)", name);
  mh_value_free(copy);
  mh_value_free(msg);
  return sent;
}

/* ---- life cycle ------------------------------------------------------------- */

int mh_cluster_init(mh_host *h, char **errmsg) {
  const mh_config *cfg = h->cfg;
  if (!cfg->nats.url || !*cfg->nats.url) return 0;
  int rc = mh_cluster_check_config(cfg, errmsg);
  if (rc) return rc;
  mh_nats_settings tls = {.tls_ca = cfg->nats.tls.ca, .tls_cert = cfg->nats.tls.cert, .tls_key = cfg->nats.tls.key};
  char *why = NULL;
  if (mh_nats_check_tls(&tls, &why)) {
    mh_buf msg = MH_BUF_INIT;
    mh_buf_appendf(&msg, "nats.tls: %s", why ? why : "out of memory");
    free(why);
    *errmsg = mh_buf_steal(&msg, NULL);
    return MH_START_BAD_CONFIG;
  }
  mh_cluster *cl = calloc(1, sizeof *cl);
  if (!cl) return -1;
  if (mh_random_hex(cl->boot, MH_SEQ_BOOT_HEX / 2)) {
    free(cl);
    *errmsg = strdup("no randomness for the NATS sequence");
    return -1;
  }
  cl->h = h;
  mh_list_init(&cl->hosts);
  mh_buf dir = MH_BUF_INIT, bcast = MH_BUF_INIT;
  if (mh_buf_appendf(&dir, "%s.dir", cfg->nats.subject_prefix) ||
      mh_buf_appendf(&bcast, "%s.bcast", cfg->nats.subject_prefix) ||
      !(cl->url_shown = mh_cluster_url_shown(cfg->nats.url)) || mh_mesh_add_remote(h, &cluster_remote)) {
    mh_buf_free(&dir);
    mh_buf_free(&bcast);
    free(cl->url_shown);
    free(cl);
    return -1;
  }
  cl->dir_subject = mh_buf_steal(&dir, NULL);
  cl->bcast_subject = mh_buf_steal(&bcast, NULL);
  h->cluster = cl;
  return 0;
}

void mh_cluster_start(mh_host *h) {
  mh_cluster *cl = h->cluster;
  if (!cl || cl->nats) return;
  const mh_config *cfg = h->cfg;
  if (!cl->own_subject && !(cl->own_subject = host_subject(cfg->nats.subject_prefix, mh_mesh_host_id(h)))) {
    mh_log_error("mesh", "NATS: out of memory: this host serves alone");
    return;
  }
  const char *subjects[] = {cl->dir_subject, cl->own_subject, cl->bcast_subject};
  mh_nats_settings s = {.url = cfg->nats.url, .token = cfg->nats.token, .user = cfg->nats.user,
                        .password = cfg->nats.password, .name = mh_mesh_host_id(h), .tls_ca = cfg->nats.tls.ca,
                        .tls_cert = cfg->nats.tls.cert, .tls_key = cfg->nats.tls.key, .subjects = subjects,
                        .nsubjects = sizeof subjects / sizeof *subjects};
  if (!(cl->nats = mh_nats_open(h->loop, &s, on_nats, cl))) {
    mh_log_error("mesh", "NATS: out of memory: this host serves alone");
    return;
  }
  cl->tick = mh_timer_start(h->loop, cfg->nats.heartbeat_ms / 2, on_tick, cl);
}

void mh_cluster_stop(mh_host *h) {
  mh_cluster *cl = h->cluster;
  if (!cl) return;
  if (cl->tick) mh_timer_stop(cl->tick);
  cl->tick = NULL;
  publish_bye(cl);
  leave_all(cl, "this host is stopping");
  mh_nats_close(cl->nats, BYE_FLUSH_MS);
  cl->nats = NULL;
}

void mh_cluster_free(mh_host *h) {
  mh_cluster *cl = h->cluster;
  if (!cl) return;
  mh_cluster_stop(h);
  mh_list_each_safe(pos, &cl->hosts) forget(mh_container_of(pos, cluster_host, link));
  free(cl->dir_subject);
  free(cl->own_subject);
  free(cl->bcast_subject);
  free(cl->url_shown);
  free(cl);
  h->cluster = NULL;
}
