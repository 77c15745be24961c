/* mh_orpc_encode writes a value with nothing to mark straight out (the
 * plain path) and builds the {json, meta} tree for the rest (the general
 * path, mh_orpc_encode_marked). Both must give the same bytes, or the same
 * error with the buffer left as it was: checked here over a corpus of plain
 * and special values, nested, with duplicate keys, escapes and odd numbers. */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "values.h"
#include "codec/orpc_serial.h"

/* ---- building values ---- */

static mh_value *as_set(mh_value *a) {
  a->type = MH_V_SET;
  return a;
}

/* An OBJECT from n (key, value) pairs, duplicates kept as a decoder keeps them. */
static mh_value *obj(int n, ...) {
  mh_value *o = mh_value_new(MH_V_OBJECT);
  va_list ap;
  va_start(ap, n);
  for (int i = 0; i < n; i++) {
    const char *k = va_arg(ap, const char *);
    mh_value_obj_append(o, k, strlen(k), va_arg(ap, mh_value *));
  }
  va_end(ap);
  return o;
}

static mh_value *str(const char *s, size_t len) { return mh_value_string(s, len); }
#define S(lit) str(lit, sizeof lit - 1)

static mh_value *bytes(int n, ...) {
  mh_value *y = mh_value_new(MH_V_BYTES);
  y->u.bytes.items = malloc((size_t)n * sizeof(double));
  va_list ap;
  va_start(ap, n);
  for (int i = 0; i < n; i++) y->u.bytes.items[i] = va_arg(ap, double);
  va_end(ap);
  y->u.bytes.len = (size_t)n;
  return y;
}

static mh_value *map1(mh_value *k, mh_value *v) {
  mh_value *m = mh_value_new(MH_V_MAP);
  mh_value_map_append(m, k, v);
  return m;
}

/* 20 keys (past the encoder's small-object path), "k3" and "k7" twice. */
static mh_value *wide_object(void) {
  mh_value *o = mh_value_new(MH_V_OBJECT);
  for (int i = 0; i < 20; i++) {
    char k[8];
    snprintf(k, sizeof k, "k%d", i == 15 ? 3 : i == 18 ? 7 : i);
    mh_value_obj_append(o, k, strlen(k), mh_value_int(i));
  }
  return o;
}

/* ---- comparing the paths ---- */

/* Encodes v both ways after the same prefix; true when the results agree
 * (and the plain test says want_plain). Takes v. */
static bool same_both_ways(mh_value *v, bool want_plain) {
  mh_buf a = MH_BUF_INIT, b = MH_BUF_INIT;
  mh_error *ea = NULL, *eb = NULL;
  mh_buf_append(&a, "pre", 3);
  mh_buf_append(&b, "pre", 3);
  int ra = mh_orpc_encode(v, &a, &ea), rb = mh_orpc_encode_marked(v, &b, &eb);
  bool plain = v && mh_orpc_plain(v);
  bool ok = ra == rb && a.len == b.len && memcmp(a.data, b.data, a.len) == 0 && !ea == !eb &&
            (!ea || (strcmp(ea->code, eb->code) == 0 && strcmp(ea->message, eb->message) == 0)) && plain == want_plain;
  if (!ok) {
    fprintf(stderr, "  plain %d (want %d), rc %d/%d\n  encode: %.*s %s\n  marked: %.*s %s\n", plain, want_plain, ra, rb,
            (int)a.len, a.data, ea ? ea->message : "", (int)b.len, b.data, eb ? eb->message : "");
  }
  mh_error_free(ea);
  mh_error_free(eb);
  mh_buf_free(&a);
  mh_buf_free(&b);
  mh_value_free(v);
  return ok;
}

static void test_plain_scalars(void) {
  CHECK(same_both_ways(mh_value_null(), true));
  CHECK(same_both_ways(mh_value_bool(true), true));
  CHECK(same_both_ways(mh_value_bool(false), true));
  CHECK(same_both_ways(mh_value_int(0), true));
  CHECK(same_both_ways(mh_value_int(-1), true));
  CHECK(same_both_ways(mh_value_int(INT64_MAX), true));
  CHECK(same_both_ways(mh_value_int(INT64_MIN), true));
  CHECK(same_both_ways(mh_value_int(9007199254740993), true)); /* past 2^53: all digits */
  CHECK(same_both_ways(mh_value_float(0.1 + 0.2), true));
  CHECK(same_both_ways(mh_value_float(1e300), true));
  CHECK(same_both_ways(mh_value_float(5e-324), true));
  CHECK(same_both_ways(mh_value_float(-0.0), true));
  CHECK(same_both_ways(mh_value_float(INFINITY), true)); /* null, unmarked, both ways */
  CHECK(same_both_ways(mh_value_float(-INFINITY), true));
  CHECK(same_both_ways(S(""), true));
  CHECK(same_both_ways(S("abcdefghijklmnop"), true));
  CHECK(same_both_ways(S("h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80"), true));
  CHECK(same_both_ways(S("q\"b\\s/\n\r\t\b\f\x01\x1f\x7f"), true));
  CHECK(same_both_ways(S("nul\0inside\n"), true));
  CHECK(same_both_ways(mh_value_error("TypeError", "x is \"bad\""), true));
  CHECK(same_both_ways(mh_value_error(NULL, NULL), true));
  CHECK(same_both_ways(bytes(3, 0.0, 255.0, 0.5), true));
  CHECK(same_both_ways(bytes(2, NAN, -0.0), true)); /* a typed array's NaN is no mark */
  CHECK(same_both_ways(mh_value_new(MH_V_BYTES), true));
}

static void test_plain_containers(void) {
  CHECK(same_both_ways(mh_value_new(MH_V_ARRAY), true));
  CHECK(same_both_ways(mh_value_new(MH_V_OBJECT), true));
  CHECK(same_both_ways(arr(2, mh_value_int(123), S("abcdefghijklmnop")), true)); /* bench/'s echo */
  CHECK(same_both_ways(arr(3, arr(0), arr(1, arr(0)), obj(0)), true));
  CHECK(same_both_ways(obj(3, "a", mh_value_int(1), "b", arr(1, mh_value_float(INFINITY)), "c", obj(0)), true));
  CHECK(same_both_ways(obj(3, "a", mh_value_int(1), "b", mh_value_int(2), "a", mh_value_int(3)), true)); /* first place, last value */
  CHECK(same_both_ways(obj(2, "k\xc3\xa9y \"q\"\n", S("v"), "\xe2\x9c\x93", mh_value_null()), true));
  CHECK(same_both_ways(wide_object(), true));
  CHECK(same_both_ways(obj(1, "deep", arr(1, obj(1, "x", arr(2, mh_value_bool(true), bytes(1, 1.0))))), true));
  /* a key with a NUL byte cannot be sent: the same error both ways */
  mh_value *o = mh_value_new(MH_V_OBJECT);
  mh_value_obj_append(o, "a\0b", 3, mh_value_int(1));
  CHECK(same_both_ways(o, true));
}

static void test_plain_failures(void) {
  CHECK(same_both_ways(S("\xff"), true)); /* not UTF-8 */
  CHECK(same_both_ways(arr(2, mh_value_int(1), S("bad \xc3")), true));
  CHECK(same_both_ways(obj(1, "\xed\xa0\x80", mh_value_int(1)), true)); /* a surrogate in a key */
}

static void test_special_values(void) {
  CHECK(same_both_ways(NULL, false));
  CHECK(same_both_ways(mh_value_undefined(), false));
  CHECK(same_both_ways(mh_value_float(NAN), false));
  CHECK(same_both_ways(mh_value_date(0), false));
  CHECK(same_both_ways(mh_value_date(NAN), false));
  CHECK(same_both_ways(mh_value_bigint("-123456789012345678901234567890", 31), false));
  CHECK(same_both_ways(mh_value_url("https://example.com/", 20), false));
  CHECK(same_both_ways(mh_value_regexp("a+/b", "gi"), false));
  CHECK(same_both_ways(as_set(arr(2, mh_value_int(1), mh_value_undefined())), false));
  CHECK(same_both_ways(map1(S("k"), mh_value_date(1)), false));
  CHECK(same_both_ways(arr(3, mh_value_int(1), mh_value_undefined(), S("x")), false));
  CHECK(same_both_ways(obj(2, "a", mh_value_undefined(), "b", mh_value_int(1)), false));
  /* an undefined duplicate: the general path drops it before choosing */
  CHECK(same_both_ways(obj(2, "a", mh_value_int(1), "a", mh_value_undefined()), false));
  CHECK(same_both_ways(obj(3, "a", mh_value_undefined(), "b", mh_value_int(1), "a", mh_value_int(2)), false));
  CHECK(same_both_ways(obj(1, "x", arr(1, obj(1, "y", mh_value_float(NAN)))), false));
  CHECK(same_both_ways(arr(2, S("\xff"), mh_value_bigint("1", 1)), false)); /* marked, then refused */
}

/* The plain path takes the reply a small call sends: the bench's echo. */
static void test_plain_text(void) {
  mh_value *v = arr(2, mh_value_int(123), S("abcdefghijklmnop"));
  mh_buf out = MH_BUF_INIT;
  CHECK(mh_orpc_plain(v) && mh_orpc_encode(v, &out, NULL) == 0);
  CHECK(out.len == 33 && memcmp(out.data, "{\"json\":[123,\"abcdefghijklmnop\"]}", 33) == 0);
  mh_buf_free(&out);
  mh_value_free(v);
}

int main(void) {
  test_plain_scalars();
  test_plain_containers();
  test_plain_failures();
  test_special_values();
  test_plain_text();
  return check_failures ? 1 : 0;
}
