/* devframe's SSE transport (README "The SSE backend", docs/protocol.md):
 * `GET /__sse` or `/__devtools/__sse` opens an event stream that is one
 * client of the host (session/client.c), as a WebSocket connection is;
 * `POST` to the same path with `x-birpc-session` carries that client's
 * frames. A call's answer comes back in the body of the POST that made it;
 * everything else the host sends (broadcasts, calls to the client) goes
 * down the stream as `event: message`. */
#ifndef MH_SSE_CONN_H
#define MH_SSE_CONN_H

typedef struct mh_server mh_server;

/* Adds the SSE paths to the server's routes. 0, or -1 (memory). */
int mh_sse_add_routes(mh_server *s);
/* Frees the session table once lws has closed every connection (each
 * session ended with its stream). */
void mh_sse_free(mh_server *s);

#endif
