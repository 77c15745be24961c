/* mh_error: client-facing errors and their wire form. */
#include "core/error.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Returned when memory runs out, so callers never have to handle a NULL
 * error on their own failure paths. mh_error_free leaves it alone. */
static char mh_error_oom_code[] = MH_ERR_INTERNAL;
static char mh_error_oom_name[] = "Error";
static char mh_error_oom_message[] = "out of memory";
static mh_error mh_error_oom = {mh_error_oom_code, mh_error_oom_name, mh_error_oom_message, NULL, false, 0};

bool mh_error_is_static(const mh_error *e) { return e == &mh_error_oom; }

static char *mh_error_strdup(const char *s) {
  size_t len = strlen(s);
  char *p = malloc(len + 1);
  if (p) memcpy(p, s, len + 1);
  return p;
}

/* Messages often carry bytes from elsewhere (Lua errors, file names); an
 * error reply must stay encodable, so invalid UTF-8 becomes U+FFFD. Takes s. */
static char *mh_error_sanitize(char *s) {
  if (!s) return NULL;
  size_t len = strlen(s);
  if (mh_utf8_valid(s, len)) return s;
  mh_buf b = MH_BUF_INIT;
  size_t i = 0;
  while (i < len) {
    /* Longest valid sequence (1..4 bytes) starting at i, if any. */
    size_t n = 0;
    for (size_t k = 1; k <= 4 && i + k <= len; k++)
      if (mh_utf8_valid(s + i, k)) n = k;
    int rc = n ? mh_buf_append(&b, s + i, n) : mh_buf_append(&b, "\xEF\xBF\xBD", 3);
    if (rc) {
      mh_buf_free(&b);
      free(s);
      return NULL;
    }
    i += n ? n : 1;
  }
  free(s);
  return mh_buf_steal(&b, NULL);
}

/* Builds an error from its parts (all copied); NULL when memory runs out. */
static mh_error *mh_error_make(const char *code, const char *name, const char *message, const mh_value *data) {
  mh_error *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  e->code = mh_error_strdup(code ? code : MH_ERR_INTERNAL);
  e->name = mh_error_sanitize(mh_error_strdup(name ? name : "Error"));
  e->message = mh_error_sanitize(mh_error_strdup(message ? message : ""));
  e->data = data ? mh_value_copy(data) : NULL;
  if (!e->code || !e->name || !e->message || (data && !e->data)) {
    mh_error_free(e);
    return NULL;
  }
  return e;
}

mh_error *mh_error_new(const char *code, const char *fmt, ...) {
  mh_buf msg = MH_BUF_INIT;
  va_list ap;
  va_start(ap, fmt);
  int rc = mh_buf_vappendf(&msg, fmt, ap);
  va_end(ap);
  mh_error *e = rc == 0 ? mh_error_make(code, "Error", msg.data, NULL) : NULL;
  mh_buf_free(&msg);
  return e ? e : &mh_error_oom;
}

mh_error *mh_error_copy(const mh_error *e) {
  if (!e) return NULL;
  if (e == &mh_error_oom) return &mh_error_oom;
  mh_error *c = mh_error_make(e->code, e->name, e->message, e->data);
  if (!c) return &mh_error_oom;
  c->defined = e->defined;
  c->status = e->status;
  return c;
}

void mh_error_free(mh_error *e) {
  if (!e || e == &mh_error_oom) return;
  free(e->code);
  free(e->name);
  free(e->message);
  mh_value_free(e->data);
  free(e);
}

mh_value *mh_error_to_value(const mh_error *e) {
  if (!e) return NULL;
  mh_value *v = mh_value_new(MH_V_OBJECT);
  if (!v) return NULL;
  if (mh_value_obj_set(v, "name", mh_value_cstring(e->name ? e->name : "Error")) ||
      mh_value_obj_set(v, "message", mh_value_cstring(e->message ? e->message : "")) ||
      mh_value_obj_set(v, "code", mh_value_cstring(e->code ? e->code : MH_ERR_INTERNAL)) ||
      (e->data && mh_value_obj_set(v, "data", mh_value_copy(e->data)))) {
    mh_value_free(v);
    return NULL;
  }
  return v;
}

/* A field of an error object when it is a string, else NULL. */
static const char *mh_error_field(const mh_value *obj, const char *key) {
  const mh_value *f = mh_value_obj_get(obj, key);
  return f && f->type == MH_V_STRING ? f->u.str.ptr : NULL;
}

mh_error *mh_error_from_value(const mh_value *v) {
  mh_error *e = NULL;
  if (v && v->type == MH_V_OBJECT) {
    const char *message = mh_error_field(v, "message");
    const mh_value *data = mh_value_obj_get(v, "data");
    if (data && data->type == MH_V_UNDEFINED) data = NULL; /* as if absent */
    e = mh_error_make(mh_error_field(v, "code"), mh_error_field(v, "name"), message ? message : "unknown error",
                      data);
  } else if (v && v->type == MH_V_ERROR) {
    e = mh_error_make(MH_ERR_INTERNAL, v->u.err.name, v->u.err.message, NULL);
  } else if (v && v->type == MH_V_STRING) {
    e = mh_error_make(MH_ERR_INTERNAL, "Error", v->u.str.ptr, NULL);
  } else {
    e = mh_error_make(MH_ERR_INTERNAL, "Error", "unknown error", v);
  }
  return e ? e : &mh_error_oom;
}
