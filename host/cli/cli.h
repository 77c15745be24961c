/* Command-line parsing for `moonhost`. */
#ifndef MH_CLI_H
#define MH_CLI_H
#include <stdbool.h>

typedef enum {
  MH_CMD_HELP,
  MH_CMD_VERSION,
  MH_CMD_RUN,
  MH_CMD_CONFIG,
  MH_CMD_RELOAD,
  MH_CMD_TEST,  /* busted specs with moonhost as the interpreter (cmd_test.c) */
  MH_CMD_TYPES, /* TypeScript declarations of the plugins' functions (cmd_types.c) */
  MH_CMD_NEW,   /* a plugin skeleton and its spec (cmd_new.c) */
} mh_command;

typedef struct mh_cli {
  mh_command command;
  const char *listen; /* NULL: from config */
  const char *plugins;
  const char *config; /* NULL: ./conf.d if present */
  const char *root;
  const char *log_level;
  const char *log_format;
  const char *token;  /* reload: the token to present */
  const char *plugin; /* reload: one plugin, or NULL for all */
  char **child_argv;  /* run: the dev server command after `--` (NULL-terminated) */
  const char *out;    /* types: the file to write (NULL: stdout) */
  bool watch;         /* types --watch: write again after each change under plugins/ */
  const char *dir;    /* new: where the plugin goes (default: plugins) */
  /* test: the arguments for busted (options and PATHS, in order); new: the
   * words after `new` ("plugin", NAME). They point into argv. */
  char **rest;
  int nrest;
} mh_cli;

/* Returns 0, or 2 after printing a one-line error to stderr. */
int mh_cli_parse(int argc, char **argv, mh_cli *out);
void mh_cli_usage(void);

#endif
