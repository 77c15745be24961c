/* lws_add_http_common_headers formats the status line and the length with
 * lws_snprintf, a vsnprintf each: about 1,900 of an oRPC request's 50,000
 * instructions. On this server's vhost (server.c gives lws no extra
 * headers, no Server string and neither the STS nor the security-headers
 * option) an HTTP/1 response with a length gets from it the status line,
 * Content-Type and Content-Length and nothing else, each line written by
 * lws_add_http_header_by_name (about 150 instructions a line). Here the
 * same bytes are written straight, with a table of reason phrases and a
 * digit loop.
 *
 * The status line names the request's version as lws does: HTTP/1.1 when
 * the request line said 1.1, else HTTP/1.0. A connection whose request
 * headers are gone, or an HTTP/2 stream, goes through lws as before. */
#include <stdbool.h>
#include <string.h>

#include "transport/http_head.h"

const char *mh_http_reason(int status) {
  switch (status) {
  case 100: return "Continue";
  case 101: return "Switching Protocols";
  case 200: return "OK";
  case 201: return "Created";
  case 202: return "Accepted";
  case 204: return "No Content";
  case 206: return "Partial Content";
  case 301: return "Moved Permanently";
  case 302: return "Found";
  case 303: return "See Other";
  case 304: return "Not Modified";
  case 307: return "Temporary Redirect";
  case 308: return "Permanent Redirect";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 402: return "Payment Required";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 406: return "Not Acceptable";
  case 407: return "Proxy Authentication Required";
  case 408: return "Request Timeout";
  case 409: return "Conflict";
  case 410: return "Gone";
  case 411: return "Length Required";
  case 412: return "Precondition Failed";
  case 413: return "Content Too Large";
  case 414: return "URI Too Long";
  case 415: return "Unsupported Media Type";
  case 416: return "Range Not Satisfiable";
  case 417: return "Expectation Failed";
  case 422: return "Unprocessable Content";
  case 426: return "Upgrade Required";
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  case 505: return "HTTP Version Not Supported";
  default: return "";
  }
}

/* Decimal digits of n at the end of buf[0..size); returns where they start. */
static char *digits(char *buf, size_t size, unsigned long long n) {
  char *q = buf + size;
  do *--q = (char)('0' + n % 10);
  while ((n /= 10) && q > buf);
  return q;
}

/* Appends n bytes at *p if they fit before end. */
static bool put(unsigned char **p, unsigned char *end, const void *bytes, size_t n) {
  if ((size_t)(end - *p) < n) return false;
  memcpy(*p, bytes, n);
  *p += n;
  return true;
}

/* An HTTP/2 stream is a wsi inside a network connection: -1 for it. */
int mh_http_version11(struct lws *wsi) {
  char version[16];
  int n = lws_hdr_copy(wsi, version, sizeof version, WSI_TOKEN_HTTP);
  if (n <= 0 || lws_get_network_wsi(wsi) != wsi) return -1;
  return n > 7 && version[5] == '1' && version[7] == '1';
}

int mh_http_head(struct lws *wsi, int v11, int status, const char *content_type, size_t length, unsigned char **p,
                 unsigned char *end) {
  if (status < 100 || status > 999) v11 = -1;
  if (v11 < 0) return lws_add_http_common_headers(wsi, (unsigned)status, content_type, length, p, end);
  char code[5] = {(char)('0' + status / 100), (char)('0' + status / 10 % 10), (char)('0' + status % 10), ' '};
  const char *reason = mh_http_reason(status);
  char len[24], *d = digits(len, sizeof len, length);
  /* what lws' header writers put for HTTP/1: "name value\r\n", names as
   * lws_token_to_string spells them */
  bool ok = put(p, end, v11 ? "HTTP/1.1 " : "HTTP/1.0 ", 9) && put(p, end, code, 4) &&
            put(p, end, reason, strlen(reason)) && put(p, end, "\r\n", 2);
  if (ok && content_type)
    ok = put(p, end, "content-type: ", 14) && put(p, end, content_type, strlen(content_type)) && put(p, end, "\r\n", 2);
  return ok && put(p, end, "content-length: ", 16) && put(p, end, d, (size_t)(len + sizeof len - d)) &&
                 put(p, end, "\r\n", 2)
             ? 0
             : 1;
}
