/* structured-clone-es record arrays: the wire format of @vitejs/devtools-rpc
 * 0.1.x, and of devframe behind its "s:" prefix (devframe_codec.c).
 *
 * A frame is JSON.stringify(serialize(value, {json: true, lossy: true})):
 * records[0] is the root, each record is [tag, value], and containers hold
 * the indices of other records:
 *   [0, primitive]  [-1] (undefined)  [1, [i, ...]] Array  [2, [[k, v], ...]] Object
 *   [3, "ISO"] Date  [4, {source, flags}] RegExp  [5, [[k, v], ...]] Map
 *   [6, [i, ...]] Set  [7, {name, message}] Error  [8, "decimal"] BigInt
 *   ["Uint8Array", [n, ...]] typed arrays (any kind), by name
 * The sender emits each primitive and each object once and refers to it by
 * index. NaN and +-Infinity arrive as null and -0 as 0, because that is how
 * JSON.stringify writes them.
 *
 * Decoding resolves the indices into a tree: a record reached twice becomes
 * two copies. A record reached again while it is still being resolved is a
 * cycle and is refused (a tree cannot hold it), and so is a frame that would
 * expand too much through shared references. Encoding is in sc_encode.c. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"
#include "core/js_types.h"
#include "codec/sc_codec.h"

/* Largest integer magnitude a double (and a JS number) holds exactly. */
#define MH_SC_MAX_SAFE 9007199254740992.0 /* 2^53 */
/* Bytes a decoded tree may take per byte of frame: generous for trees
 * (a one-character index expands to one value, about 50 bytes), and a
 * bound for frames that multiply one big record through shared references. */
#define MH_SC_EXPANSION 64
#define MH_SC_EXPANSION_FLOOR (1u << 20)

typedef struct mh_sc_dec {
  const cJSON **recs;  /* the records, for indexing */
  unsigned char *busy; /* 1 while a record's contents are being resolved */
  size_t n;
  int max_depth;
  size_t budget; /* bytes the tree may still take */
  mh_error *err;
} mh_sc_dec;

static bool mh_sc_is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Claims frames whose first non-whitespace byte is '[': birpc envelopes are
 * objects, so a JSON frame never starts with one. */
static bool mh_sc_detect(const char *data, size_t len) {
  size_t i = 0;
  while (i < len && mh_sc_is_space(data[i])) i++;
  return i < len && data[i] == '[';
}

static mh_value *mh_sc_bad(mh_sc_dec *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static mh_value *mh_sc_bad(mh_sc_dec *d, const char *fmt, ...) {
  if (d->err) return NULL;
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  d->err = mh_error_new(MH_ERR_BAD_REQUEST, "%s", msg);
  return NULL;
}

static mh_value *mh_sc_oom(mh_sc_dec *d) {
  if (!d->err) d->err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
  return NULL;
}

/* Counts bytes against the expansion budget. */
static bool mh_sc_charge(mh_sc_dec *d, size_t bytes) {
  if (bytes <= d->budget) {
    d->budget -= bytes;
    return true;
  }
  mh_sc_bad(d, "structured-clone frame expands too much through shared references");
  return false;
}

/* A record index: an integer within the record list. */
static bool mh_sc_index(mh_sc_dec *d, size_t rec, const cJSON *j, size_t *out) {
  if (!cJSON_IsNumber(j)) {
    mh_sc_bad(d, "record %zu: an index must be a number", rec);
    return false;
  }
  double x = j->valuedouble;
  if (!(x >= 0 && x < (double)d->n && x == floor(x))) {
    mh_sc_bad(d, "record %zu: index %g is out of range (%zu records)", rec, x, d->n);
    return false;
  }
  *out = (size_t)x;
  return true;
}

/* A string field, checked for UTF-8 and charged; NULL sets the error. */
static const char *mh_sc_string(mh_sc_dec *d, size_t rec, const cJSON *j, const char *what, size_t *len) {
  if (!cJSON_IsString(j)) return mh_sc_bad(d, "record %zu: %s must be a string", rec, what), NULL;
  *len = strlen(j->valuestring);
  if (!mh_utf8_valid(j->valuestring, *len)) return mh_sc_bad(d, "record %zu: invalid UTF-8 in string", rec), NULL;
  return mh_sc_charge(d, *len + 1) ? j->valuestring : NULL;
}

static mh_value *mh_sc_record(mh_sc_dec *d, size_t i, int depth);

static mh_value *mh_sc_ref(mh_sc_dec *d, size_t rec, const cJSON *j, int depth) {
  size_t i;
  return mh_sc_index(d, rec, j, &i) ? mh_sc_record(d, i, depth) : NULL;
}

static mh_value *mh_sc_number(double x) {
  /* -0 stays a float: an integer would lose its sign. */
  bool integral = isfinite(x) && x == trunc(x) && fabs(x) <= MH_SC_MAX_SAFE && !(x == 0 && signbit(x));
  return integral ? mh_value_int((int64_t)x) : mh_value_float(x);
}

/* [0, primitive]; also the boxed "Boolean", "Number" and "String", which
 * Lua cannot tell from the primitives. */
static mh_value *mh_sc_primitive(mh_sc_dec *d, size_t rec, const cJSON *j) {
  mh_value *v = NULL;
  size_t len;
  const char *s;
  if (cJSON_IsString(j)) {
    if (!(s = mh_sc_string(d, rec, j, "a string", &len))) return NULL;
    v = mh_value_string(s, len);
  } else if (cJSON_IsNumber(j)) {
    v = mh_sc_number(j->valuedouble);
  } else if (cJSON_IsBool(j)) {
    v = mh_value_bool(cJSON_IsTrue(j));
  } else if (cJSON_IsNull(j)) {
    v = mh_value_null();
  } else {
    return mh_sc_bad(d, "record %zu: a primitive must be a string, number, boolean or null", rec);
  }
  return v ? v : mh_sc_oom(d);
}

/* Array (1) and Set (6): [tag, [index, ...]]. */
static mh_value *mh_sc_list(mh_sc_dec *d, size_t rec, const cJSON *j, mh_vtype type, int depth) {
  if (!cJSON_IsArray(j)) return mh_sc_bad(d, "record %zu: expected a list of indices", rec);
  mh_value *v = mh_value_new(type);
  if (!v) return mh_sc_oom(d);
  for (const cJSON *c = j->child; c; c = c->next) {
    mh_value *item = mh_sc_charge(d, sizeof(mh_value *)) ? mh_sc_ref(d, rec, c, depth) : NULL;
    if (!item || mh_value_push(v, item)) {
      mh_value_free(v);
      return item ? mh_sc_oom(d) : NULL;
    }
  }
  return v;
}

/* Appends one [keyIndex, valueIndex] pair to an Object or a Map. */
static bool mh_sc_pair(mh_sc_dec *d, size_t rec, const cJSON *pair, mh_value *v, int depth) {
  if (!cJSON_IsArray(pair) || !pair->child || !pair->child->next || pair->child->next->next) {
    mh_sc_bad(d, "record %zu: expected [keyIndex, valueIndex] pairs", rec);
    return false;
  }
  if (!mh_sc_charge(d, sizeof(mh_pair))) return false;
  mh_value *key = mh_sc_ref(d, rec, pair->child, depth);
  if (!key) return false;
  if (v->type == MH_V_OBJECT && key->type != MH_V_STRING) {
    mh_value_free(key);
    mh_sc_bad(d, "record %zu: an object key must be a string", rec);
    return false;
  }
  mh_value *val = mh_sc_ref(d, rec, pair->child->next, depth);
  if (!val) {
    mh_value_free(key);
    return false;
  }
  int rc;
  if (v->type == MH_V_OBJECT) {
    /* Duplicate keys are kept in order; readers let the last one win. */
    rc = mh_value_obj_append(v, key->u.str.ptr, key->u.str.len, val);
    mh_value_free(key);
  } else {
    rc = mh_value_map_append(v, key, val);
  }
  if (rc) mh_sc_oom(d);
  return rc == 0;
}

/* Object (2) and Map (5): [tag, [[keyIndex, valueIndex], ...]]. */
static mh_value *mh_sc_pairs(mh_sc_dec *d, size_t rec, const cJSON *j, mh_vtype type, int depth) {
  if (!cJSON_IsArray(j)) return mh_sc_bad(d, "record %zu: expected a list of [keyIndex, valueIndex] pairs", rec);
  mh_value *v = mh_value_new(type);
  if (!v) return mh_sc_oom(d);
  for (const cJSON *c = j->child; c; c = c->next) {
    if (!mh_sc_pair(d, rec, c, v, depth)) {
      mh_value_free(v);
      return NULL;
    }
  }
  return v;
}

/* Date (3): the ISO text toISOString writes. "Invalid Date" is what this
 * host sends for an invalid date (new Date("Invalid Date") revives one). */
static mh_value *mh_sc_date(mh_sc_dec *d, size_t rec, const cJSON *j) {
  size_t len;
  const char *s = mh_sc_string(d, rec, j, "a Date", &len);
  double ms;
  if (!s) return NULL;
  if (strcmp(s, "Invalid Date") == 0) ms = NAN;
  else if (!mh_js_date_parse(s, len, &ms))
    return mh_sc_bad(d, "record %zu: a Date must be an ISO string like 1970-01-01T00:00:00.000Z", rec);
  mh_value *v = mh_value_date(ms);
  return v ? v : mh_sc_oom(d);
}

/* A string member of a {source, flags} or {name, message} record; absent
 * gives fallback (JavaScript would read undefined there). */
static const char *mh_sc_member(mh_sc_dec *d, size_t rec, const cJSON *obj, const char *key, const char *fallback) {
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, key);
  size_t len;
  return m ? mh_sc_string(d, rec, m, key, &len) : fallback;
}

/* RegExp (4) {source, flags} and Error (7) {name, message}. */
static mh_value *mh_sc_two_strings(mh_sc_dec *d, size_t rec, const cJSON *j, int tag) {
  bool re = tag == 4;
  if (!cJSON_IsObject(j)) return mh_sc_bad(d, "record %zu: expected {%s}", rec, re ? "source, flags" : "name, message");
  const char *a = mh_sc_member(d, rec, j, re ? "source" : "name", re ? NULL : "Error");
  const char *b = mh_sc_member(d, rec, j, re ? "flags" : "message", "");
  if (!a || !b) return re && !a ? mh_sc_bad(d, "record %zu: a RegExp needs a source", rec) : NULL;
  if (re && !mh_js_regexp_flags_valid(b, strlen(b)))
    return mh_sc_bad(d, "record %zu: invalid RegExp flags '%.32s'", rec, b);
  mh_value *v = re ? mh_value_regexp(a, b) : mh_value_error(a, b);
  return v ? v : mh_sc_oom(d);
}

/* BigInt (8), and the boxed "BigInt": canonical decimal text. */
static mh_value *mh_sc_bigint(mh_sc_dec *d, size_t rec, const cJSON *j) {
  size_t len;
  const char *s = mh_sc_string(d, rec, j, "a BigInt", &len);
  if (!s) return NULL;
  if (!mh_js_bigint_valid(s, len)) return mh_sc_bad(d, "record %zu: a BigInt must be decimal digits", rec);
  mh_value *v = mh_value_bigint(s, len);
  return v ? v : mh_sc_oom(d);
}

/* ["Uint8Array", [n, ...]]: a null element is what JSON.stringify made of
 * NaN or an infinity, and reads as 0 (as `new Float64Array([null])` does). */
static mh_value *mh_sc_typed(mh_sc_dec *d, size_t rec, int kind, const cJSON *j) {
  if (!cJSON_IsArray(j)) return mh_sc_bad(d, "record %zu: expected a list of numbers", rec);
  size_t n = (size_t)cJSON_GetArraySize(j);
  if (!mh_sc_charge(d, n * sizeof(double))) return NULL;
  mh_value *v = mh_value_new(MH_V_BYTES);
  char *kname = strdup(mh_js_typed_kind_name(kind));
  double *items = n ? malloc(n * sizeof *items) : NULL;
  if (!v || !kname || (n && !items)) {
    mh_value_free(v);
    free(kname);
    free(items);
    return mh_sc_oom(d);
  }
  free(v->u.bytes.kind);
  v->u.bytes.kind = kname;
  v->u.bytes.items = items;
  v->u.bytes.len = n;
  size_t k = 0;
  for (const cJSON *c = j->child; c; c = c->next, k++) {
    if (!cJSON_IsNumber(c) && !cJSON_IsNull(c)) {
      mh_value_free(v);
      return mh_sc_bad(d, "record %zu: a typed array element must be a number", rec);
    }
    items[k] = mh_js_typed_coerce(kind, cJSON_IsNull(c) ? 0 : c->valuedouble);
  }
  return v;
}

/* Records tagged with a type name: typed arrays and boxed primitives. */
static mh_value *mh_sc_named(mh_sc_dec *d, size_t rec, const char *name, const cJSON *j) {
  int kind = mh_js_typed_kind(name, strlen(name));
  if (kind >= 0) return mh_sc_typed(d, rec, kind, j);
  if (strcmp(name, "BigInt") == 0) return mh_sc_bigint(d, rec, j);
  bool boxed_ok = (strcmp(name, "Boolean") == 0 && cJSON_IsBool(j)) ||
                  (strcmp(name, "Number") == 0 && (cJSON_IsNumber(j) || cJSON_IsNull(j))) ||
                  (strcmp(name, "String") == 0 && cJSON_IsString(j));
  if (boxed_ok) return mh_sc_primitive(d, rec, j);
  if (strcmp(name, "Boolean") == 0 || strcmp(name, "Number") == 0 || strcmp(name, "String") == 0)
    return mh_sc_bad(d, "record %zu: a boxed %s holds the wrong type", rec, name);
  return mh_sc_bad(d, "record %zu: unknown type '%.40s'", rec, name);
}

/* A container: checks the depth and marks the record busy while its
 * contents resolve, so that a reference back to it is seen as a cycle. */
static mh_value *mh_sc_container(mh_sc_dec *d, size_t i, int tag, const cJSON *j, int depth) {
  if (depth + 1 > d->max_depth) return mh_sc_bad(d, "nesting deeper than %d", d->max_depth);
  static const mh_vtype types[] = {[1] = MH_V_ARRAY, [2] = MH_V_OBJECT, [5] = MH_V_MAP, [6] = MH_V_SET};
  d->busy[i] = 1;
  mh_value *v = tag == 1 || tag == 6 ? mh_sc_list(d, i, j, types[tag], depth + 1)
                                     : mh_sc_pairs(d, i, j, types[tag], depth + 1);
  d->busy[i] = 0;
  return v;
}

/* Resolves record i; depth counts the containers around it. */
static mh_value *mh_sc_record(mh_sc_dec *d, size_t i, int depth) {
  const cJSON *rec = d->recs[i];
  if (d->busy[i]) return mh_sc_bad(d, "cyclic reference: record %zu contains itself", i);
  if (!mh_sc_charge(d, sizeof(mh_value) + 16)) return NULL;
  const cJSON *tag = rec->child, *val = tag ? tag->next : NULL;
  if (!tag || (val && val->next)) return mh_sc_bad(d, "record %zu: expected [tag, value]", i);
  if (cJSON_IsString(tag)) {
    if (!val) return mh_sc_bad(d, "record %zu: expected [type, value]", i);
    return mh_sc_named(d, i, tag->valuestring, val);
  }
  double t = cJSON_IsNumber(tag) ? tag->valuedouble : NAN;
  if (t == -1) {
    if (val) return mh_sc_bad(d, "record %zu: undefined is the record [-1]", i);
    mh_value *v = mh_value_undefined();
    return v ? v : mh_sc_oom(d);
  }
  if (!val && t >= 0 && t <= 8 && t == floor(t)) return mh_sc_bad(d, "record %zu: expected [tag, value]", i);
  if (t == 0) return mh_sc_primitive(d, i, val);
  if (t == 1 || t == 2 || t == 5 || t == 6) return mh_sc_container(d, i, (int)t, val, depth);
  if (t == 3) return mh_sc_date(d, i, val);
  if (t == 4 || t == 7) return mh_sc_two_strings(d, i, val, (int)t);
  if (t == 8) return mh_sc_bigint(d, i, val);
  if (cJSON_IsNumber(tag)) return mh_sc_bad(d, "record %zu: unknown tag %g", i, t);
  return mh_sc_bad(d, "record %zu: the tag must be a number or a type name", i);
}

/* cJSON keeps strings NUL-terminated, so an escaped NUL would silently cut a
 * string short (as in json_codec.c). Whether a real "\u0000" escape, one
 * preceded by an even number of backslashes, occurs. */
static bool mh_sc_has_escaped_nul(const char *data, size_t len) {
  const char *p = data, *end = data + len;
  while ((p = memmem(p, (size_t)(end - p), "\\u0000", 6)) != NULL) {
    size_t at = (size_t)(p - data), run = 1;
    while (run <= at && data[at - run] == '\\') run++;
    if (run % 2 == 1) return true;
    p++;
  }
  return false;
}

/* Parses the outer JSON text; NULL sets the error. */
static cJSON *mh_sc_parse(const char *data, size_t len, mh_sc_dec *d) {
  const char *end = data;
  cJSON *root = cJSON_ParseWithLengthOpts(data, len, &end, 0);
  size_t at = root ? (size_t)(end - data) : 0;
  while (root && at < len && mh_sc_is_space(data[at])) at++;
  if (!root || at < len) {
    if (!root) at = end >= data && end <= data + len ? (size_t)(end - data) : 0;
    cJSON_Delete(root);
    /* cJSON stops at CJSON_NESTING_LIMIT levels with a bare syntax error;
     * records never nest that deep in the text, so say so. */
    if (!root && mh_json_depth_at(data, at) >= (size_t)d->max_depth)
      return mh_sc_bad(d, "nesting deeper than %d", d->max_depth), NULL;
    return mh_sc_bad(d, "malformed JSON at byte %zu", at), NULL;
  }
  if (memchr(data, '\0', len) || mh_sc_has_escaped_nul(data, len)) {
    cJSON_Delete(root);
    return mh_sc_bad(d, "unsupported NUL character in string"), NULL;
  }
  if (!cJSON_IsArray(root) || !root->child) {
    cJSON_Delete(root);
    return mh_sc_bad(d, "a structured-clone frame must be a non-empty list of records"), NULL;
  }
  return root;
}

/* Indexes the records (checking each is a list) and resolves record 0. */
static mh_value *mh_sc_resolve_root(const cJSON *root, mh_sc_dec *d) {
  d->n = (size_t)cJSON_GetArraySize(root);
  d->recs = malloc(d->n * sizeof *d->recs);
  d->busy = calloc(d->n, 1);
  if (!d->recs || !d->busy) return mh_sc_oom(d);
  size_t i = 0;
  for (const cJSON *c = root->child; c; c = c->next, i++) {
    if (!cJSON_IsArray(c)) return mh_sc_bad(d, "record %zu: expected [tag, value]", i);
    d->recs[i] = c;
  }
  return mh_sc_record(d, 0, 0);
}

mh_value *mh_sc_decode(const char *data, size_t len, const mh_codec_limits *lim, mh_error **err) {
  /* Without a configured limit, cJSON's own nesting limit still bounds the
   * recursion: records can nest without the JSON text nesting. */
  int max_depth = mh_json_depth_limit(lim);
  size_t budget = len > (SIZE_MAX - MH_SC_EXPANSION_FLOOR) / MH_SC_EXPANSION
                      ? SIZE_MAX
                      : len * MH_SC_EXPANSION + MH_SC_EXPANSION_FLOOR;
  mh_sc_dec d = {.max_depth = max_depth, .budget = budget};
  cJSON *root = mh_sc_parse(data ? data : "", data ? len : 0, &d);
  mh_value *v = root ? mh_sc_resolve_root(root, &d) : NULL;
  cJSON_Delete(root);
  free(d.recs);
  free(d.busy);
  if (!v) {
    if (err) *err = d.err ? d.err : mh_error_new(MH_ERR_INTERNAL, "out of memory");
    else mh_error_free(d.err);
  }
  return v;
}

/* Record i of the records when it is [0, primitive], else NULL. */
static const cJSON *mh_sc_peek_primitive(const cJSON *root, const cJSON *index) {
  if (!cJSON_IsNumber(index) || index->valuedouble < 0 || index->valuedouble >= cJSON_GetArraySize(root)) return NULL;
  const cJSON *rec = cJSON_GetArrayItem(root, (int)index->valuedouble);
  bool prim = cJSON_IsArray(rec) && cJSON_IsNumber(rec->child) && rec->child->valuedouble == 0 && rec->child->next;
  return prim ? rec->child->next : NULL;
}

/* After a refused frame: the envelope's id, when the outer JSON parses and
 * record 0 is an object whose "i" is a string or a number, so the error
 * reaches whoever waits for it; *reply when its "t" is "s". */
mh_value *mh_sc_salvage_id(const char *data, size_t len, bool *reply) {
  *reply = false;
  cJSON *root = cJSON_ParseWithLength(data, len);
  const cJSON *rec0 = cJSON_IsArray(root) ? root->child : NULL;
  bool obj = cJSON_IsArray(rec0) && cJSON_IsNumber(rec0->child) && rec0->child->valuedouble == 2;
  const cJSON *pair = obj && cJSON_IsArray(rec0->child->next) ? rec0->child->next->child : NULL;
  mh_value *id = NULL;
  for (; pair; pair = pair->next) {
    const cJSON *key = cJSON_IsArray(pair) ? mh_sc_peek_primitive(root, pair->child) : NULL;
    if (!cJSON_IsString(key)) continue;
    const cJSON *val = mh_sc_peek_primitive(root, pair->child->next);
    if (strcmp(key->valuestring, "t") == 0) *reply = cJSON_IsString(val) && strcmp(val->valuestring, "s") == 0;
    if (strcmp(key->valuestring, "i") != 0 || id) continue;
    if (cJSON_IsString(val) && mh_utf8_valid(val->valuestring, strlen(val->valuestring)))
      id = mh_value_cstring(val->valuestring);
    else if (cJSON_IsNumber(val))
      id = val->valuedouble == trunc(val->valuedouble) && fabs(val->valuedouble) <= 9007199254740992.0
               ? mh_value_int((int64_t)val->valuedouble)
               : mh_value_float(val->valuedouble);
  }
  cJSON_Delete(root);
  return id;
}

const mh_codec mh_codec_sc = {
    .name = "structured-clone",
    .detect = mh_sc_detect,
    .decode = mh_sc_decode,
    .encode = mh_sc_encode,
    .salvage_id = mh_sc_salvage_id,
};
