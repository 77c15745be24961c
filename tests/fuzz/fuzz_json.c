/* The JSON codec (host/codec/json_codec.c, json_decode.c): decode with a
 * depth limit, re-encode, decode again.
 *
 * Invariants:
 *   - a refused frame sets a bad_request (or internal) error; salvage_id
 *     gives a string or a number id or nothing;
 *   - a decoded value nests no deeper than the limit, and decoding without
 *     the limit gives the same value (the limit only refuses);
 *   - copy, equality and the canonical encoding agree on the value;
 *   - the encoding of a decoded value always succeeds and decodes again to
 *     the same value, up to what JSON itself loses (+-Infinity -> null,
 *     -0 -> 0); encoding that value again gives the very same text;
 *   - no string of an accepted frame held a raw NUL byte (cJSON keeps
 *     strings NUL-terminated, so one would cut the string short silently,
 *     which is why the codec refuses an escaped \u0000). */
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "core/error.h"

#define DEPTH 64
static const mh_codec_limits lim = {DEPTH};

/* Whether a raw NUL byte sits inside a string literal of a JSON text the
 * codec accepted (so its string boundaries are well defined). */
static bool nul_inside_string(const char *s, size_t len) {
  bool in = false;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (!in) {
      in = c == '"';
    } else if (c == '\\') {
      i++;
    } else if (c == '"') {
      in = false;
    } else if (c == '\0') {
      return true;
    }
  }
  return false;
}

static void check_error(const mh_error *err, const char *what) {
  FUZZ_CHECK(err != NULL, "%s failed without an error", what);
  FUZZ_CHECK(strcmp(err->code, MH_ERR_BAD_REQUEST) == 0 || strcmp(err->code, MH_ERR_INTERNAL) == 0,
             "%s failed with code %s", what, err->code);
  FUZZ_CHECK(err->message && err->message[0], "%s failed with an empty message", what);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *in = (const char *)data;
  fuzz_set_input(data, size);
  (void)mh_codec_json.detect(in, size);

  fuzz_check_salvage_id(&mh_codec_json, in, size);

  mh_error *err = NULL;
  mh_value *v1 = mh_codec_json.decode(in, size, &lim, &err);
  mh_error *err_free = NULL;
  mh_value *unlimited = mh_codec_json.decode(in, size, NULL, &err_free);
  if (!v1) {
    check_error(err, "decode");
    mh_error_free(err);
    mh_value_free(unlimited);
    mh_error_free(err_free);
    return 0;
  }
  FUZZ_CHECK(err == NULL, "decode succeeded but set an error");
  FUZZ_CHECK(unlimited != NULL, "decoding without a depth limit failed (%s) where the limit of %d passed",
             err_free ? err_free->message : "?", DEPTH);
  fuzz_check_same(v1, unlimited, "decode with and without the depth limit");
  mh_value_free(unlimited);
  FUZZ_CHECK(fuzz_depth(v1) <= DEPTH, "decoded value nests %d deep, limit %d", fuzz_depth(v1), DEPTH);
  FUZZ_CHECK(fuzz_ignored("json-raw-nul") || !nul_inside_string(in, size),
             "a raw NUL byte inside a JSON string was accepted: the decoded string is silently cut at it");
  fuzz_check_value_ops(v1);

  size_t l1, l2;
  char *t1 = fuzz_encode(&mh_codec_json, v1, &l1, &err);
  FUZZ_CHECK(t1 != NULL, "encoding a decoded value failed: %s", err ? err->message : "?");
  FUZZ_CHECK(strlen(t1) == l1, "the encoding holds a NUL byte");
  mh_value *v2 = mh_codec_json.decode(t1, l1, &lim, &err);
  FUZZ_CHECK(v2 != NULL, "decoding our own encoding failed: %s\n  text: %s", err ? err->message : "?", t1);
  mh_value *want = fuzz_normalized(v1, FUZZ_NORM_NONFINITE_NULL | FUZZ_NORM_NEGZERO_INT);
  fuzz_check_same(want, v2, "decode(encode(decode(input)))");
  char *t2 = fuzz_encode(&mh_codec_json, v2, &l2, &err);
  FUZZ_CHECK(t2 != NULL, "encoding failed: %s", err ? err->message : "?");
  FUZZ_CHECK(fuzz_same_bytes(t1, l1, t2, l2), "encoding is not stable\n  first:  %s\n  second: %s", t1, t2);

  free(t1);
  free(t2);
  mh_value_free(want);
  mh_value_free(v2);
  mh_value_free(v1);
  return 0;
}
