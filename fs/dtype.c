/* dtype.c -- STUB (owner: pickle helper). */
#include "modelfs/dtype.h"
Value *dtype_from_str(ValueSet *vs, const char *typestr, char order) { (void)typestr; (void)order; err_set(vs->err, MFS_EUNSUPPORTED, MFS_NO_OFFSET, "dtype not written yet"); return NULL; }
int dtype_typestr(const Dtype *d, char *buf, size_t cap) { (void)d; (void)buf; (void)cap; return -1; }
int dtype_has_object(const Dtype *d) { return d->kind == 'O'; }
