/* structured-clone codecs ("[" records and devframe's "s:"): frames from a
 * real Vite DevTools 0.8 capture, vectors made by the real structured-clone-es
 * (tests/vectors/structured-clone.json, from tests/vectors/gen.mjs), round
 * trips of every type, and bad input. Runs with the repo root as cwd. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vectors.h"
#include "codec/codec.h"
#include "codec/envelope.h"
#include "core/js_types.h"

static const mh_codec_limits lim = {64};

/* ---- helpers ---- */

static mh_value *dec_with(const mh_codec *c, const char *s, size_t len) {
  mh_error *err = NULL;
  mh_value *v = c->decode(s, len, &lim, &err);
  if (!v) fprintf(stderr, "  %s decode(%.80s): %s\n", c->name, s, err ? err->message : "?");
  mh_error_free(err);
  return v;
}

static mh_value *dec(const char *s) { return dec_with(&mh_codec_sc, s, strlen(s)); }

/* Encodes v with codec c into a fresh NUL-terminated string (NULL on error). */
static char *enc_with(const mh_codec *c, const mh_value *v) {
  mh_buf out = MH_BUF_INIT;
  mh_error *err = NULL;
  if (c->encode(v, &out, &err)) {
    fprintf(stderr, "  %s encode: %s\n", c->name, err ? err->message : "?");
    mh_error_free(err);
    mh_buf_free(&out);
    return NULL;
  }
  mh_buf_terminate(&out);
  return mh_buf_steal(&out, NULL);
}

/* Whether decoding fails with bad_request and a message containing want. */
static bool dec_fails(const char *s, size_t len, const char *want) {
  mh_error *err = NULL;
  mh_value *v = mh_codec_sc.decode(s, len, &lim, &err);
  bool ok = !v && err && strcmp(err->code, MH_ERR_BAD_REQUEST) == 0 && strstr(err->message, want);
  if (!ok)
    fprintf(stderr, "  decode(%.*s): got %s, want '%s'\n", (int)len, s,
            v ? "a value" : err ? err->message : "no error", want);
  mh_value_free(v);
  mh_error_free(err);
  return ok;
}
#define FAILS(s, want) dec_fails(s, strlen(s), want)

/* Encodes v, decodes the text again and compares with want (takes v and want). */
static bool round_trip(mh_value *v, mh_value *want) {
  char *text = enc_with(&mh_codec_sc, v);
  mh_value *back = text ? dec(text) : NULL;
  bool ok = back && mh_value_equal(back, want);
  if (!ok) fprintf(stderr, "  round trip of %s via %s failed\n", mh_value_type_name(v->type), text ? text : "?");
  free(text);
  mh_value_free(back);
  mh_value_free(v);
  mh_value_free(want);
  return ok;
}
static bool same(mh_value *v) { return round_trip(v, mh_value_copy(v)); }
#define SAME(v) same(v)

/* ---- detection ---- */

static void test_detect(void) {
  CHECK(mh_codec_detect("[[0,1]]", 7) == &mh_codec_sc);
  CHECK(mh_codec_detect(" \n[[0,1]]", 9) == &mh_codec_sc);
  CHECK(mh_codec_detect("s:[[0,1]]", 9) == &mh_codec_devframe);
  CHECK(mh_codec_detect("s:", 2) == &mh_codec_devframe);
  CHECK(mh_codec_detect("{\"t\":\"q\"}", 9) == &mh_codec_json);
  CHECK(mh_codec_detect(" s:[]", 5) == NULL); /* devframe wants the prefix first */
  CHECK(mh_codec_detect("s", 1) == NULL);
}

/* ---- the capture (shared/protocol/vite-devtools-0.8.md), verbatim ---- */

static const char *const capture[] = {
    "s:[[2,[[1,2],[3,4],[12,13],[14,15]]],[0,\"m\"],[0,\"anonymous:devframe:auth\"],[0,\"a\"],[1,[5]],[2,[[6,7],[8,9],[10,11]]],[0,\"authToken\"],[0,\"demo-token\"],[0,\"ua\"],[0,\"Node.js/20.20.2 (test)\"],[0,\"origin\"],[0,\"http://127.0.0.1:7812\"],[0,\"t\"],[0,\"q\"],[0,\"i\"],[0,\"kWv681gNy_ZW-sWza-bNr\"]]",
    "s:[[2,[[1,2],[3,4],[5,6]]],[0,\"t\"],[0,\"s\"],[0,\"i\"],[0,\"kWv681gNy_ZW-sWza-bNr\"],[0,\"r\"],[2,[[7,8]]],[0,\"isTrusted\"],[0,true]]",
    "s:[[2,[[1,2],[3,4],[6,7]]],[0,\"m\"],[0,\"devframe:rpc:server-state:subscribe\"],[0,\"a\"],[1,[5]],[0,\"devframe:services\"],[0,\"t\"],[0,\"q\"]]",
    "s:[[2,[[1,2],[3,4],[6,7],[8,9]]],[0,\"m\"],[0,\"devframe:rpc:server-state:get\"],[0,\"a\"],[1,[5]],[0,\"devframe:services\"],[0,\"t\"],[0,\"q\"],[0,\"i\"],[0,\"Vyw0MOt0jQrBPcnDKQXig\"]]",
    "s:[[2,[[1,2],[3,4],[10,11],[12,13]]],[0,\"m\"],[0,\"demo:echo\"],[0,\"a\"],[1,[5,6,8,9]],[3,\"1970-01-01T00:00:00.000Z\"],[5,[[3,7]]],[0,1],[6,[7]],[8,\"5\"],[0,\"t\"],[0,\"q\"],[0,\"i\"],[0,\"ub-FGQUBykxrhyzqPN_vx\"]]",
    "s:[[2,[[1,2],[3,4],[5,6]]],[0,\"t\"],[0,\"s\"],[0,\"i\"],[0,\"Vyw0MOt0jQrBPcnDKQXig\"],[0,\"r\"],[2,[]]]",
    "s:[[2,[[1,2],[3,4],[5,6]]],[0,\"t\"],[0,\"s\"],[0,\"i\"],[0,\"ub-FGQUBykxrhyzqPN_vx\"],[0,\"r\"],[1,[7,8,11,12]],[3,\"1970-01-01T00:00:00.000Z\"],[5,[[9,10]]],[0,\"a\"],[0,1],[6,[10]],[8,\"5\"]]",
    "s:[[2,[[1,2],[3,4],[6,7],[8,9]]],[0,\"m\"],[0,\"demo:broadcast\"],[0,\"a\"],[1,[5]],[0,\"hi\"],[0,\"t\"],[0,\"q\"],[0,\"i\"],[0,\"bmRweLk_02ur_T4d8qvaV\"]]",
    "s:[[2,[[1,2],[3,4],[6,7],[8,9]]],[0,\"m\"],[0,\"client:notify\"],[0,\"a\"],[1,[5]],[0,\"hi\"],[0,\"t\"],[0,\"q\"],[0,\"o\"],[0,true]]",
    "s:[[2,[[1,2],[3,4],[5,6]]],[0,\"t\"],[0,\"s\"],[0,\"i\"],[0,\"bmRweLk_02ur_T4d8qvaV\"],[0,\"r\"],[0,true]]",
    "s:[[2,[[1,2],[3,4],[6,7],[8,9]]],[0,\"m\"],[0,\"demo:does-not-exist\"],[0,\"a\"],[1,[5]],[0,1],[0,\"t\"],[0,\"q\"],[0,\"i\"],[0,\"kqbs8gPj6vjDhf0yghBC-\"]]",
    "s:[[2,[[1,2],[3,4],[5,6]]],[0,\"t\"],[0,\"s\"],[0,\"i\"],[0,\"kqbs8gPj6vjDhf0yghBC-\"],[0,\"e\"],[7,{\"name\":\"Error\",\"message\":\"[birpc] function \\\"demo:does-not-exist\\\" not found\"}]]",
    "s:[[2,[[1,2],[3,4],[12,13],[14,15]]],[0,\"m\"],[0,\"anonymous:devframe:auth\"],[0,\"a\"],[1,[5]],[2,[[6,7],[8,9],[10,11]]],[0,\"authToken\"],[0,\"wrong-1795492576123\"],[0,\"ua\"],[0,\"Node.js/20.20.2 (test)\"],[0,\"origin\"],[0,\"http://127.0.0.1:7812\"],[0,\"t\"],[0,\"q\"],[0,\"i\"],[0,\"DjGcQ6CvI8cuOYbuOYsWh\"]]",
    "s:[[2,[[1,2],[3,4],[5,6]]],[0,\"t\"],[0,\"s\"],[0,\"i\"],[0,\"DjGcQ6CvI8cuOYbuOYsWh\"],[0,\"r\"],[2,[[7,8]]],[0,\"isTrusted\"],[0,false]]",
    "s:[[2,[[1,2],[3,4],[5,6]]],[0,\"t\"],[0,\"s\"],[0,\"i\"],[0,\"x1\"],[0,\"e\"],[7,{\"name\":\"Error\",\"message\":\"RPC call to \\\"demo:echo\\\" was rejected: the caller is not authorized.\"}]]",
};

/* Every captured frame decodes, and re-encodes to the very same text: the
 * encoder numbers records as the reference does. */
static void test_capture_frames(void) {
  for (size_t i = 0; i < sizeof capture / sizeof capture[0]; i++) {
    const mh_codec *c = mh_codec_detect(capture[i], strlen(capture[i]));
    CHECK(c == &mh_codec_devframe);
    mh_value *v = dec_with(&mh_codec_devframe, capture[i], strlen(capture[i]));
    CHECK(v && v->type == MH_V_OBJECT);
    char *text = v ? enc_with(&mh_codec_devframe, v) : NULL;
    CHECK(text && strcmp(text, capture[i]) == 0);
    if (text && strcmp(text, capture[i]) != 0) fprintf(stderr, "  got  %s\n  want %s\n", text, capture[i]);
    free(text);
    mh_value_free(v);
  }
}

/* The demo:echo request decodes to the documented types, and the host's
 * reply built from its arguments is the captured reply, byte for byte. */
static void test_capture_echo(void) {
  mh_value *root = dec_with(&mh_codec_devframe, capture[4], strlen(capture[4]));
  mh_envelope e;
  mh_error *err = NULL;
  CHECK(root && mh_envelope_parse(root, &e, &err) == 0);
  if (!root || err) {
    mh_error_free(err);
    mh_value_free(root);
    return;
  }
  CHECK(e.kind == MH_ENV_REQUEST && strcmp(e.method, "demo:echo") == 0);
  mh_value *args = mh_envelope_take_args(&e);
  CHECK(args->u.arr.len == 4);
  mh_value **a = args->u.arr.items;
  CHECK(a[0]->type == MH_V_DATE && a[0]->u.f == 0);
  CHECK(a[1]->type == MH_V_MAP && a[1]->u.obj.len == 1 && a[1]->u.obj.items[0].key->type == MH_V_STRING &&
        a[1]->u.obj.items[0].val->type == MH_V_INT && a[1]->u.obj.items[0].val->u.i == 1);
  CHECK(a[2]->type == MH_V_SET && a[2]->u.arr.len == 1 && a[2]->u.arr.items[0]->u.i == 1);
  CHECK(a[3]->type == MH_V_BIGINT && strcmp(a[3]->u.str.ptr, "5") == 0);
  mh_buf out = MH_BUF_INIT;
  CHECK(mh_envelope_encode_reply(&mh_codec_devframe, e.id, args, NULL, &out, &err) == 0);
  mh_buf_terminate(&out);
  CHECK(out.data && strcmp(out.data, capture[6]) == 0);
  mh_buf_free(&out);
  mh_value_free(args);
  mh_value_free(root);
}

/* ---- vectors from the real structured-clone-es ---- */

static double special(const cJSON *j) {
  if (cJSON_IsNumber(j)) return j->valuedouble;
  const char *s = j->valuestring;
  if (strcmp(s, "NaN") == 0) return NAN;
  if (strcmp(s, "Infinity") == 0) return INFINITY;
  return strcmp(s, "-Infinity") == 0 ? -INFINITY : -0.0; /* "-0" */
}

/* Builds the value a vector's "expect" describes (see gen.mjs). */
static mh_value *expected(const cJSON *d) {
  const char *t = d->child->valuestring;
  const cJSON *a = d->child->next, *b = a ? a->next : NULL;
  if (!strcmp(t, "undefined")) return mh_value_undefined();
  if (!strcmp(t, "null")) return mh_value_null();
  if (!strcmp(t, "bool")) return mh_value_bool(cJSON_IsTrue(a));
  if (!strcmp(t, "int")) return mh_value_int((int64_t)a->valuedouble);
  if (!strcmp(t, "float")) return mh_value_float(special(a));
  if (!strcmp(t, "string")) return mh_value_cstring(a->valuestring);
  if (!strcmp(t, "bigint")) return mh_value_bigint(a->valuestring, strlen(a->valuestring));
  if (!strcmp(t, "date")) return mh_value_date(special(a));
  if (!strcmp(t, "regexp")) return mh_value_regexp(a->valuestring, b->valuestring);
  if (!strcmp(t, "error")) return mh_value_error(a->valuestring, b->valuestring);
  if (!strcmp(t, "bytes")) {
    mh_value *v = mh_value_new(MH_V_BYTES);
    free(v->u.bytes.kind);
    v->u.bytes.kind = strdup(a->valuestring);
    v->u.bytes.len = (size_t)cJSON_GetArraySize(b);
    v->u.bytes.items = calloc(v->u.bytes.len + 1, sizeof(double));
    size_t i = 0;
    for (const cJSON *c = b->child; c; c = c->next) v->u.bytes.items[i++] = special(c);
    return v;
  }
  mh_vtype type = !strcmp(t, "array") ? MH_V_ARRAY
                  : !strcmp(t, "set") ? MH_V_SET
                  : !strcmp(t, "map") ? MH_V_MAP
                                      : MH_V_OBJECT;
  mh_value *v = mh_value_new(type);
  for (const cJSON *c = a->child; c; c = c->next) {
    if (type == MH_V_ARRAY || type == MH_V_SET) mh_value_push(v, expected(c));
    else if (type == MH_V_MAP) mh_value_map_append(v, expected(c->child), expected(c->child->next));
    else mh_value_obj_append(v, c->child->valuestring, strlen(c->child->valuestring), expected(c->child->next));
  }
  return v;
}

static void check_vector(const cJSON *vec) {
  const char *name = cJSON_GetObjectItem(vec, "name")->valuestring;
  const char *frame = cJSON_GetObjectItem(vec, "frame")->valuestring;
  const cJSON *error = cJSON_GetObjectItem(vec, "error");
  if (error) {
    if (!dec_fails(frame, strlen(frame), error->valuestring)) fprintf(stderr, "  vector '%s'\n", name);
    CHECK(dec_fails(frame, strlen(frame), error->valuestring));
    return;
  }
  mh_value *want = expected(cJSON_GetObjectItem(vec, "expect"));
  mh_value *got = dec(frame);
  bool same = got && mh_value_equal(got, want);
  if (!same) fprintf(stderr, "  vector '%s': decoded value differs\n", name);
  CHECK(same);
  char *text = got ? enc_with(&mh_codec_sc, got) : NULL;
  if (cJSON_IsTrue(cJSON_GetObjectItem(vec, "exact")) && (!text || strcmp(text, frame) != 0)) {
    fprintf(stderr, "  vector '%s': encoded %s, reference %s\n", name, text ? text : "?", frame);
    CHECK(!"exact re-encoding");
  }
  mh_value *back = text ? dec(text) : NULL;
  CHECK(back && mh_value_equal(back, want));
  /* The same frame behind devframe's prefix. */
  size_t flen = strlen(frame);
  char *prefixed = malloc(flen + 3);
  memcpy(prefixed, "s:", 2);
  memcpy(prefixed + 2, frame, flen + 1);
  mh_value *df = dec_with(&mh_codec_devframe, prefixed, flen + 2);
  CHECK(df && mh_value_equal(df, want));
  free(prefixed);
  mh_value_free(df);
  mh_value_free(back);
  free(text);
  mh_value_free(got);
  mh_value_free(want);
}

static void test_vectors(void) {
  char *text = read_vector_file("tests/vectors/structured-clone.json");
  CHECK(text != NULL);
  cJSON *all = text ? cJSON_Parse(text) : NULL;
  CHECK(cJSON_GetArraySize(all) > 50);
  for (const cJSON *vec = all ? all->child : NULL; vec; vec = vec->next) check_vector(vec);
  cJSON_Delete(all);
  free(text);
}

/* ---- round trips built in C ---- */

static mh_value *bytes(const char *kind, const double *items, size_t n) {
  mh_value *v = mh_value_new(MH_V_BYTES);
  free(v->u.bytes.kind);
  v->u.bytes.kind = strdup(kind);
  v->u.bytes.items = malloc((n + 1) * sizeof(double));
  memcpy(v->u.bytes.items, items, n * sizeof(double));
  v->u.bytes.len = n;
  return v;
}

static void test_round_trips(void) {
  CHECK(SAME(mh_value_undefined()));
  CHECK(SAME(mh_value_null()));
  CHECK(SAME(mh_value_bool(true)));
  /* Printed exactly, but read back as a double, as a JS receiver does. */
  CHECK(round_trip(mh_value_int(INT64_MAX), mh_value_float(9223372036854775807.0)));
  CHECK(SAME(mh_value_float(0.1 + 0.2)));
  CHECK(SAME(mh_value_float(-0.0))); /* written as -0, which JSON.parse keeps */
  CHECK(round_trip(mh_value_float(NAN), mh_value_null()));      /* JSON has no NaN */
  CHECK(round_trip(mh_value_float(-INFINITY), mh_value_null())); /* nor infinities */
  CHECK(SAME(mh_value_cstring("héllo 𝄞")));
  /* A NUL goes out escaped (JS reads it fine); coming in, cJSON could not
   * keep it, so it is refused, as in the JSON codec. */
  mh_value *nul = mh_value_string("a\0b", 3);
  char *nul_text = enc_with(&mh_codec_sc, nul);
  CHECK(nul_text && strcmp(nul_text, "[[0,\"a\\u0000b\"]]") == 0);
  CHECK(nul_text && FAILS(nul_text, "NUL"));
  free(nul_text);
  mh_value_free(nul);
  CHECK(SAME(mh_value_date(1709210096789.0)));
  CHECK(SAME(mh_value_date(-8.64e15)));
  CHECK(SAME(mh_value_date(NAN))); /* "Invalid Date" */
  CHECK(round_trip(mh_value_url("https://x.test/", 15), mh_value_cstring("https://x.test/"))); /* no URL record */
  CHECK(SAME(mh_value_bigint("-98765432109876543210", 21)));
  CHECK(SAME(mh_value_regexp("^a+$", "gu")));
  CHECK(SAME(mh_value_error("TypeError", "bad")));
  double u8[] = {0, 1, 255};
  CHECK(SAME(bytes("Uint8Array", u8, 3)));
  CHECK(SAME(bytes("Float64Array", u8, 0)));
  /* Containers of everything, with shared primitives and undefined inside. */
  mh_value *map = mh_value_new(MH_V_MAP);
  mh_value_map_append(map, mh_value_int(1), mh_value_cstring("one"));
  mh_value_map_append(map, mh_value_cstring("one"), mh_value_undefined());
  mh_value_map_append(map, mh_value_new(MH_V_OBJECT), mh_value_date(0));
  mh_value *set = mh_value_new(MH_V_SET);
  mh_value_push(set, mh_value_cstring("one"));
  mh_value_push(set, mh_value_bigint("1", 1));
  mh_value *obj = mh_value_new(MH_V_OBJECT);
  mh_value_obj_set(obj, "map", map);
  mh_value_obj_set(obj, "set", set);
  mh_value_obj_set(obj, "u", mh_value_undefined());
  mh_value_obj_set(obj, "list", mh_value_new(MH_V_ARRAY));
  CHECK(SAME(obj));
  /* Equal primitives are written once. */
  mh_value *arr = mh_value_new(MH_V_ARRAY);
  for (int i = 0; i < 3; i++) mh_value_push(arr, mh_value_cstring("x"));
  mh_value_push(arr, mh_value_int(1));
  mh_value_push(arr, mh_value_float(1.0));
  char *text = enc_with(&mh_codec_sc, arr);
  CHECK(text && strcmp(text, "[[1,[1,1,1,2,2]],[0,\"x\"],[0,1]]") == 0);
  free(text);
  mh_value_free(arr);
  /* A value sc cannot write is an encode error, and devframe leaves no prefix behind. */
  mh_value *bad = bytes("BigInt64Array", u8, 1);
  mh_buf out = MH_BUF_INIT;
  mh_error *err = NULL;
  CHECK(mh_codec_devframe.encode(bad, &out, &err) == -1 && out.len == 0 && err);
  mh_error_free(err);
  mh_buf_free(&out);
  mh_value_free(bad);
}

/* ---- bad input ---- */

static void test_bad_input(void) {
  CHECK(FAILS("[[0,1]", "malformed JSON"));              /* truncated */
  CHECK(FAILS("[[0,1]] x", "malformed JSON"));           /* trailing garbage */
  CHECK(FAILS("[]", "non-empty list of records"));
  CHECK(FAILS("[5]", "record 0: expected [tag, value]"));
  CHECK(FAILS("[[]]", "record 0: expected [tag, value]"));
  CHECK(FAILS("[[0,1,2]]", "record 0: expected [tag, value]"));
  CHECK(FAILS("[[0]]", "record 0: expected [tag, value]"));
  CHECK(FAILS("[[-1,null]]", "undefined is the record [-1]"));
  CHECK(FAILS("[[1,[1]]]", "index 1 is out of range"));
  CHECK(FAILS("[[1,[-1]],[0,1]]", "index -1 is out of range"));
  CHECK(FAILS("[[1,[0.5]],[0,1]]", "index 0.5 is out of range"));
  CHECK(FAILS("[[1,[\"1\"]],[0,1]]", "an index must be a number"));
  CHECK(FAILS("[[1,[0]]]", "cyclic reference"));
  CHECK(FAILS("[[1,[1]],[2,[[2,0]]],[0,\"k\"]]", "cyclic reference"));
  CHECK(FAILS("[[99,1]]", "unknown tag 99"));
  CHECK(FAILS("[[\"Foo\",[]]]", "unknown type 'Foo'"));
  CHECK(FAILS("[[true,1]]", "tag must be a number or a type name"));
  CHECK(FAILS("[[\"BigInt64Array\",[1]]]", "unknown type 'BigInt64Array'"));
  CHECK(FAILS("[[0,[1]]]", "a primitive must be"));
  CHECK(FAILS("[[1,5]]", "expected a list of indices"));
  CHECK(FAILS("[[2,[[1]]],[0,\"a\"]]", "expected [keyIndex, valueIndex] pairs"));
  CHECK(FAILS("[[2,[[1,1]]],[0,1]]", "an object key must be a string"));
  CHECK(FAILS("[[3,\"yesterday\"]]", "a Date must be an ISO string"));
  CHECK(FAILS("[[3,\"2023-02-29T00:00:00.000Z\"]]", "a Date must be an ISO string"));
  CHECK(FAILS("[[3,\"1970-01-01T00:00:00Z\"]]", "a Date must be an ISO string"));
  CHECK(FAILS("[[3,\"+275760-09-13T00:00:00.001Z\"]]", "a Date must be an ISO string"));
  CHECK(FAILS("[[3,0]]", "a Date must be a string"));
  CHECK(FAILS("[[4,{\"flags\":\"g\"}]]", "a RegExp needs a source"));
  CHECK(FAILS("[[4,{\"source\":\"a\",\"flags\":\"gg\"}]]", "invalid RegExp flags"));
  CHECK(FAILS("[[4,\"a\"]]", "expected {source, flags}"));
  CHECK(FAILS("[[7,{\"name\":1}]]", "name must be a string"));
  CHECK(FAILS("[[8,\"1.5\"]]", "a BigInt must be decimal digits"));
  CHECK(FAILS("[[8,\"-0\"]]", "a BigInt must be decimal digits"));
  CHECK(FAILS("[[\"Uint8Array\",[1,\"a\"]]]", "a typed array element must be a number"));
  CHECK(FAILS("[[\"Number\",\"x\"]]", "a boxed Number holds the wrong type"));
  CHECK(FAILS("[[0,\"a\\u0000b\"]]", "NUL"));
  CHECK(dec_fails("[[0,\"a\0\"]]", 10, "NUL"));
  CHECK(FAILS("[[0,\"\xff\"]]", "invalid UTF-8"));
  CHECK(FAILS("[[2,[[1,2]]],[0,\"\xc0\xaf\"],[0,1]]", "invalid UTF-8"));
  CHECK(FAILS("{\"t\":\"q\"}", "non-empty list of records"));
  mh_error *err = NULL;
  CHECK(mh_codec_devframe.decode("s:{}", 4, &lim, &err) == NULL && err && strstr(err->message, "list of records"));
  mh_error_free(err);
  err = NULL;
  CHECK(mh_codec_devframe.decode("[[0,1]]", 7, &lim, &err) == NULL && err);
  mh_error_free(err);
}

/* A refused frame still names its id, so the error reply finds its caller. */
static void test_salvage_id(void) {
  /* {m: "x", i: "id-1", a: [cycle]} */
  const char *frame = "[[2,[[1,2],[3,4],[5,6]]],[0,\"m\"],[0,\"x\"],[0,\"i\"],[0,\"id-1\"],[0,\"a\"],[1,[6]]]";
  CHECK(FAILS(frame, "cyclic reference"));
  bool reply = true;
  mh_value *id = mh_codec_sc.salvage_id(frame, strlen(frame), &reply);
  CHECK(id && id->type == MH_V_STRING && strcmp(id->u.str.ptr, "id-1") == 0 && !reply);
  mh_value_free(id);
  const char *df = "s:[[2,[[1,2]]],[0,\"i\"],[0,7],[3,\"never\"]]";
  id = mh_codec_devframe.salvage_id(df, strlen(df), &reply);
  CHECK(id && id->type == MH_V_INT && id->u.i == 7);
  mh_value_free(id);
  /* {i: "s1", t: "s", r: [cycle]}: an answer to the host's call s1, "t" after "i" */
  const char *answer = "[[2,[[1,2],[3,4],[5,6]]],[0,\"i\"],[0,\"s1\"],[0,\"t\"],[0,\"s\"],[0,\"r\"],[1,[6]]]";
  id = mh_codec_sc.salvage_id(answer, strlen(answer), &reply);
  CHECK(id && id->type == MH_V_STRING && strcmp(id->u.str.ptr, "s1") == 0 && reply);
  mh_value_free(id);
  const char *no_id = "[[2,[[1,2]]],[0,\"m\"],[0,\"x\"]]", *not_json = "[[2,[[1,9]]]";
  const char *bad_index = "[[2,[[1,9]]],[0,\"i\"]]";
  CHECK(mh_codec_sc.salvage_id(no_id, strlen(no_id), &reply) == NULL);
  CHECK(mh_codec_sc.salvage_id(not_json, strlen(not_json), &reply) == NULL);
  CHECK(mh_codec_sc.salvage_id(bad_index, strlen(bad_index), &reply) == NULL);
  CHECK(mh_codec_devframe.salvage_id("[]", 2, &reply) == NULL);
}

/* Deep nesting and frames that multiply through shared references. */
static void test_limits(void) {
  mh_buf b = MH_BUF_INIT;
  /* A chain of 100 arrays: record i holds record i+1. */
  mh_buf_append_str(&b, "[");
  for (int i = 0; i < 100; i++) mh_buf_appendf(&b, "[1,[%d]],", i + 1);
  mh_buf_append_str(&b, "[0,1]]");
  CHECK(dec_fails(b.data, b.len, "nesting deeper than 64"));
  mh_codec_limits loose = {0};
  mh_error *err = NULL;
  mh_value *v = mh_codec_sc.decode(b.data, b.len, &loose, &err);
  CHECK(v != NULL); /* without a limit, cJSON's nesting limit (1000) applies */
  mh_value_free(v);
  mh_buf_free(&b);
  /* A JSON text nested past cJSON's limit inside a record: refused for
   * what it is, not as a bare syntax error. */
  mh_buf_append_str(&b, "[[0,");
  for (int i = 0; i < 5000; i++) mh_buf_append_str(&b, "[");
  for (int i = 0; i < 5000; i++) mh_buf_append_str(&b, "]");
  mh_buf_append_str(&b, "]]");
  CHECK(dec_fails(b.data, b.len, "nesting deeper than 64"));
  mh_buf_free(&b);
  /* 60 levels, each holding the next twice: 2^60 copies if expanded. */
  mh_buf_append_str(&b, "[");
  for (int i = 0; i < 60; i++) mh_buf_appendf(&b, "[1,[%d,%d]],", i + 1, i + 1);
  mh_buf_append_str(&b, "[0,\"leaf\"]]");
  CHECK(dec_fails(b.data, b.len, "expands too much"));
  mh_buf_free(&b);
  /* Honest sharing still works: one object used 100 times. */
  mh_buf_append_str(&b, "[[1,[");
  for (int i = 0; i < 100; i++) mh_buf_appendf(&b, "%s1", i ? "," : "");
  mh_buf_append_str(&b, "]],[2,[[2,3]]],[0,\"k\"],[0,\"v\"]]");
  mh_buf_terminate(&b);
  v = dec(b.data);
  CHECK(v && v->type == MH_V_ARRAY && v->u.arr.len == 100 && v->u.arr.items[99]->type == MH_V_OBJECT);
  mh_value_free(v);
  mh_buf_free(&b);
  err = NULL;
  CHECK(mh_codec_sc.decode(NULL, 0, &lim, &err) == NULL && err);
  mh_error_free(err);
}

/* ---- the text helpers shared with the Lua bindings ---- */

static void test_js_types(void) {
  char buf[MH_JS_DATE_BUF];
  double ms = 1;
  CHECK(mh_js_date_format(0, buf) && strcmp(buf, "1970-01-01T00:00:00.000Z") == 0);
  CHECK(mh_js_date_format(-1, buf) && strcmp(buf, "1969-12-31T23:59:59.999Z") == 0);
  CHECK(mh_js_date_format(8.64e15, buf) && strcmp(buf, "+275760-09-13T00:00:00.000Z") == 0);
  CHECK(!mh_js_date_format(NAN, buf) && !mh_js_date_format(8.64e15 + 1, buf));
  CHECK(mh_js_date_parse("2000-02-29T23:59:59.999Z", 24, &ms) && ms == 951868799999.0);
  CHECK(mh_js_date_parse("-000001-01-01T00:00:00.000Z", 27, &ms) && ms == -62198755200000.0);
  CHECK(!mh_js_date_parse("-000000-01-01T00:00:00.000Z", 27, &ms));
  CHECK(!mh_js_date_parse("1900-02-29T00:00:00.000Z", 24, &ms));
  CHECK(!mh_js_date_parse("2000-01-01T24:00:00.000Z", 24, &ms));
  CHECK(!mh_js_date_parse("2000-01-01 00:00:00.000Z", 24, &ms));
  CHECK(mh_js_bigint_valid("0", 1) && mh_js_bigint_valid("-10", 3) && !mh_js_bigint_valid("01", 2) &&
        !mh_js_bigint_valid("", 0) && !mh_js_bigint_valid("-", 1) && !mh_js_bigint_valid("+1", 2));
  CHECK(mh_js_url_valid("https://a", 9) && mh_js_url_valid("a+b-c.d:", 8) && mh_js_url_valid("mailto:x@y", 10));
  CHECK(!mh_js_url_valid("", 0) && !mh_js_url_valid("http", 4) && !mh_js_url_valid(":x", 2) &&
        !mh_js_url_valid("1a:b", 4) && !mh_js_url_valid("/path:x", 7));
  CHECK(mh_js_regexp_flags_valid("dgimsuy", 7) && !mh_js_regexp_flags_valid("uv", 2));
  CHECK(!mh_js_regexp_flags_valid("x", 1) && !mh_js_regexp_flags_valid("gg", 2));
  int u8 = mh_js_typed_kind("Uint8Array", 10), i8 = mh_js_typed_kind("Int8Array", 9);
  int c8 = mh_js_typed_kind("Uint8ClampedArray", 17), f32 = mh_js_typed_kind("Float32Array", 12);
  CHECK(u8 >= 0 && i8 >= 0 && c8 >= 0 && f32 >= 0 && mh_js_typed_kind("BigInt64Array", 13) < 0);
  CHECK(mh_js_typed_coerce(u8, 300) == 44 && mh_js_typed_coerce(u8, -1) == 255 && mh_js_typed_coerce(u8, NAN) == 0);
  CHECK(mh_js_typed_coerce(i8, 200) == -56 && mh_js_typed_coerce(c8, 300) == 255 && mh_js_typed_coerce(c8, 2.5) == 2);
  CHECK(mh_js_typed_coerce(f32, 0.1) == (double)0.1f && isinf(mh_js_typed_coerce(f32, 1e300)));
  int f16 = mh_js_typed_kind("Float16Array", 12);
  CHECK(mh_js_typed_coerce(f16, 65504) == 65504 && isinf(mh_js_typed_coerce(f16, 65520)) &&
        mh_js_typed_coerce(f16, 1.0 / 3) == 0.333251953125);
}

int main(void) {
  test_detect();
  test_capture_frames();
  test_capture_echo();
  test_vectors();
  test_round_trips();
  test_bad_input();
  test_salvage_id();
  test_limits();
  test_js_types();
  return check_failures ? 1 : 0;
}
