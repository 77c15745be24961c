/* What plain HTTP requests get: discovery documents for Vite DevTools
 * clients and a health check. */
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "host.h"
#include "http.h"
#include "log.h"
#include "server.h"

static void respond_json(mh_http_exchange *x, int status, const char *json) {
  mh_http_header(x, "cache-control", "no-store");
  mh_http_respond(x, status, "application/json;charset=UTF-8", json, strlen(json));
}

void mh_http_route(mh_http_exchange *x) {
  mh_host *h = x->host;
  char body[256];
  /* A page from a foreign site must not reach any endpoint, not even a
   * simple GET: that is how cross-site requests (and DNS rebinding) start. */
  if (!mh_auth_origin_ok(h, x->origin)) {
    mh_log_warn("http", "%s %s from origin %s refused (not in auth.allowed_origins)", x->method_name, x->path,
                x->origin);
    mh_http_respond_text(x, 403, "origin not allowed\n");
    return;
  }
  bool get = strcmp(x->method_name, "GET") == 0 || strcmp(x->method_name, "HEAD") == 0;
  if (get && strcmp(x->path, "/__devtools/__connection.json") == 0) {
    /* Vite DevTools 0.8 (devframe): the path is resolved against this file's URL. */
    respond_json(x, 200, "{\"backend\":\"websocket\",\"websocket\":{\"path\":\"/__devtools/__ws\"}}");
    return;
  }
  if (get && strcmp(x->path, "/.devtools/.connection.json") == 0) {
    /* Vite DevTools 0.1: a bare port means ws://<page host>:<port>/. */
    snprintf(body, sizeof body, "{\"backend\":\"websocket\",\"websocket\":%d}", mh_server_port(h->server));
    respond_json(x, 200, body);
    return;
  }
  if (get && strcmp(x->path, "/__moonhost/health") == 0) {
    snprintf(body, sizeof body, "{\"ok\":true,\"version\":\"%s\",\"clients\":%zu}", MOONHOST_VERSION, h->nclients);
    respond_json(x, 200, body);
    return;
  }
  mh_http_respond_text(x, 404, "not found: moonhost speaks WebSocket RPC at /__ws\n");
}
