#include "call/dispatch.h"

#include <stdlib.h>
#include <string.h>

#include "call/call_metrics.h"
#include "call/host.h"
#include "core/log.h"
#include "core/small_alloc.h"
#include "call/plugin.h"
#include "call/events.h"
#include "call/stream.h"
#include "core/timer.h"

/* One execution of a handler, and everyone waiting for its outcome. */
typedef struct mh_run {
  mh_list link;  /* in host->runs */
  mh_host *host; /* NULL once the host is gone (mh_dispatch_orphan_runs) */
  mh_fn *fn;
  mh_list waiters;
  mh_buf key;          /* query: canonical args (shared runs and the cache) */
  mh_engine_call *ecall;  /* a plugin handler running, or */
  mh_native_call *ncall;  /* a host function waiting */
  bool finished;
  /* An invalidate came while it ran: what it computed may predate the
   * change, so it answers the callers it has but is neither joined nor kept
   * (mh_dispatch_invalidate). */
  bool stale;
  bool paused; /* a stream whose reader is over its bound: the producer waits */
  uint32_t anon; /* callers with no reply (events): counted when it ends (/metrics) */
  uint64_t t0;   /* when the first of them came */
} mh_run;

struct mh_waiter {
  mh_list link;
  mh_run *run;
  mh_reply_fn reply; /* NULL once detached */
  const mh_stream_sink *sink; /* a stream's reader; NULL for calls */
  void *ud;
  bool event; /* told when the run ends, but nobody answers its failure */
  uint64_t t0; /* uv_hrtime when the call came (/metrics) */
};

/* Who a call with no caller came from: the host itself (its plugins). */
static const mh_caller host_caller = {.client = NULL};

static void reply_now(mh_reply_fn reply, void *ud, const mh_value *result, const mh_error *err) {
  if (reply) reply(ud, result, err);
}

static void reply_error_now(mh_reply_fn reply, void *ud, mh_error *err) {
  reply_now(reply, ud, NULL, err);
  mh_error_free(err);
}

static mh_waiter *add_waiter(mh_run *run, mh_reply_fn reply, void *ud, bool event, uint64_t t0) {
  mh_waiter *w = mh_small_zalloc(sizeof *w);
  if (!w) return NULL;
  w->run = run;
  w->reply = reply;
  w->ud = ud;
  w->event = event;
  w->t0 = t0;
  mh_list_insert_tail(&run->waiters, &w->link);
  return w;
}

static void log_event_error(const mh_fn *fn, const mh_error *err) {
  mh_log_warn("dispatch", "event %s failed: %s", fn->name, err->message);
}

/* Whether some waiter will pass a failure on to a caller. */
static bool run_answered(const mh_run *run) {
  mh_list_each(pos, (mh_list *)&run->waiters) {
    const mh_waiter *w = mh_container_of(pos, mh_waiter, link);
    if (!w->event) return true;
  }
  return false;
}

static void run_done(void *ud, mh_value *result, mh_error *err) {
  mh_run *run = ud;
  mh_fn *fn = run->fn;
  mh_host *host = run->host;
  run->finished = true;
  /* A stale run was taken out of fn->runs already; a newer run may hold its key. */
  if (fn->type == MH_FN_QUERY && !fn->stream && run->key.len && !run->stale)
    mh_map_del(&fn->runs, run->key.data, run->key.len);
  if (fn->static_run == run) fn->static_run = NULL;
  if (host) mh_list_remove(&run->link);
  if (err) {
    fn->stats.errors++;
    if (!run_answered(run) && fn->type == MH_FN_EVENT) log_event_error(fn, err);
  } else if (!host || !fn->registered || run->stale) {
    /* nothing kept: a newer generation or an invalidate made it obsolete */
  } else if (fn->type == MH_FN_STATIC) {
    mh_value_free(fn->static_value);
    fn->static_value = mh_value_copy(result);
  } else if (fn->cache) {
    mh_cache_put(fn->cache, run->key.data, run->key.len, result, mh_now_ms(host->loop));
  }
  /* One at a time from the head: a reply may cancel another waiter of this
   * run (mh_dispatch_cancel frees it), so no pointer to the next one may be
   * kept across the callback. */
  while (!mh_list_empty(&run->waiters)) {
    mh_waiter *w = mh_container_of(run->waiters.next, mh_waiter, link);
    mh_list_remove(&w->link);
    reply_now(w->reply, w->ud, result, err);
    if (host) mh_call_finished(host, fn->metrics, mh_call_outcome_of(err), w->t0, 1);
    mh_small_free(w);
  }
  if (host) mh_call_finished(host, fn->metrics, mh_call_outcome_of(err), run->t0, run->anon);
  mh_value_free(result);
  mh_error_free(err);
  mh_buf_free(&run->key);
  mh_small_free(run);
  mh_fn_unref(fn);
}

/* What a stream reader adds to a call (mh_dispatch_stream). */
typedef struct stream_req {
  const mh_stream_sink *sink;
  const char *last_event_id;
} stream_req;

static mh_engine_call *start_engine(mh_host *host, const mh_caller *caller, mh_fn *fn, mh_value *args, mh_run *run,
                                    const stream_req *sr) {
  if (!fn->stream) return host->engine->call(fn->gen->engine, fn->handler, args, caller, run_done, run);
  mh_stream_call sc = {.caller = caller, .stream = (mh_stream *)run, .last_event_id = sr ? sr->last_event_id : NULL};
  return host->engine->stream(fn->gen->engine, fn->handler, args, &sc, run_done, run);
}

/* Starts a run; returns the caller's waiter, or NULL if the outcome was
 * delivered already (synchronous completion or failure). */
static mh_waiter *start_run(mh_host *host, const mh_caller *caller, mh_fn *fn, mh_value *args, mh_buf *key,
                            mh_reply_fn reply, void *ud, bool event, const stream_req *sr, uint64_t t0) {
  mh_run *run = mh_small_zalloc(sizeof *run); /* as each call's values: small_alloc.h */
  mh_waiter *w = NULL;
  if (run) mh_list_init(&run->waiters);
  if (!run || (reply && !(w = add_waiter(run, reply, ud, event, t0)))) {
    mh_small_free(run);
    mh_value_free(args);
    mh_buf_free(key);
    reply_error_now(reply, ud, mh_error_new(MH_ERR_INTERNAL, "out of memory"));
    return NULL;
  }
  if (w && sr) w->sink = sr->sink;
  run->host = host;
  mh_list_insert_tail(&host->runs, &run->link);
  run->fn = fn;
  run->anon = reply ? 0 : 1;
  run->t0 = t0;
  host->metrics.inflight_calls++;
  mh_fn_ref(fn);
  run->key = *key;
  *key = (mh_buf)MH_BUF_INIT;
  /* A stream's run is its reader's alone: nobody may join it. */
  if (fn->type == MH_FN_QUERY && !fn->stream) mh_map_put(&fn->runs, run->key.data, run->key.len, run);
  if (fn->type == MH_FN_STATIC) fn->static_run = run;
  fn->stats.runs++;
  if (fn->native) {
    mh_native_call *nc = fn->native->start(host, caller ? caller : &host_caller, args, run_done, run);
    if (!nc) return NULL; /* finished (and freed) already */
    run->ncall = nc;
    return w;
  }
  mh_engine_call *ec = start_engine(host, caller, fn, args, run, sr);
  if (!ec) return NULL; /* finished (and freed) already */
  run->ecall = ec;
  return w;
}

static mh_waiter *join_run(mh_fn *fn, mh_run *run, mh_value *args, mh_reply_fn reply, void *ud, bool event,
                           uint64_t t0) {
  mh_value_free(args);
  fn->stats.shared++;
  run->host->metrics.inflight_calls++;
  if (!reply) {
    if (run->anon++ == 0) run->t0 = t0;
    return NULL;
  }
  mh_waiter *w = add_waiter(run, reply, ud, event, t0);
  if (!w) reply_error_now(reply, ud, mh_error_new(MH_ERR_INTERNAL, "out of memory"));
  return w;
}

static mh_waiter *call_builtin(mh_host *host, const mh_caller *caller, mh_fn *fn, mh_value *args, mh_reply_fn reply,
                               void *ud, bool event, uint64_t t0) {
  mh_error *err = NULL;
  mh_value *v = fn->builtin(host, caller ? caller : &host_caller, args, &err);
  /* As for a plugin's event: with no one to answer, the log says it failed
   * (a relayed event refused by the last host was dropped without a word). */
  if (err && event && fn->type == MH_FN_EVENT) log_event_error(fn, err);
  reply_now(reply, ud, v, err);
  mh_call_answered(fn->metrics, err, t0);
  mh_value_free(v);
  mh_error_free(err);
  mh_value_free(args);
  return NULL;
}

/* A stream needs a reader that takes chunks and an engine that makes them;
 * without, it is refused before its handler runs. */
static mh_waiter *start_stream(mh_host *host, const mh_caller *caller, mh_fn *fn, mh_value *args, mh_reply_fn reply,
                               void *ud, bool event, const stream_req *sr, uint64_t t0) {
  mh_error *err = NULL;
  if (!sr || !sr->sink)
    err = mh_error_new(MH_ERR_BAD_REQUEST,
                       "%s is a stream: read it over HTTP, as an oRPC event iterator (POST %s/ and "
                       "the name's parts as the path), or with the moonhost client's rpc.stream (a "
                       "request with 's', docs/protocol.md); a plain call cannot carry its chunks",
                       fn->name, host->cfg->http.prefix ? host->cfg->http.prefix : "/rpc");
  else if (!host->engine->stream)
    err = mh_error_new(MH_ERR_INTERNAL, "%s is a stream, which the %s engine cannot run", fn->name,
                       host->engine->name);
  if (err) {
    mh_value_free(args);
    if (event && !reply) log_event_error(fn, err);
    mh_call_answered(fn->metrics, err, t0);
    reply_error_now(reply, ud, err);
    return NULL;
  }
  mh_buf key = MH_BUF_INIT;
  return start_run(host, caller, fn, args, &key, reply, ud, event, sr, t0);
}

static mh_waiter *dispatch_fn(mh_host *host, const mh_caller *caller, mh_fn *fn, mh_value *args, mh_reply_fn reply,
                              void *ud, bool event, const stream_req *sr, uint64_t t0);

static mh_waiter *dispatch(mh_host *host, const mh_caller *caller, const char *name, mh_value *args, bool optional,
                           mh_reply_fn reply, void *ud, bool event, const stream_req *sr, uint64_t t0) {
  mh_fn *fn = mh_registry_get(&host->registry, name);
  if (!fn) {
    mh_metrics_observe(&host->metrics.unknown, optional ? MH_OUTCOME_OK : MH_OUTCOME_ERROR, uv_hrtime() - t0);
    mh_value_free(args);
    if (optional) {
      mh_value undefined = {.type = MH_V_UNDEFINED};
      reply_now(reply, ud, &undefined, NULL);
      return NULL;
    }
    /* birpc's own wording, so existing clients recognise it. */
    reply_error_now(reply, ud, mh_plugin_not_found(host, name, "[birpc] "));
    return NULL;
  }
  return dispatch_fn(host, caller, fn, args, reply, ud, event, sr, t0);
}

static mh_waiter *dispatch_fn(mh_host *host, const mh_caller *caller, mh_fn *fn, mh_value *args, mh_reply_fn reply,
                              void *ud, bool event, const stream_req *sr, uint64_t t0) {
  fn->stats.calls++;
  mh_fn_metrics *fm = mh_call_metrics_of(host, fn);
  if (fn->builtin) return call_builtin(host, caller, fn, args, reply, ud, event, t0);
  if (fn->stream) return start_stream(host, caller, fn, args, reply, ud, event, sr, t0);

  mh_buf key = MH_BUF_INIT;
  switch (fn->type) {
  case MH_FN_STATIC:
    if (fn->static_value) {
      fn->stats.hits++, fm->cache_hits++;
      reply_now(reply, ud, fn->static_value, NULL);
      mh_call_answered(fm, NULL, t0);
      mh_value_free(args);
      return NULL;
    }
    if (fn->static_run) return join_run(fn, fn->static_run, args, reply, ud, event, t0);
    return start_run(host, caller, fn, args, &key, reply, ud, event, NULL, t0);
  case MH_FN_QUERY: {
    if (mh_value_canonical(args, &key)) {
      mh_value_free(args);
      reply_error_now(reply, ud, mh_error_new(MH_ERR_INTERNAL, "out of memory"));
      return NULL;
    }
    if (fn->cache) {
      const mh_value *hit = mh_cache_get(fn->cache, key.data, key.len, mh_now_ms(host->loop));
      if (hit) {
        fn->stats.hits++, fm->cache_hits++;
        reply_now(reply, ud, hit, NULL);
        mh_call_answered(fm, NULL, t0);
        mh_value_free(args);
        mh_buf_free(&key);
        return NULL;
      }
      fn->stats.misses++, fm->cache_misses++;
    }
    mh_run *run = mh_map_get(&fn->runs, key.data, key.len);
    if (run) {
      mh_buf_free(&key);
      return join_run(fn, run, args, reply, ud, event, t0);
    }
    return start_run(host, caller, fn, args, &key, reply, ud, event, NULL, t0);
  }
  case MH_FN_ACTION:
  case MH_FN_EVENT:
  default: return start_run(host, caller, fn, args, &key, reply, ud, event, NULL, t0);
  }
}

mh_waiter *mh_dispatch(mh_host *host, const mh_caller *caller, const char *name, mh_value *args, bool optional,
                       mh_reply_fn reply, void *ud) {
  return dispatch(host, caller, name, args, optional, reply, ud, reply == NULL, NULL, uv_hrtime());
}

mh_waiter *mh_dispatch_fn(mh_host *host, const mh_caller *caller, mh_fn *fn, mh_value *args, mh_reply_fn reply,
                          void *ud) {
  return dispatch_fn(host, caller, fn, args, reply, ud, reply == NULL, NULL, uv_hrtime());
}

mh_waiter *mh_dispatch_stream(mh_host *host, const mh_caller *caller, const char *name, mh_value *args,
                              const mh_stream_sink *sink, const char *last_event_id, mh_reply_fn on_end, void *ud) {
  stream_req sr = {.sink = sink, .last_event_id = last_event_id};
  return dispatch(host, caller, name, args, false, on_end, ud, false, &sr, uv_hrtime());
}

bool mh_stream_emit(mh_stream *s, mh_value *value, const mh_chunk_meta *meta) {
  mh_run *run = (mh_run *)s;
  size_t queued = 0;
  /* A stream run has one waiter at most: none once its reader cancelled. */
  if (!mh_list_empty(&run->waiters)) {
    mh_waiter *w = mh_container_of(run->waiters.next, mh_waiter, link);
    if (w->reply && w->sink) queued = w->sink->on_chunk(w->ud, value, meta);
  }
  mh_value_free(value);
  run->paused = queued > run->host->cfg->limits.stream_queue_bytes;
  return run->paused;
}

void mh_dispatch_drained(mh_waiter *w) {
  mh_run *run = w->run;
  if (!run->paused || run->finished || !run->ecall) return;
  run->paused = false;
  run->host->engine->drained(run->ecall);
}

mh_waiter *mh_dispatch_event(mh_host *host, const mh_caller *caller, const char *name, mh_value *args, bool optional,
                             mh_reply_fn done, void *ud) {
  return dispatch(host, caller, name, args, optional, done, ud, true, NULL, uv_hrtime());
}

void mh_dispatch_detach(mh_waiter *w) { w->reply = NULL; }

void mh_dispatch_cancel(mh_waiter *w) {
  mh_run *run = w->run;
  mh_list_remove(&w->link);
  mh_call_finished(run->host, run->fn->metrics, MH_OUTCOME_CANCELLED, w->t0, 1);
  mh_small_free(w);
  /* A static run is kept: the next caller would only start it again
   * (unless an invalidate detached it: then nobody can join it). */
  if (!mh_list_empty(&run->waiters) || (run->fn->type == MH_FN_STATIC && !run->stale) || run->finished) return;
  if (run->ncall)
    run->fn->native->cancel(run->ncall);
  else if (run->ecall)
    run->host->engine->cancel(run->ecall);
}

int mh_dispatch_invalidate(mh_host *host, const char *name, const mh_value *args) {
  mh_fn *fn = mh_registry_get(&host->registry, name);
  if (!fn) return -1;
  mh_events_emit(host, &(mh_event){.kind = MH_EV_CACHE_INVALIDATED, .function = name});
  int dropped = 0;
  /* A run in flight may have read what the caller just changed: it is
   * detached (stale), so that later calls start afresh and its result is
   * not kept; without this the invalidate was lost to the run's result. */
  if (fn->type == MH_FN_STATIC && fn->static_run) {
    fn->static_run->stale = true;
    fn->static_run = NULL;
  }
  if (fn->type == MH_FN_STATIC && fn->static_value) {
    mh_value_free(fn->static_value);
    fn->static_value = NULL;
    dropped = 1;
  }
  if (!fn->cache) return dropped;
  if (!args) {
    for (size_t i = 0; i < fn->runs.cap; i++)
      if (mh_map_live(&fn->runs.slots[i])) ((mh_run *)fn->runs.slots[i].value)->stale = true;
    mh_map_free(&fn->runs);
    mh_cache_stats st;
    mh_cache_get_stats(fn->cache, &st);
    mh_cache_clear(fn->cache);
    return (int)st.entries;
  }
  mh_buf key = MH_BUF_INIT;
  if (mh_value_canonical(args, &key) == 0) {
    mh_run *run = mh_map_del(&fn->runs, key.data, key.len);
    if (run) run->stale = true;
    dropped = mh_cache_drop(fn->cache, key.data, key.len);
  }
  mh_buf_free(&key);
  return dropped;
}

void mh_dispatch_orphan_runs(mh_host *host) {
  mh_list_each_safe(pos, &host->runs) {
    mh_run *run = mh_container_of(pos, mh_run, link);
    mh_list_remove(&run->link);
    run->host = NULL;
  }
}

/* What the inspector lists as calls and streams open: one entry per run. */
static mh_value *run_value(const mh_run *run, uint64_t now) {
  mh_value *o = mh_value_new(MH_V_OBJECT);
  if (!o) return NULL;
  size_t callers = run->anon;
  mh_list_each(pos, &run->waiters) callers++;
  mh_value_obj_set(o, "function", mh_value_cstring(run->fn->name));
  mh_value_obj_set(o, "type", mh_value_cstring(mh_fn_type_name(run->fn->type)));
  mh_value_obj_set(o, "stream", mh_value_bool(run->fn->stream));
  mh_value_obj_set(o, "callers", mh_value_int((int64_t)callers));
  mh_value_obj_set(o, "ms", mh_value_int((int64_t)((now - run->t0) / 1000000u)));
  mh_value_obj_set(o, "paused", mh_value_bool(run->paused));
  return o;
}

mh_value *mh_dispatch_runs(mh_host *host) {
  mh_value *out = mh_value_new(MH_V_ARRAY);
  uint64_t now = uv_hrtime();
  if (!out) return NULL;
  mh_list_each(pos, &host->runs) {
    const mh_run *run = mh_container_of(pos, mh_run, link);
    if (!run->finished && mh_value_push(out, run_value(run, now))) break;
  }
  return out;
}
