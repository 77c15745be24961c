#include "session/client_stream.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"
#include "codec/envelope.h"
#include "codec/orpc_serial.h"
#include "core/buf.h"
#include "core/log.h"

struct mh_client_stream {
  mh_value *id;      /* the call's id, as the reader sent it */
  char *last_id;     /* where the reader resumes, or NULL */
  size_t bound;      /* limits.stream_queue_bytes */
  uint32_t window;   /* chunks the reader may hold unacked */
  /* The sizes of the chunks sent and not acked, oldest first: a ring of
   * `window` slots (never more are out: the producer waits at the window). */
  size_t *sizes;
  uint32_t head, unacked;
  size_t unacked_bytes;
};

static int read_window(const mh_value *w, uint32_t *out, mh_error **err) {
  double n = w->type == MH_V_INT ? (double)w->u.i : w->type == MH_V_FLOAT ? w->u.f : NAN;
  if (!(n >= 1 && n <= MH_CLIENT_STREAM_MAX_WINDOW) || n != floor(n)) {
    *err = mh_error_new(MH_ERR_BAD_REQUEST, "stream option 'w' (window) must be an integer from 1 to %d",
                        MH_CLIENT_STREAM_MAX_WINDOW);
    return -1;
  }
  *out = (uint32_t)n;
  return 0;
}

static int read_last_id(const mh_value *l, char **out, mh_error **err) {
  if (l->type == MH_V_UNDEFINED || l->type == MH_V_NULL) return 0;
  if (l->type != MH_V_STRING) {
    *err = mh_error_new(MH_ERR_BAD_REQUEST, "stream option 'l' (last event id) must be a string");
    return -1;
  }
  if (l->u.str.len > MH_CLIENT_STREAM_MAX_ID) {
    *err = mh_error_new(MH_ERR_BAD_REQUEST, "stream option 'l' (last event id) is longer than %d bytes",
                        MH_CLIENT_STREAM_MAX_ID);
    return -1;
  }
  if (memchr(l->u.str.ptr, '\0', l->u.str.len)) {
    *err = mh_error_new(MH_ERR_BAD_REQUEST, "stream option 'l' (last event id) must not hold a NUL");
    return -1;
  }
  *out = strdup(l->u.str.ptr);
  if (!*out) *err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
  return *out ? 0 : -1;
}

mh_client_stream *mh_client_stream_new(const mh_value *id, const mh_value *opts, size_t queue_bytes, mh_error **err) {
  uint32_t window = MH_CLIENT_STREAM_DEFAULT_WINDOW;
  char *last_id = NULL;
  bool is_obj = opts->type == MH_V_OBJECT;
  if (!is_obj && !(opts->type == MH_V_BOOL && opts->u.b)) {
    *err = mh_error_new(MH_ERR_BAD_REQUEST, "envelope field 's' (stream) must be true or an object {w, l}");
    return NULL;
  }
  const mh_value *w = is_obj ? mh_value_obj_get(opts, "w") : NULL;
  const mh_value *l = is_obj ? mh_value_obj_get(opts, "l") : NULL;
  if (w && w->type != MH_V_UNDEFINED && read_window(w, &window, err)) return NULL;
  if (l && read_last_id(l, &last_id, err)) return NULL;
  mh_client_stream *s = calloc(1, sizeof *s);
  if (s) s->sizes = calloc(window, sizeof *s->sizes);
  if (s) s->id = mh_value_copy(id);
  if (!s || !s->sizes || !s->id) {
    if (s) free(s->sizes), mh_value_free(s->id);
    free(s);
    free(last_id);
    *err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
    return NULL;
  }
  s->last_id = last_id;
  s->window = window;
  s->bound = queue_bytes;
  return s;
}

void mh_client_stream_free(mh_client_stream *s) {
  if (!s) return;
  mh_value_free(s->id);
  free(s->last_id);
  free(s->sizes);
  free(s);
}

const char *mh_client_stream_last_id(const mh_client_stream *s) { return s->last_id; }

/* {"t":"T","i":ID ... : the head every stream frame shares. */
static int frame_head(mh_buf *b, char t, const mh_value *id, mh_error **err) {
  if (mh_buf_appendf(b, "{\"t\":\"%c\",\"i\":", t)) goto oom;
  if (mh_codec_json.encode(id, b, err)) return -1;
  return 0;
oom:
  *err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
  return -1;
}

/* ,"p":{json,meta} for a value (nothing for undefined when optional). */
static int frame_payload(mh_buf *b, const mh_value *v, mh_error **err) {
  if (mh_buf_append_str(b, ",\"p\":")) {
    *err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
    return -1;
  }
  return mh_orpc_encode(v, b, err);
}

static int chunk_frame(const mh_client_stream *s, const mh_value *value, const mh_chunk_meta *meta, mh_buf *b,
                       mh_error **err) {
  if (frame_head(b, 'd', s->id, err) || frame_payload(b, value, err)) return -1;
  if (meta && meta->id) {
    mh_value idv = {.type = MH_V_STRING, .u.str = {(char *)meta->id, strlen(meta->id)}};
    if (mh_buf_append_str(b, ",\"l\":") || mh_codec_json.encode(&idv, b, err)) goto fail;
  }
  if (mh_buf_append_str(b, "}") == 0) return 0;
fail:
  if (!*err) *err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
  return -1;
}

size_t mh_client_stream_chunk(mh_client_stream *s, const mh_value *value, const mh_chunk_meta *meta, mh_buf *frame) {
  size_t start = frame->len;
  mh_error *err = NULL;
  if (chunk_frame(s, value, meta, frame, &err)) {
    /* Not expected: Lua's emit takes only what oRPC's serializer can carry. */
    mh_log_warn("client", "cannot send a stream chunk: %s", err->message);
    mh_error_free(err);
    frame->len = start;
    mh_value undefined = {.type = MH_V_UNDEFINED};
    err = NULL;
    if (chunk_frame(s, &undefined, NULL, frame, &err)) mh_error_free(err), frame->len = start;
  }
  size_t bytes = frame->len - start;
  /* The producer waits once `window` chunks are out, so the ring has a
   * slot; were it called anyway, the chunk goes out uncounted. */
  if (s->unacked < s->window) {
    s->sizes[(s->head + s->unacked) % s->window] = bytes;
    s->unacked++;
    s->unacked_bytes += bytes;
  }
  if (s->unacked >= s->window) return SIZE_MAX;
  return s->unacked_bytes;
}

void mh_client_stream_end(const mh_client_stream *s, const mh_value *result, const mh_error *err, mh_buf *frame) {
  size_t start = frame->len;
  mh_error *enc_err = NULL;
  if (!err) {
    bool has = result && result->type != MH_V_UNDEFINED;
    if (frame_head(frame, 'e', s->id, &enc_err) || (has && frame_payload(frame, result, &enc_err)) ||
        mh_buf_append_str(frame, "}")) {
      if (!enc_err) enc_err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
      frame->len = start;
      err = enc_err;
    }
  }
  if (err) {
    mh_error *e2 = NULL;
    if (mh_envelope_encode_reply(&mh_codec_json, s->id, NULL, err, frame, &e2)) mh_error_free(e2), frame->len = start;
  }
  mh_error_free(enc_err);
}

int mh_client_stream_ack(mh_client_stream *s, const mh_value *count, bool *may_go, mh_error **err) {
  double n = !count ? NAN : count->type == MH_V_INT ? (double)count->u.i : count->type == MH_V_FLOAT ? count->u.f : NAN;
  if (!(n >= 1) || n != floor(n)) {
    *err = mh_error_new(MH_ERR_BAD_REQUEST, "ack field 'n' must be a positive integer (the chunks taken)");
    return -1;
  }
  if (n > s->unacked) {
    *err = mh_error_new(MH_ERR_BAD_REQUEST, "ack of %.0f chunks, but %u were sent and not acked", n, s->unacked);
    return -1;
  }
  for (uint32_t k = 0; k < (uint32_t)n; k++) {
    s->unacked_bytes -= s->sizes[s->head];
    s->head = (s->head + 1) % s->window;
  }
  s->unacked -= (uint32_t)n;
  *may_go = s->unacked < s->window && s->unacked_bytes <= s->bound;
  return 0;
}
