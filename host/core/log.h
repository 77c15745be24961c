/* Logging: one line per event on stderr, "TIME LEVEL [area] message", or
 * with log.format = 'json' one JSON object per line:
 * {"ts", "level", "area", "plugin" (lines about one), "msg", fields...}. */
#ifndef MH_LOG_H
#define MH_LOG_H
#include <stdint.h>

#include "core/bucket.h"

typedef enum { MH_LOG_ERROR, MH_LOG_WARN, MH_LOG_INFO, MH_LOG_DEBUG, MH_LOG_TRACE } mh_log_level;

void mh_log_set_level(mh_log_level level);
mh_log_level mh_log_get_level(void);
/* Returns -1 for an unknown name. */
int mh_log_level_parse(const char *name);
const char *mh_log_level_name(mh_log_level level);
int mh_log_enabled(mh_log_level level);
void mh_log(mh_log_level level, const char *area, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

typedef enum { MH_LOG_TEXT, MH_LOG_JSON } mh_log_format;
void mh_log_set_format(mh_log_format format);
/* "json" is MH_LOG_JSON; anything else (NULL, "text") MH_LOG_TEXT. */
mh_log_format mh_log_format_parse(const char *name);

/* A line about one plugin. In text it reads "[area] PLUGIN: message" ("[area]
 * message" when area is the plugin's name, as for ctx.log); in JSON the
 * plugin has its own key, and fields (NULL, or key, value, ..., NULL:
 * strings the message holds too, for machines) are added as keys. */
void mh_log_about(mh_log_level level, const char *area, const char *plugin, const char *const *fields,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Rate limit of one call site: a token bucket of MH_LOG_SITE_BURST lines,
 * refilled at MH_LOG_SITE_PER_S lines a second. Lines over it are counted,
 * not written; the next line the site writes is preceded by how many were
 * suppressed. For lines remote input can trigger at any rate (bad frames,
 * refused calls, accept() failures), so a flood cannot fill the disk or
 * starve the loop with writes. */
#define MH_LOG_SITE_BURST 20
#define MH_LOG_SITE_PER_S 10
typedef struct mh_log_site {
  mh_bucket bucket;
  uint64_t suppressed; /* lines dropped since the last one written */
} mh_log_site;
void mh_log_limited(mh_log_site *site, mh_log_level level, const char *area, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* One bucket per place in the code that logs. */
#define mh_log_limited_at(level, area, ...)                                                        \
  do {                                                                                             \
    static mh_log_site mh_log_site_;                                                               \
    if (mh_log_enabled(level)) mh_log_limited(&mh_log_site_, level, area, __VA_ARGS__);           \
  } while (0)
#define mh_log_warn_limited(area, ...) mh_log_limited_at(MH_LOG_WARN, area, __VA_ARGS__)

#define mh_log_error(area, ...) mh_log(MH_LOG_ERROR, area, __VA_ARGS__)
#define mh_log_warn(area, ...) mh_log(MH_LOG_WARN, area, __VA_ARGS__)
#define mh_log_info(area, ...) mh_log(MH_LOG_INFO, area, __VA_ARGS__)
#define mh_log_debug(area, ...)                                                                    \
  do {                                                                                             \
    if (mh_log_enabled(MH_LOG_DEBUG)) mh_log(MH_LOG_DEBUG, area, __VA_ARGS__);                     \
  } while (0)

#endif
