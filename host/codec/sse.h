/* Server-sent events (text/event-stream, WHATWG HTML 9.2) as oRPC 1.x
 * frames its event iterators: a message is its fields, one a line, then a
 * blank line; a line starting ':' is a comment (initial and keep-alive). */
#ifndef MH_SSE_H
#define MH_SSE_H
#include <stdbool.h>
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

/* ---- the reading side: an incremental parser (sse_parse.c) ----
 * For what a client sends (oRPC's streamed inputs). Lines end in LF, CR
 * or CRLF; fields `event` and `data` are kept (`id`, `retry` and unknown
 * fields are ignored, comments too); a blank line dispatches the event.
 * A line, or an event's data, over max_bytes fails it: nothing beyond that
 * bound is buffered. */
typedef struct mh_sse_parser {
  size_t max_bytes;
  mh_buf line;  /* the line being read */
  mh_buf data;  /* the event's data lines, joined with LF */
  bool has_data;
  char event[32]; /* its event type; "message" when none was given */
  bool cr;        /* the last byte was a CR (a LF right after it ends no new line) */
  bool too_large; /* failed: over max_bytes */
} mh_sse_parser;

void mh_sse_parser_init(mh_sse_parser *p, size_t max_bytes);
void mh_sse_parser_free(mh_sse_parser *p);
/* Parses len bytes; each complete event with a data line goes to
 * on_event(ud, type, data, n) (data NUL-terminated), which returns 0 or -1 to
 * stop. An event without a data line is handed over with data NULL. Returns
 * 0, or -1 (stopped, out of memory, or too_large). */
int mh_sse_parse(mh_sse_parser *p, const char *in, size_t len,
                 int (*on_event)(void *ud, const char *type, const char *data, size_t n), void *ud);

#endif
