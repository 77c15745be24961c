/* One SSE session (sse_session.c): the event stream of a GET, the client
 * it carries and the POSTs waiting for their answers. Internal to the
 * transport layer: sse_conn.c routes requests to sessions. */
#ifndef MH_SSE_SESSION_H
#define MH_SSE_SESSION_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/list.h"

typedef struct mh_server mh_server;
typedef struct mh_client mh_client;
typedef struct mh_http_exchange mh_http_exchange;
typedef struct mh_timer mh_timer;

#define MH_SSE_ID_LEN 32 /* hex digits of 128 random bits */

typedef struct mh_sse_session {
  char id[MH_SSE_ID_LEN + 1];
  mh_server *server;
  mh_client *client;
  mh_http_exchange *stream; /* the GET's response */
  mh_list posts;            /* sse_post: POSTs waiting for the answer to their frame */
  uint64_t next_tag;
  mh_timer *keepalive, *stall_timer, *end_timer;
  bool wrote;               /* something went down the stream since the last keep-alive tick */
  bool closing;             /* ending: its POSTs are refused, nothing more is queued */
  bool cut;                 /* a slow consumer: end without flushing the queue */
  /* slow-consumer check: bytes handed to the stream, and how many of them
   * had left the queue when the running check last looked */
  uint64_t handed, taken_mark;
  int stall_strikes;
} mh_sse_session;

/* Opens a session on the GET x: answers it with the event stream (its
 * first event the session id) and registers the client; trusted by a
 * token in the URL as a WebSocket is. NULL when refused (x answered). */
mh_sse_session *mh_sse_session_open(mh_server *s, mh_http_exchange *x);
/* The open session with that id, or NULL (unknown, or ending). */
mh_sse_session *mh_sse_session_find(mh_server *s, const char *id);
/* Hands the body of POST x to the session's client as one frame; x is
 * answered with the answer to it, 202 when none is owed, or later. */
void mh_sse_session_post(mh_sse_session *ss, mh_http_exchange *x);

#endif
