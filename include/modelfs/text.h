/*
** text.h -- Python-exact texts of values (internal to the renderer).
**
** str() and repr() of Python and numpy scalars as CPython 3.11 / numpy 1.24
** print them (shortest round-trip floats, complex, big ints, quoted strings),
** the str() of numpy dtypes' elements, and the .txt views of arrays (SPEC 3.1).
** Pure formatting: nothing here reads a file except through a Blob.
*/
#ifndef MODELFS_TEXT_H
#define MODELFS_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include "modelfs/buf.h"
#include "modelfs/value.h"

/* Longest text a single float needs, NUL included. */
#define TEXT_FLOAT_MAX 64

/* Python repr(float): '0.1', '1e-05', '1e+16', '1.0', 'inf', 'nan', '-0.0'. */
int text_double(char *out, double v);
/* numpy str() of float32 / float16 (bits) / longdouble scalars. */
int text_float32(char *out, float v);
int text_half(char *out, uint16_t bits);
double text_half_value(uint16_t bits);   /* the float16 bits as a double */
int text_longdouble(char *out, long double v);
/* Python repr(complex): '(1+2j)', '1j', '(-0+1j)'; is32: parts are float32. */
void text_complex(Buf *b, double re, double im, int is32);
/* Decimal of a little-endian two's complement integer of any length. */
void text_bigint(Buf *b, const uint8_t *le, size_t n);
/* str(value) of a scalar-like value (None, bool, int, float, complex, str, Py2 str,
** text, numpy scalar, global, dtype), without the newline.  Returns 0 when v is
** not one of those kinds. */
int text_scalar(Buf *b, const Value *v, Err *e);
/* The name a non-string dict key gets: ints in decimal, else Python's repr. */
void text_key(Buf *b, const Value *v);

/* One element of an array of dtype d at p (itemsize bytes), as a numpy scalar's
** str() (txt = 0) or as the .txt view writes it (txt = 1: bools 1/0, complex
** always parenthesised, strings raw). */
void text_element(Buf *b, const Dtype *d, const uint8_t *p, int txt);

/* The whole N.txt view of a non-object array (SPEC 3.1). */
MfsStatus text_array_view(Buf *b, const NdArray *a, Err *e);

/* The same view in pieces, so a big array's text can be served by offset with
** bounded memory: a header (0-2 lines, text_view_header) and then `rows` lines,
** each made from `cols` elements; text_view_rows writes lines [r0, r1) reading
** only their bytes of the array (all of it for a Fortran-order array that must
** be reordered).  header + rows(0, rows) is exactly text_array_view. */
typedef struct TextView {
  const NdArray *a;
  uint64_t rows, cols;
  uint64_t nbytes;          /* array data bytes */
  int reorder;              /* Fortran order, more than one axis longer than 1 */
  int header;               /* 0 none, 1 "# fields", 2 "# shape: ..." */
} TextView;

MfsStatus text_view_layout(const NdArray *a, TextView *v, Err *e);
void text_view_header(Buf *b, const TextView *v);
MfsStatus text_view_rows(Buf *b, const TextView *v, uint64_t r0, uint64_t r1, Err *e);

#endif
