/* libwebsockets 4.1 as Debian builds it (with _DEBUG) keeps every log
 * call, down to one per byte its HTTP parser reads: about 235 calls of
 * _lws_log per HTTP request, each paying for a variadic call (the register
 * save area) and a call of _lws_logv before lws looks at the level and
 * drops the line: about 6,500 instructions per request, a tenth of it.
 *
 * The moonhost executable exports its own _lws_log (CMakeLists.txt,
 * --export-dynamic-symbol), so lws' calls, which go through its PLT, bind
 * here. On x86-64 it is three instructions that test the level and return
 * before any variadic set-up; a line that passes goes to lws' own _lws_logv,
 * which tests lws' level again, so what is logged does not change. */
#include <stdarg.h>
#include <string.h>

#include <libwebsockets.h>

#include "core/log.h"
#include "transport/lws_log.h"

/* The levels mh_lws_log_level set; all of them until then (lws decides). */
int mh_lws_log_mask = -1;

void mh_lws_log_pass(int filter, const char *format, ...);

void mh_lws_log_pass(int filter, const char *format, ...) {
  va_list ap;
  va_start(ap, format);
  _lws_logv(filter, format, ap);
  va_end(ap);
}

#if defined(__x86_64__) && defined(__ELF__)
/* if (filter & mask) tail-call mh_lws_log_pass with every argument register
 * (and %al) untouched; else return */
__asm__(".text\n"
        ".globl _lws_log\n"
        ".type _lws_log, @function\n"
        "_lws_log:\n"
        "  testl %edi, mh_lws_log_mask(%rip)\n"
        "  jnz mh_lws_log_pass\n"
        "  ret\n"
        ".size _lws_log, .-_lws_log\n");
#else
void _lws_log(int filter, const char *format, ...) {
  if (!(filter & mh_lws_log_mask)) return;
  va_list ap;
  va_start(ap, format);
  _lws_logv(filter, format, ap);
  va_end(ap);
}
#endif

void mh_lws_log_level(int level, void (*emit)(int level, const char *line)) {
  lws_set_log_level(level, emit);
  mh_lws_log_mask = level;
}

void mh_lws_log_emit(int level, const char *line) {
  size_t n = strlen(line);
  while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
  /* Rate-limited like any line a peer can trigger at will: lws 4.1 logs one
   * per failed accept(), per bad handshake... (a bucket for its errors, one for its warnings). */
  if (level == LLL_ERR)
    mh_log_limited_at(MH_LOG_ERROR, "lws", "%.*s", (int)n, line);
  else
    mh_log_limited_at(MH_LOG_WARN, "lws", "%.*s", (int)n, line);
}
