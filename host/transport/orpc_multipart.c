/* multipart/form-data bodies, as RPCLink sends an input that holds Blobs or
 * Files: part "data" carries {json, meta, maps}, parts "0", "1", ... the
 * files, and maps[i] is the path where file i goes. libwebsockets' own form
 * parser streams to callbacks and files; the body is in memory already
 * (bounded by limits.max_message_bytes), so this parser works on it in
 * place: strict (CRLF line ends, the boundary at the very start, quoted
 * parameters) and bounded (part count, header size). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "transport/orpc.h"

#define MAX_PARTS 1024
#define MAX_HEADERS_BYTES 8192

typedef struct part {
  char name[64];
  char filename[512];
  char type[256];
  bool is_file;
  const char *data;
  size_t len;
} part;

static mh_value *fail(mh_error **err, const char *msg) {
  mh_error *e = mh_error_new(MH_ERR_BAD_REQUEST, "multipart body: %s", msg);
  if (err) *err = e;
  else mh_error_free(e);
  return NULL;
}

/* A parameter of a header value (boundary=..., name="..."): quoted or a
 * token. In quoted form browsers write '"', CR and LF as %22, %0D, %0A. */
static bool param(const char *hv, const char *key, char *out, size_t len) {
  size_t klen = strlen(key);
  for (const char *p = hv; (p = strcasestr(p, key)) != NULL; p += klen) {
    if (p != hv && p[-1] != ';' && p[-1] != ' ' && p[-1] != '\t') continue;
    if (p[klen] != '=') continue;
    const char *v = p + klen + 1;
    size_t n = 0;
    if (*v == '"') {
      for (v++; *v && *v != '"' && n + 1 < len; v++) {
        char c = *v;
        if (c == '%' && (strncasecmp(v, "%22", 3) == 0 || strncasecmp(v, "%0D", 3) == 0 || strncasecmp(v, "%0A", 3) == 0)) {
          c = v[2] == '2' ? '"' : (v[2] == 'D' || v[2] == 'd') ? '\r' : '\n';
          v += 2;
        }
        out[n++] = c;
      }
      if (*v != '"') return false; /* unterminated, or too long for out */
    } else {
      n = strcspn(v, "; \t");
      if (n >= len) return false;
      memcpy(out, v, n);
    }
    out[n] = '\0';
    return true;
  }
  return false;
}

/* One header block ("Name: value\r\n..."), NUL-terminated in a copy. */
static bool part_headers(char *h, part *pt) {
  for (char *line = h; *line;) {
    char *end = strstr(line, "\r\n");
    if (end) *end = '\0';
    if (strncasecmp(line, "content-disposition:", 20) == 0) {
      if (!param(line + 20, "name", pt->name, sizeof pt->name)) return false;
      pt->is_file = param(line + 20, "filename", pt->filename, sizeof pt->filename);
    } else if (strncasecmp(line, "content-type:", 13) == 0) {
      snprintf(pt->type, sizeof pt->type, "%s", line + 13 + strspn(line + 13, " \t"));
    }
    if (!end) break;
    line = end + 2;
  }
  return pt->name[0] != '\0';
}

/* Room for one more part (the array grows up to MAX_PARTS). */
static part *grow(part **parts, int n, int *cap) {
  if (n == *cap) {
    if (n == MAX_PARTS) return NULL;
    int ncap = *cap ? *cap * 4 : 4;
    if (ncap > MAX_PARTS) ncap = MAX_PARTS;
    part *p = realloc(*parts, (size_t)ncap * sizeof *p);
    if (!p) return NULL;
    *parts = p;
    *cap = ncap;
  }
  return &(*parts)[n];
}

/* Splits body into parts; returns their count or -1 with *why. */
static int split(const char *body, size_t len, const char *boundary, part **parts, const char **why) {
  char delim[80];
  int dlen = snprintf(delim, sizeof delim, "\r\n--%s", boundary);
  const char *end = body + len;
  /* The first delimiter has no CRLF before it. */
  if (len < (size_t)dlen - 2 || memcmp(body, delim + 2, (size_t)dlen - 2) != 0)
    return *why = "it does not start with the boundary", -1;
  const char *p = body + dlen - 2;
  int n = 0, cap = 0;
  for (;;) {
    if (end - p >= 2 && memcmp(p, "--", 2) == 0) return n; /* the closing delimiter; the epilogue is ignored */
    if (end - p < 2 || memcmp(p, "\r\n", 2) != 0) return *why = "a boundary is not followed by CRLF", -1;
    p += 2;
    const char *hend = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
    if (!hend || hend - p > MAX_HEADERS_BYTES) return *why = "part headers missing or too long", -1;
    char headers[MAX_HEADERS_BYTES + 1];
    memcpy(headers, p, (size_t)(hend - p));
    headers[hend - p] = '\0';
    part *pt = grow(parts, n, &cap);
    if (!pt) return *why = "too many parts (or out of memory)", -1;
    memset(pt, 0, sizeof *pt);
    if (memchr(p, '\0', (size_t)(hend - p)) || !part_headers(headers, pt))
      return *why = "a part without Content-Disposition: form-data; name=\"...\"", -1;
    pt->data = hend + 4;
    const char *next = memmem(pt->data, (size_t)(end - pt->data), delim, (size_t)dlen);
    if (!next) return *why = "a part is not closed by the boundary", -1;
    pt->len = (size_t)(next - pt->data);
    p = next + dlen;
    n++;
  }
}

static const part *find(const part *parts, int n, const char *name) {
  for (int i = 0; i < n; i++)
    if (strcmp(parts[i].name, name) == 0) return &parts[i]; /* the first, as FormData.get */
  return NULL;
}

/* A file as handlers see it: {name, type, size, bytes}. */
static mh_value *file_value(const part *pt) {
  mh_value *f = mh_value_new(MH_V_OBJECT);
  if (f && (mh_value_obj_set(f, "name", mh_value_cstring(pt->filename)) ||
            mh_value_obj_set(f, "type", mh_value_cstring(pt->type)) ||
            mh_value_obj_set(f, "size", mh_value_int((int64_t)pt->len)) ||
            mh_value_obj_set(f, "bytes", mh_value_string(pt->data, pt->len)))) {
    mh_value_free(f);
    return NULL;
  }
  return f;
}

/* Puts file i where maps[i] says. */
static int place_files(mh_value **root, const mh_value *maps, const part *parts, int n, mh_error **err) {
  if (!maps || maps->type == MH_V_UNDEFINED || maps->type == MH_V_NULL) return 0;
  if (maps->type != MH_V_ARRAY) return fail(err, "maps must be an array of paths"), -1;
  uint64_t budget = MH_ORPC_PATH_BUDGET;
  for (size_t i = 0; i < maps->u.arr.len; i++) {
    char name[32], what[48];
    snprintf(name, sizeof name, "%zu", i);
    snprintf(what, sizeof what, "maps[%zu]", i);
    const part *pt = find(parts, n, name);
    const mh_value *path = maps->u.arr.items[i];
    if (!pt || !pt->is_file) return fail(err, "a file named in maps is missing (or has no filename)"), -1;
    if (!mh_utf8_valid(pt->filename, strlen(pt->filename)) || !mh_utf8_valid(pt->type, strlen(pt->type)))
      return fail(err, "a file name or type is not UTF-8"), -1;
    if (path->type != MH_V_ARRAY) return fail(err, "maps must be an array of paths"), -1;
    mh_value **slot = mh_orpc_slot(root, path, 0, what, &budget, err);
    if (!slot) return -1;
    mh_value *f = file_value(pt);
    if (!f) {
      if (err) *err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
      return -1;
    }
    mh_value_free(*slot);
    *slot = f;
  }
  return 0;
}

mh_value *mh_orpc_decode_multipart(const char *body, size_t len, const char *content_type,
                                   const mh_codec_limits *lim, mh_error **err) {
  char boundary[72];
  if (!param(content_type, "boundary", boundary, sizeof boundary) || !boundary[0])
    return fail(err, "Content-Type has no boundary (1 to 70 characters)");
  part *parts = NULL;
  const char *why = NULL;
  int n = body ? split(body, len, boundary, &parts, &why) : -1;
  const part *data = n >= 0 ? find(parts, n, "data") : NULL;
  mh_value *out = NULL, *doc = NULL;
  if (n < 0) {
    fail(err, why ? why : "empty");
  } else if (!data) {
    fail(err, "no part named \"data\"");
  } else if ((doc = mh_codec_json.decode(data->data, data->len, lim, err)) && doc->type != MH_V_OBJECT) {
    fail(err, "part \"data\" must be a JSON object {json, meta, maps}");
  } else if (doc) {
    mh_value *json = NULL;
    for (size_t i = doc->u.obj.len; i-- > 0 && !json;) /* moved out: the last "json", as JSON.parse */
      if (strcmp(doc->u.obj.items[i].key->u.str.ptr, "json") == 0) {
        json = doc->u.obj.items[i].val;
        doc->u.obj.items[i].val = NULL;
      }
    mh_value *root = json ? json : mh_value_undefined();
    if (!root)
      fail(err, "out of memory");
    else if (place_files(&root, mh_value_obj_get(doc, "maps"), parts, n, err) == 0)
      out = mh_orpc_apply_meta(root, mh_value_obj_get(doc, "meta"), err);
    else
      mh_value_free(root);
  }
  mh_value_free(doc);
  free(parts);
  return out;
}
