/* Command-line parsing for `moonhost`. */
#ifndef MH_CLI_H
#define MH_CLI_H
#include <stdbool.h>

typedef enum { MH_CMD_HELP, MH_CMD_VERSION, MH_CMD_RUN, MH_CMD_CONFIG, MH_CMD_RELOAD } mh_command;

typedef struct mh_cli {
  mh_command command;
  const char *listen; /* NULL: from config */
  const char *plugins;
  const char *config; /* NULL: ./conf.d if present */
  const char *root;
  const char *log_level;
  const char *token;  /* reload: the token to present */
  const char *plugin; /* reload: one plugin, or NULL for all */
  char **child_argv;  /* run: the dev server command after `--` (NULL-terminated) */
} mh_cli;

/* Returns 0, or 2 after printing a one-line error to stderr. */
int mh_cli_parse(int argc, char **argv, mh_cli *out);
void mh_cli_usage(void);

#endif
