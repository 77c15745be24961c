/* Evaluates one conf.d fragment in a sandbox and converts the table it
 * returns into an mh_value (see mh_config_eval_file in moonhost_lua.h).
 *
 * The sandbox is a fresh state per file with only the pure libraries, a
 * trimmed `os`, an instruction limit, a wall-time limit and a memory
 * limit: a fragment can compute values and read the environment, nothing
 * else. The library functions whose cost grows with their arguments
 * (string.find, string.rep, table.move, ...) charge the instruction limit
 * (lua_lib_guard.h), and the conversion of the returned table counts the
 * bytes it makes against the memory limit. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/lua_config.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/log.h"
#include "runtime/lua_lib_guard.h"
#include "runtime/lua_runtime.h"

#define CFG_INSTRUCTION_LIMIT 10000000L
#define CFG_HOOK_EVERY 1000
#define CFG_MEMORY_LIMIT ((size_t)64 << 20)
#define CFG_WALL_MS 1000 /* a fragment normally takes well under a millisecond */
#define CFG_MAX_DEPTH 64

typedef struct cfg_sandbox {
  const char *path;
  long instructions;
  uint64_t started_ms; /* monotonic clock when the evaluation began */
  bool stopped;        /* over a limit: the stop error is unwinding */
  size_t used;         /* bytes held by the state */
  size_t converted;    /* bytes of mh_value the conversion made so far */
  mh_buf key;  /* dotted path of the value being converted */
} cfg_sandbox;

static cfg_sandbox *cfg_sandbox_of(lua_State *L) { return *(cfg_sandbox **)lua_getextraspace(L); }

static void cfg_hook(lua_State *L, lua_Debug *ar);

static int cfg_setmetatable(lua_State *L) {
  if (lua_type(L, 2) == LUA_TTABLE && lua_getfield(L, 2, "__gc") != LUA_TNIL)
    return luaL_error(L, "configuration fragments cannot set __gc metamethods");
  lua_settop(L, 2);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, 2, 1); /* the fragment's own call: inside cfg_run's protected call */
  return 1;
}

/* Like realloc, but refuses to grow past CFG_MEMORY_LIMIT so a runaway
 * string.rep cannot take the machine's memory. */
static void *cfg_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  cfg_sandbox *sb = ud;
  if (!ptr) osize = 0; /* osize then tells the object type, not a size */
  if (nsize == 0) {
    free(ptr);
    sb->used -= osize;
    return NULL;
  }
  if (nsize > osize && nsize - osize > CFG_MEMORY_LIMIT - sb->used) return NULL;
  void *p = realloc(ptr, nsize);
  if (p) sb->used = sb->used - osize + nsize;
  return p;
}

static uint64_t cfg_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The meter of the sandbox: the count hook and the guarded library
 * functions charge here; over the instruction or the wall-time limit the
 * evaluation stops. */
static void cfg_charge(lua_State *L, uint64_t cost) {
  cfg_sandbox *sb = cfg_sandbox_of(L);
  if (!sb->stopped) {
    sb->instructions += cost > (uint64_t)CFG_INSTRUCTION_LIMIT ? CFG_INSTRUCTION_LIMIT : (long)cost;
    bool over_time = cfg_now_ms() - sb->started_ms > CFG_WALL_MS;
    if (sb->instructions < CFG_INSTRUCTION_LIMIT && !over_time) return;
    sb->stopped = true;
  }
  /* From now on fire on every instruction, so a fragment that catches the
   * error with pcall fails at its very next instruction. */
  lua_sethook(L, cfg_hook, LUA_MASKCOUNT, 1);
  if (sb->instructions >= CFG_INSTRUCTION_LIMIT)
    lua_pushfstring(L, "%s: took too long (instruction limit)", sb->path);
  else
    lua_pushfstring(L, "%s: took too long (time limit of %d ms)", sb->path, CFG_WALL_MS);
  lua_error(L);
}

static bool cfg_stopping(lua_State *L) { return cfg_sandbox_of(L)->stopped; }

static const mh_lua_meter cfg_meter = {cfg_charge, cfg_stopping};

static void cfg_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  cfg_charge(L, CFG_HOOK_EVERY);
}

/* print() goes to the log: stdout may be the protocol channel. */
static int cfg_print(lua_State *L) {
  luaL_Buffer b;
  int n = lua_gettop(L);
  luaL_buffinit(L, &b);
  for (int i = 1; i <= n; i++) {
    if (i > 1) luaL_addchar(&b, '\t');
    luaL_tolstring(L, i, NULL);
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  mh_log_info("config", "%s: %s", cfg_sandbox_of(L)->path, lua_tostring(L, -1));
  return 0;
}

static void cfg_open_libs(lua_State *L) {
  static const luaL_Reg libs[] = {{LUA_GNAME, luaopen_base},       {LUA_STRLIBNAME, luaopen_string},
                                  {LUA_TABLIBNAME, luaopen_table}, {LUA_MATHLIBNAME, luaopen_math},
                                  {LUA_UTF8LIBNAME, luaopen_utf8}, {NULL, NULL}};
  for (const luaL_Reg *l = libs; l->func; l++) {
    luaL_requiref(L, l->name, l->func, 1);
    lua_pop(L, 1);
  }
  /* Loaders would reach the file system; collectgarbage can defeat limits. */
  static const char *const removed[] = {"dofile", "loadfile", "load", "require", "collectgarbage"};
  for (size_t i = 0; i < sizeof removed / sizeof removed[0]; i++) {
    lua_pushnil(L);
    lua_setglobal(L, removed[i]);
  }
  lua_pushcfunction(L, cfg_print);
  lua_setglobal(L, "print");
  /* Lua runs __gc metamethods with hooks off, so a finalizer that loops
   * would escape the instruction limit: fragments may not set one. */
  lua_getglobal(L, "setmetatable");
  lua_pushcclosure(L, cfg_setmetatable, 1);
  lua_setglobal(L, "setmetatable");
  /* os: only what reads the clock and the environment. */
  static const char *const os_keep[] = {"getenv", "time", "date", "clock"};
  luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 0);
  lua_createtable(L, 0, 4);
  for (size_t i = 0; i < sizeof os_keep / sizeof os_keep[0]; i++) {
    lua_getfield(L, -2, os_keep[i]);
    lua_setfield(L, -2, os_keep[i]);
  }
  lua_setglobal(L, "os");
  lua_pop(L, 1);
  mh_lua_lib_guard_install(L, &cfg_meter);
}

/* Runs protected (mh_lua_pcall): opens the sandbox, loads the file as text
 * only and runs it. */
static int cfg_run(lua_State *L) {
  const char *path = cfg_sandbox_of(L)->path;
  cfg_open_libs(L);
  if (luaL_loadfilex(L, path, "t") != LUA_OK) return lua_error(L);
  lua_sethook(L, cfg_hook, LUA_MASKCOUNT, CFG_HOOK_EVERY);
  /* The hook stays on through conversion and lua_close: __gc metamethods
   * of the returned values run then, and must stay bounded too. */
  lua_call(L, 0, 1);
  return 1;
}

/* ---- conversion (unprotected: only calls that cannot raise) ---- */

static mh_value *cfg_convert(lua_State *L, cfg_sandbox *sb, int depth, char **err);

/* Sets *err to "FILE: KEY: what" ("FILE: what" at the top level). */
static mh_value *cfg_fail(cfg_sandbox *sb, char **err, const char *what) {
  mh_buf b = MH_BUF_INIT;
  int rc = sb->key.len ? mh_buf_appendf(&b, "%s: %s: %s", sb->path, sb->key.data, what)
                       : mh_buf_appendf(&b, "%s: %s", sb->path, what);
  if (rc == 0) *err = mh_buf_steal(&b, NULL);
  mh_buf_free(&b);
  return NULL;
}

/* Counts the bytes of mh_value the conversion makes: a table used in
 * several places is copied for each, so a few kilobytes of Lua can stand
 * for gigabytes. The converted fragment gets the state's memory limit. */
static bool cfg_spend(cfg_sandbox *sb, size_t bytes, char **err) {
  if (bytes <= CFG_MEMORY_LIMIT - sb->converted) {
    sb->converted += bytes;
    return true;
  }
  char what[160];
  snprintf(what, sizeof what, "the returned table is over %zu MiB once converted "
           "(a table used in several places is copied for each)", CFG_MEMORY_LIMIT >> 20);
  cfg_fail(sb, err, what);
  return false;
}

/* Appends ".name" or "[i]" to the key path; returns the length to restore. */
static size_t cfg_key_push(cfg_sandbox *sb, lua_State *L, int keyidx) {
  size_t old = sb->key.len, n;
  if (lua_type(L, keyidx) == LUA_TSTRING) {
    const char *s = lua_tolstring(L, keyidx, &n);
    if (old) mh_buf_append(&sb->key, ".", 1);
    mh_buf_append(&sb->key, s, n);
  } else {
    mh_buf_appendf(&sb->key, "[%lld]", (long long)lua_tointeger(L, keyidx));
  }
  mh_buf_terminate(&sb->key);
  return old;
}

static void cfg_key_pop(cfg_sandbox *sb, size_t old) {
  sb->key.len = old;
  mh_buf_terminate(&sb->key);
}

/* A table is a list when its keys are exactly the integers 1..n (n >= 1). */
static int cfg_table_shape(lua_State *L, cfg_sandbox *sb, char **err) {
  lua_Integer count = 0;
  int strings = 0, others = 0;
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    lua_pop(L, 1);
    count++;
    if (lua_type(L, -1) == LUA_TSTRING) strings++;
    else others++;
  }
  if (others == 0) return MH_V_OBJECT; /* the empty table too */
  if (strings == 0 && (lua_Integer)lua_rawlen(L, -1) == count) {
    /* rawlen is a border; with count keys it is 1..count only if all are there */
    lua_Integer i = 1;
    while (i <= count && (lua_rawgeti(L, -1, i), !lua_isnil(L, -1))) lua_pop(L, 1), i++;
    if (i > count) return MH_V_ARRAY;
    lua_pop(L, 1);
  }
  cfg_fail(sb, err, strings ? "table mixes list items and named keys"
                            : "table keys must be strings, or a list 1..n");
  return -1;
}

static mh_value *cfg_convert_array(lua_State *L, cfg_sandbox *sb, int depth, char **err) {
  mh_value *arr = mh_value_new(MH_V_ARRAY);
  lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
  for (lua_Integer i = 1; arr && i <= n; i++) {
    lua_pushinteger(L, i);
    size_t old = cfg_key_push(sb, L, -1);
    lua_rawgeti(L, -2, i);
    mh_value *item = cfg_convert(L, sb, depth + 1, err);
    lua_pop(L, 2);
    cfg_key_pop(sb, old);
    if (!item || mh_value_push(arr, item)) {
      mh_value_free(arr);
      return NULL;
    }
  }
  return arr;
}

static int cfg_pair_cmp(const void *a, const void *b) {
  const mh_value *x = ((const mh_pair *)a)->key, *y = ((const mh_pair *)b)->key;
  size_t n = x->u.str.len < y->u.str.len ? x->u.str.len : y->u.str.len;
  int c = memcmp(x->u.str.ptr, y->u.str.ptr, n);
  return c ? c : (x->u.str.len > y->u.str.len) - (x->u.str.len < y->u.str.len);
}

static mh_value *cfg_convert_object(lua_State *L, cfg_sandbox *sb, int depth, char **err) {
  mh_value *obj = mh_value_new(MH_V_OBJECT);
  if (!obj) return NULL;
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    size_t len;
    const char *k = lua_tolstring(L, -2, &len);
    mh_value *v = NULL;
    /* Checked before the key joins the path, which must stay printable. */
    if (memchr(k, 0, len) || !mh_utf8_valid(k, len)) {
      cfg_fail(sb, err, "key is not valid UTF-8 text (or holds a NUL byte)");
    } else if (cfg_spend(sb, mh_value_cost(len), err)) {
      size_t old = cfg_key_push(sb, L, -2);
      v = cfg_convert(L, sb, depth + 1, err);
      cfg_key_pop(sb, old);
    }
    lua_pop(L, 1);
    if (!v || mh_value_obj_append(obj, k, len, v)) {
      lua_pop(L, 1);
      mh_value_free(obj);
      return NULL;
    }
  }
  /* Table order is a hash accident; sorted keys make output and the first
   * error reported the same on every run. */
  if (obj->u.obj.len > 1)
    qsort(obj->u.obj.items, obj->u.obj.len, sizeof(mh_pair), cfg_pair_cmp);
  return obj;
}

static mh_value *cfg_convert_table(lua_State *L, cfg_sandbox *sb, int depth, char **err) {
  if (depth > CFG_MAX_DEPTH || !lua_checkstack(L, 4)) {
    /* The key path names where the loop or the deep nesting is. */
    mh_buf b = MH_BUF_INIT;
    if (mh_buf_appendf(&b, "%s: cycle or nesting deeper than %d at %s", sb->path, CFG_MAX_DEPTH,
                       sb->key.len ? sb->key.data : "the top level") == 0)
      *err = mh_buf_steal(&b, NULL);
    mh_buf_free(&b);
    return NULL;
  }
  int shape = cfg_table_shape(L, sb, err);
  if (shape < 0) return NULL;
  return shape == MH_V_ARRAY ? cfg_convert_array(L, sb, depth, err)
                             : cfg_convert_object(L, sb, depth, err);
}

/* Converts the value on top of the stack (left there). */
static mh_value *cfg_convert(lua_State *L, cfg_sandbox *sb, int depth, char **err) {
  size_t len;
  const char *s;
  if (!cfg_spend(sb, mh_value_cost(lua_type(L, -1) == LUA_TSTRING ? lua_rawlen(L, -1) : 0), err))
    return NULL;
  switch (lua_type(L, -1)) {
  case LUA_TBOOLEAN: return mh_value_bool(lua_toboolean(L, -1));
  case LUA_TNUMBER:
    if (lua_isinteger(L, -1)) return mh_value_int(lua_tointeger(L, -1));
    return mh_value_float(lua_tonumber(L, -1));
  case LUA_TSTRING:
    s = lua_tolstring(L, -1, &len);
    if (!mh_utf8_valid(s, len)) return cfg_fail(sb, err, "string is not valid UTF-8");
    return mh_value_string(s, len);
  case LUA_TTABLE: return cfg_convert_table(L, sb, depth, err);
  default: {
    char what[96];
    snprintf(what, sizeof what, "cannot use a %s value (only tables, strings, numbers, booleans)",
             luaL_typename(L, -1));
    return cfg_fail(sb, err, what);
  }
  }
}

/* ---- entry point ---- */

/* "FILE: message" on one line (the door's text without its traceback);
 * Lua's own messages already start "FILE:". */
static char *cfg_error(lua_State *L, const char *path) {
  const char *msg = lua_tostring(L, -1); /* the door leaves a string */
  size_t pl = strlen(path), n = mh_lua_message_len(msg);
  mh_buf b = MH_BUF_INIT;
  if (n > pl && strncmp(msg, path, pl) == 0 && msg[pl] == ':') mh_buf_append(&b, msg, n);
  else mh_buf_appendf(&b, "%s: %.*s", path, (int)n, msg);
  if (mh_buf_terminate(&b)) return NULL;
  /* One line, and no terminal escapes from the fragment's own message. */
  for (size_t i = 0; i < b.len; i++) {
    unsigned char c = (unsigned char)b.data[i];
    if (c == '\n' || c == '\r') b.data[i] = ' ';
    else if (c < 0x20 || c == 0x7f) b.data[i] = '?';
  }
  return mh_buf_steal(&b, NULL);
}

mh_value *mh_config_eval_file(const char *path, char **errmsg) {
  cfg_sandbox sb = {.path = path, .key = MH_BUF_INIT, .started_ms = cfg_now_ms()};
  mh_value *v = NULL;
  char *err = NULL;
  lua_State *L = lua_newstate(cfg_alloc, &sb);
  if (!L) goto done;
  *(cfg_sandbox **)lua_getextraspace(L) = &sb;
  lua_pushcfunction(L, cfg_run);
  if (mh_lua_pcall(L, 0, 1) != LUA_OK) err = cfg_error(L, path);
  else if (lua_type(L, -1) != LUA_TTABLE) {
    char what[64];
    snprintf(what, sizeof what, "must return a table, got %s", luaL_typename(L, -1));
    cfg_fail(&sb, &err, what);
  } else v = cfg_convert(L, &sb, 1, &err);
  lua_close(L);
done:
  mh_buf_free(&sb.key);
  if (!v && !err) {
    mh_buf b = MH_BUF_INIT;
    if (mh_buf_appendf(&b, "%s: out of memory", path) == 0) err = mh_buf_steal(&b, NULL);
    mh_buf_free(&b);
  }
  if (!v && errmsg) *errmsg = err;
  else free(err);
  return v;
}
