/* Plugin loads as transactions and generation lifetimes (host/call/plugin.c,
 * registry.c, dispatch.c) with the fake engine: no Lua is linked.
 *
 *   a setup or create that fails leaves the previous generation serving
 *   a reload swaps the whole function set in one step, when its load ends
 *   a call running on a retired generation completes, and the generation
 *   is destroyed only after it (and after its last function is released)
 *   a load overtaken by a newer one (or by an unload) is discarded
 *   a name taken by another plugin or the host fails the load and leaves
 *   the registry as it was
 *   unload removes the functions; shutdown with calls running */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "call/dispatch.h"
#include "fake_engine.h"
#include "call/plugin.h"

static fake_fixture fx;
static mh_host *H;

typedef struct load_result {
  int calls;
  char code[64]; /* "" on success */
} load_result;

static void on_loaded(mh_plugin *p, const mh_error *err, void *ud) {
  (void)p;
  load_result *r = ud;
  r->calls++;
  snprintf(r->code, sizeof r->code, "%s", err ? err->code : "");
}

static void setup(void) {
  fake_reset();
  if (fake_fixture_init(&fx)) exit(2);
  H = &fx.host;
}

static void teardown(void) {
  fake_fixture_free(&fx);
  CHECK(fake_all_released());
  fake_reset();
}

static mh_fn *fn(const char *name) { return mh_registry_get(&H->registry, name); }
static uint32_t gen_of(const char *name) { return fn(name) && fn(name)->gen ? fn(name)->gen->number : 0; }

static mh_waiter *call(const char *name, fake_reply *r) {
  return mh_dispatch(H, NULL, name, mh_value_new(MH_V_ARRAY), false, fake_on_reply, r);
}

static void test_failed_setup_keeps_old(void) {
  setup();
  fake_plugin p = {.name = "p", .fns = {{.name = "p:a", .type = MH_FN_ACTION, .sync = true}}};
  fake_define(&p);
  load_result lr = {0};
  fake_load(H, "p", on_loaded, &lr);
  CHECK(lr.calls == 1 && lr.code[0] == '\0' && gen_of("p:a") == 1);

  /* v2 registers two functions, then its setup fails */
  p.fns[1] = (fake_fn){.name = "p:b", .type = MH_FN_ACTION, .sync = true};
  p.setup_error = "setup failed (expected in this test)";
  fake_load(H, "p", on_loaded, &lr);
  CHECK(lr.calls == 2 && strcmp(lr.code, MH_ERR_INTERNAL) == 0);
  CHECK(gen_of("p:a") == 1 && !fn("p:b"));
  mh_engine *v2 = fake_engine_of("p", 2);
  CHECK(v2 && v2->destroyed && v2->registered == 2 && v2->released == 3u);
  CHECK(fake_engine_of("p", 1)->retired == 0 && !fake_engine_of("p", 1)->destroyed);
  fake_reply r = {0};
  CHECK(call("p:a", &r) == NULL && r.calls == 1 && !r.err); /* still served by generation 1 */
  fake_reply_clear(&r);

  /* the engine cannot even be created: the same */
  p.setup_error = NULL;
  p.create_error = "no engine (expected in this test)";
  fake_load(H, "p", on_loaded, &lr);
  CHECK(lr.calls == 3 && strcmp(lr.code, MH_ERR_INTERNAL) == 0);
  CHECK(gen_of("p:a") == 1 && !fn("p:b") && fake_counts.created == 2);
  teardown();
}

static void test_reload_swaps_at_once(void) {
  setup();
  fake_plugin p = {.name = "p",
                   .fns = {{.name = "p:a", .type = MH_FN_QUERY}, {.name = "p:keep", .type = MH_FN_QUERY}},
                   .load = FAKE_LOAD_LOOP};
  fake_define(&p);
  load_result lr = {0};
  fake_load(H, "p", on_loaded, &lr);
  CHECK(!fn("p:a") && lr.calls == 0); /* nothing until the load completes */
  uv_run(&fx.loop, UV_RUN_NOWAIT);
  CHECK(lr.calls == 1 && gen_of("p:a") == 1 && gen_of("p:keep") == 1);

  /* v2 drops p:a and adds p:b; until its load ends v1 serves */
  p.fns[0] = (fake_fn){.name = "p:b", .type = MH_FN_QUERY};
  fake_load(H, "p", on_loaded, &lr);
  CHECK(gen_of("p:a") == 1 && gen_of("p:keep") == 1 && !fn("p:b"));
  uv_run(&fx.loop, UV_RUN_NOWAIT);
  CHECK(lr.calls == 2 && lr.code[0] == '\0');
  CHECK(!fn("p:a") && gen_of("p:keep") == 2 && gen_of("p:b") == 2);
  mh_engine *v1 = fake_engine_of("p", 1);
  CHECK(v1->retired == 1 && v1->destroyed); /* no call was running on it */
  fake_reply r = {0};
  CHECK(call("p:a", &r) == NULL && fake_reply_err(&r, MH_ERR_NOT_FOUND));
  fake_reply_clear(&r);
  teardown();
}

/* A call running when its generation is replaced finishes there, and its
 * answer reaches the caller; only then is the old engine destroyed. Its
 * result does not go into the new generation's cache. */
static void test_call_outlives_generation(void) {
  setup();
  fake_plugin p = {.name = "p",
                   .fns = {{.name = "p:slow", .type = MH_FN_ACTION},
                           {.name = "p:c", .type = MH_FN_QUERY, .cached = true}}};
  fake_define(&p);
  fake_load(H, "p", NULL, NULL);
  fake_reply r = {0}, c = {0};
  call("p:slow", &r);
  call("p:c", &c);
  mh_engine_call *slow = fake_running("p:slow", 0), *cached = fake_running("p:c", 0);
  fake_load(H, "p", NULL, NULL);
  mh_engine *v1 = fake_engine_of("p", 1);
  CHECK(gen_of("p:slow") == 2);
  CHECK(v1->retired == 1 && !v1->destroyed && v1->running == 2);
  fake_complete(slow, mh_value_int(7));
  CHECK(fake_reply_int(&r, 7) && !v1->destroyed);
  fake_complete(cached, mh_value_int(8));
  CHECK(fake_reply_int(&c, 8) && v1->destroyed);
  /* the new generation's cache is empty: the call runs on generation 2 */
  fake_reply_clear(&c);
  CHECK(call("p:c", &c) != NULL && fake_last_call()->engine->number == 2);
  fake_complete(fake_last_call(), mh_value_int(9));
  CHECK(fake_reply_int(&c, 9));
  fake_reply_clear(&r), fake_reply_clear(&c);
  teardown();
}

static void test_superseded_load(void) {
  setup();
  fake_plugin p = {.name = "p", .fns = {{.name = "p:a", .type = MH_FN_ACTION}}, .load = FAKE_LOAD_MANUAL};
  fake_define(&p);
  load_result l1 = {0}, l2 = {0}, l3 = {0};
  fake_load(H, "p", on_loaded, &l1);
  fake_load(H, "p", on_loaded, &l2);
  /* the newer ends first: it wins; the older is then discarded */
  CHECK(fake_finish_load(fake_engine_of("p", 2)) == 0);
  CHECK(l2.calls == 1 && l2.code[0] == '\0' && gen_of("p:a") == 2);
  CHECK(fake_finish_load(fake_engine_of("p", 1)) == 0);
  CHECK(l1.calls == 1 && strcmp(l1.code, MH_ERR_CANCELLED) == 0 && gen_of("p:a") == 2);
  CHECK(fake_engine_of("p", 1)->destroyed && fake_engine_of("p", 1)->released == 1u);
  /* the older ends first: discarded all the same, the registry untouched */
  fake_load(H, "p", on_loaded, &l1);
  fake_load(H, "p", on_loaded, &l3);
  CHECK(fake_finish_load(fake_engine_of("p", 3)) == 0);
  CHECK(l1.calls == 2 && strcmp(l1.code, MH_ERR_CANCELLED) == 0 && gen_of("p:a") == 2);
  CHECK(fake_finish_load(fake_engine_of("p", 4)) == 0);
  CHECK(l3.calls == 1 && l3.code[0] == '\0' && gen_of("p:a") == 4);
  /* an unload overtakes a load still running */
  fake_load(H, "p", on_loaded, &l3);
  mh_plugin_unload(mh_plugin_find(H, "p"));
  CHECK(!fn("p:a"));
  CHECK(fake_finish_load(fake_engine_of("p", 5)) == 0);
  CHECK(l3.calls == 2 && strcmp(l3.code, MH_ERR_CANCELLED) == 0 && !fn("p:a"));
  CHECK(fake_live_engines() == 0);
  teardown();
}

static void test_name_conflicts(void) {
  setup();
  fake_plugin a = {.name = "a", .fns = {{.name = "x:f", .type = MH_FN_ACTION}}};
  fake_plugin b = {.name = "b",
                   .fns = {{.name = "b:g", .type = MH_FN_ACTION}, {.name = "x:f", .type = MH_FN_ACTION}}};
  fake_plugin c = {.name = "c",
                   .fns = {{.name = "c:g", .type = MH_FN_ACTION}, {.name = "moonhost:stats", .type = MH_FN_QUERY}}};
  fake_plugin d = {.name = "d",
                   .fns = {{.name = "d:g", .type = MH_FN_ACTION}, {.name = "d:g", .type = MH_FN_ACTION}}};
  fake_define(&a), fake_define(&b), fake_define(&c), fake_define(&d);
  load_result la = {0}, lb = {0}, lc = {0}, ld = {0};
  fake_load(H, "a", on_loaded, &la);
  size_t n = H->registry.by_name.len;
  /* taken by another plugin, by the host, twice by the same plugin */
  fake_load(H, "b", on_loaded, &lb);
  fake_load(H, "c", on_loaded, &lc);
  fake_load(H, "d", on_loaded, &ld);
  CHECK(strcmp(lb.code, MH_ERR_ALREADY_REGISTERED) == 0);
  CHECK(strcmp(lc.code, MH_ERR_ALREADY_REGISTERED) == 0);
  CHECK(strcmp(ld.code, MH_ERR_ALREADY_REGISTERED) == 0);
  CHECK(H->registry.by_name.len == n && !fn("b:g") && !fn("c:g") && !fn("d:g"));
  CHECK(strcmp(fn("x:f")->gen->plugin->name, "a") == 0 && fn("moonhost:stats")->builtin);
  CHECK(fake_live_engines() == 1);

  /* two loads both running claim the same name: the first to commit wins,
   * the other fails at its commit and changes nothing */
  a.fns[0].name = "y:f";
  b.fns[1].name = "y:f";
  a.load = b.load = FAKE_LOAD_MANUAL;
  fake_load(H, "a", on_loaded, &la);
  fake_load(H, "b", on_loaded, &lb);
  CHECK(fake_finish_load(fake_engine_of("b", 2)) == 0);
  CHECK(lb.code[0] == '\0' && strcmp(fn("y:f")->gen->plugin->name, "b") == 0 && fn("b:g"));
  CHECK(fake_finish_load(fake_engine_of("a", 2)) == 0);
  CHECK(strcmp(la.code, MH_ERR_ALREADY_REGISTERED) == 0);
  CHECK(strcmp(fn("y:f")->gen->plugin->name, "b") == 0 && gen_of("x:f") == 1); /* a's v1 still serves */
  teardown();
}

static void test_unload_and_shutdown(void) {
  setup();
  fake_plugin p = {.name = "p", .fns = {{.name = "p:a", .type = MH_FN_ACTION}, {.name = "p:s", .type = MH_FN_STATIC}}};
  fake_define(&p);
  fake_load(H, "p", NULL, NULL);
  fake_reply r = {0}, s = {0};
  call("p:a", &r);
  mh_plugin_unload(mh_plugin_find(H, "p"));
  fake_reply x = {0};
  CHECK(call("p:a", &x) == NULL && fake_reply_err(&x, MH_ERR_NOT_FOUND));
  mh_engine *v1 = fake_engine_of("p", 1);
  CHECK(v1->retired == 1 && !v1->destroyed);
  fake_complete(fake_running("p:a", 0), mh_value_int(1));
  CHECK(fake_reply_int(&r, 1) && v1->destroyed && v1->released == 3u);

  /* shutdown with calls running: the host goes, the generation waits for
   * them (a static run too, though nobody will read its value) */
  fake_load(H, "p", NULL, NULL);
  fake_reply_clear(&r);
  call("p:a", &r);
  call("p:s", &s);
  mh_engine *v2 = fake_engine_of("p", 0); /* number 3: the unload took one */
  CHECK(v2 && v2->number == 3 && v2 != v1);
  fake_fixture_free(&fx);
  CHECK(!v2->destroyed && v2->running == 2);
  fake_complete(fake_running("p:a", 0), mh_value_int(2));
  fake_complete(fake_running("p:s", 0), mh_value_int(3));
  CHECK(fake_reply_int(&r, 2) && fake_reply_int(&s, 3) && v2->destroyed);
  CHECK(fake_live_engines() == 0 && fake_counts.violations == 0);
  fake_reply_clear(&r), fake_reply_clear(&s), fake_reply_clear(&x);
  fake_reset();
}

int main(void) {
  mh_log_set_level(MH_LOG_ERROR);
  test_failed_setup_keeps_old();
  test_reload_swaps_at_once();
  test_call_outlives_generation();
  test_superseded_load();
  test_name_conflicts();
  test_unload_and_shutdown();
  if (!check_failures) printf("test_reload: ok\n");
  return check_failures ? 1 : 0;
}
