/* The oRPC endpoint's pure parts: the {json, meta} serializer both ways
 * (every meta type, nested paths, bad meta), multipart bodies, the error
 * mapping and the path -> function name mapping. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "values.h"
#include "core/config.h"
#include "call/host.h"
#include "transport/orpc.h"

static const mh_codec_limits lim = {64};

/* ---- helpers ---- */

/* Encodes v (taken) and compares the text. */
static bool enc_is(mh_value *v, const char *want) {
  mh_buf out = MH_BUF_INIT;
  mh_error *err = NULL;
  int rc = mh_orpc_encode(v, &out, &err);
  mh_buf_terminate(&out);
  bool ok = rc == 0 && out.len == strlen(want) && memcmp(out.data, want, out.len) == 0;
  if (!ok) fprintf(stderr, "  encode: got %s\n  want %s\n", rc ? (err ? err->message : "?") : out.data, want);
  mh_error_free(err);
  mh_buf_free(&out);
  mh_value_free(v);
  return ok;
}

static mh_value *dec(const char *text) {
  mh_error *err = NULL;
  mh_value *v = mh_orpc_decode_json(text, strlen(text), &lim, &err);
  if (!v) fprintf(stderr, "  decode(%s): %s\n", text, err ? err->message : "?");
  mh_error_free(err);
  return v;
}

/* Decoding then encoding gives want (the same text when want is NULL). */
static bool round_trip(const char *text, const char *want) {
  mh_value *v = dec(text);
  return v && enc_is(v, want ? want : text);
}

/* Decoding fails with bad_request and a message containing want. */
static bool dec_fails(const char *text, const char *want) {
  mh_error *err = NULL;
  mh_value *v = mh_orpc_decode_json(text, strlen(text), &lim, &err);
  bool ok = !v && err && strcmp(err->code, MH_ERR_BAD_REQUEST) == 0 && strstr(err->message, want);
  if (!ok) fprintf(stderr, "  decode(%s): got %s, want \"%s\"\n", text, v ? "a value" : err ? err->message : "?", want);
  mh_value_free(v);
  mh_error_free(err);
  return ok;
}

static mh_value *obj1(const char *k, mh_value *v) {
  mh_value *o = mh_value_new(MH_V_OBJECT);
  mh_value_obj_set(o, k, v);
  return o;
}

/* ---- encoding ---- */

static void test_encode_types(void) {
  CHECK(enc_is(mh_value_undefined(), "{}")); /* no input/output: json left out */
  CHECK(enc_is(mh_value_null(), "{\"json\":null}"));
  CHECK(enc_is(mh_value_int(42), "{\"json\":42}"));
  CHECK(enc_is(mh_value_cstring("https://example.com/"), "{\"json\":\"https://example.com/\"}")); /* a string stays one */
  CHECK(enc_is(mh_value_url("https://example.com/", 20), "{\"json\":\"https://example.com/\",\"meta\":[[4]]}"));
  CHECK(enc_is(mh_value_bigint("-123456789012345678901234567890", 31),
               "{\"json\":\"-123456789012345678901234567890\",\"meta\":[[0]]}"));
  CHECK(enc_is(mh_value_date(0), "{\"json\":\"1970-01-01T00:00:00.000Z\",\"meta\":[[1]]}"));
  CHECK(enc_is(mh_value_date(NAN), "{\"json\":null,\"meta\":[[1]]}"));
  CHECK(enc_is(mh_value_float(NAN), "{\"json\":null,\"meta\":[[2]]}"));
  CHECK(enc_is(mh_value_float(INFINITY), "{\"json\":null}")); /* as oRPC: unmarked */
  CHECK(enc_is(mh_value_regexp("a/b+", "gi"), "{\"json\":\"/a/b+/gi\",\"meta\":[[5]]}"));
  mh_value *set = mh_value_new(MH_V_SET);
  mh_value_push(set, mh_value_int(1));
  mh_value_push(set, mh_value_date(0));
  CHECK(enc_is(set, "{\"json\":[1,\"1970-01-01T00:00:00.000Z\"],\"meta\":[[1,1],[6]]}"));
  mh_value *map = mh_value_new(MH_V_MAP);
  mh_value_map_append(map, mh_value_cstring("k"), mh_value_undefined());
  mh_value_map_append(map, mh_value_bigint("7", 1), mh_value_float(NAN));
  CHECK(enc_is(map, "{\"json\":[[\"k\",null],[\"7\",null]],\"meta\":[[3,0,1],[0,1,0],[2,1,1],[7]]}"));
  /* undefined: null plus a mark in arrays, left out of objects */
  CHECK(enc_is(arr(3, mh_value_undefined(), mh_value_int(1), mh_value_undefined()),
               "{\"json\":[null,1,null],\"meta\":[[3,0],[3,2]]}"));
  mh_value *o = obj1("a", mh_value_undefined());
  mh_value_obj_set(o, "b", mh_value_int(2));
  CHECK(enc_is(o, "{\"json\":{\"b\":2}}"));
  mh_value *e = mh_value_error("TypeError", "bad");
  CHECK(enc_is(e, "{\"json\":{\"name\":\"TypeError\",\"message\":\"bad\"}}"));
}

static void test_encode_nested(void) {
  /* {a: [{d: Date}], s: Set{Map{1 => Set{undefined}}}} */
  mh_value *inner = mh_value_new(MH_V_SET);
  mh_value_push(inner, mh_value_undefined());
  mh_value *map = mh_value_new(MH_V_MAP);
  mh_value_map_append(map, mh_value_int(1), inner);
  mh_value *set = mh_value_new(MH_V_SET);
  mh_value_push(set, map);
  mh_value *o = obj1("a", arr(1, obj1("d", mh_value_date(1))));
  mh_value_obj_set(o, "s", set);
  CHECK(enc_is(o, "{\"json\":{\"a\":[{\"d\":\"1970-01-01T00:00:00.001Z\"}],\"s\":[[[1,[null]]]]},"
                  "\"meta\":[[1,\"a\",0,\"d\"],[3,\"s\",0,0,1,0],[6,\"s\",0,0,1],[7,\"s\",0],[6,\"s\"]]}"));
  /* A string that JSON cannot carry fails cleanly. */
  mh_buf out = MH_BUF_INIT;
  mh_error *err = NULL;
  mh_value *bad = mh_value_string("\xff", 1);
  CHECK(mh_orpc_encode(bad, &out, &err) == -1 && err && strstr(err->message, "UTF-8"));
  mh_value_free(bad);
  mh_error_free(err);
  mh_buf_free(&out);
}

/* ---- decoding ---- */

static void test_decode_types(void) {
  mh_value *v = dec("{\"json\":{\"d\":\"2024-02-29T12:34:56.789Z\",\"n\":null,\"u\":null,\"b\":\"12\",\"url\":\"https://x.test/\","
                    "\"r\":\"/a\\\\/b/g\",\"s\":[1],\"m\":[[\"k\",2]],\"bad\":null},"
                    "\"meta\":[[1,\"d\"],[2,\"n\"],[3,\"u\"],[0,\"b\"],[4,\"url\"],[5,\"r\"],[6,\"s\"],[7,\"m\"],[1,\"bad\"]]}");
  CHECK(v && v->type == MH_V_OBJECT);
  if (v) {
    const mh_value *d = mh_value_obj_get(v, "d"), *r = mh_value_obj_get(v, "r"), *m = mh_value_obj_get(v, "m");
    CHECK(d->type == MH_V_DATE && d->u.f == 1709210096789.0);
    CHECK(mh_value_obj_get(v, "n")->type == MH_V_FLOAT && isnan(mh_value_obj_get(v, "n")->u.f));
    CHECK(mh_value_obj_get(v, "u")->type == MH_V_UNDEFINED);
    CHECK(mh_value_obj_get(v, "b")->type == MH_V_BIGINT && strcmp(mh_value_obj_get(v, "b")->u.str.ptr, "12") == 0);
    CHECK(mh_value_obj_get(v, "url")->type == MH_V_URL && strcmp(mh_value_obj_get(v, "url")->u.str.ptr, "https://x.test/") == 0);
    CHECK(r->type == MH_V_REGEXP && strcmp(r->u.re.source, "a\\/b") == 0 && strcmp(r->u.re.flags, "g") == 0);
    CHECK(mh_value_obj_get(v, "s")->type == MH_V_SET && mh_value_obj_get(v, "s")->u.arr.len == 1);
    CHECK(m->type == MH_V_MAP && m->u.obj.len == 1 && m->u.obj.items[0].key->type == MH_V_STRING &&
          m->u.obj.items[0].val->u.i == 2);
    CHECK(mh_value_obj_get(v, "bad")->type == MH_V_DATE && isnan(mh_value_obj_get(v, "bad")->u.f));
  }
  mh_value_free(v);
  /* No input: an empty body, {} and {"json": absent} are all undefined. */
  const char *none[] = {"", "  \n", "{}", "{\"meta\":[]}", "{\"json\":null,\"meta\":[[3]]}"};
  for (size_t i = 0; i < sizeof none / sizeof *none; i++) {
    v = dec(none[i]);
    CHECK(v && v->type == MH_V_UNDEFINED);
    mh_value_free(v);
  }
  v = dec("{\"json\":null}");
  CHECK(v && v->type == MH_V_NULL);
  mh_value_free(v);
  /* meta on the root, an array index given as a string, an object key as a number */
  CHECK(round_trip("{\"json\":\"9\",\"meta\":[[0]]}", NULL));
  v = dec("{\"json\":[null,{\"0\":null}],\"meta\":[[3,\"0\"],[2,1,0]]}");
  CHECK(v && v->u.arr.items[0]->type == MH_V_UNDEFINED && mh_value_obj_get(v->u.arr.items[1], "0")->type == MH_V_FLOAT);
  mh_value_free(v);
}

static void test_round_trips(void) {
  CHECK(round_trip("{\"json\":[[[1,[null]]]],\"meta\":[[3,0,0,1,0],[6,0,0,1],[7,0],[6]]}", NULL));
  CHECK(round_trip("{\"json\":{\"a\":[{\"d\":\"1970-01-01T00:00:00.001Z\"}]},\"meta\":[[1,\"a\",0,\"d\"]]}", NULL));
  CHECK(round_trip("{\"json\":[[\"1970-01-01T00:00:00.000Z\",\"5\"]],\"meta\":[[1,0,0],[0,0,1],[7]]}", NULL));
  CHECK(round_trip("{\"json\":[null,\"/x/y\",null],\"meta\":[[3,0],[5,1],[2,2]]}", NULL));
  CHECK(round_trip("{\"json\":\"+275760-09-13T00:00:00.000Z\",\"meta\":[[1]]}", NULL));
  /* A Map entry shorter than a pair reads as undefined, as new Map() does. */
  CHECK(round_trip("{\"json\":[[]],\"meta\":[[7]]}", "{\"json\":[[null,null]],\"meta\":[[3,0,0],[3,0,1],[7]]}"));
  /* Duplicate keys: the last wins, as JSON.parse. */
  CHECK(round_trip("{\"json\":{\"a\":1,\"a\":\"1970-01-01T00:00:00.000Z\"},\"meta\":[[1,\"a\"]]}",
                   "{\"json\":{\"a\":\"1970-01-01T00:00:00.000Z\"},\"meta\":[[1,\"a\"]]}"));
}

static void test_bad_meta(void) {
  CHECK(dec_fails("[1]", "must be a JSON object"));
  CHECK(dec_fails("{\"json\":1", "malformed JSON"));
  CHECK(dec_fails("{\"json\":\"\xff\"}", "UTF-8"));
  CHECK(dec_fails("{\"json\":1,\"meta\":{}}", "meta must be an array"));
  CHECK(dec_fails("{\"json\":1,\"meta\":[1]}", "meta[0] must be [type, ...path]"));
  CHECK(dec_fails("{\"json\":1,\"meta\":[[]]}", "meta[0] must be"));
  CHECK(dec_fails("{\"json\":1,\"meta\":[[\"1\"]]}", "meta[0] must be"));
  CHECK(dec_fails("{\"json\":1,\"meta\":[[8]]}", "unknown type 8"));
  CHECK(dec_fails("{\"json\":1,\"meta\":[[-1]]}", "unknown type -1"));
  /* paths pointing outside the value */
  CHECK(dec_fails("{\"json\":{\"a\":1},\"meta\":[[1,\"b\"]]}", "meta[0]: path does not exist (no \"b\")"));
  CHECK(dec_fails("{\"json\":[1],\"meta\":[[1,1]]}", "path does not exist (no element 1)"));
  CHECK(dec_fails("{\"json\":[1],\"meta\":[[1,-1]]}", "path does not exist"));
  CHECK(dec_fails("{\"json\":[1],\"meta\":[[1,\"length\"]]}", "path does not exist"));
  CHECK(dec_fails("{\"json\":[1],\"meta\":[[1,\"01\"]]}", "path does not exist"));
  CHECK(dec_fails("{\"json\":\"abc\",\"meta\":[[1,0]]}", "path does not exist"));
  CHECK(dec_fails("{\"meta\":[[1,\"a\"]]}", "path does not exist"));
  CHECK(dec_fails("{\"json\":{\"a\":1},\"meta\":[[1,1.5]]}", "a path segment must be a string or an integer"));
  CHECK(dec_fails("{\"json\":{\"a\":1},\"meta\":[[1,null]]}", "a path segment must be"));
  /* a Set or Map once revived is not a path any more (as in oRPC) */
  CHECK(dec_fails("{\"json\":[\"x\"],\"meta\":[[6],[1,0]]}", "meta[1]: path does not exist"));
  /* wrong shapes */
  CHECK(dec_fails("{\"json\":5,\"meta\":[[1]]}", "type 1 (date) expects"));
  CHECK(dec_fails("{\"json\":\"2024-01-01\",\"meta\":[[1]]}", "type 1 (date) expects"));
  CHECK(dec_fails("{\"json\":\"01\",\"meta\":[[0]]}", "type 0 (bigint) expects"));
  CHECK(dec_fails("{\"json\":12,\"meta\":[[0]]}", "type 0 (bigint)"));
  CHECK(dec_fails("{\"json\":1,\"meta\":[[2]]}", "type 2 (nan) expects null"));
  CHECK(dec_fails("{\"json\":0,\"meta\":[[3]]}", "type 3 (undefined) expects null"));
  CHECK(dec_fails("{\"json\":1,\"meta\":[[4]]}", "type 4 (url) expects an absolute URL string"));
  CHECK(dec_fails("{\"json\":\"no-scheme/path\",\"meta\":[[4]]}", "type 4 (url) expects an absolute URL string"));
  CHECK(dec_fails("{\"json\":\"1http://x\",\"meta\":[[4]]}", "type 4 (url)"));
  CHECK(dec_fails("{\"json\":\"abc\",\"meta\":[[5]]}", "type 5 (regexp)"));
  CHECK(dec_fails("{\"json\":\"/a/gg\",\"meta\":[[5]]}", "type 5 (regexp)"));
  CHECK(dec_fails("{\"json\":\"/a/x\",\"meta\":[[5]]}", "type 5 (regexp)"));
  CHECK(dec_fails("{\"json\":\"/a\\nb/\",\"meta\":[[5]]}", "type 5 (regexp)"));
  CHECK(dec_fails("{\"json\":{},\"meta\":[[6]]}", "type 6 (set) expects an array"));
  CHECK(dec_fails("{\"json\":[1],\"meta\":[[7]]}", "type 7 (map) expects"));
  CHECK(dec_fails("{\"json\":\"1970-01-01T00:00:00.000Z\",\"meta\":[[1],[1]]}", "meta[1]: type 1 (date)")); /* a Date already */
  /* a BigInt longer than oRPC accepts */
  char *big = malloc(4400 + 64);
  int n = sprintf(big, "{\"json\":\"");
  memset(big + n, '7', 4301);
  sprintf(big + n + 4301, "\",\"meta\":[[0]]}");
  CHECK(dec_fails(big, "type 0 (bigint)"));
  free(big);
}

/* ---- multipart ---- */

static mh_value *multipart(const char *body, const char *ct, mh_error **err) {
  return mh_orpc_decode_multipart(body, strlen(body), ct, &lim, err);
}

static void test_multipart(void) {
  const char *ct = "multipart/form-data; boundary=XyZ";
  const char *ok = "--XyZ\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\n"
                   "{\"json\":{\"f\":{},\"when\":\"1970-01-01T00:00:00.000Z\",\"all\":[{},{}]},"
                   "\"meta\":[[1,\"when\"]],\"maps\":[[\"f\"],[\"all\",1]]}\r\n"
                   "--XyZ\r\nContent-Disposition: form-data; name=\"0\"; filename=\"a%22b.txt\"\r\n"
                   "Content-Type: text/plain\r\n\r\nhello\r\n"
                   "--XyZ\r\ncontent-disposition: form-data; name=\"1\"; filename=\"bin\"\r\n\r\n\x00\xff\r\n\r\n"
                   "--XyZ--\r\n";
  mh_error *err = NULL;
  /* strlen stops at the NUL byte: pass the real length */
  size_t len = strlen(ok) + 1 + strlen(ok + strlen(ok) + 1);
  mh_value *v = mh_orpc_decode_multipart(ok, len, ct, &lim, &err);
  CHECK(v && v->type == MH_V_OBJECT);
  if (v) {
    const mh_value *f = mh_value_obj_get(v, "f");
    CHECK(strcmp(mh_value_obj_get(f, "name")->u.str.ptr, "a\"b.txt") == 0);
    CHECK(strcmp(mh_value_obj_get(f, "type")->u.str.ptr, "text/plain") == 0);
    CHECK(mh_value_obj_get(f, "size")->u.i == 5 && strcmp(mh_value_obj_get(f, "bytes")->u.str.ptr, "hello") == 0);
    const mh_value *b = mh_value_obj_get(v, "all")->u.arr.items[1];
    const mh_value *bytes = mh_value_obj_get(b, "bytes");
    CHECK(bytes->u.str.len == 4 && memcmp(bytes->u.str.ptr, "\x00\xff\r\n", 4) == 0);
    CHECK(strcmp(mh_value_obj_get(b, "type")->u.str.ptr, "") == 0);
    CHECK(mh_value_obj_get(v, "when")->type == MH_V_DATE);
    CHECK(mh_value_obj_get(v, "all")->u.arr.items[0]->type == MH_V_OBJECT);
  }
  mh_value_free(v);
  mh_error_free(err);
  /* a file as the whole input: maps [[]] */
  err = NULL;
  v = multipart("--b\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\n{\"json\":{},\"maps\":[[]]}\r\n"
                "--b\r\nContent-Disposition: form-data; name=\"0\"; filename=\"blob\"\r\n\r\nx\r\n--b--",
                "multipart/form-data; boundary=\"b\"", &err);
  CHECK(v && strcmp(mh_value_obj_get(v, "name")->u.str.ptr, "blob") == 0);
  mh_value_free(v);
  const struct {
    const char *body, *ct, *want;
  } bad[] = {
      {"--b\r\n", "multipart/form-data", "no boundary"},
      {"x--b\r\n", "multipart/form-data; boundary=b", "does not start with the boundary"},
      {"--b\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\n{}", "multipart/form-data; boundary=b",
       "not closed by the boundary"},
      {"--b\r\nContent-Type: text/plain\r\n\r\n{}\r\n--b--", "multipart/form-data; boundary=b", "without Content-Disposition"},
      {"--b\r\nContent-Disposition: form-data; name=\"data\"\r\n{}\r\n--b--", "multipart/form-data; boundary=b",
       "headers missing"},
      {"--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n{}\r\n--b--", "multipart/form-data; boundary=b",
       "no part named \"data\""},
      {"--b\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\n{\"json\":{\"f\":1},\"maps\":[[\"f\"]]}\r\n--b--",
       "multipart/form-data; boundary=b", "a file named in maps is missing"},
      {"--b\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\n{\"json\":{},\"maps\":[[\"f\"]]}\r\n"
       "--b\r\nContent-Disposition: form-data; name=\"0\"; filename=\"f\"\r\n\r\nx\r\n--b--",
       "multipart/form-data; boundary=b", "maps[0]: path does not exist"},
      {"--b\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\n[1]\r\n--b--", "multipart/form-data; boundary=b",
       "must be a JSON object"},
      {"--b\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\n{\"json\":1,\"maps\":5}\r\n--b--",
       "multipart/form-data; boundary=b", "maps must be an array"},
      {"--b\r\nContent-Disposition: form-data; name=\"data\r\n\r\n{}\r\n--b--", "multipart/form-data; boundary=b",
       "without Content-Disposition"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    err = NULL;
    v = multipart(bad[i].body, bad[i].ct, &err);
    bool good = !v && err && strcmp(err->code, MH_ERR_BAD_REQUEST) == 0 && strstr(err->message, bad[i].want);
    if (!good) fprintf(stderr, "  multipart bad[%zu]: got %s\n", i, v ? "a value" : err ? err->message : "?");
    CHECK(good);
    mh_value_free(v);
    mh_error_free(err);
  }
}

/* ---- errors ---- */

static void test_errors(void) {
  const struct {
    const char *ours, *orpc;
    int status;
  } map[] = {{"not_found", "NOT_FOUND", 404},       {"bad_request", "BAD_REQUEST", 400},
             {"unauthorized", "UNAUTHORIZED", 401}, {"too_large", "PAYLOAD_TOO_LARGE", 413},
             {"rpc_timeout", "TIMEOUT", 408},       {"rpc_cancelled", "CLIENT_CLOSED_REQUEST", 499},
             {"overloaded", "TOO_MANY_REQUESTS", 429}, {"internal", "INTERNAL_SERVER_ERROR", 500},
             {"CONFLICT", "CONFLICT", 409},         {"out_of_stock", "out_of_stock", 500}};
  for (size_t i = 0; i < sizeof map / sizeof *map; i++) {
    mh_error *e = mh_error_new(map[i].ours, "m");
    int status = 0;
    CHECK(strcmp(mh_orpc_error_code(e, &status), map[i].orpc) == 0 && status == map[i].status);
    mh_error_free(e);
  }
  mh_error *e = mh_error_new("CONFLICT", "version conflict");
  e->defined = true;
  e->status = 418;
  e->data = obj1("at", mh_value_date(0));
  mh_buf b = MH_BUF_INIT;
  CHECK(mh_orpc_error_body(e, &b) == 418);
  mh_buf_terminate(&b);
  CHECK(b.data && strcmp(b.data, "{\"json\":{\"defined\":true,\"code\":\"CONFLICT\",\"status\":418,\"message\":\"version "
                                  "conflict\",\"data\":{\"at\":\"1970-01-01T00:00:00.000Z\"}},\"meta\":[[1,\"data\",\"at\"]]}") == 0);
  /* data JSON cannot carry is dropped, the error stays */
  mh_value_free(e->data);
  e->data = mh_value_string("\xfe", 1);
  e->status = 200; /* not an error status: the code's own */
  mh_buf_reset(&b);
  CHECK(mh_orpc_error_body(e, &b) == 409);
  mh_buf_terminate(&b);
  CHECK(b.data && strstr(b.data, "\"data\"") == NULL && strstr(b.data, "\"status\":409"));
  mh_buf_free(&b);
  mh_error_free(e);
}

/* ---- names ---- */

static bool name_is(const char *rest, const char *want) {
  char name[64];
  bool ok = mh_orpc_name(rest, name, sizeof name);
  bool good = want ? ok && strcmp(name, want) == 0 : !ok;
  if (!good) fprintf(stderr, "  name(%s): got %s\n", rest, ok ? name : "(refused)");
  return good;
}

static void test_names(void) {
  CHECK(name_is("/analytics/get-metrics", "analytics:get-metrics"));
  CHECK(name_is("/a/b/c", "a:b:c"));
  CHECK(name_is("/a:b", "a:b")); /* a client path segment with ':' (sent as %3A) */
  CHECK(name_is("/demo", "demo"));
  CHECK(name_is("/caf\xc3\xa9", "caf\xc3\xa9"));
  CHECK(name_is("/a%2Fb", "a%2Fb")); /* lws decoded once already: never twice */
  CHECK(name_is("/a..b/.c", "a..b:.c"));
  CHECK(name_is("", NULL));
  CHECK(name_is("/", NULL));
  CHECK(name_is("/a/", NULL));
  CHECK(name_is("/a//b", NULL));
  CHECK(name_is("/./a", NULL));
  CHECK(name_is("/../etc/passwd", NULL));
  CHECK(name_is("/a/..", NULL));
  CHECK(name_is("/a\x01", NULL));
  CHECK(name_is("/a\x7f", NULL));
  CHECK(name_is("/\xc3", NULL));
  CHECK(name_is("/0123456789/0123456789/0123456789/0123456789/0123456789/0123456789", NULL)); /* too long */
  /* the longest name that fits name_is' 64 bytes, and one byte more */
  CHECK(name_is("/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx/yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy",
                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx:yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"));
  CHECK(name_is("/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx/yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy", NULL));
  CHECK(name_is("/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx/", NULL));
  CHECK(name_is("a/b", "a:b")); /* no leading slash */
  CHECK(name_is("/.", NULL));
  CHECK(name_is("/..", NULL));
  CHECK(name_is("/.../a", "...:a"));
  CHECK(name_is("/\xc3/\xa9", NULL)); /* a character split by '/' is in no segment */
  CHECK(name_is("/a/\xe2\x82\xac/b", "a:\xe2\x82\xac:b"));
  CHECK(name_is("/a/\xed\xa0\x80", NULL)); /* a surrogate */
  CHECK(name_is("/a\x1f/b", NULL));

  mh_config cfg;
  memset(&cfg, 0, sizeof cfg);
  mh_host h;
  memset(&h, 0, sizeof h);
  h.cfg = &cfg;
  const char *prefixes[] = {"/rpc", "/rpc/"};
  for (size_t i = 0; i < 2; i++) {
    cfg.http.prefix = (char *)prefixes[i];
    CHECK(mh_orpc_claims(&h, "/rpc") && mh_orpc_claims(&h, "/rpc/a") && mh_orpc_claims(&h, "/rpc/"));
    CHECK(!mh_orpc_claims(&h, "/rpcx/a") && !mh_orpc_claims(&h, "/etc/passwd") && !mh_orpc_claims(&h, "/"));
  }
  cfg.http.prefix = (char *)"/api/v1";
  CHECK(mh_orpc_claims(&h, "/api/v1/a") && !mh_orpc_claims(&h, "/api/v10/a") && !mh_orpc_claims(&h, "/rpc/a"));
  CHECK(mh_orpc_claims(&h, "/api/v1") && !mh_orpc_claims(&h, "/api/v") && !mh_orpc_claims(&h, "/api/") &&
        !mh_orpc_claims(&h, "") && !mh_orpc_claims(&h, "api/v1/a"));
  /* trailing slashes of the prefix do not count; a path may go on with '/' only */
  cfg.http.prefix = (char *)"/api//";
  CHECK(mh_orpc_claims(&h, "/api") && mh_orpc_claims(&h, "/api/x") && mh_orpc_claims(&h, "/api//x") &&
        !mh_orpc_claims(&h, "/apix") && !mh_orpc_claims(&h, "/ap"));
  cfg.http.prefix = (char *)"/";
  CHECK(mh_orpc_claims(&h, "/") && mh_orpc_claims(&h, "/a/b") && !mh_orpc_claims(&h, "") && !mh_orpc_claims(&h, "a"));
  cfg.http.prefix = (char *)"//";
  CHECK(mh_orpc_claims(&h, "/") && mh_orpc_claims(&h, "//x") && !mh_orpc_claims(&h, "x"));
  cfg.http.prefix = NULL; /* the default, /rpc */
  CHECK(mh_orpc_claims(&h, "/rpc/a") && !mh_orpc_claims(&h, "/rpcx"));
  cfg.http.prefix = (char *)"/a/b";
  CHECK(mh_orpc_claims(&h, "/a/b/c") && !mh_orpc_claims(&h, "/a/bc") && !mh_orpc_claims(&h, "/a/") &&
        !mh_orpc_claims(&h, "/a"));
}

int main(void) {
  test_encode_types();
  test_encode_nested();
  test_decode_types();
  test_round_trips();
  test_bad_meta();
  test_multipart();
  test_errors();
  test_names();
  return check_failures ? 1 : 0;
}
