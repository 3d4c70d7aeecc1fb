/*
** judge.c -- the one place a model's globals become types.txt, untrusted.txt
** and a verdict.  Must never consult anything but names and the trust lists.
*/
#include <stdlib.h>
#include <string.h>
#include "modelfs/judge.h"

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static size_t sort_unique(const char **v, size_t k) {
  if (k > 1) qsort(v, k, sizeof *v, cmp_str);
  size_t u = 0;
  for (size_t i = 0; i < k; i++)
    if (u == 0 || strcmp(v[u - 1], v[i]) != 0) v[u++] = v[i];
  return u;
}

/* Sorted unique dotted names of a VAL_LIST of VAL_GLOBAL; with danger, also
** those that can run code as find_class would resolve them (module, then the
** qualified name walked attribute by attribute: trust.h). */
static MfsStatus names_of(const Value *list, Arena *a, const char ***names, size_t *n,
                          const char ***danger, size_t *ndanger) {
  size_t cap = list && list->kind == VAL_LIST ? list->u.seq.n : 0;
  *names = arena_alloc(a, (cap ? cap : 1) * sizeof **names);
  *n = 0;
  if (*names == NULL) return MFS_ENOMEM;
  if (danger != NULL) {
    *danger = arena_alloc(a, (cap ? cap : 1) * sizeof **danger);
    *ndanger = 0;
    if (*danger == NULL) return MFS_ENOMEM;
  }
  for (size_t i = 0; i < cap; i++) {
    const Value *g = list->u.seq.items[i];
    if (g == NULL || g->kind != VAL_GLOBAL) continue;
    const char *d = global_dotted(a, g);
    if (d == NULL) return MFS_ENOMEM;
    (*names)[(*n)++] = d;
    if (danger != NULL && trust_global_is_dangerous(g->u.global.module, g->u.global.name))
      (*danger)[(*ndanger)++] = d;
  }
  *n = sort_unique(*names, *n);
  if (danger != NULL) *ndanger = sort_unique(*danger, *ndanger);
  return MFS_OK;
}

/* The hazard texts of a VAL_LIST of VAL_STR, in the order met. */
static MfsStatus texts_of(const Value *list, Arena *a, const char ***texts, size_t *n) {
  size_t cap = list && list->kind == VAL_LIST ? list->u.seq.n : 0;
  *texts = arena_alloc(a, (cap ? cap : 1) * sizeof **texts);
  *n = 0;
  if (*texts == NULL) return MFS_ENOMEM;
  for (size_t i = 0; i < cap; i++) {
    const Value *v = list->u.seq.items[i];
    if (v != NULL && v->kind == VAL_STR) (*texts)[(*n)++] = v->u.str.s;
  }
  return MFS_OK;
}

MfsStatus judge_model(const Model *m, const TrustList *t, Arena *a, Judgement *j) {
  memset(j, 0, sizeof *j);
  const char **own = NULL, **gdanger = NULL, **odanger = NULL;
  size_t nown = 0, ngdanger = 0, nodanger = 0;
  if (names_of(m->globals, a, &j->globals, &j->nglobals, &gdanger, &ngdanger) != MFS_OK)
    return MFS_ENOMEM;
  if (m->untrusted != NULL &&
      names_of(m->untrusted, a, &own, &nown, &odanger, &nodanger) != MFS_OK)
    return MFS_ENOMEM;
  if (texts_of(m->hazards, a, &j->hazards, &j->nhazards) != MFS_OK) return MFS_ENOMEM;
  size_t cap = j->nglobals + nown + 1;
  j->untrusted = arena_alloc(a, cap * sizeof *j->untrusted);
  j->dangerous = arena_alloc(a, cap * sizeof *j->dangerous);
  if (j->untrusted == NULL || j->dangerous == NULL) return MFS_ENOMEM;
  for (size_t i = 0; i < j->nglobals; i++)
    if (m->untrusted == NULL && !trust_is_trusted(t, j->globals[i]))
      j->untrusted[j->nuntrusted++] = j->globals[i];
  for (size_t i = 0; i < nown; i++) j->untrusted[j->nuntrusted++] = own[i];
  for (size_t i = 0; i < ngdanger; i++) j->dangerous[j->ndangerous++] = gdanger[i];
  for (size_t i = 0; i < nodanger; i++) j->dangerous[j->ndangerous++] = odanger[i];
  j->nuntrusted = sort_unique(j->untrusted, j->nuntrusted);
  j->ndangerous = sort_unique(j->dangerous, j->ndangerous);
  /* A file not decoded to its end may hide anything after the fault: never
  ** "safe" (ANCHORS anchor 15), unless what was seen is already dangerous. */
  j->verdict = j->ndangerous || j->nhazards ? "dangerous" : !m->ok ? "incomplete"
             : j->nuntrusted ? "untrusted" : "safe";
  return MFS_OK;
}
