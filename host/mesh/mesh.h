/* The peer mesh: every connection may announce itself as a peer {id, role,
 * capabilities, meta}; the host keeps the directory, tells every peer what
 * changed, relays calls between peers that have no direct link, and lets
 * peers provide functions by name (deepstream's provide/unprovide/make).
 * Relayed calls carry the caller's identity signed by the host (HMAC-SHA256)
 * so the receiver can trust who asks. The announced role is a label for
 * targets; mesh.permissions judge the roles the caller's token was granted
 * (auth.tokens), which the identity carries signed. */
#ifndef MH_MESH_H
#define MH_MESH_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "call/registry.h" /* mh_caller */
#include "core/error.h"
#include "core/value.h"

typedef struct mh_host mh_host;
typedef struct mh_client mh_client;

typedef struct mh_peer {
  char id[64];
  char *role;
  mh_value *capabilities; /* ARRAY of strings */
  mh_value *meta;         /* OBJECT */
  mh_value *provides;     /* ARRAY of function names this peer provides */
} mh_peer;

typedef struct mh_mesh mh_mesh;

/* Reads the mesh section of the configuration: MH_START_BAD_CONFIG and
 * *errmsg when it is bad; -1 and *errmsg when there is no randomness for the
 * key, -1 alone when memory runs out. */
int mh_mesh_init(mh_host *h, char **errmsg);
void mh_mesh_free(mh_host *h);
/* The listening port, once the server has one: part of the default host id. */
void mh_mesh_set_port(mh_host *h, int port);

/* Peers this host reaches through other hosts (host links, mesh_link.c;
 * NATS, mesh_cluster.c): told when a local peer changed, so that the other
 * hosts learn it. At most MH_MESH_MAX_REMOTES; 0 or -1. */
typedef struct mh_mesh_remote {
  void (*local_changed)(mh_host *h);
} mh_mesh_remote;
#define MH_MESH_MAX_REMOTES 4
int mh_mesh_add_remote(mh_host *h, const mh_mesh_remote *remote);

const char *mh_mesh_host_id(const mh_host *h);
/* The directory as an ARRAY of {id, role, capabilities, meta, host}. */
mh_value *mh_mesh_directory(mh_host *h);
/* An entry of a linked host's directory as peers see it: {id, role,
 * capabilities, meta, provides, host}. */
mh_value *mh_mesh_public_entry(const mh_value *entry);
/* {id, role, capabilities, meta, host} of one peer. */
mh_value *mh_mesh_peer_value(mh_host *h, const mh_peer *p);

/* Where a call to a peer goes: a local client, or a host link (client is the
 * link's connection) with the id the other host knows the peer by. */
typedef struct mh_target {
  mh_client *client;
  const char *remote; /* NULL: the client is the peer itself */
} mh_target;

/* The peers a target selects, local or behind host links: an id, a role,
 * "role:*" (all of a role; *all set), or {role=, capability=, meta={k=v}}.
 * Returns how many were written to out (at most max). */
size_t mh_mesh_resolve(mh_host *h, const mh_value *to, mh_target *out, size_t max, bool *all);
/* Round-robin pick among n candidates for the same selector. */
size_t mh_mesh_pick(mh_host *h, size_t n);
size_t mh_mesh_next_rr(mh_host *h, size_t n);
/* Whether a caller granted these roles (an ARRAY of strings from a signed
 * identity's from.roles; NULL or empty: judged as "anonymous") may reach
 * this function through the mesh (mesh.permissions). The role a peer
 * announced is a label for targets, never judged here. */
bool mh_mesh_allowed(const mh_host *h, const mh_value *roles, const char *method);
/* The providers of a function, local ones first. */
size_t mh_mesh_providers(mh_host *h, const char *name, mh_target *out, size_t max);

/* Identity: {"from": {id, role, host, meta, roles?}, "sig": hex} for a
 * caller, and its check. A connection's: its peer entry, or its id and role
 * "anonymous"; an HTTP request's: id and role "http"; the host's own (a
 * plugin, or caller NULL): the host's id and role "host". roles are those the
 * caller's token was granted (a connection's or a request's; absent when
 * none, and for the host). */
mh_value *mh_mesh_identity(mh_host *h, const mh_caller *caller);
bool mh_mesh_verify(const mh_host *h, const mh_value *identity);
/* The key host links prove they hold (mesh_identity.h), or NULL when
 * mesh.key is not configured: a random per-start key no other host knows,
 * so this host neither makes nor takes links. */
struct mh_mesh_key;
const struct mh_mesh_key *mh_mesh_link_key(const mh_host *h);
/* A relay that came over the host link `link`: the link's handshake must
 * have finished, the identity and hop count the other host sent must pass
 * (mh_identity_accept_relayed), and the identity's signer fit the link (not
 * this host; the linked host itself at the first hop). 0, or -1 and *err. */
int mh_mesh_accept_relayed(mh_host *h, const mh_client *link, const mh_value *identity, int64_t hops, mh_error **err);

/* Directory changes for the host itself (ctx.mesh.on('change')): delta is
 * {kind, peer}, borrowed. */
typedef void (*mh_mesh_listener)(void *ud, const mh_value *delta);
int mh_mesh_listen(mh_host *h, mh_mesh_listener cb, void *ud);
void mh_mesh_unlisten(mh_host *h, mh_mesh_listener cb, void *ud);

/* Tells every announced peer (but skip) and the host's listeners that
 * `peer` (taken) was added, updated or removed. */
void mh_mesh_announce(mh_host *h, mh_client *skip, const char *kind, mh_value *peer);
/* Tells every peer and host link that a peer changed (kind: added, updated, removed). */
void mh_mesh_send_delta(mh_host *h, mh_client *subject, const char *kind);

/* Registers the mesh functions (announce, directory, provide, unprovide,
 * verify; the relay's are in mesh_relay.h, the links' in mesh_link.h). A peer
 * leaves the directory when its client goes (a host event). */
int mh_mesh_add_builtins(mh_host *h);

#endif
