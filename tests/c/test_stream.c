/* Streams in the dispatcher (host/call/stream.h, dispatch.c) through a real
 * host with the fake engine, and the SSE framing (host/codec/sse.c):
 *
 *   reader   chunks reach the sink in order, the end reaches on_end, the
 *            reader's resume point reaches the engine
 *   bound    over limits.stream_queue_bytes the producer waits; drained
 *            lets it go on, once; a drained with nothing waiting is nothing
 *   runs     identical concurrent calls of a stream are never shared
 *   cancel   the reader leaving cancels the producer; no chunk or end
 *            reaches a reader that left
 *   refused  a stream without a sink (a WebSocket call, an event) is
 *            bad_request before its handler runs
 *   sse      events and comments as oRPC frames them; data lines split */
#include <stdlib.h>
#include <string.h>

#include "call/dispatch.h"
#include "call/plugin.h"
#include "call/stream.h"
#include "check.h"
#include "codec/sse.h"
#include "core/log.h"
#include "fake_engine.h"

static fake_plugin ticks = {
  .name = "ticks",
  .fns = {{.name = "ticks:s", .type = MH_FN_QUERY, .stream = true},
          {.name = "ticks:plain", .type = MH_FN_QUERY}},
};

static fake_fixture fx;
static mh_host *H;

static void setup(void) {
  fake_reset();
  fake_define(&ticks);
  if (fake_fixture_init(&fx)) exit(2);
  H = &fx.host;
  fake_load(H, "ticks", NULL, NULL);
  CHECK(mh_registry_get(&H->registry, "ticks:s") != NULL);
}

static void teardown(void) {
  fake_fixture_free(&fx);
  CHECK(fake_all_released());
  fake_reset();
}

/* A reader that records what it gets and reports `queued` bytes held. */
typedef struct reader {
  int chunks;
  int64_t last;
  size_t queued;
  fake_reply end;
} reader;

static size_t on_chunk(void *ud, const mh_value *value, const mh_chunk_meta *meta) {
  reader *r = ud;
  (void)meta;
  r->chunks++;
  if (value->type == MH_V_INT) r->last = value->u.i;
  return r->queued;
}

static const mh_stream_sink sink = {.on_chunk = on_chunk};

static void on_end(void *ud, const mh_value *result, const mh_error *err) {
  fake_on_reply(&((reader *)ud)->end, result, err);
}

static mh_waiter *read_stream(reader *r, const char *last_event_id) {
  return mh_dispatch_stream(H, NULL, "ticks:s", mh_value_new(MH_V_ARRAY), &sink, last_event_id, on_end, r);
}

static void test_reader(void) {
  setup();
  reader r = {0};
  mh_waiter *w = read_stream(&r, "41");
  mh_engine_call *c = fake_last_call();
  CHECK(w && c && c->stream && c->last_event_id && strcmp(c->last_event_id, "41") == 0);
  for (int i = 1; i <= 3; i++) CHECK(!fake_emit(c, mh_value_int(i)));
  CHECK(r.chunks == 3 && r.last == 3 && r.end.calls == 0);
  fake_complete(c, mh_value_int(99));
  CHECK(fake_reply_int(&r.end, 99));
  fake_reply_clear(&r.end);
  /* no resume point: NULL reaches the engine */
  reader r2 = {0};
  read_stream(&r2, NULL);
  CHECK(fake_last_call()->last_event_id == NULL);
  fake_complete(fake_last_call(), mh_value_null());
  fake_reply_clear(&r2.end);
  teardown();
}

static void test_bound(void) {
  setup();
  size_t bound = H->cfg->limits.stream_queue_bytes;
  reader r = {.queued = bound};
  mh_waiter *w = read_stream(&r, NULL);
  mh_engine_call *c = fake_last_call();
  CHECK(!fake_emit(c, mh_value_int(1))); /* at the bound: goes on */
  mh_dispatch_drained(w);                /* nothing waits: nothing happens */
  CHECK(c->drained == 0);
  r.queued = bound + 1;
  CHECK(fake_emit(c, mh_value_int(2)) && c->waiting); /* over it: waits */
  r.queued = 0;
  mh_dispatch_drained(w);
  mh_dispatch_drained(w); /* told once */
  CHECK(c->drained == 1 && !c->waiting);
  CHECK(!fake_emit(c, mh_value_int(3)) && r.chunks == 3);
  fake_complete(c, mh_value_null());
  CHECK(r.end.calls == 1 && !r.end.err);
  fake_reply_clear(&r.end);
  teardown();
}

static void test_runs_and_cancel(void) {
  setup();
  reader a = {0}, b = {0};
  mh_waiter *wa = read_stream(&a, NULL);
  mh_engine_call *ca = fake_last_call();
  read_stream(&b, NULL);
  mh_engine_call *cb = fake_last_call();
  CHECK(ca != cb && fake_running_count() == 2); /* never shared */
  CHECK(!fake_emit(cb, mh_value_int(7)) && b.chunks == 1 && a.chunks == 0);
  mh_dispatch_cancel(wa);
  CHECK(ca->cancelled && a.end.calls == 0);
  fake_complete(cb, mh_value_null());
  CHECK(b.end.calls == 1);
  fake_reply_clear(&b.end);
  /* a stream waiting for its reader is cancelled as any call */
  reader c = {.queued = SIZE_MAX};
  mh_waiter *wc = read_stream(&c, NULL);
  mh_engine_call *cc = fake_last_call();
  CHECK(fake_emit(cc, mh_value_int(1)));
  mh_dispatch_cancel(wc);
  CHECK(cc->cancelled && c.end.calls == 0 && cc->drained == 0);
  teardown();
}

static void test_refused(void) {
  setup();
  fake_reply r = {0};
  int calls = fake_counts.calls;
  CHECK(mh_dispatch(H, NULL, "ticks:s", mh_value_new(MH_V_ARRAY), false, fake_on_reply, &r) == NULL);
  CHECK(fake_reply_err(&r, MH_ERR_BAD_REQUEST) && strstr(r.err->message, "ticks:s is a stream"));
  fake_reply_clear(&r);
  CHECK(mh_dispatch_event(H, NULL, "ticks:s", mh_value_new(MH_V_ARRAY), false, fake_on_reply, &r) == NULL);
  CHECK(fake_reply_err(&r, MH_ERR_BAD_REQUEST));
  fake_reply_clear(&r);
  CHECK(fake_counts.calls == calls); /* no handler ran */
  /* a sink on a plain function: an ordinary call */
  reader p = {0};
  mh_dispatch_stream(H, NULL, "ticks:plain", mh_value_new(MH_V_ARRAY), &sink, NULL, on_end, &p);
  CHECK(fake_last_call()->stream == NULL);
  fake_complete(fake_last_call(), mh_value_int(5));
  CHECK(fake_reply_int(&p.end, 5));
  fake_reply_clear(&p.end);
  teardown();
}

static bool sse_is(const char *event, const char *id, int64_t retry, const char *data, const char *want) {
  mh_buf b = MH_BUF_INIT;
  bool ok = mh_sse_event(&b, event, id, retry, data, data ? strlen(data) : 0) == 0 && b.len == strlen(want) &&
            memcmp(b.data, want, b.len) == 0;
  if (!ok) fprintf(stderr, "sse: got %.*s", (int)b.len, b.data ? b.data : "");
  mh_buf_free(&b);
  return ok;
}

static void test_sse(void) {
  CHECK(sse_is("message", NULL, -1, "{\"json\":1}", "event: message\ndata: {\"json\":1}\n\n"));
  CHECK(sse_is("message", "7", 10, "x", "event: message\nretry: 10\nid: 7\ndata: x\n\n"));
  CHECK(sse_is("done", NULL, -1, NULL, "event: done\n\n"));
  CHECK(sse_is(NULL, NULL, -1, "", "data: \n\n"));
  CHECK(sse_is(NULL, NULL, -1, "a\nb\r\nc\rd\n", "data: a\ndata: b\ndata: c\ndata: d\ndata: \n\n"));
  mh_buf b = MH_BUF_INIT;
  CHECK(mh_sse_comment(&b, "") == 0 && b.len == 4 && memcmp(b.data, ": \n\n", 4) == 0);
  mh_buf_free(&b);
}

int main(void) {
  mh_log_set_level(MH_LOG_ERROR);
  test_reader();
  test_bound();
  test_runs_and_cancel();
  test_refused();
  test_sse();
  if (!check_failures) printf("test_stream: ok\n");
  return check_failures ? 1 : 0;
}
