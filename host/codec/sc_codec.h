/* Internals of the structured-clone codec (sc_codec.c decodes, sc_encode.c
 * encodes); devframe_codec.c reuses both behind its "s:" prefix. */
#ifndef MH_SC_CODEC_H
#define MH_SC_CODEC_H
#include "codec/codec.h"

mh_value *mh_sc_decode(const char *data, size_t len, const mh_codec_limits *lim, mh_error **err);
int mh_sc_encode(const mh_value *v, mh_buf *out, mh_error **err);
mh_value *mh_sc_salvage_id(const char *data, size_t len, bool *reply);

#endif
