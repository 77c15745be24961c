/* mh_value <-> Lua (lua_value.c; the JavaScript types in lua_types.c): the
 * lowest layer of bindings/, used by every state that converts values. */
#ifndef MH_LUA_VALUE_H
#define MH_LUA_VALUE_H
#include <lauxlib.h>
#include <lua.h>
#include <stdbool.h>
#include <stddef.h>

#include "call/host.h"
#include "core/error.h"
#include "core/value.h"

/* What conversion needs of the state it runs in. It is the first member of
 * the state's mh_engine (runtime/lua_runtime.h), whose address the state's
 * extra space holds, so this layer reads it without knowing the engine. */
typedef struct mh_lua_values {
  int array_mt_ref; /* metatable that marks a table as a JSON array */
  /* That metatable's address (lua_topointer; the ref keeps it alive), so
   * telling an array's metatable takes one comparison, no registry read. */
  const void *array_mt;
  /* Bytes a value converted from this state may take as mh_values (0: no
   * limit): shared subtables are copied for every use, so a small table
   * can stand for an exponentially large value. */
  size_t limit;
  mh_host *host; /* lua.max_run_ms bounds a limited conversion */
  int key_order_ref; /* weak-keyed table: object pushed -> its keys in order (lua_key_order.c) */
} mh_lua_values;

static inline mh_lua_values *mh_lua_values_of(lua_State *L) { return *(void **)lua_getextraspace(L); }

/* Sentinels pushed for JavaScript null and undefined inside containers. */
#define MH_LUA_NULL NULL
extern char mh_lua_undefined_tag;
#define MH_LUA_UNDEFINED ((void *)&mh_lua_undefined_tag)

/* Pushes v; nested null/undefined become the sentinels, top-level ones nil. */
void mh_lua_push_value(lua_State *L, const mh_value *v);
void mh_lua_push_nested(lua_State *L, const mh_value *v);
/* Pushes the items of args (an ARRAY) as mh_lua_push_value does, checking
 * the stack once ("too many arguments"); returns how many. */
int mh_lua_push_args(lua_State *L, const mh_value *args);
/* Converts the value at idx; NULL and *err (message with the path) on failure. */
mh_value *mh_lua_to_value(lua_State *L, int idx, int max_depth, char **err);
/* The arguments at [first, top] as an ARRAY (nil: null), each at most
 * limits.json_max_depth deep; a Lua error "WHAT: argument N cannot be sent:
 * why" (without "WHAT: " when what is NULL) when one cannot be sent. */
mh_value *mh_lua_args(lua_State *L, int first, const char *what);
/* Key order (lua_key_order.c). mh_lua_key_order_remember notes the key
 * order of v (an OBJECT of two or more keys) for its table at obj;
 * mh_lua_key_order_apply puts the pairs of obj, converted from the table
 * at idx, in order: the remembered keys still present first, in that order,
 * then the others sorted bytewise (every object a plugin builds: sorted).
 * 0, or -1 when memory runs out. */
void mh_lua_key_order_remember(lua_State *L, int obj, const mh_value *v);
int mh_lua_key_order_apply(lua_State *L, int idx, mh_value *obj);
/* Pushes an error as a table {code=, message=, name=, data=} with a __tostring. */
void mh_lua_push_error(lua_State *L, const mh_error *err);

#endif
