#include "core/js_number.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The shortest decimal digits of |x| that read back to |x| (printf's
 * correct rounding picks the closest of each length) and the exponent n
 * such that |x| = 0.DIGITS * 10^n, as ECMAScript's Number::toString names
 * them. digits gets at most 17 digits and a NUL. */
static int shortest_digits(double x, char digits[18]) {
  char sci[40];
  for (int prec = 0; prec < 17; prec++) {
    snprintf(sci, sizeof sci, "%.*e", prec, x);
    if (strtod(sci, NULL) == x) break;
  }
  /* sci is "D.DDDDe[+-]XX" (or "De[+-]XX"): digits without the point. */
  size_t k = 0;
  const char *p = sci;
  for (; *p && *p != 'e'; p++)
    if (*p != '.') digits[k++] = *p;
  while (k > 1 && digits[k - 1] == '0') k--; /* "1.50e0" cannot happen, but be exact */
  digits[k] = '\0';
  return atoi(p + 1) + 1;
}

char *mh_js_number_format(double x, char buf[MH_JS_NUMBER_BUF]) {
  if (isnan(x)) return strcpy(buf, "NaN");
  if (x == 0) return strcpy(buf, "0"); /* -0 too */
  if (isinf(x)) return strcpy(buf, x > 0 ? "Infinity" : "-Infinity");
  char digits[18];
  int n = shortest_digits(fabs(x), digits);
  int k = (int)strlen(digits);
  char *o = buf;
  if (x < 0) *o++ = '-';
  if (k <= n && n <= 21) { /* an integer: the digits, then zeros */
    memcpy(o, digits, (size_t)k);
    o += k;
    for (int i = k; i < n; i++) *o++ = '0';
  } else if (0 < n && n <= 21) { /* the point inside the digits */
    memcpy(o, digits, (size_t)n);
    o += n;
    *o++ = '.';
    memcpy(o, digits + n, (size_t)(k - n));
    o += k - n;
  } else if (-6 < n && n <= 0) { /* 0.000DIGITS */
    *o++ = '0';
    *o++ = '.';
    for (int i = 0; i < -n; i++) *o++ = '0';
    memcpy(o, digits, (size_t)k);
    o += k;
  } else { /* D[.DDD]e+-EXP */
    *o++ = digits[0];
    if (k > 1) {
      *o++ = '.';
      memcpy(o, digits + 1, (size_t)(k - 1));
      o += k - 1;
    }
    o += sprintf(o, "e%c%d", n - 1 >= 0 ? '+' : '-', abs(n - 1));
  }
  *o = '\0';
  return buf;
}
