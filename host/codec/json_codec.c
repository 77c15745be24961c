/* JSON codec on top of cJSON. Decoding maps cJSON's tree onto mh_value;
 * encoding builds a cJSON tree that mirrors what JSON.stringify would send
 * and lets cJSON print it. */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"
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
  if (mh_utf8_valid(s, len)) return true;
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
 * string short. Finds a real "\u0000" escape (one preceded by an even number
 * of backslashes); returns its offset or -1. */
static ptrdiff_t mh_json_find_escaped_nul(const char *data, size_t len) {
  const char *p = data, *end = data + len;
  while ((p = memmem(p, (size_t)(end - p), "\\u0000", 6)) != NULL) {
    size_t at = (size_t)(p - data), run = 1;
    while (run <= at && data[at - run] == '\\') run++;
    if (run % 2 == 1) return (ptrdiff_t)at;
    p++;
  }
  return -1;
}

static mh_value *mh_json_decode(const char *data, size_t len, const mh_codec_limits *lim, mh_error **err) {
  mh_json_dec d = {lim && lim->max_depth > 0 ? lim->max_depth : 0, err};
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
  mh_value *v = mh_json_from_cjson(root, 0, &d);
  cJSON_Delete(root);
  return v;
}

/* ---- encode ------------------------------------------------------------- */

typedef struct mh_json_enc {
  size_t estimate; /* rough size of the printed text, for preallocation */
  mh_error *err;
} mh_json_enc;

static cJSON *mh_json_to_cjson(const mh_value *v, mh_json_enc *e);

static cJSON *mh_json_enc_oom(mh_json_enc *e) {
  if (!e->err) e->err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
  return NULL;
}

static cJSON *mh_json_enc_error(mh_json_enc *e, const char *msg) {
  if (!e->err) e->err = mh_error_new(MH_ERR_INTERNAL, "%s", msg);
  return NULL;
}

static cJSON *mh_json_raw(const char *text, mh_json_enc *e) {
  cJSON *j = cJSON_CreateRaw(text);
  e->estimate += strlen(text);
  return j ? j : mh_json_enc_oom(e);
}

/* Shortest of %.15g..%.17g that reads back to exactly x. cJSON's own number
 * printing accepts a 1-ulp difference (0.1 + 0.2 prints as 0.3), so it does
 * not round-trip. NaN and infinities print as null, -0 as 0. */
static void mh_json_format_double(double x, char *buf, size_t size) {
  if (!isfinite(x)) {
    snprintf(buf, size, "null");
    return;
  }
  if (x == 0) {
    snprintf(buf, size, "0");
    return;
  }
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(buf, size, "%.*g", prec, x);
    if (strtod(buf, NULL) == x) return;
  }
}

static cJSON *mh_json_double(double x, mh_json_enc *e) {
  char buf[40];
  mh_json_format_double(x, buf, sizeof buf);
  return mh_json_raw(buf, e);
}

char *mh_json_quote_with_nul(const char *s, size_t len) {
  mh_buf b = MH_BUF_INIT;
  int rc = mh_buf_append(&b, "\"", 1);
  for (size_t i = 0; rc == 0 && i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') rc = mh_buf_appendf(&b, "\\%c", c);
    else if (c < 0x20) rc = mh_buf_appendf(&b, "\\u%04x", c);
    else rc = mh_buf_append(&b, &s[i], 1);
  }
  if (rc || mh_buf_append(&b, "\"", 1)) {
    mh_buf_free(&b);
    return NULL;
  }
  return mh_buf_steal(&b, NULL);
}

static cJSON *mh_json_string(const char *s, size_t len, mh_json_enc *e) {
  if (!mh_utf8_valid(s, len)) return mh_json_enc_error(e, "invalid UTF-8 in string");
  e->estimate += len + len / 8 + 2;
  if (memchr(s, '\0', len)) {
    char *lit = mh_json_quote_with_nul(s, len);
    cJSON *j = lit ? cJSON_CreateRaw(lit) : NULL;
    free(lit);
    return j ? j : mh_json_enc_oom(e);
  }
  /* The value outlives the cJSON tree, so cJSON may borrow the text. */
  cJSON *j = cJSON_CreateStringReference(s);
  return j ? j : mh_json_enc_oom(e);
}

static cJSON *mh_json_cstring(const char *s, mh_json_enc *e) {
  return mh_json_string(s ? s : "", s ? strlen(s) : 0, e);
}

/* Adds item under key (borrowed, must outlive the tree); frees item on failure. */
static bool mh_json_add(cJSON *obj, const char *key, cJSON *item, mh_json_enc *e) {
  e->estimate += strlen(key) + 4;
  if (cJSON_AddItemToObjectCS(obj, key, item)) return true;
  cJSON_Delete(item);
  mh_json_enc_oom(e);
  return false;
}

static bool mh_json_append(cJSON *arr, cJSON *item, mh_json_enc *e) {
  e->estimate += 1;
  if (cJSON_AddItemToArray(arr, item)) return true;
  cJSON_Delete(item);
  mh_json_enc_oom(e);
  return false;
}

static cJSON *mh_json_array(const mh_value *v, mh_json_enc *e) {
  cJSON *arr = cJSON_CreateArray();
  if (!arr) return mh_json_enc_oom(e);
  e->estimate += 2;
  for (size_t i = 0; i < v->u.arr.len; i++) {
    const mh_value *item = v->u.arr.items[i];
    /* JSON.stringify writes undefined array slots as null. */
    cJSON *j = item && item->type == MH_V_UNDEFINED ? cJSON_CreateNull() : mh_json_to_cjson(item, e);
    if (!j) {
      mh_json_enc_oom(e);
      goto fail;
    }
    if (!mh_json_append(arr, j, e)) goto fail;
  }
  return arr;
fail:
  cJSON_Delete(arr);
  return NULL;
}

/* Which pair supplies each printed key: an object with duplicate keys prints
 * each key once, at its first position, with its last value (as JS objects
 * built by JSON.parse do). Fills use[i] with the index of the pair whose
 * value is printed at pair i, or SIZE_MAX when pair i is a later duplicate
 * and is skipped. */
static int mh_json_dedup(const mh_value *v, size_t *use) {
  size_t n = v->u.obj.len;
  mh_value_keyref *refs = mh_value_obj_sort_keys(v);
  if (!refs) return -1;
  for (size_t i = 0; i < n;) {
    size_t j = i; /* [i, j] is a run of equal keys ordered by index */
    while (j + 1 < n && mh_value_keyref_same(&refs[j + 1], &refs[i])) j++;
    use[refs[i].idx] = refs[j].idx;
    for (size_t k = i + 1; k <= j; k++) use[refs[k].idx] = SIZE_MAX;
    i = j + 1;
  }
  free(refs);
  return 0;
}

static bool mh_json_same_key(const mh_value *a, const mh_value *b) {
  return a && b && a->type == MH_V_STRING && b->type == MH_V_STRING && a->u.str.len == b->u.str.len &&
         (a->u.str.len == 0 || memcmp(a->u.str.ptr, b->u.str.ptr, a->u.str.len) == 0);
}

/* mh_json_dedup for small objects, without allocating: quadratic but tiny. */
static void mh_json_dedup_small(const mh_value *v, size_t *use) {
  size_t n = v->u.obj.len;
  for (size_t i = 0; i < n; i++) {
    const mh_value *key = v->u.obj.items[i].key;
    use[i] = i;
    for (size_t j = 0; j < i && use[i] != SIZE_MAX; j++)
      if (mh_json_same_key(v->u.obj.items[j].key, key)) use[i] = SIZE_MAX;
    for (size_t j = i + 1; j < n && use[i] != SIZE_MAX; j++)
      if (mh_json_same_key(v->u.obj.items[j].key, key)) use[i] = j;
  }
}

#define MH_JSON_SMALL_OBJECT 16

static cJSON *mh_json_object(const mh_value *v, mh_json_enc *e) {
  size_t n = v->u.obj.len;
  size_t small[MH_JSON_SMALL_OBJECT];
  size_t *use = small;
  if (n <= MH_JSON_SMALL_OBJECT) {
    mh_json_dedup_small(v, use);
  } else if (!(use = malloc(n * sizeof *use)) || mh_json_dedup(v, use)) {
    free(use);
    return mh_json_enc_oom(e);
  }
  cJSON *obj = cJSON_CreateObject();
  if (!obj) {
    if (use != small) free(use);
    return mh_json_enc_oom(e);
  }
  e->estimate += 2;
  for (size_t i = 0; i < n; i++) {
    if (use[i] == SIZE_MAX) continue;
    const mh_value *key = v->u.obj.items[i].key;
    const mh_value *val = v->u.obj.items[use[i]].val;
    if (val && val->type == MH_V_UNDEFINED) continue; /* JSON.stringify omits it */
    const char *k = key && key->type == MH_V_STRING ? key->u.str.ptr : "";
    size_t klen = key && key->type == MH_V_STRING ? key->u.str.len : 0;
    if (!mh_utf8_valid(k, klen)) {
      mh_json_enc_error(e, "invalid UTF-8 in string");
      goto fail;
    }
    if (memchr(k, '\0', klen)) {
      mh_json_enc_error(e, "object key with a NUL byte cannot be sent as JSON");
      goto fail;
    }
    cJSON *j = mh_json_to_cjson(val, e);
    if (!j || !mh_json_add(obj, k, j, e)) goto fail;
  }
  if (use != small) free(use);
  return obj;
fail:
  if (use != small) free(use);
  cJSON_Delete(obj);
  return NULL;
}

/* An Error travels as {name, message} so error replies stay readable
 * (JSON.stringify would give {}). */
static cJSON *mh_json_error_obj(const mh_value *v, mh_json_enc *e) {
  cJSON *obj = cJSON_CreateObject();
  if (!obj) return mh_json_enc_oom(e);
  cJSON *name = mh_json_cstring(v->u.err.name ? v->u.err.name : "Error", e);
  if (!name || !mh_json_add(obj, "name", name, e)) goto fail;
  cJSON *msg = mh_json_cstring(v->u.err.message, e);
  if (!msg || !mh_json_add(obj, "message", msg, e)) goto fail;
  return obj;
fail:
  cJSON_Delete(obj);
  return NULL;
}

/* A typed array as JSON.stringify writes it: {"0": v0, "1": v1, ...}. */
static cJSON *mh_json_bytes(const mh_value *v, mh_json_enc *e) {
  cJSON *obj = cJSON_CreateObject();
  if (!obj) return mh_json_enc_oom(e);
  for (size_t i = 0; i < v->u.bytes.len; i++) {
    char key[24];
    snprintf(key, sizeof key, "%zu", i);
    cJSON *j = mh_json_double(v->u.bytes.items[i], e);
    e->estimate += strlen(key) + 4;
    /* The key is a stack buffer, so cJSON must copy it. */
    if (!j || !cJSON_AddItemToObject(obj, key, j)) {
      cJSON_Delete(j);
      mh_json_enc_oom(e);
      cJSON_Delete(obj);
      return NULL;
    }
  }
  return obj;
}

static cJSON *mh_json_empty_object(mh_json_enc *e) {
  cJSON *j = cJSON_CreateObject();
  e->estimate += 2;
  return j ? j : mh_json_enc_oom(e);
}

static cJSON *mh_json_to_cjson(const mh_value *v, mh_json_enc *e) {
  char buf[40];
  cJSON *j;
  switch (v ? v->type : MH_V_UNDEFINED) {
  case MH_V_UNDEFINED: /* at top level; containers handle their own */
  case MH_V_NULL:
    j = cJSON_CreateNull();
    e->estimate += 4;
    return j ? j : mh_json_enc_oom(e);
  case MH_V_BOOL:
    j = cJSON_CreateBool(v->u.b);
    e->estimate += 5;
    return j ? j : mh_json_enc_oom(e);
  case MH_V_INT:
    /* Raw text: a double would round integers beyond 2^53. */
    snprintf(buf, sizeof buf, "%" PRId64, v->u.i);
    return mh_json_raw(buf, e);
  case MH_V_FLOAT:
    return mh_json_double(v->u.f, e);
  case MH_V_STRING:
  case MH_V_URL: /* its href, as JSON.stringify writes a URL */
    return mh_json_string(v->u.str.ptr, v->u.str.len, e);
  case MH_V_DATE:
    if (!mh_js_date_format(v->u.f, buf)) return mh_json_raw("null", e);
    e->estimate += strlen(buf) + 2;
    j = cJSON_CreateString(buf);
    return j ? j : mh_json_enc_oom(e);
  case MH_V_BIGINT:
    return mh_json_enc_error(e, "BigInt cannot be sent as JSON");
  case MH_V_ARRAY:
    return mh_json_array(v, e);
  case MH_V_OBJECT:
    return mh_json_object(v, e);
  case MH_V_MAP:    /* JSON.stringify(new Map(...)) is {} */
  case MH_V_SET:    /* and so is a Set */
  case MH_V_REGEXP: /* and a RegExp */
    return mh_json_empty_object(e);
  case MH_V_ERROR:
    return mh_json_error_obj(v, e);
  case MH_V_BYTES:
    return mh_json_bytes(v, e);
  }
  return mh_json_enc_error(e, "unknown value type");
}

/* Prints straight into out's spare room when the estimate allows it, else
 * lets cJSON allocate and copies. */
static int mh_json_print(cJSON *root, size_t estimate, mh_buf *out) {
  size_t want = estimate + estimate / 4 + 64;
  if (want < INT_MAX / 2 && mh_buf_reserve(out, want) == 0) {
    size_t room = out->cap - out->len;
    int len = room < INT_MAX ? (int)room : INT_MAX;
    if (cJSON_PrintPreallocated(root, out->data + out->len, len, 0)) {
      out->len += strlen(out->data + out->len);
      return 0;
    }
  }
  char *text = cJSON_PrintUnformatted(root);
  if (!text) return -1;
  int rc = mh_buf_append(out, text, strlen(text));
  cJSON_free(text);
  return rc;
}

static int mh_json_encode(const mh_value *v, mh_buf *out, mh_error **err) {
  mh_json_enc e = {0, NULL};
  cJSON *root = mh_json_to_cjson(v, &e);
  if (!root) {
    mh_json_fail(err, e.err ? e.err : mh_error_new(MH_ERR_INTERNAL, "out of memory"));
    return -1;
  }
  size_t mark = out->len;
  int rc = mh_json_print(root, e.estimate, out);
  cJSON_Delete(root);
  if (rc) {
    out->len = mark;
    mh_json_fail(err, mh_error_new(MH_ERR_INTERNAL, "out of memory"));
  }
  return rc;
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
    .encode = mh_json_encode,
    .salvage_id = mh_json_salvage_id,
};
