/* Ops of the runner (see lua_testing.h): something a spec waits for (a
 * call, a plugin load), a userdata pointing at C memory. The runner polls
 * op:done() between loop turns, then reads op:result(). */
#include <stdlib.h>

#include "call/dispatch.h"
#include "testing/lua_testing.h"

#define OP_MT "moonhost.testing.op"

typedef mh_test_op test_op;

test_op *mh_lua_testing_push_op(lua_State *L, bool load) {
  test_op **slot = lua_newuserdatauv(L, sizeof *slot, 0);
  *slot = calloc(1, sizeof **slot);
  if (!*slot) luaL_error(L, "out of memory");
  (*slot)->load = load;
  luaL_setmetatable(L, OP_MT);
  return *slot;
}

test_op *mh_lua_testing_check_op(lua_State *L, int idx) { return *(test_op **)luaL_checkudata(L, idx, OP_MT); }

static test_op *check_op(lua_State *L) { return mh_lua_testing_check_op(L, 1); }

static int op_done(lua_State *L) {
  lua_pushboolean(L, check_op(L)->done);
  return 1;
}

/* -> true, value | false, error table */
static int op_result(lua_State *L) {
  test_op *op = check_op(L);
  if (!op->done) return luaL_error(L, "moonhost.testing: the operation has not finished");
  lua_pushboolean(L, op->err == NULL);
  if (op->err)
    mh_lua_push_error(L, op->err);
  else
    mh_lua_push_value(L, op->value);
  return 2;
}

/* -> the chunks of a stream so far (an array) */
static int op_chunks(lua_State *L) {
  test_op *op = check_op(L);
  if (op->chunks)
    mh_lua_push_value(L, op->chunks);
  else
    lua_newtable(L);
  return 1;
}

/* A call nobody waits for any more is cancelled; a load cannot be, so it
 * is left to free itself when it ends. */
static int op_gc(lua_State *L) {
  test_op **slot = luaL_checkudata(L, 1, OP_MT);
  test_op *op = *slot;
  if (!op) return 0;
  *slot = NULL;
  if (!op->done && op->load) {
    op->orphaned = true;
    return 0;
  }
  if (!op->done && op->w) mh_dispatch_cancel(op->w);
  mh_value_free(op->value);
  mh_value_free(op->chunks);
  mh_error_free(op->err);
  free(op);
  return 0;
}

void mh_lua_testing_op_open(lua_State *L) {
  static const luaL_Reg op_methods[] = {{"done", op_done}, {"result", op_result}, {"chunks", op_chunks}, {NULL, NULL}};
  if (luaL_newmetatable(L, OP_MT)) {
    luaL_newlib(L, op_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, op_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
}
