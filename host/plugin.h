/* Plugins and their generations.
 *
 * A plugin is plugins/NAME.lua or plugins/NAME/init.lua. Each load creates
 * a generation: its own engine (lua_State), its own registrations. Loading
 * is a transaction: if it fails the previous generation keeps serving. A
 * retired generation lives until its last running call and its last
 * function are gone, then its engine is destroyed. */
#ifndef MH_PLUGIN_H
#define MH_PLUGIN_H
#include <stdbool.h>
#include <stdint.h>

#include "engine.h"
#include "list.h"
#include "registry.h"

typedef struct mh_host mh_host;

typedef struct mh_plugin {
  mh_list link; /* in host->plugins */
  mh_host *host;
  char *name;   /* from the file name */
  char *path;   /* the .lua file to run */
  char *dir;    /* directory searched first by require, for NAME/init.lua plugins */
  mh_gen *current;
  uint32_t next_number;
} mh_plugin;

struct mh_gen {
  mh_plugin *plugin;
  uint32_t number;
  mh_engine *engine;
  int refs;        /* current + functions alive + calls running */
  bool loading;
  mh_fn **staged;  /* registrations made during setup */
  size_t nstaged, capstaged;
};

typedef void (*mh_plugin_loaded_cb)(mh_plugin *p, const mh_error *err, void *ud);

/* Finds plugins in dir (sorted) and starts loading each; cb runs once per plugin. */
int mh_plugins_load_dir(mh_host *host, const char *dir, mh_plugin_loaded_cb cb, void *ud);
/* Loads (or reloads) one plugin as a new generation. */
void mh_plugin_load(mh_plugin *p, mh_plugin_loaded_cb cb, void *ud);
/* Unregisters and releases every plugin (shutdown). */
void mh_plugins_unload_all(mh_host *host);

void mh_gen_ref(mh_gen *g);
void mh_gen_unref(mh_gen *g);

#endif
