/* /__mcp: MCP's Streamable HTTP transport, the part a server of tools
 * needs. Every request needs the token (Authorization: Bearer, as /rpc);
 * the Host and Origin checks ran when it came in (mh_conn_gate).
 *
 *   POST     one JSON-RPC message: a request is answered 200 with its
 *            response (application/json); a notification or a response
 *            202 with no body. Batches (arrays) are refused: MCP dropped
 *            them in 2025-06-18.
 *   DELETE   ends the session named by Mcp-Session-Id.
 *   GET      the session's event stream: notifications/tools/list_changed
 *            when a reload changes the tool list (one stream per session).
 *   OPTIONS  a CORS preflight (browser-based clients such as the MCP
 *            Inspector on an allowed origin). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call/host.h"
#include "codec/codec.h"
#include "core/log.h"
#include "transport/conn.h"
#include "transport/http.h"
#include "transport/mcp.h"

/* The router's own refusals (408, 413, 503) in the same shape. */
static void route_error(mh_http_exchange *x, int status, const char *code, const char *message) {
  (void)code;
  mh_mcp_respond_error(x, status, NULL, status == 413 ? MH_JSONRPC_INVALID_REQUEST : MH_JSONRPC_SERVER_ERROR, message);
}

static void refuse(mh_http_exchange *x, int status, int code, const char *message) {
  mh_log_debug("mcp", "%s %s: %d %s", x->method_name, x->path, status, message);
  mh_mcp_respond_error(x, status, NULL, code, message);
}

/* ---- requests ---- */

static void preflight(mh_http_exchange *x) {
  mh_mcp_cors(x);
  mh_http_header(x, "access-control-allow-methods", "GET, POST, DELETE, OPTIONS");
  mh_http_header(x, "access-control-allow-headers",
                 "content-type, authorization, mcp-session-id, mcp-protocol-version, last-event-id");
  mh_http_header(x, "access-control-max-age", "600");
  mh_http_respond(x, 204, "text/plain", "", 0);
}

/* The token, as for /rpc: without it nothing here answers. */
static bool admit(mh_http_exchange *x) {
  bool token_refused = false;
  if (mh_http_trust(x, &token_refused)) return true;
  /* Never the token itself in the log. */
  mh_log_warn_limited("auth", "MCP request refused: %s", token_refused ? "token presented and refused" : "no token");
  mh_http_header(x, "www-authenticate", "Bearer realm=\"moonhost\"");
  refuse(x, 401, MH_JSONRPC_SERVER_ERROR,
         token_refused ? "unauthorized: the token is not valid"
                       : "unauthorized: send the host's token as Authorization: Bearer TOKEN");
  return false;
}

/* The session a request names; false when it has been answered (no id, an
 * unknown one). */
static bool session_ok(mh_http_exchange *x) {
  char id[MH_MCP_SESSION_ID_LEN + 2];
  int n = mh_http_req_header(x, "mcp-session-id", id, sizeof id);
  if (n == -1) {
    refuse(x, 400, MH_JSONRPC_INVALID_REQUEST, "no Mcp-Session-Id header: send initialize first, then its session id");
    return false;
  }
  /* One too long to be ours (n < -1) is no session either. */
  if (n < 0 || !mh_mcp_session_touch(x->conn->server->mcp_sessions, id)) {
    refuse(x, 404, MH_JSONRPC_SERVER_ERROR, "session not found (ended, or the host restarted): initialize again");
    return false;
  }
  return true;
}

static bool version_ok(mh_http_exchange *x) {
  char v[32];
  int n = mh_http_req_header(x, "mcp-protocol-version", v, sizeof v);
  if (n == -1) return true; /* absent: 2025-03-26, which is spoken */
  if (n >= 0 && mh_mcp_version_supported(v)) return true;
  refuse(x, 400, MH_JSONRPC_INVALID_REQUEST, "unsupported MCP-Protocol-Version (this host speaks 2025-11-25, 2025-06-18 and 2025-03-26)");
  return false;
}

static void initialize(mh_http_exchange *x, const mh_value *id, const mh_value *params) {
  char sid[MH_MCP_SESSION_ID_LEN + 1];
  if (mh_mcp_session_open(&x->conn->server->mcp_sessions, x->host, sid)) {
    mh_mcp_respond_error(x, 500, id, MH_JSONRPC_INTERNAL_ERROR, "cannot open a session (out of memory)");
    return;
  }
  mh_http_header(x, "mcp-session-id", sid);
  mh_mcp_request(x, "initialize", id, params);
}

static bool valid_id(const mh_value *id) {
  return id->type == MH_V_STRING || id->type == MH_V_INT || id->type == MH_V_FLOAT;
}

/* One JSON-RPC message (an object). */
static void message(mh_http_exchange *x, const mh_value *msg) {
  const mh_value *version = mh_value_obj_get(msg, "jsonrpc"), *method = mh_value_obj_get(msg, "method");
  const mh_value *id = mh_value_obj_get(msg, "id"), *params = mh_value_obj_get(msg, "params");
  if (!version || version->type != MH_V_STRING || strcmp(version->u.str.ptr, "2.0") != 0) {
    refuse(x, 400, MH_JSONRPC_INVALID_REQUEST, "not a JSON-RPC 2.0 message (\"jsonrpc\": \"2.0\" is missing)");
    return;
  }
  if (method && method->type != MH_V_STRING) {
    refuse(x, 400, MH_JSONRPC_INVALID_REQUEST, "\"method\" must be a string");
    return;
  }
  if (id && !valid_id(id)) {
    refuse(x, 400, MH_JSONRPC_INVALID_REQUEST, "\"id\" must be a string or a number");
    return;
  }
  if (params && params->type != MH_V_OBJECT) {
    mh_mcp_respond_error(x, 400, id, MH_JSONRPC_INVALID_PARAMS, "\"params\" must be an object");
    return;
  }
  if (method && id && strcmp(method->u.str.ptr, "initialize") == 0) {
    initialize(x, id, params);
    return;
  }
  if (!session_ok(x)) return;
  if (!method || !id) { /* a notification (initialized, cancelled) or a response: nothing to answer */
    mh_http_respond(x, 202, "text/plain", "", 0);
    return;
  }
  mh_mcp_request(x, method->u.str.ptr, id, params);
}

static void post(mh_http_exchange *x) {
  if (x->body_too_large) {
    refuse(x, 413, MH_JSONRPC_INVALID_REQUEST, "request body over limits.max_message_bytes");
    return;
  }
  if (!version_ok(x)) return;
  mh_error *err = NULL;
  mh_value *msg = mh_codec_json.decode(x->body.data ? x->body.data : "", x->body.len, &x->host->codec_limits, &err);
  if (!msg) {
    char text[600];
    snprintf(text, sizeof text, "parse error: %s", err ? err->message : "not JSON");
    refuse(x, 400, MH_JSONRPC_PARSE_ERROR, text);
  } else if (msg->type == MH_V_ARRAY) {
    refuse(x, 400, MH_JSONRPC_INVALID_REQUEST, "JSON-RPC batches are not supported (MCP 2025-06-18 removed them): send one message per request");
  } else if (msg->type != MH_V_OBJECT) {
    refuse(x, 400, MH_JSONRPC_INVALID_REQUEST, "a JSON-RPC message is an object");
  } else {
    message(x, msg);
  }
  mh_error_free(err);
  mh_value_free(msg);
}

/* The session's stream, for the notifications the host sends unasked. */
static void open_stream(mh_http_exchange *x) {
  char accept[256], id[MH_MCP_SESSION_ID_LEN + 2];
  int n = mh_http_req_header(x, "accept", accept, sizeof accept);
  if (n >= 0 && !strstr(accept, "text/event-stream") && !strstr(accept, "*/*")) {
    refuse(x, 406, MH_JSONRPC_INVALID_REQUEST, "GET opens an event stream: accept text/event-stream");
    return;
  }
  if (!version_ok(x) || !session_ok(x)) return;
  mh_http_req_header(x, "mcp-session-id", id, sizeof id); /* session_ok read it */
  int rc = mh_mcp_session_stream(x->conn->server->mcp_sessions, id, x);
  if (rc == 0) mh_log_debug("mcp", "%s %s: event stream open", x->method_name, x->path);
  else if (rc == 1) refuse(x, 409, MH_JSONRPC_SERVER_ERROR, "this session has an event stream open already");
  else if (rc < 0) refuse(x, 500, MH_JSONRPC_INTERNAL_ERROR, "cannot open the event stream (out of memory)");
}

static void end_session(mh_http_exchange *x) {
  char id[MH_MCP_SESSION_ID_LEN + 2];
  if (mh_http_req_header(x, "mcp-session-id", id, sizeof id) < 0) {
    refuse(x, 400, MH_JSONRPC_INVALID_REQUEST, "DELETE ends a session: send its Mcp-Session-Id");
  } else if (!mh_mcp_session_close(x->conn->server->mcp_sessions, id)) {
    refuse(x, 404, MH_JSONRPC_SERVER_ERROR, "session not found");
  } else {
    mh_mcp_cors(x);
    mh_http_respond(x, 204, "text/plain", "", 0);
  }
}

static void route(mh_http_exchange *x) {
  const char *m = x->method_name;
  if (strcmp(m, "OPTIONS") == 0) {
    preflight(x);
    return;
  }
  if (!admit(x)) return;
  if (strcmp(m, "POST") == 0) {
    post(x);
  } else if (strcmp(m, "GET") == 0) {
    open_stream(x);
  } else if (strcmp(m, "DELETE") == 0) {
    end_session(x);
  } else {
    mh_http_header(x, "allow", "GET, POST, DELETE, OPTIONS");
    refuse(x, 405, MH_JSONRPC_SERVER_ERROR,
           "use POST for JSON-RPC messages (GET opens the session's event stream, DELETE ends it)");
  }
}

static const mh_http_route mcp_route = {
    .path = MH_MCP_PATH,
    .handle = route,
    .error = route_error,
};

int mh_mcp_add_routes(mh_server *s) { return mh_http_add_route(s, &mcp_route); }
