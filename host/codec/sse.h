/* Server-sent events (text/event-stream, WHATWG HTML 9.2) as oRPC 1.x
 * frames its event iterators: a message is its fields, one a line, then a
 * blank line; a line starting ':' is a comment (initial and keep-alive). */
#ifndef MH_SSE_H
#define MH_SSE_H
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Appends one event: `event: NAME`, `retry: N` (retry_ms >= 0), `id: ID`
 * (id non-NULL), `data: ...` (data non-NULL; each line of it a data line),
 * then the blank line. id must hold no CR, LF or NUL (the caller checks).
 * 0, or -1 when out of memory. */
int mh_sse_event(mh_buf *out, const char *event, const char *id, int64_t retry_ms, const char *data, size_t len);
/* Appends a comment event (`: TEXT` and the blank line); text has no line break. */
int mh_sse_comment(mh_buf *out, const char *text);

#endif
