/* Logging to stderr: "2024-05-01T12:00:00.123Z info  [area] message", or
 * one JSON object per line (log.format = 'json').
 * Each event is formatted into one buffer and written with one call so
 * lines from different sources do not interleave mid-line. */
#include "core/log.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>
#include "core/buf.h"
#include "core/log_ring.h"

static mh_log_level mh_log_current = MH_LOG_INFO;
static mh_log_format mh_log_fmt = MH_LOG_TEXT;

/* Padded to the same width so messages line up. */
static const char *const mh_log_names[] = {"error", "warn", "info", "debug", "trace"};
static const char *const mh_log_padded[] = {"error", "warn ", "info ", "debug", "trace"};
#define MH_LOG_NLEVELS (sizeof mh_log_names / sizeof mh_log_names[0])

void mh_log_set_level(mh_log_level level) { mh_log_current = level; }
mh_log_level mh_log_get_level(void) { return mh_log_current; }

int mh_log_level_parse(const char *name) {
  if (!name) return -1;
  for (size_t i = 0; i < MH_LOG_NLEVELS; i++)
    if (strcasecmp(name, mh_log_names[i]) == 0) return (int)i;
  return -1;
}

const char *mh_log_level_name(mh_log_level level) {
  return (unsigned)level < MH_LOG_NLEVELS ? mh_log_names[level] : "unknown";
}

int mh_log_enabled(mh_log_level level) { return level <= mh_log_current; }

void mh_log_set_format(mh_log_format format) { mh_log_fmt = format; }

mh_log_format mh_log_format_parse(const char *name) {
  return name && strcmp(name, "json") == 0 ? MH_LOG_JSON : MH_LOG_TEXT;
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" into buf (at least 32 bytes). */
static void mh_log_timestamp(char *buf, size_t size) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, size - n, ".%03ldZ", (long)(ts.tv_nsec / 1000000));
}

/* The length of the control sequence at s (0: none): C0 controls but tab,
 * DEL, and C1 controls as UTF-8 (U+0080..U+009F). Messages carry clients'
 * text (a function name, a header): in the terminal the log is read in it
 * must not clear the screen, set the title or write the clipboard. */
static size_t mh_log_control_at(const unsigned char *s, size_t left) {
  if (s[0] == 0x7f || (s[0] < 0x20 && s[0] != '\t')) return 1;
  return s[0] == 0xC2 && left > 1 && s[1] >= 0x80 && s[1] <= 0x9F ? 2 : 0;
}

static bool mh_log_has_control(const char *msg, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (mh_log_control_at((const unsigned char *)msg + i, len - i)) return true;
  return false;
}

/* Appends msg so that a multi-line message (a Lua traceback) stays
 * readable yet unambiguous: continuation lines start with "    | ", so every
 * line that starts with a timestamp starts a new event. Other controls
 * become '?'. */
static int mh_log_append_escaped(mh_buf *b, const char *msg, size_t len) {
  size_t start = 0;
  for (size_t i = 0; i < len;) {
    size_t n = mh_log_control_at((const unsigned char *)msg + i, len - i);
    if (!n) {
      i++;
      continue;
    }
    if (mh_buf_append(b, msg + start, i - start)) return -1;
    const char *instead = msg[i] == '\n' ? "\n    | " : msg[i] == '\r' ? "" : "?";
    if (mh_buf_append(b, instead, strlen(instead))) return -1;
    i += n;
    start = i;
  }
  return mh_buf_append(b, msg + start, len - start);
}

/* Slow path: long messages or messages with line breaks (or other
 * controls) go through a heap buffer. head is the already formatted "TIME LEVEL [area] " prefix. */
static void mh_log_write_slow(const char *head, size_t headlen, const char *fmt, va_list ap) {
  mh_buf msg = MH_BUF_INIT, line = MH_BUF_INIT;
  if (mh_buf_vappendf(&msg, fmt, ap) == 0) {
    if (mh_buf_append(&line, head, headlen) == 0 && mh_log_append_escaped(&line, msg.data, msg.len) == 0 &&
        mh_buf_append(&line, "\n", 1) == 0)
      fwrite(line.data, 1, line.len, stderr);
  }
  mh_buf_free(&msg);
  mh_buf_free(&line);
}

static void mh_log_v(mh_log_level level, const char *area, const char *fmt, va_list ap);

void mh_log(mh_log_level level, const char *area, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  mh_log_v(level, area, fmt, ap);
  va_end(ap);
}

static uint64_t mh_log_monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void mh_log_limited(mh_log_site *site, mh_log_level level, const char *area, const char *fmt, ...) {
  if (!mh_log_enabled(level)) return;
  if (!mh_bucket_take(&site->bucket, MH_LOG_SITE_PER_S, MH_LOG_SITE_BURST, mh_log_monotonic_ms())) {
    site->suppressed++;
    return;
  }
  if (site->suppressed) {
    mh_log(level, area, "%" PRIu64 " lines like the next one were suppressed (more than %d a second)",
           site->suppressed, MH_LOG_SITE_PER_S);
    site->suppressed = 0;
  }
  va_list ap;
  va_start(ap, fmt);
  mh_log_v(level, area, fmt, ap);
  va_end(ap);
}

/* The "PLUGIN: " a text line about a plugin starts its message with; none
 * when the area already names it. */
static const char *mh_log_plugin_sep(const char *area, const char *plugin) {
  return plugin && (!area || strcmp(area, plugin) != 0) ? ": " : "";
}

/* One JSON object: cJSON escapes what the message holds (quotes, control
 * characters, line breaks), so every event stays one line. */
static void mh_log_write_json(const char *stamp, mh_log_level level, const char *area, const char *plugin,
                              const char *const *fields, const char *fmt, va_list ap) {
  mh_buf msg = MH_BUF_INIT;
  cJSON *o = cJSON_CreateObject();
  bool ok = o && mh_buf_vappendf(&msg, fmt, ap) == 0 && cJSON_AddStringToObject(o, "ts", stamp) &&
            cJSON_AddStringToObject(o, "level", mh_log_level_name(level)) &&
            cJSON_AddStringToObject(o, "area", area ? area : "-") &&
            (!plugin || cJSON_AddStringToObject(o, "plugin", plugin)) &&
            cJSON_AddStringToObject(o, "msg", msg.data ? msg.data : "");
  for (size_t i = 0; ok && fields && fields[i] && fields[i + 1]; i += 2)
    ok = cJSON_AddStringToObject(o, fields[i], fields[i + 1]) != NULL;
  char *text = ok ? cJSON_PrintUnformatted(o) : NULL;
  if (text) {
    size_t n = strlen(text);
    text[n] = '\n'; /* over the NUL: written by length, never read as a string again */
    fwrite(text, 1, n + 1, stderr);
    cJSON_free(text);
  }
  cJSON_Delete(o);
  mh_buf_free(&msg);
}

static void ring_record_f(mh_log_level level, const char *area, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void ring_record_f(mh_log_level level, const char *area, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  mh_log_ring_record(level, area, fmt, ap);
  va_end(ap);
}

/* The line as the text format reads it: "PLUGIN: " first when it names one. */
static void ring_record(mh_log_level level, const char *area, const char *plugin, const char *fmt, va_list ap_in) {
  const char *sep = mh_log_plugin_sep(area, plugin);
  va_list ap;
  va_copy(ap, ap_in);
  if (!*sep) {
    mh_log_ring_record(level, area, fmt, ap);
  } else {
    mh_buf msg = MH_BUF_INIT;
    if (mh_buf_vappendf(&msg, fmt, ap) == 0) ring_record_f(level, area, "%s%s%s", plugin, sep, msg.data ? msg.data : "");
    mh_buf_free(&msg);
  }
  va_end(ap);
}

static void mh_log_emit(mh_log_level level, const char *area, const char *plugin, const char *const *fields,
                        const char *fmt, va_list ap_in) {
  if (!mh_log_enabled(level)) return;
  if (mh_log_ring_on()) ring_record(level, area, plugin, fmt, ap_in); /* the inspector's tail (log_ring.h) */
  char stamp[40];
  mh_log_timestamp(stamp, sizeof stamp);
  if (mh_log_fmt == MH_LOG_JSON) {
    va_list ap;
    va_copy(ap, ap_in);
    mh_log_write_json(stamp, level, area, plugin, fields, fmt, ap);
    va_end(ap);
    return;
  }
  const char *lvl = (unsigned)level < MH_LOG_NLEVELS ? mh_log_padded[level] : "?????";
  const char *sep = mh_log_plugin_sep(area, plugin), *about = *sep ? plugin : "";

  /* Common case: the whole line fits on the stack and has no line breaks
   * (nor other controls). */
  char line[1024];
  int head = snprintf(line, sizeof line, "%s %s [%s] %s%s", stamp, lvl, area ? area : "-", about, sep);
  if (head < 0) return;
  if ((size_t)head < sizeof line - 1) {
    va_list ap;
    va_copy(ap, ap_in);
    int n = vsnprintf(line + head, sizeof line - (size_t)head, fmt, ap);
    va_end(ap);
    size_t total = (size_t)head + (size_t)(n < 0 ? 0 : n);
    if (n >= 0 && total < sizeof line - 1 && !mh_log_has_control(line + head, (size_t)n)) {
      line[total] = '\n';
      fwrite(line, 1, total + 1, stderr);
      return;
    }
  }
  /* Rebuild the prefix: it may itself have been cut off above. */
  mh_buf prefix = MH_BUF_INIT;
  if (mh_buf_appendf(&prefix, "%s %s [%s] %s%s", stamp, lvl, area ? area : "-", about, sep) == 0) {
    va_list ap;
    va_copy(ap, ap_in);
    mh_log_write_slow(prefix.data, prefix.len, fmt, ap);
    va_end(ap);
  }
  mh_buf_free(&prefix);
}

static void mh_log_v(mh_log_level level, const char *area, const char *fmt, va_list ap) {
  mh_log_emit(level, area, NULL, NULL, fmt, ap);
}

void mh_log_about(mh_log_level level, const char *area, const char *plugin, const char *const *fields,
                  const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  mh_log_emit(level, area, plugin, fields, fmt, ap);
  va_end(ap);
}
