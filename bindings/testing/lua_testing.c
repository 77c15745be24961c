/* The runner of `moonhost test` and `moonhost types`: a Lua state that is no
 * plugin's, beside a real host (host/cli/cmds.h). Its moonhost.testing.core is
 * what lua/moonhost/testing.lua builds on:
 *
 *   run_once(ms)            one turn of the real libuv loop (at most ms)
 *   now()                   the loop's clock, ms
 *   dispatch(name, ...)     -> op: a call through the dispatcher
 *   load(name, path, dir)   -> op: a plugin load (lua_testing_project.c, with
 *                           unload, describe, config, root, the dev server)
 *   client_new(trusted, codec) -> an in-process client (lua_testing_client.c)
 *
 * Waiting is always the runner turning the loop from the top (never from
 * inside a loop callback): an op is polled with :done() between turns. */
#include "testing/lua_testing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cmds.h"
#include "testing/lua_script.h"
#include "call/dispatch.h"
#include "call/stream.h"
#include "core/log.h"
#include "value/lua_types.h"

static struct runner {
  mh_host *host;
  mh_engine *e;
  uv_timer_t guard; /* ends a run_once turn in time */
  bool guard_ready, in_loop;
  bool exiting; /* os.exit was called: unwinding to the C caller */
  int exit_code;
} R;

/* ---- the loop --------------------------------------------------------- */

static void on_guard(uv_timer_t *t) { (void)t; }

static int l_run_once(lua_State *L) {
  lua_Integer ms = luaL_optinteger(L, 1, 0);
  if (R.in_loop) return luaL_error(L, "moonhost.testing: cannot wait from inside a loop callback");
  if (!R.guard_ready) {
    uv_timer_init(R.host->loop, &R.guard);
    R.guard_ready = true;
  }
  uv_timer_start(&R.guard, on_guard, ms > 0 ? (uint64_t)ms : 0, 0);
  R.in_loop = true;
  uv_run(R.host->loop, UV_RUN_ONCE);
  R.in_loop = false;
  uv_timer_stop(&R.guard);
  return 0;
}

static int l_now(lua_State *L) {
  uv_update_time(R.host->loop);
  lua_pushinteger(L, (lua_Integer)uv_now(R.host->loop));
  return 1;
}

/* ---- a call through the dispatcher, as an op -------------------------- */

typedef mh_test_op test_op;

static void dispatch_reply(void *ud, const mh_value *result, const mh_error *err) {
  test_op *op = ud;
  op->done = true;
  op->w = NULL;
  if (err) {
    op->err = mh_error_copy(err);
  } else {
    op->value = mh_value_copy(result);
    if (!op->value) op->err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
  }
}

static int l_dispatch(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  mh_value *args = mh_lua_args(L, 2, NULL);
  test_op *op = mh_lua_testing_push_op(L, false);
  mh_waiter *w = mh_dispatch(R.host, NULL, name, args, false, dispatch_reply, op);
  if (!op->done) op->w = w;
  return 1;
}

/* A stream read whole: its chunks are kept in order; a spec reader never
 * holds the producer back (it reads what the loop delivers). */
static size_t keep_chunk(void *ud, const mh_value *value, const mh_chunk_meta *meta) {
  test_op *op = ud;
  (void)meta;
  mh_value *copy = mh_value_copy(value);
  if (!copy || mh_value_push(op->chunks, copy)) {
    if (!op->err) op->err = mh_error_new(MH_ERR_INTERNAL, "out of memory keeping a chunk");
  }
  return 0;
}

static const mh_stream_sink keeper = {.on_chunk = keep_chunk};

static void stream_end(void *ud, const mh_value *result, const mh_error *err) {
  test_op *op = ud;
  if (op->err) { /* a chunk was lost: the stream's outcome would lie */
    op->done = true;
    op->w = NULL;
    return;
  }
  dispatch_reply(ud, result, err);
}

/* stream(name, last_event_id|nil, args...) -> op; op:chunks() */
static int l_stream(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  const char *last_event_id = luaL_optstring(L, 2, NULL);
  mh_value *args = mh_lua_args(L, 3, NULL);
  test_op *op = mh_lua_testing_push_op(L, false);
  op->chunks = mh_value_new(MH_V_ARRAY);
  if (!op->chunks) {
    mh_value_free(args);
    return luaL_error(L, "out of memory");
  }
  mh_waiter *w = mh_dispatch_stream(R.host, NULL, name, args, &keeper, last_event_id, stream_end, op);
  if (!op->done) op->w = w;
  return 1;
}

/* ---- the runner's own moonhost.core and moonhost.call ----------------- */

/* Calls require('moonhost.testing')[fn](args...) with the arguments given.
 * Plain lua_call here and in script_body: they run inside the door's
 * protected call of mh_lua_script_main, which reports their errors. */
static int call_testing(lua_State *L, const char *fn) {
  int n = lua_gettop(L);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "moonhost.testing");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, fn);
  lua_replace(L, -2);
  lua_insert(L, 1);
  lua_call(L, n, LUA_MULTRET);
  return lua_gettop(L);
}

static int l_runner_sleep(lua_State *L) { return call_testing(L, "sleep"), 0; }
static int l_runner_dispatch(lua_State *L) { return call_testing(L, "_dispatch"); }
static int l_runner_caller(lua_State *L) { return (void)L, 0; }
/* A spec runs no handler: the one context check says so. */
static int l_runner_on_cancel(lua_State *L) {
  mh_lua_check_context(L, "moonhost.on_cancel", MH_LUA_NEED_CALL);
  return 0;
}

static int l_runner_log(lua_State *L) {
  int level = mh_log_level_parse(luaL_checkstring(L, 1));
  luaL_argcheck(L, level >= 0, 1, "unknown log level");
  if (mh_log_enabled((mh_log_level)level)) mh_log((mh_log_level)level, "test", "%s", luaL_checkstring(L, 2));
  return 0;
}

/* What `require 'moonhost'` finds in a spec: the host's null, undefined and
 * types (so values compare equal to what plugins send), and a sleep that
 * turns the loop. */
static int open_runner_core(lua_State *L) {
  static const luaL_Reg fns[] = {{"now", l_now}, {"sleep", l_runner_sleep}, {"log", l_runner_log}, {NULL, NULL}};
  luaL_newlib(L, fns);
  lua_pushlightuserdata(L, MH_LUA_NULL);
  lua_setfield(L, -2, "null");
  lua_pushlightuserdata(L, MH_LUA_UNDEFINED);
  lua_setfield(L, -2, "undefined");
  lua_rawgeti(L, LUA_REGISTRYINDEX, R.e->values.array_mt_ref);
  lua_setfield(L, -2, "array_mt");
  mh_lua_push_type_metatables(L);
  lua_setfield(L, -2, "types");
  return 1;
}

static int open_runner_call(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"dispatch", l_runner_dispatch}, {"caller", l_runner_caller}, {"on_cancel", l_runner_on_cancel}, {NULL, NULL}};
  luaL_newlib(L, fns);
  return 1;
}

/* A spec's own code runs outside any handler; its plugins' handlers have
 * the real moonhost.exec, read_file, write_file and fetch. */
static int only_in_plugins(lua_State *L, const char *what, const char *instead) {
  return luaL_error(L, "moonhost.%s: only in a plugin's handler or setup (a spec itself may use %s; testing.call a handler "
                       "that runs moonhost.%s)", what, instead, what);
}

static int l_runner_exec(lua_State *L) { return only_in_plugins(L, "exec", "os.execute or io.popen"); }
static int l_runner_read_file(lua_State *L) { return only_in_plugins(L, "read_file", "io.open"); }
static int l_runner_write_file(lua_State *L) { return only_in_plugins(L, "write_file", "io.open"); }
static int l_runner_fetch(lua_State *L) { return only_in_plugins(L, "fetch", "io.popen with curl"); }

static int open_runner_process(lua_State *L) {
  static const luaL_Reg fns[] = {{"exec", l_runner_exec}, {NULL, NULL}};
  luaL_newlib(L, fns);
  return 1;
}

static int open_runner_http(lua_State *L) {
  static const luaL_Reg fns[] = {{"fetch", l_runner_fetch}, {NULL, NULL}};
  luaL_newlib(L, fns);
  return 1;
}

static int open_runner_files(lua_State *L) {
  static const luaL_Reg fns[] = {{"read_file", l_runner_read_file}, {"write_file", l_runner_write_file}, {NULL, NULL}};
  luaL_newlib(L, fns);
  return 1;
}

static int open_testing_core(lua_State *L) {
  mh_lua_testing_op_open(L);
  static const luaL_Reg fns[] = {
    {"run_once", l_run_once}, {"now", l_now}, {"dispatch", l_dispatch}, {"stream", l_stream}, {NULL, NULL}};
  luaL_newlib(L, fns);
  mh_lua_testing_project_open(L);
  mh_lua_testing_client_open(L);
  mh_lua_testing_dump_open(L);
  return 1;
}

/* ---- the program ------------------------------------------------------ */

/* os.exit unwinds to mh_lua_script_main instead of ending the process, so
 * the host is torn down (and LeakSanitizer sees a clean exit). busted ends
 * a failed run with os.exit(1). R.exiting tells that unwinding from an
 * error (a pcall in the program could catch it; busted's does not). */
static int l_exit(lua_State *L) {
  R.exiting = true;
  R.exit_code = lua_isboolean(L, 1) ? !lua_toboolean(L, 1) : (int)luaL_optinteger(L, 1, 0);
  return luaL_error(L, "os.exit(%d)", R.exit_code);
}

/* require(module).main(args, opts) */
static int script_body(lua_State *L) {
  const mh_script *s = lua_touserdata(L, 1);
  lua_getglobal(L, "require");
  lua_pushstring(L, s->module);
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "main");
  lua_createtable(L, s->argc, 0);
  for (int i = 0; i < s->argc; i++) {
    lua_pushstring(L, s->argv[i]);
    lua_rawseti(L, -2, i + 1);
  }
  lua_newtable(L);
  for (const char *const *o = s->opts; o && o[0] && o[1]; o += 2) {
    lua_pushstring(L, o[1]);
    lua_setfield(L, -2, o[0]);
  }
  lua_call(L, 2, 1);
  return 1;
}

static void install(lua_State *L) {
  static const luaL_Reg modules[] = {{"moonhost.core", open_runner_core},
                                     {"moonhost.call", open_runner_call},
                                     {"moonhost.process", open_runner_process},
                                     {"moonhost.files", open_runner_files},
                                     {"moonhost.http", open_runner_http},
                                     {"moonhost.testing.core", open_testing_core},
                                     {NULL, NULL}};
  mh_lua_preload(L, modules);
  lua_getglobal(L, "os");
  lua_pushcfunction(L, l_exit);
  lua_setfield(L, -2, "exit");
  lua_pop(L, 1);
}

/* What the program left running: the Lua side first (it unloads plugins
 * and stops the dev server in order), then whatever an error skipped. */
static void teardown(lua_State *L) {
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "loaded");
  lua_getfield(L, -1, "moonhost.testing");
  if (lua_istable(L, -1)) {
    lua_getfield(L, -1, "shutdown");
    if (mh_lua_pcall(L, 0, 0) != LUA_OK) mh_log_warn("test", "cleaning up: %s", lua_tostring(L, -1));
  }
  lua_settop(L, 0);
  mh_lua_testing_clients_close();
  mh_lua_testing_cancel_all();
  if (R.guard_ready) uv_close((uv_handle_t *)&R.guard, NULL);
  mh_lua_runner_free(R.e); /* calls still waited for are cancelled here */
  mh_lua_testing_project_free(); /* the dev server, temporary directories */
}

int mh_lua_script_main(mh_host *h, const mh_script *s) {
  memset(&R, 0, sizeof R);
  R.host = h;
  R.e = mh_lua_runner_new(h);
  if (!R.e || mh_lua_testing_project_init(h)) {
    fprintf(stderr, "moonhost: cannot create a Lua state (out of memory)\n");
    mh_lua_runner_free(R.e);
    mh_lua_testing_project_free();
    return 1;
  }
  lua_State *L = R.e->L;
  install(L);
  lua_pushcfunction(L, script_body);
  lua_pushlightuserdata(L, (void *)s);
  int rc, status = mh_lua_pcall(L, 1, 1);
  if (R.exiting) {
    rc = R.exit_code;
  } else if (status != LUA_OK) {
    fprintf(stderr, "moonhost: %s\n", lua_tostring(L, -1));
    rc = 1;
  } else {
    rc = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 0;
  }
  fflush(stdout);
  teardown(L);
  return rc;
}
