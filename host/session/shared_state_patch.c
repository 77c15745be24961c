/* Immer-style patches for shared state: the diff the store sends to clients
 * of keys declared with patches, and applying the patches a client sends
 * (devframe:rpc:server-state:patch). Shapes as immer's applyPatches reads
 * them: {op, path, value}, path a list of object keys (strings) and array
 * indexes (numbers). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "session/shared_state.h"

/* ---- diff -------------------------------------------------------------- */

static int add_patch(mh_value *out, const char *op, const mh_value *path, const mh_value *value) {
  mh_value *p = mh_value_new(MH_V_OBJECT);
  if (!p || mh_value_obj_set(p, "op", mh_value_cstring(op)) || mh_value_obj_set(p, "path", mh_value_copy(path)) ||
      (value && mh_value_obj_set(p, "value", mh_value_copy(value)))) {
    mh_value_free(p);
    return -1;
  }
  return mh_value_push(out, p);
}

static void path_pop(mh_value *path) { mh_value_free(path->u.arr.items[--path->u.arr.len]); }

static int diff_at(const mh_value *a, const mh_value *b, mh_value *path, mh_value *out);

/* Runs diff_at with `seg` (taken) appended to path. */
static int diff_child(const mh_value *a, const mh_value *b, mh_value *path, mh_value *seg, mh_value *out) {
  if (mh_value_push(path, seg)) return -1;
  int rc = diff_at(a, b, path, out);
  path_pop(path);
  return rc;
}

static int op_child(mh_value *out, const char *op, mh_value *path, mh_value *seg, const mh_value *value) {
  if (mh_value_push(path, seg)) return -1;
  int rc = add_patch(out, op, path, value);
  path_pop(path);
  return rc;
}

static int diff_objects(const mh_value *a, const mh_value *b, mh_value *path, mh_value *out) {
  for (size_t i = 0; i < a->u.obj.len; i++) {
    const char *k = a->u.obj.items[i].key->u.str.ptr;
    if (!mh_value_obj_get(b, k) && op_child(out, "remove", path, mh_value_cstring(k), NULL)) return -1;
  }
  for (size_t i = 0; i < b->u.obj.len; i++) {
    const char *k = b->u.obj.items[i].key->u.str.ptr;
    const mh_value *old = mh_value_obj_get(a, k);
    int rc = old ? diff_child(old, b->u.obj.items[i].val, path, mh_value_cstring(k), out)
                 : op_child(out, "add", path, mh_value_cstring(k), b->u.obj.items[i].val);
    if (rc) return -1;
  }
  return 0;
}

/* Common items change in place, new ones are added at the end, and
 * surplus ones removed from the end (immer splices on remove). */
static int diff_arrays(const mh_value *a, const mh_value *b, mh_value *path, mh_value *out) {
  size_t na = a->u.arr.len, nb = b->u.arr.len;
  for (size_t i = 0; i < na && i < nb; i++)
    if (diff_child(a->u.arr.items[i], b->u.arr.items[i], path, mh_value_int((int64_t)i), out)) return -1;
  for (size_t i = na; i < nb; i++)
    if (op_child(out, "add", path, mh_value_int((int64_t)i), b->u.arr.items[i])) return -1;
  for (size_t i = na; i > nb; i--)
    if (op_child(out, "remove", path, mh_value_int((int64_t)(i - 1)), NULL)) return -1;
  return 0;
}

static int diff_at(const mh_value *a, const mh_value *b, mh_value *path, mh_value *out) {
  if (mh_value_equal(a, b)) return 0;
  if (a->type == MH_V_OBJECT && b->type == MH_V_OBJECT) return diff_objects(a, b, path, out);
  if (a->type == MH_V_ARRAY && b->type == MH_V_ARRAY) return diff_arrays(a, b, path, out);
  return add_patch(out, "replace", path, b);
}

int mh_state_diff(const mh_value *a, const mh_value *b, mh_value *out) {
  mh_value *path = mh_value_new(MH_V_ARRAY);
  int rc = path ? diff_at(a, b, path, out) : -1;
  mh_value_free(path);
  return rc;
}

/* ---- apply ------------------------------------------------------------- */

static int bad(mh_error **err, const char *why, size_t n) {
  *err = mh_error_new(MH_ERR_BAD_REQUEST, "patch %zu: %s", n, why);
  return -1;
}

/* An array index from a path segment (a number, or digits as text), or -1. */
static int64_t index_of(const mh_value *seg) {
  if (seg->type == MH_V_INT) return seg->u.i;
  if (seg->type == MH_V_FLOAT && seg->u.f >= 0 && seg->u.f < 1e15 && floor(seg->u.f) == seg->u.f) return (int64_t)seg->u.f;
  if (seg->type == MH_V_STRING && seg->u.str.len > 0 && seg->u.str.len < 16 &&
      strspn(seg->u.str.ptr, "0123456789") == seg->u.str.len)
    return strtoll(seg->u.str.ptr, NULL, 10);
  return -1;
}

/* The child of c at seg, or NULL. */
static mh_value *child(mh_value *c, const mh_value *seg) {
  if (c->type == MH_V_OBJECT && seg->type == MH_V_STRING) return (mh_value *)mh_value_obj_get(c, seg->u.str.ptr);
  int64_t i = index_of(seg);
  if (c->type == MH_V_ARRAY && i >= 0 && (size_t)i < c->u.arr.len) return c->u.arr.items[i];
  return NULL;
}

static void obj_remove(mh_value *obj, const char *key) {
  for (size_t i = obj->u.obj.len; i-- > 0;) {
    mh_pair *p = &obj->u.obj.items[i];
    if (strcmp(p->key->u.str.ptr, key) != 0) continue;
    mh_value_free(p->key);
    mh_value_free(p->val);
    memmove(p, p + 1, (obj->u.obj.len - i - 1) * sizeof *p);
    obj->u.obj.len--;
  }
}

static int apply_on_object(mh_value *obj, const char *op, const char *key, const mh_value *value) {
  if (strcmp(op, "remove") == 0) {
    obj_remove(obj, key);
    return 0;
  }
  return mh_value_obj_set(obj, key, mh_value_copy(value));
}

/* 0, -1 (memory) or -2 (does not fit the array). */
static int apply_on_array(mh_value *arr, const char *op, const mh_value *seg, const mh_value *value) {
  size_t len = arr->u.arr.len;
  if (seg->type == MH_V_STRING && strcmp(seg->u.str.ptr, "length") == 0 && strcmp(op, "replace") == 0) {
    int64_t n = value ? index_of(value) : -1;
    if (n < 0 || (size_t)n > len) return -2;
    while (arr->u.arr.len > (size_t)n) mh_value_free(arr->u.arr.items[--arr->u.arr.len]);
    return 0;
  }
  int64_t i = (seg->type == MH_V_STRING && strcmp(seg->u.str.ptr, "-") == 0) ? (int64_t)len : index_of(seg);
  bool insert = strcmp(op, "add") == 0;
  if (i < 0 || (size_t)i > len || ((size_t)i == len && !insert)) return -2;
  if (strcmp(op, "replace") == 0) return mh_value_replace(arr->u.arr.items[i], value);
  if (!insert) { /* remove */
    mh_value_free(arr->u.arr.items[i]);
    memmove(&arr->u.arr.items[i], &arr->u.arr.items[i + 1], (len - (size_t)i - 1) * sizeof(mh_value *));
    arr->u.arr.len--;
    return 0;
  }
  if (mh_value_push(arr, mh_value_copy(value))) return -1; /* grow, then rotate it into place */
  mh_value *added = arr->u.arr.items[len];
  memmove(&arr->u.arr.items[i + 1], &arr->u.arr.items[i], (len - (size_t)i) * sizeof(mh_value *));
  arr->u.arr.items[i] = added;
  return 0;
}

static int apply_one(mh_value **root, const mh_value *p, size_t n, mh_error **err) {
  const mh_value *op = p->type == MH_V_OBJECT ? mh_value_obj_get(p, "op") : NULL;
  const mh_value *path = p->type == MH_V_OBJECT ? mh_value_obj_get(p, "path") : NULL;
  const mh_value *value = p->type == MH_V_OBJECT ? mh_value_obj_get(p, "value") : NULL;
  if (!op || op->type != MH_V_STRING || !path || path->type != MH_V_ARRAY)
    return bad(err, "expected {op, path, value}", n);
  const char *o = op->u.str.ptr;
  if (strcmp(o, "add") && strcmp(o, "replace") && strcmp(o, "remove"))
    return bad(err, "op must be add, replace or remove", n);
  bool needs_value = strcmp(o, "remove") != 0;
  if (needs_value && !value) return bad(err, "no value", n);
  if (path->u.arr.len == 0) {
    if (strcmp(o, "replace") != 0) return bad(err, "only replace applies to the whole value", n);
    mh_value *copy = mh_value_copy(value);
    if (!copy) return bad(err, "out of memory", n);
    mh_value_free(*root);
    *root = copy;
    return 0;
  }
  mh_value *c = *root;
  for (size_t i = 0; c && i + 1 < path->u.arr.len; i++) c = child(c, path->u.arr.items[i]);
  const mh_value *last = path->u.arr.items[path->u.arr.len - 1];
  int rc = -2;
  if (c && c->type == MH_V_OBJECT && last->type == MH_V_STRING) rc = apply_on_object(c, o, last->u.str.ptr, value);
  else if (c && c->type == MH_V_ARRAY) rc = apply_on_array(c, o, last, value);
  if (rc == -1) return bad(err, "out of memory", n);
  return rc ? bad(err, "its path does not lead into the value", n) : 0;
}

int mh_state_apply(mh_value **root, const mh_value *patches, mh_error **err) {
  if (!patches || patches->type != MH_V_ARRAY) return bad(err, "patches must be a list", 0);
  for (size_t i = 0; i < patches->u.arr.len; i++)
    if (apply_one(root, patches->u.arr.items[i], i, err)) return -1;
  return 0;
}
