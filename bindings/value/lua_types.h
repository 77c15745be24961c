/* The JavaScript types beyond JSON in Lua (lua_types.c): their metatables,
 * pushing them, and reading back the ones that hold no nested values.
 * lua_value.c does the rest of the conversion (Map and Set hold values). */
#ifndef MH_LUA_TYPES_H
#define MH_LUA_TYPES_H
#include "value/lua_value.h"

typedef enum mh_lua_type {
  MH_LT_DATE,   /* {ms = number} */
  MH_LT_BIGINT, /* {value = "decimal"} */
  MH_LT_MAP,    /* {entries = {{k, v}, ...}} */
  MH_LT_SET,    /* {values = {...}} */
  MH_LT_REGEXP, /* {source =, flags =} */
  MH_LT_ERROR,  /* {name =, message =} */
  MH_LT_TYPED,  /* {kind = "Uint8Array", values = {numbers}} */
  MH_LT_URL,    /* {href = "https://..."} */
  MH_LT_COUNT,
  MH_LT_ARRAY = MH_LT_COUNT, /* the array marker (not one of these types) */
} mh_lua_type;

/* Pushes {Date=, BigInt=, Map=, Set=, RegExp=, JsError=, TypedArray=, URL=}: the
 * metatables, registered as moonhost.Date etc. (created once per state). */
void mh_lua_push_type_metatables(lua_State *L);

/* Which of our metatables the one on top of the stack is, popping it: an
 * mh_lua_type, MH_LT_ARRAY for the array marker, or -1 for any other. */
int mh_lua_metatable_kind(lua_State *L);

/* Pushes a DATE, BIGINT, REGEXP, ERROR, BYTES or URL value (MAP and SET hold
 * values: lua_value.c pushes them). */
void mh_lua_push_special(lua_State *L, const mh_value *v);
/* Pushes the metatable of type t, creating it on first use in this state. */
void mh_lua_push_type_mt(lua_State *L, mh_lua_type t);
/* Pushes the array marker of this state (mh_lua_values.array_mt_ref). */
void mh_lua_push_array_mt(lua_State *L);

/* Pushes t[k] of the table at (absolute) idx, without metamethods; returns its type. */
int mh_lua_rawfield(lua_State *L, int idx, const char *k);

/* Reads a Date, BigInt, RegExp, JsError, TypedArray or URL table at (absolute)
 * idx. NULL on failure, with *why saying what is wrong (NULL: no memory). */
mh_value *mh_lua_to_leaf(lua_State *L, int idx, mh_lua_type kind, const char **why);

#endif
