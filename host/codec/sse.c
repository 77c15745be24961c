#include "codec/sse.h"

#include <inttypes.h>
#include <string.h>

/* Each line of data becomes a `data:` line; a reader joins them with LF.
 * JSON text has none (strings escape them), but the framing must not
 * depend on what the data is. */
static int append_data(mh_buf *out, const char *data, size_t len) {
  for (size_t i = 0;;) {
    size_t n = 0;
    while (i + n < len && data[i + n] != '\n' && data[i + n] != '\r') n++;
    if (mh_buf_append_str(out, "data: ") || mh_buf_append(out, data + i, n) || mh_buf_append(out, "\n", 1)) return -1;
    i += n;
    if (i >= len) return 0;
    if (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n') i++; /* CRLF is one line break */
    i++;
  }
}

int mh_sse_event(mh_buf *out, const char *event, const char *id, int64_t retry_ms, const char *data, size_t len) {
  if (event && mh_buf_appendf(out, "event: %s\n", event)) return -1;
  if (retry_ms >= 0 && mh_buf_appendf(out, "retry: %" PRId64 "\n", retry_ms)) return -1;
  if (id && mh_buf_appendf(out, "id: %s\n", id)) return -1;
  if (data && append_data(out, data, len)) return -1;
  return mh_buf_append(out, "\n", 1);
}

int mh_sse_comment(mh_buf *out, const char *text) { return mh_buf_appendf(out, ": %s\n\n", text); }
