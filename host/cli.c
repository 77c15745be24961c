#include "cli.h"

#include <stdio.h>
#include <string.h>

void mh_cli_usage(void) {
  printf("moonhost %s: a Lua-scriptable RPC host (birpc / Vite DevTools compatible)\n"
         "\n"
         "Usage:\n"
         "  moonhost run [options]      load plugins and serve WebSocket RPC\n"
         "  moonhost config [options]   print the effective configuration as JSON\n"
         "  moonhost --help | --version\n"
         "\n"
         "Options:\n"
         "  --listen HOST:PORT   address to listen on (default 127.0.0.1:7812; port 0 picks one)\n"
         "  --plugins DIR        plugins directory (default ./plugins)\n"
         "  --config DIR         configuration directory of *.lua fragments (default ./conf.d)\n"
         "  --root DIR           project root that plugins see as ctx.root (default .)\n"
         "  --log-level LEVEL    error | warn | info | debug | trace (default info)\n"
         "\n"
         "Flags override configuration files. Clients connect to ws://HOST:PORT/__ws.\n"
         "Documentation: README.md\n",
         MOONHOST_VERSION);
}

static int fail(const char *fmt, const char *arg) {
  fprintf(stderr, "moonhost: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, " (see moonhost --help)\n");
  return 2;
}

int mh_cli_parse(int argc, char **argv, mh_cli *out) {
  memset(out, 0, sizeof *out);
  out->command = MH_CMD_HELP;
  int i = 1;
  if (i < argc && argv[i][0] != '-') {
    if (strcmp(argv[i], "run") == 0)
      out->command = MH_CMD_RUN;
    else if (strcmp(argv[i], "config") == 0)
      out->command = MH_CMD_CONFIG;
    else if (strcmp(argv[i], "help") == 0)
      out->command = MH_CMD_HELP;
    else
      return fail("unknown command '%s'", argv[i]);
    i++;
  }
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      out->command = MH_CMD_HELP;
      return 0;
    }
    if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
      out->command = MH_CMD_VERSION;
      return 0;
    }
    static const char *const valued[] = {"--listen", "--plugins", "--config", "--root", "--log-level"};
    const char **slots[] = {&out->listen, &out->plugins, &out->config, &out->root, &out->log_level};
    int matched = 0;
    for (size_t k = 0; k < sizeof valued / sizeof *valued; k++) {
      size_t n = strlen(valued[k]);
      if (strncmp(a, valued[k], n) != 0) continue;
      if (a[n] == '=') {
        *slots[k] = a + n + 1;
      } else if (a[n] == '\0') {
        if (i + 1 >= argc) return fail("option '%s' needs a value", a);
        *slots[k] = argv[++i];
      } else {
        continue;
      }
      matched = 1;
      break;
    }
    if (!matched) return fail("unknown option '%s'", a);
  }
  if (argc <= 1) out->command = MH_CMD_HELP;
  return 0;
}
