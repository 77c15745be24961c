/* oRPC's answers that every part of the endpoint gives: the CORS headers
 * an allowed origin gets, and error answers with oRPC's error body. */
#include "session/auth.h"
#include "transport/http.h"
#include "transport/orpc.h"

/* A browser on an allowed origin may read the answer (the router has turned
 * every other origin away already); Vary keeps caches from mixing them. */
void mh_orpc_cors(mh_http_exchange *x) {
  if (!x->origin || !mh_auth_origin_ok(x->host, x->origin)) return;
  mh_http_header(x, "access-control-allow-origin", x->origin);
  mh_http_header(x, "access-control-allow-credentials", "true");
  mh_http_header(x, "vary", "Origin");
}

void mh_orpc_respond_mh_error(mh_http_exchange *x, const mh_error *e) {
  mh_buf b = MH_BUF_INIT;
  int status = mh_orpc_error_body(e, &b);
  mh_orpc_cors(x);
  mh_http_header(x, "cache-control", "no-store");
  mh_http_respond(x, status, "application/json", b.data ? b.data : "", b.len);
  mh_buf_free(&b);
}

void mh_orpc_respond_error(mh_http_exchange *x, int status, const char *code, const char *message) {
  /* On the stack: nothing to allocate, so nothing to fail. status overrides
   * the code's own (405 for METHOD_NOT_SUPPORTED, ...). */
  mh_error e = {(char *)code, (char *)"Error", (char *)message, NULL, false, status};
  mh_orpc_respond_mh_error(x, &e);
}
