#include "app/hotreload.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "call/host.h"
#include "core/log.h"
#include "app/watch.h"
#include "transport/server.h"

/* Loads, reloads or unloads the plugin a plugins-dir entry names. Returns
 * 1 when a load started, 0 otherwise. */
static int sync_entry(mh_host *h, const char *entry, mh_plugin_loaded_cb cb, void *ud) {
  char name[256], path[4096], dir[4096];
  if (mh_plugin_entry(h->cfg->plugins_dir, entry, name, sizeof name, path, sizeof path, dir, sizeof dir)) {
    mh_plugin *p = mh_plugin_get(h, name, path, dir);
    if (!p) return 0;
    mh_log_info("reload", "%s: %s", name, p->current ? "reloading" : "loading");
    mh_plugin_load(p, cb, ud);
    return 1;
  }
  /* No plugin file for this entry any more: NAME.lua deleted, or NAME/init.lua. */
  size_t n = strlen(entry);
  if (n > 4 && strcmp(entry + n - 4, ".lua") == 0) n -= 4;
  snprintf(name, sizeof name, "%.*s", (int)n, entry);
  mh_plugin *p = mh_plugin_find(h, name);
  if (p && p->current) mh_plugin_unload(p);
  return 0;
}

static void on_plugins_changed(void *ud, const mh_watch_event *ev, size_t n) {
  mh_host *h = ud;
  /* The first path segment names the plugin: "demo.lua" or "demo/util.lua". */
  char last[256] = "";
  for (size_t i = 0; i < n; i++) {
    char entry[256];
    size_t seg = strcspn(ev[i].path, "/");
    if (seg >= sizeof entry) continue;
    memcpy(entry, ev[i].path, seg);
    entry[seg] = '\0';
    if (ev[i].path[seg] == '\0' && (seg < 5 || strcmp(entry + seg - 4, ".lua") != 0)) continue;
    if (strcmp(entry, last) == 0) continue; /* events come sorted: one reload per plugin */
    snprintf(last, sizeof last, "%s", entry);
    sync_entry(h, entry, NULL, NULL);
  }
}

/* Which plugins' settings differ between two configurations. */
static void reload_changed_settings(mh_host *h, const mh_value *before) {
  mh_list_each(pos, &h->plugins) {
    mh_plugin *p = mh_container_of(pos, mh_plugin, link);
    const mh_value *a = before ? mh_value_obj_get(before, p->name) : NULL;
    const mh_value *b = mh_value_obj_get(h->cfg->plugins, p->name);
    if (!p->current || (!a && !b) || (a && b && mh_value_equal(a, b))) continue;
    mh_log_info("reload", "%s: settings changed, reloading", p->name);
    mh_plugin_load(p, NULL, NULL);
  }
}

/* listen is read once, at start: a changed one is reported, and next keeps
 * the address being served (the Host check and the mesh id read it). */
static void keep_listen(const mh_host *h, mh_config *next) {
  const mh_config *now = h->cfg;
  const char *was = now->listen_in_files, *is = next->listen_in_files;
  if (was && is && strcmp(was, is) != 0)
    mh_log_warn("reload", "listen changed in conf.d to %s, but --listen on the command line decides: restart "
                "moonhost without it to use conf.d's", is);
  if (next->listen_port != now->listen_port || strcmp(next->listen_host, now->listen_host) != 0) {
    const char *served = h->server ? mh_server_address(h->server) : now->listen_host;
    bool v6 = strchr(served, ':') != NULL;
    mh_log_warn("reload", "listen changed to %s: restart moonhost to apply it (it keeps serving %s%s%s:%d)",
                mh_config_lookup(next->tree, "listen")->u.str.ptr, v6 ? "[" : "", served, v6 ? "]" : "",
                h->server ? mh_server_port(h->server) : now->listen_port);
  }
  char *host = strdup(now->listen_host);
  if (!host) return; /* out of memory: next's address stands, the server does not move */
  free(next->listen_host);
  next->listen_host = host;
  next->listen_port = now->listen_port;
}

/* Reads the configuration again; keeps the old one when the new one is bad. */
static int reload_config(mh_host *h, bool reload_plugins) {
  mh_config next;
  char *msg = NULL;
  if (mh_config_load_with(&next, h->parts->eval_config, h->config_dir, h->config_required, h->config_overlay,
                          "command line", &msg)) {
    mh_log_error("reload", "configuration not reloaded, the previous one stays: %s", msg ? msg : "error");
    free(msg);
    return -1;
  }
  keep_listen(h, &next);
  mh_config old = *h->cfg;
  *h->cfg = next;
  h->codec_limits.max_depth = h->cfg->limits.json_max_depth;
  mh_log_set_level(h->cfg->log_level);
  mh_log_set_format(mh_log_format_parse(h->cfg->log_format));
  mh_log_info("reload", "configuration reloaded from %s", h->config_dir);
  if (reload_plugins) reload_changed_settings(h, old.plugins);
  mh_config_free(&old);
  return 0;
}

static void on_config_changed(void *ud, const mh_watch_event *ev, size_t n) {
  (void)ev, (void)n;
  reload_config(ud, true);
}

static mh_watch *watch_dir(mh_host *h, const char *dir, const char *const *patterns, mh_watch_cb cb) {
  const char *err = NULL;
  mh_watch_opts opts = {.debounce_ms = 20, .patterns = patterns};
  mh_watch *w = mh_watch_start(h->loop, dir, &opts, cb, h, &err);
  if (!w) mh_log_warn("reload", "not watching %s: %s", dir, err ? err : "error");
  return w;
}

int mh_hotreload_start(mh_host *h) {
  static const char *const lua_files[] = {"**/*.lua", NULL};
  h->plugins_watch = watch_dir(h, h->cfg->plugins_dir, lua_files, on_plugins_changed);
  if (h->config_dir) {
    DIR *d = opendir(h->config_dir);
    if (d) {
      closedir(d);
      h->config_watch = watch_dir(h, h->config_dir, lua_files, on_config_changed);
    }
  }
  /* From here on a change is seen (tests wait for this line). */
  mh_log_debug("reload", "watching %s%s%s", h->plugins_watch ? h->cfg->plugins_dir : "no plugins directory",
               h->config_watch ? " and " : "", h->config_watch ? h->config_dir : "");
  return 0;
}

void mh_hotreload_stop(mh_host *h) {
  if (h->plugins_watch) mh_watch_stop(h->plugins_watch);
  if (h->config_watch) mh_watch_stop(h->config_watch);
  h->plugins_watch = h->config_watch = NULL;
}

int mh_hotreload_now(mh_host *h, const char *name, mh_plugin_loaded_cb cb, void *ud) {
  if (name) {
    mh_plugin *p = mh_plugin_find(h, name);
    if (!p) return -1;
    mh_plugin_load(p, cb, ud);
    return 1;
  }
  reload_config(h, false);
  int started = 0;
  /* Every entry of the directory, then every known plugin whose file is gone. */
  DIR *d = opendir(h->cfg->plugins_dir);
  for (struct dirent *de; d && (de = readdir(d));)
    if (de->d_name[0] != '.') started += sync_entry(h, de->d_name, cb, ud);
  if (d) closedir(d);
  mh_list_each_safe(pos, &h->plugins) {
    mh_plugin *p = mh_container_of(pos, mh_plugin, link);
    char entry[300];
    snprintf(entry, sizeof entry, "%s.lua", p->name);
    char n2[256], path[4096], dir[4096];
    if (p->current && !mh_plugin_entry(h->cfg->plugins_dir, entry, n2, sizeof n2, path, sizeof path, dir, sizeof dir) &&
        !mh_plugin_entry(h->cfg->plugins_dir, p->name, n2, sizeof n2, path, sizeof path, dir, sizeof dir))
      mh_plugin_unload(p);
  }
  return started;
}
