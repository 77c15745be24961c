/* The libuv loop and lws context both raw reference servers run on
 * (raw_echo.c, raw_fanout.c): a foreign loop, created here, exactly as
 * moonhost does; serves until SIGINT or SIGTERM. Header-only: each server
 * is one source file built on its own (bench/CMakeLists.txt). */
#ifndef RAW_LOOP_H
#define RAW_LOOP_H
#include <libwebsockets.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

static void raw_on_signal(uv_signal_t *h, int signum) {
  (void)signum;
  uv_stop(h->loop);
}

/* 0 after a signal, 1 when the context cannot be created. */
static int raw_serve_uv(int port, const struct lws_protocols *protocols, const char *prog) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  uv_signal_t sigint, sigterm;
  uv_signal_init(&loop, &sigint);
  uv_signal_init(&loop, &sigterm);
  uv_signal_start(&sigint, raw_on_signal, SIGINT);
  uv_signal_start(&sigterm, raw_on_signal, SIGTERM);

  lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
  void *loops[1] = {&loop};
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  /* Without DISABLE_IPV6, lws 4.1 binds the wildcard [::] even with iface 127.0.0.1. */
  info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_DISABLE_IPV6;
  info.foreign_loops = loops;
  info.port = port;
  info.iface = "127.0.0.1";
  info.protocols = protocols;
  info.gid = -1;
  info.uid = -1;
  struct lws_context *ctx = lws_create_context(&info);
  if (!ctx) {
    fprintf(stderr, "%s: cannot create the lws context on port %d\n", prog, port);
    return 1;
  }
  struct lws_vhost *vh = lws_get_vhost_by_name(ctx, "default");
  fprintf(stderr, "listening on ws://127.0.0.1:%d/__ws\n", vh ? lws_get_vhost_listen_port(vh) : port);
  uv_run(&loop, UV_RUN_DEFAULT);
  /* On a foreign loop lws finishes its teardown after the loop closes its handles. */
  lws_context_destroy(ctx);
  uv_close((uv_handle_t *)&sigint, NULL);
  uv_close((uv_handle_t *)&sigterm, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  lws_context_destroy(ctx);
  uv_loop_close(&loop);
  return 0;
}

#endif
