#include "transport/www.h"

#include <string.h>

const mh_www_file *mh_www_find(const char *name) {
  const mh_www_file *const tables[] = {mh_www_files, mh_www_inspector_files};
  for (size_t t = 0; t < sizeof tables / sizeof *tables; t++)
    for (const mh_www_file *f = tables[t]; f->name; f++)
      if (strcmp(f->name, name) == 0) return f;
  return NULL;
}

const char *mh_www_content_type(const char *name) {
  static const struct {
    const char *ext, *type;
  } types[] = {
    {".js", "text/javascript; charset=utf-8"}, {".mjs", "text/javascript; charset=utf-8"},
    {".ts", "text/plain; charset=utf-8"},      {".html", "text/html; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},       {".json", "application/json"},
  };
  const char *dot = strrchr(name, '.');
  for (size_t i = 0; dot && i < sizeof types / sizeof *types; i++)
    if (strcmp(dot, types[i].ext) == 0) return types[i].type;
  return "application/octet-stream";
}
