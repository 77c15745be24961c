/* A one-shot HTTP client (libwebsockets' own loop) for POST /__moonhost/reload. */
#include "app/reload_client.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session/auth.h"
#include "core/buf.h"

typedef struct reload_req {
  const char *token;
  int status;
  bool done, failed;
  mh_buf body;
} reload_req;

static int client_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len) {
  reload_req *r = lws_context_user(lws_get_context(wsi));
  (void)user;
  switch (reason) {
  case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
    unsigned char **p = in, *end = *p + len;
    char auth[300];
    snprintf(auth, sizeof auth, "Bearer %s", r->token ? r->token : "");
    if (r->token && lws_add_http_header_by_name(wsi, (unsigned char *)"authorization:", (unsigned char *)auth,
                                                (int)strlen(auth), p, end))
      return -1;
    if (lws_add_http_header_by_name(wsi, (unsigned char *)"content-length:", (unsigned char *)"0", 1, p, end))
      return -1;
    return 0;
  }
  case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP: r->status = (int)lws_http_client_http_response(wsi); return 0;
  case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ: mh_buf_append(&r->body, in, len); return 0;
  case LWS_CALLBACK_RECEIVE_CLIENT_HTTP: {
    char buf[LWS_PRE + 4096], *px = buf + LWS_PRE;
    int lenx = sizeof buf - LWS_PRE;
    return lws_http_client_read(wsi, &px, &lenx) < 0 ? -1 : 0;
  }
  case LWS_CALLBACK_COMPLETED_CLIENT_HTTP: r->done = true; return 0;
  case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
    fprintf(stderr, "moonhost reload: cannot connect: %s\n", in ? (const char *)in : "connection failed");
    r->failed = r->done = true;
    return 0;
  case LWS_CALLBACK_CLOSED_CLIENT_HTTP: r->done = true; return 0;
  default: return 0;
  }
}

static const struct lws_protocols protocols[] = {{"reload", client_cb, 0, 0, 0, NULL, 0}, {NULL, NULL, 0, 0, 0, NULL, 0}};

int mh_reload_client(const mh_config *cfg, const char *token, const char *plugin) {
  reload_req r = {.token = token};
  if (!r.token) r.token = getenv("MOONHOST_TOKEN");
  const mh_value *list = cfg->auth.tokens;
  if (!r.token && list && list->type == MH_V_ARRAY && list->u.arr.len) r.token = mh_auth_entry_token(list->u.arr.items[0]);
  lws_set_log_level(LLL_ERR, NULL);
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = protocols;
  info.user = &r;
  struct lws_context *ctx = lws_create_context(&info);
  if (!ctx) return 1;
  char path[512];
  snprintf(path, sizeof path, "/__moonhost/reload%s%s", plugin ? "?plugin=" : "", plugin ? plugin : "");
  struct lws_client_connect_info ci;
  memset(&ci, 0, sizeof ci);
  ci.context = ctx;
  ci.address = strcmp(cfg->listen_host, "0.0.0.0") == 0 ? "127.0.0.1" : cfg->listen_host;
  ci.port = cfg->listen_port;
  ci.path = path;
  ci.host = ci.address;
  ci.method = "POST";
  ci.protocol = protocols[0].name;
  if (!lws_client_connect_via_info(&ci)) r.failed = r.done = true;
  while (!r.done && lws_service(ctx, 0) >= 0) {
  }
  lws_context_destroy(ctx);
  int rc = 1;
  if (!r.failed) {
    printf("%.*s\n", (int)r.body.len, r.body.data ? r.body.data : "");
    if (r.status == 401) fprintf(stderr, "moonhost reload: unauthorized: pass --token or set MOONHOST_TOKEN\n");
    rc = r.status == 200 ? 0 : 1;
  }
  mh_buf_free(&r.body);
  return rc;
}
