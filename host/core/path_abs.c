/* Absolute paths for what users give relative to where they started
 * moonhost (--root, root = in conf.d): plugins see ctx.root absolute, so a
 * path built from it means the same thing to every process it is passed to. */
#include "core/path_abs.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"

/* cwd + "/" + path, with "./" prefixes and a lone "." dropped (a path that
 * does not exist yet cannot go through realpath). */
static char *joined_to_cwd(const char *path) {
  char *cwd = getcwd(NULL, 0);
  if (!cwd) return NULL;
  while (path[0] == '.' && path[1] == '/') path += 2 + strspn(path + 2, "/");
  if (strcmp(path, ".") == 0) path = "";
  mh_buf b = MH_BUF_INIT;
  int rc = mh_buf_append_str(&b, cwd);
  if (!rc && *path && strcmp(cwd, "/") != 0) rc = mh_buf_append(&b, "/", 1);
  if (!rc) rc = mh_buf_append_str(&b, path);
  if (!rc) rc = mh_buf_terminate(&b);
  free(cwd);
  if (rc) {
    mh_buf_free(&b);
    return NULL;
  }
  return b.data;
}

char *mh_path_absolute(const char *path) {
  char *real = realpath(path, NULL);
  if (real) return real;
  return path[0] == '/' ? strdup(path) : joined_to_cwd(path);
}
