/* JSON decoding: cJSON parses the text and its tree is mapped onto mh_value
 * (json_decode.h). The checks cJSON does not make (NUL bytes, UTF-8, our
 * nesting limit) are made here, the same ones whether a whole text is
 * built or only some members of it. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/json_decode.h"
#include "codec/json_scan.h"

/* Largest integer magnitude a double (and a JS number) holds exactly. */
#define MH_JSON_MAX_SAFE 9007199254740992.0 /* 2^53 */

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

static void mh_json_fail(mh_error **err, mh_error *e) {
  if (err) *err = e;
  else mh_error_free(e);
}

static mh_value *mh_json_oom(mh_json_dec *d) {
  mh_json_fail(d->err, mh_error_new(MH_ERR_INTERNAL, "out of memory"));
  return NULL;
}

/* A node's type bits without cJSON's flags: what cJSON_IsString and the
 * others test, without a library call each (~50 instructions a node). */
static inline int mh_json_kind(const cJSON *j) { return j->type & 0xFF; }

mh_value *mh_json_number(double x) {
  /* Comparisons with NaN are false, and within +-2^53 the cast is exact
   * for integers. -0 stays a float: an integer would lose its sign. */
  if (x >= -MH_JSON_MAX_SAFE && x <= MH_JSON_MAX_SAFE) {
    int64_t i = (int64_t)x;
    if ((double)i == x && (i != 0 || !signbit(x))) return mh_value_int(i);
  }
  return mh_value_float(x);
}

/* Checks a decoded string; false sets the error. */
static bool mh_json_check_utf8(const char *s, size_t len, mh_json_dec *d) {
  if (d->text_utf8 || mh_utf8_valid(s, len)) return true;
  mh_json_fail(d->err, mh_error_new(MH_ERR_BAD_REQUEST, "invalid UTF-8 in string"));
  return false;
}

/* An object member's key checked as a string (cJSON's keys are never NULL
 * in a parsed tree; "" stands in if one were). */
static inline bool mh_json_check_key(const cJSON *c, mh_json_dec *d) {
  const char *k = c->string ? c->string : "";
  return d->text_utf8 || mh_json_check_utf8(k, strlen(k), d);
}

/* depth counts the containers around a node, the top-level one at 1. */
static bool mh_json_depth_ok(int depth, mh_json_dec *d) {
  if (d->max_depth <= 0 || depth <= d->max_depth) return true;
  mh_json_fail(d->err, mh_error_new(MH_ERR_BAD_REQUEST, "nesting deeper than %d", d->max_depth));
  return false;
}

static mh_value *mh_json_malformed(mh_json_dec *d) {
  mh_json_fail(d->err, mh_error_new(MH_ERR_BAD_REQUEST, "malformed JSON"));
  return NULL;
}

static mh_value *mh_json_from_cjson(const cJSON *j, int depth, mh_json_dec *d);

static mh_value *mh_json_container(const cJSON *j, int depth, mh_json_dec *d) {
  if (!mh_json_depth_ok(depth, d)) return NULL;
  bool is_obj = mh_json_kind(j) == cJSON_Object;
  size_t n = 0;
  for (const cJSON *c = j->child; c; c = c->next) n++;
  mh_value *v = mh_value_container(is_obj ? MH_V_OBJECT : MH_V_ARRAY, n); /* one block with its items */
  if (!v) return mh_json_oom(d);
  for (const cJSON *c = j->child; c; c = c->next) {
    if (is_obj && !mh_json_check_key(c, d)) goto fail;
    mh_value *item = mh_json_from_cjson(c, depth, d);
    if (!item) goto fail;
    /* Room for all n was made above, so the slots are filled in place.
     * Duplicate keys are kept in order; readers let the last one win. */
    if (!is_obj) {
      v->u.arr.items[v->u.arr.len++] = item;
      continue;
    }
    mh_value *key = mh_value_cstring(c->string ? c->string : "");
    if (!key) {
      mh_value_free(item);
      mh_json_oom(d);
      goto fail;
    }
    v->u.obj.items[v->u.obj.len++] = (mh_pair){key, item};
  }
  return v;
fail:
  mh_value_free(v);
  return NULL;
}

/* cJSON itself refuses more than CJSON_NESTING_LIMIT levels, which bounds
 * the recursion here and in mh_json_check. */
static mh_value *mh_json_from_cjson(const cJSON *j, int depth, mh_json_dec *d) {
  mh_value *v;
  switch (mh_json_kind(j)) {
  case cJSON_NULL: v = mh_value_null(); break;
  case cJSON_True: v = mh_value_bool(true); break;
  case cJSON_False: v = mh_value_bool(false); break;
  case cJSON_Number: v = mh_json_number(j->valuedouble); break;
  case cJSON_String: {
    size_t len = strlen(j->valuestring);
    if (!mh_json_check_utf8(j->valuestring, len, d)) return NULL;
    v = mh_value_string(j->valuestring, len);
    break;
  }
  case cJSON_Array:
  case cJSON_Object: return mh_json_container(j, depth + 1, d);
  default: return mh_json_malformed(d);
  }
  return v ? v : mh_json_oom(d);
}

/* What building j would check (nesting, UTF-8), in the order building
 * checks it, without building anything. */
static bool mh_json_check(const cJSON *j, int depth, mh_json_dec *d) {
  switch (mh_json_kind(j)) {
  case cJSON_NULL:
  case cJSON_True:
  case cJSON_False:
  case cJSON_Number: return true;
  case cJSON_String: return d->text_utf8 || mh_json_check_utf8(j->valuestring, strlen(j->valuestring), d);
  case cJSON_Array:
  case cJSON_Object: break;
  default: return mh_json_malformed(d) != NULL;
  }
  if (!mh_json_depth_ok(++depth, d)) return false;
  bool is_obj = mh_json_kind(j) == cJSON_Object;
  for (const cJSON *c = j->child; c; c = c->next)
    if ((is_obj && !mh_json_check_key(c, d)) || !mh_json_check(c, depth, d)) return false;
  return true;
}

/* ---- the text ------------------------------------------------------------ */

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

/* Whether the text is ASCII without NUL bytes or backslashes, sixteen and
 * then eight bytes at a time while none is one (the usual "has a zero byte"
 * tests). Such a text has no NUL, raw or escaped, and is UTF-8: the three
 * checks of mh_json_check_text in one pass, for most bodies. */
static bool mh_json_text_plain(const char *s, size_t len) {
  const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
  size_t i = mh_json_blocks_without(s, len, 1, '\\', '\\');
  if (len - i >= 16) return false; /* a block with a NUL, a backslash or a high bit */
  for (; len - i >= 8; i += 8) {
    uint64_t w, bslash;
    memcpy(&w, s + i, 8);
    bslash = w ^ (ones * '\\');
    if ((w | ((w - ones) & ~w) | ((bslash - ones) & ~bslash)) & highs) return false;
  }
  for (; i < len; i++)
    if (s[i] == '\0' || s[i] == '\\' || (unsigned char)s[i] >= 0x80) return false;
  return true;
}

/* The checks of the whole text: NUL bytes, then whether it is UTF-8 (which
 * sets d->text_utf8; a text that is not is checked string by string). */
static bool mh_json_check_text(const char *data, size_t len, mh_json_dec *d) {
  if (mh_json_text_plain(data, len)) {
    d->text_utf8 = true;
    return true;
  }
  /* cJSON copies a raw NUL byte into a string and strlen then cuts it there:
   * "demo:echo\0ignored" would call demo:echo. Refuse it like the escape. */
  const char *raw_nul = memchr(data, 0, len);
  if (raw_nul) {
    mh_json_fail(d->err, mh_error_new(MH_ERR_BAD_REQUEST, "NUL byte in the frame at byte %td", raw_nul - data));
    return false;
  }
  ptrdiff_t nul = mh_json_find_escaped_nul(data, len);
  if (nul >= 0) {
    mh_json_fail(d->err, mh_error_new(MH_ERR_BAD_REQUEST, "unsupported \\u0000 in string at byte %td", nul));
    return false;
  }
  d->text_utf8 = mh_utf8_valid(data, len);
  return true;
}

/* cJSON's tree of the text once every check of the text passed; NULL with
 * the error otherwise. */
static cJSON *mh_json_parse(const char *data, size_t len, const mh_codec_limits *lim, mh_json_dec *d) {
  d->max_depth = lim && lim->max_depth > 0 ? lim->max_depth : 0;
  d->text_utf8 = false;
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
      mh_json_fail(d->err, mh_error_new(MH_ERR_BAD_REQUEST, "nesting deeper than %d", limit));
    else
      mh_json_fail(d->err, mh_error_new(MH_ERR_BAD_REQUEST, "malformed JSON at byte %zu", at));
    return NULL;
  }
  /* cJSON stops after the first value; anything but whitespace after it is
   * trailing garbage. */
  size_t at = (size_t)(end - data);
  while (at < len && mh_json_is_space(data[at])) at++;
  if (at < len) {
    cJSON_Delete(root);
    mh_json_fail(d->err, mh_error_new(MH_ERR_BAD_REQUEST, "malformed JSON at byte %zu", at));
    return NULL;
  }
  if (!mh_json_check_text(data, len, d)) {
    cJSON_Delete(root);
    return NULL;
  }
  return root;
}

mh_value *mh_json_decode(const char *data, size_t len, const mh_codec_limits *lim, mh_error **err) {
  mh_json_dec d = {.err = err};
  cJSON *root = mh_json_parse(data, len, lim, &d);
  if (!root) return NULL;
  mh_value *v = mh_json_from_cjson(root, 0, &d);
  cJSON_Delete(root);
  return v;
}

/* ---- members of an object -------------------------------------------------- */

/* strcmp's answer for the short keys asked for (an envelope asks for ten
 * of one letter), without a library call per key tried. */
static inline bool mh_json_key_is(const char *k, const char *want) {
  while (*k && *k == *want) k++, want++;
  return *k == *want;
}

/* The members of obj (the top level, at depth 1) in order: those under one
 * of keys built (a later duplicate replacing the earlier, so each member is
 * built at most once), the others checked. */
static int mh_json_take_members(const cJSON *obj, const char *const *keys, mh_value **vals, size_t n,
                                mh_json_dec *d) {
  if (!mh_json_depth_ok(1, d)) return -1;
  for (const cJSON *c = obj->child; c; c = c->next) {
    if (!mh_json_check_key(c, d)) return -1;
    const char *k = c->string ? c->string : "";
    size_t i = 0;
    while (i < n && !mh_json_key_is(k, keys[i])) i++;
    if (i == n) {
      if (!mh_json_check(c, 1, d)) return -1;
      continue;
    }
    mh_value *v = mh_json_from_cjson(c, 1, d);
    if (!v) return -1;
    mh_value_free(vals[i]);
    vals[i] = v;
  }
  return 1;
}

int mh_json_decode_members(const char *data, size_t len, const mh_codec_limits *lim, const char *const *keys,
                           mh_value **vals, size_t n, mh_error **err) {
  for (size_t i = 0; i < n; i++) vals[i] = NULL;
  mh_json_dec d = {.err = err};
  cJSON *root = mh_json_parse(data, len, lim, &d);
  if (!root) return -1;
  int rc = mh_json_kind(root) == cJSON_Object ? mh_json_take_members(root, keys, vals, n, &d)
                                               : (mh_json_check(root, 0, &d) ? 0 : -1);
  cJSON_Delete(root);
  if (rc < 0)
    for (size_t i = 0; i < n; i++) {
      mh_value_free(vals[i]);
      vals[i] = NULL;
    }
  return rc;
}
