/* The inspector's live log tail: moonhost:inspect:logs() answers the lines
 * the ring holds (core/log_ring.h) and subscribes the caller; new lines
 * reach subscribers as moonhost:inspect:log {lines, skipped} events.
 *
 * Why a timer between a line and its delivery: a line can be logged from
 * anywhere (a client being freed, a frame half parsed), where sending to
 * clients is not safe; and a burst of lines goes out as one event. What is
 * logged while the inspector works (delivering, answering its functions)
 * is not kept (a hidden scope, core/log_ring.h), so a line about the
 * inspector cannot make another delivery, and a tail never feeds itself. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/inspect_internal.h"
#include "call/host.h"
#include "core/log.h"
#include "core/log_ring.h"
#include "session/client.h"

#define RING_LINES 256              /* kept: at most 256 x 2 KiB of messages */
#define DELIVER_AFTER_MS 25         /* lines within this go out together */
#define EVENT_BYTES_MAX (256 * 1024) /* message bytes per event; the rest follows at once */

static mh_value *line_value(const mh_log_line *l) {
  mh_value *o = mh_value_new(MH_V_OBJECT);
  mh_value_obj_set(o, "seq", mh_value_int((int64_t)l->seq));
  mh_value_obj_set(o, "ts", mh_value_int((int64_t)l->ts_ms));
  mh_value_obj_set(o, "level", mh_value_cstring(mh_log_level_name(l->level)));
  mh_value_obj_set(o, "area", mh_value_cstring(l->area));
  mh_value_obj_set(o, "msg", mh_value_cstring(l->msg));
  return o;
}

/* {lines, skipped} after sequence number *seq (moved past what was taken),
 * at most EVENT_BYTES_MAX of messages; *more says lines were left. */
static mh_value *lines_after(uint64_t *seq, bool *more) {
  mh_value *o = mh_value_new(MH_V_OBJECT), *lines = mh_value_new(MH_V_ARRAY);
  uint64_t skipped = 0, gap;
  size_t bytes = 0;
  *more = false;
  for (const mh_log_line *l; (l = mh_log_ring_next(*seq, &gap));) {
    if (bytes > EVENT_BYTES_MAX) {
      *more = true;
      break;
    }
    skipped += gap;
    *seq = l->seq;
    bytes += strlen(l->msg) + strlen(l->area);
    mh_value_push(lines, line_value(l));
  }
  mh_value_obj_set(o, "lines", lines);
  mh_value_obj_set(o, "skipped", mh_value_int((int64_t)skipped));
  return o;
}

static void remove_sub(mh_inspect *in, size_t i) { in->subs[i] = in->subs[--in->nsubs]; }

static void deliver(void *ud);

static void schedule(mh_inspect *in) {
  if (!in->flush && in->nsubs) in->flush = mh_timer_start(in->host->loop, DELIVER_AFTER_MS, deliver, in);
}

static void deliver(void *ud) {
  mh_inspect *in = ud;
  in->flush = NULL;
  bool more_left = false;
  mh_log_ring_hide_enter();
  for (size_t i = 0; i < in->nsubs;) {
    mh_client *c = mh_client_find(in->host, in->subs[i].id);
    if (!c) {
      remove_sub(in, i);
      continue;
    }
    bool more;
    mh_value *ev = lines_after(&in->subs[i].seq, &more);
    mh_value *args = mh_value_new(MH_V_ARRAY);
    const mh_value *lines = ev ? mh_value_obj_get(ev, "lines") : NULL;
    if (lines && lines->u.arr.len && mh_value_push(args, ev) == 0) {
      ev = NULL;
      mh_client_event(c, "moonhost:inspect:log", args, true);
    }
    mh_value_free(ev);
    mh_value_free(args);
    more_left = more_left || more;
    i++;
  }
  mh_log_ring_hide_leave();
  if (more_left) schedule(in);
}

static void on_line(void *ud) { schedule(ud); }

mh_value *mh_inspect_logs(mh_host *h, const mh_caller *from, const mh_value *args, mh_error **err) {
  mh_client *caller = from->client;
  (void)args;
  mh_inspect *in = h->inspect;
  if (!caller) {
    mh_log_warn_limited("inspect", "moonhost:inspect:logs refused: called without a WebSocket client (HTTP)");
    *err = mh_error_new(MH_ERR_BAD_REQUEST, "moonhost:inspect:logs sends lines as events: call it over a WebSocket");
    return NULL;
  }
  mh_log_ring_hide_enter();
  size_t i = 0;
  while (i < in->nsubs && strcmp(in->subs[i].id, caller->id) != 0) i++;
  if (i == in->nsubs) {
    if (in->nsubs == in->capsubs) {
      size_t cap = in->capsubs ? in->capsubs * 2 : 4;
      mh_inspect_sub *subs = realloc(in->subs, cap * sizeof *subs);
      if (!subs) {
        mh_log_ring_hide_leave();
        *err = mh_error_new(MH_ERR_INTERNAL, "out of memory");
        return NULL;
      }
      in->subs = subs;
      in->capsubs = cap;
    }
    snprintf(in->subs[i].id, sizeof in->subs[i].id, "%s", caller->id);
    in->nsubs++;
  }
  uint64_t seq = 0; /* everything still held, then the new lines as events */
  bool more;
  mh_value *out = lines_after(&seq, &more);
  in->subs[i].seq = seq;
  mh_log_ring_hide_leave();
  if (more) schedule(in);
  return out;
}

void mh_inspect_log_forget(mh_inspect *in, const char *client_id) {
  for (size_t i = 0; i < in->nsubs; i++)
    if (strcmp(in->subs[i].id, client_id) == 0) {
      remove_sub(in, i);
      return;
    }
}

int mh_inspect_log_start(mh_inspect *in) {
  if (mh_log_ring_enable(RING_LINES)) return -1;
  mh_log_ring_set_tap(on_line, in);
  return 0;
}

void mh_inspect_log_stop(mh_inspect *in) {
  mh_log_ring_enable(0);
  if (in->flush) mh_timer_stop(in->flush);
  in->flush = NULL;
  free(in->subs);
  in->subs = NULL;
  in->nsubs = in->capsubs = 0;
}
