/*
 * raw_echo: the ceiling for moonhost's WebSocket path (bench/README.md).
 *
 * libwebsockets 4.1 on a libuv loop (a foreign loop, created here, exactly as
 * moonhost does), cJSON to parse each request and print the reply; no Lua, no
 * dispatcher, no value tree. Every text frame {"t":"q","i":ID,"m":...,"a":ARGS}
 * is answered with {"t":"s","i":ID,"r":ARGS}: bench:echo(a, b) returns [a, b].
 * Replies are queued per connection and written from the WRITEABLE callback,
 * the lws pattern moonhost's transport uses too.
 *
 *   raw_echo [--write writeable|direct] [--loop uv|poll] PORT
 *     prints "listening on ws://127.0.0.1:PORT/__ws" on stderr
 *
 * --write direct writes a reply from the receive callback when nothing is
 * queued (lws buffers a partial write itself and finishes it when the socket
 * is writeable), so no POLLOUT round trip; --loop poll uses lws' own poll()
 * loop instead of libuv. Both are there to measure those design choices.
 */
#include <libwebsockets.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include <cjson/cJSON.h>

#include "raw_loop.h"

typedef struct msg {
  struct msg *next;
  size_t len;
  unsigned char data[]; /* LWS_PRE headroom, then the frame */
} msg;

typedef struct pss {
  msg *head, *tail;
  unsigned char *rx; /* a message lws delivered in pieces */
  size_t rxlen, rxcap;
} pss;

static int write_direct, use_poll;

static void enqueue(struct lws *wsi, pss *p, const char *text, size_t len) {
  if (write_direct && !p->head) {
    unsigned char buf[LWS_PRE + 4096];
    if (len <= sizeof buf - LWS_PRE) {
      memcpy(buf + LWS_PRE, text, len);
      if (lws_write(wsi, buf + LWS_PRE, len, LWS_WRITE_TEXT) < (int)len)
        lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_ACK, LWS_TO_KILL_ASYNC);
      return;
    }
  }
  msg *m = malloc(sizeof *m + LWS_PRE + len);
  if (!m) return;
  m->next = NULL;
  m->len = len;
  memcpy(m->data + LWS_PRE, text, len);
  if (p->tail)
    p->tail->next = m;
  else
    p->head = m;
  p->tail = m;
  lws_callback_on_writable(wsi);
}

static void on_message(struct lws *wsi, pss *p, const char *in, size_t len) {
  cJSON *req = cJSON_ParseWithLength(in, len);
  cJSON *id = req ? cJSON_GetObjectItemCaseSensitive(req, "i") : NULL;
  if (!id) { /* not a call (or an event): nothing to answer */
    cJSON_Delete(req);
    return;
  }
  cJSON *reply = cJSON_CreateObject();
  cJSON_AddStringToObject(reply, "t", "s");
  cJSON_AddItemToObject(reply, "i", cJSON_DetachItemViaPointer(req, id));
  cJSON *args = cJSON_DetachItemFromObjectCaseSensitive(req, "a");
  cJSON_AddItemToObject(reply, "r", args ? args : cJSON_CreateArray());
  char buf[4096];
  if (cJSON_PrintPreallocated(reply, buf, sizeof buf, 0)) {
    enqueue(wsi, p, buf, strlen(buf));
  } else {
    char *s = cJSON_PrintUnformatted(reply);
    if (s) enqueue(wsi, p, s, strlen(s));
    free(s);
  }
  cJSON_Delete(reply);
  cJSON_Delete(req);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len) {
  pss *p = user;
  switch (reason) {
  case LWS_CALLBACK_ESTABLISHED: memset(p, 0, sizeof *p); return 0;
  case LWS_CALLBACK_RECEIVE: {
    int last = lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi);
    if (last && !p->rxlen) {
      on_message(wsi, p, in, len);
      return 0;
    }
    if (p->rxlen + len > p->rxcap) {
      size_t cap = p->rxcap ? p->rxcap : 4096;
      while (cap < p->rxlen + len)
        cap *= 2;
      unsigned char *n = realloc(p->rx, cap);
      if (!n) return -1;
      p->rx = n;
      p->rxcap = cap;
    }
    memcpy(p->rx + p->rxlen, in, len);
    p->rxlen += len;
    if (last) {
      on_message(wsi, p, (const char *)p->rx, p->rxlen);
      p->rxlen = 0;
    }
    return 0;
  }
  case LWS_CALLBACK_SERVER_WRITEABLE: {
    msg *m = p->head;
    if (!m) return 0;
    p->head = m->next;
    if (!p->head) p->tail = NULL;
    int n = lws_write(wsi, m->data + LWS_PRE, m->len, LWS_WRITE_TEXT);
    free(m);
    if (n < 0) return -1;
    if (p->head) lws_callback_on_writable(wsi);
    return 0;
  }
  case LWS_CALLBACK_CLOSED:
    while (p->head) {
      msg *m = p->head;
      p->head = m->next;
      free(m);
    }
    free(p->rx);
    p->rx = NULL;
    return 0;
  case LWS_CALLBACK_HTTP:
    if (lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL)) return -1;
    return lws_http_transaction_completed(wsi);
  default: return 0;
  }
}

static const struct lws_protocols protocols[] = {
    {"raw-echo", callback, sizeof(pss), 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static struct lws_context *ctx;

static volatile sig_atomic_t stop_poll;

static void on_poll_signal(int signum) {
  (void)signum;
  stop_poll = 1;
}

int main(int argc, char **argv) {
  int port = 7815;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--write") && i + 1 < argc) {
      write_direct = !strcmp(argv[++i], "direct");
    } else if (!strcmp(argv[i], "--loop") && i + 1 < argc) {
      use_poll = !strcmp(argv[++i], "poll");
    } else {
      port = atoi(argv[i]);
    }
  }
  signal(SIGPIPE, SIG_IGN);
  if (use_poll) {
    lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
    struct lws_context_creation_info pinfo;
    memset(&pinfo, 0, sizeof pinfo);
    pinfo.port = port;
    pinfo.options = LWS_SERVER_OPTION_DISABLE_IPV6; /* else lws 4.1 binds [::] whatever iface says */
    pinfo.iface = "127.0.0.1";
    pinfo.protocols = protocols;
    pinfo.gid = -1;
    pinfo.uid = -1;
    ctx = lws_create_context(&pinfo);
    if (!ctx) {
      fprintf(stderr, "raw_echo: cannot create the lws context on port %d\n", port);
      return 1;
    }
    struct lws_vhost *pvh = lws_get_vhost_by_name(ctx, "default");
    fprintf(stderr, "listening on ws://127.0.0.1:%d/__ws\n", pvh ? lws_get_vhost_listen_port(pvh) : port);
    signal(SIGINT, on_poll_signal);
    signal(SIGTERM, on_poll_signal);
    while (!stop_poll && lws_service(ctx, 0) >= 0) {
    }
    lws_context_destroy(ctx);
    return 0;
  }
  return raw_serve_uv(port, protocols, "raw_echo");
}
