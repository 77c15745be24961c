/* Random identifiers and secrets as lowercase hex, from OpenSSL's CSPRNG:
 * tokens, session ids, nonces. */
#ifndef MH_RANDOM_HEX_H
#define MH_RANDOM_HEX_H
#include <stddef.h>

/* Writes 2 * nbytes hex digits and a NUL to out (which holds 2 * nbytes + 1);
 * -1 (out untouched) when no randomness can be had. */
int mh_random_hex(char *out, size_t nbytes);

#endif
