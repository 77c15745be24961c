/* The door into Lua and counted registry references
 * (bindings/runtime/lua_door.c, lua_state.c), on runner states (no host
 * needed: nothing here reaches it). */
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "runtime/lua_runtime.h"

static bool has(const char *s, const char *part) { return s && strstr(s, part); }

/* Runs chunk through mh_lua_pcall; returns its status, the text in *out
 * (static storage, overwritten by the next run). */
static int run(mh_engine *e, const char *chunk, const char **out) {
  static char text[4096];
  lua_State *L = e->L;
  int top = lua_gettop(L);
  if (luaL_loadstring(L, chunk) != LUA_OK) return -1;
  int status = mh_lua_pcall(L, 0, 0);
  snprintf(text, sizeof text, "%s", status == LUA_OK ? "" : lua_tostring(L, -1));
  *out = text;
  CHECK(lua_gettop(L) == top + (status == LUA_OK ? 0 : 1)); /* the handler is gone from the stack */
  lua_settop(L, top);
  return status;
}

static void test_pcall_texts(void) {
  mh_engine *e = mh_lua_runner_new(NULL);
  CHECK(e != NULL);
  const char *t;
  CHECK(run(e, "return 1", &t) == LUA_OK);
  /* A string: itself, then where it was raised. */
  CHECK(run(e, "local function deep() error('boom') end\ndeep()", &t) == LUA_ERRRUN);
  CHECK(has(t, "boom") && has(t, "\nstack traceback:") && has(t, "in local 'deep'"));
  CHECK(strncmp(t, "[string \"local function deep() error('boom') end...\"]:1: boom", mh_lua_message_len(t)) == 0);
  /* A number: its text. */
  CHECK(run(e, "error(42)", &t) == LUA_ERRRUN);
  CHECK(strncmp(t, "42\nstack traceback:", 19) == 0);
  /* A table: its __tostring, or its type. */
  CHECK(run(e, "error(setmetatable({}, {__tostring = function() return 'custom' end}))", &t) == LUA_ERRRUN);
  CHECK(strncmp(t, "custom\n", 7) == 0);
  CHECK(run(e, "error({code = 'x'})", &t) == LUA_ERRRUN);
  CHECK(strncmp(t, "(error object is a table value)\n", 32) == 0);
  CHECK(mh_lua_message_len(t) == strlen("(error object is a table value)"));
  CHECK(mh_lua_message_len("no traceback") == strlen("no traceback"));
  mh_lua_runner_free(e);
}

/* The failure text of a stack no protected call covers: no metamethod runs. */
static void test_push_failure(void) {
  mh_engine *e = mh_lua_runner_new(NULL);
  lua_State *L = e->L;
  luaL_dostring(L, "return setmetatable({}, {__tostring = function() error('must not run') end})");
  mh_lua_push_failure(L, L, -1, 0);
  CHECK(strncmp(lua_tostring(L, -1), "(error object is a table value)\nstack traceback:", 48) == 0);
  lua_settop(L, 0);
  lua_pushliteral(L, "plain");
  mh_lua_push_failure(L, L, -1, 0);
  CHECK(strncmp(lua_tostring(L, -1), "plain\nstack traceback:", 22) == 0);
  lua_settop(L, 0);
  mh_lua_runner_free(e);
}

static void test_refs_counted(void) {
  mh_engine *e = mh_lua_runner_new(NULL);
  lua_State *L = e->L;
  int base = e->nrefs; /* the array marker and the key-order table */
  CHECK(base == 2);
  lua_newtable(L);
  int a = mh_lua_ref(L);
  lua_newtable(L);
  int b = mh_lua_ref(L);
  lua_pushnil(L);
  int n = mh_lua_ref(L); /* nil: LUA_REFNIL, not counted */
  CHECK(n == LUA_REFNIL && e->nrefs == base + 2);
  mh_lua_unref(L, a);
  mh_lua_unref(L, LUA_NOREF);
  CHECK(e->nrefs == base + 1);
  mh_lua_unref(L, b);
  CHECK(e->nrefs == base);
  mh_lua_runner_free(e);
}

/* A reference nobody released is reported when its state closes; under
 * the sanitizers (MOONHOST_SANITIZE) it is an error exit. */
static void test_leak_reported(void) {
  int fds[2];
  CHECK(pipe(fds) == 0);
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 2);
    mh_engine *e = mh_lua_runner_new(NULL);
    lua_newtable(e->L);
    mh_lua_ref(e->L);
    mh_lua_runner_free(e);
    _exit(0);
  }
  close(fds[1]);
  char out[1024] = "";
  size_t len = 0;
  for (ssize_t r; len < sizeof out - 1 && (r = read(fds[0], out + len, sizeof out - 1 - len)) > 0;) len += (size_t)r;
  out[len] = '\0';
  close(fds[0]);
  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK(has(out, "test: 1 registry reference(s) not released when the state closed"));
#ifdef MH_LUA_REFS_FATAL
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 70);
#else
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
#endif
}

int main(void) {
  test_pcall_texts();
  test_push_failure();
  test_refs_counted();
  test_leak_reported();
  return check_failures ? 1 : 0;
}
