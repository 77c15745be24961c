/* moonhost.files: moonhost.read_file and moonhost.write_file's C half
 * (core/file_io.h does the work off the loop).
 *   read_file(path, max_bytes) -> true, content
 *   write_file(path, data)     -> true
 * path: absolute, or relative to the project root (ctx.root). The handler
 * waits without blocking the host; errors raise "moonhost.read_file: ...". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/lua_api.h"
#include "core/file_io.h"

#define DEFAULT_MAX_BYTES (16 * 1024 * 1024)

typedef struct file_call {
  mh_lua_call *call;
  mh_file_op *op;
  char *path; /* as the plugin named it, for messages */
  size_t max;
} file_call;

/* The path at index 1, made absolute against the project root (left on the stack). */
static const char *path_arg(lua_State *L, const char *what) {
  if (lua_type(L, 1) != LUA_TSTRING) mh_lua_fail(L, what, "path must be a string, got %s", luaL_typename(L, 1));
  size_t len;
  const char *path = lua_tolstring(L, 1, &len);
  if (!len || strlen(path) != len) mh_lua_fail(L, what, "path is empty or holds a NUL byte");
  if (path[0] == '/') return path;
  return lua_pushfstring(L, "%s/%s", mh_lua_engine_of(L)->host->cfg->root, path);
}

static file_call *file_call_new(lua_State *L, mh_lua_call *call, const char *what) {
  file_call *fc = calloc(1, sizeof *fc);
  char *path = strdup(lua_tostring(L, 1));
  if (!fc || !path) {
    free(fc);
    free(path);
    mh_lua_fail(L, what, "out of memory");
  }
  fc->call = call;
  fc->path = path;
  return fc;
}

static void file_call_free(file_call *fc) {
  free(fc->path);
  free(fc);
}

static void file_cancel(void *ud) {
  file_call *fc = ud;
  mh_file_cancel(fc->op);
  file_call_free(fc);
}

/* "cannot read PATH: no such file or directory" and the like. */
static mh_error *file_error(const char *what, const char *verb, const char *path, const char *why) {
  return mh_error_new(MH_ERR_INTERNAL, "%s: cannot %s %s: %s", what, verb, path, why);
}

static void read_done(void *ud, mh_file_read_result *r) {
  file_call *fc = ud;
  mh_lua_call *call = fc->call;
  mh_value *v = NULL;
  mh_error *err = NULL;
  char why[64];
  if (r->too_large) {
    snprintf(why, sizeof why, "it is over max_bytes (%zu)", fc->max);
    err = file_error("moonhost.read_file", "read", fc->path, why);
  } else if (r->not_regular) {
    err = file_error("moonhost.read_file", "read", fc->path, "not a regular file");
  } else if (r->uv_err) {
    err = file_error("moonhost.read_file", "read", fc->path, uv_strerror(r->uv_err));
  } else if (!(v = mh_value_string(r->data.data ? r->data.data : "", r->data.len))) {
    err = mh_error_new(MH_ERR_INTERNAL, "moonhost.read_file: out of memory");
  }
  file_call_free(fc);
  mh_lua_wake(call, v, err);
}

static int l_read_file(lua_State *L) {
  static const char what[] = "moonhost.read_file";
  mh_lua_call *call = mh_lua_check_context(L, what, MH_LUA_NEED_WAIT);
  mh_engine *e = mh_lua_engine_of(L);
  size_t max = e->mem_limit < DEFAULT_MAX_BYTES ? e->mem_limit : DEFAULT_MAX_BYTES;
  if (!lua_isnoneornil(L, 2)) {
    if (!lua_isinteger(L, 2) || lua_tointeger(L, 2) < 0) mh_lua_fail(L, what, "max_bytes must be an integer >= 0");
    lua_Integer m = lua_tointeger(L, 2);
    /* What is read becomes a Lua string of this plugin's state. */
    if ((lua_Unsigned)m > e->mem_limit)
      mh_lua_fail(L, what, "max_bytes %I is over this plugin's Lua memory (lua.memory_bytes, %I)", m, (lua_Integer)e->mem_limit);
    max = (size_t)m;
  }
  lua_settop(L, 1);
  const char *abs = path_arg(L, what);
  file_call *fc = file_call_new(L, call, what);
  fc->max = max;
  int err = 0;
  fc->op = mh_file_read(e->host->loop, abs, max, read_done, fc, &err);
  if (!fc->op) {
    lua_pushstring(L, uv_strerror(err));
    file_call_free(fc);
    return mh_lua_fail(L, what, "cannot read %s: %s", lua_tostring(L, 1), lua_tostring(L, -1));
  }
  return mh_lua_await(L, call, file_cancel, fc);
}

static void write_done(void *ud, int uv_err) {
  file_call *fc = ud;
  mh_lua_call *call = fc->call;
  mh_error *err = NULL;
  if (uv_err == UV_EISDIR || uv_err == UV_EINVAL)
    err = file_error("moonhost.write_file", "write", fc->path, uv_err == UV_EISDIR ? "it is a directory" : "not a regular file");
  else if (uv_err)
    err = file_error("moonhost.write_file", "write", fc->path, uv_strerror(uv_err));
  file_call_free(fc);
  mh_lua_wake(call, NULL, err);
}

static int l_write_file(lua_State *L) {
  static const char what[] = "moonhost.write_file";
  mh_lua_call *call = mh_lua_check_context(L, what, MH_LUA_NEED_WAIT);
  mh_engine *e = mh_lua_engine_of(L);
  if (lua_type(L, 2) != LUA_TSTRING) mh_lua_fail(L, what, "data must be a string, got %s", luaL_typename(L, 2));
  size_t len;
  const char *data = lua_tolstring(L, 2, &len);
  lua_settop(L, 2);
  const char *abs = path_arg(L, what);
  file_call *fc = file_call_new(L, call, what);
  int err = 0;
  fc->op = mh_file_write(e->host->loop, abs, data, len, write_done, fc, &err);
  if (!fc->op) {
    lua_pushstring(L, uv_strerror(err));
    file_call_free(fc);
    return mh_lua_fail(L, what, "cannot write %s: %s", lua_tostring(L, 1), lua_tostring(L, -1));
  }
  return mh_lua_await(L, call, file_cancel, fc);
}

int mh_luaopen_files(lua_State *L) {
  static const luaL_Reg fns[] = {{"read_file", l_read_file}, {"write_file", l_write_file}, {NULL, NULL}};
  luaL_newlib(L, fns);
  return 1;
}
