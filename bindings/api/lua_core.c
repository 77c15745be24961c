/* moonhost.core: the C half of the plugin API. lua/moonhost wraps these in
 * the documented ctx and moonhost tables; plugins never call them directly. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "call/dispatch.h"
#include "core/log.h"
#include "api/lua_api.h"
#include "value/lua_types.h"
#include "mesh/mesh_cluster.h"
#include "session/rpc.h"
#include "core/timer.h"

static mh_engine *engine(lua_State *L) { return mh_lua_engine_of(L); }

/* Raises an mh_error as a catchable error table. */
static int raise_error(lua_State *L, mh_error *err) {
  mh_lua_push_error(L, err);
  mh_error_free(err);
  return lua_error(L);
}

static uint64_t timeout_ms_arg(lua_State *L, int idx) {
  if (lua_isnoneornil(L, idx)) return engine(L)->host->cfg->limits.call_timeout_ms;
  lua_Number s = luaL_checknumber(L, idx);
  luaL_argcheck(L, s > 0 && s < 1e9, idx, "timeout must be a positive number of seconds");
  return (uint64_t)ceil(s * 1000);
}

/* register's agent = {tool = {...}, positional = n} (moonhost.agent) into
 * spec; 0, or -1 with a message pushed (the caller raises it). */
static int agent_tool(lua_State *L, mh_engine *e, mh_fn_spec *spec) {
  lua_getfield(L, 1, "agent");
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    return 0;
  }
  lua_getfield(L, -1, "positional");
  spec->agent_args = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : -1;
  lua_getfield(L, -2, "tool");
  char *why = NULL;
  spec->agent = mh_lua_to_value(L, -1, e->host->cfg->limits.json_max_depth, &why);
  lua_pop(L, 3);
  if (spec->agent && spec->agent->type == MH_V_OBJECT) return 0;
  mh_value_free(spec->agent);
  spec->agent = NULL;
  lua_pushfstring(L, "agent tool: %s", why ? why : "not a table");
  free(why);
  return -1;
}

/* register{name=, type=, handler=, cached=, ttl=, max=, mesh=, arg_count=, stream=, agent=} */
static int l_register(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  mh_engine *e = engine(L);
  lua_getfield(L, 1, "name");
  lua_getfield(L, 1, "type");
  const char *name = luaL_checkstring(L, -2);
  int type = mh_fn_type_parse(luaL_checkstring(L, -1));
  if (type < 0) return luaL_error(L, "unknown function type '%s'", lua_tostring(L, -1));
  lua_getfield(L, 1, "cached");
  lua_getfield(L, 1, "ttl");
  lua_getfield(L, 1, "max");
  mh_fn_spec spec = {.name = name, .type = (mh_fn_type)type, .cached = lua_toboolean(L, -3)};
  if (lua_isnumber(L, -2)) spec.ttl_ms = (uint64_t)(lua_tonumber(L, -2) * 1000);
  if (lua_isinteger(L, -1)) spec.max_entries = (size_t)lua_tointeger(L, -1);
  lua_getfield(L, 1, "mesh");
  spec.mesh = lua_toboolean(L, -1);
  lua_getfield(L, 1, "stream");
  spec.stream = lua_toboolean(L, -1);
  lua_pop(L, 1);
  lua_getfield(L, 1, "input_stream");
  spec.input_stream = lua_toboolean(L, -1);
  lua_pop(L, 1);
  lua_getfield(L, 1, "arg_count");
  if (lua_isinteger(L, -1) && lua_tointeger(L, -1) > 0) spec.arg_count = (unsigned)lua_tointeger(L, -1);
  lua_pop(L, 2);
  spec.agent_args = -1;
  if (agent_tool(L, e, &spec)) return lua_error(L);
  lua_getfield(L, 1, "handler");
  luaL_checktype(L, -1, LUA_TFUNCTION);
  mh_lua_handler_name_set(L, -1, name); /* for its log lines */
  spec.handler = mh_lua_ref(L);
  mh_error *err = NULL;
  if (mh_gen_register(e->gen, &spec, &err)) {
    mh_lua_unref(L, spec.handler);
    mh_value_free(spec.agent);
    return raise_error(L, err);
  }
  return 0;
}

static int l_log(lua_State *L) {
  int level = mh_log_level_parse(luaL_checkstring(L, 1));
  luaL_argcheck(L, level >= 0, 1, "unknown log level");
  if (!mh_log_enabled((mh_log_level)level)) return 0;
  const char *msg = luaL_checkstring(L, 2);
  const char *name = mh_lua_state_name(engine(L));
  mh_log_about((mh_log_level)level, name, name, NULL, "%s", msg); /* "[NAME] msg"; plugin NAME in JSON */
  return 0;
}

static void sleep_done(void *ud) { mh_lua_wake(ud, NULL, NULL); }
static void sleep_cancel(void *op) { mh_timer_stop(op); }

static int l_sleep(lua_State *L) {
  lua_Number s = luaL_checknumber(L, 1);
  luaL_argcheck(L, s >= 0 && s < 1e9, 1, "seconds must be between 0 and 1e9");
  mh_lua_call *call = mh_lua_check_context(L, "moonhost.sleep", MH_LUA_NEED_WAIT);
  mh_timer *t = mh_timer_start(engine(L)->host->loop, (uint64_t)ceil(s * 1000), sleep_done, call);
  if (!t) return luaL_error(L, "out of memory");
  return mh_lua_await(L, call, sleep_cancel, t);
}

/* (name, ...) -> how many of this host's clients it was sent to. */
static int broadcast_with(lua_State *L, int (*send)(mh_host *, const char *, const mh_value *)) {
  const char *name = luaL_checkstring(L, 1);
  mh_value *args = mh_lua_args(L, 2, NULL);
  int n = send(engine(L)->host, name, args);
  mh_value_free(args);
  lua_pushinteger(L, n);
  return 1;
}

static int l_broadcast(lua_State *L) { return broadcast_with(L, mh_rpc_broadcast); }
/* The same, and to every other host's clients through NATS (mesh_cluster.h). */
static int l_broadcast_cluster(lua_State *L) { return broadcast_with(L, mh_cluster_broadcast); }

static void push_client_info(lua_State *L, const mh_client *c) {
  lua_createtable(L, 0, 2);
  lua_pushstring(L, c->id);
  lua_setfield(L, -2, "id");
  lua_pushboolean(L, c->trusted);
  lua_setfield(L, -2, "trusted");
}

static int l_clients(lua_State *L) {
  mh_host *h = engine(L)->host;
  lua_createtable(L, (int)h->nclients, 0);
  lua_Integer i = 0;
  mh_list_each(pos, &h->clients) {
    mh_client *c = mh_container_of(pos, mh_client, link);
    if (!mh_client_is_app(c)) continue;
    push_client_info(L, c);
    lua_rawseti(L, -2, ++i);
  }
  return 1;
}

static void outcall_done(void *ud, mh_value *result, mh_error *err) { mh_lua_wake(ud, result, err); }
static void outcall_cancel(void *op) { mh_outcall_cancel(op); }

/* call_client(id, name, timeout_seconds|nil, ...) -> ok, value|error */
static int l_call_client(lua_State *L) {
  const char *id = luaL_checkstring(L, 1);
  const char *name = luaL_checkstring(L, 2);
  uint64_t timeout = timeout_ms_arg(L, 3);
  mh_lua_call *call = mh_lua_check_context(L, "ctx.rpc.call_client", MH_LUA_NEED_WAIT);
  mh_client *c = mh_client_find(engine(L)->host, id);
  if (!c) {
    lua_pushboolean(L, 0);
    mh_error *err = mh_error_new(MH_ERR_NOT_FOUND, "no connected client '%s'", id);
    mh_lua_push_error(L, err);
    mh_error_free(err);
    return 2;
  }
  mh_value *args = mh_lua_args(L, 4, NULL);
  mh_outcall *oc = mh_client_call(c, name, args, timeout, outcall_done, call);
  mh_value_free(args);
  return mh_lua_await(L, call, outcall_cancel, oc);
}

static void gather_done(void *ud, mh_value *results) { mh_lua_wake(ud, results, NULL); }
static void gather_cancel(void *op) { mh_gather_cancel(op); }

/* broadcast_call(name, args_table, timeout_seconds|nil, filter|nil) -> ok, results */
static int l_broadcast_call(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  uint64_t timeout = timeout_ms_arg(L, 3);
  if (!lua_isnoneornil(L, 4)) luaL_checktype(L, 4, LUA_TFUNCTION);
  mh_lua_call *call = mh_lua_check_context(L, "ctx.rpc.broadcast_call", MH_LUA_NEED_WAIT);
  mh_host *h = engine(L)->host;
  /* Choose the clients first: the filter is Lua and may look at anything. */
  char **ids = lua_newuserdatauv(L, (h->nclients + 1) * sizeof *ids, 0);
  size_t n = 0;
  mh_list_each(pos, &h->clients) {
    mh_client *c = mh_container_of(pos, mh_client, link);
    if (!c->trusted || !mh_client_is_app(c) || n >= h->nclients) continue;
    if (!lua_isnoneornil(L, 4)) {
      lua_pushvalue(L, 4);
      push_client_info(L, c);
      lua_call(L, 1, 1); /* in the handler's coroutine: an error is the handler's (lua_door.c) */
      int keep = lua_toboolean(L, -1);
      lua_pop(L, 1);
      if (!keep) continue;
    }
    ids[n++] = c->id;
  }
  lua_pushvalue(L, 2);
  lua_len(L, -1);
  lua_Integer nargs = lua_tointeger(L, -1);
  lua_pop(L, 1);
  int base = lua_gettop(L);
  luaL_checkstack(L, (int)nargs + 1, "too many arguments");
  for (lua_Integer i = 1; i <= nargs; i++) lua_geti(L, base, i);
  mh_value *args = mh_lua_args(L, base + 1, NULL);
  lua_settop(L, base);
  mh_gather *g = mh_rpc_broadcast_call(h, ids, n, name, args, timeout, gather_done, call);
  mh_value_free(args);
  return mh_lua_await(L, call, gather_cancel, g);
}

/* invalidate(name, ...) -> number of entries dropped */
static int l_invalidate(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  mh_value *args = lua_gettop(L) > 1 ? mh_lua_args(L, 2, NULL) : NULL;
  int n = mh_dispatch_invalidate(engine(L)->host, name, args);
  mh_value_free(args);
  if (n < 0) return luaL_error(L, "ctx.rpc.invalidate: no function named '%s'", name);
  lua_pushinteger(L, n);
  return 1;
}

static int l_now(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)mh_now_ms(engine(L)->host->loop));
  return 1;
}

static int l_memory(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)engine(L)->mem_used);
  return 1;
}

int mh_luaopen_core(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"register", l_register},
    {"log", l_log},
    {"sleep", l_sleep},
    {"broadcast", l_broadcast},
    {"broadcast_cluster", l_broadcast_cluster},
    {"broadcast_call", l_broadcast_call},
    {"call_client", l_call_client},
    {"clients", l_clients},
    {"invalidate", l_invalidate},
    {"now", l_now},
    {"memory", l_memory},
    {NULL, NULL},
  };
  luaL_newlib(L, fns);
  lua_pushlightuserdata(L, MH_LUA_NULL);
  lua_setfield(L, -2, "null");
  lua_pushlightuserdata(L, MH_LUA_UNDEFINED);
  lua_setfield(L, -2, "undefined");
  lua_rawgeti(L, LUA_REGISTRYINDEX, engine(L)->values.array_mt_ref);
  lua_setfield(L, -2, "array_mt");
  mh_lua_push_type_metatables(L);
  lua_setfield(L, -2, "types");
  return 1;
}
