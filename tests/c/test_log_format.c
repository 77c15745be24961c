/* mh_log_about and log.format: the text line names the plugin as it always
 * did ("[plugin] NAME: message", "[NAME] message" for ctx.log), the JSON
 * line is one parseable object with plugin and fields as keys, and the
 * inspector's tail (the log ring) keeps the text form. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "core/log.h"
#include "core/log_ring.h"

static void log_both(void) {
  mh_log_about(MH_LOG_ERROR, "plugin", "broken", (const char *const[]){"code", "internal", NULL},
               "load failed (%s): %s", "internal", "a \"quoted\"\nsecond line\t\x01");
  mh_log_about(MH_LOG_INFO, "chatty", "chatty", NULL, "said %d", 1);
  mh_log_info("host", "plain %s", "line");
}

static void check_json(char *out) {
  int n = 0;
  for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"), n++) {
    cJSON *o = cJSON_Parse(line);
    CHECK(o != NULL);
    if (!o) continue;
    const char *msg = cJSON_GetStringValue(cJSON_GetObjectItem(o, "msg"));
    const char *plugin = cJSON_GetStringValue(cJSON_GetObjectItem(o, "plugin"));
    CHECK(cJSON_GetStringValue(cJSON_GetObjectItem(o, "ts")) != NULL);
    if (n == 0) {
      CHECK(plugin && strcmp(plugin, "broken") == 0);
      CHECK(msg && strcmp(msg, "load failed (internal): a \"quoted\"\nsecond line\t\x01") == 0);
      CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(o, "code")), "internal") == 0);
      CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(o, "level")), "error") == 0);
    } else if (n == 1) {
      CHECK(plugin && strcmp(plugin, "chatty") == 0);
      CHECK(msg && strcmp(msg, "said 1") == 0);
    } else {
      CHECK(plugin == NULL);
      CHECK(msg && strcmp(msg, "plain line") == 0);
    }
    cJSON_Delete(o);
  }
  if (n != 3) fprintf(stderr, "%d JSON lines\n", n);
  CHECK(n == 3);
}

int main(void) {
  FILE *capture = tmpfile();
  CHECK(capture != NULL);
  if (!capture) return 1;
  CHECK(mh_log_ring_enable(8) == 0);
  fflush(stderr);
  int saved = dup(fileno(stderr));
  dup2(fileno(capture), fileno(stderr));
  log_both();
  fflush(stderr);
  char *text = check_slurp(capture);
  FILE *capture_json = tmpfile();
  CHECK(capture_json != NULL);
  if (!capture_json) return 1;
  dup2(fileno(capture_json), fileno(stderr));
  mh_log_set_format(mh_log_format_parse("json"));
  log_both();
  fflush(stderr);
  dup2(saved, fileno(stderr));
  close(saved);
  char *json = check_slurp(capture_json);

  /* Tabs stay; other controls (a terminal would act on them) become '?'. */
  CHECK(strstr(text, " error [plugin] broken: load failed (internal): a \"quoted\"\n    | second line\t?\n") != NULL);
  CHECK(strstr(text, " info  [chatty] said 1\n") != NULL);
  CHECK(strstr(text, " info  [host] plain line\n") != NULL);
  check_json(json);
  CHECK(mh_log_format_parse("text") == MH_LOG_TEXT && mh_log_format_parse(NULL) == MH_LOG_TEXT);

  uint64_t skipped = 0;
  const mh_log_line *l = mh_log_ring_next(0, &skipped);
  CHECK(l && strncmp(l->msg, "broken: load failed (internal)", 30) == 0);
  l = l ? mh_log_ring_next(l->seq, &skipped) : NULL;
  CHECK(l && strcmp(l->msg, "said 1") == 0 && strcmp(l->area, "chatty") == 0);

  free(text);
  free(json);
  fclose(capture);
  fclose(capture_json);
  mh_log_ring_enable(0);
  return check_failures ? 1 : 0;
}
