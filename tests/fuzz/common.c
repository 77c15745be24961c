/* Helpers shared by the fuzz targets; see common.h. */
#include "common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static const uint8_t *cur_data;
static size_t cur_size;

void fuzz_set_input(const uint8_t *data, size_t size) {
  cur_data = data;
  cur_size = size;
}

/* The input as a C string literal, cut after 2000 bytes. */
static void print_input(void) {
  size_t n = cur_size < 2000 ? cur_size : 2000;
  fprintf(stderr, "  input (%zu bytes): \"", cur_size);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = cur_data[i];
    if (c == '"' || c == '\\') fprintf(stderr, "\\%c", c);
    else if (c >= 0x20 && c < 0x7f) fputc(c, stderr);
    else fprintf(stderr, "\\x%02x\"\"", c);
  }
  fprintf(stderr, "\"%s\n", n < cur_size ? "..." : "");
}

void fuzz_abort(void) {
  if (cur_data) print_input();
  abort();
}

bool fuzz_ignored(const char *id) {
  const char *list = getenv("MOONHOST_FUZZ_IGNORE");
  size_t n = strlen(id);
  for (const char *p = list; p && *p;) {
    size_t len = strcspn(p, ",");
    if (len == n && memcmp(p, id, n) == 0) return true;
    p += len + (p[len] == ',');
  }
  return false;
}

void fuzz_print_value(const char *label, const mh_value *v) {
  size_t len;
  mh_error *err = NULL;
  char *text = v ? fuzz_encode(&mh_codec_devframe, v, &len, &err) : NULL;
  if (text) fprintf(stderr, "  %s: %s (%s)\n", label, text, mh_value_type_name(v->type));
  else fprintf(stderr, "  %s: %s\n", label, v ? "<not encodable>" : "<NULL>");
  free(text);
  mh_error_free(err);
}

bool fuzz_same_bytes(const char *a, size_t alen, const char *b, size_t blen) {
  return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

char *fuzz_encode(const mh_codec *c, const mh_value *v, size_t *len, mh_error **err) {
  mh_buf out = MH_BUF_INIT;
  *err = NULL;
  if (c->encode(v, &out, err)) {
    FUZZ_CHECK(*err != NULL, "%s encode failed without setting an error", c->name);
    FUZZ_CHECK(out.len == 0, "%s encode failed but left %zu bytes in the buffer", c->name, out.len);
    mh_buf_free(&out);
    return NULL;
  }
  FUZZ_CHECK(*err == NULL, "%s encode succeeded but set an error", c->name);
  FUZZ_CHECK(mh_buf_terminate(&out) == 0, "out of memory");
  return mh_buf_steal(&out, len);
}

/* ---- normalization ---- */

static void normalize(mh_value *v, unsigned flags) {
  switch (v->type) {
  case MH_V_FLOAT:
    if (((flags & FUZZ_NORM_NONFINITE_NULL) && !isfinite(v->u.f)) ||
        ((flags & FUZZ_NORM_INF_NULL) && isinf(v->u.f))) {
      v->type = MH_V_NULL;
    } else if ((flags & FUZZ_NORM_NEGZERO_INT) && v->u.f == 0 && signbit(v->u.f)) {
      v->type = MH_V_INT;
      v->u.i = 0;
    }
    return;
  case MH_V_BYTES:
    if (flags & FUZZ_NORM_BYTES_NONFINITE_0)
      for (size_t i = 0; i < v->u.bytes.len; i++)
        if (!isfinite(v->u.bytes.items[i])) v->u.bytes.items[i] = 0;
    return;
  case MH_V_ARRAY:
  case MH_V_SET:
    for (size_t i = 0; i < v->u.arr.len; i++) normalize(v->u.arr.items[i], flags);
    return;
  case MH_V_OBJECT:
  case MH_V_MAP: {
    size_t out = 0;
    for (size_t i = 0; i < v->u.obj.len; i++) {
      mh_pair p = v->u.obj.items[i];
      if (v->type == MH_V_OBJECT && (flags & FUZZ_NORM_DROP_UNDEFINED) && p.val->type == MH_V_UNDEFINED) {
        mh_value_free(p.key);
        mh_value_free(p.val);
        continue;
      }
      normalize(p.key, flags);
      normalize(p.val, flags);
      v->u.obj.items[out++] = p;
    }
    v->u.obj.len = out;
    return;
  }
  default:
    return;
  }
}

mh_value *fuzz_normalized(const mh_value *v, unsigned flags) {
  mh_value *c = mh_value_copy(v);
  FUZZ_CHECK(c != NULL, "mh_value_copy returned NULL (out of memory?)");
  normalize(c, flags);
  return c;
}

/* ---- value operations ---- */

static char *canonical(const mh_value *v, size_t *len) {
  mh_buf b = MH_BUF_INIT;
  FUZZ_CHECK(mh_value_canonical(v, &b) == 0, "mh_value_canonical failed");
  if (!b.data) {
    FUZZ_CHECK(mh_buf_terminate(&b) == 0, "out of memory");
  }
  return mh_buf_steal(&b, len);
}

void fuzz_check_value_ops(const mh_value *v) {
  FUZZ_CHECK(mh_value_equal(v, v), "a value is not equal to itself");
  mh_value *c = mh_value_copy(v);
  FUZZ_CHECK(c != NULL, "mh_value_copy returned NULL");
  if (!mh_value_equal(v, c)) {
    fuzz_print_value("value", v);
    fuzz_print_value("copy", c);
    FUZZ_CHECK(false, "a value is not equal to its copy");
  }
  size_t l1, l2, l3;
  char *c1 = canonical(v, &l1), *c2 = canonical(v, &l2), *c3 = canonical(c, &l3);
  FUZZ_CHECK(fuzz_same_bytes(c1, l1, c2, l2), "canonical encoding is not deterministic");
  FUZZ_CHECK(fuzz_same_bytes(c1, l1, c3, l3), "canonical encoding of a copy differs");
  free(c1);
  free(c2);
  free(c3);
  mh_value_free(c);
}

void fuzz_check_canonical_agrees(const mh_value *a, const mh_value *b) {
  size_t la, lb;
  char *ca = canonical(a, &la), *cb = canonical(b, &lb);
  bool eq = mh_value_equal(a, b), same = fuzz_same_bytes(ca, la, cb, lb);
  if (eq != same) {
    fuzz_print_value("a", a);
    fuzz_print_value("b", b);
    FUZZ_CHECK(eq == same, "mh_value_equal says %s but the canonical bytes are %s", eq ? "equal" : "different",
               same ? "the same" : "different");
  }
  free(ca);
  free(cb);
}

void fuzz_check_same(const mh_value *a, const mh_value *b, const char *what) {
  if (!mh_value_equal(a, b)) {
    fuzz_print_value("expected", a);
    fuzz_print_value("got", b);
    FUZZ_CHECK(false, "%s: the values differ", what);
  }
  fuzz_check_canonical_agrees(a, b);
}

int fuzz_depth(const mh_value *v) {
  int d = 0, sub;
  switch (v->type) {
  case MH_V_ARRAY:
  case MH_V_SET:
    for (size_t i = 0; i < v->u.arr.len; i++)
      if ((sub = fuzz_depth(v->u.arr.items[i])) > d) d = sub;
    return d + 1;
  case MH_V_OBJECT:
  case MH_V_MAP:
    for (size_t i = 0; i < v->u.obj.len; i++) {
      if ((sub = fuzz_depth(v->u.obj.items[i].key)) > d) d = sub;
      if ((sub = fuzz_depth(v->u.obj.items[i].val)) > d) d = sub;
    }
    return d + 1;
  default:
    return 0;
  }
}

static bool clean_text(const char *s, size_t len) { return !memchr(s, 0, len) && mh_utf8_valid(s, len); }
static bool clean_cstr(const char *s) { return !s || mh_utf8_valid(s, strlen(s)); }

bool fuzz_strings_clean(const mh_value *v) {
  switch (v->type) {
  case MH_V_STRING:
  case MH_V_BIGINT:
  case MH_V_URL: return clean_text(v->u.str.ptr, v->u.str.len);
  case MH_V_REGEXP: return clean_cstr(v->u.re.source) && clean_cstr(v->u.re.flags);
  case MH_V_ERROR: return clean_cstr(v->u.err.name) && clean_cstr(v->u.err.message);
  case MH_V_ARRAY:
  case MH_V_SET:
    for (size_t i = 0; i < v->u.arr.len; i++)
      if (!fuzz_strings_clean(v->u.arr.items[i])) return false;
    return true;
  case MH_V_OBJECT:
  case MH_V_MAP:
    for (size_t i = 0; i < v->u.obj.len; i++)
      if (!fuzz_strings_clean(v->u.obj.items[i].key) || !fuzz_strings_clean(v->u.obj.items[i].val)) return false;
    return true;
  default: return true;
  }
}

/* ---- structured-clone round trip ---- */

static void check_refusal(const mh_codec *c, const mh_error *err) {
  FUZZ_CHECK(err != NULL, "%s decode failed without an error", c->name);
  FUZZ_CHECK(strcmp(err->code, MH_ERR_BAD_REQUEST) == 0 || strcmp(err->code, MH_ERR_INTERNAL) == 0,
             "%s decode failed with code %s", c->name, err->code);
}

void fuzz_check_salvage_id(const mh_codec *c, const char *in, size_t size) {
  bool reply = false;
  mh_value *id = c->salvage_id(in, size, &reply);
  FUZZ_CHECK(!id || id->type == MH_V_STRING || id->type == MH_V_INT || id->type == MH_V_FLOAT,
             "%s: salvage_id gave a %s", c->name, mh_value_type_name(id->type));
  mh_value_free(id);
}

mh_value *fuzz_records_round_trip(const mh_codec *c, const char *in, size_t size, int depth) {
  const mh_codec_limits lim = {depth};
  fuzz_check_salvage_id(c, in, size);

  mh_error *err = NULL, *err_free = NULL;
  mh_value *v1 = c->decode(in, size, &lim, &err);
  mh_value *unlimited = c->decode(in, size, NULL, &err_free);
  if (!v1) {
    check_refusal(c, err);
    mh_error_free(err);
    mh_error_free(err_free);
    mh_value_free(unlimited);
    return NULL;
  }
  FUZZ_CHECK(err == NULL, "%s decode succeeded but set an error", c->name);
  FUZZ_CHECK(unlimited != NULL, "%s decode without a depth limit failed (%s) where the limit of %d passed",
             c->name, err_free ? err_free->message : "?", depth);
  fuzz_check_same(v1, unlimited, "decode with and without the depth limit");
  mh_value_free(unlimited);
  FUZZ_CHECK(fuzz_depth(v1) <= depth, "decoded value nests %d deep, limit %d", fuzz_depth(v1), depth);
  FUZZ_CHECK(fuzz_strings_clean(v1), "a decoded string is not UTF-8 or holds a NUL byte");
  fuzz_check_value_ops(v1);

  /* Everything the decoder produces, the encoder can write. */
  size_t l1, lw, l2;
  char *t1 = fuzz_encode(c, v1, &l1, &err);
  FUZZ_CHECK(t1 != NULL, "%s: encoding a decoded value failed: %s", c->name, err ? err->message : "?");
  FUZZ_CHECK(c->detect(t1, l1) && mh_codec_detect(t1, l1) == c, "%s: our own encoding is not detected as %s",
             c->name, c->name);
  mh_value *v2 = c->decode(t1, l1, &lim, &err);
  if (!v2 && err && strstr(err->message, "expands too much")) {
    /* The input shared records more densely than we write them (we never
     * share containers), or padded itself with unused records: the bigger
     * tree of the same frame may be over budget. Not a round-trip error. */
    mh_error_free(err);
    free(t1);
    return v1;
  }
  FUZZ_CHECK(v2 != NULL, "%s: decoding our own encoding failed: %s\n  text: %s", c->name, err ? err->message : "?",
             t1);
  /* JSON writes NaN and +-Infinity as null; a typed array reads null as 0. */
  mh_value *want = fuzz_normalized(v1, FUZZ_NORM_NONFINITE_NULL | FUZZ_NORM_BYTES_NONFINITE_0);
  fuzz_check_same(want, v2, "decode(encode(decode(input)))");
  char *tw = fuzz_encode(c, want, &lw, &err);
  char *t2 = fuzz_encode(c, v2, &l2, &err);
  FUZZ_CHECK(tw && t2, "%s: encoding failed", c->name);
  FUZZ_CHECK(fuzz_same_bytes(tw, lw, t2, l2), "%s: equal values encode differently\n  %s\n  %s", c->name, tw, t2);
  free(t1);
  free(tw);
  free(t2);
  mh_value_free(want);
  mh_value_free(v2);
  return v1;
}
