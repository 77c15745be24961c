/* The incremental decoders of streamed request bodies: chunked transfer
 * coding (codec/chunked.c) and server-sent events (codec/sse_parse.c), fed
 * whole and one byte at a time, and hostile input. */
#include <string.h>

#include "check.h"
#include "codec/chunked.h"
#include "codec/sse.h"
#include "core/buf.h"

static int collect(void *ud, const char *data, size_t n) { return mh_buf_append(ud, data, n); }

/* Decodes in, in pieces of step bytes; the output in out, the state returned. */
static mh_chunked_state decode(const char *in, size_t step, uint64_t max, mh_buf *out, size_t *used) {
  mh_chunked d;
  mh_chunked_init(&d, max);
  size_t len = strlen(in), at = 0;
  while (at < len && d.state != MH_CHUNKED_DONE && d.state != MH_CHUNKED_FAILED) {
    size_t n = len - at < step ? len - at : step;
    at += mh_chunked_feed(&d, in + at, n, collect, out);
  }
  if (used) *used = at;
  return d.state;
}

static void test_chunked(void) {
  const char *body = "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nx-trailer: y\r\n\r\nNEXT";
  for (size_t step = 1; step <= strlen(body); step++) {
    mh_buf out = MH_BUF_INIT;
    size_t used = 0;
    CHECK(decode(body, step, 100, &out, &used) == MH_CHUNKED_DONE);
    CHECK(out.len == 11 && memcmp(out.data, "hello world", 11) == 0);
    CHECK(used == strlen(body) - 4); /* what follows the body is not its part */
    mh_buf_free(&out);
  }
  struct {
    const char *in;
    const char *why;
    bool too_large;
  } bad[] = {
      {"zz\r\n", "not hex", false},
      {"\r\n", "not hex", false},
      {"000000001\r\n", "more than 8", false},
      {"65\r\n", "over limits", true},
      {"2\r\nabcd\r\n", "longer than its size", false},
      {"2\r\nab\rX", "not ended by CRLF", false},
      {"2\rX", "size line not ended", false},
      {"0\r\nx\rX", "trailer line not ended", false},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    mh_buf out = MH_BUF_INIT;
    mh_chunked d;
    mh_chunked_init(&d, 100);
    mh_chunked_feed(&d, bad[i].in, strlen(bad[i].in), collect, &out);
    CHECK(d.state == MH_CHUNKED_FAILED);
    CHECK(d.error && strstr(d.error, bad[i].why));
    CHECK(d.too_large == bad[i].too_large);
    mh_buf_free(&out);
  }
  /* An endless extension line fails at its bound, not at the end of memory. */
  mh_chunked d;
  mh_chunked_init(&d, 100);
  char ext[2000];
  memset(ext, 'e', sizeof ext);
  ext[0] = '1';
  ext[1] = ';';
  mh_chunked_feed(&d, ext, sizeof ext, collect, NULL);
  CHECK(d.state == MH_CHUNKED_FAILED);
}

typedef struct events {
  char seen[512];
} events;

static int on_event(void *ud, const char *type, const char *data, size_t n) {
  events *e = ud;
  size_t at = strlen(e->seen);
  snprintf(e->seen + at, sizeof e->seen - at, "[%s|%.*s]", type, data ? (int)n : 6, data ? data : "(none)");
  return 0;
}

static void test_sse(void) {
  const char *in = ": \n\nevent: message\ndata: {\"json\":1}\n\ndata: a\r\ndata:b\r\n\r\nid: 7\nretry: 5\nevent: done\n\n"
                   "event: error\ndata: x\n\n";
  const char *want = "[message|{\"json\":1}][message|a\nb][done|(none)][error|x]";
  for (size_t step = 1; step <= strlen(in); step++) {
    mh_sse_parser p;
    mh_sse_parser_init(&p, 64);
    events e = {{0}};
    for (size_t at = 0; at < strlen(in); at += step) {
      size_t n = strlen(in) - at < step ? strlen(in) - at : step;
      CHECK(mh_sse_parse(&p, in + at, n, on_event, &e) == 0);
    }
    CHECK(strcmp(e.seen, want) == 0);
    mh_sse_parser_free(&p);
  }
  /* Data over the bound, and a line over it without any line end. */
  mh_sse_parser p;
  mh_sse_parser_init(&p, 8);
  events e = {{0}};
  CHECK(mh_sse_parse(&p, "data: 12345\ndata: 6789\n", 23, on_event, &e) == -1 && p.too_large);
  mh_sse_parser_free(&p);
  mh_sse_parser_init(&p, 8);
  char line[100];
  memset(line, 'x', sizeof line);
  CHECK(mh_sse_parse(&p, line, sizeof line, on_event, &e) == -1 && p.too_large);
  CHECK(p.line.len <= 8 + 16);
  mh_sse_parser_free(&p);
}

int main(void) {
  test_chunked();
  test_sse();
  return check_failures ? 1 : 0;
}
