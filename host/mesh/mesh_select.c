/* Choosing peers on this host: every peer, local or reached through a host
 * link, is a candidate; mesh_target.c decides which ones a target or a
 * provided name selects, and mesh.permissions which roles may call what. */
#include "session/client.h"
#include "call/host.h"
#include "mesh/mesh.h"
#include "mesh/mesh_link.h"
#include "mesh/mesh_parse.h"
#include "mesh/mesh_target.h"
#include "core/glob.h"

/* The host's directory (an mh_mesh_walk over mh_host): its announced
 * trusted clients, then the peers behind each host link. */
static void each_candidate(void *dir, mh_mesh_visit visit, void *ud) {
  mh_host *h = dir;
  mh_client_each(c, h) {
    if (!c->trusted) continue;
    if (mh_client_is_mesh_peer(c)) {
      mh_mesh_candidate k = {{c, NULL}, c->peer->id, c->peer->role, c->peer->capabilities, c->peer->meta,
                             c->peer->provides};
      if (!visit(ud, &k)) return;
    }
    const mh_value *peers = c->hostlink ? c->hostlink->peers : NULL;
    for (size_t i = 0; peers && i < peers->u.arr.len; i++) {
      const mh_value *e = peers->u.arr.items[i];
      mh_mesh_candidate k = {{c, mh_mesh_str_member(e, "remote")}, mh_mesh_str_member(e, "id"), mh_mesh_str_member(e, "role"),
                             mh_value_obj_get(e, "capabilities"), mh_value_obj_get(e, "meta"),
                             mh_value_obj_get(e, "provides")};
      if (!visit(ud, &k)) return;
    }
  }
}

size_t mh_mesh_resolve(mh_host *h, const mh_value *to, mh_target *out, size_t max, bool *all) {
  return mh_mesh_select(each_candidate, h, to, out, max, all);
}

size_t mh_mesh_providers(mh_host *h, const char *name, mh_target *out, size_t max) {
  return mh_mesh_select_providers(each_candidate, h, name, out, max);
}

size_t mh_mesh_pick(mh_host *h, size_t n) { return mh_mesh_next_rr(h, n); }

static bool any_glob(const mh_value *globs, const char *s) {
  for (size_t i = 0; globs && globs->type == MH_V_ARRAY && i < globs->u.arr.len; i++)
    if (mh_glob_match(globs->u.arr.items[i]->u.str.ptr, s)) return true;
  return false;
}

/* Whether any of roles (an ARRAY of strings; none: "anonymous") matches one
 * of the rule's role globs. */
static bool rule_applies(const mh_value *rule, const mh_value *roles) {
  const mh_value *globs = mh_value_obj_get(rule, "roles");
  if (!roles || roles->type != MH_V_ARRAY || roles->u.arr.len == 0) return any_glob(globs, "anonymous");
  for (size_t i = 0; i < roles->u.arr.len; i++)
    if (roles->u.arr.items[i]->type == MH_V_STRING && any_glob(globs, roles->u.arr.items[i]->u.str.ptr)) return true;
  return false;
}

bool mh_mesh_allowed(const mh_host *h, const mh_value *roles, const char *method) {
  const mh_value *rules = h->cfg->mesh.permissions;
  for (size_t i = 0; rules && rules->type == MH_V_ARRAY && i < rules->u.arr.len; i++) {
    const mh_value *r = rules->u.arr.items[i];
    if (!rule_applies(r, roles)) continue;
    if (any_glob(mh_value_obj_get(r, "deny"), method)) return false;
    const mh_value *allow = mh_value_obj_get(r, "allow");
    return !allow || allow->type != MH_V_ARRAY || any_glob(allow, method);
  }
  return true;
}
