/* The structured-clone record codec (host/codec/sc_codec.c, host/codec/sc_encode.c):
 * frames like [[2,[[1,2]]],[0,"t"],[0,"q"]].
 *
 * Invariants (common.c, fuzz_records_round_trip):
 *   - a refused frame sets a bad_request (or internal) error; salvage_id
 *     gives a string or a number id or nothing;
 *   - a decoded value nests no deeper than the limit, holds only UTF-8
 *     strings without NUL, and decoding without the limit gives the same
 *     value;
 *   - copy, equality and the canonical encoding agree on the value;
 *   - the encoder writes every decoded value, its text is claimed by this
 *     codec, and it decodes to the same value up to what JSON loses (NaN and
 *     +-Infinity written as null); equal values encode to the same text. */
#include "common.h"
#include "codec/sc_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_set_input(data, size);
  const char *in = (const char *)data;
  (void)mh_codec_sc.detect(in, size);
  mh_value_free(fuzz_records_round_trip(&mh_codec_sc, in, size, 64));
  return 0;
}
