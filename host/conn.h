/* Per-connection state shared by the WebSocket and HTTP halves of the
 * server (lws gives one per-session block to both). Internal to server.c,
 * ws_conn.c and http_conn.c. */
#ifndef MH_CONN_H
#define MH_CONN_H
#include <libwebsockets.h>
#include <stdbool.h>

#include "buf.h"
#include "client.h"

typedef struct mh_server mh_server;
typedef struct mh_http_exchange mh_http_exchange;

struct mh_server {
  mh_host *host;
  struct lws_context *ctx;
  struct lws_vhost *vhost;
  char *address; /* the numeric address listened on (listen's host name resolved) */
  int port;
  lws_retry_bo_t idle_policy; /* keep-alive pings and idle hang-up */
};

typedef struct ws_msg {
  struct ws_msg *next;
  size_t len;
  unsigned char data[]; /* LWS_PRE bytes of headroom, then the frame */
} ws_msg;

typedef struct mh_conn {
  struct lws *wsi;
  mh_server *server;
  /* WebSocket */
  mh_client *client;
  mh_buf rx;
  ws_msg *head, *tail;
  size_t queued;
  int close_code; /* non-zero: close at the next writeable callback */
  char close_reason[96];
  /* HTTP */
  mh_http_exchange *http;
} mh_conn;

/* ws_conn.c */
int mh_ws_established(mh_conn *c, struct lws *wsi, mh_server *s);
int mh_ws_receive(mh_conn *c, const void *in, size_t len);
int mh_ws_writeable(mh_conn *c);
void mh_ws_closed(mh_conn *c);
bool mh_ws_path_ok(const char *path);

/* http_conn.c */
int mh_http_request(mh_conn *c, struct lws *wsi, mh_server *s, const char *uri);
int mh_http_body(mh_conn *c, const void *in, size_t len);
int mh_http_body_done(mh_conn *c);
int mh_http_writeable(mh_conn *c);
void mh_http_closed(mh_conn *c);

/* Copies a header into buf (NUL-terminated); returns its length or -1 when absent. */
int mh_conn_header(struct lws *wsi, enum lws_token_indexes h, char *buf, int len);

#endif
