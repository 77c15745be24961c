/* The HTTP request path of a real listener: raw bytes into a TCP
 * connection to the host's own libwebsockets server, in-process on its
 * libuv loop, with a plugin behind /rpc (tests/fuzz/README.md). The
 * configuration and plugin are written to a temporary directory, removed at
 * exit.
 *
 * Input: the first byte says in how many writes (1 + its low 2 bits) the
 * rest goes out, in equal parts, with the loop run between writes so that
 * lws reads them apart (bodies and pipelined requests split across reads).
 * Then the client half-closes and the loop runs until the host closes the
 * connection.
 *
 * Invariants:
 *   - the host closes the connection within 5 s of the half-close (a hang,
 *     like issue 13's spin on pipelined requests, is a failure; a spin
 *     inside one lws callback never returns and libFuzzer's -timeout
 *     catches it);
 *   - what the host sent is a sequence of whole HTTP/1.x responses, each
 *     with a status line and a Content-Length its body matches (or no body:
 *     a HEAD's answer, followed at once by the next response or the end),
 *     up to a 101 (WebSocket frames follow it): every response is written
 *     whole, even when the host closes after it;
 *   - afterwards a normal request on a new connection is answered with 200
 *     within 5 s: the host keeps serving. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "common.h"
#include "core/config.h"
#include "call/host.h"
#include "app/host_setup.h"
#include "core/log.h"
#include "moonhost_lua.h"
#include "call/plugin.h"
#include "app/reload_route.h"
#include "transport/server.h"

static mh_host host;
static mh_config cfg;
static uv_timer_t tick; /* wakes UV_RUN_ONCE so the harness can look at its socket */
static int port;
static int loaded;

static const char plugin_src[] =
    "local moonhost = require 'moonhost'\n"
    "return moonhost.plugin { name = 'fz', setup = function(ctx)\n"
    "  local function fn(d) ctx.rpc.register(moonhost.define_rpc_function(d)) end\n"
    "  fn { name = 'fz:echo', type = 'action', handler = function(...) return ... end }\n"
    "  fn { name = 'fz:add', type = 'query', handler = function(i) return i.a + i.b end }\n"
    "  fn { name = 'fz:wait', type = 'action', handler = function(v) moonhost.sleep(0.002) return v end }\n"
    "  fn { name = 'anonymous:fz:ping', type = 'query', handler = function() return 'pong' end }\n"
    "end }\n";

/* %s: the plugins directory (POST /__moonhost/reload reads this again). */
static const char config_fmt[] =
    "return { listen = '127.0.0.1:0', log = { level = 'error' }, plugins_dir = '%s',\n"
    "  auth = { tokens = { 'fuzz-token' }, generate_token = false },\n"
    "  http = { request_timeout_ms = 1000 }, limits = { max_message_bytes = 65536 } }\n";
static char tmp_dir[64], conf_dir[128], plugins_dir[128];

/* Leaves no files behind in /tmp. */
static void remove_tmp(void) {
  char path[256];
  snprintf(path, sizeof path, "%s/00-fuzz.lua", conf_dir);
  unlink(path);
  snprintf(path, sizeof path, "%s/fz.lua", plugins_dir);
  unlink(path);
  rmdir(conf_dir);
  rmdir(plugins_dir);
  rmdir(tmp_dir);
}

static void write_file(const char *dir, const char *name, const char *text) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  FUZZ_CHECK(f && fputs(text, f) >= 0 && fclose(f) == 0, "cannot write %s", path);
}

static void on_loaded(mh_plugin *p, const mh_error *err, void *ud) {
  (void)p, (void)ud;
  FUZZ_CHECK(!err, "the fuzz plugin did not load: %s", err->message);
  loaded++;
}

static void on_tick(uv_timer_t *t) { (void)t; }

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One host for the whole run: starting lws per input would measure lws. */
static void start_host(void) {
  snprintf(tmp_dir, sizeof tmp_dir, "/tmp/moonhost-fuzz-http-XXXXXX");
  FUZZ_CHECK(mkdtemp(tmp_dir) != NULL, "mkdtemp: %s", strerror(errno));
  snprintf(conf_dir, sizeof conf_dir, "%s/conf.d", tmp_dir);
  snprintf(plugins_dir, sizeof plugins_dir, "%s/plugins", tmp_dir);
  FUZZ_CHECK(mkdir(conf_dir, 0700) == 0 && mkdir(plugins_dir, 0700) == 0, "mkdir: %s", strerror(errno));
  atexit(remove_tmp);
  char config_src[sizeof config_fmt + sizeof plugins_dir];
  snprintf(config_src, sizeof config_src, config_fmt, plugins_dir);
  write_file(conf_dir, "00-fuzz.lua", config_src);
  write_file(plugins_dir, "fz.lua", plugin_src);
  char *err = NULL;
  FUZZ_CHECK(mh_config_load(&cfg, mh_config_eval_file, conf_dir, true, &err) == 0, "config: %s", err ? err : "?");
  mh_log_set_level(MH_LOG_ERROR);
  uv_loop_t *loop = uv_default_loop();
  signal(SIGPIPE, SIG_IGN);
  FUZZ_CHECK(mh_host_setup(&host, loop, &cfg, &mh_lua_host_parts, &err) == 0, "host: %s", err ? err : "?");
  host.config_dir = conf_dir; /* as run.c sets it: POST /__moonhost/reload reads it again */
  host.config_required = true;
  int n = mh_plugins_load_dir(&host, cfg.plugins_dir, on_loaded, NULL);
  while (loaded < n) uv_run(loop, UV_RUN_ONCE);
  host.plugins_loaded = true; /* as run.c marks it: every route answers now */
  FUZZ_CHECK(mh_server_start(&host, &host.server) == 0, "the server did not start");
  FUZZ_CHECK(mh_reload_route_add(&host) == 0, "out of memory");
  port = mh_server_port(host.server);
  uv_timer_init(loop, &tick);
  uv_timer_start(&tick, on_tick, 5, 5);
  uv_unref((uv_handle_t *)&tick);
}

static int connect_host(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  FUZZ_CHECK(fd >= 0, "socket: %s", strerror(errno));
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  /* Non-blocking, so libFuzzer's SIGALRM (EINTR) cannot cut it short;
   * on loopback it completes into the listen backlog without the loop. */
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    FUZZ_CHECK(errno == EINPROGRESS || errno == EINTR, "connect: %s", strerror(errno));
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int rc, err = 0;
    while ((rc = poll(&p, 1, 5000)) < 0 && errno == EINTR) continue;
    socklen_t elen = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
    FUZZ_CHECK(rc == 1 && err == 0, "connect: %s", rc == 1 ? strerror(err) : "timed out");
  }
  return fd;
}

typedef struct {
  char *data;
  size_t len, cap;
  bool closed;
} inbox;

/* Runs the loop a turn and reads what the host sent; false once closed. */
static bool turn(int fd, inbox *in) {
  uv_run(uv_default_loop(), UV_RUN_ONCE);
  for (;;) {
    if (in->cap - in->len < 4096) {
      in->cap = in->cap * 2 + 8192;
      in->data = realloc(in->data, in->cap);
      FUZZ_CHECK(in->data != NULL, "out of memory");
    }
    ssize_t n = recv(fd, in->data + in->len, in->cap - in->len, 0);
    if (n > 0) {
      in->len += (size_t)n;
      continue;
    }
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) in->closed = true;
    return !in->closed;
  }
}

static void send_all(int fd, const uint8_t *p, size_t len, inbox *in) {
  while (len) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n > 0) {
      p += n;
      len -= (size_t)n;
    } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      return; /* the host closed on us (a refusal): fine */
    }
    if (len && !turn(fd, in)) return;
  }
}

/* Whole responses in in, each "HTTP/1.1 NNN ..." with a Content-Length its
 * body matches; the count, or -1 with *why. want_status: the first one's. */
static int parse_responses(const inbox *in, int *first_status, const char **why) {
  size_t off = 0;
  int count = 0;
  while (off < in->len) {
    const char *p = in->data + off;
    size_t left = in->len - off;
    const char *end = memmem(p, left, "\r\n\r\n", 4);
    if (!end) return *why = "a response cut inside its headers", -1;
    if (left < 13 || (memcmp(p, "HTTP/1.1 ", 9) && memcmp(p, "HTTP/1.0 ", 9))) return *why = "no HTTP/1.x status line", -1;
    int status = atoi(p + 9);
    if (status < 100 || status > 599) return *why = "a status out of range", -1;
    if (count == 0) *first_status = status;
    if (status == 101) return count + 1; /* a WebSocket follows: frames, not responses */
    size_t head = (size_t)(end - p) + 4;
    const char *cl = NULL;
    for (const char *h = p; h && h < end; h = memchr(h, '\n', (size_t)(end - h))) {
      h += *h == '\n';
      if (strncasecmp(h, "content-length:", 15) == 0) cl = h + 15;
    }
    if (!cl) return *why = "a response without Content-Length", -1;
    size_t body = strtoul(cl, NULL, 10);
    /* The answer to a HEAD has no body: the next response (or the end)
     * follows its headers at once. */
    if (left == head || (left - head >= 9 && memcmp(p + head, "HTTP/1.", 7) == 0)) body = 0;
    if (left - head < body) return *why = "a response cut inside its body", -1;
    off += head + body;
    count++;
  }
  return count;
}

static void dump(const char *label, const inbox *in) {
  fprintf(stderr, "%s (%zu bytes):\n%.*s\n", label, in->len, (int)(in->len < 4000 ? in->len : 4000),
          in->data ? in->data : "");
}

/* A normal request on a new connection must get 200 within 5 s. */
static void check_still_serving(void) {
  /* With the token: untrusted calls share one rate bucket (orpc.c), which
   * the fuzzed requests may have emptied. */
  static const char req[] =
      "GET /rpc/anonymous/fz/ping HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer fuzz-token\r\n\r\n";
  int fd = connect_host();
  inbox in = {0};
  send_all(fd, (const uint8_t *)req, sizeof req - 1, &in);
  const char *why = NULL;
  int status = 0;
  double deadline = now_s() + 5;
  while (parse_responses(&in, &status, &why) < 1 && !in.closed && now_s() < deadline) turn(fd, &in);
  if (parse_responses(&in, &status, &why) != 1 || status != 200) dump("the probe got", &in);
  FUZZ_CHECK(parse_responses(&in, &status, &why) == 1 && status == 200,
             "the host does not answer a normal request afterwards (%s, status %d, closed %d)", why ? why : "-",
             status, in.closed);
  close(fd);
  free(in.data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!host.server) start_host();
  if (size == 0) return 0;
  fuzz_set_input(data, size);
  int writes = 1 + (data[0] & 3);
  data++, size--;
  int fd = connect_host();
  inbox in = {0};
  size_t part = size / (size_t)writes + 1;
  for (size_t off = 0; off < size && !in.closed; off += part) {
    send_all(fd, data + off, off + part > size ? size - off : part, &in);
    for (int i = 0; i < 3 && !in.closed; i++) turn(fd, &in);
  }
  shutdown(fd, SHUT_WR);
  double deadline = now_s() + 5;
  while (!in.closed && now_s() < deadline) turn(fd, &in);
  if (!in.closed) dump("host never closed; it had sent", &in);
  FUZZ_CHECK(in.closed, "the host did not close the connection within 5 s of the client's half-close");
  const char *why = NULL;
  int status = 0;
  if (parse_responses(&in, &status, &why) < 0) dump("the host sent", &in);
  FUZZ_CHECK(parse_responses(&in, &status, &why) >= 0, "malformed response stream: %s", why);
  close(fd);
  free(in.data);
  check_still_serving();
  return 0;
}
