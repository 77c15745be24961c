/* Changes of a socket's poll events, made once per loop turn (poll_coalesce.c). */
#ifndef MH_POLL_COALESCE_H
#define MH_POLL_COALESCE_H
#include <uv.h>

/* From now on, changes of the events of started poll handles on loop wait
 * for the loop's next poll. One loop at a time; -1 when one is already set
 * up (its changes are then made at once, as libuv does). */
int mh_poll_coalesce_start(uv_loop_t *loop);

/* Makes the changes still waiting and goes back to libuv's behaviour. */
void mh_poll_coalesce_stop(void);

#endif
