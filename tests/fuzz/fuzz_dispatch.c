/* The dispatcher, the registry and plugin generations (host/call/dispatch.c,
 * registry.c, plugin.c, cache.c) under a sequence of operations read from
 * the input, against the fake engine of tests/c (no Lua linked).
 *
 * Each input byte pair is one operation: a call (name, arguments, optional,
 * with or without a reply, what the reply callback does re-entrantly), the
 * engine (or a host function that waits, mh_native) completing / failing a
 * running call, a waiter cancelling, an
 * invalidate, a plugin (re)load with a function set, load mode and failure
 * chosen by the input, finishing a pending load, an unload, a loop turn.
 * Then a full teardown. Invariants:
 *   - a reply callback runs at most once, never after its waiter cancelled,
 *     and mh_dispatch returns NULL exactly when it already ran
 *   - every call not cancelled is answered by the end (teardown cancels
 *     what is still waiting, as a client going away does)
 *   - an answer comes from a run of the function called, with the same
 *     arguments for queries; one given at once (cache hit, memoized static)
 *     from the generation serving the name now
 *   - a cached or static answer never comes from a run that started before
 *     an invalidate of that name (and arguments) that preceded the call
 *   - the engine sees its contract kept (fake_engine.c: no call on a
 *     destroyed engine, destroy once, only with no call running and every
 *     handler released); every engine is destroyed by the end and nothing
 *     leaks (ASan) */
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "call/dispatch.h"
#include "fake_engine.h"
#include "core/log.h"
#include "call/plugin.h"

#define NNAMES 10
#define NARGS 5 /* 0..3 as one integer argument, 4: no argument */
#define MAX_RECS 512
#define MAX_CALLS 4096
#define MAX_DEPTH 3

static const char *const names[NNAMES] = {"f0", "f1", "f2", "f3", "f4", "f5", "moonhost:functions", "nope",
                                          "n0", "n1"};
#define IS_PLUGIN_FN(i) ((i) < 6)
#define IS_NATIVE_FN(i) ((i) >= 8)

/* Host functions that wait (mh_native, as the mesh relay's): n0 a query,
 * n1 a static function. Calls are kept here for the input to end. */
struct mh_native_call {
  int id, name, arg;
  mh_native_done done;
  void *ud;
  bool finished;
};
#define MAX_NATIVE 1024
static mh_native_call natives[MAX_NATIVE];
static int nnatives;
static const char *const plugin_names[2] = {"p0", "p1"};

typedef struct rec {
  int name, arg;
  bool has_reply, cancelled, returned;
  mh_waiter *w;
  int calls;
  bool query;         /* the function was a query when called */
  bool is_static;     /* ... static */
  bool fresh_check;   /* the function was a cached query or static when called */
  uint32_t epoch;     /* invalidations of (name, arg) before the call */
  uint32_t epoch_any; /* of name */
  int action, action_arg, depth;
} rec;

static struct {
  uv_loop_t loop;
  mh_config cfg;
  mh_host host;
  bool ready;
  fake_plugin specs[2];
  rec recs[MAX_RECS];
  int nrecs;
  uint32_t inval[NNAMES][NARGS]; /* invalidates of (name, args) */
  uint32_t inval_any[NNAMES];    /* invalidates of name, any args (static ignores them) */
  uint32_t call_epoch[MAX_CALLS + 1]; /* per fake call id */
  uint32_t call_epoch_any[MAX_CALLS + 1];
  int call_arg[MAX_CALLS + 1];
  int seen_calls;
} S;

static const uint8_t *in;
static size_t in_len, in_pos;

static unsigned next(void) { return in_pos < in_len ? in[in_pos++] : 0; }

static int arg_of(const mh_value *args) {
  if (!args || args->type != MH_V_ARRAY || args->u.arr.len == 0) return 4;
  return (int)args->u.arr.items[0]->u.i;
}

static mh_value *args_for(int arg) {
  mh_value *a = mh_value_new(MH_V_ARRAY);
  if (arg < 4) mh_value_push(a, mh_value_int(arg));
  return a;
}

static mh_native_call *native_start(int name, mh_value *args, mh_native_done done, void *ud) {
  if (nnatives == MAX_NATIVE) {
    mh_value_free(args);
    done(ud, NULL, mh_error_new(MH_ERR_OVERLOADED, "too many native calls"));
    return NULL;
  }
  mh_native_call *c = &natives[nnatives++];
  *c = (mh_native_call){.id = nnatives, .name = name, .arg = arg_of(args), .done = done, .ud = ud};
  mh_value_free(args);
  return c;
}

static mh_native_call *start_n0(mh_host *h, const mh_caller *caller, mh_value *args, mh_native_done done, void *ud) {
  (void)h, (void)caller;
  return native_start(8, args, done, ud);
}

static mh_native_call *start_n1(mh_host *h, const mh_caller *caller, mh_value *args, mh_native_done done, void *ud) {
  (void)h, (void)caller;
  return native_start(9, args, done, ud);
}

static void native_finish(mh_native_call *c, mh_value *result, mh_error *err) {
  FUZZ_CHECK(!c->finished, "native call %d finished twice", c->id);
  c->finished = true;
  c->done(c->ud, result, err);
}

/* The contract: done with rpc_cancelled before cancel returns. */
static void native_cancel(mh_native_call *c) {
  native_finish(c, NULL, mh_error_new(MH_ERR_CANCELLED, "native call cancelled"));
}

static const mh_native native_n0 = {start_n0, native_cancel}, native_n1 = {start_n1, native_cancel};

/* The nth native call still running, or NULL. */
static mh_native_call *native_running(int nth) {
  for (int i = 0; i < nnatives; i++)
    if (!natives[i].finished && nth-- == 0) return &natives[i];
  return NULL;
}

static int name_index(const char *name) {
  for (int i = 0; i < NNAMES; i++)
    if (strcmp(names[i], name) == 0) return i;
  return -1;
}

/* Notes the invalidation epoch of calls started since the last look: calls
 * start only inside mh_dispatch, so the epoch then is the one now. */
static void note_new_calls(void) {
  mh_engine_call *c;
  while (S.seen_calls < MAX_CALLS && (c = fake_call_at(S.seen_calls + 1))) {
    S.seen_calls++;
    int n = name_index(c->fn), a = arg_of(c->args);
    S.call_arg[c->id] = a;
    S.call_epoch[c->id] = n >= 0 ? S.inval[n][a] : 0;
    S.call_epoch_any[c->id] = n >= 0 ? S.inval_any[n] : 0;
  }
}

static mh_waiter *dispatch(int name, int arg, bool optional, bool reply, int action, int action_arg, int depth);
static void do_cancel(int i);

static void run_action(rec *r) {
  switch (r->action) {
  case 1: do_cancel(r->action_arg % (S.nrecs ? S.nrecs : 1)); break;
  case 2: dispatch(r->name, r->action_arg % NARGS, false, true, r->action_arg % 4, r->action_arg / 4, r->depth + 1); break;
  case 3: {
    mh_plugin *p = mh_plugin_find(&S.host, plugin_names[r->action_arg & 1]);
    if (p) mh_plugin_unload(p);
    break;
  }
  case 4: {
    mh_engine_call *c = fake_running(NULL, r->action_arg % 4);
    if (c) fake_complete(c, mh_value_int(c->id));
    break;
  }
  default: break;
  }
}

static void on_reply(void *ud, const mh_value *result, const mh_error *err) {
  rec *r = ud;
  note_new_calls();
  FUZZ_CHECK(!r->cancelled, "reply to %s after its waiter cancelled", names[r->name]);
  FUZZ_CHECK(r->calls == 0, "second reply to %s", names[r->name]);
  r->calls++;
  FUZZ_CHECK((result != NULL) != (err != NULL), "reply with both or neither of result and error");
  if (result && result->type == MH_V_INT && IS_NATIVE_FN(r->name)) {
    /* a native call answers with minus its id */
    int64_t id = -result->u.i;
    FUZZ_CHECK(id >= 1 && id <= nnatives && natives[id - 1].name == r->name, "answer to %s from native call %lld",
               names[r->name], (long long)id);
    if (r->query) FUZZ_CHECK(natives[id - 1].arg == r->arg, "%s(%d) answered by a run for %d", names[r->name],
                             r->arg, natives[id - 1].arg);
  }
  if (result && result->type == MH_V_INT && IS_PLUGIN_FN(r->name)) {
    mh_engine_call *c = fake_call_at((int)result->u.i);
    FUZZ_CHECK(c && strcmp(c->fn, names[r->name]) == 0, "answer to %s from call %lld of %s", names[r->name],
               (long long)result->u.i, c ? c->fn : "?");
    mh_fn *fn = mh_registry_get(&S.host.registry, names[r->name]);
    if (c->id <= MAX_CALLS && r->query)
      FUZZ_CHECK(S.call_arg[c->id] == r->arg, "query %s(%d) answered by a run for %d", names[r->name], r->arg,
                 S.call_arg[c->id]);
    if (!r->returned && fn && fn->gen)
      FUZZ_CHECK(fn->gen->engine == c->engine, "immediate answer to %s from generation %u, serving: %u",
                 names[r->name], c->engine->number, fn->gen->number);
    if (r->fresh_check && c->id <= MAX_CALLS && !fuzz_ignored("dispatch-invalidate-in-flight"))
      FUZZ_CHECK(r->is_static ? S.call_epoch_any[c->id] >= r->epoch_any : S.call_epoch[c->id] >= r->epoch,
                 "%s(%d) answered by run %d that started before an invalidate preceding the call", names[r->name],
                 r->arg, c->id);
  }
  /* a run is cancelled only when nobody waits for it any more */
  if (err) FUZZ_CHECK(strcmp(err->code, MH_ERR_CANCELLED) != 0, "%s: rpc_cancelled reached a waiter", names[r->name]);
  if (r->depth < MAX_DEPTH) run_action(r);
}

static mh_waiter *dispatch(int name, int arg, bool optional, bool reply, int action, int action_arg, int depth) {
  if (S.nrecs == MAX_RECS) return NULL;
  rec *r = &S.recs[S.nrecs++];
  *r = (rec){.name = name, .arg = arg, .has_reply = reply, .action = action, .action_arg = action_arg,
             .depth = depth};
  mh_fn *fn = mh_registry_get(&S.host.registry, names[name]);
  r->query = fn && fn->type == MH_FN_QUERY;
  r->is_static = fn && fn->type == MH_FN_STATIC;
  r->fresh_check = fn && fn->gen && (fn->type == MH_FN_STATIC || fn->cache);
  r->epoch = S.inval[name][arg];
  r->epoch_any = S.inval_any[name];
  mh_waiter *w = mh_dispatch(&S.host, NULL, names[name], args_for(arg), optional, reply ? on_reply : NULL, r);
  note_new_calls();
  r->returned = true;
  r->w = w;
  if (reply) FUZZ_CHECK((w == NULL) == (r->calls == 1), "dispatch of %s returned %p after %d replies",
                        names[name], (void *)w, r->calls);
  else FUZZ_CHECK(w == NULL, "a call without a reply returned a waiter");
  return w;
}

static void do_cancel(int i) {
  if (i < 0 || i >= S.nrecs) return;
  rec *r = &S.recs[i];
  if (!r->w || r->calls || r->cancelled) return;
  r->cancelled = true;
  mh_dispatch_cancel(r->w);
  r->w = NULL;
  note_new_calls();
}

static void invalidate(int name, int arg) {
  mh_fn *fn = mh_registry_get(&S.host.registry, names[name]);
  for (int a = 0; a < NARGS; a++)
    if (arg == 4 || a == arg) S.inval[name][a]++;
  S.inval_any[name]++;
  mh_value *args = arg == 4 ? NULL : args_for(arg);
  int n = mh_dispatch_invalidate(&S.host, names[name], args);
  mh_value_free(args);
  FUZZ_CHECK((n == -1) == (fn == NULL), "invalidate %s gave %d", names[name], n);
}

static void load(unsigned b) {
  unsigned c = next(), d = next();
  fake_plugin *p = &S.specs[b & 1];
  memset(p->fns, 0, sizeof p->fns);
  int nfns = 1 + (int)((b >> 1) % 4);
  for (int i = 0; i < nfns; i++) {
    unsigned f = next();
    p->fns[i] = (fake_fn){.name = names[f % 6],
                          .type = (mh_fn_type)((f >> 3) % 4),
                          .cached = (f >> 5) & 1,
                          .max_entries = 1 + ((f >> 6) % 3),
                          .sync = (c >> 4) & 1 && i == 0};
  }
  p->load = (fake_load_mode)(c % 3);
  p->setup_error = (c >> 2) % 8 == 0 ? "setup failed" : NULL;
  p->create_error = d % 16 == 0 ? "create failed" : NULL;
  fake_load(&S.host, p->name, NULL, NULL);
  note_new_calls();
}

static void step(unsigned op) {
  unsigned b = next();
  switch (op % 10) {
  case 0:
  case 1: {
    unsigned c = next();
    dispatch((int)((b & 15) % NNAMES), (int)((b >> 4) % NARGS), c & 1, !(c & 2), (int)((c >> 2) % 5), (int)(c >> 5), 0);
    break;
  }
  case 2:
  case 3: {
    /* b: which running call, plugin or native (bit 7) */
    bool fail = op % 10 == 3;
    if (b & 0x80) {
      mh_native_call *n = native_running((int)(b % 8));
      if (n) native_finish(n, fail ? NULL : mh_value_int(-n->id), fail ? mh_error_new(MH_ERR_INTERNAL, "no") : NULL);
      break;
    }
    mh_engine_call *c = fake_running(NULL, (int)(b % 8));
    if (c && fail) fake_fail(c, MH_ERR_INTERNAL, "handler failed");
    else if (c) fake_complete(c, mh_value_int(c->id));
    break;
  }
  case 4: do_cancel(S.nrecs - 1 - (int)(b % 16)); break;
  case 5: invalidate((int)((b & 15) % NNAMES), (int)((b >> 4) % NARGS)); break;
  case 6: load(b); break;
  case 7: fake_finish_load(fake_pending_load((int)(b % 4))); break;
  case 8: {
    mh_plugin *p = mh_plugin_find(&S.host, plugin_names[b & 1]);
    if (p) mh_plugin_unload(p);
    break;
  }
  case 9: uv_run(&S.loop, UV_RUN_NOWAIT); break;
  }
  note_new_calls();
}

/* As at shutdown: pending loads end, clients go (their waiters cancel),
 * the host is freed, and the engine ends the calls still running (static
 * runs, events, runs of callers who left). Nothing may be left. */
static void teardown(void) {
  uv_run(&S.loop, UV_RUN_NOWAIT);
  for (mh_engine *e; (e = fake_pending_load(0));) fake_finish_load(e);
  for (int i = 0; i < S.nrecs; i++) do_cancel(i);
  for (int i = 0; i < S.nrecs; i++) S.recs[i].depth = MAX_DEPTH; /* no more re-entrant actions */
  mh_host_free(&S.host);
  for (mh_engine_call *c; (c = fake_running(NULL, 0));) fake_fail(c, MH_ERR_CANCELLED, "host stopped");
  for (mh_native_call *n; (n = native_running(0));) native_finish(n, NULL, mh_error_new(MH_ERR_CANCELLED, "stopped"));
  uv_run(&S.loop, UV_RUN_DEFAULT);
  for (int i = 0; i < S.nrecs; i++) {
    rec *r = &S.recs[i];
    FUZZ_CHECK(r->calls == (r->has_reply && !r->cancelled), "call %d (%s): %d replies (cancelled: %d)", i,
               names[r->name], r->calls, r->cancelled);
  }
  FUZZ_CHECK(fake_live_engines() == 0, "%d engines never destroyed", fake_live_engines());
  FUZZ_CHECK(fake_counts.violations == 0, "the engine contract was broken %d times", fake_counts.violations);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_set_input(data, size);
  if (!S.ready) {
    mh_log_set_level(MH_LOG_ERROR);
    if (uv_loop_init(&S.loop) || fake_config(&S.cfg)) abort();
    S.ready = true;
  }
  fake_reset();
  memset(S.recs, 0, sizeof S.recs);
  memset(S.inval, 0, sizeof S.inval);
  memset(S.inval_any, 0, sizeof S.inval_any);
  S.nrecs = S.seen_calls = 0;
  for (int i = 0; i < 2; i++) {
    S.specs[i] = (fake_plugin){.name = plugin_names[i]};
    fake_define(&S.specs[i]);
  }
  static const mh_host_fn_def natives[] = {
      {"n0", MH_FN_QUERY, NULL, &native_n0},
      {"n1", MH_FN_STATIC, NULL, &native_n1},
  };
  char *msg = NULL;
  if (mh_host_init(&S.host, &S.loop, &S.cfg, &fake_host_parts, &msg) ||
      mh_registry_add_host_fns(&S.host.registry, natives, MH_HOST_FNS_COUNT(natives)))
    abort();
  nnatives = 0;
  in = data;
  in_len = size;
  in_pos = 0;
  while (in_pos < in_len) step(next());
  teardown();
  return 0;
}
