/* JSON codec. Decoding parses with cJSON and maps its tree onto mh_value;
 * encoding writes the text straight from the value (json_encode.c). */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"
#include "codec/json_encode.h"
#include "core/js_types.h"

/* Largest integer magnitude a double (and a JS number) holds exactly. */
#define MH_JSON_MAX_SAFE 9007199254740992.0 /* 2^53 */

static void mh_json_fail(mh_error **err, mh_error *e) {
  if (err) *err = e;
  else mh_error_free(e);
}

static bool mh_json_is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

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

/* ---- scanning without a parser ----------------------------------------- */

static const char *mh_json_skip_space(const char *p, const char *end) {
  while (p < end && mh_json_is_space(*p)) p++;
  return p;
}

/* p at an opening quote; the end of the string, or NULL. */
static const char *mh_json_skip_string(const char *p, const char *end) {
  for (p++; p < end; p++) {
    if (*p == '\\') {
      if (++p == end) break; /* the escaped character is skipped */
    } else if (*p == '"') {
      return p + 1;
    }
  }
  return NULL;
}

const char *mh_json_skip_value(const char *p, const char *end) {
  p = mh_json_skip_space(p, end);
  if (p >= end) return NULL;
  if (*p == '"') return mh_json_skip_string(p, end);
  if (*p != '[' && *p != '{') { /* a literal or a number: up to a delimiter */
    const char *start = p;
    while (p < end && !mh_json_is_space(*p) && *p != ',' && *p != ']' && *p != '}' && *p != ':') p++;
    return p > start ? p : NULL;
  }
  size_t depth = 0;
  for (; p < end; p++) {
    if (*p == '"') {
      if (!(p = mh_json_skip_string(p, end))) return NULL;
      p--;
    } else if (*p == '[' || *p == '{') {
      depth++;
    } else if ((*p == ']' || *p == '}') && --depth == 0) {
      return p + 1;
    }
  }
  return NULL;
}

int mh_json_depth_limit(const mh_codec_limits *lim) {
  return lim && lim->max_depth > 0 && lim->max_depth < CJSON_NESTING_LIMIT ? lim->max_depth : CJSON_NESTING_LIMIT;
}

size_t mh_json_depth_at(const char *data, size_t at) {
  size_t depth = 0;
  for (const char *p = data, *end = data + at; p < end; p++) {
    if (*p == '"') {
      if (!(p = mh_json_skip_string(p, end))) break;
      p--;
    } else if (*p == '[' || *p == '{') {
      depth++;
    } else if ((*p == ']' || *p == '}') && depth > 0) {
      depth--;
    }
  }
  return depth;
}

/* ---- decode ------------------------------------------------------------- */

typedef struct mh_json_dec {
  int max_depth; /* 0: only cJSON's own nesting limit applies */
  /* The whole text is valid UTF-8, so every string in it is: a multi-byte
   * sequence never spans a quote, and cJSON writes its \u escapes as valid
   * UTF-8 (it refuses lone surrogates). One check of the text instead of
   * one per string and key (~200 instructions a frame); when it fails, the
   * strings are checked one by one, to say which failed. */
  bool text_utf8;
  mh_error **err;
} mh_json_dec;

static mh_value *mh_json_from_cjson(const cJSON *j, int depth, mh_json_dec *d);

static mh_value *mh_json_oom(mh_json_dec *d) {
  mh_json_fail(d->err, mh_error_new(MH_ERR_INTERNAL, "out of memory"));
  return NULL;
}

static mh_value *mh_json_number(double x) {
  /* -0 stays a float: an integer would lose its sign. */
  bool integral = isfinite(x) && x == trunc(x) && fabs(x) <= MH_JSON_MAX_SAFE && !(x == 0 && signbit(x));
  return integral ? mh_value_int((int64_t)x) : mh_value_float(x);
}

/* Checks a decoded string; false sets the error. */
static bool mh_json_check_utf8(const char *s, size_t len, mh_json_dec *d) {
  if (d->text_utf8 || mh_utf8_valid(s, len)) return true;
  mh_json_fail(d->err, mh_error_new(MH_ERR_BAD_REQUEST, "invalid UTF-8 in string"));
  return false;
}

static mh_value *mh_json_container(const cJSON *j, int depth, mh_json_dec *d) {
  if (d->max_depth > 0 && depth > d->max_depth) {
    mh_json_fail(d->err, mh_error_new(MH_ERR_BAD_REQUEST, "nesting deeper than %d", d->max_depth));
    return NULL;
  }
  bool is_obj = cJSON_IsObject(j);
  mh_value *v = mh_value_new(is_obj ? MH_V_OBJECT : MH_V_ARRAY);
  size_t n = 0;
  for (const cJSON *c = j->child; c; c = c->next) n++;
  if (!v || (n && mh_value_reserve(v, n))) {
    mh_value_free(v);
    return mh_json_oom(d);
  }
  for (const cJSON *c = j->child; c; c = c->next) {
    const char *key = c->string ? c->string : "";
    size_t keylen = strlen(key);
    if (is_obj && !mh_json_check_utf8(key, keylen, d)) goto fail;
    mh_value *item = mh_json_from_cjson(c, depth, d);
    if (!item) goto fail;
    /* Duplicate keys are kept in order; readers let the last one win. */
    int rc = is_obj ? mh_value_obj_append(v, key, keylen, item) : mh_value_push(v, item);
    if (rc) {
      mh_json_oom(d);
      goto fail;
    }
  }
  return v;
fail:
  mh_value_free(v);
  return NULL;
}

/* depth counts the containers around j: the top-level container is at 1.
 * cJSON itself refuses more than CJSON_NESTING_LIMIT levels, which bounds
 * the recursion here. */
static mh_value *mh_json_from_cjson(const cJSON *j, int depth, mh_json_dec *d) {
  mh_value *v = NULL;
  if (cJSON_IsNull(j)) v = mh_value_null();
  else if (cJSON_IsTrue(j)) v = mh_value_bool(true);
  else if (cJSON_IsFalse(j)) v = mh_value_bool(false);
  else if (cJSON_IsNumber(j)) v = mh_json_number(j->valuedouble);
  else if (cJSON_IsString(j)) {
    size_t len = strlen(j->valuestring);
    if (!mh_json_check_utf8(j->valuestring, len, d)) return NULL;
    v = mh_value_string(j->valuestring, len);
  } else if (cJSON_IsArray(j) || cJSON_IsObject(j)) {
    return mh_json_container(j, depth + 1, d);
  } else {
    mh_json_fail(d->err, mh_error_new(MH_ERR_BAD_REQUEST, "malformed JSON"));
    return NULL;
  }
  return v ? v : mh_json_oom(d);
}

/* cJSON keeps strings NUL-terminated, so an escaped NUL would silently cut a
 * string short. Finds a real "\u0000" escape; returns its offset or -1.
 * In a text cJSON parsed, a backslash only ever starts an escape, so going
 * from one backslash to the next past the escaped character sees every
 * escape (memchr: a memmem for the escape cost ~280 instructions a frame). */
static ptrdiff_t mh_json_find_escaped_nul(const char *data, size_t len) {
  const char *p = data, *end = data + len;
  while ((p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
    if (end - p >= 6 && memcmp(p + 1, "u0000", 5) == 0) return p - data;
    if (end - p <= 2) break;
    p += 2;
  }
  return -1;
}

static mh_value *mh_json_decode(const char *data, size_t len, const mh_codec_limits *lim, mh_error **err) {
  mh_json_dec d = {lim && lim->max_depth > 0 ? lim->max_depth : 0, false, err};
  if (!data) {
    data = "";
    len = 0;
  }
  const char *end = data;
  cJSON *root = cJSON_ParseWithLengthOpts(data, len, &end, 0);
  if (!root) {
    size_t at = end >= data && end <= data + len ? (size_t)(end - data) : 0;
    /* cJSON stops at CJSON_NESTING_LIMIT levels with a bare syntax error:
     * say what is wrong, as for nesting cJSON does accept. */
    int limit = mh_json_depth_limit(lim);
    if (mh_json_depth_at(data, at) >= (size_t)limit)
      mh_json_fail(err, mh_error_new(MH_ERR_BAD_REQUEST, "nesting deeper than %d", limit));
    else
      mh_json_fail(err, mh_error_new(MH_ERR_BAD_REQUEST, "malformed JSON at byte %zu", at));
    return NULL;
  }
  /* cJSON stops after the first value; anything but whitespace after it is
   * trailing garbage. */
  size_t at = (size_t)(end - data);
  while (at < len && mh_json_is_space(data[at])) at++;
  if (at < len) {
    cJSON_Delete(root);
    mh_json_fail(err, mh_error_new(MH_ERR_BAD_REQUEST, "malformed JSON at byte %zu", at));
    return NULL;
  }
  /* cJSON copies a raw NUL byte into a string and strlen then cuts it there:
   * "demo:echo\0ignored" would call demo:echo. Refuse it like the escape. */
  const char *raw_nul = memchr(data, 0, len);
  if (raw_nul) {
    cJSON_Delete(root);
    mh_json_fail(err, mh_error_new(MH_ERR_BAD_REQUEST, "NUL byte in the frame at byte %td", raw_nul - data));
    return NULL;
  }
  ptrdiff_t nul = mh_json_find_escaped_nul(data, len);
  if (nul >= 0) {
    cJSON_Delete(root);
    mh_json_fail(err, mh_error_new(MH_ERR_BAD_REQUEST, "unsupported \\u0000 in string at byte %td", nul));
    return NULL;
  }
  d.text_utf8 = mh_utf8_valid(data, len);
  mh_value *v = mh_json_from_cjson(root, 0, &d);
  cJSON_Delete(root);
  return v;
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
    .decode = mh_json_decode,
    .encode = mh_json_encode_value, /* json_encode.c: the text without a cJSON tree */
    .salvage_id = mh_json_salvage_id,
};
