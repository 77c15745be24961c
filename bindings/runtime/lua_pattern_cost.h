/* What a Lua pattern search costs, found by running it (lua_pattern_cost.c).
 *
 * liblua's string.find/match/gmatch/gsub run inside one C call, where the
 * count hook never fires: a backtracking pattern such as
 * ("a*"):rep(5) .. "b" against 40k "a" runs for hours. Before the guarded
 * functions (lua_lib_guard.c) let liblua compute a result, this simulator
 * runs the same search with the semantics of the reference manual (§6.4.1:
 * '*' and '+' longest first, '-' shortest first, '?' with then without,
 * captures, %b, %f, back-references), counting its steps and reporting
 * them to a meter that can stop it (the plugin's budget). It is written
 * from the manual, not from liblua: it need not share liblua's code, only
 * its search order, so that its step count grows as liblua's work does.
 *
 * Malformed parts of a pattern are found where liblua finds them, when the
 * search reaches them (liblua then raises; the simulator stops there). */
#ifndef MH_LUA_PATTERN_COST_H
#define MH_LUA_PATTERN_COST_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum mh_pat_status {
  MH_PAT_NO_MATCH,
  MH_PAT_MATCH,
  MH_PAT_MALFORMED, /* the search reached a malformed item: liblua raises there */
  MH_PAT_TOO_DEEP,  /* more open choices and captures than the frames given (see mh_pat_frames_for) */
  MH_PAT_STOPPED,   /* the meter refused more steps */
} mh_pat_status;

/* One open choice (a quantifier's other counts) or one capture to undo on
 * backtracking. */
typedef struct mh_pat_frame {
  unsigned char kind;
  size_t item, rest, at, n;
} mh_pat_frame;

typedef struct mh_pat_meter {
  uint64_t steps;      /* counted so far */
  uint64_t reported;   /* of which given to tick */
  uint64_t tick_every; /* steps between calls of tick */
  /* Gets the steps since its last call; false stops the search
   * (MH_PAT_STOPPED). It may also not return (a Lua error): the simulator
   * holds no resources of its own. */
  bool (*tick)(void *ud, uint64_t steps);
  void *ud;
} mh_pat_meter;

typedef struct mh_pat_job {
  const char *s, *p; /* subject and pattern */
  size_t len, plen;
  mh_pat_frame *frames; /* room for nframes (mh_pat_frames_for) */
  size_t nframes;
  mh_pat_meter *meter;
} mh_pat_job;

typedef struct mh_pat_result {
  mh_pat_status status;
  size_t start, end; /* of a match, 0-based, end exclusive */
  bool unfinished;   /* matched with a capture still open (liblua raises when it returns it) */
  size_t count;      /* mh_pat_gsub: matches replaced */
} mh_pat_result;

/* liblua gives up with "pattern too complex" once its matcher nests 200
 * calls deep (MAXCCALLS of stock builds); every open choice or capture of
 * the simulator is such a nested call of liblua's recursive matcher. So a
 * search that needs more frames than this fails in liblua too, before it
 * did more than was simulated: MH_PAT_TOO_DEEP is safe to hand to liblua. */
#define MH_PAT_MAX_FRAMES 10000
/* Frames a search with a pattern of plen bytes can need, at most
 * MH_PAT_MAX_FRAMES: each item of the pattern holds at most one. */
size_t mh_pat_frames_for(size_t plen);

/* The 0-based position of the 1-based init argument pos as the manual
 * reads it (negative: from the end, clamped to the start); may be past
 * len. */
size_t mh_pat_start(int64_t pos, size_t len);
/* Whether string.find searches for p as plain text (no magic characters). */
bool mh_pat_is_plain(const char *p, size_t plen);
/* A cheap upper bound of the steps of any search of a pattern of plen
 * bytes in len bytes, saturating: (len+1)^(k+2) * 2^q * (plen+1) * 2, k the
 * number of '*', '+', '-', %b and back-references, q of '?'. */
uint64_t mh_pat_bound(size_t len, const char *p, size_t plen);

/* string.find / string.match from init (0-based, <= len); plain: find's
 * plain search. */
mh_pat_result mh_pat_find(const mh_pat_job *j, size_t init, bool plain);
/* One call of a string.gmatch iterator: the search from src (<= len) that
 * skips a match ending at lastmatch (SIZE_MAX: none). '^' is no anchor. */
mh_pat_result mh_pat_gmatch_step(const mh_pat_job *j, size_t src, size_t lastmatch);
/* string.gsub's searches, at most max_n matches; result.count. */
mh_pat_result mh_pat_gsub(const mh_pat_job *j, uint64_t max_n);

#endif
