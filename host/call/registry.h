/* Function registry: name -> function, filled by plugin generations.
 *
 * A generation stages its registrations while its setup runs; commit swaps
 * them in for the plugin's previous generation in one step, so a caller
 * always sees either the old set or the new one. */
#ifndef MH_REGISTRY_H
#define MH_REGISTRY_H
#include <stdbool.h>
#include <stdint.h>

#include "call/cache.h"
#include "core/error.h"
#include "core/list.h"
#include "core/map.h"
#include "core/value.h"

typedef struct mh_host mh_host;
typedef struct mh_gen mh_gen;
typedef struct mh_run mh_run;

typedef enum { MH_FN_QUERY, MH_FN_ACTION, MH_FN_STATIC, MH_FN_EVENT } mh_fn_type;

typedef struct mh_client mh_client;
/* Who makes a call. client: the connection it came over, or NULL for calls
 * with none: an oRPC or MCP request over HTTP (http set), or the host itself
 * and its plugins (ctx.mesh, ctx.rpc). The dispatcher hands it to host
 * functions, which may act on the client or judge the caller, and to the
 * engine (a handler's moonhost.caller()). */
typedef struct mh_caller mh_caller;
struct mh_caller {
  mh_client *client;
  const char *id;
  bool http;
  /* An HTTP caller: its token is ours (a client's trust is the client's,
   * which may change while it is connected). */
  bool trusted;
  /* A call with no client: the roles its token was granted (NULL: none),
   * asked only by what judges them (a mesh relay), since finding them means
   * reading the request's token again. ctx is its argument. The answer is
   * borrowed, for the turn of the loop the call starts in. */
  const mh_value *(*token_roles)(const void *ctx);
  const void *ctx;
};

/* A function implemented in C by the host itself (introspection, the auth
 * handshake, the mesh). caller is never NULL. */
typedef mh_value *(*mh_builtin_fn)(mh_host *host, const mh_caller *caller, const mh_value *args, mh_error **err);

/* A host function that waits (relaying to another peer, say). start takes
 * args and calls done exactly once, maybe before it returns (it then returns
 * NULL); cancel stops the work and calls done with rpc_cancelled. */
typedef struct mh_native_call mh_native_call;
typedef void (*mh_native_done)(void *ud, mh_value *result, mh_error *err);
typedef struct mh_native {
  mh_native_call *(*start)(mh_host *host, const mh_caller *caller, mh_value *args, mh_native_done done, void *ud);
  void (*cancel)(mh_native_call *c);
} mh_native;

typedef struct mh_fn_spec {
  const char *name;
  mh_fn_type type;
  int handler;       /* engine handler id */
  bool cached;       /* query only */
  uint64_t ttl_ms;   /* 0: until invalidated */
  size_t max_entries; /* 0: config default */
  bool mesh;          /* also a provider for mesh make() (ctx.mesh.provide) */
  unsigned arg_count; /* arguments its schema declares; 0 without a schema */
  bool stream;        /* produces chunks (call/stream.h): query or action, never cached */
  bool input_stream;  /* takes a streamed input (oRPC event iterator; transport/orpc_input.c) */
  /* Offered to AI agents as an MCP tool (transport/mcp.c): the tool's
   * description without its name ({description, inputSchema, annotations,
   * title?, _meta?}), NULL when not offered. The function owns it once
   * registered; on failure the caller frees it. */
  mh_value *agent;
  int agent_args;     /* arguments its schema declares (arg0, arg1, ...); -1 without one */
} mh_fn_spec;

typedef struct mh_fn_stats {
  uint64_t calls, runs, shared, hits, misses, errors;
} mh_fn_stats;

typedef struct mh_fn mh_fn;
struct mh_fn {
  char *name;
  mh_fn_type type;
  mh_gen *gen;         /* NULL for builtins */
  int handler;
  mh_builtin_fn builtin;
  const mh_native *native;
  mh_cache *cache;     /* cached queries */
  mh_map runs;         /* query: canonical args -> mh_run in flight */
  mh_run *static_run;  /* static: the first run, while in flight */
  mh_value *static_value; /* static: the memoized result */
  mh_fn_stats stats;
  struct mh_fn_metrics *metrics; /* its /metrics series, bound by the dispatcher's first call */
  bool mesh_provided;  /* make() may pick the host to serve it */
  /* Arguments its schema declares (0 without one): an oRPC input, which is
   * one value, is spread over two or more. */
  unsigned arg_count;
  bool stream;         /* a stream (call/stream.h): every call runs, with its own reader */
  bool input_stream;   /* mh_fn_spec.input_stream: its one argument is a fed upload's id */
  mh_value *agent;     /* mh_fn_spec.agent: an MCP tool; NULL when not offered */
  int agent_args;      /* mh_fn_spec.agent_args */
  int refs;            /* registry membership + runs in flight */
  /* Runs when the last reference goes (plugin functions: frees the engine
   * handler and drops the generation; set by plugin.c). */
  void (*release)(mh_fn *fn);
  bool registered;
};

typedef struct mh_registry {
  mh_map by_name; /* name -> mh_fn */
} mh_registry;

const char *mh_fn_type_name(mh_fn_type t);
int mh_fn_type_parse(const char *s); /* -1 when unknown */

void mh_registry_init(mh_registry *r);
void mh_registry_free(mh_registry *r);
mh_fn *mh_registry_get(mh_registry *r, const char *name);
/* One function the host itself provides: exactly one of builtin (answers at
 * once) and native (waits, then calls done) is set. Each module keeps a
 * static table of these and registers it in one call. */
typedef struct mh_host_fn_def {
  const char *name;
  mh_fn_type type;
  mh_builtin_fn builtin;
  const mh_native *native;
} mh_host_fn_def;
#define MH_HOST_FNS_COUNT(defs) (sizeof(defs) / sizeof((defs)[0]))
/* Registers the n functions of defs; 0, or -1 at the first that cannot be
 * added (memory), with those before it left registered for
 * mh_registry_free. */
int mh_registry_add_host_fns(mh_registry *r, const mh_host_fn_def *defs, size_t n);
/* Whether `name` is free for plugin `gen` (free, or owned by gen's own plugin). */
bool mh_registry_name_free_for(mh_registry *r, const char *name, const mh_gen *gen);

/* 0 when `name` is free for gen; else -1 and *err (already registered,
 * naming the owner). */
int mh_registry_check_name(mh_registry *r, const char *name, const mh_gen *gen, mh_error **err);
/* Swap in gen's staged functions for its plugin's current ones. On a name
 * conflict nothing changes and -1 is returned with *err. */
int mh_registry_commit(mh_registry *r, mh_gen *gen, mh_error **err);
/* Remove every function of gen from the registry (plugin unloaded). */
void mh_registry_remove_gen(mh_registry *r, mh_gen *gen);

/* A function with one reference (the caller's), not yet registered. */
mh_fn *mh_fn_new(const char *name, mh_fn_type type);
void mh_fn_ref(mh_fn *fn);
void mh_fn_unref(mh_fn *fn);

#endif
