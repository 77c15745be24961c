/* Hosts that share a NATS server form one mesh (README "Across machines:
 * NATS", docs/protocol.md "Across machines").
 *
 * Every host publishes its own peers on PREFIX.dir when they change and
 * every nats.heartbeat_ms; a host not heard for 3 heartbeats (killed, or cut
 * off from NATS) is dropped and its peers leave the directory. Each other
 * host appears here as a host link (mesh_link.h, marked `bus`) whose frames
 * travel as NATS messages to PREFIX.host.TOKEN (TOKEN: the first 32 hex
 * digits of SHA-256 of the host id), so relayed calls, their replies,
 * timeouts and cancels, and relayed events take the relay's usual path, and
 * the signed identity a call carries is checked by the next host as over a
 * link. A cluster broadcast ({name, args}) goes once to PREFIX.bcast, which
 * every other host hands to its own clients as a local broadcast. Every
 * message is signed with mesh.key (mesh_identity.h). */
#ifndef MH_MESH_CLUSTER_H
#define MH_MESH_CLUSTER_H

typedef struct mh_host mh_host;
typedef struct mh_cluster mh_cluster;
typedef struct mh_value mh_value;

/* Checks the nats section against the rest of the configuration (mesh.key
 * needed, one way to log in): MH_START_BAD_CONFIG and *errmsg when bad; 0
 * (nothing to do without nats.url), or -1 when memory runs out. */
int mh_cluster_init(mh_host *h, char **errmsg);
/* Starts connecting, once the host serves (the default host id names the
 * port). The host serves its own clients whether or not NATS answers. */
void mh_cluster_start(mh_host *h);
/* ctx.rpc.broadcast { cluster = true }: to this host's clients now, and
 * once through NATS to every other host, which sends it to its own (a host
 * does not hear its own messages). Returns how many of this host's clients
 * it was queued for; without NATS (not configured, or down) it stays local,
 * the latter logged. */
int mh_cluster_broadcast(mh_host *h, const char *name, const mh_value *args);

/* Says goodbye (the other hosts drop this one's peers at once), drops the
 * other hosts' peers and closes the connection. */
void mh_cluster_stop(mh_host *h);
/* Frees what is left (after mh_cluster_stop, or when the host never served). */
void mh_cluster_free(mh_host *h);

#endif
