#include "call/events.h"

#include <stdlib.h>

#include "call/host.h"

int mh_events_listen(mh_host *h, mh_event_fn fn, void *ud) {
  mh_event_listeners *l = &h->events;
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 4;
    struct mh_event_listener *items = realloc(l->items, cap * sizeof *items);
    if (!items) return -1;
    l->items = items;
    l->cap = cap;
  }
  l->items[l->n++] = (struct mh_event_listener){fn, ud};
  return 0;
}

void mh_events_unlisten(mh_host *h, mh_event_fn fn, void *ud) {
  mh_event_listeners *l = &h->events;
  for (size_t i = 0; i < l->n; i++) {
    if (l->items[i].fn != fn || l->items[i].ud != ud) continue;
    for (size_t j = i + 1; j < l->n; j++) l->items[j - 1] = l->items[j]; /* keep the order */
    l->n--;
    return;
  }
}

void mh_events_emit(mh_host *h, const mh_event *ev) {
  for (size_t i = 0; i < h->events.n; i++) h->events.items[i].fn(h, ev, h->events.items[i].ud);
}

void mh_events_free(mh_event_listeners *l) {
  free(l->items);
  *l = (mh_event_listeners){0};
}
