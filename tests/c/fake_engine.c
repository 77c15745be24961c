/* The fake engine of fake_engine.h. */
#include "fake_engine.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call/plugin.h"
#include "call/registry.h"

#define FAKE_MAX_PLUGINS 16

fake_stats fake_counts;
static const fake_plugin *plugins[FAKE_MAX_PLUGINS];
static mh_engine *engines, **engines_tail = &engines;
static mh_engine_call *calls, **calls_tail = &calls;
static int ncalls;

static void violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void violation(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "fake engine: contract broken: ");
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  fake_counts.violations++;
}

void fake_define(const fake_plugin *p) {
  for (int i = 0; i < FAKE_MAX_PLUGINS; i++) {
    if (!plugins[i] || strcmp(plugins[i]->name, p->name) == 0) {
      plugins[i] = p;
      return;
    }
  }
  violation("too many plugins defined");
}

static const fake_plugin *find_plugin(const char *name) {
  for (int i = 0; i < FAKE_MAX_PLUGINS && plugins[i]; i++)
    if (strcmp(plugins[i]->name, name) == 0) return plugins[i];
  return NULL;
}

void fake_reset(void) {
  for (mh_engine *e = engines, *next; e; e = next) {
    next = e->next;
    free(e->plugin);
    free(e);
  }
  for (mh_engine_call *c = calls, *next; c; c = next) {
    next = c->next;
    mh_value_free(c->args);
    free(c->caller);
    free(c->last_event_id);
    free(c);
  }
  engines = NULL;
  engines_tail = &engines;
  calls = NULL;
  calls_tail = &calls;
  ncalls = 0;
  memset(plugins, 0, sizeof plugins);
  memset(&fake_counts, 0, sizeof fake_counts);
}

/* ---- the vtable --------------------------------------------------------- */

static mh_engine *fake_create(mh_gen *gen, mh_error **err) {
  const fake_plugin *spec = find_plugin(gen->plugin->name);
  if (!spec) {
    *err = mh_error_new(MH_ERR_NOT_FOUND, "fake engine: no plugin \"%s\" defined", gen->plugin->name);
    return NULL;
  }
  if (spec->create_error) {
    *err = mh_error_new(MH_ERR_INTERNAL, "%s", spec->create_error);
    return NULL;
  }
  mh_engine *e = calloc(1, sizeof *e);
  if (!e || !(e->plugin = strdup(spec->name))) {
    free(e);
    *err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
    return NULL;
  }
  e->gen = gen;
  e->number = gen->number;
  while (e->nfns < FAKE_MAX_FNS && spec->fns[e->nfns].name) {
    e->fns[e->nfns] = spec->fns[e->nfns];
    e->nfns++;
  }
  e->setup_error = spec->setup_error;
  e->load_mode = spec->load;
  *engines_tail = e;
  engines_tail = &e->next;
  fake_counts.created++;
  return e;
}

/* What the plugin's setup does: register every function, then succeed or
 * fail. A registration refused (a name taken) fails the setup, as a Lua
 * error would. */
static void run_setup(mh_engine *e) {
  mh_engine_done done = e->load_done;
  void *ud = e->load_ud;
  e->load_pending = false;
  e->load_done = NULL;
  for (size_t i = 0; i < e->nfns; i++) {
    const fake_fn *f = &e->fns[i];
    mh_fn_spec spec = {.name = f->name, .type = f->type, .handler = (int)i + 1, .cached = f->cached,
                       .ttl_ms = f->ttl_ms, .max_entries = f->max_entries, .stream = f->stream};
    mh_error *err = NULL;
    if (mh_gen_register(e->gen, &spec, &err)) {
      done(ud, NULL, err);
      return;
    }
    e->registered++;
  }
  if (e->setup_error) {
    done(ud, NULL, mh_error_new(MH_ERR_INTERNAL, "%s", e->setup_error));
    return;
  }
  done(ud, mh_value_null(), NULL);
}

typedef struct load_timer {
  uv_timer_t t;
  mh_engine *e;
} load_timer;

static void on_timer_closed(uv_handle_t *h) { free(h->data); }

static void on_load_timer(uv_timer_t *t) {
  load_timer *lt = t->data;
  uv_close((uv_handle_t *)t, on_timer_closed);
  if (lt->e->load_pending) run_setup(lt->e);
}

/* Its loads cannot be stopped: NULL, as engine.h allows. */
static mh_engine_call *fake_load_plugin(mh_engine *e, mh_engine_done done, void *ud) {
  if (e->load_pending || e->load_done) violation("%s/%u: load twice", e->plugin, e->number);
  fake_counts.loads++;
  e->load_pending = true;
  e->load_done = done;
  e->load_ud = ud;
  if (e->load_mode == FAKE_LOAD_SYNC) {
    run_setup(e);
  } else if (e->load_mode == FAKE_LOAD_LOOP) {
    load_timer *lt = calloc(1, sizeof *lt);
    if (!lt) {
      run_setup(e);
      return NULL;
    }
    lt->e = e;
    lt->t.data = lt;
    uv_timer_init(e->gen->plugin->host->loop, &lt->t);
    uv_timer_start(&lt->t, on_load_timer, 0, 0);
  }
  return NULL;
}

int fake_finish_load(mh_engine *e) {
  if (!e || !e->load_pending) return -1;
  run_setup(e); /* a loop load's timer finds nothing left to do */
  return 0;
}

static const fake_fn *fn_of(mh_engine *e, int handler) {
  if (handler < 1 || (size_t)handler > e->nfns) return NULL;
  return &e->fns[handler - 1];
}

static void finish(mh_engine_call *c, mh_value *result, mh_error *err) {
  if (c->finished) {
    violation("call %d (%s) completed twice", c->id, c->fn);
    mh_value_free(result);
    mh_error_free(err);
    return;
  }
  c->finished = true;
  c->engine->running--;
  c->done(c->ud, result, err);
}

static mh_engine_call *fake_call(mh_engine *e, int handler, mh_value *args, const mh_caller *caller,
                                 mh_engine_done done, void *ud) {
  const fake_fn *f = fn_of(e, handler);
  if (e->destroyed) violation("%s/%u: call on a destroyed engine", e->plugin, e->number);
  if (!f || (e->released & (1u << (handler - 1))))
    violation("%s/%u: call of unknown or released handler %d", e->plugin, e->number, handler);
  mh_engine_call *c = calloc(1, sizeof *c);
  if (!c) {
    mh_value_free(args);
    done(ud, NULL, mh_error_new(MH_ERR_INTERNAL, "out of memory"));
    return NULL;
  }
  c->id = ++ncalls;
  c->engine = e;
  c->handler = handler;
  c->fn = f ? f->name : "?";
  c->args = args;
  c->caller = caller && caller->id ? strdup(caller->id) : NULL;
  c->done = done;
  c->ud = ud;
  *calls_tail = c;
  calls_tail = &c->next;
  e->running++;
  fake_counts.calls++;
  if (f && f->sync) {
    finish(c, mh_value_int(c->id), NULL);
    return NULL;
  }
  return c;
}

static mh_engine_call *fake_stream(mh_engine *e, int handler, mh_value *args, const mh_stream_call *sc,
                                   mh_engine_done done, void *ud) {
  const fake_fn *f = fn_of(e, handler);
  if (!f || !f->stream) violation("%s/%u: stream call of handler %d, not a stream", e->plugin, e->number, handler);
  char *leid = sc->last_event_id ? strdup(sc->last_event_id) : NULL;
  mh_engine_call *c = fake_call(e, handler, args, sc->caller, done, ud);
  if (!c) {
    free(leid);
    return NULL;
  }
  c->stream = sc->stream;
  c->last_event_id = leid;
  return c;
}

static void fake_drained(mh_engine_call *c) {
  if (c->finished) violation("drained after call %d (%s) finished", c->id, c->fn);
  if (!c->waiting) violation("drained while call %d (%s) was not waiting", c->id, c->fn);
  c->waiting = false;
  c->drained++;
}

bool fake_emit(mh_engine_call *c, mh_value *chunk) {
  if (c->finished || !c->stream || c->waiting) violation("emit from call %d (%s): not a running stream", c->id, c->fn);
  c->waiting = mh_stream_emit(c->stream, chunk, NULL);
  return c->waiting;
}

static void fake_cancel(mh_engine_call *c) {
  if (c->finished) {
    violation("cancel of finished call %d (%s)", c->id, c->fn);
    return;
  }
  fake_counts.cancels++;
  c->cancelled = true;
  finish(c, NULL, mh_error_new(MH_ERR_CANCELLED, "call cancelled"));
}

static void fake_release(mh_engine *e, int handler) {
  if (handler < 1 || handler > e->registered) {
    violation("%s/%u: release of unregistered handler %d", e->plugin, e->number, handler);
    return;
  }
  unsigned bit = 1u << (handler - 1);
  if (e->released & bit) violation("%s/%u: handler %d released twice", e->plugin, e->number, handler);
  e->released |= bit;
  fake_counts.released++;
}

static void fake_retire(mh_engine *e) {
  if (e->destroyed) violation("%s/%u: retire after destroy", e->plugin, e->number);
  e->retired++;
  fake_counts.retired++;
}

static int popcount(unsigned x) {
  int n = 0;
  for (; x; x &= x - 1) n++;
  return n;
}

static void fake_destroy(mh_engine *e) {
  if (e->destroyed) violation("%s/%u: destroyed twice", e->plugin, e->number);
  if (e->running) violation("%s/%u: destroyed with %d calls running", e->plugin, e->number, e->running);
  if (e->load_pending) violation("%s/%u: destroyed while loading", e->plugin, e->number);
  if (popcount(e->released) != e->registered)
    violation("%s/%u: destroyed with %d of %d handlers not released", e->plugin, e->number,
              e->registered - popcount(e->released), e->registered);
  e->destroyed = true;
  e->gen = NULL;
  fake_counts.destroyed++;
}

static size_t fake_memory(mh_engine *e) {
  (void)e;
  return 0;
}

const mh_engine_vt fake_engine_vt = {
  .name = "fake",
  .create = fake_create,
  .load = fake_load_plugin,
  .call = fake_call,
  .stream = fake_stream,
  .drained = fake_drained,
  .cancel = fake_cancel,
  .release = fake_release,
  .retire = fake_retire,
  .destroy = fake_destroy,
  .memory = fake_memory,
};

const mh_host_parts fake_host_parts = {.engine = &fake_engine_vt};

/* ---- what tests use ----------------------------------------------------- */

mh_engine_call *fake_call_at(int id) {
  for (mh_engine_call *c = calls; c; c = c->next)
    if (c->id == id) return c;
  return NULL;
}

mh_engine_call *fake_last_call(void) { return fake_call_at(ncalls); }

mh_engine_call *fake_running(const char *fn, int nth) {
  for (mh_engine_call *c = calls; c; c = c->next)
    if (!c->finished && (!fn || strcmp(c->fn, fn) == 0) && nth-- == 0) return c;
  return NULL;
}

int fake_running_count(void) {
  int n = 0;
  for (mh_engine_call *c = calls; c; c = c->next) n += !c->finished;
  return n;
}

void fake_complete(mh_engine_call *c, mh_value *result) { finish(c, result, NULL); }

void fake_fail(mh_engine_call *c, const char *code, const char *message) {
  finish(c, NULL, mh_error_new(code, "%s", message));
}

mh_engine *fake_engine_of(const char *name, uint32_t number) {
  mh_engine *found = NULL;
  for (mh_engine *e = engines; e; e = e->next)
    if (strcmp(e->plugin, name) == 0 && (number == 0 || e->number == number)) found = e;
  return found;
}

mh_engine *fake_pending_load(int nth) {
  for (mh_engine *e = engines; e; e = e->next)
    if (e->load_pending && nth-- == 0) return e;
  return NULL;
}

int fake_live_engines(void) { return fake_counts.created - fake_counts.destroyed; }

bool fake_all_released(void) {
  int running = fake_running_count(), live = fake_live_engines();
  if (running || live || fake_counts.violations)
    fprintf(stderr, "fake engine: %d calls running, %d engines alive, %d contract breaks\n", running, live,
            fake_counts.violations);
  return !running && !live && !fake_counts.violations;
}

int fake_config(mh_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  mh_value *tree = mh_config_defaults();
  char *msg = NULL;
  int rc = tree ? mh_config_apply(cfg, tree, &msg) : -1;
  mh_value_free(tree);
  if (rc) {
    fprintf(stderr, "fake_config: %s\n", msg ? msg : "out of memory");
    free(msg);
    return -1;
  }
  free(cfg->mesh.key);
  cfg->mesh.key = strdup("fake-engine-mesh-key");
  return cfg->mesh.key ? 0 : -1;
}

void fake_load(mh_host *h, const char *name, mh_plugin_loaded_cb cb, void *ud) {
  char path[512], dir[256];
  snprintf(dir, sizeof dir, "/nonexistent/plugins");
  snprintf(path, sizeof path, "%s/%s.lua", dir, name);
  mh_plugin *p = mh_plugin_get(h, name, path, dir);
  if (!p) {
    violation("mh_plugin_get(%s) failed", name);
    return;
  }
  mh_plugin_load(p, cb, ud);
}

void fake_on_reply(void *ud, const mh_value *result, const mh_error *err) {
  fake_reply *r = ud;
  r->calls++;
  mh_value_free(r->result);
  mh_error_free(r->err);
  r->result = result ? mh_value_copy(result) : NULL;
  r->err = err ? mh_error_copy(err) : NULL;
}

bool fake_reply_int(const fake_reply *r, int64_t i) {
  return r->calls == 1 && r->result && r->result->type == MH_V_INT && r->result->u.i == i;
}

bool fake_reply_err(const fake_reply *r, const char *code) {
  return r->calls == 1 && r->err && strcmp(r->err->code, code) == 0;
}

void fake_reply_clear(fake_reply *r) {
  mh_value_free(r->result);
  mh_error_free(r->err);
  memset(r, 0, sizeof *r);
}

int fake_fixture_init(fake_fixture *f) {
  memset(f, 0, sizeof *f);
  if (uv_loop_init(&f->loop) || fake_config(&f->cfg)) return -1;
  char *msg = NULL;
  if (mh_host_init(&f->host, &f->loop, &f->cfg, &fake_host_parts, &msg)) {
    fprintf(stderr, "mh_host_init: %s\n", msg ? msg : "failed");
    free(msg);
    return -1;
  }
  return 0;
}

void fake_fixture_free(fake_fixture *f) {
  for (mh_engine *e = engines; e; e = e->next)
    if (e->load_pending && e->load_mode == FAKE_LOAD_MANUAL) fake_finish_load(e);
  mh_host_free(&f->host);
  uv_run(&f->loop, UV_RUN_DEFAULT); /* loop loads still pending finish; timers close */
  if (uv_loop_close(&f->loop)) fprintf(stderr, "fake_fixture_free: loop closed with handles open\n");
  mh_config_free(&f->cfg);
}
