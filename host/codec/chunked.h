/* An incremental decoder for a chunked HTTP/1.1 request body (RFC 9112
 * 7.1): lws 4.1 hands such a body over as it came on the wire and never
 * says where it ends, so the bytes are decoded here as they arrive. Hostile
 * input is refused, not buffered: a chunk size of more than 8 hex digits or
 * over max_chunk, an extension or trailer line over MH_CHUNKED_MAX_LINE,
 * anything but CRLF after a chunk's data. Trailer fields are read and
 * dropped. */
#ifndef MH_CHUNKED_H
#define MH_CHUNKED_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MH_CHUNKED_MAX_LINE 1024

typedef enum mh_chunked_state {
  MH_CHUNKED_SIZE,    /* hex digits of a chunk's size */
  MH_CHUNKED_EXT,     /* ";ext" up to the line's CR */
  MH_CHUNKED_SIZE_LF, /* the LF ending the size line */
  MH_CHUNKED_DATA,
  MH_CHUNKED_DATA_CR,
  MH_CHUNKED_DATA_LF,
  MH_CHUNKED_TRAILER,    /* a trailer line (or the empty line that ends the body) */
  MH_CHUNKED_TRAILER_LF,
  MH_CHUNKED_DONE,
  MH_CHUNKED_FAILED,
} mh_chunked_state;

typedef struct mh_chunked {
  mh_chunked_state state;
  uint64_t max_chunk;
  uint64_t size, left; /* the current chunk's size, and its bytes still to come */
  unsigned digits;
  size_t line;          /* bytes of the current extension or trailer line */
  const char *error;    /* why it failed (static text) */
  bool too_large;       /* failed because a chunk is over max_chunk */
} mh_chunked;

void mh_chunked_init(mh_chunked *d, uint64_t max_chunk);

/* Decodes len bytes; each run of body data goes to out(ud, data, n), which
 * returns 0 or -1 to stop. Returns the bytes used: fewer than len when the
 * body ended (what follows is not its part) or on a failure (d->state
 * MH_CHUNKED_FAILED and d->error, or out's -1). */
size_t mh_chunked_feed(mh_chunked *d, const char *in, size_t len, int (*out)(void *ud, const char *data, size_t n),
                       void *ud);

#endif
