/* devframe's inbound streams: a client uploads chunks to a plugin
 * (devframe:streaming:upload-chunk [channel, id, seq, chunk], then
 * upload-end [channel, id, error?]); the plugin opened the upload on one of
 * its channels (ctx.rpc.streaming's ch:open_inbound) and reads it as an
 * iterator. Chunks are numbered by the uploader; one seen already is
 * dropped. The plugin may cancel: the uploader is sent
 * devframe:streaming:upload-cancel [channel, id]. An uploader that
 * disconnects ends its uploads with an UploadDisconnected error; a reload
 * of the plugin ends the uploads of its old version. */
#ifndef MH_DEVFRAME_UPLOAD_H
#define MH_DEVFRAME_UPLOAD_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/value.h"

typedef struct mh_host mh_host;
typedef struct mh_client mh_client;
typedef struct mh_dfuploads mh_dfuploads;

/* The chunks an upload holds that its reader has not taken; beyond, the
 * oldest are dropped (devframe's reader does the same, at 256). */
#define MH_DF_UPLOAD_HIGH_WATER 256

/* Creates host->dfuploads and listens for reloads and clients. 0 or -1. */
int mh_dfuploads_init(mh_host *h);
void mh_dfuploads_free(mh_host *h);

/* The plugin side. open: an upload to channel (which belongs to plugin's
 * generation: mh_df_channel_plugin); id NULL makes one; the id is written
 * to id_out. -1 with *err: an upload with that id open, memory. */
typedef struct mh_df_upload_owner {
  const char *plugin;
  uint32_t generation;
} mh_df_upload_owner;
int mh_df_upload_open(mh_host *h, const mh_df_upload_owner *owner, const char *channel, const char *id, char *id_out,
                      size_t id_cap, mh_error **err);

typedef enum mh_df_take {
  MH_DF_TAKE_CHUNK, /* *value: the next chunk (owned) */
  MH_DF_TAKE_END,   /* ended: *end is its error (owned) or NULL, *value its final value (owned) or NULL; gone */
  MH_DF_TAKE_EMPTY, /* nothing yet: wait (mh_df_upload_wait) */
  MH_DF_TAKE_NONE,  /* no such upload */
} mh_df_take;
mh_df_take mh_df_upload_take(mh_host *h, const char *channel, const char *id, mh_value **value, mh_error **end);
/* wake(ud) once, when a chunk or the end comes (or the upload is dropped).
 * -1 when there is no such upload or someone waits already. */
int mh_df_upload_wait(mh_host *h, const char *channel, const char *id, void (*wake)(void *ud), void *ud);
void mh_df_upload_unwait(mh_host *h, const char *channel, const char *id);
/* The plugin stops reading: the uploader is told, the upload is gone. */
void mh_df_upload_cancel(mh_host *h, const char *channel, const char *id);

/* ---- uploads fed by a transport (oRPC's streamed inputs) ----
 * The same reader (take/wait/cancel, the Lua iterator), other writer: the
 * transport pushes decoded items and finishes the upload; instead of
 * dropping the oldest it stops reading while the reader holds `high_water`
 * items (push's return) and is told when the reader took the queue down
 * to half of that (on_room). Its id is random (it is the handler's only
 * handle on it, and no devframe client can write to it). */
typedef struct mh_df_upload_feed {
  size_t high_water; /* at most MH_DF_UPLOAD_HIGH_WATER */
  void (*on_room)(void *ud);
  void (*on_take)(void *ud); /* optional: the reader took an item (its input moves) */
  void *ud;
} mh_df_upload_feed;
int mh_df_upload_open_fed(mh_host *h, const mh_df_upload_owner *owner, const char *channel,
                          const mh_df_upload_feed *feed, char *id_out, size_t id_cap, mh_error **err);
/* Queues v (taken): the items the reader has not taken; -1 when the
 * upload is gone (the reader cancelled it), -2 when it holds
 * MH_DF_UPLOAD_HIGH_WATER items (v freed either way). */
long mh_df_upload_push(mh_host *h, const char *channel, const char *id, mh_value *v);
/* Ends it: with err (taken) its reader raises that; else done (taken, may
 * be NULL) is its final value (take's *value with MH_DF_TAKE_END). */
void mh_df_upload_finish(mh_host *h, const char *channel, const char *id, mh_value *done, mh_error *err);
/* The transport is gone: no more on_room; the upload is dropped. */
void mh_df_upload_close_fed(mh_host *h, const char *channel, const char *id);

/* The wire (devframe_stream_wire.c). */
void mh_df_upload_chunk(mh_host *h, mh_client *c, const char *channel, const char *id, int64_t seq,
                        const mh_value *chunk);
void mh_df_upload_end(mh_host *h, mh_client *c, const char *channel, const char *id, const mh_value *error);

#endif
