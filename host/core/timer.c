#include "core/timer.h"


#include "core/small_alloc.h"

struct mh_timer {
  uv_timer_t handle;
  mh_timer_cb cb;
  void *ud;
};

static void on_close(uv_handle_t *h) { mh_small_free(h->data); }

static void on_fire(uv_timer_t *h) {
  mh_timer *t = h->data;
  mh_timer_cb cb = t->cb;
  void *ud = t->ud;
  uv_close((uv_handle_t *)&t->handle, on_close);
  cb(ud);
}

mh_timer *mh_timer_start(uv_loop_t *loop, uint64_t ms, mh_timer_cb cb, void *ud) {
  mh_timer *t = mh_small_alloc(sizeof *t); /* a few per request in flight: small_alloc.h */
  if (!t) return NULL;
  t->cb = cb;
  t->ud = ud;
  uv_timer_init(loop, &t->handle);
  t->handle.data = t;
  uv_timer_start(&t->handle, on_fire, ms, 0);
  return t;
}

void mh_timer_stop(mh_timer *t) {
  if (!t) return;
  uv_timer_stop(&t->handle);
  uv_close((uv_handle_t *)&t->handle, on_close);
}

void mh_timer_unref(mh_timer *t) {
  if (t) uv_unref((uv_handle_t *)&t->handle);
}

uint64_t mh_now_ms(uv_loop_t *loop) { return uv_now(loop); }
