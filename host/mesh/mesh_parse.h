/* The argument objects of the mesh functions (relay, relay-event, make,
 * announce, provide/unprovide), checked before any peer or connection is
 * looked at. Any client may send them, so this is where bad input stops: a
 * parse either fills its struct or gives a bad_request error.
 *
 * A member holding undefined counts as absent: JSON leaves such members out
 * while structured clone keeps them, and a call must mean the same whichever
 * codec carried it. Pointers in the results borrow from the parsed value. */
#ifndef MH_MESH_PARSE_H
#define MH_MESH_PARSE_H
#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"
#include "core/value.h"

/* The longest timeout a caller may ask for: as much as limits.call_timeout_ms
 * may be. Longer ones (Infinity too) are cut to it. */
#define MH_MESH_MAX_TIMEOUT_MS UINT32_MAX

/* relay and relay-event: {to, method, args?, all?, timeout?}, and from a host
 * link also {identity, hops}. */
typedef struct mh_relay_args {
  const mh_value *to;       /* the target (mesh_target.h): present, of any type */
  const char *method;
  const mh_value *args;     /* an ARRAY, or NULL for none */
  bool all;                 /* all: true */
  uint64_t timeout_ms;      /* 1..MH_MESH_MAX_TIMEOUT_MS, or 0: the configured call timeout */
  const mh_value *identity; /* as given, or NULL (only a host link's counts) */
  int64_t hops;             /* as given when an integer, else 0 */
} mh_relay_args;

/* fn ("relay" or "relay-event") names the function in the error message. */
int mh_mesh_parse_relay(const mh_value *args, const char *fn, mh_relay_args *out, mh_error **err);

/* make: {name, args?, timeout?}, and from a host link {identity, hops}. */
typedef struct mh_make_args {
  const char *name;
  const mh_value *args; /* an ARRAY, or NULL for none */
  uint64_t timeout_ms;  /* as in mh_relay_args */
  const mh_value *identity;
  int64_t hops;
} mh_make_args;

int mh_mesh_parse_make(const mh_value *args, mh_make_args *out, mh_error **err);

/* announce: {role?, capabilities?, meta?}; what is left out stays as it was. */
typedef struct mh_announce_args {
  const char *role;             /* or NULL */
  const mh_value *capabilities; /* an ARRAY of strings, or NULL */
  const mh_value *meta;         /* an OBJECT, or NULL (null is accepted and ignored) */
} mh_announce_args;

int mh_mesh_parse_announce(const mh_value *args, mh_announce_args *out, mh_error **err);

/* The meta an announce gives, as the directory keeps it: its JSON form (as
 * JSON.stringify and a JSON peer would see it). The meta travels in every
 * signed identity, to peers of any codec, and a value JSON cannot carry
 * (1e999 is Infinity, a Date, undefined members) came back changed from a
 * JSON peer, so its identity no longer verified (fuzz_relay). NULL with a
 * bad_request *err for what JSON cannot write at all (a BigInt). */
mh_value *mh_mesh_announced_meta(const mh_value *meta, mh_error **err);

/* provide and unprovide: {name} or the name itself; NULL when it is missing,
 * not a string or empty. */
const char *mh_mesh_parse_name(const mh_value *args);

/* Member k of an OBJECT, or NULL when o is not one, k is absent or holds
 * undefined. The last duplicate wins, as when JavaScript reads the object. */
const mh_value *mh_mesh_member(const mh_value *o, const char *k);
/* Member k when it is a string (else ""), or an integer (else 0). */
const char *mh_mesh_str_member(const mh_value *o, const char *k);
int64_t mh_mesh_int_member(const mh_value *o, const char *k);
/* The first argument of a call's ARRAY of arguments, or NULL. */
const mh_value *mh_mesh_first_arg(const mh_value *args);

/* Absent, an ARRAY of strings, or an empty OBJECT (an empty Lua table):
 * what a list of names may be (capabilities, permission roles). */
bool mh_mesh_strings_only(const mh_value *v);

#endif
