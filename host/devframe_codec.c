/* devframe's wire form (Vite DevTools 0.8, devframe 1.3.x): "s:" followed by
 * a structured-clone-es text (sc_codec.c). devframe's own deserializer tests
 * raw.startsWith("s:"), so the prefix must be the very first two bytes; any
 * other frame is JSON to it. The reference server answers every frame with
 * "s:", and so do we when a client speaks it.
 *
 * Reading the id of a refused record frame lives here too, for both this
 * codec and the plain one (sc_codec.c). */
#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

#include "sc_codec.h"

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

/* Record i of the records when it is [0, primitive], else NULL. */
static const cJSON *mh_sc_peek_primitive(const cJSON *root, const cJSON *index) {
  if (!cJSON_IsNumber(index) || index->valuedouble < 0 || index->valuedouble >= cJSON_GetArraySize(root)) return NULL;
  const cJSON *rec = cJSON_GetArrayItem(root, (int)index->valuedouble);
  bool prim = cJSON_IsArray(rec) && cJSON_IsNumber(rec->child) && rec->child->valuedouble == 0 && rec->child->next;
  return prim ? rec->child->next : NULL;
}

/* After a refused frame: the envelope's id, when the outer JSON parses and
 * record 0 is an object whose "i" is a string or a number, so the error
 * reply reaches the caller instead of leaving it waiting. */
mh_value *mh_sc_salvage_id(const char *data, size_t len) {
  cJSON *root = cJSON_ParseWithLength(data, len);
  const cJSON *rec0 = cJSON_IsArray(root) ? root->child : NULL;
  bool obj = cJSON_IsArray(rec0) && cJSON_IsNumber(rec0->child) && rec0->child->valuedouble == 2;
  const cJSON *pair = obj && cJSON_IsArray(rec0->child->next) ? rec0->child->next->child : NULL;
  mh_value *id = NULL;
  for (; pair && !id; pair = pair->next) {
    const cJSON *key = cJSON_IsArray(pair) ? mh_sc_peek_primitive(root, pair->child) : NULL;
    if (!cJSON_IsString(key) || strcmp(key->valuestring, "i") != 0) continue;
    const cJSON *val = mh_sc_peek_primitive(root, pair->child->next);
    if (cJSON_IsString(val) && mh_utf8_valid(val->valuestring, strlen(val->valuestring)))
      id = mh_value_cstring(val->valuestring);
    else if (cJSON_IsNumber(val))
      id = val->valuedouble == trunc(val->valuedouble) && fabs(val->valuedouble) <= 9007199254740992.0
               ? mh_value_int((int64_t)val->valuedouble)
               : mh_value_float(val->valuedouble);
    break;
  }
  cJSON_Delete(root);
  return id;
}

static mh_value *mh_devframe_salvage_id(const char *data, size_t len) {
  if (!mh_devframe_detect(data, len)) return NULL;
  return mh_sc_salvage_id(data + MH_DEVFRAME_PREFIX_LEN, len - MH_DEVFRAME_PREFIX_LEN);
}

const mh_codec mh_codec_devframe = {
    .name = "devframe",
    .detect = mh_devframe_detect,
    .decode = mh_devframe_decode,
    .encode = mh_devframe_encode,
    .salvage_id = mh_devframe_salvage_id,
};
