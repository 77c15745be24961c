/* What plain HTTP requests get: discovery documents for Vite DevTools
 * clients, a health check and the embedded files (the JS client). Host and
 * Origin were checked when the request came in (mh_conn_gate). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "session/auth.h"
#include "transport/conn.h"
#include "call/host.h"
#include "transport/http.h"
#include "transport/metrics_route.h"
#include "core/log.h"
#include "transport/orpc.h"
#include "transport/server.h"
#include "transport/www.h"

static void respond_json(mh_http_exchange *x, int status, const char *json) {
  mh_http_header(x, "cache-control", "no-store");
  mh_http_respond(x, status, "application/json;charset=UTF-8", json, strlen(json));
}

/* Vite DevTools 0.8 (devframe): paths are resolved against this file's
 * URL. Both transports are offered; `backend` (http.devframe_backend) is
 * the one a client set to 'auto' picks. */
static void route_devframe_discovery(mh_http_exchange *x) {
  const char *backend = x->host->cfg->http.devframe_backend;
  char body[160];
  snprintf(body, sizeof body,
           "{\"backend\":\"%s\",\"websocket\":{\"path\":\"/__devtools/__ws\"},\"sse\":{\"path\":\"/__devtools/__sse\"}}",
           backend && strcmp(backend, "sse") == 0 ? "sse" : "websocket");
  respond_json(x, 200, body);
}

static void route_devtools_discovery(mh_http_exchange *x) {
  /* Vite DevTools 0.1: a bare port means ws://<page host>:<port>/. */
  char body[96];
  snprintf(body, sizeof body, "{\"backend\":\"websocket\",\"websocket\":%d}", x->host->server->port);
  respond_json(x, 200, body);
}

static void route_health(mh_http_exchange *x) {
  char body[128];
  snprintf(body, sizeof body, "{\"ok\":true,\"version\":\"%s\",\"clients\":%zu}", MOONHOST_VERSION,
           x->host->nclients);
  respond_json(x, 200, body);
}

/* For process managers and load balancers; no token needed, nothing
 * revealed (docs/security.md). Answering at all means the loop runs. */
static void route_healthz(mh_http_exchange *x) {
  respond_json(x, 200, "{\"status\":\"ok\",\"checks\":{\"event_loop\":\"answering\"}}");
}

/* Ready to take calls: the plugins found at start have loaded (the port
 * opens before they load: run.c) and the host is not draining for shutdown. */
static void route_readyz(mh_http_exchange *x) {
  bool loaded = x->host->plugins_loaded, draining = x->host->stopping;
  char body[160];
  snprintf(body, sizeof body, "{\"status\":\"%s\",\"checks\":{\"plugins_loaded\":%s,\"draining\":%s}}",
           loaded && !draining ? "ready" : "not ready", loaded ? "true" : "false", draining ? "true" : "false");
  respond_json(x, loaded && !draining ? 200 : 503, body);
}

/* Names are matched exactly against the embedded files: never a path on disk. */
static bool claims_www(const mh_host *h, const char *path) {
  (void)h;
  return strncmp(path, "/__moonhost/", 12) == 0 && mh_www_find(path + 12) != NULL;
}

static void respond_file(mh_http_exchange *x, const mh_www_file *f) {
  mh_http_header(x, "cache-control", "no-cache");
  mh_http_header(x, "access-control-allow-origin", "*");
  mh_http_respond(x, 200, mh_www_content_type(f->name), f->data, f->len);
}

static void route_www(mh_http_exchange *x) { respond_file(x, mh_www_find(x->path + 12)); }

/* The inspector page (README "Inspector"). The page itself holds no data:
 * what it shows comes over the WebSocket, from trusted calls. Its own
 * files only, no inline script or style (a string that got into the DOM
 * as markup still could not run), and its URL, which may carry ?token=,
 * is never sent on as a Referer. */
static void route_inspector(mh_http_exchange *x) {
  mh_http_header(x, "content-security-policy",
                 "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
                 "base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
  mh_http_header(x, "referrer-policy", "no-referrer");
  mh_http_header(x, "x-content-type-options", "nosniff");
  respond_file(x, mh_www_find("index.html"));
}

static const mh_http_route routes[] = {
    {.method = "GET", .path = "/__devtools/__connection.json", .handle = route_devframe_discovery},
    {.method = "GET", .path = "/.devtools/.connection.json", .handle = route_devtools_discovery},
    {.method = "GET", .path = "/__moonhost/health", .handle = route_health},
    {.method = "GET", .path = "/healthz", .handle = route_healthz, .before_ready = true},
    {.method = "GET", .path = "/readyz", .handle = route_readyz, .before_ready = true},
    {.method = "GET", .path = "/__moonhost/", .handle = route_inspector},
    {.method = "GET", .path = "/__moonhost/index.html", .handle = route_inspector},
    {.method = "GET", .claims = claims_www, .handle = route_www},
};

int mh_http_add_host_routes(mh_server *s) {
  for (size_t i = 0; i < sizeof routes / sizeof *routes; i++)
    if (mh_http_add_route(s, &routes[i])) return -1;
  return mh_metrics_route_add(s);
}
