/* A stream read over the WebSocket by the moonhost client (call/stream.h).
 *
 * The reader starts it with a request that carries "s" (its window and the
 * last event id it saw); the host answers with chunk frames
 * {"t":"d","i":ID,"p":{json,meta},"l":EVENT_ID?}, then an end frame
 * {"t":"e","i":ID,"p":{json,meta}?} or an error reply {"t":"s","i":ID,"e":..}.
 * Values travel as oRPC serializes them, so a JSON reader still gets Date,
 * BigInt, Map, ... back (the meta says where).
 *
 * Flow control is by acks: the reader says how many chunks its consumer
 * took ({"t":"a","i":ID,"n":COUNT}); the producer waits while the reader
 * holds `window` chunks it did not ack, or more than
 * limits.stream_queue_bytes of them. So a reader that stops reading holds
 * back its own producer only, and the host keeps at most the bound plus one
 * chunk for it. An ack for more than was sent ends the stream (bad_request).
 *
 * Frames are JSON whatever codec the connection's other frames use: only
 * the moonhost client reads them. */
#ifndef MH_CLIENT_STREAM_H
#define MH_CLIENT_STREAM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "call/stream.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/value.h"

/* The reader's state; its frames are appended to a buffer the client
 * (client.c) sends. */
typedef struct mh_client_stream mh_client_stream;

/* The most chunks a reader may hold unacknowledged, and the default. */
#define MH_CLIENT_STREAM_MAX_WINDOW 1024
#define MH_CLIENT_STREAM_DEFAULT_WINDOW 16
/* The longest last event id a reader may bring (as Last-Event-ID over HTTP). */
#define MH_CLIENT_STREAM_MAX_ID 1023

/* Reads the request's "s" (true, or {w?, l?}) for the call id (copied).
 * NULL and *err (bad_request) when the options are malformed. */
mh_client_stream *mh_client_stream_new(const mh_value *id, const mh_value *opts, size_t queue_bytes, mh_error **err);
void mh_client_stream_free(mh_client_stream *s);

/* Where the reader resumes, or NULL. */
const char *mh_client_stream_last_id(const mh_client_stream *s);

/* Appends the frame of one chunk to frame, which the caller sends, and
 * counts it; returns what mh_stream_sink.on_chunk returns: over the bound
 * while the producer must wait. */
size_t mh_client_stream_chunk(mh_client_stream *s, const mh_value *value, const mh_chunk_meta *meta, mh_buf *frame);

/* Appends the frame of the end: the final value (UNDEFINED: none) or the error. */
void mh_client_stream_end(const mh_client_stream *s, const mh_value *result, const mh_error *err, mh_buf *frame);

/* The reader acked `count` (the ack's "n", unchecked) chunks. Returns 0 and
 * sets *may_go when the producer may go on; -1 with *err (bad_request) for
 * a count that is not a positive integer or is more than was sent. */
int mh_client_stream_ack(mh_client_stream *s, const mh_value *count, bool *may_go, mh_error **err);

#endif
