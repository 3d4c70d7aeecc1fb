/*
** modeldiff.c -- what changed between two models, semantically (`modelfs diff`).
**
** Walks both value graphs side by side: objects by class and state key, dicts by
** key, pipeline-like step lists by step name (an inserted step does not shift the
** others), other lists by index.  Scalars give `a -> b`; arrays their shape/dtype
** change or how many elements changed and by how much; a fitted sklearn Tree is
** one item (its size, how many nodes changed); a flat container (a vocabulary) is
** one item with counts.  Container facts (format, verdict, untrusted globals) are
** stated once.  It knows no file format and never resolves or runs anything.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "modelfs/json.h"
#include "modelfs/limits.h"
#include "modelfs/review.h"
#include "modelfs/steps.h"
#include "modelfs/text.h"
#include "modelfs/u64map.h"

typedef struct DCtx {
  ModelDiff *d;
  U64Map seen;             /* pairs of value ids already compared */
  Err *e;
} DCtx;

/* ---- items -------------------------------------------------------------------------- */

static char *dup_buf(ModelDiff *d, const Buf *b) {
  if (b == NULL) return NULL;
  char *s = strndup(b->p ? b->p : "", b->len);
  if (s == NULL || b->oom) d->oom = 1;
  return s;
}

static DiffItem *add_item(DCtx *c, DiffKind k, const Buf *path, const char *what, const Buf *a,
                          const Buf *b) {
  ModelDiff *d = c->d;
  if (d->oom) return NULL;
  if (d->n == d->cap) {
    size_t cap = d->cap ? d->cap * 2 : 32;
    DiffItem *it = realloc(d->items, cap * sizeof *it);
    if (it == NULL) {
      d->oom = 1;
      return NULL;
    }
    d->items = it;
    d->cap = cap;
  }
  DiffItem *it = &d->items[d->n++];
  memset(it, 0, sizeof *it);
  it->kind = k;
  it->path = strndup(path && path->p ? path->p : "", path ? path->len : 0);
  it->what = what ? strdup(what) : NULL;
  it->a = dup_buf(d, a);
  it->b = dup_buf(d, b);
  if (it->path == NULL || (what && it->what == NULL)) d->oom = 1;
  return it;
}

void model_diff_free(ModelDiff *d) {
  for (size_t i = 0; i < d->n; i++) {
    free(d->items[i].path);
    free(d->items[i].what);
    free(d->items[i].a);
    free(d->items[i].b);
  }
  free(d->items);
  memset(d, 0, sizeof *d);
}

/* ---- describing one value ----------------------------------------------------------- */

static int is_flat(const Value *v) {
  return v && (v->kind == VAL_LIST || v->kind == VAL_TUPLE || v->kind == VAL_SET ||
               v->kind == VAL_FROZENSET || v->kind == VAL_DICT) && json_is_flat_container(v);
}

/* An int attribute (a Python int or a numpy integer scalar), -1 when none. */
static long long int_attr(const Value *obj, const char *key) {
  const Value *v = rv_attr(obj, key);
  if (v && v->kind == VAL_INT) return (long long)v->u.i;
  Buf b;
  buf_init(&b);
  long long r = -1;
  if (v && v->kind == VAL_SCALAR && text_scalar(&b, v, NULL) && b.p) {
    char *end;
    r = strtoll(b.p, &end, 10);
    if (*end) r = -1;
  }
  buf_free(&b);
  return r;
}

static int is_tree(const Value *v) {
  Buf b;
  buf_init(&b);
  int r = rv_class(&b, v) && b.p && strcmp(b.p, "sklearn.tree._tree.Tree") == 0;
  buf_free(&b);
  return r;
}

static void describe(Buf *b, const Value *v) {
  v = rv_unwrap(v);
  if (v == NULL) {
    buf_puts(b, "(missing)");
    return;
  }
  if (rv_brief_plain(b, v, MFS_DIFF_TEXT)) return;
  switch (v->kind) {
    case VAL_OBJECT: {
      Buf cls;
      buf_init(&cls);
      rv_class(&cls, v);
      buf_puts(b, rv_short(cls.p ? cls.p : ""));
      buf_free(&cls);
      const Value *t = rv_attr(v, "tree_");
      if (is_tree(t))
        buf_printf(b, " (tree of %lld nodes, depth %lld)", int_attr(t, "node_count"),
                   rv_tree_depth(t));
      return;
    }
    default:
      if (!text_scalar(b, v, NULL)) buf_puts(b, value_kind_name(v->kind));
  }
}

/* ---- the walk ---------------------------------------------------------------------- */

static void diff_value(DCtx *c, Buf *path, const Value *a, const Value *b, int depth);

static void path_push(Buf *path, const Value *key, size_t index, size_t *mark) {
  *mark = path->len;
  rv_path_push(path, key, index);
}

static void path_pop(Buf *path, size_t mark) {
  path->len = mark;
  if (path->p) path->p[mark] = '\0';
}

static void one_side(DCtx *c, Buf *path, DiffKind k, const Value *v) {
  Buf t;
  buf_init(&t);
  describe(&t, v);
  add_item(c, k, path, NULL, k == DK_REMOVED ? &t : NULL, k == DK_ADDED ? &t : NULL);
  buf_free(&t);
}

static void child(DCtx *c, Buf *path, const Value *key, size_t index, const Value *a,
                  const Value *b, int depth) {
  size_t mark;
  path_push(path, key, index, &mark);
  if (a == NULL) one_side(c, path, DK_ADDED, b);
  else if (b == NULL) one_side(c, path, DK_REMOVED, a);
  else diff_value(c, path, a, b, depth + 1);
  path_pop(path, mark);
}

/* Key texts, for matching dict entries. */
static char *key_text(const Value *k) {
  Buf b;
  buf_init(&b);
  k = rv_unwrap(k);
  if (k && k->kind == VAL_STR) buf_add(&b, k->u.str.s, k->u.str.len);
  else if (k && k->kind == VAL_BYTES && (k->flags & VF_PY2STR)) text_scalar(&b, k, NULL);
  else if (k) text_key(&b, k);
  buf_putc(&b, '\0');
  return b.oom ? (buf_free(&b), NULL) : b.p;
}

/* A string -> index table (open addressing), for matching keys in linear time. */
typedef struct KeyIdx {
  char **keys;
  size_t *idx;
  size_t cap;
} KeyIdx;

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

static int keyidx_build(KeyIdx *t, char **keys, size_t n) {
  t->cap = 16;
  while (t->cap < n * 2) t->cap *= 2;
  t->keys = calloc(t->cap, sizeof *t->keys);
  t->idx = calloc(t->cap, sizeof *t->idx);
  if (t->keys == NULL || t->idx == NULL) return 0;
  for (size_t i = 0; i < n; i++) {
    if (keys[i] == NULL) continue;
    size_t j = hash_str(keys[i]) & (t->cap - 1);
    while (t->keys[j] && strcmp(t->keys[j], keys[i]) != 0) j = (j + 1) & (t->cap - 1);
    if (t->keys[j] == NULL) t->keys[j] = keys[i], t->idx[j] = i;   /* first wins */
  }
  return 1;
}

static long keyidx_find(const KeyIdx *t, const char *k) {
  if (k == NULL) return -1;
  for (size_t j = hash_str(k) & (t->cap - 1); t->keys[j]; j = (j + 1) & (t->cap - 1))
    if (strcmp(t->keys[j], k) == 0) return (long)t->idx[j];
  return -1;
}

static void keyidx_free(KeyIdx *t) {
  free(t->keys);
  free(t->idx);
}

static char **key_texts(const Value *const *keys, size_t n, int *ok) {
  char **k = calloc(n ? n : 1, sizeof *k);
  if (k == NULL) *ok = 0;
  for (size_t i = 0; k && i < n; i++)
    if ((k[i] = key_text(keys[i])) == NULL) *ok = 0;
  return k;
}

static void free_texts(char **k, size_t n) {
  for (size_t i = 0; k && i < n; i++) free(k[i]);
  free(k);
}

static int same_scalar(const Value *a, const Value *b) {
  Buf x, y;
  buf_init(&x);
  buf_init(&y);
  describe(&x, a);
  describe(&y, b);
  int r = x.len == y.len && (x.len == 0 || memcmp(x.p, y.p, x.len) == 0);
  buf_free(&x);
  buf_free(&y);
  return r;
}

/* A flat container (scalars only) as one item: entries added, removed, changed,
** with the first few names. */
static void flat_fold(DCtx *c, Buf *path, const Value *va, const Value *vb, size_t added,
                      size_t removed, size_t changed, const Buf *examples) {
  if (added == 0 && removed == 0 && changed == 0) return;
  size_t na = va->kind == VAL_DICT ? va->u.dict.n : va->u.seq.n;
  size_t nb = vb->kind == VAL_DICT ? vb->u.dict.n : vb->u.seq.n;
  Buf a, b;
  buf_init(&a);
  buf_init(&b);
  if (rv_repr(&a, va) && rv_repr(&b, vb) && a.len <= MFS_DIFF_TEXT && b.len <= MFS_DIFF_TEXT) {
    add_item(c, DK_VALUE, path, NULL, &a, &b);   /* short enough to show whole */
    buf_free(&a);
    buf_free(&b);
    return;
  }
  a.len = b.len = 0;
  buf_printf(&a, "%zu entries", na);
  buf_printf(&b, "%zu entries", nb);
  if (added) buf_printf(&b, ", %zu added", added);
  if (removed) buf_printf(&b, ", %zu removed", removed);
  if (changed) buf_printf(&b, ", %zu changed", changed);
  if (examples->len) buf_printf(&b, " (%.*s)", (int)examples->len, examples->p);
  add_item(c, DK_LENGTH, path, NULL, &a, &b);
  buf_free(&a);
  buf_free(&b);
}

static void example(Buf *ex, size_t *shown, char sign, const char *k) {
  if (*shown >= MFS_DIFF_EXAMPLES) return;
  if (*shown == MFS_DIFF_EXAMPLES - 1) {
    buf_puts(ex, ", \xe2\x80\xa6");
    (*shown)++;
    return;
  }
  buf_printf(ex, "%s%c%s", *shown ? ", " : "", sign, k);
  (*shown)++;
}

static void diff_dicts(DCtx *c, Buf *path, const Value *a, const Value *b, int depth, int object) {
  size_t na = a ? a->u.dict.n : 0, nb = b ? b->u.dict.n : 0;
  int ok = 1;
  char **ka = key_texts(a ? (const Value *const *)a->u.dict.keys : NULL, na, &ok);
  char **kb = key_texts(b ? (const Value *const *)b->u.dict.keys : NULL, nb, &ok);
  KeyIdx ib = {0}, ia = {0};
  if (!ok || !keyidx_build(&ib, kb, nb) || !keyidx_build(&ia, ka, na)) {
    c->d->oom = 1;
  } else if (!object && is_flat(a) && is_flat(b)) {
    size_t added = 0, removed = 0, changed = 0, shown = 0;
    Buf ex;
    buf_init(&ex);
    for (size_t i = 0; i < na; i++) {
      long j = keyidx_find(&ib, ka[i]);
      if (j < 0) removed++, example(&ex, &shown, '-', ka[i]);
      else if (!same_scalar(a->u.dict.vals[i], b->u.dict.vals[j])) changed++, example(&ex, &shown, '~', ka[i]);
    }
    for (size_t j = 0; j < nb; j++)
      if (keyidx_find(&ia, kb[j]) < 0) added++, example(&ex, &shown, '+', kb[j]);
    flat_fold(c, path, a, b, added, removed, changed, &ex);
    buf_free(&ex);
  } else {
    for (size_t i = 0; i < na; i++) {
      if (object && ka[i] && strcmp(ka[i], "_sklearn_version") == 0) continue;  /* stated once */
      long j = keyidx_find(&ib, ka[i]);
      child(c, path, a->u.dict.keys[i], i, a->u.dict.vals[i], j < 0 ? NULL : b->u.dict.vals[j], depth);
    }
    for (size_t j = 0; j < nb; j++) {
      if (object && kb[j] && strcmp(kb[j], "_sklearn_version") == 0) continue;
      if (keyidx_find(&ia, kb[j]) < 0) child(c, path, b->u.dict.keys[j], j, NULL, b->u.dict.vals[j], depth);
    }
  }
  keyidx_free(&ia);
  keyidx_free(&ib);
  free_texts(ka, na);
  free_texts(kb, nb);
}

/* The name of step i of a step list (str or Python-2 str), malloc'd. */
static char *step_name(const Value *list, size_t i) {
  return key_text(rv_unwrap(list->u.seq.items[i])->u.seq.items[0]);
}

static long find_step(const Value *list, const char *name) {
  for (size_t i = 0; name && i < list->u.seq.n; i++) {
    char *n = step_name(list, i);
    int same = n && strcmp(n, name) == 0;
    free(n);
    if (same) return (long)i;
  }
  return -1;
}

static void push_name(Buf *path, const char *name, size_t *mark) {
  Value key = {.kind = VAL_STR};
  key.u.str.s = name ? name : "";
  key.u.str.len = name ? strlen(name) : 0;
  path_push(path, &key, 0, mark);
}

/* Step lists by step name, as the tree lays them out (steps.h: steps/clf/1/...):
** an inserted step is one added entry, the others compare with their namesakes. */
static void diff_steps(DCtx *c, Buf *path, const Value *a, const Value *b, int depth) {
  for (size_t i = 0; i < a->u.seq.n; i++) {
    const Value *ta = rv_unwrap(a->u.seq.items[i]);
    char *name = step_name(a, i);
    long j = find_step(b, name);
    size_t mark;
    push_name(path, name, &mark);
    if (j < 0) {
      one_side(c, path, DK_REMOVED, ta->u.seq.items[1]);
    } else {
      const Value *tb = rv_unwrap(b->u.seq.items[j]);
      size_t n = ta->u.seq.n > tb->u.seq.n ? ta->u.seq.n : tb->u.seq.n;
      for (size_t k = 1; k < n; k++)
        child(c, path, NULL, k, k < ta->u.seq.n ? ta->u.seq.items[k] : NULL,
              k < tb->u.seq.n ? tb->u.seq.items[k] : NULL, depth);
    }
    path_pop(path, mark);
    free(name);
  }
  for (size_t j = 0; j < b->u.seq.n; j++) {
    char *name = step_name(b, j);
    if (find_step(a, name) < 0) {
      size_t mark;
      push_name(path, name, &mark);
      one_side(c, path, DK_ADDED, rv_unwrap(b->u.seq.items[j])->u.seq.items[1]);
      path_pop(path, mark);
    }
    free(name);
  }
}

static void diff_seqs(DCtx *c, Buf *path, const Value *a, const Value *b, int depth) {
  if (steps_named(a) && steps_named(b)) {
    diff_steps(c, path, a, b, depth);
    return;
  }
  size_t na = a->u.seq.n, nb = b->u.seq.n, n = na < nb ? na : nb;
  if (is_flat(a) && is_flat(b)) {
    size_t changed = 0, shown = 0;
    Buf ex;
    buf_init(&ex);
    for (size_t i = 0; i < n; i++)
      if (!same_scalar(a->u.seq.items[i], b->u.seq.items[i])) {
        char num[32];
        snprintf(num, sizeof num, "%zu", i);
        changed++, example(&ex, &shown, '~', num);
      }
    if (na == nb && changed == 1 && na == 1) {
      buf_free(&ex);
      child(c, path, NULL, 0, a->u.seq.items[0], b->u.seq.items[0], depth);
      return;
    }
    flat_fold(c, path, a, b, nb > na ? nb - na : 0, na > nb ? na - nb : 0, changed, &ex);
    buf_free(&ex);
    return;
  }
  if (na != nb) {
    Buf x, y;
    buf_init(&x);
    buf_init(&y);
    buf_printf(&x, "%zu entries", na);
    buf_printf(&y, "%zu entries", nb);
    add_item(c, DK_LENGTH, path, NULL, &x, &y);
    buf_free(&x);
    buf_free(&y);
  }
  for (size_t i = 0; i < (na > nb ? na : nb); i++)
    child(c, path, NULL, i, i < na ? a->u.seq.items[i] : NULL, i < nb ? b->u.seq.items[i] : NULL, depth);
}

/* Count elements that differ; numeric arrays also give the largest changes. */
static void compare_data(DCtx *c, const NdArray *a, const NdArray *b, DiffItem *it, Err *e) {
  double *x = NULL, *y = NULL;
  uint64_t nx = 0, ny = 0;
  if (rv_doubles(a, &x, &nx, e) == MFS_OK && rv_doubles(b, &y, &ny, e) == MFS_OK && nx == ny) {
    it->compared = it->numeric = 1;
    it->count = nx;
    for (uint64_t i = 0; i < nx; i++) {
      if (x[i] == y[i] || (isnan(x[i]) && isnan(y[i]))) continue;
      it->changed++;
      double d = fabs(y[i] - x[i]);
      double r = x[i] != 0 ? d / fabs(x[i]) : INFINITY;
      if (isnan(d)) d = r = INFINITY;
      if (d > it->max_abs) it->max_abs = d;
      if (r > it->max_rel) it->max_rel = r;
    }
  } else if (e->code == MFS_EUNSUPPORTED) {
    err_clear(e);
    uint8_t *p = NULL, *q = NULL;
    uint64_t np = 0, nq = 0;
    const Value *dv = a->dtype;
    uint64_t item = dv && dv->kind == VAL_DTYPE ? dv->u.dtype->itemsize : 0;
    if (item && rv_bytes(a, &p, &np, e) == MFS_OK && rv_bytes(b, &q, &nq, e) == MFS_OK && np == nq) {
      it->compared = 1;
      it->count = np / item;
      for (uint64_t i = 0; i < it->count; i++)
        if (memcmp(p + i * item, q + i * item, (size_t)item) != 0) it->changed++;
    }
    free(p);
    free(q);
  }
  free(x);
  free(y);
  (void)c;
}

/* Arrays whose elements cannot be compared one by one (void, odd dtypes): the
** same data bytes, or one side unreadable like the other, is no change. */
static int same_blobs(const NdArray *a, const NdArray *b) {
  if (a->error || b->error) return a->error && b->error && strcmp(a->error, b->error) == 0;
  if (a->data.len != b->data.len) return 0;
  if (a->data.len > MFS_REVIEW_MAX_ARRAY) return 0;
  uint8_t *p = malloc(a->data.len ? (size_t)a->data.len : 1);
  uint8_t *q = malloc(b->data.len ? (size_t)b->data.len : 1);
  Err e;
  err_clear(&e);
  int same = p && q && (a->data.len == 0 ||
                        (blob_read(&a->data, 0, p, (size_t)a->data.len, &e) == MFS_OK &&
                         blob_read(&b->data, 0, q, (size_t)b->data.len, &e) == MFS_OK &&
                         memcmp(p, q, (size_t)a->data.len) == 0));
  free(p);
  free(q);
  return same;
}

static void diff_arrays(DCtx *c, Buf *path, const NdArray *a, const NdArray *b) {
  Buf x, y;
  buf_init(&x);
  buf_init(&y);
  rv_array_brief(&x, a);
  rv_array_brief(&y, b);
  int same_shape = x.len == y.len && memcmp(x.p, y.p, x.len) == 0;
  if (!same_shape) {
    add_item(c, DK_ARRAY, path, NULL, &x, &y);
  } else {
    DiffItem probe;
    memset(&probe, 0, sizeof probe);
    Err e;
    err_clear(&e);
    compare_data(c, a, b, &probe, &e);
    if (!probe.compared && same_blobs(a, b)) probe.compared = 1;   /* same bytes, whatever they mean */
    if (!probe.compared || probe.changed) {
      DiffItem *it = add_item(c, DK_ARRAY, path, probe.compared ? NULL : (e.msg[0] ? e.msg : "not compared"),
                              &x, &y);
      if (it) {
        it->compared = probe.compared;
        it->count = probe.count;
        it->changed = probe.changed;
        it->numeric = probe.numeric;
        it->max_abs = probe.max_abs;
        it->max_rel = probe.max_rel;
      }
    }
  }
  buf_free(&x);
  buf_free(&y);
}

/* A fitted sklearn Tree as one item: its size, and which nodes changed. */
static void diff_trees(DCtx *c, Buf *path, const Value *a, const Value *b) {
  long long na = int_attr(a, "node_count"), nb = int_attr(b, "node_count");
  long long da = int_attr(a, "max_depth"), db = int_attr(b, "max_depth");
  const Value *nda = rv_attr(a, "nodes"), *ndb = rv_attr(b, "nodes");
  const Value *va = rv_attr(a, "values"), *vb = rv_attr(b, "values");
  Buf x, y;
  buf_init(&x);
  buf_init(&y);
  buf_printf(&x, "%lld nodes, depth %lld", na, da);
  buf_printf(&y, "%lld nodes, depth %lld", nb, db);
  DiffItem probe, vals;
  memset(&probe, 0, sizeof probe);
  memset(&vals, 0, sizeof vals);
  if (na == nb && nda && ndb && nda->kind == VAL_NDARRAY && ndb->kind == VAL_NDARRAY) {
    Err e;
    err_clear(&e);
    compare_data(c, nda->u.arr, ndb->u.arr, &probe, &e);
    if (va && vb && va->kind == VAL_NDARRAY && vb->kind == VAL_NDARRAY) {
      err_clear(&e);
      compare_data(c, va->u.arr, vb->u.arr, &vals, &e);
    }
  }
  int same = na == nb && da == db && probe.changed == 0 && vals.changed == 0;
  if (!same) {
    DiffItem *it = add_item(c, DK_TREE, path, NULL, &x, &y);
    if (it && probe.compared) {
      it->compared = 1;
      it->count = probe.count;
      it->changed = probe.changed;
      if (vals.compared && vals.changed) {
        it->numeric = 1;
        it->max_abs = vals.max_abs;
        it->max_rel = vals.max_rel;
      }
    }
  }
  buf_free(&x);
  buf_free(&y);
}

enum { CAT_SCALAR, CAT_ARRAY, CAT_SEQ, CAT_DICT, CAT_OBJECT, CAT_OTHER };

static int category(const Value *v) {
  switch (v->kind) {
    case VAL_NDARRAY: return v->u.arr->objects ? CAT_SEQ : CAT_ARRAY;
    case VAL_LIST: case VAL_TUPLE: case VAL_SET: case VAL_FROZENSET: return CAT_SEQ;
    case VAL_DICT: return CAT_DICT;
    case VAL_OBJECT: return CAT_OBJECT;
    default: return CAT_SCALAR;
  }
}

/* Constructor arguments worth comparing: an empty tuple is none. */
static const Value *nonempty_args(const Value *args) {
  if (args == NULL) return NULL;
  if ((args->kind == VAL_TUPLE || args->kind == VAL_LIST) && args->u.seq.n == 0) return NULL;
  return args;
}

static void diff_objects(DCtx *c, Buf *path, const Value *a, const Value *b, int depth) {
  Buf x, y;
  buf_init(&x);
  buf_init(&y);
  rv_class(&x, a);
  rv_class(&y, b);
  if (x.len != y.len || memcmp(x.p, y.p, x.len) != 0) {
    add_item(c, DK_CLASS, path, NULL, &x, &y);
  } else if (is_tree(a)) {
    diff_trees(c, path, a, b);
  } else {
    const Object *oa = a->u.obj, *ob = b->u.obj;
    const Value *xa = nonempty_args(oa->args), *xb = nonempty_args(ob->args);
    if (xa || xb) {
      size_t mark = path->len;
      buf_puts(path, path->len ? "/__args__" : "__args__");
      if (xa && xb) diff_value(c, path, xa, xb, depth + 1);
      else one_side(c, path, xa ? DK_REMOVED : DK_ADDED, xa ? xa : xb);
      path_pop(path, mark);
    }
    const Value *sa = rv_state(a), *sb = rv_state(b);
    if (sa || sb) {
      if (sa && sb) diff_dicts(c, path, sa, sb, depth, 1);
      else if (sa) diff_dicts(c, path, sa, NULL, depth, 1);
      else diff_dicts(c, path, NULL, sb, depth, 1);
    } else if (oa->state && ob->state) {
      size_t mark = path->len;
      buf_puts(path, path->len ? "/__state__" : "__state__");
      diff_value(c, path, oa->state, ob->state, depth + 1);
      path_pop(path, mark);
    }
  }
  buf_free(&x);
  buf_free(&y);
}

static void diff_value(DCtx *c, Buf *path, const Value *a, const Value *b, int depth) {
  a = rv_unwrap(a);
  b = rv_unwrap(b);
  if (a == NULL || b == NULL || c->d->oom || depth > MFS_MAX_DEPTH) return;
  uint64_t pair = ((uint64_t)a->id << 32) | b->id, dummy;
  if (category(a) != CAT_SCALAR && category(b) != CAT_SCALAR) {
    if (u64map_get(&c->seen, pair, &dummy)) return;
    if (u64map_put(&c->seen, pair, 1) != MFS_OK) {
      c->d->oom = 1;
      return;
    }
  }
  int ca = category(a), cb = category(b);
  if (ca != cb) {
    Buf x, y;
    buf_init(&x);
    buf_init(&y);
    describe(&x, a);
    describe(&y, b);
    add_item(c, DK_KIND, path, NULL, &x, &y);
    buf_free(&x);
    buf_free(&y);
    return;
  }
  switch (ca) {
    case CAT_SCALAR:
      if (!same_scalar(a, b)) {
        Buf x, y;
        buf_init(&x);
        buf_init(&y);
        describe(&x, a);
        describe(&y, b);
        add_item(c, DK_VALUE, path, NULL, &x, &y);
        buf_free(&x);
        buf_free(&y);
      }
      return;
    case CAT_ARRAY: diff_arrays(c, path, a->u.arr, b->u.arr); return;
    case CAT_SEQ:
      diff_seqs(c, path, a->kind == VAL_NDARRAY ? a->u.arr->objects : a,
                b->kind == VAL_NDARRAY ? b->u.arr->objects : b, depth);
      return;
    case CAT_DICT: diff_dicts(c, path, a, b, depth, 0); return;
    case CAT_OBJECT: diff_objects(c, path, a, b, depth); return;
    default: return;
  }
}

/* ---- facts of the files --------------------------------------------------------------- */

static void fact(DCtx *c, const char *what, const char *a, const char *b) {
  if (a == NULL) a = "";
  if (b == NULL) b = "";
  if (strcmp(a, b) == 0) return;
  Buf x, y;
  buf_init(&x);
  buf_init(&y);
  buf_puts(&x, a);
  buf_puts(&y, b);
  add_item(c, what && strcmp(what, "verdict") == 0 ? DK_VERDICT : DK_FACT, NULL, what, &x, &y);
  buf_free(&x);
  buf_free(&y);
}

/* Names in one sorted list and not the other, as DK_TRUST items. */
static void list_changes(DCtx *c, const char *what, const char **a, size_t na, const char **b,
                         size_t nb) {
  size_t i = 0, j = 0;
  while (i < na || j < nb) {
    int cmp = i == na ? 1 : j == nb ? -1 : strcmp(a[i], b[j]);
    Buf t;
    buf_init(&t);
    if (cmp == 0) {
      i++, j++;
    } else if (cmp < 0) {
      buf_puts(&t, a[i++]);
      add_item(c, DK_TRUST, NULL, what, &t, NULL);
    } else {
      buf_puts(&t, b[j++]);
      add_item(c, DK_TRUST, NULL, what, NULL, &t);
    }
    buf_free(&t);
  }
}

/* The root's _sklearn_version into b (a Python-2 str too): 0 when it has none. */
static int version_of(Buf *b, const Value *root) {
  size_t n;
  const char *v = rv_str(rv_attr(root, "_sklearn_version"), &n);
  if (v == NULL) buf_puts(b, "None");
  else buf_add(b, v, n);
  return v != NULL;
}

MfsStatus model_diff(const Model *a, const Judgement *ja, const Model *b, const Judgement *jb,
                     ModelDiff *d, Err *e) {
  DCtx c = {.d = d, .e = e};
  char pa[32], pb[32];
  fact(&c, "format", a->format, b->format);
  fact(&c, "compression", a->compression, b->compression);
  snprintf(pa, sizeof pa, "%d", a->protocol);
  snprintf(pb, sizeof pb, "%d", b->protocol);
  fact(&c, "protocol", pa, pb);
  fact(&c, "status", a->ok ? "ok" : a->err.msg, b->ok ? "ok" : b->err.msg);
  const char *na = rv_numpy_generation(a), *nb = rv_numpy_generation(b);
  if (na && nb) fact(&c, "numpy", na, nb);
  fact(&c, "verdict", ja->verdict, jb->verdict);
  list_changes(&c, "dangerous", ja->dangerous, ja->ndangerous, jb->dangerous, jb->ndangerous);
  list_changes(&c, "untrusted", ja->untrusted, ja->nuntrusted, jb->untrusted, jb->nuntrusted);
  Buf x, y;
  buf_init(&x);
  buf_init(&y);
  int va = version_of(&x, a->root), vb = version_of(&y, b->root);
  if ((va || vb) && (x.len != y.len || memcmp(x.p, y.p, x.len) != 0))
    add_item(&c, DK_VERSION, NULL, "sklearn_version", &x, &y);
  buf_free(&x);
  buf_free(&y);
  Buf path;
  buf_init(&path);
  if (a->root && b->root) diff_value(&c, &path, a->root, b->root, 0);
  else if (a->root || b->root) one_side(&c, &path, a->root ? DK_REMOVED : DK_ADDED, a->root ? a->root : b->root);
  buf_free(&path);
  u64map_free(&c.seen);
  if (d->oom || path.oom) return err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
  return MFS_OK;
}
