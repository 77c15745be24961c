/* libwebsockets' log level, with its filtered calls made cheap (lws_log.c). */
#ifndef MH_LWS_LOG_H
#define MH_LWS_LOG_H

/* lws_set_log_level(level, emit), and the level the executable's fast
 * _lws_log (lws_log.c) tests first. Set lws' level through this (a level
 * set straight with lws_set_log_level afterwards may only be narrower). */
void mh_lws_log_level(int level, void (*emit)(int level, const char *line));

/* lws' lines into the host's log as [lws] (errors and warnings,
 * rate-limited): the emit of mh_lws_log_level for the server's context and
 * the client's. */
void mh_lws_log_emit(int level, const char *line);

#endif
