/* Reading a JSON text without a parser (json_scan.c); mh_json_skip_value,
 * mh_json_depth_at and mh_json_depth_limit are declared in codec.h. */
#ifndef MH_JSON_SCAN_H
#define MH_JSON_SCAN_H
#include <stdbool.h>
#include <stddef.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

static inline bool mh_json_is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* p past any JSON whitespace, up to end. */
const char *mh_json_skip_space(const char *p, const char *end);
/* p at an opening quote; the end of the string, or NULL. */
const char *mh_json_skip_string(const char *p, const char *end);

/* How many bytes at the start of s are in whole blocks of sixteen with no
 * byte below lo nor from 0x80 up (compared as signed bytes, those are
 * negative: below lo as well, for lo >= 1) and none equal to c1 or c2; the
 * caller's own loops look at the rest and find the byte that stopped this.
 * x86-64 always has SSE2; elsewhere this is 0 and the loops do it all. */
static inline size_t mh_json_blocks_without(const char *s, size_t len, char lo, char c1, char c2) {
  size_t i = 0;
#ifdef __SSE2__
  const __m128i below = _mm_set1_epi8(lo), one = _mm_set1_epi8(c1), two = _mm_set1_epi8(c2);
  for (; len - i >= 16; i += 16) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
    __m128i odd = _mm_or_si128(_mm_cmplt_epi8(v, below), _mm_or_si128(_mm_cmpeq_epi8(v, one), _mm_cmpeq_epi8(v, two)));
    if (_mm_movemask_epi8(odd)) break;
  }
#else
  (void)s, (void)len, (void)lo, (void)c1, (void)c2;
#endif
  return i;
}

#endif
