/* The signed identity a relayed call carries (the "x" field of the request
 * a target receives, and the identity one host forwards to the next):
 *
 *   {"from": {id, role, meta, host, roles?}, "sig": HMAC-SHA256 of from}
 *
 * The MAC covers from's canonical bytes (mh_value_canonical: any key order,
 * the same bytes) and is written as 64 lowercase hex digits. The first host
 * signs with mesh.key; every host on the way and any peer (through
 * devtoolskit:internal:mesh:verify) checks it. Only the key is needed here,
 * no host or connection. */
#ifndef MH_MESH_IDENTITY_H
#define MH_MESH_IDENTITY_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/value.h"

typedef struct mh_mesh_key {
  unsigned char bytes[64];
  size_t len;
} mh_mesh_key;

/* {from, sig} with `from` taken (freed on failure too); NULL when memory
 * runs out. */
mh_value *mh_identity_sign(const mh_mesh_key *key, mh_value *from);

/* Whether identity is an OBJECT whose "sig" is the signature of its "from"
 * (an OBJECT). Anything else, of any shape, is false. */
bool mh_identity_verify(const mh_mesh_key *key, const mh_value *identity);

/* A relayed call that arrived over a host link, with the identity and hop
 * count the other host sent: the identity must verify (else unauthorized)
 * and the hops be 0..max_hops (else not_found: the relay is dropped, the
 * guard against loops; bad_request below 0). link_host names the link in the message. Returns 0,
 * or -1 with *err. */
int mh_identity_accept_relayed(const mh_mesh_key *key, const mh_value *identity, int64_t hops, int64_t max_hops,
                               const char *link_host, mh_error **err);

/* ---- host links prove mesh.key ----------------------------------------
 *
 * A connection becomes a host link only by proving it holds mesh.key; a
 * client token is not enough. The key never crosses the wire (links are
 * plain ws://): each side sends a fresh nonce and answers with
 *
 *   hex(HMAC-SHA256(mesh.key, "moonhost-link-v1 " SIDE
 *                   " " LEN ":" DIALER_NONCE " " LEN ":" SERVER_NONCE
 *                   " " LEN ":" DIALER_HOST  " " LEN ":" SERVER_HOST))
 *
 * (LEN the byte length in decimal; SIDE "server" for the answer to the
 * challenge, "dialer" for the link call), so neither proof can be replayed
 * on another connection, reflected to the other side, or cut differently.
 * The message never starts with "{" as the canonical form an identity's
 * signature covers does, so a proof is never an identity's signature. */
#define MH_LINK_PROOF_HEX 64
int mh_identity_link_proof(const mh_mesh_key *key, const char *side, const char *dialer_nonce,
                           const char *server_nonce, const char *dialer_host, const char *server_host,
                           char hex[MH_LINK_PROOF_HEX + 1]);
/* Whether proof (any string, or NULL) is that proof; constant time. */
bool mh_identity_link_proof_ok(const mh_mesh_key *key, const char *side, const char *dialer_nonce,
                               const char *server_nonce, const char *dialer_host, const char *server_host,
                               const char *proof);

/* ---- hosts sign what they publish on NATS --------------------------------
 *
 * Every message a host publishes through NATS (mesh_cluster.c) carries
 *
 *   hex(HMAC-SHA256(mesh.key, "moonhost-bus-v1 " LEN ":" SENDER
 *                   " " LEN ":" SUBJECT " " LEN ":" SEQ " " LEN ":" PAYLOAD))
 *
 * so a NATS client without mesh.key can neither forge a host's directory
 * nor speak for it, nor move a message to another subject, nor give a
 * captured message another sequence number (SEQ, mesh_cluster.c) to replay
 * it. */
#define MH_BUS_SIG_HEX 64
int mh_identity_bus_sig(const mh_mesh_key *key, const char *sender, const char *subject, const char *seq,
                        const char *data, size_t len, char hex[MH_BUS_SIG_HEX + 1]);
/* Whether sig (any string, or NULL) is that signature (seq NULL: never);
 * constant time. */
bool mh_identity_bus_sig_ok(const mh_mesh_key *key, const char *sender, const char *subject, const char *seq,
                            const char *data, size_t len, const char *sig);

#endif
