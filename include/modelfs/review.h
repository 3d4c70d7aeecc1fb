/*
** review.h -- the reviewer's view of a model: summary.txt (one screen for a person)
** and the semantic diff of two models (`modelfs diff`).
**
** Both read only the value graph and the judgement: they know no file format, and
** never execute, import or guess beyond what the graph and the shipped sklearn
** defaults (data/sklearn_defaults.txt) say.  The helpers below are shared by
** summary.c and modeldiff.c.
*/
#ifndef MODELFS_REVIEW_H
#define MODELFS_REVIEW_H

#include <stdint.h>
#include "modelfs/buf.h"
#include "modelfs/judge.h"
#include "modelfs/model.h"

/* The text of summary.txt for a decoded model (ok or not), with its verdict. */
MfsStatus summary_make(const Model *m, const Judgement *j, Buf *out, Err *e);

/* ---- the semantic diff ------------------------------------------------------- */

typedef enum DiffKind {
  DK_FACT,        /* a fact of the file: format, compression, protocol, status */
  DK_CLASS,       /* class of the root or of an object at path */
  DK_VERSION,     /* sklearn version */
  DK_VERDICT,
  DK_TRUST,       /* a global became untrusted/dangerous or stopped being so (a/b say) */
  DK_VALUE,       /* a scalar changed: a -> b */
  DK_ARRAY,       /* an array's data, shape or dtype changed */
  DK_TREE,        /* a fitted tree changed: a -> b is its size; stats for its nodes */
  DK_LENGTH,      /* a list or dict changed its number of entries */
  DK_ADDED,       /* an entry only in B (b describes it) */
  DK_REMOVED,     /* an entry only in A (a describes it) */
  DK_KIND         /* the same name holds a different kind of value */
} DiffKind;

typedef struct DiffItem {
  DiffKind kind;
  char *path;              /* "" for the model itself; "a/b/c" by the tree's names */
  char *what;              /* DK_FACT / DK_TRUST: which fact or list */
  char *a, *b;             /* texts of the old and new value (NULL when none) */
  /* DK_ARRAY and DK_TREE: element counts and changes (same shape and dtype) */
  int compared;            /* the statistics below are set */
  uint64_t count, changed;
  int numeric;             /* max_abs / max_rel are set */
  double max_abs, max_rel; /* max |b-a|, max |b-a|/|a| over changed elements (inf when a=0) */
} DiffItem;

typedef struct ModelDiff {
  DiffItem *items;
  size_t n, cap;
  int oom;
} ModelDiff;

/* Compare two decoded models (with their judgements).  d starts zeroed.  Returns
** MFS_OK (d->n == 0: the same) or an error (out of memory). */
MfsStatus model_diff(const Model *a, const Judgement *ja, const Model *b, const Judgement *jb,
                     ModelDiff *d, Err *e);
void model_diff_free(ModelDiff *d);

/* ---- helpers shared by summary.c and modeldiff.c ------------------------------- */

/* Object scalars stand for their object. */
const Value *rv_unwrap(const Value *v);
/* The state dict of an object (the dict part of a (dict, slots) state), else NULL. */
const Value *rv_state(const Value *obj);
/* A state entry of an object by name, unwrapped; NULL when absent. */
const Value *rv_attr(const Value *obj, const char *key);
/* The text of a str, or of a Python-2 str that is ASCII (Python 3 loads it as that str):
** *n its length, NUL-terminated only for a str.  NULL for anything else. */
const char *rv_str(const Value *v, size_t *n);
/* Appends "/NAME" (no slash at the start) to path: a key as the tree names it (its text,
** % / NUL escaped), or the index when key is NULL. */
void rv_path_push(Buf *path, const Value *key, size_t index);
/* Dotted class of an object ("<dynamic>" when its callable is built); 0 if v is none. */
int rv_class(Buf *b, const Value *v);
/* The last component of a dotted name. */
const char *rv_short(const char *dotted);
/* Python's repr of a scalar or of a tuple/list of scalars; 0 when v is not one. */
int rv_repr(Buf *b, const Value *v);
/* Cut what was written after mark to at most max bytes, ending in an ellipsis,
** never inside a UTF-8 character. */
void rv_cut(Buf *b, size_t mark, size_t max);
/* "(3, 4)" */
void rv_shape(Buf *b, const NdArray *a);
/* "float64 (3, 4)" or "object (3,)". */
void rv_array_brief(Buf *b, const NdArray *a);
/* The short text summary and diff both start from: a scalar's repr (cut at max
** bytes), an array's dtype and shape, "list of N", "dict of N".  0, with nothing
** written, for other values (objects, globals, ...): each view says those its way. */
int rv_brief_plain(Buf *b, const Value *v, size_t max);
/* The elements of a bool/int/uint/float array as doubles, in C order (malloc'd);
** MFS_EUNSUPPORTED for other dtypes. */
MfsStatus rv_doubles(const NdArray *a, double **out, uint64_t *n, Err *e);
/* A bool/int/uint/float32/float64 dtype (what rv_element reads), and one element
** of it at p as a double. */
int rv_numeric_dtype(const Dtype *d);
double rv_element(const Dtype *d, const uint8_t *p);
/* The raw data of a non-object array (malloc'd), nbytes = count * itemsize. */
MfsStatus rv_bytes(const NdArray *a, uint8_t **out, uint64_t *nbytes, Err *e);
/* A list whose items are (name, estimator[, columns]) tuples: Pipeline.steps,
** ColumnTransformer.transformers(_), FeatureUnion.transformer_list, voting estimators. */
/* The numeric field of a structured dtype (its offset in *off), or NULL. */
const Dtype *rv_field(const Dtype *d, const char *name, uint64_t *off);
/* A fitted Tree's depth: its max_depth, else (old scikit-learn did not store it) the
** depth its node array has; -1 when unknown. */
long long rv_tree_depth(const Value *tree);
int rv_is_step_list(const Value *v);
/* The repr of the shipped default of class.param, NULL when unknown ("?" in the file). */
const char *rv_default(const char *cls, const char *param, size_t *len);
/* Is key a constructor parameter of cls: 1 yes, 0 no (a fitted or private
** attribute), -1 when the class is not in the shipped defaults. */
int rv_param(const char *cls, const char *key);
/* Which numpy a file's module names need: "numpy 1.x (numpy.core names)",
** "numpy >= 2 (numpy._core names)", NULL when it names neither (a pickle does not
** record numpy's version). */
const char *rv_numpy_generation(const Model *m);
/* The sklearn version the defaults were taken from. */
const char *rv_defaults_version(size_t *len);
/* 1 when the value differs from the default text, 0 when equal, -1 when unknown. */
int rv_differs(const Value *v, const char *def, size_t deflen);

#endif
