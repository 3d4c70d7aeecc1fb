/* npy_read.c -- STUB: parsing .npy headers (owner: skops helper). */
#include "modelfs/npy.h"
Value *npy_read(ValueSet *vs, Source *src, Err *e) { (void)vs; (void)src; err_set(e, MFS_EUNSUPPORTED, 0, "npy reading not written yet"); return NULL; }
