/* The pattern-cost simulator (bindings/lua_pattern_cost.c) against liblua.
 *
 * The guarded string.find/match/gmatch/gsub of plugin states charge what
 * the simulator counts, then let liblua compute the result: the budget is
 * only right if the simulator makes the very search liblua makes. So its
 * verdict is checked against liblua's own functions (a plain state, no
 * guard):
 *   - find (pattern or plain search, any init): no match, or the same
 *     start and end; a search that reached a malformed item, or matched
 *     with a capture left open, is one where liblua raises;
 *   - gsub with at most max_n matches: the same count of matches, or an
 *     error exactly where the simulator found the pattern malformed;
 *   - gmatch: the iterator yields exactly as many times as the simulated
 *     iterator steps find matches;
 *   - more open frames than the simulator was given (MH_PAT_TOO_DEEP, here
 *     with only 250 frames) means liblua gives up too ("pattern too
 *     complex"); liblua may give up earlier than that, which is the one
 *     error it may raise where the simulator did not.
 * Every simulation is bounded (STEP_LIMIT); liblua runs only after the
 * simulator finished within it, so nothing hangs.
 *
 * Input: byte 0 flags (bit 0 plain find, bits 1-3 gsub's max_n, 7 = none),
 * byte 1 init (signed), byte 2 the pattern length; then the pattern, then
 * the subject. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "runtime/lua_pattern_cost.h"

#define STEP_LIMIT 200000
#define FRAMES 250

static lua_State *L;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  L = luaL_newstate();
  if (!L) abort();
  luaL_openlibs(L);
  return 0;
}

static bool under_limit(void *ud, uint64_t steps) {
  (void)steps;
  return ((mh_pat_meter *)ud)->steps <= STEP_LIMIT;
}

typedef struct input {
  const char *s, *p;
  size_t len, plen;
  lua_Integer init;
  bool plain;
  lua_Integer max_n; /* -1: none */
} input;

static mh_pat_frame frames[FRAMES];

static mh_pat_job job(const input *in, mh_pat_meter *m) {
  *m = (mh_pat_meter){.tick_every = 256, .tick = under_limit};
  m->ud = m;
  return (mh_pat_job){.s = in->s, .p = in->p, .len = in->len, .plen = in->plen, .frames = frames,
                      .nframes = FRAMES, .meter = m};
}

static bool errs(mh_pat_status st) { return st == MH_PAT_MALFORMED || st == MH_PAT_TOO_DEEP; }

static bool too_complex(void) {
  const char *msg = lua_tostring(L, -1);
  return msg && strstr(msg, "pattern too complex");
}

static void check_find(const input *in) {
  size_t at = mh_pat_start(in->init, in->len);
  if (at > in->len) return;
  mh_pat_meter m;
  mh_pat_job j = job(in, &m);
  bool plain = in->plain || mh_pat_is_plain(in->p, in->plen);
  mh_pat_result r = mh_pat_find(&j, at, plain);
  if (r.status == MH_PAT_STOPPED) return;
  lua_getglobal(L, "string");
  lua_getfield(L, -1, "find");
  lua_remove(L, -2);
  lua_pushlstring(L, in->s, in->len);
  lua_pushlstring(L, in->p, in->plen);
  lua_pushinteger(L, in->init);
  lua_pushboolean(L, in->plain);
  int rc = lua_pcall(L, 4, 2, 0);
  bool expect_error = errs(r.status) || (r.status == MH_PAT_MATCH && r.unfinished && !plain);
  if (rc != LUA_OK) {
    FUZZ_CHECK(expect_error || too_complex(), "find raised \"%s\", simulator status %d (start %zu end %zu)",
               lua_tostring(L, -1), r.status, r.start, r.end);
    lua_pop(L, 1);
    return;
  }
  FUZZ_CHECK(!expect_error, "find did not raise, simulator status %d unfinished %d", r.status, r.unfinished);
  if (r.status == MH_PAT_NO_MATCH) {
    FUZZ_CHECK(lua_isnil(L, -2), "simulator: no match; find: %lld..%lld", (long long)lua_tointeger(L, -2),
               (long long)lua_tointeger(L, -1));
  } else {
    FUZZ_CHECK(lua_tointeger(L, -2) == (lua_Integer)r.start + 1 && lua_tointeger(L, -1) == (lua_Integer)r.end,
               "simulator: %zu..%zu; find: %s %lld..%lld", r.start + 1, r.end, luaL_typename(L, -2),
               (long long)lua_tointeger(L, -2), (long long)lua_tointeger(L, -1));
  }
  lua_pop(L, 2);
}

static void check_gsub(const input *in) {
  mh_pat_meter m;
  mh_pat_job j = job(in, &m);
  uint64_t max_n = in->max_n < 0 ? (uint64_t)in->len + 1 : (uint64_t)in->max_n;
  mh_pat_result r = mh_pat_gsub(&j, max_n);
  if (r.status == MH_PAT_STOPPED) return;
  lua_getglobal(L, "string");
  lua_getfield(L, -1, "gsub");
  lua_remove(L, -2);
  lua_pushlstring(L, in->s, in->len);
  lua_pushlstring(L, in->p, in->plen);
  lua_pushliteral(L, "");
  if (in->max_n >= 0)
    lua_pushinteger(L, in->max_n);
  else
    lua_pushnil(L);
  int rc = lua_pcall(L, 4, 2, 0);
  if (rc != LUA_OK) {
    FUZZ_CHECK(errs(r.status) || too_complex(), "gsub raised \"%s\", simulator status %d count %zu",
               lua_tostring(L, -1), r.status, r.count);
    lua_pop(L, 1);
    return;
  }
  FUZZ_CHECK(!errs(r.status), "gsub did not raise, simulator status %d", r.status);
  FUZZ_CHECK(lua_tointeger(L, -1) == (lua_Integer)r.count, "gsub count %lld, simulator %zu",
             (long long)lua_tointeger(L, -1), r.count);
  lua_pop(L, 2);
}

/* The simulated iterator's matches, or -1 when a step stopped or raised
 * (*err: raised). */
static long simulated_gmatch(const input *in, bool *err) {
  mh_pat_meter m;
  mh_pat_job j = job(in, &m);
  size_t at = mh_pat_start(in->init, in->len), last = SIZE_MAX;
  if (at > in->len) return 0;
  long n = 0;
  for (;;) {
    mh_pat_result r = mh_pat_gmatch_step(&j, at, last);
    if (r.status == MH_PAT_NO_MATCH) return n;
    if (r.status != MH_PAT_MATCH || r.unfinished) { /* liblua raises on returning an open capture */
      *err = errs(r.status) || r.unfinished;
      return -1;
    }
    n++;
    at = last = r.end;
  }
}

static int count_gmatch(lua_State *l) {
  lua_Integer n = 0;
  lua_settop(l, 3);
  lua_getglobal(l, "string");
  lua_getfield(l, -1, "gmatch");
  lua_pushvalue(l, 1);
  lua_pushvalue(l, 2);
  lua_pushvalue(l, 3);
  lua_call(l, 3, 1);
  for (;;) {
    lua_pushvalue(l, -1);
    lua_call(l, 0, 1);
    if (lua_isnil(l, -1)) break;
    lua_pop(l, 1);
    n++;
  }
  lua_pushinteger(l, n);
  return 1;
}

static void check_gmatch(const input *in) {
  bool err = false;
  long n = simulated_gmatch(in, &err);
  if (n < 0 && !err) return;
  lua_pushcfunction(L, count_gmatch);
  lua_pushlstring(L, in->s, in->len);
  lua_pushlstring(L, in->p, in->plen);
  lua_pushinteger(L, in->init);
  int rc = lua_pcall(L, 3, 1, 0);
  if (rc != LUA_OK) {
    FUZZ_CHECK(err || too_complex(), "gmatch raised \"%s\", simulator %ld matches", lua_tostring(L, -1), n);
  } else {
    FUZZ_CHECK(!err, "gmatch did not raise (%lld matches), the simulator did", (long long)lua_tointeger(L, -1));
    FUZZ_CHECK(lua_tointeger(L, -1) == n, "gmatch %lld matches, simulator %ld", (long long)lua_tointeger(L, -1), n);
  }
  lua_pop(L, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3) return 0;
  fuzz_set_input(data, size);
  input in = {.plain = data[0] & 1, .init = (int8_t)data[1]};
  unsigned n = (data[0] >> 1) & 7;
  in.max_n = n == 7 ? -1 : (lua_Integer)n;
  size_t rest = size - 3;
  in.plen = data[2] > rest ? rest : data[2];
  in.p = (const char *)data + 3;
  in.s = in.p + in.plen;
  in.len = rest - in.plen;
  check_find(&in);
  in.plain = false;
  check_gsub(&in);
  check_gmatch(&in);
  lua_settop(L, 0);
  lua_gc(L, LUA_GCSTEP, 0);
  return 0;
}
