/* mh_log_limited: a call site over its rate writes MH_LOG_SITE_BURST lines,
 * drops the rest, and its next line after a refill says how many it
 * dropped. Each call site has its own bucket. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "core/log.h"

static int count_lines(const char *text, const char *needle) {
  int n = 0;
  for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle)) n++;
  return n;
}

static void flood(int n) {
  for (int i = 0; i < n; i++) mh_log_warn_limited("test", "site A line %d", i);
}

int main(void) {
  FILE *capture = tmpfile();
  CHECK(capture != NULL);
  if (!capture) return 1;
  fflush(stderr);
  int saved = dup(fileno(stderr));
  dup2(fileno(capture), fileno(stderr));

  flood(100);
  for (int i = 0; i < 5; i++) mh_log_warn_limited("test", "site B line %d", i); /* its own bucket */
  mh_log_set_level(MH_LOG_ERROR);
  flood(5); /* below the level: neither written nor counted */
  mh_log_set_level(MH_LOG_INFO);
  /* Two refills' worth of time, so the next line passes. */
  struct timespec ts = {0, 250 * 1000 * 1000};
  nanosleep(&ts, NULL);
  mh_log_warn_limited("test", "site C first line");
  flood(1);
  /* Past the stack line (the heap path): written whole, line breaks indented. */
  char big[3000];
  memset(big, 'y', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  mh_log_warn("test", "long [%s] end", big);
  mh_log_warn("test", "two\nlines %d", 2);

  fflush(stderr);
  dup2(saved, fileno(stderr));
  close(saved);
  char *out = check_slurp(capture);
  CHECK(out != NULL);
  if (out) {
    int a = count_lines(out, "site A line");
    /* The burst, then the one line after the refill (the flood itself took
     * far less than the 100 ms a token takes to come back). */
    CHECK(a == MH_LOG_SITE_BURST + 1);
    CHECK(count_lines(out, "site B line") == 5);
    CHECK(count_lines(out, "site C first line") == 1);
    CHECK(count_lines(out, "were suppressed") == 1);
    const char *summary = strstr(out, "lines like the next one were suppressed");
    CHECK(summary != NULL);
    if (summary) {
      const char *start = summary - 1; /* the space before "lines" */
      while (start > out && start[-1] != ' ') start--;
      int n = atoi(start);
      CHECK(n == 100 - MH_LOG_SITE_BURST);
      /* the summary comes right before the line it speaks of */
      const char *next = strchr(summary, '\n');
      const char *end = next ? strchr(next + 1, '\n') : NULL;
      const char *line = next ? strstr(next + 1, "site A line 0") : NULL;
      CHECK(line != NULL && end != NULL && line < end);
    }
    const char *lng = strstr(out, "long [");
    CHECK(lng && strspn(lng + 6, "y") == 2999 && strncmp(lng + 6 + 2999, "] end\n", 6) == 0);
    CHECK(strstr(out, "two\n    | lines 2\n") != NULL);
    if (check_failures) fprintf(stderr, "captured log:\n%s", out);
  }
  free(out);
  fclose(capture);
  return check_failures ? 1 : 0;
}
