/*
** views.h -- derived text views of well-known types (SPEC 3.2), internal to the
** renderer: matrix.mtx of a sparse matrix, for R, Julia, MATLAB and awk.
**
** A view reads only the canonical graph the decoders made (canon.h), never a
** file format; it is made on first read, like any generated file.
*/
#ifndef MODELFS_VIEWS_H
#define MODELFS_VIEWS_H

#include "modelfs/buf.h"
#include "modelfs/value.h"

/* True when obj is a canonical scipy sparse object whose values Matrix Market can
** carry (integer, unsigned, real, complex): it gets a matrix.mtx. */
int mtx_applies(const Value *obj);
/* The Matrix Market coordinate text scipy.io.mmwrite writes for it: entries in the
** order tocoo() gives them, always "general" symmetry. */
MfsStatus mtx_write(Buf *out, const Value *obj, Err *e);

#endif
