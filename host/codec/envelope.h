/* birpc envelopes as value trees.
 *   request {"t":"q","i":ID,"m":NAME,"a":[ARGS],"o":true?}
 *   event   {"t":"q","m":NAME,"a":[ARGS]}          (no i, or i null/false/"")
 *   reply   {"t":"s","i":ID,"r":RESULT} | {"t":"s","i":ID,"e":ERROR}
 *   cancel  {"t":"c","i":ID}                        (our extension)
 *   stream  a request with "s": {"w":WINDOW,"l":LAST_ID} (our extension:
 *           the moonhost client reads a stream; client_stream.h), and
 *   ack     {"t":"a","i":ID,"n":COUNT}              (its reader took COUNT chunks)
 * A relayed request or event also carries "x": {"from": PEER, "sig": HMAC}
 * (the caller's identity signed by the host; plain birpc peers ignore it). */
#ifndef MH_ENVELOPE_H
#define MH_ENVELOPE_H
#include <stdbool.h>

#include "core/buf.h"
#include "codec/codec.h"
#include "core/error.h"
#include "core/value.h"

/* Longest function name a request may carry, in bytes. Longer names are
 * bad_request: a refused or unknown name is echoed in the reply and the
 * log, so an unbounded one let any client (untrusted too) make the host
 * copy up to a whole message into both. */
#define MH_ENVELOPE_METHOD_MAX 256

typedef enum { MH_ENV_REQUEST, MH_ENV_EVENT, MH_ENV_REPLY, MH_ENV_CANCEL, MH_ENV_ACK } mh_env_kind;

/* How many fields an envelope may have (envelope.c names them). */
#define MH_ENVELOPE_FIELDS 10

typedef struct mh_envelope {
  mh_env_kind kind;
  const mh_value *id;     /* borrowed from the frame's root (or own_fields) */
  const char *method;
  mh_value **args_slot;   /* where the args live in the root, to take them */
  bool optional;
  const mh_value *result; /* reply; NULL means undefined */
  const mh_value *error;  /* reply error, or NULL */
  const mh_value *extra;  /* request: "x", the signed identity of a relayed call, or NULL */
  const mh_value *stream; /* request: "s", the options of a stream's reader, or NULL */
  const mh_value *count;  /* ack: "n", unchecked (the stream's reader judges it), or NULL */
  /* What mh_envelope_decode decoded, freed by mh_envelope_free: the whole
   * frame, or only its fields when the codec can decode just those (the
   * pointers above then point in here: pass an envelope by address, never
   * copy it). */
  mh_value *own_root;
  mh_value *own_fields[MH_ENVELOPE_FIELDS];
} mh_envelope;

/* mh_envelope_decode's result when the codec refused the frame. */
#define MH_ENVELOPE_UNDECODABLE (-2)

/* Reads an envelope out of a decoded frame. On error returns -1 with *err
 * (bad_request) and, when the frame had a usable id, e->id set so the
 * error can be answered; e->kind is then MH_ENV_REPLY or MH_ENV_CANCEL when
 * "t" said so (such a frame is not answered), MH_ENV_ACK for an ack, else
 * MH_ENV_REQUEST. */
int mh_envelope_parse(mh_value *root, mh_envelope *e, mh_error **err);
/* Decodes one frame with codec and reads its envelope, as decode and then
 * mh_envelope_parse would, with the same errors; e owns what it decoded
 * (mh_envelope_free, whatever the result). Returns 0, -1 as
 * mh_envelope_parse does, or MH_ENVELOPE_UNDECODABLE with *err from the
 * codec when it refused the frame. */
int mh_envelope_decode(const mh_codec *codec, const char *data, size_t len, const mh_codec_limits *lim,
                       mh_envelope *e, mh_error **err);
void mh_envelope_free(mh_envelope *e);
/* Takes the args out of the frame (an empty ARRAY when there were none). */
mh_value *mh_envelope_take_args(mh_envelope *e);

/* Encoders append one frame to out. */
int mh_envelope_encode_reply(const mh_codec *codec, const mh_value *id, const mh_value *result,
                             const mh_error *error, mh_buf *out, mh_error **err);
/* id NULL: an event (no reply expected). extra: the "x" field, or NULL. */
int mh_envelope_encode_request(const mh_codec *codec, const char *id, const char *method,
                               const mh_value *args, bool optional, const mh_value *extra, mh_buf *out,
                               mh_error **err);
/* {"t":"c","i":ID}: asks the other side to stop a call we made. */
int mh_envelope_encode_cancel(const mh_codec *codec, const char *id, mh_buf *out, mh_error **err);

#endif
