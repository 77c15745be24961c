/* In-process clients for specs (moonhost.testing.connect_client): a real
 * mh_client whose transport keeps the frames the host sends in a queue
 * instead of writing them to a socket. The host cannot tell it from a
 * WebSocket client: broadcasts, calls to client functions and replies all
 * arrive as encoded frames, and what the spec sends goes through
 * mh_client_on_frame like a received frame.
 *
 * Nothing here calls into Lua: the runner polls the queue between loop
 * turns (lua/moonhost/testing.lua answers client-function calls then), so
 * Lua never runs inside a host callback.
 *
 *   client_new(trusted, codec) -> conn      codec: 'json' | 'structured-clone' | 'devframe'
 *   conn:id()                  -> 'c7' (nil once closed)
 *   conn:poll()                -> { frame, ... }, close_code|nil   (decoded envelopes)
 *   conn:request(id|nil, name, ...)      sends a call (an event without id)
 *   conn:reply(id, ok, value|{code=, message=, data=})
 *   conn:close() */
#include <stdlib.h>
#include <string.h>

#include "session/client.h"
#include "codec/envelope.h"
#include "core/log.h"
#include "testing/lua_testing.h"

#define CONN_MT "moonhost.testing.client"

typedef struct frame {
  struct frame *next;
  size_t len;
  char data[];
} frame;

typedef struct test_conn {
  mh_list link; /* every open conn, for teardown */
  mh_client *c;
  mh_host *host;
  frame *head, **tail;
  bool close_asked; /* the host closed it: gone at the next poll */
  int close_code;
} test_conn;

static mh_list conns = {&conns, &conns};

static int conn_send(void *transport, const char *data, size_t len) {
  test_conn *t = transport;
  frame *f = malloc(sizeof *f + len + 1);
  if (!f) return -1;
  f->next = NULL;
  f->len = len;
  memcpy(f->data, data, len);
  f->data[len] = '\0';
  *t->tail = f;
  t->tail = &f->next;
  return 0;
}

/* Like a socket closing: the client goes at the next poll, not inside the
 * host code that asked. */
static void conn_close(void *transport, int code, const char *reason) {
  (void)reason;
  test_conn *t = transport;
  if (!t->close_asked) t->close_code = code;
  t->close_asked = true;
}

static const mh_client_ops conn_ops = {.send = conn_send, .close = conn_close};

static void conn_gone(test_conn *t) {
  if (!t->c) return;
  mh_client *c = t->c;
  t->c = NULL;
  mh_list_remove(&t->link);
  mh_client_gone(c);
}

static void free_frames(test_conn *t) {
  for (frame *f = t->head, *next; f; f = next) {
    next = f->next;
    free(f);
  }
  t->head = NULL;
  t->tail = &t->head;
}

static test_conn *check_conn(lua_State *L) {
  test_conn *t = *(test_conn **)luaL_checkudata(L, 1, CONN_MT);
  if (!t) luaL_error(L, "moonhost.testing: the client was freed");
  return t;
}

static test_conn *open_conn(lua_State *L) {
  test_conn *t = check_conn(L);
  if (!t->c) luaL_error(L, "moonhost.testing: the client is closed");
  return t;
}

static int t_depth(lua_State *L) { return mh_lua_engine_of(L)->host->cfg->limits.json_max_depth; }

static const mh_codec *codec_named(const char *name) {
  if (strcmp(name, "json") == 0) return &mh_codec_json;
  if (strcmp(name, "structured-clone") == 0) return &mh_codec_sc;
  if (strcmp(name, "devframe") == 0) return &mh_codec_devframe;
  return NULL;
}

static int l_client_new(lua_State *L) {
  mh_host *h = mh_lua_engine_of(L)->host;
  bool trusted = lua_isnone(L, 1) || lua_toboolean(L, 1);
  const mh_codec *codec = codec_named(luaL_optstring(L, 2, "json"));
  luaL_argcheck(L, codec != NULL, 2, "codec must be 'json', 'structured-clone' or 'devframe'");
  test_conn **slot = lua_newuserdatauv(L, sizeof *slot, 0);
  *slot = NULL;
  luaL_setmetatable(L, CONN_MT);
  test_conn *t = calloc(1, sizeof *t);
  if (!t) return luaL_error(L, "out of memory");
  t->host = h;
  t->tail = &t->head;
  t->c = mh_client_new(h, &conn_ops, t);
  if (!t->c) {
    free(t);
    return luaL_error(L, "out of memory");
  }
  /* What a transport does once it knows the client: trust (a token) and
   * the codec of its frames. */
  t->c->trusted = trusted;
  t->c->codec = codec;
  mh_list_insert_tail(&conns, &t->link);
  *slot = t;
  return 1;
}

static int l_conn_id(lua_State *L) {
  test_conn *t = check_conn(L);
  if (!t->c) return 0;
  lua_pushstring(L, t->c->id);
  return 1;
}

/* Each frame decoded into a table: {t=, i=, m=, a=, r=, e=} as birpc sends them. */
static int l_conn_poll(lua_State *L) {
  test_conn *t = check_conn(L);
  frame *f = t->head;
  t->head = NULL;
  t->tail = &t->head;
  lua_newtable(L);
  lua_Integer n = 0;
  for (frame *next; f; f = next) {
    next = f->next;
    const mh_codec *codec = mh_codec_detect(f->data, f->len);
    mh_error *err = NULL;
    mh_value *v = codec ? codec->decode(f->data, f->len, &t->host->codec_limits, &err) : NULL;
    if (v) {
      mh_lua_push_nested(L, v);
      lua_rawseti(L, -2, ++n);
      mh_value_free(v);
    } else {
      mh_log_warn("test", "a frame for %s could not be decoded: %s", t->c ? t->c->id : "?",
                  err ? err->message : "unknown codec");
    }
    mh_error_free(err);
    free(f);
  }
  if (t->close_asked && t->c) conn_gone(t);
  if (!t->close_asked) return 1;
  lua_pushinteger(L, t->close_code);
  return 2;
}

static void feed(lua_State *L, test_conn *t, mh_buf *b, mh_error *err) {
  if (err) {
    mh_buf_free(b);
    lua_pushfstring(L, "moonhost.testing: cannot encode the frame: %s", err->message);
    mh_error_free(err);
    lua_error(L);
  }
  mh_client_on_frame(t->c, b->data, b->len);
  mh_buf_free(b);
}

/* request(id|nil, name, ...) */
static int l_conn_request(lua_State *L) {
  test_conn *t = open_conn(L);
  const char *id = luaL_optstring(L, 2, NULL);
  const char *name = luaL_checkstring(L, 3);
  mh_value *args = mh_lua_args(L, 4, NULL);
  mh_buf b = MH_BUF_INIT;
  mh_error *err = NULL;
  mh_envelope_encode_request(t->c->codec, id, name, args, false, NULL, &b, &err);
  mh_value_free(args);
  feed(L, t, &b, err);
  return 0;
}

/* The error table a client function raised, as the wire error it becomes. */
static mh_error *error_from_table(lua_State *L, int idx) {
  if (!lua_istable(L, idx)) return mh_error_new(MH_ERR_INTERNAL, "%s", luaL_tolstring(L, idx, NULL));
  lua_getfield(L, idx, "code");
  lua_getfield(L, idx, "message");
  mh_error *err = mh_error_new(lua_isstring(L, -2) ? lua_tostring(L, -2) : MH_ERR_INTERNAL, "%s",
                               lua_isstring(L, -1) ? lua_tostring(L, -1) : "error");
  lua_pop(L, 2);
  lua_getfield(L, idx, "data");
  if (!lua_isnil(L, -1) && !mh_error_is_static(err)) {
    char *why = NULL;
    err->data = mh_lua_to_value(L, lua_gettop(L), t_depth(L), &why);
    free(why);
  }
  lua_pop(L, 1);
  return err;
}

/* reply(id, ok, value | error table) */
static int l_conn_reply(lua_State *L) {
  test_conn *t = open_conn(L);
  luaL_checkany(L, 2);
  bool ok = lua_toboolean(L, 3);
  char *id_why = NULL;
  mh_value *id = mh_lua_to_value(L, 2, 4, &id_why);
  free(id_why);
  mh_value *result = NULL;
  mh_error *failure = NULL;
  if (ok) {
    char *why = NULL;
    result = lua_isnone(L, 4) ? mh_value_undefined() : mh_lua_to_value(L, 4, t_depth(L), &why);
    if (!result) failure = mh_error_new(MH_ERR_INTERNAL, "the result cannot be sent: %s", why ? why : "?");
    free(why);
  } else {
    failure = error_from_table(L, 4);
  }
  mh_buf b = MH_BUF_INIT;
  mh_error *err = NULL;
  mh_envelope_encode_reply(t->c->codec, id, result, failure, &b, &err);
  mh_value_free(id);
  mh_value_free(result);
  mh_error_free(failure);
  feed(L, t, &b, err);
  return 0;
}

static int l_conn_close(lua_State *L) {
  conn_gone(check_conn(L));
  return 0;
}

static int l_conn_gc(lua_State *L) {
  test_conn **slot = luaL_checkudata(L, 1, CONN_MT);
  test_conn *t = *slot;
  if (!t) return 0;
  *slot = NULL;
  conn_gone(t);
  free_frames(t);
  free(t);
  return 0;
}

void mh_lua_testing_clients_close(void) {
  mh_list_each_safe(pos, &conns) conn_gone(mh_container_of(pos, test_conn, link));
}

void mh_lua_testing_client_open(lua_State *L) {
  static const luaL_Reg methods[] = {{"id", l_conn_id},       {"poll", l_conn_poll}, {"request", l_conn_request},
                                     {"reply", l_conn_reply}, {"close", l_conn_close}, {NULL, NULL}};
  if (luaL_newmetatable(L, CONN_MT)) {
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_conn_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  lua_pushcfunction(L, l_client_new);
  lua_setfield(L, -2, "client_new");
}
