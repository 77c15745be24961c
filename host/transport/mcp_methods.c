/* The MCP methods a server of tools answers: initialize, ping, tools/list
 * and tools/call. A tool is a function defined with `agent = {...}`; its
 * description was built when it was registered (lua/moonhost/agent.lua), so
 * listing copies it and calling goes through the dispatcher like any call
 * (caching, sharing, limits, metrics). What a tool answers, or the error it
 * fails with, is a tool result (isError for failures), never a protocol
 * error: the agent reads it and can try again. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call/host.h"
#include "call/registry.h"
#include "codec/codec.h"
#include "core/log.h"
#include "transport/http.h"
#include "transport/http_call.h"
#include "transport/mcp.h"

static const char *const versions[] = {"2025-11-25", "2025-06-18", "2025-03-26"};
#define NVERSIONS (sizeof versions / sizeof *versions)

bool mh_mcp_version_supported(const char *v) {
  for (size_t i = 0; i < NVERSIONS; i++)
    if (strcmp(v, versions[i]) == 0) return true;
  return false;
}

const char *mh_mcp_protocol_version(const char *asked) {
  return asked && mh_mcp_version_supported(asked) ? asked : versions[0];
}

/* ---- initialize, ping ---- */

static mh_value *obj(void) { return mh_value_new(MH_V_OBJECT); }

/* Sets key on o (taken) and returns o; NULL (o freed) when memory runs out. */
static mh_value *with(mh_value *o, const char *key, mh_value *take) {
  if (!o) {
    mh_value_free(take);
    return NULL;
  }
  if (mh_value_obj_set(o, key, take)) {
    mh_value_free(o);
    return NULL;
  }
  return o;
}

/* Pushes item (taken) onto arr; arr, or NULL (arr freed) when memory runs out. */
static mh_value *pushed(mh_value *arr, mh_value *item) {
  if (!arr) {
    mh_value_free(item);
    return NULL;
  }
  if (mh_value_push(arr, item)) { /* a failed push frees item */
    mh_value_free(arr);
    return NULL;
  }
  return arr;
}

static mh_value *initialize_result(const mh_value *params) {
  const mh_value *asked = params ? mh_value_obj_get(params, "protocolVersion") : NULL;
  const char *version = mh_mcp_protocol_version(asked && asked->type == MH_V_STRING ? asked->u.str.ptr : NULL);
  /* listChanged: on the session's GET stream (mcp_session.c). */
  mh_value *caps = with(obj(), "tools", with(obj(), "listChanged", mh_value_bool(true)));
  mh_value *info = with(with(obj(), "name", mh_value_cstring("moonhost")), "version", mh_value_cstring(MOONHOST_VERSION));
  mh_value *r = with(obj(), "protocolVersion", mh_value_cstring(version));
  r = with(with(r, "capabilities", caps), "serverInfo", info);
  return with(r, "instructions",
              mh_value_cstring("Tools are functions of this moonhost's plugins. Arguments are named arg0, arg1, ... "
                               "in the order the function takes them; a failed call answers isError with the reason."));
}

/* ---- tools/list ---- */

typedef struct tool_row {
  char name[MH_MCP_TOOL_NAME_MAX + 1];
  const mh_fn *fn;
} tool_row;

static int by_tool_name(const void *a, const void *b) {
  return strcmp(((const tool_row *)a)->name, ((const tool_row *)b)->name);
}

/* {name, ...the description registered}. */
static mh_value *tool_of(const tool_row *row) {
  mh_value *t = with(obj(), "name", mh_value_cstring(row->name));
  const mh_value *d = row->fn->agent;
  for (size_t i = 0; t && i < d->u.obj.len; i++) {
    const mh_pair *p = &d->u.obj.items[i];
    t = with(t, p->key->u.str.ptr, mh_value_copy(p->val));
  }
  return t;
}

/* The functions offered as tools now, sorted by tool name; NULL when
 * memory runs out. */
static tool_row *tool_rows(mh_host *h, size_t *n) {
  mh_map *reg = &h->registry.by_name;
  tool_row *rows = calloc(reg->len + 1, sizeof *rows);
  *n = 0;
  for (size_t i = 0; rows && i < reg->cap; i++) {
    if (!mh_map_live(&reg->slots[i])) continue;
    const mh_fn *fn = reg->slots[i].value;
    if (!fn->agent) continue;
    if (!mh_mcp_tool_name(fn->name, rows[*n].name, sizeof rows[*n].name)) {
      mh_log_warn_limited("mcp", "%s: not offered as a tool: its tool name would be over %d characters", fn->name,
                          MH_MCP_TOOL_NAME_MAX);
      continue;
    }
    rows[(*n)++].fn = fn;
  }
  if (rows) qsort(rows, *n, sizeof *rows, by_tool_name);
  return rows;
}

mh_value *mh_mcp_tools_list(mh_host *h) {
  size_t n = 0;
  tool_row *rows = tool_rows(h, &n);
  mh_value *tools = rows ? mh_value_new(MH_V_ARRAY) : NULL;
  for (size_t i = 0; tools && i < n; i++) tools = pushed(tools, tool_of(&rows[i]));
  free(rows);
  return with(obj(), "tools", tools);
}

/* ---- tools/call ---- */


/* A tool result: its text, and structuredContent when given. */
static mh_value *tool_result(const char *text, size_t len, mh_value *structured, bool is_error) {
  mh_value *item = with(with(obj(), "type", mh_value_cstring("text")), "text", mh_value_string(text, len));
  mh_value *r = with(obj(), "content", pushed(mh_value_new(MH_V_ARRAY), item));
  if (structured) r = with(r, "structuredContent", structured);
  return with(r, "isError", mh_value_bool(is_error));
}

static mh_value *error_result(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static mh_value *error_result(const char *fmt, ...) {
  mh_buf b = MH_BUF_INIT;
  va_list ap;
  va_start(ap, fmt);
  int rc = mh_buf_vappendf(&b, fmt, ap);
  va_end(ap);
  mh_value *r = rc ? NULL : tool_result(b.data, b.len, NULL, true);
  mh_buf_free(&b);
  return r;
}

/* What the function answered: its JSON as text, and as structuredContent
 * when it is an object (MCP wants an object there). */
static mh_value *value_result(const mh_value *v) {
  mh_buf b = MH_BUF_INIT;
  mh_error *err = NULL;
  mh_value *r;
  if (mh_codec_json.encode(v, &b, &err)) {
    r = error_result("the result cannot be sent as JSON: %s", err ? err->message : "out of memory");
  } else {
    mh_value *structured = v && v->type == MH_V_OBJECT ? mh_value_copy(v) : NULL;
    r = tool_result(b.data, b.len, structured, false);
  }
  mh_error_free(err);
  mh_buf_free(&b);
  return r;
}

/* ud: the request's id (a copy, freed here). */
static void call_done(mh_http_exchange *x, void *ud, const mh_value *result, const mh_error *err) {
  mh_value *id = ud;
  if (x) mh_mcp_respond_result(x, id, err ? error_result("%s (%s)", err->message, err->code) : value_result(result));
  mh_value_free(id);
}

/* The positional arguments of a function whose schema declares n: arg0 ..
 * arg(n-1) from the object, the ones not given as null (trailing ones left
 * out). NULL and *why when another key is given. */
static mh_value *declared_args(const mh_value *input, int n, char *why, size_t len) {
  for (size_t i = 0; i < input->u.obj.len; i++) {
    const char *k = input->u.obj.items[i].key->u.str.ptr;
    char *end = NULL;
    long idx = strncmp(k, "arg", 3) == 0 && k[3] >= '0' && k[3] <= '9' ? strtol(k + 3, &end, 10) : -1;
    if (idx < 0 || idx >= n || *end || (k[3] == '0' && k[4])) {
      if (n == 0) snprintf(why, len, "unknown argument \"%.200s\": this tool takes no arguments", k);
      else snprintf(why, len, "unknown argument \"%.200s\": this tool takes arg0 to arg%d", k, n - 1);
      return NULL;
    }
  }
  int last = -1;
  char key[24];
  for (int i = 0; i < n; i++) {
    snprintf(key, sizeof key, "arg%d", i);
    if (mh_value_obj_get(input, key)) last = i;
  }
  mh_value *args = mh_value_new(MH_V_ARRAY);
  for (int i = 0; args && i <= last; i++) {
    snprintf(key, sizeof key, "arg%d", i);
    const mh_value *a = mh_value_obj_get(input, key);
    args = pushed(args, a ? mh_value_copy(a) : mh_value_null());
  }
  if (!args) snprintf(why, len, "out of memory");
  return args;
}

/* A function without a schema: arg0, arg1, ... when given so, no argument
 * for {}, else the object as its one argument (as devframe does). */
static mh_value *untyped_args(const mh_value *input) {
  mh_value *args = mh_value_new(MH_V_ARRAY);
  if (!args || input->u.obj.len == 0) return args;
  if (!mh_value_obj_get(input, "arg0")) return pushed(args, mh_value_copy(input));
  char key[24];
  for (int i = 0; args; i++) {
    snprintf(key, sizeof key, "arg%d", i);
    const mh_value *a = mh_value_obj_get(input, key);
    if (!a) return args;
    args = pushed(args, mh_value_copy(a));
  }
  return NULL;
}

static void tools_call(mh_http_exchange *x, const mh_value *id, const mh_value *params) {
  const mh_value *tool = params ? mh_value_obj_get(params, "name") : NULL;
  const mh_value *input = params ? mh_value_obj_get(params, "arguments") : NULL;
  if (!tool || tool->type != MH_V_STRING) {
    mh_mcp_respond_error(x, 200, id, MH_JSONRPC_INVALID_PARAMS, "tools/call needs params.name, the tool's name");
    return;
  }
  char name[MH_MCP_TOOL_NAME_MAX + 1];
  const mh_fn *fn = mh_mcp_function_name(tool->u.str.ptr, name, sizeof name)
                        ? mh_registry_get(&x->host->registry, name) : NULL;
  if (!fn || !fn->agent) {
    char msg[300];
    snprintf(msg, sizeof msg, "unknown tool: \"%.200s\" (tools/list names them)", tool->u.str.ptr);
    mh_mcp_respond_error(x, 200, id, MH_JSONRPC_INVALID_PARAMS, msg);
    return;
  }
  if (input && input->type != MH_V_OBJECT) {
    mh_mcp_respond_result(x, id, error_result("arguments must be an object ({\"arg0\": ...})"));
    return;
  }
  mh_value empty = {.type = MH_V_OBJECT};
  char why[300] = "out of memory";
  mh_value *args = fn->agent_args >= 0 ? declared_args(input ? input : &empty, fn->agent_args, why, sizeof why)
                                       : untyped_args(input ? input : &empty);
  mh_value *copy = args ? mh_value_copy(id) : NULL;
  if (!copy) {
    mh_value_free(args);
    mh_mcp_respond_result(x, id, error_result("%s", why));
    return;
  }
  mh_http_call(x, name, args, call_done, copy);
}

void mh_mcp_request(mh_http_exchange *x, const char *method, const mh_value *id, const mh_value *params) {
  if (strcmp(method, "initialize") == 0) {
    mh_mcp_respond_result(x, id, initialize_result(params));
  } else if (strcmp(method, "ping") == 0) {
    mh_mcp_respond_result(x, id, obj());
  } else if (strcmp(method, "tools/list") == 0) {
    mh_mcp_respond_result(x, id, mh_mcp_tools_list(x->host));
  } else if (strcmp(method, "tools/call") == 0) {
    tools_call(x, id, params);
  } else {
    char msg[300];
    snprintf(msg, sizeof msg, "method not found: \"%.200s\" (this host answers initialize, ping, tools/list, tools/call)",
             method);
    mh_mcp_respond_error(x, 200, id, MH_JSONRPC_METHOD_NOT_FOUND, msg);
  }
}
