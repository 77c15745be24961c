/* The oRPC body parsers (host/codec/orpc_serial.c, host/transport/orpc_multipart.c).
 *
 * Input: a JSON body {json, meta} for mh_orpc_decode_json, or, when it
 * starts with "multipart/", a Content-Type line ending in "\n" followed by
 * a multipart/form-data body for mh_orpc_decode_multipart, e.g.
 *   multipart/form-data; boundary=XyZ\n--XyZ\r\nContent-Disposition: ...
 *
 * Invariants:
 *   - a refused body sets a bad_request (or internal) error;
 *   - the input value is a valid tree (copy, equality, canonical agree);
 *   - mh_orpc_encode writes every value the JSON parser produced, and
 *     mh_orpc_decode_json reads it back as the same value, up to what
 *     oRPC's JSON loses (+-Infinity -> null, -0 -> 0, object members
 *     holding undefined are left out); after that one round the text is
 *     a fixpoint (encode -> decode -> encode gives it again). A value
 *     from a multipart body holds files whose bytes may not be text: it is
 *     round-tripped only when every string is UTF-8 without NUL;
 *   - mh_orpc_encode (which writes a value with nothing to mark straight
 *     out) gives the bytes, or the error, of its general path
 *     mh_orpc_encode_marked;
 *   - mh_json_decode_members (which builds only json and meta) fails, with
 *     the same message, exactly when decoding the whole body does, and
 *     otherwise gives the members the whole object holds. */
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "codec/json_decode.h"
#include "core/error.h"
#include "transport/orpc.h"

static const mh_codec_limits lim = {64};
#define NORM (FUZZ_NORM_INF_NULL | FUZZ_NORM_NEGZERO_INT | FUZZ_NORM_DROP_UNDEFINED)

static void check_refusal(const mh_error *err, const char *what) {
  FUZZ_CHECK(err != NULL, "%s failed without an error", what);
  FUZZ_CHECK(strcmp(err->code, MH_ERR_BAD_REQUEST) == 0 || strcmp(err->code, MH_ERR_INTERNAL) == 0,
             "%s failed with code %s", what, err->code);
}

/* encode -> decode_json gives v back (normalized); encoding is stable. */
static void round_trip(const mh_value *v) {
  mh_buf t1 = MH_BUF_INIT, t2 = MH_BUF_INIT;
  mh_error *err = NULL;
  FUZZ_CHECK(mh_orpc_encode(v, &t1, &err) == 0, "mh_orpc_encode failed on a decoded input: %s",
             err ? err->message : "?");
  mh_value *back = mh_orpc_decode_json(t1.data, t1.len, &lim, &err);
  if (!back && err && strstr(err->message, "too costly")) { /* our meta may follow longer paths */
    mh_error_free(err);
    mh_buf_free(&t1);
    return;
  }
  FUZZ_CHECK(back != NULL, "decoding our own body failed: %s\n  body: %.*s", err ? err->message : "?", (int)t1.len,
             t1.data);
  mh_value *want = fuzz_normalized(v, NORM);
  fuzz_check_same(want, back, "decode_json(encode(input))");
  /* After one round the text is a fixpoint. (Not before: an object with
   * duplicate keys keeps one key, at its first place, so the meta of its
   * members may come in another order.) */
  FUZZ_CHECK(mh_orpc_encode(back, &t2, &err) == 0, "mh_orpc_encode failed: %s", err ? err->message : "?");
  mh_value *back2 = mh_orpc_decode_json(t2.data, t2.len, &lim, &err);
  FUZZ_CHECK(back2 != NULL, "decoding our own body failed: %s\n  body: %.*s", err ? err->message : "?",
             (int)t2.len, t2.data);
  fuzz_check_same(back, back2, "a second round");
  mh_buf t3 = MH_BUF_INIT;
  FUZZ_CHECK(mh_orpc_encode(back2, &t3, &err) == 0, "mh_orpc_encode failed: %s", err ? err->message : "?");
  FUZZ_CHECK(fuzz_same_bytes(t2.data, t2.len, t3.data, t3.len), "encoding is not stable\n  %.*s\n  %.*s",
             (int)t2.len, t2.data, (int)t3.len, t3.data);
  mh_value_free(back2);
  mh_value_free(want);
  mh_value_free(back);
  mh_buf_free(&t1);
  mh_buf_free(&t2);
  mh_buf_free(&t3);
}

/* The plain path and the general path of the encoder agree. */
static void same_as_marked(const mh_value *v) {
  mh_buf a = MH_BUF_INIT, b = MH_BUF_INIT;
  mh_error *ea = NULL, *eb = NULL;
  int ra = mh_orpc_encode(v, &a, &ea), rb = mh_orpc_encode_marked(v, &b, &eb);
  FUZZ_CHECK(ra == rb && fuzz_same_bytes(a.data, a.len, b.data, b.len), "plain and general encodings differ\n  %.*s\n  %.*s",
             (int)a.len, a.data, (int)b.len, b.data);
  FUZZ_CHECK(!ea == !eb && (!ea || strcmp(ea->message, eb->message) == 0), "the two encodings fail differently");
  mh_error_free(ea);
  mh_error_free(eb);
  mh_buf_free(&a);
  mh_buf_free(&b);
}

/* Building only json and meta agrees with building the whole body. */
static void same_as_whole(const char *in, size_t size) {
  static const char *const keys[] = {"json", "meta"};
  mh_error *ew = NULL, *em = NULL;
  mh_value *whole = mh_json_decode(in, size, &lim, &ew), *vals[2];
  int rc = mh_json_decode_members(in, size, &lim, keys, vals, 2, &em);
  if (!whole) {
    FUZZ_CHECK(rc == -1 && em && strcmp(ew->message, em->message) == 0, "members: rc %d (%s), the whole: %s", rc,
               em ? em->message : "", ew->message);
  } else if (whole->type != MH_V_OBJECT) {
    FUZZ_CHECK(rc == 0 && !vals[0] && !vals[1], "members of a body that is no object: rc %d", rc);
  } else {
    FUZZ_CHECK(rc == 1, "members of an object: rc %d (%s)", rc, em ? em->message : "");
    for (size_t i = 0; i < 2; i++) {
      const mh_value *want = mh_value_obj_get(whole, keys[i]);
      FUZZ_CHECK(want ? vals[i] && mh_value_equal(want, vals[i]) : !vals[i], "member %s differs", keys[i]);
    }
  }
  mh_value_free(whole);
  mh_value_free(vals[0]);
  mh_value_free(vals[1]);
  mh_error_free(ew);
  mh_error_free(em);
}

static void json_body(const char *in, size_t size) {
  same_as_whole(in, size);
  mh_error *err = NULL;
  mh_value *v = mh_orpc_decode_json(in, size, &lim, &err);
  if (!v) {
    check_refusal(err, "mh_orpc_decode_json");
    mh_error_free(err);
    return;
  }
  FUZZ_CHECK(err == NULL, "decode succeeded but set an error");
  FUZZ_CHECK(fuzz_strings_clean(v), "a string of the input is not UTF-8 or holds NUL");
  fuzz_check_value_ops(v);
  same_as_marked(v);
  round_trip(v);
  mh_value_free(v);
}

static void multipart_body(const char *in, size_t size) {
  const char *nl = memchr(in, '\n', size);
  if (!nl) return;
  char *ct = strndup(in, (size_t)(nl - in)); /* stops at a NUL too: a header is a C string */
  FUZZ_CHECK(ct != NULL, "out of memory");
  const char *body = nl + 1;
  size_t len = size - (size_t)(body - in);
  mh_error *err = NULL;
  mh_value *v = mh_orpc_decode_multipart(body, len, ct, &lim, &err);
  free(ct);
  if (!v) {
    check_refusal(err, "mh_orpc_decode_multipart");
    mh_error_free(err);
    return;
  }
  FUZZ_CHECK(err == NULL, "decode succeeded but set an error");
  fuzz_check_value_ops(v);
  same_as_marked(v);
  if (fuzz_strings_clean(v)) round_trip(v);
  mh_value_free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_set_input(data, size);
  const char *in = (const char *)data;
  if (size >= 10 && memcmp(in, "multipart/", 10) == 0) multipart_body(in, size);
  else json_body(in, size);
  return 0;
}
