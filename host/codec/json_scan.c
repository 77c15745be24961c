/* Reading a JSON text without a parser (json_scan.h, codec.h): where a
 * value ends and how deep a place is, for texts cJSON refused or that are
 * nested past what it accepts. */
#include <cjson/cJSON.h>

#include "codec/codec.h"
#include "codec/json_scan.h"

const char *mh_json_skip_space(const char *p, const char *end) {
  while (p < end && mh_json_is_space(*p)) p++;
  return p;
}

const char *mh_json_skip_string(const char *p, const char *end) {
  for (p++; p < end; p++) {
    if (*p == '\\') {
      if (++p == end) break; /* the escaped character is skipped */
    } else if (*p == '"') {
      return p + 1;
    }
  }
  return NULL;
}

const char *mh_json_skip_value(const char *p, const char *end) {
  p = mh_json_skip_space(p, end);
  if (p >= end) return NULL;
  if (*p == '"') return mh_json_skip_string(p, end);
  if (*p != '[' && *p != '{') { /* a literal or a number: up to a delimiter */
    const char *start = p;
    while (p < end && !mh_json_is_space(*p) && *p != ',' && *p != ']' && *p != '}' && *p != ':') p++;
    return p > start ? p : NULL;
  }
  size_t depth = 0;
  for (; p < end; p++) {
    if (*p == '"') {
      if (!(p = mh_json_skip_string(p, end))) return NULL;
      p--;
    } else if (*p == '[' || *p == '{') {
      depth++;
    } else if ((*p == ']' || *p == '}') && --depth == 0) {
      return p + 1;
    }
  }
  return NULL;
}

int mh_json_depth_limit(const mh_codec_limits *lim) {
  return lim && lim->max_depth > 0 && lim->max_depth < CJSON_NESTING_LIMIT ? lim->max_depth : CJSON_NESTING_LIMIT;
}

size_t mh_json_depth_at(const char *data, size_t at) {
  size_t depth = 0;
  for (const char *p = data, *end = data + at; p < end; p++) {
    if (*p == '"') {
      if (!(p = mh_json_skip_string(p, end))) break;
      p--;
    } else if (*p == '[' || *p == '{') {
      depth++;
    } else if ((*p == ']' || *p == '}') && depth > 0) {
      depth--;
    }
  }
  return depth;
}
