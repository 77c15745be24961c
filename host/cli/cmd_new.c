/* `moonhost new plugin NAME [--dir DIR]`: writes DIR/NAME.lua (a query and
 * an action) and DIR/spec/NAME_spec.lua (a spec that passes), so a new
 * plugin starts tested. Existing files are never overwritten. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cmds.h"

static const char plugin_template[] =
  "-- @NAME@: a moonhost plugin (docs/plugins.md). Its spec is spec/@NAME@_spec.lua;\n"
  "-- run it with `moonhost test`.\n"
  "local moonhost = require 'moonhost'\n"
  "\n"
  "return moonhost.plugin {\n"
  "  name = '@NAME@',\n"
  "  -- What the plugin sends to clients, for `moonhost types`.\n"
  "  client_functions = { ['@NAME@:greeted'] = { args = { 'string' }, params = { 'text' } } },\n"
  "  setup = function(ctx)\n"
  "    local greeting = ctx.config.greeting or 'hello' -- plugins['@NAME@'].greeting in conf.d\n"
  "    local count = 0\n"
  "\n"
  "    -- A query: cached until the action below invalidates it.\n"
  "    ctx.rpc.register(moonhost.define_rpc_function {\n"
  "      name = '@NAME@:count',\n"
  "      type = 'query',\n"
  "      cache = true,\n"
  "      args = {},\n"
  "      returns = 'integer',\n"
  "      handler = function() return count end,\n"
  "    })\n"
  "\n"
  "    -- An action: always runs; tells every client.\n"
  "    ctx.rpc.register(moonhost.define_rpc_function {\n"
  "      name = '@NAME@:greet',\n"
  "      type = 'action',\n"
  "      args = { 'string' },\n"
  "      returns = 'string',\n"
  "      handler = function(who)\n"
  "        count = count + 1\n"
  "        ctx.rpc.invalidate('@NAME@:count')\n"
  "        local text = greeting .. ', ' .. who\n"
  "        ctx.rpc.broadcast('@NAME@:greeted', text)\n"
  "        return text\n"
  "      end,\n"
  "    })\n"
  "  end,\n"
  "}\n";

static const char spec_template[] =
  "-- Run with `moonhost test` (busted, with moonhost as the Lua interpreter).\n"
  "local testing = require 'moonhost.testing'\n"
  "\n"
  "describe('@NAME@', function()\n"
  "  before_each(function() testing.load_plugin('../@NAME@.lua') end)\n"
  "  after_each(testing.reset)\n"
  "\n"
  "  it('greets, counts and tells the clients', function()\n"
  "    local client = testing.connect_client()\n"
  "    assert.are.equal(0, testing.call('@NAME@:count'))\n"
  "    assert.are.equal('hello, you', testing.call('@NAME@:greet', 'you'))\n"
  "    assert.are.equal(1, testing.call('@NAME@:count'))\n"
  "    assert.are.equal('hello, you', client:wait_for('@NAME@:greeted'))\n"
  "  end)\n"
  "\n"
  "  it('refuses arguments of the wrong type', function()\n"
  "    local err = testing.error_of(testing.call, '@NAME@:greet', 42)\n"
  "    assert.are.equal('bad_request', err.code)\n"
  "    assert.are.equal('argument 1: expected string, got number', err.message)\n"
  "  end)\n"
  "end)\n";

/* A name that is a plugin file name and a function-name prefix, and that
 * the spec pattern (_spec) does not pick up as a spec. */
static const char *name_problem(const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n > 64) return "must be 1 to 64 characters";
  if (!((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z'))) return "must start with a letter";
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!(c == '-' || c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
      return "may hold only letters, digits, '-' and '_'";
  }
  if (strstr(name, "_spec")) return "must not contain '_spec' (spec files are found by that)";
  return NULL;
}

static bool exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

static int make_dir(const char *path) {
  if (mkdir(path, 0777) == 0 || errno == EEXIST) return 0;
  fprintf(stderr, "moonhost: cannot create %s: %s\n", path, strerror(errno));
  return -1;
}

/* Writes tmpl with every @NAME@ replaced; "x" refuses an existing file. */
static int write_template(const char *path, const char *tmpl, const char *name) {
  FILE *f = fopen(path, "wx");
  if (!f) {
    fprintf(stderr, "moonhost: cannot create %s: %s\n", path, strerror(errno));
    return -1;
  }
  static const char mark[] = "@NAME@";
  for (const char *p = tmpl, *hit; *p; p = hit + sizeof mark - 1) {
    hit = strstr(p, mark);
    if (!hit) {
      fputs(p, f);
      break;
    }
    fwrite(p, 1, (size_t)(hit - p), f);
    fputs(name, f);
  }
  return fclose(f) == 0 ? 0 : -1;
}

int mh_cmd_new(const mh_cli *cli) {
  if (cli->nrest != 2 || strcmp(cli->rest[0], "plugin") != 0) {
    fprintf(stderr, "moonhost: usage: moonhost new plugin NAME [--dir DIR]\n");
    return 2;
  }
  const char *name = cli->rest[1], *dir = cli->dir ? cli->dir : "plugins";
  const char *why = name_problem(name);
  if (why) {
    fprintf(stderr, "moonhost: plugin name '%s' %s\n", name, why);
    return 2;
  }
  char plugin[4096], spec_dir[4096], spec[4096], as_dir[4096];
  size_t max = sizeof plugin;
  if ((size_t)snprintf(plugin, max, "%s/%s.lua", dir, name) >= max ||
      (size_t)snprintf(as_dir, max, "%s/%s", dir, name) >= max ||
      (size_t)snprintf(spec_dir, max, "%s/spec", dir) >= max ||
      (size_t)snprintf(spec, max, "%s/spec/%s_spec.lua", dir, name) >= max) {
    fprintf(stderr, "moonhost: the path is too long: %s\n", dir);
    return 2;
  }
  const char *taken = exists(plugin) ? plugin : exists(as_dir) ? as_dir : exists(spec) ? spec : NULL;
  if (taken) {
    fprintf(stderr, "moonhost: %s already exists; not overwriting anything\n", taken);
    return 1;
  }
  if (make_dir(dir) || make_dir(spec_dir)) return 1;
  if (write_template(plugin, plugin_template, name)) return 1;
  if (write_template(spec, spec_template, name)) {
    remove(plugin); /* both or neither */
    return 1;
  }
  printf("created %s\ncreated %s\nrun its spec: moonhost test %s\n", plugin, spec, spec);
  return 0;
}
