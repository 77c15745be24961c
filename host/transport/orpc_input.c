/* oRPC streamed inputs (orpc.h): the body of a call whose input is an
 * async iterator, decoded as it comes. The layers, each incremental and
 * bounded: the chunked transfer coding (http_conn.c with codec/chunked.c;
 * each chunk at most limits.max_message_bytes), server-sent events (codec/sse_parse.c; each
 * event's data at most limits.max_message_bytes), oRPC's {json, meta} per
 * item; all of it together at most limits.max_input_stream_bytes. Items go
 * to a fed upload the handler reads as an iterator; while it holds
 * INPUT_HIGH_WATER items unread the socket is not read (backpressure, up to
 * the request timeout). Hostile input ends the iterator with a clear error
 * (400 or 413, which is the answer when the handler lets it through) and
 * the rest of the body is dropped; the connection closes after the answer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call/host.h"
#include "codec/sse.h"
#include "core/log.h"
#include "session/devframe_upload.h"
#include "transport/http.h"
#include "transport/orpc.h"

/* Items a handler may hold unread before the socket stops being read. */
#define INPUT_HIGH_WATER 64

struct mh_orpc_input {
  mh_http_exchange *x; /* the request, until the call ended */
  mh_host *host;
  mh_sse_parser sse;
  char id[40];
  uint64_t total; /* event-stream bytes read */
  bool paused;    /* the socket is not read (the handler is behind) */
  bool ended;     /* the upload has its end: what follows is dropped */
};

static void finish(mh_orpc_input *in, mh_value *done, mh_error *err) {
  in->ended = true;
  mh_df_upload_finish(in->host, MH_ORPC_INPUT_CHANNEL, in->id, done, err);
}

/* Hostile or broken input: the iterator ends with this error. */
static void fail(mh_orpc_input *in, const char *code, const char *why) {
  mh_log_warn_limited("http", "%s: streamed input refused: %s", in->x ? in->x->path : "?", why);
  finish(in, NULL, mh_error_new(code, "streamed input: %s", why));
}

static void on_room(void *ud) {
  mh_orpc_input *in = ud;
  if (!in->paused) return;
  in->paused = false;
  if (!in->x) return;
  mh_log_debug("http", "%s: streamed input: reading resumed", in->x->path);
  mh_http_pause_body(in->x, false);
}

/* The handler took an item: the request moves (its timeout counts from here). */
static void on_take(void *ud) {
  mh_orpc_input *in = ud;
  if (in->x) mh_http_body_moved(in->x);
}

static void push(mh_orpc_input *in, mh_value *v) {
  long queued = mh_df_upload_push(in->host, MH_ORPC_INPUT_CHANNEL, in->id, v);
  if (queued < 0) {
    /* The handler stopped reading (cancelled it, or it is full despite the
     * pause: lws handed over more than a read's worth at once). */
    in->ended = true;
    if (queued == -2) fail(in, MH_ERR_OVERLOADED, "the handler's input queue is full");
    return;
  }
  if (queued >= INPUT_HIGH_WATER && !in->paused && in->x) {
    in->paused = true;
    mh_log_debug("http", "%s: streamed input: the handler holds %ld items: reading paused", in->x->path, queued);
    mh_http_pause_body(in->x, true);
  }
}

/* {json, meta} to a value; UNDEFINED for no data. NULL when it failed (the input ended). */
static mh_value *decode(mh_orpc_input *in, const char *data, size_t n) {
  if (!data) return mh_value_undefined();
  mh_error *err = NULL;
  mh_value *v = mh_orpc_decode_json(data, n, &in->host->codec_limits, &err);
  if (!v) {
    char why[300];
    snprintf(why, sizeof why, "an event's data: %s", err ? err->message : "malformed");
    fail(in, MH_ERR_BAD_REQUEST, why);
  }
  mh_error_free(err);
  return v;
}

/* One event: 0 to read on, -1 when the input ended. */
static int on_event(void *ud, const char *type, const char *data, size_t n) {
  mh_orpc_input *in = ud;
  if (strcmp(type, "message") == 0) {
    if (!data) {
      fail(in, MH_ERR_BAD_REQUEST, "an `event: message` without a data line");
      return -1;
    }
    mh_value *v = decode(in, data, n);
    if (!v) return -1;
    push(in, v);
    return in->ended ? -1 : 0;
  }
  if (strcmp(type, "done") == 0 || strcmp(type, "error") == 0) {
    mh_value *v = decode(in, data, n);
    if (!v) return -1;
    if (type[0] == 'd') {
      if (v->type == MH_V_UNDEFINED) {
        mh_value_free(v);
        v = NULL;
      }
      finish(in, v, NULL);
    } else {
      mh_error *err = mh_error_from_value(v);
      mh_value_free(v);
      finish(in, NULL, err);
    }
    return -1;
  }
  char why[128];
  snprintf(why, sizeof why, "an event of unknown type '%.32s' (message, done or error)", type);
  fail(in, MH_ERR_BAD_REQUEST, why);
  return -1;
}

/* Event-stream bytes (the chunked layer's output). */
static int on_stream_bytes(void *ud, const char *data, size_t n) {
  mh_orpc_input *in = ud;
  if (in->ended) return -1;
  in->total += n;
  if (in->total > in->host->cfg->limits.max_input_stream_bytes) {
    fail(in, MH_ERR_TOO_LARGE, "over limits.max_input_stream_bytes in all");
    return -1;
  }
  if (mh_sse_parse(&in->sse, data, n, on_event, in) == 0) return 0;
  if (!in->ended)
    fail(in, in->sse.too_large ? MH_ERR_TOO_LARGE : MH_ERR_INTERNAL,
         in->sse.too_large ? "an event over limits.max_message_bytes" : "out of memory");
  return -1;
}

static void on_body(mh_http_exchange *x, const char *data, size_t len) {
  mh_orpc_input *in = x->body_ud;
  if (!in->ended) on_stream_bytes(in, data, len);
}

static void on_body_end(mh_http_exchange *x, const char *error, bool too_large) {
  mh_orpc_input *in = x->body_ud;
  if (in->ended) return;
  if (error)
    fail(in, too_large ? MH_ERR_TOO_LARGE : MH_ERR_BAD_REQUEST, error);
  else
    finish(in, NULL, NULL); /* the body ended without a done event: the iterator returned nothing */
}

mh_orpc_input *mh_orpc_input_begin(mh_http_exchange *x, const char *plugin, uint32_t generation, char *id,
                                   mh_error **err) {
  mh_orpc_input *in = calloc(1, sizeof *in);
  if (!in) {
    *err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
    return NULL;
  }
  in->x = x;
  in->host = x->host;
  mh_sse_parser_init(&in->sse, x->host->cfg->limits.max_message_bytes);
  mh_df_upload_owner owner = {.plugin = plugin, .generation = generation};
  mh_df_upload_feed feed = {.high_water = INPUT_HIGH_WATER, .on_room = on_room, .on_take = on_take, .ud = in};
  if (mh_df_upload_open_fed(x->host, &owner, MH_ORPC_INPUT_CHANNEL, &feed, in->id, sizeof in->id, err)) {
    mh_sse_parser_free(&in->sse);
    free(in);
    return NULL;
  }
  memcpy(id, in->id, 33);
  id[32] = '\0';
  if (x->chunked) {
    x->on_body = on_body;
    x->on_body_end = on_body_end;
    x->body_ud = in;
  } else { /* a whole body (Content-Length): read at once */
    if (on_stream_bytes(in, x->body.data ? x->body.data : "", x->body.len) == 0 && !in->ended) finish(in, NULL, NULL);
  }
  return in;
}

void mh_orpc_input_end(mh_http_exchange *x, mh_orpc_input *in) {
  if (!in) return;
  if (x) {
    x->on_body = NULL;
    x->on_body_end = NULL;
    x->body_ud = NULL;
    if (in->paused) mh_http_pause_body(x, false); /* lws' flow control holds writes back too */
  }
  mh_df_upload_close_fed(in->host, MH_ORPC_INPUT_CHANNEL, in->id);
  mh_sse_parser_free(&in->sse);
  free(in);
}
