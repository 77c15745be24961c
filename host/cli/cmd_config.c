/* `moonhost config`: the merged configuration as one line of JSON, as the
 * host will use it. Secrets are hidden, so the output can be pasted into a
 * bug report: auth.tokens (roles stay), mesh.key, metrics.token, nats.token,
 * nats.password and the token parameters of mesh.upstreams URLs print as
 * "<hidden>", credentials in nats.url as "***@". Lists the schema declares
 * print as [] when empty (Lua's {} is an empty object in the tree); root
 * prints absolute, as ctx.root is. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cmds.h"
#include "codec/codec.h"
#include "core/buf.h"
#include "mesh/mesh_cluster_config.h"

#define HIDDEN "<hidden>"

/* A copy of an auth.tokens entry without its token. */
static mh_value *hidden_token_entry(const mh_value *entry) {
  if (entry->type != MH_V_OBJECT) return mh_value_cstring(HIDDEN);
  mh_value *copy = mh_value_copy(entry);
  if (copy && mh_value_obj_get(copy, "token")) mh_value_obj_set(copy, "token", mh_value_cstring(HIDDEN));
  return copy;
}

/* A URL with the value of every query parameter whose name ends in
 * "token" (token=, vite_devtools_auth_token=, ...) hidden. */
static mh_value *hidden_url_tokens(const char *url) {
  mh_buf b = MH_BUF_INIT;
  const char *q = strchr(url, '?');
  size_t head = q ? (size_t)(q - url) + 1 : strlen(url);
  mh_buf_append(&b, url, head);
  for (const char *p = url + head; q && *p;) {
    size_t len = strcspn(p, "&"), name = strcspn(p, "=");
    if (name < len && name >= 5 && strncmp(p + name - 5, "token", 5) == 0) {
      mh_buf_append(&b, p, name + 1);
      mh_buf_append(&b, HIDDEN, strlen(HIDDEN));
    } else {
      mh_buf_append(&b, p, len);
    }
    p += len;
    if (*p == '&') mh_buf_append(&b, p++, 1);
  }
  mh_value *v = b.data ? mh_value_string(b.data, b.len) : mh_value_cstring("");
  mh_buf_free(&b);
  return v;
}

/* Replaces each item of list with hide(item). */
static void hide_items(mh_value *list, mh_value *(*hide)(const mh_value *)) {
  if (!list || list->type != MH_V_ARRAY) return;
  for (size_t i = 0; i < list->u.arr.len; i++) {
    mh_value *h = hide(list->u.arr.items[i]);
    if (!h) continue; /* out of memory: an entry would show, so the caller checks */
    mh_value_free(list->u.arr.items[i]);
    list->u.arr.items[i] = h;
  }
}

static mh_value *hidden_upstream(const mh_value *v) {
  return v->type == MH_V_STRING ? hidden_url_tokens(v->u.str.ptr) : mh_value_copy(v);
}

/* The object holding the last segment of path, and that segment. */
static mh_value *parent_of(mh_value *tree, const char *path, const char **leaf) {
  const char *dot = strrchr(path, '.');
  *leaf = dot ? dot + 1 : path;
  if (!dot) return tree;
  char parent[128];
  size_t n = (size_t)(dot - path);
  if (n >= sizeof parent) return NULL;
  memcpy(parent, path, n);
  parent[n] = '\0';
  return (mh_value *)mh_config_lookup(tree, parent);
}

/* Empty schema lists as []: a list printed as {} reads as a table. */
static void empty_lists_as_arrays(mh_value *tree) {
  const char *path;
  for (size_t i = 0; (path = mh_config_list_key(i)); i++) {
    const char *leaf;
    mh_value *parent = parent_of(tree, path, &leaf);
    const mh_value *v = parent ? mh_value_obj_get(parent, leaf) : NULL;
    if (v && v->type == MH_V_OBJECT && v->u.obj.len == 0) mh_value_obj_set(parent, leaf, mh_value_new(MH_V_ARRAY));
  }
}

/* Settings that are one secret string each ("" when unset: shown as is). */
static const char *const secret_strings[] = {"mesh.key", "metrics.token", "nats.token", "nats.password"};

static void hide_string(mh_value *tree, const char *path) {
  const char *leaf;
  mh_value *parent = parent_of(tree, path, &leaf);
  const mh_value *v = parent ? mh_value_obj_get(parent, leaf) : NULL;
  if (v && v->type == MH_V_STRING && v->u.str.len) mh_value_obj_set(parent, leaf, mh_value_cstring(HIDDEN));
}

/* nats.url as the log shows it: "user:password@" or "token@" as "***@".
 * False when memory runs out. */
static bool hide_url_credentials(mh_value *tree, const mh_config *cfg) {
  const char *leaf;
  mh_value *parent = parent_of(tree, "nats.url", &leaf);
  if (!parent || !mh_value_obj_get(parent, leaf)) return true;
  char *shown = mh_cluster_url_shown(cfg->nats.url);
  if (shown) mh_value_obj_set(parent, leaf, mh_value_cstring(shown));
  free(shown);
  return shown != NULL;
}

/* Whether any secret is left in the copy (an out-of-memory replacement). */
static bool secrets_left(const mh_value *tree) {
  const mh_value *tokens = mh_config_lookup(tree, "auth.tokens");
  for (size_t i = 0; tokens && tokens->type == MH_V_ARRAY && i < tokens->u.arr.len; i++) {
    const mh_value *t = tokens->u.arr.items[i];
    t = t->type == MH_V_OBJECT ? mh_value_obj_get(t, "token") : t;
    if (t && (t->type != MH_V_STRING || strcmp(t->u.str.ptr, HIDDEN) != 0)) return true;
  }
  for (size_t i = 0; i < sizeof secret_strings / sizeof *secret_strings; i++) {
    const mh_value *v = mh_config_lookup(tree, secret_strings[i]);
    if (v && v->type == MH_V_STRING && v->u.str.len && strcmp(v->u.str.ptr, HIDDEN) != 0) return true;
  }
  return false;
}

static mh_value *printable(const mh_config *cfg) {
  mh_value *tree = mh_value_copy(cfg->tree);
  if (!tree) return NULL;
  hide_items((mh_value *)mh_config_lookup(tree, "auth.tokens"), hidden_token_entry);
  hide_items((mh_value *)mh_config_lookup(tree, "mesh.upstreams"), hidden_upstream);
  for (size_t i = 0; i < sizeof secret_strings / sizeof *secret_strings; i++) hide_string(tree, secret_strings[i]);
  if (!hide_url_credentials(tree, cfg)) {
    mh_value_free(tree);
    return NULL;
  }
  empty_lists_as_arrays(tree);
  mh_value_obj_set(tree, "root", mh_value_cstring(cfg->root)); /* absolute, as plugins see it */
  if (secrets_left(tree)) {
    mh_value_free(tree);
    return NULL;
  }
  return tree;
}

int mh_cmd_config(const mh_config *cfg) {
  mh_value *tree = printable(cfg);
  if (!tree) {
    fprintf(stderr, "moonhost: out of memory\n");
    return 1;
  }
  mh_buf out = MH_BUF_INIT;
  mh_error *err = NULL;
  int rc = 0;
  if (mh_codec_json.encode(tree, &out, &err)) {
    fprintf(stderr, "moonhost: %s\n", err->message);
    mh_error_free(err);
    rc = 1;
  } else {
    printf("%.*s\n", (int)out.len, out.data);
  }
  mh_buf_free(&out);
  mh_value_free(tree);
  return rc;
}
