/* MCP tool names (transport/mcp_names.c): the readable spelling, the hex
 * one, both ways exact, and tool names no function has. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "transport/mcp.h"

typedef struct {
  const char *function, *tool;
} name_case;

static const name_case cases[] = {
    {"demo:add", "demo__add"},
    {"vite_graph:get-modules", "vite_graph__get-modules"},
    {"a:b:c", "a__b__c"},
    {"plain", "plain"},
    {"-x-:-y", "-x-__-y"},
    /* not readable: hex, so nothing can collide with the readable names */
    {"a:_b", "_613a5f62"},
    {"a_:b", "_615f3a62"},
    {"a__b", "_615f5f62"},
    {"a::b", "_613a3a62"},
    {":a", "_3a61"},
    {"a b/c.d", "_6120622f632e64"},
    {"é", "_c3a9"},
};

static void round_trips(void) {
  char tool[MH_MCP_TOOL_NAME_MAX + 1], fn[300];
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    bool ok = mh_mcp_tool_name(cases[i].function, tool, sizeof tool);
    if (!ok || strcmp(tool, cases[i].tool) != 0)
      fprintf(stderr, "tool name of '%s': got '%s', want '%s'\n", cases[i].function, ok ? tool : "(none)", cases[i].tool);
    CHECK(ok && strcmp(tool, cases[i].tool) == 0);
    ok = mh_mcp_function_name(cases[i].tool, fn, sizeof fn);
    CHECK(ok && strcmp(fn, cases[i].function) == 0);
  }
}

static void refused(void) {
  char fn[300];
  /* What mh_mcp_tool_name never writes decodes to no function. */
  const char *bad[] = {"", "a___b", "a__", "__a", "a____b", "_", "_6", "_zz", "_0061", "_6162", "_61A2", "a.b", "a b",
                       "_613a62" /* "a:b" has a readable name */};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    bool ok = mh_mcp_function_name(bad[i], fn, sizeof fn);
    if (ok) fprintf(stderr, "'%s' decoded to '%s'\n", bad[i], fn);
    CHECK(!ok);
  }
}

static void lengths(void) {
  char name[300], tool[MH_MCP_TOOL_NAME_MAX + 1];
  memset(name, 'a', 128);
  name[128] = '\0';
  CHECK(mh_mcp_tool_name(name, tool, sizeof tool) && strlen(tool) == 128);
  name[128] = 'a';
  name[129] = '\0';
  CHECK(!mh_mcp_tool_name(name, tool, sizeof tool)); /* 129: not offered */
  memset(name, ' ', 63);
  name[63] = '\0';
  CHECK(mh_mcp_tool_name(name, tool, sizeof tool) && strlen(tool) == 127);
  name[63] = ' ';
  name[64] = '\0';
  CHECK(!mh_mcp_tool_name(name, tool, sizeof tool));
  char small[4];
  CHECK(!mh_mcp_tool_name("demo:add", small, sizeof small));
  CHECK(!mh_mcp_function_name("demo__add", small, sizeof small));
}

int main(void) {
  round_trips();
  refused();
  lengths();
  return check_failures ? 1 : 0;
}
