/* devframe's "s:" codec (host/codec/devframe_codec.c): "s:" + a structured-clone
 * record frame, as Vite DevTools 0.8 sends it.
 *
 * Invariants: those of fuzz_sc.c (common.c, fuzz_records_round_trip) for
 * the devframe codec, plus:
 *   - a frame that does not start with "s:" is never decoded;
 *   - a devframe frame decodes exactly as its text after "s:" does with
 *     the plain record codec (the same value, or both refuse). */
#include <string.h>

#include "common.h"
#include "core/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_set_input(data, size);
  const char *in = (const char *)data;
  bool claimed = mh_codec_devframe.detect(in, size);
  FUZZ_CHECK(claimed == (size >= 2 && memcmp(in, "s:", 2) == 0), "detect disagrees with the \"s:\" prefix");
  if (claimed) FUZZ_CHECK(mh_codec_detect(in, size) == &mh_codec_devframe, "mh_codec_detect does not pick devframe");

  mh_value *v = fuzz_records_round_trip(&mh_codec_devframe, in, size, 64);
  FUZZ_CHECK(claimed || !v, "a frame without the \"s:\" prefix was decoded");
  if (claimed) {
    const mh_codec_limits lim = {64};
    mh_error *err = NULL;
    mh_value *plain = mh_codec_sc.decode(in + 2, size - 2, &lim, &err);
    FUZZ_CHECK(!v == !plain, "devframe %s the frame but the record codec %s its text after \"s:\"",
               v ? "decodes" : "refuses", plain ? "decodes" : "refuses");
    if (v) fuzz_check_same(v, plain, "devframe vs record codec");
    mh_value_free(plain);
    mh_error_free(err);
  }
  mh_value_free(v);
  return 0;
}
