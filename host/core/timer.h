/* One-shot timers on the host loop. A timer frees itself after it fires;
 * mh_timer_stop before that cancels it (the callback is then never called). */
#ifndef MH_TIMER_H
#define MH_TIMER_H
#include <stdint.h>
#include <uv.h>

typedef struct mh_timer mh_timer;
typedef void (*mh_timer_cb)(void *ud);

mh_timer *mh_timer_start(uv_loop_t *loop, uint64_t ms, mh_timer_cb cb, void *ud);
void mh_timer_stop(mh_timer *t);
/* The timer no longer keeps the loop running: a host that shuts down does
 * not wait for it (a hold of something kept only in case it is wanted). */
void mh_timer_unref(mh_timer *t);
/* Milliseconds on the loop's monotonic clock. */
uint64_t mh_now_ms(uv_loop_t *loop);

#endif
