/*
** canon.h -- the one canonical form of well-known types (SPEC 3.2), shared by the
** decoders of every format (the pickle recognisers, skops) so that one model
** stored any way gives one graph, hence one tree.
**
** These functions only rewrite Values the decoder already built (a state dict,
** an object's class); they never read the source, never import or call anything,
** and leave a value they do not recognise as it is.
*/
#ifndef MODELFS_CANON_H
#define MODELFS_CANON_H

#include "modelfs/value.h"

/* A scipy.sparse class (csr/csc/coo/bsr/dia/lil/dok, _matrix or _array): its
** format name ("csr"), else NULL. */
const char *canon_sparse_format(const Value *cls);

/* obj (VAL_OBJECT of a sparse class, its state a dict) gets SPEC 3.2's state:
** format, shape (from _shape), then dtype, data, indices, indptr, row, col,
** offsets, rows as present -- nothing private (maxprint, has_canonical_format).
** MFS_OK and no change when obj is not one. */
MfsStatus canon_sparse(ValueSet *vs, Value *obj);

#endif
