/* Learning whether work finished before the call that started it returned.
 *
 * A reply can come while the starter is still inside the call that asked for
 * it (a builtin answers at once, a client is gone, a send fails). The
 * finishing side frees its object as usual; the starter, which must then not
 * touch that object again, learns of the finish through a flag on its own
 * stack that the object points at while the call runs. Watches nest: a finish
 * seen by an inner watch is passed on to the one outside it. */
#ifndef MH_FINISH_WATCH_H
#define MH_FINISH_WATCH_H
#include <stdbool.h>
#include <stddef.h>

typedef struct mh_finish_watch {
  bool finished;
  bool **slot;  /* the object's flag pointer */
  bool *outer;  /* what the slot held before (an enclosing watch), or NULL */
} mh_finish_watch;

/* Starter, before the call: point the object's *slot at this watch. */
static inline void mh_finish_watch_begin(mh_finish_watch *w, bool **slot) {
  w->finished = false;
  w->slot = slot;
  w->outer = *slot;
  *slot = &w->finished;
}

/* Finisher, before it frees the object: flag is the object's slot. */
static inline void mh_finish_mark(bool *flag) {
  if (flag) *flag = true;
}

/* Starter, after the call: true when the object finished (and is gone)
 * meanwhile; else the slot is given back to the enclosing watch. */
static inline bool mh_finish_watch_end(mh_finish_watch *w) {
  if (w->finished) {
    mh_finish_mark(w->outer);
    return true;
  }
  *w->slot = w->outer;
  return false;
}

#endif
