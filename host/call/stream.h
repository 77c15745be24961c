/* Streams: calls whose result is many values (chunks) before their end.
 *
 * A function registered with `stream` set (mh_fn_spec) is a stream. Its
 * reader passes a sink to mh_dispatch_stream; the engine produces through
 * mh_stream_emit, and the run's end (a final value or an error) reaches the
 * reader through the usual reply callback. The dispatcher owns a stream as
 * it owns a call: cancel (the reader leaves), reload and shutdown stop the
 * producer exactly as they stop a call. A stream is never shared between
 * callers nor cached: each reader gets its own run.
 *
 * Backpressure, per reader: on_chunk says how many bytes the reader holds
 * that it has not delivered yet; over limits.stream_queue_bytes the
 * producer is told to wait (mh_stream_emit returns true) until the reader
 * calls mh_dispatch_drained. The bound is checked after a chunk is queued,
 * so a reader holds at most the bound plus one chunk.
 *
 * Transports frame chunks for their protocol (oRPC's text/event-stream in
 * transport/orpc.c); a transport with no framing calls mh_dispatch without a
 * sink and gets a bad_request naming the way to read the stream. */
#ifndef MH_STREAM_H
#define MH_STREAM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/value.h"

/* What a producer may attach to a chunk, for readers that resume (SSE's
 * `id:` and `retry:`). id is NULL or text without CR, LF or NUL. */
typedef struct mh_chunk_meta {
  const char *id;
  int64_t retry_ms; /* < 0: none */
} mh_chunk_meta;

/* The reader of one stream. */
typedef struct mh_stream_sink {
  /* One chunk (value and meta borrowed). Returns the bytes the reader has
   * queued and not delivered yet, this chunk included. */
  size_t (*on_chunk)(void *ud, const mh_value *value, const mh_chunk_meta *meta);
} mh_stream_sink;

/* What a stream call knows besides its arguments, handed to the engine. */
typedef struct mh_stream mh_stream; /* the dispatcher's run, seen by the producer */
typedef struct mh_caller mh_caller; /* call/registry.h */
typedef struct mh_stream_call {
  const mh_caller *caller;   /* who calls (registry.h), or NULL: the host */
  mh_stream *stream;         /* where mh_stream_emit sends chunks */
  const char *last_event_id; /* the reader's resume point (SSE Last-Event-ID), or NULL */
} mh_stream_call;

/* Sends one chunk (value taken, meta borrowed) to the stream's reader.
 * Returns true when the reader's queue is over its bound: the producer
 * waits until the engine's `drained` is called for this call. A chunk for a
 * reader that went away (the run is being cancelled) is dropped. */
bool mh_stream_emit(mh_stream *s, mh_value *value, const mh_chunk_meta *meta);

#endif
