/* Envelopes (host/codec/envelope.c) on frames of any codec: mh_codec_detect,
 * decode, mh_envelope_parse (every kind), mh_envelope_decode, mh_envelope_take_args, then the
 * envelope encoders and mh_error_from_value / mh_error_to_value.
 *
 * Invariants:
 *   - mh_envelope_decode agrees with decode and then parse: result, error
 *     message, kind and every field (JSON builds only the fields);
 *   - parse either fails with bad_request or gives a consistent envelope:
 *     a request has an id and a method, an event a method and no id, a
 *     reply and a cancel an id; an id is a non-empty string or a number;
 *   - take_args gives an ARRAY (empty when there were none), leaves the
 *     frame a valid tree, and gives an empty ARRAY when asked again;
 *   - what the host writes back with the same codec parses again to the
 *     same thing: a request or an event (method, id, optional, args,
 *     extra), a reply carrying the args as its result, a reply carrying the
 *     frame's error (code, name, message, data; name and message only
 *     for the structured-clone codecs), a cancel. Values compare
 *     up to what the codec loses (see fuzz_json.c and fuzz_sc.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "codec/envelope.h"
#include "core/error.h"

static const mh_codec_limits lim = {64};

static unsigned norm_flags(const mh_codec *c) {
  return c == &mh_codec_json ? FUZZ_NORM_NONFINITE_NULL | FUZZ_NORM_NEGZERO_INT
                             : FUZZ_NORM_NONFINITE_NULL | FUZZ_NORM_BYTES_NONFINITE_0;
}

static bool valid_id(const mh_value *id) {
  return (id->type == MH_V_STRING && id->u.str.len > 0) || id->type == MH_V_INT || id->type == MH_V_FLOAT;
}

/* Decodes and parses a frame the host wrote; both must work. */
static mh_value *reparse(const mh_codec *c, const mh_buf *out, mh_envelope *e, const char *what) {
  mh_error *err = NULL;
  mh_value *root = c->decode(out->data, out->len, &lim, &err);
  FUZZ_CHECK(root != NULL, "%s: decoding our own %s frame failed: %s\n  frame: %.*s", c->name, what,
             err ? err->message : "?", (int)out->len, out->data);
  FUZZ_CHECK(mh_envelope_parse(root, e, &err) == 0, "%s: our own %s frame does not parse: %s\n  frame: %.*s", c->name,
             what, err ? err->message : "?", (int)out->len, out->data);
  return root;
}

/* b is a (with the codec's losses), or both are absent. */
static void check_same_opt(const mh_codec *c, const mh_value *a, const mh_value *b, const char *what) {
  if (!a || (c == &mh_codec_json && a->type == MH_V_UNDEFINED)) {
    /* JSON leaves an undefined member out. */
    FUZZ_CHECK(!b, "%s: present after the round trip but absent before", what);
    return;
  }
  FUZZ_CHECK(b != NULL, "%s: lost in the round trip", what);
  mh_value *want = fuzz_normalized(a, norm_flags(c));
  fuzz_check_same(want, b, what);
  mh_value_free(want);
}

static void check_request(const mh_codec *c, const mh_envelope *e, const mh_value *args) {
  const char *id = e->kind == MH_ENV_REQUEST ? e->id->u.str.ptr : NULL;
  mh_buf out = MH_BUF_INIT;
  mh_error *err = NULL;
  int rc = mh_envelope_encode_request(c, id, e->method, args, e->optional, e->extra, &out, &err);
  FUZZ_CHECK(rc == 0, "%s: encoding the request back failed: %s", c->name, err ? err->message : "?");
  mh_envelope e2;
  mh_value *root = reparse(c, &out, &e2, "request");
  FUZZ_CHECK(e2.kind == e->kind, "request kind %d came back as %d", (int)e->kind, (int)e2.kind);
  FUZZ_CHECK(strcmp(e2.method, e->method) == 0, "method '%s' came back as '%s'", e->method, e2.method);
  FUZZ_CHECK(e2.optional == e->optional, "'o' changed in the round trip");
  if (id) FUZZ_CHECK(e2.id && e2.id->type == MH_V_STRING && strcmp(e2.id->u.str.ptr, id) == 0, "the id changed");
  mh_value *args2 = mh_envelope_take_args(&e2);
  check_same_opt(c, args, args2, "request args");
  check_same_opt(c, e->extra, e2.extra, "request extra ('x')");
  mh_value_free(args2);
  mh_value_free(root);
  mh_buf_free(&out);
}

static void check_reply(const mh_codec *c, const mh_value *id, const mh_value *result, const mh_error *error) {
  mh_buf out = MH_BUF_INIT;
  mh_error *err = NULL;
  int rc = mh_envelope_encode_reply(c, id, result, error, &out, &err);
  FUZZ_CHECK(rc == 0, "%s: encoding a reply failed: %s", c->name, err ? err->message : "?");
  mh_envelope e2;
  mh_value *root = reparse(c, &out, &e2, "reply");
  FUZZ_CHECK(e2.kind == MH_ENV_REPLY, "a reply came back as kind %d", (int)e2.kind);
  check_same_opt(c, id, e2.id, "reply id");
  if (error) {
    FUZZ_CHECK(e2.error != NULL, "the reply's error was lost");
    mh_error *back = mh_error_from_value(e2.error);
    /* Structured-clone codecs send an Error record, which holds only name
     * and message (what the Vite DevTools clients revive): the code comes
     * back as internal and the data is gone. JSON keeps all four. */
    bool keeps_all = c == &mh_codec_json;
    const char *want_code = keeps_all ? error->code : MH_ERR_INTERNAL;
    FUZZ_CHECK(strcmp(back->code, want_code) == 0, "error code '%s' came back as '%s'", want_code, back->code);
    FUZZ_CHECK(strcmp(back->name, error->name) == 0, "error name '%s' came back as '%s'", error->name, back->name);
    FUZZ_CHECK(strcmp(back->message, error->message) == 0, "error message '%s' came back as '%s'", error->message,
               back->message);
    if (keeps_all) check_same_opt(c, error->data, back->data, "error data");
    else FUZZ_CHECK(back->data == NULL, "%s: error data survived an Error record", c->name);
    mh_error_free(back);
  } else {
    FUZZ_CHECK(e2.error == NULL, "a reply without error came back with one");
    check_same_opt(c, result && result->type != MH_V_UNDEFINED ? result : NULL, e2.result, "reply result");
  }
  mh_value_free(root);
  mh_buf_free(&out);
}

static void check_cancel(const mh_codec *c, const char *id) {
  mh_buf out = MH_BUF_INIT;
  mh_error *err = NULL;
  FUZZ_CHECK(mh_envelope_encode_cancel(c, id, &out, &err) == 0, "%s: encoding a cancel failed", c->name);
  mh_envelope e2;
  mh_value *root = reparse(c, &out, &e2, "cancel");
  FUZZ_CHECK(e2.kind == MH_ENV_CANCEL && e2.id && e2.id->type == MH_V_STRING && strcmp(e2.id->u.str.ptr, id) == 0,
             "a cancel did not come back as itself");
  mh_value_free(root);
  mh_buf_free(&out);
}

/* Both values absent, or both there and the same. */
static void check_same_field(const mh_value *a, const mh_value *b, const char *what) {
  FUZZ_CHECK(!a == !b, "mh_envelope_decode and parse disagree on whether there is %s", what);
  if (a) fuzz_check_same(a, b, what);
}

/* mh_envelope_decode (which may build only the fields, decode_members) reads
 * the frame as decode and mh_envelope_parse do: the same result, the same
 * error, the same envelope. decode_err: decode's error when it failed;
 * otherwise parse_rc, parse_err and parsed are what parse made of its tree. */
static void check_decode_agrees(const mh_codec *c, const char *in, size_t size, const mh_error *decode_err,
                                int parse_rc, const mh_error *parse_err, mh_envelope *parsed) {
  mh_envelope e;
  mh_error *err = NULL;
  int rc = mh_envelope_decode(c, in, size, &lim, &e, &err);
  if (decode_err) {
    FUZZ_CHECK(rc == MH_ENVELOPE_UNDECODABLE, "decode failed but mh_envelope_decode gave %d", rc);
  } else {
    FUZZ_CHECK(rc == parse_rc, "parse gave %d, mh_envelope_decode %d", parse_rc, rc);
  }
  const mh_error *want = decode_err ? decode_err : parse_err;
  FUZZ_CHECK(!want == !err, "mh_envelope_decode's error: %s, expected: %s", err ? err->message : "(none)",
             want ? want->message : "(none)");
  if (want)
    FUZZ_CHECK(strcmp(want->message, err->message) == 0 && strcmp(want->code, err->code) == 0,
               "mh_envelope_decode's error \"%s\", decode and parse's \"%s\"", err->message, want->message);
  if (!decode_err) {
    FUZZ_CHECK(e.kind == parsed->kind, "kind %d, parse's %d", (int)e.kind, (int)parsed->kind);
    check_same_field(e.id, parsed->id, "an id");
    FUZZ_CHECK(!e.method == !parsed->method && (!e.method || strcmp(e.method, parsed->method) == 0),
               "method %s, parse's %s", e.method ? e.method : "(none)", parsed->method ? parsed->method : "(none)");
    FUZZ_CHECK(e.optional == parsed->optional, "optional differs");
    FUZZ_CHECK(!e.args_slot == !parsed->args_slot, "args differ in presence");
    check_same_field(e.result, parsed->result, "a result");
    check_same_field(e.error, parsed->error, "an error");
    check_same_field(e.extra, parsed->extra, "an extra");
    check_same_field(e.stream, parsed->stream, "a stream");
    check_same_field(e.count, parsed->count, "a count");
    if (e.args_slot && parsed->args_slot) check_same_field(*e.args_slot, *parsed->args_slot, "args");
  }
  mh_error_free(err);
  mh_envelope_free(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_set_input(data, size);
  const char *in = (const char *)data;
  const mh_codec *c = mh_codec_detect(in, size);
  if (!c) return 0;
  mh_error *err = NULL;
  mh_value *root = c->decode(in, size, &lim, &err);
  if (!root) {
    FUZZ_CHECK(err != NULL, "%s decode failed without an error", c->name);
    check_decode_agrees(c, in, size, err, 0, NULL, NULL);
    mh_error_free(err);
    fuzz_check_salvage_id(c, in, size);
    return 0;
  }

  mh_envelope e;
  if (mh_envelope_parse(root, &e, &err)) {
    FUZZ_CHECK(err && strcmp(err->code, MH_ERR_BAD_REQUEST) == 0, "parse failed with code %s",
               err ? err->code : "(none)");
    check_decode_agrees(c, in, size, NULL, -1, err, &e);
    FUZZ_CHECK(!e.id || valid_id(e.id), "a refused envelope reports an id of type %s", mh_value_type_name(e.id->type));
    mh_error_free(err);
    mh_value_free(root);
    return 0;
  }
  FUZZ_CHECK(err == NULL, "parse succeeded but set an error");
  check_decode_agrees(c, in, size, NULL, 0, NULL, &e);
  FUZZ_CHECK(!e.id || valid_id(e.id), "an envelope with an id of type %s", mh_value_type_name(e.id->type));
  switch (e.kind) {
  case MH_ENV_REQUEST:
  case MH_ENV_EVENT:
    FUZZ_CHECK((e.kind == MH_ENV_REQUEST) == (e.id != NULL), "request/event does not match the id");
    FUZZ_CHECK(e.method && e.method[0], "a request without a method");
    FUZZ_CHECK(!e.result && !e.error, "a request with a result or an error");
    break;
  case MH_ENV_REPLY:
  case MH_ENV_CANCEL:
  case MH_ENV_ACK:
    FUZZ_CHECK(e.id != NULL && !e.method, "a reply, cancel or ack without an id, or with a method");
    FUZZ_CHECK(!e.args_slot, "a reply or cancel with args");
    FUZZ_CHECK(!e.error || (e.error->type != MH_V_NULL && e.error->type != MH_V_UNDEFINED),
               "a reply error that is null or undefined");
    break;
  default:
    FUZZ_CHECK(false, "unknown envelope kind %d", (int)e.kind);
  }

  mh_value *args = mh_envelope_take_args(&e);
  FUZZ_CHECK(args && args->type == MH_V_ARRAY, "take_args gave a %s", args ? mh_value_type_name(args->type) : "NULL");
  FUZZ_CHECK(e.args_slot == NULL, "take_args left the slot set");
  mh_value *again = mh_envelope_take_args(&e);
  FUZZ_CHECK(again && again->type == MH_V_ARRAY && again->u.arr.len == 0, "a second take_args gave something");
  mh_value_free(again);
  fuzz_check_value_ops(root); /* still a valid tree after the args left it */
  fuzz_check_value_ops(args);

  /* An id a reply can carry: a non-finite number goes out as null. */
  bool echoable = e.id && !(e.id->type == MH_V_FLOAT && !isfinite(e.id->u.f));
  switch (e.kind) {
  case MH_ENV_REQUEST:
  case MH_ENV_EVENT:
    if (e.kind == MH_ENV_EVENT || e.id->type == MH_V_STRING) check_request(c, &e, args);
    if (echoable) check_reply(c, e.id, args, NULL);
    break;
  case MH_ENV_REPLY:
    if (echoable) {
      mh_error *error = e.error ? mh_error_from_value(e.error) : NULL;
      FUZZ_CHECK(!error || !mh_error_is_static(error), "out of memory");
      check_reply(c, e.id, e.result, error);
      mh_error_free(error);
    }
    break;
  case MH_ENV_CANCEL:
    if (e.id->type == MH_V_STRING) check_cancel(c, e.id->u.str.ptr);
    break;
  case MH_ENV_ACK: break; /* nothing of it is encoded back */
  }

  mh_value_free(args);
  mh_value_free(root);
  return 0;
}
