#include "ws_server.h"

#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "client.h"
#include "host.h"
#include "log.h"

struct mh_ws_server {
  mh_host *host;
  struct lws_context *ctx;
  struct lws_vhost *vhost;
  int port;
};

/* One queued outgoing frame, with the headroom lws_write needs in front. */
typedef struct ws_msg {
  struct ws_msg *next;
  size_t len;
  unsigned char data[];
} ws_msg;

typedef struct ws_conn {
  struct lws *wsi;
  mh_ws_server *server;
  mh_client *client;
  mh_buf rx;
  ws_msg *head, *tail;
  size_t queued;
  int close_code; /* non-zero: close at the next writeable callback */
  char close_reason[96];
} ws_conn;

static void request_close(ws_conn *c, int code, const char *reason) {
  if (c->close_code) return;
  c->close_code = code;
  snprintf(c->close_reason, sizeof c->close_reason, "%s", reason);
  lws_callback_on_writable(c->wsi);
}

static int conn_send(void *transport, const char *data, size_t len) {
  ws_conn *c = transport;
  if (c->close_code) return -1;
  size_t limit = c->server->host->cfg->limits.send_queue_bytes;
  if (c->queued + len > limit) {
    mh_log_warn("ws", "%s: send queue over %zu bytes (slow consumer): closing", c->client->id, limit);
    request_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "send queue full");
    return -1;
  }
  ws_msg *m = malloc(sizeof *m + LWS_PRE + len);
  if (!m) return -1;
  m->next = NULL;
  m->len = len;
  memcpy(m->data + LWS_PRE, data, len);
  if (c->tail)
    c->tail->next = m;
  else
    c->head = m;
  c->tail = m;
  c->queued += len;
  lws_callback_on_writable(c->wsi);
  return 0;
}

static void conn_close(void *transport, int code, const char *reason) { request_close(transport, code, reason); }

static const mh_client_ops ws_client_ops = {conn_send, conn_close};

static void conn_free_queue(ws_conn *c) {
  for (ws_msg *m = c->head, *next; m; m = next) {
    next = m->next;
    free(m);
  }
  c->head = c->tail = NULL;
  c->queued = 0;
}

/* Returns -1 to close the connection. */
static int on_writeable(ws_conn *c) {
  if (c->close_code && (!c->head || c->close_code != LWS_CLOSE_STATUS_GOINGAWAY)) {
    lws_close_reason(c->wsi, (enum lws_close_status)c->close_code, (unsigned char *)c->close_reason,
                     strlen(c->close_reason));
    return -1;
  }
  ws_msg *m = c->head;
  if (!m) return 0;
  c->head = m->next;
  if (!c->head) c->tail = NULL;
  c->queued -= m->len;
  int n = lws_write(c->wsi, m->data + LWS_PRE, m->len, LWS_WRITE_TEXT);
  free(m);
  if (n < 0) return -1;
  if (c->head || c->close_code) lws_callback_on_writable(c->wsi);
  return 0;
}

static int on_receive(ws_conn *c, const void *in, size_t len) {
  size_t max = c->server->host->cfg->limits.max_message_bytes;
  if (lws_frame_is_binary(c->wsi)) {
    mh_log_warn("ws", "%s: binary frame refused", c->client->id);
    lws_close_reason(c->wsi, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, (unsigned char *)"binary frames are not supported",
                     31);
    return -1;
  }
  /* Refuse as soon as the announced size is over the limit, before buffering it. */
  if (c->rx.len + len + lws_remaining_packet_payload(c->wsi) > max) {
    mh_log_warn("ws", "%s: message over %zu bytes refused", c->client->id, max);
    lws_close_reason(c->wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)"message too large", 17);
    return -1;
  }
  if (mh_buf_append(&c->rx, in, len)) return -1;
  if (!lws_is_final_fragment(c->wsi) || lws_remaining_packet_payload(c->wsi)) return 0;
  mh_client_on_frame(c->client, c->rx.data, c->rx.len);
  mh_buf_reset(&c->rx);
  if (c->rx.cap > 65536) mh_buf_free(&c->rx); /* don't keep a big buffer per idle connection */
  return 0;
}

static int path_is_ws_endpoint(struct lws *wsi) {
  char uri[256];
  if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0) return 0;
  return strcmp(uri, "/") == 0 || strcmp(uri, "/__ws") == 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len) {
  ws_conn *c = user;
  mh_ws_server *s = lws_context_user(lws_get_context(wsi));
  switch (reason) {
  case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
    if (!path_is_ws_endpoint(wsi)) return 1;
    return 0;
  case LWS_CALLBACK_ESTABLISHED:
    memset(c, 0, sizeof *c);
    c->wsi = wsi;
    c->server = s;
    c->client = mh_client_new(s->host, &ws_client_ops, c);
    if (!c->client) return -1;
    if (s->host->stopping) {
      request_close(c, LWS_CLOSE_STATUS_GOINGAWAY, "server shutting down");
    } else if ((int)s->host->nclients > s->host->cfg->limits.max_connections) {
      mh_log_warn("ws", "connection refused: %d connections already", s->host->cfg->limits.max_connections);
      request_close(c, 1013 /* try again later */, "too many connections");
    }
    mh_log_debug("ws", "%s connected", c->client->id);
    return 0;
  case LWS_CALLBACK_RECEIVE:
    if (!c->client || c->close_code) return 0;
    return on_receive(c, in, len);
  case LWS_CALLBACK_SERVER_WRITEABLE:
    if (!c->client) return 0;
    return on_writeable(c);
  case LWS_CALLBACK_CLOSED:
    if (!c->client) return 0;
    mh_log_debug("ws", "%s disconnected", c->client->id);
    mh_client_gone(c->client);
    c->client = NULL;
    conn_free_queue(c);
    mh_buf_free(&c->rx);
    return 0;
  case LWS_CALLBACK_HTTP:
    /* Plain HTTP arrives with the HTTP transport; until then say where to go. */
    if (lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, "moonhost speaks WebSocket at /__ws")) return -1;
    return lws_http_transaction_completed(wsi);
  default: return 0;
  }
}

static const struct lws_protocols protocols[] = {
  {"moonhost", callback, sizeof(ws_conn), 0, 0, NULL, 0},
  {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void lws_log_emit(int level, const char *line) {
  size_t n = strlen(line);
  while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
  mh_log(level == LLL_ERR ? MH_LOG_ERROR : MH_LOG_WARN, "lws", "%.*s", (int)n, line);
}

mh_ws_server *mh_ws_server_start(mh_host *host) {
  mh_ws_server *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->host = host;
  lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
  void *loops[1] = {host->loop};
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
  info.foreign_loops = loops;
  info.user = s;
  info.gid = -1;
  info.uid = -1;
  info.pcontext = &s->ctx; /* lws clears it once the context is fully gone */
  s->ctx = lws_create_context(&info);
  if (!s->ctx) {
    mh_log_error("ws", "cannot create the libwebsockets context");
    free(s);
    return NULL;
  }
  info.port = host->cfg->listen_port;
  info.iface = host->cfg->listen_host;
  info.protocols = protocols;
  info.vhost_name = "moonhost";
  s->vhost = lws_create_vhost(s->ctx, &info);
  if (!s->vhost) {
    mh_log_error("ws", "cannot listen on %s:%d", host->cfg->listen_host, host->cfg->listen_port);
    lws_context_destroy(s->ctx);
    free(s);
    return NULL;
  }
  s->port = lws_get_vhost_listen_port(s->vhost);
  return s;
}

int mh_ws_server_port(const mh_ws_server *s) { return s->port; }

void mh_ws_server_stop(mh_ws_server *s, int code) {
  (void)code;
  if (s->ctx) lws_context_destroy(s->ctx);
}

void mh_ws_server_free(mh_ws_server *s) {
  /* On a foreign loop lws finishes tearing down in a second call, after the
   * loop has run its handle close callbacks. */
  if (s->ctx) lws_context_destroy(s->ctx);
  free(s);
}
