/* Sequence numbers that keep a captured NATS message from being accepted
 * twice (mesh_cluster.c; docs/security.md).
 *
 * Every message a host publishes carries "BOOT N TIME": BOOT is random per
 * start of the host, N counts every message it publishes (1, 2, ...), TIME is
 * its wall clock in milliseconds since the epoch. The header is signed with
 * the payload (mesh_identity.h). A receiver remembers, per sending host, the
 * BOOT it knows, the TIME that BOOT started at, and the last N it took on
 * each stream (directory messages, frames and cluster broadcasts arrive on
 * three subscriptions, each in order, but not in order with each other).
 * Then:
 *
 * - the same BOOT: N must exceed the last taken on that stream, else it is a
 *   replay (or a duplicate);
 * - another BOOT (the host restarted, or is new): TIME must be within
 *   MH_SEQ_MAX_SKEW_MS of the receiver's clock, and later than the start of
 *   the BOOT known, so a capture from an earlier start cannot come back. */
#ifndef MH_MESH_SEQ_H
#define MH_MESH_SEQ_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MH_SEQ_BOOT_HEX 16
#define MH_SEQ_MAX_SKEW_MS 30000
#define MH_SEQ_MAX_LEN 80 /* "BOOT N TIME" as written, with room to spare */

typedef enum { MH_SEQ_DIR, MH_SEQ_FRAME, MH_SEQ_BCAST, MH_SEQ_STREAMS } mh_seq_stream;

typedef struct mh_seq {
  char boot[MH_SEQ_BOOT_HEX + 1];
  uint64_t n;
  int64_t time_ms;
} mh_seq;

/* What a receiver knows of one sending host ({0}: nothing yet). */
typedef struct mh_seq_state {
  char boot[MH_SEQ_BOOT_HEX + 1]; /* "" until one is taken */
  int64_t boot_time_ms;
  uint64_t last[MH_SEQ_STREAMS];
} mh_seq_state;

typedef enum {
  MH_SEQ_NEXT,     /* the next message of the BOOT known */
  MH_SEQ_NEW_BOOT, /* a fresh start of the host: what was known of it is stale */
  MH_SEQ_REPLAY,   /* N already taken on this stream */
  MH_SEQ_OLD_BOOT, /* a BOOT that started before the one known */
  MH_SEQ_SKEW,     /* a new BOOT whose TIME is too far from ours */
  MH_SEQ_BAD,      /* not "BOOT N TIME" */
} mh_seq_verdict;

/* Writes "BOOT N TIME" into out (MH_SEQ_MAX_LEN bytes). */
void mh_seq_format(const char *boot, uint64_t n, int64_t time_ms, char out[MH_SEQ_MAX_LEN]);
/* Parses a header (NULL: false). */
bool mh_seq_parse(const char *header, mh_seq *out);
/* Judges q on stream against st, the receiver's clock being now_ms. */
mh_seq_verdict mh_seq_judge(const mh_seq_state *st, const mh_seq *q, mh_seq_stream stream, int64_t now_ms);
/* Takes q (judged NEXT or NEW_BOOT) into st. */
void mh_seq_take(mh_seq_state *st, const mh_seq *q, mh_seq_stream stream);
/* Why a verdict drops a message, for the log. */
const char *mh_seq_why(mh_seq_verdict v);

#endif
