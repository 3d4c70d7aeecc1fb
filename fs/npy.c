/* npy.c -- STUB (owner: renderer helper). */
#include <stdlib.h>
#include "modelfs/npy.h"
char *npy_header(const NdArray *a, size_t *len, int *fo, Err *e) { (void)a; (void)len; (void)fo; err_set(e, MFS_EUNSUPPORTED, 0, "stub"); return NULL; }
char *npy_descr(const Dtype *d) { (void)d; return NULL; }
char *npy_dtype_str(const Dtype *d) { (void)d; return NULL; }
