/* The door into Lua (see lua_runtime.h): one protected call with one
 * message handler, and one way to write a failure, "message" then
 * "stack traceback:" (luaL_traceback's layout, as lua.c prints it).
 *
 * C functions that Lua calls (the l_* bindings, the guards, the bodies of
 * calls) may use a plain lua_call: they only ever run inside one of these
 * protected calls or inside a call's coroutine, so an error there is the
 * error of the code that called them. */
#include <string.h>

#include "runtime/lua_runtime.h"

#define TRACEBACK_MARK "\nstack traceback:"

void mh_lua_push_traceback(lua_State *L, lua_State *co, const char *msg, int level) {
  luaL_traceback(L, co, msg, level);
}

void mh_lua_push_failure(lua_State *L, lua_State *co, int idx, int level) {
  if (lua_type(co, idx) == LUA_TSTRING) {
    /* Copied first: when L is co, the traceback is pushed above it. */
    lua_pushstring(L, lua_tostring(co, idx));
  } else {
    lua_pushfstring(L, "(error object is a %s value)", luaL_typename(co, idx));
  }
  mh_lua_push_traceback(L, co, lua_tostring(L, -1), level);
  lua_remove(L, -2);
}

size_t mh_lua_message_len(const char *text) {
  const char *mark = strstr(text, TRACEBACK_MARK);
  return mark ? (size_t)(mark - text) : strlen(text);
}

/* The traceback, in a protected call of its own: at a memory cap it fails,
 * and the message alone is still worth having. Level 2 skips this function
 * and the handler: the traceback starts where the error was raised. */
static int traceback_body(lua_State *L) {
  mh_lua_push_traceback(L, L, lua_tostring(L, 1), 2);
  return 1;
}

/* The message handler: runs where the error was raised, so the traceback
 * still shows the stack that failed. */
static int door_handler(lua_State *L) {
  int t = lua_type(L, 1);
  if (t == LUA_TNUMBER || (t != LUA_TSTRING && luaL_getmetafield(L, 1, "__tostring") != LUA_TNIL)) {
    luaL_tolstring(L, 1, NULL);
    lua_replace(L, 1);
  } else if (t != LUA_TSTRING) {
    lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    lua_replace(L, 1);
  }
  lua_settop(L, 1);
  lua_pushcfunction(L, traceback_body);
  lua_pushvalue(L, 1);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) lua_settop(L, 1);
  return 1;
}

int mh_lua_pcall(lua_State *L, int nargs, int nresults) {
  int base = lua_gettop(L) - nargs; /* the function's slot */
  lua_pushcfunction(L, door_handler);
  lua_insert(L, base);
  int status = lua_pcall(L, nargs, nresults, base);
  lua_remove(L, base);
  return status;
}
