/* Files the host serves under /__moonhost/ (the JavaScript client, from
 * npm/moonhost-client; the inspector page, from transport/inspector),
 * compiled in by cmake/embed.cmake. */
#ifndef MH_WWW_H
#define MH_WWW_H
#include <stddef.h>

typedef struct mh_www_file {
  const char *name; /* file name, e.g. "client.js" */
  const char *path; /* where it came from, for messages */
  const char *data;
  size_t len;
} mh_www_file;

extern const mh_www_file mh_www_files[];
extern const mh_www_file mh_www_inspector_files[];

/* The file called name, or NULL. */
const mh_www_file *mh_www_find(const char *name);
/* The Content-Type for a file name. */
const char *mh_www_content_type(const char *name);

#endif
