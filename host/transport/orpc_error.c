/* Errors over HTTP as the oRPC client reads them: a status >= 400 and the
 * serialized body {defined, code, status, message, data}, which RPCLink
 * turns into an ORPCError with that code and data. */
#include <string.h>

#include "transport/orpc.h"

/* moonhost's stable codes and what an oRPC user expects instead: oRPC's own
 * names (COMMON_ORPC_ERROR_DEFS), so `err.code === 'NOT_FOUND'` holds. */
static const struct {
  const char *ours, *orpc;
  int status;
} mapped[] = {
    {MH_ERR_NOT_FOUND, "NOT_FOUND", 404},
    {MH_ERR_BAD_REQUEST, "BAD_REQUEST", 400},
    {MH_ERR_UNAUTHORIZED, "UNAUTHORIZED", 401},
    {MH_ERR_TOO_LARGE, "PAYLOAD_TOO_LARGE", 413},
    {MH_ERR_TIMEOUT, "TIMEOUT", 408},
    {MH_ERR_CANCELLED, "CLIENT_CLOSED_REQUEST", 499},
    {MH_ERR_OVERLOADED, "TOO_MANY_REQUESTS", 429},
    {MH_ERR_INTERNAL, "INTERNAL_SERVER_ERROR", 500},
    {MH_ERR_ALREADY_REGISTERED, "CONFLICT", 409},
    {MH_ERR_DISCONNECTED, "SERVICE_UNAVAILABLE", 503},
};

/* oRPC's statuses for its common codes, for codes a plugin passes through
 * (moonhost.error{code = 'CONFLICT'} answers 409 as an oRPC server would). */
static const struct {
  const char *code;
  int status;
} common[] = {
    {"BAD_REQUEST", 400},          {"UNAUTHORIZED", 401},         {"FORBIDDEN", 403},
    {"NOT_FOUND", 404},            {"METHOD_NOT_SUPPORTED", 405}, {"NOT_ACCEPTABLE", 406},
    {"TIMEOUT", 408},              {"CONFLICT", 409},             {"PRECONDITION_FAILED", 412},
    {"PAYLOAD_TOO_LARGE", 413},    {"UNSUPPORTED_MEDIA_TYPE", 415}, {"UNPROCESSABLE_CONTENT", 422},
    {"TOO_MANY_REQUESTS", 429},    {"CLIENT_CLOSED_REQUEST", 499}, {"INTERNAL_SERVER_ERROR", 500},
    {"NOT_IMPLEMENTED", 501},      {"BAD_GATEWAY", 502},          {"SERVICE_UNAVAILABLE", 503},
    {"GATEWAY_TIMEOUT", 504},
};

const char *mh_orpc_error_code(const mh_error *e, int *status) {
  const char *code = e->code ? e->code : MH_ERR_INTERNAL;
  int st = 500;
  for (size_t i = 0; i < sizeof mapped / sizeof *mapped; i++)
    if (strcmp(code, mapped[i].ours) == 0) {
      code = mapped[i].orpc;
      break;
    }
  for (size_t i = 0; i < sizeof common / sizeof *common; i++)
    if (strcmp(code, common[i].code) == 0) st = common[i].status;
  /* The client only reads a body as an error when the status says so. */
  *status = e->status >= 400 && e->status <= 599 ? e->status : st;
  return code;
}

static mh_value *error_value(const mh_error *e, const char *code, int status, bool with_data) {
  mh_value *v = mh_value_new(MH_V_OBJECT);
  if (!v) return NULL;
  if (mh_value_obj_set(v, "defined", mh_value_bool(e->defined)) || mh_value_obj_set(v, "code", mh_value_cstring(code)) ||
      mh_value_obj_set(v, "status", mh_value_int(status)) ||
      mh_value_obj_set(v, "message", mh_value_cstring(e->message ? e->message : "")) ||
      (with_data && e->data && mh_value_obj_set(v, "data", mh_value_copy(e->data)))) {
    mh_value_free(v);
    return NULL;
  }
  return v;
}

int mh_orpc_error_body(const mh_error *e, mh_buf *out) {
  int status;
  const char *code = mh_orpc_error_code(e, &status);
  size_t mark = out->len;
  /* Data that cannot be serialized (not UTF-8, say) is dropped rather
   * than losing the error itself. */
  for (int with_data = 1; with_data >= 0; with_data--) {
    mh_value *v = error_value(e, code, status, with_data);
    mh_error *err = NULL;
    int rc = v ? mh_orpc_encode(v, out, &err) : -1;
    mh_value_free(v);
    mh_error_free(err);
    if (rc == 0) return status;
    out->len = mark;
  }
  static const char fallback[] =
      "{\"json\":{\"defined\":false,\"code\":\"INTERNAL_SERVER_ERROR\",\"status\":500,\"message\":\"the error could not be encoded\"}}";
  mh_buf_append(out, fallback, sizeof fallback - 1);
  return 500;
}
