/* Configuration: one schema table (cfg_keys) drives the defaults, the
 * checking of fragments and the filling of mh_config, so a key is added
 * in exactly one place. Fragments are evaluated by the Lua bindings; this
 * file never sees Lua. */
#include "core/config.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/path_abs.h"

typedef enum {
  CK_OBJECT, /* a table of known keys */
  CK_FREE,   /* a table whose contents are not checked (plugins) */
  CK_STRING, /* a non-empty string */
  CK_TEXT,   /* any string without NUL bytes, empty included */
  CK_LISTEN, /* a string accepted by mh_config_parse_listen */
  CK_INT,    /* an integer in [min, max] */
  CK_ENUM,   /* one of choices */
  CK_BOOL,   /* true or false (def_int 0 or 1) */
  CK_STRLIST, /* a list of non-empty strings ({} counts as an empty list) */
  CK_LIST,   /* a list of anything, checked by its user ({} counts as empty) */
  CK_TOKENS, /* auth.tokens: a list of 'TOKEN' or {token='TOKEN', roles={...}} */
  CK_SUBJECT, /* NATS subject tokens joined by '.', no wildcards or blanks */
} cfg_kind;

/* How apply stores a leaf in mh_config. */
typedef enum { CF_NONE, CF_STR, CF_LISTEN, CF_LEVEL, CF_INT, CF_SIZE, CF_U32, CF_U64, CF_BOOL, CF_VALUE } cfg_field;

typedef struct cfg_key {
  const char *path; /* dotted; a parent is listed before its children */
  cfg_kind kind;
  const char *def_str; /* default of STRING, LISTEN, ENUM */
  int64_t def_int, min, max;
  bool show_max; /* the max is part of the contract (not just the C type's) */
  const char *const *choices;
  cfg_field field;
  size_t offset;
  const char *doc; /* conf.d/00-defaults.lua says the same for users */
} cfg_key;

static const char *const cfg_modes[] = {"dev", "build", NULL};
/* Same order as mh_log_level, so the index is the level. */
static const char *const cfg_backends[] = {"websocket", "sse", NULL};
static const char *const cfg_levels[] = {"error", "warn", "info", "debug", "trace", NULL};
static const char *const cfg_log_formats[] = {"text", "json", NULL};

/* The largest integer a size_t field takes (values are int64_t). */
#define CFG_SIZE_MAX                                                                               \
  ((uint64_t)SIZE_MAX < (uint64_t)INT64_MAX ? (int64_t)SIZE_MAX : INT64_MAX)
#define AT(m) .offset = offsetof(mh_config, m)
#define OBJ(p, d) {.path = p, .kind = CK_OBJECT, .doc = d}
#define STR(p, def, m, d)                                                                          \
  {.path = p, .kind = CK_STRING, .def_str = def, .field = CF_STR, AT(m), .doc = d}
#define INT(p, def, lo, hi, show, fld, m, d)                                                       \
  {.path = p, .kind = CK_INT, .def_int = def, .min = lo, .max = hi, .show_max = show,            \
   .field = fld, AT(m), .doc = d}

static const cfg_key cfg_keys[] = {
    {.path = "listen", .kind = CK_LISTEN, .def_str = "127.0.0.1:7812", .field = CF_LISTEN,
     .doc = "address the server listens on, HOST:PORT"},
    STR("plugins_dir", "plugins", plugins_dir, "directory of plugins, relative to the cwd"),
    STR("root", ".", root, "project root plugins see as ctx.root"),
    {.path = "mode", .kind = CK_ENUM, .def_str = "dev", .choices = cfg_modes, .field = CF_STR,
     AT(mode), .doc = "dev or build"},
    OBJ("dev_server", "the dev server beside moonhost"),
    {.path = "dev_server.url", .kind = CK_TEXT, .def_str = "", .field = CF_STR, AT(dev_server_url),
     .doc = "its URL, shown to plugins as ctx.dev_server.url"},
    OBJ("log", "logging"),
    {.path = "log.level", .kind = CK_ENUM, .def_str = "info", .choices = cfg_levels,
     .field = CF_LEVEL, AT(log_level), .doc = "least severe level written"},
    {.path = "log.format", .kind = CK_ENUM, .def_str = "text", .choices = cfg_log_formats, .field = CF_STR,
     AT(log_format), .doc = "text (one line for people) or json (one JSON object per line)"},
    OBJ("limits", "resource limits"),
    INT("limits.max_message_bytes", 1048576, 1024, 1073741824, true, CF_SIZE,
        limits.max_message_bytes, "largest frame accepted, bytes"),
    INT("limits.max_input_stream_bytes", 67108864, 1024, 1099511627776LL, true, CF_SIZE,
        limits.max_input_stream_bytes, "all the items of one streamed oRPC input together, bytes"),
    INT("limits.stream_queue_bytes", 65536, 1024, 1073741824, true, CF_SIZE, limits.stream_queue_bytes,
        "a stream's producer waits while its reader holds more than this, bytes"),
    INT("limits.untrusted_max_message_bytes", 131072, 1024, 1073741824, true, CF_SIZE,
        limits.untrusted_max_message_bytes, "largest frame accepted from an untrusted client, bytes"),
    INT("limits.untrusted_calls_per_s", 20, 1, INT_MAX, false, CF_INT, limits.untrusted_calls_per_s,
        "calls and events an untrusted client may send a second"),
    INT("limits.max_inflight_per_client", 256, 1, INT_MAX, false, CF_INT,
        limits.max_inflight_per_client, "calls and events one client may have running"),
    INT("limits.max_connections", 10000, 1, INT_MAX, false, CF_INT, limits.max_connections,
        "simultaneous clients"),
    INT("limits.send_queue_bytes", 16777216, 65536, CFG_SIZE_MAX, false, CF_SIZE,
        limits.send_queue_bytes, "unsent bytes per client past which one that reads nothing is dropped"),
    INT("limits.call_timeout_ms", 10000, 1, UINT32_MAX, false, CF_U32, limits.call_timeout_ms,
        "time a call may take, milliseconds"),
    INT("limits.json_max_depth", 128, 1, 10000, true, CF_INT, limits.json_max_depth,
        "nesting depth of decoded messages"),
    INT("limits.ping_interval_s", 30, 1, 65535, true, CF_U32, limits.ping_interval_s,
        "idle seconds before the server pings a WebSocket client"),
    INT("limits.idle_timeout_s", 90, 2, 65535, true, CF_U32, limits.idle_timeout_s,
        "idle seconds (no pong) before the server hangs up"),
    OBJ("lua", "plugin Lua states"),
    INT("lua.instruction_budget", 100000000, 1000, INT64_MAX, false, CF_U64,
        lua.instruction_budget, "VM instructions per handler call"),
    INT("lua.max_run_ms", 2000, 1, UINT32_MAX, false, CF_U32, lua.max_run_ms,
        "wall time one handler may run without waiting, milliseconds"),
    INT("lua.setup_timeout_ms", 10000, 0, UINT32_MAX, false, CF_U32, lua.setup_timeout_ms,
        "wall time a plugin's load may take, its setup's waits included, milliseconds (0: no limit)"),
    INT("lua.memory_bytes", 268435456, 1048576, CFG_SIZE_MAX, false, CF_SIZE, lua.memory_bytes,
        "memory per plugin, bytes"),
    OBJ("cache", "query cache"),
    INT("cache.max_entries", 1024, 1, CFG_SIZE_MAX, false, CF_SIZE, cache.max_entries,
        "entries per cached function"),
    INT("cache.max_bytes", 67108864, 1, CFG_SIZE_MAX, false, CF_SIZE, cache.max_bytes,
        "bytes per cached function"),
    OBJ("auth", "who may call what"),
    {.path = "auth.required", .kind = CK_BOOL, .def_int = 1, .field = CF_BOOL, AT(auth.required),
     .doc = "untrusted clients may only call anonymous:* functions"},
    {.path = "auth.tokens", .kind = CK_TOKENS, .field = CF_VALUE, AT(auth.tokens),
     .doc = "tokens that make a client trusted: 'TOKEN' or {token=, roles={...}} (roles mesh.permissions judge)"},
    {.path = "auth.generate_token", .kind = CK_BOOL, .def_int = 1, .field = CF_BOOL,
     AT(auth.generate_token), .doc = "make a random token at start and print it"},
    {.path = "auth.allowed_origins", .kind = CK_STRLIST, .field = CF_VALUE, AT(auth.allowed_origins),
     .doc = "browser origins allowed besides loopback ones"},
    {.path = "auth.allowed_hosts", .kind = CK_STRLIST, .field = CF_VALUE, AT(auth.allowed_hosts),
     .doc = "Host header names accepted besides loopback names and IP addresses ('.example.test': and subdomains)"},
    OBJ("mesh", "the peer mesh"),
    {.path = "mesh.host_id", .kind = CK_TEXT, .def_str = "", .field = CF_STR, AT(mesh.host_id),
     .doc = "this host's peer id (default moonhost:HOSTNAME:PORT)"},
    {.path = "mesh.key", .kind = CK_TEXT, .def_str = "", .field = CF_STR, AT(mesh.key),
     .doc = "HMAC key signing relayed identities, and what host links prove they hold (default: random per start, no links)"},
    {.path = "mesh.requestor_details", .kind = CK_BOOL, .def_int = 0, .field = CF_BOOL,
     AT(mesh.requestor_details), .doc = "providers get {requestor={id,role,meta}} as a last argument"},
    {.path = "mesh.upstreams", .kind = CK_STRLIST, .field = CF_VALUE, AT(mesh.upstreams),
     .doc = "hosts to link to: ws://HOST:PORT/__ws?token=TOKEN"},
    INT("mesh.max_hops", 8, 1, 64, true, CF_INT, mesh.max_hops, "hosts a relayed call may cross"),
    {.path = "mesh.permissions", .kind = CK_LIST, .field = CF_VALUE, AT(mesh.permissions),
     .doc = "rules: which roles may call which functions through the mesh"},
    OBJ("nats", "joining other hosts through a NATS server"),
    {.path = "nats.url", .kind = CK_TEXT, .def_str = "", .field = CF_STR, AT(nats.url),
     .doc = "nats://HOST:PORT of the NATS server, tls://HOST:PORT with nats.tls (comma-separated for a cluster); empty: no NATS"},
    {.path = "nats.subject_prefix", .kind = CK_SUBJECT, .def_str = "moonhost", .field = CF_STR,
     AT(nats.subject_prefix), .doc = "first tokens of every subject; hosts with the same prefix form one mesh"},
    {.path = "nats.token", .kind = CK_TEXT, .def_str = "", .field = CF_STR, AT(nats.token),
     .doc = "token the NATS server asks for (never logged)"},
    {.path = "nats.user", .kind = CK_TEXT, .def_str = "", .field = CF_STR, AT(nats.user),
     .doc = "user name the NATS server asks for, with nats.password"},
    {.path = "nats.password", .kind = CK_TEXT, .def_str = "", .field = CF_STR, AT(nats.password),
     .doc = "password of nats.user (never logged)"},
    INT("nats.heartbeat_ms", 400, 50, 10000, true, CF_U32, nats.heartbeat_ms,
        "a host publishes its peers this often; silent for 3 heartbeats, its peers leave every directory"),
    OBJ("nats.tls", "TLS to the NATS server, for tls:// URLs (PEM files, read at start)"),
    {.path = "nats.tls.ca", .kind = CK_TEXT, .def_str = "", .field = CF_STR, AT(nats.tls.ca),
     .doc = "CA certificates the server's certificate must chain to (needed with tls://)"},
    {.path = "nats.tls.cert", .kind = CK_TEXT, .def_str = "", .field = CF_STR, AT(nats.tls.cert),
     .doc = "this host's client certificate (chain), when the server asks for one; with nats.tls.key"},
    {.path = "nats.tls.key", .kind = CK_TEXT, .def_str = "", .field = CF_STR, AT(nats.tls.key),
     .doc = "the private key of nats.tls.cert"},
    OBJ("http", "the HTTP endpoints: oRPC, devframe's SSE transport"),
    STR("http.prefix", "/rpc", http.prefix, "path prefix of the oRPC endpoint"),
    INT("http.request_timeout_ms", 30000, 1, UINT32_MAX, false, CF_U32, http.request_timeout_ms,
        "time an HTTP request may take (body and call), milliseconds"),
    INT("http.sse_keepalive_ms", 5000, 10, UINT32_MAX, false, CF_U32, http.sse_keepalive_ms,
        "an event stream with nothing to send gets a comment this often, milliseconds"),
    {.path = "http.devframe_backend", .kind = CK_ENUM, .def_str = "websocket", .choices = cfg_backends,
     .field = CF_STR, AT(http.devframe_backend),
     .doc = "the transport /__devtools/__connection.json tells devframe clients to use: websocket or sse"},
    OBJ("metrics", "GET /metrics (README \"Operating moonhost\")"),
    {.path = "metrics.token", .kind = CK_TEXT, .def_str = "", .field = CF_STR, AT(metrics.token),
     .doc = "a token that may read /metrics and nothing else (besides the host's tokens)"},
    {.path = "plugins", .kind = CK_FREE, .doc = "plugins.NAME: settings of plugin NAME"},
};
#define CFG_NKEYS (sizeof cfg_keys / sizeof cfg_keys[0])

/* ---- errors ---- */

/* Sets *errmsg to "FILE: message" (or just the message without a file). */
static int cfg_fail(char **errmsg, const char *file, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int cfg_fail(char **errmsg, const char *file, const char *fmt, ...) {
  if (!errmsg) return -1;
  char msg[1024];
  int n = file ? snprintf(msg, sizeof msg, "%s: ", file) : 0;
  if (n < 0 || (size_t)n >= sizeof msg) n = 0;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
  va_end(ap);
  /* Keys and paths are the fragment's text: a line break in a key split
   * the one-line error (and, on reload, forged a log line of its own). */
  for (char *c = msg; *c; c++)
    if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?';
  *errmsg = strdup(msg);
  return -1;
}

/* Type names as the author of a Lua fragment knows them. */
static const char *cfg_type_name(const mh_value *v) {
  switch (v->type) {
  case MH_V_INT: return "integer";
  case MH_V_FLOAT: return "number";
  case MH_V_STRING: return "string";
  case MH_V_BOOL: return "boolean";
  case MH_V_OBJECT: return "table";
  case MH_V_ARRAY: return "array";
  default: return mh_value_type_name(v->type);
  }
}

/* A short quoted, single-line rendering of a string for messages (n >= 16). */
static void cfg_quote(const mh_value *v, char *out, size_t n) {
  size_t len = v->u.str.len, o = 0;
  bool cut = len > n - 6; /* quotes, "..." and the NUL */
  if (cut) {
    len = n - 6;
    while (len && ((unsigned char)v->u.str.ptr[len] & 0xC0) == 0x80) len--; /* whole UTF-8 */
  }
  out[o++] = '\'';
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)v->u.str.ptr[i];
    out[o++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
  }
  if (cut) memcpy(out + o, "...", 3), o += 3;
  out[o++] = '\'';
  out[o] = '\0';
}

/* ---- schema lookups ---- */

static const cfg_key *cfg_key_find(const char *path, size_t len) {
  for (size_t i = 0; i < CFG_NKEYS; i++)
    if (strlen(cfg_keys[i].path) == len && memcmp(cfg_keys[i].path, path, len) == 0)
      return &cfg_keys[i];
  return NULL;
}

/* Levenshtein distance for short strings; SIZE_MAX when too long to bother. */
static size_t cfg_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b), row[65];
  if (la > 64 || lb > 64) return SIZE_MAX;
  for (size_t j = 0; j <= lb; j++) row[j] = j;
  for (size_t i = 1; i <= la; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
      if (up + 1 < best) best = up + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      diag = up;
      row[j] = best;
    }
  }
  return row[lb];
}

static const char *cfg_last_segment(const char *path) {
  const char *dot = strrchr(path, '.');
  return dot ? dot + 1 : path;
}

/* A known key close to an unknown one: a typo (distance <= 2), or the
 * same name at another level ("max_connections" -> "limits.max_connections"). */
static const char *cfg_suggest(const char *path) {
  const char *best = NULL;
  size_t best_d = 3;
  for (size_t i = 0; i < CFG_NKEYS; i++) {
    size_t d = cfg_distance(path, cfg_keys[i].path);
    if (d < best_d) best = cfg_keys[i].path, best_d = d;
  }
  for (size_t i = 0; !best && i < CFG_NKEYS; i++)
    if (strcmp(cfg_last_segment(path), cfg_last_segment(cfg_keys[i].path)) == 0)
      best = cfg_keys[i].path;
  return best;
}

const mh_value *mh_config_lookup(const mh_value *tree, const char *path) {
  char seg[256];
  while (tree && tree->type == MH_V_OBJECT) {
    size_t n = strcspn(path, ".");
    if (n >= sizeof seg) return NULL;
    memcpy(seg, path, n);
    seg[n] = '\0';
    tree = mh_value_obj_get(tree, seg);
    if (!path[n]) return tree;
    path += n + 1;
  }
  return NULL;
}

const char *mh_config_list_key(size_t i) {
  for (size_t k = 0; k < CFG_NKEYS; k++) {
    cfg_kind kind = cfg_keys[k].kind;
    if ((kind == CK_STRLIST || kind == CK_LIST || kind == CK_TOKENS) && i-- == 0) return cfg_keys[k].path;
  }
  return NULL;
}

/* ---- checking ---- */

/* MH_V_INT, or an integral MH_V_FLOAT (Lua writes 1e6 as a float). */
static bool cfg_as_int(const mh_value *v, int64_t *out) {
  if (v->type == MH_V_INT) {
    *out = v->u.i;
    return true;
  }
  /* 2^63 is exactly representable; anything >= it does not fit. */
  if (v->type != MH_V_FLOAT || !isfinite(v->u.f) || floor(v->u.f) != v->u.f ||
      v->u.f < -9223372036854775808.0 || v->u.f >= 9223372036854775808.0)
    return false;
  *out = (int64_t)v->u.f;
  return true;
}

static int cfg_check_int(const cfg_key *k, const mh_value *v, const char *file, char **err) {
  int64_t i;
  char got[64];
  bool ok = cfg_as_int(v, &i);
  if (ok && i >= k->min && i <= k->max) return 0;
  if (ok) snprintf(got, sizeof got, "%lld", (long long)i);
  else if (v->type == MH_V_FLOAT) snprintf(got, sizeof got, "%g", v->u.f);
  else snprintf(got, sizeof got, "%s", cfg_type_name(v));
  if (k->show_max || (ok && i > k->max))
    return cfg_fail(err, file, "%s: expected an integer between %lld and %lld, got %s", k->path,
                    (long long)k->min, (long long)k->max, got);
  return cfg_fail(err, file, "%s: expected an integer >= %lld, got %s", k->path,
                  (long long)k->min, got);
}

static int cfg_check_enum(const cfg_key *k, const mh_value *v, const char *file, char **err) {
  char want[128] = "", got[80];
  for (size_t i = 0; k->choices[i]; i++) {
    if (v->type == MH_V_STRING && strcmp(v->u.str.ptr, k->choices[i]) == 0) return 0;
    size_t n = strlen(want);
    snprintf(want + n, sizeof want - n, "%s'%s'", i ? ", " : "", k->choices[i]);
  }
  if (v->type == MH_V_STRING) cfg_quote(v, got, sizeof got);
  else snprintf(got, sizeof got, "%s", cfg_type_name(v));
  return cfg_fail(err, file, "%s: expected one of %s, got %s", k->path, want, got);
}

/* A subject prefix: tokens of printable non-blank characters but the
 * wildcards '*' and '>', joined by single dots. */
static bool cfg_subject_ok(const char *s, size_t n) {
  if (!n || s[0] == '.' || s[n - 1] == '.') return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c <= ' ' || c >= 0x7f || c == '*' || c == '>' || (c == '.' && s[i + 1] == '.')) return false;
  }
  return true;
}

static int cfg_check_subject(const cfg_key *k, const mh_value *v, const char *file, char **err) {
  char got[80];
  if (v->type != MH_V_STRING)
    return cfg_fail(err, file, "%s: expected a string, got %s", k->path, cfg_type_name(v));
  if (cfg_subject_ok(v->u.str.ptr, v->u.str.len) && !memchr(v->u.str.ptr, 0, v->u.str.len)) return 0;
  cfg_quote(v, got, sizeof got);
  return cfg_fail(err, file, "%s: expected NATS subject tokens joined by '.' (no blanks, '*' or '>'), got %s",
                  k->path, got);
}

static int cfg_check_string(const cfg_key *k, const mh_value *v, const char *file, char **err) {
  char got[80];
  if (v->type != MH_V_STRING)
    return cfg_fail(err, file, "%s: expected a string, got %s", k->path, cfg_type_name(v));
  /* A NUL would cut the string short wherever it is used as a C string. */
  bool clean = v->u.str.len && !memchr(v->u.str.ptr, 0, v->u.str.len);
  if (clean && k->kind == CK_STRING) return 0;
  if (k->kind == CK_TEXT && !memchr(v->u.str.ptr, 0, v->u.str.len)) return 0;
  char *host = NULL;
  int port;
  if (clean && k->kind == CK_LISTEN && mh_config_parse_listen(v->u.str.ptr, &host, &port) == 0) {
    free(host);
    return 0;
  }
  cfg_quote(v, got, sizeof got);
  if (k->kind == CK_LISTEN)
    return cfg_fail(err, file,
                    "%s: expected 'HOST:PORT' (port 0..65535, IPv6 as [::1]:PORT), got %s",
                    k->path, got);
  return cfg_fail(err, file, "%s: expected a non-empty string, got %s", k->path, got);
}

/* The index of the first item of an ARRAY that is not a non-empty string
 * without NUL bytes; its length when there is none. */
static size_t cfg_first_bad_string(const mh_value *arr) {
  size_t i = 0;
  for (; i < arr->u.arr.len; i++) {
    const mh_value *s = arr->u.arr.items[i];
    if (s->type != MH_V_STRING || !s->u.str.len || memchr(s->u.str.ptr, 0, s->u.str.len)) break;
  }
  return i;
}

static int cfg_check_strlist(const cfg_key *k, const mh_value *v, const char *file, char **err) {
  if (v->type == MH_V_OBJECT && v->u.obj.len == 0) return 0; /* Lua's {} */
  if (v->type != MH_V_ARRAY)
    return cfg_fail(err, file, "%s: expected a list of strings, got %s", k->path, cfg_type_name(v));
  size_t bad = cfg_first_bad_string(v);
  if (bad == v->u.arr.len) return 0;
  return cfg_fail(err, file, "%s[%zu]: expected a non-empty string, got %s", k->path, bad + 1,
                  cfg_type_name(v->u.arr.items[bad]));
}

/* A role list of a token entry: absent, {} or a list of non-empty strings. */
static bool cfg_roles_ok(const mh_value *roles) {
  if (!roles || (roles->type == MH_V_OBJECT && roles->u.obj.len == 0)) return true;
  return roles->type == MH_V_ARRAY && cfg_first_bad_string(roles) == roles->u.arr.len;
}

/* auth.tokens: each entry a token, or {token=, roles=} granting the roles
 * mesh.permissions judge a client by (a peer's announced role is only a
 * label). Checked here so a mistake names the file, before anything runs. */
static int cfg_check_tokens(const cfg_key *k, const mh_value *v, const char *file, char **err) {
  if (v->type == MH_V_OBJECT && v->u.obj.len == 0) return 0; /* Lua's {} */
  if (v->type != MH_V_ARRAY)
    return cfg_fail(err, file, "%s: expected a list of tokens, got %s", k->path, cfg_type_name(v));
  for (size_t i = 0; i < v->u.arr.len; i++) {
    const mh_value *e = v->u.arr.items[i];
    const mh_value *tok = e->type == MH_V_OBJECT ? mh_value_obj_get(e, "token") : e;
    bool only_known = true;
    for (size_t j = 0; e->type == MH_V_OBJECT && j < e->u.obj.len; j++) {
      const char *key = e->u.obj.items[j].key->u.str.ptr;
      only_known = only_known && (strcmp(key, "token") == 0 || strcmp(key, "roles") == 0);
    }
    bool tok_ok = tok && tok->type == MH_V_STRING && tok->u.str.len && !memchr(tok->u.str.ptr, 0, tok->u.str.len);
    if (!tok_ok || !only_known || (e->type == MH_V_OBJECT && !cfg_roles_ok(mh_value_obj_get(e, "roles"))))
      return cfg_fail(err, file,
                      "%s[%zu]: expected a non-empty string or {token = 'TOKEN', roles = {'ROLE', ...}}, got %s",
                      k->path, i + 1, cfg_type_name(e));
  }
  return 0;
}

static int cfg_check_value(const cfg_key *k, const mh_value *v, const char *file, char **err) {
  switch (k->kind) {
  case CK_OBJECT:
  case CK_FREE:
    if (v->type == MH_V_OBJECT) return 0;
    return cfg_fail(err, file, "%s: expected a table with named keys, got %s", k->path,
                    cfg_type_name(v));
  case CK_STRING:
  case CK_TEXT:
  case CK_LISTEN: return cfg_check_string(k, v, file, err);
  case CK_INT: return cfg_check_int(k, v, file, err);
  case CK_ENUM: return cfg_check_enum(k, v, file, err);
  case CK_BOOL:
    if (v->type == MH_V_BOOL) return 0;
    return cfg_fail(err, file, "%s: expected true or false, got %s", k->path, cfg_type_name(v));
  case CK_STRLIST: return cfg_check_strlist(k, v, file, err);
  case CK_TOKENS: return cfg_check_tokens(k, v, file, err);
  case CK_SUBJECT: return cfg_check_subject(k, v, file, err);
  case CK_LIST:
    if (v->type == MH_V_ARRAY || (v->type == MH_V_OBJECT && v->u.obj.len == 0)) return 0;
    return cfg_fail(err, file, "%s: expected a list, got %s", k->path, cfg_type_name(v));
  }
  return 0;
}

static int cfg_check_object(const mh_value *obj, const char *prefix, const char *file,
                            char **err) {
  for (size_t i = 0; i < obj->u.obj.len; i++) {
    const mh_value *key = obj->u.obj.items[i].key, *val = obj->u.obj.items[i].val;
    char path[256];
    snprintf(path, sizeof path, "%s%s%.*s", prefix, *prefix ? "." : "", (int)key->u.str.len,
             key->u.str.ptr);
    /* A key with a dot would name a nested key by its path, yet merge stores
     * it as one literal key that nothing reads: refuse it as unknown. */
    const cfg_key *k = memchr(key->u.str.ptr, 0, key->u.str.len) || memchr(key->u.str.ptr, '.', key->u.str.len)
                           ? NULL
                           : cfg_key_find(path, strlen(path));
    if (!k && memchr(key->u.str.ptr, '.', key->u.str.len))
      return cfg_fail(err, file, "key '%s' has a dot: write it nested (a = { b = ... }), not as ['a.b']", path);
    if (!k) {
      const char *hint = cfg_suggest(path);
      if (hint)
        return cfg_fail(err, file, "unknown key '%s', did you mean '%s'?", path, hint);
      return cfg_fail(err, file, "unknown key '%s'", path);
    }
    if (cfg_check_value(k, val, file, err)) return -1;
    if (k->kind == CK_OBJECT && cfg_check_object(val, path, file, err)) return -1;
  }
  return 0;
}

int mh_config_check(const mh_value *fragment, const char *file, char **errmsg) {
  if (!fragment || fragment->type != MH_V_OBJECT)
    return cfg_fail(errmsg, file, "must return a table");
  return cfg_check_object(fragment, "", file, errmsg);
}

/* ---- defaults and merging ---- */

static mh_value *cfg_default_value(const cfg_key *k) {
  switch (k->kind) {
  case CK_OBJECT:
  case CK_FREE: return mh_value_new(MH_V_OBJECT);
  case CK_INT: return mh_value_int(k->def_int);
  case CK_BOOL: return mh_value_bool(k->def_int != 0);
  case CK_STRLIST:
  case CK_TOKENS:
  case CK_LIST: return mh_value_new(MH_V_OBJECT); /* what Lua's {} evaluates to */
  default: return mh_value_cstring(k->def_str);
  }
}

mh_value *mh_config_defaults(void) {
  mh_value *tree = mh_value_new(MH_V_OBJECT);
  for (size_t i = 0; tree && i < CFG_NKEYS; i++) {
    const char *path = cfg_keys[i].path, *name = cfg_last_segment(path);
    char parent[64] = "";
    if (name != path) snprintf(parent, sizeof parent, "%.*s", (int)(name - path - 1), path);
    /* Parents come first in the table, so the lookup finds them. */
    mh_value *dst = *parent ? (mh_value *)mh_config_lookup(tree, parent) : tree;
    if (!dst || mh_value_obj_set(dst, name, cfg_default_value(&cfg_keys[i]))) {
      mh_value_free(tree);
      tree = NULL;
    }
  }
  return tree;
}

int mh_config_merge(mh_value *dst, const mh_value *src) {
  if (dst->type != MH_V_OBJECT || src->type != MH_V_OBJECT) {
    return mh_value_replace(dst, src);
  }
  for (size_t i = 0; i < src->u.obj.len; i++) {
    const char *key = src->u.obj.items[i].key->u.str.ptr;
    const mh_value *val = src->u.obj.items[i].val;
    mh_value *cur = (mh_value *)mh_value_obj_get(dst, key);
    if (cur && cur->type == MH_V_OBJECT && val->type == MH_V_OBJECT) {
      if (mh_config_merge(cur, val)) return -1;
    } else if (mh_value_obj_set(dst, key, mh_value_copy(val))) {
      return -1;
    }
  }
  return 0;
}

/* ---- applying ---- */

static int cfg_store(mh_config *cfg, const cfg_key *k, const mh_value *v) {
  char *at = (char *)cfg + k->offset;
  int64_t i = 0;
  if (k->kind == CK_INT) cfg_as_int(v, &i);
  switch (k->field) {
  case CF_NONE: return 0;
  case CF_STR: return (*(char **)at = strdup(v->u.str.ptr)) ? 0 : -1;
  case CF_LISTEN: return mh_config_parse_listen(v->u.str.ptr, &cfg->listen_host, &cfg->listen_port);
  case CF_LEVEL:
    for (int l = 0; k->choices[l]; l++)
      if (strcmp(k->choices[l], v->u.str.ptr) == 0) *(mh_log_level *)at = (mh_log_level)l;
    return 0;
  case CF_INT: *(int *)at = (int)i; return 0;
  case CF_SIZE: *(size_t *)at = (size_t)i; return 0;
  case CF_U32: *(uint32_t *)at = (uint32_t)i; return 0;
  case CF_U64: *(uint64_t *)at = (uint64_t)i; return 0;
  case CF_BOOL: *(bool *)at = v->u.b; return 0;
  case CF_VALUE: *(const mh_value **)at = v; return 0; /* points into cfg->tree */
  }
  return 0;
}

/* ctx.root is absolute: plugins pass it to other processes and libraries
 * that may not share moonhost's working directory. */
static int cfg_root_absolute(mh_config *cfg) {
  char *abs = cfg->root ? mh_path_absolute(cfg->root) : NULL;
  if (!abs) return -1;
  free(cfg->root);
  cfg->root = abs;
  return 0;
}

/* Fills next from the defaults with tree merged over them, so every key is
 * present and CF_VALUE pointers can point into next->tree. */
static int cfg_fill(mh_config *next, const mh_value *tree) {
  int rc = 0;
  next->tree = mh_config_defaults();
  if (!next->tree || mh_config_merge(next->tree, tree)) return -1;
  for (size_t i = 0; rc == 0 && i < CFG_NKEYS; i++) {
    const mh_value *v = mh_config_lookup(next->tree, cfg_keys[i].path);
    if (v) rc = cfg_store(next, &cfg_keys[i], v);
  }
  if (rc == 0) rc = cfg_root_absolute(next);
  next->plugins = (mh_value *)mh_value_obj_get(next->tree, "plugins");
  return rc;
}

/* cfg must be zeroed or filled by an earlier apply/load; tree may be
 * cfg->tree itself (merge flags into cfg->tree, then apply it). */
int mh_config_apply(mh_config *cfg, const mh_value *tree, char **errmsg) {
  if (mh_config_check(tree, NULL, errmsg)) return -1;
  mh_config next = {0};
  if (cfg_fill(&next, tree)) {
    mh_config_free(&next);
    return cfg_fail(errmsg, NULL, "out of memory while applying the configuration");
  }
  mh_config_free(cfg);
  *cfg = next;
  return 0;
}

void mh_config_free(mh_config *cfg) {
  free(cfg->listen_host);
  free(cfg->listen_in_files);
  free(cfg->plugins_dir);
  free(cfg->root);
  free(cfg->mode);
  free(cfg->log_format);
  free(cfg->dev_server_url);
  free(cfg->mesh.host_id);
  free(cfg->mesh.key);
  free(cfg->nats.url);
  free(cfg->nats.subject_prefix);
  free(cfg->nats.token);
  free(cfg->nats.user);
  free(cfg->nats.password);
  free(cfg->nats.tls.ca);
  free(cfg->nats.tls.cert);
  free(cfg->nats.tls.key);
  free(cfg->http.prefix);
  free(cfg->http.devframe_backend);
  free(cfg->metrics.token);
  mh_value_free(cfg->tree); /* plugins points into tree */
  memset(cfg, 0, sizeof *cfg);
}

/* ---- listen addresses ---- */

static bool cfg_host_chars(const char *s, size_t n, bool v6) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '.' || (v6 ? c == ':' || c == '%' : c == '-' || c == '_');
    if (!ok) return false;
  }
  return true;
}

int mh_config_parse_listen(const char *s, char **host, int *port) {
  const char *hb = s, *he, *colon;
  if (!s || !*s) return -1;
  if (s[0] == '[') {
    hb = s + 1;
    he = strchr(hb, ']');
    if (!he || he == hb || he[1] != ':' || !cfg_host_chars(hb, (size_t)(he - hb), true))
      return -1;
    colon = he + 1;
  } else {
    colon = strrchr(s, ':');
    if (!colon || !cfg_host_chars(s, (size_t)(colon - s), false)) return -1;
    he = colon;
  }
  const char *p = colon + 1;
  size_t nd = strspn(p, "0123456789");
  if (nd == 0 || nd > 5 || p[nd]) return -1;
  long v = strtol(p, NULL, 10);
  if (v > 65535) return -1;
  /* ":PORT" keeps the safe default host rather than every interface. */
  char *h = he == hb ? strdup("127.0.0.1") : strndup(hb, (size_t)(he - hb));
  if (!h) return -1;
  *host = h;
  *port = (int)v;
  return 0;
}

/* ---- loading conf.d ---- */

static int cfg_name_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b); /* strcmp compares bytes unsigned */
}

static bool cfg_is_fragment(const char *name) {
  size_t n = strlen(name);
  /* Dot files are editor droppings (.#10-x.lua lock files and the like). */
  return name[0] != '.' && n > 4 && strcmp(name + n - 4, ".lua") == 0;
}

static void cfg_free_names(char **names, size_t n) {
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
}

/* The *.lua names in dir, sorted. A missing dir gives none unless required. */
static int cfg_list(const char *dir, bool required, char ***out, size_t *count, char **err) {
  DIR *d = opendir(dir);
  *out = NULL;
  *count = 0;
  if (!d) {
    if (errno == ENOENT && !required) return 0;
    if (errno == ENOENT) return cfg_fail(err, NULL, "config directory '%s' not found", dir);
    return cfg_fail(err, NULL, "config directory '%s': %s", dir, strerror(errno));
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!cfg_is_fragment(e->d_name)) continue;
    if (n == cap) {
      char **grown = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof *names);
      if (!grown) goto oom;
      names = grown;
    }
    if (!(names[n] = strdup(e->d_name))) goto oom;
    n++;
  }
  closedir(d);
  if (n) qsort(names, n, sizeof *names, cfg_name_cmp);
  *out = names;
  *count = n;
  return 0;
oom:
  closedir(d);
  cfg_free_names(names, n);
  return cfg_fail(err, NULL, "out of memory listing '%s'", dir);
}

static int cfg_load_file(mh_value *tree, mh_config_eval_fn eval, const char *path, char **err) {
  mh_value *frag = eval(path, err);
  if (!frag) {
    if (err && !*err) cfg_fail(err, path, "cannot evaluate");
    return -1;
  }
  int rc = -1;
  if (frag->type != MH_V_OBJECT)
    cfg_fail(err, path, "must return a table with named keys, got a list");
  else if (mh_config_check(frag, path, err) == 0) {
    rc = mh_config_merge(tree, frag);
    if (rc) cfg_fail(err, path, "out of memory");
  }
  mh_value_free(frag);
  return rc;
}

/* Overwrites *cfg on success (it need not be initialised; an old
 * configuration there is not freed). */
int mh_config_load(mh_config *cfg, mh_config_eval_fn eval, const char *dir, bool required, char **errmsg) {
  char **names;
  size_t n;
  if (errmsg) *errmsg = NULL;
  if (cfg_list(dir, required, &names, &n, errmsg)) return -1;
  mh_value *tree = mh_config_defaults();
  int rc = tree ? 0 : cfg_fail(errmsg, NULL, "out of memory");
  size_t dl = strlen(dir);
  const char *sep = dl && dir[dl - 1] == '/' ? "" : "/";
  for (size_t i = 0; rc == 0 && i < n; i++) {
    char *path = malloc(dl + strlen(sep) + strlen(names[i]) + 1);
    if (!path) rc = cfg_fail(errmsg, NULL, "out of memory");
    else {
      sprintf(path, "%s%s%s", dir, sep, names[i]);
      rc = cfg_load_file(tree, eval, path, errmsg);
      free(path);
    }
  }
  mh_config fresh = {0};
  if (rc == 0) rc = mh_config_apply(&fresh, tree, errmsg);
  if (rc == 0) *cfg = fresh;
  mh_value_free(tree);
  cfg_free_names(names, n);
  return rc;
}
