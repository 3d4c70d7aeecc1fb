/*
** scipy.c -- scipy sparse matrices in SPEC 3.2's one form, whatever stored them.
**
** A pickle stores a sparse matrix's __dict__ (_shape, maxprint, data, indices...
** in an order that differs per format and per scipy version); skops stores an .npz
** (data, indices, indptr, shape, format).  Both decoders hand their object here
** and get the same state: format, shape, then the index and data arrays in one
** fixed order, and nothing private.  Must never read bytes or guess at a class
** outside scipy.sparse.
*/
#include <string.h>
#include "modelfs/canon.h"

static const char *const formats[] = {"csr", "csc", "coo", "bsr", "dia", "lil", "dok"};

/* The public state keys, in the order every format shows them. */
static const char *const kept[] = {"dtype", "blocksize", "data", "indices", "indptr",
                                   "row", "col", "offsets", "rows"};

const char *canon_sparse_format(const Value *cls) {
  if (cls == NULL || cls->kind != VAL_GLOBAL) return NULL;
  const char *mod = cls->u.global.module, *name = cls->u.global.name;
  if (strncmp(mod, "scipy.sparse", 12) != 0 || (mod[12] != '\0' && mod[12] != '.')) return NULL;
  for (size_t i = 0; i < sizeof formats / sizeof *formats; i++) {
    if (strncmp(name, formats[i], 3) != 0) continue;
    if (strcmp(name + 3, "_matrix") == 0 || strcmp(name + 3, "_array") == 0) return formats[i];
  }
  return NULL;
}

static MfsStatus put(ValueSet *vs, Value *d, const char *key, Value *v) {
  Value *k = value_str(vs, key, strlen(key));
  if (k == NULL) return vs->err->code;
  return dict_put(vs, d, k, v);
}

MfsStatus canon_sparse(ValueSet *vs, Value *obj) {
  if (obj == NULL || obj->kind != VAL_OBJECT) return MFS_OK;
  const char *fmt = canon_sparse_format(obj->u.obj->callable);
  Value *st = obj->u.obj->state;
  if (fmt == NULL || st == NULL || st->kind != VAL_DICT) return MFS_OK;
  Value *shape = dict_get_str(st, "_shape");
  if (shape == NULL) shape = dict_get_str(st, "shape");
  if (shape == NULL) return MFS_OK;   /* not a state this scipy wrote: shown as stored */
  Value *out = value_new(vs, VAL_DICT);
  Value *f = value_str(vs, fmt, strlen(fmt));
  if (out == NULL || f == NULL || put(vs, out, "format", f) != MFS_OK) return vs->err->code;
  if (shape != NULL && put(vs, out, "shape", shape) != MFS_OK) return vs->err->code;
  for (size_t i = 0; i < sizeof kept / sizeof *kept; i++) {
    Value *v = dict_get_str(st, kept[i]);
    if (v != NULL && put(vs, out, kept[i], v) != MFS_OK) return vs->err->code;
  }
  obj->u.obj->state = out;
  return MFS_OK;
}
