#include "mesh/mesh_parse.h"

#include <math.h>
#include <string.h>

#include "codec/codec.h"

const mh_value *mh_mesh_member(const mh_value *o, const char *k) {
  /* Undefined is absent: a structured-clone client's {args: undefined} was
   * refused and its {capability: undefined} matched no peer, while the same
   * call over JSON (which leaves the member out) worked (fuzz_relay). */
  const mh_value *v = o && o->type == MH_V_OBJECT ? mh_value_obj_get(o, k) : NULL;
  return v && v->type != MH_V_UNDEFINED ? v : NULL;
}

const char *mh_mesh_str_member(const mh_value *o, const char *k) {
  const mh_value *v = mh_mesh_member(o, k);
  return v && v->type == MH_V_STRING ? v->u.str.ptr : "";
}

int64_t mh_mesh_int_member(const mh_value *o, const char *k) {
  const mh_value *v = mh_mesh_member(o, k);
  return v && v->type == MH_V_INT ? v->u.i : 0;
}

const mh_value *mh_mesh_first_arg(const mh_value *args) {
  return args && args->type == MH_V_ARRAY && args->u.arr.len ? args->u.arr.items[0] : NULL;
}

/* A positive number of milliseconds; 0 for none (the configured timeout).
 * A fraction is rounded up: 0.5 cut to 0 timed the call out at once
 * (fuzz_relay). Anything longer than the maximum, Infinity too, is the
 * maximum: converting a double beyond uint64_t is undefined behaviour, and
 * 1e999 is Infinity in JSON (fuzz_relay). NaN is not > 0. */
static uint64_t timeout_of(const mh_value *opts) {
  const mh_value *t = mh_mesh_member(opts, "timeout");
  if (t && t->type == MH_V_INT && t->u.i > 0)
    return (uint64_t)t->u.i < MH_MESH_MAX_TIMEOUT_MS ? (uint64_t)t->u.i : MH_MESH_MAX_TIMEOUT_MS;
  if (t && t->type == MH_V_FLOAT && t->u.f > 0)
    return t->u.f < (double)MH_MESH_MAX_TIMEOUT_MS ? (uint64_t)ceil(t->u.f) : MH_MESH_MAX_TIMEOUT_MS;
  return 0;
}

static int64_t hops_of(const mh_value *opts) {
  const mh_value *hv = mh_mesh_member(opts, "hops");
  return hv && hv->type == MH_V_INT ? hv->u.i : 0;
}

int mh_mesh_parse_relay(const mh_value *args, const char *fn, mh_relay_args *out, mh_error **err) {
  const mh_value *opts = mh_mesh_first_arg(args), *method = mh_mesh_member(opts, "method");
  const mh_value *all = mh_mesh_member(opts, "all");
  memset(out, 0, sizeof *out);
  out->to = mh_mesh_member(opts, "to");
  out->args = mh_mesh_member(opts, "args");
  if (!out->to || !method || method->type != MH_V_STRING || (out->args && out->args->type != MH_V_ARRAY)) {
    *err = mh_error_new(MH_ERR_BAD_REQUEST, "%s expects {to, method: string, args?: array}", fn);
    return -1;
  }
  out->method = method->u.str.ptr;
  out->all = all && all->type == MH_V_BOOL && all->u.b;
  out->timeout_ms = timeout_of(opts);
  out->identity = mh_mesh_member(opts, "identity");
  out->hops = hops_of(opts);
  return 0;
}

int mh_mesh_parse_make(const mh_value *args, mh_make_args *out, mh_error **err) {
  const mh_value *opts = mh_mesh_first_arg(args), *name = mh_mesh_member(opts, "name");
  memset(out, 0, sizeof *out);
  out->args = mh_mesh_member(opts, "args");
  if (!name || name->type != MH_V_STRING || (out->args && out->args->type != MH_V_ARRAY)) {
    *err = mh_error_new(MH_ERR_BAD_REQUEST, "make expects {name: string, args?: array}");
    return -1;
  }
  out->name = name->u.str.ptr;
  out->timeout_ms = timeout_of(opts);
  out->identity = mh_mesh_member(opts, "identity");
  out->hops = hops_of(opts);
  return 0;
}

bool mh_mesh_strings_only(const mh_value *v) {
  if (!v) return true;
  if (v->type == MH_V_OBJECT && v->u.obj.len == 0) return true;
  if (v->type != MH_V_ARRAY) return false;
  for (size_t i = 0; i < v->u.arr.len; i++)
    if (v->u.arr.items[i]->type != MH_V_STRING) return false;
  return true;
}

int mh_mesh_parse_announce(const mh_value *args, mh_announce_args *out, mh_error **err) {
  const mh_value *o = mh_mesh_first_arg(args);
  const mh_value *role = mh_mesh_member(o, "role"), *caps = mh_mesh_member(o, "capabilities");
  const mh_value *meta = mh_mesh_member(o, "meta");
  memset(out, 0, sizeof *out);
  if ((o && o->type != MH_V_OBJECT) || (role && role->type != MH_V_STRING) || !mh_mesh_strings_only(caps) ||
      (meta && meta->type != MH_V_OBJECT && meta->type != MH_V_NULL)) {
    *err = mh_error_new(MH_ERR_BAD_REQUEST, "announce expects {role: string, capabilities: string[], meta: object}");
    return -1;
  }
  out->role = role ? role->u.str.ptr : NULL;
  out->capabilities = caps && caps->type == MH_V_ARRAY ? caps : NULL;
  out->meta = meta && meta->type == MH_V_OBJECT ? meta : NULL;
  return 0;
}

const char *mh_mesh_parse_name(const mh_value *args) {
  const mh_value *o = mh_mesh_first_arg(args);
  const mh_value *n = o && o->type == MH_V_OBJECT ? mh_mesh_member(o, "name") : o;
  return n && n->type == MH_V_STRING && n->u.str.len ? n->u.str.ptr : NULL;
}

mh_value *mh_mesh_announced_meta(const mh_value *meta, mh_error **err) {
  static const mh_codec_limits lim = {64}; /* the meta came in a frame under the same limit */
  mh_buf text = MH_BUF_INIT;
  mh_error *why = NULL;
  mh_value *out = NULL;
  if (mh_codec_json.encode(meta, &text, &why) == 0) out = mh_codec_json.decode(text.data, text.len, &lim, &why);
  mh_buf_free(&text);
  if (!out) {
    *err = mh_error_new(MH_ERR_BAD_REQUEST, "announce: meta must be JSON (%s)", why ? why->message : "?");
    mh_error_free(why);
  }
  return out;
}
