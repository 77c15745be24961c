/*
 * raw_fanout: the floor for a broadcast on loopback (bench/README.md).
 *
 * libwebsockets 4.1 on a libuv loop accepts the WebSocket clients that
 * `mhload --fanout N` opens (lws does the handshake only). When a client
 * calls bench:broadcast(size), the event frame is encoded once, WebSocket
 * header included, and written to every other client's socket with one
 * send() each, bypassing lws; then the caller gets its reply (the number of
 * clients) through lws. No Lua, no value tree, no per-client copy: what is
 * left is the kernel's cost of N sends, which no server can go below.
 *
 *   raw_fanout PORT
 *     prints "listening on ws://127.0.0.1:PORT/__ws" on stderr
 */
#include <errno.h>
#include <libwebsockets.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <uv.h>

#include "raw_loop.h"

typedef struct pss {
  size_t slot; /* index in clients[] */
} pss;

static struct lws **clients;
static size_t nclients, capclients;

static int add_client(struct lws *wsi, pss *p) {
  if (nclients == capclients) {
    size_t cap = capclients ? capclients * 2 : 1024;
    struct lws **n = realloc(clients, cap * sizeof *n);
    if (!n) return -1;
    clients = n;
    capclients = cap;
  }
  p->slot = nclients;
  clients[nclients++] = wsi;
  return 0;
}

static void remove_client(pss *p) {
  struct lws *last = clients[--nclients];
  if (p->slot < nclients) {
    clients[p->slot] = last;
    ((pss *)lws_wsi_user(last))->slot = p->slot;
  }
}

/* The whole server frame (FIN + text opcode, unmasked) for the event
 * {"t":"q","m":"bench:tick","a":["xxx..."]} with a size-byte string. */
static unsigned char *tick_frame(int size, size_t *len) {
  size_t plen = (size_t)size + 40;
  unsigned char *f = malloc(plen + 10);
  if (!f) return NULL;
  size_t h = 0;
  f[h++] = 0x81;
  int n = snprintf((char *)f + 10, plen, "{\"t\":\"q\",\"m\":\"bench:tick\",\"a\":[\"");
  memset(f + 10 + n, 'x', (size_t)size);
  n += size;
  n += snprintf((char *)f + 10 + n, plen - (size_t)n, "\"]}");
  if (n < 126) {
    f[h++] = (unsigned char)n;
  } else if (n < 65536) {
    f[h++] = 126;
    f[h++] = (unsigned char)(n >> 8);
    f[h++] = (unsigned char)n;
  } else {
    free(f);
    return NULL;
  }
  memmove(f + h, f + 10, (size_t)n);
  *len = h + (size_t)n;
  return f;
}

/* One send() per client; a socket that does not take the whole frame at
 * once (never, for 1 KiB on an idle connection) is counted as missed. */
static int broadcast(struct lws *from, int size) {
  size_t len;
  unsigned char *f = tick_frame(size, &len);
  if (!f) return -1;
  int sent = 0;
  for (size_t i = 0; i < nclients; i++) {
    if (clients[i] == from) continue;
    ssize_t n = send(lws_get_socket_fd(clients[i]), f, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n == (ssize_t)len) sent++;
  }
  free(f);
  return sent;
}

/* {"t":"q","i":ID,"m":"bench:broadcast","a":[SIZE]} -> {"t":"s","i":ID,"r":SENT} */
static void on_message(struct lws *wsi, const char *in, size_t len) {
  if (!memmem(in, len, "\"m\":\"bench:broadcast\"", 21)) return;
  const char *i = memmem(in, len, "\"i\":\"", 5), *a = memmem(in, len, "\"a\":[", 5);
  if (!i || !a) return;
  i += 5;
  const char *ie = memchr(i, '"', len - (size_t)(i - in));
  if (!ie || ie - i > 64) return;
  int sent = broadcast(wsi, atoi(a + 5));
  unsigned char buf[LWS_PRE + 128];
  int n = snprintf((char *)buf + LWS_PRE, 128, "{\"t\":\"s\",\"i\":\"%.*s\",\"r\":%d}", (int)(ie - i), i, sent);
  lws_write(wsi, buf + LWS_PRE, (size_t)n, LWS_WRITE_TEXT);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len) {
  pss *p = user;
  switch (reason) {
  case LWS_CALLBACK_ESTABLISHED: return add_client(wsi, p);
  case LWS_CALLBACK_RECEIVE:
    /* the trigger call is small: one frame, one piece */
    if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) on_message(wsi, in, len);
    return 0;
  case LWS_CALLBACK_CLOSED: remove_client(p); return 0;
  case LWS_CALLBACK_HTTP:
    if (lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL)) return -1;
    return lws_http_transaction_completed(wsi);
  default: return 0;
  }
}

static const struct lws_protocols protocols[] = {
    {"raw-fanout", callback, sizeof(pss), 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 7816;
  signal(SIGPIPE, SIG_IGN);
  int rc = raw_serve_uv(port, protocols, "raw_fanout");
  free(clients);
  return rc;
}
