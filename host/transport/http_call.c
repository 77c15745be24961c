/* One dispatch per HTTP request, interruptible: a request that times out
 * cancels its call and is answered as failed; a client that leaves cancels
 * it and a late result never reaches anyone. */
#include "transport/http_call.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "call/dispatch.h"
#include "call/host.h"
#include "core/finish_watch.h"
#include "core/log.h"
#include "core/small_alloc.h"
#include "transport/http.h"

typedef struct call_op {
  mh_http_exchange *x;
  mh_waiter *w;
  bool *finished; /* mh_finish_watch: answered inside mh_dispatch */
  mh_http_call_done done;
  void *ud;
} call_op;

static void on_reply(void *ud, const mh_value *result, const mh_error *err) {
  call_op *op = ud;
  mh_http_exchange *x = op->x;
  op->w = NULL;
  x->on_abort = NULL; /* answered: nothing left to interrupt */
  x->ud = NULL;
  op->done(x, op->ud, result, err);
  mh_finish_mark(op->finished);
  mh_small_free(op);
}

static void on_abort(mh_http_exchange *x, bool timed_out) {
  call_op *op = x->ud;
  x->on_abort = NULL;
  x->ud = NULL;
  if (op->w) mh_dispatch_cancel(op->w);
  if (!timed_out) {
    mh_log_debug("http", "%s: the client left; call cancelled", x->path);
    mh_http_respond_text(x, 499, ""); /* nobody reads it: this frees x */
    op->done(NULL, op->ud, NULL, NULL);
  } else {
    char msg[128];
    snprintf(msg, sizeof msg, "no answer within http.request_timeout_ms (%u ms)", x->host->cfg->http.request_timeout_ms);
    mh_log_warn("http", "%s %s: %s", x->method_name, x->path, msg);
    mh_error e = {(char *)MH_ERR_TIMEOUT, (char *)"Error", msg, NULL, false, 0};
    op->done(x, op->ud, NULL, &e);
  }
  mh_small_free(op);
}

static const mh_value *token_roles(const void *x) { return mh_http_token_roles(x); }

mh_caller mh_http_caller(const mh_http_exchange *x) {
  return (mh_caller){.http = true, .trusted = x->trusted, .token_roles = token_roles, .ctx = x};
}

/* fn: found already (mh_http_call_fn), else looked up by name. */
static void http_call(mh_http_exchange *x, const char *name, mh_fn *fn, mh_value *args, mh_http_call_done done,
                      void *ud) {
  call_op *op = args ? mh_small_zalloc(sizeof *op) : NULL; /* one per call: small_alloc.h */
  if (!op) {
    mh_value_free(args);
    mh_error e = {(char *)MH_ERR_INTERNAL, (char *)"Error", (char *)"out of memory", NULL, false, 0};
    done(x, ud, NULL, &e);
    return;
  }
  *op = (call_op){.x = x, .done = done, .ud = ud};
  x->ud = op;
  x->on_abort = on_abort;
  mh_finish_watch watch;
  mh_finish_watch_begin(&watch, &op->finished);
  mh_caller caller = mh_http_caller(x);
  mh_waiter *w = fn ? mh_dispatch_fn(x->host, &caller, fn, args, on_reply, op)
                    : mh_dispatch(x->host, &caller, name, args, false, on_reply, op);
  if (!mh_finish_watch_end(&watch)) op->w = w;
}

void mh_http_call(mh_http_exchange *x, const char *name, mh_value *args, mh_http_call_done done, void *ud) {
  http_call(x, name, NULL, args, done, ud);
}

void mh_http_call_fn(mh_http_exchange *x, mh_fn *fn, mh_value *args, mh_http_call_done done, void *ud) {
  http_call(x, NULL, fn, args, done, ud);
}
