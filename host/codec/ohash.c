/* ohash 2.x's serializer and hash (see ohash.h). Rules, from its source:
 *   string            'text' (no escaping); bare as an object key, a Map key
 *                     or when compared
 *   number            Number::toString (NaN, Infinity, 1e+21, -0 -> 0)
 *   bigint            123n
 *   null, undefined   null, undefined
 *   array             [a,b]
 *   object            {key:value,...} keys sorted by compare_units
 *   Date              Date(ISO) or Date(null) when invalid
 *   Map               Map{key:value,...} entries sorted by compare_items
 *   Set               Set[a,b] sorted likewise, undefined last (as
 *                     Array.prototype.sort puts it)
 *   RegExp, Error, URL  RegExp(/src/flags), Error(Name: message), URL(href)
 *   typed arrays      Uint8Array[1,2] (ArrayBuffer likewise; Float16Array,
 *                     which ohash has no case for, as its entries {0:x,...})
 * A sort whose comparisons contradict each other (Map keys or Set items of
 * mixed types, where numbers compare by value and the rest by text) may
 * come out in another order than V8's sort; consistent ones cannot. */
#include "codec/ohash.h"

#include <math.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/js_number.h"
#include "core/js_types.h"

/* ---- ohash's string collation ----------------------------------------- */

static const char ascii_order[] = " _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$0123456789abcdefghijklmnopqrstuvwxyz";

/* Weight of a UTF-16 code unit: its place in ascii_order (upper case as
 * lower case), or the unit + 128 (control characters, all non-ASCII). */
static unsigned unit_weight(uint16_t c) {
  if (c < 128) {
    unsigned lower = c >= 'A' && c <= 'Z' ? c + 32u : c;
    const char *at = lower ? strchr(ascii_order, (int)lower) : NULL;
    if (at) return (unsigned)(at - ascii_order) + 1;
  }
  return c + 128u;
}

/* A string as UTF-16 code units, as JavaScript compares them. */
typedef struct units {
  uint16_t *u;
  size_t n;
} units;

/* Decodes validated UTF-8 (the value's strings are) into code units. */
static int to_units(const char *s, size_t len, units *out) {
  out->u = malloc((len ? len : 1) * sizeof *out->u); /* never more units than bytes */
  out->n = 0;
  if (!out->u) return -1;
  const unsigned char *p = (const unsigned char *)s, *end = p + len;
  while (p < end) {
    uint32_t cp;
    int extra = *p >= 0xf0 ? 3 : *p >= 0xe0 ? 2 : *p >= 0xc0 ? 1 : 0;
    cp = extra == 3 ? *p & 0x07u : extra == 2 ? *p & 0x0fu : extra == 1 ? *p & 0x1fu : *p;
    p++;
    for (int i = 0; i < extra && p < end; i++) cp = (cp << 6) | (*p++ & 0x3fu);
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out->u[out->n++] = (uint16_t)(0xd800 + (cp >> 10));
      out->u[out->n++] = (uint16_t)(0xdc00 + (cp & 0x3ff));
    } else {
      out->u[out->n++] = (uint16_t)cp;
    }
  }
  return 0;
}

/* ohash's compareStrings: by weight; on a tie of weights the first
 * differing unit decides, the higher unit first (so 'a' before 'A'); a
 * prefix first. Equal strings only compare 0. */
static int compare_units(const units *a, const units *b) {
  size_t n = a->n < b->n ? a->n : b->n;
  int tie = 0;
  for (size_t i = 0; i < n; i++) {
    uint16_t ca = a->u[i], cb = b->u[i];
    if (ca == cb) continue;
    unsigned wa = unit_weight(ca), wb = unit_weight(cb);
    if (wa != wb) return wa < wb ? -1 : 1;
    if (!tie) tie = ca > cb ? -1 : 1;
  }
  if (a->n != b->n) return a->n < b->n ? -1 : 1;
  return tie;
}

/* ---- sorting ---------------------------------------------------------- */

/* One thing to sort: an object key, a Map key or a Set item. */
typedef struct item {
  size_t idx;      /* its pair or item in the container */
  units text;      /* the string, or the bare serialization */
  bool is_string, is_number, is_undefined;
  double num;
} item;

/* ohash's Serializer.compare: strings by collation, numbers by value (NaN
 * compares equal to anything, as a NaN comparator result does in sort),
 * anything else by the collation of its bare serialization. */
static int compare_items(const item *a, const item *b) {
  if (a->is_number && b->is_number) return a->num < b->num ? -1 : a->num > b->num ? 1 : 0;
  return compare_units(&a->text, &b->text);
}

/* A stable merge sort (Array.prototype.sort is stable). */
static void merge_sort(item *v, item *tmp, size_t n) {
  if (n < 2) return;
  size_t h = n / 2;
  merge_sort(v, tmp, h);
  merge_sort(v + h, tmp, n - h);
  size_t i = 0, j = h, k = 0;
  while (i < h && j < n) tmp[k++] = compare_items(&v[j], &v[i]) < 0 ? v[j++] : v[i++];
  while (i < h) tmp[k++] = v[i++];
  while (j < n) tmp[k++] = v[j++];
  memcpy(v, tmp, n * sizeof *v);
}

static void free_items(item *items, size_t n) {
  for (size_t i = 0; i < n && items; i++) free(items[i].text.u);
  free(items);
}

static int oom(mh_error **err) {
  if (err) *err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
  return -1;
}

static int serialize(const mh_value *v, bool quotes, mh_buf *out, mh_error **err);

/* The item for v: its text is the string itself or serialize(v, bare). */
static int make_item(const mh_value *v, size_t idx, item *it, mh_error **err) {
  memset(it, 0, sizeof *it);
  it->idx = idx;
  it->is_string = v->type == MH_V_STRING;
  it->is_number = v->type == MH_V_INT || v->type == MH_V_FLOAT;
  it->is_undefined = v->type == MH_V_UNDEFINED;
  it->num = v->type == MH_V_INT ? (double)v->u.i : v->u.f;
  if (it->is_string) return to_units(v->u.str.ptr, v->u.str.len, &it->text) ? oom(err) : 0;
  mh_buf text = MH_BUF_INIT;
  int rc = serialize(v, false, &text, err);
  if (!rc && to_units(text.data ? text.data : "", text.len, &it->text)) rc = oom(err);
  mh_buf_free(&text);
  return rc;
}

/* Items for n values got by at(i), sorted; undefined ones last unsorted,
 * as Array.prototype.sort leaves them. NULL with *err. */
static item *sorted_items(const mh_value *(*at)(const mh_value *, size_t), const mh_value *c, size_t n,
                          mh_error **err) {
  item *items = calloc(n ? n : 1, sizeof *items), *tmp = malloc((n ? n : 1) * sizeof *tmp);
  if (!items || !tmp) {
    free(items);
    free(tmp);
    return oom(err), NULL;
  }
  size_t defined = 0, undef = n;
  for (size_t i = 0; i < n; i++) {
    const mh_value *v = at(c, i);
    item *slot = v->type == MH_V_UNDEFINED ? &tmp[--undef] : &items[defined++];
    if (make_item(v, i, slot, err)) {
      free_items(items, defined);
      for (size_t k = undef; k < n; k++) free(tmp[k].text.u);
      free(tmp);
      return NULL;
    }
  }
  /* the undefined ones were stacked from the end: put them back in order */
  for (size_t k = 0; k < n - defined; k++) items[defined + k] = tmp[n - 1 - k];
  merge_sort(items, tmp, defined);
  free(tmp);
  return items;
}

static const mh_value *pair_key(const mh_value *c, size_t i) { return c->u.obj.items[i].key; }
static const mh_value *array_item(const mh_value *c, size_t i) { return c->u.arr.items[i]; }

/* ---- the serializer --------------------------------------------------- */

static int put(mh_buf *out, const char *s, mh_error **err) { return mh_buf_append_str(out, s) ? oom(err) : 0; }
static int putn(mh_buf *out, const char *s, size_t n, mh_error **err) { return mh_buf_append(out, s, n) ? oom(err) : 0; }

static int put_number(mh_buf *out, double x, mh_error **err) {
  char num[MH_JS_NUMBER_BUF];
  return put(out, mh_js_number_format(x, num), err);
}

/* {key:value,...} of an object, or Map{key:value,...}: keys bare, sorted
 * by compare_items. An object key written twice keeps its last value, as
 * in JS (a Map's keys are distinct already). */
static int serialize_pairs(const mh_value *v, mh_buf *out, mh_error **err) {
  bool object = v->type == MH_V_OBJECT;
  size_t n = v->u.obj.len;
  item *items = sorted_items(pair_key, v, n, err);
  if (!items) return -1;
  int rc = put(out, object ? "{" : "Map{", err);
  bool first = true;
  for (size_t i = 0; i < n && !rc; i++) {
    if (object && i + 1 < n && compare_units(&items[i].text, &items[i + 1].text) == 0) continue; /* a later one wins */
    const mh_pair *p = &v->u.obj.items[items[i].idx];
    if (!first) rc = put(out, ",", err);
    first = false;
    if (!rc) rc = serialize(p->key, false, out, err);
    if (!rc) rc = put(out, ":", err);
    if (!rc) rc = serialize(p->val, true, out, err);
  }
  free_items(items, n);
  return rc ? rc : put(out, "}", err);
}

static int serialize_set(const mh_value *v, mh_buf *out, mh_error **err) {
  size_t n = v->u.arr.len;
  item *items = sorted_items(array_item, v, n, err);
  if (!items) return -1;
  int rc = put(out, "Set[", err);
  for (size_t i = 0; i < n && !rc; i++) {
    if (i) rc = put(out, ",", err);
    if (!rc) rc = serialize(v->u.arr.items[items[i].idx], true, out, err);
  }
  free_items(items, n);
  return rc ? rc : put(out, "]", err);
}

static int serialize_array(const mh_value *v, mh_buf *out, mh_error **err) {
  int rc = put(out, "[", err);
  for (size_t i = 0; i < v->u.arr.len && !rc; i++) {
    if (i) rc = put(out, ",", err);
    if (!rc) rc = serialize(v->u.arr.items[i], true, out, err);
  }
  return rc ? rc : put(out, "]", err);
}

/* Kind[1,2,3]; Float16Array as its entries; a DataView fails as in ohash. */
static int serialize_bytes(const mh_value *v, mh_buf *out, mh_error **err) {
  const char *kind = v->u.bytes.kind;
  if (strcmp(kind, "DataView") == 0) {
    if (err) *err = mh_error_new(MH_ERR_BAD_REQUEST, "ohash cannot serialize a DataView");
    return -1;
  }
  bool entries = strcmp(kind, "Float16Array") == 0;
  int rc = put(out, kind, err);
  if (!rc) rc = put(out, entries ? "{" : "[", err);
  for (size_t i = 0; i < v->u.bytes.len && !rc; i++) {
    if (i) rc = put(out, ",", err);
    if (!rc && entries) rc = put_number(out, (double)i, err);
    if (!rc && entries) rc = put(out, ":", err);
    if (!rc) rc = put_number(out, v->u.bytes.items[i], err);
  }
  return rc ? rc : put(out, entries ? "}" : "]", err);
}

/* Type(part part ...): the parts up to the first NULL. */
static int serialize_wrapped(const char *type, const char *const *parts, mh_buf *out, mh_error **err) {
  int rc = put(out, type, err);
  if (!rc) rc = put(out, "(", err);
  for (; *parts && !rc; parts++) rc = put(out, *parts, err);
  return rc ? rc : put(out, ")", err);
}

/* Error.prototype.toString: "Name: message", or whichever one is not empty. */
static int serialize_error(const mh_value *v, mh_buf *out, mh_error **err) {
  const char *name = v->u.err.name ? v->u.err.name : "Error", *msg = v->u.err.message ? v->u.err.message : "";
  const char *parts[4] = {name, *name && *msg ? ": " : "", msg, NULL};
  return serialize_wrapped("Error", parts, out, err);
}

static int serialize(const mh_value *v, bool quotes, mh_buf *out, mh_error **err) {
  switch (v->type) {
  case MH_V_UNDEFINED: return put(out, "undefined", err);
  case MH_V_NULL: return put(out, "null", err);
  case MH_V_BOOL: return put(out, v->u.b ? "true" : "false", err);
  case MH_V_INT: return put_number(out, (double)v->u.i, err);
  case MH_V_FLOAT: return put_number(out, v->u.f, err);
  case MH_V_STRING:
    if (quotes && put(out, "'", err)) return -1;
    if (putn(out, v->u.str.ptr, v->u.str.len, err)) return -1;
    return quotes ? put(out, "'", err) : 0;
  case MH_V_BIGINT:
    if (putn(out, v->u.str.ptr, v->u.str.len, err)) return -1;
    return put(out, "n", err);
  case MH_V_ARRAY: return serialize_array(v, out, err);
  case MH_V_OBJECT: return serialize_pairs(v, out, err);
  case MH_V_DATE: {
    char iso[MH_JS_DATE_BUF];
    const char *parts[2] = {mh_js_date_format(v->u.f, iso) ? iso : "null", NULL};
    return serialize_wrapped("Date", parts, out, err);
  }
  case MH_V_MAP: return serialize_pairs(v, out, err);
  case MH_V_SET: return serialize_set(v, out, err);
  case MH_V_REGEXP: {
    const char *parts[5] = {"/", v->u.re.source, "/", v->u.re.flags ? v->u.re.flags : "", NULL};
    return serialize_wrapped("RegExp", parts, out, err);
  }
  case MH_V_ERROR: return serialize_error(v, out, err);
  case MH_V_BYTES: return serialize_bytes(v, out, err);
  case MH_V_URL: {
    const char *parts[2] = {v->u.str.ptr, NULL};
    return serialize_wrapped("URL", parts, out, err);
  }
  }
  return put(out, "undefined", err);
}

int mh_ohash_serialize(const mh_value *v, mh_buf *out, mh_error **err) { return serialize(v, true, out, err); }

int mh_ohash(const mh_value *v, char out[MH_OHASH_LEN + 1], mh_error **err) {
  mh_buf text = MH_BUF_INIT;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  int rc = mh_ohash_serialize(v, &text, err);
  if (!rc && !EVP_Digest(text.data ? text.data : "", text.len, md, &mdlen, EVP_sha256(), NULL)) rc = oom(err);
  mh_buf_free(&text);
  if (rc) return rc;
  static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  size_t o = 0;
  for (unsigned i = 0; i < mdlen; i += 3) { /* 32 bytes: ten triples and a pair, no padding */
    uint32_t t = (uint32_t)md[i] << 16 | (i + 1 < mdlen ? (uint32_t)md[i + 1] << 8 : 0) |
                 (i + 2 < mdlen ? md[i + 2] : 0);
    int chars = i + 2 < mdlen ? 4 : i + 1 < mdlen ? 3 : 2;
    for (int j = 0; j < chars; j++) out[o++] = b64url[(t >> (18 - 6 * j)) & 63];
  }
  out[o] = '\0';
  return 0;
}
