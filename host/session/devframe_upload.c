/* Inbound streams (devframe_upload.h): what clients upload to plugins. */
#include "session/devframe_upload.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "call/events.h"
#include "call/host.h"
#include "core/log.h"
#include "core/map.h"
#include "core/random_hex.h"
#include "session/client.h"

typedef struct df_upload {
  char *key; /* channel \x1f id */
  char *channel, *id;
  char *plugin;
  uint32_t generation;
  char uploader[24]; /* the client that sent its first chunk; "" until then */
  int64_t last_seq;
  mh_value **queue; /* MH_DF_UPLOAD_HIGH_WATER slots, a ring */
  size_t head, len;
  bool ended;
  mh_error *end_err;
  void (*wake)(void *ud);
  void *wake_ud;
  mh_df_upload_feed feed; /* fed by a transport: on_room set */
  mh_value *done_value;   /* the final value a fed upload ended with */
} df_upload;

struct mh_dfuploads {
  mh_host *host;
  mh_map uploads; /* key -> df_upload */
  uint64_t next_id;
  char id_prefix[20];
};

static mh_dfuploads *store(mh_host *h) { return h->dfuploads; }

static int make_key(char *out, size_t cap, const char *channel, const char *id) {
  int n = snprintf(out, cap, "%s\x1f%s", channel, id);
  return n < 0 || (size_t)n >= cap ? -1 : n;
}

static df_upload *find(mh_host *h, const char *channel, const char *id) {
  char key[512];
  int n = make_key(key, sizeof key, channel, id);
  return store(h) && n >= 0 ? mh_map_get(&store(h)->uploads, key, (size_t)n) : NULL;
}

static void upload_free(df_upload *up) {
  for (size_t i = 0; i < up->len; i++) mh_value_free(up->queue[(up->head + i) % MH_DF_UPLOAD_HIGH_WATER]);
  free(up->queue);
  mh_error_free(up->end_err);
  mh_value_free(up->done_value);
  free(up->key);
  free(up->channel);
  free(up->id);
  free(up->plugin);
  free(up);
}

static void wake(df_upload *up) {
  void (*fn)(void *) = up->wake;
  up->wake = NULL;
  if (fn) fn(up->wake_ud);
}

static void drop(mh_dfuploads *u, df_upload *up) {
  mh_map_del(&u->uploads, up->key, strlen(up->key));
  upload_free(up);
}

/* Ends it with err (taken); its reader takes what is queued, then the end. */
static void end_upload(df_upload *up, mh_error *err) {
  if (up->ended) {
    mh_error_free(err);
    return;
  }
  up->ended = true;
  up->end_err = err;
  wake(up);
}

/* ---- the plugin side ---------------------------------------------------- */

int mh_df_upload_open(mh_host *h, const mh_df_upload_owner *owner, const char *channel, const char *id, char *id_out,
                      size_t id_cap, mh_error **err) {
  mh_dfuploads *u = store(h);
  if (!u) {
    *err = mh_error_new(MH_ERR_INTERNAL, "this host takes no uploads");
    return -1;
  }
  char made[40], key[512];
  if (!id) {
    snprintf(made, sizeof made, "%s%" PRIu64, u->id_prefix, ++u->next_id);
    id = made;
  }
  int n = make_key(key, sizeof key, channel, id);
  if (n < 0 || mh_map_get(&u->uploads, key, (size_t)n)) {
    *err = n < 0 ? mh_error_new(MH_ERR_BAD_REQUEST, "upload id too long")
                 : mh_error_new(MH_ERR_BAD_REQUEST, "streaming channel '%s' has an open upload '%s'", channel, id);
    return -1;
  }
  df_upload *up = calloc(1, sizeof *up);
  if (!up || !(up->key = strdup(key)) || !(up->channel = strdup(channel)) || !(up->id = strdup(id)) ||
      !(up->plugin = strdup(owner->plugin)) || !(up->queue = calloc(MH_DF_UPLOAD_HIGH_WATER, sizeof *up->queue)) ||
      mh_map_put(&u->uploads, key, (size_t)n, up)) {
    if (up) upload_free(up);
    *err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
    return -1;
  }
  up->generation = owner->generation;
  snprintf(id_out, id_cap, "%s", id);
  return 0;
}

mh_df_take mh_df_upload_take(mh_host *h, const char *channel, const char *id, mh_value **value, mh_error **end) {
  df_upload *up = find(h, channel, id);
  if (!up) return MH_DF_TAKE_NONE;
  if (up->len) {
    *value = up->queue[up->head];
    up->queue[up->head] = NULL;
    up->head = (up->head + 1) % MH_DF_UPLOAD_HIGH_WATER;
    up->len--;
    if (up->feed.on_take) up->feed.on_take(up->feed.ud);
    if (up->feed.on_room && up->len == up->feed.high_water / 2) up->feed.on_room(up->feed.ud);
    return MH_DF_TAKE_CHUNK;
  }
  if (!up->ended) return MH_DF_TAKE_EMPTY;
  *end = up->end_err;
  up->end_err = NULL;
  *value = up->done_value;
  up->done_value = NULL;
  drop(store(h), up);
  return MH_DF_TAKE_END;
}

int mh_df_upload_wait(mh_host *h, const char *channel, const char *id, void (*fn)(void *ud), void *ud) {
  df_upload *up = find(h, channel, id);
  if (!up || up->wake) return -1;
  up->wake = fn;
  up->wake_ud = ud;
  return 0;
}

void mh_df_upload_unwait(mh_host *h, const char *channel, const char *id) {
  df_upload *up = find(h, channel, id);
  if (up) up->wake = NULL;
}

void mh_df_upload_cancel(mh_host *h, const char *channel, const char *id) {
  df_upload *up = find(h, channel, id);
  if (!up) return;
  mh_client *c = up->uploader[0] && !up->ended ? mh_client_find(h, up->uploader) : NULL;
  mh_value *args = mh_value_new(MH_V_ARRAY);
  if (c && args && !mh_value_push(args, mh_value_cstring(channel)) && !mh_value_push(args, mh_value_cstring(id)))
    mh_client_event(c, "devframe:streaming:upload-cancel", args, true);
  mh_value_free(args);
  up->wake = NULL;
  if (up->feed.on_room) up->feed.on_room(up->feed.ud); /* its transport reads on, and drops the rest */
  drop(store(h), up);
}

/* ---- fed by a transport ------------------------------------------------ */

int mh_df_upload_open_fed(mh_host *h, const mh_df_upload_owner *owner, const char *channel,
                          const mh_df_upload_feed *feed, char *id_out, size_t id_cap, mh_error **err) {
  char id[33];
  if (mh_random_hex(id, 16)) {
    *err = mh_error_new(MH_ERR_INTERNAL, "no randomness for an upload id");
    return -1;
  }
  if (mh_df_upload_open(h, owner, channel, id, id_out, id_cap, err)) return -1;
  df_upload *up = find(h, channel, id);
  up->feed = *feed;
  if (up->feed.high_water > MH_DF_UPLOAD_HIGH_WATER || !up->feed.high_water)
    up->feed.high_water = MH_DF_UPLOAD_HIGH_WATER;
  return 0;
}

long mh_df_upload_push(mh_host *h, const char *channel, const char *id, mh_value *v) {
  df_upload *up = find(h, channel, id);
  if (!up || up->ended || up->len == MH_DF_UPLOAD_HIGH_WATER) {
    mh_value_free(v);
    return up && !up->ended ? -2 : -1;
  }
  up->queue[(up->head + up->len++) % MH_DF_UPLOAD_HIGH_WATER] = v;
  wake(up);
  return (long)up->len;
}

void mh_df_upload_finish(mh_host *h, const char *channel, const char *id, mh_value *done, mh_error *err) {
  df_upload *up = find(h, channel, id);
  if (!up || up->ended) {
    mh_value_free(done);
    mh_error_free(err);
    return;
  }
  up->done_value = done;
  end_upload(up, err);
}

void mh_df_upload_close_fed(mh_host *h, const char *channel, const char *id) {
  df_upload *up = find(h, channel, id);
  if (!up) return;
  up->feed.on_room = NULL;
  up->wake = NULL;
  drop(store(h), up);
}

/* ---- the wire ----------------------------------------------------------- */

void mh_df_upload_chunk(mh_host *h, mh_client *c, const char *channel, const char *id, int64_t seq,
                        const mh_value *chunk) {
  df_upload *up = find(h, channel, id);
  if (!up || up->ended || up->feed.on_room) {
    mh_log_warn("stream", "%s: upload chunk for %s#%s dropped: no such upload open", c->id, channel, id);
    return;
  }
  if (!up->uploader[0]) snprintf(up->uploader, sizeof up->uploader, "%s", c->id);
  if (seq <= up->last_seq) return; /* seen already (a resend) */
  up->last_seq = seq;
  mh_value *v = mh_value_copy(chunk);
  if (!v) return;
  if (up->len == MH_DF_UPLOAD_HIGH_WATER) {
    mh_log_warn("stream", "%s#%s: upload over %d chunks its reader has not taken: the oldest dropped", channel, id,
                MH_DF_UPLOAD_HIGH_WATER);
    mh_value_free(up->queue[up->head]);
    up->queue[up->head] = v;
    up->head = (up->head + 1) % MH_DF_UPLOAD_HIGH_WATER;
  } else {
    up->queue[(up->head + up->len++) % MH_DF_UPLOAD_HIGH_WATER] = v;
  }
  wake(up);
}

void mh_df_upload_end(mh_host *h, mh_client *c, const char *channel, const char *id, const mh_value *error) {
  (void)c;
  df_upload *up = find(h, channel, id);
  if (!up) return;
  bool failed = error && error->type != MH_V_UNDEFINED && error->type != MH_V_NULL;
  end_upload(up, failed ? mh_error_from_value(error) : NULL);
}

/* ---- lifetime ----------------------------------------------------------- */

/* A plugin loaded again (generation) or unloaded (0): the uploads of its older versions end. */
static void plugin_changed(mh_dfuploads *u, const char *plugin, uint32_t generation) {
  for (size_t i = 0; i < u->uploads.cap; i++) {
    df_upload *up = mh_map_live(&u->uploads.slots[i]) ? u->uploads.slots[i].value : NULL;
    if (!up || strcmp(up->plugin, plugin) != 0 || (generation && up->generation == generation)) continue;
    end_upload(up, mh_error_new(MH_ERR_CANCELLED, "upload %s#%s: this version of plugin %s was replaced or unloaded",
                                up->channel, up->id, plugin));
  }
}

static void client_gone(mh_dfuploads *u, const mh_client *c) {
  for (size_t i = 0; i < u->uploads.cap; i++) {
    df_upload *up = mh_map_live(&u->uploads.slots[i]) ? u->uploads.slots[i].value : NULL;
    if (!up || strcmp(up->uploader, c->id) != 0) continue;
    mh_error *err = mh_error_new(MH_ERR_DISCONNECTED, "Uploader disconnected before completing the stream");
    char *name = mh_error_is_static(err) ? NULL : strdup("UploadDisconnected"); /* devframe's name for it */
    if (name) {
      free(err->name);
      err->name = name;
    }
    end_upload(up, err);
  }
}

static void on_event(mh_host *h, const mh_event *ev, void *ud) {
  (void)ud;
  if (!store(h)) return;
  if (ev->kind == MH_EV_FUNCTIONS_CHANGED) plugin_changed(store(h), ev->plugin, ev->generation);
  else if (ev->kind == MH_EV_CLIENT_GONE && ev->client) client_gone(store(h), ev->client);
}

int mh_dfuploads_init(mh_host *h) {
  mh_dfuploads *u = calloc(1, sizeof *u);
  if (!u) return -1;
  u->host = h;
  snprintf(u->id_prefix, sizeof u->id_prefix, "u%" PRIx64 "-", (uint64_t)(uv_hrtime() & 0xffffffffffULL));
  h->dfuploads = u;
  return mh_events_listen(h, on_event, NULL);
}

void mh_dfuploads_free(mh_host *h) {
  mh_dfuploads *u = store(h);
  if (!u) return;
  for (size_t i = 0; i < u->uploads.cap; i++)
    if (mh_map_live(&u->uploads.slots[i])) upload_free(u->uploads.slots[i].value);
  mh_map_free(&u->uploads);
  free(u);
  h->dfuploads = NULL;
}
