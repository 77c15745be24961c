/* MCP sessions: initialize opens one and answers its id in Mcp-Session-Id;
 * every later request of the client carries it. A session holds nothing
 * but the time it was last used: what a client may do is decided by its
 * token on every request, never by the session. The count is bounded, so
 * clients that never say goodbye (DELETE) cannot grow the table. */
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "core/map.h"
#include "transport/mcp.h"

struct mh_mcp_sessions {
  mh_map by_id; /* id -> mh_mcp_session */
};

typedef struct mh_mcp_session {
  uint64_t last_used;
} mh_mcp_session;

static void free_values(mh_map *m) {
  for (size_t i = 0; i < m->cap; i++)
    if (mh_map_live(&m->slots[i])) free(m->slots[i].value);
}

void mh_mcp_sessions_free(mh_mcp_sessions *s) {
  if (!s) return;
  free_values(&s->by_id);
  mh_map_free(&s->by_id);
  free(s);
}

/* Ends the session used least recently, to make room. */
static void evict_oldest(mh_mcp_sessions *s) {
  mh_map_slot *oldest = NULL;
  for (size_t i = 0; i < s->by_id.cap; i++) {
    mh_map_slot *slot = &s->by_id.slots[i];
    if (!mh_map_live(slot)) continue;
    if (!oldest || ((mh_mcp_session *)slot->value)->last_used < ((mh_mcp_session *)oldest->value)->last_used)
      oldest = slot;
  }
  if (oldest) free(mh_map_del(&s->by_id, oldest->key, oldest->keylen));
}

int mh_mcp_session_open(mh_mcp_sessions **store, uint64_t now_ms, char id[MH_MCP_SESSION_ID_LEN + 1]) {
  if (!*store && !(*store = calloc(1, sizeof **store))) return -1;
  mh_mcp_sessions *s = *store;
  unsigned char raw[MH_MCP_SESSION_ID_LEN / 2];
  if (RAND_bytes(raw, sizeof raw) != 1) return -1;
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < sizeof raw; i++) {
    id[2 * i] = hex[raw[i] >> 4];
    id[2 * i + 1] = hex[raw[i] & 15];
  }
  id[MH_MCP_SESSION_ID_LEN] = '\0';
  if (s->by_id.len >= MH_MCP_MAX_SESSIONS) evict_oldest(s);
  mh_mcp_session *sess = malloc(sizeof *sess);
  if (!sess) return -1;
  sess->last_used = now_ms;
  if (mh_map_put(&s->by_id, id, MH_MCP_SESSION_ID_LEN, sess)) {
    free(sess);
    return -1;
  }
  return 0;
}

bool mh_mcp_session_touch(mh_mcp_sessions *s, const char *id, uint64_t now_ms) {
  mh_mcp_session *sess = s ? mh_map_get(&s->by_id, id, strlen(id)) : NULL;
  if (sess) sess->last_used = now_ms;
  return sess != NULL;
}

bool mh_mcp_session_close(mh_mcp_sessions *s, const char *id) {
  mh_mcp_session *sess = s ? mh_map_del(&s->by_id, id, strlen(id)) : NULL;
  free(sess);
  return sess != NULL;
}
