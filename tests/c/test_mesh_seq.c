/* mesh_seq: the sequence numbers that refuse a NATS message replayed
 * (host/mesh/mesh_seq.h): parsing, and the verdicts on each stream. */
#include <string.h>

#include "check.h"
#include "mesh/mesh_seq.h"

#define BOOT_A "0123456789abcdef"
#define BOOT_B "fedcba9876543210"
#define NOW 1700000000000LL

static void test_parse(void) {
  mh_seq q;
  char out[MH_SEQ_MAX_LEN];
  mh_seq_format(BOOT_A, 42, NOW, out);
  CHECK(mh_seq_parse(out, &q) && strcmp(q.boot, BOOT_A) == 0 && q.n == 42 && q.time_ms == NOW);
  static const char *const bad[] = {
      NULL, "", BOOT_A, BOOT_A " 1", BOOT_A " 0 1",        /* N counts from 1 */
      "0123456789ABCDEF 1 1",                             /* lowercase hex only */
      "0123456789abcde 1 1", "0123456789abcdef0 1 1",     /* 16 digits exactly */
      BOOT_A " -1 1", BOOT_A " +1 1", BOOT_A "  1 1",     /* digits only: strtoull would take these */
      BOOT_A " 1 -5", BOOT_A " 1 1 ", BOOT_A " 1 x",
      BOOT_A " 99999999999999999999 1",                   /* past uint64 */
      BOOT_A " 1 9223372036854775808",                    /* past int64 */
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    if (mh_seq_parse(bad[i], &q)) fprintf(stderr, "  parsed: '%s'\n", bad[i] ? bad[i] : "(null)");
    CHECK(!mh_seq_parse(bad[i], &q));
  }
}

static mh_seq seq(const char *boot, uint64_t n, int64_t t) {
  mh_seq q = {.n = n, .time_ms = t};
  memcpy(q.boot, boot, sizeof q.boot);
  return q;
}

static void test_judge(void) {
  mh_seq_state st = {0};
  mh_seq q = seq(BOOT_A, 5, NOW);
  /* A host not known yet: fresh is taken, far from our clock is not. */
  CHECK(mh_seq_judge(&st, &q, MH_SEQ_DIR, NOW + 1000) == MH_SEQ_NEW_BOOT);
  mh_seq far = seq(BOOT_A, 5, NOW - MH_SEQ_MAX_SKEW_MS - 1);
  CHECK(mh_seq_judge(&st, &far, MH_SEQ_DIR, NOW) == MH_SEQ_SKEW);
  mh_seq_take(&st, &q, MH_SEQ_DIR);
  /* The same start: each stream counts up on its own. */
  CHECK(mh_seq_judge(&st, &q, MH_SEQ_DIR, NOW) == MH_SEQ_REPLAY);
  mh_seq earlier = seq(BOOT_A, 4, NOW);
  CHECK(mh_seq_judge(&st, &earlier, MH_SEQ_DIR, NOW) == MH_SEQ_REPLAY);
  CHECK(mh_seq_judge(&st, &earlier, MH_SEQ_FRAME, NOW) == MH_SEQ_NEXT); /* the frames' stream is its own */
  mh_seq_take(&st, &earlier, MH_SEQ_FRAME);
  CHECK(mh_seq_judge(&st, &earlier, MH_SEQ_FRAME, NOW) == MH_SEQ_REPLAY);
  /* However old, a message of the start known is judged by its number alone. */
  mh_seq next = seq(BOOT_A, 6, NOW - 10 * MH_SEQ_MAX_SKEW_MS);
  CHECK(mh_seq_judge(&st, &next, MH_SEQ_DIR, NOW) == MH_SEQ_NEXT);
  /* Another start: later than the known one's is a restart; earlier, a capture replayed. */
  mh_seq restart = seq(BOOT_B, 1, NOW + 5000);
  CHECK(mh_seq_judge(&st, &restart, MH_SEQ_FRAME, NOW + 5000) == MH_SEQ_NEW_BOOT);
  mh_seq_take(&st, &restart, MH_SEQ_FRAME);
  CHECK(strcmp(st.boot, BOOT_B) == 0 && st.last[MH_SEQ_DIR] == 0 && st.last[MH_SEQ_FRAME] == 1);
  mh_seq old = seq(BOOT_A, 99, NOW + 10);
  CHECK(mh_seq_judge(&st, &old, MH_SEQ_DIR, NOW + 5000) == MH_SEQ_OLD_BOOT);
  CHECK(*mh_seq_why(MH_SEQ_OLD_BOOT) && *mh_seq_why(MH_SEQ_REPLAY) && *mh_seq_why(MH_SEQ_BAD));
}

int main(void) {
  test_parse();
  test_judge();
  return check_failures ? 1 : 0;
}
