#include "mesh/mesh_nats.h"

#include <limits.h>
#include <nats/nats.h>
#include <stdlib.h>
#include <string.h>

#define HDR_FROM "Moonhost-From"
#define HDR_SEQ "Moonhost-Seq"
#define HDR_SIG "Moonhost-Sig"
#define CONNECT_TIMEOUT_MS 2000
#define PING_INTERVAL_MS 2000 /* a server that vanished without closing the socket is noticed in ~3 of these */
#define MAX_PINGS_OUT 2
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
/* Messages waiting for the loop, in bytes: past it they are dropped (and
 * counted) rather than letting a stalled loop grow memory without end. */
#define MAX_QUEUED_BYTES (64u << 20)
#define CLOSE_WAIT_MS 2000

/* One thing nats.c's threads learned, copied for the loop. */
typedef struct queued {
  struct queued *next;
  mh_nats_kind kind;
  size_t len, size;
  char *subject, *sender, *seq, *sig, *data; /* into mem */
  char mem[];
} queued;

struct mh_nats {
  uv_loop_t *loop;
  mh_nats_handler on;
  void *ud;
  natsOptions *opts;
  natsConnection *nc; /* set by the connect work; read on the loop once it is done */
  natsSubscription **subs;
  char **subjects;
  size_t nsubjects;
  uv_work_t connect;
  bool connecting; /* the connect work has not come back to the loop yet */
  bool closing;    /* mh_nats_close was called: the handler is not called again */
  bool up;         /* as the loop last heard */
  /* Shared with nats.c's threads, under lock. */
  uv_mutex_t lock;
  uv_async_t async;
  queued *head, *tail;
  size_t queued_bytes, dropped;
  bool closed; /* nothing more is queued */
  /* Closing waits for nats.c's threads to be done with us (see quiesce). */
  uv_cond_t quiet;
  size_t subs_running; /* subscriptions whose delivery thread has not finished */
  bool conn_closed;    /* the connection's closed callback has run */
};

/* ---- nats.c's threads: copy, queue, wake the loop ------------------------ */

static char *copy_in(char **at, const char *s, size_t len) {
  if (!s) return NULL;
  char *out = *at;
  memcpy(out, s, len);
  out[len] = '\0';
  *at += len + 1;
  return out;
}

/* Where nats.c's threads meet the loop: a copy of what they learned
 * (strings may be NULL), queued under the lock. */
typedef struct heard {
  const char *subject, *sender, *seq, *sig, *data;
  size_t len;
} heard;

static void post(mh_nats *n, mh_nats_kind kind, const heard *m) {
  size_t ls = m->subject ? strlen(m->subject) : 0, lf = m->sender ? strlen(m->sender) : 0,
         lq = m->seq ? strlen(m->seq) : 0, lg = m->sig ? strlen(m->sig) : 0, len = m->data ? m->len : 0;
  size_t size = sizeof(queued) + ls + lf + lq + lg + len + 5;
  uv_mutex_lock(&n->lock);
  bool full = kind == MH_NATS_MESSAGE && n->queued_bytes + size > MAX_QUEUED_BYTES;
  queued *q = n->closed || full ? NULL : malloc(size);
  if (!q) {
    if (!n->closed && kind == MH_NATS_MESSAGE) n->dropped++;
    uv_mutex_unlock(&n->lock);
    return;
  }
  char *at = q->mem;
  *q = (queued){.kind = kind, .len = len, .size = size};
  q->subject = copy_in(&at, m->subject, ls);
  q->sender = copy_in(&at, m->sender, lf);
  q->seq = copy_in(&at, m->seq, lq);
  q->sig = copy_in(&at, m->sig, lg);
  q->data = copy_in(&at, m->data ? m->data : "", len);
  if (n->tail)
    n->tail->next = q;
  else
    n->head = q;
  n->tail = q;
  n->queued_bytes += size;
  uv_async_send(&n->async);
  uv_mutex_unlock(&n->lock);
}

static void on_message(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
  (void)nc, (void)sub;
  heard m = {.subject = natsMsg_GetSubject(msg), .data = natsMsg_GetData(msg)};
  if (natsMsgHeader_Get(msg, HDR_FROM, &m.sender) != NATS_OK) m.sender = NULL;
  if (natsMsgHeader_Get(msg, HDR_SEQ, &m.seq) != NATS_OK) m.seq = NULL;
  if (natsMsgHeader_Get(msg, HDR_SIG, &m.sig) != NATS_OK) m.sig = NULL;
  int len = natsMsg_GetDataLength(msg);
  m.len = len > 0 ? (size_t)len : 0;
  post(closure, MH_NATS_MESSAGE, &m);
  natsMsg_Destroy(msg);
}

static void on_up(natsConnection *nc, void *closure) {
  (void)nc;
  post(closure, MH_NATS_UP, &(heard){0});
}

static void on_down(natsConnection *nc, void *closure) {
  (void)nc;
  post(closure, MH_NATS_DOWN, &(heard){0});
}

static void on_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure) {
  (void)nc, (void)sub;
  mh_nats *n = closure;
  if (err != NATS_SLOW_CONSUMER) return;
  uv_mutex_lock(&n->lock);
  n->dropped++;
  uv_async_send(&n->async);
  uv_mutex_unlock(&n->lock);
}

/* A subscription's delivery thread is done: it calls no handler again and
 * destroys no more messages of its own. */
static void on_sub_done(void *closure) {
  mh_nats *n = closure;
  uv_mutex_lock(&n->lock);
  n->subs_running--;
  uv_cond_signal(&n->quiet);
  uv_mutex_unlock(&n->lock);
}

/* Posted after the connection's last disconnected/error callback. */
static void on_closed(natsConnection *nc, void *closure) {
  (void)nc;
  mh_nats *n = closure;
  uv_mutex_lock(&n->lock);
  n->conn_closed = true;
  uv_cond_signal(&n->quiet);
  uv_mutex_unlock(&n->lock);
}

/* Exponential, with up to a quarter of jitter so hosts cut off together do
 * not all knock at once. */
static int64_t reconnect_delay(natsConnection *nc, int attempts, void *closure) {
  (void)nc, (void)closure;
  int64_t ms = BACKOFF_MIN_MS;
  for (int i = 1; i < attempts && ms < BACKOFF_MAX_MS; i++) ms *= 2;
  if (ms > BACKOFF_MAX_MS) ms = BACKOFF_MAX_MS;
  return ms + (int64_t)(rand() % (int)(ms / 4 + 1));
}

/* ---- the loop: hand what was queued to the handler ------------------------ */

static void on_async(uv_async_t *a) { mh_nats_deliver(a->data); }

void mh_nats_deliver(mh_nats *n) {
  if (!n) return;
  uv_mutex_lock(&n->lock);
  queued *q = n->head;
  size_t dropped = n->dropped;
  n->head = n->tail = NULL;
  n->queued_bytes = 0;
  n->dropped = 0;
  uv_mutex_unlock(&n->lock);
  if (dropped && !n->closing) n->on(n->ud, &(mh_nats_event){.kind = MH_NATS_DROPPED, .len = dropped});
  while (q) {
    queued *next = q->next;
    if (q->kind == MH_NATS_UP || q->kind == MH_NATS_DOWN) n->up = q->kind == MH_NATS_UP;
    if (!n->closing)
      n->on(n->ud, &(mh_nats_event){q->kind, q->subject, q->sender, q->seq, q->sig, q->data, q->len});
    free(q);
    q = next;
  }
}

/* ---- connecting, off the loop ---------------------------------------------- */

static void connect_work(uv_work_t *req) {
  mh_nats *n = req->data;
  natsStatus s = natsConnection_Connect(&n->nc, n->opts);
  if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED) {
    const char *why = nats_GetLastError(NULL);
    why = why && *why ? why : natsStatus_GetText(s);
    post(n, MH_NATS_FAILED, &(heard){.data = why, .len = strlen(why)});
    n->nc = NULL;
    return;
  }
  /* Subscriptions made before the first connect are sent once it is made,
   * and again after every reconnect. */
  for (size_t i = 0; i < n->nsubjects; i++) {
    if (natsConnection_Subscribe(&n->subs[i], n->nc, n->subjects[i], on_message, n) != NATS_OK) {
      n->subs[i] = NULL;
      continue;
    }
    uv_mutex_lock(&n->lock);
    if (natsSubscription_SetOnCompleteCB(n->subs[i], on_sub_done, n) == NATS_OK) n->subs_running++;
    uv_mutex_unlock(&n->lock);
  }
  /* Why the first attempt failed (a refused login, say), for the log. */
  const char *why = NULL;
  if (s != NATS_OK && natsConnection_GetLastError(n->nc, &why) == NATS_OK) why = NULL;
  if (s != NATS_OK && (!why || !*why)) why = nats_GetLastError(NULL);
  if (why && !*why) why = NULL;
  post(n, s == NATS_OK ? MH_NATS_UP : MH_NATS_DOWN, &(heard){.data = why, .len = why ? strlen(why) : 0});
}

static void teardown(mh_nats *n, int flush_ms);

static void connect_done(uv_work_t *req, int status) {
  (void)status;
  mh_nats *n = req->data;
  n->connecting = false;
  if (n->closing) teardown(n, 0);
}

static bool set(const char *s) { return s && *s; }

/* TLS when a CA is given: the server's certificate must chain to it (and
 * name the host of the URL); a client certificate when one is given. */
static natsStatus set_tls(natsOptions *o, const mh_nats_settings *s) {
  natsStatus st = NATS_OK;
  if (!set(s->tls_ca)) return st;
  st = natsOptions_SetSecure(o, true);
  if (st == NATS_OK) st = natsOptions_LoadCATrustedCertificates(o, s->tls_ca);
  if (st == NATS_OK && set(s->tls_cert)) st = natsOptions_LoadCertificatesChain(o, s->tls_cert, s->tls_key);
  return st;
}

int mh_nats_check_tls(const mh_nats_settings *s, char **why) {
  natsOptions *o = NULL;
  natsStatus st = natsOptions_Create(&o);
  if (st == NATS_OK) st = set_tls(o, s);
  if (st != NATS_OK) {
    const char *text = nats_GetLastError(NULL);
    *why = strdup(text && *text ? text : natsStatus_GetText(st));
  }
  if (o) natsOptions_Destroy(o);
  return st == NATS_OK ? 0 : -1;
}

/* nats.url may list several servers, comma-separated (a NATS cluster):
 * natsOptions_SetURL takes one, so the list goes in as servers. */
static natsStatus set_servers(natsOptions *o, const char *url) {
  char *copy = strdup(url);
  size_t max = 1;
  for (const char *p = url; *p; p++) max += *p == ',';
  const char **servers = calloc(max, sizeof *servers);
  int count = 0;
  natsStatus st = copy && servers ? NATS_OK : NATS_NO_MEMORY;
  for (char *save = NULL, *one = st == NATS_OK ? strtok_r(copy, ",", &save) : NULL; one;
       one = strtok_r(NULL, ",", &save)) {
    while (*one == ' ') one++;
    if (*one) servers[count++] = one;
  }
  if (st == NATS_OK) st = natsOptions_SetServers(o, servers, count);
  free(servers);
  free(copy);
  return st;
}

static natsStatus make_options(mh_nats *n, const mh_nats_settings *s) {
  natsStatus st = natsOptions_Create(&n->opts);
  natsOptions *o = n->opts;
  if (st == NATS_OK) st = set_servers(o, s->url);
  if (st == NATS_OK) st = set_tls(o, s);
  if (st == NATS_OK && set(s->token)) st = natsOptions_SetToken(o, s->token);
  if (st == NATS_OK && set(s->user)) st = natsOptions_SetUserInfo(o, s->user, s->password ? s->password : "");
  if (st == NATS_OK && set(s->name)) st = natsOptions_SetName(o, s->name);
  if (st == NATS_OK) st = natsOptions_SetNoEcho(o, true); /* a host does not hear itself */
  if (st == NATS_OK) st = natsOptions_SetTimeout(o, CONNECT_TIMEOUT_MS);
  if (st == NATS_OK) st = natsOptions_SetPingInterval(o, PING_INTERVAL_MS);
  if (st == NATS_OK) st = natsOptions_SetMaxPingsOut(o, MAX_PINGS_OUT);
  if (st == NATS_OK) st = natsOptions_SetAllowReconnect(o, true);
  if (st == NATS_OK) st = natsOptions_SetMaxReconnect(o, -1); /* forever */
  if (st == NATS_OK) st = natsOptions_SetCustomReconnectDelay(o, reconnect_delay, n);
  if (st == NATS_OK) st = natsOptions_SetRetryOnFailedConnect(o, true, on_up, n);
  if (st == NATS_OK) st = natsOptions_SetReconnectedCB(o, on_up, n);
  if (st == NATS_OK) st = natsOptions_SetDisconnectedCB(o, on_down, n);
  if (st == NATS_OK) st = natsOptions_SetErrorHandler(o, on_error, n);
  if (st == NATS_OK) st = natsOptions_SetClosedCB(o, on_closed, n);
  return st;
}

static void free_parts(mh_nats *n) {
  for (size_t i = 0; n->subjects && i < n->nsubjects; i++) free(n->subjects[i]);
  free(n->subjects);
  free(n->subs);
  if (n->opts) natsOptions_Destroy(n->opts);
  free(n);
}

mh_nats *mh_nats_open(uv_loop_t *loop, const mh_nats_settings *s, mh_nats_handler on, void *ud) {
  mh_nats *n = calloc(1, sizeof *n);
  if (!n) return NULL;
  *n = (mh_nats){.loop = loop, .on = on, .ud = ud, .nsubjects = s->nsubjects};
  n->subjects = calloc(s->nsubjects, sizeof *n->subjects);
  n->subs = calloc(s->nsubjects, sizeof *n->subs);
  bool ok = n->subjects && n->subs;
  for (size_t i = 0; ok && i < s->nsubjects; i++) ok = (n->subjects[i] = strdup(s->subjects[i])) != NULL;
  if (!ok || make_options(n, s) != NATS_OK || uv_mutex_init(&n->lock)) {
    free_parts(n);
    return NULL;
  }
  if (uv_cond_init(&n->quiet)) {
    uv_mutex_destroy(&n->lock);
    free_parts(n);
    return NULL;
  }
  if (uv_async_init(loop, &n->async, on_async)) {
    uv_cond_destroy(&n->quiet);
    uv_mutex_destroy(&n->lock);
    free_parts(n);
    return NULL;
  }
  n->async.data = n;
  n->connect.data = n;
  n->connecting = uv_queue_work(loop, &n->connect, connect_work, connect_done) == 0;
  if (!n->connecting) post(n, MH_NATS_FAILED, &(heard){.data = "no thread to connect on", .len = 23});
  return n;
}

bool mh_nats_connected(const mh_nats *n) {
  return n && n->up && !n->connecting && n->nc && natsConnection_Status(n->nc) == NATS_CONN_STATUS_CONNECTED;
}

int mh_nats_publish(mh_nats *n, const char *subject, const char *sender, const char *seq, const char *sig,
                    const char *data, size_t len) {
  if (!mh_nats_connected(n) || len > INT_MAX) return -1;
  natsMsg *m = NULL;
  natsStatus s = natsMsg_Create(&m, subject, NULL, data, (int)len);
  if (s == NATS_OK) s = natsMsgHeader_Set(m, HDR_FROM, sender);
  if (s == NATS_OK) s = natsMsgHeader_Set(m, HDR_SEQ, seq);
  if (s == NATS_OK) s = natsMsgHeader_Set(m, HDR_SIG, sig);
  if (s == NATS_OK) s = natsConnection_PublishMsg(n->nc, m);
  natsMsg_Destroy(m);
  return s == NATS_OK ? 0 : -1;
}

/* ---- closing ---------------------------------------------------------------- */

static void on_async_closed(uv_handle_t *handle) {
  mh_nats *n = handle->data;
  for (queued *q = n->head, *next; q; q = next) {
    next = q->next;
    free(q);
  }
  uv_cond_destroy(&n->quiet);
  uv_mutex_destroy(&n->lock);
  free_parts(n);
}

/* Waits, up to CLOSE_WAIT_MS, until the closed connection's callbacks have
 * all run and every subscription's delivery thread has finished. Only then
 * may nats_CloseAndWait stop the library: nats.c frees a message through its
 * garbage-collector thread, and a message a delivery thread destroys after
 * that thread has stopped is never freed (LeakSanitizer caught it at exit). */
static void quiesce(mh_nats *n) {
  uint64_t deadline = uv_hrtime() + (uint64_t)CLOSE_WAIT_MS * 1000000u;
  uv_mutex_lock(&n->lock);
  while (n->subs_running > 0 || !n->conn_closed) {
    uint64_t now = uv_hrtime();
    if (now >= deadline || uv_cond_timedwait(&n->quiet, &n->lock, deadline - now) == UV_ETIMEDOUT) break;
  }
  uv_mutex_unlock(&n->lock);
}

static void teardown(mh_nats *n, int flush_ms) {
  if (n->nc) {
    if (flush_ms > 0 && natsConnection_Status(n->nc) == NATS_CONN_STATUS_CONNECTED)
      natsConnection_FlushTimeout(n->nc, flush_ms);
    natsConnection_Close(n->nc);
    quiesce(n);
    for (size_t i = 0; i < n->nsubjects; i++)
      if (n->subs[i]) natsSubscription_Destroy(n->subs[i]);
    natsConnection_Destroy(n->nc);
    n->nc = NULL;
  }
  natsOptions_Destroy(n->opts);
  n->opts = NULL;
  /* No thread of nats.c is left to post after this. */
  nats_CloseAndWait(CLOSE_WAIT_MS);
  uv_mutex_lock(&n->lock);
  n->closed = true;
  uv_mutex_unlock(&n->lock);
  uv_close((uv_handle_t *)&n->async, on_async_closed);
}

void mh_nats_close(mh_nats *n, int flush_ms) {
  if (!n || n->closing) return;
  n->closing = true;
  if (!n->connecting) teardown(n, flush_ms); /* else connect_done does, once the connect comes back */
}
