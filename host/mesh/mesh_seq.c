#include "mesh/mesh_seq.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mh_seq_format(const char *boot, uint64_t n, int64_t time_ms, char out[MH_SEQ_MAX_LEN]) {
  snprintf(out, MH_SEQ_MAX_LEN, "%s %" PRIu64 " %" PRId64, boot, n, time_ms);
}

static bool is_hex(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
  return true;
}

/* Digits only (strtoull alone takes signs and blanks), within range. */
static bool parse_u64(const char *s, const char *end, uint64_t *out) {
  if (s == end || end - s > 19) return false;
  uint64_t v = 0;
  for (const char *p = s; p < end; p++) {
    if (*p < '0' || *p > '9') return false;
    v = v * 10 + (uint64_t)(*p - '0');
  }
  *out = v;
  return true;
}

bool mh_seq_parse(const char *header, mh_seq *out) {
  if (!header) return false;
  const char *sp1 = strchr(header, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
  if (!sp1 || !sp2 || sp1 - header != MH_SEQ_BOOT_HEX || !is_hex(header, MH_SEQ_BOOT_HEX)) return false;
  uint64_t n, t;
  if (!parse_u64(sp1 + 1, sp2, &n) || !parse_u64(sp2 + 1, sp2 + 1 + strlen(sp2 + 1), &t) || n == 0 ||
      t > INT64_MAX)
    return false;
  memcpy(out->boot, header, MH_SEQ_BOOT_HEX);
  out->boot[MH_SEQ_BOOT_HEX] = '\0';
  out->n = n;
  out->time_ms = (int64_t)t;
  return true;
}

mh_seq_verdict mh_seq_judge(const mh_seq_state *st, const mh_seq *q, mh_seq_stream stream, int64_t now_ms) {
  if (st->boot[0] && strcmp(st->boot, q->boot) == 0) return q->n > st->last[stream] ? MH_SEQ_NEXT : MH_SEQ_REPLAY;
  int64_t skew = q->time_ms - now_ms;
  if (skew > MH_SEQ_MAX_SKEW_MS || skew < -MH_SEQ_MAX_SKEW_MS) return MH_SEQ_SKEW;
  if (st->boot[0] && q->time_ms <= st->boot_time_ms) return MH_SEQ_OLD_BOOT;
  return MH_SEQ_NEW_BOOT;
}

void mh_seq_take(mh_seq_state *st, const mh_seq *q, mh_seq_stream stream) {
  if (strcmp(st->boot, q->boot) != 0) {
    memcpy(st->boot, q->boot, sizeof st->boot);
    st->boot_time_ms = q->time_ms;
    memset(st->last, 0, sizeof st->last);
  }
  st->last[stream] = q->n;
}

const char *mh_seq_why(mh_seq_verdict v) {
  switch (v) {
  case MH_SEQ_REPLAY: return "a replay (its sequence number was taken already)";
  case MH_SEQ_OLD_BOOT: return "from an earlier start of that host (replayed?)";
  case MH_SEQ_SKEW: return "its clock is more than 30 s from ours (or it is an old message replayed)";
  case MH_SEQ_BAD: return "without a valid Moonhost-Seq";
  default: return "";
  }
}
