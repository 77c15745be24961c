/* mh_value: constructors, containers, copy, equality and the canonical
 * encoding used as cache key. See value.h for the ownership rules. */
#include "core/value.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/small_alloc.h"

/* ---- small helpers ------------------------------------------------------ */

/* Copies len bytes into a fresh NUL-terminated block (s may be NULL if len 0). */
static char *mh_strndup0(const char *s, size_t len) {
  if (len == (size_t)-1) return NULL;
  char *p = malloc(len + 1);
  if (!p) return NULL;
  if (len) memcpy(p, s, len);
  p[len] = '\0';
  return p;
}

static char *mh_strdup0(const char *s) { return mh_strndup0(s, s ? strlen(s) : 0); }

/* Values are the most frequent allocation on the call path (bench/: ~20 per
 * call), allocated and freed in bursts: they come from the recycling
 * allocator (small_alloc.h), and so must go back through mh_value_free.
 * So do the item arrays of containers (a few per call; glibc's realloc and
 * free cost ~150 instructions each there). */
static mh_value *mh_value_alloc(mh_vtype type) {
  mh_value *v = mh_small_alloc(sizeof *v);
  if (v) *v = (mh_value){.type = type};
  return v;
}

/* The capacity after growing a vector of elem-sized slots that is full, or
 * 0 when that would overflow. */
static size_t mh_vec_next_cap(size_t cap, size_t elem) {
  size_t ncap = cap ? cap * 2 : 4;
  return ncap < cap || ncap > ((size_t)-1) / elem ? 0 : ncap;
}

static bool mh_is_list(mh_vtype t) { return t == MH_V_ARRAY || t == MH_V_SET; }
static bool mh_is_pairs(mh_vtype t) { return t == MH_V_OBJECT || t == MH_V_MAP; }

/* Whether items (of an ARRAY, SET, OBJECT or MAP) are inside the block of
 * holder: mh_value_container puts them right after the value. */
static inline bool mh_items_inside(const void *items, const mh_value *holder) {
  return items == (const void *)(holder + 1);
}

/* The items of container v moved to a block of bytes (used bytes kept):
 * realloc for a block of their own, a new block for items inside v's.
 * NULL when memory runs out (the items unchanged). */
static inline void *mh_items_resize(const mh_value *v, void *items, size_t used, size_t bytes) {
  if (!mh_items_inside(items, v)) return mh_small_realloc(items, bytes);
  void *p = mh_small_alloc(bytes);
  if (p) memcpy(p, items, used);
  return p;
}

/* Makes room for one more item in an ARRAY or SET. */
static int mh_arr_reserve(mh_value *a) {
  if (a->u.arr.len < a->u.arr.cap) return 0;
  size_t ncap = mh_vec_next_cap(a->u.arr.cap, sizeof(mh_value *));
  mh_value **p = ncap ? mh_items_resize(a, a->u.arr.items, a->u.arr.len * sizeof *p, ncap * sizeof *p) : NULL;
  if (!p) return -1;
  a->u.arr.items = p;
  a->u.arr.cap = ncap;
  return 0;
}

/* Makes room for one more pair in an OBJECT or MAP. */
static int mh_obj_reserve(mh_value *o) {
  if (o->u.obj.len < o->u.obj.cap) return 0;
  size_t ncap = mh_vec_next_cap(o->u.obj.cap, sizeof(mh_pair));
  mh_pair *p = ncap ? mh_items_resize(o, o->u.obj.items, o->u.obj.len * sizeof *p, ncap * sizeof *p) : NULL;
  if (!p) return -1;
  o->u.obj.items = p;
  o->u.obj.cap = ncap;
  return 0;
}

int mh_value_reserve(mh_value *v, size_t n) {
  switch (v->type) {
  case MH_V_ARRAY:
  case MH_V_SET: {
    if (n <= v->u.arr.cap) return 0;
    if (n > ((size_t)-1) / sizeof(mh_value *)) return -1;
    mh_value **p = mh_items_resize(v, v->u.arr.items, v->u.arr.len * sizeof *p, n * sizeof *p);
    if (!p) return -1;
    v->u.arr.items = p;
    v->u.arr.cap = n;
    return 0;
  }
  case MH_V_OBJECT:
  case MH_V_MAP: {
    if (n <= v->u.obj.cap) return 0;
    if (n > ((size_t)-1) / sizeof(mh_pair)) return -1;
    mh_pair *p = mh_items_resize(v, v->u.obj.items, v->u.obj.len * sizeof *p, n * sizeof *p);
    if (!p) return -1;
    v->u.obj.items = p;
    v->u.obj.cap = n;
    return 0;
  }
  default:
    return -1;
  }
}

mh_value *mh_value_container(mh_vtype type, size_t n) {
  size_t elem = mh_is_list(type) ? sizeof(mh_value *) : mh_is_pairs(type) ? sizeof(mh_pair) : 0;
  if (!elem || n > (((size_t)-1) - sizeof(mh_value)) / elem) return NULL;
  if (n == 0) return mh_value_alloc(type);
  /* One block instead of two: the value, then its n slots (~50 instructions
   * a container; mh_value_free, mh_value_replace and growing know). */
  mh_value *v = mh_small_alloc(sizeof *v + n * elem);
  if (!v) return NULL;
  *v = (mh_value){.type = type};
  if (mh_is_list(type)) {
    v->u.arr.items = (mh_value **)(v + 1);
    v->u.arr.cap = n;
  } else {
    v->u.obj.items = (mh_pair *)(v + 1);
    v->u.obj.cap = n;
  }
  return v;
}

/* ---- constructors ------------------------------------------------------- */

/* Fills the owned strings of a fresh value so that string-bearing types never
 * carry NULL pointers, whatever the caller passed. */
static int mh_value_init_strings(mh_value *v, const char *a, const char *b) {
  switch (v->type) {
  case MH_V_STRING:
  case MH_V_BIGINT:
  case MH_V_URL:
    v->u.str.ptr = mh_strdup0(a);
    v->u.str.len = a ? strlen(a) : 0;
    return v->u.str.ptr ? 0 : -1;
  case MH_V_REGEXP:
    v->u.re.source = mh_strdup0(a);
    v->u.re.flags = mh_strdup0(b);
    return v->u.re.source && v->u.re.flags ? 0 : -1;
  case MH_V_ERROR:
    v->u.err.name = mh_strdup0(a ? a : "Error");
    v->u.err.message = mh_strdup0(b);
    return v->u.err.name && v->u.err.message ? 0 : -1;
  case MH_V_BYTES:
    v->u.bytes.kind = mh_strdup0(a ? a : "Uint8Array");
    return v->u.bytes.kind ? 0 : -1;
  default:
    return 0;
  }
}

/* Whether mh_value_init_strings fills something in for a value of type. */
static inline bool mh_type_owns_strings(mh_vtype type) {
  const unsigned with = 1u << MH_V_STRING | 1u << MH_V_BIGINT | 1u << MH_V_URL | 1u << MH_V_REGEXP |
                        1u << MH_V_ERROR | 1u << MH_V_BYTES;
  return (unsigned)type < 32 && (with >> type) & 1u;
}

mh_value *mh_value_new(mh_vtype type) {
  mh_value *v = mh_value_alloc(type);
  /* containers and scalars own no strings: no call for them (~20 instructions) */
  if (!v || !mh_type_owns_strings(type)) return v;
  if (mh_value_init_strings(v, NULL, NULL)) {
    mh_value_free(v);
    return NULL;
  }
  return v;
}

mh_value *mh_value_undefined(void) { return mh_value_alloc(MH_V_UNDEFINED); }
mh_value *mh_value_null(void) { return mh_value_alloc(MH_V_NULL); }

mh_value *mh_value_bool(bool b) {
  mh_value *v = mh_value_alloc(MH_V_BOOL);
  if (v) v->u.b = b;
  return v;
}

mh_value *mh_value_int(int64_t i) {
  mh_value *v = mh_value_alloc(MH_V_INT);
  if (v) v->u.i = i;
  return v;
}

mh_value *mh_value_float(double f) {
  mh_value *v = mh_value_alloc(MH_V_FLOAT);
  if (v) v->u.f = f;
  return v;
}

/* A string's bytes live in the same block as the value, right after it:
 * one allocation instead of two for the most common leaf (see
 * mh_value_free, which frees u.str.ptr only when it points elsewhere). */
static mh_value *mh_value_strtype(mh_vtype type, const char *s, size_t len) {
  if (len > ((size_t)-1) - sizeof(mh_value) - 1) return NULL;
  mh_value *v = mh_small_alloc(sizeof *v + len + 1);
  if (!v) return NULL;
  char *p = (char *)(v + 1);
  if (len) memcpy(p, s, len);
  p[len] = '\0';
  *v = (mh_value){.type = type, .u.str = {p, len}};
  return v;
}

mh_value *mh_value_string(const char *s, size_t len) { return mh_value_strtype(MH_V_STRING, s, len); }
mh_value *mh_value_cstring(const char *s) { return mh_value_string(s, s ? strlen(s) : 0); }

mh_value *mh_value_date(double ms) {
  mh_value *v = mh_value_alloc(MH_V_DATE);
  if (v) v->u.f = ms;
  return v;
}

mh_value *mh_value_bigint(const char *decimal, size_t len) {
  return mh_value_strtype(MH_V_BIGINT, decimal, len);
}

mh_value *mh_value_url(const char *href, size_t len) { return mh_value_strtype(MH_V_URL, href, len); }

static mh_value *mh_value_two_strings(mh_vtype type, const char *a, const char *b) {
  mh_value *v = mh_value_alloc(type);
  if (!v) return NULL;
  if (mh_value_init_strings(v, a, b)) {
    mh_value_free(v);
    return NULL;
  }
  return v;
}

mh_value *mh_value_regexp(const char *source, const char *flags) {
  return mh_value_two_strings(MH_V_REGEXP, source, flags);
}

mh_value *mh_value_error(const char *name, const char *message) {
  return mh_value_two_strings(MH_V_ERROR, name, message);
}

/* ---- containers --------------------------------------------------------- */

int mh_value_push(mh_value *arr_or_set, mh_value *take) {
  if (!arr_or_set || !take || (arr_or_set->type != MH_V_ARRAY && arr_or_set->type != MH_V_SET)) {
    mh_value_free(take);
    return -1;
  }
  if (mh_arr_reserve(arr_or_set)) {
    mh_value_free(take);
    return -1;
  }
  arr_or_set->u.arr.items[arr_or_set->u.arr.len++] = take;
  return 0;
}

/* Appends (key, val) to an OBJECT or MAP, taking both. */
static int mh_value_pair_append(mh_value *obj, mh_value *key, mh_value *val) {
  if (!key || !val) goto fail;
  if (mh_obj_reserve(obj)) goto fail;
  obj->u.obj.items[obj->u.obj.len++] = (mh_pair){key, val};
  return 0;
fail:
  mh_value_free(key);
  mh_value_free(val);
  return -1;
}

int mh_value_obj_append(mh_value *obj, const char *key, size_t keylen, mh_value *take) {
  if (!obj || obj->type != MH_V_OBJECT) {
    mh_value_free(take);
    return -1;
  }
  if (!take) return -1;
  return mh_value_pair_append(obj, mh_value_string(key, keylen), take);
}

static bool mh_key_is(const mh_value *k, const char *key, size_t keylen) {
  return k && k->type == MH_V_STRING && k->u.str.len == keylen &&
         (keylen == 0 || memcmp(k->u.str.ptr, key, keylen) == 0);
}

/* Index of the last pair under key, or -1: the last one is the one that
 * counts when an object holds duplicates. */
static ptrdiff_t mh_obj_find_last(const mh_value *obj, const char *key, size_t keylen) {
  for (size_t i = obj->u.obj.len; i-- > 0;)
    if (mh_key_is(obj->u.obj.items[i].key, key, keylen)) return (ptrdiff_t)i;
  return -1;
}

int mh_value_obj_set(mh_value *obj, const char *key, mh_value *take) {
  if (!obj || obj->type != MH_V_OBJECT || !key) {
    mh_value_free(take);
    return -1;
  }
  if (!take) return -1;
  size_t keylen = strlen(key);
  ptrdiff_t i = mh_obj_find_last(obj, key, keylen);
  if (i < 0) return mh_value_obj_append(obj, key, keylen, take);
  mh_value_free(obj->u.obj.items[i].val);
  obj->u.obj.items[i].val = take;
  return 0;
}

int mh_value_map_append(mh_value *map, mh_value *key_take, mh_value *val_take) {
  if (!map || map->type != MH_V_MAP) {
    mh_value_free(key_take);
    mh_value_free(val_take);
    return -1;
  }
  return mh_value_pair_append(map, key_take, val_take);
}

const mh_value *mh_value_obj_get(const mh_value *obj, const char *key) {
  if (!obj || obj->type != MH_V_OBJECT || !key) return NULL;
  ptrdiff_t i = mh_obj_find_last(obj, key, strlen(key));
  return i < 0 ? NULL : obj->u.obj.items[i].val;
}

/* ---- free / copy -------------------------------------------------------- */

static inline void mh_value_free_contents(mh_value *v, const mh_value *holder);

/* Recursion depth is bounded by the decoders' nesting limit. */
int mh_value_replace(mh_value *dst, const mh_value *src) {
  mh_value *c = mh_value_copy(src);
  if (!c) return -1;
  if (mh_value_has_str(c->type) && c->u.str.ptr == (char *)(c + 1)) {
    /* The bytes live in c's block, which is freed below: move them out. */
    char *own = mh_strndup0(c->u.str.ptr, c->u.str.len);
    if (!own) {
      mh_value_free(c);
      return -1;
    }
    c->u.str.ptr = own;
  }
  void *items = mh_is_list(c->type) ? (void *)c->u.arr.items : mh_is_pairs(c->type) ? (void *)c->u.obj.items : NULL;
  if (items && mh_items_inside(items, c)) {
    /* The same for items (mh_value_container). */
    size_t elem = mh_is_list(c->type) ? sizeof(mh_value *) : sizeof(mh_pair);
    size_t cap = mh_is_list(c->type) ? c->u.arr.cap : c->u.obj.cap;
    void *own = mh_items_resize(c, items, cap * elem, cap * elem);
    if (!own) {
      mh_value_free(c);
      return -1;
    }
    if (mh_is_list(c->type))
      c->u.arr.items = own;
    else
      c->u.obj.items = own;
  }
  mh_value old = *dst;
  *dst = *c;
  *c = old;
  /* What old kept inside dst's block (string bytes, items) stays there, unused. */
  mh_value_free_contents(c, dst);
  mh_small_free(c);
  return 0;
}

/* Frees what v owns apart from its own block. Its string bytes or items
 * may be inside holder's block (where they were made): those stay. */
static inline __attribute__((always_inline)) void mh_value_free_contents(mh_value *v, const mh_value *holder) {
  switch (v->type) {
  case MH_V_STRING:
  case MH_V_BIGINT:
  case MH_V_URL:
    if (v->u.str.ptr != (char *)(holder + 1)) free(v->u.str.ptr);
    break;
  case MH_V_ARRAY:
  case MH_V_SET:
    for (size_t i = 0; i < v->u.arr.len; i++) mh_value_free(v->u.arr.items[i]);
    if (!mh_items_inside(v->u.arr.items, holder)) mh_small_free(v->u.arr.items);
    break;
  case MH_V_OBJECT:
  case MH_V_MAP:
    for (size_t i = 0; i < v->u.obj.len; i++) {
      mh_value_free(v->u.obj.items[i].key);
      mh_value_free(v->u.obj.items[i].val);
    }
    if (!mh_items_inside(v->u.obj.items, holder)) mh_small_free(v->u.obj.items);
    break;
  case MH_V_REGEXP:
    free(v->u.re.source);
    free(v->u.re.flags);
    break;
  case MH_V_ERROR:
    free(v->u.err.name);
    free(v->u.err.message);
    break;
  case MH_V_BYTES:
    free(v->u.bytes.kind);
    free(v->u.bytes.items);
    break;
  default:
    break;
  }
}

void mh_value_free(mh_value *v) {
  if (!v) return;
  mh_value_free_contents(v, v);
  mh_small_free(v);
}

static mh_value *mh_value_copy_bytes(const mh_value *v) {
  mh_value *c = mh_value_two_strings(MH_V_BYTES, v->u.bytes.kind, NULL);
  if (!c || v->u.bytes.len == 0) return c;
  c->u.bytes.items = malloc(v->u.bytes.len * sizeof(double));
  if (!c->u.bytes.items) {
    mh_value_free(c);
    return NULL;
  }
  memcpy(c->u.bytes.items, v->u.bytes.items, v->u.bytes.len * sizeof(double));
  c->u.bytes.len = v->u.bytes.len;
  return c;
}

mh_value *mh_value_copy(const mh_value *v) {
  if (!v) return NULL;
  mh_value *c;
  switch (v->type) {
  case MH_V_STRING:
  case MH_V_BIGINT:
  case MH_V_URL:
    return mh_value_strtype(v->type, v->u.str.ptr, v->u.str.len);
  case MH_V_REGEXP:
    return mh_value_regexp(v->u.re.source, v->u.re.flags);
  case MH_V_ERROR:
    return mh_value_error(v->u.err.name, v->u.err.message);
  case MH_V_BYTES:
    return mh_value_copy_bytes(v);
  case MH_V_ARRAY:
  case MH_V_SET:
    if (!(c = mh_value_alloc(v->type))) return NULL;
    for (size_t i = 0; i < v->u.arr.len; i++) {
      mh_value *item = mh_value_copy(v->u.arr.items[i]);
      if (!item || mh_value_push(c, item)) goto fail;
    }
    return c;
  case MH_V_OBJECT:
  case MH_V_MAP:
    if (!(c = mh_value_alloc(v->type))) return NULL;
    for (size_t i = 0; i < v->u.obj.len; i++) {
      const mh_pair *p = &v->u.obj.items[i];
      if (mh_value_pair_append(c, mh_value_copy(p->key), mh_value_copy(p->val))) goto fail;
    }
    return c;
  default:
    c = mh_value_alloc(v->type);
    if (c) c->u = v->u; /* scalars only: no owned memory */
    return c;
  }
fail:
  mh_value_free(c);
  return NULL;
}

/* ---- object views ------------------------------------------------------- */

typedef mh_value_keyref mh_keyref;

static void mh_key_bytes(const mh_value *k, const char **s, size_t *len) {
  if (k && k->type == MH_V_STRING) {
    *s = k->u.str.ptr;
    *len = k->u.str.len;
  } else { /* not a valid OBJECT key; treat as "" rather than crash */
    *s = "";
    *len = 0;
  }
}

static int mh_keyref_cmp(const void *pa, const void *pb) {
  const mh_keyref *a = pa, *b = pb;
  size_t n = a->len < b->len ? a->len : b->len;
  int c = n ? memcmp(a->key, b->key, n) : 0;
  if (c) return c;
  if (a->len != b->len) return a->len < b->len ? -1 : 1;
  return a->idx < b->idx ? -1 : a->idx > b->idx;
}

mh_keyref *mh_value_obj_sort_keys(const mh_value *obj) {
  size_t len = obj->u.obj.len;
  mh_keyref *refs = malloc((len ? len : 1) * sizeof *refs);
  if (!refs) return NULL;
  for (size_t i = 0; i < len; i++) {
    mh_key_bytes(obj->u.obj.items[i].key, &refs[i].key, &refs[i].len);
    refs[i].idx = i;
  }
  qsort(refs, len, sizeof *refs, mh_keyref_cmp);
  return refs;
}

bool mh_value_keyref_same(const mh_keyref *a, const mh_keyref *b) {
  return a->len == b->len && (a->len == 0 || memcmp(a->key, b->key, a->len) == 0);
}

/* The keys of an OBJECT sorted bytewise, last duplicate winning. Returns NULL
 * when memory runs out (and the object is not empty); *n gets the count. */
static mh_keyref *mh_obj_sorted_view(const mh_value *obj, size_t *n) {
  size_t len = obj->u.obj.len;
  *n = 0;
  mh_keyref *refs = mh_value_obj_sort_keys(obj);
  if (!refs) return NULL;
  /* Equal keys are adjacent, ordered by index: keep the last of each run. */
  size_t out = 0;
  for (size_t i = 0; i < len; i++)
    if (i + 1 == len || !mh_value_keyref_same(&refs[i], &refs[i + 1])) refs[out++] = refs[i];
  *n = out;
  return refs;
}

/* ---- equality ----------------------------------------------------------- */

/* NaN compares equal to NaN and -0 differs from 0, so equality agrees with
 * the canonical encoding (which is what caches and sharing rely on). */
static uint64_t mh_double_bits(double f) {
  if (isnan(f)) return UINT64_C(0x7ff8000000000000);
  uint64_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

static bool mh_double_same(double a, double b) { return mh_double_bits(a) == mh_double_bits(b); }

static bool mh_bytes_equal(const char *a, size_t alen, const char *b, size_t blen) {
  return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static bool mh_cstr_equal(const char *a, const char *b) { return strcmp(a ? a : "", b ? b : "") == 0; }

/* Fallback when no memory is left for sorted views: quadratic but exact. */
static bool mh_obj_equal_slow(const mh_value *a, const mh_value *b) {
  const mh_value *x = a, *y = b;
  for (int pass = 0; pass < 2; pass++) {
    for (size_t i = 0; i < x->u.obj.len; i++) {
      const char *k;
      size_t klen;
      mh_key_bytes(x->u.obj.items[i].key, &k, &klen);
      if ((size_t)mh_obj_find_last(x, k, klen) != i) continue; /* shadowed duplicate */
      ptrdiff_t j = mh_obj_find_last(y, k, klen);
      if (j < 0 || !mh_value_equal(x->u.obj.items[i].val, y->u.obj.items[j].val)) return false;
    }
    x = b;
    y = a;
  }
  return true;
}

static bool mh_obj_equal(const mh_value *a, const mh_value *b) {
  size_t na, nb;
  mh_keyref *ra = mh_obj_sorted_view(a, &na);
  mh_keyref *rb = ra ? mh_obj_sorted_view(b, &nb) : NULL;
  if (!ra || !rb) {
    free(ra);
    return mh_obj_equal_slow(a, b);
  }
  bool eq = na == nb;
  for (size_t i = 0; eq && i < na; i++)
    eq = mh_bytes_equal(ra[i].key, ra[i].len, rb[i].key, rb[i].len) &&
         mh_value_equal(a->u.obj.items[ra[i].idx].val, b->u.obj.items[rb[i].idx].val);
  free(ra);
  free(rb);
  return eq;
}

bool mh_value_equal(const mh_value *a, const mh_value *b) {
  if (a == b) return true;
  if (!a || !b || a->type != b->type) return false;
  switch (a->type) {
  case MH_V_UNDEFINED:
  case MH_V_NULL:
    return true;
  case MH_V_BOOL:
    return a->u.b == b->u.b;
  case MH_V_INT:
    return a->u.i == b->u.i;
  case MH_V_FLOAT:
  case MH_V_DATE:
    return mh_double_same(a->u.f, b->u.f);
  case MH_V_STRING:
  case MH_V_BIGINT:
  case MH_V_URL:
    return mh_bytes_equal(a->u.str.ptr, a->u.str.len, b->u.str.ptr, b->u.str.len);
  case MH_V_ARRAY:
  case MH_V_SET:
    if (a->u.arr.len != b->u.arr.len) return false;
    for (size_t i = 0; i < a->u.arr.len; i++)
      if (!mh_value_equal(a->u.arr.items[i], b->u.arr.items[i])) return false;
    return true;
  case MH_V_OBJECT:
    return mh_obj_equal(a, b);
  case MH_V_MAP: /* insertion order is part of a Map's identity */
    if (a->u.obj.len != b->u.obj.len) return false;
    for (size_t i = 0; i < a->u.obj.len; i++)
      if (!mh_value_equal(a->u.obj.items[i].key, b->u.obj.items[i].key) ||
          !mh_value_equal(a->u.obj.items[i].val, b->u.obj.items[i].val))
        return false;
    return true;
  case MH_V_REGEXP:
    return mh_cstr_equal(a->u.re.source, b->u.re.source) && mh_cstr_equal(a->u.re.flags, b->u.re.flags);
  case MH_V_ERROR:
    return mh_cstr_equal(a->u.err.name, b->u.err.name) &&
           mh_cstr_equal(a->u.err.message, b->u.err.message);
  case MH_V_BYTES:
    if (!mh_cstr_equal(a->u.bytes.kind, b->u.bytes.kind) || a->u.bytes.len != b->u.bytes.len)
      return false;
    for (size_t i = 0; i < a->u.bytes.len; i++)
      if (!mh_double_same(a->u.bytes.items[i], b->u.bytes.items[i])) return false;
    return true;
  }
  return false;
}

const char *mh_value_type_name(mh_vtype type) {
  switch (type) {
  case MH_V_UNDEFINED: return "undefined";
  case MH_V_NULL: return "null";
  case MH_V_BOOL: return "boolean";
  case MH_V_INT: return "integer";
  case MH_V_FLOAT: return "float";
  case MH_V_STRING: return "string";
  case MH_V_ARRAY: return "array";
  case MH_V_OBJECT: return "object";
  case MH_V_DATE: return "date";
  case MH_V_BIGINT: return "bigint";
  case MH_V_URL: return "url";
  case MH_V_MAP: return "map";
  case MH_V_SET: return "set";
  case MH_V_REGEXP: return "regexp";
  case MH_V_ERROR: return "error";
  case MH_V_BYTES: return "bytes";
  }
  return "unknown";
}

/* ---- canonical encoding ------------------------------------------------- */

/* Every value is a one-byte type tag followed by a self-delimiting payload
 * (varint lengths and counts, fixed 8-byte doubles), so the encoding is
 * prefix-free and therefore injective. */
enum {
  MH_C_UNDEFINED = 'u',
  MH_C_NULL = 'n',
  MH_C_TRUE = 't',
  MH_C_FALSE = 'f',
  MH_C_INT = 'i',
  MH_C_FLOAT = 'd',
  MH_C_STRING = 's',
  MH_C_ARRAY = 'a',
  MH_C_OBJECT = 'o',
  MH_C_DATE = 'D',
  MH_C_BIGINT = 'b',
  MH_C_MAP = 'm',
  MH_C_SET = 'S',
  MH_C_REGEXP = 'r',
  MH_C_ERROR = 'e',
  MH_C_BYTES = 'y',
  MH_C_URL = 'u',
};

static int mh_canon_tag(mh_buf *out, char tag) { return mh_buf_append(out, &tag, 1); }

static int mh_canon_varint(mh_buf *out, uint64_t u) {
  unsigned char tmp[10];
  size_t n = 0;
  do {
    unsigned char byte = u & 0x7f;
    u >>= 7;
    tmp[n++] = byte | (u ? 0x80 : 0);
  } while (u);
  return mh_buf_append(out, tmp, n);
}

static int mh_canon_double(mh_buf *out, double f) {
  uint64_t u = mh_double_bits(f);
  unsigned char tmp[8];
  for (int i = 0; i < 8; i++) tmp[i] = (unsigned char)(u >> (56 - 8 * i));
  return mh_buf_append(out, tmp, 8);
}

static int mh_canon_bytes(mh_buf *out, const char *s, size_t len) {
  return mh_canon_varint(out, len) || mh_buf_append(out, s, len) ? -1 : 0;
}

static int mh_canon_cstr(mh_buf *out, const char *s) { return mh_canon_bytes(out, s ? s : "", s ? strlen(s) : 0); }

static int mh_canon_value(const mh_value *v, mh_buf *out);

static int mh_canon_object(const mh_value *v, mh_buf *out) {
  size_t n;
  mh_keyref *refs = mh_obj_sorted_view(v, &n);
  if (!refs) return -1;
  int rc = mh_canon_tag(out, MH_C_OBJECT) || mh_canon_varint(out, n) ? -1 : 0;
  for (size_t i = 0; rc == 0 && i < n; i++)
    if (mh_canon_bytes(out, refs[i].key, refs[i].len) || mh_canon_value(v->u.obj.items[refs[i].idx].val, out))
      rc = -1;
  free(refs);
  return rc;
}

static int mh_canon_value(const mh_value *v, mh_buf *out) {
  if (!v) return mh_canon_tag(out, MH_C_UNDEFINED);
  switch (v->type) {
  case MH_V_UNDEFINED: return mh_canon_tag(out, MH_C_UNDEFINED);
  case MH_V_NULL: return mh_canon_tag(out, MH_C_NULL);
  case MH_V_BOOL: return mh_canon_tag(out, v->u.b ? MH_C_TRUE : MH_C_FALSE);
  case MH_V_INT: {
    /* zigzag so small negative numbers stay short */
    uint64_t u = (uint64_t)v->u.i;
    uint64_t z = (u << 1) ^ (v->u.i < 0 ? UINT64_MAX : 0);
    return mh_canon_tag(out, MH_C_INT) || mh_canon_varint(out, z) ? -1 : 0;
  }
  case MH_V_FLOAT:
  case MH_V_DATE:
    return mh_canon_tag(out, v->type == MH_V_FLOAT ? MH_C_FLOAT : MH_C_DATE) || mh_canon_double(out, v->u.f)
               ? -1
               : 0;
  case MH_V_STRING:
  case MH_V_BIGINT:
  case MH_V_URL:
    return mh_canon_tag(out, v->type == MH_V_STRING   ? MH_C_STRING
                             : v->type == MH_V_BIGINT ? MH_C_BIGINT
                                                      : MH_C_URL) ||
                   mh_canon_bytes(out, v->u.str.ptr, v->u.str.len)
               ? -1
               : 0;
  case MH_V_ARRAY:
  case MH_V_SET:
    if (mh_canon_tag(out, v->type == MH_V_ARRAY ? MH_C_ARRAY : MH_C_SET) || mh_canon_varint(out, v->u.arr.len))
      return -1;
    for (size_t i = 0; i < v->u.arr.len; i++)
      if (mh_canon_value(v->u.arr.items[i], out)) return -1;
    return 0;
  case MH_V_OBJECT:
    return mh_canon_object(v, out);
  case MH_V_MAP:
    if (mh_canon_tag(out, MH_C_MAP) || mh_canon_varint(out, v->u.obj.len)) return -1;
    for (size_t i = 0; i < v->u.obj.len; i++)
      if (mh_canon_value(v->u.obj.items[i].key, out) || mh_canon_value(v->u.obj.items[i].val, out)) return -1;
    return 0;
  case MH_V_REGEXP:
    return mh_canon_tag(out, MH_C_REGEXP) || mh_canon_cstr(out, v->u.re.source) || mh_canon_cstr(out, v->u.re.flags)
               ? -1
               : 0;
  case MH_V_ERROR:
    return mh_canon_tag(out, MH_C_ERROR) || mh_canon_cstr(out, v->u.err.name) ||
                   mh_canon_cstr(out, v->u.err.message)
               ? -1
               : 0;
  case MH_V_BYTES:
    if (mh_canon_tag(out, MH_C_BYTES) || mh_canon_cstr(out, v->u.bytes.kind) || mh_canon_varint(out, v->u.bytes.len))
      return -1;
    for (size_t i = 0; i < v->u.bytes.len; i++)
      if (mh_canon_double(out, v->u.bytes.items[i])) return -1;
    return 0;
  }
  return -1;
}

int mh_value_canonical(const mh_value *v, mh_buf *out) {
  size_t mark = out->len;
  if (mh_canon_value(v, out) == 0) return 0;
  out->len = mark; /* leave the buffer as we found it */
  return -1;
}

/* ---- UTF-8 -------------------------------------------------------------- */

/* Whether the n < 8 bytes at p are ASCII, in two loads that may overlap. */
static inline bool mh_ascii_short(const unsigned char *p, size_t n) {
  if (n >= 4) {
    uint32_t a, b;
    memcpy(&a, p, 4);
    memcpy(&b, p + n - 4, 4);
    return ((a | b) & 0x80808080u) == 0;
  }
  if (n >= 2) {
    uint16_t a, b;
    memcpy(&a, p, 2);
    memcpy(&b, p + n - 2, 2);
    return ((a | b) & 0x8080u) == 0;
  }
  return n == 0 || *p < 0x80;
}

bool mh_utf8_valid(const char *s, size_t len) {
  const unsigned char *p = (const unsigned char *)s, *end = p + len;
  while (p < end) {
    /* ASCII, the common case, eight bytes at a time (every string a
     * message carries passes here, on the way in and on the way out) */
    uint64_t word;
    while (end - p >= 8 && (memcpy(&word, p, 8), (word & 0x8080808080808080u) == 0)) p += 8;
    /* The last bytes (all of a short name or path segment) at once, not
     * one per turn of the loop below: ~40 instructions less for "echo". */
    if (end - p < 8 && mh_ascii_short(p, (size_t)(end - p))) return true;
    unsigned c = *p;
    if (c < 0x80) {
      p++;
      continue;
    }
    size_t need;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
      need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      need = 2;
      if (c == 0xE0) lo = 0xA0;      /* overlong */
      else if (c == 0xED) hi = 0x9F; /* surrogates D800-DFFF */
    } else if (c >= 0xF0 && c <= 0xF4) {
      need = 3;
      if (c == 0xF0) lo = 0x90;      /* overlong */
      else if (c == 0xF4) hi = 0x8F; /* > U+10FFFF */
    } else {
      return false; /* continuation byte, C0/C1 overlong, or F5+ */
    }
    if ((size_t)(end - p) <= need) return false; /* truncated */
    if (p[1] < lo || p[1] > hi) return false;
    for (size_t k = 2; k <= need; k++)
      if ((p[k] & 0xC0) != 0x80) return false;
    p += need + 1;
  }
  return true;
}

size_t mh_value_cost(size_t string_bytes) {
  const size_t overhead = 2 * 16; /* malloc's header, for the node and a string or item array */
  size_t fixed = sizeof(mh_value) + sizeof(mh_pair) + overhead;
  return string_bytes > SIZE_MAX - fixed ? SIZE_MAX : fixed + string_bytes;
}
