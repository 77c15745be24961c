/* The head of a whole HTTP/1 response, written without lws' formatting
 * (http_head.c). */
#ifndef MH_HTTP_HEAD_H
#define MH_HTTP_HEAD_H

#include <stddef.h>

#include <libwebsockets.h>

/* Writes at *p, up to end, the status line, Content-Type (when not NULL)
 * and Content-Length of a response of `length` bytes; not the blank line.
 * What lws_add_http_common_headers would write for it on this server.
 * v11: the request's mh_http_version11, read once per request.
 * Nonzero when it does not fit. */
int mh_http_head(struct lws *wsi, int v11, int status, const char *content_type, size_t length, unsigned char **p,
                 unsigned char *end);

/* Whether the response goes out as HTTP/1.1 (1) or 1.0 (0), as lws
 * decides it from the request line; -1 when that is not known (the
 * request's headers are gone, or an HTTP/2 stream). */
int mh_http_version11(struct lws *wsi);

/* The reason phrase of an HTTP status code ("Not Found"); "" when unknown. */
const char *mh_http_reason(int status);

#endif
