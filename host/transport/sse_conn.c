/* The SSE endpoint's route: which request goes where. `GET` opens a
 * session, `POST` with `x-birpc-session` hands a frame to one, `OPTIONS`
 * answers the CORS preflight of an allowed origin. Host and Origin were
 * checked when the request came in (mh_conn_gate), so a page on an origin
 * that is not allowed got 403 before this. */
#include "transport/sse_conn.h"

#include <stdio.h>
#include <string.h>

#include "call/host.h"
#include "core/log.h"
#include "transport/conn.h"
#include "transport/http.h"
#include "transport/orpc.h"
#include "transport/sse_session.h"

/* devframe's DEVFRAME_SSE_SESSION_HEADER (birpc's SSE helpers' name). */
#define SSE_SESSION_HEADER "x-birpc-session"

static void preflight(mh_http_exchange *x) {
  mh_orpc_cors(x);
  mh_http_header(x, "access-control-allow-methods", "GET, POST, OPTIONS");
  mh_http_header(x, "access-control-allow-headers", "content-type, " SSE_SESSION_HEADER);
  mh_http_header(x, "access-control-max-age", "600");
  mh_http_respond(x, 204, "text/plain", "", 0);
}

static mh_server *server_of(const mh_http_exchange *x) { return x->conn ? x->conn->server : x->host->server; }

static void post(mh_http_exchange *x) {
  char id[64];
  int n = mh_http_req_header(x, SSE_SESSION_HEADER, id, sizeof id);
  mh_sse_session *ss = n > 0 ? mh_sse_session_find(server_of(x), id) : NULL;
  if (!ss) {
    /* Rate-limited: a client may retry in a loop. Never the id itself. */
    mh_log_warn_limited("sse", "POST %s refused: %s", x->path,
                        n == -1 ? "no " SSE_SESSION_HEADER " header" : "unknown or closed session");
    mh_orpc_cors(x);
    mh_http_respond_text(x, 400,
                         n == -1 ? "no " SSE_SESSION_HEADER " header: GET this path first for a session id\n"
                                 : "unknown or closed SSE session (" SSE_SESSION_HEADER ")\n");
    return;
  }
  mh_sse_session_post(ss, x);
}

static void route(mh_http_exchange *x) {
  if (strcmp(x->method_name, "GET") == 0)
    mh_sse_session_open(server_of(x), x);
  else if (strcmp(x->method_name, "POST") == 0)
    post(x);
  else if (strcmp(x->method_name, "OPTIONS") == 0)
    preflight(x);
  else {
    mh_http_header(x, "allow", "GET, POST, OPTIONS");
    mh_http_respond_text(x, 405, "the SSE endpoint takes GET (the stream), POST (frames) and OPTIONS\n");
  }
}

/* Where devframe's client finds it: `__sse` beside `__connection.json`
 * (/__devtools/), or at the root beside `/__ws`. */
static const mh_http_route routes[] = {
    {.path = "/__sse", .handle = route},
    {.path = "/__devtools/__sse", .handle = route},
};

int mh_sse_add_routes(mh_server *s) {
  for (size_t i = 0; i < sizeof routes / sizeof *routes; i++)
    if (mh_http_add_route(s, &routes[i])) return -1;
  return 0;
}

void mh_sse_free(mh_server *s) { mh_map_free(&s->sse_sessions); }
