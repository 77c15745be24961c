/* The chunked body decoder (chunked.h). */
#include "codec/chunked.h"

void mh_chunked_init(mh_chunked *d, uint64_t max_chunk) {
  *d = (mh_chunked){.state = MH_CHUNKED_SIZE, .max_chunk = max_chunk};
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static void fail(mh_chunked *d, const char *why) {
  d->state = MH_CHUNKED_FAILED;
  d->error = why;
}

/* One byte of the size line (digits, then an extension or CRLF). */
static void size_byte(mh_chunked *d, char c) {
  int v = hex_value(c);
  if (d->state == MH_CHUNKED_SIZE && v >= 0) {
    if (++d->digits > 8) return fail(d, "a chunk size of more than 8 hex digits");
    d->size = d->size * 16 + (uint64_t)v;
    if (d->size > d->max_chunk) {
      d->too_large = true;
      return fail(d, "a chunk over limits.max_message_bytes");
    }
    return;
  }
  if (d->state == MH_CHUNKED_SIZE && d->digits == 0) return fail(d, "a chunk size that is not hex digits");
  if (c == '\r') {
    d->state = MH_CHUNKED_SIZE_LF;
  } else if (d->state == MH_CHUNKED_SIZE && c != ';' && c != ' ' && c != '\t') {
    fail(d, "a chunk size that is not hex digits");
  } else {
    d->state = MH_CHUNKED_EXT;
    if (++d->line > MH_CHUNKED_MAX_LINE) fail(d, "a chunk extension over 1024 bytes");
  }
}

static void size_line_end(mh_chunked *d, char c) {
  if (c != '\n') return fail(d, "a chunk size line not ended by CRLF");
  d->left = d->size;
  d->line = 0;
  d->state = d->size ? MH_CHUNKED_DATA : MH_CHUNKED_TRAILER;
}

static void trailer_byte(mh_chunked *d, char c) {
  if (d->state == MH_CHUNKED_TRAILER_LF) {
    if (c != '\n') return fail(d, "a trailer line not ended by CRLF");
    d->state = d->line ? MH_CHUNKED_TRAILER : MH_CHUNKED_DONE;
    d->line = 0;
  } else if (c == '\r') {
    d->state = MH_CHUNKED_TRAILER_LF;
  } else if (++d->line > MH_CHUNKED_MAX_LINE) {
    fail(d, "a trailer line over 1024 bytes");
  }
}

size_t mh_chunked_feed(mh_chunked *d, const char *in, size_t len, int (*out)(void *ud, const char *data, size_t n),
                       void *ud) {
  size_t i = 0;
  while (i < len && d->state != MH_CHUNKED_DONE && d->state != MH_CHUNKED_FAILED) {
    char c = in[i];
    switch (d->state) {
    case MH_CHUNKED_SIZE:
    case MH_CHUNKED_EXT: size_byte(d, c); i++; break;
    case MH_CHUNKED_SIZE_LF: size_line_end(d, c); i++; break;
    case MH_CHUNKED_DATA: {
      size_t n = len - i < d->left ? len - i : (size_t)d->left;
      if (out(ud, in + i, n)) return i;
      i += n;
      d->left -= n;
      if (!d->left) d->state = MH_CHUNKED_DATA_CR;
      break;
    }
    case MH_CHUNKED_DATA_CR:
      if (c != '\r') fail(d, "a chunk's data longer than its size");
      else d->state = MH_CHUNKED_DATA_LF;
      i++;
      break;
    case MH_CHUNKED_DATA_LF:
      if (c != '\n') fail(d, "a chunk's data not ended by CRLF");
      else *d = (mh_chunked){.state = MH_CHUNKED_SIZE, .max_chunk = d->max_chunk};
      i++;
      break;
    case MH_CHUNKED_TRAILER:
    case MH_CHUNKED_TRAILER_LF: trailer_byte(d, c); i++; break;
    default: return i;
    }
  }
  return i;
}
