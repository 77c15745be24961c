/* JSON encoding straight from a value tree into the output buffer, as
 * JSON.stringify would send it. The text is byte for byte what printing a
 * cJSON tree of the same value gave before (cJSON's escapes, unformatted),
 * without building that tree: no node per value, no second pass, no copy.
 * On any failure the buffer is put back to its length on entry. */
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"
#include "codec/json_encode.h"
#include "codec/json_scan.h"
#include "core/js_types.h"

typedef struct mh_json_out {
  mh_buf *b;
  mh_error *err; /* the first failure; NULL while all is well */
} mh_json_out;

static bool mh_json_oom(mh_json_out *o) {
  if (!o->err) o->err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
  return false;
}

static bool mh_json_refuse(mh_json_out *o, const char *msg) {
  if (!o->err) o->err = mh_error_new(MH_ERR_INTERNAL, "%s", msg);
  return false;
}

/* Most appends are a few bytes into room the buffer has: copied here, the
 * growing left to mh_buf_append (keeps a byte spare for a NUL, as it does). */
static inline bool mh_json_put(mh_json_out *o, const char *s, size_t len) {
  mh_buf *b = o->b;
  if (b->cap - b->len > len) {
    memcpy(b->data + b->len, s, len);
    b->len += len;
    return true;
  }
  return mh_buf_append(b, s, len) == 0 || mh_json_oom(o);
}

static inline bool mh_json_put_char(mh_json_out *o, char c) {
  mh_buf *b = o->b;
  if (b->cap - b->len > 1) {
    b->data[b->len++] = c;
    return true;
  }
  return mh_json_put(o, &c, 1);
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

static bool mh_json_put_double(mh_json_out *o, double x) {
  char buf[40];
  mh_json_format_double(x, buf, sizeof buf);
  return mh_json_put(o, buf, strlen(buf));
}

/* Decimal digits of an int64 (all of them: a double would round beyond 2^53). */
static bool mh_json_put_int(mh_json_out *o, int64_t i) {
  char buf[24], *p = buf + sizeof buf;
  uint64_t u = i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
  do {
    *--p = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (i < 0) *--p = '-';
  return mh_json_put(o, p, (size_t)(buf + sizeof buf - p));
}

/* A string without NUL bytes, quoted with cJSON's escapes: the short forms
 * for \b \f \n \r \t, \u00XX for the other control characters, everything
 * else (UTF-8 included) as it is. Runs of plain bytes go in one append. */
static bool mh_json_put_escaped(mh_json_out *o, const char *s, size_t len) {
  if (!mh_json_put_char(o, '"')) return false;
  size_t run = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    if (!mh_json_put(o, s + run, i - run)) return false;
    char esc[8];
    size_t n = 2;
    esc[0] = '\\';
    switch (c) {
    case '"': esc[1] = '"'; break;
    case '\\': esc[1] = '\\'; break;
    case '\b': esc[1] = 'b'; break;
    case '\f': esc[1] = 'f'; break;
    case '\n': esc[1] = 'n'; break;
    case '\r': esc[1] = 'r'; break;
    case '\t': esc[1] = 't'; break;
    default: n = (size_t)snprintf(esc, sizeof esc, "\\u%04x", c); break;
    }
    if (!mh_json_put(o, esc, n)) return false;
    run = i + 1;
  }
  return mh_json_put(o, s + run, len - run) && mh_json_put_char(o, '"');
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

/* Printable ASCII but '"' and '\\': bytes that go out as they are. */
static inline bool mh_json_plain_byte(unsigned char c) { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\'; }

/* How many bytes at the start of s are plain: sixteen at a time while they
 * can be, then eight at a time while no byte of the eight is a high bit, a
 * byte below 0x20, a '"' or a '\\' (the usual "has a zero byte" tests;
 * exact, as no byte borrows when none is below what is subtracted). */
static size_t mh_json_plain_prefix(const char *s, size_t len) {
  const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
  size_t i = mh_json_blocks_without(s, len, 0x20, '"', '\\');
  for (; len - i >= 8; i += 8) {
    uint64_t w, quote, bslash;
    memcpy(&w, s + i, 8);
    quote = w ^ (ones * '"');
    bslash = w ^ (ones * '\\');
    if ((w | ((w - ones * 0x20) & ~w) | ((quote - ones) & ~quote) | ((bslash - ones) & ~bslash)) & highs) break;
  }
  while (i < len && mh_json_plain_byte((unsigned char)s[i])) i++;
  return i;
}

/* A plain string (see above) is valid UTF-8 without NUL bytes or anything
 * to escape: most keys and strings are, and go out without the checks and
 * the escaping scan (~200 instructions of a small reply). */
static bool mh_json_put_plain(mh_json_out *o, const char *s, size_t len) {
  return mh_json_put_char(o, '"') && mh_json_put(o, s, len) && mh_json_put_char(o, '"');
}

static bool mh_json_put_string(mh_json_out *o, const char *s, size_t len) {
  if (mh_json_plain_prefix(s, len) == len) return mh_json_put_plain(o, s, len);
  if (!mh_utf8_valid(s, len)) return mh_json_refuse(o, "invalid UTF-8 in string");
  if (!memchr(s, '\0', len)) return mh_json_put_escaped(o, s, len);
  /* A string with NUL bytes keeps the \u00XX form for every control character. */
  char *lit = mh_json_quote_with_nul(s, len);
  if (!lit) return mh_json_oom(o);
  bool ok = mh_json_put(o, lit, strlen(lit));
  free(lit);
  return ok;
}

static bool mh_json_put_cstring(mh_json_out *o, const char *s) {
  return mh_json_put_string(o, s ? s : "", s ? strlen(s) : 0);
}

static bool mh_json_put_value(mh_json_out *o, const mh_value *v);

static bool mh_json_put_array(mh_json_out *o, const mh_value *v) {
  if (!mh_json_put_char(o, '[')) return false;
  for (size_t i = 0; i < v->u.arr.len; i++) {
    const mh_value *item = v->u.arr.items[i];
    if (i && !mh_json_put_char(o, ',')) return false;
    /* JSON.stringify writes undefined array slots as null. */
    bool ok = item && item->type == MH_V_UNDEFINED ? mh_json_put(o, "null", 4) : mh_json_put_value(o, item);
    if (!ok) return false;
  }
  return mh_json_put_char(o, ']');
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

/* The first bytes are compared before memcmp: keys mostly differ there. */
static inline bool mh_json_same_key(const mh_value *a, const mh_value *b) {
  return a && b && a->type == MH_V_STRING && b->type == MH_V_STRING && a->u.str.len == b->u.str.len &&
         (a->u.str.len == 0 ||
          (a->u.str.ptr[0] == b->u.str.ptr[0] && memcmp(a->u.str.ptr, b->u.str.ptr, a->u.str.len) == 0));
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

static bool mh_json_put_key(mh_json_out *o, const char *k, size_t klen) {
  if (mh_json_plain_prefix(k, klen) == klen) return mh_json_put_plain(o, k, klen);
  if (!mh_utf8_valid(k, klen)) return mh_json_refuse(o, "invalid UTF-8 in string");
  if (memchr(k, '\0', klen)) return mh_json_refuse(o, "object key with a NUL byte cannot be sent as JSON");
  return mh_json_put_escaped(o, k, klen);
}

/* One "key":value member; *first says whether a comma goes before it. */
static bool mh_json_put_member(mh_json_out *o, const mh_value *key, const mh_value *val, bool *first) {
  if (val && val->type == MH_V_UNDEFINED) return true; /* JSON.stringify omits it */
  const char *k = key && key->type == MH_V_STRING ? key->u.str.ptr : "";
  size_t klen = key && key->type == MH_V_STRING ? key->u.str.len : 0;
  if (!*first && !mh_json_put_char(o, ',')) return false;
  *first = false;
  return mh_json_put_key(o, k, klen) && mh_json_put_char(o, ':') && mh_json_put_value(o, val);
}

static bool mh_json_put_object(mh_json_out *o, const mh_value *v) {
  size_t n = v->u.obj.len;
  size_t small[MH_JSON_SMALL_OBJECT];
  size_t *use = small;
  if (n <= MH_JSON_SMALL_OBJECT) {
    mh_json_dedup_small(v, use);
  } else if (!(use = malloc(n * sizeof *use)) || mh_json_dedup(v, use)) {
    free(use);
    return mh_json_oom(o);
  }
  bool first = true, ok = mh_json_put_char(o, '{');
  for (size_t i = 0; ok && i < n; i++)
    if (use[i] != SIZE_MAX) ok = mh_json_put_member(o, v->u.obj.items[i].key, v->u.obj.items[use[i]].val, &first);
  if (use != small) free(use);
  return ok && mh_json_put_char(o, '}');
}

/* An Error travels as {name, message} so error replies stay readable
 * (JSON.stringify would give {}). */
static bool mh_json_put_error(mh_json_out *o, const mh_value *v) {
  return mh_json_put(o, "{\"name\":", 8) && mh_json_put_cstring(o, v->u.err.name ? v->u.err.name : "Error") &&
         mh_json_put(o, ",\"message\":", 11) && mh_json_put_cstring(o, v->u.err.message) && mh_json_put_char(o, '}');
}

/* A typed array as JSON.stringify writes it: {"0": v0, "1": v1, ...}. */
static bool mh_json_put_bytes(mh_json_out *o, const mh_value *v) {
  if (!mh_json_put_char(o, '{')) return false;
  for (size_t i = 0; i < v->u.bytes.len; i++) {
    char key[32];
    int n = snprintf(key, sizeof key, "%s\"%zu\":", i ? "," : "", i);
    if (!mh_json_put(o, key, (size_t)n) || !mh_json_put_double(o, v->u.bytes.items[i])) return false;
  }
  return mh_json_put_char(o, '}');
}

static bool mh_json_put_date(mh_json_out *o, double t) {
  char buf[40];
  if (!mh_js_date_format(t, buf)) return mh_json_put(o, "null", 4);
  return mh_json_put_escaped(o, buf, strlen(buf));
}

static bool mh_json_put_value(mh_json_out *o, const mh_value *v) {
  switch (v ? v->type : MH_V_UNDEFINED) {
  case MH_V_UNDEFINED: /* at top level; containers handle their own */
  case MH_V_NULL:
    return mh_json_put(o, "null", 4);
  case MH_V_BOOL:
    return v->u.b ? mh_json_put(o, "true", 4) : mh_json_put(o, "false", 5);
  case MH_V_INT:
    return mh_json_put_int(o, v->u.i);
  case MH_V_FLOAT:
    return mh_json_put_double(o, v->u.f);
  case MH_V_STRING:
  case MH_V_URL: /* its href, as JSON.stringify writes a URL */
    return mh_json_put_string(o, v->u.str.ptr, v->u.str.len);
  case MH_V_DATE:
    return mh_json_put_date(o, v->u.f);
  case MH_V_BIGINT:
    return mh_json_refuse(o, "BigInt cannot be sent as JSON");
  case MH_V_ARRAY:
    return mh_json_put_array(o, v);
  case MH_V_OBJECT:
    return mh_json_put_object(o, v);
  case MH_V_MAP:    /* JSON.stringify(new Map(...)) is {} */
  case MH_V_SET:    /* and so is a Set */
  case MH_V_REGEXP: /* and a RegExp */
    return mh_json_put(o, "{}", 2);
  case MH_V_ERROR:
    return mh_json_put_error(o, v);
  case MH_V_BYTES:
    return mh_json_put_bytes(o, v);
  }
  return mh_json_refuse(o, "unknown value type");
}

int mh_json_encode_value(const mh_value *v, mh_buf *out, mh_error **err) {
  mh_json_out o = {out, NULL};
  size_t mark = out->len;
  /* room for a typical reply up front; a failure here is found again below */
  (void)mh_buf_reserve(out, 256);
  if (mh_json_put_value(&o, v)) return 0;
  out->len = mark;
  mh_error *e = o.err ? o.err : mh_error_new(MH_ERR_INTERNAL, "out of memory");
  if (err) *err = e;
  else mh_error_free(e);
  return -1;
}
