/* The JavaScript types beyond JSON in Lua: one metatable per type and
 * lua_State, registered as moonhost.Date, moonhost.BigInt, moonhost.Map,
 * moonhost.Set, moonhost.RegExp, moonhost.JsError, moonhost.TypedArray and
 * moonhost.URL,
 * so C finds them by name and plugins compare with moonhost.Date etc.
 * lua/moonhost gives them __tostring and friends; C only needs identity. */
#include "value/lua_types.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/js_types.h"

#define MH_LT_PREFIX_LEN 9 /* strlen("moonhost."): the short names core.types uses */

static const char *const type_names[MH_LT_COUNT] = {
    "moonhost.Date",   "moonhost.BigInt",  "moonhost.Map",        "moonhost.Set",
    "moonhost.RegExp", "moonhost.JsError", "moonhost.TypedArray", "moonhost.URL",
};

void mh_lua_push_type_mt(lua_State *L, mh_lua_type t) { luaL_newmetatable(L, type_names[t]); }

void mh_lua_push_array_mt(lua_State *L) { lua_rawgeti(L, LUA_REGISTRYINDEX, mh_lua_values_of(L)->array_mt_ref); }

void mh_lua_push_type_metatables(lua_State *L) {
  lua_createtable(L, 0, MH_LT_COUNT);
  for (int t = 0; t < MH_LT_COUNT; t++) {
    mh_lua_push_type_mt(L, (mh_lua_type)t);
    lua_setfield(L, -2, type_names[t] + MH_LT_PREFIX_LEN);
  }
}

int mh_lua_metatable_kind(lua_State *L) {
  /* A metatable is a table: raw equality is identity (most are arrays). */
  int kind = lua_topointer(L, -1) == mh_lua_values_of(L)->array_mt ? MH_LT_ARRAY : -1;
  for (int t = 0; kind < 0 && t < MH_LT_COUNT; t++) {
    luaL_getmetatable(L, type_names[t]);
    if (lua_rawequal(L, -1, -2)) kind = t;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return kind;
}

int mh_lua_rawfield(lua_State *L, int idx, const char *k) {
  lua_pushstring(L, k);
  return lua_rawget(L, idx);
}

/* ---- value -> Lua ----------------------------------------------------- */

/* An integral number as a Lua integer (a Date's ms reads 0, not 0.0),
 * anything else (fractions, NaN, infinities, -0) as a float. */
static void push_number(lua_State *L, double x) {
  if (x == floor(x) && fabs(x) < 9e18 && !(x == 0 && signbit(x)))
    lua_pushinteger(L, (lua_Integer)x);
  else
    lua_pushnumber(L, x);
}

static void set_string_field(lua_State *L, const char *k, const char *s) {
  lua_pushstring(L, s ? s : "");
  lua_setfield(L, -2, k);
}

/* A typed array's numbers, as a marked list. */
static void push_numbers(lua_State *L, const mh_value *v) {
  size_t n = v->u.bytes.len;
  lua_createtable(L, (int)n, 0);
  for (size_t i = 0; i < n; i++) {
    push_number(L, v->u.bytes.items[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  mh_lua_push_array_mt(L);
  lua_setmetatable(L, -2);
}

/* Fills the fields of the table on top; returns its type. */
static int fill_special(lua_State *L, const mh_value *v) {
  switch (v->type) {
  case MH_V_DATE:
    push_number(L, v->u.f);
    lua_setfield(L, -2, "ms");
    return MH_LT_DATE;
  case MH_V_BIGINT:
    lua_pushlstring(L, v->u.str.ptr, v->u.str.len);
    lua_setfield(L, -2, "value");
    return MH_LT_BIGINT;
  case MH_V_REGEXP:
    set_string_field(L, "source", v->u.re.source);
    set_string_field(L, "flags", v->u.re.flags);
    return MH_LT_REGEXP;
  case MH_V_ERROR:
    set_string_field(L, "name", v->u.err.name ? v->u.err.name : "Error");
    set_string_field(L, "message", v->u.err.message);
    return MH_LT_ERROR;
  case MH_V_URL:
    lua_pushlstring(L, v->u.str.ptr, v->u.str.len);
    lua_setfield(L, -2, "href");
    return MH_LT_URL;
  case MH_V_BYTES:
    set_string_field(L, "kind", v->u.bytes.kind);
    push_numbers(L, v);
    lua_setfield(L, -2, "values");
    return MH_LT_TYPED;
  default:
    return -1;
  }
}

void mh_lua_push_special(lua_State *L, const mh_value *v) {
  luaL_checkstack(L, 6, "value nested too deeply");
  lua_createtable(L, 0, 2);
  int t = fill_special(L, v);
  if (t < 0) luaL_error(L, "values of type %s are not supported by this host", mh_value_type_name(v->type));
  mh_lua_push_type_mt(L, (mh_lua_type)t);
  lua_setmetatable(L, -2);
}

/* ---- Lua -> value ----------------------------------------------------- */

/* {ms = number}, clipped as JavaScript's TimeClip does: whole milliseconds,
 * and NaN (an invalid date) beyond +-8.64e15. */
static mh_value *to_date(lua_State *L, int idx, const char **why) {
  int t = mh_lua_rawfield(L, idx, "ms");
  double ms = (double)lua_tonumber(L, -1);
  lua_pop(L, 1);
  if (t != LUA_TNUMBER) return *why = "a moonhost.Date whose ms is not a number", NULL;
  return mh_value_date(isfinite(ms) && fabs(ms) <= 8.64e15 ? trunc(ms) + 0.0 : NAN);
}

/* {value = "decimal" | integer} */
static mh_value *to_bigint(lua_State *L, int idx, const char **why) {
  int t = mh_lua_rawfield(L, idx, "value");
  char buf[32];
  size_t len = 0;
  const char *s = NULL;
  if (t == LUA_TNUMBER && lua_isinteger(L, -1)) {
    len = (size_t)snprintf(buf, sizeof buf, "%lld", (long long)lua_tointeger(L, -1));
    s = buf;
  } else if (t == LUA_TSTRING) {
    s = lua_tolstring(L, -1, &len);
  }
  mh_value *v = NULL;
  if (s && mh_js_bigint_valid(s, len))
    v = mh_value_bigint(s, len);
  else
    *why = "a moonhost.BigInt whose value is not decimal digits";
  lua_pop(L, 1);
  return v;
}

/* {href = "scheme:..."}: UTF-8 text starting with a scheme (mh_js_url_valid). */
static mh_value *to_url(lua_State *L, int idx, const char **why) {
  size_t len = 0;
  const char *s = mh_lua_rawfield(L, idx, "href") == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
  mh_value *v = NULL;
  if (!s || !mh_utf8_valid(s, len) || !mh_js_url_valid(s, len))
    *why = "a moonhost.URL whose href is not an absolute URL (scheme:...)";
  else
    v = mh_value_url(s, len);
  lua_pop(L, 1);
  return v;
}

/* Field k of a RegExp or JsError as a C string (absent: dflt, which may be
 * NULL to require it). Leaves one value pushed, keeping the string alive;
 * the caller pops it. */
static const char *string_field(lua_State *L, int idx, const char *k, const char *dflt) {
  int t = mh_lua_rawfield(L, idx, k);
  size_t len = 0;
  const char *s = t == LUA_TSTRING ? lua_tolstring(L, -1, &len) : t == LUA_TNIL ? dflt : NULL;
  /* These travel as C strings: no NUL inside. */
  if (s && t == LUA_TSTRING && (strlen(s) != len || !mh_utf8_valid(s, len))) s = NULL;
  return s;
}

/* {source =, flags =} (RegExp) and {name =, message =} (JsError). */
static mh_value *to_two_strings(lua_State *L, int idx, bool re, const char **why) {
  const char *a = string_field(L, idx, re ? "source" : "name", re ? NULL : "Error");
  const char *b = string_field(L, idx, re ? "flags" : "message", "");
  mh_value *v = NULL;
  if (!a)
    *why = re ? "a moonhost.RegExp whose source is not a UTF-8 string"
              : "a moonhost.JsError whose name is not a UTF-8 string";
  else if (!b)
    *why = re ? "a moonhost.RegExp whose flags are not a string"
              : "a moonhost.JsError whose message is not a UTF-8 string";
  else if (re && !mh_js_regexp_flags_valid(b, strlen(b)))
    *why = "a moonhost.RegExp with invalid flags (distinct letters of dgimsuvy)";
  else
    v = re ? mh_value_regexp(a, b) : mh_value_error(a, b);
  lua_pop(L, 2);
  return v;
}

/* A typed array of kind k with n elements, all zero; NULL without memory. */
static mh_value *new_typed(int k, size_t n) {
  mh_value *v = mh_value_new(MH_V_BYTES);
  char *kname = strdup(mh_js_typed_kind_name(k));
  double *items = calloc(n ? n : 1, sizeof *items);
  if (!v || !kname || !items) {
    mh_value_free(v);
    free(kname);
    free(items);
    return NULL;
  }
  free(v->u.bytes.kind);
  v->u.bytes.kind = kname;
  v->u.bytes.items = items;
  v->u.bytes.len = n;
  return v;
}

/* {kind =, values = {numbers}}, each number stored as the kind stores it,
 * so Lua's 300 in a Uint8Array goes out as JavaScript would keep it (44). */
static mh_value *to_typed(lua_State *L, int idx, const char **why) {
  size_t klen = 0;
  const char *kind = mh_lua_rawfield(L, idx, "kind") == LUA_TSTRING ? lua_tolstring(L, -1, &klen) : NULL;
  int k = kind ? mh_js_typed_kind(kind, klen) : -1;
  lua_pop(L, 1);
  if (k < 0) return *why = "a moonhost.TypedArray of an unknown kind (Uint8Array, Float64Array, ...)", NULL;
  int t = mh_lua_rawfield(L, idx, "values");
  int vidx = lua_gettop(L);
  size_t n = t == LUA_TTABLE ? lua_rawlen(L, vidx) : 0;
  mh_value *v = t == LUA_TTABLE || t == LUA_TNIL ? new_typed(k, n) : NULL;
  if (t != LUA_TTABLE && t != LUA_TNIL) *why = "a moonhost.TypedArray whose values is not a list";
  for (size_t i = 0; v && i < n; i++) {
    int is_number = lua_rawgeti(L, vidx, (lua_Integer)i + 1) == LUA_TNUMBER;
    v->u.bytes.items[i] = mh_js_typed_coerce(k, (double)lua_tonumber(L, -1));
    lua_pop(L, 1);
    if (!is_number) {
      mh_value_free(v);
      v = NULL;
      *why = "a moonhost.TypedArray value that is not a number";
    }
  }
  lua_pop(L, 1);
  return v;
}

mh_value *mh_lua_to_leaf(lua_State *L, int idx, mh_lua_type kind, const char **why) {
  *why = NULL;
  if (!lua_checkstack(L, 4)) return *why = "nesting too deep for the Lua stack", NULL;
  switch (kind) {
  case MH_LT_DATE: return to_date(L, idx, why);
  case MH_LT_BIGINT: return to_bigint(L, idx, why);
  case MH_LT_REGEXP: return to_two_strings(L, idx, true, why);
  case MH_LT_ERROR: return to_two_strings(L, idx, false, why);
  case MH_LT_TYPED: return to_typed(L, idx, why);
  case MH_LT_URL: return to_url(L, idx, why);
  default: return *why = "a Map or Set here (internal error)", NULL;
  }
}
