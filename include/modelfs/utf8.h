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

/* The same without SIMD: what other CPUs run, and what tests compare with. */
long utf8_to_latin1_portable(const uint8_t *u, size_t n, uint8_t *out);

#endif
