/* Shared-state patches (host/session/shared_state_patch.c): the patches the
 * immer inside the real devframe 1.3 client makes (tests/vectors/immer-patches.json,
 * from tests/vectors/gen-immer.mjs) apply to the value immer made; the
 * host's own diff, applied, gives the new value back; bad patches are
 * refused with bad_request. Runs with the repo root as cwd. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vectors.h"
#include "codec/codec.h"
#include "session/shared_state.h"

static const mh_codec_limits lim = {64};

static mh_value *from_json(const char *text) {
  mh_error *err = NULL;
  mh_value *v = mh_codec_json.decode(text, strlen(text), &lim, &err);
  if (!v) fprintf(stderr, "  decode(%.80s): %s\n", text, err ? err->message : "?");
  mh_error_free(err);
  return v;
}

static mh_value *item(const cJSON *vec, const char *key) {
  char *text = cJSON_PrintUnformatted(cJSON_GetObjectItem(vec, key));
  mh_value *v = text ? from_json(text) : NULL;
  free(text);
  return v;
}

/* Whether applying patches to a copy of before gives after. */
static bool applies(const char *name, const mh_value *before, const mh_value *patches, const mh_value *after) {
  mh_value *v = mh_value_copy(before);
  mh_error *err = NULL;
  bool ok = v && mh_state_apply(&v, patches, &err) == 0 && mh_value_equal(v, after);
  if (!ok) fprintf(stderr, "  %s: %s\n", name, err ? err->message : "a different value");
  mh_error_free(err);
  mh_value_free(v);
  return ok;
}

static void check_vector(const cJSON *vec) {
  const char *name = cJSON_GetObjectItem(vec, "name")->valuestring;
  mh_value *before = item(vec, "before"), *after = item(vec, "after"), *patches = item(vec, "patches");
  CHECK(before && after && patches);
  if (before && after && patches) {
    CHECK(applies(name, before, patches, after)); /* immer's patches */
    mh_value *ours = mh_value_new(MH_V_ARRAY);
    CHECK(ours && mh_state_diff(before, after, ours) == 0);
    CHECK(applies(name, before, ours, after)); /* the host's own */
    mh_value_free(ours);
  }
  mh_value_free(before);
  mh_value_free(after);
  mh_value_free(patches);
}

static void test_vectors(void) {
  char *text = read_vector_file("tests/vectors/immer-patches.json");
  CHECK(text != NULL);
  cJSON *all = text ? cJSON_Parse(text) : NULL;
  CHECK(cJSON_GetArraySize(all) >= 12);
  const cJSON *vec;
  cJSON_ArrayForEach(vec, all) check_vector(vec);
  cJSON_Delete(all);
  free(text);
}

/* Whether applying patches (JSON) to value (JSON) fails with bad_request naming want. */
static bool refused(const char *value, const char *patches, const char *want) {
  mh_value *v = from_json(value), *p = from_json(patches);
  mh_error *err = NULL;
  bool ok = v && p && mh_state_apply(&v, p, &err) == -1 && err && strcmp(err->code, MH_ERR_BAD_REQUEST) == 0 &&
            strstr(err->message, want);
  if (!ok) fprintf(stderr, "  %s: got %s, want '%s'\n", patches, err ? err->message : "no error", want);
  mh_error_free(err);
  mh_value_free(v);
  mh_value_free(p);
  return ok;
}

static void test_bad_patches(void) {
  CHECK(refused("{}", "{}", "patches must be a list"));
  CHECK(refused("{}", "[1]", "patch 0: expected {op, path, value}"));
  CHECK(refused("{}", "[{\"op\":\"move\",\"path\":[\"a\"],\"value\":1}]", "op must be add, replace or remove"));
  CHECK(refused("{}", "[{\"op\":\"add\",\"path\":[\"a\"]}]", "no value"));
  CHECK(refused("{}", "[{\"op\":\"remove\",\"path\":[]}]", "only replace applies to the whole value"));
  CHECK(refused("{\"a\":1}", "[{\"op\":\"add\",\"path\":[\"a\",\"b\"],\"value\":1}]", "does not lead into the value"));
  CHECK(refused("{\"l\":[1]}", "[{\"op\":\"replace\",\"path\":[\"l\",1],\"value\":1}]", "does not lead"));
  CHECK(refused("{\"l\":[1]}", "[{\"op\":\"add\",\"path\":[\"l\",5],\"value\":1}]", "does not lead"));
  CHECK(refused("{\"l\":[1]}", "[{\"op\":\"remove\",\"path\":[\"l\",-1]}]", "does not lead"));
  CHECK(refused("{\"l\":[1]}", "[{\"op\":\"replace\",\"path\":[\"l\",\"length\"],\"value\":3}]", "does not lead"));
  CHECK(refused("{\"l\":[1]}", "[{\"op\":\"add\",\"path\":[\"a\"],\"value\":1},{\"op\":\"bad\",\"path\":[]}]", "patch 1"));
}

int main(void) {
  test_vectors();
  test_bad_patches();
  return check_failures ? 1 : 0;
}
