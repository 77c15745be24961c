/* MCP for AI agents (README "Operating moonhost"): the functions defined
 * with `agent = {...}` are offered as tools over MCP's Streamable HTTP
 * transport at /__mcp, protocol version 2025-11-25 (2025-06-18 and
 * 2025-03-26 are answered too). Requests are answered as JSON; a GET
 * stream per session carries notifications/tools/list_changed.
 *
 *   mcp.c          the route: HTTP methods, trust, sessions, JSON-RPC messages
 *   mcp_answer.c   JSON-RPC responses and errors, CORS
 *   mcp_methods.c  initialize, ping, tools/list, tools/call
 *   mcp_names.c    function names <-> tool names
 *   mcp_session.c  Mcp-Session-Id: the sessions initialize opens, and
 *                  their GET streams (notifications/tools/list_changed) */
#ifndef MH_MCP_H
#define MH_MCP_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/value.h"

typedef struct mh_server mh_server;
typedef struct mh_http_exchange mh_http_exchange;

#define MH_MCP_PATH "/__mcp"

/* ---- the route (mcp.c) ---- */

/* Adds /__mcp to the server's routes; 0, or -1 (memory). */
int mh_mcp_add_routes(mh_server *s);

/* ---- answers (mcp_answer.c) ---- */

/* JSON-RPC error codes. */
#define MH_JSONRPC_PARSE_ERROR (-32700)
#define MH_JSONRPC_INVALID_REQUEST (-32600)
#define MH_JSONRPC_METHOD_NOT_FOUND (-32601)
#define MH_JSONRPC_INVALID_PARAMS (-32602)
#define MH_JSONRPC_INTERNAL_ERROR (-32603)
#define MH_JSONRPC_SERVER_ERROR (-32000) /* refusals: trust, sessions, limits */

/* Answers x with the JSON-RPC response {jsonrpc, id, result} (result
 * taken; id borrowed, NULL for null). */
void mh_mcp_respond_result(mh_http_exchange *x, const mh_value *id, mh_value *result);
/* Answers x with HTTP status and a JSON-RPC error response. */
void mh_mcp_respond_error(mh_http_exchange *x, int status, const mh_value *id, int code, const char *message);
/* The CORS headers an allowed Origin gets. */
void mh_mcp_cors(mh_http_exchange *x);

/* ---- methods (mcp_methods.c) ---- */

/* The protocol version answered to a client that asks for `asked` (NULL:
 * none): the same when supported, else the newest. */
const char *mh_mcp_protocol_version(const char *asked);
/* Whether a MCP-Protocol-Version header value is one this host speaks. */
bool mh_mcp_version_supported(const char *v);
/* Answers one request (id non-NULL) for method with params (may be NULL),
 * now or later. session: the id of the session initialize opened. */
void mh_mcp_request(mh_http_exchange *x, const char *method, const mh_value *id, const mh_value *params);
/* The result of tools/list now: {tools: [...]}; NULL when memory runs out. */
typedef struct mh_host mh_host;
mh_value *mh_mcp_tools_list(mh_host *h);

/* ---- tool names (mcp_names.c) ----
 * MCP tool names are [A-Za-z0-9_.-]{1,128}; clients such as Claude Code
 * take only [A-Za-z0-9_-]. A function name whose ':'-separated parts are
 * all made of letters, digits, '_' and '-', none empty, none holding "__"
 * and none starting or ending with '_' is written with "__" for each ':'
 * ("demo:get_user" -> "demo__get_user"); any other name is '_' and its
 * bytes in lowercase hex ("a:b c" -> "_613a622063"). Both ways are exact:
 * each tool name decodes to at most one function name. */
#define MH_MCP_TOOL_NAME_MAX 128

/* The tool name of function `name` into out; false when it would be longer
 * than MH_MCP_TOOL_NAME_MAX (the function is not offered) or out is small. */
bool mh_mcp_tool_name(const char *name, char *out, size_t len);
/* The function name of a tool name into out; false when `tool` is no tool
 * name this host makes. */
bool mh_mcp_function_name(const char *tool, char *out, size_t len);

/* ---- sessions (mcp_session.c) ----
 * At most MH_MCP_MAX_SESSIONS live; opening one more ends the one used
 * least recently (its client gets 404 and initializes again). */
#define MH_MCP_MAX_SESSIONS 256
#define MH_MCP_SESSION_ID_LEN 32 /* hex of 128 random bits */

typedef struct mh_mcp_sessions mh_mcp_sessions;
/* Ends every session and stream (the server is going). */
void mh_mcp_sessions_free(mh_mcp_sessions *s);
/* Opens a session (creating *store, for host h, on first use); its id into
 * id. 0, or -1 (memory, no randomness). */
int mh_mcp_session_open(mh_mcp_sessions **store, mh_host *h, char id[MH_MCP_SESSION_ID_LEN + 1]);
/* Whether id names a live session (and marks it used). */
bool mh_mcp_session_touch(mh_mcp_sessions *s, const char *id);
/* Answers x (a GET) with the session's event stream: from now on it is
 * told when the tool list changes. 0 started; 1 the session has one open
 * already, -1 there is no such session, -2 out of memory (x unanswered). */
int mh_mcp_session_stream(mh_mcp_sessions *s, const char *id, mh_http_exchange *x);
/* Ends a session (and its stream); false when there was none. */
bool mh_mcp_session_close(mh_mcp_sessions *s, const char *id);

#endif
