/* uv_poll_start with one epoll_ctl(MOD) per change of events (uv_poll_mod.c). */
#ifndef MH_UV_POLL_MOD_H
#define MH_UV_POLL_MOD_H
#include <stdbool.h>

/* Finds libuv's own uv_poll_start; call before lws starts polling (it also
 * makes sure the executable's uv_poll_start is linked in). */
void mh_uv_poll_mod_init(void);

#endif
