/* The runner's part of `moonhost build` (lua/moonhost/build.lua), in
 * moonhost.testing.core:
 *
 *   state_keys()               the shared-state keys, sorted
 *   ohash(args...)             ohash's hash of the argument list (codec/ohash.c)
 *   encode(codec, value)       'json' or 'sc' (structured-clone) text of a value
 *   dump_record(op, with_inputs, args...)
 *                              the structured-clone text of a finished call
 *                              as devframe dumps it: {inputs, output}, or
 *                              {output} for a static function; nil and the
 *                              error table when the call failed
 *
 * A call's value goes from the op to the file without passing through Lua,
 * so null and undefined, key order and integers stay as the handler made
 * them. */
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"
#include "codec/ohash.h"
#include "session/shared_state.h"
#include "testing/lua_testing.h"

static mh_host *host_of(lua_State *L) { return mh_lua_values_of(L)->host; }

static int l_state_keys(lua_State *L) {
  mh_value *keys = mh_state_keys(host_of(L));
  if (!keys) return luaL_error(L, "out of memory");
  mh_lua_push_value(L, keys);
  mh_value_free(keys);
  return 1;
}

static int l_ohash(lua_State *L) {
  mh_value *args = mh_lua_args(L, 1, "moonhost build: a dump input");
  char hash[MH_OHASH_LEN + 1];
  mh_error *err = NULL;
  int rc = mh_ohash(args, hash, &err);
  mh_value_free(args);
  if (rc) {
    lua_pushfstring(L, "moonhost build: cannot hash the arguments: %s", err ? err->message : "out of memory");
    mh_error_free(err);
    return lua_error(L);
  }
  lua_pushstring(L, hash);
  return 1;
}

/* Pushes the text of v in codec, or raises; v is freed. */
static int push_encoded(lua_State *L, const mh_codec *codec, mh_value *v) {
  mh_buf out = MH_BUF_INIT;
  mh_error *err = NULL;
  int rc = v ? codec->encode(v, &out, &err) : -1;
  mh_value_free(v);
  if (rc) {
    mh_buf_free(&out);
    lua_pushfstring(L, "moonhost build: cannot write the value as %s: %s", codec->name,
                    err ? err->message : "out of memory");
    mh_error_free(err);
    return lua_error(L);
  }
  lua_pushlstring(L, out.data ? out.data : "", out.len);
  mh_buf_free(&out);
  return 1;
}

static const mh_codec *codec_arg(lua_State *L, int idx) {
  const char *name = luaL_checkstring(L, idx);
  if (strcmp(name, "json") == 0) return &mh_codec_json;
  if (strcmp(name, "sc") == 0) return &mh_codec_sc;
  luaL_argerror(L, idx, "'json' or 'sc'");
  return NULL;
}

static int l_encode(lua_State *L) {
  const mh_codec *codec = codec_arg(L, 1);
  char *why = NULL;
  mh_value *v = mh_lua_to_value(L, 2, host_of(L)->cfg->limits.json_max_depth, &why);
  if (!v) {
    lua_pushfstring(L, "moonhost build: %s", why ? why : "out of memory");
    free(why);
    return lua_error(L);
  }
  return push_encoded(L, codec, v);
}

static int l_dump_record(lua_State *L) {
  mh_test_op *op = mh_lua_testing_check_op(L, 1);
  bool with_inputs = lua_toboolean(L, 2);
  if (!op->done) return luaL_error(L, "moonhost build: the call has not finished");
  if (op->err) {
    lua_pushnil(L);
    mh_lua_push_error(L, op->err);
    return 2;
  }
  mh_value *args = with_inputs ? mh_lua_args(L, 3, "moonhost build: a dump input") : NULL;
  mh_value *record = mh_value_new(MH_V_OBJECT), *output = mh_value_copy(op->value);
  int rc = !record || !output;
  if (!rc && args) rc = mh_value_obj_set(record, "inputs", args);
  else mh_value_free(args);
  if (!rc) rc = mh_value_obj_set(record, "output", output);
  else mh_value_free(output);
  if (rc) {
    mh_value_free(record);
    return luaL_error(L, "out of memory");
  }
  return push_encoded(L, &mh_codec_sc, record);
}

void mh_lua_testing_dump_open(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"state_keys", l_state_keys}, {"ohash", l_ohash}, {"encode", l_encode}, {"dump_record", l_dump_record},
    {NULL, NULL},
  };
  luaL_setfuncs(L, fns, 0);
}
