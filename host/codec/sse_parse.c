/* Reading server-sent events (sse.h): what a client streams to us. */
#include <stdio.h>
#include <string.h>

#include "codec/sse.h"

void mh_sse_parser_init(mh_sse_parser *p, size_t max_bytes) {
  memset(p, 0, sizeof *p);
  p->max_bytes = max_bytes;
  p->line = (mh_buf)MH_BUF_INIT;
  p->data = (mh_buf)MH_BUF_INIT;
}

void mh_sse_parser_free(mh_sse_parser *p) {
  mh_buf_free(&p->line);
  mh_buf_free(&p->data);
}

static int dispatch(mh_sse_parser *p, int (*on_event)(void *, const char *, const char *, size_t), void *ud) {
  const char *type = p->event[0] ? p->event : "message";
  int rc = 0;
  if (p->has_data) {
    if (mh_buf_terminate(&p->data)) return -1;
    rc = on_event(ud, type, p->data.data, p->data.len);
  } else if (p->event[0]) {
    rc = on_event(ud, type, NULL, 0);
  }
  mh_buf_reset(&p->data);
  p->has_data = false;
  p->event[0] = '\0';
  return rc;
}

/* One whole line (without its end). */
static int line(mh_sse_parser *p, int (*on_event)(void *, const char *, const char *, size_t), void *ud) {
  const char *s = p->line.data ? p->line.data : "";
  size_t n = p->line.len;
  if (n == 0) return dispatch(p, on_event, ud);
  if (s[0] == ':') return 0; /* a comment */
  const char *colon = memchr(s, ':', n);
  size_t name = colon ? (size_t)(colon - s) : n;
  const char *value = colon ? colon + 1 : s + n;
  if (colon && value < s + n && *value == ' ') value++;
  size_t vlen = (size_t)(s + n - value);
  if (name == 4 && memcmp(s, "data", 4) == 0) {
    if (p->has_data && mh_buf_append(&p->data, "\n", 1)) return -1;
    if (p->data.len + vlen > p->max_bytes) {
      p->too_large = true;
      return -1;
    }
    p->has_data = true;
    return mh_buf_append(&p->data, value, vlen);
  }
  if (name == 5 && memcmp(s, "event", 5) == 0)
    snprintf(p->event, sizeof p->event, "%.*s", (int)(vlen < sizeof p->event ? vlen : sizeof p->event - 1), value);
  return 0;
}

int mh_sse_parse(mh_sse_parser *p, const char *in, size_t len,
                 int (*on_event)(void *ud, const char *type, const char *data, size_t n), void *ud) {
  for (size_t i = 0; i < len; i++) {
    char c = in[i];
    if (c == '\n' && p->cr) {
      p->cr = false;
      continue;
    }
    p->cr = c == '\r';
    if (c == '\r' || c == '\n') {
      int rc = line(p, on_event, ud);
      mh_buf_reset(&p->line);
      if (rc) return -1;
      continue;
    }
    /* The run of bytes up to the next line end, in one append. */
    size_t run = 1;
    while (i + run < len && in[i + run] != '\r' && in[i + run] != '\n') run++;
    if (p->line.len + run > p->max_bytes + 16) {
      p->too_large = true;
      return -1;
    }
    if (mh_buf_append(&p->line, in + i, run)) return -1;
    i += run - 1;
  }
  return 0;
}
