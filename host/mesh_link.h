/* Host links: moonhost connects to the hosts listed in mesh.upstreams (and
 * accepts such connections), the hosts exchange their directories, and
 * calls cross from host to host through the relay. A link is an ordinary
 * client connection that made the link handshake, in which both hosts
 * prove they hold mesh.key (link-challenge, then link: mesh_identity.h); a
 * client token alone does not make one. Directory entries that came over it
 * carry the id the other host knows the peer by. */
#ifndef MH_MESH_LINK_H
#define MH_MESH_LINK_H
#include <libwebsockets.h>

#include "buf.h"
#include "value.h"

typedef struct mh_host mh_host;
typedef struct mh_client mh_client;
typedef struct mh_conn mh_conn;
typedef struct mh_server mh_server;
typedef struct mh_upstream mh_upstream;

typedef struct mh_link_challenge mh_link_challenge;

typedef struct mh_link {
  char *host_id;     /* the other host, whole (NULL until the handshake proved mesh.key both ways) */
  char *proven_host; /* dialing: the host whose answer to our challenge proved mesh.key */
  char nonce[33];    /* dialing: our challenge's nonce (16 random bytes, hex) */
  mh_value *peers;   /* ARRAY of {id, remote, role, capabilities, meta, provides, host, hops} */
  mh_buf last_sent;  /* canonical form of the last directory we sent it */
  mh_upstream *up;   /* set when we dialed it */
} mh_link;

/* Sends every link (but except) our directory when it changed. */
void mh_link_sync_all(mh_host *h, mh_client *except);
/* A connection closed: a link's peers leave the directory, a handshake
 * under way is dropped. */
void mh_link_client_gone(mh_host *h, mh_client *c);
/* An entry as peers see it: {id, role, capabilities, meta, provides, host}. */
mh_value *mh_link_public_entry(const mh_value *entry);

/* Dials mesh.upstreams (after the server listens); stops redialing. */
int mh_links_start(mh_host *h);
void mh_links_stop(mh_host *h);
int mh_link_add_builtins(mh_host *h);

/* The lws client side of a link (server.c calls these). */
int mh_link_client_established(mh_conn *c, struct lws *wsi, mh_server *s);
void mh_link_client_closed(mh_conn *c, struct lws *wsi);

#endif
