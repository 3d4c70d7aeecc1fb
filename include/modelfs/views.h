/*
** views.h -- derived text views of well-known types (SPEC 3.2), internal to the
** renderer: matrix.mtx of a sparse matrix, for R, Julia, MATLAB and awk;
** columns.json and frame.csv of a pandas frame or Series.
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

/* PANDAS_FRAME or PANDAS_SERIES (canon.h) when obj is a canonical pandas frame or
** Series, else 0.  A frame gets columns.json (its labels in order, a JSON array). */
int frame_applies(const Value *obj);
MfsStatus frame_columns_write(Buf *out, const Value *obj, Err *e);
/* True when every column and the index can be printed as pandas prints them
** (numbers, bools, datetime64[ns], str-like objects; a flat index): it gets
** frame.csv, the bytes DataFrame.to_csv() (Series.to_csv()) writes. */
int frame_csv_applies(const Value *obj);
MfsStatus frame_csv_write(Buf *out, const Value *obj, Err *e);

#endif
