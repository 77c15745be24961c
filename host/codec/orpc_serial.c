/* oRPC's RPC serializer (StandardRPCJsonSerializer of @orpc/client 1.x):
 * a value travels as {json, meta}, json its JSON form and meta a list of
 * [type, ...path] saying which values to revive as BigInt, Date, NaN,
 * undefined, URL (an MH_V_URL), RegExp, Set or Map. The JSON text is read
 * with cJSON (json_decode.c) and written by json_encode.c; this file only
 * moves between value trees. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/js_types.h"
#include "codec/json_decode.h"
#include "codec/json_encode.h"
#include "codec/json_scan.h"
#include "codec/orpc_serial.h"

/* oRPC's DEFAULT_MAX_BIGINT_DIGITS: longer BigInts are refused as it does. */
#define MAX_BIGINT_DIGITS 4300
/* Object keys compared while following meta paths: a crafted body (many
 * paths into a wide object) must not make the loop scan for seconds. */
#define META_BUDGET MH_ORPC_PATH_BUDGET

/* ---- encoding ---- */

typedef struct seg {
  const mh_value *key; /* object key, or NULL for an index */
  size_t idx;
} seg;

typedef struct enc {
  mh_value *meta; /* ARRAY of [type, ...path] */
  seg *path;
  size_t depth, cap;
  mh_error *err;
} enc;

static mh_value *enc_oom(enc *e) {
  if (!e->err) e->err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
  return NULL;
}

static bool enter(enc *e, const mh_value *key, size_t idx) {
  if (e->depth == e->cap) {
    size_t cap = e->cap ? e->cap * 2 : 16;
    seg *p = realloc(e->path, cap * sizeof *p);
    if (!p) return enc_oom(e), false;
    e->path = p;
    e->cap = cap;
  }
  e->path[e->depth++] = (seg){key, idx};
  return true;
}

/* Records [type, ...current path]. */
static bool add_meta(enc *e, int type) {
  mh_value *item = mh_value_new(MH_V_ARRAY);
  bool ok = item && mh_value_push(item, mh_value_int(type)) == 0;
  for (size_t i = 0; ok && i < e->depth; i++) {
    const seg *s = &e->path[i];
    mh_value *v = s->key ? mh_value_copy(s->key) : mh_value_int((int64_t)s->idx);
    ok = mh_value_push(item, v) == 0;
  }
  if (!ok || mh_value_push(e->meta, item)) {
    if (!ok) mh_value_free(item);
    return enc_oom(e), false;
  }
  return true;
}

static mh_value *to_json(enc *e, const mh_value *v);

/* An array item (also Set values and Map entry halves): undefined becomes
 * null plus an UNDEFINED mark, as oRPC writes it. */
static bool push_item(enc *e, mh_value *arr, const mh_value *v, size_t idx) {
  if (!enter(e, NULL, idx)) return false;
  mh_value *j = v->type == MH_V_UNDEFINED ? (add_meta(e, MH_ORPC_UNDEFINED) ? mh_value_null() : NULL) : to_json(e, v);
  e->depth--;
  if (!j || mh_value_push(arr, j)) return enc_oom(e), false;
  return true;
}

static mh_value *list_json(enc *e, mh_value **items, size_t n) {
  mh_value *arr = mh_value_new(MH_V_ARRAY);
  if (!arr) return enc_oom(e);
  for (size_t i = 0; i < n; i++)
    if (!push_item(e, arr, items[i], i)) return mh_value_free(arr), NULL;
  return arr;
}

/* A Map as its entries, [[k, v], ...]. */
static mh_value *map_json(enc *e, const mh_value *v) {
  mh_value *arr = mh_value_new(MH_V_ARRAY);
  if (!arr) return enc_oom(e);
  for (size_t i = 0; i < v->u.obj.len; i++) {
    mh_value *pair = mh_value_new(MH_V_ARRAY);
    if (!pair || !enter(e, NULL, i)) {
      mh_value_free(pair);
      mh_value_free(arr);
      return enc_oom(e);
    }
    bool ok = push_item(e, pair, v->u.obj.items[i].key, 0) && push_item(e, pair, v->u.obj.items[i].val, 1);
    e->depth--;
    if (!ok || mh_value_push(arr, pair)) { /* a failed push frees pair */
      if (!ok) mh_value_free(pair);
      mh_value_free(arr);
      return enc_oom(e);
    }
  }
  return arr;
}

static mh_value *object_json(enc *e, const mh_value *v) {
  mh_value *obj = mh_value_new(MH_V_OBJECT);
  if (!obj) return enc_oom(e);
  for (size_t i = 0; i < v->u.obj.len; i++) {
    const mh_pair *p = &v->u.obj.items[i];
    if (p->val->type == MH_V_UNDEFINED) continue; /* JSON.stringify leaves it out, no mark */
    if (!enter(e, p->key, 0)) return mh_value_free(obj), NULL;
    mh_value *j = to_json(e, p->val);
    e->depth--;
    if (!j || mh_value_obj_append(obj, p->key->u.str.ptr, p->key->u.str.len, j)) {
      mh_value_free(obj);
      return enc_oom(e);
    }
  }
  return obj;
}

static mh_value *regexp_text(const mh_value *v) {
  mh_buf b = MH_BUF_INIT;
  if (mh_buf_appendf(&b, "/%s/%s", v->u.re.source, v->u.re.flags)) return NULL;
  mh_value *s = mh_value_string(b.data, b.len);
  mh_buf_free(&b);
  return s;
}

static mh_value *marked(enc *e, int type, mh_value *j) {
  if (!j) return enc_oom(e);
  if (!add_meta(e, type)) return mh_value_free(j), NULL;
  return j;
}

static mh_value *to_json(enc *e, const mh_value *v) {
  char date[MH_JS_DATE_BUF];
  mh_value *j;
  switch (v->type) {
  case MH_V_FLOAT:
    if (isnan(v->u.f)) return marked(e, MH_ORPC_NAN, mh_value_null());
    break; /* infinities go out as null, unmarked, as in oRPC */
  case MH_V_DATE:
    return marked(e, MH_ORPC_DATE, mh_js_date_format(v->u.f, date) ? mh_value_cstring(date) : mh_value_null());
  case MH_V_BIGINT: return marked(e, MH_ORPC_BIGINT, mh_value_string(v->u.str.ptr, v->u.str.len));
  case MH_V_URL: return marked(e, MH_ORPC_URL, mh_value_string(v->u.str.ptr, v->u.str.len));
  case MH_V_REGEXP: return marked(e, MH_ORPC_REGEXP, regexp_text(v));
  case MH_V_ARRAY: return list_json(e, v->u.arr.items, v->u.arr.len);
  case MH_V_SET:
    j = list_json(e, v->u.arr.items, v->u.arr.len);
    return j ? marked(e, MH_ORPC_SET, j) : NULL; /* after its items' marks, as oRPC orders them */
  case MH_V_MAP:
    j = map_json(e, v);
    return j ? marked(e, MH_ORPC_MAP, j) : NULL;
  case MH_V_OBJECT: return object_json(e, v);
  case MH_V_UNDEFINED: return mh_value_null(); /* only reached at the top, handled by the caller */
  default: break;
  }
  /* Everything else is JSON already (an Error as {name, message}, a typed
   * array as {"0": ...}: mh_codec_json writes them as JSON.stringify would). */
  j = mh_value_copy(v);
  return j ? j : enc_oom(e);
}

int mh_orpc_encode_marked(const mh_value *v, mh_buf *out, mh_error **err) {
  enc e = {mh_value_new(MH_V_ARRAY), NULL, 0, 0, NULL};
  mh_value *body = mh_value_new(MH_V_OBJECT);
  if (!e.meta || !body) {
    enc_oom(&e);
  } else if (v && v->type != MH_V_UNDEFINED) { /* undefined: no json at all, as JSON.stringify writes it */
    mh_value *j = to_json(&e, v);
    if (j && mh_value_obj_set(body, "json", j)) enc_oom(&e);
  }
  if (!e.err && e.meta->u.arr.len) {
    if (mh_value_obj_set(body, "meta", e.meta)) enc_oom(&e); /* taken either way */
    e.meta = NULL;
  }
  int rc = e.err ? -1 : mh_codec_json.encode(body, out, &e.err);
  if (rc && err) *err = e.err ? e.err : mh_error_new(MH_ERR_INTERNAL, "out of memory");
  else mh_error_free(e.err);
  mh_value_free(body);
  mh_value_free(e.meta);
  free(e.path);
  return rc;
}

/* Whether to_json would give back a copy of v unchanged and mark nothing:
 * no NaN, Date, BigInt, URL, RegExp, Set, Map or undefined anywhere in it.
 * An undefined object value counts too: left out by to_json before the
 * encoder sees duplicate keys, it would change which duplicate prints.
 * A missing child (never made by the decoders) is left to the general path. */
bool mh_orpc_plain(const mh_value *v) {
  switch (v->type) {
  case MH_V_FLOAT: return !isnan(v->u.f); /* infinities print as null either way */
  case MH_V_ARRAY:
    for (size_t i = 0; i < v->u.arr.len; i++) {
      const mh_value *item = v->u.arr.items[i];
      if (!item || !mh_orpc_plain(item)) return false;
    }
    return true;
  case MH_V_OBJECT:
    for (size_t i = 0; i < v->u.obj.len; i++) {
      const mh_value *val = v->u.obj.items[i].val;
      if (!v->u.obj.items[i].key || !val || !mh_orpc_plain(val)) return false;
    }
    return true;
  case MH_V_UNDEFINED:
  case MH_V_DATE:
  case MH_V_BIGINT:
  case MH_V_URL:
  case MH_V_REGEXP:
  case MH_V_SET:
  case MH_V_MAP: return false;
  default: return true; /* null, booleans, numbers, strings, errors, typed arrays */
  }
}

static int encode_oom(mh_buf *out, size_t mark, mh_error **err) {
  out->len = mark;
  mh_error *e = mh_error_new(MH_ERR_INTERNAL, "out of memory");
  if (err) *err = e;
  else mh_error_free(e);
  return -1;
}

/* {"json":<v>} written straight into out: the text the general path gives
 * for a plain value, without building its copy (~1.7k instructions of a
 * small reply). out is left as it was on failure. */
static int encode_plain(const mh_value *v, mh_buf *out, mh_error **err) {
  size_t mark = out->len;
  /* the room mh_json_encode_value asks for, taken before the prefix so it
   * need not grow again; the prefix and the brace mostly go in by hand
   * (mh_buf_append's call cost ~60 instructions each) */
  if (mh_buf_reserve(out, 256)) return encode_oom(out, mark, err);
  memcpy(out->data + out->len, "{\"json\":", 8);
  out->len += 8;
  if (mh_json_encode_value(v, out, err)) {
    out->len = mark;
    return -1;
  }
  if (out->cap - out->len > 1) {
    out->data[out->len++] = '}';
    return 0;
  }
  return mh_buf_append(out, "}", 1) == 0 ? 0 : encode_oom(out, mark, err);
}

int mh_orpc_encode(const mh_value *v, mh_buf *out, mh_error **err) {
  if (!v || v->type == MH_V_UNDEFINED) /* no json at all, as JSON.stringify writes it */
    return mh_buf_append(out, "{}", 2) == 0 ? 0 : encode_oom(out, out->len, err);
  return mh_orpc_plain(v) ? encode_plain(v, out, err) : mh_orpc_encode_marked(v, out, err);
}

/* ---- decoding ---- */

static mh_value *fail(mh_error **err, mh_error *e) {
  if (err) *err = e;
  else mh_error_free(e);
  return NULL;
}

/* A canonical array index ("0", "17"), as JavaScript reads a property name. */
static bool index_of(const mh_value *s, size_t *idx) {
  if (s->type == MH_V_INT) {
    *idx = (size_t)s->u.i;
    return s->u.i >= 0;
  }
  const char *p = s->u.str.ptr;
  size_t n = s->u.str.len;
  if (n == 0 || n > 10 || (n > 1 && p[0] == '0')) return false;
  size_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (p[i] < '0' || p[i] > '9') return false;
    v = v * 10 + (size_t)(p[i] - '0');
  }
  *idx = v;
  return true;
}

/* The last pair under key (JSON.parse keeps the last duplicate). */
static mh_value **key_slot(mh_value *obj, const char *key, size_t klen, uint64_t *budget) {
  for (size_t i = obj->u.obj.len; i-- > 0;) {
    if (*budget == 0) return NULL;
    --*budget;
    const mh_value *k = obj->u.obj.items[i].key;
    if (k->u.str.len == klen && memcmp(k->u.str.ptr, key, klen) == 0) return &obj->u.obj.items[i].val;
  }
  return NULL;
}

mh_value **mh_orpc_slot(mh_value **root, const mh_value *path, size_t from, const char *what, uint64_t *budget,
                        mh_error **err) {
  mh_value **slot = root;
  for (size_t i = from; i < path->u.arr.len; i++) {
    const mh_value *s = path->u.arr.items[i], *cur = *slot;
    if (s->type != MH_V_STRING && s->type != MH_V_INT)
      return (mh_value **)fail(err, mh_error_new(MH_ERR_BAD_REQUEST, "%s: a path segment must be a string or an integer", what));
    size_t idx;
    char num[24];
    mh_value **next = NULL;
    if (cur->type == MH_V_ARRAY && index_of(s, &idx) && idx < cur->u.arr.len) {
      next = &cur->u.arr.items[idx];
    } else if (cur->type == MH_V_OBJECT) {
      if (s->type == MH_V_INT) snprintf(num, sizeof num, "%lld", (long long)s->u.i);
      next = s->type == MH_V_INT ? key_slot(*slot, num, strlen(num), budget)
                                 : key_slot(*slot, s->u.str.ptr, s->u.str.len, budget);
      if (!next && *budget == 0) return (mh_value **)fail(err, mh_error_new(MH_ERR_BAD_REQUEST, "meta too costly to apply"));
    }
    if (!next) {
      if (s->type == MH_V_INT)
        return (mh_value **)fail(err, mh_error_new(MH_ERR_BAD_REQUEST, "%s: path does not exist (no element %lld)",
                                                   what, (long long)s->u.i));
      return (mh_value **)fail(err, mh_error_new(MH_ERR_BAD_REQUEST, "%s: path does not exist (no \"%.100s\")", what,
                                                 s->u.str.ptr));
    }
    slot = next;
  }
  return slot;
}

/* "/source/flags" as RegExp.prototype.toString writes it. */
static mh_value *regexp_from(const mh_value *s) {
  const char *p = s->u.str.ptr;
  size_t n = s->u.str.len;
  const char *slash = n >= 2 && p[0] == '/' ? memrchr(p + 1, '/', n - 1) : NULL;
  if (!slash) return NULL;
  size_t srclen = (size_t)(slash - p - 1), flen = n - srclen - 2;
  if (!mh_js_regexp_flags_valid(slash + 1, flen)) return NULL;
  /* oRPC matches the source with '.', which stops at line terminators
   * (\n, \r, U+2028, U+2029); RegExp.prototype.source escapes them anyway. */
  for (size_t i = 0; i < srclen; i++) {
    const unsigned char *c = (const unsigned char *)p + 1 + i;
    if (*c == '\n' || *c == '\r') return NULL;
    if (i + 2 < srclen && c[0] == 0xE2 && c[1] == 0x80 && (c[2] == 0xA8 || c[2] == 0xA9)) return NULL;
  }
  char *src = strndup(p + 1, srclen);
  mh_value *v = src ? mh_value_regexp(src, slash + 1) : NULL;
  free(src);
  return v;
}

/* Map entries [[k, v], ...] into a MAP; the entries' items are moved. */
static mh_value *map_from(mh_value *arr) {
  for (size_t i = 0; i < arr->u.arr.len; i++)
    if (arr->u.arr.items[i]->type != MH_V_ARRAY) return NULL;
  mh_value *map = mh_value_new(MH_V_MAP);
  for (size_t i = 0; map && i < arr->u.arr.len; i++) {
    mh_value *entry = arr->u.arr.items[i];
    mh_value *k = entry->u.arr.len > 0 ? entry->u.arr.items[0] : mh_value_undefined();
    mh_value *v = entry->u.arr.len > 1 ? entry->u.arr.items[1] : mh_value_undefined();
    if (entry->u.arr.len > 0) entry->u.arr.items[0] = NULL; /* moved; freeing skips NULL */
    if (entry->u.arr.len > 1) entry->u.arr.items[1] = NULL;
    if (!k || !v || mh_value_map_append(map, k, v)) {
      if (!k || !v) mh_value_free(k ? k : v);
      mh_value_free(map);
      map = NULL;
    }
  }
  return map;
}

static const char *const type_names[] = {"bigint", "date", "nan", "undefined", "url", "regexp", "set", "map"};
static const char *const type_wants[] = {
    "a decimal integer string of at most 4300 digits", "an ISO date string (toISOString) or null", "null", "null",
    "an absolute URL string (scheme:...)", "a \"/pattern/flags\" string", "an array", "an array of [key, value] arrays"};

/* Revives the value in *slot as type; false when it has the wrong form. */
static bool revive(mh_value **slot, int64_t type) {
  mh_value *v = *slot, *nv = NULL;
  double ms;
  bool str = v->type == MH_V_STRING, null = v->type == MH_V_NULL;
  switch (type) {
  case MH_ORPC_BIGINT: {
    size_t digits = str ? v->u.str.len - (v->u.str.len && v->u.str.ptr[0] == '-') : 0;
    if (!str || digits > MAX_BIGINT_DIGITS || !mh_js_bigint_valid(v->u.str.ptr, v->u.str.len)) return false;
    v->type = MH_V_BIGINT; /* same text, same layout */
    return true;
  }
  case MH_ORPC_DATE:
    if (null) nv = mh_value_date(NAN);
    else if (str && mh_js_date_parse(v->u.str.ptr, v->u.str.len, &ms)) nv = mh_value_date(ms);
    else return false;
    break;
  case MH_ORPC_NAN:
    if (!null) return false;
    nv = mh_value_float(NAN);
    break;
  case MH_ORPC_UNDEFINED:
    if (!null) return false;
    nv = mh_value_undefined();
    break;
  case MH_ORPC_URL:
    if (!str || !mh_js_url_valid(v->u.str.ptr, v->u.str.len)) return false;
    v->type = MH_V_URL; /* same text, same layout */
    return true;
  case MH_ORPC_REGEXP:
    if (!str || !(nv = regexp_from(v))) return false;
    break;
  case MH_ORPC_SET:
    if (v->type != MH_V_ARRAY) return false;
    v->type = MH_V_SET; /* same items, same layout */
    return true;
  case MH_ORPC_MAP:
    if (v->type != MH_V_ARRAY || !(nv = map_from(v))) return false;
    break;
  default: return false;
  }
  if (!nv) return false; /* out of memory reads as bad input here; rare and harmless */
  mh_value_free(v);
  *slot = nv;
  return true;
}

mh_value *mh_orpc_apply_meta(mh_value *json, const mh_value *meta, mh_error **err) {
  if (!json) return fail(err, mh_error_new(MH_ERR_INTERNAL, "out of memory"));
  if (!meta || meta->type == MH_V_NULL || meta->type == MH_V_UNDEFINED) return json;
  if (meta->type != MH_V_ARRAY) {
    mh_value_free(json);
    return fail(err, mh_error_new(MH_ERR_BAD_REQUEST, "meta must be an array of [type, ...path]"));
  }
  mh_value *root = json;
  uint64_t budget = META_BUDGET;
  for (size_t i = 0; i < meta->u.arr.len; i++) {
    const mh_value *item = meta->u.arr.items[i];
    char what[48];
    snprintf(what, sizeof what, "meta[%zu]", i);
    if (item->type != MH_V_ARRAY || item->u.arr.len == 0 || item->u.arr.items[0]->type != MH_V_INT) {
      mh_value_free(root);
      return fail(err, mh_error_new(MH_ERR_BAD_REQUEST, "%s must be [type, ...path] with an integer type", what));
    }
    int64_t type = item->u.arr.items[0]->u.i;
    if (type < MH_ORPC_BIGINT || type > MH_ORPC_MAP) {
      mh_value_free(root);
      return fail(err, mh_error_new(MH_ERR_BAD_REQUEST, "%s: unknown type %lld (custom serializers are not supported)",
                                    what, (long long)type));
    }
    mh_value **slot = mh_orpc_slot(&root, item, 1, what, &budget, err);
    if (!slot) {
      mh_value_free(root);
      return NULL;
    }
    if (!revive(slot, type)) {
      mh_value_free(root);
      return fail(err, mh_error_new(MH_ERR_BAD_REQUEST, "%s: type %lld (%s) expects %s", what, (long long)type,
                                    type_names[type], type_wants[type]));
    }
  }
  return root;
}

mh_value *mh_orpc_decode_json(const char *text, size_t len, const mh_codec_limits *lim, mh_error **err) {
  size_t i = 0;
  while (i < len && mh_json_is_space(text[i])) i++;
  if (i == len) return mh_value_undefined(); /* oRPC reads an empty body as no input */
  /* Only json and meta are built; the body's other members are checked as
   * decoding the whole body would check them (no body object to take json
   * out of: ~400 instructions a request). */
  static const char *const keys[] = {"json", "meta"};
  mh_value *vals[2];
  int rc = mh_json_decode_members(text, len, lim, keys, vals, 2, err);
  if (rc < 0) return NULL;
  if (rc == 0) return fail(err, mh_error_new(MH_ERR_BAD_REQUEST, "the body must be a JSON object {json, meta}"));
  mh_value *out = mh_orpc_apply_meta(vals[0] ? vals[0] : mh_value_undefined(), vals[1], err);
  mh_value_free(vals[1]);
  return out;
}
