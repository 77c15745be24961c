/* A scripting engine in C with no Lua, for the C tests and the dispatcher
 * fuzz target: it implements host/call/engine.h from plugin descriptions the
 * test writes, records every call so the test decides when and how it
 * ends, and checks the vtable contract from the engine's side (destroy only
 * when no call runs and every handler was released, nothing twice).
 *
 * State is global (one fake per process); fake_reset forgets it all. */
#ifndef MH_FAKE_ENGINE_H
#define MH_FAKE_ENGINE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "call/engine.h"
#include "call/host.h"
#include "call/plugin.h"
#include "call/registry.h"

/* When a plugin's load (its setup) completes. */
typedef enum {
  FAKE_LOAD_SYNC,   /* inside mh_plugin_load */
  FAKE_LOAD_LOOP,   /* from the loop (a 0 ms timer): uv_run completes it */
  FAKE_LOAD_MANUAL, /* when the test calls fake_finish_load */
} fake_load_mode;

typedef struct fake_fn {
  const char *name;
  mh_fn_type type;
  bool cached; /* query: cache = {ttl_ms, max_entries} */
  uint64_t ttl_ms;
  size_t max_entries;
  bool sync; /* calls complete inside `call`, with the call's id as an integer */
  bool stream; /* a stream function (call/stream.h): the test emits with fake_emit */
} fake_fn;

#define FAKE_MAX_FNS 8

/* One plugin as the test describes it, looked up by the mh_plugin's name
 * when a generation is created. Borrowed: edit it between loads to make
 * the next generation different; a generation keeps what it saw. */
typedef struct fake_plugin {
  const char *name;
  fake_fn fns[FAKE_MAX_FNS]; /* up to the first with name NULL */
  const char *create_error;  /* create fails with this message */
  const char *setup_error;   /* setup registers its functions, then fails */
  fake_load_mode load;
} fake_plugin;

/* One generation's engine. Kept (marked destroyed) until fake_reset so a
 * test can look at it after the host let it go. */
struct mh_engine {
  struct mh_engine *next;
  mh_gen *gen;   /* NULL once destroyed */
  char *plugin;  /* the plugin's name */
  uint32_t number;
  fake_fn fns[FAKE_MAX_FNS];
  size_t nfns;
  const char *setup_error;
  fake_load_mode load_mode;
  bool load_pending; /* load started, not completed */
  mh_engine_done load_done;
  void *load_ud;
  int registered;    /* handlers registered in setup */
  unsigned released; /* bit i: handler i+1 released */
  int running;       /* calls started and not completed */
  int retired;       /* retire calls */
  bool destroyed;
};

/* One call of a handler. Kept until fake_reset. */
struct mh_engine_call {
  struct mh_engine_call *next;
  int id; /* 1, 2, ... in order of calls */
  mh_engine *engine;
  int handler;
  const char *fn; /* the function's name */
  mh_value *args;
  char *caller; /* NULL when none */
  mh_engine_done done;
  void *ud;
  bool finished, cancelled;
  mh_stream *stream;   /* a stream call's producer handle, else NULL */
  char *last_event_id; /* what the stream's reader resumes from, or NULL */
  bool waiting;        /* fake_emit returned true: the producer waits */
  int drained;         /* times the engine was told its reader caught up */
};

typedef struct fake_stats {
  int created, destroyed, retired, released, loads, calls, cancels;
  int violations; /* contract breaks seen from the engine's side (printed) */
} fake_stats;

extern const mh_engine_vt fake_engine_vt;
extern const mh_host_parts fake_host_parts;
extern fake_stats fake_counts;

/* Makes a plugin known (replaces one of the same name). */
void fake_define(const fake_plugin *p);
/* Forgets every plugin, engine and call record, and zeroes the counts.
 * Engines not destroyed yet are a leak the test should have seen. */
void fake_reset(void);

/* Calls in order of start; NULL past the end. */
mh_engine_call *fake_call_at(int id);
mh_engine_call *fake_last_call(void);
/* The nth (0-based) call of fn still running, or NULL. */
mh_engine_call *fake_running(const char *fn, int nth);
int fake_running_count(void);
/* Sends a chunk (taken) from a running stream call, as a producer would;
 * true when the producer must now wait for its reader (c->waiting). */
bool fake_emit(mh_engine_call *c, mh_value *chunk);
/* Ends a running call: with a value (taken) or an error. */
void fake_complete(mh_engine_call *c, mh_value *result);
void fake_fail(mh_engine_call *c, const char *code, const char *message);

/* The engine of plugin `name`, generation `number` (0: the newest). */
mh_engine *fake_engine_of(const char *name, uint32_t number);
/* Completes a manual or loop load now. Returns -1 if none is pending. */
int fake_finish_load(mh_engine *e);
/* The nth (0-based) engine whose load is pending, or NULL. */
mh_engine *fake_pending_load(int nth);
/* Engines created and not destroyed. */
int fake_live_engines(void);
/* Whether the host let everything go: no call running, every engine
 * destroyed, the contract never broken (what went wrong is printed). */
bool fake_all_released(void);

/* A reply callback (mh_reply_fn) that keeps copies of what it got. */
typedef struct fake_reply {
  int calls;
  mh_value *result;
  mh_error *err;
} fake_reply;
void fake_on_reply(void *ud, const mh_value *result, const mh_error *err);
/* Whether exactly one reply came, with this integer / with this error code. */
bool fake_reply_int(const fake_reply *r, int64_t i);
bool fake_reply_err(const fake_reply *r, const char *code);
void fake_reply_clear(fake_reply *r);

/* A host with the fake engine on a loop of its own, no server (like
 * `moonhost test`). */
typedef struct fake_fixture {
  uv_loop_t loop;
  mh_config cfg;
  mh_host host;
} fake_fixture;
int fake_fixture_init(fake_fixture *f);
/* Finishes pending manual loads, frees the host, runs the loop until
 * released handles closed, closes it. Calls still running stay so. */
void fake_fixture_free(fake_fixture *f);

/* A configuration with the defaults (and a fixed mesh key: no randomness
 * needed). 0 or -1. */
int fake_config(mh_config *cfg);
/* Starts (re)loading plugin `name` (defined with fake_define) on h. */
void fake_load(mh_host *h, const char *name, mh_plugin_loaded_cb cb, void *ud);

#endif
