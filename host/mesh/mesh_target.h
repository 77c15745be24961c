/* What a relay's `to` selects among the peers of a directory:
 *
 *   "ID"        the peer with that id (an exact id wins over a role)
 *   "ROLE"      every peer of that role (the relay then picks one, round-robin)
 *   "ROLE:*"    every peer of that role, all of them called
 *   {role?, capability?, meta?}
 *               every peer for which each given field matches: its role,
 *               one of its capabilities, meta as a subset of its meta
 *
 * and which peers provide a name (make). The directory is walked through a
 * callback, so this needs no host: mesh_select.c walks the host's clients
 * and links, tests/fuzz/fuzz_relay.c a directory of its own. */
#ifndef MH_MESH_TARGET_H
#define MH_MESH_TARGET_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mesh/mesh.h"
#include "core/value.h"

/* A peer as selection sees it, local or behind a host link. */
typedef struct mh_mesh_candidate {
  mh_target target; /* what a selection gives back for it */
  const char *id, *role;
  const mh_value *caps, *meta, *provides; /* as announced: any type, or NULL */
} mh_mesh_candidate;

/* A directory: calls visit for every candidate, in order, until visit
 * returns false. */
typedef bool (*mh_mesh_visit)(void *ud, const mh_mesh_candidate *c);
typedef void (*mh_mesh_walk)(void *dir, mh_mesh_visit visit, void *ud);

/* The targets `to` selects, in directory order, at most max of them; *all is
 * set for "role:*" (and left alone otherwise). A `to` of any other type
 * selects nothing. */
size_t mh_mesh_select(mh_mesh_walk walk, void *dir, const mh_value *to, mh_target *out, size_t max, bool *all);

/* The targets whose peer provides `name`, in directory order, at most max. */
size_t mh_mesh_select_providers(mh_mesh_walk walk, void *dir, const char *name, mh_target *out, size_t max);

/* Round robin over n candidates: the next position (below n; 0 when n is
 * 0), advancing *pos, which every selector shares. */
size_t mh_mesh_round_robin(uint64_t *pos, size_t n);

#endif
