/* The store of devframe streaming channels (devframe_stream.h): channels,
 * streams, replay rings, subscribers, and the runs of stream functions. */
#include "session/devframe_stream.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "call/dispatch.h"
#include "call/events.h"
#include "call/host.h"
#include "call/registry.h"
#include "call/stream.h"
#include "core/log.h"
#include "core/map.h"
#include "core/timer.h"
#include "session/client.h"

#define EV_CHUNK "devframe:streaming:chunk"
#define EV_END "devframe:streaming:end"

typedef struct df_chunk {
  uint64_t seq;
  mh_value *value;
} df_chunk;

typedef struct df_channel df_channel;

typedef struct df_stream {
  df_channel *ch;
  char *id;
  uint64_t last_seq;
  df_chunk *ring; /* the last ch->replay_window chunks, oldest at ring_head */
  size_t ring_head, ring_len;
  bool closed;
  mh_error *end_err; /* how it ended, when with an error */
  mh_map subs;       /* client id -> mh_client (dropped at MH_EV_CLIENT_GONE, before it is freed) */
  mh_timer *timer;   /* open: a run's wait for a subscriber; closed: retention */
  mh_waiter *w;      /* a stream function's run while it runs */
  /* The client whose subscribe started the run, while it runs: the run
   * counts in its nruns, one of its limits.max_inflight_per_client slots
   * (run_begin, run_end). NULL once that client is gone (client_gone): a
   * run may outlive it. */
  mh_client *starter;
  bool waiting;      /* the run waits for its slowest subscriber (logged once a wait) */
  void (*drain_wake)(void *ud); /* a plugin's writer waiting for its slowest subscriber */
  void *drain_ud;
} df_stream;

struct df_channel {
  mh_host *host;
  char *name;
  char *plugin; /* owner; NULL: a stream function's channel */
  uint32_t generation;
  size_t replay_window;
  uint64_t retention_ms;
  mh_map streams; /* id -> df_stream */
};

struct mh_dfstreams {
  mh_host *host;
  mh_map channels; /* name -> df_channel */
  mh_timer *recheck; /* a subscriber drained: see whether paused runs may go on */
  char id_prefix[20];
  uint64_t next_id;
};

static mh_dfstreams *store(mh_host *h) { return h->dfstreams; }

static df_channel *channel_of(mh_host *h, const char *name) {
  return store(h) ? mh_map_get(&store(h)->channels, name, strlen(name)) : NULL;
}

static df_stream *stream_of(df_channel *ch, const char *id) {
  return ch ? mh_map_get(&ch->streams, id, strlen(id)) : NULL;
}

static void stop_timer(df_stream *s) {
  if (s->timer) mh_timer_stop(s->timer);
  s->timer = NULL;
}

/* ---- sending ------------------------------------------------------------ */

static mh_value *end_payload(const mh_error *err) {
  if (!err) return mh_value_undefined();
  mh_value *v = mh_value_new(MH_V_OBJECT);
  if (!v) return NULL;
  mh_value_obj_set(v, "name", mh_value_cstring(err->name && strcmp(err->name, "Error") ? err->name : err->code));
  mh_value_obj_set(v, "message", mh_value_cstring(err->message));
  mh_value_obj_set(v, "code", mh_value_cstring(err->code));
  return v;
}

/* [channel, id, ...rest(taken)] */
static mh_value *frame_args(const df_stream *s, mh_value *a, mh_value *b) {
  mh_value *args = mh_value_new(MH_V_ARRAY);
  if (!args || mh_value_push(args, mh_value_cstring(s->ch->name)) || mh_value_push(args, mh_value_cstring(s->id)) ||
      (a && mh_value_push(args, a)) || (b && mh_value_push(args, b))) {
    mh_value_free(args);
    return NULL;
  }
  return args;
}

static void send_to(mh_client *c, const char *method, const mh_value *args) {
  if (c && c->trusted && args) mh_client_event(c, method, args, true);
}

static mh_value *chunk_args(const df_stream *s, uint64_t seq, const mh_value *value) {
  return frame_args(s, mh_value_int((int64_t)seq), mh_value_copy(value));
}

static void send_end_to(mh_client *c, const df_stream *s) {
  mh_value *args = frame_args(s, end_payload(s->end_err), NULL);
  send_to(c, EV_END, args);
  mh_value_free(args);
}

/* The most any subscriber holds unsent; SIZE_MAX with none. */
static size_t slowest(const df_stream *s) {
  if (s->subs.len == 0) return SIZE_MAX;
  size_t most = 0;
  for (size_t i = 0; i < s->subs.cap; i++) {
    if (!mh_map_live(&s->subs.slots[i])) continue;
    mh_client *c = s->subs.slots[i].value;
    size_t q = c ? mh_client_queued(c) : 0;
    if (q > most) most = q;
  }
  return most;
}

/* ---- the ring ----------------------------------------------------------- */

static void ring_push(df_stream *s, uint64_t seq, mh_value *take) {
  size_t cap = s->ch->replay_window;
  if (!cap || !s->ring) {
    mh_value_free(take);
    return;
  }
  if (s->ring_len == cap) {
    mh_value_free(s->ring[s->ring_head].value);
    s->ring[s->ring_head] = (df_chunk){seq, take};
    s->ring_head = (s->ring_head + 1) % cap;
    return;
  }
  s->ring[(s->ring_head + s->ring_len++) % cap] = (df_chunk){seq, take};
}

static const df_chunk *ring_at(const df_stream *s, size_t i) {
  return &s->ring[(s->ring_head + i) % s->ch->replay_window];
}

/* ---- lifetime ----------------------------------------------------------- */

/* Tells a waiting writer to go on (it finds its stream gone, or caught up). */
static void wake_writer(df_stream *s) {
  void (*fn)(void *) = s->drain_wake;
  s->drain_wake = NULL;
  if (fn) fn(s->drain_ud);
}

/* A run starts or stops only through these two: its starter's count of
 * running runs (mh_client.nruns) follows. */
static void run_begin(df_stream *s, mh_waiter *w, mh_client *starter) {
  s->w = w;
  s->starter = starter;
  starter->nruns++;
}

static void run_end(df_stream *s) {
  if (s->w && s->starter) s->starter->nruns--;
  s->w = NULL;
  s->starter = NULL;
}

static void stream_free(df_stream *s) {
  wake_writer(s);
  stop_timer(s);
  for (size_t i = 0; i < s->ring_len; i++) mh_value_free(ring_at(s, i)->value);
  free(s->ring);
  mh_map_free(&s->subs);
  mh_error_free(s->end_err);
  free(s->id);
  free(s);
}

static void channel_free(df_channel *ch) {
  for (size_t i = 0; i < ch->streams.cap; i++)
    if (mh_map_live(&ch->streams.slots[i])) {
      df_stream *s = ch->streams.slots[i].value;
      if (s->w) mh_dispatch_detach(s->w); /* its end has nobody to reach */
      run_end(s);
      stream_free(s);
    }
  mh_map_free(&ch->streams);
  free(ch->name);
  free(ch->plugin);
  free(ch);
}

/* A stream function's channel goes with its last stream. */
static void drop_stream(mh_host *h, df_stream *s) {
  df_channel *ch = s->ch;
  mh_map_del(&ch->streams, s->id, strlen(s->id));
  stream_free(s);
  if (!ch->plugin && ch->streams.len == 0) {
    mh_map_del(&store(h)->channels, ch->name, strlen(ch->name));
    channel_free(ch);
  }
}

static void retention_over(void *ud) {
  df_stream *s = ud;
  s->timer = NULL;
  drop_stream(s->ch->host, s);
}

/* A closed stream nobody reads is kept retention_ms, then dropped. */
static void maybe_drop(mh_host *h, df_stream *s) {
  if (!s->closed || s->subs.len || s->timer) return;
  if (s->ch->retention_ms == 0) {
    drop_stream(h, s);
    return;
  }
  s->timer = mh_timer_start(h->loop, s->ch->retention_ms, retention_over, s);
  if (!s->timer) {
    drop_stream(h, s);
    return;
  }
  mh_timer_unref(s->timer); /* a shutdown does not wait for it */
}

/* Closes s, with err (taken) or none, and tells its subscribers. */
static void close_stream(mh_host *h, df_stream *s, mh_error *err) {
  s->closed = true;
  s->end_err = err;
  stop_timer(s);
  mh_value *args = frame_args(s, end_payload(err), NULL);
  for (size_t i = 0; args && i < s->subs.cap; i++)
    if (mh_map_live(&s->subs.slots[i])) send_to(s->subs.slots[i].value, EV_END, args);
  mh_value_free(args);
  maybe_drop(h, s);
}

static df_stream *stream_new(df_channel *ch, const char *id) {
  df_stream *s = calloc(1, sizeof *s);
  if (!s || !(s->id = strdup(id)) ||
      (ch->replay_window && !(s->ring = calloc(ch->replay_window, sizeof *s->ring))) ||
      mh_map_put(&ch->streams, id, strlen(id), s)) {
    if (s) free(s->ring), free(s->id);
    free(s);
    return NULL;
  }
  s->ch = ch;
  return s;
}

/* ---- writing ------------------------------------------------------------ */

static uint64_t write_chunk(df_stream *s, mh_value *take) {
  uint64_t seq = ++s->last_seq;
  mh_value *args = chunk_args(s, seq, take);
  if (!args) mh_log_warn("stream", "%s#%s: out of memory sending chunk %" PRIu64, s->ch->name, s->id, seq);
  for (size_t i = 0; args && i < s->subs.cap; i++)
    if (mh_map_live(&s->subs.slots[i])) send_to(s->subs.slots[i].value, EV_CHUNK, args);
  mh_value_free(args);
  ring_push(s, seq, take);
  return seq;
}

static void schedule_recheck(mh_dfstreams *st);

/* ---- stream functions --------------------------------------------------- */

/* The run's producer emitted: a chunk for every subscriber. The run waits
 * while the slowest holds more than limits.stream_queue_bytes, or while
 * nobody is subscribed (SIZE_MAX). */
static size_t fn_on_chunk(void *ud, const mh_value *value, const mh_chunk_meta *meta) {
  (void)meta; /* devframe numbers chunks itself: an SSE id has no place here */
  df_stream *s = ud;
  mh_host *h = s->ch->host;
  mh_value *copy = mh_value_copy(value);
  if (copy) write_chunk(s, copy);
  size_t most = slowest(s);
  if (most > h->cfg->limits.stream_queue_bytes && !s->waiting) {
    s->waiting = true;
    if (most == SIZE_MAX)
      mh_log_debug("stream", "%s#%s waits for a subscriber", s->ch->name, s->id);
    else
      mh_log_debug("stream", "%s#%s waits for its slowest subscriber (%zu bytes unsent)", s->ch->name, s->id, most);
  }
  return most;
}

static const mh_stream_sink fn_sink = {.on_chunk = fn_on_chunk};

/* The run ended: its error (a reload's too) or its end; a final value has
 * no place in devframe's end and is dropped. */
static void fn_on_end(void *ud, const mh_value *result, const mh_error *err) {
  (void)result;
  df_stream *s = ud;
  run_end(s);
  if (err) mh_log_debug("stream", "%s#%s ended: %s", s->ch->name, s->id, err->message);
  close_stream(s->ch->host, s, err ? mh_error_copy(err) : NULL);
}

static void fn_start(mh_host *h, df_stream *s, mh_client *c) {
  mh_value *args = mh_value_new(MH_V_ARRAY);
  mh_caller caller = {.client = c, .id = c->id};
  mh_waiter *w = mh_dispatch_stream(h, &caller, s->ch->name, args, &fn_sink, NULL, fn_on_end, s);
  if (!s->closed && w) run_begin(s, w, c); /* else it ended already */
}

/* Nobody came back in time: the run is cancelled (its cleanups run). */
static void grace_over(void *ud) {
  df_stream *s = ud;
  s->timer = NULL;
  mh_log_info("stream", "%s#%s: no subscriber for %d s: cancelled", s->ch->name, s->id,
              MH_DF_FN_STREAM_GRACE_MS / 1000);
  if (s->w) mh_dispatch_cancel(s->w);
  run_end(s);
  drop_stream(s->ch->host, s);
}

/* A subscriber left: an open run with none left waits for one a while. */
static void after_leave(mh_host *h, df_stream *s, bool cancel) {
  if (s->drain_wake) schedule_recheck(store(h)); /* its writer may wait for the one that left */
  if (s->subs.len) return;
  if (s->closed) {
    maybe_drop(h, s);
    return;
  }
  if (!s->w) return; /* a plugin's stream: its writer decides */
  if (cancel) {
    mh_log_info("stream", "%s#%s: cancelled by its last reader", s->ch->name, s->id);
    mh_dispatch_cancel(s->w);
    run_end(s);
    drop_stream(h, s);
    return;
  }
  if (!s->timer) s->timer = mh_timer_start(h->loop, MH_DF_FN_STREAM_GRACE_MS, grace_over, s);
  mh_timer_unref(s->timer); /* a shutdown does not wait for it */
}

/* The first stream pred(s, ud) holds for, or NULL. Callers that run Lua
 * for it (which may add or drop streams) look again from the start. */
static df_stream *find_stream(mh_dfstreams *st, bool (*pred)(df_stream *s, void *ud), void *ud) {
  for (size_t i = 0; i < st->channels.cap; i++) {
    df_channel *ch = mh_map_live(&st->channels.slots[i]) ? st->channels.slots[i].value : NULL;
    for (size_t j = 0; ch && j < ch->streams.cap; j++) {
      df_stream *s = mh_map_live(&ch->streams.slots[j]) ? ch->streams.slots[j].value : NULL;
      if (s && pred(s, ud)) return s;
    }
  }
  return NULL;
}

static bool may_go_on(df_stream *s, void *ud) {
  (void)ud;
  size_t bound = s->ch->host->cfg->limits.stream_queue_bytes;
  if (s->drain_wake) return s->subs.len == 0 || slowest(s) <= bound; /* a writer waits for no one gone */
  return s->w && s->waiting && slowest(s) <= bound;
}

/* Lets each waiting run whose subscribers caught up go on. One that goes
 * on stops waiting, and waits again only over the bound: this ends. */
static void recheck(void *ud) {
  mh_dfstreams *st = ud;
  st->recheck = NULL;
  df_stream *s;
  while ((s = find_stream(st, may_go_on, NULL))) {
    if (s->drain_wake) {
      wake_writer(s);
      continue;
    }
    s->waiting = false;
    mh_dispatch_drained(s->w);
  }
}

/* From the loop, not from inside a transport's write callback: the run
 * resumes synchronously and writes again. */
static void schedule_recheck(mh_dfstreams *st) {
  if (!st->recheck) st->recheck = mh_timer_start(st->host->loop, 0, recheck, st);
}

/* NULL, or why c may not start one more run: its runs, calls and streams
 * share limits.max_inflight_per_client (client.c on_request), else a
 * client could start any number of handlers by subscribing to fresh ids.
 * The subscribe being handled holds one of c->nincoming itself. */
static mh_error *over_inflight_limit(mh_host *h, mh_client *c) {
  int limit = h->cfg->limits.max_inflight_per_client;
  int others = c->nincoming > 0 ? c->nincoming - 1 : 0;
  if (others + c->nruns < limit) return NULL;
  return mh_error_new(MH_ERR_OVERLOADED, "too many calls in flight (limit %d): no new stream run started", limit);
}

/* ---- a plugin's channels ------------------------------------------------ */

static df_channel *channel_new(mh_host *h, const char *name) {
  df_channel *ch = calloc(1, sizeof *ch);
  if (!ch || !(ch->name = strdup(name)) || mh_map_put(&store(h)->channels, name, strlen(name), ch)) {
    if (ch) free(ch->name);
    free(ch);
    return NULL;
  }
  ch->host = h;
  return ch;
}

/* Ends a channel's open streams with err (borrowed) and drops it. */
static void channel_end(mh_host *h, df_channel *ch, const mh_error *err) {
  mh_map_del(&store(h)->channels, ch->name, strlen(ch->name));
  for (size_t i = 0; i < ch->streams.cap; i++) {
    df_stream *s = mh_map_live(&ch->streams.slots[i]) ? ch->streams.slots[i].value : NULL;
    if (!s || s->closed) continue;
    mh_value *args = frame_args(s, end_payload(err), NULL);
    for (size_t k = 0; args && k < s->subs.cap; k++)
      if (mh_map_live(&s->subs.slots[k])) send_to(s->subs.slots[k].value, EV_END, args);
    mh_value_free(args);
  }
  channel_free(ch);
}

static mh_error *replaced_error(const df_channel *ch) {
  return mh_error_new(MH_ERR_CANCELLED,
                      "streaming channel '%s': this version of plugin %s was replaced or unloaded; subscribe again",
                      ch->name, ch->plugin);
}

int mh_df_channel_create(mh_host *h, const char *name, const mh_df_channel_decl *d, mh_error **err) {
  if (!store(h)) {
    *err = mh_error_new(MH_ERR_INTERNAL, "this host keeps no streaming channels");
    return -1;
  }
  df_channel *ch = channel_of(h, name);
  if (ch && (!ch->plugin || strcmp(ch->plugin, d->plugin) != 0 || ch->generation == d->generation)) {
    *err = mh_error_new(MH_ERR_ALREADY_REGISTERED, "streaming channel '%s' exists already (%s%s)", name,
                        ch->plugin ? "plugin " : "a stream function's", ch->plugin ? ch->plugin : "");
    return -1;
  }
  if (ch) {
    mh_error *gone = replaced_error(ch);
    channel_end(h, ch, gone);
    mh_error_free(gone);
  }
  if (!(ch = channel_new(h, name)) || !(ch->plugin = strdup(d->plugin))) {
    if (ch) channel_end(h, ch, NULL);
    *err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
    return -1;
  }
  ch->generation = d->generation;
  ch->replay_window = d->replay_window;
  ch->retention_ms = d->retention_ms >= 0 ? (uint64_t)d->retention_ms
                                          : (d->replay_window ? MH_DF_DEFAULT_RETENTION_MS : 0);
  return 0;
}

static df_channel *plugin_channel(mh_host *h, const char *name, mh_error **err) {
  df_channel *ch = channel_of(h, name);
  if (ch && ch->plugin) return ch;
  *err = mh_error_new(MH_ERR_NOT_FOUND, "no streaming channel '%s' (dropped by a reload?)", name);
  return NULL;
}

int mh_df_stream_start(mh_host *h, const char *channel, const char *id, char *id_out, size_t id_cap,
                       mh_error **err) {
  df_channel *ch = plugin_channel(h, channel, err);
  if (!ch) return -1;
  char made[40];
  if (!id) {
    snprintf(made, sizeof made, "%s%" PRIu64, store(h)->id_prefix, ++store(h)->next_id);
    id = made;
  }
  df_stream *s = stream_of(ch, id);
  if (s && !s->closed) {
    *err = mh_error_new(MH_ERR_BAD_REQUEST, "streaming channel '%s' has an open stream '%s'", channel, id);
    return -1;
  }
  if (s) drop_stream(h, s); /* a kept closed one: the new one takes its id */
  if (!stream_new(ch, id)) {
    *err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
    return -1;
  }
  snprintf(id_out, id_cap, "%s", id);
  return 0;
}

static df_stream *open_stream(mh_host *h, const char *channel, const char *id, mh_error **err) {
  df_channel *ch = plugin_channel(h, channel, err);
  df_stream *s = stream_of(ch, id);
  if (ch && (!s || s->closed)) {
    *err = mh_error_new(MH_ERR_BAD_REQUEST, "streaming channel '%s': stream '%s' is %s", channel, id,
                        s ? "finished" : "not started");
    return NULL;
  }
  return s;
}

int64_t mh_df_stream_write(mh_host *h, const char *channel, const char *id, mh_value *take, bool *over_bound,
                           mh_error **err) {
  df_stream *s = open_stream(h, channel, id, err);
  if (!s || !take) {
    mh_value_free(take);
    if (!*err) *err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
    return -1;
  }
  int64_t seq = (int64_t)write_chunk(s, take);
  if (over_bound) *over_bound = s->subs.len && slowest(s) > h->cfg->limits.stream_queue_bytes;
  return seq;
}

int mh_df_stream_wait_drained(mh_host *h, const char *channel, const char *id, void (*wake)(void *ud), void *ud) {
  mh_error *err = NULL;
  df_stream *s = open_stream(h, channel, id, &err);
  mh_error_free(err);
  size_t most = s && s->subs.len ? slowest(s) : 0;
  if (!s || s->drain_wake || most <= h->cfg->limits.stream_queue_bytes) return -1;
  mh_log_debug("stream", "%s#%s: its writer waits for the slowest subscriber (%zu bytes unsent)", channel, id, most);
  s->drain_wake = wake;
  s->drain_ud = ud;
  return 0;
}

void mh_df_stream_unwait(mh_host *h, const char *channel, const char *id) {
  df_stream *s = stream_of(channel_of(h, channel), id);
  if (s) s->drain_wake = NULL;
}

int mh_df_stream_finish(mh_host *h, const char *channel, const char *id, const mh_error *end, mh_error **err) {
  df_stream *s = open_stream(h, channel, id, err);
  if (!s) return -1;
  close_stream(h, s, end ? mh_error_copy(end) : NULL);
  return 0;
}

const char *mh_df_channel_plugin(mh_host *h, const char *name, uint32_t *generation) {
  df_channel *ch = channel_of(h, name);
  if (!ch || !ch->plugin) return NULL;
  *generation = ch->generation;
  return ch->plugin;
}

mh_value *mh_df_stream_ids(mh_host *h, const char *channel) {
  df_channel *ch = channel_of(h, channel);
  mh_value *out = mh_value_new(MH_V_ARRAY);
  for (size_t i = 0; out && ch && i < ch->streams.cap; i++)
    if (mh_map_live(&ch->streams.slots[i]) && mh_value_push(out, mh_value_cstring(ch->streams.slots[i].key))) {
      mh_value_free(out);
      return NULL;
    }
  return out;
}

/* ---- subscribers -------------------------------------------------------- */

static mh_error *not_found(const char *channel, const char *id, bool no_channel) {
  if (no_channel)
    return mh_error_new(MH_ERR_NOT_FOUND, "no streaming channel '%s' (nor a function defined with stream = true)",
                        channel);
  return mh_error_new(MH_ERR_NOT_FOUND, "streaming channel '%s' has no stream '%s'", channel, id);
}

/* The stream id of channel to subscribe to; a stream function's is made
 * (and its channel) on the first subscribe. NULL with *err. */
static df_stream *stream_for_subscribe(mh_host *h, mh_client *c, const char *channel, const char *id, bool *fresh,
                                       mh_error **err) {
  df_channel *ch = channel_of(h, channel);
  if (!ch) {
    mh_fn *fn = mh_registry_get(&h->registry, channel);
    if (!fn || !fn->stream || fn->builtin) {
      *err = not_found(channel, id, true);
      return NULL;
    }
    if (!(ch = channel_new(h, channel))) {
      *err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
      return NULL;
    }
    ch->replay_window = MH_DF_FN_REPLAY_WINDOW;
    ch->retention_ms = MH_DF_DEFAULT_RETENTION_MS;
  }
  df_stream *s = stream_of(ch, id);
  if (s || ch->plugin) {
    if (!s) *err = not_found(channel, id, false);
    return s;
  }
  if ((*err = over_inflight_limit(h, c)) || !(s = stream_new(ch, id))) {
    if (!*err) *err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
    if (ch->streams.len == 0) channel_end(h, ch, NULL);
    return NULL;
  }
  *fresh = true;
  return s;
}

/* The kept chunks after after_seq, then the end if it came. */
static void replay(mh_client *c, df_stream *s, uint64_t after_seq) {
  uint64_t first = s->ring_len ? ring_at(s, 0)->seq : s->last_seq + 1;
  if (after_seq + 1 < first && s->last_seq > after_seq)
    mh_log_warn("stream", "%s: %s#%s resumed after chunk %" PRIu64 " but chunks up to %" PRIu64
                " are no longer kept (replay window %zu): they are lost to it",
                c->id, s->ch->name, s->id, after_seq, first - 1, s->ch->replay_window);
  for (size_t i = 0; i < s->ring_len; i++) {
    const df_chunk *k = ring_at(s, i);
    if (k->seq <= after_seq) continue;
    mh_value *args = chunk_args(s, k->seq, k->value);
    send_to(c, EV_CHUNK, args);
    mh_value_free(args);
  }
  if (s->closed) send_end_to(c, s);
}

int mh_df_subscribe(mh_host *h, mh_client *c, const char *channel, const char *id, uint64_t after_seq,
                    mh_error **err) {
  bool fresh = false;
  df_stream *s = store(h) ? stream_for_subscribe(h, c, channel, id, &fresh, err) : NULL;
  if (!s) {
    if (!*err) *err = mh_error_new(MH_ERR_INTERNAL, "this host keeps no streaming channels");
    /* Its reader would wait for ever: it ends, with the reason. */
    mh_value *args = mh_value_new(MH_V_ARRAY);
    if (args && !mh_value_push(args, mh_value_cstring(channel)) && !mh_value_push(args, mh_value_cstring(id)))
      mh_value_push(args, end_payload(*err));
    send_to(c, EV_END, args);
    mh_value_free(args);
    return -1;
  }
  if (mh_map_put(&s->subs, c->id, strlen(c->id), c)) {
    *err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
    if (fresh) drop_stream(h, s);
    return -1;
  }
  stop_timer(s); /* a run waiting for a reader, or a closed stream kept for one */
  if (fresh) {
    fn_start(h, s, c);
    return 0;
  }
  replay(c, s, after_seq);
  if (s->w) schedule_recheck(store(h));
  return 0;
}

static df_stream *subscribed(mh_host *h, mh_client *c, const char *channel, const char *id) {
  df_stream *s = stream_of(channel_of(h, channel), id);
  return s && mh_map_del(&s->subs, c->id, strlen(c->id)) ? s : NULL;
}

void mh_df_unsubscribe(mh_host *h, mh_client *c, const char *channel, const char *id) {
  df_stream *s = subscribed(h, c, channel, id);
  if (s) after_leave(h, s, false);
}

void mh_df_cancel(mh_host *h, mh_client *c, const char *channel, const char *id) {
  df_stream *s = subscribed(h, c, channel, id);
  if (s) after_leave(h, s, true);
}

/* ---- events ------------------------------------------------------------- */

static bool has_subscriber(df_stream *s, void *client_id) {
  return mh_map_get(&s->subs, client_id, strlen(client_id)) != NULL;
}

static bool started_by(df_stream *s, void *client) { return s->starter == client; }

/* Every stream the client subscribed to loses it, as by unsubscribe; the
 * runs it started go on without a starter. */
static void client_gone(mh_host *h, mh_client *c) {
  df_stream *s;
  while ((s = find_stream(store(h), started_by, c))) {
    s->starter = NULL;
    c->nruns--; /* for the record: c is about to be freed */
  }
  while ((s = find_stream(store(h), has_subscriber, c->id))) {
    mh_map_del(&s->subs, c->id, strlen(c->id));
    after_leave(h, s, false);
  }
}

/* A plugin loaded again (generation) or unloaded (0): its channels the
 * generation did not create end. */
static void plugin_changed(mh_host *h, const char *plugin, uint32_t generation) {
  mh_dfstreams *st = store(h);
  for (size_t i = 0; i < st->channels.cap; i++) {
    df_channel *ch = mh_map_live(&st->channels.slots[i]) ? st->channels.slots[i].value : NULL;
    if (!ch || !ch->plugin || strcmp(ch->plugin, plugin) != 0 || (generation && ch->generation == generation))
      continue;
    mh_log_info("stream", "channel %s: dropped (plugin %s %s)", ch->name, plugin, generation ? "reloaded" : "unloaded");
    mh_error *gone = replaced_error(ch);
    channel_end(h, ch, gone);
    mh_error_free(gone);
  }
}

static void on_event(mh_host *h, const mh_event *ev, void *ud) {
  (void)ud;
  if (!store(h)) return;
  if (ev->kind == MH_EV_FUNCTIONS_CHANGED) plugin_changed(h, ev->plugin, ev->generation);
  else if (ev->kind == MH_EV_CLIENT_GONE && ev->client) client_gone(h, ev->client);
  else if (ev->kind == MH_EV_CLIENT_DRAINED) schedule_recheck(store(h));
}

int mh_dfstreams_init(mh_host *h) {
  mh_dfstreams *st = calloc(1, sizeof *st);
  if (!st) return -1;
  st->host = h;
  snprintf(st->id_prefix, sizeof st->id_prefix, "s%" PRIx64 "-", (uint64_t)(uv_hrtime() & 0xffffffffffULL));
  h->dfstreams = st;
  return mh_events_listen(h, on_event, NULL);
}

void mh_dfstreams_free(mh_host *h) {
  mh_dfstreams *st = store(h);
  if (!st) return;
  if (st->recheck) mh_timer_stop(st->recheck);
  for (size_t i = 0; i < st->channels.cap; i++)
    if (mh_map_live(&st->channels.slots[i])) channel_free(st->channels.slots[i].value);
  mh_map_free(&st->channels);
  free(st);
  h->dfstreams = NULL;
}
