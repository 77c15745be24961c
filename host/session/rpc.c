#include "session/rpc.h"

#include <stdlib.h>
#include <string.h>

#include "codec/envelope.h"
#include "call/host.h"
#include "core/finish_watch.h"
#include "core/log.h"

/* A broadcast is encoded once per codec in use, not once per client: with
 * thousands of clients the encoding was most of the work. */
int mh_rpc_broadcast(mh_host *host, const char *name, const mh_value *args) {
  enum { MAX_CODECS = 8 };
  const mh_codec *codecs[MAX_CODECS];
  mh_buf frames[MAX_CODECS];
  bool failed[MAX_CODECS] = {false};
  size_t ncodecs = 0;
  int sent = 0;
  host->metrics.broadcasts++;
  mh_client_each(c, host) {
    if (!c->trusted || !mh_client_is_app(c)) continue;
    size_t k = 0;
    while (k < ncodecs && codecs[k] != c->codec) k++;
    if (k == ncodecs) {
      if (ncodecs == MAX_CODECS) {
        sent += mh_client_event(c, name, args, true) == 0; /* not expected: so few codecs exist */
        continue;
      }
      mh_error *err = NULL;
      codecs[k] = c->codec;
      frames[k] = (mh_buf)MH_BUF_INIT;
      ncodecs++;
      if (mh_envelope_encode_request(c->codec, NULL, name, args, true, NULL, &frames[k], &err)) {
        mh_log_warn("rpc", "broadcast %s cannot be encoded as %s: %s", name, c->codec->name, err->message);
        mh_error_free(err);
        failed[k] = true;
      }
    }
    if (!failed[k] && mh_client_send_frame(c, frames[k].data, frames[k].len) == 0) sent++;
  }
  for (size_t k = 0; k < ncodecs; k++) mh_buf_free(&frames[k]);
  return sent;
}

typedef struct gather_slot {
  mh_gather *g;
  size_t index;
  mh_outcall *oc; /* NULL once answered */
} gather_slot;

struct mh_gather {
  mh_value *results;
  gather_slot *slots;
  size_t n, pending;
  bool *finished_flag; /* mh_rpc_broadcast_call_ex's mh_finish_watch while it starts the calls */
  mh_gather_cb cb;
  void *ud;
};

static void gather_finish(mh_gather *g) {
  mh_finish_mark(g->finished_flag);
  mh_gather_cb cb = g->cb;
  void *ud = g->ud;
  mh_value *results = g->results;
  free(g->slots);
  free(g);
  cb(ud, results);
}

void mh_rpc_fill_outcome(mh_value *entry, mh_value *result, mh_error *err) {
  mh_value_obj_set(entry, "ok", mh_value_bool(err == NULL));
  if (err) {
    mh_value_obj_set(entry, "error", mh_error_to_value(err));
    mh_error_free(err);
  } else {
    mh_value_obj_set(entry, "value", result);
  }
}

static void on_answer(void *ud, mh_value *result, mh_error *err) {
  gather_slot *s = ud;
  mh_gather *g = s->g;
  s->oc = NULL;
  mh_rpc_fill_outcome(g->results->u.arr.items[s->index], result, err);
  if (--g->pending == 0) gather_finish(g);
}

mh_gather *mh_rpc_broadcast_call(mh_host *host, char **client_ids, size_t n, const char *name, const mh_value *args,
                                 uint64_t timeout_ms, mh_gather_cb cb, void *ud) {
  return mh_rpc_broadcast_call_ex(host, client_ids, n, name, args, NULL, timeout_ms, cb, ud);
}

mh_gather *mh_rpc_broadcast_call_ex(mh_host *host, char **client_ids, size_t n, const char *name,
                                    const mh_value *args, const mh_value *extra, uint64_t timeout_ms, mh_gather_cb cb,
                                    void *ud) {
  mh_gather *g = calloc(1, sizeof *g);
  if (g) g->slots = calloc(n + 1, sizeof *g->slots);
  if (g) g->results = mh_value_new(MH_V_ARRAY);
  if (!g || !g->slots || !g->results) {
    if (g) {
      free(g->slots);
      mh_value_free(g->results);
    }
    free(g);
    cb(ud, mh_value_new(MH_V_ARRAY));
    return NULL;
  }
  g->n = n;
  g->pending = n;
  g->cb = cb;
  g->ud = ud;
  for (size_t i = 0; i < n; i++) {
    mh_value *entry = mh_value_new(MH_V_OBJECT);
    mh_value_obj_set(entry, "client", mh_value_cstring(client_ids[i]));
    mh_value_push(g->results, entry);
  }
  mh_finish_watch fw;
  mh_finish_watch_begin(&fw, &g->finished_flag);
  for (size_t i = 0; i < n && !fw.finished; i++) {
    gather_slot *s = &g->slots[i];
    s->g = g;
    s->index = i;
    mh_client *c = mh_client_find(host, client_ids[i]);
    if (!c) {
      on_answer(s, NULL, mh_error_new(MH_ERR_DISCONNECTED, "client %s is not connected", client_ids[i]));
      continue;
    }
    mh_outcall *oc = mh_client_call_ex(c, name, args, extra, timeout_ms, on_answer, s);
    if (!fw.finished) s->oc = oc;
  }
  if (!fw.finished && g->pending == 0) gather_finish(g); /* no clients at all */
  if (mh_finish_watch_end(&fw)) return NULL;
  return g;
}

void mh_gather_cancel(mh_gather *g) {
  for (size_t i = 0; i < g->n; i++)
    if (g->slots[i].oc) mh_outcall_cancel(g->slots[i].oc);
  mh_value_free(g->results);
  free(g->slots);
  free(g);
}
