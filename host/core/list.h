/* Intrusive doubly linked list (circular, with a sentinel head). */
#ifndef MH_LIST_H
#define MH_LIST_H
#include <stddef.h>

typedef struct mh_list {
  struct mh_list *prev, *next;
} mh_list;

static inline void mh_list_init(mh_list *h) { h->prev = h->next = h; }
static inline int mh_list_empty(const mh_list *h) { return h->next == h; }
static inline void mh_list_insert_tail(mh_list *h, mh_list *n) {
  n->prev = h->prev;
  n->next = h;
  h->prev->next = n;
  h->prev = n;
}
/* Unlinks n and leaves it self-linked, so removing twice is harmless. */
static inline void mh_list_remove(mh_list *n) {
  n->prev->next = n->next;
  n->next->prev = n->prev;
  n->prev = n->next = n;
}

#define mh_container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))
#define mh_list_each(pos, head) for (mh_list *pos = (head)->next; pos != (head); pos = pos->next)
/* Safe against removal of pos inside the loop body. */
#define mh_list_each_safe(pos, head)                                                               \
  for (mh_list *pos = (head)->next, *pos##_next = pos->next; pos != (head);                        \
       pos = pos##_next, pos##_next = pos->next)

#endif
