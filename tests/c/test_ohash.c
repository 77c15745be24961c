/* ohash's serializer and hash (host/codec/ohash.c) against what the real
 * ohash 2.0.12 package makes of the same argument lists
 * (tests/vectors/ohash.json, from tests/vectors/gen-ohash.mjs): every byte
 * of serialize(args) and hash(args) must agree, since devframe's static
 * client finds a dumped record by that hash. Also JavaScript's number
 * text (core/js_number.c) and the cases the vectors cannot carry. Runs
 * with the repo root as cwd. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vectors.h"
#include "codec/ohash.h"
#include "core/js_number.h"

/* The tagged JSON of gen-ohash.mjs as an mh_value. */
static mh_value *untag(const cJSON *j) {
  if (cJSON_IsString(j)) return mh_value_cstring(j->valuestring);
  if (cJSON_IsBool(j)) return mh_value_bool(cJSON_IsTrue(j));
  if (cJSON_IsNull(j)) return mh_value_null();
  if (cJSON_IsNumber(j)) {
    double d = j->valuedouble;
    return d == floor(d) && fabs(d) <= 9007199254740992.0 ? mh_value_int((int64_t)d) : mh_value_float(d);
  }
  if (cJSON_IsArray(j)) {
    mh_value *a = mh_value_new(MH_V_ARRAY);
    const cJSON *e;
    cJSON_ArrayForEach(e, j) mh_value_push(a, untag(e));
    return a;
  }
  const char *t = cJSON_GetStringValue(cJSON_GetObjectItem(j, "t"));
  const cJSON *v = cJSON_GetObjectItem(j, "v");
  if (!t) return NULL;
  if (!strcmp(t, "undefined")) return mh_value_undefined();
  if (!strcmp(t, "nan")) return mh_value_float(NAN);
  if (!strcmp(t, "inf")) return mh_value_float(INFINITY);
  if (!strcmp(t, "-inf")) return mh_value_float(-INFINITY);
  if (!strcmp(t, "-0")) return mh_value_float(-0.0);
  if (!strcmp(t, "bigint")) return mh_value_bigint(v->valuestring, strlen(v->valuestring));
  if (!strcmp(t, "date")) return mh_value_date(v->valuedouble);
  if (!strcmp(t, "regexp"))
    return mh_value_regexp(cJSON_GetObjectItem(j, "source")->valuestring, cJSON_GetObjectItem(j, "flags")->valuestring);
  if (!strcmp(t, "error"))
    return mh_value_error(cJSON_GetObjectItem(j, "name")->valuestring, cJSON_GetObjectItem(j, "message")->valuestring);
  if (!strcmp(t, "set")) {
    mh_value *s = mh_value_new(MH_V_SET);
    const cJSON *e;
    cJSON_ArrayForEach(e, v) mh_value_push(s, untag(e));
    return s;
  }
  if (!strcmp(t, "map") || !strcmp(t, "object")) {
    bool map = !strcmp(t, "map");
    mh_value *m = mh_value_new(map ? MH_V_MAP : MH_V_OBJECT);
    const cJSON *e;
    cJSON_ArrayForEach(e, v) {
      const cJSON *k = cJSON_GetArrayItem(e, 0), *val = cJSON_GetArrayItem(e, 1);
      if (map)
        mh_value_map_append(m, untag(k), untag(val));
      else
        mh_value_obj_append(m, k->valuestring, strlen(k->valuestring), untag(val));
    }
    return m;
  }
  if (!strcmp(t, "bytes")) {
    mh_value *b = mh_value_new(MH_V_BYTES);
    free(b->u.bytes.kind);
    b->u.bytes.kind = strdup(cJSON_GetObjectItem(j, "kind")->valuestring);
    int n = cJSON_GetArraySize(v);
    b->u.bytes.items = calloc((size_t)n + 1, sizeof(double));
    b->u.bytes.len = (size_t)n;
    for (int i = 0; i < n; i++) b->u.bytes.items[i] = cJSON_GetArrayItem(v, i)->valuedouble;
    return b;
  }
  return NULL;
}

static char *serialized(const mh_value *v) {
  mh_buf b = MH_BUF_INIT;
  mh_error *err = NULL;
  if (mh_ohash_serialize(v, &b, &err)) {
    fprintf(stderr, "  serialize: %s\n", err ? err->message : "?");
    mh_error_free(err);
    mh_buf_free(&b);
    return NULL;
  }
  mh_buf_terminate(&b);
  return mh_buf_steal(&b, NULL);
}

static int check_vectors(void) {
  char *text = read_vector_file("tests/vectors/ohash.json");
  CHECK(text != NULL);
  cJSON *all = text ? cJSON_Parse(text) : NULL;
  CHECK(cJSON_GetArraySize(all) >= 30);
  int n = 0;
  const cJSON *vec;
  cJSON_ArrayForEach(vec, all) {
    const char *name = cJSON_GetObjectItem(vec, "name")->valuestring;
    mh_value *args = untag(cJSON_GetObjectItem(vec, "args"));
    char *got = args ? serialized(args) : NULL;
    const char *want = cJSON_GetObjectItem(vec, "serialized")->valuestring;
    if (!got || strcmp(got, want) != 0) fprintf(stderr, "  %s:\n    got  %s\n    want %s\n", name, got ? got : "(error)", want);
    CHECK(got && strcmp(got, want) == 0);
    char h[MH_OHASH_LEN + 1];
    mh_error *err = NULL;
    CHECK(args && mh_ohash(args, h, &err) == 0);
    if (args && strcmp(h, cJSON_GetObjectItem(vec, "hash")->valuestring) != 0) fprintf(stderr, "  %s: hash %s\n", name, h);
    CHECK(args && strcmp(h, cJSON_GetObjectItem(vec, "hash")->valuestring) == 0);
    mh_error_free(err);
    free(got);
    mh_value_free(args);
    n++;
  }
  cJSON_Delete(all);
  free(text);
  return n;
}

static bool number_is(double x, const char *want) {
  char buf[MH_JS_NUMBER_BUF];
  mh_js_number_format(x, buf);
  if (strcmp(buf, want) != 0) fprintf(stderr, "  %.17g: got %s, want %s\n", x, buf, want);
  return strcmp(buf, want) == 0;
}

int main(void) {
  CHECK(check_vectors() >= 30);

  /* Number::toString's four forms and their edges. */
  CHECK(number_is(123, "123"));
  CHECK(number_is(1e21, "1e+21"));
  CHECK(number_is(999999999999999900000.0, "999999999999999900000"));
  CHECK(number_is(0.000001, "0.000001"));
  CHECK(number_is(1e-7, "1e-7"));
  CHECK(number_is(-1.25e-7, "-1.25e-7"));
  CHECK(number_is(5e-324, "5e-324"));
  CHECK(number_is(0.1 + 0.2, "0.30000000000000004"));
  CHECK(number_is(-0.0, "0"));
  CHECK(number_is(-INFINITY, "-Infinity"));

  /* What the vectors cannot carry: an invalid Date (structured clone and
   * JSON have no form for it), a URL (ohash's URL(href)), an empty error
   * message, and a DataView, which ohash refuses too. */
  mh_value *arr = mh_value_new(MH_V_ARRAY);
  mh_value_push(arr, mh_value_date(NAN));
  mh_value_push(arr, mh_value_url("https://example.com/a?b=1", 25));
  mh_value_push(arr, mh_value_error("RangeError", ""));
  char *got = serialized(arr);
  CHECK(got && strcmp(got, "[Date(null),URL(https://example.com/a?b=1),Error(RangeError)]") == 0);
  free(got);
  mh_value *dv = mh_value_new(MH_V_BYTES);
  free(dv->u.bytes.kind);
  dv->u.bytes.kind = strdup("DataView");
  mh_value_push(arr, dv);
  mh_buf b = MH_BUF_INIT;
  mh_error *err = NULL;
  CHECK(mh_ohash_serialize(arr, &b, &err) == -1 && err && strstr(err->message, "DataView"));
  mh_error_free(err);
  mh_buf_free(&b);
  mh_value_free(arr);

  /* A key written twice keeps its last value, as a JS object does. */
  mh_value *obj = mh_value_new(MH_V_OBJECT);
  mh_value_obj_append(obj, "k", 1, mh_value_int(1));
  mh_value_obj_append(obj, "a", 1, mh_value_int(2));
  mh_value_obj_append(obj, "k", 1, mh_value_int(3));
  got = serialized(obj);
  CHECK(got && strcmp(got, "{a:2,k:3}") == 0);
  free(got);
  mh_value_free(obj);
  return check_failures ? 1 : 0;
}
