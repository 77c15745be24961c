#include "call/plugin.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "call/host.h"
#include "codec/envelope.h"
#include "core/log.h"
#include "call/events.h"
#include "core/timer.h"

static void plugin_free(mh_plugin *p);

void mh_gen_ref(mh_gen *g) { g->refs++; }

void mh_gen_unref(mh_gen *g) {
  if (--g->refs > 0) return;
  mh_plugin *p = g->plugin;
  mh_log_debug("plugin", "%s: generation %u released", p->name, g->number);
  if (g->engine) p->host->engine->destroy(g->engine);
  free(g->staged);
  free(g);
  /* A forgotten plugin (shutdown) goes with its last generation. */
  if (--p->gens == 0 && !p->link.next) plugin_free(p);
}

/* The generation is no longer current: stop its timers and watches; it
 * stays alive while calls or functions still use it. */
static void gen_retire(mh_gen *g) {
  if (g->engine) g->plugin->host->engine->retire(g->engine);
  mh_gen_unref(g);
}

static void drop_staged(mh_gen *g) {
  for (size_t i = 0; i < g->nstaged; i++) mh_fn_unref(g->staged[i]);
  g->nstaged = 0;
}

/* A plugin function is freed: its handler goes back to the engine and the
 * reference it held on its generation is dropped. */
static void fn_released(mh_fn *fn) {
  mh_gen *g = fn->gen;
  g->plugin->host->engine->release(g->engine, fn->handler);
  mh_gen_unref(g);
}

/* Registrations are staged on the loading generation; commit() swaps them
 * into the registry in one step. */
int mh_gen_register(mh_gen *gen, const mh_fn_spec *spec, mh_error **err) {
  mh_host *host = gen->plugin->host;
  if (!gen->loading) {
    *err = mh_error_new(MH_ERR_INTERNAL, "functions can only be registered while the plugin's setup runs");
    return -1;
  }
  /* A longer name could never be called over the WebSocket (envelope.c
   * refuses it, so what a refused call echoes stays bounded): say so now. */
  size_t len = strlen(spec->name);
  if (len > MH_ENVELOPE_METHOD_MAX) {
    *err = mh_error_new(MH_ERR_BAD_REQUEST, "function name of %zu bytes: names are at most %d bytes", len,
                        MH_ENVELOPE_METHOD_MAX);
    return -1;
  }
  for (size_t i = 0; i < gen->nstaged; i++) {
    if (strcmp(gen->staged[i]->name, spec->name) == 0) {
      *err = mh_error_new(MH_ERR_ALREADY_REGISTERED, "function \"%s\" is registered twice by this plugin",
                          spec->name);
      return -1;
    }
  }
  /* moonhost.define_rpc_function refuses these first, with the plugin's
   * words; this guards the host's own invariant (no cached stream). */
  if (spec->stream && (spec->cached || (spec->type != MH_FN_QUERY && spec->type != MH_FN_ACTION))) {
    *err = mh_error_new(MH_ERR_BAD_REQUEST, "%s: a stream is a query or an action, never cached", spec->name);
    return -1;
  }
  if (mh_registry_check_name(&host->registry, spec->name, gen, err)) return -1;
  if (gen->nstaged == gen->capstaged) {
    size_t cap = gen->capstaged ? gen->capstaged * 2 : 8;
    mh_fn **staged = realloc(gen->staged, cap * sizeof *staged);
    if (!staged) goto oom;
    gen->staged = staged;
    gen->capstaged = cap;
  }
  mh_fn *fn = mh_fn_new(spec->name, spec->type);
  if (!fn) goto oom;
  fn->gen = gen;
  fn->handler = spec->handler;
  fn->mesh_provided = spec->mesh;
  fn->arg_count = spec->arg_count;
  fn->stream = spec->stream;
  fn->input_stream = spec->input_stream;
  fn->release = fn_released;
  mh_gen_ref(gen);
  if (spec->cached && spec->type == MH_FN_QUERY) {
    const mh_config *cfg = host->cfg;
    fn->cache = mh_cache_new(spec->ttl_ms, spec->max_entries ? spec->max_entries : cfg->cache.max_entries,
                             cfg->cache.max_bytes);
    if (!fn->cache) {
      mh_fn_unref(fn);
      goto oom;
    }
  }
  fn->agent = spec->agent; /* owned from here on: nothing below fails */
  fn->agent_args = spec->agent_args;
  gen->staged[gen->nstaged++] = fn;
  return 0;
oom:
  *err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
  return -1;
}

/* One load under way: the setup may wait (moonhost.sleep, a peer's answer),
 * so it can be stopped (lua.setup_timeout_ms, a newer load of the plugin,
 * shutdown) through its engine handle. */
typedef struct load_op {
  mh_list link; /* in host->loads */
  mh_gen *gen;
  mh_plugin_loaded_cb cb;
  void *ud;
  mh_engine_call *ecall; /* NULL: finished, or an engine that cannot stop it */
  mh_timer *timer;       /* lua.setup_timeout_ms */
  mh_error *why_stopped; /* what the stop means, for the load's error */
} load_op;

static mh_error *commit(mh_gen *g) {
  mh_plugin *p = g->plugin;
  mh_error *err = NULL;
  if (g->number != p->next_number)
    return mh_error_new(MH_ERR_CANCELLED, "superseded by a newer load (generation %u)", p->next_number);
  if (mh_registry_commit(&p->host->registry, g, &err)) return err;
  mh_gen *old = p->current;
  p->current = g; /* the reference the load held becomes the "current" one */
  if (old) gen_retire(old);
  return NULL;
}

/* Remembers why a plugin that serves nothing is broken (NULL: it is not);
 * a superseded load says nothing about the plugin. */
static void set_load_error(mh_plugin *p, const mh_error *err) {
  if (err && strcmp(err->code, MH_ERR_CANCELLED) == 0) return;
  free(p->load_error);
  p->load_error = err ? strdup(err->message) : NULL; /* NULL also when memory runs out: a plain not_found */
}

mh_error *mh_plugin_not_found(mh_host *host, const char *name, const char *prefix) {
  size_t n = strcspn(name, ":");
  mh_list_each(pos, &host->plugins) {
    const mh_plugin *p = mh_container_of(pos, mh_plugin, link);
    if (name[n] == ':' && p->load_error && strlen(p->name) == n && strncmp(p->name, name, n) == 0)
      return mh_error_new(MH_ERR_NOT_FOUND, "%sfunction \"%s\" not found: plugin \"%s\" failed to load: %s", prefix,
                          name, p->name, p->load_error);
  }
  return mh_error_new(MH_ERR_NOT_FOUND, "%sfunction \"%s\" not found", prefix, name);
}

static void finish_load(load_op *op, mh_error *err) {
  mh_gen *g = op->gen;
  mh_plugin *p = g->plugin;
  mh_host *host = p->host;
  g->loading = false;
  mh_list_remove(&op->link);
  if (op->timer) mh_timer_stop(op->timer);
  if (op->why_stopped) { /* the engine's rpc_cancelled says less than why we stopped it */
    mh_error_free(err);
    err = op->why_stopped;
  }
  if (!err) err = commit(g);
  if (!err || !p->current) set_load_error(p, err);
  if (!err) {
    char gen[16];
    snprintf(gen, sizeof gen, "%u", g->number);
    mh_log_about(MH_LOG_INFO, "plugin", p->name, (const char *const[]){"generation", gen, NULL},
                 "loaded (generation %u)", g->number);
    mh_events_emit(host, &(mh_event){.kind = MH_EV_FUNCTIONS_CHANGED, .plugin = p->name, .generation = g->number});
  } else {
    if (strcmp(err->code, MH_ERR_CANCELLED) != 0) {
      mh_log_about(MH_LOG_ERROR, "plugin", p->name, (const char *const[]){"code", err->code, NULL},
                   "load failed (%s): %s%s", err->code, err->message,
                   p->current ? " (the previous version keeps serving)" : "");
      mh_events_emit(host, &(mh_event){.kind = MH_EV_PLUGIN_ERROR, .plugin = p->name, .err = err});
      mh_metrics_plugin_error(&host->metrics, p->name);
    }
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

/* Stops a load whose setup waits; its callback runs before this returns.
 * why (taken) becomes the load's error. */
static void stop_load(load_op *op, mh_error *why) {
  if (!op->ecall || op->why_stopped) {
    mh_error_free(why);
    return;
  }
  op->why_stopped = why;
  op->gen->plugin->host->engine->cancel(op->ecall);
}

static void on_setup_timeout(void *ud) {
  load_op *op = ud;
  op->timer = NULL; /* it freed itself */
  uint32_t ms = op->gen->plugin->host->cfg->lua.setup_timeout_ms;
  stop_load(op, mh_error_new(MH_ERR_TIMEOUT, "setup did not finish within %u ms (lua.setup_timeout_ms): stopped "
                                             "while it waited",
                             ms));
}

/* Stops the loads under way of p (every plugin's when p is NULL); each
 * fails with rpc_cancelled and why. */
static void stop_loads(mh_host *host, mh_plugin *p, const char *why) {
  for (;;) {
    load_op *found = NULL;
    mh_list_each(pos, &host->loads) {
      load_op *op = mh_container_of(pos, load_op, link);
      if ((!p || op->gen->plugin == p) && op->ecall && !op->why_stopped) found = op;
    }
    if (!found) return;
    mh_log_info("plugin", "%s: load of generation %u stopped: %s", found->gen->plugin->name, found->gen->number, why);
    stop_load(found, mh_error_new(MH_ERR_CANCELLED, "%s", why));
  }
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
  stop_loads(host, p, "superseded by a newer load"); /* it would be discarded anyway */
  g->plugin = p;
  g->number = ++p->next_number;
  g->refs = 1;
  g->loading = true;
  p->gens++;
  op->gen = g;
  op->cb = cb;
  op->ud = ud;
  mh_list_insert_tail(&host->loads, &op->link);
  mh_error *err = NULL;
  g->engine = host->engine->create(g, &err);
  if (!g->engine) {
    finish_load(op, err);
    return;
  }
  uint32_t ms = host->cfg->lua.setup_timeout_ms;
  if (ms) op->timer = mh_timer_start(host->loop, ms, on_setup_timeout, op);
  mh_engine_call *ec = host->engine->load(g->engine, on_engine_loaded, op);
  if (ec) op->ecall = ec; /* else op is gone, or the engine cannot stop it */
}

void mh_plugin_unload(mh_plugin *p) {
  stop_loads(p->host, p, "the plugin was unloaded");
  p->next_number++; /* a load still running is superseded */
  free(p->load_error); /* gone, not broken */
  p->load_error = NULL;
  if (!p->current) return;
  mh_gen *g = p->current;
  p->current = NULL;
  mh_registry_remove_gen(&p->host->registry, g);
  mh_log_about(MH_LOG_INFO, "plugin", p->name, NULL, "unloaded");
  mh_events_emit(p->host, &(mh_event){.kind = MH_EV_FUNCTIONS_CHANGED, .plugin = p->name});
  gen_retire(g);
}

/* ---- finding plugins ------------------------------------------------ */

static void plugin_free(mh_plugin *p) {
  free(p->name);
  free(p->path);
  free(p->load_error);
  free(p->dir);
  free(p);
}

mh_plugin *mh_plugin_find(mh_host *host, const char *name) {
  mh_list_each(pos, &host->plugins) {
    mh_plugin *p = mh_container_of(pos, mh_plugin, link);
    if (strcmp(p->name, name) == 0) return p;
  }
  return NULL;
}

static int replace_str(char **slot, const char *s) {
  char *copy = strdup(s);
  if (!copy) return -1;
  free(*slot);
  *slot = copy;
  return 0;
}

mh_plugin *mh_plugin_get(mh_host *host, const char *name, const char *path, const char *dir) {
  mh_plugin *p = mh_plugin_find(host, name);
  if (p) return replace_str(&p->path, path) || replace_str(&p->dir, dir) ? NULL : p;
  p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->host = host;
  p->name = strdup(name);
  p->path = strdup(path);
  p->dir = strdup(dir);
  if (!p->name || !p->path || !p->dir) {
    plugin_free(p);
    return NULL;
  }
  mh_list_insert_tail(&host->plugins, &p->link);
  return p;
}

static bool is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* A plugin name is what a function name's prefix usually is: keep it plain. */
static bool valid_name(const char *s, size_t n) {
  if (n == 0 || s[0] == '.') return false;
  for (size_t i = 0; i < n; i++)
    if (!(s[i] == '-' || s[i] == '_' || s[i] == '.' || (s[i] >= '0' && s[i] <= '9') ||
          (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
      return false;
  return true;
}

bool mh_plugin_entry(const char *plugins_dir, const char *entry, char *name, size_t name_len, char *path,
                     size_t path_len, char *dir, size_t dir_len) {
  size_t len = strlen(entry);
  if (len > 4 && strcmp(entry + len - 4, ".lua") == 0 && valid_name(entry, len - 4)) {
    snprintf(name, name_len, "%.*s", (int)(len - 4), entry);
    snprintf(path, path_len, "%s/%s", plugins_dir, entry);
    snprintf(dir, dir_len, "%s", plugins_dir);
  } else {
    if (!valid_name(entry, len)) return false;
    snprintf(name, name_len, "%s", entry);
    snprintf(path, path_len, "%s/%s/init.lua", plugins_dir, entry);
    snprintf(dir, dir_len, "%s/%s", plugins_dir, entry);
  }
  return is_file(path);
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

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
  if (n) qsort(names, n, sizeof *names, by_name);
  int count = 0;
  for (size_t i = 0; i < n; i++) {
    char name[256], path[4096], pdir[4096];
    if (mh_plugin_entry(dir, names[i], name, sizeof name, path, sizeof path, pdir, sizeof pdir)) {
      if (mh_plugin_find(host, name)) {
        mh_log_warn("plugin", "%s: both %s.lua and %s/init.lua exist; using the first", name, name, name);
      } else {
        mh_plugin *p = mh_plugin_get(host, name, path, pdir);
        if (p) {
          count++;
          mh_plugin_load(p, cb, ud);
        }
      }
    }
    free(names[i]);
  }
  free(names);
  return count;
}

void mh_plugins_quiesce(mh_host *host) {
  stop_loads(host, NULL, "the host is shutting down"); /* a setup that waits would keep the loop alive */
  mh_list_each(pos, &host->plugins) {
    mh_plugin *p = mh_container_of(pos, mh_plugin, link);
    if (p->current && p->current->engine) host->engine->retire(p->current->engine);
  }
}

void mh_plugins_unload_all(mh_host *host) {
  mh_list_each_safe(pos, &host->plugins) {
    mh_plugin *p = mh_container_of(pos, mh_plugin, link);
    mh_plugin_unload(p);
    mh_list_remove(&p->link);
    p->link.next = p->link.prev = NULL; /* forgotten: freed with its last generation */
    if (p->gens == 0) plugin_free(p);
  }
}
