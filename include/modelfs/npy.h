/*
** npy.h -- the .npy format as the renderer writes it: the headers numpy.save
** would write and numpy's texts of dtypes.  Reading .npy is npy_read.h's.
*/
#ifndef MODELFS_NPY_H
#define MODELFS_NPY_H

#include "modelfs/value.h"

/* The exact header numpy.save (>= 1.24) writes for this array, version 1.0 unless
** it needs 2.0/3.0.  Returns a malloc'd buffer and its length in *len, NULL on error.
** *fortran_order gets the header's fortran_order (data must be written that way). */
char *npy_header(const NdArray *a, size_t *len, int *fortran_order, Err *e);

/* numpy's dtype.descr text as it appears in a .npy header: '<f8' or
** [('a', '<f8'), ('', '|V7')].  malloc'd. */
char *npy_descr(const Dtype *d);

/* Python's str(dtype): "float64", "<U5", "[('a', '<f8')]", "{'names': ...}".  malloc'd. */
char *npy_dtype_str(const Dtype *d);

#endif
