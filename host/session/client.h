/* A connected client, independent of its transport.
 *
 * A transport (a WebSocket connection, accepted or dialed to another host by
 * ws_link.c; an SSE session, sse_conn.c) hands complete frames to
 * mh_client_on_frame and writes what the client queues through its ops. HTTP calls are not clients: the oRPC
 * endpoint dispatches them with no caller. The client decodes envelopes,
 * feeds the dispatcher, answers, and tracks calls the server makes to the
 * client. */
#ifndef MH_CLIENT_H
#define MH_CLIENT_H
#include <stdbool.h>
#include <stdint.h>

#include "core/bucket.h"
#include "codec/codec.h"
#include "call/dispatch.h"
#include "core/list.h"
#include "core/map.h"

typedef struct mh_host mh_host;
typedef struct mh_client mh_client;
typedef struct mh_outcall mh_outcall;

typedef struct mh_client_ops {
  /* Queues one frame (copied). Returns -1 when the transport refuses it
   * (closing, or over its send-queue limit: it then closes the client). */
  int (*send)(void *transport, const char *data, size_t len);
  /* Asks the transport to close with a WebSocket close code. */
  void (*close)(void *transport, int code, const char *reason);
  /* Bytes queued and not yet written to the peer (the inspector shows
   * them); NULL where the transport keeps no queue of its own. */
  size_t (*queued)(void *transport);
  /* Optional (NULL: send). Queues the answer to a frame the transport
   * handed over with a tag (mh_client_on_tagged_frame): a transport whose
   * requests wait for their own answer (an SSE session's POST) sends it
   * there. Same contract as send. */
  int (*reply)(void *transport, uint64_t tag, const char *data, size_t len);
} mh_client_ops;

struct mh_client {
  mh_list link; /* host->clients */
  mh_host *host;
  char id[24];
  const mh_client_ops *ops;
  void *transport;   /* NULL once the transport is gone */
  const mh_codec *codec; /* of the last frame received */
  bool trusted;
  bool token_refused; /* it presented a token that is not ours: refusals say so (auth.c) */
  struct mh_value *roles; /* ARRAY of roles its token granted (auth.tokens), or NULL; owned */
  struct mh_peer *peer; /* mesh identity once announced (mesh.c), else NULL */
  struct mh_link *hostlink; /* set when this connection is a link to another host (mesh_link.c) */
  struct mh_link_challenge *link_challenge; /* a link handshake under way: the nonces (mesh_link.c) */
  mh_list incoming;  /* calls and events from this client still running */
  int nincoming;
  int nruns;         /* stream runs its devframe subscribes started, still running (devframe_stream.c) */
  mh_bucket untrusted_rate; /* limits.untrusted_calls_per_s (client.c) */
  mh_map outcalls;   /* our calls to the client: id -> mh_outcall */
  uint64_t next_out_id;
  uint64_t frame_tag; /* the tag of the frame being handled (0: none) */
};

mh_client *mh_client_new(mh_host *host, const mh_client_ops *ops, void *transport);
void mh_client_on_frame(mh_client *c, const char *data, size_t len);
/* The same, for a transport that takes answers apart (ops->reply): the
 * answer to this frame, now or later, goes to ops->reply with tag (not 0).
 * Returns true when that answer is still to come (a call is running),
 * false when it was given already or none is owed (an event, a reply). */
bool mh_client_on_tagged_frame(mh_client *c, const char *data, size_t len, uint64_t tag);
/* The transport is gone: pending calls to the client fail with
 * `disconnected`, calls from it are cancelled, and the client is freed. */
void mh_client_gone(mh_client *c);

mh_client *mh_client_find(mh_host *host, const char *id);

/* The client after c in connection order (the first when c is NULL), or
 * NULL at the end. Through mh_client_each; the body may close c's transport
 * but must not free clients. */
mh_client *mh_client_next(mh_host *host, const mh_client *c);
#define mh_client_each(c, host) for (mh_client *c = mh_client_next((host), NULL); c; c = mh_client_next((host), c))

/* A trusted client that announced itself to the mesh and is not a link to
 * another host: what the directory lists and directory deltas go to. */
static inline bool mh_client_is_mesh_peer(const mh_client *c) { return c->peer && c->trusted && !c->hostlink; }

/* Whether c is a connection of the application's, not a link to another
 * host (a WebSocket host link, or a host met through NATS), which carries
 * mesh traffic only: what ctx.rpc.clients, broadcast and broadcast_call reach. */
static inline bool mh_client_is_app(const mh_client *c) { return !c->hostlink; }

/* The bytes queued for the client and not written yet: what a stream
 * producer waits on (devframe_stream.c). */
size_t mh_client_queued(const mh_client *c);
/* The transport's queue fell from over limits.stream_queue_bytes to at most
 * that: MH_EV_CLIENT_DRAINED. */
void mh_client_drained(mh_client *c);

/* Queues a frame already encoded in the client's codec. 0 when queued. */
int mh_client_send_frame(mh_client *c, const char *data, size_t len);

/* Server -> client. Return 0 when queued. */
int mh_client_event(mh_client *c, const char *method, const mh_value *args, bool optional);
/* The same with an "x" field (a relayed event's signed identity). */
int mh_client_event_ex(mh_client *c, const char *method, const mh_value *args, bool optional, const mh_value *extra);

/* Result of a call to a client: exactly one of result/err, both owned. */
typedef void (*mh_outcall_cb)(void *ud, mh_value *result, mh_error *err);
/* Calls a function the client registered. cb always runs exactly once
 * (maybe before this returns, on a send failure) unless the call is
 * cancelled; the returned handle is valid until cb runs. */
mh_outcall *mh_client_call(mh_client *c, const char *method, const mh_value *args, uint64_t timeout_ms,
                           mh_outcall_cb cb, void *ud);
/* The same with an "x" field (a relayed call's signed identity). */
mh_outcall *mh_client_call_ex(mh_client *c, const char *method, const mh_value *args, const mh_value *extra,
                              uint64_t timeout_ms, mh_outcall_cb cb, void *ud);
/* Forgets the call: cb is not called, a late reply is ignored. */
void mh_outcall_cancel(mh_outcall *oc);
/* Forgets the call and sends the client a cancel frame for it. */
void mh_outcall_abort(mh_outcall *oc);

#endif
