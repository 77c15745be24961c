/* The arguments a binding sends on (see lua_value.h): one helper for
 * moonhost.call, ctx.rpc and the test runner's requests. */
#include <stdlib.h>

#include "value/lua_value.h"

mh_value *mh_lua_args(lua_State *L, int first, const char *what) {
  int top = lua_gettop(L);
  /* Room for every argument: the pushes below cannot fail. */
  mh_value *arr = mh_value_container(MH_V_ARRAY, top >= first ? (size_t)(top - first + 1) : 0);
  if (!arr) luaL_error(L, "out of memory");
  int max_depth = mh_lua_values_of(L)->host->cfg->limits.json_max_depth;
  for (int i = first; i <= top; i++) {
    char *why = NULL;
    mh_value *v = mh_lua_to_value(L, i, max_depth, &why);
    if (!v) {
      mh_value_free(arr);
      lua_pushfstring(L, "%s%sargument %d cannot be sent: %s", what ? what : "", what ? ": " : "", i - first + 1,
                      why ? why : "out of memory");
      free(why);
      lua_error(L);
    }
    mh_value_push(arr, v);
  }
  return arr;
}
