/* moonhost.streaming: the C half of ctx.rpc.streaming (lua/moonhost/streaming.lua).
 * Channels and their streams live in the host (session/devframe_stream.c),
 * where devframe clients subscribe to them; a channel belongs to the
 * generation that created it and ends with it. */
#include <stdlib.h>
#include <string.h>

#include "api/lua_api.h"
#include "core/timer.h"
#include "session/devframe_stream.h"
#include "session/devframe_upload.h"
#include "value/lua_value.h"

static mh_engine *engine(lua_State *L) { return mh_lua_engine_of(L); }

static int raise_error(lua_State *L, mh_error *err) {
  mh_lua_push_error(L, err);
  mh_error_free(err);
  return lua_error(L);
}

/* create(name, replay_window, retention_ms|nil) */
static int l_create(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  lua_Integer window = luaL_checkinteger(L, 2);
  lua_Integer retention = luaL_optinteger(L, 3, -1);
  mh_lua_check_context(L, "ctx.rpc.streaming.create", MH_LUA_NEED_LIVE);
  mh_engine *e = engine(L);
  if (!e->gen) return luaL_error(L, "ctx.rpc.streaming.create: only plugins have streaming channels");
  if (window < 0 || window > 1000000) return luaL_error(L, "ctx.rpc.streaming.create: replay_window must be 0..1000000");
  mh_df_channel_decl d = {.plugin = e->gen->plugin->name, .generation = e->gen->number,
                          .replay_window = (size_t)window, .retention_ms = retention};
  mh_error *err = NULL;
  return mh_df_channel_create(e->host, name, &d, &err) ? raise_error(L, err) : 0;
}

typedef int (*open_fn)(mh_host *h, const char *channel, const char *id, char *id_out, size_t id_cap, mh_error **err);

/* (name, id|nil) -> the id used: a stream started or an upload opened. */
static int open_with_id(lua_State *L, open_fn open, const char *what) {
  const char *name = luaL_checkstring(L, 1);
  const char *id = luaL_optstring(L, 2, NULL);
  char used[256];
  mh_error *err = NULL;
  if (id && strlen(id) >= sizeof used) return luaL_error(L, "%s id longer than %d bytes", what, (int)sizeof used - 1);
  if (open(engine(L)->host, name, id, used, sizeof used, &err)) return raise_error(L, err);
  lua_pushstring(L, used);
  return 1;
}

/* start(name, id|nil) -> id */
static int l_start(lua_State *L) { return open_with_id(L, mh_df_stream_start, "stream"); }

/* A writer of a replaced generation must not reach the channel its
 * successor created under the same name. */
static void check_own_channel(lua_State *L, const char *name) {
  mh_engine *e = engine(L);
  uint32_t generation = 0;
  const char *plugin = mh_df_channel_plugin(e->host, name, &generation);
  if (plugin && e->gen && generation != e->gen->number)
    luaL_error(L, "streaming channel '%s' belongs to a newer version of the plugin (this one was replaced)", name);
}

/* write(name, id, value) -> seq, over_bound */
static int l_write(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  const char *id = luaL_checkstring(L, 2);
  mh_engine *e = engine(L);
  check_own_channel(L, name);
  char *why = NULL;
  mh_value *v = mh_lua_to_value(L, 3, e->host->cfg->limits.json_max_depth, &why);
  if (!v) {
    lua_pushfstring(L, "stream write: the value cannot be sent: %s", why ? why : "out of memory");
    free(why);
    return lua_error(L);
  }
  bool over = false;
  mh_error *err = NULL;
  int64_t seq = mh_df_stream_write(e->host, name, id, v, &over, &err);
  if (seq < 0) return raise_error(L, err);
  lua_pushinteger(L, seq);
  lua_pushboolean(L, over);
  return 2;
}

/* finish(name, id, error_value|nil): the error as moonhost.error makes it, or a string. */
static int l_finish(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  const char *id = luaL_checkstring(L, 2);
  mh_engine *e = engine(L);
  check_own_channel(L, name);
  mh_error *end = NULL, *err = NULL;
  if (!lua_isnoneornil(L, 3)) {
    char *why = NULL;
    mh_value *v = mh_lua_to_value(L, 3, e->host->cfg->limits.json_max_depth, &why);
    free(why);
    end = mh_error_from_value(v);
    mh_value_free(v);
  }
  int rc = mh_df_stream_finish(e->host, name, id, end, &err);
  mh_error_free(end);
  return rc ? raise_error(L, err) : 0;
}

static int l_ids(lua_State *L) {
  mh_value *ids = mh_df_stream_ids(engine(L)->host, luaL_checkstring(L, 1));
  if (!ids) return luaL_error(L, "out of memory");
  mh_lua_push_value(L, ids);
  mh_value_free(ids);
  return 1;
}

/* ---- uploads ------------------------------------------------------------ */

/* An upload opens on a channel of this generation's plugin. */
static int open_upload(mh_host *h, const char *channel, const char *id, char *id_out, size_t id_cap, mh_error **err) {
  mh_df_upload_owner owner = {0};
  if (!(owner.plugin = mh_df_channel_plugin(h, channel, &owner.generation))) {
    *err = mh_error_new(MH_ERR_NOT_FOUND, "no streaming channel '%s' (dropped by a reload?)", channel);
    return -1;
  }
  return mh_df_upload_open(h, &owner, channel, id, id_out, id_cap, err);
}

/* open_inbound(name, id|nil) -> id */
static int l_open_inbound(lua_State *L) { return open_with_id(L, open_upload, "upload"); }

/* take(name, id) -> 'chunk', value | 'end', error|nil | 'empty' | 'none' */
static int l_take(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  const char *id = luaL_checkstring(L, 2);
  mh_value *v = NULL;
  mh_error *end = NULL;
  switch (mh_df_upload_take(engine(L)->host, name, id, &v, &end)) {
  case MH_DF_TAKE_CHUNK:
    lua_pushliteral(L, "chunk");
    mh_lua_push_value(L, v);
    mh_value_free(v);
    return 2;
  case MH_DF_TAKE_END:
    lua_pushliteral(L, "end");
    if (end) mh_lua_push_error(L, end);
    else lua_pushnil(L);
    mh_error_free(end);
    return 2;
  case MH_DF_TAKE_EMPTY: lua_pushliteral(L, "empty"); return 1;
  case MH_DF_TAKE_NONE:
  default: lua_pushliteral(L, "none"); return 1;
  }
}

/* A Lua call waiting on a stream or an upload, by name: resumed from the
 * loop (a 0 ms timer), never from inside the host's walk over its streams
 * that found it may go on. */
typedef struct named_wait {
  mh_host *host;
  mh_lua_call *call;
  char *channel, *id;
  mh_timer *resume;
  void (*unwait)(mh_host *h, const char *channel, const char *id);
} named_wait;

static void named_wait_free(named_wait *w) {
  if (w->resume) mh_timer_stop(w->resume);
  free(w->channel);
  free(w->id);
  free(w);
}

static void resume_now(void *ud) {
  named_wait *w = ud;
  mh_lua_call *call = w->call;
  w->resume = NULL;
  named_wait_free(w);
  mh_lua_wake(call, NULL, NULL);
}

static void woke(void *ud) {
  named_wait *w = ud;
  if (!w->resume) w->resume = mh_timer_start(w->host->loop, 0, resume_now, w);
}

static void wait_cancel(void *op) {
  named_wait *w = op;
  if (!w->resume) w->unwait(w->host, w->channel, w->id);
  named_wait_free(w);
}

typedef int (*wait_fn)(mh_host *h, const char *channel, const char *id, void (*wake)(void *ud), void *ud);

/* (name, id): yields until start says what it waits for came; false at once
 * when there is nothing to wait for. */
static int wait_on(lua_State *L, const char *what, wait_fn start, void (*unwait)(mh_host *, const char *, const char *)) {
  const char *name = luaL_checkstring(L, 1);
  const char *id = luaL_checkstring(L, 2);
  mh_lua_call *call = mh_lua_check_context(L, what, MH_LUA_NEED_WAIT);
  named_wait *w = calloc(1, sizeof *w);
  if (!w || !(w->channel = strdup(name)) || !(w->id = strdup(id))) {
    if (w) named_wait_free(w);
    return luaL_error(L, "out of memory");
  }
  w->host = engine(L)->host;
  w->call = call;
  w->unwait = unwait;
  if (start(w->host, name, id, woke, w)) {
    named_wait_free(w);
    lua_pushboolean(L, 0);
    return 1;
  }
  return mh_lua_await(L, call, wait_cancel, w);
}

/* wait(name, id): until the upload has a chunk or its end. */
static int l_wait(lua_State *L) { return wait_on(L, "reading an upload", mh_df_upload_wait, mh_df_upload_unwait); }

/* wait_drained(name, id): until the stream's slowest subscriber caught up. */
static int l_wait_drained(lua_State *L) {
  return wait_on(L, "stream write", mh_df_stream_wait_drained, mh_df_stream_unwait);
}

static int l_cancel(lua_State *L) {
  mh_df_upload_cancel(engine(L)->host, luaL_checkstring(L, 1), luaL_checkstring(L, 2));
  return 0;
}

int mh_luaopen_streaming(lua_State *L) {
  static const luaL_Reg fns[] = {{"create", l_create}, {"start", l_start},         {"write", l_write},
                                 {"finish", l_finish}, {"ids", l_ids},             {"open_inbound", l_open_inbound},
                                 {"take", l_take},     {"wait", l_wait},           {"cancel", l_cancel},
                                 {"wait_drained", l_wait_drained}, {NULL, NULL}};
  luaL_newlib(L, fns);
  return 1;
}
