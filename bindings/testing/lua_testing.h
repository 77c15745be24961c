/* The runner state of `moonhost test` and `moonhost types` (lua_testing.c,
 * lua_testing_client.c): what moonhost.testing.core offers
 * lua/moonhost/testing.lua. Not seen by host/ (see host/cli/cmds.h). */
#ifndef MH_LUA_TESTING_H
#define MH_LUA_TESTING_H
#include "call/dispatch.h"
#include "runtime/lua_runtime.h"

/* Something the runner waits for (a call, a plugin load): polled with
 * op:done() between loop turns, then op:result(). */
typedef struct mh_test_op {
  bool done, load, orphaned; /* orphaned: collected before a load ended */
  mh_value *value;
  mh_error *err;
  mh_waiter *w; /* a call in flight */
  mh_value *chunks; /* a stream's chunks so far (ARRAY), or NULL */
} mh_test_op;

/* Pushes a new op (lua_testing_op.c). */
mh_test_op *mh_lua_testing_push_op(lua_State *L, bool load);
/* The op at idx, or a Lua error. */
mh_test_op *mh_lua_testing_check_op(lua_State *L, int idx);
/* Registers the op metatable in L. */
void mh_lua_testing_op_open(lua_State *L);

/* Adds load, unload, describe, ... to the table on top (lua_testing_project.c). */
void mh_lua_testing_project_open(lua_State *L);
int mh_lua_testing_project_init(mh_host *h);
void mh_lua_testing_project_free(void);
/* Cancels every call still running on the plugins' current generations. */
void mh_lua_testing_cancel_all(void);

/* Adds state_keys, ohash, encode and dump_record, for `moonhost build`,
 * to the table on top (lua_testing_dump.c). */
void mh_lua_testing_dump_open(lua_State *L);

/* Adds client_new(trusted, codec) to the table on top of the stack. */
void mh_lua_testing_client_open(lua_State *L);
/* Disconnects every in-process client still open (teardown). */
void mh_lua_testing_clients_close(void);

#endif
