/*
** steps.c -- Pipeline-like sequences reachable by name (SPEC 3.2).
**
** A list or tuple of (name, estimator[, columns]) tuples -- Pipeline.steps,
** ColumnTransformer.transformers(_), FeatureUnion.transformer_list, the estimators
** of voting and stacking ensembles -- is laid out by step name instead of by
** index, so `steps/clf/1/coef_.npy` stays where it is when a step is inserted
** before it and `diff -r` of two versions shows only what changed.  Recognised by
** shape alone (whatever class holds it), never by executing or importing.  In the
** graph layer because the renderer and compat.json's paths must agree.
*/
#include <string.h>
#include "modelfs/limits.h"
#include "modelfs/steps.h"

/* The bytes of a step name: a str, or a Python-2 str held in memory. */
static int name_bytes(const Value *v, const char **p, size_t *n) {
  if (v == NULL) return 0;
  if (v->kind == VAL_STR) {
    *p = v->u.str.s;
    *n = v->u.str.len;
  } else if (v->kind == VAL_BYTES && (v->flags & VF_PY2STR) && v->u.bytes.mem != NULL) {
    *p = (const char *)v->u.bytes.mem;
    *n = (size_t)v->u.bytes.len;
  } else {
    return 0;
  }
  return *n > 0;
}

static int is_step(const Value *v) {
  return v != NULL && v->kind == VAL_TUPLE && (v->u.seq.n == 2 || v->u.seq.n == 3);
}

int steps_named(const Value *seq) {
  if (seq == NULL || (seq->kind != VAL_LIST && seq->kind != VAL_TUPLE) || seq->u.seq.n == 0 ||
      seq->u.seq.n > MFS_MAX_NAMED_STEPS)
    return 0;
  size_t objects = 0;
  for (size_t i = 0; i < seq->u.seq.n; i++) {
    const Value *s = seq->u.seq.items[i];
    const char *p;
    size_t n;
    if (!is_step(s) || !name_bytes(s->u.seq.items[0], &p, &n)) return 0;
    const Value *est = s->u.seq.items[1];
    if (est != NULL && est->kind == VAL_OBJECT) objects++;
    for (size_t j = 0; j < i; j++) {   /* names must tell the steps apart */
      const char *q = NULL;
      size_t m = 0;
      if (name_bytes(seq->u.seq.items[j]->u.seq.items[0], &q, &m) && m == n && memcmp(p, q, n) == 0)
        return 0;
    }
  }
  return objects > 0;
}
