#include "codec/envelope.h"

#include <string.h>

/* A value that borrows a string; used to build envelopes on the stack
 * without copying what they carry. Never freed. */
#define MH_STR_VIEW(s) ((mh_value){.type = MH_V_STRING, .u.str = {(char *)(s), strlen(s)}})

/* The fields an envelope may have: all named by one letter. */
enum { F_T, F_I, F_M, F_A, F_O, F_X, F_S, F_R, F_E, F_N, F_COUNT };
static const char *const field_keys[F_COUNT] = {"t", "i", "m", "a", "o", "x", "s", "r", "e", "n"};
_Static_assert(F_COUNT == MH_ENVELOPE_FIELDS, "envelope.h sizes the fields an envelope owns");

static int field_index(const mh_value *key) {
  if (key->u.str.len != 1) return -1;
  switch (key->u.str.ptr[0]) {
  case 't': return F_T;
  case 'i': return F_I;
  case 'm': return F_M;
  case 'a': return F_A;
  case 'o': return F_O;
  case 'x': return F_X;
  case 's': return F_S;
  case 'r': return F_R;
  case 'e': return F_E;
  case 'n': return F_N;
  default: return -1;
  }
}

/* Where each field's value is in the root, or NULL. One pass over the pairs
 * for all fields (a search per field cost ~800 instructions a call); the
 * last duplicate wins, as when JavaScript parses the frame. */
static void find_fields(const mh_value *obj, mh_value **slots[F_COUNT]) {
  for (int f = 0; f < F_COUNT; f++) slots[f] = NULL;
  for (size_t i = 0; i < obj->u.obj.len; i++) {
    mh_pair *p = &obj->u.obj.items[i];
    int f = field_index(p->key);
    if (f >= 0) slots[f] = &p->val;
  }
}

static const mh_value *field(mh_value **const slots[F_COUNT], int f) { return slots[f] ? *slots[f] : NULL; }

static bool id_present(const mh_value *id) {
  /* birpc treats a falsy id as "no reply wanted". */
  if (!id) return false;
  switch (id->type) {
  case MH_V_UNDEFINED:
  case MH_V_NULL: return false;
  case MH_V_BOOL: return id->u.b;
  case MH_V_STRING: return id->u.str.len > 0;
  default: return true;
  }
}

/* Reads the envelope out of its fields (slots[f]: where field f's value
 * is, or NULL); e is zeroed but for what it owns. */
static int parse_fields(mh_value **const slots[F_COUNT], mh_envelope *e, mh_error **err) {
  const mh_value *t = field(slots, F_T);
  char tc = t && t->type == MH_V_STRING && t->u.str.len == 1 ? t->u.str.ptr[0] : '\0';
  /* What the frame says it is, set before any refusal: a reply or a cancel
   * is never answered, not even a broken one (client.c). */
  e->kind = tc == 's' ? MH_ENV_REPLY : tc == 'c' ? MH_ENV_CANCEL : tc == 'a' ? MH_ENV_ACK : MH_ENV_REQUEST;
  const mh_value *id = field(slots, F_I);
  if (id_present(id)) {
    if (id->type != MH_V_STRING && id->type != MH_V_INT && id->type != MH_V_FLOAT) {
      *err = mh_error_new(MH_ERR_BAD_REQUEST, "envelope field 'i' must be a string or a number");
      return -1;
    }
    e->id = id;
  }
  if (!tc) {
    *err = mh_error_new(MH_ERR_BAD_REQUEST, "envelope field 't' must be \"q\", \"s\", \"c\" or \"a\"");
    return -1;
  }
  switch (tc) {
  case 'q': {
    const mh_value *m = field(slots, F_M);
    if (!m || m->type != MH_V_STRING || m->u.str.len == 0) {
      *err = mh_error_new(MH_ERR_BAD_REQUEST, "envelope field 'm' must be a non-empty string");
      return -1;
    }
    if (m->u.str.len > MH_ENVELOPE_METHOD_MAX) {
      *err = mh_error_new(MH_ERR_BAD_REQUEST, "envelope field 'm' is longer than %d bytes (%zu)",
                          MH_ENVELOPE_METHOD_MAX, m->u.str.len);
      return -1;
    }
    e->method = m->u.str.ptr;
    const mh_value *a = field(slots, F_A);
    e->args_slot = slots[F_A];
    if (a && a->type != MH_V_ARRAY && a->type != MH_V_UNDEFINED && a->type != MH_V_NULL) {
      *err = mh_error_new(MH_ERR_BAD_REQUEST, "envelope field 'a' must be an array of arguments");
      return -1;
    }
    if (a && a->type != MH_V_ARRAY) e->args_slot = NULL;
    const mh_value *o = field(slots, F_O);
    e->optional = o && o->type == MH_V_BOOL && o->u.b;
    e->extra = field(slots, F_X);
    e->stream = field(slots, F_S);
    e->kind = e->id ? MH_ENV_REQUEST : MH_ENV_EVENT;
    return 0;
  }
  case 's':
    if (!e->id) {
      *err = mh_error_new(MH_ERR_BAD_REQUEST, "a reply envelope needs field 'i'");
      return -1;
    }
    e->kind = MH_ENV_REPLY;
    e->result = field(slots, F_R);
    e->error = field(slots, F_E);
    if (e->error && (e->error->type == MH_V_UNDEFINED || e->error->type == MH_V_NULL)) e->error = NULL;
    return 0;
  case 'c':
    if (!e->id) {
      *err = mh_error_new(MH_ERR_BAD_REQUEST, "a cancel envelope needs field 'i'");
      return -1;
    }
    e->kind = MH_ENV_CANCEL;
    return 0;
  case 'a':
    if (!e->id) {
      *err = mh_error_new(MH_ERR_BAD_REQUEST, "an ack envelope needs field 'i'");
      return -1;
    }
    e->kind = MH_ENV_ACK;
    e->count = field(slots, F_N);
    return 0;
  default:
    *err = mh_error_new(MH_ERR_BAD_REQUEST, "envelope field 't' must be \"q\", \"s\", \"c\" or \"a\"");
    return -1;
  }
}

int mh_envelope_parse(mh_value *root, mh_envelope *e, mh_error **err) {
  memset(e, 0, sizeof *e);
  if (root->type != MH_V_OBJECT) {
    *err = mh_error_new(MH_ERR_BAD_REQUEST, "a frame must be an object envelope, got %s",
                        mh_value_type_name(root->type));
    return -1;
  }
  mh_value **slots[F_COUNT];
  find_fields(root, slots);
  return parse_fields(slots, e, err);
}

int mh_envelope_decode(const mh_codec *codec, const char *data, size_t len, const mh_codec_limits *lim,
                       mh_envelope *e, mh_error **err) {
  memset(e, 0, sizeof *e);
  if (codec->decode_members) {
    int rc = codec->decode_members(data, len, lim, field_keys, e->own_fields, F_COUNT, err);
    if (rc < 0) return MH_ENVELOPE_UNDECODABLE;
    if (rc > 0) {
      mh_value **slots[F_COUNT];
      for (int f = 0; f < F_COUNT; f++) slots[f] = e->own_fields[f] ? &e->own_fields[f] : NULL;
      return parse_fields(slots, e, err);
    }
    /* Not an object: the whole frame, only to name what it is instead. */
  }
  mh_value *root = codec->decode(data, len, lim, err);
  if (!root) return MH_ENVELOPE_UNDECODABLE;
  int rc = mh_envelope_parse(root, e, err);
  e->own_root = root;
  return rc;
}

void mh_envelope_free(mh_envelope *e) {
  mh_value_free(e->own_root);
  for (int f = 0; f < F_COUNT; f++) mh_value_free(e->own_fields[f]);
  memset(e, 0, sizeof *e);
}

mh_value *mh_envelope_take_args(mh_envelope *e) {
  mh_value *args = NULL;
  if (e->args_slot) {
    args = *e->args_slot;
    /* A root stays a valid tree; a field of its own the envelope just lets go. */
    *e->args_slot = e->args_slot == &e->own_fields[F_A] ? NULL : mh_value_undefined();
    e->args_slot = NULL;
  }
  return args ? args : mh_value_new(MH_V_ARRAY);
}

static int encode_pairs(const mh_codec *codec, mh_pair *pairs, size_t n, mh_buf *out, mh_error **err) {
  mh_value root = {.type = MH_V_OBJECT, .u.obj = {pairs, n, n}};
  return codec->encode(&root, out, err);
}

int mh_envelope_encode_reply(const mh_codec *codec, const mh_value *id, const mh_value *result,
                             const mh_error *error, mh_buf *out, mh_error **err) {
  mh_value kt = MH_STR_VIEW("t"), vs = MH_STR_VIEW("s"), ki = MH_STR_VIEW("i");
  mh_value kr = MH_STR_VIEW("r"), ke = MH_STR_VIEW("e");
  mh_pair pairs[3] = {{&kt, &vs}};
  size_t n = 1;
  if (id) pairs[n++] = (mh_pair){&ki, (mh_value *)id};
  mh_value *errv = NULL;
  if (error) {
    /* Structured-clone clients (Vite DevTools) revive an Error record into a
     * real Error, as the reference server sends it; that record holds only
     * name and message, so the code travels in JSON frames only. */
    errv = codec == &mh_codec_json ? mh_error_to_value(error)
                                   : mh_value_error(error->name ? error->name : "Error", error->message);
    if (!errv) {
      *err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
      return -1;
    }
    pairs[n++] = (mh_pair){&ke, errv};
  } else if (result && result->type != MH_V_UNDEFINED) {
    pairs[n++] = (mh_pair){&kr, (mh_value *)result};
  }
  int rc = encode_pairs(codec, pairs, n, out, err);
  mh_value_free(errv);
  return rc;
}

int mh_envelope_encode_request(const mh_codec *codec, const char *id, const char *method,
                               const mh_value *args, bool optional, const mh_value *extra, mh_buf *out,
                               mh_error **err) {
  mh_value km = MH_STR_VIEW("m"), vm = MH_STR_VIEW(method), ka = MH_STR_VIEW("a");
  mh_value kt = MH_STR_VIEW("t"), vq = MH_STR_VIEW("q"), ki = MH_STR_VIEW("i");
  mh_value ko = MH_STR_VIEW("o"), vtrue = {.type = MH_V_BOOL, .u.b = true};
  mh_value vi = MH_STR_VIEW(id ? id : "");
  mh_value empty = {.type = MH_V_ARRAY};
  mh_value kx = MH_STR_VIEW("x");
  /* Key order as birpc writes it: m, a, t, i, o (then our x). */
  mh_pair pairs[6] = {{&km, &vm}, {&ka, (mh_value *)(args ? args : &empty)}, {&kt, &vq}};
  size_t n = 3;
  if (id) pairs[n++] = (mh_pair){&ki, &vi};
  if (optional) pairs[n++] = (mh_pair){&ko, &vtrue};
  if (extra) pairs[n++] = (mh_pair){&kx, (mh_value *)extra};
  return encode_pairs(codec, pairs, n, out, err);
}

int mh_envelope_encode_cancel(const mh_codec *codec, const char *id, mh_buf *out, mh_error **err) {
  mh_value kt = MH_STR_VIEW("t"), vc = MH_STR_VIEW("c"), ki = MH_STR_VIEW("i"), vi = MH_STR_VIEW(id);
  mh_pair pairs[2] = {{&kt, &vc}, {&ki, &vi}};
  return encode_pairs(codec, pairs, 2, out, err);
}
