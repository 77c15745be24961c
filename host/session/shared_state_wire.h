/* The devframe:rpc:server-state:* functions clients call (shared_state_wire.c). */
#ifndef MH_SHARED_STATE_WIRE_H
#define MH_SHARED_STATE_WIRE_H
typedef struct mh_host mh_host;

int mh_state_wire_add_builtins(mh_host *h);

#endif
