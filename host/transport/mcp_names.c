/* Function names <-> MCP tool names (the rule is in mcp.h). Most names
 * ("demo:add", "vite_graph:get-modules") stay readable; the rest are
 * spelled in hex, so no two functions ever share a tool name. */
#include <stdbool.h>
#include <string.h>

#include "transport/mcp.h"

static bool plain_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* One ':'-separated part, as the readable spelling allows it. */
static bool plain_part(const char *s, size_t n) {
  if (n == 0 || s[0] == '_' || s[n - 1] == '_') return false;
  for (size_t i = 0; i < n; i++) {
    if (!plain_char(s[i])) return false;
    if (s[i] == '_' && i + 1 < n && s[i + 1] == '_') return false;
  }
  return true;
}

static bool plain_name(const char *name) {
  for (const char *p = name;;) {
    size_t n = strcspn(p, ":");
    if (!plain_part(p, n)) return false;
    if (!p[n]) return true;
    p += n + 1;
  }
}

bool mh_mcp_tool_name(const char *name, char *out, size_t len) {
  if (len == 0 || !*name) return false;
  size_t o = 0, cap = len - 1 < MH_MCP_TOOL_NAME_MAX ? len - 1 : MH_MCP_TOOL_NAME_MAX;
  if (plain_name(name)) {
    for (const char *p = name; *p; p++) {
      size_t need = *p == ':' ? 2 : 1;
      if (o + need > cap) return false;
      if (*p == ':') {
        out[o++] = '_';
        out[o++] = '_';
      } else {
        out[o++] = *p;
      }
    }
  } else {
    static const char hex[] = "0123456789abcdef";
    if (1 + 2 * strlen(name) > cap) return false;
    out[o++] = '_';
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
      out[o++] = hex[*p >> 4];
      out[o++] = hex[*p & 15];
    }
  }
  out[o] = '\0';
  return true;
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1; /* upper case is not how this host writes them */
}

static bool from_hex(const char *s, char *out, size_t len) {
  size_t n = strlen(s);
  if (n == 0 || n % 2 || n / 2 >= len) return false;
  for (size_t i = 0; i < n / 2; i++) {
    int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
    if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) return false;
    out[i] = (char)(hi << 4 | lo);
  }
  out[n / 2] = '\0';
  /* A name with a readable spelling is never written in hex. */
  return !plain_name(out);
}

bool mh_mcp_function_name(const char *tool, char *out, size_t len) {
  size_t n = strlen(tool);
  if (len == 0 || n == 0 || n > MH_MCP_TOOL_NAME_MAX) return false;
  if (tool[0] == '_') return from_hex(tool + 1, out, len);
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (o + 1 >= len) return false;
    if (tool[i] == '_' && tool[i + 1] == '_') {
      out[o++] = ':';
      i++;
    } else {
      out[o++] = tool[i];
    }
  }
  out[o] = '\0';
  /* Only what mh_mcp_tool_name writes: "a___b" and the like decode to no name. */
  char again[MH_MCP_TOOL_NAME_MAX + 1];
  return plain_name(out) && mh_mcp_tool_name(out, again, sizeof again) && strcmp(again, tool) == 0;
}
