/* Logging: one line per event on stderr, "TIME LEVEL [area] message". */
#ifndef MH_LOG_H
#define MH_LOG_H

typedef enum { MH_LOG_ERROR, MH_LOG_WARN, MH_LOG_INFO, MH_LOG_DEBUG, MH_LOG_TRACE } mh_log_level;

void mh_log_set_level(mh_log_level level);
mh_log_level mh_log_get_level(void);
/* Returns -1 for an unknown name. */
int mh_log_level_parse(const char *name);
const char *mh_log_level_name(mh_log_level level);
int mh_log_enabled(mh_log_level level);
void mh_log(mh_log_level level, const char *area, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define mh_log_error(area, ...) mh_log(MH_LOG_ERROR, area, __VA_ARGS__)
#define mh_log_warn(area, ...) mh_log(MH_LOG_WARN, area, __VA_ARGS__)
#define mh_log_info(area, ...) mh_log(MH_LOG_INFO, area, __VA_ARGS__)
#define mh_log_debug(area, ...)                                                                    \
  do {                                                                                             \
    if (mh_log_enabled(MH_LOG_DEBUG)) mh_log(MH_LOG_DEBUG, area, __VA_ARGS__);                     \
  } while (0)

#endif
