/* A step-counting Lua pattern search (see lua_pattern_cost.h), written from
 * the reference manual's §6.4.1. It interprets the pattern text as it goes,
 * as the manual describes matching item by item, and keeps its choices on
 * an explicit stack of frames instead of recursing: the depth of C
 * recursion is not the simulator's to risk, and a caller can stop it at
 * any step without unwinding anything.
 *
 * A step is one look at the pattern or subject: reading an item, testing a
 * character against it (a set costs its length), resuming a choice;
 * memory compares cost one step per 32 bytes. */
#include "runtime/lua_pattern_cost.h"

#include <ctype.h>
#include <string.h>

#define MAX_CAPTURES 32 /* LUA_MAXCAPTURES: the 33rd '(' is an error */
#define CAP_OPEN SIZE_MAX
#define CAP_POSITION (SIZE_MAX - 1)
#define BYTES_PER_STEP 32

enum { F_STAR, F_MIN, F_OPT, F_UNDO_OPEN, F_UNDO_CLOSE };

typedef struct search {
  const unsigned char *s, *p;
  size_t len, plen;
  mh_pat_frame *fr;
  size_t nfr, top;
  mh_pat_meter *m;
  int level; /* captures opened so far */
  size_t cap_start[MAX_CAPTURES], cap_len[MAX_CAPTURES];
  mh_pat_status stop; /* MH_PAT_MATCH while running */
} search;

static uint64_t add_sat(uint64_t a, uint64_t b) { return a + b < a ? UINT64_MAX : a + b; }

static uint64_t mul_sat(uint64_t a, uint64_t b) { return b && a > UINT64_MAX / b ? UINT64_MAX : a * b; }

/* The meter's turn: hands it the steps since the last time. */
static bool tick(search *x) {
  mh_pat_meter *m = x->m;
  uint64_t d = m->steps - m->reported;
  m->reported = m->steps;
  if (x->stop != MH_PAT_STOPPED && (!m->tick || m->tick(m->ud, d))) return true;
  x->stop = MH_PAT_STOPPED;
  return false;
}

/* Counts n steps; false once the meter stops the search. */
static inline bool step(search *x, uint64_t n) {
  mh_pat_meter *m = x->m;
  m->steps = add_sat(m->steps, n);
  if (m->steps - m->reported < m->tick_every && x->stop != MH_PAT_STOPPED) return true;
  return tick(x);
}

/* %a, %d, ... (and %z) : the class letter cl (upper case: its complement) tested
 * on c; any other character after '%' stands for itself. */
static bool in_class(unsigned char c, unsigned char cl) {
  bool r;
  /* Only ASCII letters are classes: | 0x20 lowers them and maps nothing
   * else onto one. */
  switch (cl | 0x20) {
  case 'a': r = isalpha(c); break;
  case 'c': r = iscntrl(c); break;
  case 'd': r = isdigit(c); break;
  case 'g': r = isgraph(c); break;
  case 'l': r = islower(c); break;
  case 'p': r = ispunct(c); break;
  case 's': r = isspace(c); break;
  case 'u': r = isupper(c); break;
  case 'w': r = isalnum(c); break;
  case 'x': r = isxdigit(c); break;
  case 'z': r = c == 0; break; /* the NUL byte: deprecated since 5.2, still in liblua 5.4 */
  default: return cl == c;
  }
  return cl >= 'A' && cl <= 'Z' ? !r : r;
}

/* c against the set [...] from p[open] ('[') to p[close] (']'). */
static bool in_set(const search *x, unsigned char c, size_t open, size_t close) {
  const unsigned char *p = x->p;
  size_t i = open + 1;
  bool negate = p[i] == '^';
  if (negate) i++;
  for (; i < close; i++) {
    if (p[i] == '%') {
      i++;
      if (in_class(c, p[i])) return !negate;
    } else if (i + 2 < close && p[i + 1] == '-') {
      if (p[i] <= c && c <= p[i + 2]) return !negate;
      i += 2;
    } else if (p[i] == c) {
      return !negate;
    }
  }
  return negate;
}

/* The end of the single-character class at p[i] (one past it), or 0 when
 * it is malformed ('%' at the end, a set without its ']'). The first
 * character of a set, even ']', belongs to it. */
static size_t class_end(search *x, size_t i) {
  const unsigned char *p = x->p;
  size_t n = x->plen;
  if (p[i] == '%') return i + 1 < n ? i + 2 : 0;
  if (p[i] != '[') return i + 1;
  size_t j = i + 1;
  if (j < n && p[j] == '^') j++;
  for (;;) {
    if (j >= n) return 0;
    if (p[j++] == '%' && j++ >= n) return 0;
    if (j >= n) return 0;
    if (p[j] == ']') break;
  }
  if (!step(x, j - i)) return 0;
  return j + 1;
}

/* Whether subject byte at si matches the class p[i..e). */
static bool single(search *x, size_t si, size_t i, size_t e) {
  if (si >= x->len) return false;
  unsigned char c = x->s[si];
  switch (x->p[i]) {
  case '.': return true;
  case '%': return in_class(c, x->p[i + 1]);
  case '[': (void)step(x, e - i); return in_set(x, c, i, e - 1);
  default: return x->p[i] == c;
  }
}

static bool push(search *x, mh_pat_frame f) {
  if (x->top == x->nfr) {
    x->stop = MH_PAT_TOO_DEEP;
    return false;
  }
  x->fr[x->top++] = f;
  return true;
}

/* Undoes frames down to the latest open choice and takes its next
 * alternative: true with *si, *pi set, false when none is left. */
static bool backtrack(search *x, size_t *si, size_t *pi) {
  while (x->top > 0) {
    mh_pat_frame *f = &x->fr[x->top - 1];
    if (!step(x, 1)) return false;
    switch (f->kind) {
    case F_UNDO_OPEN: x->level--; break;
    case F_UNDO_CLOSE: x->cap_len[f->n] = CAP_OPEN; break;
    case F_OPT: *si = f->at, *pi = f->rest, x->top--; return true;
    case F_STAR: /* the next shorter run */
      if (f->n == 0) break;
      f->n--;
      *si = f->at + f->n, *pi = f->rest;
      return true;
    case F_MIN: /* one more repetition */
      if (!single(x, f->at, f->item, f->n)) break;
      *si = ++f->at, *pi = f->rest;
      return true;
    }
    x->top--;
  }
  return false;
}

/* '(' or '()' at pi. */
static bool open_capture(search *x, size_t si, bool position) {
  if (x->level >= MAX_CAPTURES) {
    x->stop = MH_PAT_MALFORMED;
    return false;
  }
  x->cap_start[x->level] = si;
  x->cap_len[x->level] = position ? CAP_POSITION : CAP_OPEN;
  x->level++;
  return push(x, (mh_pat_frame){.kind = F_UNDO_OPEN});
}

/* ')': closes the latest capture still open. */
static bool close_capture(search *x, size_t si) {
  int l = x->level - 1;
  while (l >= 0 && x->cap_len[l] != CAP_OPEN) l--;
  if (l < 0) {
    x->stop = MH_PAT_MALFORMED;
    return false;
  }
  x->cap_len[l] = si - x->cap_start[l];
  return push(x, (mh_pat_frame){.kind = F_UNDO_CLOSE, .n = (size_t)l});
}

/* %bxy at si: the end of the balanced run, or 0 when there is none. */
static size_t balance(search *x, size_t si, unsigned char open, unsigned char close) {
  if (si >= x->len || x->s[si] != open) return 0;
  size_t depth = 1;
  for (size_t k = si + 1; k < x->len; k++) {
    if (!step(x, 1)) return 0;
    if (x->s[k] == close) {
      if (--depth == 0) return k + 1;
    } else if (x->s[k] == open) {
      depth++;
    }
  }
  return 0;
}

/* %1..%9 at si: the length matched (SIZE_MAX: no match); malformed when
 * the capture does not exist or is still open. */
static size_t backref(search *x, size_t si, unsigned char d) {
  int l = d - '1';
  if (l < 0 || l >= x->level || x->cap_len[l] == CAP_OPEN) {
    x->stop = MH_PAT_MALFORMED;
    return SIZE_MAX;
  }
  size_t n = x->cap_len[l];
  if (n == CAP_POSITION || x->len - si < n) return SIZE_MAX;
  if (!step(x, 1 + n / BYTES_PER_STEP)) return SIZE_MAX;
  return memcmp(x->s + x->cap_start[l], x->s + si, n) == 0 ? n : SIZE_MAX;
}

/* The item at pi is a single-character class, maybe quantified: matches
 * it at *si and moves *si, *pi on; false when it fails here. */
static bool quantified(search *x, size_t *si, size_t *pi) {
  size_t i = *pi, e = class_end(x, i);
  if (!e) {
    if (x->stop == MH_PAT_MATCH) x->stop = MH_PAT_MALFORMED;
    return false;
  }
  unsigned char q = e < x->plen ? x->p[e] : 0;
  bool here = single(x, *si, i, e);
  switch (q) {
  case '?':
    if (here && !push(x, (mh_pat_frame){.kind = F_OPT, .rest = e + 1, .at = *si})) return false;
    *si += here, *pi = e + 1;
    return true;
  case '-':
    *pi = e + 1;
    return push(x, (mh_pat_frame){.kind = F_MIN, .item = i, .n = e, .rest = e + 1, .at = *si});
  case '+':
  case '*': {
    if (q == '+' && !here) return false;
    size_t from = *si + (q == '+'), n = 0;
    while (single(x, from + n, i, e)) {
      n++;
      if (!step(x, 1)) return false;
    }
    *si = from + n, *pi = e + 1;
    return push(x, (mh_pat_frame){.kind = F_STAR, .rest = e + 1, .at = from, .n = n});
  }
  default:
    if (!here) return false;
    *si += 1, *pi = e;
    return true;
  }
}

/* The item at pi, one of '(', ')', '$' at the end, %b, %f, %1-9, or a
 * single-character class: matches it at *si (false: it fails here, or
 * x->stop says why the search ends). */
static bool item(search *x, size_t *si, size_t *pi) {
  const unsigned char *p = x->p;
  size_t i = *pi, n = x->plen;
  switch (p[i]) {
  case '(': {
    bool position = i + 1 < n && p[i + 1] == ')';
    *pi += position ? 2 : 1;
    return open_capture(x, *si, position);
  }
  case ')': *pi += 1; return close_capture(x, *si);
  case '$':
    if (i + 1 != n) break;
    *pi += 1;
    return *si == x->len;
  case '%':
    if (i + 1 >= n) break; /* class_end reports it */
    if (p[i + 1] == 'b') {
      if (i + 3 >= n) {
        x->stop = MH_PAT_MALFORMED;
        return false;
      }
      size_t e = balance(x, *si, p[i + 2], p[i + 3]);
      *si = e, *pi += 4;
      return e != 0;
    }
    if (p[i + 1] == 'f') {
      size_t open = i + 2, e;
      if (open >= n || p[open] != '[' || !(e = class_end(x, open))) {
        if (x->stop == MH_PAT_MATCH) x->stop = MH_PAT_MALFORMED;
        return false;
      }
      unsigned char before = *si ? x->s[*si - 1] : 0, at = *si < x->len ? x->s[*si] : 0;
      (void)step(x, e - open);
      *pi = e;
      return !in_set(x, before, open, e - 1) && in_set(x, at, open, e - 1);
    }
    if (isdigit(p[i + 1])) {
      size_t k = backref(x, *si, p[i + 1]);
      *si += k == SIZE_MAX ? 0 : k, *pi += 2;
      return k != SIZE_MAX;
    }
    break;
  }
  return quantified(x, si, pi);
}

/* One match attempt of p[pi..] at si, as liblua's matcher makes it. */
static mh_pat_status attempt(search *x, size_t si, size_t pi, size_t *end) {
  x->top = 0;
  x->level = 0;
  for (;;) {
    if (x->stop != MH_PAT_MATCH) return x->stop;
    if (!step(x, 1)) return x->stop;
    if (pi == x->plen) {
      *end = si;
      return MH_PAT_MATCH;
    }
    if (item(x, &si, &pi)) continue;
    if (x->stop != MH_PAT_MATCH) return x->stop;
    if (!backtrack(x, &si, &pi)) return x->stop == MH_PAT_MATCH ? MH_PAT_NO_MATCH : x->stop;
  }
}

static search start(const mh_pat_job *j) {
  return (search){.s = (const unsigned char *)j->s, .p = (const unsigned char *)j->p, .len = j->len,
                  .plen = j->plen, .fr = j->frames, .nfr = j->nframes, .m = j->meter, .stop = MH_PAT_MATCH};
}

static mh_pat_result result(search *x, mh_pat_status st, size_t from, size_t end) {
  mh_pat_result r = {.status = st, .start = from, .end = end};
  if (st != MH_PAT_MATCH) return r;
  for (int l = 0; l < x->level; l++)
    if (x->cap_len[l] == CAP_OPEN) r.unfinished = true;
  return r;
}

/* Length of the common prefix of a and b (at most n), a block at a time. */
static size_t common(const unsigned char *a, const unsigned char *b, size_t n) {
  size_t k = 0;
  while (n - k >= 64 && memcmp(a + k, b + k, 64) == 0) k += 64;
  while (k < n && a[k] == b[k]) k++;
  return k;
}

/* find's plain search: memchr for the first byte, then a compare. */
static mh_pat_result plain_find(search *x, size_t init) {
  size_t n = x->plen;
  if (n == 0) return result(x, MH_PAT_MATCH, init, init);
  if (n > x->len - init) return result(x, MH_PAT_NO_MATCH, 0, 0);
  size_t at = init, last = x->len - n;
  while (at <= last) {
    const unsigned char *c = memchr(x->s + at, x->p[0], last - at + 1);
    size_t next = c ? (size_t)(c - x->s) : last + 1;
    if (!step(x, 1 + (next - at) / BYTES_PER_STEP)) return result(x, x->stop, 0, 0);
    if (!c) break;
    size_t k = common(c + 1, x->p + 1, n - 1);
    if (!step(x, 1 + k / BYTES_PER_STEP)) return result(x, x->stop, 0, 0);
    if (k == n - 1) return result(x, MH_PAT_MATCH, next, next + n);
    at = next + 1;
  }
  return result(x, MH_PAT_NO_MATCH, 0, 0);
}

mh_pat_result mh_pat_find(const mh_pat_job *j, size_t init, bool plain) {
  search x = start(j);
  if (plain) return plain_find(&x, init);
  bool anchor = x.plen > 0 && x.p[0] == '^';
  for (size_t si = init;; si++) {
    size_t end = 0;
    mh_pat_status st = attempt(&x, si, anchor, &end);
    if (st != MH_PAT_NO_MATCH) return result(&x, st, si, end);
    if (anchor || si >= x.len) return result(&x, MH_PAT_NO_MATCH, 0, 0);
  }
}

mh_pat_result mh_pat_gmatch_step(const mh_pat_job *j, size_t src, size_t lastmatch) {
  search x = start(j);
  for (size_t si = src; si <= x.len; si++) {
    size_t end = 0;
    mh_pat_status st = attempt(&x, si, 0, &end);
    if (st == MH_PAT_MATCH && end == lastmatch) continue;
    if (st != MH_PAT_NO_MATCH) return result(&x, st, si, end);
  }
  return result(&x, MH_PAT_NO_MATCH, 0, 0);
}

mh_pat_result mh_pat_gsub(const mh_pat_job *j, uint64_t max_n) {
  search x = start(j);
  bool anchor = x.plen > 0 && x.p[0] == '^';
  size_t si = 0, lastmatch = SIZE_MAX;
  uint64_t count = 0;
  while (count < max_n) {
    size_t end = 0;
    mh_pat_status st = attempt(&x, si, anchor, &end);
    if (st == MH_PAT_MATCH && end != lastmatch) {
      count++;
      si = lastmatch = end;
    } else if (st == MH_PAT_MATCH || st == MH_PAT_NO_MATCH) {
      if (si >= x.len) break;
      si++;
    } else {
      return result(&x, st, 0, 0);
    }
    if (anchor) break;
  }
  mh_pat_result r = result(&x, MH_PAT_NO_MATCH, 0, 0);
  r.count = (size_t)count;
  return r;
}

size_t mh_pat_start(int64_t pos, size_t len) {
  if (pos > 0) return (size_t)(pos - 1);
  if (pos == 0 || -(uint64_t)pos > len) return 0;
  return len - (size_t)-(uint64_t)pos;
}

size_t mh_pat_frames_for(size_t plen) { return plen < MH_PAT_MAX_FRAMES ? plen + 1 : MH_PAT_MAX_FRAMES; }

bool mh_pat_is_plain(const char *p, size_t plen) {
  for (size_t i = 0; i < plen; i++)
    if (strchr("^$*+?.([%-", p[i]) && p[i]) return false;
  return true;
}

uint64_t mh_pat_bound(size_t len, const char *p, size_t plen) {
  unsigned k = 0, q = 0;
  for (size_t i = 0; i < plen; i++) {
    if (p[i] == '*' || p[i] == '+' || p[i] == '-') k++;
    else if (p[i] == '?') q++;
    else if (p[i] == '%' && i + 1 < plen && (p[i + 1] == 'b' || isdigit((unsigned char)p[i + 1]))) k++;
    if (k > 64 || q > 64) return UINT64_MAX;
  }
  uint64_t b = mul_sat(2, add_sat(plen, 1));
  for (unsigned i = 0; i < k + 2; i++) b = mul_sat(b, add_sat(len, 1));
  for (unsigned i = 0; i < q; i++) b = mul_sat(b, 2);
  return b;
}
