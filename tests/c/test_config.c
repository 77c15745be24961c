/* Configuration: merge, schema checks, listen parsing, conf.d loading and
 * the Lua sandbox fragments are evaluated in. Runs from the repo root. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/config.h"
#include "moonhost_lua.h"

/* ---- helpers ---- */

static bool has(const char *s, const char *part) { return s && strstr(s, part); }

static bool starts(const char *s, const char *prefix) {
  return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

static mh_value *obj1(const char *key, mh_value *take) {
  mh_value *o = mh_value_new(MH_V_OBJECT);
  mh_value_obj_set(o, key, take);
  return o;
}

static const mh_value *at(const mh_value *v, const char *k1, const char *k2) {
  v = mh_value_obj_get(v, k1);
  return k2 ? mh_value_obj_get(v, k2) : v;
}

/* mh_config_check on a fragment (taken); returns the message or NULL. */
static char *check_msg(mh_value *frag) {
  char *err = NULL;
  int rc = mh_config_check(frag, "f.lua", &err);
  mh_value_free(frag);
  CHECK((rc == 0) == (err == NULL));
  return err;
}

static bool check_says(mh_value *frag, const char *want) {
  char *err = check_msg(frag);
  bool ok = want ? err && strcmp(err, want) == 0 : err == NULL;
  if (!ok) fprintf(stderr, "  got:  %s\n  want: %s\n", err ? err : "(ok)", want ? want : "(ok)");
  free(err);
  return ok;
}

static char tmpdir[64];

static void put(const char *name, const char *text) {
  char path[128];
  snprintf(path, sizeof path, "%s/%s", tmpdir, name);
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  if (!f) return;
  fputs(text, f);
  fclose(f);
}

/* Empties and removes tmpdir. Unlinking while reading a directory may skip
 * entries on some file systems, hence the passes. */
static void remove_dir(void) {
  char path[512];
  for (int pass = 0; pass < 5 && rmdir(tmpdir) != 0; pass++) {
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    while (d && (e = readdir(d)))
      if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
        snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
        unlink(path);
      }
    if (d) closedir(d);
  }
}

static void fresh_dir(void) {
  if (tmpdir[0]) remove_dir();
  strcpy(tmpdir, "/tmp/mhcfgXXXXXX");
  CHECK(mkdtemp(tmpdir) != NULL);
}

/* Loads tmpdir holding one fragment; returns the error (NULL on success). */
static char *load_one(const char *text, mh_config *cfg) {
  char *err = NULL;
  fresh_dir();
  put("10-x.lua", text);
  if (mh_config_load(cfg, mh_config_eval_file, tmpdir, true, &err) == 0) return NULL;
  CHECK(err != NULL);
  return err ? err : strdup("(no message)");
}

static bool load_fails(const char *text, const char *part1, const char *part2) {
  mh_config cfg;
  char file[96], *err = load_one(text, &cfg);
  if (!err) mh_config_free(&cfg);
  snprintf(file, sizeof file, "%s/10-x.lua", tmpdir);
  bool ok = starts(err, file) && has(err, part1) && (!part2 || has(err, part2));
  if (!ok) fprintf(stderr, "  fragment: %s\n  error: %s\n", text, err ? err : "(none)");
  free(err);
  return ok;
}

/* ---- merge ---- */

static void test_merge(void) {
  mh_value *dst = mh_value_new(MH_V_OBJECT), *src = mh_value_new(MH_V_OBJECT);
  mh_value *a = mh_value_new(MH_V_OBJECT), *arr = mh_value_new(MH_V_ARRAY);
  mh_value_obj_set(a, "x", mh_value_int(1));
  mh_value_obj_set(a, "y", mh_value_int(2));
  mh_value_obj_set(dst, "a", a);
  mh_value_push(arr, mh_value_int(1));
  mh_value_push(arr, mh_value_int(2));
  mh_value_obj_set(dst, "arr", arr);
  mh_value_obj_set(dst, "s", mh_value_cstring("old"));
  mh_value_obj_set(dst, "o", mh_value_int(5));

  mh_value *sa = obj1("y", mh_value_int(3)), *sarr = mh_value_new(MH_V_ARRAY);
  mh_value_obj_set(sa, "z", mh_value_int(4));
  mh_value_obj_set(src, "a", sa);
  mh_value_push(sarr, mh_value_int(9));
  mh_value_obj_set(src, "arr", sarr);
  mh_value_obj_set(src, "s", mh_value_cstring("new"));
  mh_value_obj_set(src, "o", obj1("k", mh_value_bool(true))); /* table replaces a scalar */

  CHECK(mh_config_merge(dst, src) == 0);
  mh_value_free(src); /* dst must own copies */
  CHECK(at(dst, "a", "x")->u.i == 1);
  CHECK(at(dst, "a", "y")->u.i == 3);
  CHECK(at(dst, "a", "z")->u.i == 4);
  CHECK(at(dst, "arr", NULL)->u.arr.len == 1 && at(dst, "arr", NULL)->u.arr.items[0]->u.i == 9);
  CHECK(strcmp(at(dst, "s", NULL)->u.str.ptr, "new") == 0);
  CHECK(at(dst, "o", "k") && at(dst, "o", "k")->u.b);
  mh_value_free(dst);
}

/* ---- check ---- */

static void test_check(void) {
  CHECK(check_says(obj1("limits", obj1("max_mesage_bytes", mh_value_int(1))),
                   "f.lua: unknown key 'limits.max_mesage_bytes', did you mean "
                   "'limits.max_message_bytes'?"));
  CHECK(check_says(obj1("max_connections", mh_value_int(1)),
                   "f.lua: unknown key 'max_connections', did you mean 'limits.max_connections'?"));
  CHECK(check_says(obj1("zzzzzz", mh_value_int(1)), "f.lua: unknown key 'zzzzzz'"));
  CHECK(check_says(obj1("limits", obj1("max_message_bytes", mh_value_cstring("big"))),
                   "f.lua: limits.max_message_bytes: expected an integer between 1024 and "
                   "1073741824, got string"));
  CHECK(check_says(obj1("limits", obj1("max_message_bytes", mh_value_int(100))),
                   "f.lua: limits.max_message_bytes: expected an integer between 1024 and "
                   "1073741824, got 100"));
  CHECK(check_says(obj1("limits", obj1("max_connections", mh_value_int(0))),
                   "f.lua: limits.max_connections: expected an integer >= 1, got 0"));
  CHECK(check_says(obj1("limits", obj1("max_connections", mh_value_float(2.5))),
                   "f.lua: limits.max_connections: expected an integer >= 1, got 2.5"));
  CHECK(check_says(obj1("limits", obj1("max_connections", mh_value_float(2048.0))), NULL));
  CHECK(check_says(obj1("limits", mh_value_int(3)),
                   "f.lua: limits: expected a table with named keys, got integer"));
  CHECK(check_says(obj1("mode", mh_value_cstring("prod")),
                   "f.lua: mode: expected one of 'dev', 'build', got 'prod'"));
  CHECK(check_says(obj1("log", obj1("level", mh_value_cstring("trace"))), NULL));
  CHECK(check_says(obj1("root", mh_value_bool(true)),
                   "f.lua: root: expected a string, got boolean"));
  char *err = check_msg(obj1("listen", mh_value_cstring("localhost")));
  CHECK(starts(err, "f.lua: listen: expected 'HOST:PORT'") && has(err, "got 'localhost'"));
  free(err);

  /* plugins is free-form below it, but must be a table */
  mh_value *demo = obj1("greeting", mh_value_cstring("hi"));
  mh_value_obj_set(demo, "nested", obj1("anything", mh_value_new(MH_V_ARRAY)));
  CHECK(check_says(obj1("plugins", obj1("demo", demo)), NULL));
  CHECK(check_says(obj1("plugins", mh_value_cstring("demo")),
                   "f.lua: plugins: expected a table with named keys, got string"));
  CHECK(check_says(mh_value_int(1), "f.lua: must return a table"));
}

/* auth.tokens: 'TOKEN' or {token=, roles={...}} (roles granted per token). */
static mh_value *tokens_with(mh_value *entry) {
  mh_value *list = mh_value_new(MH_V_ARRAY);
  mh_value_push(list, mh_value_cstring("plain"));
  mh_value_push(list, entry);
  return obj1("auth", obj1("tokens", list));
}

static void test_check_tokens(void) {
  mh_value *roles = mh_value_new(MH_V_ARRAY), *granted = obj1("token", mh_value_cstring("t"));
  mh_value_push(roles, mh_value_cstring("admin"));
  mh_value_obj_set(granted, "roles", roles);
  CHECK(check_says(tokens_with(granted), NULL));
  CHECK(check_says(tokens_with(obj1("token", mh_value_cstring("t"))), NULL)); /* no roles: a plain token */
  static const char *const bad = "f.lua: auth.tokens[2]: expected a non-empty string or {token = 'TOKEN', roles = "
                                 "{'ROLE', ...}}, got ";
  char want[256];
  snprintf(want, sizeof want, "%stable", bad);
  CHECK(check_says(tokens_with(obj1("roles", mh_value_new(MH_V_ARRAY))), want)); /* no token */
  mh_value *typo = obj1("token", mh_value_cstring("t"));
  mh_value_obj_set(typo, "role", mh_value_cstring("admin")); /* role, not roles: would grant nothing */
  CHECK(check_says(tokens_with(typo), want));
  mh_value *not_list = obj1("token", mh_value_cstring("t"));
  mh_value_obj_set(not_list, "roles", mh_value_cstring("admin"));
  CHECK(check_says(tokens_with(not_list), want));
  snprintf(want, sizeof want, "%sinteger", bad);
  CHECK(check_says(tokens_with(mh_value_int(5)), want));
}

/* ---- listen ---- */

static bool listen_is(const char *s, const char *host, int port) {
  char *h = NULL;
  int p = -1;
  bool ok = mh_config_parse_listen(s, &h, &p) == 0 && strcmp(h, host) == 0 && p == port;
  free(h);
  return ok;
}

static bool listen_bad(const char *s) {
  char *h = NULL;
  int p = -1;
  return mh_config_parse_listen(s, &h, &p) == -1 && h == NULL;
}

static void test_listen(void) {
  CHECK(listen_is("127.0.0.1:7812", "127.0.0.1", 7812));
  CHECK(listen_is("[::1]:80", "::1", 80));
  CHECK(listen_is(":0", "127.0.0.1", 0));
  CHECK(listen_is("localhost:65535", "localhost", 65535));
  CHECK(listen_bad("127.0.0.1"));
  CHECK(listen_bad("127.0.0.1:"));
  CHECK(listen_bad("127.0.0.1:70000"));
  CHECK(listen_bad("127.0.0.1:-1"));
  CHECK(listen_bad("127.0.0.1:80x"));
  CHECK(listen_bad(""));
  CHECK(listen_bad(":"));
  CHECK(listen_bad("::1:80"));
  CHECK(listen_bad("[::1]"));
  CHECK(listen_bad("[]:80"));
  CHECK(listen_bad("[::1]80"));
  CHECK(listen_bad("a b:80"));
}

/* ---- defaults and apply ---- */

static void test_apply(void) {
  mh_value *d = mh_config_defaults();
  mh_config cfg = {0};
  char *err = NULL;
  CHECK(d && mh_config_check(d, "defaults", &err) == 0 && err == NULL);
  CHECK(mh_config_apply(&cfg, d, &err) == 0);
  CHECK(strcmp(cfg.listen_host, "127.0.0.1") == 0 && cfg.listen_port == 7812);
  char *cwd = getcwd(NULL, 0);
  /* root "." is applied as the working directory: ctx.root is absolute. */
  CHECK(strcmp(cfg.plugins_dir, "plugins") == 0 && cwd && strcmp(cfg.root, cwd) == 0);
  free(cwd);
  CHECK(strcmp(cfg.mode, "dev") == 0 && cfg.log_level == MH_LOG_INFO);
  CHECK(cfg.limits.max_message_bytes == 1048576 && cfg.limits.max_inflight_per_client == 256);
  CHECK(cfg.limits.max_connections == 10000 && cfg.limits.send_queue_bytes == 16777216);
  CHECK(cfg.limits.untrusted_max_message_bytes == 131072 && cfg.limits.untrusted_calls_per_s == 20);
  CHECK(cfg.limits.call_timeout_ms == 10000 && cfg.limits.json_max_depth == 128);
  CHECK(cfg.lua.instruction_budget == 100000000 && cfg.lua.memory_bytes == 268435456);
  CHECK(cfg.cache.max_entries == 1024 && cfg.cache.max_bytes == 67108864);
  CHECK(cfg.plugins && cfg.plugins->type == MH_V_OBJECT && cfg.plugins->u.obj.len == 0);
  CHECK(mh_value_equal(cfg.tree, d));

  /* flags-style override: merge into cfg.tree and apply it to itself */
  mh_value *flags = obj1("log", obj1("level", mh_value_cstring("debug")));
  mh_value_obj_set(flags, "listen", mh_value_cstring("[::]:9000"));
  CHECK(mh_config_merge(cfg.tree, flags) == 0);
  CHECK(mh_config_apply(&cfg, cfg.tree, &err) == 0);
  CHECK(cfg.log_level == MH_LOG_DEBUG && strcmp(cfg.listen_host, "::") == 0);
  CHECK(cfg.listen_port == 9000 && cfg.limits.max_connections == 10000);
  mh_value_free(flags);

  /* a partial tree takes defaults for what it lacks; a bad one is refused */
  mh_value *part = obj1("limits", obj1("max_connections", mh_value_int(7)));
  CHECK(mh_config_apply(&cfg, part, &err) == 0);
  CHECK(cfg.limits.max_connections == 7 && cfg.limits.json_max_depth == 128);
  CHECK(cfg.listen_port == 7812 && cfg.plugins != NULL);
  mh_value_free(part);
  mh_value *bad = obj1("mode", mh_value_cstring("x"));
  CHECK(mh_config_apply(&cfg, bad, &err) == -1 && starts(err, "mode: expected one of"));
  CHECK(cfg.limits.max_connections == 7); /* unchanged on failure */
  free(err);
  mh_value_free(bad);
  mh_config_free(&cfg);
  mh_value_free(d);
}

/* ---- loading ---- */

static void test_load_order(void) {
  mh_config cfg;
  char *err = NULL;
  fresh_dir();
  put("20-b.lua", "return { listen = ':2000', plugins = { demo = { b = 2 } } }");
  put("10-a.lua", "return { listen = ':1000', limits = { max_connections = 5 },\n"
                  "  plugins = { demo = { a = 1, list = {1, 2, 3}, none = {} } } }");
  put("README.md", "not lua");
  put(".#30-lock.lua", "return 1");
  CHECK(mh_config_load(&cfg, mh_config_eval_file, tmpdir, true, &err) == 0 && err == NULL);
  if (err) fprintf(stderr, "  error: %s\n", err);
  free(err);
  CHECK(cfg.listen_port == 2000 && cfg.limits.max_connections == 5);
  const mh_value *demo = mh_value_obj_get(cfg.plugins, "demo");
  CHECK(at(demo, "a", NULL) && at(demo, "a", NULL)->u.i == 1);
  CHECK(at(demo, "b", NULL) && at(demo, "b", NULL)->u.i == 2);
  CHECK(at(demo, "list", NULL) && at(demo, "list", NULL)->type == MH_V_ARRAY &&
        at(demo, "list", NULL)->u.arr.len == 3);
  CHECK(at(demo, "none", NULL) && at(demo, "none", NULL)->type == MH_V_OBJECT);
  mh_config_free(&cfg);
}

static void test_load_dirs(void) {
  mh_config cfg;
  char *err = NULL;
  CHECK(mh_config_load(&cfg, mh_config_eval_file, "/nonexistent/mh-conf.d", false, &err) == 0);
  CHECK(cfg.listen_port == 7812);
  mh_config_free(&cfg);
  CHECK(mh_config_load(&cfg, mh_config_eval_file, "/nonexistent/mh-conf.d", true, &err) == -1);
  CHECK(err && strcmp(err, "config directory '/nonexistent/mh-conf.d' not found") == 0);
  free(err);
}

static void test_load_errors(void) {
  CHECK(load_fails("return {\n  a = 1,\n  b = = 2\n}\n", "10-x.lua:3:", NULL));
  CHECK(load_fails("return 42", "must return a table", NULL));
  CHECK(load_fails("return { 'a', 'b' }", "must return a table", NULL));
  CHECK(load_fails("return { limits = { max_mesage_bytes = 1 } }",
                   ": unknown key 'limits.max_mesage_bytes'", "limits.max_message_bytes"));
  CHECK(load_fails("return { limits = { max_message_bytes = 'x' } }",
                   ": limits.max_message_bytes: expected an integer between", "got string"));
  CHECK(load_fails("while true do end", "took too long (instruction limit)", NULL));
  CHECK(load_fails("while true do pcall(function() while true do end end) end",
                   "took too long (instruction limit)", NULL));
  CHECK(load_fails("return { root = io.open('x') }", "nil", "'io'"));
  CHECK(load_fails("os.execute('true') return {}", "nil", "'execute'"));
  CHECK(load_fails("require('x') return {}", "nil", "'require'"));
  CHECK(load_fails("load('return 1') return {}", "nil", "'load'"));
  CHECK(load_fails("return { plugins = { f = print } }", ": plugins.f: cannot use a function",
                   NULL));
  CHECK(load_fails("local t = {} t.self = t return { plugins = { t = t } }",
                   ": cycle or nesting deeper than 64 at plugins.t.self.self", NULL));
  CHECK(load_fails("return { plugins = { x = { 1, 2, k = 3 } } }", "plugins.x: table mixes",
                   NULL));
  CHECK(load_fails("return { plugins = { x = '\\xff' } }", "plugins.x: string is not valid UTF-8",
                   NULL));
  CHECK(load_fails("return { plugins = { ['\\xff'] = 1 } }", "plugins: key is not valid UTF-8",
                   NULL));
  CHECK(load_fails("return { listen = ':80\\0' }", "listen: expected 'HOST:PORT'", NULL));
  CHECK(load_fails("return { root = string.rep('x', 1 << 30) }", "not enough memory", NULL));
  CHECK(load_fails("\x1bLua\x54\x00garbage", "binary chunk", NULL));
  CHECK(load_fails("error('boom', 0)", ": boom", NULL));
}

static void test_load_sandbox(void) {
  mh_config cfg;
  setenv("MH_TEST_TOKEN", "s3cret", 1);
  char *err = load_one("print('hello from', 'config')\n"
                       "local keep = rawget(_G, 'rawset') and os.time() and os.date('%Y')\n"
                       "return { plugins = { demo = { token = os.getenv('MH_TEST_TOKEN'),\n"
                       "  f = 2^10, keep = keep ~= nil } } }",
                       &cfg);
  CHECK(err == NULL);
  if (err) {
    fprintf(stderr, "  error: %s\n", err);
    free(err);
    return;
  }
  const mh_value *demo = mh_value_obj_get(cfg.plugins, "demo");
  const mh_value *token = at(demo, "token", NULL);
  CHECK(token && token->type == MH_V_STRING && strcmp(token->u.str.ptr, "s3cret") == 0);
  CHECK(at(demo, "f", NULL) && at(demo, "f", NULL)->type == MH_V_FLOAT);
  CHECK(at(demo, "keep", NULL) && at(demo, "keep", NULL)->u.b);
  mh_config_free(&cfg);
}

/* The shipped conf.d documents the defaults and must equal them. */
static void test_shipped(void) {
  mh_config cfg;
  char *err = NULL;
  mh_value *d = mh_config_defaults();
  mh_value *file = mh_config_eval_file("conf.d/00-defaults.lua", &err);
  CHECK(file != NULL && mh_value_equal(file, d));
  if (err) fprintf(stderr, "  error: %s\n", err);
  free(err);
  err = NULL;
  int rc = mh_config_load(&cfg, mh_config_eval_file, "conf.d", true, &err);
  CHECK(rc == 0 && !err);
  if (err) fprintf(stderr, "  error: %s\n", err);
  free(err);
  if (rc == 0) {
    CHECK(mh_value_equal(cfg.tree, d));
    mh_config_free(&cfg);
  }
  mh_value_free(file);
  mh_value_free(d);
}

/* Found by fuzz_config: both used to slip past the checks. */
static void test_fuzz_findings(void) {
  CHECK(load_fails("return { ['auth.tokens'] = { 'x' } }\n", "has a dot", "auth.tokens"));
  CHECK(load_fails("return setmetatable({}, { __gc = function() while true do end end })\n", "__gc", NULL));
}

int main(void) {
  test_fuzz_findings();
  test_merge();
  test_check();
  test_check_tokens();
  test_listen();
  test_apply();
  test_load_order();
  test_load_dirs();
  test_load_errors();
  test_load_sandbox();
  test_shipped();
  if (tmpdir[0]) remove_dir();
  return check_failures ? 1 : 0;
}
