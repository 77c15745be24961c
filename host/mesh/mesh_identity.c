#include "mesh/mesh_identity.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#define SIG_HEX_LEN 64 /* SHA-256: 32 bytes, two hex digits each */

/* HMAC-SHA256 of msg under key as 64 lowercase hex digits, NUL-terminated
 * (identity signatures and link proofs alike); -1 on failure. */
static int hmac_hex(const mh_mesh_key *key, const mh_buf *msg, char hex[SIG_HEX_LEN + 1]) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int maclen = 0;
  if (!HMAC(EVP_sha256(), key->bytes, (int)key->len, (const unsigned char *)msg->data, msg->len, mac, &maclen) ||
      maclen != SIG_HEX_LEN / 2)
    return -1;
  for (unsigned i = 0; i < maclen; i++) snprintf(hex + 2 * i, 3, "%02x", mac[i]);
  return 0;
}

/* The signature of from, NUL-terminated; -1 when memory runs out. */
static int sign_hex(const mh_mesh_key *key, const mh_value *from, char hex[SIG_HEX_LEN + 1]) {
  mh_buf canon = MH_BUF_INIT;
  int rc = mh_value_canonical(from, &canon) == 0 ? hmac_hex(key, &canon, hex) : -1;
  mh_buf_free(&canon);
  return rc;
}

mh_value *mh_identity_sign(const mh_mesh_key *key, mh_value *from) {
  char hex[SIG_HEX_LEN + 1];
  mh_value *x = mh_value_new(MH_V_OBJECT);
  if (!x || !from || sign_hex(key, from, hex)) {
    mh_value_free(x);
    mh_value_free(from);
    return NULL;
  }
  if (mh_value_obj_set(x, "from", from) || mh_value_obj_set(x, "sig", mh_value_cstring(hex))) {
    mh_value_free(x);
    return NULL;
  }
  return x;
}

bool mh_identity_verify(const mh_mesh_key *key, const mh_value *identity) {
  if (!identity || identity->type != MH_V_OBJECT) return false;
  const mh_value *from = mh_value_obj_get(identity, "from"), *sig = mh_value_obj_get(identity, "sig");
  char hex[SIG_HEX_LEN + 1];
  if (!from || from->type != MH_V_OBJECT || !sig || sig->type != MH_V_STRING || sig->u.str.len != SIG_HEX_LEN)
    return false;
  if (sign_hex(key, from, hex)) return false;
  return CRYPTO_memcmp(hex, sig->u.str.ptr, SIG_HEX_LEN) == 0; /* constant time: no timing oracle */
}

int mh_identity_accept_relayed(const mh_mesh_key *key, const mh_value *identity, int64_t hops, int64_t max_hops,
                               const char *link_host, mh_error **err) {
  if (!mh_identity_verify(key, identity)) {
    *err = mh_error_new(MH_ERR_UNAUTHORIZED,
                        "relayed identity from host %s does not verify (mesh.key differs, or it was changed)",
                        link_host);
    return -1;
  }
  /* A count below 0 put off the loop guard by as many hops (fuzz_relay). */
  if (hops < 0) {
    *err = mh_error_new(MH_ERR_BAD_REQUEST, "relay with a negative hop count (%lld)", (long long)hops);
    return -1;
  }
  if (hops > max_hops) {
    *err = mh_error_new(MH_ERR_NOT_FOUND, "relay dropped after %lld hops (mesh.max_hops)", (long long)hops);
    return -1;
  }
  return 0;
}

int mh_identity_link_proof(const mh_mesh_key *key, const char *side, const char *dialer_nonce,
                           const char *server_nonce, const char *dialer_host, const char *server_host,
                           char hex[MH_LINK_PROOF_HEX + 1]) {
  _Static_assert(MH_LINK_PROOF_HEX == SIG_HEX_LEN, "a link proof is an HMAC-SHA256 in hex");
  mh_buf msg = MH_BUF_INIT;
  /* Every field with its length: "a b" + "c" and "a" + "b c" differ. */
  int rc = mh_buf_appendf(&msg, "moonhost-link-v1 %s %zu:%s %zu:%s %zu:%s %zu:%s", side, strlen(dialer_nonce),
                          dialer_nonce, strlen(server_nonce), server_nonce, strlen(dialer_host), dialer_host,
                          strlen(server_host), server_host) == 0
               ? hmac_hex(key, &msg, hex)
               : -1;
  mh_buf_free(&msg);
  return rc;
}

bool mh_identity_link_proof_ok(const mh_mesh_key *key, const char *side, const char *dialer_nonce,
                               const char *server_nonce, const char *dialer_host, const char *server_host,
                               const char *proof) {
  char want[MH_LINK_PROOF_HEX + 1];
  if (!proof || strlen(proof) != MH_LINK_PROOF_HEX ||
      mh_identity_link_proof(key, side, dialer_nonce, server_nonce, dialer_host, server_host, want))
    return false;
  return CRYPTO_memcmp(want, proof, MH_LINK_PROOF_HEX) == 0;
}

/* The message a bus signature covers: every field with its length, then the
 * payload, so no two (sender, subject, payload) share one. Starts unlike an
 * identity's canonical form ("{") and a link proof ("moonhost-link-v1"). */
int mh_identity_bus_sig(const mh_mesh_key *key, const char *sender, const char *subject, const char *seq,
                        const char *data, size_t len, char hex[MH_BUS_SIG_HEX + 1]) {
  _Static_assert(MH_BUS_SIG_HEX == SIG_HEX_LEN, "a bus signature is an HMAC-SHA256 in hex");
  mh_buf msg = MH_BUF_INIT;
  int rc = mh_buf_appendf(&msg, "moonhost-bus-v1 %zu:%s %zu:%s %zu:%s %zu:", strlen(sender), sender,
                          strlen(subject), subject, strlen(seq), seq, len) == 0 &&
                   mh_buf_append(&msg, data, len) == 0
               ? hmac_hex(key, &msg, hex)
               : -1;
  mh_buf_free(&msg);
  return rc;
}

bool mh_identity_bus_sig_ok(const mh_mesh_key *key, const char *sender, const char *subject, const char *seq,
                            const char *data, size_t len, const char *sig) {
  char want[MH_BUS_SIG_HEX + 1];
  if (!sig || !seq || strlen(sig) != MH_BUS_SIG_HEX || mh_identity_bus_sig(key, sender, subject, seq, data, len, want))
    return false;
  return CRYPTO_memcmp(want, sig, MH_BUS_SIG_HEX) == 0;
}
