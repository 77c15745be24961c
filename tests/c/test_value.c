/* mh_value: constructors, containers, copy, equality, canonical encoding and
 * UTF-8 validation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/error.h"
#include "core/value.h"

/* ---- helpers ---- */

static mh_value *arr2(mh_value *a, mh_value *b) {
  mh_value *v = mh_value_new(MH_V_ARRAY);
  mh_value_push(v, a);
  if (b) mh_value_push(v, b);
  return v;
}

static mh_value *obj2(const char *k1, mh_value *v1, const char *k2, mh_value *v2) {
  mh_value *o = mh_value_new(MH_V_OBJECT);
  mh_value_obj_append(o, k1, strlen(k1), v1);
  if (k2) mh_value_obj_append(o, k2, strlen(k2), v2);
  return o;
}

/* Canonical bytes of v (takes v); caller frees the buffer. */
static mh_buf canon(mh_value *v) {
  mh_buf b = MH_BUF_INIT;
  CHECK(mh_value_canonical(v, &b) == 0);
  mh_value_free(v);
  return b;
}

static bool canon_same(mh_value *a, mh_value *b) {
  mh_buf x = canon(a), y = canon(b);
  bool same = x.len == y.len && memcmp(x.data, y.data, x.len) == 0;
  mh_buf_free(&x);
  mh_buf_free(&y);
  return same;
}

/* Equality and canonical agreement in one go; takes both values. */
static bool equal_and_same(mh_value *a, mh_value *b, bool want) {
  bool eq = mh_value_equal(a, b);
  bool same = canon_same(a, b);
  return eq == want && same == want;
}

/* ---- tests ---- */

static void test_constructors(void) {
  mh_value *v = mh_value_cstring("héllo");
  CHECK(v && v->type == MH_V_STRING && v->u.str.len == 6 && v->u.str.ptr[6] == '\0');
  mh_value_free(v);

  v = mh_value_string("a\0b", 3);
  CHECK(v->u.str.len == 3 && v->u.str.ptr[1] == '\0' && v->u.str.ptr[2] == 'b' && v->u.str.ptr[3] == '\0');
  mh_value_free(v);

  v = mh_value_string(NULL, 0);
  CHECK(v && v->u.str.ptr && v->u.str.len == 0);
  mh_value_free(v);

  v = mh_value_new(MH_V_STRING);
  CHECK(v && v->u.str.ptr && v->u.str.ptr[0] == '\0');
  mh_value_free(v);

  v = mh_value_new(MH_V_ARRAY);
  CHECK(v && v->u.arr.len == 0);
  mh_value_free(v);

  v = mh_value_new(MH_V_ERROR);
  CHECK(v && strcmp(v->u.err.name, "Error") == 0 && strcmp(v->u.err.message, "") == 0);
  mh_value_free(v);

  v = mh_value_new(MH_V_BYTES);
  CHECK(v && v->u.bytes.kind && v->u.bytes.len == 0);
  mh_value_free(v);

  /* every type: the strings of those that own some are filled in, never NULL */
  for (int t = MH_V_UNDEFINED; t <= MH_V_URL; t++) {
    v = mh_value_new((mh_vtype)t);
    CHECK(v && v->type == (mh_vtype)t);
    if (v && mh_value_has_str(v->type)) CHECK(v->u.str.ptr && v->u.str.ptr[0] == '\0' && v->u.str.len == 0);
    if (v && v->type == MH_V_REGEXP) CHECK(v->u.re.source && v->u.re.flags);
    if (v && v->type == MH_V_ERROR) CHECK(v->u.err.name && v->u.err.message);
    if (v && v->type == MH_V_BYTES) CHECK(v->u.bytes.kind);
    mh_value *c = v ? mh_value_copy(v) : NULL;
    CHECK(c && mh_value_equal(v, c));
    mh_value_free(c);
    mh_value_free(v);
  }

  v = mh_value_int(INT64_MIN);
  CHECK(v->type == MH_V_INT && v->u.i == INT64_MIN);
  mh_value_free(v);

  v = mh_value_bigint("-123456789012345678901234567890", 31);
  CHECK(v->type == MH_V_BIGINT && v->u.str.len == 31);
  mh_value_free(v);

  /* A URL holds its href like a string, but is not equal to one, nor
   * shares a cache key with it. */
  v = mh_value_url("https://x.test/a", 16);
  mh_value *str = mh_value_cstring("https://x.test/a"), *url2 = mh_value_copy(v);
  mh_buf cu = MH_BUF_INIT, cs = MH_BUF_INIT;
  CHECK(v->type == MH_V_URL && strcmp(v->u.str.ptr, "https://x.test/a") == 0 && strcmp(mh_value_type_name(v->type), "url") == 0);
  CHECK(url2 && url2->type == MH_V_URL && mh_value_equal(v, url2) && !mh_value_equal(v, str));
  CHECK(mh_value_canonical(v, &cu) == 0 && mh_value_canonical(str, &cs) == 0 &&
        (cu.len != cs.len || memcmp(cu.data, cs.data, cu.len) != 0));
  mh_buf_free(&cu);
  mh_buf_free(&cs);
  mh_value_free(url2);
  mh_value_free(str);
  mh_value_free(v);

  v = mh_value_regexp("a+b", "gi");
  CHECK(strcmp(v->u.re.source, "a+b") == 0 && strcmp(v->u.re.flags, "gi") == 0);
  mh_value_free(v);

  v = mh_value_error("TypeError", "bad");
  CHECK(strcmp(v->u.err.name, "TypeError") == 0 && strcmp(v->u.err.message, "bad") == 0);
  mh_value_free(v);

  CHECK(strcmp(mh_value_type_name(MH_V_OBJECT), "object") == 0);
  CHECK(strcmp(mh_value_type_name(MH_V_BYTES), "bytes") == 0);
}

static void test_containers(void) {
  mh_value *o = mh_value_new(MH_V_OBJECT);
  CHECK(mh_value_obj_set(o, "a", mh_value_int(1)) == 0);
  CHECK(mh_value_obj_set(o, "b", mh_value_int(2)) == 0);
  CHECK(mh_value_obj_set(o, "a", mh_value_int(3)) == 0); /* replaces */
  CHECK(o->u.obj.len == 2);
  CHECK(mh_value_obj_get(o, "a")->u.i == 3);
  CHECK(mh_value_obj_get(o, "zz") == NULL);
  /* append keeps duplicates; the last one is the one read */
  CHECK(mh_value_obj_append(o, "b", 1, mh_value_int(20)) == 0);
  CHECK(o->u.obj.len == 3 && mh_value_obj_get(o, "b")->u.i == 20);
  /* and set updates that last one */
  CHECK(mh_value_obj_set(o, "b", mh_value_int(21)) == 0);
  CHECK(o->u.obj.items[1].val->u.i == 2 && o->u.obj.items[2].val->u.i == 21);
  /* keys with NUL bytes are distinct from their prefix */
  CHECK(mh_value_obj_append(o, "a\0x", 3, mh_value_int(9)) == 0);
  CHECK(mh_value_obj_get(o, "a")->u.i == 3);

  /* wrong container types are refused and take is freed (ASan checks) */
  CHECK(mh_value_push(o, mh_value_int(1)) == -1);
  CHECK(mh_value_map_append(o, mh_value_int(1), mh_value_int(2)) == -1);
  mh_value *a = mh_value_new(MH_V_ARRAY);
  CHECK(mh_value_obj_set(a, "x", mh_value_int(1)) == -1);
  CHECK(mh_value_obj_get(a, "x") == NULL);
  for (int i = 0; i < 100; i++) CHECK(mh_value_push(a, mh_value_int(i)) == 0);
  CHECK(a->u.arr.len == 100 && a->u.arr.items[99]->u.i == 99);
  mh_value_free(a);
  mh_value_free(o);

  mh_value *m = mh_value_new(MH_V_MAP);
  CHECK(mh_value_map_append(m, mh_value_int(1), mh_value_cstring("one")) == 0);
  CHECK(mh_value_map_append(m, arr2(mh_value_null(), NULL), mh_value_bool(true)) == 0);
  CHECK(m->u.obj.len == 2);
  mh_value *s = mh_value_new(MH_V_SET);
  CHECK(mh_value_push(s, mh_value_int(1)) == 0);
  mh_value_free(m);
  mh_value_free(s);
}

/* mh_value_container: room for n in the value's own block; filling it,
 * growing past n, reserving, copying, replacing (into it and from it) and
 * freeing all work as with a container from mh_value_new (ASan checks the
 * blocks). */
static void test_container_sized(void) {
  CHECK(mh_value_container(MH_V_INT, 2) == NULL);
  CHECK(mh_value_container(MH_V_ARRAY, (size_t)-1 / 4) == NULL); /* too big: NULL, no overflow */
  mh_value *e = mh_value_container(MH_V_ARRAY, 0);
  CHECK(e && e->type == MH_V_ARRAY && e->u.arr.len == 0 && e->u.arr.cap == 0);
  mh_value_free(e);

  mh_value *a = mh_value_container(MH_V_ARRAY, 3);
  CHECK(a && a->type == MH_V_ARRAY && a->u.arr.len == 0 && a->u.arr.cap == 3);
  CHECK((void *)a->u.arr.items == (void *)(a + 1));
  for (int i = 0; i < 3; i++) CHECK(mh_value_push(a, mh_value_int(i)) == 0);
  CHECK((void *)a->u.arr.items == (void *)(a + 1)); /* no regrowing up to n */
  for (int i = 3; i < 40; i++) CHECK(mh_value_push(a, mh_value_int(i)) == 0); /* moves out */
  CHECK((void *)a->u.arr.items != (void *)(a + 1) && a->u.arr.len == 40);
  for (int i = 0; i < 40; i++) CHECK(a->u.arr.items[i]->u.i == i);
  mh_value *plain = mh_value_new(MH_V_ARRAY);
  for (int i = 0; i < 40; i++) mh_value_push(plain, mh_value_int(i));
  CHECK(mh_value_equal(a, plain));
  mh_value_free(plain);
  mh_value_free(a);

  mh_value *r = mh_value_container(MH_V_SET, 2);
  mh_value_push(r, mh_value_cstring("x"));
  CHECK(mh_value_reserve(r, 1) == 0 && (void *)r->u.arr.items == (void *)(r + 1));
  CHECK(mh_value_reserve(r, 100) == 0 && r->u.arr.cap == 100 && strcmp(r->u.arr.items[0]->u.str.ptr, "x") == 0);
  mh_value_free(r);

  mh_value *o = mh_value_container(MH_V_OBJECT, 2);
  CHECK(o && o->type == MH_V_OBJECT && o->u.obj.cap == 2 && (void *)o->u.obj.items == (void *)(o + 1));
  CHECK(mh_value_obj_append(o, "a", 1, mh_value_int(1)) == 0 && mh_value_obj_append(o, "b", 1, mh_value_int(2)) == 0);
  CHECK(mh_value_obj_set(o, "c", mh_value_int(3)) == 0 && o->u.obj.len == 3 && mh_value_obj_get(o, "a")->u.i == 1);
  mh_value *oc = mh_value_copy(o);
  CHECK(oc && mh_value_equal(o, oc));
  mh_value_free(oc);
  mh_value_free(o);

  mh_value *m = mh_value_container(MH_V_MAP, 1);
  CHECK(mh_value_map_append(m, mh_value_int(1), mh_value_cstring("one")) == 0 && m->u.obj.len == 1);
  CHECK((void *)m->u.obj.items == (void *)(m + 1));

  /* Replacing a value whose items are in its own block: they stay there,
   * unused; its children are freed. Then replacing with a value made so. */
  mh_value *holder = mh_value_new(MH_V_ARRAY);
  mh_value_push(holder, m);
  mh_value *src = mh_value_container(MH_V_ARRAY, 2);
  mh_value_push(src, mh_value_int(7));
  mh_value_push(src, mh_value_cstring("seven"));
  CHECK(mh_value_replace(holder->u.arr.items[0], src) == 0);
  CHECK(mh_value_equal(holder->u.arr.items[0], src));
  mh_value *obj = mh_value_container(MH_V_OBJECT, 1);
  mh_value_obj_append(obj, "k", 1, mh_value_bool(true));
  CHECK(mh_value_replace(holder->u.arr.items[0], obj) == 0 && mh_value_equal(holder->u.arr.items[0], obj));
  CHECK(mh_value_replace(src, obj) == 0 && mh_value_equal(src, obj));
  mh_value_free(obj);
  mh_value_free(src);
  mh_value_free(holder);
}

/* A value holding every type. */
static mh_value *kitchen_sink(void) {
  mh_value *o = mh_value_new(MH_V_OBJECT);
  mh_value_obj_set(o, "u", mh_value_undefined());
  mh_value_obj_set(o, "n", mh_value_null());
  mh_value_obj_set(o, "b", mh_value_bool(true));
  mh_value_obj_set(o, "i", mh_value_int(-42));
  mh_value_obj_set(o, "f", mh_value_float(1.5));
  mh_value_obj_set(o, "s", mh_value_string("x\0y", 3));
  mh_value_obj_set(o, "a", arr2(mh_value_int(1), mh_value_cstring("2")));
  mh_value_obj_set(o, "d", mh_value_date(1e12));
  mh_value_obj_set(o, "g", mh_value_bigint("123", 3));
  mh_value *m = mh_value_new(MH_V_MAP);
  mh_value_map_append(m, mh_value_int(1), mh_value_cstring("one"));
  mh_value_obj_set(o, "m", m);
  mh_value *s = mh_value_new(MH_V_SET);
  mh_value_push(s, mh_value_cstring("x"));
  mh_value_obj_set(o, "S", s);
  mh_value_obj_set(o, "r", mh_value_regexp("^a", "g"));
  mh_value_obj_set(o, "e", mh_value_error("RangeError", "out"));
  mh_value *y = mh_value_new(MH_V_BYTES);
  y->u.bytes.items = malloc(3 * sizeof(double));
  y->u.bytes.items[0] = 1;
  y->u.bytes.items[1] = 2;
  y->u.bytes.items[2] = 255;
  y->u.bytes.len = 3;
  mh_value_obj_set(o, "y", y);
  mh_value_obj_set(o, "nan", mh_value_float(NAN));
  return o;
}

static void test_copy_equal(void) {
  mh_value *a = kitchen_sink();
  mh_value *b = mh_value_copy(a);
  CHECK(b && b != a);
  CHECK(mh_value_equal(a, b));
  CHECK(mh_value_equal(a, a));
  /* copies are deep */
  CHECK(mh_value_obj_get(b, "s")->u.str.ptr != mh_value_obj_get(a, "s")->u.str.ptr);
  mh_value_obj_set(b, "i", mh_value_int(-43));
  CHECK(!mh_value_equal(a, b));
  mh_value_free(b);
  CHECK(mh_value_copy(NULL) == NULL);
  mh_value_free(a);

  CHECK(mh_value_equal(NULL, NULL));
  CHECK(equal_and_same(mh_value_int(1), mh_value_int(1), true));
  CHECK(equal_and_same(mh_value_float(NAN), mh_value_float(-NAN), true));
  CHECK(equal_and_same(mh_value_float(0.0), mh_value_float(-0.0), false));
  CHECK(equal_and_same(mh_value_date(NAN), mh_value_date(NAN), true));
  CHECK(equal_and_same(mh_value_string("a\0b", 3), mh_value_string("a\0c", 3), false));
  CHECK(equal_and_same(mh_value_regexp("a", "g"), mh_value_regexp("a", "i"), false));
  CHECK(equal_and_same(mh_value_error("E", "m"), mh_value_error("E", "m"), true));
  /* array order matters, object key order does not */
  CHECK(equal_and_same(arr2(mh_value_int(1), mh_value_int(2)), arr2(mh_value_int(2), mh_value_int(1)), false));
  CHECK(equal_and_same(obj2("a", mh_value_int(1), "b", mh_value_int(2)),
                       obj2("b", mh_value_int(2), "a", mh_value_int(1)), true));
  CHECK(equal_and_same(obj2("a", mh_value_int(1), NULL, NULL), obj2("a", mh_value_int(1), "b", mh_value_int(2)),
                       false));
  /* the last duplicate wins */
  CHECK(equal_and_same(obj2("a", mh_value_int(1), "a", mh_value_int(2)), obj2("a", mh_value_int(2), NULL, NULL),
                       true));
  CHECK(equal_and_same(obj2("a", mh_value_int(1), "a", mh_value_int(2)), obj2("a", mh_value_int(1), NULL, NULL),
                       false));
  /* map insertion order matters */
  mh_value *m1 = mh_value_new(MH_V_MAP), *m2 = mh_value_new(MH_V_MAP);
  mh_value_map_append(m1, mh_value_int(1), mh_value_null());
  mh_value_map_append(m1, mh_value_int(2), mh_value_null());
  mh_value_map_append(m2, mh_value_int(2), mh_value_null());
  mh_value_map_append(m2, mh_value_int(1), mh_value_null());
  CHECK(equal_and_same(m1, m2, false));
}

static void test_canonical(void) {
  /* nested key-order independence */
  CHECK(canon_same(obj2("x", obj2("b", mh_value_int(1), "a", mh_value_null()), "y", mh_value_bool(false)),
                   obj2("y", mh_value_bool(false), "x", obj2("a", mh_value_null(), "b", mh_value_int(1)))));
  /* types are distinct even when they print alike */
  mh_value *vals[] = {
      mh_value_int(1),         mh_value_float(1.0),     mh_value_float(1.5),      mh_value_cstring("1"),
      mh_value_bigint("1", 1), mh_value_date(1),        mh_value_bool(true),      mh_value_null(),
      mh_value_undefined(),    mh_value_new(MH_V_ARRAY), mh_value_new(MH_V_OBJECT), mh_value_new(MH_V_MAP),
      mh_value_new(MH_V_SET),  mh_value_regexp("1", ""), mh_value_error("1", ""),  mh_value_new(MH_V_BYTES),
      mh_value_cstring(""),    mh_value_int(0),         mh_value_int(-1),         mh_value_bool(false),
  };
  size_t n = sizeof vals / sizeof vals[0];
  mh_buf enc[sizeof vals / sizeof vals[0]];
  for (size_t i = 0; i < n; i++) enc[i] = canon(vals[i]);
  for (size_t i = 0; i < n; i++)
    for (size_t j = i + 1; j < n; j++)
      CHECK(!(enc[i].len == enc[j].len && memcmp(enc[i].data, enc[j].data, enc[i].len) == 0));
  for (size_t i = 0; i < n; i++) mh_buf_free(&enc[i]);

  /* injectivity where naive concatenation would collide */
  CHECK(!canon_same(arr2(mh_value_cstring("ab"), mh_value_cstring("c")),
                    arr2(mh_value_cstring("a"), mh_value_cstring("bc"))));
  CHECK(!canon_same(arr2(arr2(mh_value_int(1), NULL), mh_value_int(2)),
                    arr2(arr2(mh_value_int(1), mh_value_int(2)), NULL)));
  CHECK(!canon_same(obj2("a", mh_value_cstring("b"), NULL, NULL), obj2("ab", mh_value_cstring(""), NULL, NULL)));
  CHECK(!canon_same(mh_value_regexp("ab", "c"), mh_value_regexp("a", "bc")));
  CHECK(!canon_same(mh_value_error("ab", "c"), mh_value_error("a", "bc")));
  CHECK(!canon_same(mh_value_cstring("a"), mh_value_string("a\0", 2)));
  mh_value *nul_key = mh_value_new(MH_V_OBJECT);
  mh_value_obj_append(nul_key, "a\0", 2, mh_value_int(1));
  CHECK(!canon_same(obj2("a", mh_value_int(1), NULL, NULL), nul_key));
  CHECK(!canon_same(mh_value_int(127), mh_value_int(128)));
  CHECK(!canon_same(mh_value_int(INT64_MAX), mh_value_int(INT64_MIN)));
  CHECK(!canon_same(mh_value_int(-64), mh_value_int(64)));
  /* a key that sorts between others does not change the outcome */
  CHECK(canon_same(obj2("", mh_value_int(1), "\xff", mh_value_int(2)), obj2("\xff", mh_value_int(2), "", mh_value_int(1))));

  /* sorting is bytewise: "a" < "ab" < "b" regardless of insertion order */
  mh_value *o1 = mh_value_new(MH_V_OBJECT), *o2 = mh_value_new(MH_V_OBJECT);
  const char *keys[] = {"b", "ab", "a", "B", "é", ""};
  for (size_t i = 0; i < 6; i++) mh_value_obj_set(o1, keys[i], mh_value_int((int64_t)i));
  for (size_t i = 6; i-- > 0;) mh_value_obj_set(o2, keys[i], mh_value_int((int64_t)i));
  CHECK(canon_same(o1, o2));

  /* canonical appends, and leaves earlier content alone */
  mh_buf b = MH_BUF_INIT;
  mh_buf_append(&b, "KEY:", 4);
  mh_value *v = mh_value_int(5);
  CHECK(mh_value_canonical(v, &b) == 0 && b.len > 4 && memcmp(b.data, "KEY:", 4) == 0);
  mh_value_free(v);
  mh_buf_free(&b);

  /* large objects (sorted views) agree with small ones */
  mh_value *big1 = mh_value_new(MH_V_OBJECT), *big2 = mh_value_new(MH_V_OBJECT);
  char key[16];
  for (int i = 0; i < 500; i++) {
    snprintf(key, sizeof key, "k%d", i);
    mh_value_obj_set(big1, key, mh_value_int(i));
    snprintf(key, sizeof key, "k%d", 499 - i);
    mh_value_obj_set(big2, key, mh_value_int(499 - i));
  }
  CHECK(mh_value_equal(big1, big2));
  CHECK(canon_same(big1, big2));
}

static void test_utf8(void) {
  struct {
    const char *s;
    size_t len;
    bool ok;
  } cases[] = {
      {"", 0, true},
      {"plain ascii", 11, true},
      {"\xc3\xa9", 2, true},                /* é */
      {"\xe2\x82\xac", 3, true},            /* € */
      {"\xf0\x9f\x98\x80", 4, true},        /* 😀 */
      {"\xf4\x8f\xbf\xbf", 4, true},        /* U+10FFFF */
      {"\xed\x9f\xbf", 3, true},            /* U+D7FF */
      {"\xee\x80\x80", 3, true},            /* U+E000 */
      {"a\0b", 3, true},                    /* NUL is valid UTF-8 */
      {"\x80", 1, false},                   /* lone continuation */
      {"\xc3", 1, false},                   /* truncated */
      {"\xe2\x82", 2, false},               /* truncated */
      {"\xf0\x9f\x98", 3, false},           /* truncated */
      {"\xc0\xaf", 2, false},               /* overlong '/' */
      {"\xc1\xbf", 2, false},               /* overlong */
      {"\xe0\x80\xaf", 3, false},           /* overlong */
      {"\xe0\x9f\xbf", 3, false},           /* overlong */
      {"\xf0\x8f\xbf\xbf", 4, false},       /* overlong */
      {"\xed\xa0\x80", 3, false},           /* U+D800 */
      {"\xed\xbf\xbf", 3, false},           /* U+DFFF */
      {"\xf4\x90\x80\x80", 4, false},       /* U+110000 */
      {"\xf5\x80\x80\x80", 4, false},       /* beyond */
      {"\xff", 1, false},
      {"\xc3\x28", 2, false},               /* bad continuation */
      {"\xe2\x28\xa1", 3, false},
      {"\xf0\x9f\x98\x28", 4, false},
      {"ok\xc3\xa9ok\xe2\x82", 8, false},   /* truncated at end */
      /* in and after the last bytes, which are looked at together */
      {"echo", 4, true},
      {"bench\xc3", 6, false},
      {"abcdefgh\xc3", 9, false},
      {"abcdefghij\xed\xa0\x80", 13, false},
      {"abcdefghijklmno\xff", 16, false},
      {"abcdefg\x80", 8, false},
      {"abcdefgh\xc3\xa9xyz", 13, true},
      {"\xc3\xa9" "abcdefghijk", 13, true},
      {"abcdefghi\xe2\x82\xacz\xf0\x9f\x98\x80", 17, true},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    bool got = mh_utf8_valid(cases[i].s, cases[i].len);
    if (got != cases[i].ok) fprintf(stderr, "utf8 case %zu\n", i);
    CHECK(got == cases[i].ok);
  }
  /* ASCII of every length up to 24, then with a bad byte at each place
   * (bytes are looked at eight and then a few at a time) */
  char buf[24];
  for (size_t len = 0; len <= sizeof buf; len++) {
    memset(buf, 'a', len);
    CHECK(mh_utf8_valid(buf, len));
    for (size_t at = 0; at < len; at++) {
      buf[at] = (char)0xff;
      CHECK(!mh_utf8_valid(buf, len));
      buf[at] = 'a';
    }
  }
}

static void test_errors(void) {
  mh_error *e = mh_error_new(MH_ERR_NOT_FOUND, "no method %s (%d)", "x.y", 3);
  CHECK(e && strcmp(e->code, "not_found") == 0 && strcmp(e->name, "Error") == 0);
  CHECK(strcmp(e->message, "no method x.y (3)") == 0 && e->data == NULL);
  e->data = mh_value_int(7);

  mh_value *v = mh_error_to_value(e);
  CHECK(v && v->type == MH_V_OBJECT && v->u.obj.len == 4);
  const char *order[] = {"name", "message", "code", "data"};
  for (size_t i = 0; v && i < v->u.obj.len; i++) CHECK(strcmp(v->u.obj.items[i].key->u.str.ptr, order[i]) == 0);

  mh_error *back = mh_error_from_value(v);
  CHECK(strcmp(back->code, "not_found") == 0 && strcmp(back->message, e->message) == 0);
  CHECK(back->data && back->data->u.i == 7);
  mh_error *c = mh_error_copy(back);
  CHECK(c != back && strcmp(c->message, back->message) == 0 && mh_value_equal(c->data, back->data));
  mh_error_free(c);
  mh_error_free(back);
  mh_value_free(v);
  mh_error_free(e);

  /* without data: three keys */
  e = mh_error_new(MH_ERR_TIMEOUT, "slow");
  v = mh_error_to_value(e);
  CHECK(v->u.obj.len == 3 && mh_value_obj_get(v, "data") == NULL);
  mh_value_free(v);
  mh_error_free(e);

  /* partial objects */
  v = obj2("message", mh_value_cstring("boom"), NULL, NULL);
  e = mh_error_from_value(v);
  CHECK(strcmp(e->code, "internal") == 0 && strcmp(e->message, "boom") == 0 && strcmp(e->name, "Error") == 0);
  mh_error_free(e);
  mh_value_free(v);
  v = mh_value_new(MH_V_OBJECT);
  e = mh_error_from_value(v);
  CHECK(strcmp(e->message, "unknown error") == 0 && !e->data);
  mh_error_free(e);
  mh_value_free(v);

  /* an Error value, a string, anything else */
  v = mh_value_error("TypeError", "nope");
  e = mh_error_from_value(v);
  CHECK(strcmp(e->name, "TypeError") == 0 && strcmp(e->message, "nope") == 0 && strcmp(e->code, "internal") == 0);
  mh_error_free(e);
  mh_value_free(v);
  v = mh_value_cstring("plain");
  e = mh_error_from_value(v);
  CHECK(strcmp(e->message, "plain") == 0);
  mh_error_free(e);
  mh_value_free(v);
  v = mh_value_int(12);
  e = mh_error_from_value(v);
  CHECK(strcmp(e->message, "unknown error") == 0 && e->data && e->data->u.i == 12);
  mh_error_free(e);
  mh_value_free(v);
  e = mh_error_from_value(NULL);
  CHECK(e && strcmp(e->message, "unknown error") == 0);
  mh_error_free(e);

  /* a message longer than the buffer's first allocation is kept whole */
  char longarg[300];
  memset(longarg, 'x', sizeof longarg - 1);
  longarg[sizeof longarg - 1] = '\0';
  e = mh_error_new(MH_ERR_INTERNAL, "[%s] %d", longarg, 42);
  CHECK(strlen(e->message) == 299 + 5 && strncmp(e->message + 300, "] 42", 4) == 0);
  mh_error_free(e);
  e = mh_error_new(MH_ERR_INTERNAL, "%s", "");
  CHECK(e && e->message && e->message[0] == '\0');
  mh_error_free(e);

  /* invalid UTF-8 in a message is repaired so the reply stays encodable */
  e = mh_error_new(MH_ERR_INTERNAL, "bad %s byte", "\xff");
  CHECK(strcmp(e->message, "bad \xef\xbf\xbd byte") == 0);
  mh_error_free(e);
}

/* mh_buf_appendf appends after what is there, past any first allocation. */
static void test_buf_appendf(void) {
  mh_buf b = MH_BUF_INIT;
  CHECK(mh_buf_append_str(&b, "head:") == 0);
  for (int i = 0; i < 100; i++) CHECK(mh_buf_appendf(&b, "%03d,", i) == 0);
  CHECK(b.len == 5 + 400 && memcmp(b.data, "head:000,001,", 13) == 0);
  CHECK(mh_buf_terminate(&b) == 0 && strcmp(b.data + b.len - 4, "099,") == 0);
  CHECK(mh_buf_appendf(&b, "%s", "") == 0 && b.len == 405);
  mh_buf_free(&b);
}

int main(void) {
  test_constructors();
  test_buf_appendf();
  test_containers();
  test_container_sized();
  test_copy_equal();
  test_canonical();
  test_utf8();
  test_errors();
  return check_failures ? 1 : 0;
}
