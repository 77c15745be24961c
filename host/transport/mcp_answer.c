/* MCP's answers: JSON-RPC responses and errors as application/json, with
 * the CORS headers an allowed origin gets. */
#include <string.h>

#include "codec/codec.h"
#include "core/log.h"
#include "session/auth.h"
#include "transport/http.h"
#include "transport/mcp.h"

/* A browser client on an allowed origin may read the answer and the
 * session id (the router has turned every other origin away already). */
void mh_mcp_cors(mh_http_exchange *x) {
  if (!x->origin || !mh_auth_origin_ok(x->host, x->origin)) return;
  mh_http_header(x, "access-control-allow-origin", x->origin);
  mh_http_header(x, "access-control-expose-headers", "mcp-session-id");
  mh_http_header(x, "vary", "Origin");
}

static void respond_message(mh_http_exchange *x, int status, mh_value *msg) {
  mh_buf b = MH_BUF_INIT;
  mh_error *err = NULL;
  if (!msg || mh_codec_json.encode(msg, &b, &err)) {
    mh_log_warn("mcp", "cannot encode an answer: %s", err ? err->message : "out of memory");
    mh_buf_free(&b);
    status = 500;
    mh_buf_append_str(&b, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32603,\"message\":\"internal error\"}}");
  }
  mh_error_free(err);
  mh_value_free(msg);
  mh_mcp_cors(x);
  mh_http_header(x, "cache-control", "no-store");
  mh_http_respond(x, status, "application/json", b.data ? b.data : "", b.len);
  mh_buf_free(&b);
}

/* {jsonrpc: "2.0", id: id}; NULL when memory runs out. */
static mh_value *envelope(const mh_value *id) {
  mh_value *msg = mh_value_new(MH_V_OBJECT);
  if (!msg || mh_value_obj_set(msg, "jsonrpc", mh_value_cstring("2.0")) ||
      mh_value_obj_set(msg, "id", id ? mh_value_copy(id) : mh_value_null())) {
    mh_value_free(msg);
    return NULL;
  }
  return msg;
}

void mh_mcp_respond_result(mh_http_exchange *x, const mh_value *id, mh_value *result) {
  mh_value *msg = envelope(id);
  if (!msg) {
    mh_value_free(result);
  } else if (mh_value_obj_set(msg, "result", result)) { /* a failed set frees result */
    mh_value_free(msg);
    msg = NULL;
  }
  respond_message(x, 200, msg);
}

void mh_mcp_respond_error(mh_http_exchange *x, int status, const mh_value *id, int code, const char *message) {
  mh_value *error = mh_value_new(MH_V_OBJECT);
  if (error && (mh_value_obj_set(error, "code", mh_value_int(code)) ||
                mh_value_obj_set(error, "message", mh_value_cstring(message)))) {
    mh_value_free(error);
    error = NULL;
  }
  mh_value *msg = error ? envelope(id) : NULL;
  if (!msg) mh_value_free(error);
  if (msg && mh_value_obj_set(msg, "error", error)) { /* a failed set frees error */
    mh_value_free(msg);
    msg = NULL;
  }
  respond_message(x, status, msg);
}
