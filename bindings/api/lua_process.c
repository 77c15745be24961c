/* moonhost.process: moonhost.exec's C half (core/process.h runs the program).
 *   exec(argv, opts) -> true, {code=, signal=, stdout=, stderr=, timed_out=,
 *                       truncated=, ms=, pid=}
 * argv: {program, args...}, never through a shell. opts: cwd (relative to
 * the project root), env ({NAME = value | false}), stdin (a string), timeout
 * (seconds), max_output (bytes of stdout and of stderr each). The handler
 * waits without blocking the host; a cancelled call kills the program. A
 * program that cannot start raises at once. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/lua_api.h"
#include "core/log.h"
#include "core/process.h"

/* Node's execFile keeps as much (its maxBuffer). */
#define DEFAULT_MAX_OUTPUT (1024 * 1024)
#define MAX_ARGS 4096

#define fail(L, ...) mh_lua_fail(L, "moonhost.exec", __VA_ARGS__)

typedef struct exec_op {
  mh_lua_call *call;
  mh_process *proc;
  char *program; /* argv[0], for the log */
  int pid;
} exec_op;

static mh_value *result_value(const mh_process_result *r) {
  mh_value *v = mh_value_new(MH_V_OBJECT);
  bool ok = v != NULL;
  if (ok && r->term_signal == 0) ok = !mh_value_obj_set(v, "code", mh_value_int(r->exit_status));
  if (ok && r->term_signal) ok = !mh_value_obj_set(v, "signal", mh_value_int(r->term_signal));
  ok = ok && !mh_value_obj_set(v, "stdout", mh_value_string(r->out.data ? r->out.data : "", r->out.len)) &&
       !mh_value_obj_set(v, "stderr", mh_value_string(r->err.data ? r->err.data : "", r->err.len)) &&
       !mh_value_obj_set(v, "timed_out", mh_value_bool(r->timed_out)) &&
       !mh_value_obj_set(v, "truncated", mh_value_bool(r->out_truncated || r->err_truncated)) &&
       !mh_value_obj_set(v, "ms", mh_value_int((int64_t)r->ms)) && !mh_value_obj_set(v, "pid", mh_value_int(r->pid));
  if (ok) return v;
  mh_value_free(v);
  return NULL;
}

static void exec_done(void *ud, mh_process_result *r) {
  exec_op *op = ud;
  if (r->timed_out)
    mh_log_warn("exec", "'%s' (pid %d) killed after its timeout (%llu ms)", op->program, r->pid,
                (unsigned long long)r->ms);
  else
    mh_log_debug("exec", "'%s' (pid %d) ended: %s %d in %llu ms", op->program, r->pid,
                 r->term_signal ? "signal" : "exit code", r->term_signal ? r->term_signal : (int)r->exit_status,
                 (unsigned long long)r->ms);
  mh_value *v = result_value(r);
  mh_lua_call *call = op->call;
  free(op->program);
  free(op);
  mh_lua_wake(call, v, v ? NULL : mh_error_new(MH_ERR_INTERNAL, "moonhost.exec: out of memory"));
}

static void exec_cancel(void *ud) {
  exec_op *op = ud;
  mh_log_debug("exec", "'%s' (pid %d): its call was cancelled: killed", op->program, op->pid);
  mh_process_cancel(op->proc);
  free(op->program);
  free(op);
}

/* argv at index 1: {program, args...}, strings without NUL. The pointers
 * are the table's strings, alive while it is on the stack. */
static char **read_argv(lua_State *L) {
  if (!lua_istable(L, 1)) fail(L, "argv must be a table {program, args...}, got %s", luaL_typename(L, 1));
  lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
  if (n < 1) fail(L, "argv is empty: it needs at least the program");
  if (n > MAX_ARGS) fail(L, "more than %d arguments", MAX_ARGS);
  char **argv = lua_newuserdatauv(L, sizeof *argv * (size_t)(n + 1), 0); /* freed by the GC */
  for (lua_Integer i = 1; i <= n; i++) {
    if (lua_rawgeti(L, 1, i) != LUA_TSTRING) fail(L, "argv[%d] is %s, not a string", (int)i, luaL_typename(L, -1));
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    if (strlen(s) != len) fail(L, "argv[%d] holds a NUL byte", (int)i);
    argv[i - 1] = (char *)s;
    lua_pop(L, 1); /* the table holds it */
  }
  argv[n] = NULL;
  if (!argv[0][0]) fail(L, "the program (argv[1]) is an empty string");
  return argv;
}

/* opts.env: names to set (a string) or remove (false) over the host's environment. */
static char **read_env(lua_State *L, int opts) {
  if (lua_getfield(L, opts, "env") == LUA_TNIL) {
    lua_pop(L, 1);
    return NULL;
  }
  if (!lua_istable(L, -1)) fail(L, "env must be a table {NAME = value | false}");
  int t = lua_gettop(L);
  size_t n = 0;
  for (lua_pushnil(L); lua_next(L, t); lua_pop(L, 1)) n++;
  const char **names = lua_newuserdatauv(L, sizeof *names * (n + 1), 0);
  const char **values = lua_newuserdatauv(L, sizeof *values * (n + 1), 0);
  size_t k = 0;
  for (lua_pushnil(L); lua_next(L, t); lua_pop(L, 1)) {
    if (lua_type(L, -2) != LUA_TSTRING) fail(L, "env keys must be names (strings)");
    size_t nlen, vlen = 0;
    const char *name = lua_tolstring(L, -2, &nlen);
    if (!nlen || strlen(name) != nlen || strchr(name, '='))
      fail(L, "env name '%s' is empty or holds '=' or a NUL byte", name);
    const char *value = NULL;
    if (lua_type(L, -1) == LUA_TSTRING) {
      value = lua_tolstring(L, -1, &vlen);
      if (strlen(value) != vlen) fail(L, "env %s holds a NUL byte", name);
    } else if (!(lua_isboolean(L, -1) && !lua_toboolean(L, -1))) {
      fail(L, "env %s must be a string, or false to remove it", name);
    }
    names[k] = name, values[k] = value, k++;
  }
  char **env = mh_env_with(names, values, k);
  lua_pop(L, 3); /* the table and the two arrays; the table's strings were copied */
  if (!env) fail(L, "out of memory");
  return env;
}

static double opt_number(lua_State *L, int opts, const char *name, double dflt) {
  lua_getfield(L, opts, name);
  double v = dflt;
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) != LUA_TNUMBER) fail(L, "%s must be a number", name);
    v = lua_tonumber(L, -1);
    if (!(v >= 0 && v < 1e12)) fail(L, "%s must be 0 or more", name);
  }
  lua_pop(L, 1);
  return v;
}

/* cwd: absolute, or relative to the project root (ctx.root). Left on the stack. */
static const char *read_cwd(lua_State *L, int opts, const char *root) {
  if (lua_getfield(L, opts, "cwd") == LUA_TNIL) return root;
  size_t len;
  if (lua_type(L, -1) != LUA_TSTRING) fail(L, "cwd must be a string (a directory), got %s", luaL_typename(L, -1));
  const char *cwd = lua_tolstring(L, -1, &len);
  if (strlen(cwd) != len) fail(L, "cwd holds a NUL byte");
  if (cwd[0] == '/') return cwd;
  return lua_pushfstring(L, "%s/%s", root, cwd);
}

static int l_exec(lua_State *L) {
  mh_lua_call *call = mh_lua_check_context(L, "moonhost.exec", MH_LUA_NEED_WAIT);
  mh_engine *e = mh_lua_engine_of(L);
  if (lua_isnoneornil(L, 2)) {
    lua_settop(L, 1);
    lua_newtable(L);
  }
  if (!lua_istable(L, 2)) fail(L, "opts must be a table, got %s", luaL_typename(L, 2));
  lua_settop(L, 2);
  char **argv = read_argv(L); /* on the stack from here on */
  mh_process_spec spec = {.argv = argv, .cwd = read_cwd(L, 2, e->host->cfg->root)};
  if (lua_getfield(L, 2, "stdin") != LUA_TNIL) {
    if (lua_type(L, -1) != LUA_TSTRING) fail(L, "stdin must be a string");
    spec.input = lua_tolstring(L, -1, &spec.input_len);
  }
  spec.timeout_ms = (uint64_t)(opt_number(L, 2, "timeout", 0) * 1000);
  spec.max_output = (size_t)opt_number(L, 2, "max_output", DEFAULT_MAX_OUTPUT);
  /* What is kept becomes a Lua string of this plugin's state: more could
   * never arrive, and would only grow the host outside the plugin's bound. */
  if (spec.max_output > e->mem_limit)
    fail(L, "max_output %I is over this plugin's Lua memory (lua.memory_bytes, %I)", (lua_Integer)spec.max_output,
         (lua_Integer)e->mem_limit);
  struct stat st;
  if (stat(spec.cwd, &st) || !S_ISDIR(st.st_mode))
    return fail(L, "cwd %s is not a directory", spec.cwd);
  spec.env = read_env(L, 2); /* the last that may raise: the first C memory */
  exec_op *op = calloc(1, sizeof *op);
  char *program = strdup(argv[0]);
  int err = UV_ENOMEM;
  if (op && program) {
    *op = (exec_op){.call = call, .program = program};
    op->proc = mh_process_start(e->host->loop, &spec, exec_done, op, &err);
  }
  mh_env_free(spec.env);
  if (!op || !op->proc) {
    free(program);
    free(op);
    return fail(L, "cannot run '%s': %s", argv[0], uv_strerror(err));
  }
  op->pid = mh_process_pid(op->proc);
  mh_log_debug("exec", "'%s' started (pid %d) in %s", program, op->pid, spec.cwd);
  return mh_lua_await(L, call, exec_cancel, op);
}

int mh_luaopen_process(lua_State *L) {
  static const luaL_Reg fns[] = {{"exec", l_exec}, {NULL, NULL}};
  luaL_newlib(L, fns);
  return 1;
}
