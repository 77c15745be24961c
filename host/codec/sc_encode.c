/* structured-clone-es encoding: mh_value -> records, as the reference's
 * stringify (serialize(value, {json: true, lossy: true})) builds them, then
 * printed by cJSON. See sc_codec.c for the record format.
 *
 * Records are numbered in the reference's order, so replies look like the
 * ones a real devframe server sends: a container takes its index before its
 * children, and a pair's key goes before its value. Identical primitives
 * (strings, numbers, booleans, null, undefined, BigInts) are emitted once and
 * shared by index, as the reference does; objects in our tree are never
 * shared, so they are not looked up. */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/js_types.h"
#include "core/map.h"
#include "codec/sc_codec.h"

#define MH_SC_NONE SIZE_MAX

typedef struct mh_sc_enc {
  cJSON *records;
  size_t n;
  mh_map prims; /* primitive key (class byte + text) -> record index + 1 */
  mh_buf key;   /* scratch for building those keys */
  mh_error *err;
} mh_sc_enc;

static size_t mh_sc_enc_fail(mh_sc_enc *e, const char *msg) {
  if (!e->err) e->err = mh_error_new(MH_ERR_INTERNAL, "%s", msg);
  return MH_SC_NONE;
}

static size_t mh_sc_value(mh_sc_enc *e, const mh_value *v);

/* Appends the record [tag, value] ([tag] when bare) and returns its index.
 * A non-NULL name is the tag instead (typed arrays); it must outlive the
 * tree. Takes value; a NULL value that is not bare means it failed. */
static size_t mh_sc_push(mh_sc_enc *e, int tag, const char *name, cJSON *value, bool bare) {
  cJSON *rec = cJSON_CreateArray();
  cJSON *t = name ? cJSON_CreateStringReference(name) : cJSON_CreateNumber(tag);
  if (!rec || !t || (!bare && !value)) {
    cJSON_Delete(rec);
    cJSON_Delete(t);
    cJSON_Delete(value);
    return mh_sc_enc_fail(e, "out of memory");
  }
  cJSON_AddItemToArray(rec, t);
  if (value) cJSON_AddItemToArray(rec, value);
  cJSON_AddItemToArray(e->records, rec);
  return e->n++;
}

/* A string (borrowed: the value outlives the tree). NULL sets the error. */
static cJSON *mh_sc_string(mh_sc_enc *e, const char *s, size_t len) {
  if (!mh_utf8_valid(s, len)) return mh_sc_enc_fail(e, "invalid UTF-8 in string"), NULL;
  cJSON *j;
  if (memchr(s, '\0', len)) {
    char *lit = mh_json_quote_with_nul(s, len);
    j = lit ? cJSON_CreateRaw(lit) : NULL;
    free(lit);
  } else {
    j = cJSON_CreateStringReference(s);
  }
  return j ? j : (mh_sc_enc_fail(e, "out of memory"), NULL);
}

static cJSON *mh_sc_cstring(mh_sc_enc *e, const char *s) { return mh_sc_string(e, s ? s : "", s ? strlen(s) : 0); }

/* How a number is printed (print) and told apart from others (key). JSON
 * has no NaN or infinities: they print as null, as JSON.stringify writes
 * them, but stay distinct records as in the reference. -0 prints as -0,
 * which JSON.parse keeps (the reference writes 0). Finite numbers print as
 * the shortest text that reads back exactly; cJSON's own printing may be
 * one ulp off. */
static void mh_sc_number_text(double x, char *key, char *print, size_t size) {
  if (!isfinite(x)) {
    snprintf(key, size, "%s", isnan(x) ? "NaN" : x > 0 ? "Infinity" : "-Infinity");
    snprintf(print, size, "null");
    return;
  }
  if (x == 0) snprintf(print, size, "%s", signbit(x) ? "-0" : "0");
  for (int prec = 15; x != 0 && prec <= 17; prec++) {
    snprintf(print, size, "%.*g", prec, x);
    if (strtod(print, NULL) == x) break;
  }
  snprintf(key, size, "%s", print);
}

/* The JSON value of a primitive record; text is the printed number. */
static cJSON *mh_sc_prim_json(mh_sc_enc *e, const mh_value *v, const char *text) {
  cJSON *j = NULL;
  switch (v->type) {
  case MH_V_NULL: j = cJSON_CreateNull(); break;
  case MH_V_BOOL: j = cJSON_CreateBool(v->u.b); break;
  case MH_V_INT:
  case MH_V_FLOAT: j = cJSON_CreateRaw(text); break;
  case MH_V_STRING:
  case MH_V_BIGINT:
  case MH_V_URL: return mh_sc_string(e, v->u.str.ptr, v->u.str.len);
  default: break;
  }
  return j ? j : (mh_sc_enc_fail(e, "out of memory"), NULL);
}

/* The index of a primitive: the record emitted before for the same key
 * (class byte + bytes), or a new one. */
static size_t mh_sc_prim(mh_sc_enc *e, const mh_value *v, char cls, const char *bytes, size_t len, const char *text) {
  mh_buf_reset(&e->key);
  if (mh_buf_append(&e->key, &cls, 1) || mh_buf_append(&e->key, bytes, len)) return mh_sc_enc_fail(e, "out of memory");
  void *hit = mh_map_get(&e->prims, e->key.data, e->key.len);
  if (hit) return (size_t)(uintptr_t)hit - 1;
  size_t idx = v->type == MH_V_UNDEFINED ? mh_sc_push(e, -1, NULL, NULL, true)
                                         : mh_sc_push(e, v->type == MH_V_BIGINT ? 8 : 0, NULL,
                                                      mh_sc_prim_json(e, v, text), false);
  if (idx != MH_SC_NONE && mh_map_put(&e->prims, e->key.data, e->key.len, (void *)(uintptr_t)(idx + 1)))
    return mh_sc_enc_fail(e, "out of memory");
  return idx;
}

static size_t mh_sc_number(mh_sc_enc *e, const mh_value *v) {
  char key[40], print[40];
  if (v->type == MH_V_INT) {
    /* Exact text: a double would round integers beyond 2^53. */
    snprintf(print, sizeof print, "%" PRId64, v->u.i);
    snprintf(key, sizeof key, "%s", print);
  } else {
    mh_sc_number_text(v->u.f, key, print, sizeof print);
  }
  return mh_sc_prim(e, v, 'n', key, strlen(key), print);
}

/* Adds the index k to a JSON list of indices. */
static bool mh_sc_add_index(mh_sc_enc *e, cJSON *list, size_t k) {
  if (k == MH_SC_NONE) return false;
  cJSON *num = cJSON_CreateNumber((double)k);
  if (!num) return mh_sc_enc_fail(e, "out of memory"), false;
  cJSON_AddItemToArray(list, num);
  return true;
}

/* Array (1) and Set (6): the container's index comes before its items'. */
static size_t mh_sc_list(mh_sc_enc *e, const mh_value *v, int tag) {
  cJSON *items = cJSON_CreateArray();
  size_t idx = mh_sc_push(e, tag, NULL, items, false);
  for (size_t i = 0; idx != MH_SC_NONE && i < v->u.arr.len; i++)
    if (!mh_sc_add_index(e, items, mh_sc_value(e, v->u.arr.items[i]))) return MH_SC_NONE;
  return idx;
}

/* Object (2) and Map (5): [[keyIndex, valueIndex], ...]. Duplicate keys of
 * an object go out as they are: a JavaScript receiver assigns them in order,
 * so the first position and the last value win, as in our readers. */
static size_t mh_sc_pairs(mh_sc_enc *e, const mh_value *v, int tag) {
  cJSON *pairs = cJSON_CreateArray();
  size_t idx = mh_sc_push(e, tag, NULL, pairs, false);
  for (size_t i = 0; idx != MH_SC_NONE && i < v->u.obj.len; i++) {
    cJSON *pair = cJSON_CreateArray();
    if (!pair) return mh_sc_enc_fail(e, "out of memory");
    cJSON_AddItemToArray(pairs, pair);
    if (!mh_sc_add_index(e, pair, mh_sc_value(e, v->u.obj.items[i].key)) ||
        !mh_sc_add_index(e, pair, mh_sc_value(e, v->u.obj.items[i].val)))
      return MH_SC_NONE;
  }
  return idx;
}

/* Date (3): toISOString. An invalid date, where toISOString throws, goes as
 * "Invalid Date", which new Date(...) on the receiving side revives. */
static size_t mh_sc_date(mh_sc_enc *e, const mh_value *v) {
  char iso[MH_JS_DATE_BUF];
  cJSON *j = cJSON_CreateString(mh_js_date_format(v->u.f, iso) ? iso : "Invalid Date");
  return mh_sc_push(e, 3, NULL, j, false);
}

/* RegExp (4) {source, flags} and Error (7) {name, message}. */
static size_t mh_sc_two_strings(mh_sc_enc *e, int tag, const char *ka, const char *a, const char *kb, const char *b) {
  cJSON *obj = cJSON_CreateObject();
  cJSON *ja = obj ? mh_sc_cstring(e, a) : NULL;
  cJSON *jb = ja ? mh_sc_cstring(e, b) : NULL;
  if (!jb) {
    cJSON_Delete(obj);
    cJSON_Delete(ja);
    return mh_sc_enc_fail(e, "out of memory");
  }
  cJSON_AddItemToObjectCS(obj, ka, ja);
  cJSON_AddItemToObjectCS(obj, kb, jb);
  return mh_sc_push(e, tag, NULL, obj, false);
}

/* ["Uint8Array", [n, ...]]; NaN and infinities print as null. */
static size_t mh_sc_typed(mh_sc_enc *e, const mh_value *v) {
  const char *kind = v->u.bytes.kind ? v->u.bytes.kind : "Uint8Array";
  if (mh_js_typed_kind(kind, strlen(kind)) < 0) return mh_sc_enc_fail(e, "a typed array of an unknown kind");
  cJSON *list = cJSON_CreateArray();
  size_t idx = mh_sc_push(e, 0, kind, list, false);
  for (size_t i = 0; idx != MH_SC_NONE && i < v->u.bytes.len; i++) {
    char key[40], print[40];
    mh_sc_number_text(v->u.bytes.items[i], key, print, sizeof print);
    cJSON *num = cJSON_CreateRaw(print);
    if (!num) return mh_sc_enc_fail(e, "out of memory");
    cJSON_AddItemToArray(list, num);
  }
  return idx;
}

static size_t mh_sc_value(mh_sc_enc *e, const mh_value *v) {
  switch (v ? v->type : MH_V_UNDEFINED) {
  case MH_V_UNDEFINED: return mh_sc_prim(e, v ? v : &(mh_value){.type = MH_V_UNDEFINED}, 'u', "", 0, NULL);
  case MH_V_NULL: return mh_sc_prim(e, v, 'z', "", 0, NULL);
  case MH_V_BOOL: return mh_sc_prim(e, v, 'b', v->u.b ? "1" : "0", 1, NULL);
  case MH_V_INT:
  case MH_V_FLOAT: return mh_sc_number(e, v);
  case MH_V_STRING:
  case MH_V_URL: /* structured-clone has no URL: its href, as structured-clone-es writes one */
    return mh_sc_prim(e, v, 's', v->u.str.ptr, v->u.str.len, NULL);
  case MH_V_BIGINT:
    if (!mh_js_bigint_valid(v->u.str.ptr, v->u.str.len)) return mh_sc_enc_fail(e, "a BigInt that is not decimal");
    return mh_sc_prim(e, v, 'g', v->u.str.ptr, v->u.str.len, NULL);
  case MH_V_ARRAY: return mh_sc_list(e, v, 1);
  case MH_V_SET: return mh_sc_list(e, v, 6);
  case MH_V_OBJECT: return mh_sc_pairs(e, v, 2);
  case MH_V_MAP: return mh_sc_pairs(e, v, 5);
  case MH_V_DATE: return mh_sc_date(e, v);
  case MH_V_REGEXP: return mh_sc_two_strings(e, 4, "source", v->u.re.source, "flags", v->u.re.flags);
  case MH_V_ERROR:
    return mh_sc_two_strings(e, 7, "name", v->u.err.name ? v->u.err.name : "Error", "message", v->u.err.message);
  case MH_V_BYTES: return mh_sc_typed(e, v);
  }
  return mh_sc_enc_fail(e, "unknown value type");
}

int mh_sc_encode(const mh_value *v, mh_buf *out, mh_error **err) {
  mh_sc_enc e = {.records = cJSON_CreateArray(), .prims = MH_MAP_INIT, .key = MH_BUF_INIT};
  size_t root = e.records ? mh_sc_value(&e, v) : mh_sc_enc_fail(&e, "out of memory");
  char *text = root != MH_SC_NONE ? cJSON_PrintUnformatted(e.records) : NULL;
  if (root != MH_SC_NONE && !text) mh_sc_enc_fail(&e, "out of memory");
  int rc = text ? mh_buf_append(out, text, strlen(text)) : -1;
  if (text && rc) mh_sc_enc_fail(&e, "out of memory");
  cJSON_free(text);
  cJSON_Delete(e.records);
  mh_map_free(&e.prims);
  mh_buf_free(&e.key);
  if (rc) {
    if (err) *err = e.err ? e.err : mh_error_new(MH_ERR_INTERNAL, "out of memory");
    else mh_error_free(e.err);
  } else {
    mh_error_free(e.err);
  }
  return rc;
}
