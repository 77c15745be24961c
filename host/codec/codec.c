/* Codec registry: the first codec whose detect() claims a frame decodes it.
 * More specific codecs go before JSON, which claims any JSON-looking text. */
#include "codec/codec.h"

static const mh_codec *const mh_codecs[] = {
    &mh_codec_devframe, /* "s:" + records */
    &mh_codec_sc,       /* "[": birpc envelopes are objects, so never JSON */
    &mh_codec_json,
};

const mh_codec *mh_codec_detect(const char *data, size_t len) {
  if (!data) return NULL;
  for (size_t i = 0; i < sizeof mh_codecs / sizeof mh_codecs[0]; i++)
    if (mh_codecs[i]->detect(data, len)) return mh_codecs[i];
  return NULL;
}
