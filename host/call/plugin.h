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
#include <stddef.h>
#include <stdint.h>

#include "call/engine.h"
#include "core/list.h"
#include "call/registry.h"

typedef struct mh_host mh_host;

typedef struct mh_plugin {
  mh_list link; /* in host->plugins; a plugin stays known after unload */
  mh_host *host;
  char *name;   /* from the file name */
  char *path;   /* the .lua file to run */
  char *dir;    /* directory searched first by require */
  mh_gen *current;
  uint32_t next_number;
  int gens;     /* generations alive (they point back here) */
  /* Why its last load failed while no generation serves (a call to one of
   * its functions says so); NULL when it serves or was unloaded. */
  char *load_error;
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

/* Reads a directory entry of the plugins dir: "NAME.lua" (a file) or
 * "NAME" (a directory with init.lua). Returns false when it is not a plugin. */
bool mh_plugin_entry(const char *plugins_dir, const char *entry, char *name, size_t name_len, char *path,
                     size_t path_len, char *dir, size_t dir_len);
mh_plugin *mh_plugin_find(mh_host *host, const char *name);
/* The known plugin with this name (its path updated), or a new one. */
mh_plugin *mh_plugin_get(mh_host *host, const char *name, const char *path, const char *dir);

/* Finds plugins in dir (sorted) and starts loading each; cb runs once per plugin. */
int mh_plugins_load_dir(mh_host *host, const char *dir, mh_plugin_loaded_cb cb, void *ud);
/* Loads (or reloads) one plugin as a new generation. A load that finishes
 * after a newer one started is discarded. */
void mh_plugin_load(mh_plugin *p, mh_plugin_loaded_cb cb, void *ud);
/* The error for a call to `name`, which no function has: not_found, naming
 * the plugin and its load error when name is "PLUGIN:..." of a plugin
 * whose load failed (so a typo in it does not read as a missing function). */
mh_error *mh_plugin_not_found(mh_host *host, const char *name, const char *prefix);
/* Unregisters the plugin's functions and retires its generation. */
void mh_plugin_unload(mh_plugin *p);
/* Shutdown begins: loads under way are stopped, and plugins stop their file
 * watches and listeners (all would keep the loop alive) but keep serving
 * calls. */
void mh_plugins_quiesce(mh_host *host);
/* Unloads every plugin and forgets them (shutdown). */
void mh_plugins_unload_all(mh_host *host);

/* Stages a registration on a loading generation (checks duplicates); the
 * engine calls it while the plugin's setup runs. */
int mh_gen_register(mh_gen *gen, const mh_fn_spec *spec, mh_error **err);

void mh_gen_ref(mh_gen *g);
void mh_gen_unref(mh_gen *g);

#endif
