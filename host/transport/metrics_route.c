/* Renders mh_host.metrics (core/metrics.h) and what the host knows at the
 * moment (clients, plugins, their Lua memory, mesh peers) as Prometheus text
 * exposition format 0.0.4. Rendering walks everything and allocates; it runs
 * once per scrape, never per call. */
#include "transport/metrics_route.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "call/call_metrics.h"
#include "call/host.h"
#include "call/plugin.h"
#include "core/log.h"
#include "session/auth.h"
#include "session/client.h"
#include "transport/http.h"

/* A label value as the format wants it: backslash, double quote and line
 * feed escaped; everything else (UTF-8 included) as it is. */
static void put_label(mh_buf *b, const char *s) {
  for (; *s; s++) {
    if (*s == '\\')
      mh_buf_append_str(b, "\\\\");
    else if (*s == '"')
      mh_buf_append_str(b, "\\\"");
    else if (*s == '\n')
      mh_buf_append_str(b, "\\n");
    else
      mh_buf_append(b, s, 1);
  }
}

static void put_family(mh_buf *b, const char *name, const char *type, const char *help) {
  mh_buf_appendf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{label="value"} n, for the many one-label samples. */
static void put_sample1(mh_buf *b, const char *name, const char *label, const char *value, unsigned long long n) {
  mh_buf_appendf(b, "%s{%s=\"", name, label);
  put_label(b, value);
  mh_buf_appendf(b, "\"} %llu\n", n);
}

/* ---- functions ---- */

typedef struct fn_row {
  const char *name;
  const mh_fn_metrics *m;
} fn_row;

static int by_name(const void *a, const void *b) { return strcmp(((const fn_row *)a)->name, ((const fn_row *)b)->name); }

/* Every function registered now gets a series (zeros until called), so a
 * dashboard sees it before its first call; names called before and gone
 * since keep theirs (counters never go back). Sorted by name. */
static fn_row *function_rows(mh_host *h, size_t *n) {
  mh_map *reg = &h->registry.by_name;
  for (size_t i = 0; i < reg->cap; i++)
    if (mh_map_live(&reg->slots[i]) && reg->slots[i].value) mh_call_metrics_of(h, reg->slots[i].value);
  mh_map *m = &h->metrics.fns;
  fn_row *rows = calloc(m->len + 1, sizeof *rows);
  if (!rows) return NULL;
  *n = 0;
  for (size_t i = 0; i < m->cap; i++)
    if (mh_map_live(&m->slots[i])) rows[(*n)++] = (fn_row){m->slots[i].key, m->slots[i].value};
  qsort(rows, *n, sizeof *rows, by_name);
  rows[(*n)++] = (fn_row){MH_METRICS_UNKNOWN_FN, &h->metrics.unknown};
  return rows;
}

/* metric{function="NAME" (the caller adds more labels, closes and puts the value). */
static void put_fn_series(mh_buf *b, const char *metric, const char *name) {
  mh_buf_appendf(b, "%s{function=\"", metric);
  put_label(b, name);
  mh_buf_append_str(b, "\"");
}

static void put_calls(mh_buf *b, const fn_row *rows, size_t n) {
  put_family(b, "moonhost_calls_total", "counter",
             "Calls answered, by function, function type and outcome (ok, error, cancelled).");
  for (size_t i = 0; i < n; i++)
    for (int o = 0; o < MH_OUTCOME_N; o++) {
      put_fn_series(b, "moonhost_calls_total", rows[i].name);
      mh_buf_appendf(b, ",type=\"%s\",outcome=\"%s\"} %llu\n", rows[i].m->type ? rows[i].m->type : "unknown",
                     mh_call_outcome_names[o], (unsigned long long)rows[i].m->calls[o]);
    }
}

static void put_durations(mh_buf *b, const fn_row *rows, size_t n) {
  put_family(b, "moonhost_call_duration_seconds", "histogram",
             "Time from a call's arrival at the dispatcher to its answer, by function.");
  for (size_t i = 0; i < n; i++) {
    const mh_fn_metrics *m = rows[i].m;
    unsigned long long cumulative = 0;
    for (int k = 0; k < MH_METRICS_BUCKETS; k++) {
      cumulative += m->buckets[k];
      put_fn_series(b, "moonhost_call_duration_seconds_bucket", rows[i].name);
      mh_buf_appendf(b, ",le=\"%g\"} %llu\n", (double)mh_metrics_bucket_ns[k] / 1e9, cumulative);
    }
    put_fn_series(b, "moonhost_call_duration_seconds_bucket", rows[i].name);
    mh_buf_appendf(b, ",le=\"+Inf\"} %llu\n", (unsigned long long)m->count);
    put_fn_series(b, "moonhost_call_duration_seconds_sum", rows[i].name);
    mh_buf_appendf(b, "} %.9f\n", (double)m->sum_ns / 1e9);
    put_fn_series(b, "moonhost_call_duration_seconds_count", rows[i].name);
    mh_buf_appendf(b, "} %llu\n", (unsigned long long)m->count);
  }
}

static void put_cache(mh_buf *b, const fn_row *rows, size_t n, bool hits) {
  const char *name = hits ? "moonhost_cache_hits_total" : "moonhost_cache_misses_total";
  put_family(b, name, "counter",
             hits ? "Calls answered from the cache (cached queries, memoized statics), by function."
                  : "Calls to a cached query that found no cached result, by function.");
  for (size_t i = 0; i + 1 < n; i++) /* the last row, unknown names, has no cache */
    put_sample1(b, name, "function", rows[i].name, hits ? rows[i].m->cache_hits : rows[i].m->cache_misses);
}

static int put_functions(mh_host *h, mh_buf *b) {
  size_t n = 0;
  fn_row *rows = function_rows(h, &n);
  if (!rows) return -1;
  put_calls(b, rows, n);
  put_durations(b, rows, n);
  put_cache(b, rows, n, true);
  put_cache(b, rows, n, false);
  free(rows);
  return 0;
}

/* ---- connections ---- */

static void put_connections(mh_host *h, mh_buf *b) {
  unsigned long long counts[2][2] = {{0}}; /* [link][trusted] */
  unsigned long long peers = 0;
  mh_client_each(c, h) {
    counts[c->hostlink != NULL][c->trusted]++;
    peers += mh_client_is_mesh_peer(c);
  }
  put_family(b, "moonhost_connections", "gauge",
             "Open WebSocket connections: clients (ws) and links to other hosts (link), by trust.");
  for (int l = 0; l < 2; l++)
    for (int t = 0; t < 2; t++)
      mh_buf_appendf(b, "moonhost_connections{transport=\"%s\",trusted=\"%s\"} %llu\n", l ? "link" : "ws",
                     t ? "true" : "false", counts[l][t]);
  put_family(b, "moonhost_mesh_peers", "gauge", "Clients announced as mesh peers (links to other hosts excluded).");
  mh_buf_appendf(b, "moonhost_mesh_peers %llu\n", peers);
  const mh_metrics *m = &h->metrics;
  put_family(b, "moonhost_connections_accepted_total", "counter", "WebSocket connections established.");
  mh_buf_appendf(b, "moonhost_connections_accepted_total %llu\n", (unsigned long long)m->connections_accepted);
  put_family(b, "moonhost_connections_refused_total", "counter",
             "WebSocket upgrades and HTTP requests refused before anything ran, by reason.");
  for (int r = 0; r < MH_REFUSED_N; r++)
    put_sample1(b, "moonhost_connections_refused_total", "reason", mh_refused_reason_names[r], m->refused[r]);
  put_family(b, "moonhost_close_total", "counter", "WebSocket close codes the host sent (\"other\": past 16 distinct codes).");
  for (int i = 0; i <= MH_METRICS_CLOSE_CODES; i++) {
    if (!m->closes[i].n) continue;
    char code[16];
    snprintf(code, sizeof code, "%d", m->closes[i].code);
    put_sample1(b, "moonhost_close_total", "code", m->closes[i].code ? code : "other", m->closes[i].n);
  }
}

/* ---- plugins ---- */

static void put_plugins(mh_host *h, mh_buf *b) {
  const char *names[] = {"moonhost_plugin_generation", "moonhost_plugin_load_errors_total", "moonhost_lua_memory_bytes"};
  const char *types[] = {"gauge", "counter", "gauge"};
  const char *help[] = {"The generation serving, by plugin (0: none serves).",
                        "Loads and reloads that failed, by plugin.",
                        "Memory the serving generation's Lua state uses, by plugin."};
  for (int k = 0; k < 3; k++) {
    put_family(b, names[k], types[k], help[k]);
    mh_list_each(pos, &h->plugins) {
      mh_plugin *p = mh_container_of(pos, mh_plugin, link);
      mh_gen *g = p->current;
      unsigned long long v = k == 0   ? (g ? g->number : 0)
                             : k == 1 ? mh_metrics_plugin_errors(&h->metrics, p->name)
                                      : (g && g->engine && h->engine->memory ? h->engine->memory(g->engine) : 0);
      put_sample1(b, names[k], "plugin", p->name, v);
    }
  }
}

int mh_metrics_render(mh_host *h, mh_buf *b) {
  const mh_metrics *m = &h->metrics;
  put_family(b, "moonhost_build_info", "gauge", "Always 1; the version is a label.");
  put_sample1(b, "moonhost_build_info", "version", MOONHOST_VERSION, 1);
  put_connections(h, b);
  if (put_functions(h, b)) return -1;
  put_family(b, "moonhost_inflight_calls", "gauge", "Calls waiting for their answer.");
  mh_buf_appendf(b, "moonhost_inflight_calls %lld\n", (long long)m->inflight_calls);
  put_family(b, "moonhost_broadcasts_total", "counter", "Events broadcast to every client.");
  mh_buf_appendf(b, "moonhost_broadcasts_total %llu\n", (unsigned long long)m->broadcasts);
  put_family(b, "moonhost_bytes_sent_total", "counter", "WebSocket message and HTTP response body bytes sent.");
  mh_buf_appendf(b, "moonhost_bytes_sent_total %llu\n", (unsigned long long)m->bytes_sent);
  put_family(b, "moonhost_bytes_received_total", "counter", "WebSocket message and HTTP request body bytes received.");
  mh_buf_appendf(b, "moonhost_bytes_received_total %llu\n", (unsigned long long)m->bytes_received);
  put_plugins(h, b);
  return mh_buf_terminate(b);
}

/* ---- the route ---- */

/* A host token (as for any trusted request), or metrics.token as a bearer
 * token: a scraper can hold that one without being able to call anything. */
static bool may_read(mh_http_exchange *x, bool *token_refused) {
  if (mh_http_trust(x, token_refused)) return true;
  char buf[4096];
  return x->host->cfg->metrics.token[0] && mh_http_req_header(x, "authorization", buf, sizeof buf) > 7 &&
         strncasecmp(buf, "Bearer ", 7) == 0 && mh_auth_metrics_token_ok(x->host, buf + 7);
}

static void route_metrics(mh_http_exchange *x) {
  bool token_refused = false;
  mh_http_header(x, "cache-control", "no-store");
  if (!may_read(x, &token_refused)) {
    mh_log_warn_limited("auth", "GET /metrics refused: %s", token_refused ? "token presented and refused" : "no token");
    mh_http_respond_text(x, 401, token_refused ? "unauthorized: the token is not valid\n"
                                               : "unauthorized: no token (send Authorization: Bearer TOKEN)\n");
    return;
  }
  mh_buf b = MH_BUF_INIT;
  if (mh_metrics_render(x->host, &b)) {
    mh_buf_free(&b);
    mh_http_respond_text(x, 500, "out of memory\n");
    return;
  }
  mh_http_respond(x, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len);
  mh_buf_free(&b);
}

static const mh_http_route metrics_route = {.method = "GET", .path = "/metrics", .handle = route_metrics};

int mh_metrics_route_add(mh_server *s) { return mh_http_add_route(s, &metrics_route); }
