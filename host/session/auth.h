/* Trust: who may connect (browser Origin allow-list) and who may call what
 * (tokens). A client is trusted when it presents a configured or generated
 * token, or when auth.required is off. Untrusted clients may only call
 * functions whose names start with "anonymous:", and Vite DevTools 0.1's
 * handshake "vite:anonymous:auth" (that exact name only). */
#ifndef MH_AUTH_H
#define MH_AUTH_H
#include <stdbool.h>
#include <stddef.h>

#include "core/bucket.h"
#include "core/value.h"

typedef struct mh_host mh_host;
typedef struct mh_client mh_client;

/* Makes the start-up token when auth.generate_token is on. */
int mh_auth_init(mh_host *h);
bool mh_auth_token_ok(const mh_host *h, const char *token);
/* The roles token's auth.tokens entry grants (an ARRAY of at least one), or
 * NULL: none, or not a token of ours. Borrowed from the configuration: valid
 * until it is next reloaded. */
const mh_value *mh_auth_token_roles(const mh_host *h, const char *token);
/* Whether token is metrics.token (which may read /metrics, nothing else). */
bool mh_auth_metrics_token_ok(const mh_host *h, const char *token);
/* Trusts c when token is one of ours, and gives it the roles its
 * auth.tokens entry grants ({token=, roles=}; none for a plain string or
 * the start-up token): the roles mesh.permissions judge it by. A token that
 * is not ours is logged ("token presented and refused", never its value)
 * and marks c->token_refused. */
bool mh_auth_trust(mh_client *c, const char *token);
/* Why an untrusted caller is refused, for its error message: "the token
 * is not valid" when it presented one, else "no token". */
const char *mh_auth_refusal(bool token_presented);
/* The token of an auth.tokens entry ('TOKEN' or {token='TOKEN', ...}). */
const char *mh_auth_entry_token(const mh_value *entry);
/* NULL or empty origin (a tool, not a browser) is allowed. */
bool mh_auth_origin_ok(const mh_host *h, const char *origin);
/* The Host header of a request or upgrade (DNS rebinding): a loopback
 * name, an IP address, the listen host or one in auth.allowed_hosts, with
 * any port. NULL or empty (no Host header) is refused. */
bool mh_auth_host_ok(const mh_host *h, const char *host);
bool mh_auth_may_call(const mh_client *c, const char *method);
/* Takes one call from an untrusted caller's bucket (limits.untrusted_calls_per_s,
 * bursts of as many); true when it may run. Trusted callers and hosts without
 * auth.required are never charged. */
bool mh_auth_untrusted_rate_ok(mh_host *h, bool trusted, mh_bucket *b);
/* Registers the handshake functions real clients call on connect. */
int mh_auth_add_builtins(mh_host *h);

/* The query parameters a token may come in, in the order they are tried:
 * ours, Vite DevTools 0.1's, devframe's (Vite DevTools 0.8). */
extern const char *const mh_auth_token_params[];

#endif
