/* The dialing side of host links (mesh.upstreams): opens a WebSocket to
 * each upstream through the server's lws context, hands the connection to
 * the mesh for the link handshake (mesh_link.c), and redials with backoff
 * when it closes. */
#include "transport/ws_link.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session/client.h"
#include "transport/conn.h"
#include "call/host.h"
#include "core/log.h"
#include "mesh/mesh.h"
#include "mesh/mesh_link.h"
#include "core/timer.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

struct mh_upstream {
  mh_host *h;
  char url[512];
  char address[256];
  char path[512];
  int port;
  struct lws *wsi;
  mh_timer *retry;
  unsigned backoff_ms;
  mh_upstream *next;
};

static void dial(mh_upstream *up);

static void retry_now(void *ud) {
  mh_upstream *up = ud;
  up->retry = NULL;
  dial(up);
}

static void schedule_retry(mh_upstream *up) {
  if (up->h->stopping || up->retry) return;
  up->backoff_ms = up->backoff_ms ? up->backoff_ms * 2 : BACKOFF_MIN_MS;
  if (up->backoff_ms > BACKOFF_MAX_MS) up->backoff_ms = BACKOFF_MAX_MS;
  up->retry = mh_timer_start(up->h->loop, up->backoff_ms, retry_now, up);
}

static void dial(mh_upstream *up) {
  mh_server *s = up->h->server;
  if (!s || !s->ctx || up->h->stopping) return;
  struct lws_client_connect_info ci;
  memset(&ci, 0, sizeof ci);
  ci.context = s->ctx;
  ci.vhost = s->vhost;
  ci.address = up->address;
  ci.port = up->port;
  ci.path = up->path;
  ci.host = up->address;
  ci.local_protocol_name = "moonhost-link";
  ci.opaque_user_data = up;
  ci.pwsi = &up->wsi;
  if (!lws_client_connect_via_info(&ci)) schedule_retry(up);
}

/* The handshake proved the other host: the next failure starts the backoff
 * from the shortest wait again. */
static void on_linked(mh_client *c) {
  mh_conn *conn = c->transport;
  mh_upstream *up = conn ? lws_get_opaque_user_data(conn->wsi) : NULL;
  if (up) up->backoff_ms = 0;
}

int mh_ws_link_established(mh_conn *c, struct lws *wsi, mh_server *s) {
  mh_upstream *up = lws_get_opaque_user_data(wsi);
  if (mh_ws_established(c, wsi, s)) return -1;
  return mh_link_dialed(c->client, up ? up->url : "?", on_linked);
}

void mh_ws_link_closed(mh_conn *c, struct lws *wsi) {
  mh_upstream *up = lws_get_opaque_user_data(wsi);
  if (c && c->client) mh_ws_closed(c);
  if (!up) return;
  up->wsi = NULL;
  schedule_retry(up);
}

int mh_links_start(mh_host *h) {
  const mh_value *list = h->cfg->mesh.upstreams;
  if (list && list->type == MH_V_ARRAY && list->u.arr.len && !mh_mesh_link_key(h)) {
    /* Links prove mesh.key; a random per-start key proves nothing. */
    mh_log_error("mesh", "mesh.upstreams is set but mesh.key is not: no host links are made (set the same mesh.key "
                         "on every linked host)");
    return 0;
  }
  for (size_t i = 0; list && list->type == MH_V_ARRAY && i < list->u.arr.len; i++) {
    mh_upstream *up = calloc(1, sizeof *up);
    if (!up) {
      mh_log_error("mesh", "mesh.upstreams: out of memory: no more host links are made");
      return -1;
    }
    up->h = h;
    const char *url = list->u.arr.items[i]->u.str.ptr;
    snprintf(up->url, sizeof up->url, "%s", url);
    char copy[sizeof up->url];
    const char *proto = NULL, *addr = NULL, *path = NULL;
    snprintf(copy, sizeof copy, "%s", up->url);
    /* A URL or host cut to fit the buffers would dial somewhere else: refused. */
    if (strlen(url) >= sizeof up->url || lws_parse_uri(copy, &proto, &addr, &up->port, &path) ||
        strcmp(proto, "ws") != 0 || strlen(addr) >= sizeof up->address) {
      mh_log_error("mesh", "mesh.upstreams: '%s' is not a ws://HOST:PORT/PATH URL (of at most %zu bytes)", url,
                   sizeof up->url - 1);
      free(up);
      continue;
    }
    snprintf(up->address, sizeof up->address, "%s", addr);
    snprintf(up->path, sizeof up->path, "/%s", path);
    up->next = h->upstreams;
    h->upstreams = up;
    mh_log_info("mesh", "linking to %s", up->url);
    dial(up);
  }
  return 0;
}

void mh_links_stop(mh_host *h) {
  for (mh_upstream *up = h->upstreams, *next; up; up = next) {
    next = up->next;
    mh_timer_stop(up->retry);
    if (up->wsi) lws_set_opaque_user_data(up->wsi, NULL);
    free(up);
  }
  h->upstreams = NULL;
}
