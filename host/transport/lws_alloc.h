/* libwebsockets' allocations, with its per-request header table recycled
 * (lws_alloc.c). */
#ifndef MH_LWS_ALLOC_H
#define MH_LWS_ALLOC_H

/* Routes lws' allocations through lws_alloc.c; blocks freed on the calling
 * thread (the loop's) are kept for lws' next allocation of that size. */
void mh_lws_alloc_install(void);

/* Frees the kept blocks and keeps no more: after the lws context is gone. */
void mh_lws_alloc_release(void);

/* How many blocks are kept now (for tests and debugging). */
int mh_lws_alloc_kept(void);

#endif
