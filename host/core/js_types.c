/* JavaScript types beyond JSON as text; see js_types.h. */
#include "core/js_types.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* JavaScript's Date range: TimeClip refuses anything beyond this. */
#define MH_JS_DATE_MAX 8.64e15
#define MH_JS_DAY_MS 86400000LL

/* ---- Date ----------------------------------------------------------- */

/* Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's
 * civil_from_days), and back (days_from_civil). Exact for the whole Date
 * range, negative years included. */
static void mh_js_civil(int64_t days, int64_t *y, int *m, int *d) {
  days += 719468;
  int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  int64_t doe = days - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

static int64_t mh_js_days(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

bool mh_js_date_format(double ms, char buf[MH_JS_DATE_BUF]) {
  if (!isfinite(ms) || fabs(ms) > MH_JS_DATE_MAX) return false;
  int64_t t = (int64_t)ms; /* TimeClip truncates toward zero */
  int64_t days = t / MH_JS_DAY_MS, rem = t % MH_JS_DAY_MS;
  if (rem < 0) {
    rem += MH_JS_DAY_MS;
    days--;
  }
  int64_t y;
  int mo, d;
  mh_js_civil(days, &y, &mo, &d);
  int yr = (int)y; /* |year| <= 275760 within the Date range */
  int n = yr >= 0 && yr <= 9999 ? snprintf(buf, MH_JS_DATE_BUF, "%04d", yr)
                                : snprintf(buf, MH_JS_DATE_BUF, "%c%06d", yr < 0 ? '-' : '+', yr < 0 ? -yr : yr);
  snprintf(buf + n, MH_JS_DATE_BUF - (size_t)n, "-%02d-%02dT%02d:%02d:%02d.%03dZ", mo, d,
           (int)(rem / 3600000), (int)(rem / 60000 % 60), (int)(rem / 1000 % 60), (int)(rem % 1000));
  return true;
}

/* n ASCII digits at s as a number; false if any is not a digit. */
static bool mh_js_digits(const char *s, int n, int64_t *out) {
  int64_t v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

static int mh_js_month_days(int64_t y, int64_t m) {
  static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : days[m - 1];
}

bool mh_js_date_parse(const char *s, size_t len, double *ms) {
  /* After the year the layout is fixed: "-MM-DDTHH:mm:ss.sssZ". */
  static const char layout[] = "-dd-ddTdd:dd:dd.dddZ";
  int64_t year;
  size_t ylen;
  if (len == 24 && mh_js_digits(s, 4, &year)) {
    ylen = 4;
  } else if (len == 27 && (s[0] == '+' || s[0] == '-') && mh_js_digits(s + 1, 6, &year)) {
    if (s[0] == '-' && year == 0) return false; /* "-000000" is not a year */
    if (s[0] == '-') year = -year;
    ylen = 7;
  } else {
    return false;
  }
  const char *p = s + ylen;
  for (size_t i = 0; i < sizeof layout - 1; i++)
    if (layout[i] == 'd' ? (p[i] < '0' || p[i] > '9') : p[i] != layout[i]) return false;
  int64_t mo = 0, d = 0, h = 0, mi = 0, sec = 0, milli = 0; /* set below; zeroed for the optimiser */
  mh_js_digits(p + 1, 2, &mo);
  mh_js_digits(p + 4, 2, &d);
  mh_js_digits(p + 7, 2, &h);
  mh_js_digits(p + 10, 2, &mi);
  mh_js_digits(p + 13, 2, &sec);
  mh_js_digits(p + 16, 3, &milli);
  if (mo < 1 || mo > 12 || d < 1 || d > mh_js_month_days(year, mo) || h > 23 || mi > 59 || sec > 59) return false;
  int64_t t = mh_js_days(year, (int)mo, (int)d) * MH_JS_DAY_MS + ((h * 60 + mi) * 60 + sec) * 1000 + milli;
  if (t > (int64_t)MH_JS_DATE_MAX || t < -(int64_t)MH_JS_DATE_MAX) return false;
  *ms = (double)t;
  return true;
}

/* ---- BigInt and RegExp ---------------------------------------------- */

bool mh_js_bigint_valid(const char *s, size_t len) {
  size_t i = len && s[0] == '-' ? 1 : 0;
  if (i == len) return false;
  if (s[i] == '0') return len == i + 1 && i == 0; /* "0" only: no "-0", no leading zeros */
  for (; i < len; i++)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

static bool scheme_char(char c, bool first) {
  bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  return alpha || (!first && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'));
}

bool mh_js_url_valid(const char *s, size_t len) {
  size_t i = 0;
  while (i < len && scheme_char(s[i], i == 0)) i++;
  return i > 0 && i < len && s[i] == ':';
}

bool mh_js_regexp_flags_valid(const char *s, size_t len) {
  static const char known[] = "dgimsuvy";
  bool seen[sizeof known] = {false};
  for (size_t i = 0; i < len; i++) {
    const char *at = s[i] ? strchr(known, s[i]) : NULL;
    if (!at || seen[at - known]) return false;
    seen[at - known] = true;
  }
  return !(seen[strchr(known, 'u') - known] && seen[strchr(known, 'v') - known]);
}

/* ---- typed arrays --------------------------------------------------- */

typedef enum { MH_JS_INT, MH_JS_UINT, MH_JS_CLAMP, MH_JS_F16, MH_JS_F32, MH_JS_F64 } mh_js_elem;

static const struct {
  const char *name;
  mh_js_elem elem;
  int bits;
} mh_js_kinds[] = {
    {"Int8Array", MH_JS_INT, 8},          {"Uint8Array", MH_JS_UINT, 8},    {"Uint8ClampedArray", MH_JS_CLAMP, 8},
    {"Int16Array", MH_JS_INT, 16},        {"Uint16Array", MH_JS_UINT, 16},  {"Int32Array", MH_JS_INT, 32},
    {"Uint32Array", MH_JS_UINT, 32},      {"Float16Array", MH_JS_F16, 16},  {"Float32Array", MH_JS_F32, 32},
    {"Float64Array", MH_JS_F64, 64},
    /* structured-clone sends these two as their bytes */
    {"ArrayBuffer", MH_JS_UINT, 8},       {"DataView", MH_JS_UINT, 8},
};
#define MH_JS_NKINDS ((int)(sizeof mh_js_kinds / sizeof mh_js_kinds[0]))

int mh_js_typed_kind(const char *name, size_t len) {
  for (int i = 0; i < MH_JS_NKINDS; i++)
    if (strlen(mh_js_kinds[i].name) == len && memcmp(mh_js_kinds[i].name, name, len) == 0) return i;
  return -1;
}

const char *mh_js_typed_kind_name(int kind) {
  return kind >= 0 && kind < MH_JS_NKINDS ? mh_js_kinds[kind].name : NULL;
}

/* ToInt8/ToUint16/...: truncate, then wrap modulo 2^bits. */
static double mh_js_wrap(double x, int bits, bool is_signed) {
  if (!isfinite(x)) return 0;
  double span = ldexp(1, bits);
  double m = fmod(trunc(x), span);
  if (m < 0) m += span;
  if (is_signed && m >= span / 2) m -= span;
  return m + 0.0; /* no -0 */
}

/* Round to the nearest binary16 value, ties to even (quantum 2^-24 for
 * subnormals, 11 significant bits otherwise). */
static double mh_js_round_f16(double x) {
  if (!isfinite(x) || x == 0) return x;
  int e;
  frexp(x, &e); /* |x| in [2^(e-1), 2^e) */
  int q = e - 1 < -14 ? -24 : e - 11;
  double r = ldexp(nearbyint(ldexp(x, -q)), q);
  return fabs(r) > 65504 ? copysign(INFINITY, x) : r;
}

double mh_js_typed_coerce(int kind, double x) {
  if (kind < 0 || kind >= MH_JS_NKINDS) return x;
  switch (mh_js_kinds[kind].elem) {
  case MH_JS_INT: return mh_js_wrap(x, mh_js_kinds[kind].bits, true);
  case MH_JS_UINT: return mh_js_wrap(x, mh_js_kinds[kind].bits, false);
  case MH_JS_CLAMP: return isnan(x) ? 0 : x <= 0 ? 0 : x >= 255 ? 255 : nearbyint(x); /* ties to even */
  case MH_JS_F16: return mh_js_round_f16(x);
  case MH_JS_F32:
    /* From the midpoint between FLT_MAX and 2^128 up, float32 rounds to
     * infinity; converting such a double to float is undefined in C. */
    if (isfinite(x) && fabs(x) >= 0x1.ffffffp127) return copysign(INFINITY, x);
    return isfinite(x) ? (double)(float)x : x;
  case MH_JS_F64: return x;
  }
  return x;
}
