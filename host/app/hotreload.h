/* Hot reload: plugins/ and conf.d/ are watched; a changed plugin file is
 * reloaded as a new generation, a new one loaded, a deleted one unloaded; a
 * changed configuration is reloaded (or refused, keeping the old one) and
 * the plugins whose settings changed are reloaded. */
#ifndef MH_HOTRELOAD_H
#define MH_HOTRELOAD_H
#include "call/plugin.h"

typedef struct mh_host mh_host;

int mh_hotreload_start(mh_host *h);
void mh_hotreload_stop(mh_host *h);

/* Reloads one plugin by name, or (name NULL) the configuration and every
 * plugin: what SIGHUP and `moonhost reload` do. cb runs once per plugin
 * load started; the return value is how many were started (-1: no such plugin). */
int mh_hotreload_now(mh_host *h, const char *name, mh_plugin_loaded_cb cb, void *ud);

#endif
