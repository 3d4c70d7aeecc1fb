/*
** utf8.h -- the two byte loops that protocol-2 pickles spend their time in.
**
** Under Python 3, protocol 2 writes bytes (so every numpy array's data) as a
** str of Latin-1 code points: UTF-8 with lead byte C2 or C3 before each byte
** >= 0x80.  The pickle VM checks that text (utf8_latin1_run) and the numpy
** recogniser turns it back into bytes (utf8_to_latin1), over every byte of
** every array, so both go 16 bytes a step where the CPU allows.
**
** Must never: read outside p[0..n) or write outside out[0..n); accept what a
** byte-at-a-time decoder would reject.
*/
#ifndef MODELFS_UTF8_H
#define MODELFS_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Past the stretch of p[i..n) that is ASCII or U+0080..U+00FF sequences, taken
** in whole 8- or 16-byte steps.  The position returned is always between two
** sequences; what follows it (the tail, anything else) is for the caller's
** sequence-by-sequence check. */
size_t utf8_latin1_run(const uint8_t *p, size_t i, size_t n);

/* The Latin-1 bytes of the code points of UTF-8 text u[0..n), into out (room
** for n bytes): their count, or -1 when the text has a code point above U+00FF
** or is not UTF-8. */
long utf8_to_latin1(const uint8_t *u, size_t n, uint8_t *out);

/* The steps the two loops can take: 8 bytes in a word (any CPU), 16 (x86-64
** SSE2/SSSE3), 64 (AVX-512 BW and VBMI2).  The calls above take the widest the
** CPU has; tests run each level it has (utf8_level_ok) through the _at forms,
** which must be given only such a level (another is an illegal instruction). */
enum { UTF8_WORD, UTF8_SSE, UTF8_AVX512 };
int utf8_level_ok(int level);
size_t utf8_latin1_run_at(int level, const uint8_t *p, size_t i, size_t n);
long utf8_to_latin1_at(int level, const uint8_t *u, size_t n, uint8_t *out);

/* One code point as UTF-8 into out (room for 4 bytes): its length.  Lone
** surrogates are written as Python's surrogatepass writes them.  Inline: the
** pickle VM calls it per character of protocol-0 text. */
static inline size_t utf8_encode(uint8_t *out, uint32_t cp) {
  if (cp < 0x80) {
    out[0] = (uint8_t)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (uint8_t)(0xc0 | cp >> 6);
    out[1] = (uint8_t)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (uint8_t)(0xe0 | cp >> 12);
    out[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
    out[2] = (uint8_t)(0x80 | (cp & 0x3f));
    return 3;
  }
  out[0] = (uint8_t)(0xf0 | cp >> 18);
  out[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
  out[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
  out[3] = (uint8_t)(0x80 | (cp & 0x3f));
  return 4;
}

/* The code point at s[*i] of s[0..n) (surrogates allowed, as surrogatepass
** reads them; no overlong forms, nothing above U+10FFFF): 1 with *cp and *i past
** it, or 0 with *i past the first byte when the bytes there are not UTF-8 (the
** caller chooses what such a byte shows as). */
int utf8_decode(const uint8_t *s, size_t n, size_t *i, uint32_t *cp);

/* s[0..n) as a JSON string, quotes included, the way Python's
** json.dumps(ensure_ascii=False) writes it (control characters and lone
** surrogates escaped, bytes that are not UTF-8 as U+FFFD), into out, which has
** room for UTF8_JSON_ROOM(n) bytes: the length written. */
#define UTF8_JSON_ROOM(n) (2 + 6 * (n))
size_t utf8_json_quote(char *out, const char *s, size_t n);

#endif
