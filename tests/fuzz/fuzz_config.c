/* Configuration fragments: the input is written to a temporary file and
 * evaluated by mh_config_eval_file (bindings/api/lua_config.c: the sandbox, its
 * instruction and memory limits, the Lua -> value conversion), then
 * checked, merged over the defaults and applied (host/core/config.c).
 *
 * Invariants:
 *   - a refused fragment gets a message starting with "FILE:";
 *   - a fragment's value is a valid tree no deeper than the sandbox's
 *     limit of 64 tables;
 *   - mh_config_check either refuses with "FILE: ..." or accepts; an
 *     accepted fragment merged over the defaults passes the check again
 *     and mh_config_apply succeeds on it;
 *   - every setting an accepted fragment makes is in force: its value is
 *     found at its dotted path in the applied tree (plugins.* as given). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "moonhost_lua.h"
#include "core/config.h"
#include "core/log.h"

static char path[4096];
static int fd = -1;

static void remove_file(void) {
  if (path[0]) unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  mh_log_set_level(MH_LOG_ERROR); /* print() in fragments logs at info */
  const char *dir = getenv("TMPDIR");
  snprintf(path, sizeof path, "%s/moonhost-fuzz-config-XXXXXX", dir && *dir ? dir : "/tmp");
  fd = mkstemp(path);
  if (fd < 0) {
    perror("fuzz_config: mkstemp");
    abort();
  }
  atexit(remove_file);
  return 0;
}

/* Every leaf of frag (below prefix) is what the applied tree holds there. */
static void check_in_force(const mh_value *frag, const char *prefix, const mh_value *tree) {
  for (size_t i = 0; i < frag->u.obj.len; i++) {
    const mh_value *key = frag->u.obj.items[i].key, *val = frag->u.obj.items[i].val;
    char dotted[1024];
    snprintf(dotted, sizeof dotted, "%s%s%s", prefix, *prefix ? "." : "", key->u.str.ptr);
    if (!*prefix && strcmp(dotted, "plugins") == 0) {
      const mh_value *plugins = mh_value_obj_get(tree, "plugins");
      FUZZ_CHECK(plugins != NULL, "plugins is missing from the applied configuration");
      fuzz_check_same(val, plugins, "plugins as applied");
      continue;
    }
    const mh_value *found = mh_config_lookup(tree, dotted);
    if (val->type == MH_V_OBJECT && found && found->type == MH_V_OBJECT) {
      check_in_force(val, dotted, tree);
      continue;
    }
    if (fuzz_ignored("config-dotted-key") && strchr(key->u.str.ptr, '.')) continue;
    if (!found || !mh_value_equal(val, found)) {
      fuzz_print_value("fragment sets", val);
      fuzz_print_value("applied", found);
      FUZZ_CHECK(false, "the accepted setting '%s' is not in force after mh_config_apply", dotted);
    }
  }
}

static void check_fragment(const mh_value *v) {
  char *msg = NULL;
  if (mh_config_check(v, "fuzz.lua", &msg)) {
    FUZZ_CHECK(msg && strncmp(msg, "fuzz.lua: ", 10) == 0, "check refused without a proper message: %s",
               msg ? msg : "(none)");
    free(msg);
    return;
  }
  FUZZ_CHECK(v->type == MH_V_OBJECT, "check accepted a %s", mh_value_type_name(v->type));
  mh_value *tree = mh_config_defaults();
  FUZZ_CHECK(tree && mh_config_merge(tree, v) == 0, "merge failed");
  FUZZ_CHECK(mh_config_check(tree, "merged", &msg) == 0, "an accepted fragment over the defaults fails the check: %s",
             msg ? msg : "?");
  mh_config cfg = {0};
  FUZZ_CHECK(mh_config_apply(&cfg, tree, &msg) == 0, "apply failed on a checked tree: %s", msg ? msg : "?");
  check_in_force(v, "", cfg.tree);
  mh_config_free(&cfg);
  mh_value_free(tree);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_set_input(data, size);
  /* Lua runs __gc metamethods with hooks off, so the instruction limit does
   * not stop a finalizer that loops (tests/fuzz/crashes/fuzz_config/). While
   * that is open, MOONHOST_FUZZ_IGNORE=config-gc-hang skips fragments that
   * mention "gc" so a long run can look for other bugs. */
  if (fuzz_ignored("config-gc-hang") && memmem(data, size, "gc", 2)) return 0;
  if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size) {
    perror("fuzz_config: write");
    abort();
  }
  char *err = NULL;
  mh_value *v = mh_config_eval_file(path, &err);
  if (!v) {
    size_t pl = strlen(path);
    FUZZ_CHECK(err && strncmp(err, path, pl) == 0 && err[pl] == ':', "a refused fragment's message: %s",
               err ? err : "(none)");
    free(err);
    return 0;
  }
  FUZZ_CHECK(err == NULL, "eval succeeded but set an error");
  FUZZ_CHECK(v->type == MH_V_OBJECT || v->type == MH_V_ARRAY, "a fragment gave a %s", mh_value_type_name(v->type));
  FUZZ_CHECK(fuzz_depth(v) <= 64, "a fragment value nests %d tables deep", fuzz_depth(v));
  fuzz_check_value_ops(v);
  check_fragment(v);
  mh_value_free(v);
  return 0;
}
