/* A connection to a NATS server (nats.c) that the host loop can use without
 * blocking and without touching host state from another thread.
 *
 * nats.c runs its own threads: socket reading, message delivery and the
 * connection callbacks all happen there. Everything they learn (a message,
 * the connection lost or back) is copied into a locked queue and handed to
 * the loop through a uv_async; the handler given to mh_nats_open runs on the
 * loop only. The first connect runs on libuv's thread pool, and nats.c
 * retries it, and every later reconnect, in the background with our backoff.
 * Publishing from the loop only appends to nats.c's buffer. */
#ifndef MH_MESH_NATS_H
#define MH_MESH_NATS_H
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

typedef struct mh_nats mh_nats;

typedef enum {
  MH_NATS_MESSAGE, /* subject, sender, seq, sig, data, len */
  MH_NATS_UP,      /* connected, or connected again */
  MH_NATS_DOWN,    /* not connected (yet, or any more): nats.c keeps trying; data, len: why, when known */
  MH_NATS_DROPPED, /* len messages were dropped: the loop fell behind (or nats.c reported a slow consumer) */
  MH_NATS_FAILED,  /* the connection cannot be made at all (a bad URL): data is why */
} mh_nats_kind;

typedef struct mh_nats_event {
  mh_nats_kind kind;
  const char *subject;
  const char *sender, *seq, *sig; /* the Moonhost-From, Moonhost-Seq and Moonhost-Sig headers, or NULL */
  const char *data;
  size_t len;
} mh_nats_event;

typedef void (*mh_nats_handler)(void *ud, const mh_nats_event *ev);

typedef struct mh_nats_settings {
  const char *url, *token, *user, *password; /* "" or NULL: unset */
  const char *name;                          /* the connection's name on the server (the host id) */
  const char *tls_ca, *tls_cert, *tls_key;   /* PEM files; a CA makes the connection TLS */
  const char *const *subjects;               /* subscribed, kept across reconnects */
  size_t nsubjects;
} mh_nats_settings;

/* Starts connecting in the background; the handler hears how it goes. NULL
 * when memory runs out. */
mh_nats *mh_nats_open(uv_loop_t *loop, const mh_nats_settings *s, mh_nats_handler on, void *ud);
/* Loads the TLS files of s as mh_nats_open would: 0, or -1 and *why (a
 * file missing or not PEM; malloc'd), so that a start can fail on it. */
int mh_nats_check_tls(const mh_nats_settings *s, char **why);
/* Publishes data on subject with the three headers. -1 when not connected
 * (nothing is buffered for later: a call waiting on it fails now) or when
 * nats.c refuses it (over the server's max_payload, say). */
int mh_nats_publish(mh_nats *n, const char *subject, const char *sender, const char *seq, const char *sig,
                    const char *data, size_t len);
bool mh_nats_connected(const mh_nats *n);
/* Hands what nats.c's threads queued to the handler now, before the loop
 * would: a timer that judges silence must not miss what already arrived. */
void mh_nats_deliver(mh_nats *n);
/* Flushes what was published (at most flush_ms), closes the connection and
 * waits for nats.c's threads to end; the handler is not called again. Blocks
 * the loop that long: for shutdown only. */
void mh_nats_close(mh_nats *n, int flush_ms);

#endif
