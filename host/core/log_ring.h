/* The recent log lines, kept in memory for the inspector page's log tail.
 *
 * Off until mh_log_ring_enable: then every line mh_log writes is also kept
 * here (message cut at MH_LOG_RING_MSG_MAX bytes), the oldest dropped past
 * the capacity, so memory stays bounded. Lines logged inside a hidden
 * scope are not kept: the inspector's own work (so a line about delivering
 * lines cannot make another delivery) and lines that carry a secret (the
 * start-up URL with the generated token). Each line gets a sequence number;
 * a reader asks for the lines after the last number it saw. A tap (one)
 * hears of each new line: it must not log or send anything itself (it runs
 * inside whatever logged), only schedule work for later. Lines come from
 * the loop's thread; a line logged from another thread is written to
 * stderr but not kept. */
#ifndef MH_LOG_RING_H
#define MH_LOG_RING_H
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/log.h"

#define MH_LOG_RING_MSG_MAX 2048

typedef struct mh_log_line {
  uint64_t seq;    /* 1, 2, ... since the ring was enabled */
  uint64_t ts_ms;  /* wall clock, ms since the epoch */
  mh_log_level level;
  char *area;
  char *msg;
} mh_log_line;

/* Keeps the last `lines` lines (0: turns the ring off and frees it). 0 or -1 (memory). */
int mh_log_ring_enable(size_t lines);
bool mh_log_ring_on(void);
/* Called by mh_log for a line it writes (fmt/ap as given to mh_log). */
void mh_log_ring_record(mh_log_level level, const char *area, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* tap(ud) after a line was kept; NULL: none. */
typedef void (*mh_log_tap_fn)(void *ud);
void mh_log_ring_set_tap(mh_log_tap_fn tap, void *ud);
/* Lines logged between enter and leave (nested) are not kept. */
void mh_log_ring_hide_enter(void);
void mh_log_ring_hide_leave(void);

/* The line after sequence number `after` still held, or NULL when there is
 * none; *skipped gets how many lines after `after` were dropped already. */
const mh_log_line *mh_log_ring_next(uint64_t after, uint64_t *skipped);
/* The highest sequence number given so far (0: none). */
uint64_t mh_log_ring_last_seq(void);

#endif
