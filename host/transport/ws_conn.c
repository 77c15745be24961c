/* The WebSocket half of a connection: framing limits and the send queue.
 * Everything about envelopes is mh_client's job. */
#include <stdlib.h>
#include <string.h>

#include "session/auth.h"
#include "transport/conn.h"
#include "call/host.h"
#include "core/log.h"
#include "core/timer.h"

bool mh_ws_path_ok(const char *path) {
  return strcmp(path, "/") == 0 || strcmp(path, "/__ws") == 0 || strcmp(path, "/__devtools/__ws") == 0;
}

static void request_close(mh_conn *c, int code, const char *reason) {
  if (c->close_code) return;
  c->close_code = code;
  mh_metrics_close(&c->server->host->metrics, code);
  snprintf(c->close_reason, sizeof c->close_reason, "%s", reason);
  lws_callback_on_writable(c->wsi);
}

static void free_queue(mh_conn *c) {
  for (ws_msg *m = c->head, *next; m; m = next) {
    next = m->next;
    free(m);
  }
  c->head = c->tail = NULL;
  c->queued = 0;
}

/* ---- slow consumers ----
 *
 * limits.send_queue_bytes judges each client by what it leaves unread, not
 * by what the host queued for it. A handler that broadcasts more than the
 * limit in one run queues it for every client before the loop writes
 * anything, so a queue over the limit proves nothing yet. It is checked every
 * STALL_CHECK_MS: a client that took no frame from its queue over two checks
 * in a row (the loop polled its socket in between) is dropped with 1008;
 * one that reads is left alone, however far behind the burst put it. To
 * bound memory meanwhile, a queue that would pass STALL_HARD_FACTOR times
 * the limit is dropped at once, whoever the client is: a burst that big in
 * one handler run still drops every client (docs/security.md). */
#define STALL_CHECK_MS 250
#define STALL_HARD_FACTOR 4
#define SLOW_HANGUP_S 5

static void drop_slow(mh_conn *c, const char *why) {
  mh_log_warn("ws", "%s: send queue over %zu bytes (slow consumer): closing (%s)", c->client->id,
              c->server->host->cfg->limits.send_queue_bytes, why);
  free_queue(c); /* nothing more will be written to it: give the memory back now */
  request_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "send queue full");
  /* The close frame goes out when the socket has room for it, which a
   * client that reads nothing may never give: hang up regardless after
   * SLOW_HANGUP_S (that client then sees the connection end without a code). */
  lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, SLOW_HANGUP_S);
}

static void stall_check(void *ud) {
  mh_conn *c = ud;
  c->stall_timer = NULL; /* it freed itself */
  if (!c->client || c->close_code) return;
  if (c->queued <= c->server->host->cfg->limits.send_queue_bytes) return; /* caught up */
  if (c->written != c->written_mark) {
    c->written_mark = c->written;
    c->stall_strikes = 0;
  } else if (++c->stall_strikes >= 2) {
    drop_slow(c, "it read nothing for two checks");
    return;
  }
  c->stall_timer = mh_timer_start(c->server->host->loop, STALL_CHECK_MS, stall_check, c);
}

/* The queue just went over the limit: start watching it. */
static void watch_backlog(mh_conn *c) {
  if (c->stall_timer) return;
  c->written_mark = c->written;
  c->stall_strikes = 0;
  c->stall_timer = mh_timer_start(c->server->host->loop, STALL_CHECK_MS, stall_check, c);
}

/* Frames up to this size are written from a buffer on the stack: no
 * malloc and free per reply or per client of a broadcast. */
#define DIRECT_MAX 4096

/* One frame written at once (lws keeps what the kernel did not take). */
static int write_now(mh_conn *c, const char *data, size_t len) {
  unsigned char small[LWS_PRE + DIRECT_MAX];
  unsigned char *buf = len <= DIRECT_MAX ? small : malloc(LWS_PRE + len);
  if (!buf) return -1;
  memcpy(buf + LWS_PRE, data, len); /* lws writes the frame header in the LWS_PRE bytes before it */
  int n = lws_write(c->wsi, buf + LWS_PRE, len, LWS_WRITE_TEXT);
  if (buf != small) free(buf);
  if (n < 0) request_close(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "write failed");
  return n < 0 ? -1 : 0;
}

static int conn_send(void *transport, const char *data, size_t len) {
  mh_conn *c = transport;
  if (c->close_code) return -1;
  size_t limit = c->server->host->cfg->limits.send_queue_bytes;
  if (c->queued + len > limit * STALL_HARD_FACTOR) {
    drop_slow(c, "over 4 x the limit at once");
    return -1;
  }
  c->server->host->metrics.bytes_sent += len; /* queued or written: it goes out unless the client goes */
  /* Nothing waiting: write now. Going through the writeable callback costs
   * two epoll_ctl round trips per frame (a third of the CPU of a call,
   * bench/results.md); lws_write never blocks, and if the kernel takes only
   * part of the frame (or none) lws keeps the rest and reports it partially
   * buffered until it has sent it, so order and flow control hold. That flag
   * is checked rather than lws_send_pipe_choked(), which costs a poll()
   * system call per frame. */
  if (!c->head && !lws_partial_buffered(c->wsi)) return write_now(c, data, len);
  ws_msg *m = malloc(sizeof *m + LWS_PRE + len);
  if (!m) return -1;
  m->next = NULL;
  m->len = len;
  memcpy(m->data + LWS_PRE, data, len);
  if (c->tail)
    c->tail->next = m;
  else
    c->head = m;
  c->tail = m;
  c->queued += len;
  if (c->queued > limit) watch_backlog(c);
  lws_callback_on_writable(c->wsi);
  return 0;
}

static void conn_close(void *transport, int code, const char *reason) { request_close(transport, code, reason); }

static size_t conn_queued(void *transport) { return ((mh_conn *)transport)->queued; }

static const mh_client_ops ws_client_ops = {.send = conn_send, .close = conn_close, .queued = conn_queued};

/* A token in the upgrade URL makes the client trusted from the start. */
static void trust_from_query(mh_conn *c) {
  char buf[256];
  for (const char *const *p = mh_auth_token_params; *p; p++) {
    char name[64];
    snprintf(name, sizeof name, "%s=", *p);
    const char *v = lws_get_urlarg_by_name(c->wsi, name, buf, sizeof buf);
    if (v && mh_auth_trust(c->client, v)) return;
  }
}

int mh_ws_established(mh_conn *c, struct lws *wsi, mh_server *s) {
  mh_host *h = s->host;
  memset(c, 0, sizeof *c);
  c->wsi = wsi;
  c->server = s;
  c->client = mh_client_new(h, &ws_client_ops, c);
  if (!c->client) return -1;
  trust_from_query(c);
  if (h->stopping) {
    h->metrics.refused[MH_REFUSED_SHUTDOWN]++;
    request_close(c, LWS_CLOSE_STATUS_GOINGAWAY, "server shutting down");
  } else if ((int)h->nclients > h->cfg->limits.max_connections) {
    /* rate-limited, as every line a client can cause at will; the count is
     * in /metrics (moonhost_connections_refused_total{reason="too_many"}) */
    mh_log_warn_limited("ws", "connection refused: %d connections already", h->cfg->limits.max_connections);
    h->metrics.refused[MH_REFUSED_TOO_MANY]++;
    request_close(c, 1013 /* try again later */, "too many connections");
  } else {
    h->metrics.connections_accepted++;
  }
  mh_log_debug("ws", "%s connected (%s)", c->client->id, c->client->trusted ? "trusted" : "untrusted");
  return 0;
}

/* Writes one queued frame. Returns -1 to close the connection. */
int mh_ws_writeable(mh_conn *c) {
  if (!c->client) return 0;
  if (c->close_code && (!c->head || c->close_code != LWS_CLOSE_STATUS_GOINGAWAY)) {
    /* lws 4.1 drops the socket without a close frame when this callback
     * returns -1, even after lws_close_reason() (the client sees 1006), so
     * write the close frame ourselves: the 2-byte code, then the reason.
     * The opcode is lws's internal LWS_WRITE_CLOSE (4), which its public
     * header no longer names. */
    unsigned char frame[LWS_PRE + 2 + sizeof c->close_reason];
    size_t rlen = strlen(c->close_reason);
    frame[LWS_PRE] = (unsigned char)(c->close_code >> 8);
    frame[LWS_PRE + 1] = (unsigned char)(c->close_code & 0xff);
    memcpy(frame + LWS_PRE + 2, c->close_reason, rlen);
    lws_write(c->wsi, frame + LWS_PRE, 2 + rlen, (enum lws_write_protocol)4);
    return -1;
  }
  /* Write what is queued until the socket would block: one frame per
   * callback let a prompt reader's queue grow past send_queue_bytes when
   * replies and broadcasts arrive faster than the loop turns. */
  size_t before = c->queued, bound = c->server->host->cfg->limits.stream_queue_bytes;
  while (c->head && !lws_partial_buffered(c->wsi)) {
    ws_msg *m = c->head;
    c->head = m->next;
    if (!c->head) c->tail = NULL;
    c->queued -= m->len;
    int n = lws_write(c->wsi, m->data + LWS_PRE, m->len, LWS_WRITE_TEXT);
    free(m);
    if (n < 0) return -1;
    c->written++;
  }
  if (c->head || c->close_code) lws_callback_on_writable(c->wsi);
  if (before > bound && c->queued <= bound) mh_client_drained(c->client); /* streams waiting on it go on */
  return 0;
}

static int refuse(mh_conn *c, int code, const char *reason) {
  mh_metrics_close(&c->server->host->metrics, code);
  lws_close_reason(c->wsi, (enum lws_close_status)code, (unsigned char *)reason, strlen(reason));
  return -1;
}

/* A client without a token gets a smaller limit: all it may call is the
 * handshake, and every byte it sends is decoded (and buffered) before we
 * know the call will be refused. */
static size_t message_limit(const mh_conn *c) {
  const mh_config *cfg = c->server->host->cfg;
  size_t max = cfg->limits.max_message_bytes;
  if (!c->client->trusted && cfg->limits.untrusted_max_message_bytes < max) max = cfg->limits.untrusted_max_message_bytes;
  return max;
}

/* Unmasked client frames: RFC 6455 5.1 says a server must close the
 * connection (1002) on a frame from a client that is not masked. lws 4.1
 * does not check it (lws_ws_rx_sm() reads the mask bit and goes on; the
 * check came upstream only in 2026, warmcat/libwebsockets cae06c63a), has
 * no option for it, and hands us the payload already unmasked: neither
 * the mask bit nor the raw frame reaches this callback, so it cannot be
 * enforced here. Masking protects proxies and caches from frames a
 * browser's page chose (browsers always mask); a client that does not mask
 * is not a browser and could send anything anyway (docs/security.md). */
int mh_ws_receive(mh_conn *c, const void *in, size_t len) {
  if (!c->client || c->close_code) return 0;
  c->server->host->metrics.bytes_received += len;
  size_t max = message_limit(c);
  if (lws_frame_is_binary(c->wsi)) {
    mh_log_warn_limited("ws", "%s: binary frame refused", c->client->id);
    return refuse(c, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, "binary frames are not supported");
  }
  /* Refuse as soon as the announced size is over the limit, before buffering it. */
  if (c->rx.len + len + lws_remaining_packet_payload(c->wsi) > max) {
    mh_log_warn_limited("ws", "%s: message over %zu bytes refused%s", c->client->id, max,
                c->client->trusted ? "" : " (untrusted client)");
    return refuse(c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message too large");
  }
  if (mh_buf_append(&c->rx, in, len)) return -1;
  if (!lws_is_final_fragment(c->wsi) || lws_remaining_packet_payload(c->wsi)) return 0;
  mh_client_on_frame(c->client, c->rx.data, c->rx.len);
  mh_buf_reset(&c->rx);
  if (c->rx.cap > 65536) mh_buf_free(&c->rx); /* don't keep a big buffer per idle connection */
  return 0;
}

void mh_ws_closed(mh_conn *c) {
  if (!c->client) return;
  mh_log_debug("ws", "%s disconnected", c->client->id);
  mh_timer_stop(c->stall_timer);
  c->stall_timer = NULL;
  mh_client_gone(c->client);
  c->client = NULL;
  free_queue(c);
  mh_buf_free(&c->rx);
}
