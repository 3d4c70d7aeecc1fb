/*
** text.c -- Python-exact texts of numbers, strings and array elements.
**
** Floats print as CPython's repr and numpy's str do: the shortest digit string
** that reads back to the same bits, laid out by Python's rules.  Normal doubles
** and float32s between ~1e-10 and ~1e38 get their digits from exact 128-bit
** integer arithmetic (the .txt view of a forest is millions of them); anything
** else is found by rounding with printf and checking with strtod, which are both
** correctly rounded in glibc.  Every text here must equal what Python prints for the same value; when
** that cannot be known (exotic numpy types) the nearest honest text is given.
** Never reads a file except through blob_read; never allocates beyond a Buf.
*/
#include <ctype.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "modelfs/limits.h"
#include "modelfs/npy.h"
#include "modelfs/text.h"

/* ---- shortest round-trip digits ---------------------------------------- */

typedef enum FloatKind { FK_DOUBLE, FK_FLOAT, FK_HALF, FK_LONG } FloatKind;

typedef struct FloatVal {
  FloatKind kind;
  long double x;    /* the exact value, positive and finite */
  double d;
  float f;
  uint16_t h;
  long double ld;
} FloatVal;

/* Round a double to IEEE half, ties to even; returns the bits. */
static uint16_t double_to_half(double v) {
  uint16_t sign = signbit(v) ? 0x8000 : 0;
  v = fabs(v);
  if (isnan(v)) return sign | 0x7e00;
  if (v >= 65520.0) return sign | 0x7c00;           /* rounds to inf */
  if (v < ldexp(1.0, -25)) {                         /* below half the least subnormal */
    return sign;
  }
  int e;
  (void)frexp(v, &e);                                /* v = m * 2^e, m in [0.5,1) */
  int exp = e - 1;                                   /* v = (2m) * 2^exp */
  double scaled;
  uint32_t q;
  if (exp < -14) {                                   /* subnormal: units of 2^-24 */
    scaled = ldexp(v, 24);
  } else {
    scaled = ldexp(v, 10 - exp);                     /* 1024..2047.999 */
  }
  double fl = floor(scaled);
  double rem = scaled - fl;
  q = (uint32_t)fl;
  if (rem > 0.5 || (rem == 0.5 && (q & 1))) q++;
  if (exp < -14) return sign | (uint16_t)q;          /* q may reach 1024: smallest normal */
  if (q == 2048) {
    q = 1024;
    exp++;
  }
  if (exp > 15) return sign | 0x7c00;
  return sign | (uint16_t)((uint32_t)(exp + 15) << 10 | (q - 1024));
}

static double half_to_double(uint16_t h) {
  int sign = h >> 15, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  double v;
  if (exp == 0) v = ldexp(man, -24);
  else if (exp == 31) v = man ? NAN : INFINITY;
  else v = ldexp(man + 1024, exp - 25);
  return sign ? -v : v;
}

static int round_trips(const FloatVal *fv, const char *s) {
  switch (fv->kind) {
    case FK_DOUBLE: return strtod(s, NULL) == fv->d;
    case FK_FLOAT: return strtof(s, NULL) == fv->f;
    case FK_HALF: return double_to_half(strtod(s, NULL)) == fv->h;
    case FK_LONG: return strtold(s, NULL) == fv->ld;
  }
  return 0;
}

/* digits of x rounded to p significant digits; returns count, sets *e10 */
static int digits_at(const FloatVal *fv, int p, char *dig, int *e10) {
  char buf[80];
  /* every kind but long double is exact as a double, and %e is cheaper */
  if (fv->kind == FK_LONG) snprintf(buf, sizeof buf, "%.*Le", p - 1, fv->x);
  else snprintf(buf, sizeof buf, "%.*e", p - 1, (double)fv->x);
  int n = 0;
  const char *s = buf;
  for (; *s && *s != 'e'; s++)
    if (isdigit((unsigned char)*s)) dig[n++] = *s;
  dig[n] = '\0';
  *e10 = *s ? atoi(s + 1) : 0;
  return n;
}

static int try_digits(const FloatVal *fv, const char *dig, int n, int e10) {
  char buf[96];
  snprintf(buf, sizeof buf, "%c.%se%d", dig[0], n > 1 ? dig + 1 : "0", e10);
  return round_trips(fv, buf);
}

/* The other n-digit neighbour (delta +1 or -1 in the last digit). */
static int neighbour(const char *dig, int n, int e10, int delta, char *out, int *oe10) {
  memcpy(out, dig, (size_t)n + 1);
  int i = n - 1;
  if (delta > 0) {
    while (i >= 0 && out[i] == '9') out[i--] = '0';
    if (i < 0) {                                      /* 999 -> 1000 */
      out[0] = '1';
      memset(out + 1, '0', (size_t)n - 1);
      out[n] = '\0';
      *oe10 = e10 + 1;
      return n;
    }
    out[i]++;
  } else {
    while (i >= 0 && out[i] == '0') out[i--] = '9';
    if (i < 0) return 0;
    out[i]--;
    if (out[0] == '0') {                              /* 1000 -> 0999 -> 999 */
      if (n == 1) return 0;
      memmove(out, out + 1, (size_t)n);
      *oe10 = e10 - 1;
      return n - 1;
    }
  }
  *oe10 = e10;
  return n;
}

static int max_digits(FloatKind k) {
  switch (k) {
    case FK_DOUBLE: return 17;
    case FK_FLOAT: return 9;
    case FK_HALF: return 5;
    case FK_LONG: return 21;
  }
  return 17;
}

/* ---- the fast path: exact integers instead of printf and strtod ----------- */

typedef unsigned __int128 u128;

/* 5^k for k <= FAST_MAX_POW5: all fit in 64 bits, and a 55-bit mantissa times any
** of them fits in 128. */
#define FAST_MAX_POW5 27

static const uint64_t POW5[FAST_MAX_POW5 + 1] = {
  1ULL, 5ULL, 25ULL, 125ULL, 625ULL, 3125ULL, 15625ULL, 78125ULL, 390625ULL, 1953125ULL,
  9765625ULL, 48828125ULL, 244140625ULL, 1220703125ULL, 6103515625ULL, 30517578125ULL,
  152587890625ULL, 762939453125ULL, 3814697265625ULL, 19073486328125ULL, 95367431640625ULL,
  476837158203125ULL, 2384185791015625ULL, 11920928955078125ULL, 59604644775390625ULL,
  298023223876953125ULL, 1490116119384765625ULL, 7450580596923828125ULL};

static uint64_t pow5(int k) { return POW5[k]; }

/* floor(x * 2^e2 / 10^q) for x < 2^55, exact; *exact says nothing was dropped.
** 0 when the numbers leave 128 bits (the caller falls back). */
static int scaled(uint64_t x, int e2, int q, uint64_t *out, int *exact) {
  if (q <= 0) {                                     /* x * 5^k * 2^(e2 + k) */
    int k = -q;
    if (k > FAST_MAX_POW5) return 0;
    u128 a = (u128)x * pow5(k);
    int sh = e2 + k;
    if (sh >= 0) {
      if (sh >= 64 || (a >> (127 - sh)) != 0) return 0;
      a <<= sh;
      *exact = 1;
    } else {
      if (-sh >= 128) return 0;
      *exact = (a & (((u128)1 << -sh) - 1)) == 0;
      a >>= -sh;
    }
    if (a >> 64) return 0;
    *out = (uint64_t)a;
    return 1;
  }
  if (q > FAST_MAX_POW5 || e2 - q < 0 || e2 - q > 72) return 0;   /* x * 2^(e2-q) / 5^q */
  u128 n = (u128)x << (e2 - q);
  uint64_t d = pow5(q);
  u128 s = n / d;
  if (s >> 64) return 0;
  *exact = n % d == 0;
  *out = (uint64_t)s;
  return 1;
}

static int udigits(uint64_t u, char *out);

/* Shortest digits of a normal double or float by Ryu's digit removal (Ulf Adams,
** PLDI 2018), run on exact integers: the value and both ends of the interval
** that reads back to it, scaled by 10^-q so that ~17 (double) or ~9 (float)
** digits sit left of the point.  Ties go to even, like printf; among the
** shortest candidates the nearest wins, like Python's repr.  Returns the digit
** count, or 0 when it does not apply (subnormal, or beyond ~1e-10..1e38) and the
** search below must answer. */
static int shortest_fast(const FloatVal *fv, char *dig, int *decpt) {
  uint64_t m;
  int e2, ex, want;
  if (fv->kind == FK_DOUBLE) {
    uint64_t bits;
    memcpy(&bits, &fv->d, sizeof bits);
    ex = (int)((bits >> 52) & 0x7ff);
    if (ex == 0 || ex == 0x7ff) return 0;
    m = (bits & ((1ULL << 52) - 1)) | (1ULL << 52);
    e2 = ex - 1075;
    want = 17;
  } else if (fv->kind == FK_FLOAT) {
    uint32_t bits;
    memcpy(&bits, &fv->f, sizeof bits);
    ex = (int)((bits >> 23) & 0xff);
    if (ex == 0 || ex == 0xff) return 0;
    m = (bits & ((1u << 23) - 1)) | (1u << 23);
    e2 = ex - 150;
    want = 9;
  } else {
    return 0;
  }
  /* A power of two above the least normal: the gap below is half the gap above. */
  int boundary = (m & (m - 1)) == 0 && ex > 1;
  int accept = (m & 1) == 0;                       /* round-half-even reads ends back */
  uint64_t mv = 4 * m, mp = 4 * m + 2, mm = 4 * m - (boundary ? 1 : 2);
  int e = e2 - 2;
  /* floor(log10(2^(e2 + mantissa bits))): the decimal exponent or one less
  ** (78913 / 2^18 is log10(2) rounded down, exact over this range). */
  int mbits = fv->kind == FK_DOUBLE ? 52 : 23;
  int p10 = (int)(((int64_t)(e2 + mbits) * 78913) >> 18);
  int q = p10 - want;
  uint64_t vr, vp, vm, lim = want == 17 ? 100000000000000000ULL : 1000000000ULL;
  int xr, xp, xm;
  /* vr now has want+1 or want+2 digits, which leaves both ends at least 10
  ** units apart (so one digit is always removed) and within 64 bits. */
  for (int tries = 0;; tries++) {
    if (tries > 2 || !scaled(mv, e, q, &vr, &xr)) return 0;
    if (vr >= lim) break;
    q--;
  }
  if (!scaled(mp, e, q, &vp, &xp) || !scaled(mm, e, q, &vm, &xm)) return 0;
  if (!accept && xp) vp--;
  int vm_zeros = accept && xm, vr_zeros = xr, last = 0, removed = 0;
  while (vp / 10 > vm / 10) {
    vm_zeros &= vm % 10 == 0;
    vr_zeros &= last == 0;
    last = (int)(vr % 10);
    vr /= 10;
    vp /= 10;
    vm /= 10;
    removed++;
  }
  if (vm_zeros) {
    while (vm % 10 == 0) {
      vr_zeros &= last == 0;
      last = (int)(vr % 10);
      vr /= 10;
      vp /= 10;
      vm /= 10;
      removed++;
    }
  }
  if (vr_zeros && last == 5 && vr % 2 == 0) last = 4;   /* exactly half: to even */
  uint64_t out = vr + ((vr == vm && (!accept || !vm_zeros)) || last >= 5);
  int n = udigits(out, dig);
  *decpt = n + q + removed;
  while (n > 1 && dig[n - 1] == '0') n--;
  dig[n] = '\0';
  return n;
}

/* Digits of a non-negative integer below 2^64, two at a time from a table:
** the .txt of a tree's node table is mostly integers. */
static const char DIGIT_PAIRS[201] =
  "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
  "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
  "8081828384858687888990919293949596979899";

/* 10^k for k <= 19, the powers below 2^64. */
static const uint64_t P10[20] = {
  1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL, 100000000ULL,
  1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL, 10000000000000ULL,
  100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL, 100000000000000000ULL,
  1000000000000000000ULL, 10000000000000000000ULL};

/* The 8 digits of u < 10^8 (leading zeros kept) ending at o, in 32 bits. */
static inline void eight_digits(uint32_t u, char *o) {
  for (int i = 0; i < 4; i++) {
    unsigned k = (u % 100) * 2;
    u /= 100;
    *--o = DIGIT_PAIRS[k + 1];
    *--o = DIGIT_PAIRS[k];
  }
}

/* Written straight into out from its end, its length known first: floor(log10)
** from the bit length (1233 / 4096 is log10(2) rounded down), then one compare.
** Eight digits at a time in 32 bits above 10^8: a double's 17 digits, cheaper
** than 64-bit division two at a time. */
static int udigits(uint64_t u, char *out) {
  int t = u ? (int)(((unsigned)(64 - __builtin_clzll(u)) * 1233) >> 12) : 0;
  int n = u ? t + (u >= P10[t]) : 1;
  char *o = out + n;
  *o = '\0';
  while (u >= 100000000u) {
    eight_digits((uint32_t)(u % 100000000u), o);
    o -= 8;
    u /= 100000000u;
  }
  uint32_t w = (uint32_t)u;
  while (w >= 100) {
    unsigned k = (w % 100) * 2;
    w /= 100;
    *--o = DIGIT_PAIRS[k + 1];
    *--o = DIGIT_PAIRS[k];
  }
  if (w >= 10) {
    *--o = DIGIT_PAIRS[w * 2 + 1];
    *--o = DIGIT_PAIRS[w * 2];
  } else {
    *--o = (char)('0' + w);
  }
  return n;
}

/* Shortest digits (no trailing zeros) of a positive finite value; *decpt as in
** Python's dtoa: value = 0.DIGITS * 10^decpt. */
static int shortest(const FloatVal *fv, char *dig, int *decpt) {
  int lo = 1, hi = max_digits(fv->kind), e10;
  long double exact = fv->kind == FK_FLOAT ? 16777216.0L : fv->kind == FK_HALF ? 2048.0L : 1e15L;
  if (fv->x < exact && fv->x == floorl(fv->x)) {
    /* An integer where the type's ulp is at most 1 needs exactly its own digits. */
    int n = udigits((uint64_t)fv->x, dig);
    *decpt = n;
    while (n > 1 && dig[n - 1] == '0') dig[--n] = '\0';
    return n;
  }
  int fast = shortest_fast(fv, dig, decpt);
  if (fast) return fast;
  char tmp[40];
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    int n = digits_at(fv, mid, tmp, &e10);
    if (try_digits(fv, tmp, n, e10)) hi = mid;
    else lo = mid + 1;
  }
  int n = digits_at(fv, lo, dig, &e10);
  if (lo > 1) {
    /* The correctly rounded (lo-1)-digit string fails, but near a power of two
    ** the interval is lopsided and its other neighbour may still read back. */
    char base[40], cand[40];
    int be, ce;
    int bn = digits_at(fv, lo - 1, base, &be);
    for (int delta = -1; delta <= 1; delta += 2) {
      int cn = neighbour(base, bn, be, delta, cand, &ce);
      if (cn > 0 && try_digits(fv, cand, cn, ce)) {
        memcpy(dig, cand, (size_t)cn + 1);
        n = cn;
        e10 = ce;
        break;
      }
    }
  }
  while (n > 1 && dig[n - 1] == '0') dig[--n] = '\0';
  *decpt = e10 + 1;
  return n;
}

/* Lay out digits the way Python's float_repr does. */
static int layout(char *out, int neg, const char *dig, int n, int decpt, int use_exp,
                  int dot0) {
  char *o = out;
  if (neg) *o++ = '-';
  if (use_exp) {
    *o++ = dig[0];
    if (n > 1) {
      *o++ = '.';
      memcpy(o, dig + 1, (size_t)n - 1);
      o += n - 1;
    }
    int e = decpt - 1;
    *o++ = 'e';
    *o++ = e < 0 ? '-' : '+';
    if (e < 0) e = -e;
    if (e < 10) *o++ = '0';
    o += udigits((uint64_t)e, o);
  } else if (decpt <= 0) {
    *o++ = '0';
    *o++ = '.';
    for (int i = 0; i < -decpt; i++) *o++ = '0';
    memcpy(o, dig, (size_t)n);
    o += n;
  } else if (decpt >= n) {
    memcpy(o, dig, (size_t)n);
    o += n;
    for (int i = n; i < decpt; i++) *o++ = '0';
    if (dot0) {
      *o++ = '.';
      *o++ = '0';
    }
  } else {
    memcpy(o, dig, (size_t)decpt);
    o += decpt;
    *o++ = '.';
    memcpy(o, dig + decpt, (size_t)(n - decpt));
    o += n - decpt;
  }
  *o = '\0';
  return (int)(o - out);
}

/* Python (numpy = 0: exponent by decpt) or numpy (value thresholds) style. */
static int format_float(char *out, FloatVal *fv, long double v, int numpy, int dot0) {
  if (isnan(v)) return sprintf(out, "nan");
  if (isinf(v)) return sprintf(out, v < 0 ? "-inf" : "inf");
  int neg = signbit(v) != 0;
  if (v == 0) {
    char *o = out;
    if (neg) *o++ = '-';
    *o++ = '0';
    if (dot0) {
      *o++ = '.';
      *o++ = '0';
    }
    *o = '\0';
    return (int)(o - out);
  }
  fv->x = fabsl(v);
  char dig[40];
  int decpt;
  int n = shortest(fv, dig, &decpt);
  int use_exp;
  if (numpy) use_exp = !(fv->x < 1.e16L && fv->x >= 1.e-4L);
  else use_exp = decpt <= -4 || decpt > 16;
  return layout(out, neg, dig, n, decpt, use_exp, dot0);
}

/* Python's repr of a double.  Integers below 1e15 and normal values the exact
** routine answers take no long double and no printf: a forest's .txt views are
** millions of these, and `ls -l` sizes them all. */
static int fmt_double(char *out, double v, int dot0) {
  double a = fabs(v);
  int neg = signbit(v) != 0;
  if (a < 1e15 && a == (double)(uint64_t)a) {        /* zero too (a leaf's impurity) */
    char *o = out;
    if (neg) *o++ = '-';
    o += udigits((uint64_t)a, o);
    if (dot0) {
      *o++ = '.';
      *o++ = '0';
    }
    *o = '\0';
    return (int)(o - out);
  }
  FloatVal fv = {.kind = FK_DOUBLE, .d = a};
  char dig[40];
  int decpt, n = fv.d > 0 && fv.d <= DBL_MAX ? shortest_fast(&fv, dig, &decpt) : 0;
  if (n) return layout(out, neg, dig, n, decpt, decpt <= -4 || decpt > 16, dot0);
  return format_float(out, &fv, v, 0, dot0);
}

static int fmt_float32(char *out, float v, int dot0) {
  FloatVal fv = {.kind = FK_FLOAT, .f = fabsf(v)};
  return format_float(out, &fv, v, 1, dot0);
}

int text_double(char *out, double v) { return fmt_double(out, v, 1); }
int text_float32(char *out, float v) { return fmt_float32(out, v, 1); }

double text_half_value(uint16_t bits) { return half_to_double(bits); }

int text_half(char *out, uint16_t bits) {
  FloatVal fv = {.kind = FK_HALF, .h = bits & 0x7fff};
  return format_float(out, &fv, half_to_double(bits), 1, 1);
}

int text_longdouble(char *out, long double v) {
  FloatVal fv = {.kind = FK_LONG, .ld = fabsl(v)};
  return format_float(out, &fv, v, 1, 1);
}

/* One part of a complex: no ".0"; imaginary parts carry their sign. */
static void complex_part(Buf *b, double v, int is32, int sign) {
  char t[TEXT_FLOAT_MAX];
  if (isnan(v)) snprintf(t, sizeof t, "nan");
  else if (isinf(v)) snprintf(t, sizeof t, "%s", v < 0 ? "-inf" : "inf");
  else if (is32) fmt_float32(t, (float)v, 0);
  else fmt_double(t, v, 0);
  if (sign && t[0] != '-') buf_putc(b, '+');
  buf_puts(b, t);
}

static void complex_text(Buf *b, double re, double im, int is32, int always_paren) {
  if (!always_paren && re == 0 && !signbit(re)) {
    complex_part(b, im, is32, 0);
    buf_putc(b, 'j');
    return;
  }
  buf_putc(b, '(');
  complex_part(b, re, is32, 0);
  complex_part(b, im, is32, 1);
  buf_puts(b, "j)");
}

void text_complex(Buf *b, double re, double im, int is32) {
  complex_text(b, re, im, is32, 0);
}

/* ---- integers ------------------------------------------------------------ */

void text_bigint(Buf *b, const uint8_t *le, size_t n) {
  if (n == 0) {
    buf_putc(b, '0');
    return;
  }
  int neg = (le[n - 1] & 0x80) != 0;
  uint8_t *mag = malloc(n);
  if (mag == NULL) {
    b->oom = 1;
    return;
  }
  /* magnitude = two's complement negation when negative */
  unsigned carry = 1;
  for (size_t i = 0; i < n; i++) {
    if (neg) {
      unsigned x = (uint8_t)~le[i] + carry;
      mag[i] = (uint8_t)x;
      carry = x >> 8;
    } else {
      mag[i] = le[i];
    }
  }
  while (n > 1 && mag[n - 1] == 0) n--;
  if (neg) buf_putc(b, '-');
  if (n > MFS_MAX_BIGINT_DECIMAL) {
    buf_puts(b, "0x");
    for (size_t i = n; i-- > 0;) buf_printf(b, "%02x", mag[i]);
    free(mag);
    return;
  }
  size_t nw = (n + 3) / 4;
  uint32_t *w = calloc(nw, sizeof *w);
  char *dec = malloc(nw * 10 + 2);
  if (w == NULL || dec == NULL) {
    free(w);
    free(dec);
    free(mag);
    b->oom = 1;
    return;
  }
  for (size_t i = 0; i < n; i++) w[i / 4] |= (uint32_t)mag[i] << (8 * (i % 4));
  size_t nd = 0, top = nw;
  while (top > 0) {
    uint64_t rem = 0;
    for (size_t i = top; i-- > 0;) {
      uint64_t cur = (rem << 32) | w[i];
      w[i] = (uint32_t)(cur / 1000000000u);
      rem = cur % 1000000000u;
    }
    while (top > 0 && w[top - 1] == 0) top--;
    for (int k = 0; k < 9; k++) {
      dec[nd++] = (char)('0' + rem % 10);
      rem /= 10;
      if (top == 0 && rem == 0) break;
    }
  }
  while (nd > 1 && dec[nd - 1] == '0') nd--;
  for (size_t i = nd; i-- > 0;) buf_putc(b, dec[i]);
  free(w);
  free(dec);
  free(mag);
}

/* ---- array elements -------------------------------------------------------- */

static uint64_t load_uint(const uint8_t *p, size_t n, int big) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  if (!big && n == 8) {
    uint64_t u;
    memcpy(&u, p, 8);
    return u;
  }
  if (!big && n == 4) {
    uint32_t u;
    memcpy(&u, p, 4);
    return u;
  }
#endif
  uint64_t u = 0;
  for (size_t i = 0; i < n; i++) u |= (uint64_t)p[big ? n - 1 - i : i] << (8 * i);
  return u;
}

static void load_swapped(void *dst, const uint8_t *p, size_t n, int big) {
  uint8_t *d = dst;
  for (size_t i = 0; i < n; i++) d[i] = p[big ? n - 1 - i : i];
}

static int64_t load_int(const uint8_t *p, size_t n, int big) {
  uint64_t u = load_uint(p, n, big);
  if (n < 8 && (u >> (8 * n - 1)) & 1) u |= ~(uint64_t)0 << (8 * n);
  return (int64_t)u;
}

/* A float of itemsize n as text; 0 when the size is not one we know. */
static int float_text(char *t, const uint8_t *p, size_t n, int big, int dot0) {
  if (n == 2) {
    uint16_t h = (uint16_t)load_uint(p, 2, big);
    if (!dot0) {
      double v = half_to_double(h);
      if (isnan(v) || isinf(v)) return sprintf(t, "%s", isnan(v) ? "nan" : v < 0 ? "-inf" : "inf");
      FloatVal fv = {.kind = FK_HALF, .h = h & 0x7fff};
      return format_float(t, &fv, v, 1, 0);
    }
    return text_half(t, h);
  }
  if (n == 4) {
    uint32_t u = (uint32_t)load_uint(p, 4, big);
    float f;
    memcpy(&f, &u, 4);
    return fmt_float32(t, f, dot0);
  }
  if (n == 8) {
    uint64_t u = load_uint(p, 8, big);
    double d;
    memcpy(&d, &u, 8);
    return fmt_double(t, d, dot0);
  }
#if LDBL_MANT_DIG == 64
  if ((n == 16 || n == 12) && sizeof(long double) >= n) {
    long double ld = 0;
    load_swapped(&ld, p, 10, big);
    FloatVal fv = {.kind = FK_LONG, .ld = fabsl(ld)};
    return format_float(t, &fv, ld, 1, dot0);
  }
#endif
  return 0;
}

static void element_complex(Buf *b, const uint8_t *p, size_t n, int big, int txt) {
  size_t h = n / 2;
  char re[TEXT_FLOAT_MAX], im[TEXT_FLOAT_MAX];
  if (!float_text(re, p, h, big, 0) || !float_text(im, p + h, h, big, 0)) {
    buf_puts(b, "?");
    return;
  }
  int pure = !txt && strcmp(re, "0") == 0;
  if (pure) {
    buf_puts(b, im);
    buf_putc(b, 'j');
    return;
  }
  buf_putc(b, '(');
  buf_puts(b, re);
  if (im[0] != '-') buf_putc(b, '+');
  buf_puts(b, im);
  buf_puts(b, "j)");
}

static void element_unicode(Buf *b, const uint8_t *p, size_t n, int big) {
  size_t k = n / 4;
  while (k > 0 && load_uint(p + 4 * (k - 1), 4, big) == 0) k--;
  for (size_t i = 0; i < k; i++) {
    uint32_t c = (uint32_t)load_uint(p + 4 * i, 4, big);
    buf_put_utf8(b, c > 0x10ffff ? 0xfffd : c);
  }
}

/* ---- datetime64 / timedelta64 ------------------------------------------------ */

/* Howard Hinnant's civil_from_days. */
static void civil(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = (unsigned)(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t yy = (int64_t)yoe + era * 400;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = yy + (*m <= 2);
}

typedef struct TimeUnit {
  const char *name, *plural;
  int sub_digits;          /* decimal digits below a second (s and finer) */
} TimeUnit;

static const TimeUnit time_units[] = {
  {"Y", "years", -1}, {"M", "months", -1}, {"W", "weeks", -1}, {"D", "days", -1},
  {"h", "hours", -1}, {"m", "minutes", -1}, {"s", "seconds", 0},
  {"ms", "milliseconds", 3}, {"us", "microseconds", 6}, {"ns", "nanoseconds", 9},
  {"ps", "picoseconds", 12}, {"fs", "femtoseconds", 15}, {"as", "attoseconds", 18},
};

static const TimeUnit *unit_parse(const char *u, int64_t *mult) {
  *mult = 1;
  if (u == NULL || *u == '\0' || strcmp(u, "generic") == 0) return NULL;
  char *end;
  long long k = strtoll(u, &end, 10);
  if (end != u) *mult = k > 0 ? k : 1;
  for (size_t i = 0; i < sizeof time_units / sizeof *time_units; i++)
    if (strcmp(end, time_units[i].name) == 0) return &time_units[i];
  return NULL;
}

static int64_t floordiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
  return q;
}

static void datetime_text(Buf *b, int64_t v, const char *unitstr) {
  int64_t mult;
  const TimeUnit *u = unit_parse(unitstr, &mult);
  if (v == INT64_MIN) {
    buf_puts(b, "NaT");
    return;
  }
  if (u == NULL) {
    buf_printf(b, "%lld", (long long)v);
    return;
  }
  v *= mult;
  int64_t y;
  unsigned mo, d;
  if (strcmp(u->name, "Y") == 0) {
    buf_printf(b, "%lld", (long long)(1970 + v));
    return;
  }
  if (strcmp(u->name, "M") == 0) {
    int64_t yy = 1970 + floordiv(v, 12);
    buf_printf(b, "%lld-%02lld", (long long)yy, (long long)(v - floordiv(v, 12) * 12 + 1));
    return;
  }
  int64_t days, rem = 0, per_day = 1;
  int level;   /* 0 days, 1 hours, 2 minutes, 3 seconds+ */
  if (strcmp(u->name, "W") == 0) {
    days = v * 7;
    level = 0;
  } else if (strcmp(u->name, "D") == 0) {
    days = v;
    level = 0;
  } else {
    if (strcmp(u->name, "h") == 0) per_day = 24, level = 1;
    else if (strcmp(u->name, "m") == 0) per_day = 1440, level = 2;
    else {
      per_day = 86400;
      level = 3;
      for (int k = 0; k < u->sub_digits && per_day <= INT64_MAX / 10; k++) per_day *= 10;
    }
    days = floordiv(v, per_day);
    rem = v - days * per_day;
  }
  civil(days, &y, &mo, &d);
  buf_printf(b, "%04lld-%02u-%02u", (long long)y, mo, d);
  if (level == 0) return;
  int64_t sub = 1;
  if (level == 3)
    for (int k = 0; k < u->sub_digits; k++) sub *= 10;
  int64_t secs = level == 1 ? rem * 3600 : level == 2 ? rem * 60 : rem / sub;
  buf_printf(b, "T%02lld", (long long)(secs / 3600));
  if (level >= 2) buf_printf(b, ":%02lld", (long long)(secs / 60 % 60));
  if (level >= 3) buf_printf(b, ":%02lld", (long long)(secs % 60));
  if (level == 3 && u->sub_digits > 0)
    buf_printf(b, ".%0*lld", u->sub_digits, (long long)(rem % sub));
}

static void timedelta_text(Buf *b, int64_t v, const char *unitstr) {
  int64_t mult;
  const TimeUnit *u = unit_parse(unitstr, &mult);
  if (v == INT64_MIN) buf_puts(b, "NaT");
  else if (u == NULL) buf_printf(b, "%lld generic time units", (long long)v);
  else buf_printf(b, "%lld %s", (long long)(v * mult), u->plural);
}

/* ---- elements ------------------------------------------------------------- */

static void element_at(Buf *b, const Dtype *d, const uint8_t *p, int txt, int depth);

/* Integers in decimal without printf: the .txt view of a tree's node table is
** mostly these. */
static void put_uint(Buf *b, uint64_t u) {
  char t[24];
  buf_add(b, t, (size_t)udigits(u, t));
}

static void put_int(Buf *b, int64_t v) {
  char t[24];
  if (v >= 0) return put_uint(b, (uint64_t)v);
  t[0] = '-';
  buf_add(b, t, (size_t)udigits(0 - (uint64_t)v, t + 1) + 1);
}

static void element_record(Buf *b, const Dtype *d, const uint8_t *p, int txt, int depth) {
  if (!txt) buf_putc(b, '(');
  for (size_t i = 0; i < d->nfields; i++) {
    const DtypeField *f = &d->fields[i];
    if (i && txt) buf_putc(b, ' ');
    else if (i) buf_add(b, ", ", 2);
    if (f->dtype == NULL || f->dtype->kind != VAL_DTYPE || f->offset > d->itemsize) {
      buf_putc(b, '?');
      continue;
    }
    element_at(b, f->dtype->u.dtype, p + f->offset, txt, depth + 1);
  }
  if (!txt) buf_putc(b, d->nfields == 1 ? ',' : ')');
  if (!txt && d->nfields == 1) buf_putc(b, ')');
}

static void element_subarray(Buf *b, const Dtype *d, const uint8_t *p, int txt, int depth) {
  const Dtype *base = d->sub_base && d->sub_base->kind == VAL_DTYPE ? d->sub_base->u.dtype : NULL;
  if (base == NULL || base->itemsize == 0) {
    buf_putc(b, '?');
    return;
  }
  uint64_t n = d->itemsize / base->itemsize;
  if (!txt) buf_putc(b, '[');
  for (uint64_t i = 0; i < n; i++) {
    if (i) buf_putc(b, ' ');
    element_at(b, base, p + i * base->itemsize, txt, depth + 1);
  }
  if (!txt) buf_putc(b, ']');
}

static void element_at(Buf *b, const Dtype *d, const uint8_t *p, int txt, int depth) {
  int big = d->byteorder == '>';
  size_t n = (size_t)d->itemsize;
  char t[TEXT_FLOAT_MAX];
  if (depth > 32) {
    buf_putc(b, '?');
    return;
  }
  if (d->sub_base != NULL) return element_subarray(b, d, p, txt, depth);
  if (d->nfields > 0) return element_record(b, d, p, txt, depth);
  switch (d->kind) {
    case 'b':
      buf_puts(b, txt ? (p[0] ? "1" : "0") : (p[0] ? "True" : "False"));
      return;
    case 'i':
      if (n >= 1 && n <= 8) put_int(b, load_int(p, n, big));
      else buf_putc(b, '?');
      return;
    case 'u':
      if (n >= 1 && n <= 8) put_uint(b, load_uint(p, n, big));
      else buf_putc(b, '?');
      return;
    case 'f':
      {
        int len = float_text(t, p, n, big, 1);
        if (len > 0) buf_add(b, t, (size_t)len);
        else buf_putc(b, '?');
      }
      return;
    case 'c':
      element_complex(b, p, n, big, txt);
      return;
    case 'U':
      element_unicode(b, p, n, big);
      return;
    case 'S': {
      size_t k = n;
      while (k > 0 && p[k - 1] == 0) k--;
      if (txt) buf_add(b, p, k);
      else text_repr_bytes(b, p, k);
      return;
    }
    case 'M':
    case 'm':
      if (n != 8) {
        buf_putc(b, '?');
        return;
      }
      if (d->kind == 'M') datetime_text(b, load_int(p, 8, big), d->unit);
      else if (!txt) timedelta_text(b, load_int(p, 8, big), d->unit);
      else if (load_int(p, 8, big) == INT64_MIN) buf_puts(b, "NaT");
      else buf_printf(b, "%lld", (long long)load_int(p, 8, big));   /* loadtxt reads counts */
      return;
    case 'V':
      buf_puts(b, "b'");
      for (size_t i = 0; i < n; i++) buf_printf(b, "\\x%02x", p[i]);
      buf_putc(b, '\'');
      return;
    default:
      buf_putc(b, '?');
  }
}

void text_element(Buf *b, const Dtype *d, const uint8_t *p, int txt) {
  element_at(b, d, p, txt, 0);
}

/* ---- scalars and keys --------------------------------------------------------- */

/* Bytes of a Blob, copied when they live in a source. */
static uint8_t *blob_bytes(const Blob *bl, Err *e, int *owned) {
  *owned = 0;
  if (bl->mem != NULL || bl->len == 0) return (uint8_t *)(bl->mem ? bl->mem : (const uint8_t *)"");
  if (bl->len > MFS_MAX_STRING) {
    err_set(e, MFS_ELIMIT, MFS_NO_OFFSET, "value of %llu bytes is too long to show as text",
            (unsigned long long)bl->len);
    return NULL;
  }
  uint8_t *p = malloc((size_t)bl->len);
  if (p == NULL) {
    err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
    return NULL;
  }
  if (blob_read(bl, 0, p, (size_t)bl->len, e) != MFS_OK) {
    free(p);
    return NULL;
  }
  *owned = 1;
  return p;
}

static int scalar_value_text(Buf *b, const Value *v, Err *e, int depth) {
  const Scalar *s = v->u.scalar;
  if (s->object != NULL) {
    if (depth > 8) return 0;
    Buf tmp;
    buf_init(&tmp);
    int ok = text_scalar(&tmp, s->object, e);
    if (ok) buf_add(b, tmp.p ? tmp.p : "", tmp.len);
    buf_free(&tmp);
    return ok;
  }
  if (s->dtype == NULL || s->dtype->kind != VAL_DTYPE) return 0;
  const Dtype *d = s->dtype->u.dtype;
  if (s->data.len < d->itemsize) {
    err_set(e, MFS_ECORRUPT, MFS_NO_OFFSET, "numpy scalar shorter than its dtype");
    return 1;
  }
  int owned;
  uint8_t *p = blob_bytes(&s->data, e, &owned);
  if (p == NULL) return 1;
  text_element(b, d, p, 0);
  if (owned) free(p);
  return 1;
}

int text_scalar(Buf *b, const Value *v, Err *e) {
  char t[TEXT_FLOAT_MAX];
  switch (v->kind) {
    case VAL_NONE: buf_puts(b, "None"); return 1;
    case VAL_BOOL: buf_puts(b, v->u.b ? "True" : "False"); return 1;
    case VAL_INT: buf_printf(b, "%lld", (long long)v->u.i); return 1;
    case VAL_BIGINT: text_bigint(b, (const uint8_t *)v->u.str.s, v->u.str.len); return 1;
    case VAL_FLOAT: text_double(t, v->u.f); buf_puts(b, t); return 1;
    case VAL_COMPLEX: text_complex(b, v->u.c.re, v->u.c.im, 0); return 1;
    case VAL_STR:
    case VAL_TEXT: buf_add(b, v->u.str.s, v->u.str.len); return 1;
    case VAL_BYTES: {
      if (!(v->flags & VF_PY2STR)) return 0;
      int owned;
      uint8_t *p = blob_bytes(&v->u.bytes, e, &owned);
      if (p != NULL) text_latin1(b, p, (size_t)v->u.bytes.len);
      if (owned) free(p);
      return 1;
    }
    case VAL_GLOBAL:
      buf_puts(b, v->u.global.module);
      buf_putc(b, '.');
      buf_puts(b, v->u.global.name);
      return 1;
    case VAL_DTYPE: {
      char *s = npy_dtype_str(v->u.dtype);
      if (s == NULL) {
        err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "cannot describe dtype");
        return 1;
      }
      buf_puts(b, s);
      free(s);
      return 1;
    }
    case VAL_SCALAR: return scalar_value_text(b, v, e, 0);
    default: return 0;
  }
}

static void key_text(Buf *b, const Value *v, int depth) {
  Err e;
  err_clear(&e);
  if (v == NULL) {
    buf_puts(b, "<missing>");
    return;
  }
  switch (v->kind) {
    case VAL_STR: text_repr_str(b, v->u.str.s, v->u.str.len); return;
    case VAL_BYTES:
    case VAL_BYTEARRAY: {
      int owned;
      uint8_t *p = blob_bytes(&v->u.bytes, &e, &owned);
      if (p == NULL) {
        buf_puts(b, "b'...'");
        return;
      }
      if (v->flags & VF_PY2STR) {
        Buf t;
        buf_init(&t);
        text_latin1(&t, p, (size_t)v->u.bytes.len);
        text_repr_str(b, t.p ? t.p : "", t.len);
        buf_free(&t);
      } else {
        if (v->kind == VAL_BYTEARRAY) buf_puts(b, "bytearray(");
        text_repr_bytes(b, p, (size_t)v->u.bytes.len);
        if (v->kind == VAL_BYTEARRAY) buf_putc(b, ')');
      }
      if (owned) free(p);
      return;
    }
    case VAL_TUPLE:
    case VAL_FROZENSET: {
      const Seq *s = &v->u.seq;
      if (depth > 16) {
        buf_puts(b, "...");
        return;
      }
      int fs = v->kind == VAL_FROZENSET;
      if (fs && s->n == 0) {
        buf_puts(b, "frozenset()");
        return;
      }
      buf_puts(b, fs ? "frozenset({" : "(");
      for (size_t i = 0; i < s->n; i++) {
        if (i) buf_puts(b, ", ");
        key_text(b, s->items[i], depth + 1);
      }
      if (!fs && s->n == 1) buf_putc(b, ',');
      buf_puts(b, fs ? "})" : ")");
      return;
    }
    case VAL_SCALAR: {
      const Scalar *s = v->u.scalar;
      if (s->object == NULL && s->dtype && s->dtype->kind == VAL_DTYPE &&
          s->dtype->u.dtype->kind == 'U') {
        Buf t;
        buf_init(&t);
        text_scalar(&t, v, &e);
        text_repr_str(b, t.p ? t.p : "", t.len);
        buf_free(&t);
        return;
      }
      if (text_scalar(b, v, &e)) return;
      break;
    }
    default:
      if (text_scalar(b, v, &e)) return;
  }
  buf_printf(b, "<%s>", value_kind_name((ValueKind)v->kind));
}

/* String keys are names as they are: str, a Python-2 str (its latin-1 text,
** SPEC 3 "Names") and numpy.str_ (a str subclass) -- never a quoted repr. */
static int is_string_key(const Value *v) {
  if (v->kind == VAL_STR) return 1;
  if (v->kind == VAL_BYTES) return (v->flags & VF_PY2STR) != 0;
  if (v->kind != VAL_SCALAR || v->u.scalar->object != NULL) return 0;
  const Value *d = v->u.scalar->dtype;
  return d != NULL && d->kind == VAL_DTYPE && d->u.dtype->kind == 'U';
}

void text_key(Buf *b, const Value *v) {
  if (v != NULL && v->kind == VAL_SCALAR && v->u.scalar->object != NULL)
    v = v->u.scalar->object;
  if (v != NULL && is_string_key(v)) {
    Err e;
    err_clear(&e);
    text_scalar(b, v, &e);
    return;
  }
  key_text(b, v, 0);
}

/* ---- .txt views of arrays ------------------------------------------------------ */

static void shape_repr(Buf *b, const NdArray *a) {
  buf_putc(b, '(');
  for (int i = 0; i < a->ndim; i++) {
    if (i) buf_puts(b, ", ");
    buf_printf(b, "%llu", (unsigned long long)a->shape[i]);
  }
  if (a->ndim == 1) buf_putc(b, ',');
  buf_putc(b, ')');
}

/* Field names for the '# ...' line of records (top-level names, as dtype.names). */
static void field_names(Buf *b, const Dtype *d) {
  for (size_t i = 0; i < d->nfields; i++) {
    if (i) buf_putc(b, ' ');
    buf_puts(b, d->fields[i].name ? d->fields[i].name : "");
  }
}

/* Byte offset in Fortran-ordered data of the element whose C index is ci. */
static uint64_t fortran_offset(const NdArray *a, uint64_t ci) {
  uint64_t off = 0, stride = 1;
  uint64_t rest = ci;
  /* C index: last axis varies fastest; decompose from the last axis. */
  uint64_t idx[MFS_MAX_NDIM];
  for (int k = a->ndim - 1; k >= 0; k--) {
    uint64_t dim = a->shape[k] ? a->shape[k] : 1;
    idx[k] = rest % dim;
    rest /= dim;
  }
  for (int k = 0; k < a->ndim; k++) {
    off += idx[k] * stride;
    stride *= a->shape[k];
  }
  return off;
}

static int needs_reorder(const NdArray *a) {
  if (!a->fortran) return 0;
  int big = 0;
  for (int i = 0; i < a->ndim; i++)
    if (a->shape[i] > 1) big++;
  return big > 1;
}

MfsStatus text_view_layout(const NdArray *a, TextView *v, Err *e) {
  memset(v, 0, sizeof *v);
  if (a->error != NULL) return err_set(e, MFS_EIO, MFS_NO_OFFSET, "%s", a->error);
  if (a->dtype == NULL || a->dtype->kind != VAL_DTYPE)
    return err_set(e, MFS_ECORRUPT, MFS_NO_OFFSET, "array without a dtype");
  if (a->ndim < 0 || a->ndim > MFS_MAX_NDIM)
    return err_set(e, MFS_ECORRUPT, MFS_NO_OFFSET, "array with %d dimensions", a->ndim);
  const Dtype *d = a->dtype->u.dtype;
  int overflow;
  uint64_t count = ndarray_count(a, &overflow);
  if (overflow || (d->itemsize && count > UINT64_MAX / d->itemsize))
    return err_set(e, MFS_ELIMIT, MFS_NO_OFFSET, "array size overflows");
  uint64_t nbytes = count * d->itemsize;
  if (a->data.len < nbytes)
    return err_set(e, MFS_EIO, MFS_NO_OFFSET, "array data holds %llu of %llu bytes",
                   (unsigned long long)a->data.len, (unsigned long long)nbytes);
  v->a = a;
  v->nbytes = nbytes;
  v->reorder = needs_reorder(a);
  int records = d->nfields > 0 && d->sub_base == NULL;
  int strings = d->kind == 'S' || d->kind == 'U';
  v->cols = 1;
  v->rows = 1;
  if (records || strings || a->ndim <= 1) {
    v->rows = count;
  } else {
    v->cols = a->shape[a->ndim - 1];
    for (int i = 0; i < a->ndim - 1; i++) v->rows *= a->shape[i];
  }
  v->header = records ? 1 : (!strings && a->ndim > 2) ? 2 : 0;
  return MFS_OK;
}

void text_view_header(Buf *b, const TextView *v) {
  if (v->header == 1) {
    buf_puts(b, "# ");
    field_names(b, v->a->dtype->u.dtype);
    buf_putc(b, '\n');
  } else if (v->header == 2) {
    buf_puts(b, "# shape: ");
    shape_repr(b, v->a);
    buf_putc(b, '\n');
  }
}

/* ---- rows of plain numbers, written in place ------------------------------- */

/* One number of an element: a bool, an integer or a float32/64 at off.  An
** element whose every part is one of these (a plain number, or a record of
** them: a tree's node table) is written straight into reserved room, without
** the general walk of element_at; the text is the same byte for byte. */
typedef struct Leaf {
  uint32_t off;
  char kind;
  uint8_t size, big;
} Leaf;

/* Leaves a fast row may have, and the most bytes one leaf's text takes. */
#define FAST_LEAVES 32
#define LEAF_MAX 32

static int leaf_of(const Dtype *d, uint64_t off, Leaf *l) {
  if (d->sub_base != NULL || d->nfields > 0 || off > UINT32_MAX) return 0;
  int ok = ((d->kind == 'i' || d->kind == 'u') && d->itemsize >= 1 && d->itemsize <= 8) ||
           (d->kind == 'b' && d->itemsize == 1) ||
           (d->kind == 'f' && (d->itemsize == 4 || d->itemsize == 8));
  l->off = (uint32_t)off;
  l->kind = (char)d->kind;
  l->size = (uint8_t)d->itemsize;
  l->big = d->byteorder == '>';
  return ok;
}

/* The leaves of d, or 0 when an element of d is not only plain numbers. */
static int leaves_of(const Dtype *d, Leaf *out) {
  if (d->nfields == 0) return leaf_of(d, 0, out);
  if (d->sub_base != NULL || d->nfields > FAST_LEAVES) return 0;
  for (size_t i = 0; i < d->nfields; i++) {
    const DtypeField *f = &d->fields[i];
    if (f->dtype == NULL || f->dtype->kind != VAL_DTYPE) return 0;
    const Dtype *fd = f->dtype->u.dtype;
    if (f->offset > d->itemsize || fd->itemsize > d->itemsize - f->offset ||
        !leaf_of(fd, f->offset, &out[i]))
      return 0;
  }
  return (int)d->nfields;
}

static int leaf_text(char *o, const Leaf *l, const uint8_t *p) {
  switch (l->kind) {
    case 'b':
      *o = p[0] ? '1' : '0';
      return 1;
    case 'u':
      return udigits(load_uint(p, l->size, l->big), o);
    case 'i': {
      int64_t v = load_int(p, l->size, l->big);
      if (v >= 0) return udigits((uint64_t)v, o);
      *o = '-';
      return udigits(0 - (uint64_t)v, o + 1) + 1;
    }
    default:
      return float_text(o, p, l->size, l->big, 1);
  }
}

/* Rows [r0, r1) of data (row_bytes each) in the fast form; 0 when it does not apply. */
static int fast_rows(Buf *b, const TextView *v, const uint8_t *data, uint64_t r0, uint64_t r1) {
  const Dtype *d = v->a->dtype->u.dtype;
  Leaf leaf[FAST_LEAVES];
  int nl = v->reorder ? 0 : leaves_of(d, leaf);
  if (nl == 0 || v->cols > MFS_TEXT_BLOCK) return 0;
  size_t room = (size_t)v->cols * (size_t)nl * (LEAF_MAX + 1) + 1;
  const uint8_t *p = data;
  for (uint64_t r = r0; r < r1; r++) {
    char *start = buf_room(b, room), *o = start;
    if (start == NULL) return 1;           /* b->oom: the caller reports it */
    for (uint64_t c = 0; c < v->cols; c++, p += d->itemsize)
      for (int k = 0; k < nl; k++) {
        if (c || k) *o++ = ' ';
        o += leaf_text(o, &leaf[k], p + leaf[k].off);
      }
    *o++ = '\n';
    buf_grew(b, (size_t)(o - start));
  }
  return 1;
}

MfsStatus text_view_rows(Buf *b, const TextView *v, uint64_t r0, uint64_t r1, Err *e) {
  const NdArray *a = v->a;
  const Dtype *d = a->dtype->u.dtype;
  if (r1 > v->rows) r1 = v->rows;
  if (r0 >= r1) return MFS_OK;
  /* Rows are contiguous in the data unless a Fortran array must be reordered,
  ** which needs all of it. */
  uint64_t row_bytes = v->cols * d->itemsize;
  uint64_t first = v->reorder ? 0 : r0 * row_bytes;
  uint64_t len = v->reorder ? v->nbytes : (r1 - r0) * row_bytes;
  if (len > MFS_MAX_TEXT_VIEW)
    return err_set(e, MFS_ELIMIT, MFS_NO_OFFSET,
                   "%llu bytes of array needed at once for its text view (limit %llu); read the .npy",
                   (unsigned long long)len, (unsigned long long)MFS_MAX_TEXT_VIEW);
  uint8_t *data = malloc(len ? (size_t)len : 1);
  if (data == NULL) return err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
  if (len && blob_read(&a->data, first, data, (size_t)len, e) != MFS_OK) {
    free(data);
    return e->code ? e->code : err_set(e, MFS_EIO, MFS_NO_OFFSET, "array data unreadable");
  }
  uint64_t ci = r0 * v->cols;
  if (fast_rows(b, v, data, r0, r1)) r0 = r1;
  for (uint64_t r = r0; r < r1 && !b->oom; r++) {
    for (uint64_t c = 0; c < v->cols; c++, ci++) {
      if (c) buf_putc(b, ' ');
      uint64_t k = v->reorder ? fortran_offset(a, ci) : ci - r0 * v->cols;
      text_element(b, d, data + k * d->itemsize, 1);
    }
    buf_putc(b, '\n');
  }
  free(data);
  if (b->oom) return err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
  return MFS_OK;
}

MfsStatus text_array_view(Buf *b, const NdArray *a, Err *e) {
  TextView v;
  if (text_view_layout(a, &v, e) != MFS_OK) return e->code;
  text_view_header(b, &v);
  return text_view_rows(b, &v, 0, v.rows, e);
}
