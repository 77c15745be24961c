/* mh_glob_match: a table of (pattern, path, expected), editor temp file
 * names, and pathological patterns that must finish fast. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "core/glob.h"
#include "app/watch.h"

typedef struct {
  const char *pattern, *path;
  bool want;
} glob_case;

static const glob_case cases[] = {
    /* '*' stays within a segment */
    {"*.lua", "a.lua", true},
    {"*.lua", "dir/a.lua", false},
    {"*.lua", ".hidden.lua", true}, /* dotfiles are not special */
    {"*", "a", true},
    {"*", "a/b", false},
    {"a*b", "ab", true},
    {"a*b", "axxb", true},
    {"a*b", "axx/b", false},
    {"*.lua", "a.luax", false},
    {"*a*", "banana", true},
    /* '**' spans segments, including none */
    {"**/*.lua", "a.lua", true},
    {"**/*.lua", "x/y/a.lua", true},
    {"**/*.lua", "x/y/a.ts", false},
    {"**", "a", true},
    {"**", "a/b/c", true},
    {"src/**", "src/a/b.ts", true},
    {"src/**", "src/a", true},
    {"src/**", "src", true}, /* '**' takes zero segments too: the directory itself matches */
    {"src/**", "srcx/a", false},
    {"src/**", "lib/src/a", false},
    {"a/**/b", "a/b", true},
    {"a/**/b", "a/x/b", true},
    {"a/**/b", "a/x/y/b", true},
    {"a/**/b", "a/x/y/c", false},
    {"a/**/b/**/c", "a/1/b/2/3/c", true},
    {"a/**/b/**/c", "a/1/b/2/3/d", false},
    {"**/b/*.lua", "x/b/y/z.lua", false},
    {"**/b/*.lua", "x/b/z.lua", true},
    {"a**b", "axxb", true}, /* '**' inside a segment is a '*' */
    {"a**b", "a/b", false},
    /* '?' */
    {"?.lua", "a.lua", true},
    {"?.lua", "ab.lua", false},
    {"a?b", "a/b", false},
    /* classes */
    {"[abc].txt", "b.txt", true},
    {"[abc].txt", "d.txt", false},
    {"[a-c]x", "bx", true},
    {"[a-c]x", "dx", false},
    {"[!a-c]x", "dx", true},
    {"[!a-c]x", "ax", false},
    {"[^a]x", "bx", true},
    {"[]]x", "]x", true},
    {"[a-]x", "-x", true},
    {"a[/]b", "a/b", false}, /* a class never matches '/' */
    {"[ab", "[ab", true},    /* unterminated: literal */
    /* braces */
    {"{a,b}.{js,ts}", "a.js", true},
    {"{a,b}.{js,ts}", "b.ts", true},
    {"{a,b}.{js,ts}", "c.ts", false},
    {"{a,b}.{js,ts}", "a.lua", false},
    {"{src,lib}/**/*.c", "lib/x/y.c", true},
    {"{a,{b,c}}x", "cx", true},
    {"{a,x/y}/z", "x/y/z", true},
    {"{,pre}fix", "fix", true},
    {"{,pre}fix", "prefix", true},
    {"{a}", "{a}", true}, /* no ',': literal */
    {"{a,b", "{a,b", true}, /* no '}': literal */
    /* literal */
    {"init.lua", "init.lua", true},
    {"init.lua", "xinit.lua", false},
    {"", "", true},
    {"", "a", false},
};

static const struct {
  const char *name;
  bool temp;
} temp_cases[] = {
    {"foo.lua~", true}, {".foo.lua.swp", true}, {".foo.swx", true}, {".foo.swo", true},
    {"x.tmp", true},    {".#foo.lua", true},    {"#foo.lua#", true}, {"4913", true},
    {".DS_Store", true}, {"dir/.foo.swp", true}, {"foo.lua", false}, {"4914", false},
    {"#", false},       {"swp", false},         {"a.tmpl", false},   {"", false},
};

static double seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_pathological(void) {
  char path[4096], pat[4096];
  double t0 = seconds();
  /* many '**' against a deep path that does not match at the end */
  strcpy(pat, "");
  for (int i = 0; i < 40; i++) strcat(pat, "**/");
  strcat(pat, "a");
  strcpy(path, "");
  for (int i = 0; i < 200; i++) strcat(path, "x/");
  strcat(path, "b");
  CHECK(!mh_glob_match(pat, path));
  path[strlen(path) - 1] = 'a';
  CHECK(mh_glob_match(pat, path));
  CHECK(mh_glob_match("**/**/**/a", "x/y/z/a"));
  CHECK(!mh_glob_match("**/**/**/a", "x/y/z/b"));
  /* alternating '**' and segments that almost match */
  strcpy(pat, "");
  for (int i = 0; i < 30; i++) strcat(pat, "**/x/");
  strcat(pat, "y");
  CHECK(!mh_glob_match(pat, path));
  /* many '*' in one segment against a long run of 'a' without the final 'b' */
  memset(path, 'a', 3000);
  path[3000] = '\0';
  strcpy(pat, "");
  for (int i = 0; i < 50; i++) strcat(pat, "*a");
  strcat(pat, "*b");
  CHECK(!mh_glob_match(pat, path));
  /* brace bombs are cut off by the expansion budget */
  strcpy(pat, "");
  for (int i = 0; i < 30; i++) strcat(pat, "{a,b}");
  CHECK(!mh_glob_match(pat, "cccccccccccccccccccccccccccccc"));
  CHECK(mh_glob_match(pat, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")); /* first expansion */
  double dt = seconds() - t0;
  if (dt > 2.0) fprintf(stderr, "pathological globs took %.2fs\n", dt);
  CHECK(dt < 2.0);
}

int main(void) {
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    bool got = mh_glob_match(cases[i].pattern, cases[i].path);
    if (got != cases[i].want)
      fprintf(stderr, "glob '%s' vs '%s': got %d, want %d\n", cases[i].pattern, cases[i].path, got, cases[i].want);
    CHECK(got == cases[i].want);
  }
  for (size_t i = 0; i < sizeof temp_cases / sizeof temp_cases[0]; i++) {
    bool got = mh_watch_is_temp_file(temp_cases[i].name);
    if (got != temp_cases[i].temp) fprintf(stderr, "temp file '%s': got %d\n", temp_cases[i].name, got);
    CHECK(got == temp_cases[i].temp);
  }
  test_pathological();
  return check_failures ? 1 : 0;
}
