/* The shared-state store (shared_state.h): keys, owners, subscribers,
 * recent syncIds, and the updates sent to clients. */
#include "session/shared_state.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "call/events.h"
#include "call/host.h"
#include "core/log.h"
#include "core/map.h"
#include "session/client.h"

/* Enough to recognise the echo of a recent write: a devframe client sends
 * an update back as soon as it applied it. */
#define RECENT_SYNC_IDS 64

typedef struct state_entry {
  char *key;
  char *plugin; /* owner; NULL: the host's own */
  uint32_t generation;
  mh_value *value;
  bool patches, readonly;
  char *recent[RECENT_SYNC_IDS]; /* a ring of syncIds already applied */
  size_t next_recent;
} state_entry;

typedef struct state_listener {
  char *key;
  mh_state_change_fn fn;
  void *ud;
} state_listener;

struct mh_states {
  mh_map entries; /* key -> state_entry */
  mh_map subs;    /* key -> mh_map of client ids (value unused) */
  state_listener *listeners;
  size_t nlisteners, caplisteners;
  char sync_prefix[24];
  uint64_t next_sync;
};

static mh_states *store(mh_host *h) { return h->states; }

static state_entry *entry_of(mh_host *h, const char *key) {
  return h->states ? mh_map_get(&h->states->entries, key, strlen(key)) : NULL;
}

static void entry_free(state_entry *e) {
  if (!e) return;
  for (size_t i = 0; i < RECENT_SYNC_IDS; i++) free(e->recent[i]);
  free(e->key);
  free(e->plugin);
  mh_value_free(e->value);
  free(e);
}

/* ---- syncIds ------------------------------------------------------------ */

static bool seen(const state_entry *e, const char *sync_id) {
  for (size_t i = 0; i < RECENT_SYNC_IDS; i++)
    if (e->recent[i] && strcmp(e->recent[i], sync_id) == 0) return true;
  return false;
}

static void remember(state_entry *e, const char *sync_id) {
  char *copy = strdup(sync_id);
  if (!copy) return; /* at worst an echo is applied twice: same value */
  free(e->recent[e->next_recent]);
  e->recent[e->next_recent] = copy;
  e->next_recent = (e->next_recent + 1) % RECENT_SYNC_IDS;
}

/* ---- telling clients and listeners ------------------------------------- */

/* Sends [key, payload, syncId] as `method` to the subscribers of key but `skip`. */
static void send_to_subscribers(mh_host *h, const char *key, const char *method, const mh_value *payload,
                                const char *sync_id, const char *skip) {
  mh_map *ids = mh_map_get(&h->states->subs, key, strlen(key));
  if (!ids || ids->len == 0) return;
  mh_value *args = mh_value_new(MH_V_ARRAY);
  if (!args || mh_value_push(args, mh_value_cstring(key)) || mh_value_push(args, mh_value_copy(payload)) ||
      mh_value_push(args, mh_value_cstring(sync_id))) {
    mh_value_free(args);
    mh_log_warn("state", "%s: out of memory telling clients", key);
    return;
  }
  for (size_t i = 0; i < ids->cap; i++) {
    if (!mh_map_live(&ids->slots[i]) || (skip && strcmp(ids->slots[i].key, skip) == 0)) continue;
    mh_client *c = mh_client_find(h, ids->slots[i].key);
    if (c && c->trusted) mh_client_event(c, method, args, true);
  }
  mh_value_free(args);
}

/* Tells subscribers that e changed from `old` (NULL: unknown) under sync_id. */
static void broadcast_change(mh_host *h, state_entry *e, const mh_value *old, const mh_value *patches,
                             const char *sync_id, const char *writer) {
  mh_value *diff = NULL;
  if (e->patches && !patches && old && (diff = mh_value_new(MH_V_ARRAY)) && mh_state_diff(old, e->value, diff)) {
    mh_value_free(diff);
    diff = NULL;
  }
  if (e->patches && (patches || diff))
    send_to_subscribers(h, e->key, "devframe:rpc:client-state:patch", patches ? patches : diff, sync_id, writer);
  else
    send_to_subscribers(h, e->key, "devframe:rpc:client-state:updated", e->value, sync_id, writer);
  mh_value_free(diff);
}

static bool still_listening(const mh_states *s, state_listener l) {
  for (size_t i = 0; i < s->nlisteners; i++)
    if (s->listeners[i].fn == l.fn && s->listeners[i].ud == l.ud) return true;
  return false;
}

/* A listener may unlisten (itself or another) while it runs: the matching
 * ones are picked first, and each is checked again before it is called. */
static void tell_listeners(mh_host *h, const state_entry *e, const char *client_id) {
  mh_states *s = store(h);
  size_t n = 0;
  state_listener *picked = s->nlisteners ? malloc(s->nlisteners * sizeof *picked) : NULL;
  for (size_t i = 0; picked && i < s->nlisteners; i++)
    if (strcmp(s->listeners[i].key, e->key) == 0) picked[n++] = s->listeners[i];
  for (size_t i = 0; i < n; i++)
    if (still_listening(s, picked[i])) picked[i].fn(picked[i].ud, e->key, e->value, client_id);
  free(picked);
}

/* Makes `take` e's value and tells everyone; sync_id NULL: a new one. */
static void commit(mh_host *h, state_entry *e, mh_value *take, const mh_value *patches, const char *sync_id,
                   const char *writer) {
  char own[64];
  if (!sync_id) {
    snprintf(own, sizeof own, "%s%" PRIu64, h->states->sync_prefix, ++h->states->next_sync);
    sync_id = own;
  }
  remember(e, sync_id);
  mh_value *old = e->value;
  e->value = take;
  broadcast_change(h, e, old, patches, sync_id, writer);
  mh_value_free(old);
}

/* ---- the plugin side ---------------------------------------------------- */

int mh_state_declare(mh_host *h, const char *key, const mh_state_decl *d, mh_error **err) {
  if (!h->states) {
    *err = mh_error_new(MH_ERR_INTERNAL, "this host keeps no shared state");
    return -1;
  }
  state_entry *e = entry_of(h, key);
  if (e && (!e->plugin || strcmp(e->plugin, d->plugin) != 0)) {
    *err = mh_error_new(MH_ERR_ALREADY_REGISTERED, "shared state '%s' belongs to %s%s", key,
                        e->plugin ? "plugin " : "the host", e->plugin ? e->plugin : "");
    return -1;
  }
  if (!e) {
    e = calloc(1, sizeof *e);
    if (!e || !(e->key = strdup(key)) || !(e->plugin = strdup(d->plugin)) ||
        !(e->value = d->initial ? mh_value_copy(d->initial) : mh_value_new(MH_V_OBJECT)) ||
        mh_map_put(&h->states->entries, key, strlen(key), e)) {
      entry_free(e);
      *err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
      return -1;
    }
  }
  e->generation = d->generation;
  e->patches = d->patches;
  e->readonly = d->readonly;
  return 0;
}

const mh_value *mh_state_value(mh_host *h, const char *key) {
  state_entry *e = entry_of(h, key);
  return e ? e->value : NULL;
}

int mh_state_set(mh_host *h, const char *key, mh_value *take, mh_error **err) {
  state_entry *e = entry_of(h, key);
  if (!e || !take) {
    mh_value_free(take);
    *err = e ? mh_error_new(MH_ERR_INTERNAL, "out of memory") : mh_error_new(MH_ERR_NOT_FOUND, "no shared state '%s'", key);
    return -1;
  }
  commit(h, e, take, NULL, NULL, NULL);
  return 0;
}

static int by_text(const void *a, const void *b) {
  return strcmp((*(const mh_value *const *)a)->u.str.ptr, (*(const mh_value *const *)b)->u.str.ptr);
}

mh_value *mh_state_keys(mh_host *h) {
  mh_value *out = mh_value_new(MH_V_ARRAY);
  mh_map *m = h->states ? &h->states->entries : NULL;
  for (size_t i = 0; out && m && i < m->cap; i++)
    if (mh_map_live(&m->slots[i]) && mh_value_push(out, mh_value_cstring(m->slots[i].key))) {
      mh_value_free(out);
      return NULL;
    }
  if (out && out->u.arr.len > 1) qsort(out->u.arr.items, out->u.arr.len, sizeof(mh_value *), by_text);
  return out;
}

int mh_state_listen(mh_host *h, const char *key, mh_state_change_fn fn, void *ud) {
  mh_states *s = store(h);
  if (!s) return -1;
  if (s->nlisteners == s->caplisteners) {
    size_t cap = s->caplisteners ? s->caplisteners * 2 : 8;
    state_listener *items = realloc(s->listeners, cap * sizeof *items);
    if (!items) return -1;
    s->listeners = items;
    s->caplisteners = cap;
  }
  char *k = strdup(key);
  if (!k) return -1;
  s->listeners[s->nlisteners++] = (state_listener){k, fn, ud};
  return 0;
}

void mh_state_unlisten(mh_host *h, mh_state_change_fn fn, void *ud) {
  mh_states *s = store(h);
  for (size_t i = 0; s && i < s->nlisteners; i++) {
    if (s->listeners[i].fn != fn || s->listeners[i].ud != ud) continue;
    free(s->listeners[i].key);
    memmove(&s->listeners[i], &s->listeners[i + 1], (s->nlisteners - i - 1) * sizeof *s->listeners);
    s->nlisteners--;
    return;
  }
}

/* ---- the client side (shared_state_wire.c) ------------------------------ */

int mh_state_subscribe(mh_host *h, const char *key, const char *client_id, mh_error **err) {
  if (!entry_of(h, key)) {
    *err = mh_error_new(MH_ERR_NOT_FOUND, "no shared state '%s'", key);
    return -1;
  }
  mh_map *ids = mh_map_get(&h->states->subs, key, strlen(key));
  if (!ids) {
    ids = calloc(1, sizeof *ids);
    if (!ids || mh_map_put(&h->states->subs, key, strlen(key), ids)) {
      free(ids);
      *err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
      return -1;
    }
  }
  if (mh_map_put(ids, client_id, strlen(client_id), ids)) {
    *err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
    return -1;
  }
  return 0;
}

/* A write from a client: the new value (taken) or patches to apply. */
int mh_state_client_write(mh_host *h, const char *key, mh_value *take, const mh_value *patches, const char *sync_id,
                          const char *client_id, mh_error **err) {
  state_entry *e = entry_of(h, key);
  if (!e || e->readonly) {
    mh_value_free(take);
    *err = e ? mh_error_new(MH_ERR_BAD_REQUEST, "shared state '%s' is read-only to clients", key)
             : mh_error_new(MH_ERR_NOT_FOUND, "no shared state '%s'", key);
    return -1;
  }
  if (sync_id && seen(e, sync_id)) { /* our own update coming back */
    mh_value_free(take);
    return 0;
  }
  if (patches) {
    take = mh_value_copy(e->value);
    if (!take || mh_state_apply(&take, patches, err)) {
      mh_value_free(take);
      if (!*err) *err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
      return -1;
    }
  }
  commit(h, e, take, patches, sync_id, client_id);
  tell_listeners(h, e, client_id);
  return 0;
}

bool mh_state_exists(mh_host *h, const char *key) { return entry_of(h, key) != NULL; }

/* ---- lifetime ----------------------------------------------------------- */

/* A plugin loaded (generation) or unloaded (0): its keys the generation did
 * not declare go. */
static void drop_undeclared(mh_host *h, const char *plugin, uint32_t generation) {
  mh_map *m = &h->states->entries;
  for (size_t i = 0; i < m->cap; i++) {
    state_entry *e = mh_map_live(&m->slots[i]) ? m->slots[i].value : NULL;
    if (!e || !e->plugin || strcmp(e->plugin, plugin) != 0 || (generation && e->generation == generation)) continue;
    mh_log_info("state", "%s: dropped (plugin %s %s)", e->key, plugin, generation ? "no longer declares it" : "unloaded");
    mh_map_del(m, e->key, strlen(e->key));
    entry_free(e);
  }
}

static void forget_client(mh_host *h, const char *client_id) {
  mh_map *m = &h->states->subs;
  for (size_t i = 0; i < m->cap; i++)
    if (mh_map_live(&m->slots[i])) mh_map_del(m->slots[i].value, client_id, strlen(client_id));
}

static void on_event(mh_host *h, const mh_event *ev, void *ud) {
  (void)ud;
  if (!h->states) return;
  if (ev->kind == MH_EV_FUNCTIONS_CHANGED) drop_undeclared(h, ev->plugin, ev->generation);
  else if (ev->kind == MH_EV_CLIENT_GONE && ev->client) forget_client(h, ev->client->id);
}

int mh_states_init(mh_host *h) {
  mh_states *s = calloc(1, sizeof *s);
  if (!s) return -1;
  snprintf(s->sync_prefix, sizeof s->sync_prefix, "mh%" PRIx64 "-", uv_hrtime());
  h->states = s;
  /* devframe's client reads its services from this key; moonhost has none */
  state_entry *e = calloc(1, sizeof *e);
  if (!e || !(e->key = strdup("devframe:services")) || !(e->value = mh_value_new(MH_V_OBJECT)) ||
      mh_map_put(&s->entries, e->key, strlen(e->key), e)) {
    entry_free(e);
    return -1;
  }
  e->readonly = true;
  return mh_events_listen(h, on_event, NULL);
}

void mh_states_free(mh_host *h) {
  mh_states *s = h->states;
  if (!s) return;
  for (size_t i = 0; i < s->entries.cap; i++)
    if (mh_map_live(&s->entries.slots[i])) entry_free(s->entries.slots[i].value);
  for (size_t i = 0; i < s->subs.cap; i++)
    if (mh_map_live(&s->subs.slots[i])) {
      mh_map_free(s->subs.slots[i].value);
      free(s->subs.slots[i].value);
    }
  mh_map_free(&s->entries);
  mh_map_free(&s->subs);
  for (size_t i = 0; i < s->nlisteners; i++) free(s->listeners[i].key);
  free(s->listeners);
  free(s);
  h->states = NULL;
}
