/* devframe's wire form (Vite DevTools 0.8, devframe 1.3.x): "s:" followed by
 * a structured-clone-es text (sc_codec.c). devframe's own deserializer tests
 * raw.startsWith("s:"), so the prefix must be the very first two bytes; any
 * other frame is JSON to it. The reference server answers every frame with
 * "s:", and so do we when a client speaks it. */
#include <string.h>

#include "codec/sc_codec.h"

#define MH_DEVFRAME_PREFIX "s:"
#define MH_DEVFRAME_PREFIX_LEN 2

static bool mh_devframe_detect(const char *data, size_t len) {
  return len >= MH_DEVFRAME_PREFIX_LEN && memcmp(data, MH_DEVFRAME_PREFIX, MH_DEVFRAME_PREFIX_LEN) == 0;
}

static mh_value *mh_devframe_decode(const char *data, size_t len, const mh_codec_limits *lim, mh_error **err) {
  if (!data || !mh_devframe_detect(data, len)) {
    if (err) *err = mh_error_new(MH_ERR_BAD_REQUEST, "a devframe frame starts with \"s:\"");
    return NULL;
  }
  return mh_sc_decode(data + MH_DEVFRAME_PREFIX_LEN, len - MH_DEVFRAME_PREFIX_LEN, lim, err);
}

static int mh_devframe_encode(const mh_value *v, mh_buf *out, mh_error **err) {
  size_t mark = out->len;
  if (mh_buf_append(out, MH_DEVFRAME_PREFIX, MH_DEVFRAME_PREFIX_LEN)) {
    if (err) *err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
    return -1;
  }
  if (mh_sc_encode(v, out, err) == 0) return 0;
  out->len = mark; /* nothing half-written stays behind */
  return -1;
}

static mh_value *mh_devframe_salvage_id(const char *data, size_t len, bool *reply) {
  *reply = false;
  if (!mh_devframe_detect(data, len)) return NULL;
  return mh_sc_salvage_id(data + MH_DEVFRAME_PREFIX_LEN, len - MH_DEVFRAME_PREFIX_LEN, reply);
}

const mh_codec mh_codec_devframe = {
    .name = "devframe",
    .detect = mh_devframe_detect,
    .decode = mh_devframe_decode,
    .encode = mh_devframe_encode,
    .salvage_id = mh_devframe_salvage_id,
};
