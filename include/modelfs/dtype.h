/*
** dtype.h -- numpy dtypes as values: parsing type strings, describing them.
**
** Shared by every decoder that meets a dtype (pickled numpy.dtype, .npy headers in
** skops members and legacy joblib companions) and by the renderer (.npy descr,
** str(dtype)).  Pure functions over Values; no I/O.
*/
#ifndef MODELFS_DTYPE_H
#define MODELFS_DTYPE_H

#include "modelfs/value.h"

/* A simple dtype from a numpy type string: "f8", "<f8", ">i4", "|b1", "U5", "<U5",
** "S3", "V56", "O", "O8", "M8", "<M8[ns]", "m8[s]".  order overrides the byte order
** when not 0 ('<', '>', '|', '=' meaning little-endian here).  NULL + err on junk. */
Value *dtype_from_str(ValueSet *vs, const char *typestr, char order);

/* numpy's dtype.str for non-structured dtypes ("<f8", "|b1", "<U5", "<M8[ns]"),
** into buf; returns length or -1 when it does not fit. */
int dtype_typestr(const Dtype *d, char *buf, size_t cap);

/* True when elements are Python objects (kind 'O', or a record holding one). */
int dtype_has_object(const Dtype *d);

#endif
