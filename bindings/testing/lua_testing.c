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
#include "moonhost_lua.h"
#include "call/dispatch.h"
#include "core/log.h"
#include "value/lua_types.h"

#define OP_MT "moonhost.testing.op"

static struct runner {
  mh_host *host;
  mh_engine *e;
  uv_timer_t guard; /* ends a run_once turn in time */
  bool guard_ready, in_loop;
  bool exiting; /* os.exit was called: unwinding to the C caller */
  int exit_code;
} R;

static int max_depth(void) { return R.host->cfg->limits.json_max_depth; }

mh_value *mh_lua_testing_args(lua_State *L, int first) {
  mh_value *arr = mh_value_new(MH_V_ARRAY);
  if (!arr) luaL_error(L, "out of memory");
  for (int i = first; i <= lua_gettop(L); i++) {
    char *why = NULL;
    mh_value *v = mh_lua_to_value(L, i, max_depth(), &why);
    if (!v) {
      mh_value_free(arr);
      lua_pushfstring(L, "argument %d cannot be sent: %s", i - first + 1, why ? why : "out of memory");
      free(why);
      lua_error(L);
    }
    mh_value_push(arr, v);
  }
  return arr;
}

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

/* ---- ops: something the runner waits for ------------------------------ */

typedef mh_test_op test_op;

test_op *mh_lua_testing_push_op(lua_State *L, bool load) {
  test_op **slot = lua_newuserdatauv(L, sizeof *slot, 0);
  *slot = calloc(1, sizeof **slot);
  if (!*slot) luaL_error(L, "out of memory");
  (*slot)->load = load;
  luaL_setmetatable(L, OP_MT);
  return *slot;
}

static test_op *check_op(lua_State *L) { return *(test_op **)luaL_checkudata(L, 1, OP_MT); }

static int op_done(lua_State *L) {
  lua_pushboolean(L, check_op(L)->done);
  return 1;
}

/* -> true, value | false, error table */
static int op_result(lua_State *L) {
  test_op *op = check_op(L);
  if (!op->done) return luaL_error(L, "moonhost.testing: the operation has not finished");
  lua_pushboolean(L, op->err == NULL);
  if (op->err)
    mh_lua_push_error(L, op->err);
  else
    mh_lua_push_value(L, op->value);
  return 2;
}

/* A call nobody waits for any more is cancelled; a load cannot be, so it
 * is left to free itself when it ends. */
static int op_gc(lua_State *L) {
  test_op **slot = luaL_checkudata(L, 1, OP_MT);
  test_op *op = *slot;
  if (!op) return 0;
  *slot = NULL;
  if (!op->done && op->load) {
    op->orphaned = true;
    return 0;
  }
  if (!op->done && op->w) mh_dispatch_cancel(op->w);
  mh_value_free(op->value);
  mh_error_free(op->err);
  free(op);
  return 0;
}

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
  mh_value *args = mh_lua_testing_args(L, 2);
  test_op *op = mh_lua_testing_push_op(L, false);
  mh_waiter *w = mh_dispatch(R.host, NULL, name, args, false, dispatch_reply, op);
  if (!op->done) op->w = w;
  return 1;
}

/* ---- the runner's own moonhost.core and moonhost.call ----------------- */

/* Calls require('moonhost.testing')[fn](args...) with the arguments given. */
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
static int l_runner_on_cancel(lua_State *L) { return luaL_error(L, "moonhost.on_cancel: only inside a handler"); }

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
  lua_rawgeti(L, LUA_REGISTRYINDEX, R.e->array_mt_ref);
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

static int open_testing_core(lua_State *L) {
  static const luaL_Reg op_methods[] = {{"done", op_done}, {"result", op_result}, {NULL, NULL}};
  if (luaL_newmetatable(L, OP_MT)) {
    luaL_newlib(L, op_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, op_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  static const luaL_Reg fns[] = {
    {"run_once", l_run_once}, {"now", l_now}, {"dispatch", l_dispatch}, {NULL, NULL}};
  luaL_newlib(L, fns);
  mh_lua_testing_project_open(L);
  mh_lua_testing_client_open(L);
  return 1;
}

/* ---- the program ------------------------------------------------------ */

static char exit_tag;

/* os.exit unwinds to mh_lua_script_main instead of ending the process, so
 * the host is torn down (and LeakSanitizer sees a clean exit). busted ends
 * a failed run with os.exit(1). */
static int l_exit(lua_State *L) {
  R.exiting = true;
  R.exit_code = lua_isboolean(L, 1) ? !lua_toboolean(L, 1) : (int)luaL_optinteger(L, 1, 0);
  lua_pushlightuserdata(L, &exit_tag);
  return lua_error(L);
}

static int traceback(lua_State *L) {
  if (lua_touserdata(L, 1) == &exit_tag) return 1;
  const char *msg = lua_tostring(L, 1);
  luaL_traceback(L, L, msg ? msg : luaL_tolstring(L, 1, NULL), 1);
  return 1;
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
    if (lua_pcall(L, 0, 0, 0) != LUA_OK) mh_log_warn("test", "cleaning up: %s", lua_tostring(L, -1));
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
  lua_pushcfunction(L, traceback);
  lua_pushcfunction(L, script_body);
  lua_pushlightuserdata(L, (void *)s);
  int rc, status = lua_pcall(L, 1, 1, 1);
  if (R.exiting) {
    rc = R.exit_code;
  } else if (status != LUA_OK) {
    fprintf(stderr, "moonhost: %s\n", lua_tostring(L, -1) ? lua_tostring(L, -1) : "error");
    rc = 1;
  } else {
    rc = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 0;
  }
  fflush(stdout);
  teardown(L);
  return rc;
}
