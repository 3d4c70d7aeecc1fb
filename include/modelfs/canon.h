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

/* pandas (pandas.c).  A DataFrame or Series object: PANDAS_FRAME, PANDAS_SERIES, else 0. */
#define PANDAS_FRAME 1
#define PANDAS_SERIES 2
int canon_pandas_kind(const Value *obj);

/* obj (a DataFrame or Series, its pickled state a dict holding the BlockManager
** as "_mgr" or "_data") gets SPEC 3.2's state: a frame "columns" (label -> the
** column's values, one 1-D array or list each, in frame order), "dtypes" (label
** -> the name pandas gives the dtype), "index"; a Series "name", "dtype",
** "index", "values"; non-empty "attrs" kept.  MFS_OK and no change when obj is
** not one, or its manager is a layout this does not know.  Unlike the sparse
** rewrite, reads small arrays the decoder made (placements, category codes). */
MfsStatus canon_pandas(ValueSet *vs, Value *obj);

/* pandas' Index pickles as _new_Index(cls, {"data": ..., "name": ...}) (also
** _new_DatetimeIndex): *out gets an object of class cls whose state is "name",
** "values" (the data as an array or list, extension arrays unwrapped), then the
** other keys (RangeIndex's start, stop, step), else NULL when not one. */
MfsStatus canon_pandas_index(ValueSet *vs, Value *callable, Value *args, Value **out);

#endif
