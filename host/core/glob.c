/* mh_glob_match: globs on '/'-separated relative paths.
 *
 *  - '*' matches any run of characters within one segment (also a leading
 *    '.': dotfiles are not special), '?' one character other than '/'.
 *  - '**' as a whole segment matches zero or more segments: "**" then
 *    "*.lua" (as two segments) matches "a.lua" and "x/y/a.lua"; "src" then
 *    "**" matches "src" itself as well as everything below it (zero or more
 *    segments, consistently). '**' inside a segment ("a**b") is a '*'.
 *  - [abc] [a-z] [!x] [^x]: one character (never '/'); "[]a]" includes ']';
 *    an unterminated '[' is a literal.
 *  - {a,b}: alternatives, nested allowed, may contain '/'; a brace without a
 *    top-level ',' or without its '}' is literal. No backslash escapes.
 *
 * Cost: brace groups are expanded lazily (at most GLOB_BUDGET expansions are
 * tried; past that the pattern does not match). Each expansion is matched
 * with the classic two-pointer backtracking, once over segments for '**'
 * and once over characters within a segment for '*', so it is
 * O(segments^2 * segment_length^2) at worst, never exponential. */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/glob.h"

#define GLOB_BUDGET 1024

/* Matches the class starting at p ('['); *end gets the position after ']'.
 * Returns -1 when p does not start a well-formed class. */
static int class_match(const char *p, const char *pend, char c, const char **end) {
  const char *q = p + 1;
  bool neg = q < pend && (*q == '!' || *q == '^');
  if (neg) q++;
  bool hit = false;
  for (bool first = true; q < pend && (*q != ']' || first); first = false) {
    if (q + 2 < pend && q[1] == '-' && q[2] != ']') {
      if ((unsigned char)q[0] <= (unsigned char)c && (unsigned char)c <= (unsigned char)q[2]) hit = true;
      q += 3;
    } else {
      hit |= *q++ == c;
    }
  }
  if (q >= pend) return -1;
  *end = q + 1;
  return hit != neg;
}

/* One pattern segment [p, pend) against one path segment [s, send). */
static bool seg_match(const char *p, const char *pend, const char *s, const char *send) {
  const char *star_p = NULL, *star_s = NULL;
  while (s < send) {
    if (p < pend && *p == '*') {
      while (p < pend && *p == '*') p++;
      star_p = p;
      star_s = s;
      continue;
    }
    if (p < pend) {
      const char *next = p + 1;
      int m = *p == '[' ? class_match(p, pend, *s, &next) : -1;
      if (m < 0) m = *p == '?' || *p == *s;
      if (m) {
        p = next;
        s++;
        continue;
      }
    }
    if (!star_p) return false;
    p = star_p; /* let the last '*' take one more character */
    s = ++star_s;
  }
  while (p < pend && *p == '*') p++;
  return p == pend;
}

static const char *seg_end(const char *x) { return x + strcspn(x, "/"); }
static const char *seg_next(const char *x) {
  const char *e = seg_end(x);
  return *e ? e + 1 : NULL;
}
static bool is_globstar(const char *x) { return x[0] == '*' && x[1] == '*' && (x[2] == '/' || !x[2]); }

/* A pattern without braces. Positions are segment starts, NULL past the end. */
static bool match_plain(const char *pat, const char *path) {
  const char *p = pat, *s = path, *star_p = NULL, *star_s = NULL;
  bool star = false;
  for (;;) {
    if (p && is_globstar(p)) {
      p = seg_next(p);
      star = true;
      star_p = p;
      star_s = s;
      continue;
    }
    if (!s) {
      while (p && is_globstar(p)) p = seg_next(p);
      return !p;
    }
    if (p && seg_match(p, seg_end(p), s, seg_end(s))) {
      p = seg_next(p);
      s = seg_next(s);
      continue;
    }
    if (!star || !star_s) return false;
    s = star_s = seg_next(star_s); /* let the last '**' take one more segment */
    p = star_p;
  }
}

/* The first '{' that opens a group with a top-level ',' and its '}'. */
static bool find_group(const char *pat, const char **open, const char **close) {
  for (const char *o = pat; (o = strchr(o, '{')); o++) {
    int depth = 0;
    bool comma = false;
    for (const char *q = o; *q; q++) {
      if (*q == '{') depth++;
      else if (*q == ',' && depth == 1) comma = true;
      else if (*q == '}' && --depth == 0) {
        if (!comma) break;
        *open = o;
        *close = q;
        return true;
      }
    }
  }
  return false;
}

static bool match_braces(const char *pat, const char *path, int *budget) {
  const char *open, *close;
  if (!find_group(pat, &open, &close)) return --*budget >= 0 && match_plain(pat, path);
  const char *alt = open + 1;
  int depth = 0;
  for (const char *q = alt; q <= close; q++) {
    if (*q == '{') depth++;
    else if (*q == '}' && q != close) depth--;
    if (!(q == close || (*q == ',' && depth == 0))) continue;
    mh_buf b = MH_BUF_INIT;
    bool ok = *budget > 0 && !mh_buf_append(&b, pat, (size_t)(open - pat)) &&
              !mh_buf_append(&b, alt, (size_t)(q - alt)) && !mh_buf_append_str(&b, close + 1) &&
              !mh_buf_terminate(&b) && match_braces(b.data, path, budget);
    mh_buf_free(&b);
    if (ok) return true;
    alt = q + 1;
  }
  return false;
}

bool mh_glob_match(const char *pattern, const char *path) {
  if (!pattern || !path) return false;
  int budget = GLOB_BUDGET;
  return match_braces(pattern, path, &budget);
}
