/* Wire codecs. A codec turns one text frame into a value tree and back; it
 * knows nothing of envelopes, which are plain values to it (see envelope.h).
 * The codec is detected per frame; replies and later pushes use the codec of
 * the client's last frame. */
#ifndef MH_CODEC_H
#define MH_CODEC_H
#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/error.h"
#include "core/value.h"

typedef struct mh_codec_limits {
  int max_depth; /* nesting limit for containers */
} mh_codec_limits;

typedef struct mh_codec {
  const char *name;
  /* Whether this codec claims the frame (looks at the first bytes only). */
  bool (*detect)(const char *data, size_t len);
  /* Decodes one frame. On failure returns NULL and sets *err (bad_request). */
  mh_value *(*decode)(const char *data, size_t len, const mh_codec_limits *lim, mh_error **err);
  /* Optional: decodes as decode does (the same frames fail with the same
   * errors) but builds only the values of the top-level keys given, the
   * last of duplicates; vals[i] is NULL where the frame has no keys[i].
   * Returns 1 for an object, 0 for valid frame of another kind (vals all
   * NULL), -1 with *err when decode would fail. An envelope needs a few
   * fields, not a tree of the whole frame (envelope.c). */
  int (*decode_members)(const char *data, size_t len, const mh_codec_limits *lim, const char *const *keys,
                        mh_value **vals, size_t n, mh_error **err);
  /* Appends the encoding of v to out. On failure returns -1 and sets *err
   * (for example a value the wire format cannot carry). */
  int (*encode)(const mh_value *v, mh_buf *out, mh_error **err);
  /* Optional: after decode failed, the envelope's id if one can still be
   * read, so the error reaches whoever waits for it instead of leaving them
   * waiting: the caller of a request, or (*reply set: the frame says
   * "t":"s") the host's own call that this broken answer was meant for. */
  mh_value *(*salvage_id)(const char *data, size_t len, bool *reply);
} mh_codec;

extern const mh_codec mh_codec_json;
extern const mh_codec mh_codec_sc;       /* structured-clone-es records: "[[..." */
extern const mh_codec mh_codec_devframe; /* devframe: "s:" + structured-clone */

/* A JSON string literal for text holding NUL bytes, which cJSON's C-string
 * API cannot carry (json_codec.c; the structured-clone encoder uses it too).
 * Returns a malloc'd literal or NULL. */
char *mh_json_quote_with_nul(const char *s, size_t len);

/* Without recursion, so for nesting of any depth (cJSON gives up past
 * CJSON_NESTING_LIMIT levels, and a refused frame still deserves a clear
 * message and its id back): */
/* The end of the JSON value at p (after whitespace), or NULL when the text
 * ends first. Only strings and brackets are followed: enough to find where
 * a value ends, not to validate it. */
const char *mh_json_skip_value(const char *p, const char *end);
/* How many brackets are open at byte `at` of a JSON text (strings skipped). */
size_t mh_json_depth_at(const char *data, size_t at);
/* The nesting a decoder built on cJSON really allows: the configured limit,
 * never more than cJSON's own (which also applies when none is set). */
int mh_json_depth_limit(const mh_codec_limits *lim);

/* The codec for a frame, or NULL if none claims it. */
const mh_codec *mh_codec_detect(const char *data, size_t len);

#endif
