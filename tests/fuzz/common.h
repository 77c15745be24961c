/* Helpers shared by the libFuzzer targets of tests/fuzz (common.c).
 *
 * A target does not stop at "no crash": it checks invariants with
 * FUZZ_CHECK, which prints what failed and the values involved, then
 * aborts so that libFuzzer keeps the input as a crash. */
#ifndef MH_FUZZ_COMMON_H
#define MH_FUZZ_COMMON_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "codec/codec.h"
#include "core/value.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond, ...)                                                                      \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "\nfuzz invariant failed at %s:%d: %s\n  ", __FILE__, __LINE__, #cond);    \
      fprintf(stderr, __VA_ARGS__);                                                                \
      fputc('\n', stderr);                                                                         \
      fuzz_abort();                                                                                \
    }                                                                                              \
  } while (0)

/* Prints the input being run (fuzz_set_input) and aborts. */
void fuzz_abort(void) __attribute__((noreturn));
/* Remembers the current input so a failed check can print it. */
void fuzz_set_input(const uint8_t *data, size_t size);

/* Whether the known, reported bug `id` is to be skipped: MOONHOST_FUZZ_IGNORE
 * lists such ids, comma-separated, so that a long run can look past a bug
 * that is waiting for its fix (the check stays on by default). */
bool fuzz_ignored(const char *id);

/* Prints v on stderr (as a devframe frame when possible) under a label. */
void fuzz_print_value(const char *label, const mh_value *v);

/* Lossy steps of the wire formats, applied to a copy of the first decoded
 * value so that it can be compared with what comes back after a round trip. */
enum {
  FUZZ_NORM_NONFINITE_NULL = 1 << 0, /* +-Infinity (and NaN) floats -> null: JSON writes null */
  FUZZ_NORM_INF_NULL = 1 << 1,       /* only +-Infinity -> null (oRPC marks NaN) */
  FUZZ_NORM_NEGZERO_INT = 1 << 2,    /* -0 float -> integer 0: JSON writes 0 */
  FUZZ_NORM_BYTES_NONFINITE_0 = 1 << 3, /* typed array NaN/Infinity -> 0: written null, read 0 */
  FUZZ_NORM_DROP_UNDEFINED = 1 << 4, /* object members holding undefined are left out */
};
/* A normalized deep copy of v (NULL only when memory runs out). */
mh_value *fuzz_normalized(const mh_value *v, unsigned flags);

/* copy/equal/canonical agree with themselves on v: equal to itself and its
 * copy, canonical bytes deterministic and the same for the copy. */
void fuzz_check_value_ops(const mh_value *v);
/* a and b must be equal, with equal canonical bytes; what names the step. */
void fuzz_check_same(const mh_value *a, const mh_value *b, const char *what);
/* Equality and canonical-bytes equality agree for a and b, whatever they are. */
void fuzz_check_canonical_agrees(const mh_value *a, const mh_value *b);

/* Nesting depth: containers around the deepest leaf (a scalar is 0). */
int fuzz_depth(const mh_value *v);
/* Whether every string in v (keys, texts) is valid UTF-8 without NUL bytes. */
bool fuzz_strings_clean(const mh_value *v);

/* Encodes v with codec c; NULL with *err on failure. The text is
 * NUL-terminated and *len excludes the NUL. */
char *fuzz_encode(const mh_codec *c, const mh_value *v, size_t *len, mh_error **err);
/* Whether two byte strings are the same. */
bool fuzz_same_bytes(const char *a, size_t alen, const char *b, size_t blen);

/* salvage_id on any input gives nothing, a string or a number. */
void fuzz_check_salvage_id(const mh_codec *c, const char *in, size_t size);

/* The structured-clone record codecs (mh_codec_sc, mh_codec_devframe):
 * decode with a depth limit, then the round-trip invariants (see
 * fuzz_sc.c). Returns the decoded value (the caller frees it) or NULL. */
mh_value *fuzz_records_round_trip(const mh_codec *c, const char *in, size_t size, int depth);

#endif
