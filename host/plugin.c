#include "plugin.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "host.h"
#include "log.h"

void mh_gen_ref(mh_gen *g) { g->refs++; }

void mh_gen_unref(mh_gen *g) {
  if (--g->refs > 0) return;
  mh_host *host = g->plugin->host;
  mh_log_debug("plugin", "%s: generation %u released", g->plugin->name, g->number);
  if (g->engine) host->engine->destroy(g->engine);
  free(g->staged);
  free(g);
}

/* The generation is no longer current: stop its timers and watches; it
 * stays alive while calls or functions still use it. */
static void gen_retire(mh_gen *g) {
  mh_host *host = g->plugin->host;
  if (g->engine) host->engine->retire(g->engine);
  mh_gen_unref(g);
}

static void drop_staged(mh_gen *g) {
  for (size_t i = 0; i < g->nstaged; i++) mh_fn_unref(g->staged[i]);
  g->nstaged = 0;
}

typedef struct load_op {
  mh_gen *gen;
  mh_plugin_loaded_cb cb;
  void *ud;
} load_op;

static void finish_load(load_op *op, mh_error *err) {
  mh_gen *g = op->gen;
  mh_plugin *p = g->plugin;
  mh_host *host = p->host;
  g->loading = false;
  if (!err && mh_registry_commit(&host->registry, g, &err) == 0) {
    mh_gen *old = p->current;
    p->current = g; /* the reference the load held becomes the "current" one */
    if (old) gen_retire(old);
    mh_log_info("plugin", "%s: loaded (generation %u)", p->name, g->number);
  } else {
    mh_log_error("plugin", "%s: load failed (%s): %s%s", p->name, err->code, err->message,
                 p->current ? " (the previous version keeps serving)" : "");
    drop_staged(g);
    gen_retire(g);
  }
  if (op->cb) op->cb(p, err, op->ud);
  mh_error_free(err);
  free(op);
}

static void on_engine_loaded(void *ud, mh_value *result, mh_error *err) {
  mh_value_free(result);
  finish_load(ud, err);
}

void mh_plugin_load(mh_plugin *p, mh_plugin_loaded_cb cb, void *ud) {
  mh_host *host = p->host;
  load_op *op = calloc(1, sizeof *op);
  mh_gen *g = calloc(1, sizeof *g);
  if (!op || !g) {
    free(op);
    free(g);
    mh_error *err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
    if (cb) cb(p, err, ud);
    mh_error_free(err);
    return;
  }
  g->plugin = p;
  g->number = ++p->next_number;
  g->refs = 1;
  g->loading = true;
  op->gen = g;
  op->cb = cb;
  op->ud = ud;
  mh_error *err = NULL;
  g->engine = host->engine->create(g, &err);
  if (!g->engine) {
    finish_load(op, err);
    return;
  }
  host->engine->load(g->engine, on_engine_loaded, op);
}

static mh_plugin *plugin_new(mh_host *host, const char *name, const char *path, const char *dir) {
  mh_plugin *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->host = host;
  p->name = strdup(name);
  p->path = strdup(path);
  p->dir = strdup(dir);
  if (!p->name || !p->path || !p->dir) {
    free(p->name);
    free(p->path);
    free(p->dir);
    free(p);
    return NULL;
  }
  mh_list_insert_tail(&host->plugins, &p->link);
  return p;
}

static void plugin_free(mh_plugin *p) {
  mh_list_remove(&p->link);
  free(p->name);
  free(p->path);
  free(p->dir);
  free(p);
}

static int is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* A plugin name is what a function name's prefix usually is: keep it plain. */
static int valid_name(const char *s, size_t n) {
  if (n == 0 || s[0] == '.') return 0;
  for (size_t i = 0; i < n; i++)
    if (!(s[i] == '-' || s[i] == '_' || s[i] == '.' || (s[i] >= '0' && s[i] <= '9') ||
          (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
      return 0;
  return 1;
}

int mh_plugins_load_dir(mh_host *host, const char *dir, mh_plugin_loaded_cb cb, void *ud) {
  DIR *d = opendir(dir);
  if (!d) {
    mh_log_warn("plugin", "plugins directory '%s' not found: no plugins loaded", dir);
    return 0;
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  for (struct dirent *de; (de = readdir(d));) {
    if (de->d_name[0] == '.') continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 16;
      char **nn = realloc(names, cap * sizeof *nn);
      if (!nn) break;
      names = nn;
    }
    if (!(names[n] = strdup(de->d_name))) break;
    n++;
  }
  closedir(d);
  qsort(names, n, sizeof *names, by_name);
  int count = 0;
  for (size_t i = 0; i < n; i++) {
    char path[4096], pdir[4096];
    const char *e = names[i];
    size_t len = strlen(e);
    if (len > 4 && strcmp(e + len - 4, ".lua") == 0 && valid_name(e, len - 4)) {
      snprintf(path, sizeof path, "%s/%s", dir, e);
      snprintf(pdir, sizeof pdir, "%s", dir);
      if (!is_file(path)) continue;
      names[i][len - 4] = '\0';
    } else {
      snprintf(path, sizeof path, "%s/%s/init.lua", dir, e);
      snprintf(pdir, sizeof pdir, "%s/%s", dir, e);
      if (!valid_name(e, len) || !is_file(path)) continue;
    }
    mh_plugin *p = plugin_new(host, names[i], path, pdir);
    if (!p) continue;
    count++;
    mh_plugin_load(p, cb, ud);
  }
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
  return count;
}

void mh_plugins_unload_all(mh_host *host) {
  mh_list_each_safe(pos, &host->plugins) {
    mh_plugin *p = mh_container_of(pos, mh_plugin, link);
    if (p->current) {
      mh_registry_remove_gen(&host->registry, p->current);
      gen_retire(p->current);
      p->current = NULL;
    }
    plugin_free(p);
  }
}
