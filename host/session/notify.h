/* Sessions' side of the host events (events.h): tells connected clients
 * about reloads, failed loads and dropped caches. */
#ifndef MH_NOTIFY_H
#define MH_NOTIFY_H

typedef struct mh_host mh_host;

/* Subscribes to the host's events; 0 or -1 (memory). */
int mh_notify_init(mh_host *h);

#endif
