#ifndef MH_PATH_ABS_H
#define MH_PATH_ABS_H

/* path as an absolute path (malloc'd), or NULL when memory or the working
 * directory cannot be had: realpath when it exists (symlinks resolved,
 * no trailing slash), else the working directory joined with it. */
char *mh_path_absolute(const char *path);

#endif
