/*
** judge.h -- what a decoded model references and what we think of it.
**
** One judgement serves types.txt, untrusted.txt, meta.json's verdict and
** `modelfs scan`, so the mount, the CLI and the scanner can never disagree.
** Reads names only; never imports or resolves anything.
*/
#ifndef MODELFS_JUDGE_H
#define MODELFS_JUDGE_H

#include "modelfs/model.h"
#include "modelfs/trust.h"

typedef struct Judgement {
  const char **globals;      /* types.txt: every global, sorted bytewise, unique */
  size_t nglobals;
  const char **untrusted;    /* untrusted.txt: sorted, unique */
  size_t nuntrusted;
  const char **dangerous;    /* globals that can run code: sorted, unique */
  size_t ndangerous;
  const char **hazards;      /* constructs that run code whatever the names (model.h) */
  size_t nhazards;
  const char *verdict;       /* "safe", "untrusted", "dangerous" (SPEC 5), or
                                "incomplete" when the model did not decode fully */
} Judgement;

/* Judge m with trust list t; the lists live in arena a.  A format that judges node
** by node (skops: m->untrusted) supplies its own untrusted list; a dangerous name
** is dangerous whichever list it came from. */
MfsStatus judge_model(const Model *m, const TrustList *t, Arena *a, Judgement *j);

#endif
