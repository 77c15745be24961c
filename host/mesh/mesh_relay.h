/* The mesh functions that reach other peers (mesh_relay.c): relay,
 * relay-event and make. */
#ifndef MH_MESH_RELAY_H
#define MH_MESH_RELAY_H

typedef struct mh_host mh_host;

/* Registers devtoolskit:internal:mesh:relay, :relay-event and :make. */
int mh_relay_add_builtins(mh_host *h);

#endif
