/* JSON codec: detection and the id of a refused frame. Decoding parses
 * with cJSON and maps its tree onto mh_value (json_decode.c); encoding
 * writes the text straight from the value (json_encode.c); json_scan.c
 * reads a text without a parser. */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"
#include "codec/json_decode.h"
#include "codec/json_encode.h"
#include "codec/json_scan.h"
#include "core/js_types.h"

/* ---- detect ------------------------------------------------------------- */

/* Claims frames whose first non-whitespace byte can start a JSON text. */
static bool mh_json_detect(const char *data, size_t len) {
  size_t i = 0;
  while (i < len && mh_json_is_space(data[i])) i++;
  if (i == len) return false;
  char c = data[i];
  return c == '{' || c == '[' || c == '"' || c == '-' || (c >= '0' && c <= '9') || c == 't' || c == 'f' ||
         c == 'n';
}

/* ---- salvaging the id of a refused frame -------------------------------- */

static bool mh_json_surrogate_or_nul(const char *hex) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = hex[i];
    unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0')
                 : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                 : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                        : 16u;
    if (d > 15) return false;
    v = v * 16 + d;
  }
  return v == 0 || (v >= 0xD800 && v <= 0xDFFF);
}

static mh_value *mh_json_id_value(const cJSON *id) {
  if (cJSON_IsString(id) && mh_utf8_valid(id->valuestring, strlen(id->valuestring)))
    return mh_value_cstring(id->valuestring);
  if (cJSON_IsNumber(id)) return mh_json_number(id->valuedouble);
  return NULL;
}

/* The text of the top-level "i" of an object (the last one, as the envelope
 * reads it), found by skipping over the other members without parsing them:
 * a frame nested too deep for cJSON can still be answered under its id,
 * wherever "i" is (birpc writes it after "a"). */
static mh_value *mh_json_salvage_shallow(const char *data, size_t len, bool *reply) {
  const char *p = mh_json_skip_space(data, data + len), *end = data + len;
  const char *id_at = NULL, *id_end = NULL;
  if (p >= end || *p != '{') return NULL;
  for (p++;;) {
    const char *key = mh_json_skip_space(p, end);
    if (key >= end || *key != '"' || !(p = mh_json_skip_string(key, end))) break;
    bool is_i = p - key == 3 && key[1] == 'i', is_t = p - key == 3 && key[1] == 't';
    p = mh_json_skip_space(p, end);
    if (p >= end || *p != ':') break;
    const char *val = mh_json_skip_space(p + 1, end);
    if (!(p = mh_json_skip_value(val, end))) break;
    if (is_i) id_at = val, id_end = p;
    if (is_t) *reply = p - val == 3 && memcmp(val, "\"s\"", 3) == 0;
    p = mh_json_skip_space(p, end);
    if (p >= end || *p != ',') break;
    p++;
  }
  if (!id_at) return NULL;
  cJSON *id = cJSON_ParseWithLength(id_at, (size_t)(id_end - id_at));
  mh_value *out = mh_json_id_value(id);
  cJSON_Delete(id);
  return out;
}

/* A frame JavaScript's JSON.parse accepts but we refuse (an escaped NUL, a
 * lone surrogate, invalid UTF-8 in a string) still carries an id. Replace
 * those escapes with U+FFFD in a copy, let cJSON parse it, and read "i";
 * if cJSON cannot parse it (too deep, or broken after the id), look for
 * "i" without it. */
static mh_value *mh_json_salvage_id(const char *data, size_t len, bool *reply) {
  *reply = false;
  char *copy = malloc(len + 1);
  if (!copy) return NULL;
  memcpy(copy, data, len);
  copy[len] = '\0';
  for (size_t i = 0; i + 1 < len; i++) {
    if (copy[i] != '\\') continue;
    if (copy[i + 1] == 'u' && i + 6 <= len && mh_json_surrogate_or_nul(copy + i + 2)) memcpy(copy + i + 2, "fffd", 4);
    i++; /* skip the escaped character, so "\\\\u0000" stays as it is */
  }
  cJSON *root = cJSON_ParseWithLength(copy, len);
  mh_value *out = root ? NULL : mh_json_salvage_shallow(copy, len, reply);
  free(copy);
  if (cJSON_IsObject(root)) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "t");
    *reply = cJSON_IsString(t) && strcmp(t->valuestring, "s") == 0;
    out = mh_json_id_value(cJSON_GetObjectItemCaseSensitive(root, "i"));
  }
  cJSON_Delete(root);
  return out;
}

const mh_codec mh_codec_json = {
    .name = "json",
    .detect = mh_json_detect,
    .decode = mh_json_decode,                 /* json_decode.c */
    .decode_members = mh_json_decode_members, /* json_decode.c */
    .encode = mh_json_encode_value, /* json_encode.c: the text without a cJSON tree */
    .salvage_id = mh_json_salvage_id,
};
