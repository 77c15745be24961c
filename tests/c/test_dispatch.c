/* The caching dispatcher (host/call/dispatch.c) driven through a real host with
 * the fake engine (fake_engine.c): no Lua is linked into this test.
 *
 *   static   one run per generation, concurrent first calls share it, a
 *            reload or an invalidate gives a new run, a waiter leaving
 *            does not cancel it
 *   query    identical concurrent calls share one run, other args do not
 *            (object key order does not matter)
 *   cache    hit / miss / TTL on the loop clock / LRU bound, failures not
 *            kept, mh_dispatch_invalidate of all or one argument list, also
 *            while a run is in flight (it is then neither joined nor kept)
 *   cancel   a run nobody waits for is cancelled, a shared one is not; a
 *            reply may cancel another waiter of its run
 *   misc     unknown and optional functions, synchronous completion,
 *            events, the caller's id reaching the engine, the
 *            cache-invalidated host event
 *
 * Timeouts: the dispatcher owns none. A handler's budget (lua.max_run_ms,
 * lua.instruction_budget) belongs to the engine, a client's wait to its
 * transport (limits.call_timeout_ms in client.c / mesh_relay.c); what the
 * dispatcher owns is the cache TTL, read on the loop clock (test_ttl). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "call/dispatch.h"
#include "fake_engine.h"
#include "call/plugin.h"

static fake_plugin demo = {
  .name = "demo",
  .fns = {{.name = "demo:static", .type = MH_FN_STATIC},
          {.name = "demo:q", .type = MH_FN_QUERY},
          {.name = "demo:cq", .type = MH_FN_QUERY, .cached = true, .max_entries = 2},
          {.name = "demo:ttl", .type = MH_FN_QUERY, .cached = true, .ttl_ms = 5},
          {.name = "demo:act", .type = MH_FN_ACTION},
          {.name = "demo:ev", .type = MH_FN_EVENT},
          {.name = "demo:sync", .type = MH_FN_QUERY, .sync = true}},
};

static fake_fixture fx;
static mh_host *H;

static void setup(void) {
  fake_reset();
  fake_define(&demo);
  if (fake_fixture_init(&fx)) exit(2);
  H = &fx.host;
  fake_load(H, "demo", NULL, NULL);
  CHECK(mh_registry_get(&H->registry, "demo:q") != NULL);
}

/* Everything the host held is released: no engine left, no contract broken. */
static void teardown(void) {
  fake_fixture_free(&fx);
  CHECK(fake_all_released());
  fake_reset();
}

/* args: integers, as a positional ARRAY */
static mh_value *ints(int n, ...) {
  mh_value *a = mh_value_new(MH_V_ARRAY);
  va_list ap;
  va_start(ap, n);
  for (int i = 0; i < n; i++) mh_value_push(a, mh_value_int(va_arg(ap, int)));
  va_end(ap);
  return a;
}

static mh_waiter *call(const char *name, mh_value *args, fake_reply *r) {
  return mh_dispatch(H, NULL, name, args, false, fake_on_reply, r);
}

/* mh_dispatch_invalidate borrows its args */
static int invalidate(const char *name, mh_value *args) {
  int n = mh_dispatch_invalidate(H, name, args);
  mh_value_free(args);
  return n;
}

static mh_fn *fn(const char *name) { return mh_registry_get(&H->registry, name); }

static void test_static(void) {
  setup();
  fake_reply a = {0}, b = {0}, c = {0};
  CHECK(call("demo:static", ints(0), &a) != NULL);
  CHECK(call("demo:static", ints(1, 7), &b) != NULL); /* args do not matter: one run */
  CHECK(fake_counts.calls == 1);
  fake_complete(fake_running("demo:static", 0), mh_value_int(42));
  CHECK(fake_reply_int(&a, 42) && fake_reply_int(&b, 42));
  /* memoized: answered before mh_dispatch returns, no run */
  CHECK(call("demo:static", ints(0), &c) == NULL);
  CHECK(fake_reply_int(&c, 42));
  CHECK(fake_counts.calls == 1);
  CHECK(fn("demo:static")->stats.runs == 1 && fn("demo:static")->stats.shared == 1 &&
        fn("demo:static")->stats.hits == 1);
  fake_reply_clear(&c);

  /* invalidate forgets the value: the next call runs again */
  CHECK(mh_dispatch_invalidate(H, "demo:static", NULL) == 1);
  CHECK(call("demo:static", ints(0), &c) != NULL);
  CHECK(fake_counts.calls == 2);
  fake_complete(fake_running("demo:static", 0), mh_value_int(43));
  CHECK(fake_reply_int(&c, 43));
  fake_reply_clear(&c);

  /* a reload is a new generation: a new static run on the new engine */
  fake_load(H, "demo", NULL, NULL);
  CHECK(call("demo:static", ints(0), &c) != NULL);
  CHECK(fake_counts.calls == 3 && fake_last_call()->engine->number == 2);
  fake_complete(fake_last_call(), mh_value_int(44));
  CHECK(fake_reply_int(&c, 44));
  fake_reply_clear(&a), fake_reply_clear(&b), fake_reply_clear(&c);
  teardown();
}

/* Waiters leaving a static run do not stop it: its value is kept for the
 * next caller, who would otherwise start it again. */
static void test_static_not_cancelled(void) {
  setup();
  fake_reply a = {0}, b = {0}, c = {0};
  mh_waiter *wa = call("demo:static", ints(0), &a), *wb = call("demo:static", ints(0), &b);
  mh_dispatch_cancel(wa);
  mh_dispatch_cancel(wb);
  mh_engine_call *run = fake_running("demo:static", 0);
  CHECK(run && !run->cancelled && fake_counts.cancels == 0);
  /* a new caller joins the run that is still going */
  CHECK(call("demo:static", ints(0), &c) != NULL);
  CHECK(fake_counts.calls == 1);
  fake_complete(run, mh_value_int(5));
  CHECK(a.calls == 0 && b.calls == 0 && fake_reply_int(&c, 5));
  fake_reply_clear(&c);
  CHECK(call("demo:static", ints(0), &c) == NULL && fake_reply_int(&c, 5));
  fake_reply_clear(&c);
  teardown();
}

static mh_value *obj2(const char *k1, int v1, const char *k2, int v2) {
  mh_value *o = mh_value_new(MH_V_OBJECT), *a = mh_value_new(MH_V_ARRAY);
  mh_value_obj_set(o, k1, mh_value_int(v1));
  mh_value_obj_set(o, k2, mh_value_int(v2));
  mh_value_push(a, o);
  return a;
}

static void test_query_sharing(void) {
  setup();
  fake_reply a = {0}, b = {0}, c = {0}, d = {0}, e = {0};
  call("demo:q", ints(1, 1), &a);
  call("demo:q", ints(1, 1), &b); /* joins */
  call("demo:q", ints(1, 2), &c); /* other args: a run of its own */
  CHECK(fake_counts.calls == 2);
  CHECK(fn("demo:q")->stats.shared == 1);
  /* canonical arguments: object keys in any order are the same call */
  call("demo:q", obj2("x", 1, "y", 2), &d);
  call("demo:q", obj2("y", 2, "x", 1), &e);
  CHECK(fake_counts.calls == 3);
  mh_engine_call *r1 = fake_running("demo:q", 0), *r2 = fake_running("demo:q", 1);
  CHECK(r1->args->u.arr.len == 1 && r1->args->u.arr.items[0]->u.i == 1);
  fake_complete(r1, mh_value_int(10));
  CHECK(fake_reply_int(&a, 10) && fake_reply_int(&b, 10) && c.calls == 0);
  fake_fail(r2, MH_ERR_INTERNAL, "boom"); /* an error reaches every waiter too */
  CHECK(fake_reply_err(&c, MH_ERR_INTERNAL) && strcmp(c.err->message, "boom") == 0);
  fake_complete(fake_running("demo:q", 0), mh_value_int(30));
  CHECK(fake_reply_int(&d, 30) && fake_reply_int(&e, 30));
  CHECK(fn("demo:q")->stats.errors == 1);
  /* finished runs are not shared any more, and an uncached query keeps nothing */
  fake_reply_clear(&a);
  call("demo:q", ints(1, 1), &a);
  CHECK(fake_counts.calls == 4 && a.calls == 0);
  fake_complete(fake_running("demo:q", 0), mh_value_int(11));
  CHECK(fake_reply_int(&a, 11));
  /* actions are never shared */
  fake_reply f = {0}, g = {0};
  call("demo:act", ints(1, 1), &f);
  call("demo:act", ints(1, 1), &g);
  CHECK(fake_counts.calls == 6);
  fake_complete(fake_running("demo:act", 0), mh_value_int(1));
  fake_complete(fake_running("demo:act", 0), mh_value_int(2));
  CHECK(fake_reply_int(&f, 1) && fake_reply_int(&g, 2));
  fake_reply *all[] = {&a, &b, &c, &d, &e, &f, &g};
  for (size_t i = 0; i < 7; i++) fake_reply_clear(all[i]);
  teardown();
}

/* Calls demo:cq(arg); if it runs, completes it with `value`. Returns whether it ran. */
static bool cq(int arg, int value, fake_reply *r) {
  fake_reply_clear(r);
  int before = fake_counts.calls;
  mh_waiter *w = call("demo:cq", ints(1, arg), r);
  if (fake_counts.calls == before) {
    CHECK(w == NULL);
    return false;
  }
  fake_complete(fake_last_call(), mh_value_int(value));
  return true;
}

static void test_cache(void) {
  setup();
  fake_reply r = {0};
  CHECK(cq(1, 10, &r) && fake_reply_int(&r, 10)); /* miss: runs */
  CHECK(!cq(1, 99, &r) && fake_reply_int(&r, 10)); /* hit */
  CHECK(cq(2, 20, &r));
  CHECK(!cq(1, 99, &r)); /* 1 is now the most recent */
  CHECK(cq(3, 30, &r));  /* max_entries 2: evicts 2, the least recent */
  CHECK(!cq(1, 99, &r) && fake_reply_int(&r, 10));
  CHECK(!cq(3, 99, &r) && fake_reply_int(&r, 30));
  CHECK(cq(2, 21, &r) && fake_reply_int(&r, 21)); /* evicts 1 */
  mh_fn_stats *st = &fn("demo:cq")->stats;
  CHECK(st->hits == 4 && st->misses == 4 && st->runs == 4);

  /* invalidate one argument list */
  CHECK(invalidate("demo:cq", ints(1, 2)) == 1);
  CHECK(invalidate("demo:cq", ints(1, 2)) == 0);
  CHECK(!cq(3, 99, &r));
  CHECK(cq(2, 22, &r) && fake_reply_int(&r, 22));
  /* invalidate all */
  CHECK(mh_dispatch_invalidate(H, "demo:cq", NULL) == 2);
  CHECK(cq(3, 31, &r) && fake_reply_int(&r, 31));
  CHECK(mh_dispatch_invalidate(H, "demo:none", NULL) == -1);
  CHECK(mh_dispatch_invalidate(H, "demo:q", NULL) == 0); /* not cached: nothing to drop */

  /* a failure is not cached */
  fake_reply_clear(&r);
  call("demo:cq", ints(1, 4), &r);
  fake_fail(fake_last_call(), MH_ERR_INTERNAL, "no");
  CHECK(fake_reply_err(&r, MH_ERR_INTERNAL));
  CHECK(cq(4, 40, &r) && fake_reply_int(&r, 40));
  fake_reply_clear(&r);
  teardown();
}

/* An invalidate while a run is in flight: the run may have read the data
 * before it changed, so its answer goes to its callers but is not kept, and
 * calls after the invalidate do not join it (they used to, and the stale
 * result then stayed cached: the invalidate was lost). */
static void test_invalidate_in_flight(void) {
  setup();
  fake_reply a = {0}, b = {0}, c = {0};
  call("demo:cq", ints(1, 1), &a);
  mh_engine_call *old = fake_last_call();
  CHECK(invalidate("demo:cq", NULL) == 0);
  call("demo:cq", ints(1, 1), &b); /* a new run, not the stale one */
  CHECK(fake_counts.calls == 2);
  mh_engine_call *fresh = fake_last_call();
  fake_complete(old, mh_value_int(1));
  CHECK(fake_reply_int(&a, 1) && b.calls == 0);
  fake_complete(fresh, mh_value_int(2));
  CHECK(fake_reply_int(&b, 2));
  CHECK(call("demo:cq", ints(1, 1), &c) == NULL && fake_reply_int(&c, 2)); /* the fresh result is kept */
  fake_reply_clear(&a), fake_reply_clear(&b), fake_reply_clear(&c);

  /* the same for one argument list; other arguments keep sharing */
  call("demo:cq", ints(1, 5), &a);
  old = fake_last_call();
  call("demo:cq", ints(1, 6), &c);
  CHECK(invalidate("demo:cq", ints(1, 5)) == 0);
  call("demo:cq", ints(1, 5), &b);
  CHECK(fake_counts.calls == 5);
  fresh = fake_last_call();
  fake_complete(old, mh_value_int(5));
  fake_complete(fresh, mh_value_int(55));
  CHECK(fake_reply_int(&a, 5) && fake_reply_int(&b, 55));
  fake_reply_clear(&b);
  CHECK(call("demo:cq", ints(1, 5), &b) == NULL && fake_reply_int(&b, 55));
  fake_reply_clear(&b);
  CHECK(call("demo:cq", ints(1, 6), &b) != NULL && fake_counts.calls == 5); /* 6 still shares */
  fake_complete(fake_running("demo:cq", 0), mh_value_int(6));
  CHECK(fake_reply_int(&b, 6) && fake_reply_int(&c, 6));
  fake_reply_clear(&a), fake_reply_clear(&b), fake_reply_clear(&c);

  /* a static run: not memoized; once nobody waits it is cancelled, since
   * nobody can join it any more */
  mh_waiter *w = call("demo:static", ints(0), &a);
  old = fake_last_call();
  CHECK(invalidate("demo:static", NULL) == 0);
  call("demo:static", ints(0), &b);
  CHECK(fake_last_call() != old);
  fresh = fake_last_call();
  mh_dispatch_cancel(w);
  CHECK(old->cancelled && !fresh->finished);
  fake_complete(fresh, mh_value_int(7));
  CHECK(a.calls == 0 && fake_reply_int(&b, 7));
  CHECK(call("demo:static", ints(0), &c) == NULL && fake_reply_int(&c, 7));
  fake_reply_clear(&a), fake_reply_clear(&b), fake_reply_clear(&c);
  teardown();
}

static void on_timer(uv_timer_t *t) { uv_close((uv_handle_t *)t, NULL); }

/* The TTL is read on the loop's clock: an entry is served until the loop
 * time passes its expiry, then the call runs again. */
static void test_ttl(void) {
  setup();
  fake_reply r = {0};
  call("demo:ttl", ints(1, 1), &r);
  fake_complete(fake_last_call(), mh_value_int(1));
  fake_reply_clear(&r);
  CHECK(call("demo:ttl", ints(1, 1), &r) == NULL && fake_reply_int(&r, 1)); /* same loop time: a hit */
  /* let the loop clock move past the 5 ms TTL */
  uv_timer_t t;
  uv_timer_init(&fx.loop, &t);
  uv_timer_start(&t, on_timer, 6, 0);
  uint64_t start = uv_now(&fx.loop);
  uv_run(&fx.loop, UV_RUN_DEFAULT);
  CHECK(uv_now(&fx.loop) - start >= 5);
  fake_reply_clear(&r);
  CHECK(call("demo:ttl", ints(1, 1), &r) != NULL); /* expired: runs */
  fake_complete(fake_last_call(), mh_value_int(2));
  CHECK(fake_reply_int(&r, 2));
  fake_reply_clear(&r);
  teardown();
}

static void test_cancel(void) {
  setup();
  fake_reply a = {0}, b = {0};
  /* alone: the run is cancelled, the reply never comes */
  mh_waiter *w = call("demo:q", ints(1, 1), &a);
  mh_engine_call *run = fake_last_call();
  mh_dispatch_cancel(w);
  CHECK(run->finished && run->cancelled && a.calls == 0);
  /* the cancelled run is gone: the same call starts a new one */
  w = call("demo:q", ints(1, 1), &a);
  CHECK(fake_counts.calls == 2);
  /* shared: one waiter leaving does not cancel the other's run */
  mh_waiter *wb = call("demo:q", ints(1, 1), &b);
  CHECK(wb && fake_counts.calls == 2);
  mh_dispatch_cancel(w);
  run = fake_last_call();
  CHECK(!run->finished && fake_counts.cancels == 1);
  fake_complete(run, mh_value_int(3));
  CHECK(a.calls == 0 && fake_reply_int(&b, 3));
  /* an action is cancelled like a query */
  fake_reply_clear(&b);
  mh_dispatch_cancel(call("demo:act", ints(0), &b));
  CHECK(fake_last_call()->cancelled && b.calls == 0);
  /* a cached query's cancelled run leaves nothing in the cache */
  mh_dispatch_cancel(call("demo:cq", ints(1, 9), &b));
  CHECK(fake_last_call()->cancelled);
  CHECK(call("demo:cq", ints(1, 9), &b) != NULL);
  fake_complete(fake_last_call(), mh_value_int(9));
  CHECK(fake_reply_int(&b, 9));
  CHECK(fake_counts.cancels == 3);
  fake_reply_clear(&b);
  teardown();
}

/* A reply that cancels another waiter of the same run (a caller giving up
 * the rest of what it waited for): that waiter is not answered, and the
 * dispatcher does not touch it after it was freed (ASan). */
typedef struct cancel_other {
  fake_reply r;
  mh_waiter *other;
} cancel_other;

static void reply_cancel_other(void *ud, const mh_value *result, const mh_error *err) {
  cancel_other *co = ud;
  fake_on_reply(&co->r, result, err);
  if (co->other) mh_dispatch_cancel(co->other);
  co->other = NULL;
}

static void test_reply_cancels_other(void) {
  setup();
  cancel_other a = {0};
  fake_reply b = {0}, c = {0};
  mh_dispatch(H, NULL, "demo:q", ints(1, 1), false, reply_cancel_other, &a);
  a.other = call("demo:q", ints(1, 1), &b);
  call("demo:q", ints(1, 1), &c);
  CHECK(fake_counts.calls == 1 && a.other);
  fake_complete(fake_last_call(), mh_value_int(1));
  CHECK(fake_reply_int(&a.r, 1) && b.calls == 0 && fake_reply_int(&c, 1));
  CHECK(fake_counts.cancels == 0);
  fake_reply_clear(&a.r), fake_reply_clear(&c);
  teardown();
}


static int invalidated;
static void on_event(mh_host *h, const mh_event *ev, void *ud) {
  (void)h, (void)ud;
  if (ev->kind == MH_EV_CACHE_INVALIDATED && strcmp(ev->function, "demo:cq") == 0) invalidated++;
}

static void test_misc(void) {
  setup();
  fake_reply r = {0};
  /* unknown: not_found at once; optional: undefined */
  CHECK(call("demo:nope", ints(0), &r) == NULL && fake_reply_err(&r, MH_ERR_NOT_FOUND));
  fake_reply_clear(&r);
  CHECK(mh_dispatch(H, NULL, "demo:nope", ints(0), true, fake_on_reply, &r) == NULL);
  CHECK(r.calls == 1 && r.result && r.result->type == MH_V_UNDEFINED);
  fake_reply_clear(&r);
  /* a handler that completes inside `call`: answered before dispatch returns */
  CHECK(call("demo:sync", ints(0), &r) == NULL && fake_reply_int(&r, fake_counts.calls));
  fake_reply_clear(&r);
  /* an event: no reply; its run still happens and its failure is logged */
  CHECK(mh_dispatch(H, NULL, "demo:ev", ints(1, 1), false, NULL, NULL) == NULL);
  fake_fail(fake_last_call(), MH_ERR_INTERNAL, "event failed (expected in this test)");
  /* the caller's id reaches the engine */
  mh_caller caller = {.id = "c42"};
  mh_dispatch(H, &caller, "demo:act", ints(0), false, fake_on_reply, &r);
  CHECK(fake_last_call()->caller && strcmp(fake_last_call()->caller, "c42") == 0);
  fake_complete(fake_last_call(), mh_value_int(1));
  CHECK(fake_reply_int(&r, 1));
  /* a function found already (mh_dispatch_fn) runs, is shared and counted
   * as one called by name */
  fake_reply_clear(&r);
  fake_reply s = {0};
  uint64_t calls = fn("demo:q")->stats.calls;
  CHECK(mh_dispatch_fn(H, NULL, fn("demo:q"), ints(1, 7), fake_on_reply, &r) != NULL);
  call("demo:q", ints(1, 7), &s); /* joins the run mh_dispatch_fn started */
  CHECK(fn("demo:q")->stats.calls == calls + 2 && fn("demo:q")->stats.shared >= 1);
  fake_complete(fake_running("demo:q", 0), mh_value_int(70));
  CHECK(fake_reply_int(&r, 70) && fake_reply_int(&s, 70));
  fake_reply_clear(&s);
  fake_reply_clear(&r);
  CHECK(mh_dispatch_fn(H, NULL, fn("demo:sync"), ints(0), fake_on_reply, &r) == NULL && r.calls == 1);
  fake_reply_clear(&r);
  /* invalidating is a host event (sessions tell their clients) */
  CHECK(mh_events_listen(H, on_event, NULL) == 0);
  mh_dispatch_invalidate(H, "demo:cq", NULL);
  CHECK(invalidated == 1);
  /* builtins need no engine */
  fake_reply_clear(&r);
  CHECK(call("moonhost:functions", ints(0), &r) == NULL && r.result && r.result->type == MH_V_ARRAY);
  size_t ndemo = 0;
  for (size_t i = 0; r.result && i < r.result->u.arr.len; i++) {
    const mh_value *p = mh_value_obj_get(r.result->u.arr.items[i], "plugin");
    ndemo += p && p->type == MH_V_STRING && strcmp(p->u.str.ptr, "demo") == 0;
  }
  CHECK(ndemo == 7);
  fake_reply_clear(&r);
  teardown();
}

int main(void) {
  mh_log_set_level(MH_LOG_ERROR);
  test_static();
  test_static_not_cancelled();
  test_query_sharing();
  test_cache();
  test_ttl();
  test_invalidate_in_flight();
  test_cancel();
  test_reply_cancels_other();
  test_misc();
  if (!check_failures) printf("test_dispatch: ok\n");
  return check_failures ? 1 : 0;
}
