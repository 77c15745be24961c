/* A stream function called over HTTP answers oRPC 1.x's event iterator:
 * 200 text/event-stream at once (so a failure of the handler, even before
 * its first chunk, is an `event: error` the client's iterator throws),
 * then one SSE event per chunk, and the end. The body has no length: the
 * connection closes after it (mh_http_stream_begin).
 *
 * Backpressure: each chunk is queued on the exchange; the dispatcher stops
 * the producer while the queue is over limits.stream_queue_bytes, and the
 * exchange's on_drain (a write left less than one write queued) lets it go
 * on. The client leaving cancels the call: its on_cancel cleanups run. */
#include <stdlib.h>

#include "call/dispatch.h"
#include "call/host.h"
#include "call/stream.h"
#include "codec/sse.h"
#include "core/finish_watch.h"
#include "core/log.h"
#include "core/timer.h"
#include "transport/http.h"
#include "transport/http_call.h"
#include "transport/orpc.h"

typedef struct stream_op {
  mh_http_exchange *x;
  mh_waiter *w;
  mh_timer *keepalive;
  bool *finished;   /* mh_finish_watch: it may end inside mh_dispatch_stream */
  bool wrote;       /* something went out since the last keep-alive tick */
} stream_op;

/* Queues the text of one event; the bytes queued. */
static size_t send_event(stream_op *op, const char *event, const char *id, int64_t retry_ms, const mh_buf *data) {
  mh_buf b = MH_BUF_INIT;
  size_t queued = 0;
  if (mh_sse_event(&b, event, id, retry_ms, data ? data->data : NULL, data ? data->len : 0) == 0) {
    queued = mh_http_stream_write(op->x, b.data, b.len);
    op->wrote = true;
  } else {
    mh_log_warn("http", "%s: out of memory framing a stream event: dropped", op->x->path);
  }
  mh_buf_free(&b);
  return queued;
}

static size_t on_chunk(void *ud, const mh_value *value, const mh_chunk_meta *meta) {
  stream_op *op = ud;
  mh_buf data = MH_BUF_INIT;
  mh_error *err = NULL;
  size_t queued;
  if (mh_orpc_encode(value, &data, &err) == 0) {
    queued = send_event(op, "message", meta ? meta->id : NULL, meta ? meta->retry_ms : -1, &data);
  } else {
    /* A value Lua could convert but oRPC cannot carry (not expected: both
     * take the same types): logged, the reader gets undefined in its place. */
    mh_log_warn("http", "%s: cannot send a chunk: %s", op->x->path, err->message);
    queued = send_event(op, "message", NULL, -1, NULL);
  }
  mh_error_free(err);
  mh_buf_free(&data);
  return queued;
}

static const mh_stream_sink sink = {.on_chunk = on_chunk};

static void stop_keepalive(stream_op *op) {
  if (op->keepalive) mh_timer_stop(op->keepalive);
  op->keepalive = NULL;
}

/* The run's end: a final value (`done`, when there is one) or an error. */
static void on_end(void *ud, const mh_value *result, const mh_error *err) {
  stream_op *op = ud;
  mh_http_exchange *x = op->x;
  mh_buf data = MH_BUF_INIT;
  op->w = NULL;
  x->on_abort = NULL;
  x->on_drain = NULL;
  x->ud = NULL;
  stop_keepalive(op);
  mh_error *enc_err = NULL;
  if (!err && result->type != MH_V_UNDEFINED && mh_orpc_encode(result, &data, &enc_err)) err = enc_err;
  if (err) {
    mh_buf_reset(&data);
    mh_orpc_error_body(err, &data);
    mh_log_debug("http", "%s: stream ended with an error: %s", x->path, err->message);
    send_event(op, "error", NULL, -1, &data);
  } else if (result->type != MH_V_UNDEFINED) {
    send_event(op, "done", NULL, -1, &data);
  }
  mh_error_free(enc_err);
  mh_buf_free(&data);
  mh_http_stream_end(x);
  mh_finish_mark(op->finished);
  free(op);
}

/* The client left (x->conn is NULL): the producer is cancelled. */
static void on_abort(mh_http_exchange *x, bool timed_out) {
  (void)timed_out; /* a stream has no request timeout (mh_http_stream_begin) */
  stream_op *op = x->ud;
  x->on_abort = NULL;
  x->on_drain = NULL;
  x->ud = NULL;
  stop_keepalive(op);
  mh_log_debug("http", "%s: the reader left; stream cancelled", x->path);
  if (op->w) mh_dispatch_cancel(op->w);
  free(op);
  mh_http_stream_end(x); /* frees x */
}

static void on_drain(mh_http_exchange *x) {
  stream_op *op = x->ud;
  if (op && op->w) mh_dispatch_drained(op->w);
}

/* A comment when nothing went out for a whole interval, as oRPC's server
 * does, so that proxies and the client's reader keep the stream open. */
static void keepalive_tick(void *ud) {
  stream_op *op = ud;
  op->keepalive = NULL; /* a fired timer frees itself */
  if (!op->wrote) {
    mh_buf b = MH_BUF_INIT;
    if (mh_sse_comment(&b, "") == 0) mh_http_stream_write(op->x, b.data, b.len);
    mh_buf_free(&b);
  }
  op->wrote = false;
  op->keepalive = mh_timer_start(op->x->host->loop, op->x->host->cfg->http.sse_keepalive_ms, keepalive_tick, op);
}

void mh_orpc_stream(mh_http_exchange *x, const char *name, mh_value *args) {
  char last_event_id[1024];
  int idlen = mh_http_req_header(x, "last-event-id", last_event_id, sizeof last_event_id);
  stream_op *op = idlen == -2 ? NULL : calloc(1, sizeof *op);
  if (!op) {
    mh_value_free(args);
    /* Read as absent, a long id would restart the stream from its start:
     * the reader would get what it had again. */
    if (idlen == -2)
      mh_orpc_respond_error(x, 400, MH_ERR_BAD_REQUEST, "Last-Event-ID is longer than 1023 bytes");
    else
      mh_orpc_respond_error(x, 500, MH_ERR_INTERNAL, "out of memory");
    return;
  }
  bool resumed = idlen >= 0;
  op->x = x;
  x->ud = op;
  x->on_abort = on_abort;
  x->on_drain = on_drain;
  mh_orpc_cors(x);
  mh_http_header(x, "cache-control", "no-cache");
  mh_http_stream_begin(x, 200, "text/event-stream");
  mh_buf b = MH_BUF_INIT;
  if (mh_sse_comment(&b, "") == 0) mh_http_stream_write(x, b.data, b.len);
  mh_buf_free(&b);
  op->keepalive = mh_timer_start(x->host->loop, x->host->cfg->http.sse_keepalive_ms, keepalive_tick, op);
  mh_finish_watch watch;
  mh_finish_watch_begin(&watch, &op->finished);
  mh_caller caller = mh_http_caller(x);
  mh_waiter *w = mh_dispatch_stream(x->host, &caller, name, args, &sink, resumed ? last_event_id : NULL, on_end, op);
  if (!mh_finish_watch_end(&watch)) op->w = w;
}
