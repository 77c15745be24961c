/* MCP sessions: initialize opens one and answers its id in Mcp-Session-Id;
 * every later request of the client carries it. A session holds when it
 * was last used and at most one open GET stream, on which the host tells
 * the client that the tool list changed: what a client may do is decided
 * by its token on every request, never by the session. The count is
 * bounded, so clients that never say goodbye (DELETE) cannot grow the
 * table. */
#include <stdlib.h>
#include <string.h>

#include "call/events.h"
#include "call/host.h"
#include "codec/codec.h"
#include "codec/sse.h"
#include "core/log.h"
#include "core/random_hex.h"
#include "core/map.h"
#include "core/timer.h"
#include "transport/http.h"
#include "transport/mcp.h"

struct mh_mcp_sessions {
  mh_host *host;
  mh_map by_id;         /* id -> mh_mcp_session */
  bool listening;       /* to the host's events, since the first stream opened */
  uint64_t tools_hash;  /* of the tool list the streams were last told about */
  /* Counts opens and uses: the order of use. A clock in milliseconds gave
   * sessions opened in the same millisecond the same age, and the one
   * ended to make room was then any of them. */
  uint64_t uses;
};

typedef struct mh_mcp_session {
  mh_mcp_sessions *store;
  uint64_t last_used; /* the store's uses when it was last used */
  mh_http_exchange *stream; /* the open GET stream, or NULL */
  mh_timer *keepalive;
} mh_mcp_session;

/* ---- streams ---- */

static void stop_keepalive(mh_mcp_session *sess) {
  if (sess->keepalive) mh_timer_stop(sess->keepalive);
  sess->keepalive = NULL;
}

/* Ends the session's stream (the connection closes once it is written). */
static void end_stream(mh_mcp_session *sess) {
  mh_http_exchange *x = sess->stream;
  if (!x) return;
  stop_keepalive(sess);
  sess->stream = NULL;
  x->on_abort = NULL;
  x->ud = NULL;
  mh_http_stream_end(x);
}

/* The client left, or the server is going: the stream is over. */
static void on_abort(mh_http_exchange *x, bool timed_out) {
  (void)timed_out; /* a stream has no request timeout */
  mh_mcp_session *sess = x->ud;
  end_stream(sess); /* frees x: its connection is gone */
}

static void write_event(mh_mcp_session *sess, const char *json) {
  mh_buf b = MH_BUF_INIT;
  if (mh_sse_event(&b, "message", NULL, -1, json, strlen(json)) == 0) mh_http_stream_write(sess->stream, b.data, b.len);
  mh_buf_free(&b);
}

/* A comment every http.sse_keepalive_ms, so that the client's reader (Node's
 * fetch gives up on a body silent for 5 minutes) and proxies keep it open. */
static void keepalive_tick(void *ud) {
  mh_mcp_session *sess = ud;
  sess->keepalive = NULL; /* a fired timer frees itself */
  mh_buf b = MH_BUF_INIT;
  if (mh_sse_comment(&b, "") == 0) mh_http_stream_write(sess->stream, b.data, b.len);
  mh_buf_free(&b);
  mh_host *h = sess->store->host;
  sess->keepalive = mh_timer_start(h->loop, h->cfg->http.sse_keepalive_ms, keepalive_tick, sess);
}

/* A hash of the tool list as tools/list would answer it now. */
static uint64_t tools_hash(mh_host *h) {
  mh_value *list = mh_mcp_tools_list(h);
  mh_buf b = MH_BUF_INIT;
  mh_error *err = NULL;
  uint64_t hash = 0;
  if (list && mh_codec_json.encode(list, &b, &err) == 0) hash = mh_hash_bytes(b.data, b.len);
  mh_error_free(err);
  mh_buf_free(&b);
  mh_value_free(list);
  return hash;
}

/* A plugin loaded or went away: when that changed the tool list, every
 * open stream is told (the client then lists again). */
static void on_event(mh_host *h, const mh_event *ev, void *ud) {
  mh_mcp_sessions *s = ud;
  if (ev->kind != MH_EV_FUNCTIONS_CHANGED) return;
  uint64_t hash = tools_hash(h);
  if (hash == s->tools_hash) {
    mh_log_debug("mcp", "the tool list is unchanged (%s): nobody told", ev->plugin ? ev->plugin : "-");
    return;
  }
  s->tools_hash = hash;
  size_t told = 0;
  for (size_t i = 0; i < s->by_id.cap; i++) {
    if (!mh_map_live(&s->by_id.slots[i])) continue;
    mh_mcp_session *sess = s->by_id.slots[i].value;
    if (!sess->stream) continue;
    write_event(sess, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}");
    told++;
  }
  mh_log_debug("mcp", "the tool list changed (%s): %zu stream(s) told", ev->plugin ? ev->plugin : "-", told);
}

int mh_mcp_session_stream(mh_mcp_sessions *s, const char *id, mh_http_exchange *x) {
  mh_mcp_session *sess = s ? mh_map_get(&s->by_id, id, strlen(id)) : NULL;
  if (!sess) return -1;
  if (sess->stream) return 1;
  if (!s->listening) {
    if (mh_events_listen(s->host, on_event, s)) return -2;
    s->listening = true;
    s->tools_hash = tools_hash(s->host);
  }
  mh_http_stream_begin(x, 200, "text/event-stream");
  sess->stream = x;
  x->ud = sess;
  x->on_abort = on_abort;
  mh_buf b = MH_BUF_INIT;
  if (mh_sse_comment(&b, "moonhost MCP notifications") == 0) mh_http_stream_write(x, b.data, b.len);
  mh_buf_free(&b);
  sess->keepalive = mh_timer_start(s->host->loop, s->host->cfg->http.sse_keepalive_ms, keepalive_tick, sess);
  return 0;
}

/* ---- the table ---- */

static void session_free(mh_mcp_session *sess) {
  if (!sess) return;
  end_stream(sess);
  free(sess);
}

void mh_mcp_sessions_free(mh_mcp_sessions *s) {
  if (!s) return;
  if (s->listening) mh_events_unlisten(s->host, on_event, s);
  for (size_t i = 0; i < s->by_id.cap; i++)
    if (mh_map_live(&s->by_id.slots[i])) session_free(s->by_id.slots[i].value);
  mh_map_free(&s->by_id);
  free(s);
}

/* Ends the session used least recently, to make room. */
static void evict_oldest(mh_mcp_sessions *s) {
  mh_map_slot *oldest = NULL;
  for (size_t i = 0; i < s->by_id.cap; i++) {
    mh_map_slot *slot = &s->by_id.slots[i];
    if (!mh_map_live(slot)) continue;
    if (!oldest || ((mh_mcp_session *)slot->value)->last_used < ((mh_mcp_session *)oldest->value)->last_used)
      oldest = slot;
  }
  if (oldest) session_free(mh_map_del(&s->by_id, oldest->key, oldest->keylen));
}

int mh_mcp_session_open(mh_mcp_sessions **store, mh_host *h, char id[MH_MCP_SESSION_ID_LEN + 1]) {
  if (!*store) {
    if (!(*store = calloc(1, sizeof **store))) return -1;
    (*store)->host = h;
  }
  mh_mcp_sessions *s = *store;
  if (mh_random_hex(id, MH_MCP_SESSION_ID_LEN / 2)) return -1;
  if (s->by_id.len >= MH_MCP_MAX_SESSIONS) evict_oldest(s);
  mh_mcp_session *sess = calloc(1, sizeof *sess);
  if (!sess) return -1;
  sess->store = s;
  sess->last_used = ++s->uses;
  if (mh_map_put(&s->by_id, id, MH_MCP_SESSION_ID_LEN, sess)) {
    free(sess);
    return -1;
  }
  return 0;
}

bool mh_mcp_session_touch(mh_mcp_sessions *s, const char *id) {
  mh_mcp_session *sess = s ? mh_map_get(&s->by_id, id, strlen(id)) : NULL;
  if (sess) sess->last_used = ++s->uses;
  return sess != NULL;
}

bool mh_mcp_session_close(mh_mcp_sessions *s, const char *id) {
  mh_mcp_session *sess = s ? mh_map_del(&s->by_id, id, strlen(id)) : NULL;
  bool found = sess != NULL;
  session_free(sess);
  return found;
}
