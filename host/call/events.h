/* Host events: how the call layer (dispatcher, plugin generations) tells
 * the layers above it what happened without calling them. Sessions
 * subscribe to announce events to clients (notify.c), the mesh to learn
 * that a client went away; anything else that wants to know (metrics, a
 * log) subscribes the same way. */
#ifndef MH_EVENTS_H
#define MH_EVENTS_H
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct mh_host mh_host;
typedef struct mh_client mh_client;

typedef enum {
  MH_EV_FUNCTIONS_CHANGED, /* plugin, generation (0: the plugin was unloaded) */
  MH_EV_PLUGIN_ERROR,      /* plugin, err: a load failed; the old version serves */
  MH_EV_CACHE_INVALIDATED, /* function: its cached results were dropped */
  MH_EV_CLIENT_GONE,       /* client: its connection closed; it is freed after the listeners ran */
  MH_EV_CLIENT_DRAINED,    /* client: its unsent bytes fell to limits.stream_queue_bytes (waiting streams go on) */
} mh_event_kind;

typedef struct mh_event {
  mh_event_kind kind;
  const char *plugin;
  uint32_t generation;
  const mh_error *err;
  const char *function;
  mh_client *client;
} mh_event;

/* Called synchronously from mh_events_emit; ev is borrowed. */
typedef void (*mh_event_fn)(mh_host *h, const mh_event *ev, void *ud);

typedef struct mh_event_listeners {
  struct mh_event_listener {
    mh_event_fn fn;
    void *ud;
  } *items;
  size_t n, cap;
} mh_event_listeners;

/* Adds a listener for the host's lifetime; 0 or -1 (memory). */
int mh_events_listen(mh_host *h, mh_event_fn fn, void *ud);
/* Removes the listener added with fn and ud (one that lives shorter than
 * the host); nothing when there is none. */
void mh_events_unlisten(mh_host *h, mh_event_fn fn, void *ud);
/* Tells every listener, in the order they subscribed. */
void mh_events_emit(mh_host *h, const mh_event *ev);
void mh_events_free(mh_event_listeners *l);

#endif
