/*
** steps.h -- Pipeline-like sequences named by step (SPEC 3.2), one rule for every
** walker that names places in a model (the tree, compat.json's paths), so a path
** one of them prints is a path of the tree.
*/
#ifndef MODELFS_STEPS_H
#define MODELFS_STEPS_H

#include "modelfs/value.h"

/* True when seq is a list/tuple of (name, estimator[, columns]) tuples with
** distinct non-empty str names and at least one object among the estimators:
** its entries are named by item[0], not by index. */
int steps_named(const Value *seq);

#endif
