#include "core/log_ring.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

/* One process-wide ring, as the log itself is process-wide. */
static struct {
  mh_log_line *slots; /* cap slots; line seq lives at (seq - 1) % cap */
  size_t cap;
  uint64_t last;      /* seq of the newest line */
  uv_thread_t owner;  /* the thread that enabled it (the loop's) */
  int hidden; /* hide scopes open */
  mh_log_tap_fn tap;
  void *tap_ud;
} ring;

static void line_clear(mh_log_line *l) {
  free(l->area);
  free(l->msg);
  memset(l, 0, sizeof *l);
}

int mh_log_ring_enable(size_t lines) {
  for (size_t i = 0; i < ring.cap; i++) line_clear(&ring.slots[i]);
  free(ring.slots);
  ring.slots = NULL;
  ring.cap = 0;
  ring.tap = NULL;
  ring.hidden = 0;
  if (lines == 0) return 0;
  if (!(ring.slots = calloc(lines, sizeof *ring.slots))) return -1;
  ring.cap = lines;
  ring.owner = uv_thread_self();
  return 0;
}

bool mh_log_ring_on(void) { return ring.cap != 0; }

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The message, cut at MH_LOG_RING_MSG_MAX bytes (never inside a UTF-8
 * sequence) with "..." after it: the tail is for reading, stderr has all.
 * Formatted on the stack, kept at its own length. */
static char *format_msg(const char *fmt, va_list ap) {
  char msg[MH_LOG_RING_MSG_MAX + 4];
  int n = vsnprintf(msg, MH_LOG_RING_MSG_MAX + 1, fmt, ap);
  if (n < 0) return NULL;
  if ((size_t)n > MH_LOG_RING_MSG_MAX) {
    size_t cut = MH_LOG_RING_MSG_MAX;
    while (cut > 0 && ((unsigned char)msg[cut] & 0xC0) == 0x80) cut--;
    memcpy(msg + cut, "...", 4);
  }
  return strdup(msg);
}

void mh_log_ring_record(mh_log_level level, const char *area, const char *fmt, va_list ap) {
  if (!ring.cap || ring.hidden) return;
  uv_thread_t self = uv_thread_self();
  if (!uv_thread_equal(&ring.owner, &self)) return;
  va_list copy;
  va_copy(copy, ap);
  char *msg = format_msg(fmt, copy);
  va_end(copy);
  char *a = strdup(area ? area : "-");
  if (!msg || !a) { /* out of memory: the line is on stderr still */
    free(msg);
    free(a);
    return;
  }
  mh_log_line *l = &ring.slots[ring.last % ring.cap];
  line_clear(l);
  *l = (mh_log_line){.seq = ++ring.last, .ts_ms = now_ms(), .level = level, .area = a, .msg = msg};
  if (ring.tap) ring.tap(ring.tap_ud);
}

void mh_log_ring_set_tap(mh_log_tap_fn tap, void *ud) {
  ring.tap = tap;
  ring.tap_ud = ud;
}

void mh_log_ring_hide_enter(void) { ring.hidden++; }
void mh_log_ring_hide_leave(void) {
  if (ring.hidden > 0) ring.hidden--;
}

const mh_log_line *mh_log_ring_next(uint64_t after, uint64_t *skipped) {
  *skipped = 0;
  if (!ring.cap || after >= ring.last) return NULL;
  uint64_t oldest = ring.last > ring.cap ? ring.last - ring.cap + 1 : 1;
  uint64_t want = after + 1;
  if (want < oldest) {
    *skipped = oldest - want;
    want = oldest;
  }
  return &ring.slots[(want - 1) % ring.cap];
}

uint64_t mh_log_ring_last_seq(void) { return ring.last; }
