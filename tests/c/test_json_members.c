/* mh_json_decode_members (what oRPC's body decoding uses) must agree with
 * decoding the whole text and reading the members from the object: the
 * same values (the last of duplicates), the same failures with the same
 * messages, also when what fails is a member it does not build. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "codec/json_decode.h"

static const char *const keys[] = {"json", "meta"};

/* Decodes text both ways under lim; true when they agree. */
static bool agrees(const char *text, size_t len, const mh_codec_limits *lim) {
  mh_error *ef = NULL, *em = NULL;
  mh_value *full = mh_json_decode(text, len, lim, &ef);
  mh_value *vals[2];
  int rc = mh_json_decode_members(text, len, lim, keys, vals, 2, &em);
  bool ok;
  if (!full) {
    ok = rc == -1 && !vals[0] && !vals[1] && em && strcmp(ef->code, em->code) == 0 &&
         strcmp(ef->message, em->message) == 0;
  } else if (full->type != MH_V_OBJECT) {
    ok = rc == 0 && !vals[0] && !vals[1] && !em;
  } else {
    ok = rc == 1 && !em;
    for (size_t i = 0; i < 2; i++) {
      const mh_value *want = mh_value_obj_get(full, keys[i]);
      ok = ok && (want ? vals[i] && mh_value_equal(want, vals[i]) : !vals[i]);
    }
  }
  if (!ok)
    fprintf(stderr, "  %.*s: whole %s, members rc %d %s\n", (int)len, text, full ? "ok" : ef->message, rc,
            em ? em->message : "");
  mh_value_free(full);
  mh_value_free(vals[0]);
  mh_value_free(vals[1]);
  mh_error_free(ef);
  mh_error_free(em);
  return ok;
}

#define AGREES(lit, lim) agrees(lit, sizeof lit - 1, lim)

static const mh_codec_limits deep = {64}, shallow = {3}, none = {0};

static void test_members_found(void) {
  const mh_codec_limits *all[] = {&deep, &shallow, &none};
  for (size_t i = 0; i < 3; i++) {
    const mh_codec_limits *l = all[i];
    CHECK(AGREES("{\"json\":[123,\"abcdefghijklmnop\"]}", l)); /* bench/'s body */
    CHECK(AGREES("{}", l));
    CHECK(AGREES("{\"meta\":[[1,\"d\"]],\"json\":{\"d\":\"2020-01-01T00:00:00.000Z\"}}", l));
    CHECK(AGREES("{\"json\":1,\"json\":{\"a\":[true,false,null]},\"json\":\"last\"}", l)); /* the last one */
    CHECK(AGREES("{\"json\":\"h\\u00e9 \xe2\x9c\x93\",\"other\":[1,{\"x\":2}],\"meta\":null}", l));
    CHECK(AGREES("{\"jso\":1,\"jsonx\":2,\"Json\":3,\"\":4}", l)); /* no such member */
    CHECK(AGREES("{\"json\":-0,\"meta\":[9007199254740993, -9007199254740994, 0.5, 1e400]}", l));
    CHECK(AGREES("  {\"json\" : [ ] }  \n", l));
  }
}

static void test_members_other_tops(void) {
  CHECK(AGREES("[1,2]", &deep));
  CHECK(AGREES("\"json\"", &deep));
  CHECK(AGREES("null", &deep));
  CHECK(AGREES("[[[[1]]]]", &shallow)); /* too deep, before being no object */
  CHECK(AGREES("[\"\xff\"]", &deep));
}

/* What fails in a member that is only checked fails the same way. */
static void test_members_failures(void) {
  CHECK(AGREES("{\"json\":1,\"other\":[[[1]]]}", &shallow));
  CHECK(AGREES("{\"other\":{\"a\":{\"b\":{}}},\"json\":1}", &shallow));
  CHECK(AGREES("{\"json\":[[[[1]]]]}", &shallow));
  CHECK(AGREES("{\"json\":1,\"json\":[[[1]]],\"json\":2}", &shallow)); /* an earlier duplicate too deep */
  CHECK(AGREES("{\"other\":\"\xff\",\"json\":1}", &deep));
  CHECK(AGREES("{\"json\":[\"ok\",\"\xed\xa0\x80\"]}", &deep));
  CHECK(AGREES("{\"\xc0\xaf\":1,\"json\":2}", &deep)); /* a key that is not UTF-8 */
  CHECK(AGREES("{\"json\":\"\xe2\x82\",\"other\":[[[[1]]]]}", &shallow)); /* the first failure wins */
  CHECK(AGREES("{\"other\":[[[[1]]]],\"json\":\"\xe2\x82\"}", &shallow));
  CHECK(AGREES("{\"json\":\"a\\u0000b\"}", &deep));
  CHECK(agrees("{\"json\":\"a\0b\"}", 14, &deep));
  CHECK(AGREES("{\"json\":1} x", &deep));
  CHECK(AGREES("{\"json\":", &deep));
  CHECK(AGREES("", &deep));
}

int main(void) {
  test_members_found();
  test_members_other_tops();
  test_members_failures();
  return check_failures ? 1 : 0;
}
