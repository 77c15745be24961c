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
#include "core/timer.h"
#include "mesh/mesh.h"
#include "mesh/mesh_identity.h"
#include "mesh/mesh_link.h"
#include "mesh/mesh_nats.h"
#include "session/client.h"

#define MISSED_HEARTBEATS 3 /* silent this long, a host is gone */
#define HOST_TOKEN_HEX 32   /* of SHA-256 of the host id: a subject token whatever the id holds */
#define BYE_FLUSH_MS 200

/* Another host of the cluster, seen as a host link. */
typedef struct cluster_host {
  mh_list link; /* mh_cluster.hosts */
  mh_cluster *cl;
  char *id;
  char *subject; /* where its frames go */
  mh_client *client;
  mh_buf last_dir; /* the directory message it last sent, to skip repeats */
  uint64_t last_seen;
  mh_timer *drop; /* its connection was asked to close: dropped on the next turn */
} cluster_host;

struct mh_cluster {
  mh_host *h;
  mh_nats *nats;
  char *dir_subject; /* PREFIX.dir */
  char *own_subject; /* PREFIX.host.TOKEN of this host */
  char *url_shown;   /* nats.url without credentials, for the log */
  mh_list hosts;
  mh_timer *tick;
  uint64_t last_published;
  bool down_logged; /* this outage was logged: the next connect says NATS is back */
  bool ever_up;
};

/* ---- configuration ---------------------------------------------------------- */

static bool has_control_chars(const char *s) {
  for (; s && *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f) return true;
  return false;
}

static int bad_config(char **errmsg, const char *msg) {
  *errmsg = strdup(msg);
  return MH_START_BAD_CONFIG;
}

/* One server of nats.url: nats://, maybe user:password@ or token@, a host,
 * maybe :PORT (1..65535). nats.c would take more (no scheme, say) and fail
 * later, at every reconnect; a typo is better said at start. tls:// is
 * refused while there are no TLS settings (CA, certificate) to go with it. */
static bool server_url_ok(const char *s, size_t n) {
  size_t skip = n >= 7 && strncmp(s, "nats://", 7) == 0 ? 7 : 0;
  if (!skip) return false;
  const char *p = s + skip, *end = s + n, *at = memchr(p, '@', (size_t)(end - p));
  if (at) p = at + 1;
  const char *colon = p < end && *p == '[' ? memchr(p, ']', (size_t)(end - p)) : p;
  colon = colon ? memchr(colon, ':', (size_t)(end - colon)) : NULL;
  const char *host_end = colon ? colon : end;
  if (host_end == p) return false;
  for (const char *c = p; c < host_end; c++)
    if ((unsigned char)*c <= ' ' || *c == '/') return false;
  if (!colon) return true;
  long port = 0;
  for (const char *c = colon + 1; c < end; c++) {
    if (*c < '0' || *c > '9' || (port = port * 10 + (*c - '0')) > 65535) return false;
  }
  return colon + 1 < end && port >= 1;
}

static bool url_ok(const char *url) {
  for (const char *p = url;;) {
    const char *comma = strchr(p, ','), *end = comma ? comma : p + strlen(p);
    while (p < end && *p == ' ') p++;
    if (!server_url_ok(p, (size_t)(end - p))) return false;
    if (!comma) return true;
    p = comma + 1;
  }
}

static int check_config(const mh_config *cfg, char **errmsg) {
  bool token = *cfg->nats.token, user = *cfg->nats.user, password = *cfg->nats.password;
  if (!url_ok(cfg->nats.url))
    return bad_config(errmsg, "nats.url: expected nats://HOST:PORT, several separated by commas (no tls:// yet)");
  if (!*cfg->mesh.key)
    return bad_config(errmsg, "nats.url is set but mesh.key is empty: the hosts of a cluster sign identities and "
                              "every message with mesh.key, the same on every host");
  if (token && (user || password))
    return bad_config(errmsg, "nats.token and nats.user/nats.password are both set: give one way to log in");
  if (user != password) return bad_config(errmsg, "nats.user and nats.password go together: set both or neither");
  if (has_control_chars(cfg->mesh.host_id))
    return bad_config(errmsg, "mesh.host_id holds control characters, which NATS headers cannot carry");
  return 0;
}

/* The URL as the log may show it: "user:password@" or "token@" cut out. */
static char *url_without_credentials(const char *url) {
  mh_buf out = MH_BUF_INIT;
  const char *p = url;
  while (*p) {
    const char *comma = strchr(p, ','), *end = comma ? comma : p + strlen(p);
    const char *scheme = strstr(p, "://"), *host = scheme && scheme < end ? scheme + 3 : p;
    const char *at = memchr(host, '@', (size_t)(end - host));
    mh_buf_append(&out, p, (size_t)(host - p));
    if (at) mh_buf_append_str(&out, "***@");
    mh_buf_append(&out, at ? at + 1 : host, (size_t)(end - (at ? at + 1 : host)));
    if (!comma) break;
    mh_buf_append_str(&out, ",");
    p = comma + 1;
  }
  return mh_buf_terminate(&out) ? (mh_buf_free(&out), NULL) : mh_buf_steal(&out, NULL);
}

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

static int publish(mh_cluster *cl, const char *subject, const char *data, size_t len) {
  char sig[MH_BUS_SIG_HEX + 1];
  const char *self = mh_mesh_host_id(cl->h);
  if (mh_identity_bus_sig(mh_mesh_link_key(cl->h), self, subject, data, len, sig)) return -1;
  return mh_nats_publish(cl->nats, subject, self, sig, data, len);
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
  if (!mh_nats_connected(cl->nats)) return;
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
 * pending calls to it fail as disconnected. */
static void drop_host(cluster_host *ch, const char *why) {
  mh_list_remove(&ch->link);
  if (ch->drop) mh_timer_stop(ch->drop);
  mh_log_info("mesh", "NATS: host %s left the cluster (%s)", ch->id, why);
  mh_client *c = ch->client;
  ch->client = NULL;
  if (c) {
    c->transport = NULL;
    mh_client_gone(c);
  }
  mh_buf_free(&ch->last_dir);
  free(ch->id);
  free(ch->subject);
  free(ch);
}

static void drop_all(mh_cluster *cl, const char *why) {
  mh_list_each_safe(pos, &cl->hosts) drop_host(mh_container_of(pos, cluster_host, link), why);
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
  drop_host(ch, "closed");
}

/* The host is closing its connections (shutting down): dropped on the next
 * turn, as a client cannot be freed while the clients are walked. */
static void bus_close(void *transport, int code, const char *reason) {
  (void)code, (void)reason;
  cluster_host *ch = transport;
  if (!ch->drop) ch->drop = mh_timer_start(ch->cl->h->loop, 0, drop_later, ch);
}

static const mh_client_ops bus_ops = {bus_send, bus_close};

static cluster_host *find_host(mh_cluster *cl, const char *id) {
  mh_list_each(pos, &cl->hosts) {
    cluster_host *ch = mh_container_of(pos, cluster_host, link);
    if (strcmp(ch->id, id) == 0) return ch;
  }
  return NULL;
}

static cluster_host *add_host(mh_cluster *cl, const char *id) {
  mh_host *h = cl->h;
  cluster_host *ch = calloc(1, sizeof *ch);
  if (!ch) return NULL;
  ch->cl = cl;
  ch->last_dir = (mh_buf)MH_BUF_INIT;
  ch->id = strdup(id);
  ch->subject = host_subject(h->cfg->nats.subject_prefix, id);
  mh_link *l = calloc(1, sizeof *l);
  if (!ch->id || !ch->subject || !l || !(l->host_id = strdup(id))) goto fail;
  l->bus = true;
  if (!(ch->client = mh_client_new(h, &bus_ops, ch))) goto fail;
  ch->client->trusted = true; /* it proved mesh.key: every message is signed with it */
  ch->client->hostlink = l;
  mh_list_insert_tail(&cl->hosts, &ch->link);
  mh_log_info("mesh", "NATS: host %s joined the cluster (as %s)", id, ch->client->id);
  return ch;
fail:
  if (l) free(l->host_id);
  free(l);
  free(ch->id);
  free(ch->subject);
  free(ch);
  return NULL;
}

/* ---- what arrives ------------------------------------------------------------ */

static cluster_host *heard_from(mh_cluster *cl, const char *id) {
  cluster_host *ch = find_host(cl, id);
  if (!ch) ch = add_host(cl, id);
  if (ch) ch->last_seen = mh_now_ms(cl->h->loop);
  return ch;
}

/* {host, peers} or {host, bye: true} from another host. */
static void on_directory(mh_cluster *cl, const char *sender, const char *data, size_t len) {
  mh_host *h = cl->h;
  mh_error *err = NULL;
  mh_value *msg = mh_codec_json.decode(data, len, &h->codec_limits, &err);
  const mh_value *host = msg ? mh_value_obj_get(msg, "host") : NULL, *peers = msg ? mh_value_obj_get(msg, "peers") : NULL,
                 *bye = msg ? mh_value_obj_get(msg, "bye") : NULL;
  if (!host || host->type != MH_V_STRING || strcmp(host->u.str.ptr, sender) != 0 ||
      (!(bye && bye->type == MH_V_BOOL && bye->u.b) && (!peers || peers->type != MH_V_ARRAY))) {
    mh_log_warn_limited("mesh", "NATS: a directory message from host %s is not {host, peers}: dropped (%s)", sender,
                        err ? err->message : "wrong shape");
  } else if (bye && bye->type == MH_V_BOOL && bye->u.b) {
    cluster_host *ch = find_host(cl, sender);
    if (ch) drop_host(ch, "it said goodbye");
  } else {
    cluster_host *ch = heard_from(cl, sender);
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

static void on_frame(mh_cluster *cl, const char *sender, const char *data, size_t len) {
  if (len > cl->h->cfg->limits.max_message_bytes) {
    mh_log_warn_limited("mesh", "NATS: a frame of %zu bytes from host %s is over limits.max_message_bytes: dropped",
                        len, sender);
    return;
  }
  cluster_host *ch = heard_from(cl, sender);
  if (ch) mh_client_on_frame(ch->client, data, len);
}

static void on_message(mh_cluster *cl, const mh_nats_event *ev) {
  const char *self = mh_mesh_host_id(cl->h);
  if (!ev->sender || !mh_identity_bus_sig_ok(mh_mesh_link_key(cl->h), ev->sender, ev->subject, ev->data, ev->len,
                                             ev->sig)) {
    mh_log_warn_limited("mesh", "NATS: a message on %s %s%s is not signed with this host's mesh.key: dropped",
                        ev->subject, ev->sender ? "from host " : "without a sender", ev->sender ? ev->sender : "");
    return;
  }
  if (strcmp(ev->sender, self) == 0) {
    mh_log_warn_limited("mesh", "NATS: another host calls itself %s (mesh.host_id): its messages are dropped", self);
    return;
  }
  if (strcmp(ev->subject, cl->dir_subject) == 0)
    on_directory(cl, ev->sender, ev->data, ev->len);
  else if (strcmp(ev->subject, cl->own_subject) == 0)
    on_frame(cl, ev->sender, ev->data, ev->len);
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
    drop_all(cl, "NATS is down");
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
    if (now - ch->last_seen > MISSED_HEARTBEATS * beat) drop_host(ch, "no heartbeat");
  }
  /* Twice a heartbeat: a silent host goes at most half a beat late. */
  cl->tick = mh_timer_start(h->loop, beat / 2 ? beat / 2 : 1, on_tick, cl);
}

/* ---- life cycle ------------------------------------------------------------- */

int mh_cluster_init(mh_host *h, char **errmsg) {
  const mh_config *cfg = h->cfg;
  if (!cfg->nats.url || !*cfg->nats.url) return 0;
  int rc = check_config(cfg, errmsg);
  if (rc) return rc;
  mh_cluster *cl = calloc(1, sizeof *cl);
  if (!cl) return -1;
  cl->h = h;
  mh_list_init(&cl->hosts);
  mh_buf dir = MH_BUF_INIT;
  if (mh_buf_appendf(&dir, "%s.dir", cfg->nats.subject_prefix) || !(cl->url_shown = url_without_credentials(cfg->nats.url)) ||
      mh_mesh_add_remote(h, &cluster_remote)) {
    mh_buf_free(&dir);
    free(cl->url_shown);
    free(cl);
    return -1;
  }
  cl->dir_subject = mh_buf_steal(&dir, NULL);
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
  const char *subjects[] = {cl->dir_subject, cl->own_subject};
  mh_nats_settings s = {.url = cfg->nats.url, .token = cfg->nats.token, .user = cfg->nats.user,
                        .password = cfg->nats.password, .name = mh_mesh_host_id(h), .subjects = subjects,
                        .nsubjects = 2};
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
  if (mh_nats_connected(cl->nats)) publish_bye(cl);
  drop_all(cl, "this host is stopping");
  mh_nats_close(cl->nats, BYE_FLUSH_MS);
  cl->nats = NULL;
}

void mh_cluster_free(mh_host *h) {
  mh_cluster *cl = h->cluster;
  if (!cl) return;
  mh_cluster_stop(h);
  free(cl->dir_subject);
  free(cl->own_subject);
  free(cl->url_shown);
  free(cl);
  h->cluster = NULL;
}
