/* devframe:streaming:{subscribe,unsubscribe,cancel}: streaming channels as
 * the devframe 1.3 client speaks them (it sends all three as events).
 * Untrusted clients never reach these (the dispatcher refuses names that
 * are not anonymous); a subscriber must also be allowed to call a stream
 * function it would start (auth.tokens roles). */
#include <string.h>

#include "call/host.h"
#include "core/log.h"
#include "session/auth.h"
#include "session/client.h"
#include "session/devframe_stream.h"
#include "session/devframe_upload.h"

static const mh_value *arg(const mh_value *args, size_t i) {
  return args && args->type == MH_V_ARRAY && i < args->u.arr.len ? args->u.arr.items[i] : NULL;
}

static const char *text_arg(const mh_value *args, size_t i) {
  const mh_value *v = arg(args, i);
  return v && v->type == MH_V_STRING ? v->u.str.ptr : NULL;
}

/* (channel, id, ...) from a connection; NULL with *err. */
static mh_client *check_args(mh_client *caller, const mh_value *args, const char *fn, mh_error **err) {
  if (!caller)
    *err = mh_error_new(MH_ERR_BAD_REQUEST, "devframe:streaming:%s needs a WebSocket connection", fn);
  else if (!text_arg(args, 0) || !text_arg(args, 1))
    *err = mh_error_new(MH_ERR_BAD_REQUEST, "devframe:streaming:%s: expected (channel, id) as strings", fn);
  if (!*err) return caller;
  mh_log_warn("stream", "%s: %s refused: %s", caller ? caller->id : "http", fn, (*err)->message);
  return NULL;
}

/* {afterSeq}: a non-negative integer, else 0 (from the start). */
static uint64_t after_seq_of(const mh_value *opts) {
  const mh_value *v = opts && opts->type == MH_V_OBJECT ? mh_value_obj_get(opts, "afterSeq") : NULL;
  if (v && v->type == MH_V_INT && v->u.i > 0) return (uint64_t)v->u.i;
  if (v && v->type == MH_V_FLOAT && v->u.f >= 1 && v->u.f < 9007199254740992.0) return (uint64_t)v->u.f;
  return 0;
}

static mh_value *fn_subscribe(mh_host *h, const mh_caller *from, const mh_value *args, mh_error **err) {
  mh_client *caller = from->client;
  mh_client *c = check_args(caller, args, "subscribe", err);
  if (!c) return NULL;
  const char *channel = text_arg(args, 0), *id = text_arg(args, 1);
  if (!mh_auth_may_call(c, channel)) {
    *err = mh_error_new(MH_ERR_UNAUTHORIZED, "subscribing to \"%s\" was rejected: the caller may not call it", channel);
  } else if (mh_df_subscribe(h, c, channel, id, after_seq_of(arg(args, 2)), err) == 0) {
    return mh_value_undefined();
  }
  /* Rate-limited: a trusted client may send refused subscribes (one past
   * its in-flight limit, say) as fast as it likes. */
  mh_log_warn_limited("stream", "%s: subscribe to %s#%s refused: %s", c->id, channel, id, (*err)->message);
  return NULL;
}

static mh_value *fn_unsubscribe(mh_host *h, const mh_caller *from, const mh_value *args, mh_error **err) {
  mh_client *caller = from->client;
  mh_client *c = check_args(caller, args, "unsubscribe", err);
  if (c) mh_df_unsubscribe(h, c, text_arg(args, 0), text_arg(args, 1));
  return c ? mh_value_undefined() : NULL;
}

static mh_value *fn_cancel(mh_host *h, const mh_caller *from, const mh_value *args, mh_error **err) {
  mh_client *caller = from->client;
  mh_client *c = check_args(caller, args, "cancel", err);
  if (c) mh_df_cancel(h, c, text_arg(args, 0), text_arg(args, 1));
  return c ? mh_value_undefined() : NULL;
}

/* upload-chunk(channel, id, seq, chunk) */
static mh_value *fn_upload_chunk(mh_host *h, const mh_caller *from, const mh_value *args, mh_error **err) {
  mh_client *caller = from->client;
  mh_client *c = check_args(caller, args, "upload-chunk", err);
  const mh_value *seq = arg(args, 2);
  if (c && (!seq || seq->type != MH_V_INT)) {
    *err = mh_error_new(MH_ERR_BAD_REQUEST, "devframe:streaming:upload-chunk: expected (channel, id, seq, chunk)");
    mh_log_warn("stream", "%s: upload-chunk refused: %s", c->id, (*err)->message);
    return NULL;
  }
  const mh_value *chunk = arg(args, 3);
  mh_value undefined = {.type = MH_V_UNDEFINED};
  if (c) mh_df_upload_chunk(h, c, text_arg(args, 0), text_arg(args, 1), seq->u.i, chunk ? chunk : &undefined);
  return c ? mh_value_undefined() : NULL;
}

/* upload-end(channel, id, error?) */
static mh_value *fn_upload_end(mh_host *h, const mh_caller *from, const mh_value *args, mh_error **err) {
  mh_client *caller = from->client;
  mh_client *c = check_args(caller, args, "upload-end", err);
  if (c) mh_df_upload_end(h, c, text_arg(args, 0), text_arg(args, 1), arg(args, 2));
  return c ? mh_value_undefined() : NULL;
}

static const mh_host_fn_def stream_fns[] = {
    {"devframe:streaming:subscribe", MH_FN_EVENT, fn_subscribe, NULL},
    {"devframe:streaming:unsubscribe", MH_FN_EVENT, fn_unsubscribe, NULL},
    {"devframe:streaming:cancel", MH_FN_EVENT, fn_cancel, NULL},
    {"devframe:streaming:upload-chunk", MH_FN_EVENT, fn_upload_chunk, NULL},
    {"devframe:streaming:upload-end", MH_FN_EVENT, fn_upload_end, NULL},
};

int mh_dfstream_wire_add_builtins(mh_host *h) {
  return mh_registry_add_host_fns(&h->registry, stream_fns, MH_HOST_FNS_COUNT(stream_fns));
}
