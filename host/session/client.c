#include "session/client.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session/auth.h"
#include "session/client_stream.h"
#include "codec/envelope.h"
#include "call/host.h"
#include "core/finish_watch.h"
#include "core/small_alloc.h"
#include "core/log.h"
#include "core/timer.h"
#include "call/registry.h"

/* A call from the client that has not been answered yet. */
typedef struct mh_incoming {
  mh_list link;
  mh_client *client;
  mh_value *id;
  uint64_t tag;        /* the transport's tag of the frame it came in (0: none) */
  mh_waiter *waiter;
  bool event;          /* no reply wanted: only counted while it runs */
  mh_client_stream *stream; /* a stream the client reads (client_stream.h), or NULL */
  bool *finished_flag; /* on_request's mh_finish_watch while mh_dispatch runs */
} mh_incoming;

struct mh_outcall {
  mh_client *client;
  char id[24];
  char *method;
  mh_timer *timer;
  uint64_t timeout_ms;
  mh_outcall_cb cb;
  void *ud;
};

mh_client *mh_client_new(mh_host *host, const mh_client_ops *ops, void *transport) {
  mh_client *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->host = host;
  c->ops = ops;
  c->transport = transport;
  c->codec = &mh_codec_json;
  c->trusted = !host->cfg->auth.required; /* the transport trusts it on a valid token */
  snprintf(c->id, sizeof c->id, "c%" PRIu64, ++host->next_client_id);
  mh_list_init(&c->incoming);
  c->outcalls = (mh_map)MH_MAP_INIT;
  mh_list_insert_tail(&host->clients, &c->link);
  host->nclients++;
  return c;
}

mh_client *mh_client_next(mh_host *host, const mh_client *c) {
  const mh_list *next = c ? c->link.next : host->clients.next;
  return next == &host->clients ? NULL : mh_container_of(next, mh_client, link);
}

mh_client *mh_client_find(mh_host *host, const char *id) {
  mh_client_each(c, host)
    if (strcmp(c->id, id) == 0) return c;
  return NULL;
}

static int send_buf(mh_client *c, mh_buf *b) {
  if (!c->transport) return -1;
  return c->ops->send(c->transport, b->data, b->len);
}

/* An answer to the frame the transport tagged `tag`. */
static int send_answer(mh_client *c, uint64_t tag, mh_buf *b) {
  if (!c->transport) return -1;
  if (tag && c->ops->reply) return c->ops->reply(c->transport, tag, b->data, b->len);
  return c->ops->send(c->transport, b->data, b->len);
}

/* Answers a call (id may be NULL when the frame had none to echo) that
 * came in the frame tagged `tag`. */
static void send_reply(mh_client *c, uint64_t tag, const mh_value *id, const mh_value *result, const mh_error *err) {
  if (!c->transport) return;
  mh_buf b = MH_BUF_INIT;
  mh_error *eerr = NULL;
  if (mh_envelope_encode_reply(c->codec, id, result, err, &b, &eerr)) {
    /* The result cannot travel in this codec: answer with why instead. */
    mh_log_warn("client", "%s: cannot encode reply: %s", c->id, eerr->message);
    mh_buf_reset(&b);
    mh_error *e2 = NULL;
    if (mh_envelope_encode_reply(c->codec, id, NULL, eerr, &b, &e2)) mh_error_free(e2);
    mh_error_free(eerr);
  }
  if (b.len) send_answer(c, tag, &b);
  mh_buf_free(&b);
}

/* An error answer to the frame being handled (c->frame_tag). */
static void reply_error(mh_client *c, const mh_value *id, mh_error *err) {
  send_reply(c, c->frame_tag, id, NULL, err);
  mh_error_free(err);
}

static void incoming_free(mh_incoming *in) {
  mh_list_remove(&in->link);
  in->client->nincoming--;
  mh_value_free(in->id);
  mh_client_stream_free(in->stream);
  mh_small_free(in);
}

/* The end of a stream the client reads: its end frame or error reply. */
static void send_stream_end(mh_incoming *in, const mh_value *result, const mh_error *err) {
  mh_buf b = MH_BUF_INIT;
  mh_client_stream_end(in->stream, result, err, &b);
  if (b.len) send_buf(in->client, &b);
  mh_buf_free(&b);
}

static void incoming_reply(void *ud, const mh_value *result, const mh_error *err) {
  mh_incoming *in = ud;
  if (in->stream)
    send_stream_end(in, result, err);
  else if (!in->event)
    send_reply(in->client, in->tag, in->id, result, err);
  mh_finish_mark(in->finished_flag);
  incoming_free(in);
}

/* The name is at most MH_ENVELOPE_METHOD_MAX bytes (envelope.c), and the
 * line is rate-limited: a refused call costs the host little either way. */
static void refuse_untrusted(mh_client *c, mh_envelope *e) {
  const char *why = mh_auth_refusal(c->token_refused);
  mh_log_warn_limited("auth", "%s: untrusted call to %s refused: %s", c->id, e->method, why);
  if (e->kind == MH_ENV_REQUEST)
    reply_error(c, e->id, mh_error_new(MH_ERR_UNAUTHORIZED,
                                       "RPC call to \"%s\" was rejected: the caller is not authorized (%s).", e->method,
                                       why));
}

/* An untrusted client (auth.required, no token yet) may send
 * limits.untrusted_calls_per_s calls and events a second, in bursts of as
 * many: a token bucket, so the handshake of a real client always passes. */
static bool untrusted_rate_ok(mh_client *c) {
  return mh_auth_untrusted_rate_ok(c->host, c->trusted, &c->untrusted_rate);
}

static void refuse_rate(mh_client *c, mh_envelope *e) {
  int rate = c->host->cfg->limits.untrusted_calls_per_s;
  mh_log_warn_limited("auth", "%s: untrusted client over %d calls a second: %s refused", c->id, rate, e->method);
  if (e->kind == MH_ENV_REQUEST)
    reply_error(c, e->id, mh_error_new(MH_ERR_OVERLOADED, "too many calls from an untrusted client (limit %d a second)",
                                       rate));
}

static size_t stream_chunk(void *ud, const mh_value *value, const mh_chunk_meta *meta) {
  mh_incoming *in = ud;
  mh_buf b = MH_BUF_INIT;
  size_t queued = mh_client_stream_chunk(in->stream, value, meta, &b);
  if (b.len) send_buf(in->client, &b);
  mh_buf_free(&b);
  return queued;
}

static const mh_stream_sink stream_sink = {.on_chunk = stream_chunk};

/* A request with "s": the moonhost client reads a stream function. Only a
 * stream may be read so (anything else is answered at once, not run); an
 * unknown name gets not_found from the dispatcher as any call does. */
static mh_error *stream_refusal(mh_client *c, const mh_envelope *e) {
  if (e->kind == MH_ENV_EVENT)
    return mh_error_new(MH_ERR_BAD_REQUEST, "a stream request needs an id ('i'): %s was not called", e->method);
  const mh_fn *fn = mh_registry_get(&c->host->registry, e->method);
  if (fn && !fn->stream)
    return mh_error_new(MH_ERR_BAD_REQUEST, "%s is not a stream: call it (rpc.call), without 's'", e->method);
  return NULL;
}

/* devframe's streaming events (subscribe, unsubscribe, cancel, upload-*):
 * a client whose stream runs fill its limit must still be able to stop
 * them; a subscribe applies the limit itself (devframe_stream.c). */
static bool streaming_control(const mh_envelope *e) {
  return strncmp(e->method, "devframe:streaming:", 19) == 0;
}

/* Calls and events alike hold a slot of max_inflight_per_client until their
 * run ends: events used to run uncounted, so one client could start any
 * number of handlers that sleep. So do the stream runs its devframe
 * subscribes started (nruns). */
static void on_request(mh_client *c, mh_envelope *e) {
  mh_host *h = c->host;
  bool event = e->kind == MH_ENV_EVENT;
  int limit = h->cfg->limits.max_inflight_per_client;
  if (c->nincoming >= limit || (c->nruns && c->nincoming + c->nruns >= limit && !streaming_control(e))) {
    if (event)
      mh_log_warn_limited("client", "%s: event %s dropped: too many calls in flight (limit %d)", c->id, e->method,
                          limit);
    else
      reply_error(c, e->id, mh_error_new(MH_ERR_OVERLOADED, "too many calls in flight (limit %d)", limit));
    return;
  }
  mh_client_stream *stream = NULL;
  if (e->stream) {
    mh_error *err = stream_refusal(c, e);
    if (!err) stream = mh_client_stream_new(e->id, e->stream, h->cfg->limits.stream_queue_bytes, &err);
    if (err) {
      mh_log_warn_limited("client", "%s: stream %s refused: %s", c->id, e->method, err->message);
      if (!event) reply_error(c, e->id, err);
      else mh_error_free(err);
      return;
    }
  }
  mh_incoming *in = mh_small_zalloc(sizeof *in); /* as each call's values: small_alloc.h */
  mh_value *id = event ? NULL : mh_value_copy(e->id);
  if (!in || (!event && !id)) {
    mh_small_free(in);
    mh_value_free(id);
    mh_client_stream_free(stream);
    if (event)
      mh_log_warn("client", "%s: event %s dropped: out of memory", c->id, e->method);
    else
      reply_error(c, e->id, mh_error_new(MH_ERR_INTERNAL, "out of memory"));
    return;
  }
  in->client = c;
  in->id = id;
  in->tag = c->frame_tag;
  in->event = event;
  in->stream = stream;
  mh_list_insert_tail(&c->incoming, &in->link);
  c->nincoming++;
  mh_value *args = mh_envelope_take_args(e);
  mh_caller caller = {.client = c, .id = c->id};
  mh_finish_watch fw;
  mh_finish_watch_begin(&fw, &in->finished_flag);
  mh_waiter *w;
  if (stream)
    w = mh_dispatch_stream(h, &caller, e->method, args, &stream_sink, mh_client_stream_last_id(stream),
                           incoming_reply, in);
  else if (event)
    w = mh_dispatch_event(h, &caller, e->method, args, e->optional, incoming_reply, in);
  else
    w = mh_dispatch(h, &caller, e->method, args, e->optional, incoming_reply, in);
  if (!mh_finish_watch_end(&fw)) in->waiter = w;
}

static void outcall_finish(mh_outcall *oc, mh_value *result, mh_error *err) {
  mh_map_del(&oc->client->outcalls, oc->id, strlen(oc->id));
  mh_timer_stop(oc->timer);
  mh_outcall_cb cb = oc->cb;
  void *ud = oc->ud;
  free(oc->method);
  free(oc);
  cb(ud, result, err);
}

/* The host's call to c that id answers, or NULL. */
static mh_outcall *outcall_of(mh_client *c, const mh_value *id) {
  if (!id || id->type != MH_V_STRING) return NULL;
  return mh_map_get(&c->outcalls, id->u.str.ptr, id->u.str.len);
}

/* An answer the codec refused: the host's call it was meant for fails with
 * the reason at once, rather than when its timeout comes. */
static void fail_outcall(mh_client *c, const mh_value *id, mh_error *err) {
  mh_outcall *oc = outcall_of(c, id);
  if (!oc) {
    mh_error_free(err);
    return;
  }
  mh_error *why = mh_error_new(MH_ERR_BAD_REQUEST, "the answer of client %s to \"%s\" was refused: %s", c->id,
                               oc->method, err->message);
  mh_error_free(err);
  outcall_finish(oc, NULL, why);
}

static void on_reply(mh_client *c, mh_envelope *e) {
  mh_outcall *oc = outcall_of(c, e->id);
  if (!oc) {
    mh_log_debug("client", "%s: reply to unknown call ignored", c->id);
    return;
  }
  if (e->error) {
    outcall_finish(oc, NULL, mh_error_from_value(e->error));
    return;
  }
  mh_value *v = e->result ? mh_value_copy(e->result) : mh_value_undefined();
  if (!v)
    outcall_finish(oc, NULL, mh_error_new(MH_ERR_INTERNAL, "out of memory"));
  else
    outcall_finish(oc, v, NULL);
}

static void on_cancel(mh_client *c, mh_envelope *e) {
  mh_list_each(pos, &c->incoming) {
    mh_incoming *in = mh_container_of(pos, mh_incoming, link);
    if (in->event || !mh_value_equal(in->id, e->id) || !in->waiter) continue;
    mh_dispatch_cancel(in->waiter);
    mh_error *err = mh_error_new(MH_ERR_CANCELLED, "call cancelled by the client");
    send_reply(c, in->tag, in->id, NULL, err); /* where the call itself waits for it */
    mh_error_free(err);
    incoming_free(in);
    return;
  }
  /* Usually a call that was answered as the cancel crossed the reply. */
  mh_log_debug("client", "%s: cancel for no call in flight ignored", c->id);
}

static mh_incoming *find_stream(mh_client *c, const mh_value *id) {
  mh_list_each(pos, &c->incoming) {
    mh_incoming *in = mh_container_of(pos, mh_incoming, link);
    if (in->stream && in->waiter && mh_value_equal(in->id, id)) return in;
  }
  return NULL;
}

/* The reader took chunks: its producer may go on. An ack that does not
 * add up ends the stream: the reader's count and ours no longer agree. */
static void on_ack(mh_client *c, mh_envelope *e) {
  mh_incoming *in = find_stream(c, e->id);
  if (!in) {
    /* Usually an ack that crossed the stream's end; answered all the same
     * (the moonhost client ignores replies to ids it is done with). */
    mh_log_debug("client", "%s: ack for no stream in flight", c->id);
    reply_error(c, e->id, mh_error_new(MH_ERR_BAD_REQUEST, "ack for no stream in flight under this id"));
    return;
  }
  bool may_go = false;
  mh_error *err = NULL;
  if (mh_client_stream_ack(in->stream, e->count, &may_go, &err) == 0) {
    if (may_go) mh_dispatch_drained(in->waiter);
    return;
  }
  mh_log_warn_limited("client", "%s: bad ack: stream ended: %s", c->id, err->message);
  mh_dispatch_cancel(in->waiter);
  send_stream_end(in, NULL, err);
  mh_error_free(err);
  incoming_free(in);
}

static void handle_frame(mh_client *c, const char *data, size_t len) {
  const mh_codec *codec = mh_codec_detect(data, len);
  if (!codec) {
    mh_log_warn_limited("client", "%s: frame in no known encoding (%zu bytes)", c->id, len);
    reply_error(c, NULL, mh_error_new(MH_ERR_BAD_REQUEST, "frame is not in a known encoding"));
    return;
  }
  c->codec = codec;
  mh_error *err = NULL;
  mh_envelope e;
  int rc = mh_envelope_decode(codec, data, len, &c->host->codec_limits, &e, &err);
  if (rc == MH_ENVELOPE_UNDECODABLE) {
    mh_log_warn_limited("client", "%s: bad frame: %s", c->id, err->message);
    bool reply = false;
    mh_value *id = codec->salvage_id ? codec->salvage_id(data, len, &reply) : NULL;
    if (reply)
      fail_outcall(c, id, err); /* nobody answers an answer (see below) */
    else
      reply_error(c, id, err);
    mh_value_free(id);
    return;
  }
  if (rc) {
    if (e.kind == MH_ENV_REPLY || e.kind == MH_ENV_CANCEL) {
      /* Nobody waits for an answer to a reply or a cancel, and two peers
       * that answered each other's broken replies would never stop. */
      mh_log_warn_limited("client", "%s: bad %s ignored: %s", c->id, e.kind == MH_ENV_REPLY ? "reply" : "cancel",
                  err->message);
      mh_error_free(err);
      mh_envelope_free(&e);
      return;
    }
    mh_log_warn_limited("client", "%s: bad envelope: %s", c->id, err->message);
    reply_error(c, e.id, err);
    mh_envelope_free(&e);
    return;
  }
  bool call = e.kind == MH_ENV_REQUEST || e.kind == MH_ENV_EVENT;
  if (call && !untrusted_rate_ok(c)) {
    refuse_rate(c, &e);
    mh_envelope_free(&e);
    return;
  }
  if (call && !mh_auth_may_call(c, e.method)) {
    refuse_untrusted(c, &e);
    mh_envelope_free(&e);
    return;
  }
  switch (e.kind) {
  case MH_ENV_REQUEST:
  case MH_ENV_EVENT: on_request(c, &e); break;
  case MH_ENV_REPLY: on_reply(c, &e); break;
  case MH_ENV_CANCEL: on_cancel(c, &e); break;
  case MH_ENV_ACK: on_ack(c, &e); break;
  }
  mh_envelope_free(&e);
}

void mh_client_on_frame(mh_client *c, const char *data, size_t len) { mh_client_on_tagged_frame(c, data, len, 0); }

bool mh_client_on_tagged_frame(mh_client *c, const char *data, size_t len, uint64_t tag) {
  c->frame_tag = tag;
  handle_frame(c, data, len);
  c->frame_tag = 0;
  if (!tag) return false;
  /* Calls in flight are bounded by limits.max_inflight_per_client. */
  mh_list_each(pos, &c->incoming) {
    const mh_incoming *in = mh_container_of(pos, mh_incoming, link);
    if (in->tag == tag && !in->event && !in->stream) return true; /* a stream's frames all go down the stream */
  }
  return false;
}

void mh_client_gone(mh_client *c) {
  mh_events_emit(c->host, &(mh_event){.kind = MH_EV_CLIENT_GONE, .client = c});
  c->transport = NULL;
  mh_list_remove(&c->link);
  c->host->nclients--;
  mh_list_each_safe(pos, &c->incoming) {
    mh_incoming *in = mh_container_of(pos, mh_incoming, link);
    /* A call's run is stopped with nobody left to answer; an event's goes
     * on, as it did before events were counted. */
    if (in->waiter && in->event)
      mh_dispatch_detach(in->waiter);
    else if (in->waiter)
      mh_dispatch_cancel(in->waiter);
    incoming_free(in);
  }
  for (size_t i = 0; i < c->outcalls.cap; i++) {
    mh_map_slot *s = &c->outcalls.slots[i];
    if (mh_map_live(s)) {
      mh_outcall *oc = s->value;
      outcall_finish(oc, NULL, mh_error_new(MH_ERR_DISCONNECTED, "client %s disconnected before answering \"%s\"",
                                            c->id, oc->method));
    }
  }
  mh_map_free(&c->outcalls);
  mh_value_free(c->roles);
  free(c);
}

size_t mh_client_queued(const mh_client *c) {
  return c->transport && c->ops->queued ? c->ops->queued(c->transport) : 0;
}

void mh_client_drained(mh_client *c) {
  mh_events_emit(c->host, &(mh_event){.kind = MH_EV_CLIENT_DRAINED, .client = c});
}

int mh_client_send_frame(mh_client *c, const char *data, size_t len) {
  return c->transport ? c->ops->send(c->transport, data, len) : -1;
}

int mh_client_event(mh_client *c, const char *method, const mh_value *args, bool optional) {
  return mh_client_event_ex(c, method, args, optional, NULL);
}

int mh_client_event_ex(mh_client *c, const char *method, const mh_value *args, bool optional, const mh_value *extra) {
  mh_buf b = MH_BUF_INIT;
  mh_error *err = NULL;
  int rc = -1;
  if (mh_envelope_encode_request(c->codec, NULL, method, args, optional, extra, &b, &err) == 0)
    rc = send_buf(c, &b);
  else {
    mh_log_warn("client", "%s: cannot encode event %s: %s", c->id, method, err->message);
    mh_error_free(err);
  }
  mh_buf_free(&b);
  return rc;
}

static void outcall_timeout(void *ud) {
  mh_outcall *oc = ud;
  oc->timer = NULL; /* it freed itself */
  outcall_finish(oc, NULL,
                 mh_error_new(MH_ERR_TIMEOUT, "client %s did not answer \"%s\" within %" PRIu64 " ms",
                              oc->client->id, oc->method, oc->timeout_ms));
}

mh_outcall *mh_client_call(mh_client *c, const char *method, const mh_value *args, uint64_t timeout_ms,
                           mh_outcall_cb cb, void *ud) {
  return mh_client_call_ex(c, method, args, NULL, timeout_ms, cb, ud);
}

mh_outcall *mh_client_call_ex(mh_client *c, const char *method, const mh_value *args, const mh_value *extra,
                              uint64_t timeout_ms, mh_outcall_cb cb, void *ud) {
  mh_outcall *oc = calloc(1, sizeof *oc);
  mh_buf b = MH_BUF_INIT;
  mh_error *err = NULL;
  if (!oc || !(oc->method = strdup(method))) {
    free(oc);
    cb(ud, NULL, mh_error_new(MH_ERR_INTERNAL, "out of memory"));
    return NULL;
  }
  oc->client = c;
  oc->cb = cb;
  oc->ud = ud;
  oc->timeout_ms = timeout_ms;
  snprintf(oc->id, sizeof oc->id, "s%" PRIu64, ++c->next_out_id);
  if (mh_envelope_encode_request(c->codec, oc->id, method, args, false, extra, &b, &err)) goto fail;
  if (mh_map_put(&c->outcalls, oc->id, strlen(oc->id), oc)) {
    err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
    goto fail;
  }
  if (send_buf(c, &b)) {
    mh_map_del(&c->outcalls, oc->id, strlen(oc->id));
    err = mh_error_new(MH_ERR_DISCONNECTED, "client %s is not connected", c->id);
    goto fail;
  }
  mh_buf_free(&b);
  oc->timer = mh_timer_start(c->host->loop, timeout_ms, outcall_timeout, oc);
  return oc;
fail:
  mh_buf_free(&b);
  free(oc->method);
  free(oc);
  cb(ud, NULL, err);
  return NULL;
}

void mh_outcall_abort(mh_outcall *oc) {
  mh_buf b = MH_BUF_INIT;
  mh_error *err = NULL;
  /* Tell the client to stop, then forget the call: a late reply is ignored. */
  if (mh_envelope_encode_cancel(oc->client->codec, oc->id, &b, &err) == 0)
    send_buf(oc->client, &b);
  else
    mh_error_free(err);
  mh_buf_free(&b);
  mh_outcall_cancel(oc);
}

void mh_outcall_cancel(mh_outcall *oc) {
  mh_map_del(&oc->client->outcalls, oc->id, strlen(oc->id));
  mh_timer_stop(oc->timer);
  free(oc->method);
  free(oc);
}
