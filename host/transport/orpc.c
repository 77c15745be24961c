/* The oRPC endpoint: `POST /rpc/a/b` (and `GET /rpc/a/b?data=...` for
 * query and static functions) calls function "a:b" with the decoded input
 * as its one argument (its argument list, when an array, for a function
 * that declares two or more) and answers as @orpc/client's RPCLink expects: 200
 * with {json, meta}, or an error status with oRPC's error body. A stream
 * function answers an event stream (orpc_stream.c). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "session/auth.h"
#include "session/client.h"
#include "call/host.h"
#include "call/plugin.h"
#include "transport/conn.h"
#include "transport/http.h"
#include "transport/http_call.h"
#include "core/log.h"
#include "transport/orpc.h"
#include "call/registry.h"

/* ---- paths and names ---- */

/* Length of the configured prefix without trailing slashes ("/" is 0). */
static size_t prefix_len(const mh_host *h) {
  const char *pre = h->cfg->http.prefix ? h->cfg->http.prefix : "/rpc";
  size_t n = strlen(pre);
  while (n > 0 && pre[n - 1] == '/') n--;
  return n;
}

/* The path starts with the prefix (its trailing slashes aside), followed
 * by nothing or a '/': one pass over what both share (every request to a
 * claimed route asks, find_route). */
bool mh_orpc_claims(const mh_host *h, const char *path) {
  const char *pre = h->cfg->http.prefix ? h->cfg->http.prefix : "/rpc";
  if (path[0] != '/') return false;
  size_t i = 0;
  while (pre[i] && pre[i] == path[i]) i++;
  for (size_t j = i; pre[j]; j++) /* what the path does not share: trailing slashes only */
    if (pre[j] != '/') return false;
  size_t n = i;
  while (n > 0 && pre[n - 1] == '/') n--;
  return path[n] == '\0' || path[n] == '/';
}

/* The name for the path after the prefix, in one pass: its segments
 * joined with ':'. A segment may not be empty, "." or "..", nor hold a
 * control character; the whole must be UTF-8 (checked already when
 * utf8_known: a valid path's segments are, as '/' is never inside a
 * character). false when refused or longer than len - 1. */
static bool name_of(const char *rest, char *name, size_t len, bool utf8_known) {
  const char *p = rest[0] == '/' ? rest + 1 : rest;
  if (!*p || len == 0) return false;
  size_t o = 0, seg = 0; /* where the current segment starts in name */
  for (;; p++) {
    unsigned char c = (unsigned char)*p;
    if (c == '/' || c == '\0') {
      size_t n = o - seg;
      if (n == 0 || (n == 1 && name[seg] == '.') || (n == 2 && name[seg] == '.' && name[seg + 1] == '.')) return false;
      if (!c) break;
      c = ':';
      seg = o + 1;
    } else if (c < 0x20 || c == 0x7f) {
      return false;
    }
    if (o + 1 >= len) return false;
    name[o++] = (char)c;
  }
  name[o] = '\0';
  if (utf8_known) return true;
  const char *all = rest[0] == '/' ? rest + 1 : rest;
  return mh_utf8_valid(all, strlen(all));
}

bool mh_orpc_name(const char *rest, char *name, size_t len) { return name_of(rest, name, len, false); }

/* ---- answers ---- */

/* The encoded result, in a buffer kept from one answer to the next: it
 * becomes the response body and takes the exchange's old one
 * (mh_http_respond_buf), which http_conn.c keeps with a freed exchange
 * too, so an answer allocates nothing. One grown past KEEP_ANSWER_BYTES
 * is freed. */
#define KEEP_ANSWER_BYTES 65536
static _Thread_local mh_buf answer;

static void respond_value(mh_http_exchange *x, const mh_value *v) {
  mh_buf *b = &answer;
  mh_error *err = NULL;
  mh_buf_reset(b);
  if (mh_orpc_encode(v, b, &err)) {
    mh_log_warn("http", "%s: cannot send the result: %s", x->path, err->message);
    mh_orpc_respond_mh_error(x, err);
  } else {
    mh_orpc_cors(x);
    mh_http_header(x, "cache-control", "no-store");
    mh_http_respond_buf(x, 200, "application/json", b); /* b gets the exchange's old buffer */
  }
  mh_error_free(err);
  if (b->cap > KEEP_ANSWER_BYTES) mh_buf_free(b);
}

/* A CORS preflight: what RPCLink sends cross-origin (POST with a JSON or
 * multipart body, an Authorization header, Last-Event-ID for streams). */
static void preflight(mh_http_exchange *x) {
  mh_orpc_cors(x);
  mh_http_header(x, "access-control-allow-methods", "GET, POST, OPTIONS");
  mh_http_header(x, "access-control-allow-headers", "content-type, authorization, last-event-id");
  mh_http_header(x, "access-control-max-age", "600");
  mh_http_respond(x, 204, "text/plain", "", 0);
}

/* ---- the call ---- */

static void call_done(mh_http_exchange *x, void *ud, const mh_value *result, const mh_error *err) {
  (void)ud;
  if (!x) return; /* the client left */
  if (err)
    mh_orpc_respond_mh_error(x, err);
  else
    respond_value(x, result);
}

/* The argument list for an input. The input is the one argument, except
 * for a function whose schema declares two or more: an array input is then
 * its argument list (oRPC sends one input; `[2, 3]` calls add(2, 3)). No
 * input (json undefined) is no argument. NULL when out of memory (input
 * freed). */
static mh_value *args_of(mh_value *input, unsigned arg_count) {
  if (arg_count >= 2 && input->type == MH_V_ARRAY) return input;
  mh_value *args = mh_value_new(MH_V_ARRAY);
  if (input->type == MH_V_UNDEFINED || !args) {
    mh_value_free(input);
    return args;
  }
  if (mh_value_push(args, input)) { /* a failed push frees input */
    mh_value_free(args);
    return NULL;
  }
  return args;
}

static void call(mh_http_exchange *x, mh_fn *fn, unsigned arg_count, mh_value *input) {
  mh_value *args = args_of(input, arg_count);
  if (!args) {
    mh_orpc_respond_error(x, 500, MH_ERR_INTERNAL, "out of memory");
    return;
  }
  mh_http_call_fn(x, fn, args, call_done, NULL);
}

/* ---- the request ---- */

/* The same rule as for WebSocket clients (auth.c): an untrusted caller
 * reaches anonymous:* functions only. */
static bool may_call(mh_http_exchange *x, const char *name, bool *trusted, bool *token_refused) {
  mh_client anon;
  memset(&anon, 0, sizeof anon);
  anon.host = x->host;
  anon.trusted = *trusted = mh_http_trust(x, token_refused);
  return mh_auth_may_call(&anon, name);
}

/* An untrusted WebSocket client is charged limits.untrusted_calls_per_s
 * (client.c); an untrusted HTTP caller has no client to charge (each request
 * may come on a new connection), so all of them share one bucket per server
 * with that rate. */
static bool untrusted_rate_ok(mh_http_exchange *x, bool trusted) {
  return !x->conn || mh_auth_untrusted_rate_ok(x->host, trusted, &x->conn->server->untrusted_http_rate);
}

/* The request's Content-Type, read once: what input_kind_ok and read_input
 * look at. */
typedef struct content_type {
  int len; /* mh_http_req_header's: -1 absent or too long */
  char text[512];
} content_type;

/* The input of a GET (?data=) or a POST (JSON or multipart body). */
static mh_value *read_input(mh_http_exchange *x, bool get, const content_type *ct, mh_error **err) {
  const mh_codec_limits *lim = &x->host->codec_limits;
  if (get) {
    mh_buf data = MH_BUF_INIT;
    int found = mh_http_query_arg(x, "data", &data);
    mh_value *v = found > 0 ? mh_orpc_decode_json(data.data, data.len, lim, err)
                  : found == 0 ? mh_value_undefined()
                               : NULL;
    if (found < 0) *err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
    mh_buf_free(&data);
    return v;
  }
  if (ct->len > 0 && (ct->text[0] | 0x20) == 'm' && strncasecmp(ct->text, "multipart/form-data", 19) == 0)
    return mh_orpc_decode_multipart(x->body.data, x->body.len, ct->text, lim, err);
  /* RPCLink sends application/json; anything else is read as JSON too, so a
   * bare `curl -d` works (a foreign page cannot post: the Origin check). */
  return mh_orpc_decode_json(x->body.data, x->body.len, lim, err);
}

static void refuse(mh_http_exchange *x, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void refuse(mh_http_exchange *x, int status, const char *code, const char *fmt, ...) {
  char msg[700];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  mh_log_debug("http", "%s %s: %d %s", x->method_name, x->path, status, msg);
  mh_orpc_respond_error(x, status, code, msg);
}

/* Whether the path is UTF-8: at once when it is ASCII, as most are. */
static bool path_utf8(const char *path) {
  const unsigned char *p = (const unsigned char *)path;
  while (*p && *p < 0x80) p++;
  return !*p || mh_utf8_valid(path, strlen(path));
}

/* Which function (its name and declared argument count), and whether this
 * caller may call it this way; false when the request has been answered
 * already. */
static bool admit(mh_http_exchange *x, bool get, char *name, size_t len, mh_fn **fn_out) {
  if (x->body_too_large) {
    refuse(x, 413, MH_ERR_TOO_LARGE, "request body over limits.max_message_bytes");
    return false;
  }
  /* The message names the path; one that is not UTF-8 could not be sent
   * in a JSON error body at all. */
  if (!path_utf8(x->path)) {
    refuse(x, 400, MH_ERR_BAD_REQUEST, "the path is not valid UTF-8");
    return false;
  }
  if (!name_of(x->path + prefix_len(x->host), name, len, true)) {
    refuse(x, 404, MH_ERR_NOT_FOUND, "no function at %s", x->path);
    return false;
  }
  /* Before the lookup, so an untrusted caller learns nothing about names. */
  bool trusted = false, token_refused = false;
  if (!may_call(x, name, &trusted, &token_refused)) {
    /* Never the token itself in the log. */
    mh_log_warn_limited("auth", "HTTP call to %s refused: %s", name,
                        token_refused ? "token presented and refused" : "no token");
    if (token_refused)
      refuse(x, 401, MH_ERR_UNAUTHORIZED, "RPC call to \"%s\" was rejected: %s", name, mh_auth_refusal(true));
    else
      refuse(x, 401, MH_ERR_UNAUTHORIZED, "RPC call to \"%s\" was rejected: %s (send Authorization: Bearer TOKEN)", name,
             mh_auth_refusal(false));
    return false;
  }
  if (!untrusted_rate_ok(x, trusted)) {
    int rate = x->host->cfg->limits.untrusted_calls_per_s;
    mh_log_warn_limited("auth", "untrusted HTTP calls over %d a second: %s refused", rate, name);
    refuse(x, 429, MH_ERR_OVERLOADED, "too many calls from untrusted HTTP callers (limit %d a second for all of them)",
           rate);
    return false;
  }
  mh_fn *fn = mh_registry_get(&x->host->registry, name);
  if (!fn) {
    mh_error *e = mh_plugin_not_found(x->host, name, "");
    refuse(x, 404, MH_ERR_NOT_FOUND, "%s", e ? e->message : "function not found");
    mh_error_free(e);
    return false;
  }
  if (get && fn->type != MH_FN_QUERY && fn->type != MH_FN_STATIC) {
    mh_http_header(x, "allow", "POST, OPTIONS");
    refuse(x, 405, "METHOD_NOT_SUPPORTED", "GET is for query and static functions only: \"%s\" needs POST", name);
    return false;
  }
  *fn_out = fn;
  return true;
}

/* ---- streamed inputs ---- */

/* An event iterator's body; a Content-Type of 128 bytes or more is not one. */
static bool event_stream_body(const content_type *ct) {
  return ct->len > 0 && ct->len < 128 && (ct->text[0] | 0x20) == 't' && strncasecmp(ct->text, "text/event-stream", 17) == 0;
}

static void input_call_done(mh_http_exchange *x, void *ud, const mh_value *result, const mh_error *err) {
  mh_orpc_input_end(x, ud);
  call_done(x, NULL, result, err);
}

/* Whether the body's kind and the function agree: a streamed body goes
 * only to a function declared with input_stream, and such a function
 * takes nothing else. false when answered already. */
static bool input_kind_ok(mh_http_exchange *x, const mh_fn *fn, const char *name, const content_type *ct) {
  bool streamed = x->chunked || event_stream_body(ct);
  if (streamed && !fn->input_stream) {
    refuse(x, 415, "UNSUPPORTED_MEDIA_TYPE",
           "\"%s\" does not take a streamed input (an event iterator): define it with input_stream = true", name);
    return false;
  }
  if (!streamed && fn->input_stream) {
    refuse(x, 415, "UNSUPPORTED_MEDIA_TYPE",
           "\"%s\" takes a streamed input: send an event iterator (content-type: text/event-stream)", name);
    return false;
  }
  return true;
}

static void call_with_input(mh_http_exchange *x, const mh_fn *fn, const char *name) {
  char id[33];
  mh_error *err = NULL;
  mh_orpc_input *in = fn->gen ? mh_orpc_input_begin(x, fn->gen->plugin->name, fn->gen->number, id, &err) : NULL;
  mh_value *args = in ? mh_value_new(MH_V_ARRAY) : NULL;
  if (!args || mh_value_push(args, mh_value_cstring(id))) {
    mh_value_free(args);
    mh_orpc_input_end(x, in);
    if (!err) err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
    mh_orpc_respond_mh_error(x, err);
    mh_error_free(err);
    return;
  }
  mh_http_call(x, name, args, input_call_done, in);
}

void mh_orpc_route(mh_http_exchange *x) {
  char name[512];
  mh_fn *fn = NULL;
  /* x->method_name is named after x->method (http_conn.c) */
  bool get = x->method == LWSHUMETH_GET, post = x->method == LWSHUMETH_POST;
  if (x->method == LWSHUMETH_OPTIONS) {
    preflight(x);
    return;
  }
  if (!get && !post) {
    mh_http_header(x, "allow", "GET, POST, OPTIONS");
    refuse(x, 405, "METHOD_NOT_SUPPORTED", "%s is not supported: use POST (or GET for queries)", x->method_name);
    return;
  }
  if (!admit(x, get, name, sizeof name, &fn)) return;
  content_type ct;
  ct.len = mh_http_req_header(x, "content-type", ct.text, sizeof ct.text);
  if (!input_kind_ok(x, fn, name, &ct)) return;
  if (fn->input_stream) {
    call_with_input(x, fn, name);
    return;
  }
  unsigned arg_count = fn->arg_count;
  bool stream = fn->stream;
  mh_error *err = NULL;
  mh_value *input = read_input(x, get, &ct, &err);
  if (!input) {
    if (!err) err = mh_error_new(MH_ERR_BAD_REQUEST, "malformed input");
    mh_log_debug("http", "%s %s: %s", x->method_name, x->path, err->message);
    mh_orpc_respond_mh_error(x, err);
    mh_error_free(err);
    return;
  }
  if (arg_count >= 2 && input->type != MH_V_ARRAY && input->type != MH_V_UNDEFINED) {
    mh_value_free(input);
    refuse(x, 400, MH_ERR_BAD_REQUEST, "\"%s\" takes %u arguments: send them as one array (\"json\": [...])", name,
           arg_count);
    return;
  }
  if (stream) {
    mh_value *args = args_of(input, arg_count);
    if (args)
      mh_orpc_stream(x, name, args);
    else
      mh_orpc_respond_error(x, 500, MH_ERR_INTERNAL, "out of memory");
    return;
  }
  call(x, fn, arg_count, input);
}

static const mh_http_route orpc_route = {
    .claims = mh_orpc_claims,
    .handle = mh_orpc_route,
    .error = mh_orpc_respond_error,
    .chunked_body = true,
};

int mh_orpc_add_routes(mh_server *s) { return mh_http_add_route(s, &orpc_route); }
