/*
** utf8.c -- Latin-1-range UTF-8: checked and converted many bytes a step.
**
** The bytes of a protocol-2 array fall at random, so about half are >= 0x80 and
** a branch per byte would mispredict on every other one.  Each step classifies
** all its bytes at once (ASCII, lead C2/C3, continuation) and checks that every
** continuation follows a lead and every lead is followed; the conversion then
** drops the leads and adds 0x40 after each C3.  AVX-512 (BW, and VBMI2 for
** the conversion: vpcompressb drops the leads), when the CPU has it, goes 64
** bytes a step; SSE2 (every x86-64) checks 16 bytes a step and SSSE3 converts
** 16; elsewhere, 8 at a time in a 64-bit word.  Every level the CPU has is
** tested against Python (tests/unit/test_utf8.c).
**
** Must never: read outside the input or write outside out[0..n); return a
** position inside a sequence; keep state between calls.
*/
#include <string.h>
#include "modelfs/utf8.h"

#if defined(__x86_64__) && defined(__SSE2__)
#include <immintrin.h>
#define UTF8_X86 1
#define AVX512_CHECK __attribute__((target("avx512f,avx512bw")))
#define AVX512_CONVERT __attribute__((target("avx512f,avx512bw,avx512vbmi2,popcnt")))
#endif

#define BYTES_01 0x0101010101010101ULL
#define BYTES_7F (0x7f * BYTES_01)
#define BYTES_80 (0x80 * BYTES_01)
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define LITTLE_ENDIAN_WORDS 1
#else
#define LITTLE_ENDIAN_WORDS 0
#endif

/* 0x80 in each byte of x that is zero, 0 in the others (exact: no borrows). */
static inline uint64_t zero_bytes(uint64_t x) {
  return ~(((x & BYTES_7F) + BYTES_7F) | x | BYTES_7F);
}

/* The lead bytes (C2/C3) of word w, 0x80 in each, into *lead; 0 unless every
** byte >= 0x80 is a lead or a continuation, each continuation follows a lead
** and each lead is followed (carry 0x80: the byte before w is a lead). */
static inline int leads8(uint64_t w, uint64_t high, uint64_t carry, uint64_t *lead) {
  *lead = zero_bytes((w & (0xfe * BYTES_01)) ^ (0xc2 * BYTES_01));
  uint64_t cont = zero_bytes((w & (0xc0 * BYTES_01)) ^ BYTES_80);
  return high == (*lead | cont) && cont == ((*lead << 8) | carry);
}

#ifdef UTF8_X86
/* The same for 16 bytes, as bit masks (bit i: byte i; carry 1 or 0). */
static inline int leads16(__m128i v, unsigned high, unsigned carry, unsigned *lead) {
  const __m128i fe = _mm_set1_epi8((char)0xfe), c2 = _mm_set1_epi8((char)0xc2);
  const __m128i c0 = _mm_set1_epi8((char)0xc0), x80 = _mm_set1_epi8((char)0x80);
  *lead = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_and_si128(v, fe), c2));
  unsigned cont = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_and_si128(v, c0), x80));
  return high == (*lead | cont) && cont == (((*lead << 1) | carry) & 0xffff);
}

/* The same for 64 bytes; bytes of v past the input are 0 (never a lead). */
AVX512_CHECK static inline int leads64(__m512i v, uint64_t high, uint64_t carry,
                                       uint64_t *lead) {
  const __m512i fe = _mm512_set1_epi8((char)0xfe), c2 = _mm512_set1_epi8((char)0xc2);
  const __m512i c0 = _mm512_set1_epi8((char)0xc0), x80 = _mm512_set1_epi8((char)0x80);
  *lead = _mm512_cmpeq_epi8_mask(_mm512_and_si512(v, fe), c2);
  uint64_t cont = _mm512_cmpeq_epi8_mask(_mm512_and_si512(v, c0), x80);
  return high == (*lead | cont) && cont == ((*lead << 1) | carry);
}
#endif

int utf8_level_ok(int level) {
#ifdef UTF8_X86
  if (level == UTF8_AVX512)
    return __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vbmi2") &&
           __builtin_cpu_supports("popcnt");
  if (level == UTF8_SSE) return __builtin_cpu_supports("ssse3") && __builtin_cpu_supports("popcnt");
#endif
  return level == UTF8_WORD;
}

/* The widest level the CPU has. */
static int best_level(void) {
  return utf8_level_ok(UTF8_AVX512) ? UTF8_AVX512 : utf8_level_ok(UTF8_SSE) ? UTF8_SSE : UTF8_WORD;
}

/* ---- checking ---------------------------------------------------------------- */

#ifdef UTF8_X86
/* 64 bytes a step; a lead at bit 63 is carried into the next step. */
AVX512_CHECK static size_t run64(const uint8_t *p, size_t i, size_t n, unsigned *carry_io) {
  uint64_t carry = *carry_io;
  while (n - i >= 64) {
    __m512i v = _mm512_loadu_si512((const void *)(p + i));
    uint64_t high = _mm512_movepi8_mask(v), lead;
    if ((high | carry) != 0) {
      if (!leads64(v, high, carry, &lead)) break;
      carry = lead >> 63;
    }
    i += 64;
  }
  *carry_io = (unsigned)carry;
  return i;
}

/* 16 bytes a step, likewise. */
static size_t run16(const uint8_t *p, size_t i, size_t n, unsigned *carry_io) {
  unsigned carry = *carry_io;
  while (n - i >= 16) {
    __m128i v = _mm_loadu_si128((const __m128i *)(p + i));
    unsigned high = (unsigned)_mm_movemask_epi8(v), lead;
    if ((high | carry) != 0) {
      if (!leads16(v, high, carry, &lead)) break;
      carry = lead >> 15;
    }
    i += 16;
  }
  *carry_io = carry;
  return i;
}
#endif

/* 8 bytes a step in a word (little-endian: byte i is bits 8i..8i+7); *carry
** in and out: the byte before is a lead. */
static size_t run8(const uint8_t *p, size_t i, size_t n, unsigned *carry_io) {
#if LITTLE_ENDIAN_WORDS
  uint64_t carry = *carry_io ? 0x80 : 0;
  while (n - i >= 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    uint64_t high = w & BYTES_80, lead;
    if ((high | carry) != 0) {
      if (!leads8(w, high, carry, &lead)) break;
      carry = lead >> 56;
    }
    i += 8;
  }
  *carry_io = carry != 0;
#else
  (void)p; (void)n;
#endif
  return i;
}

size_t utf8_latin1_run_at(int level, const uint8_t *p, size_t i, size_t n) {
  unsigned carry = 0;
#ifdef UTF8_X86
  if (level == UTF8_AVX512) i = run64(p, i, n, &carry);
  if (level >= UTF8_SSE) i = run16(p, i, n, &carry);
#endif
  i = run8(p, i, n, &carry);
  return carry ? i - 1 : i;     /* back to the lead: its sequence is checked whole */
}

size_t utf8_latin1_run(const uint8_t *p, size_t i, size_t n) {
  return utf8_latin1_run_at(best_level(), p, i, n);
}

/* ---- converting -------------------------------------------------------------- */

/* One byte at a time from u[i], with lead the C2/C3 whose continuation is
** u[i] (or 0); k bytes are already in out. */
static long to_latin1_bytes(const uint8_t *u, size_t i, size_t n, unsigned lead, uint8_t *out,
                            size_t k) {
  for (; i < n; i++) {
    unsigned c = u[i];
    if (lead) {
      if ((c & 0xc0) != 0x80) return -1;
      out[k++] = (uint8_t)((lead & 0x03) << 6 | (c & 0x3f));
      lead = 0;
    } else if (c < 0x80) {
      out[k++] = (uint8_t)c;
    } else if (c == 0xc2 || c == 0xc3) {
      lead = c;
    } else {
      return -1;
    }
  }
  return lead ? -1 : (long)k;
}

#ifdef UTF8_X86
/* The kept bytes of a 4-byte group, by mask (bit j: byte j kept), as pshufb
** indices packed low byte first; unused lanes 0 (what lands there is
** overwritten by the next store). */
static const uint32_t KEEP4[16] = {
  0x00000000, 0x00000000, 0x00000001, 0x00000100, 0x00000002, 0x00000200, 0x00000201,
  0x00020100, 0x00000003, 0x00000300, 0x00000301, 0x00030100, 0x00000302, 0x00030200,
  0x00030201, 0x03020100,
};

/* pshufb indices that gather the kept bytes of an 8-byte half to its front. */
static inline uint64_t keep8(unsigned m) {
  uint64_t lo = KEEP4[m & 15], hi = KEEP4[m >> 4] + 0x04040404u;
  return lo | hi << (8 * __builtin_popcount(m & 15));
}

/* 16 bytes a step; out[k..k+8) may be written past the bytes kept, never past
** out + i + 16 <= out + n (k <= i always: every kept byte costs one input byte). */
__attribute__((target("ssse3,popcnt"))) static long to_latin1_16(const uint8_t *u, size_t n,
                                                           uint8_t *out) {
  const __m128i c3 = _mm_set1_epi8((char)0xc3), x40 = _mm_set1_epi8(0x40);
  size_t i = 0, k = 0;
  unsigned carry = 0, carry_c3 = 0;
  for (; n - i >= 16; i += 16) {
    __m128i v = _mm_loadu_si128((const __m128i *)(u + i));
    unsigned high = (unsigned)_mm_movemask_epi8(v), lead;
    if ((high | carry) == 0) {
      _mm_storeu_si128((__m128i *)(out + k), v);
      k += 16;
      continue;
    }
    if (!leads16(v, high, carry, &lead)) return -1;
    /* C2 xx is xx, C3 xx is xx + 0x40 */
    __m128i is_c3 = _mm_cmpeq_epi8(v, c3);
    __m128i after_c3 = _mm_or_si128(_mm_slli_si128(is_c3, 1), _mm_cvtsi32_si128(carry_c3 ? 0xff : 0));
    v = _mm_add_epi8(v, _mm_and_si128(after_c3, x40));
    unsigned keep = ~lead & 0xffff;
    __m128i shuffle = _mm_set_epi64x((long long)(keep8(keep >> 8) + 0x0808080808080808ull),
                                     (long long)keep8(keep & 0xff));
    __m128i packed = _mm_shuffle_epi8(v, shuffle);
    _mm_storel_epi64((__m128i *)(out + k), packed);
    k += (size_t)__builtin_popcount(keep & 0xff);
    _mm_storel_epi64((__m128i *)(out + k), _mm_unpackhi_epi64(packed, packed));
    k += (size_t)__builtin_popcount(keep >> 8);
    carry = lead >> 15;
    carry_c3 = carry && u[i + 15] == 0xc3;
  }
  return to_latin1_bytes(u, i, n, carry ? u[i - 1] : 0, out, k);
}

/* 64 bytes a step, the last one short (a masked load: the bytes past n read as
** 0, so a lead at the end has no continuation).  A full step stores 64 bytes at
** out + k <= out + i; the last stores only what it keeps. */
AVX512_CONVERT static long to_latin1_64(const uint8_t *u, size_t n, uint8_t *out) {
  const __m512i c3 = _mm512_set1_epi8((char)0xc3), x40 = _mm512_set1_epi8(0x40);
  size_t i = 0, k = 0;
  uint64_t carry = 0, carry_c3 = 0;
  for (; i < n; i += 64) {
    uint64_t in = n - i >= 64 ? ~0ULL : (1ULL << (n - i)) - 1;
    __m512i v = _mm512_maskz_loadu_epi8(in, u + i);
    uint64_t high = _mm512_movepi8_mask(v), lead = 0;
    if ((high | carry) != 0) {
      if (!leads64(v, high, carry, &lead)) return -1;
      /* C2 xx is xx, C3 xx is xx + 0x40 */
      uint64_t is_c3 = _mm512_cmpeq_epi8_mask(v, c3);
      v = _mm512_mask_add_epi8(v, is_c3 << 1 | carry_c3, v, x40);
      v = _mm512_maskz_compress_epi8(~lead, v);
      carry = lead >> 63;
      carry_c3 = is_c3 >> 63;
    }
    size_t kept = (size_t)__builtin_popcountll(in & ~lead);
    if (in == ~0ULL) _mm512_storeu_si512((void *)(out + k), v);
    else _mm512_mask_storeu_epi8(out + k, (1ULL << kept) - 1, v);
    k += kept;
  }
  return carry ? -1 : (long)k;
}
#endif

/* 8 bytes a step in a word; the leads are dropped one store each. */
static long to_latin1_8(const uint8_t *u, size_t n, uint8_t *out) {
  size_t i = 0, k = 0;
  unsigned lead = 0;
#if LITTLE_ENDIAN_WORDS
  for (; n - i >= 8; i += 8) {
    uint64_t w;
    memcpy(&w, u + i, 8);
    uint64_t high = w & BYTES_80, carry = lead ? 0x80 : 0;
    if ((high | carry) == 0) {
      memcpy(out + k, &w, 8);
      k += 8;
      continue;
    }
    uint64_t leads;
    if (!leads8(w, high, carry, &leads)) return -1;
    uint64_t c3 = zero_bytes(w ^ (0xc3 * BYTES_01));
    w += (c3 << 8) >> 1 | (lead == 0xc3 ? 0x40 : 0);
    /* the run before each lead, 8 bytes a store (out has room: k <= i) */
    int from = 0;
    for (uint64_t m = leads; m != 0; m &= m - 1) {
      int at = __builtin_ctzll(m) >> 3;
      uint64_t run = w >> (8 * from);
      memcpy(out + k, &run, 8);
      k += (size_t)(at - from);
      from = at + 1;
    }
    if (from < 8) {
      uint64_t run = w >> (8 * from);
      memcpy(out + k, &run, 8);
      k += (size_t)(8 - from);
    }
    lead = (leads >> 56) ? u[i + 7] : 0;
  }
#endif
  return to_latin1_bytes(u, i, n, lead, out, k);
}

long utf8_to_latin1_at(int level, const uint8_t *u, size_t n, uint8_t *out) {
#ifdef UTF8_X86
  if (level == UTF8_AVX512) return to_latin1_64(u, n, out);
  if (level == UTF8_SSE && n >= 16) return to_latin1_16(u, n, out);
#else
  (void)level;
#endif
  return to_latin1_8(u, n, out);
}

long utf8_to_latin1(const uint8_t *u, size_t n, uint8_t *out) {
  return utf8_to_latin1_at(best_level(), u, n, out);
}

int utf8_decode(const uint8_t *s, size_t n, size_t *i, uint32_t *cp) {
  uint8_t c = s[*i];
  if (c < 0x80) {
    (*i)++;
    *cp = c;
    return 1;
  }
  int len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
  if (len == 0 || c > 0xf4 || *i + (size_t)len > n) goto bad;
  uint32_t v = c & (0x7f >> len);
  for (int k = 1; k < len; k++) {
    if ((s[*i + k] & 0xc0) != 0x80) goto bad;
    v = v << 6 | (s[*i + k] & 0x3f);
  }
  if ((len == 2 && v < 0x80) || (len == 3 && v < 0x800) || (len == 4 && v < 0x10000) ||
      v > 0x10ffff)
    goto bad;
  *i += (size_t)len;
  *cp = v;
  return 1;
bad:
  (*i)++;
  return 0;
}

/* Python's json.dumps(ensure_ascii=False) for one string (SPEC 4: `grep Zürich`
** finds it): only quotes, backslashes and control characters are escapes.  A
** lone surrogate (a Python str may hold one) stays \udXXX and a byte that is not
** UTF-8 becomes U+FFFD, so the JSON text is always valid UTF-8. */
size_t utf8_json_quote(char *out, const char *str, size_t n) {
  static const char hex[] = "0123456789abcdef";
  const uint8_t *s = (const uint8_t *)str;
  char *o = out;
  *o++ = '"';
  for (size_t i = 0; i < n;) {
    uint8_t c = s[i];
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      *o++ = (char)s[i++];
      continue;
    }
    size_t at = i;
    uint32_t cp;
    int ok = utf8_decode(s, n, &i, &cp);
    if (ok && cp >= 0x80 && (cp < 0xd800 || cp > 0xdfff)) {
      memcpy(o, s + at, i - at);
      o += i - at;
      continue;
    }
    if (!ok) {
      o += utf8_encode((uint8_t *)o, 0xfffd);
      continue;
    }
    const char *esc = cp == '"' ? "\\\"" : cp == '\\' ? "\\\\" : cp == '\n' ? "\\n" :
                      cp == '\r' ? "\\r" : cp == '\t' ? "\\t" : cp == '\b' ? "\\b" :
                      cp == '\f' ? "\\f" : NULL;
    if (esc) {
      memcpy(o, esc, 2);
      o += 2;
      continue;
    }
    o[0] = '\\', o[1] = 'u';
    for (int k = 0; k < 4; k++) o[2 + k] = hex[cp >> (12 - 4 * k) & 0xf];
    o += 6;
  }
  *o++ = '"';
  return (size_t)(o - out);
}
