/* The argument errors of the bindings whose Lua half re-raises them at the
 * plugin's line (options.raise): a plain message, without a position. */
#include <stdarg.h>

#include "api/lua_api.h"

int mh_lua_fail(lua_State *L, const char *what, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  lua_pushfstring(L, "%s: ", what);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  lua_concat(L, 2);
  return lua_error(L);
}
