/* The peer mesh's relay path on request frames of any codec: what the host
 * does with the untrusted parts of a relay before any connection is
 * involved. The argument objects of relay, relay-event, make, announce and
 * provide (host/mesh/mesh_parse.c), the `to` target and the providers of a name
 * over a directory of peers built here (host/mesh/mesh_target.c), and the signed
 * identity of relayed calls (host/mesh/mesh_identity.c).
 *
 * Input: one wire frame. A request or event envelope gives the arguments
 * ("a") and the signed identity ("x"); any other value is taken as the one
 * argument. Every parser sees the same arguments.
 *
 * Invariants:
 *   - a parse fails with bad_request and a message naming the function, or
 *     gives a result that agrees with the argument object: the method or
 *     name it holds, args an ARRAY or absent, announce's capabilities only
 *     strings and meta an object; a timeout is the configured one (0) only
 *     when none was asked for, else 1 ms .. MH_MESH_MAX_TIMEOUT_MS, rounded
 *     up; relay and relay-event read the same; the meta the directory
 *     keeps is refused (bad_request) or comes back unchanged when announced
 *     again;
 *   - a member holding undefined reads as absent: parses and selections
 *     come out the same once such members are left out (what JSON does);
 *   - a target selects exactly the peers that match it, worked out here
 *     from the README's rules independently (an exact id first, else a role,
 *     "role:*" for all, or every given field of {role, capability, meta},
 *     meta as a subset), in directory order, at most max; the providers of
 *     a name are exactly the peers that list it; round-robin stays below n
 *     and visits every position once in n turns;
 *   - a signed identity (with the announced meta as the directory keeps it)
 *     verifies and gives back the same `from`, also after a trip through
 *     each codec that can carry it; its signature is the HMAC-SHA256 of from's
 *     canonical bytes (computed here with OpenSSL); any one changed byte of
 *     the signature, a shorter, longer or non-string signature, or another
 *     key fails; a one-byte change to the encoded identity verifies only if
 *     it decodes to the same from and signature;
 *   - any identity in the frame verifies exactly when its signature is
 *     right; a relay from a host link is accepted only with an identity that
 *     verifies (else unauthorized) and a hop count 0..max_hops, so that
 *     hops + 1 cannot overflow. */
#include <math.h>
#include <stdio.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "codec/envelope.h"
#include "core/error.h"
#include "mesh/mesh_identity.h"
#include "mesh/mesh_parse.h"
#include "mesh/mesh_target.h"

static const mh_codec_limits lim = {64};
/* Seeds in corpus/fuzz_relay carry identities signed with this key
 * (make-corpus signs them), so the fuzzer starts from ones that verify. */
static const mh_mesh_key key = {.bytes = "fuzz-relay-key", .len = 14};
static const mh_mesh_key other_key = {.bytes = "fuzz-relay-kez", .len = 14};
#define MAX_HOPS 3

/* A small hash of the input: picks mutations and limits deterministically. */
static uint64_t input_hash;

static const mh_value *first_arg(const mh_value *args) {
  return args && args->type == MH_V_ARRAY && args->u.arr.len ? args->u.arr.items[0] : NULL;
}

/* Member k as JavaScript reads it (the last duplicate), undefined as absent. */
static const mh_value *member(const mh_value *o, const char *k) {
  const mh_value *v = o && o->type == MH_V_OBJECT ? mh_value_obj_get(o, k) : NULL;
  return v && v->type != MH_V_UNDEFINED ? v : NULL;
}

static bool same_opt(const mh_value *a, const mh_value *b) { return (!a && !b) || (a && b && mh_value_equal(a, b)); }

static bool same_str(const char *a, const char *b) { return (!a && !b) || (a && b && strcmp(a, b) == 0); }

/* ---- leaving undefined members out, as JSON does --------------------------- */

/* o without the members whose (last) value is undefined; NULL when o is not
 * an OBJECT. */
static mh_value *object_without_undefined(const mh_value *o) {
  if (!o || o->type != MH_V_OBJECT) return NULL;
  mh_value *out = mh_value_new(MH_V_OBJECT);
  FUZZ_CHECK(out != NULL, "out of memory");
  for (size_t i = 0; i < o->u.obj.len; i++) {
    const mh_pair *p = &o->u.obj.items[i];
    if (mh_value_obj_get(o, p->key->u.str.ptr)->type == MH_V_UNDEFINED) continue;
    mh_value *v = mh_value_copy(p->val);
    FUZZ_CHECK(v && mh_value_obj_append(out, p->key->u.str.ptr, p->key->u.str.len, v) == 0, "out of memory");
  }
  return out;
}

/* The arguments with the first one's undefined members left out, and those
 * of its `to` when that is an object description. */
static mh_value *args_without_undefined(const mh_value *args) {
  mh_value *copy = mh_value_copy(args);
  FUZZ_CHECK(copy != NULL, "out of memory");
  mh_value *opts = (mh_value *)first_arg(copy);
  mh_value *stripped = object_without_undefined(opts);
  if (!stripped) return copy;
  mh_value *to = object_without_undefined(mh_value_obj_get(stripped, "to"));
  if (to) mh_value_obj_set(stripped, "to", to);
  mh_value_free(copy->u.arr.items[0]);
  copy->u.arr.items[0] = stripped;
  return copy;
}

/* ---- the argument objects ------------------------------------------------------ */

static void check_refusal(int rc, mh_error *err, const char *fn) {
  FUZZ_CHECK(rc == -1 && err, "%s: a parse returned %d with%s an error", fn, rc, err ? "" : "out");
  FUZZ_CHECK(strcmp(err->code, MH_ERR_BAD_REQUEST) == 0, "%s: refused with %s, not bad_request", fn, err->code);
  FUZZ_CHECK(strstr(err->message, fn) != NULL, "%s: the message does not name the function: %s", fn, err->message);
  mh_error_free(err);
}

/* The timeout a caller asked for, from docs/protocol.md: a positive number of
 * milliseconds, rounded up, at most the maximum; 0 for none. */
static uint64_t expected_timeout(const mh_value *opts) {
  const mh_value *t = member(opts, "timeout");
  if (t && t->type == MH_V_INT)
    return t->u.i <= 0 ? 0 : (uint64_t)t->u.i > MH_MESH_MAX_TIMEOUT_MS ? MH_MESH_MAX_TIMEOUT_MS : (uint64_t)t->u.i;
  if (!t || t->type != MH_V_FLOAT || !(t->u.f > 0)) return 0;
  return t->u.f >= (double)MH_MESH_MAX_TIMEOUT_MS ? MH_MESH_MAX_TIMEOUT_MS : (uint64_t)ceil(t->u.f);
}

static int64_t expected_hops(const mh_value *opts) {
  const mh_value *h = member(opts, "hops");
  return h && h->type == MH_V_INT ? h->u.i : 0;
}

static bool is_string_array(const mh_value *v) {
  if (!v || v->type != MH_V_ARRAY) return false;
  for (size_t i = 0; i < v->u.arr.len; i++)
    if (v->u.arr.items[i]->type != MH_V_STRING) return false;
  return true;
}

/* Parses relay and relay-event; returns 0 with *r filled, or -1. */
static int check_relay(const mh_value *args, mh_relay_args *r) {
  const mh_value *opts = first_arg(args);
  mh_error *err = NULL;
  int rc = mh_mesh_parse_relay(args, "relay", r, &err);
  mh_relay_args ev;
  mh_error *err2 = NULL;
  int rc2 = mh_mesh_parse_relay(args, "relay-event", &ev, &err2);
  FUZZ_CHECK(rc == rc2, "relay and relay-event disagree (%d, %d)", rc, rc2);
  if (rc) {
    check_refusal(rc, err, "relay");
    check_refusal(rc2, err2, "relay-event");
    return -1;
  }
  FUZZ_CHECK(!err && !err2, "an accepted relay set an error");
  FUZZ_CHECK(r->to && r->to == member(opts, "to"), "relay: to is not the argument's");
  const mh_value *m = member(opts, "method");
  FUZZ_CHECK(r->method && m && m->type == MH_V_STRING && r->method == m->u.str.ptr,
             "relay: method is not the argument's");
  FUZZ_CHECK(!r->args || (r->args->type == MH_V_ARRAY && r->args == member(opts, "args")), "relay: args is a %s",
             mh_value_type_name(r->args->type));
  const mh_value *all = member(opts, "all");
  FUZZ_CHECK(r->all == (all && all->type == MH_V_BOOL && all->u.b), "relay: all is %d", r->all);
  FUZZ_CHECK(r->timeout_ms == expected_timeout(opts), "relay: timeout %llu ms, expected %llu",
             (unsigned long long)r->timeout_ms, (unsigned long long)expected_timeout(opts));
  FUZZ_CHECK(r->identity == member(opts, "identity"), "relay: identity is not the argument's");
  FUZZ_CHECK(r->hops == expected_hops(opts), "relay: hops %lld", (long long)r->hops);
  FUZZ_CHECK(ev.to == r->to && ev.method == r->method && ev.args == r->args && ev.all == r->all &&
                 ev.timeout_ms == r->timeout_ms && ev.identity == r->identity && ev.hops == r->hops,
             "relay and relay-event read different things");
  return 0;
}

static int check_make(const mh_value *args, mh_make_args *m) {
  const mh_value *opts = first_arg(args);
  mh_error *err = NULL;
  int rc = mh_mesh_parse_make(args, m, &err);
  if (rc) {
    check_refusal(rc, err, "make");
    return -1;
  }
  const mh_value *name = member(opts, "name");
  FUZZ_CHECK(m->name && name && name->type == MH_V_STRING && m->name == name->u.str.ptr,
             "make: name is not the argument's");
  FUZZ_CHECK(!m->args || (m->args->type == MH_V_ARRAY && m->args == member(opts, "args")), "make: args is a %s",
             mh_value_type_name(m->args->type));
  FUZZ_CHECK(m->timeout_ms == expected_timeout(opts), "make: timeout %llu ms, expected %llu",
             (unsigned long long)m->timeout_ms, (unsigned long long)expected_timeout(opts));
  FUZZ_CHECK(m->identity == member(opts, "identity") && m->hops == expected_hops(opts), "make: identity or hops");
  return 0;
}

static int check_announce(const mh_value *args, mh_announce_args *a) {
  const mh_value *o = first_arg(args);
  mh_error *err = NULL;
  int rc = mh_mesh_parse_announce(args, a, &err);
  if (rc) {
    check_refusal(rc, err, "announce");
    FUZZ_CHECK(o != NULL, "announce without arguments refused");
    return -1;
  }
  FUZZ_CHECK(!o || o->type == MH_V_OBJECT, "announce accepted a %s", mh_value_type_name(o->type));
  const mh_value *role = member(o, "role");
  FUZZ_CHECK(a->role ? role && role->type == MH_V_STRING && a->role == role->u.str.ptr : !role,
             "announce: role is not the argument's");
  FUZZ_CHECK(!a->capabilities || (is_string_array(a->capabilities) && a->capabilities == member(o, "capabilities")),
             "announce: capabilities are not the argument's strings");
  FUZZ_CHECK(!a->meta || (a->meta->type == MH_V_OBJECT && a->meta == member(o, "meta")), "announce: meta");
  return 0;
}

/* The meta the directory keeps (and identities carry): JSON's form of the
 * announced one, which JSON gives back unchanged; or a bad_request. */
static mh_value *check_announced_meta(const mh_value *meta, bool *announced) {
  if (!meta) return NULL;
  mh_error *err = NULL;
  mh_value *kept = mh_mesh_announced_meta(meta, &err);
  if (!kept) {
    FUZZ_CHECK(err && strcmp(err->code, MH_ERR_BAD_REQUEST) == 0 && strstr(err->message, "announce"),
               "announce: a refused meta without a bad_request naming announce");
    mh_error_free(err);
    *announced = false;
    return NULL;
  }
  FUZZ_CHECK(!err && kept->type == MH_V_OBJECT, "announce: the kept meta is a %s", mh_value_type_name(kept->type));
  mh_value *again = mh_mesh_announced_meta(kept, &err);
  FUZZ_CHECK(again, "announce: the kept meta is refused when announced again: %s", err ? err->message : "?");
  fuzz_check_same(kept, again, "the kept meta announced again");
  mh_value_free(again);
  return kept;
}

static const char *check_name(const mh_value *args) {
  const char *name = mh_mesh_parse_name(args);
  const mh_value *o = first_arg(args), *n = o && o->type == MH_V_OBJECT ? member(o, "name") : o;
  FUZZ_CHECK(!name || (*name && n && n->type == MH_V_STRING && name == n->u.str.ptr),
             "provide: the name is not the argument's");
  FUZZ_CHECK(name || !n || n->type != MH_V_STRING || n->u.str.len == 0, "provide: a non-empty string name refused");
  return name;
}

/* to, read without undefined members, is b. */
static bool same_target(const mh_value *to, const mh_value *b) {
  mh_value *stripped = object_without_undefined(to);
  bool same = same_opt(stripped ? stripped : to, b);
  mh_value_free(stripped);
  return same;
}

/* The same parse outcome once undefined members are left out. */
static void check_undefined_is_absent(const mh_value *args) {
  mh_value *args2 = args_without_undefined(args);
  mh_relay_args r1, r2;
  mh_make_args m1, m2;
  mh_announce_args a1, a2;
  mh_error *e1 = NULL, *e2 = NULL;
  int rc1 = mh_mesh_parse_relay(args, "relay", &r1, &e1), rc2 = mh_mesh_parse_relay(args2, "relay", &r2, &e2);
  FUZZ_CHECK(rc1 == rc2, "relay: undefined members change the outcome (%d, then %d without them)", rc1, rc2);
  if (rc1 == 0)
    FUZZ_CHECK(same_target(r1.to, r2.to) && same_str(r1.method, r2.method) && same_opt(r1.args, r2.args) &&
                   r1.all == r2.all && r1.timeout_ms == r2.timeout_ms && same_opt(r1.identity, r2.identity) &&
                   r1.hops == r2.hops,
               "relay: undefined members change what is read");
  mh_error_free(e1);
  mh_error_free(e2);
  e1 = e2 = NULL;
  rc1 = mh_mesh_parse_make(args, &m1, &e1);
  rc2 = mh_mesh_parse_make(args2, &m2, &e2);
  FUZZ_CHECK(rc1 == rc2, "make: undefined members change the outcome (%d, then %d without them)", rc1, rc2);
  if (rc1 == 0)
    FUZZ_CHECK(same_str(m1.name, m2.name) && same_opt(m1.args, m2.args) && m1.timeout_ms == m2.timeout_ms,
               "make: undefined members change what is read");
  mh_error_free(e1);
  mh_error_free(e2);
  e1 = e2 = NULL;
  rc1 = mh_mesh_parse_announce(args, &a1, &e1);
  rc2 = mh_mesh_parse_announce(args2, &a2, &e2);
  FUZZ_CHECK(rc1 == rc2, "announce: undefined members change the outcome (%d, then %d without them)", rc1, rc2);
  if (rc1 == 0)
    FUZZ_CHECK(same_str(a1.role, a2.role) && same_opt(a1.capabilities, a2.capabilities) && same_opt(a1.meta, a2.meta),
               "announce: undefined members change what is read");
  mh_error_free(e1);
  mh_error_free(e2);
  FUZZ_CHECK(same_str(mh_mesh_parse_name(args), mh_mesh_parse_name(args2)),
             "provide: undefined members change the name");
  mh_value_free(args2);
}

/* ---- a directory of peers -------------------------------------------------------- */

#define MAX_PEERS 24

typedef struct directory {
  mh_mesh_candidate peers[MAX_PEERS];
  size_t n;
  mh_value *owned; /* ARRAY: every string and value the peers point to */
} directory;

static const mh_value *keep(directory *d, mh_value *v) {
  FUZZ_CHECK(v && mh_value_push(d->owned, v) == 0, "out of memory");
  return v;
}

static const char *keep_str(directory *d, const char *s, size_t len) {
  return keep(d, mh_value_string(s, len))->u.str.ptr;
}

/* Values are copied; caps, meta and provides may be NULL or of any type. */
static void add_peer(directory *d, const char *id, size_t idlen, const char *role, size_t rolelen, const mh_value *caps,
                     const mh_value *meta, const mh_value *provides) {
  if (d->n == MAX_PEERS) return;
  mh_mesh_candidate *c = &d->peers[d->n++];
  c->id = keep_str(d, id, idlen);
  c->role = keep_str(d, role, rolelen);
  c->caps = caps ? keep(d, mh_value_copy(caps)) : NULL;
  c->meta = meta ? keep(d, mh_value_copy(meta)) : NULL;
  c->provides = provides ? keep(d, mh_value_copy(provides)) : NULL;
  /* The id string is this peer's own, so a target names its peer by pointer. */
  c->target = (mh_target){NULL, c->id};
}

static mh_value *decode_json(const char *text) {
  mh_error *err = NULL;
  mh_value *v = mh_codec_json.decode(text, strlen(text), &lim, &err);
  FUZZ_CHECK(v != NULL, "a fixed value does not decode: %s", err ? err->message : "?");
  return v;
}

static void add_peer_json(directory *d, const char *id, const char *role, const char *caps, const char *meta,
                          const char *provides) {
  mh_value *c = caps ? decode_json(caps) : NULL, *m = meta ? decode_json(meta) : NULL;
  mh_value *p = provides ? decode_json(provides) : NULL;
  add_peer(d, id, strlen(id), role, strlen(role), c, m, p);
  mh_value_free(c);
  mh_value_free(m);
  mh_value_free(p);
}

/* Peers as the host has them (local ones, and link entries with missing or
 * odd fields), the one the frame announces, and near misses of the target:
 * a role or id equal to it, to its role part, to prefixes of it. */
static void build_directory(directory *d, const mh_announce_args *a, const mh_value *meta, bool announced,
                            const char *provided, const mh_value *to) {
  memset(d, 0, sizeof *d);
  d->owned = mh_value_new(MH_V_ARRAY);
  FUZZ_CHECK(d->owned != NULL, "out of memory");
  add_peer_json(d, "c1", "devtools", "[\"ui\"]", "{\"tab\":7}", "[]");
  add_peer_json(d, "c2", "iframe", "[\"ping\"]", "{\"frame\":\"main\"}", "[\"b:who\"]");
  add_peer_json(d, "c3", "iframe", "[]", "{\"frame\":\"other\",\"tab\":7}", "[\"calc:who\"]");
  add_peer_json(d, "h2/c2", "worker", NULL, NULL, "[\"calc:who\",\"calc:double\"]");
  add_peer_json(d, "h2/c9", "", "\"ui\"", "5", "{\"b:who\":true}");
  if (announced) {
    mh_value *provides = mh_value_new(MH_V_ARRAY);
    FUZZ_CHECK(provides && (!provided || mh_value_push(provides, mh_value_cstring(provided)) == 0), "out of memory");
    mh_value *empty_caps = mh_value_new(MH_V_ARRAY), *empty_meta = mh_value_new(MH_V_OBJECT);
    const char *role = a->role ? a->role : "peer";
    add_peer(d, "c9", 2, role, strlen(role), a->capabilities ? a->capabilities : empty_caps,
             meta ? meta : empty_meta, provides);
    mh_value_free(provides);
    mh_value_free(empty_caps);
    mh_value_free(empty_meta);
  }
  if (to && to->type == MH_V_STRING) {
    const char *s = to->u.str.ptr;
    size_t len = to->u.str.len, role_len = len > 2 && memcmp(s + len - 2, ":*", 2) == 0 ? len - 2 : len;
    add_peer(d, "n1", 2, s, len, NULL, NULL, NULL);
    add_peer(d, "n2", 2, s, role_len, NULL, NULL, NULL);
    add_peer(d, "n3", 2, s, role_len > 127 ? 127 : role_len / 2, NULL, NULL, NULL);
    add_peer(d, "n4", 2, s, role_len ? role_len - 1 : 0, NULL, NULL, NULL);
    if (len) add_peer(d, s, len - 1, "near-id", 7, NULL, NULL, NULL);
    if (input_hash & 1) add_peer(d, s, len, "exact-id", 8, NULL, NULL, NULL);
  } else if (to && to->type == MH_V_OBJECT) {
    const mh_value *role = member(to, "role"), *cap = member(to, "capability"), *want_meta = member(to, "meta");
    const char *r = role && role->type == MH_V_STRING ? role->u.str.ptr : "none";
    mh_value *caps = mh_value_new(MH_V_ARRAY);
    FUZZ_CHECK(caps && (!cap || mh_value_push(caps, mh_value_copy(cap)) == 0), "out of memory");
    add_peer(d, "d1", 2, r, strlen(r), caps, want_meta, NULL); /* matches, unless a field cannot */
    add_peer(d, "d2", 2, r, strlen(r), NULL, NULL, NULL);
    mh_value_free(caps);
  }
}

static void walk_directory(void *dir, mh_mesh_visit visit, void *ud) {
  directory *d = dir;
  for (size_t i = 0; i < d->n; i++)
    if (!visit(ud, &d->peers[i])) return;
}

static ptrdiff_t peer_of(const directory *d, const mh_target *t) {
  for (size_t i = 0; i < d->n; i++)
    if (t->client == NULL && t->remote == d->peers[i].id) return (ptrdiff_t)i;
  return -1;
}

/* ---- what a target should select, from the README -------------------------------- */

static bool str_is(const char *s, const char *want, size_t want_len) {
  return strlen(s) == want_len && memcmp(s, want, want_len) == 0;
}

static bool has_string(const mh_value *arr, const char *s, size_t len) {
  for (size_t i = 0; arr && arr->type == MH_V_ARRAY && i < arr->u.arr.len; i++) {
    const mh_value *v = arr->u.arr.items[i];
    if (v->type == MH_V_STRING && v->u.str.len == len && memcmp(v->u.str.ptr, s, len) == 0) return true;
  }
  return false;
}

/* meta as a subset: every key of want (as JavaScript reads want: the last
 * duplicate) is in have with an equal value. */
static bool meta_subset(const mh_value *want, const mh_value *have) {
  for (size_t i = 0; i < want->u.obj.len; i++) {
    const char *k = want->u.obj.items[i].key->u.str.ptr;
    const mh_value *h = have && have->type == MH_V_OBJECT ? mh_value_obj_get(have, k) : NULL;
    if (!h || !mh_value_equal(h, mh_value_obj_get(want, k))) return false;
  }
  return true;
}

static bool description_matches(const mh_value *to, const mh_mesh_candidate *c) {
  const mh_value *role = member(to, "role"), *cap = member(to, "capability"), *meta = member(to, "meta");
  if (role && (role->type != MH_V_STRING || !str_is(c->role, role->u.str.ptr, role->u.str.len))) return false;
  if (cap && (cap->type != MH_V_STRING || !has_string(c->caps, cap->u.str.ptr, cap->u.str.len))) return false;
  return !meta || meta->type != MH_V_OBJECT || meta_subset(meta, c->meta);
}

/* Indices of the expected peers (at most max); *all for "role:*". */
static size_t expected_selection(const directory *d, const mh_value *to, size_t max, size_t *idx, bool *all) {
  size_t n = 0;
  *all = false;
  if (!to) return 0;
  if (to->type == MH_V_OBJECT) {
    for (size_t i = 0; i < d->n && n < max; i++)
      if (description_matches(to, &d->peers[i])) idx[n++] = i;
    return n;
  }
  if (to->type != MH_V_STRING) return 0;
  const char *s = to->u.str.ptr;
  size_t len = to->u.str.len;
  for (size_t i = 0; i < d->n; i++)
    if (str_is(d->peers[i].id, s, len)) {
      idx[0] = i;
      return 1;
    }
  if (len > 2 && memcmp(s + len - 2, ":*", 2) == 0) {
    *all = true;
    len -= 2;
  }
  for (size_t i = 0; i < d->n && n < max; i++)
    if (str_is(d->peers[i].role, s, len)) idx[n++] = i;
  return n;
}

static void print_selection(const directory *d, const char *label, const size_t *idx, size_t n) {
  fprintf(stderr, "  %s:", label);
  for (size_t i = 0; i < n; i++) fprintf(stderr, " %s(role '%.40s')", d->peers[idx[i]].id, d->peers[idx[i]].role);
  fputc('\n', stderr);
}

static size_t check_select(const directory *d, const mh_value *to, size_t max) {
  mh_target out[MAX_PEERS];
  size_t got[MAX_PEERS], want[MAX_PEERS];
  bool all = false, want_all;
  size_t n = mh_mesh_select(walk_directory, (void *)d, to, out, max, &all);
  size_t m = expected_selection(d, to, max, want, &want_all);
  FUZZ_CHECK(n <= max, "selected %zu peers, at most %zu asked", n, max);
  if (max == 0) return 0; /* nothing to select; whether "all" was meant does not matter */
  for (size_t i = 0; i < n; i++) {
    ptrdiff_t at = peer_of(d, &out[i]);
    FUZZ_CHECK(at >= 0, "selected a target that is not in the directory");
    got[i] = (size_t)at;
  }
  bool same = n == m && all == want_all;
  for (size_t i = 0; same && i < n; i++) same = got[i] == want[i];
  if (!same) {
    fuzz_print_value("to", to);
    print_selection(d, "selected", got, n);
    print_selection(d, "expected", want, m);
    FUZZ_CHECK(same, "the target selected other peers than it names (all %d, expected %d; max %zu)", all, want_all,
               max);
  }
  return n;
}

static void check_providers(const directory *d, const char *name) {
  mh_target out[MAX_PEERS];
  size_t n = mh_mesh_select_providers(walk_directory, (void *)d, name, out, MAX_PEERS), k = 0;
  for (size_t i = 0; i < d->n; i++) {
    if (!has_string(d->peers[i].provides, name, strlen(name))) continue;
    FUZZ_CHECK(k < n && peer_of(d, &out[k]) == (ptrdiff_t)i, "providers of '%s': peer %s missing or out of order",
               name, d->peers[i].id);
    k++;
  }
  FUZZ_CHECK(k == n, "providers of '%s': %zu selected, %zu provide it", name, n, k);
}

static void check_round_robin(size_t n) {
  uint64_t start = input_hash, pos = start;
  FUZZ_CHECK(mh_mesh_round_robin(&pos, 0) == 0 && pos == start, "round robin over nothing");
  if (n == 0) return;
  bool seen[MAX_PEERS + 8] = {false};
  for (size_t k = 0; k < n; k++) {
    size_t i = mh_mesh_round_robin(&pos, n);
    FUZZ_CHECK(i < n, "round robin gave %zu of %zu", i, n);
    FUZZ_CHECK(pos == start + k + 1, "round robin did not advance by one");
    /* Every position once in n turns, unless the counter wrapped meanwhile. */
    FUZZ_CHECK(start + n < start || !seen[i], "round robin gave %zu twice in %zu turns", i, n);
    seen[i] = true;
  }
}

static void check_selection(const mh_value *args, const mh_relay_args *r, bool relay_ok, const mh_announce_args *a,
                            const mh_value *meta, bool announced, const char *name) {
  const mh_value *to = relay_ok ? r->to : member(first_arg(args), "to");
  directory d;
  build_directory(&d, a, meta, announced, name, to);
  size_t n = check_select(&d, to, MAX_PEERS);
  check_select(&d, to, 1 + input_hash % 3);
  check_select(&d, to, 0);
  /* undefined members of a description read as absent */
  mh_value *to2 = object_without_undefined(to);
  if (to2) {
    mh_target o1[MAX_PEERS], o2[MAX_PEERS];
    bool all1 = false, all2 = false;
    size_t n1 = mh_mesh_select(walk_directory, &d, to, o1, MAX_PEERS, &all1);
    size_t n2 = mh_mesh_select(walk_directory, &d, to2, o2, MAX_PEERS, &all2);
    FUZZ_CHECK(n1 == n2 && all1 == all2 && memcmp(o1, o2, n1 * sizeof *o1) == 0,
               "undefined members of the target change the selection (%zu, then %zu peers)", n1, n2);
    mh_value_free(to2);
  }
  check_providers(&d, name ? name : "calc:who");
  check_round_robin(n);
  check_round_robin(d.n);
  mh_value_free(d.owned);
}

/* ---- the signed identity ------------------------------------------------------------ */

/* The rule of docs/protocol.md, computed here: an OBJECT with an OBJECT from and a
 * 64-digit lowercase hex HMAC-SHA256 of from's canonical bytes as sig. */
static bool signature_right(const mh_mesh_key *k, const mh_value *identity) {
  const mh_value *from = identity && identity->type == MH_V_OBJECT ? mh_value_obj_get(identity, "from") : NULL;
  const mh_value *sig = identity && identity->type == MH_V_OBJECT ? mh_value_obj_get(identity, "sig") : NULL;
  if (!from || from->type != MH_V_OBJECT || !sig || sig->type != MH_V_STRING || sig->u.str.len != 64) return false;
  mh_buf canon = MH_BUF_INIT;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int maclen = 0;
  FUZZ_CHECK(mh_value_canonical(from, &canon) == 0, "canonical failed");
  FUZZ_CHECK(HMAC(EVP_sha256(), k->bytes, (int)k->len, (const unsigned char *)canon.data, canon.len, mac, &maclen) &&
                 maclen == 32,
             "HMAC failed");
  mh_buf_free(&canon);
  static const char digits[] = "0123456789abcdef";
  for (unsigned i = 0; i < 32; i++)
    if (sig->u.str.ptr[2 * i] != digits[mac[i] >> 4] || sig->u.str.ptr[2 * i + 1] != digits[mac[i] & 15]) return false;
  return true;
}

/* Verification and the relayed-call check agree with the rule, for any value. */
static void check_verify_any(const mh_value *identity, int64_t hops) {
  bool ok = mh_identity_verify(&key, identity), right = signature_right(&key, identity);
  if (ok != right) {
    fuzz_print_value("identity", identity);
    FUZZ_CHECK(ok == right, "verify says %d, the signature is %s", ok, right ? "right" : "wrong");
  }
  mh_error *err = NULL;
  int rc = mh_identity_accept_relayed(&key, identity, hops, MAX_HOPS, "fuzz-link", &err);
  if (rc == 0) {
    FUZZ_CHECK(!err && ok, "a relay was accepted with an identity that does not verify");
    FUZZ_CHECK(hops >= 0 && hops <= MAX_HOPS, "a relay was accepted after %lld hops (max %d)", (long long)hops,
               MAX_HOPS);
  } else {
    FUZZ_CHECK(rc == -1 && err, "a refused relay without an error");
    FUZZ_CHECK(ok || strcmp(err->code, MH_ERR_UNAUTHORIZED) == 0, "a bad identity refused with %s", err->code);
    FUZZ_CHECK(!ok || hops < 0 || hops > MAX_HOPS, "a good relay refused: %s", err->message);
    mh_error_free(err);
  }
}

/* identity with its sig replaced (sig taken). */
static mh_value *with_sig(const mh_value *identity, mh_value *sig) {
  mh_value *y = mh_value_copy(identity);
  FUZZ_CHECK(y && sig && mh_value_obj_set(y, "sig", sig) == 0, "out of memory");
  return y;
}

static void expect_refused(mh_value *y, const char *what) {
  FUZZ_CHECK(!mh_identity_verify(&key, y), "an identity with %s verifies", what);
  mh_value_free(y);
}

static void check_signature_changes(const mh_value *x) {
  const mh_value *sig = mh_value_obj_get(x, "sig");
  char hex[65];
  memcpy(hex, sig->u.str.ptr, 65);
  for (size_t i = 0; i < 64; i++) {
    char was = hex[i];
    /* another hex digit, or any other byte the input picks (never NUL:
     * decoded strings hold none) */
    unsigned char b = (unsigned char)(input_hash >> (i % 56));
    hex[i] = (was == 'f' ? 'e' : (char)(was + 1));
    if (b == 0 || b == (unsigned char)was) b = 'G';
    expect_refused(with_sig(x, mh_value_string(hex, 64)), "one signature digit changed");
    if (i % 4 == input_hash % 4) { /* a quarter of the positions: HMACs are the cost here */
      hex[i] = (char)b;
      expect_refused(with_sig(x, mh_value_string(hex, 64)), "one signature byte changed");
    }
    hex[i] = was;
  }
  /* Exactly as long as the allocation, so reading past the end is seen. */
  for (size_t len = 0; len < 64; len += 1 + len / 8)
    expect_refused(with_sig(x, mh_value_string(hex, len)), "a truncated signature");
  char longer[130];
  memcpy(longer, hex, 64);
  memcpy(longer + 64, hex, 64);
  expect_refused(with_sig(x, mh_value_string(longer, 65)), "a signature one byte longer");
  expect_refused(with_sig(x, mh_value_string(longer, 128)), "a signature twice as long");
  expect_refused(with_sig(x, mh_value_int(0)), "a number as signature");
  expect_refused(with_sig(x, mh_value_null()), "null as signature");
  expect_refused(with_sig(x, mh_value_new(MH_V_ARRAY)), "an array as signature");
  expect_refused(with_sig(x, mh_value_new(MH_V_OBJECT)), "an object as signature");
  FUZZ_CHECK(!mh_identity_verify(&other_key, x), "an identity verifies with another key");
}

/* One-byte changes to the identity as a JSON frame carries it: whatever
 * still decodes verifies only when it is the same identity. */
static void check_encoded_changes(const mh_value *x) {
  size_t len;
  mh_error *err = NULL;
  char *text = fuzz_encode(&mh_codec_json, x, &len, &err);
  if (!text) { /* a meta JSON cannot carry: check_wire looks at that */
    mh_error_free(err);
    return;
  }
  for (int k = 0; k < 24 && len; k++) {
    uint64_t r = input_hash * 6364136223846793005ULL + (uint64_t)k * 1442695040888963407ULL;
    size_t at = (size_t)(r >> 20) % len;
    char was = text[at];
    text[at] = (char)(was ^ (char)(1 + (r >> 8) % 255));
    mh_value *y = mh_codec_json.decode(text, len, &lim, &err);
    if (y) {
      bool ok = mh_identity_verify(&key, y);
      FUZZ_CHECK(ok == signature_right(&key, y), "verify disagrees with the rule on a changed identity");
      const mh_value *sig = y->type == MH_V_OBJECT ? mh_value_obj_get(y, "sig") : NULL;
      bool same = y->type == MH_V_OBJECT && same_opt(mh_value_obj_get(y, "from"), mh_value_obj_get(x, "from")) &&
                  same_opt(sig, mh_value_obj_get(x, "sig"));
      if (ok && !same) {
        fuzz_print_value("signed", x);
        fuzz_print_value("changed", y);
        FUZZ_CHECK(false, "an identity changed at byte %zu still verifies", at);
      }
      mh_value_free(y);
    }
    mh_error_free(err);
    err = NULL;
    text[at] = was;
  }
  free(text);
}

/* A signed identity crosses each codec and still verifies, as the same. */
static void check_wire(const mh_value *x) {
  static const mh_codec *const codecs[] = {&mh_codec_json, &mh_codec_sc, &mh_codec_devframe};
  for (size_t i = 0; i < sizeof codecs / sizeof *codecs; i++) {
    const mh_codec *c = codecs[i];
    size_t len;
    mh_error *err = NULL;
    char *text = fuzz_encode(c, x, &len, &err);
    if (!text) { /* the codec cannot carry a value of the meta: not sent */
      mh_error_free(err);
      continue;
    }
    mh_value *y = c->decode(text, len, &lim, &err);
    FUZZ_CHECK(y, "%s: a signed identity does not decode again: %s", c->name, err ? err->message : "?");
    if (!mh_identity_verify(&key, y)) {
      fuzz_print_value("signed", x);
      fuzz_print_value("received", y);
      FUZZ_CHECK(false, "%s: a signed identity no longer verifies after the wire", c->name);
    }
    mh_value_free(y);
    free(text);
  }
}

static void check_identity(const mh_announce_args *a, const mh_value *meta, bool announced, int64_t hops) {
  mh_value *from = mh_value_new(MH_V_OBJECT);
  FUZZ_CHECK(from, "out of memory");
  mh_value_obj_set(from, "id", mh_value_cstring(announced ? "c9" : "c1"));
  mh_value_obj_set(from, "role", mh_value_cstring(announced && a->role ? a->role : "anonymous"));
  mh_value_obj_set(from, "meta", announced && meta ? mh_value_copy(meta) : mh_value_new(MH_V_OBJECT));
  mh_value_obj_set(from, "host", mh_value_cstring("fuzz-host"));
  mh_value *want = mh_value_copy(from);
  mh_value *x = mh_identity_sign(&key, from);
  FUZZ_CHECK(x && want, "signing failed");
  const mh_value *sig = mh_value_obj_get(x, "sig");
  FUZZ_CHECK(sig && sig->type == MH_V_STRING && sig->u.str.len == 64, "the signature is not 64 characters");
  fuzz_check_same(want, mh_value_obj_get(x, "from"), "the signed from");
  FUZZ_CHECK(mh_identity_verify(&key, x), "a signed identity does not verify");
  FUZZ_CHECK(signature_right(&key, x), "the signature is not HMAC-SHA256 of from's canonical bytes in lowercase hex");
  check_verify_any(x, hops);
  check_signature_changes(x);
  check_encoded_changes(x);
  check_wire(x);
  mh_value_free(want);
  mh_value_free(x);
}

/* ---- the host-link proof ------------------------------------------------------------- */

/* The proof as mesh_identity.h documents it, recomputed here with OpenSSL. */
static void link_proof_by_rule(const mh_mesh_key *k, const char *side, const char *const f[4], char hex[65]) {
  mh_buf msg = MH_BUF_INIT;
  FUZZ_CHECK(mh_buf_appendf(&msg, "moonhost-link-v1 %s", side) == 0, "out of memory");
  for (int i = 0; i < 4; i++) FUZZ_CHECK(mh_buf_appendf(&msg, " %zu:%s", strlen(f[i]), f[i]) == 0, "out of memory");
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int maclen = 0;
  FUZZ_CHECK(HMAC(EVP_sha256(), k->bytes, (int)k->len, (const unsigned char *)msg.data, msg.len, mac, &maclen) &&
                 maclen == 32,
             "HMAC failed");
  mh_buf_free(&msg);
  for (unsigned i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", mac[i]);
}

static bool link_proof_ok(const mh_mesh_key *k, const char *side, const char *const f[4], const char *proof) {
  return mh_identity_link_proof_ok(k, side, f[0], f[1], f[2], f[3], proof);
}

/* A link proof over fields from the input (nonces, host ids: the role and
 * name the frame gives) is the documented HMAC, checks out, and fails for
 * anything else: the other side's, another key, any field one byte longer or
 * moved into its neighbour, one digit changed, truncated, absent. */
static void check_link_proof(const char *dialer_host, const char *server_host) {
  char nonce_d[17], nonce_s[17];
  snprintf(nonce_d, sizeof nonce_d, "%016llx", (unsigned long long)input_hash);
  snprintf(nonce_s, sizeof nonce_s, "%016llx", (unsigned long long)(input_hash * 31 + 7));
  const char *f[4] = {nonce_d, nonce_s, dialer_host, server_host};
  char proof[MH_LINK_PROOF_HEX + 1], want[65];
  FUZZ_CHECK(mh_identity_link_proof(&key, "dialer", f[0], f[1], f[2], f[3], proof) == 0, "no link proof");
  link_proof_by_rule(&key, "dialer", f, want);
  FUZZ_CHECK(strcmp(proof, want) == 0, "the link proof is not the documented HMAC");
  FUZZ_CHECK(link_proof_ok(&key, "dialer", f, proof), "a link proof does not check out");
  FUZZ_CHECK(!link_proof_ok(&key, "server", f, proof), "a dialer's proof checks out as the server's");
  FUZZ_CHECK(!link_proof_ok(&other_key, "dialer", f, proof), "a link proof checks out with another key");
  FUZZ_CHECK(!link_proof_ok(&key, "dialer", f, NULL), "no proof checks out");
  for (int i = 0; i < 4; i++) {
    mh_buf longer = MH_BUF_INIT;
    FUZZ_CHECK(mh_buf_appendf(&longer, "%s0", f[i]) == 0, "out of memory");
    const char *g[4] = {f[0], f[1], f[2], f[3]};
    g[i] = longer.data;
    FUZZ_CHECK(!link_proof_ok(&key, "dialer", g, proof), "a proof checks out with field %d changed", i);
    mh_buf_free(&longer);
  }
  /* "ab" + "c" is not "a" + "bc": the lengths keep the fields apart. */
  if (*f[2]) {
    mh_buf moved = MH_BUF_INIT;
    FUZZ_CHECK(mh_buf_appendf(&moved, "%s%c", f[1], f[2][0]) == 0, "out of memory");
    const char *g[4] = {f[0], moved.data, f[2] + 1, f[3]};
    FUZZ_CHECK(!link_proof_ok(&key, "dialer", g, proof), "a proof checks out with a byte moved between fields");
    mh_buf_free(&moved);
  }
  char changed[MH_LINK_PROOF_HEX + 1];
  memcpy(changed, proof, sizeof changed);
  size_t at = (size_t)(input_hash % MH_LINK_PROOF_HEX);
  changed[at] = changed[at] == 'f' ? 'e' : (char)(changed[at] + 1);
  FUZZ_CHECK(!link_proof_ok(&key, "dialer", f, changed), "a proof with a digit changed checks out");
  changed[at] = proof[at];
  changed[MH_LINK_PROOF_HEX - 1] = '\0';
  FUZZ_CHECK(!link_proof_ok(&key, "dialer", f, changed), "a truncated proof checks out");
}

/* ---- the frame ------------------------------------------------------------------------ */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_set_input(data, size);
  input_hash = 1469598103934665603ULL;
  for (size_t i = 0; i < size; i++) input_hash = (input_hash ^ data[i]) * 1099511628211ULL;
  const mh_codec *c = mh_codec_detect((const char *)data, size);
  mh_error *err = NULL;
  mh_value *root = c ? c->decode((const char *)data, size, &lim, &err) : NULL;
  mh_error_free(err);
  if (!root) return 0;

  /* A request or event gives its args and "x"; anything else is the one argument. */
  mh_envelope e;
  mh_value *args = NULL;
  const mh_value *x = NULL;
  err = NULL;
  if (mh_envelope_parse(root, &e, &err) == 0 && (e.kind == MH_ENV_REQUEST || e.kind == MH_ENV_EVENT)) {
    args = mh_envelope_take_args(&e);
    x = e.extra;
  } else {
    mh_error_free(err);
    args = mh_value_new(MH_V_ARRAY);
    FUZZ_CHECK(args && mh_value_push(args, mh_value_copy(root)) == 0, "out of memory");
  }
  FUZZ_CHECK(args != NULL, "no arguments");

  mh_relay_args r;
  mh_make_args m;
  mh_announce_args a;
  bool relay_ok = check_relay(args, &r) == 0;
  bool make_ok = check_make(args, &m) == 0;
  bool announced = check_announce(args, &a) == 0;
  mh_value *meta = announced ? check_announced_meta(a.meta, &announced) : NULL;
  const char *name = check_name(args);
  check_undefined_is_absent(args);
  check_selection(args, &r, relay_ok, &a, meta, announced, make_ok ? m.name : name);

  int64_t hops = relay_ok ? r.hops : make_ok ? m.hops : 0;
  check_verify_any(x, hops);
  check_verify_any(first_arg(args), hops); /* what verify({from, sig}) is given */
  check_verify_any(relay_ok ? r.identity : NULL, hops);
  check_identity(&a, meta, announced, hops);
  check_link_proof(announced && a.role ? a.role : "h1", make_ok ? m.name : name ? name : "h2");
  mh_value_free(meta);

  mh_value_free(args);
  mh_value_free(root);
  return 0;
}
