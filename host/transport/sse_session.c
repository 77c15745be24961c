/* An SSE session: one client of the host carried by an event stream (down)
 * and POSTs (up), as devframe 1.3's SSE transport speaks it. Everything
 * about envelopes, trust, limits and calls is mh_client's job, as for a
 * WebSocket connection (ws_conn.c); this file frames, queues and ends.
 *
 * Lifetime. The session lives as long as its GET's response: when the
 * reader goes away (on_stream_gone) or the host ends it (ops close, a slow
 * consumer), the client is gone (its calls cancelled, calls to it failed),
 * POSTs still waiting get 409 and later POSTs naming it 400. The host ends
 * it from a zero-delay timer, never inside the client's ops: those run
 * inside loops over the clients, which must not free one. */
#include "transport/sse_session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call/host.h"
#include "codec/sse.h"
#include "core/log.h"
#include "core/random_hex.h"
#include "core/timer.h"
#include "session/auth.h"
#include "session/client.h"
#include "transport/conn.h"
#include "transport/http.h"
#include "transport/orpc.h"

/* A POST waiting for the answer to its frame. */
typedef struct sse_post {
  mh_list link; /* session->posts */
  mh_sse_session *ss;
  mh_http_exchange *x;
  uint64_t tag;
} sse_post;

/* The same slow-consumer rule as a WebSocket client's (ws_conn.c,
 * docs/security.md): over limits.send_queue_bytes and taking nothing from
 * the queue for two checks, or over 4 x the limit at once. */
#define STALL_CHECK_MS 250
#define STALL_HARD_FACTOR 4

static mh_host *host_of(const mh_sse_session *ss) { return ss->server->host; }

/* ---- the end ---- */

static void cors(mh_http_exchange *x) { mh_orpc_cors(x); }

static void post_free(sse_post *p) {
  mh_list_remove(&p->link);
  p->x->on_abort = NULL;
  p->x->ud = NULL;
  free(p);
}

/* Ends the session now (from a timer, or from the stream's close). */
static void session_end(mh_sse_session *ss, bool stream_gone) {
  mh_timer_stop(ss->keepalive);
  mh_timer_stop(ss->stall_timer);
  mh_timer_stop(ss->end_timer);
  ss->keepalive = ss->stall_timer = ss->end_timer = NULL;
  ss->closing = true;
  mh_map_del(&ss->server->sse_sessions, ss->id, MH_SSE_ID_LEN);
  mh_log_debug("sse", "%s disconnected", ss->client->id);
  mh_client_gone(ss->client);
  ss->client = NULL;
  mh_list_each_safe(pos, &ss->posts) {
    sse_post *p = mh_container_of(pos, sse_post, link);
    mh_http_exchange *x = p->x;
    post_free(p);
    cors(x);
    mh_http_respond_text(x, 409, "SSE session closed before the call was answered\n");
  }
  mh_http_exchange *x = ss->stream;
  x->on_abort = NULL;
  x->ud = NULL;
  if (ss->cut && !stream_gone)
    mh_http_stream_abort(x);
  else
    mh_http_stream_end(x); /* flushes what is queued; frees x when its connection is gone */
  free(ss);
}

static void end_now(void *ud) {
  mh_sse_session *ss = ud;
  ss->end_timer = NULL; /* a fired timer frees itself */
  session_end(ss, false);
}

/* Ends the session at the loop's next turn. */
static void end_soon(mh_sse_session *ss) {
  ss->closing = true;
  if (!ss->end_timer) ss->end_timer = mh_timer_start(host_of(ss)->loop, 0, end_now, ss);
}

/* The reader went away (x->conn is NULL): the session ends with it. */
static void on_stream_gone(mh_http_exchange *x, bool timed_out) {
  (void)timed_out; /* a stream has no request timeout (mh_http_stream_begin) */
  session_end(x->ud, true);
}

/* ---- the stream ---- */

static void write_text(mh_sse_session *ss, const mh_buf *b) {
  mh_http_stream_write(ss->stream, b->data, b->len);
  ss->handed += b->len;
  ss->wrote = true;
}

static void drop_slow(mh_sse_session *ss, const char *why) {
  mh_log_warn("sse", "%s: send queue over %zu bytes (slow consumer): closing (%s)", ss->client->id,
              host_of(ss)->cfg->limits.send_queue_bytes, why);
  mh_metrics_close(&host_of(ss)->metrics, 1008);
  ss->cut = true; /* nothing more will be written to it: the queue goes with it */
  end_soon(ss);
}

static void stall_check(void *ud) {
  mh_sse_session *ss = ud;
  ss->stall_timer = NULL; /* a fired timer frees itself */
  if (ss->closing) return;
  size_t backlog = mh_http_stream_backlog(ss->stream);
  if (backlog <= host_of(ss)->cfg->limits.send_queue_bytes) return; /* caught up */
  uint64_t taken = ss->handed - backlog;
  if (taken != ss->taken_mark) {
    ss->taken_mark = taken;
    ss->stall_strikes = 0;
  } else if (++ss->stall_strikes >= 2) {
    drop_slow(ss, "it read nothing for two checks");
    return;
  }
  ss->stall_timer = mh_timer_start(host_of(ss)->loop, STALL_CHECK_MS, stall_check, ss);
}

/* Queues one birpc frame as `event: message`. */
static int stream_send(mh_sse_session *ss, const char *data, size_t len) {
  if (ss->closing) return -1;
  mh_host *h = host_of(ss);
  size_t limit = h->cfg->limits.send_queue_bytes;
  if (mh_http_stream_backlog(ss->stream) + len > limit * STALL_HARD_FACTOR) {
    drop_slow(ss, "over 4 x the limit at once");
    return -1;
  }
  mh_buf b = MH_BUF_INIT;
  if (mh_sse_event(&b, "message", NULL, -1, data, len)) {
    mh_buf_free(&b);
    return -1;
  }
  write_text(ss, &b);
  mh_buf_free(&b);
  h->metrics.bytes_sent += len; /* queued or written: it goes out unless the reader goes */
  if (mh_http_stream_backlog(ss->stream) > limit && !ss->stall_timer) {
    ss->taken_mark = ss->handed - mh_http_stream_backlog(ss->stream);
    ss->stall_strikes = 0;
    ss->stall_timer = mh_timer_start(h->loop, STALL_CHECK_MS, stall_check, ss);
  }
  return 0;
}

/* A comment when nothing went down for a whole interval, as devframe's
 * server does (`: ping`), so proxies keep an idle stream open. */
static void keepalive_tick(void *ud) {
  mh_sse_session *ss = ud;
  ss->keepalive = NULL; /* a fired timer frees itself */
  if (!ss->wrote) {
    mh_buf b = MH_BUF_INIT;
    if (mh_sse_comment(&b, "ping") == 0) write_text(ss, &b);
    mh_buf_free(&b);
  }
  ss->wrote = false;
  ss->keepalive = mh_timer_start(host_of(ss)->loop, host_of(ss)->cfg->http.sse_keepalive_ms, keepalive_tick, ss);
}

/* ---- the client's ops ---- */

static int op_send(void *transport, const char *data, size_t len) { return stream_send(transport, data, len); }

static sse_post *find_post(mh_sse_session *ss, uint64_t tag) {
  mh_list_each(pos, &ss->posts) {
    sse_post *p = mh_container_of(pos, sse_post, link);
    if (p->tag == tag) return p;
  }
  return NULL;
}

/* The answer to a call goes in the body of the POST that made it; when
 * that POST is gone (its client left, or it timed out with 202), down the
 * stream, where devframe's client takes it all the same. */
static int op_reply(void *transport, uint64_t tag, const char *data, size_t len) {
  mh_sse_session *ss = transport;
  if (ss->closing) return -1;
  sse_post *p = find_post(ss, tag);
  if (!p) return stream_send(ss, data, len);
  mh_http_exchange *x = p->x;
  post_free(p);
  cors(x);
  mh_http_respond(x, 200, "text/plain; charset=utf-8", data, len);
  return 0;
}

/* Ends the stream; the code and reason, which an event stream has no
 * frame for, go in a comment before the end. */
static void op_close(void *transport, int code, const char *reason) {
  mh_sse_session *ss = transport;
  if (ss->closing) return;
  mh_metrics_close(&host_of(ss)->metrics, code);
  mh_buf b = MH_BUF_INIT;
  if (mh_buf_appendf(&b, ": closed %d %s\n\n", code, reason) == 0) write_text(ss, &b);
  mh_buf_free(&b);
  end_soon(ss);
}

static size_t op_queued(void *transport) {
  const mh_sse_session *ss = transport;
  return ss->closing ? 0 : mh_http_stream_backlog(ss->stream);
}

static const mh_client_ops sse_client_ops = {.send = op_send, .close = op_close, .queued = op_queued, .reply = op_reply};

/* ---- requests ---- */

/* Like a WebSocket's upgrade URL: a token among the query arguments makes
 * the client trusted from the start (devframe's client sends
 * ?devframe_auth_token= on the GET and every POST). */
static void trust_from_query(mh_sse_session *ss, const mh_http_exchange *x) {
  /* Read whole: x->query leaves out arguments of 512 bytes or more, so a
   * longer token counted as "no token" (until 2026-12-03). */
  mh_buf v = MH_BUF_INIT;
  for (const char *const *p = mh_auth_token_params; *p; p++)
    if (mh_http_query_arg(x, *p, &v) == 1 && mh_auth_trust(ss->client, v.data)) break;
  mh_buf_free(&v);
}

static bool new_id(char *out) { return mh_random_hex(out, MH_SSE_ID_LEN / 2) == 0; }

/* Refuses a new session as a WebSocket upgrade would be (503: no close code here). */
static bool admit(mh_server *s, mh_http_exchange *x) {
  mh_host *h = s->host;
  const char *why = NULL;
  if (h->stopping) {
    h->metrics.refused[MH_REFUSED_SHUTDOWN]++;
    why = "server shutting down";
  } else if ((int)h->nclients >= h->cfg->limits.max_connections) {
    mh_log_warn_limited("sse", "session refused: %d connections already", h->cfg->limits.max_connections);
    h->metrics.refused[MH_REFUSED_TOO_MANY]++;
    why = "too many connections";
  }
  if (!why) return true;
  char text[64];
  snprintf(text, sizeof text, "%s\n", why);
  cors(x);
  mh_http_respond_text(x, 503, text);
  return false;
}

mh_sse_session *mh_sse_session_open(mh_server *s, mh_http_exchange *x) {
  if (!admit(s, x)) return NULL;
  mh_sse_session *ss = calloc(1, sizeof *ss);
  if (!ss || !new_id(ss->id) || !(ss->client = mh_client_new(s->host, &sse_client_ops, ss))) {
    free(ss);
    mh_http_respond_text(x, 500, "cannot open an SSE session (out of memory)\n");
    return NULL;
  }
  ss->server = s;
  ss->stream = x;
  mh_list_init(&ss->posts);
  if (mh_map_put(&s->sse_sessions, ss->id, MH_SSE_ID_LEN, ss)) {
    mh_client_gone(ss->client);
    free(ss);
    mh_http_respond_text(x, 500, "cannot open an SSE session (out of memory)\n");
    return NULL;
  }
  trust_from_query(ss, x);
  s->host->metrics.connections_accepted++;
  x->ud = ss;
  x->on_abort = on_stream_gone;
  cors(x);
  mh_http_header(x, "cache-control", "no-cache, no-transform");
  mh_http_header(x, "x-accel-buffering", "no"); /* nginx: pass each event on as it comes */
  mh_http_stream_begin(x, 200, "text/event-stream");
  mh_buf b = MH_BUF_INIT;
  if (mh_sse_event(&b, "session", NULL, -1, ss->id, MH_SSE_ID_LEN) == 0) write_text(ss, &b);
  mh_buf_free(&b);
  ss->keepalive = mh_timer_start(s->host->loop, s->host->cfg->http.sse_keepalive_ms, keepalive_tick, ss);
  mh_log_debug("sse", "%s connected (%s)", ss->client->id, ss->client->trusted ? "trusted" : "untrusted");
  return ss;
}

mh_sse_session *mh_sse_session_find(mh_server *s, const char *id) {
  if (strlen(id) != MH_SSE_ID_LEN) return NULL;
  mh_sse_session *ss = mh_map_get(&s->sse_sessions, id, MH_SSE_ID_LEN);
  return ss && !ss->closing ? ss : NULL;
}

/* The POST's client left before its answer: the call runs on (as a
 * WebSocket client's would); its answer goes down the stream. Timed out
 * (http.request_timeout_ms): 202, and the answer comes down the stream. */
static void on_post_abort(mh_http_exchange *x, bool timed_out) {
  sse_post *p = x->ud;
  post_free(p);
  if (!timed_out) {
    mh_http_respond_text(x, 499, ""); /* nobody reads it: this frees x */
    return;
  }
  mh_log_debug("sse", "POST %s: no answer within http.request_timeout_ms: 202, the answer will come on the stream",
               x->path);
  cors(x);
  mh_http_respond(x, 202, "text/plain; charset=utf-8", "", 0);
}

/* The same limit as a WebSocket frame's: smaller for an untrusted client. */
static size_t message_limit(const mh_sse_session *ss) {
  const mh_config *cfg = host_of(ss)->cfg;
  size_t max = cfg->limits.max_message_bytes;
  if (!ss->client->trusted && cfg->limits.untrusted_max_message_bytes < max) max = cfg->limits.untrusted_max_message_bytes;
  return max;
}

void mh_sse_session_post(mh_sse_session *ss, mh_http_exchange *x) {
  size_t max = message_limit(ss);
  if (x->body.len > max) {
    /* Rate-limited: a client can repeat such POSTs at will. */
    mh_log_warn_limited("sse", "%s: message over %zu bytes refused%s", ss->client->id, max,
                ss->client->trusted ? "" : " (untrusted client)");
    char text[96];
    snprintf(text, sizeof text, "message over %zu bytes%s\n", max, ss->client->trusted ? "" : " (untrusted client)");
    cors(x);
    mh_http_respond_text(x, 413, text);
    return;
  }
  sse_post *p = calloc(1, sizeof *p);
  if (!p) {
    mh_http_respond_text(x, 500, "out of memory\n");
    return;
  }
  p->ss = ss;
  p->x = x;
  p->tag = ++ss->next_tag;
  mh_list_insert_tail(&ss->posts, &p->link);
  x->ud = p;
  x->on_abort = on_post_abort;
  uint64_t tag = p->tag;
  bool owed = mh_client_on_tagged_frame(ss->client, x->body.data ? x->body.data : "", x->body.len, tag);
  p = find_post(ss, tag); /* answered already, maybe */
  if (!p || owed) return;
  /* An event, a reply to the host's call, a cancel: nothing to wait for. */
  post_free(p);
  cors(x);
  mh_http_respond(x, 202, "text/plain; charset=utf-8", "", 0);
}
