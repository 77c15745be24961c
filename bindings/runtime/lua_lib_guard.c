/* Guarded library functions for plugin and conf.d states (see
 * lua_lib_guard.h). What stays uninterruptible: one call of a function
 * whose cost is linear in sizes the memory cap bounds (string.rep,
 * table.concat, string.lower of a string at the cap, ...) runs to its end
 * once charged; at lua.memory_bytes = 256 MiB that is a few tenths of a
 * second. Every charge checks the clock, so a loop of them stops.
 * The guards are C functions Lua calls: their plain lua_call runs inside
 * the protected call or the coroutine that called them (lua_door.c). */
#include "runtime/lua_lib_guard.h"

#include "runtime/lua_pattern_cost.h"

#include <lauxlib.h>
#include <lualib.h>
#include <string.h>

static const char meter_key = 'm'; /* its address keys the meter in the registry */

void mh_lua_charge(lua_State *L, uint64_t cost) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &meter_key);
  const mh_lua_meter *m = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (m) m->charge(L, cost);
}

static bool stopping(lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &meter_key);
  const mh_lua_meter *m = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return m && m->stopping(L);
}

/* How a wrapped function's work grows with its arguments. */
typedef enum cost_kind {
  COST_STRINGS, /* linear in its string arguments */
  COST_TABLES,  /* linear in the length of its table arguments */
  COST_SORT,    /* n log n in the length of the table */
  COST_REP,     /* linear in the result: (#s + #sep) * n */
  COST_MOVE,    /* linear in the range f..e it moves */
} cost_kind;

static uint64_t add_sat(uint64_t a, uint64_t b) { return a + b < a ? UINT64_MAX : a + b; }

static uint64_t mul_sat(uint64_t a, uint64_t b) { return b && a > UINT64_MAX / b ? UINT64_MAX : a * b; }

/* The integer argument i, or dflt when absent or not an integer (the
 * function itself then reports a bad argument). */
static lua_Integer int_arg(lua_State *L, int i, lua_Integer dflt) {
  int isnum;
  lua_Integer v = lua_tointegerx(L, i, &isnum);
  return isnum ? v : dflt;
}

/* lua_rawlen of each string (or table) argument, in bytes (or slots):
 * rawlen reads the size without converting or calling a metamethod. */
static uint64_t args_size(lua_State *L, int type) {
  uint64_t n = 0;
  for (int i = 1, top = lua_gettop(L); i <= top; i++)
    if (lua_type(L, i) == type) n = add_sat(n, lua_rawlen(L, i));
  return n;
}

static uint64_t cost_of(lua_State *L, cost_kind kind) {
  uint64_t bytes = args_size(L, LUA_TSTRING) / MH_LUA_BYTES_PER_INSTRUCTION;
  switch (kind) {
  case COST_STRINGS: return 1 + bytes;
  case COST_TABLES: return 1 + bytes + args_size(L, LUA_TTABLE);
  case COST_SORT: {
    uint64_t n = lua_type(L, 1) == LUA_TTABLE ? lua_rawlen(L, 1) : 0, log = 1;
    while (n >> log) log++;
    return 1 + mul_sat(n, log);
  }
  case COST_REP: {
    lua_Integer times = int_arg(L, 2, 0);
    uint64_t unit = add_sat(lua_rawlen(L, 1), lua_rawlen(L, 3)); /* 0 for numbers: short anyway */
    return 1 + (times > 0 ? mul_sat(unit, (uint64_t)times) / MH_LUA_BYTES_PER_INSTRUCTION : 0);
  }
  case COST_MOVE: {
    lua_Integer f = int_arg(L, 2, 1), e = int_arg(L, 3, 0);
    return e < f ? 1 : add_sat(2, (uint64_t)((lua_Unsigned)e - (lua_Unsigned)f));
  }
  }
  return 1;
}

/* Upvalues: the original function (a C function without upvalues of its
 * own, so it can run in this frame: error messages keep its name) and its
 * cost kind. */
static int guarded(lua_State *L) {
  lua_CFunction f = lua_tocfunction(L, lua_upvalueindex(1));
  cost_kind kind = (cost_kind)lua_tointeger(L, lua_upvalueindex(2));
  uint64_t cost = cost_of(L, kind);
  if (kind != COST_REP) {
    mh_lua_charge(L, cost);
    return f(L);
  }
  /* string.rep is charged after it ran: one that asks for more than the
   * memory cap fails on that (a clearer error), and one within the cap is
   * as fast as the memory it fills. */
  int n = f(L);
  mh_lua_charge(L, cost);
  return n;
}

typedef struct wrap {
  const char *name;
  cost_kind kind;
} wrap;

/* Wraps the listed functions of the table on top (those it has). */
static void wrap_all(lua_State *L, const wrap *w) {
  for (; w->name; w++) {
    lua_getfield(L, -1, w->name);
    if (!lua_tocfunction(L, -1)) {
      lua_pop(L, 1);
      continue;
    }
    lua_pushinteger(L, w->kind);
    lua_pushcclosure(L, guarded, 2);
    lua_setfield(L, -2, w->name);
  }
}

/* Pattern functions: liblua computes every result, but only after the
 * search it is about to make was simulated and charged (lua_pattern_cost.h)
 * or found cheap by a bound. Upvalue 1: liblua's function. */

/* Below this many steps (the bound of mh_pat_bound) a search is charged
 * its bound and not simulated: small enough that charging the bound
 * instead of the real count costs a plugin little (a call to a C function
 * is worth some tens of instructions), and it spares simulating the short
 * calls a plugin makes most. */
#define PATTERN_CHEAP_STEPS 1000
#define PATTERN_TICK_STEPS 1024 /* steps between charges: each checks the wall clock */
#define PATTERN_LOCAL_FRAMES 64

enum pattern_op { OP_FIND, OP_MATCH, OP_GMATCH, OP_GSUB };

typedef struct pattern_search {
  enum pattern_op op;
  size_t at;        /* find/match: init; gmatch: where the iterator goes on */
  size_t lastmatch; /* gmatch: end of its last match (SIZE_MAX: none) */
  bool plain;       /* find: a plain search */
  uint64_t max_n;   /* gsub */
} pattern_search;

static bool charge_tick(void *L, uint64_t steps) {
  mh_lua_charge(L, steps); /* raises (does not return) once over budget */
  return true;
}

/* Runs the simulation of what, charging its steps as it goes; *owed: the
 * steps not charged yet (the caller charges them with its own costs, in
 * one call). A frame stack larger than the local one is a userdata: a
 * budget error unwinds through here, and the collector frees it. */
static mh_pat_result simulate(lua_State *L, const char *s, size_t len, const char *p, size_t plen,
                              const pattern_search *what, uint64_t *owed) {
  mh_pat_meter m = {.tick_every = PATTERN_TICK_STEPS, .tick = charge_tick, .ud = L};
  mh_pat_frame local[PATTERN_LOCAL_FRAMES];
  mh_pat_job j = {.s = s, .p = p, .len = len, .plen = plen, .frames = local, .nframes = PATTERN_LOCAL_FRAMES,
                  .meter = &m};
  size_t need = mh_pat_frames_for(plen);
  if (need > PATTERN_LOCAL_FRAMES) {
    j.frames = lua_newuserdatauv(L, need * sizeof *j.frames, 0);
    j.nframes = need;
  }
  mh_pat_result r;
  switch (what->op) {
  case OP_FIND:
  case OP_MATCH: r = mh_pat_find(&j, what->at, what->plain); break;
  case OP_GMATCH: r = mh_pat_gmatch_step(&j, what->at, what->lastmatch); break;
  default: r = mh_pat_gsub(&j, what->max_n); break;
  }
  if (need > PATTERN_LOCAL_FRAMES) lua_pop(L, 1);
  *owed = m.steps - m.reported;
  /* MH_PAT_MALFORMED, MH_PAT_TOO_DEEP: liblua raises its error at the
   * point the simulation reached, having done no more than it. */
  return r;
}

/* The subject and pattern arguments, when both are strings (or numbers,
 * which liblua converts the same way); else liblua reports them. */
static bool pattern_args(lua_State *L, int si, int pi, const char **s, size_t *len, const char **p, size_t *plen) {
  if (!lua_isstring(L, si) || !lua_isstring(L, pi)) return false;
  *s = lua_tolstring(L, si, len);
  *p = lua_tolstring(L, pi, plen);
  return true;
}

/* Integer argument i or dflt when absent; false when it is not an integer
 * (liblua then reports it). */
static bool opt_int(lua_State *L, int i, lua_Integer dflt, lua_Integer *v) {
  if (lua_isnoneornil(L, i)) {
    *v = dflt;
    return true;
  }
  int isnum;
  *v = lua_tointegerx(L, i, &isnum);
  return isnum;
}

/* Prices the search of what: by its bound when that is small (false),
 * else by simulating it (true, *r its result). *owed: what is left to
 * charge. */
static bool price_search(lua_State *L, const char *s, size_t len, const char *p, size_t plen,
                         const pattern_search *what, mh_pat_result *r, uint64_t *owed) {
  uint64_t bound = mh_pat_bound(len, p, plen);
  if (bound < PATTERN_CHEAP_STEPS) {
    *owed = bound;
    return false;
  }
  *r = simulate(L, s, len, p, plen, what, owed);
  return true;
}

static int find_or_match(lua_State *L, enum pattern_op op) {
  lua_CFunction real = lua_tocfunction(L, lua_upvalueindex(1));
  const char *s, *p;
  size_t len, plen;
  lua_Integer init;
  if (!pattern_args(L, 1, 2, &s, &len, &p, &plen) || !opt_int(L, 3, 1, &init)) return real(L);
  pattern_search what = {.op = op, .at = mh_pat_start(init, len)};
  if (what.at > len) { /* liblua fails at once */
    mh_lua_charge(L, 1);
    return real(L);
  }
  what.plain = op == OP_FIND && (lua_toboolean(L, 4) || mh_pat_is_plain(p, plen));
  mh_pat_result r;
  uint64_t owed;
  price_search(L, s, len, p, plen, &what, &r, &owed);
  mh_lua_charge(L, owed);
  return real(L);
}

static int guarded_find(lua_State *L) { return find_or_match(L, OP_FIND); }

static int guarded_match(lua_State *L) { return find_or_match(L, OP_MATCH); }

static int guarded_gsub(lua_State *L) {
  lua_CFunction real = lua_tocfunction(L, lua_upvalueindex(1));
  const char *s, *p;
  size_t len, plen;
  lua_Integer max_n;
  if (!pattern_args(L, 1, 2, &s, &len, &p, &plen) || !opt_int(L, 4, (lua_Integer)len + 1, &max_n))
    return real(L);
  pattern_search what = {.op = OP_GSUB, .max_n = max_n > 0 ? (uint64_t)max_n : 0};
  mh_pat_result r;
  uint64_t owed;
  bool simulated = price_search(L, s, len, p, plen, &what, &r, &owed);
  /* A replacement string is copied once per match (its captures are
   * bounded by the memory cap, as the result is): its bytes per match,
   * or per position when the search was not simulated. */
  uint64_t repl = lua_type(L, 3) == LUA_TSTRING ? lua_rawlen(L, 3) : 0;
  uint64_t matches = simulated ? r.count : (uint64_t)len + 1;
  mh_lua_charge(L, add_sat(owed, mul_sat(matches, repl) / MH_LUA_BYTES_PER_INSTRUCTION));
  return real(L);
}

/* gmatch's iterator. Upvalues: liblua's iterator, the subject, the
 * pattern, where the next search starts and the end of the last match
 * (-1: none), as liblua's iterator keeps them, and 1 when the pattern's
 * bound is small (then every call is charged the bound: nothing to
 * track). */
static int gmatch_next(lua_State *L) {
  size_t len, plen;
  const char *s = lua_tolstring(L, lua_upvalueindex(2), &len);
  const char *p = lua_tolstring(L, lua_upvalueindex(3), &plen);
  lua_Integer at = lua_tointeger(L, lua_upvalueindex(4)), last = lua_tointeger(L, lua_upvalueindex(5));
  if (lua_toboolean(L, lua_upvalueindex(6))) {
    mh_lua_charge(L, mh_pat_bound(len, p, plen));
  } else if ((size_t)at <= len) {
    pattern_search what = {.op = OP_GMATCH, .at = (size_t)at, .lastmatch = last < 0 ? SIZE_MAX : (size_t)last};
    uint64_t owed;
    mh_pat_result r = simulate(L, s, len, p, plen, &what, &owed);
    mh_lua_charge(L, owed);
    if (r.status == MH_PAT_MATCH) {
      lua_pushinteger(L, (lua_Integer)r.end);
      lua_pushvalue(L, -1);
      lua_replace(L, lua_upvalueindex(4));
      lua_replace(L, lua_upvalueindex(5));
    }
  } else {
    mh_lua_charge(L, 1);
  }
  int top = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_call(L, 0, LUA_MULTRET);
  return lua_gettop(L) - top;
}

static int guarded_gmatch(lua_State *L) {
  lua_CFunction real = lua_tocfunction(L, lua_upvalueindex(1));
  const char *s, *p;
  size_t len, plen;
  lua_Integer init;
  if (!pattern_args(L, 1, 2, &s, &len, &p, &plen) || !opt_int(L, 3, 1, &init)) return real(L);
  size_t at = mh_pat_start(init, len);
  if (at > len) at = len + 1; /* no search at all */
  bool cheap = mh_pat_bound(len, p, plen) < PATTERN_CHEAP_STEPS;
  mh_lua_charge(L, 1);
  /* Called, not run in this frame: liblua's gmatch takes its arguments
   * off the stack into the iterator, and the subject and pattern must
   * stay here for ours. The arguments are valid: it raises nothing. */
  int nargs = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  for (int i = 1; i <= nargs; i++) lua_pushvalue(L, i);
  lua_call(L, nargs, 1);
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2);
  lua_pushinteger(L, (lua_Integer)at);
  lua_pushinteger(L, -1);
  lua_pushboolean(L, cheap);
  lua_pushcclosure(L, gmatch_next, 6);
  return 1;
}

/* Replaces the pattern function name of the table on top by fn over it. */
static void wrap_pattern(lua_State *L, const char *name, lua_CFunction fn) {
  lua_getfield(L, -1, name);
  if (!lua_tocfunction(L, -1)) {
    lua_pop(L, 1);
    return;
  }
  lua_pushcclosure(L, fn, 1);
  lua_setfield(L, -2, name);
}

static void guard_string(lua_State *L) {
  static const wrap w[] = {{"byte", COST_STRINGS},   {"format", COST_STRINGS}, {"lower", COST_STRINGS},
                           {"upper", COST_STRINGS},  {"rep", COST_REP},        {"reverse", COST_STRINGS},
                           {"sub", COST_STRINGS},    {"pack", COST_STRINGS},   {"unpack", COST_STRINGS},
                           {"len", COST_STRINGS},    {NULL, 0}};
  static const luaL_Reg patterns[] = {{"find", guarded_find},
                                      {"match", guarded_match},
                                      {"gmatch", guarded_gmatch},
                                      {"gsub", guarded_gsub},
                                      {NULL, NULL}};
  /* The string metatable's __index is this same table: methods ("x"):rep()
   * reach the guarded functions too. */
  wrap_all(L, w);
  for (const luaL_Reg *r = patterns; r->name; r++) wrap_pattern(L, r->name, r->func);
}

static void guard_table(lua_State *L) {
  static const wrap w[] = {{"concat", COST_TABLES}, {"insert", COST_TABLES}, {"remove", COST_TABLES},
                           {"move", COST_MOVE},     {"sort", COST_SORT},     {"unpack", COST_TABLES},
                           {NULL, 0}};
  wrap_all(L, w);
}

static void guard_utf8(lua_State *L) {
  static const wrap w[] = {{"char", COST_STRINGS},   {"codepoint", COST_STRINGS}, {"len", COST_STRINGS},
                           {"offset", COST_STRINGS}, {NULL, 0}};
  wrap_all(L, w);
}

/* xpcall's message handler, upvalue 1 the plugin's. Lua calls a handler
 * with hooks off when the error was raised inside a hook, as the budget
 * stop is: a plugin handler there could loop for ever. Once stopping, the
 * error passes through unhandled. */
static int guarded_msgh(lua_State *L) {
  if (stopping(L)) {
    lua_settop(L, 1);
    return 1;
  }
  int top = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_CFunction cf = lua_tocfunction(L, -1);
  bool light = cf && !lua_getupvalue(L, -1, 1);
  lua_settop(L, top);
  /* A C function without upvalues runs in this frame, so the levels of
   * xpcall(f, debug.traceback) stay as they were. */
  if (light) return cf(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, top, 1);
  return 1;
}

static int guarded_xpcall(lua_State *L) {
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_pushvalue(L, 2);
  lua_pushcclosure(L, guarded_msgh, 1);
  lua_replace(L, 2);
  /* luaB_xpcall in this frame: its continuation (a yield inside) is set
   * on this frame and works as before. */
  return lua_tocfunction(L, lua_upvalueindex(1))(L);
}

/* Replaces global `name` by the closure fn over the original (when that is
 * a C function), and over the cost kind unless kind < 0. */
static void guard_global(lua_State *L, const char *name, lua_CFunction fn, int kind) {
  if (!lua_tocfunction(L, (lua_getglobal(L, name), -1))) {
    lua_pop(L, 1);
    return;
  }
  if (kind >= 0) {
    lua_pushinteger(L, kind);
    lua_pushcclosure(L, fn, 2);
  } else {
    lua_pushcclosure(L, fn, 1);
  }
  lua_setglobal(L, name);
}

void mh_lua_lib_guard_install(lua_State *L, const mh_lua_meter *m) {
  lua_pushlightuserdata(L, (void *)m);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &meter_key);
  static const struct {
    const char *name;
    void (*guard)(lua_State *L);
  } libs[] = {{LUA_STRLIBNAME, guard_string}, {LUA_TABLIBNAME, guard_table}, {LUA_UTF8LIBNAME, guard_utf8}};
  for (size_t i = 0; i < sizeof libs / sizeof libs[0]; i++) {
    if (lua_getglobal(L, libs[i].name) == LUA_TTABLE) libs[i].guard(L);
    lua_pop(L, 1);
  }
  guard_global(L, "xpcall", guarded_xpcall, -1);
  guard_global(L, "load", guarded, COST_STRINGS); /* compiling is linear in the source */
}
