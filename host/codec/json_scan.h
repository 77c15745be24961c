/* Reading a JSON text without a parser (json_scan.c); mh_json_skip_value,
 * mh_json_depth_at and mh_json_depth_limit are declared in codec.h. */
#ifndef MH_JSON_SCAN_H
#define MH_JSON_SCAN_H
#include <stdbool.h>

static inline bool mh_json_is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* p past any JSON whitespace, up to end. */
const char *mh_json_skip_space(const char *p, const char *end);
/* p at an opening quote; the end of the string, or NULL. */
const char *mh_json_skip_string(const char *p, const char *end);

#endif
