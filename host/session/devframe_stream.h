/* devframe 1.3's streaming channels (devframe:streaming:*), kept by the host.
 *
 * A channel is a name; each stream on it has an id, a sequence number per
 * chunk (1, 2, ...), the last `replay_window` chunks, and the clients that
 * subscribed. Chunks reach subscribers as `devframe:streaming:chunk`
 * [channel, id, seq, chunk], the end as `devframe:streaming:end`
 * [channel, id, error?]. A subscriber that comes back with {afterSeq} gets
 * the kept chunks after it, then the live ones. A closed stream is kept
 * `retention_ms` after its last subscriber left, so a late reader still
 * gets its replay and its end.
 *
 * Two kinds of channel:
 * - a plugin's, made with ctx.rpc.streaming.create (Lua writes to it); a
 *   reload of the plugin ends its open streams with an error and drops it;
 * - a stream function's: subscribing to channel NAME, id ID, where NAME is
 *   a function defined with `stream = true`, starts one run of it (no
 *   arguments) for that id; every subscriber of the id shares the run. Its
 *   `emit` waits while the slowest subscriber holds more than
 *   limits.stream_queue_bytes unsent, or while it has no subscriber (a
 *   reader reconnecting); with none for FN_STREAM_GRACE_MS, or when the
 *   last one cancels, the run is cancelled (its on_cancel cleanups run).
 *   A reload ends it with the dispatcher's error. */
#ifndef MH_DEVFRAME_STREAM_H
#define MH_DEVFRAME_STREAM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/value.h"

typedef struct mh_host mh_host;
typedef struct mh_client mh_client;
typedef struct mh_dfstreams mh_dfstreams;

/* How long a stream function's run waits for a subscriber to come back. */
#define MH_DF_FN_STREAM_GRACE_MS 30000
/* The chunks a stream function's run keeps for resubscribers. */
#define MH_DF_FN_REPLAY_WINDOW 1024
/* devframe's default hold of a closed stream that keeps chunks. */
#define MH_DF_DEFAULT_RETENTION_MS 30000

/* Creates host->dfstreams and listens for reloads and clients. 0 or -1. */
int mh_dfstreams_init(mh_host *h);
void mh_dfstreams_free(mh_host *h);

/* ---- a plugin's channels (ctx.rpc.streaming) ---------------------------- */

typedef struct mh_df_channel_decl {
  const char *plugin;
  uint32_t generation;
  size_t replay_window;
  int64_t retention_ms; /* < 0: devframe's default (30 s with a replay window, else 0) */
} mh_df_channel_decl;

/* Creates channel `name` for the plugin. Its own earlier generation's
 * channel of that name is replaced (its open streams end with an error).
 * -1 with *err: another plugin's, or memory. */
int mh_df_channel_create(mh_host *h, const char *name, const mh_df_channel_decl *d, mh_error **err);
/* Starts stream `id` (NULL: a new random id) on the channel; the id used
 * is written to id_out (at least 40 bytes). -1 with *err: no such channel,
 * an open stream with that id, memory. */
int mh_df_stream_start(mh_host *h, const char *channel, const char *id, char *id_out, size_t id_cap, mh_error **err);
/* Sends one chunk (taken) to the subscribers; returns its seq, or -1 with
 * *err: no such stream, closed. *over_bound (may be NULL) says whether the
 * slowest subscriber holds more than limits.stream_queue_bytes. */
int64_t mh_df_stream_write(mh_host *h, const char *channel, const char *id, mh_value *take, bool *over_bound,
                           mh_error **err);
/* wake(ud) once, when the slowest subscriber of the open stream holds at
 * most limits.stream_queue_bytes again, has left, or the stream is gone.
 * -1 (nothing to wait for) when it is not over the bound now, or someone
 * waits already. */
int mh_df_stream_wait_drained(mh_host *h, const char *channel, const char *id, void (*wake)(void *ud), void *ud);
void mh_df_stream_unwait(mh_host *h, const char *channel, const char *id);
/* Ends the stream, with an error (borrowed) or none. -1 with *err when it
 * is not open. */
int mh_df_stream_finish(mh_host *h, const char *channel, const char *id, const mh_error *end, mh_error **err);
/* The plugin owning channel `name` (and its generation), or NULL when it
 * is not a plugin's channel. */
const char *mh_df_channel_plugin(mh_host *h, const char *name, uint32_t *generation);
/* A new ARRAY of the ids of the channel's streams (open or kept), or NULL. */
mh_value *mh_df_stream_ids(mh_host *h, const char *channel);

/* ---- the wire (devframe_stream_wire.c) ---------------------------------- */

/* subscribe(channel, id, {afterSeq}). -1 with *err: no such channel or
 * stream (the client's reader is also sent an end with that error). */
int mh_df_subscribe(mh_host *h, mh_client *c, const char *channel, const char *id, uint64_t after_seq,
                    mh_error **err);
void mh_df_unsubscribe(mh_host *h, mh_client *c, const char *channel, const char *id);
/* The client is done reading: it stops being a subscriber; a stream
 * function's run with no subscriber left is cancelled. */
void mh_df_cancel(mh_host *h, mh_client *c, const char *channel, const char *id);

int mh_dfstream_wire_add_builtins(mh_host *h);

#endif
