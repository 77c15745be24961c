#include "core/random_hex.h"

#include <openssl/rand.h>
#include <stdlib.h>

int mh_random_hex(char *out, size_t nbytes) {
  static const char digits[] = "0123456789abcdef";
  unsigned char *raw = malloc(nbytes ? nbytes : 1);
  if (!raw || RAND_bytes(raw, (int)nbytes) != 1) {
    free(raw);
    return -1;
  }
  for (size_t i = 0; i < nbytes; i++) {
    out[2 * i] = digits[raw[i] >> 4];
    out[2 * i + 1] = digits[raw[i] & 15];
  }
  out[2 * nbytes] = '\0';
  free(raw);
  return 0;
}
