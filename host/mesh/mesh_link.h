/* Host links: moonhost connects to the hosts listed in mesh.upstreams (and
 * accepts such connections), the hosts exchange their directories, and
 * calls cross from host to host through the relay. A link is an ordinary
 * client connection that made the link handshake, in which both hosts
 * prove they hold mesh.key (link-challenge, then link: mesh_identity.h); a
 * client token alone does not make one. Directory entries that came over it
 * carry the id the other host knows the peer by. */
#ifndef MH_MESH_LINK_H
#define MH_MESH_LINK_H
#include <stdbool.h>

#include "core/buf.h"
#include "core/value.h"

typedef struct mh_host mh_host;
typedef struct mh_client mh_client;

typedef struct mh_link_challenge mh_link_challenge;

typedef struct mh_link {
  char *host_id;     /* the other host, whole (NULL until the handshake proved mesh.key both ways) */
  char *proven_host; /* dialing: the host whose answer to our challenge proved mesh.key */
  char nonce[33];    /* dialing: our challenge's nonce (16 random bytes, hex) */
  mh_value *peers;   /* ARRAY of {id, remote, role, capabilities, meta, provides, host, hops} */
  mh_buf last_sent;  /* canonical form of the last directory we sent it */
  char *url;         /* dialing: the upstream's URL, for the log */
  void (*on_linked)(mh_client *c); /* dialing: the handshake succeeded (ws_link.c) */
  bool bus; /* a host met through NATS (mesh_cluster.c): its peers come from the bus, never from link-sync */
} mh_link;

/* Replaces the peers link c brings (as `sender` named them) and tells
 * local peers what was added, updated or removed. */
void mh_link_apply(mh_host *h, mh_client *c, const char *sender, const mh_value *peers);

/* Sends every link (but except) our directory when it changed. */
void mh_link_sync_all(mh_host *h, mh_client *except);
/* Joins the links to the mesh: they sync when a local peer changes, and a
 * closed connection's link (its peers leave the directory) or handshake
 * under way is dropped. */
int mh_link_init(mh_host *h); /* 0 or -1 (memory) */
/* Registers link-challenge, link and link-sync. */
int mh_link_add_builtins(mh_host *h);
/* A transport dialed another host (ws_link.c) and connected: client c
 * starts the handshake. on_linked runs once the other host proved mesh.key. */
int mh_link_dialed(mh_client *c, const char *url, void (*on_linked)(mh_client *c));

#endif
