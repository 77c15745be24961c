/* Configuration: built-in defaults, then every *.lua fragment of conf.d in
 * lexical order deep-merged over them, then command-line flags.
 *
 * Fragments are Lua evaluated in a sandbox by the bindings
 * (mh_config_eval_file); this file only merges, checks and reads values. */
#ifndef MH_CONFIG_H
#define MH_CONFIG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/log.h"
#include "core/value.h"

typedef struct mh_config {
  char *listen_host; /* "127.0.0.1" (IPv6 written without brackets) */
  int listen_port;   /* 0 picks a free port */
  char *listen_in_files; /* conf.d's listen before flags override it; NULL without flags (config_overlay.c) */
  char *plugins_dir;
  char *root;
  char *mode; /* "dev" */
  char *dev_server_url; /* "" when not configured */
  mh_log_level log_level;
  char *log_format; /* "text" or "json" (mh_log_format_parse) */
  struct {
    size_t max_message_bytes;
    size_t max_input_stream_bytes; /* a streamed oRPC input's items together (each: max_message_bytes) */
    size_t stream_queue_bytes; /* a stream producer waits while its reader holds more */
    size_t untrusted_max_message_bytes; /* before a client presents a token */
    int untrusted_calls_per_s;          /* frames an untrusted client may send a second */
    int max_inflight_per_client;
    int max_connections;
    size_t send_queue_bytes;
    uint32_t call_timeout_ms;
    int json_max_depth;
    uint32_t ping_interval_s; /* WebSocket keep-alive ping after this much silence */
    uint32_t idle_timeout_s;  /* hang up after this much silence */
  } limits;
  struct {
    uint64_t instruction_budget; /* per call (all resumes together) */
    uint32_t max_run_ms;         /* per resume: running without yielding */
    size_t memory_bytes;         /* per plugin lua_State */
    uint32_t setup_timeout_ms;   /* a plugin's load, setup's waits included; 0: none */
  } lua;
  struct {
    size_t max_entries; /* default bound for cached functions */
    size_t max_bytes;
  } cache;
  struct {
    bool required;       /* untrusted clients may only call anonymous:* */
    bool generate_token; /* make and print a random token at start */
    const mh_value *tokens;          /* ARRAY of "TOKEN" or {token, roles} (or empty OBJECT); in tree */
    const mh_value *allowed_origins; /* ARRAY of strings (or empty OBJECT); in tree */
    const mh_value *allowed_hosts;   /* ARRAY of strings (or empty OBJECT); in tree */
  } auth;
  struct {
    char *host_id; /* "" -> moonhost:HOSTNAME:PORT */
    char *key;     /* "" -> random per start */
    bool requestor_details;
    const mh_value *permissions; /* ARRAY of rules (or empty OBJECT); in tree */
    const mh_value *upstreams;   /* ARRAY of ws:// URLs (or empty OBJECT); in tree */
    int max_hops;
  } mesh;
  struct {
    char *url;            /* "" -> this host joins no cluster */
    char *subject_prefix; /* first tokens of every subject ("moonhost") */
    char *token;          /* "" -> none; never logged */
    char *user;           /* "" -> none */
    char *password;       /* with user; never logged */
    uint32_t heartbeat_ms; /* full directory this often; a host silent for 3 is gone */
    struct {
      char *ca, *cert, *key; /* PEM files; "" -> none (tls:// needs ca) */
    } tls;
  } nats;
  struct {
    char *prefix;                /* "/rpc": the oRPC endpoint's path prefix */
    uint32_t request_timeout_ms; /* an HTTP request not answered by then gets 408 */
    uint32_t sse_keepalive_ms;   /* an idle event stream gets a comment this often */
    char *devframe_backend;      /* "websocket" or "sse": what __connection.json offers first */
  } http;
  struct {
    char *token; /* "": GET /metrics takes the host's tokens only */
  } metrics;
  mh_value *plugins; /* OBJECT: plugin name -> its settings (ctx.config) */
  mh_value *tree;    /* the whole merged configuration */
} mh_config;

/* The defaults as a value tree (what conf.d/00-defaults.lua documents). */
mh_value *mh_config_defaults(void);

/* Deep merge: objects merge key by key, recursively; any other value
 * (arrays included) replaces. src is copied. Returns 0 or -1 (memory). */
int mh_config_merge(mh_value *dst, const mh_value *src);
/* The value at a dotted path ("limits.max_message_bytes") of a
 * configuration tree, or NULL. */
const mh_value *mh_config_lookup(const mh_value *tree, const char *path);

/* The dotted path of the i-th key that holds a list (auth.tokens, ...),
 * or NULL past the last: an empty one is {} in a tree, as Lua makes it. */
const char *mh_config_list_key(size_t i);

/* Checks one fragment against the schema: every key known (except below
 * `plugins`, which is free-form per plugin), every value of the right type
 * and range. On error returns -1 and sets *errmsg (malloc'd) to a one-line
 * message naming the file and the dotted key, e.g.
 * "conf.d/10-x.lua: limits.max_message_bytes: expected an integer >= 1024". */
int mh_config_check(const mh_value *fragment, const char *file, char **errmsg);

/* Fills cfg's typed fields from a merged, checked tree (copied into cfg->tree).
 * cfg must be zeroed or already filled (its old contents are freed on
 * success); tree may be cfg->tree itself. cfg->plugins points into cfg->tree. */
int mh_config_apply(mh_config *cfg, const mh_value *tree, char **errmsg);

/* Evaluates one fragment file and returns the table it returns as a value;
 * on error NULL and *errmsg ("FILE:LINE: message"). The Lua bindings provide
 * it (mh_config_eval_file in bindings/moonhost_lua.h, a sandbox with limits);
 * the composition root hands it in, so this file needs no Lua. */
typedef mh_value *(*mh_config_eval_fn)(const char *path, char **errmsg);

/* Defaults, then every *.lua in dir in lexical order, each evaluated by
 * eval. A missing dir is an error only when required. On error returns -1
 * and sets *errmsg. On success *cfg is overwritten (it need not be
 * initialised; nothing is freed). */
int mh_config_load(mh_config *cfg, mh_config_eval_fn eval, const char *dir, bool required, char **errmsg);

/* Parses "HOST:PORT", "[V6]:PORT" or ":PORT"; returns 0 or -1. *host is malloc'd. */
int mh_config_parse_listen(const char *s, char **host, int *port);

void mh_config_free(mh_config *cfg);

/* mh_config_load, then `overlay` (command-line flags as a fragment, may be
 * NULL) checked under the name `overlay_label` and merged last. */
int mh_config_load_with(mh_config *cfg, mh_config_eval_fn eval, const char *dir, bool required,
                        const mh_value *overlay, const char *overlay_label, char **errmsg);

#endif
