/* JSON codec: detection, decoding rules, encoding rules (JSON.stringify
 * semantics), error messages and round trips. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "codec/codec.h"

static const mh_codec_limits lim = {64};

/* ---- helpers ---- */

static mh_value *dec(const char *s) {
  mh_error *err = NULL;
  mh_value *v = mh_codec_json.decode(s, strlen(s), &lim, &err);
  if (!v) {
    fprintf(stderr, "  decode(%s): %s\n", s, err ? err->message : "?");
    mh_error_free(err);
  }
  return v;
}

/* Whether decoding fails with code bad_request and a message starting with want. */
static bool dec_fails(const char *s, size_t len, const mh_codec_limits *l, const char *want) {
  mh_error *err = NULL;
  mh_value *v = mh_codec_json.decode(s, len, l, &err);
  bool ok = !v && err && strcmp(err->code, MH_ERR_BAD_REQUEST) == 0 && strncmp(err->message, want, strlen(want)) == 0;
  if (!ok) fprintf(stderr, "  decode(%.*s): got %s\n", (int)len, s, v ? "a value" : err ? err->message : "no error");
  mh_value_free(v);
  mh_error_free(err);
  return ok;
}

/* Encodes (takes v) and compares the text. */
static bool enc_is(mh_value *v, const char *want) {
  mh_buf out = MH_BUF_INIT;
  mh_error *err = NULL;
  int rc = mh_codec_json.encode(v, &out, &err);
  mh_buf_terminate(&out);
  bool ok = rc == 0 && !err && out.len == strlen(want) && memcmp(out.data, want, out.len) == 0;
  if (!ok) fprintf(stderr, "  encode: got %s, want %s\n", rc ? (err ? err->message : "?") : out.data, want);
  mh_error_free(err);
  mh_buf_free(&out);
  mh_value_free(v);
  return ok;
}

/* Encoding fails (takes v) with code and message. */
static bool enc_fails(mh_value *v, const char *code, const char *msg) {
  mh_buf out = MH_BUF_INIT;
  mh_buf_append(&out, "keep", 4);
  mh_error *err = NULL;
  int rc = mh_codec_json.encode(v, &out, &err);
  bool ok = rc == -1 && err && strcmp(err->code, code) == 0 && strcmp(err->message, msg) == 0 && out.len == 4;
  if (!ok) fprintf(stderr, "  encode: rc %d err %s\n", rc, err ? err->message : "none");
  mh_error_free(err);
  mh_buf_free(&out);
  mh_value_free(v);
  return ok;
}

/* decode -> encode gives want (or the input when want is NULL). */
static bool round_trip(const char *in, const char *want) {
  mh_value *v = dec(in);
  return v && enc_is(v, want ? want : in);
}

static mh_value *obj_with(const char *k, mh_value *take) {
  mh_value *o = mh_value_new(MH_V_OBJECT);
  mh_value_obj_append(o, k, strlen(k), take);
  return o;
}

static mh_value *nested(int depth) {
  mh_buf b = MH_BUF_INIT;
  for (int i = 0; i < depth; i++) mh_buf_append(&b, "[", 1);
  for (int i = 0; i < depth; i++) mh_buf_append(&b, "]", 1);
  mh_error *err = NULL;
  mh_value *v = mh_codec_json.decode(b.data, b.len, &lim, &err);
  mh_error_free(err);
  mh_buf_free(&b);
  return v;
}

/* ---- tests ---- */

static void test_detect(void) {
  CHECK(mh_codec_detect("{}", 2) == &mh_codec_json);
  CHECK(mh_codec_detect("  \n{\"a\":1}", 10) == &mh_codec_json);
  CHECK(mh_codec_json.detect("[1]", 3));                /* JSON claims it, but the structured- */
  CHECK(mh_codec_detect("[1]", 3) == &mh_codec_sc);   /* clone codec goes first: envelopes are objects */
  CHECK(mh_codec_detect("\"s\"", 3) == &mh_codec_json);
  CHECK(mh_codec_detect("-1", 2) == &mh_codec_json);
  CHECK(mh_codec_detect("null", 4) == &mh_codec_json);
  CHECK(mh_codec_detect("", 0) == NULL);
  CHECK(mh_codec_detect("   ", 3) == NULL);
  CHECK(mh_codec_detect("\x01\x02", 2) == NULL);
  CHECK(mh_codec_detect("hello", 5) == NULL);
  CHECK(strcmp(mh_codec_json.name, "json") == 0);
}

static void test_decode_types(void) {
  mh_value *v = dec(" {\"a\": [1, -2, 1.5, true, false, null, \"s\"], \"b\": {}} ");
  CHECK(v && v->type == MH_V_OBJECT && v->u.obj.len == 2);
  const mh_value *a = mh_value_obj_get(v, "a");
  CHECK(a && a->type == MH_V_ARRAY && a->u.arr.len == 7);
  if (a && a->u.arr.len == 7) {
    CHECK(a->u.arr.items[0]->type == MH_V_INT && a->u.arr.items[0]->u.i == 1);
    CHECK(a->u.arr.items[1]->type == MH_V_INT && a->u.arr.items[1]->u.i == -2);
    CHECK(a->u.arr.items[2]->type == MH_V_FLOAT && a->u.arr.items[2]->u.f == 1.5);
    CHECK(a->u.arr.items[3]->type == MH_V_BOOL && a->u.arr.items[3]->u.b);
    CHECK(a->u.arr.items[4]->type == MH_V_BOOL && !a->u.arr.items[4]->u.b);
    CHECK(a->u.arr.items[5]->type == MH_V_NULL);
    CHECK(a->u.arr.items[6]->type == MH_V_STRING && strcmp(a->u.arr.items[6]->u.str.ptr, "s") == 0);
  }
  CHECK(mh_value_obj_get(v, "b")->type == MH_V_OBJECT);
  mh_value_free(v);

  /* scalars at top level */
  v = dec("42");
  CHECK(v && v->type == MH_V_INT && v->u.i == 42);
  mh_value_free(v);
  v = dec("\"\\u00e9\\ud83d\\ude00\\n\"");
  CHECK(v && v->type == MH_V_STRING && strcmp(v->u.str.ptr, "\xc3\xa9\xf0\x9f\x98\x80\n") == 0);
  mh_value_free(v);
}

static void test_decode_numbers(void) {
  struct {
    const char *in;
    mh_vtype type;
    double f;
    int64_t i;
  } cases[] = {
      {"0", MH_V_INT, 0, 0},
      {"1.0", MH_V_INT, 0, 1},
      {"1e2", MH_V_INT, 0, 100},
      {"-17", MH_V_INT, 0, -17},
      {"9007199254740992", MH_V_INT, 0, 9007199254740992},   /* 2^53 */
      {"-9007199254740992", MH_V_INT, 0, -9007199254740992}, /* -2^53 */
      {"18014398509481984", MH_V_FLOAT, 18014398509481984.0, 0}, /* 2^54 */
      {"1e300", MH_V_FLOAT, 1e300, 0},
      {"0.5", MH_V_FLOAT, 0.5, 0},
      {"-0.25", MH_V_FLOAT, -0.25, 0},
      {"1e-7", MH_V_FLOAT, 1e-7, 0},
      {"-0.5", MH_V_FLOAT, -0.5, 0},
      {"9007199254740993", MH_V_INT, 0, 9007199254740992}, /* reads as the double 2^53 */
      {"-9007199254740994", MH_V_FLOAT, -9007199254740994.0, 0},
      {"1e400", MH_V_FLOAT, INFINITY, 0},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    mh_value *v = dec(cases[k].in);
    CHECK(v && v->type == cases[k].type);
    if (v && v->type == MH_V_INT) CHECK(v->u.i == cases[k].i);
    if (v && v->type == MH_V_FLOAT) CHECK(v->u.f == cases[k].f);
    mh_value_free(v);
  }
  /* -0 keeps its sign, so it stays a float */
  mh_value *v = dec("-0");
  CHECK(v && v->type == MH_V_FLOAT && v->u.f == 0 && signbit(v->u.f));
  mh_value_free(v);
  v = dec("-1e-400"); /* rounds to -0 */
  CHECK(v && v->type == MH_V_FLOAT && v->u.f == 0 && signbit(v->u.f));
  mh_value_free(v);
}

static void test_decode_errors(void) {
  const char *bad = "{\"a\": [1, 2,, 3]}";
  CHECK(dec_fails(bad, strlen(bad), &lim, "malformed JSON at byte 12"));
  CHECK(dec_fails("", 0, &lim, "malformed JSON at byte 0"));
  CHECK(dec_fails("   ", 3, &lim, "malformed JSON at byte"));
  CHECK(dec_fails("{\"a\" 1}", 7, &lim, "malformed JSON at byte"));
  CHECK(dec_fails("[1, 2", 5, &lim, "malformed JSON at byte"));
  CHECK(dec_fails("\"abc", 4, &lim, "malformed JSON at byte"));
  CHECK(dec_fails("nul", 3, &lim, "malformed JSON at byte"));
  CHECK(dec_fails("\"\\ud800\"", 8, &lim, "malformed JSON at byte")); /* lone surrogate escape */
  /* trailing garbage */
  CHECK(dec_fails("{} x", 4, &lim, "malformed JSON at byte 3"));
  CHECK(dec_fails("[1][2]", 6, &lim, "malformed JSON at byte 3"));
  CHECK(dec_fails("1 2", 3, &lim, "malformed JSON at byte 2"));
  /* whitespace after the value is fine, and the length is honoured */
  mh_value *v = dec("[1] \r\n\t ");
  CHECK(v && v->type == MH_V_ARRAY);
  mh_value_free(v);
  mh_error *err = NULL;
  v = mh_codec_json.decode("[1]garbage", 3, &lim, &err);
  CHECK(v && !err && v->type == MH_V_ARRAY);
  mh_value_free(v);

  /* invalid UTF-8, in values and in keys */
  CHECK(dec_fails("\"\xff\"", 3, &lim, "invalid UTF-8 in string"));
  CHECK(dec_fails("[\"ok\", \"\xed\xa0\x80\"]", 13, &lim, "invalid UTF-8 in string"));
  CHECK(dec_fails("{\"\xc0\xaf\": 1}", 9, &lim, "invalid UTF-8 in string"));
  CHECK(dec_fails("\"\xe2\x82\"", 4, &lim, "invalid UTF-8 in string"));
  /* a text that is valid UTF-8 as a whole: raw and escaped characters alike arrive as they were */
  v = dec("{\"h\xc3\xa9\":[\"\\u00e9\xe2\x82\xac\",\"\\ud83d\\ude00\\uDBFF\\uDFFF\"]}");
  CHECK(v && v->type == MH_V_OBJECT && strcmp(v->u.obj.items[0].key->u.str.ptr, "h\xc3\xa9") == 0);
  CHECK(v && strcmp(v->u.obj.items[0].val->u.arr.items[0]->u.str.ptr, "\xc3\xa9\xe2\x82\xac") == 0);
  CHECK(v && strcmp(v->u.obj.items[0].val->u.arr.items[1]->u.str.ptr, "\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf") == 0);
  mh_value_free(v);

  /* an escaped NUL would be cut off by cJSON, so it is refused */
  CHECK(dec_fails("\"a\\u0000b\"", 10, &lim, "unsupported \\u0000 in string at byte 2"));
  CHECK(dec_fails("\"a\\\\\\u0000\"", 11, &lim, "unsupported \\u0000 in string at byte 4"));
  CHECK(dec_fails("\"\\u0000\"", 8, &lim, "unsupported \\u0000 in string at byte 1"));
  v = dec("\"a\\\\u0000b\""); /* an escaped backslash followed by text */
  CHECK(v && v->type == MH_V_STRING && strcmp(v->u.str.ptr, "a\\u0000b") == 0);
  mh_value_free(v);
}

static void test_nesting(void) {
  mh_value *v = nested(64);
  CHECK(v != NULL);
  mh_value_free(v);
  CHECK(nested(65) == NULL);

  mh_codec_limits two = {2};
  CHECK(dec_fails("[[[1]]]", 7, &two, "nesting deeper than 2"));
  CHECK(dec_fails("{\"a\":{\"b\":{}}}", 14, &two, "nesting deeper than 2"));
  mh_error *err = NULL;
  v = mh_codec_json.decode("[[1], {\"a\": 2}]", 15, &two, &err);
  CHECK(v && !err);
  mh_value_free(v);
  v = mh_codec_json.decode("7", 1, &two, &err);
  CHECK(v && !err);
  mh_value_free(v);

  /* cJSON's own limit still bounds everything; where it gives up, the
   * error still says why */
  mh_buf b = MH_BUF_INIT;
  for (int i = 0; i < 5000; i++) mh_buf_append(&b, "[", 1);
  for (int i = 0; i < 5000; i++) mh_buf_append(&b, "]", 1);
  mh_codec_limits huge = {100000};
  CHECK(dec_fails(b.data, b.len, &huge, "nesting deeper than 1000"));
  CHECK(dec_fails(b.data, b.len, &lim, "nesting deeper than 64")); /* cJSON fails before we see the depth */
  CHECK(dec_fails(b.data, 4000, &lim, "nesting deeper than 64")); /* cut short, and too deep anyway */
  CHECK(dec_fails("[[[1]", 5, &lim, "malformed JSON at byte"));
  mh_buf_free(&b);
}

/* The id of a refused frame, wherever it is, however deep the rest. */
static bool salvages(const char *frame, const char *want) {
  bool reply = false;
  mh_value *id = mh_codec_json.salvage_id(frame, strlen(frame), &reply);
  bool ok = want ? id && id->type == MH_V_STRING && strcmp(id->u.str.ptr, want) == 0 : id == NULL;
  ok = ok && reply == (strstr(frame, "\"t\":\"s\"") != NULL);
  if (!ok) fprintf(stderr, "  salvage_id(%.60s): wrong id\n", frame);
  mh_value_free(id);
  return ok;
}

static void test_salvage_id(void) {
  mh_buf deep = MH_BUF_INIT;
  /* strings holding brackets and escaped quotes must not confuse the scan */
  const char *level = "[{\"k\":\"]}\\\"\",\"v\":";
  for (int i = 0; i < 5000; i++) mh_buf_append(&deep, level, strlen(level));
  mh_buf_append(&deep, "1", 1);
  for (int i = 0; i < 5000; i++) mh_buf_append(&deep, "}]", 2);
  mh_buf_append(&deep, "", 1); /* NUL-terminated for the frames below */
  char *frame = malloc(deep.len + 64);
  CHECK(frame != NULL);
  sprintf(frame, "{\"t\":\"q\",\"i\":\"first\",\"m\":\"x\",\"a\":[%s]}", deep.data);
  CHECK(salvages(frame, "first"));
  sprintf(frame, "{\"m\":\"x\",\"a\":[%s],\"t\":\"q\",\"i\":\"last\"}", deep.data);
  CHECK(salvages(frame, "last"));
  sprintf(frame, "{\"i\":\"one\",\"a\":[%s],\"i\":\"two\"}", deep.data);
  CHECK(salvages(frame, "two")); /* the last one, as the envelope reads it */
  sprintf(frame, "{\"i\":\"s1\",\"r\":[%s],\"t\":\"s\"}", deep.data);
  CHECK(salvages(frame, "s1")); /* an answer (to the host's call s1), read without cJSON */
  CHECK(salvages("{\"t\":\"s\",\"i\":\"s2\",\"r\":\"nul \\u0000 inside\"}", "s2"));
  sprintf(frame, " { \"a\" : [%s] , \"i\" : 7 } ", deep.data);
  bool reply = true;
  mh_value *id = mh_codec_json.salvage_id(frame, strlen(frame), &reply);
  CHECK(id && id->type == MH_V_INT && id->u.i == 7 && !reply);
  mh_value_free(id);
  sprintf(frame, "{\"a\":[%s],\"i\":{\"x\":1}}", deep.data);
  CHECK(salvages(frame, NULL)); /* not an id a reply can carry */
  sprintf(frame, "{\"a\":[%s,\"i\":\"inside\"}", deep.data);
  CHECK(salvages(frame, NULL)); /* the array never ends: no top-level i */
  free(frame);
  mh_buf_free(&deep);
  CHECK(salvages("{\"t\":\"q\",\"i\":\"cut\",\"m\":\"x\",\"a\":[1,", "cut"));
  CHECK(salvages("{\"t\":\"q\",\"a\":[1,", NULL));
  CHECK(salvages("{\"i\":\"x\\", NULL));
  CHECK(salvages("[\"i\",\"x\"", NULL));
}

static void test_duplicates(void) {
  /* decode keeps both pairs; readers see the last */
  mh_value *v = dec("{\"a\":1,\"b\":2,\"a\":3}");
  CHECK(v && v->u.obj.len == 3 && mh_value_obj_get(v, "a")->u.i == 3);
  /* encode prints each key once: at its first position, with the last value */
  CHECK(v && enc_is(v, "{\"a\":3,\"b\":2}"));

  /* the same through the sorted path (many keys) */
  mh_value *o = mh_value_new(MH_V_OBJECT);
  mh_buf want = MH_BUF_INIT;
  mh_buf_append_str(&want, "{");
  char key[16];
  for (int i = 0; i < 40; i++) {
    snprintf(key, sizeof key, "k%02d", i);
    mh_value_obj_append(o, key, strlen(key), mh_value_int(i));
    mh_buf_appendf(&want, "%s\"%s\":%d", i ? "," : "", key, i % 2 ? i : 1000 + i);
  }
  for (int i = 0; i < 40; i += 2) {
    snprintf(key, sizeof key, "k%02d", i);
    mh_value_obj_append(o, key, strlen(key), mh_value_int(1000 + i));
  }
  mh_buf_append_str(&want, "}");
  mh_buf_terminate(&want);
  CHECK(enc_is(o, want.data));
  mh_buf_free(&want);

  /* a later undefined duplicate removes the key, as in JS */
  o = mh_value_new(MH_V_OBJECT);
  mh_value_obj_append(o, "a", 1, mh_value_int(1));
  mh_value_obj_append(o, "b", 1, mh_value_int(2));
  mh_value_obj_append(o, "a", 1, mh_value_undefined());
  CHECK(enc_is(o, "{\"b\":2}"));
}

static void test_encode_scalars(void) {
  CHECK(enc_is(mh_value_null(), "null"));
  CHECK(enc_is(mh_value_undefined(), "null"));
  CHECK(enc_is(mh_value_bool(true), "true"));
  CHECK(enc_is(mh_value_bool(false), "false"));
  CHECK(enc_is(mh_value_int(0), "0"));
  CHECK(enc_is(mh_value_int(-5), "-5"));
  /* integers are printed exactly, beyond 2^53 too */
  CHECK(enc_is(mh_value_int(9007199254740993), "9007199254740993"));
  CHECK(enc_is(mh_value_int(INT64_MAX), "9223372036854775807"));
  CHECK(enc_is(mh_value_int(INT64_MIN), "-9223372036854775808"));
  /* floats round-trip; NaN/Inf are null; -0 is 0 */
  CHECK(enc_is(mh_value_float(1.5), "1.5"));
  CHECK(enc_is(mh_value_float(0.1), "0.1"));
  CHECK(enc_is(mh_value_float(0.1 + 0.2), "0.30000000000000004"));
  CHECK(enc_is(mh_value_float(1.0 / 3), "0.3333333333333333"));
  CHECK(enc_is(mh_value_float(NAN), "null"));
  CHECK(enc_is(mh_value_float(INFINITY), "null"));
  CHECK(enc_is(mh_value_float(-INFINITY), "null"));
  CHECK(enc_is(mh_value_float(-0.0), "0"));
  CHECK(enc_is(mh_value_float(3.0), "3"));
  CHECK(enc_is(mh_value_float(1e300), "1e+300"));
  double tricky[] = {5e-324, 1.7976931348623157e308, 123456.789, -2.5e-10, 9007199254740993.0, 0.1 + 0.7};
  for (size_t i = 0; i < sizeof tricky / sizeof tricky[0]; i++) {
    mh_buf out = MH_BUF_INIT;
    mh_value *v = mh_value_float(tricky[i]);
    CHECK(mh_codec_json.encode(v, &out, NULL) == 0);
    mh_buf_terminate(&out);
    CHECK(strtod(out.data, NULL) == tricky[i]);
    mh_value *back = dec(out.data);
    CHECK(back && (back->type == MH_V_FLOAT ? back->u.f : (double)back->u.i) == tricky[i]);
    mh_value_free(back);
    mh_value_free(v);
    mh_buf_free(&out);
  }
  /* strings: escapes, non-ASCII passed through, embedded NUL escaped */
  CHECK(enc_is(mh_value_cstring("a\"b\\c\n\x01"), "\"a\\\"b\\\\c\\n\\u0001\""));
  CHECK(enc_is(mh_value_cstring("h\xc3\xa9"), "\"h\xc3\xa9\""));
  CHECK(enc_is(mh_value_string("a\0\"b", 4), "\"a\\u0000\\\"b\""));
  CHECK(enc_fails(mh_value_string("\xff", 1), MH_ERR_INTERNAL, "invalid UTF-8 in string"));
  CHECK(enc_fails(obj_with("\xc3", mh_value_int(1)), MH_ERR_INTERNAL, "invalid UTF-8 in string"));
}

/* The text a string of no NUL byte gets, one byte at a time (cJSON's escapes). */
static void escape_slowly(mh_buf *b, const char *s, size_t len) {
  mh_buf_append(b, "\"", 1);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    const char *shortform = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\b' ? "\\b" : c == '\f' ? "\\f"
                          : c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : NULL;
    if (shortform) mh_buf_append_str(b, shortform);
    else if (c < 0x20) mh_buf_appendf(b, "\\u%04x", c);
    else mh_buf_append(b, &s[i], 1);
  }
  mh_buf_append(b, "\"", 1);
}

/* The encoder looks at sixteen and then eight bytes at a time for what
 * needs care: a byte of each kind at every place of strings up to five
 * words long, as a value and as a key, comes out as the byte-by-byte
 * escaping says (or is refused, for invalid UTF-8 and a key's NUL). */
static void test_encode_every_position(void) {
  static const char *const odd[] = {"\"", "\\", "\n", "\x01", "\x1f", "\x7f", "\xc3\xa9", "\xe2\x82\xac", "\xff", ""};
  for (size_t k = 0; k < sizeof odd / sizeof odd[0]; k++) {
    size_t olen = k + 1 == sizeof odd / sizeof odd[0] ? 1 : strlen(odd[k]); /* the last: a NUL byte */
    for (size_t len = olen; len <= 40; len++) {
      for (size_t at = 0; at + olen <= len; at++) {
        char s[48];
        memset(s, 'a' + (char)(at % 26), len);
        memcpy(s + at, odd[k], olen);
        bool nul = olen == 1 && s[at] == '\0', bad = (unsigned char)s[at] == 0xff;
        mh_buf want = MH_BUF_INIT;
        if (nul) {
          char *lit = mh_json_quote_with_nul(s, len);
          mh_buf_append_str(&want, lit);
          free(lit);
        } else {
          escape_slowly(&want, s, len);
        }
        mh_buf_terminate(&want);
        if (bad) CHECK(enc_fails(mh_value_string(s, len), MH_ERR_INTERNAL, "invalid UTF-8 in string"));
        else CHECK(enc_is(mh_value_string(s, len), want.data));
        mh_value *o = mh_value_new(MH_V_OBJECT);
        mh_value_obj_append(o, s, len, mh_value_int(1));
        if (bad || nul) {
          CHECK(enc_fails(o, MH_ERR_INTERNAL, bad ? "invalid UTF-8 in string"
                                                  : "object key with a NUL byte cannot be sent as JSON"));
        } else {
          mh_buf_reset(&want);
          mh_buf_append(&want, "{", 1);
          escape_slowly(&want, s, len);
          mh_buf_append_str(&want, ":1}");
          mh_buf_terminate(&want);
          CHECK(enc_is(o, want.data));
        }
        mh_buf_free(&want);
      }
    }
  }
}

static void test_encode_extended(void) {
  CHECK(enc_is(mh_value_date(0), "\"1970-01-01T00:00:00.000Z\""));
  CHECK(enc_is(mh_value_date(1700000000123.0), "\"2023-11-14T22:13:20.123Z\""));
  CHECK(enc_is(mh_value_date(-1), "\"1969-12-31T23:59:59.999Z\""));
  CHECK(enc_is(mh_value_date(951782400000.0), "\"2000-02-29T00:00:00.000Z\""));
  CHECK(enc_is(mh_value_date(-62198755200000.0), "\"-000001-01-01T00:00:00.000Z\""));
  CHECK(enc_is(mh_value_date(253402300800000.0), "\"+010000-01-01T00:00:00.000Z\""));
  CHECK(enc_is(mh_value_date(8.64e15), "\"+275760-09-13T00:00:00.000Z\""));
  CHECK(enc_is(mh_value_date(NAN), "null"));
  CHECK(enc_is(mh_value_date(8.64e15 + 1), "null"));

  CHECK(enc_is(mh_value_url("https://x.test/?q=1", 19), "\"https://x.test/?q=1\"")); /* as JSON.stringify */
  CHECK(enc_fails(mh_value_bigint("1", 1), MH_ERR_INTERNAL, "BigInt cannot be sent as JSON"));
  mh_value *a = mh_value_new(MH_V_ARRAY);
  mh_value_push(a, mh_value_int(1));
  mh_value_push(a, obj_with("x", mh_value_bigint("12", 2)));
  CHECK(enc_fails(a, MH_ERR_INTERNAL, "BigInt cannot be sent as JSON"));

  mh_value *m = mh_value_new(MH_V_MAP);
  mh_value_map_append(m, mh_value_int(1), mh_value_int(2));
  CHECK(enc_is(m, "{}"));
  mh_value *s = mh_value_new(MH_V_SET);
  mh_value_push(s, mh_value_int(1));
  CHECK(enc_is(s, "{}"));
  CHECK(enc_is(mh_value_regexp("a+", "g"), "{}"));
  CHECK(enc_is(mh_value_error("TypeError", "x is \"bad\""), "{\"name\":\"TypeError\",\"message\":\"x is \\\"bad\\\"\"}"));

  mh_value *y = mh_value_new(MH_V_BYTES);
  y->u.bytes.items = malloc(3 * sizeof(double));
  y->u.bytes.items[0] = 0;
  y->u.bytes.items[1] = 255;
  y->u.bytes.items[2] = 0.5;
  y->u.bytes.len = 3;
  CHECK(enc_is(y, "{\"0\":0,\"1\":255,\"2\":0.5}"));
  CHECK(enc_is(mh_value_new(MH_V_BYTES), "{}"));
}

static void test_undefined(void) {
  mh_value *a = mh_value_new(MH_V_ARRAY);
  mh_value_push(a, mh_value_undefined());
  mh_value_push(a, mh_value_int(1));
  mh_value_push(a, mh_value_undefined());
  CHECK(enc_is(a, "[null,1,null]"));

  mh_value *o = mh_value_new(MH_V_OBJECT);
  mh_value_obj_set(o, "a", mh_value_undefined());
  mh_value_obj_set(o, "b", mh_value_int(1));
  mh_value_obj_set(o, "c", mh_value_undefined());
  CHECK(enc_is(o, "{\"b\":1}"));

  o = mh_value_new(MH_V_OBJECT);
  mh_value_obj_set(o, "only", mh_value_undefined());
  CHECK(enc_is(o, "{}"));
}

static void test_round_trips(void) {
  CHECK(round_trip("{\"z\":1,\"a\":[true,false,null],\"m\":{\"x\":\"y\"}}", NULL));
  CHECK(round_trip("[]", NULL));
  CHECK(round_trip("{}", NULL));
  CHECK(round_trip("\"\"", NULL));
  CHECK(round_trip("[1.5,-2,0.30000000000000004,1e+300]", NULL));
  CHECK(round_trip(" { \"a\" : [ 1 , 2 ] } ", "{\"a\":[1,2]}"));
  CHECK(round_trip("1.0", "1"));
  CHECK(round_trip("-0", "0"));
  CHECK(round_trip("\"\\u00e9\\t\\/\"", "\"\xc3\xa9\\t/\""));
  CHECK(round_trip("[\"\xf0\x9f\x98\x80\",\"\\ud83d\\ude00\"]", "[\"\xf0\x9f\x98\x80\",\"\xf0\x9f\x98\x80\"]"));

  /* encode appends to what the buffer holds */
  mh_buf out = MH_BUF_INIT;
  mh_buf_append_str(&out, "prefix:");
  mh_value *v = mh_value_int(1);
  CHECK(mh_codec_json.encode(v, &out, NULL) == 0);
  CHECK(out.len == 8 && memcmp(out.data, "prefix:1", 8) == 0);
  mh_value_free(v);

  /* a large value that outgrows the preallocation estimate */
  v = mh_value_new(MH_V_ARRAY);
  char ctl[200];
  memset(ctl, '\x01', sizeof ctl - 1);
  ctl[sizeof ctl - 1] = '\0';
  for (int i = 0; i < 50; i++) mh_value_push(v, mh_value_cstring(ctl));
  mh_buf_reset(&out);
  CHECK(mh_codec_json.encode(v, &out, NULL) == 0);
  CHECK(out.len == 2 + 50 * (2 + 199 * 6) + 49);
  mh_error *err = NULL;
  mh_value *back = mh_codec_json.decode(out.data, out.len, &lim, &err);
  CHECK(back && mh_value_equal(back, v));
  mh_value_free(back);
  mh_value_free(v);
  mh_buf_free(&out);
}

/* The decoder looks at the text sixteen and then eight bytes at a time for
 * a NUL, a backslash or a byte from 0x80 up before it trusts the text as a
 * whole: each of them at every place of texts up to 48 bytes long is found
 * (a refusal, or the string it stands for). */
static void test_decode_every_position(void) {
  static const struct {
    const char *in, *out; /* out NULL: refused with error */
    const char *error;
  } odd[] = {
      {"\xff", NULL, "invalid UTF-8 in string"},
      {"\xc3", NULL, "invalid UTF-8 in string"},
      {"\xed\xa0\x80", NULL, "invalid UTF-8 in string"},
      {"\\u0000", NULL, "unsupported \\u0000"},
      {"\\n", "\n", NULL},
      {"\\\\", "\\", NULL},
      {"\xc3\xa9", "\xc3\xa9", NULL},
      {"\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80", NULL},
  };
  for (size_t k = 0; k < sizeof odd / sizeof odd[0]; k++) {
    size_t olen = strlen(odd[k].in);
    for (size_t len = olen + 2; len <= 48; len++) { /* the text: a string of len bytes with its quotes */
      for (size_t at = 1; at + olen < len; at++) {
        char text[64], want[64];
        memset(text, 'a', len);
        text[0] = text[len - 1] = '"';
        memcpy(text + at, odd[k].in, olen);
        if (odd[k].error) {
          CHECK(dec_fails(text, len, &lim, odd[k].error));
          continue;
        }
        size_t wlen = 0;
        memset(want, 'a', at - 1);
        wlen = at - 1;
        memcpy(want + wlen, odd[k].out, strlen(odd[k].out));
        wlen += strlen(odd[k].out);
        memset(want + wlen, 'a', len - 1 - at - olen);
        wlen += len - 1 - at - olen;
        mh_error *err = NULL;
        mh_value *v = mh_codec_json.decode(text, len, &lim, &err);
        CHECK(v && v->type == MH_V_STRING && v->u.str.len == wlen && memcmp(v->u.str.ptr, want, wlen) == 0);
        mh_value_free(v);
        mh_error_free(err);
      }
    }
  }
  /* a raw NUL byte at every place */
  for (size_t len = 3; len <= 48; len++)
    for (size_t at = 1; at + 1 < len; at++) {
      char text[64];
      memset(text, 'a', len);
      text[0] = text[len - 1] = '"';
      text[at] = '\0';
      CHECK(dec_fails(text, len, &lim, "NUL byte"));
    }
}

/* Found by fuzz_json: a raw NUL inside a string used to cut it short. */
static void test_raw_nul(void) {
  CHECK(dec_fails("{\"m\":\"demo:echo\0x\"}", 19, &lim, "NUL byte"));
  CHECK(dec_fails("\"a\0b\"", 5, &lim, "NUL byte"));
}

int main(void) {
  test_raw_nul();
  test_detect();
  test_decode_types();
  test_decode_numbers();
  test_decode_errors();
  test_decode_every_position();
  test_nesting();
  test_salvage_id();
  test_duplicates();
  test_encode_scalars();
  test_encode_every_position();
  test_encode_extended();
  test_undefined();
  test_round_trips();
  return check_failures ? 1 : 0;
}
