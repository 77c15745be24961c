/*
 * mhload: closed-loop WebSocket load generator for moonhost and its reference
 * servers (bench/README.md).
 *
 * Every connection has exactly one call in flight: it sends the next
 *   {"t":"q","i":"<counter>","m":"bench:echo","a":[123,"abcdefghijklmnop"]}
 * when the reply to the previous one arrives (no pipelining). libwebsockets'
 * client does the WebSocket side (handshake, framing, masking); one thread,
 * on a libuv loop (default, epoll) or on lws' own poll() loop.
 *
 * Modes:
 *   calls (default)  N connections for a warm-up then a measured window (or a
 *                    fixed number of calls); reports calls/s, latency
 *                    percentiles, errors, and with --pid the server's CPU time
 *                    per call (utime+stime from /proc/PID/stat) and RSS.
 *   --fanout N       N idle clients plus one trigger client that calls
 *                    bench:broadcast(size); reports the time from just before
 *                    the trigger is written to the moment the last of the N
 *                    clients has received bench:tick, and (with --pid) the
 *                    server's RSS per idle connection.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libwebsockets.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <cjson/cJSON.h>

/* ---------------------------------------------------------------- clock */

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t self_cpu_ns(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
         ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

/* ------------------------------------------------- server process stats */

/* utime+stime of a process (all its threads, live and exited) in ns; -1 if unknown. */
static int64_t proc_cpu_ns(int pid) {
  if (pid <= 0) return -1;
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char *p = strrchr(buf, ')'); /* comm may hold spaces */
  if (!p) return -1;
  unsigned long long ut = 0, st = 0;
  /* after ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15) */
  if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) return -1;
  long hz = sysconf(_SC_CLK_TCK);
  return (int64_t)((ut + st) * (1000000000ULL / (unsigned long long)hz));
}

/* VmRSS in KiB; -1 if unknown. */
static long proc_rss_kib(int pid) {
  if (pid <= 0) return -1;
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  long kib = -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0) {
      kib = strtol(line + 6, NULL, 10);
      break;
    }
  fclose(f);
  return kib;
}

/* Busy time of the whole machine (all CPUs, every process) in ns, from /proc/stat. */
static int64_t machine_busy_ns(void) {
  FILE *f = fopen("/proc/stat", "r");
  if (!f) return -1;
  unsigned long long v[10] = {0};
  int n =
      fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
  fclose(f);
  if (n < 8) return -1;
  /* user nice system idle iowait irq softirq steal: everything but idle and iowait */
  unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
  return (int64_t)(busy * (1000000000ULL / (unsigned long long)sysconf(_SC_CLK_TCK)));
}

/* ------------------------------------------------ latency histogram (ns) */

/* Log-linear buckets, HDR style: exact below 128 ns, then 64 sub-buckets per
 * power of two (under 1.6 % relative error) up to 2^63 ns. */
#define HIST_SUB 64
#define HIST_N (58 * HIST_SUB + 2 * HIST_SUB)

typedef struct hist {
  uint64_t b[HIST_N];
  uint64_t count;
  int64_t max, min;
  double sum;
} hist;

static int hist_index(int64_t v) {
  if (v < 0) v = 0;
  if (v < 2 * HIST_SUB) return (int)v;
  int msb = 63 - __builtin_clzll((unsigned long long)v);
  int shift = msb - 6;
  return shift * HIST_SUB + (int)(v >> shift);
}

static int64_t hist_value(int i) {
  if (i < 2 * HIST_SUB) return i;
  int shift = i / HIST_SUB - 1;
  int64_t m = i - shift * HIST_SUB;
  return (m << shift) + ((int64_t)1 << shift) / 2; /* middle of the bucket */
}

static void hist_add(hist *h, int64_t v) {
  h->b[hist_index(v)]++;
  if (h->count == 0 || v > h->max) h->max = v;
  if (h->count == 0 || v < h->min) h->min = v;
  h->count++;
  h->sum += (double)v;
}

static int64_t hist_pct(const hist *h, double pct) {
  if (!h->count) return 0;
  uint64_t want = (uint64_t)ceil((double)h->count * pct / 100.0);
  if (want < 1) want = 1;
  uint64_t seen = 0;
  for (int i = 0; i < HIST_N; i++) {
    seen += h->b[i];
    if (seen >= want) {
      int64_t v = hist_value(i);
      return v > h->max ? h->max : v;
    }
  }
  return h->max;
}

/* ------------------------------------------------------ client masking */

/* A WebSocket client masks every frame with 4 random bytes; lws reads them
 * from /dev/urandom, one read(2) per frame, which costs this single-threaded
 * client about as much as the send itself. mhload replaces lws' random source
 * (it calls lws_get_random through the PLT, so this definition wins) with a
 * xorshift generator seeded from getrandom(): the masking and framing are still
 * lws'; only where the mask bytes come from changes. --mask urandom restores
 * lws' own function. */
#include <dlfcn.h>
#include <sys/random.h>

static int mask_urandom;
static uint64_t rng_state;

size_t lws_get_random(struct lws_context *context, void *buf, size_t len);
size_t lws_get_random(struct lws_context *context, void *buf, size_t len) {
  if (mask_urandom) {
    static size_t (*orig)(struct lws_context *, void *, size_t);
    if (!orig) orig = (size_t(*)(struct lws_context *, void *, size_t))dlsym(RTLD_NEXT, "lws_get_random");
    return orig(context, buf, len);
  }
  if (!rng_state && (getrandom(&rng_state, sizeof rng_state, 0) != sizeof rng_state || !rng_state))
    rng_state = (uint64_t)now_ns() | 1;
  unsigned char *p = buf;
  for (size_t i = 0; i < len; i++) {
    if (i % 8 == 0) {
      rng_state ^= rng_state << 13;
      rng_state ^= rng_state >> 7;
      rng_state ^= rng_state << 17;
    }
    p[i] = (unsigned char)(rng_state >> (8 * (i % 8)));
  }
  return len;
}

/* ------------------------------------------------------------- options */

enum { LOOP_UV, LOOP_POLL };
enum { WRITE_DIRECT, WRITE_WRITEABLE };

static struct {
  const char *url;
  char host[256], path[512];
  int port;
  int conns;
  double duration, warmup;
  long long calls; /* > 0: stop after this many measured calls */
  int size;
  const char *method;
  int pid;
  int loop, write_mode;
  int verify;
  int json;
  int fanout; /* > 0: fan-out mode with this many idle clients */
  int rounds;
  int bsize;
  int max_pending;
  double connect_timeout;
  int rx_buffer;
  int quiet;
  int spin;
} opt = {
    .conns = 1,
    .duration = 5,
    .warmup = 1,
    .size = 16,
    .method = "bench:echo",
    .loop = -1, /* poll for calls, uv (epoll) for fan-out's thousands of sockets */
    .write_mode = WRITE_DIRECT,
    .rounds = 5,
    .bsize = 1024,
    .max_pending = 128,
    .connect_timeout = 60,
    .rx_buffer = 65536,
};

/* ---------------------------------------------------------- connections */

enum { C_IDLE, C_CONNECTING, C_OPEN, C_CLOSED };

typedef struct conn {
  struct lws *wsi;
  int idx;
  int state;
  int trigger;       /* fan-out: the connection that calls bench:broadcast */
  int inflight;      /* a call is waiting for its reply */
  int want_send;     /* send at the next writeable callback */
  uint64_t expect;   /* id of the call in flight */
  int64_t sent_ns;   /* when it was written */
  int got_tick;      /* fan-out: tick received this round */
  unsigned char *rx; /* reassembly of a message lws delivered in pieces */
  size_t rxlen, rxcap;
  unsigned char *tx; /* LWS_PRE headroom + request frame */
  size_t txprefix;   /* bytes of the frame before the id */
} conn;

enum { PH_CONNECT, PH_WARMUP, PH_MEASURE, PH_DRAIN, PH_DONE };

static struct {
  struct lws_context *ctx;
  uv_loop_t *uv;
  conn *c;
  int nconns;
  int started, pending, open, failed;
  int phase;
  int64_t t_start, t_connected;
  uint64_t next_id;
  /* calls mode */
  int64_t t_measure, t_end;
  uint64_t calls, errors, sent_measured;
  hist lat;
  int64_t srv_cpu0, srv_cpu1, self_cpu0, self_cpu1, busy0, busy1;
  long srv_rss;
  char first_error[256];
  /* frame pieces */
  char *suffix;
  size_t suffix_len;
  /* fan-out */
  int round;
  int ticks;
  int64_t t_trigger, t_last_tick;
  long long reply_count;
  int reply_seen;
  double *round_ms;
  long rss_before, rss_after;
  int64_t round_wait_until;
  int64_t round_srv_cpu0, round_self_cpu0, srv_cpu_rounds, self_cpu_rounds;
  lws_sorted_usec_list_t sul;
  int exit_code;
} g;

static void fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "mhload: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(2);
}

static void note_error(const char *fmt, ...) {
  g.errors++;
  if (g.first_error[0]) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g.first_error, sizeof g.first_error, fmt, ap);
  va_end(ap);
}

static void stop_loop(void) {
  g.phase = PH_DONE;
  if (g.uv) uv_stop(g.uv);
}

/* Build the request frame once; only the id changes between calls. */
static void frame_setup(void) {
  if (g.suffix) return;
  char *pad = malloc((size_t)opt.size + 1);
  for (int i = 0; i < opt.size; i++)
    pad[i] = (char)('a' + i % 26);
  pad[opt.size] = 0;
  size_t n = strlen(opt.method) + (size_t)opt.size + 64;
  g.suffix = malloc(n);
  g.suffix_len = (size_t)snprintf(g.suffix, n, "\",\"m\":\"%s\",\"a\":[123,\"%s\"]}", opt.method, pad);
  free(pad);
}

static const char frame_prefix[] = "{\"t\":\"q\",\"i\":\"";

/* Writes the next call on c now. Returns -1 when lws could not write. */
static int send_call(conn *c) {
  if (!c->tx) {
    c->tx = malloc(LWS_PRE + sizeof frame_prefix + 24 + g.suffix_len);
    c->txprefix = sizeof frame_prefix - 1;
  }
  /* lws masks a client frame in place: the whole frame is written anew each time */
  memcpy(c->tx + LWS_PRE, frame_prefix, c->txprefix);
  uint64_t id = ++g.next_id;
  unsigned char *p = c->tx + LWS_PRE + c->txprefix;
  char digits[24];
  int nd = 0;
  do {
    digits[nd++] = (char)('0' + id % 10);
    id /= 10;
  } while (id);
  for (int i = nd - 1; i >= 0; i--)
    *p++ = (unsigned char)digits[i];
  memcpy(p, g.suffix, g.suffix_len);
  p += g.suffix_len;
  size_t len = (size_t)(p - (c->tx + LWS_PRE));
  c->expect = g.next_id;
  c->inflight = 1;
  c->want_send = 0;
  if (g.phase == PH_MEASURE) g.sent_measured++;
  c->sent_ns = now_ns();
  int n = lws_write(c->wsi, c->tx + LWS_PRE, len, LWS_WRITE_TEXT);
  if (n < (int)len) {
    note_error("write failed on connection %d", c->idx);
    return -1;
  }
  return 0;
}

/* Whether this connection should send another call in the current phase. */
static int may_send(void) {
  if (g.phase == PH_WARMUP) return 1;
  if (g.phase != PH_MEASURE) return 0;
  if (opt.calls > 0 && g.sent_measured >= (uint64_t)opt.calls) return 0;
  return 1;
}

static void queue_send(conn *c) {
  if (opt.write_mode == WRITE_DIRECT) {
    if (send_call(c)) lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_ACK, LWS_TO_KILL_ASYNC);
  } else {
    c->want_send = 1;
    lws_callback_on_writable(c->wsi);
  }
}

static void start_measure(void) {
  g.phase = PH_MEASURE;
  g.t_measure = now_ns();
  g.calls = g.errors = g.sent_measured = 0;
  g.first_error[0] = 0;
  memset(&g.lat, 0, sizeof g.lat);
  g.srv_cpu0 = proc_cpu_ns(opt.pid);
  g.self_cpu0 = self_cpu_ns();
  g.busy0 = machine_busy_ns();
}

static void end_measure(void) {
  if (g.phase != PH_MEASURE) return;
  g.t_end = now_ns();
  g.srv_cpu1 = proc_cpu_ns(opt.pid);
  g.self_cpu1 = self_cpu_ns();
  g.busy1 = machine_busy_ns();
  g.srv_rss = proc_rss_kib(opt.pid);
  g.phase = PH_DRAIN;
  stop_loop();
}

/* Finds "i": in a reply and reads the id (a string of digits or a number). */
static int reply_id(const unsigned char *m, size_t len, uint64_t *id) {
  const unsigned char *p = memmem(m, len, "\"i\":", 4);
  if (!p) return -1;
  p += 4;
  const unsigned char *end = m + len;
  while (p < end && (*p == ' ' || *p == '"'))
    p++;
  uint64_t v = 0;
  int nd = 0;
  while (p < end && *p >= '0' && *p <= '9') {
    v = v * 10 + (uint64_t)(*p++ - '0');
    nd++;
  }
  if (!nd) return -1;
  *id = v;
  return 0;
}

/* --verify: the reply must be {"t":"s","i":ID,"r":[123,"<payload>"]}. */
static int verify_reply(const unsigned char *m, size_t len, uint64_t id) {
  cJSON *j = cJSON_ParseWithLength((const char *)m, len);
  int ok = 0;
  if (j) {
    cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "t");
    cJSON *i = cJSON_GetObjectItemCaseSensitive(j, "i");
    cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "r");
    char want[24];
    snprintf(want, sizeof want, "%" PRIu64, id);
    ok = cJSON_IsString(t) && strcmp(t->valuestring, "s") == 0 && cJSON_IsString(i) &&
         strcmp(i->valuestring, want) == 0 && cJSON_IsArray(r) && cJSON_GetArraySize(r) == 2;
    if (ok) {
      cJSON *a = cJSON_GetArrayItem(r, 0), *b = cJSON_GetArrayItem(r, 1);
      ok = cJSON_IsNumber(a) && a->valuedouble == 123 && cJSON_IsString(b) && (int)strlen(b->valuestring) == opt.size;
      for (int k = 0; ok && k < opt.size; k++)
        ok = b->valuestring[k] == 'a' + k % 26;
    }
  }
  cJSON_Delete(j);
  return ok ? 0 : -1;
}

static void on_call_reply(conn *c, const unsigned char *m, size_t len) {
  int64_t t = now_ns();
  uint64_t id;
  if (!c->inflight || reply_id(m, len, &id) || id != c->expect) {
    note_error("unexpected frame on connection %d: %.*s", c->idx, (int)(len > 120 ? 120 : len), m);
    return;
  }
  c->inflight = 0;
  if (memmem(m, len, "\"e\":", 4)) {
    note_error("error reply: %.*s", (int)(len > 200 ? 200 : len), m);
  } else if (opt.verify && verify_reply(m, len, id)) {
    note_error("wrong reply: %.*s", (int)(len > 200 ? 200 : len), m);
  } else if (g.phase == PH_MEASURE) {
    g.calls++;
    hist_add(&g.lat, t - c->sent_ns);
  }
  if (g.phase == PH_MEASURE && opt.calls > 0 && g.calls + g.errors >= (uint64_t)opt.calls) {
    end_measure();
    return;
  }
  if (may_send()) queue_send(c);
}

/* ---------------------------------------------------------------- fan-out */

static void fanout_trigger(void) {
  g.ticks = 0;
  g.reply_seen = 0;
  g.reply_count = -1;
  for (int i = 0; i < g.nconns; i++)
    g.c[i].got_tick = 0;
  conn *t = &g.c[g.nconns - 1];
  char buf[LWS_PRE + 128];
  int n = snprintf(buf + LWS_PRE, sizeof buf - LWS_PRE,
                   "{\"t\":\"q\",\"i\":\"b%d\",\"m\":\"bench:broadcast\",\"a\":[%d]}", g.round, opt.bsize);
  g.round_srv_cpu0 = proc_cpu_ns(opt.pid);
  g.round_self_cpu0 = self_cpu_ns();
  g.t_trigger = now_ns();
  g.t_last_tick = 0;
  if (lws_write(t->wsi, (unsigned char *)buf + LWS_PRE, (size_t)n, LWS_WRITE_TEXT) < n)
    note_error("cannot write the trigger call");
  g.round_wait_until = g.t_trigger + 10 * (int64_t)1000000000;
}

static void fanout_round_done(void);

static void on_fanout_frame(conn *c, const unsigned char *m, size_t len) {
  int64_t t = now_ns();
  if (c->trigger) {
    if (memmem(m, len, "\"t\":\"s\"", 7)) {
      if (memmem(m, len, "\"e\":", 4)) note_error("bench:broadcast failed: %.*s", (int)(len > 200 ? 200 : len), m);
      const unsigned char *r = memmem(m, len, "\"r\":", 4);
      g.reply_count = r ? strtoll((const char *)r + 4, NULL, 10) : -1;
      g.reply_seen = 1;
    }
  } else if (memmem(m, len, "\"m\":\"bench:tick\"", 16)) {
    if (!c->got_tick) {
      c->got_tick = 1;
      g.ticks++;
      g.t_last_tick = t;
    }
  }
  if (g.phase == PH_MEASURE && g.ticks == g.nconns - 1 && g.reply_seen) fanout_round_done();
}

static void tick(lws_sorted_usec_list_t *sul);

static void schedule_tick(int64_t us) { lws_sul_schedule(g.ctx, 0, &g.sul, tick, us); }

static void fanout_round_done(void) {
  g.round_ms[g.round] = (double)(g.t_last_tick - g.t_trigger) / 1e6;
  g.srv_cpu_rounds += proc_cpu_ns(opt.pid) - g.round_srv_cpu0;
  g.self_cpu_rounds += self_cpu_ns() - g.round_self_cpu0;
  if (!opt.quiet && !opt.json)
    fprintf(stderr, "mhload: round %d: %d clients got %d bytes in %.2f ms (broadcast returned %lld)\n", g.round + 1,
            g.ticks, opt.bsize, g.round_ms[g.round], g.reply_count);
  if (g.reply_count >= 0 && g.reply_count < g.nconns - 1)
    note_error("bench:broadcast reached %lld clients, %d connected", g.reply_count, g.nconns - 1);
  g.round++;
  g.phase = PH_WARMUP; /* between rounds */
  if (g.round >= opt.rounds) {
    g.phase = PH_DRAIN;
    stop_loop();
    return;
  }
  g.round_wait_until = now_ns() + 200 * 1000000LL; /* let the server settle between rounds */
}

/* ------------------------------------------------------------ connecting */

static int connect_one(conn *c) {
  struct lws_client_connect_info ci;
  memset(&ci, 0, sizeof ci);
  ci.context = g.ctx;
  ci.address = opt.host;
  ci.port = opt.port;
  ci.path = opt.path;
  ci.host = opt.host;
  ci.origin = NULL; /* a tool, not a browser */
  ci.protocol = NULL;
  ci.userdata = c;
  ci.opaque_user_data = c;
  ci.pwsi = &c->wsi;
  c->state = C_CONNECTING;
  g.pending++;
  g.started++;
  if (!lws_client_connect_via_info(&ci)) {
    c->state = C_CLOSED;
    g.pending--;
    g.failed++;
    return -1;
  }
  return 0;
}

static void connect_more(void) {
  while (g.started < g.nconns && g.pending < opt.max_pending) {
    /* the fan-out trigger connects last, after every listener is up */
    if (opt.fanout && g.started == g.nconns - 1 && g.open < g.nconns - 1) break;
    connect_one(&g.c[g.started]);
  }
}

static void all_connected(void) {
  g.t_connected = now_ns();
  if (!opt.quiet && !opt.json)
    fprintf(stderr, "mhload: %d connections open in %.2f s\n", g.nconns, (double)(g.t_connected - g.t_start) / 1e9);
  if (opt.fanout) {
    g.phase = PH_WARMUP;
    g.round_wait_until = now_ns() + 1000 * 1000000LL; /* settle, then measure RSS */
    return;
  }
  if (opt.warmup > 0) {
    g.phase = PH_WARMUP;
  } else {
    start_measure();
  }
  for (int i = 0; i < g.nconns; i++)
    if (g.c[i].state == C_OPEN) queue_send(&g.c[i]);
}

static void tick(lws_sorted_usec_list_t *sul) {
  (void)sul;
  int64_t t = now_ns();
  if (g.phase == PH_DONE) return;
  if (g.phase == PH_CONNECT) {
    connect_more();
    if (t - g.t_start > (int64_t)(opt.connect_timeout * 1e9)) {
      fprintf(stderr, "mhload: only %d of %d connections open after %.0f s (%d failed)\n", g.open, g.nconns,
              opt.connect_timeout, g.failed);
      g.exit_code = 1;
      stop_loop();
      return;
    }
  } else if (opt.fanout) {
    if (g.phase == PH_WARMUP && t >= g.round_wait_until) {
      if (g.round == 0 && g.rss_after == 0) g.rss_after = proc_rss_kib(opt.pid);
      g.phase = PH_MEASURE;
      fanout_trigger();
    } else if (g.phase == PH_MEASURE && t > g.round_wait_until) {
      fprintf(stderr, "mhload: round %d: only %d of %d clients got the broadcast after 10 s\n", g.round + 1, g.ticks,
              g.nconns - 1);
      g.exit_code = 1;
      g.phase = PH_DRAIN;
      stop_loop();
      return;
    }
  } else if (g.phase == PH_WARMUP && t - g.t_connected >= (int64_t)(opt.warmup * 1e9)) {
    start_measure();
  } else if (g.phase == PH_MEASURE && opt.calls <= 0 && t - g.t_measure >= (int64_t)(opt.duration * 1e9)) {
    end_measure();
    return;
  }
  /* Event loops poll in whole milliseconds: a timer less than 1 ms away makes
   * them spin, so wake at most every 50 ms, or just after the next deadline. */
  int64_t next = 50000;
  int64_t deadline = 0;
  if (opt.fanout)
    deadline = g.round_wait_until;
  else if (g.phase == PH_WARMUP)
    deadline = g.t_connected + (int64_t)(opt.warmup * 1e9);
  else if (g.phase == PH_MEASURE && opt.calls <= 0)
    deadline = g.t_measure + (int64_t)(opt.duration * 1e9);
  if (deadline) {
    int64_t us = (deadline - now_ns()) / 1000 + 1000;
    if (us < next) next = us < 1000 ? 1000 : us;
  }
  schedule_tick(next);
}

/* ------------------------------------------------------------- callback */

static void deliver(conn *c, const unsigned char *m, size_t len) {
  if (opt.fanout)
    on_fanout_frame(c, m, len);
  else
    on_call_reply(c, m, len);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len) {
  conn *c = lws_get_opaque_user_data(wsi);
  (void)user;
  switch (reason) {
  case LWS_CALLBACK_CLIENT_ESTABLISHED:
    if (!c) return -1;
    c->wsi = wsi;
    c->state = C_OPEN;
    g.pending--;
    g.open++;
    if (g.phase == PH_CONNECT) {
      if (g.open == g.nconns) {
        all_connected();
      } else {
        connect_more();
      }
    }
    return 0;
  case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
    if (!c) return 0;
    if (c->state == C_CONNECTING) {
      g.pending--;
      g.failed++;
      if (g.failed <= 3)
        fprintf(stderr, "mhload: connection %d failed: %s\n", c->idx, in ? (const char *)in : "(no reason)");
      note_error("connection failed: %s", in ? (const char *)in : "?");
      if (g.phase == PH_CONNECT && g.failed == 1) {
        g.exit_code = 1;
        stop_loop();
      }
    }
    c->state = C_CLOSED;
    c->wsi = NULL;
    return 0;
  case LWS_CALLBACK_CLIENT_RECEIVE: {
    if (!c) return 0;
    int last = lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi);
    if (last && !c->rxlen) {
      deliver(c, in, len);
      return 0;
    }
    if (c->rxlen + len > c->rxcap) {
      size_t cap = c->rxcap ? c->rxcap : 4096;
      while (cap < c->rxlen + len)
        cap *= 2;
      c->rx = realloc(c->rx, cap);
      c->rxcap = cap;
    }
    memcpy(c->rx + c->rxlen, in, len);
    c->rxlen += len;
    if (last) {
      deliver(c, c->rx, c->rxlen);
      c->rxlen = 0;
    }
    return 0;
  }
  case LWS_CALLBACK_CLIENT_WRITEABLE:
    if (c && c->want_send && c->state == C_OPEN) {
      if (send_call(c)) return -1;
    }
    return 0;
  case LWS_CALLBACK_CLIENT_CLOSED:
    if (!c) return 0;
    if (c->state == C_OPEN) {
      g.open--;
      if (g.phase == PH_WARMUP || g.phase == PH_MEASURE) note_error("connection %d closed by the server", c->idx);
    }
    c->state = C_CLOSED;
    c->wsi = NULL;
    return 0;
  default: return 0;
  }
}

static const struct lws_protocols protocols[] = {
    {"mhload", callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* --------------------------------------------------------------- report */

static void report_calls(void) {
  double secs = (double)(g.t_end - g.t_measure) / 1e9;
  double rate = secs > 0 ? (double)g.calls / secs : 0;
  double p50 = (double)hist_pct(&g.lat, 50) / 1e3, p90 = (double)hist_pct(&g.lat, 90) / 1e3,
         p99 = (double)hist_pct(&g.lat, 99) / 1e3, p999 = (double)hist_pct(&g.lat, 99.9) / 1e3,
         max = (double)g.lat.max / 1e3, mean = g.lat.count ? g.lat.sum / (double)g.lat.count / 1e3 : 0;
  double srv_us = -1, srv_pct = -1;
  if (g.srv_cpu0 >= 0 && g.srv_cpu1 >= 0 && g.calls) {
    srv_us = (double)(g.srv_cpu1 - g.srv_cpu0) / 1e3 / (double)g.calls;
    srv_pct = (double)(g.srv_cpu1 - g.srv_cpu0) / (double)(g.t_end - g.t_measure) * 100;
  }
  double self_us = g.calls ? (double)(g.self_cpu1 - g.self_cpu0) / 1e3 / (double)g.calls : 0;
  double self_pct = (double)(g.self_cpu1 - g.self_cpu0) / (double)(g.t_end - g.t_measure) * 100;
  /* CPU the rest of the machine used meanwhile (other processes, e.g. a build): it skews the numbers */
  double other_pct = -1;
  if (g.busy0 >= 0 && g.busy1 >= 0) {
    other_pct =
        (double)(g.busy1 - g.busy0) / (double)(g.t_end - g.t_measure) * 100 - self_pct - (srv_pct > 0 ? srv_pct : 0);
    if (other_pct < 0) other_pct = 0;
  }
  if (opt.json) {
    printf("{\"mode\":\"calls\",\"connections\":%d,\"seconds\":%.3f,\"payload\":%d,\"calls\":%" PRIu64
           ",\"errors\":%" PRIu64 ",\"calls_per_s\":%.1f,\"mean_us\":%.2f,\"p50_us\":%.2f,\"p90_us\":%.2f,"
           "\"p99_us\":%.2f,\"p999_us\":%.2f,\"max_us\":%.2f,\"server_cpu_us_per_call\":%.3f,"
           "\"server_cpu_pct\":%.1f,\"server_rss_kib\":%ld,\"load_cpu_us_per_call\":%.3f,\"load_cpu_pct\":%.1f,\"other_"
           "cpu_pct\":%.1f",
           g.nconns, secs, opt.size, g.calls, g.errors, rate, mean, p50, p90, p99, p999, max, srv_us, srv_pct,
           g.srv_rss, self_us, self_pct, other_pct);
    if (g.first_error[0]) {
      cJSON *s = cJSON_CreateString(g.first_error);
      char *e = cJSON_PrintUnformatted(s);
      printf(",\"first_error\":%s", e);
      free(e);
      cJSON_Delete(s);
    }
    printf("}\n");
  } else {
    printf("mhload: %d connection%s, %.2f s measured after %.1f s warm-up, string argument %d bytes\n", g.nconns,
           g.nconns == 1 ? "" : "s", secs, opt.warmup, opt.size);
    printf("  calls     %" PRIu64 " (%.0f calls/s), errors %" PRIu64 "\n", g.calls, rate, g.errors);
    printf("  latency   mean %.1f  p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  (us)\n", mean, p50, p90, p99,
           p999, max);
    if (srv_us >= 0)
      printf("  server    %.2f us CPU per call (%.0f %% of a core), RSS %.1f MiB\n", srv_us, srv_pct,
             (double)g.srv_rss / 1024);
    printf("  load gen  %.2f us CPU per call (%.0f %% of a core)\n", self_us, self_pct);
    if (other_pct >= 0) printf("  others    %.0f %% of a core used by other processes meanwhile\n", other_pct);
    if (g.first_error[0]) printf("  first error: %s\n", g.first_error);
  }
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void report_fanout(void) {
  int n = g.round;
  double sorted[n > 0 ? n : 1];
  memcpy(sorted, g.round_ms, sizeof(double) * (size_t)n);
  qsort(sorted, (size_t)n, sizeof(double), cmp_double);
  double med = n ? (n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2) : -1;
  double mx = n ? sorted[n - 1] : -1, mn = n ? sorted[0] : -1;
  int listeners = g.nconns - 1;
  double per_conn = -1;
  if (g.rss_before > 0 && g.rss_after > 0) per_conn = (double)(g.rss_after - g.rss_before) * 1024 / (double)(g.nconns);
  double connect_s = (double)(g.t_connected - g.t_start) / 1e9;
  /* CPU time per round (/proc granularity is 10 ms: averaged over the rounds) */
  double srv_ms = opt.pid > 0 && n ? (double)g.srv_cpu_rounds / 1e6 / n : -1;
  double self_ms = n ? (double)g.self_cpu_rounds / 1e6 / n : -1;
  if (opt.json) {
    printf("{\"mode\":\"fanout\",\"clients\":%d,\"payload\":%d,\"rounds\":%d,\"median_ms\":%.3f,\"min_ms\":%.3f,"
           "\"max_ms\":%.3f,\"errors\":%" PRIu64 ",\"rss_before_kib\":%ld,\"rss_after_kib\":%ld,"
           "\"rss_per_conn_bytes\":%.0f,\"connect_s\":%.3f,\"server_cpu_ms_per_round\":%.1f,"
           "\"load_cpu_ms_per_round\":%.1f,\"rounds_ms\":[",
           listeners, opt.bsize, n, med, mn, mx, g.errors, g.rss_before, g.rss_after, per_conn, connect_s, srv_ms,
           self_ms);
    for (int i = 0; i < n; i++)
      printf("%s%.3f", i ? "," : "", g.round_ms[i]);
    printf("]}\n");
  } else {
    printf("mhload fan-out: %d clients, %d-byte broadcast, %d rounds\n", listeners, opt.bsize, n);
    printf("  all delivered in  median %.2f ms, min %.2f, max %.2f\n", med, mn, mx);
    if (per_conn >= 0)
      printf("  server RSS        %.1f MiB idle -> %.1f MiB with %d connections: %.1f KiB per connection\n",
             (double)g.rss_before / 1024, (double)g.rss_after / 1024, g.nconns, per_conn / 1024);
    printf("  CPU per round     server %.1f ms, load generator %.1f ms\n", srv_ms, self_ms);
    printf("  connecting took   %.2f s; errors %" PRIu64 "\n", connect_s, g.errors);
    if (g.first_error[0]) printf("  first error: %s\n", g.first_error);
  }
}

/* ----------------------------------------------------------------- main */

static void on_idle(uv_idle_t *h) { (void)h; }

static void usage(FILE *f) {
  fprintf(f, "usage: mhload [options] ws://HOST:PORT/PATH\n"
             "  -c, --connections N   connections, each with one call in flight (default 1)\n"
             "  -d, --duration SEC    measured window (default 5)\n"
             "  -w, --warmup SEC      warm-up before it (default 1)\n"
             "  -n, --calls N         stop after N measured calls instead of a duration\n"
             "  -s, --size BYTES      length of the string argument (default 16)\n"
             "  -m, --method NAME     function to call (default bench:echo)\n"
             "  -p, --pid PID         server process: report its CPU time per call and RSS\n"
             "      --loop uv|poll    event loop for the client (default: lws' poll() loop for\n"
             "                        calls, libuv (epoll) for --fanout)\n"
             "      --write direct|writeable\n"
             "                        write the next call from the receive callback (default)\n"
             "                        or from the next WRITEABLE callback\n"
             "      --mask fast|urandom  where the 4-byte frame masks come from (default fast:\n"
             "                        a PRNG; urandom: lws' own read of /dev/urandom per frame)\n"
             "      --rx-buffer BYTES lws receive buffer per connection (default 65536)\n"
             "      --verify          parse every reply with cJSON and check it\n"
             "      --json            print one JSON object on stdout\n"
             "      --fanout N        fan-out mode: N idle clients + 1 calling bench:broadcast\n"
             "      --rounds R        broadcasts in fan-out mode (default 5)\n"
             "      --bsize BYTES     broadcast payload (default 1024)\n"
             "      --max-pending N   handshakes in progress at once (default 128)\n"
             "      --connect-timeout SEC (default 60)\n"
             "      --spin            never sleep in the event loop (busy-poll; libuv loop only):\n"
             "                        takes wake-up latency out, makes the load CPU figures 100 %%\n"
             "  -q, --quiet\n");
}

static void parse_url(const char *url) {
  char *copy = strdup(url);
  const char *prot, *ads, *path;
  int port;
  if (lws_parse_uri(copy, &prot, &ads, &port, &path) || strcmp(prot, "ws"))
    fail("bad URL %s (want ws://HOST:PORT/PATH)", url);
  snprintf(opt.host, sizeof opt.host, "%s", ads);
  snprintf(opt.path, sizeof opt.path, "/%s", path); /* lws_parse_uri drops the leading / */
  opt.port = port;
  free(copy);
}

int main(int argc, char **argv) {
  static const struct option lopts[] = {
      {"connections", required_argument, 0, 'c'},
      {"duration", required_argument, 0, 'd'},
      {"warmup", required_argument, 0, 'w'},
      {"calls", required_argument, 0, 'n'},
      {"size", required_argument, 0, 's'},
      {"method", required_argument, 0, 'm'},
      {"pid", required_argument, 0, 'p'},
      {"loop", required_argument, 0, 1},
      {"write", required_argument, 0, 2},
      {"verify", no_argument, 0, 3},
      {"json", no_argument, 0, 4},
      {"fanout", required_argument, 0, 5},
      {"rounds", required_argument, 0, 6},
      {"bsize", required_argument, 0, 7},
      {"max-pending", required_argument, 0, 8},
      {"connect-timeout", required_argument, 0, 9},
      {"rx-buffer", required_argument, 0, 10},
      {"quiet", no_argument, 0, 'q'},
      {"mask", required_argument, 0, 11},
      {"spin", no_argument, 0, 12},
      {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0},
  };
  int ch;
  while ((ch = getopt_long(argc, argv, "c:d:w:n:s:m:p:qh", lopts, NULL)) != -1) {
    switch (ch) {
    case 'c': opt.conns = atoi(optarg); break;
    case 'd': opt.duration = atof(optarg); break;
    case 'w': opt.warmup = atof(optarg); break;
    case 'n': opt.calls = atoll(optarg); break;
    case 's': opt.size = atoi(optarg); break;
    case 'm': opt.method = optarg; break;
    case 'p': opt.pid = atoi(optarg); break;
    case 1:
      if (!strcmp(optarg, "uv"))
        opt.loop = LOOP_UV;
      else if (!strcmp(optarg, "poll"))
        opt.loop = LOOP_POLL;
      else
        fail("--loop uv|poll");
      break;
    case 2:
      if (!strcmp(optarg, "direct"))
        opt.write_mode = WRITE_DIRECT;
      else if (!strcmp(optarg, "writeable"))
        opt.write_mode = WRITE_WRITEABLE;
      else
        fail("--write direct|writeable");
      break;
    case 3: opt.verify = 1; break;
    case 4: opt.json = 1; break;
    case 5: opt.fanout = atoi(optarg); break;
    case 6: opt.rounds = atoi(optarg); break;
    case 7: opt.bsize = atoi(optarg); break;
    case 8: opt.max_pending = atoi(optarg); break;
    case 9: opt.connect_timeout = atof(optarg); break;
    case 10: opt.rx_buffer = atoi(optarg); break;
    case 11:
      if (!strcmp(optarg, "fast"))
        mask_urandom = 0;
      else if (!strcmp(optarg, "urandom"))
        mask_urandom = 1;
      else
        fail("--mask fast|urandom");
      break;
    case 12: opt.spin = 1; break;
    case 'q': opt.quiet = 1; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind != argc - 1) {
    usage(stderr);
    return 2;
  }
  opt.url = argv[optind];
  parse_url(opt.url);
  if (opt.spin) opt.loop = LOOP_UV;
  if (opt.loop < 0) opt.loop = opt.fanout ? LOOP_UV : LOOP_POLL;
  if (opt.conns < 1 || opt.size < 0 || opt.rounds < 1 || opt.rx_buffer < 128) fail("bad option value");
  if (opt.fanout) opt.conns = opt.fanout + 1;

  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)opt.conns + 64) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < (rlim_t)opt.conns + 64)
      fail("%d connections need a higher open-file limit (ulimit -n is %llu)", opt.conns,
           (unsigned long long)rl.rlim_cur);
  }

  frame_setup();
  g.nconns = opt.conns;
  g.c = calloc((size_t)g.nconns, sizeof *g.c);
  for (int i = 0; i < g.nconns; i++)
    g.c[i].idx = i;
  if (opt.fanout) {
    g.c[g.nconns - 1].trigger = 1;
    g.round_ms = calloc((size_t)opt.rounds, sizeof(double));
  }

  lws_set_log_level(LLL_ERR, NULL);
  struct lws_protocols prots[2];
  memcpy(prots, protocols, sizeof prots);
  prots[0].rx_buffer_size = (size_t)opt.rx_buffer;

  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = prots;
  info.gid = -1;
  info.uid = -1;
  info.pt_serv_buf_size = (unsigned int)(opt.rx_buffer > 4096 ? opt.rx_buffer : 4096);
  void *loops[1];
  if (opt.loop == LOOP_UV) {
    g.uv = malloc(sizeof *g.uv);
    uv_loop_init(g.uv);
    loops[0] = g.uv;
    info.options |= LWS_SERVER_OPTION_LIBUV;
    info.foreign_loops = loops;
  }
  g.ctx = lws_create_context(&info);
  if (!g.ctx) fail("cannot create the libwebsockets context");

  g.rss_before = proc_rss_kib(opt.pid);
  g.t_start = now_ns();
  g.phase = PH_CONNECT;
  connect_more();
  schedule_tick(10000);

  if (opt.loop == LOOP_UV) {
    uv_idle_t idle; /* an active idle handle makes libuv poll without blocking */
    if (opt.spin) {
      uv_idle_init(g.uv, &idle);
      uv_idle_start(&idle, on_idle);
    }
    uv_run(g.uv, UV_RUN_DEFAULT);
  } else {
    while (g.phase != PH_DONE)
      lws_service(g.ctx, 0);
  }

  if (g.exit_code) {
    fflush(stdout);
    _exit(g.exit_code);
  }
  if (opt.fanout)
    report_fanout();
  else
    report_calls();
  fflush(stdout);
  /* The connections simply go away with the process: tearing down 10k lws
   * client connections one by one would only slow the benchmark down. */
  _exit(g.errors ? 3 : 0);
}
