#include "cli/cli.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

void mh_cli_usage(void) {
  printf("moonhost %s: a Lua-scriptable RPC host (birpc / Vite DevTools compatible)\n"
         "\n"
         "Usage:\n"
         "  moonhost run [options] [-- COMMAND ARGS...]\n"
         "                          load plugins and serve RPC; with a COMMAND (e.g. npx vite),\n"
         "                          run it as the dev server beside moonhost (in --root, no shell,\n"
         "                          in a process group of its own that SIGINT/SIGTERM stop)\n"
         "  moonhost reload [NAME] [--listen HOST:PORT] [--token TOKEN]\n"
         "                          ask a running moonhost to reload one plugin or everything\n"
         "                          (same as sending it SIGHUP)\n"
         "  moonhost config [options]   print the effective configuration as JSON\n"
         "  moonhost test [options] [BUSTED OPTIONS] [PATHS...]\n"
         "                          run busted specs (*_spec.lua, default: under --plugins) with\n"
         "                          moonhost as the Lua interpreter; -o TAP, -o junit, --filter ...\n"
         "                          are busted's (moonhost test --help lists them)\n"
         "  moonhost types [--out FILE] [--watch] [options]\n"
         "                          load the plugins (no server) and write TypeScript declarations\n"
         "                          of their functions (default: to stdout); --watch writes them\n"
         "                          again after each change under --plugins, until Ctrl-C\n"
         "  moonhost new plugin NAME [--dir DIR]\n"
         "                          write DIR/NAME.lua and DIR/spec/NAME_spec.lua (DIR: plugins)\n"
         "  moonhost --help | --version\n"
         "\n"
         "Options:\n"
         "  --listen HOST:PORT   address to listen on (default 127.0.0.1:7812; port 0 picks one;\n"
         "                       a host name is resolved at start to one address, logged)\n"
         "  --plugins DIR        plugins directory (default ./plugins)\n"
         "  --config DIR         configuration directory of *.lua fragments (default ./conf.d)\n"
         "  --root DIR           project root: ctx.root, and where COMMAND runs (default .)\n"
         "  --log-level LEVEL    error | warn | info | debug | trace (default info)\n"
         "  --log-format FORMAT  text | json: one JSON object per line (default text)\n"
         "  --token TOKEN        reload: token to present (default $MOONHOST_TOKEN or auth.tokens[1])\n"
         "\n"
         "Exit codes (run): 0 after SIGINT/SIGTERM, 1 cannot listen (the reason is logged), 2 bad\n"
         "flag, configuration or listen host name, else the dev server's (127: not started;\n"
         "137: it ignored SIGTERM for 5 s and got SIGKILL).\n"
         "\n"
         "Flags override configuration files. Clients connect to ws://HOST:PORT/__ws?token=TOKEN;\n"
         "the token is printed at start. Plugins and conf.d reload when their files change.\n"
         "Documentation: README.md; writing plugins: docs/plugins.md\n",
         MOONHOST_VERSION);
}

static int fail(const char *fmt, const char *arg) {
  fprintf(stderr, "moonhost: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, " (see moonhost --help)\n");
  return 2;
}

/* Options with a value. `only` limits one to a command; `test` passes every
 * option it does not take itself on to busted, so it takes only these
 * marked `test` (busted has options of its own, like --output). */
static const struct {
  const char *name;
  size_t offset;
  int only; /* -1: every command */
  bool test;
} valued[] = {
  {"--listen", offsetof(mh_cli, listen), -1, false},      {"--plugins", offsetof(mh_cli, plugins), -1, true},
  {"--config", offsetof(mh_cli, config), -1, true},       {"--root", offsetof(mh_cli, root), -1, true},
  {"--log-level", offsetof(mh_cli, log_level), -1, true}, {"--token", offsetof(mh_cli, token), -1, false},
  {"--log-format", offsetof(mh_cli, log_format), -1, true},
  {"--out", offsetof(mh_cli, out), MH_CMD_TYPES, false},  {"--dir", offsetof(mh_cli, dir), MH_CMD_NEW, false},
};

/* --name VALUE or --name=VALUE; returns 1 when matched, 0 when not, 2 on error. */
static int take_option(mh_cli *out, int argc, char **argv, int *i) {
  const char *a = argv[*i];
  for (size_t k = 0; k < sizeof valued / sizeof *valued; k++) {
    if (valued[k].only >= 0 && valued[k].only != (int)out->command) continue;
    if (out->command == MH_CMD_TEST && !valued[k].test) continue;
    size_t n = strlen(valued[k].name);
    if (strncmp(a, valued[k].name, n) != 0) continue;
    const char **slot = (const char **)(void *)((char *)out + valued[k].offset);
    if (a[n] == '=') {
      *slot = a + n + 1;
      return 1;
    }
    if (a[n] != '\0') continue;
    if (*i + 1 >= argc) return fail("option '%s' needs a value", a);
    *slot = argv[++*i];
    return 1;
  }
  return 0;
}

static int parse_command(const char *word, mh_cli *out) {
  static const struct {
    const char *word;
    mh_command cmd;
  } cmds[] = {{"run", MH_CMD_RUN},   {"config", MH_CMD_CONFIG}, {"reload", MH_CMD_RELOAD}, {"help", MH_CMD_HELP},
              {"test", MH_CMD_TEST}, {"types", MH_CMD_TYPES},   {"new", MH_CMD_NEW}};
  for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
    if (strcmp(word, cmds[i].word) == 0) {
      out->command = cmds[i].cmd;
      return 0;
    }
  return fail("unknown command '%s'", word);
}

int mh_cli_parse(int argc, char **argv, mh_cli *out) {
  memset(out, 0, sizeof *out);
  out->command = MH_CMD_HELP;
  int i = 1;
  if (i < argc && argv[i][0] != '-') {
    if (parse_command(argv[i], out)) return 2;
    i++;
  }
  /* Words kept for the command are moved down over argv (already read). */
  out->rest = argv + i;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (out->command == MH_CMD_TEST) {
      int took = take_option(out, argc, argv, &i);
      if (took == 2) return 2;
      if (!took) out->rest[out->nrest++] = argv[i]; /* busted's: -o TAP, --filter=x, PATHS, -- */
      continue;
    }
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      out->command = MH_CMD_HELP;
      return 0;
    }
    if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
      out->command = MH_CMD_VERSION;
      return 0;
    }
    if (strcmp(a, "--") == 0) {
      if (out->command != MH_CMD_RUN) return fail("'%s' (a dev server command) only goes with run", a);
      if (i + 1 >= argc) return fail("'%s' must be followed by a command", a);
      out->child_argv = argv + i + 1; /* argv is NULL-terminated, so is this */
      return 0;
    }
    if (strcmp(a, "--watch") == 0 && out->command == MH_CMD_TYPES) {
      out->watch = true;
      continue;
    }
    int took = take_option(out, argc, argv, &i);
    if (took == 2) return 2;
    if (took) continue;
    if (a[0] != '-' && out->command == MH_CMD_RELOAD && !out->plugin) {
      out->plugin = a;
      continue;
    }
    if (a[0] != '-' && out->command == MH_CMD_NEW) {
      out->rest[out->nrest++] = argv[i];
      continue;
    }
    return fail(a[0] == '-' ? "unknown option '%s'" : "unexpected argument '%s'", a);
  }
  return 0;
}
