/* Glob matching on '/'-separated relative paths (glob.c), for the file
 * watcher and for mesh selectors alike. */
#ifndef MH_GLOB_H
#define MH_GLOB_H
#include <stdbool.h>

/* '*' (within a segment), '**' (any number of segments), '?', character
 * classes [abc] [a-z] [!x], and {a,b} alternatives. */
bool mh_glob_match(const char *pattern, const char *path);

#endif
