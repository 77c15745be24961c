/* Loading with an overlay: flags override files, at start and on reload. */
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

int mh_config_load_with(mh_config *cfg, mh_config_eval_fn eval, const char *dir, bool required,
                        const mh_value *overlay, const char *overlay_label, char **errmsg) {
  mh_config loaded;
  memset(&loaded, 0, sizeof loaded);
  if (mh_config_load(&loaded, eval, dir, required, errmsg)) return -1;
  if (!overlay) {
    *cfg = loaded;
    return 0;
  }
  mh_value *tree = mh_value_copy(loaded.tree);
  const mh_value *files_listen = tree ? mh_config_lookup(tree, "listen") : NULL;
  /* Kept so a reload can tell a conf.d change that the --listen flag hides. */
  bool hidden = mh_value_obj_get(overlay, "listen") != NULL;
  char *listen_in_files = hidden && files_listen && files_listen->type == MH_V_STRING ? strdup(files_listen->u.str.ptr) : NULL;
  int rc = -1;
  if (tree && (listen_in_files || !hidden) && mh_config_check(overlay, overlay_label, errmsg) == 0 &&
      mh_config_merge(tree, overlay) == 0)
    rc = mh_config_apply(&loaded, tree, errmsg);
  mh_value_free(tree);
  loaded.listen_in_files = listen_in_files;
  if (rc) {
    mh_config_free(&loaded);
    return -1;
  }
  *cfg = loaded;
  return 0;
}
