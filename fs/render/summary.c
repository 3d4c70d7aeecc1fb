/*
** summary.c -- summary.txt: one screen about a model for a person (SPEC 2), the
** text `modelfs summary FILE` prints and git's textconv shows.
**
** Built from the value graph only: the class, pipeline steps one per line, the
** hyperparameters (marked where they differ from the shipped sklearn defaults),
** fitted facts, the largest coefficients by feature name where the graph names the
** axis, versions and the verdict.  A root that is not a scikit-learn estimator
** (a state_dict, a dict of arrays) gets its arrays by name.  It knows no file
** format and must never guess a value the graph does not hold.
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

#define ARROW "\xe2\x86\x92"   /* → */
#define ELLIPSIS "\xe2\x80\xa6" /* … */

/* ---- names of features ------------------------------------------------------------ */

typedef struct Names {
  char **s;
  size_t n, cap;
  int oom;
} Names;

static void names_add(Names *nm, const char *s, size_t n) {
  if (nm->oom) return;
  if (nm->n == nm->cap) {
    size_t cap = nm->cap ? nm->cap * 2 : 16;
    char **p = realloc(nm->s, cap * sizeof *p);
    if (p == NULL) {
      nm->oom = 1;
      return;
    }
    nm->s = p;
    nm->cap = cap;
  }
  char *c = malloc(n + 1);
  if (c == NULL) {
    nm->oom = 1;
    return;
  }
  memcpy(c, s, n);
  c[n] = '\0';
  nm->s[nm->n++] = c;
}

static void names_free(Names *nm) {
  for (size_t i = 0; i < nm->n; i++) free(nm->s[i]);
  free(nm->s);
  memset(nm, 0, sizeof *nm);
}

/* The elements of a list, tuple or 1-D array as texts (str() of each).  1 when
** every element has a text. */
static int str_list(const Value *v, Names *out) {
  v = rv_unwrap(v);
  if (v == NULL) return 0;
  if (v->kind == VAL_NDARRAY && v->u.arr->objects == NULL) {
    const NdArray *a = v->u.arr;
    uint8_t *raw;
    uint64_t nb;
    Err e;
    err_clear(&e);
    if (a->ndim != 1 || a->dtype == NULL || a->dtype->kind != VAL_DTYPE) return 0;
    if (rv_bytes(a, &raw, &nb, &e) != MFS_OK) return 0;
    const Dtype *d = a->dtype->u.dtype;
    for (uint64_t i = 0; d->itemsize && i < nb / d->itemsize; i++) {
      Buf b;
      buf_init(&b);
      text_element(&b, d, raw + i * d->itemsize, 0);
      names_add(out, b.p ? b.p : "", b.len);
      buf_free(&b);
    }
    free(raw);
    return !out->oom;
  }
  if (v->kind == VAL_NDARRAY) v = v->u.arr->objects;
  if (v == NULL || (v->kind != VAL_LIST && v->kind != VAL_TUPLE)) return 0;
  for (size_t i = 0; i < v->u.seq.n; i++) {
    Buf b;
    buf_init(&b);
    const Value *x = rv_unwrap(v->u.seq.items[i]);
    int ok = x != NULL && x->kind != VAL_OBJECT && text_scalar(&b, x, NULL);
    if (ok) names_add(out, b.p ? b.p : "", b.len);
    buf_free(&b);
    if (!ok) return 0;
  }
  return !out->oom;
}

static int class_is(const Value *v, const char *shortname) {
  Buf b;
  buf_init(&b);
  int r = rv_class(&b, v) && b.p && strcmp(rv_short(b.p), shortname) == 0;
  buf_free(&b);
  return r;
}

static int class_in(const Value *v, const char *const *list) {
  for (size_t i = 0; list[i]; i++)
    if (class_is(v, list[i])) return 1;
  return 0;
}

/* Transformers whose output feature i is input feature i. */
static const char *const one_to_one[] = {
  "StandardScaler", "MinMaxScaler", "MaxAbsScaler", "RobustScaler", "Normalizer", "Binarizer",
  "PowerTransformer", "QuantileTransformer", "OrdinalEncoder", "FunctionTransformer", NULL};

static int out_names(const Value *est, const Names *in, Names *out, int depth);

/* The input columns of one ColumnTransformer entry, by name. */
static int ct_columns(const Value *cols, const Names *in, Names *out) {
  cols = rv_unwrap(cols);
  Names tmp = {0};
  if (!str_list(cols, &tmp)) {
    names_free(&tmp);
    return 0;
  }
  int strs = cols->kind != VAL_NDARRAY || cols->u.arr->objects != NULL;
  for (size_t i = 0; i < tmp.n; i++) {
    if (strs) {
      names_add(out, tmp.s[i], strlen(tmp.s[i]));
      continue;
    }
    char *end;
    long k = strtol(tmp.s[i], &end, 10);
    if (*end || in == NULL || k < 0 || (size_t)k >= in->n) {
      names_free(&tmp);
      return 0;
    }
    names_add(out, in->s[k], strlen(in->s[k]));
  }
  names_free(&tmp);
  return !out->oom;
}

/* sklearn's get_feature_names_out of a fitted ColumnTransformer
** (verbose_feature_names_out: "name__feature"). */
static int ct_names(const Value *ct, const Names *in, Names *out, int depth) {
  const Value *tr = rv_attr(ct, "transformers_");
  const Value *verbose = rv_attr(ct, "verbose_feature_names_out");
  int prefix = verbose == NULL || verbose->kind != VAL_BOOL || verbose->u.b;
  if (!rv_is_step_list(tr)) return 0;
  for (size_t i = 0; i < tr->u.seq.n; i++) {
    const Value *t = rv_unwrap(tr->u.seq.items[i]);
    if (t->u.seq.n != 3) return 0;
    const Value *name = rv_unwrap(t->u.seq.items[0]), *e = rv_unwrap(t->u.seq.items[1]);
    Names cols = {0}, got = {0};
    int ok = ct_columns(t->u.seq.items[2], in, &cols);
    if (ok && e && e->kind == VAL_STR && value_is_str(e, "drop")) {
      names_free(&cols);
      continue;
    }
    if (ok && cols.n == 0) {
      names_free(&cols);
      continue;
    }
    if (ok && e && e->kind == VAL_STR && value_is_str(e, "passthrough")) {
      for (size_t k = 0; k < cols.n; k++) names_add(&got, cols.s[k], strlen(cols.s[k]));
    } else {
      ok = ok && out_names(e, &cols, &got, depth + 1);
    }
    for (size_t k = 0; ok && k < got.n; k++) {
      Buf b;
      buf_init(&b);
      if (prefix) buf_printf(&b, "%.*s__", (int)name->u.str.len, name->u.str.s);
      buf_puts(&b, got.s[k]);
      names_add(out, b.p ? b.p : "", b.len);
      buf_free(&b);
    }
    names_free(&cols);
    names_free(&got);
    if (!ok) return 0;
  }
  return !out->oom;
}

static int onehot_names(const Value *enc, const Names *in, Names *out) {
  const Value *cats = rv_attr(enc, "categories_");
  const Value *drop = rv_attr(enc, "drop_idx_");
  if (in == NULL || cats == NULL || (cats->kind != VAL_LIST && cats->kind != VAL_TUPLE) ||
      cats->u.seq.n != in->n || (drop != NULL && drop->kind != VAL_NONE))
    return 0;
  for (size_t i = 0; i < cats->u.seq.n; i++) {
    Names c = {0};
    if (!str_list(cats->u.seq.items[i], &c)) {
      names_free(&c);
      return 0;
    }
    for (size_t k = 0; k < c.n; k++) {
      Buf b;
      buf_init(&b);
      buf_printf(&b, "%s_%s", in->s[i], c.s[k]);
      names_add(out, b.p ? b.p : "", b.len);
      buf_free(&b);
    }
    names_free(&c);
  }
  return !out->oom;
}

/* A text vectorizer's terms in column order (vocabulary_ inverted). */
static int vocab_names(const Value *vec, Names *out) {
  const Value *voc = rv_attr(vec, "vocabulary_");
  if (voc == NULL || voc->kind != VAL_DICT) return 0;
  size_t n = voc->u.dict.n;
  const Value **by = calloc(n ? n : 1, sizeof *by);
  if (by == NULL) return 0;
  int ok = 1;
  for (size_t i = 0; i < n && ok; i++) {
    const Value *k = rv_unwrap(voc->u.dict.keys[i]), *ix = rv_unwrap(voc->u.dict.vals[i]);
    Buf b;
    buf_init(&b);
    long long idx = -1;
    if (ix && text_scalar(&b, ix, NULL) && b.p) idx = strtoll(b.p, NULL, 10);
    buf_free(&b);
    ok = k && k->kind == VAL_STR && idx >= 0 && (size_t)idx < n && by[idx] == NULL;
    if (ok) by[idx] = k;
  }
  for (size_t i = 0; i < n && ok; i++) names_add(out, by[i]->u.str.s, by[i]->u.str.len);
  free(by);
  return ok && !out->oom;
}

/* The names of what est outputs given input names in (NULL when unknown). */
static int out_names(const Value *est, const Names *in, Names *out, int depth) {
  est = rv_unwrap(est);
  if (est == NULL || depth > 8) return 0;
  if (class_is(est, "Pipeline")) {
    const Value *steps = rv_attr(est, "steps");
    if (!rv_is_step_list(steps)) return 0;
    Names cur = {0};
    int have = in != NULL;
    if (in) for (size_t i = 0; i < in->n; i++) names_add(&cur, in->s[i], strlen(in->s[i]));
    for (size_t i = 0; i < steps->u.seq.n; i++) {
      const Value *s = rv_unwrap(rv_unwrap(steps->u.seq.items[i])->u.seq.items[1]);
      if (s && s->kind == VAL_STR) continue;   /* "passthrough" */
      Names next = {0};
      if (!out_names(s, have ? &cur : NULL, &next, depth + 1)) {
        names_free(&next);
        names_free(&cur);
        return 0;
      }
      names_free(&cur);
      cur = next;
      have = 1;
    }
    for (size_t i = 0; i < cur.n; i++) names_add(out, cur.s[i], strlen(cur.s[i]));
    names_free(&cur);
    return have && !out->oom;
  }
  if (class_is(est, "ColumnTransformer")) {
    Names fin = {0};
    int own = str_list(rv_attr(est, "feature_names_in_"), &fin);
    int r = ct_names(est, own ? &fin : in, out, depth);
    names_free(&fin);
    return r;
  }
  if (class_is(est, "OneHotEncoder")) {
    Names fin = {0};
    int own = str_list(rv_attr(est, "feature_names_in_"), &fin);
    int r = onehot_names(est, own ? &fin : in, out);
    names_free(&fin);
    return r;
  }
  if (rv_attr(est, "vocabulary_") != NULL) return vocab_names(est, out);
  if (class_in(est, one_to_one) && in != NULL) {
    for (size_t i = 0; i < in->n; i++) names_add(out, in->s[i], strlen(in->s[i]));
    return !out->oom;
  }
  return 0;
}

/* ---- small descriptions ------------------------------------------------------------ */

static int is_estimator(const Value *v) {
  v = rv_unwrap(v);
  if (v == NULL || v->kind != VAL_OBJECT) return 0;
  if (rv_attr(v, "_sklearn_version") != NULL) return 1;
  const Value *c = v->u.obj->callable;
  return c && c->kind == VAL_GLOBAL && strncmp(c->u.global.module, "sklearn.", 8) == 0;
}

static int is_public_fitted(const char *k) {
  size_t n = strlen(k);
  return n > 1 && k[0] != '_' && k[n - 1] == '_';
}

static void brief(Buf *b, const Value *v, int depth);

/* A state key's name, NUL-terminated: a str, or a Python-2 str (ASCII) copied into buf
** (cap bytes); NULL for other keys (ints, tuples) and longer names. */
static const char *key_name(const Value *k, char *buf, size_t cap) {
  size_t n;
  const char *s = rv_str(k, &n);
  if (s == NULL || k->kind == VAL_STR) return s;
  if (n >= cap) return NULL;
  memcpy(buf, s, n);
  buf[n] = '\0';
  return buf;
}

/* Class(param=value, ...) with the parameters that differ from the defaults. */
static void est_call(Buf *b, const Value *est, int depth) {
  Buf cls;
  buf_init(&cls);
  rv_class(&cls, est);
  const char *c = cls.p ? cls.p : "";
  buf_puts(b, rv_short(c));
  const Value *s = rv_state(est);
  int n = 0;
  char kb[MFS_SUMMARY_WIDTH];
  for (size_t i = 0; s && i < s->u.dict.n; i++) {
    const char *k = key_name(s->u.dict.keys[i], kb, sizeof kb);
    if (k == NULL || rv_param(c, k) != 1) continue;
    size_t dl;
    const char *def = rv_default(c, k, &dl);
    const Value *v = rv_unwrap(s->u.dict.vals[i]);
    int diff = rv_differs(v, def, dl);
    if (diff == 0) continue;
    if (diff < 0 && (def == NULL || !is_estimator(v))) {
      /* an estimator-valued parameter (GridSearchCV.estimator) is shown; other
      ** parameters whose default is not comparable are left out */
      if (!is_estimator(v)) continue;
    }
    buf_puts(b, n++ ? ", " : "(");
    buf_printf(b, "%s=", k);
    if (is_estimator(v) && depth < 3) est_call(b, v, depth + 1);
    else brief(b, v, depth + 1);
  }
  if (n) buf_putc(b, ')');
  buf_free(&cls);
}

/* A short text for any value: scalars as repr, arrays by dtype and shape. */
static void brief(Buf *b, const Value *v, int depth) {
  v = rv_unwrap(v);
  if (v == NULL) {
    buf_puts(b, "?");
    return;
  }
  if (rv_brief_plain(b, v, MFS_SUMMARY_TEXT)) {
    int seq = v->kind == VAL_LIST || v->kind == VAL_TUPLE || v->kind == VAL_SET ||
              v->kind == VAL_FROZENSET;
    if (seq && v->u.seq.n && is_estimator(v->u.seq.items[0])) {   /* "list of 3 LogisticRegression" */
      Buf c;
      buf_init(&c);
      rv_class(&c, v->u.seq.items[0]);
      buf_printf(b, " %s", rv_short(c.p ? c.p : ""));
      buf_free(&c);
    }
    return;
  }
  switch (v->kind) {
    case VAL_OBJECT:
      if (is_estimator(v) && depth < 3) est_call(b, v, depth);
      else {
        Buf c;
        buf_init(&c);
        rv_class(&c, v);
        buf_puts(b, rv_short(c.p ? c.p : ""));
        buf_free(&c);
      }
      return;
    default:
      if (!text_scalar(b, v, NULL)) buf_puts(b, value_kind_name(v->kind));
  }
}

static long long int_attr(const Value *obj, const char *key) {
  const Value *v = rv_attr(obj, key);
  return v && v->kind == VAL_INT ? (long long)v->u.i : -1;
}

/* "17 nodes, depth 5" of a fitted sklearn Tree object. */
static int tree_facts(const Value *tree, long long *nodes, long long *depth) {
  *nodes = int_attr(tree, "node_count");
  *depth = *nodes >= 0 ? rv_tree_depth(tree) : -1;
  return *nodes >= 0;
}

/* A fitted attribute's value for the fitted section. */
static void fitted_value(Buf *b, const Value *v) {
  v = rv_unwrap(v);
  long long nodes, depth;
  if (v && v->kind == VAL_OBJECT && tree_facts(v, &nodes, &depth)) {
    buf_printf(b, "tree of %lld nodes, depth %lld", nodes, depth);
    return;
  }
  if (v && v->kind == VAL_DICT && v->u.dict.n <= MFS_SUMMARY_SMALL && json_is_flat_container(v)) {
    buf_putc(b, '{');
    for (size_t i = 0; i < v->u.dict.n; i++) {
      if (i) buf_puts(b, ", ");
      rv_repr(b, v->u.dict.keys[i]);
      buf_puts(b, ": ");
      rv_repr(b, v->u.dict.vals[i]);
    }
    buf_putc(b, '}');
    return;
  }
  Names nm = {0};
  int numeric = v && v->kind == VAL_NDARRAY && v->u.arr->objects == NULL && v->u.arr->dtype &&
                v->u.arr->dtype->kind == VAL_DTYPE && strchr("biuf", v->u.arr->dtype->u.dtype->kind);
  if (numeric && v->u.arr->ndim == 1 && v->u.arr->shape[0] <= MFS_SUMMARY_SMALL && str_list(v, &nm)) {
    buf_putc(b, '[');
    for (size_t i = 0; i < nm.n; i++) buf_printf(b, i ? " %s" : "%s", nm.s[i]);
    buf_putc(b, ']');
    names_free(&nm);
    return;
  }
  names_free(&nm);
  if (!numeric && v && v->kind == VAL_NDARRAY && v->u.arr->ndim == 1 && v->u.arr->shape[0] <= 64 * MFS_SUMMARY_NAMES &&
      str_list(v, &nm)) {
    buf_printf(b, "%zu: ", nm.n);
    for (size_t i = 0; i < nm.n && i < MFS_SUMMARY_NAMES; i++) buf_printf(b, i ? ", %s" : "%s", nm.s[i]);
    if (nm.n > MFS_SUMMARY_NAMES) buf_puts(b, ", " ELLIPSIS);
    names_free(&nm);
    return;
  }
  names_free(&nm);
  brief(b, v, 0);
}

/* ---- sections ----------------------------------------------------------------------- */

static void numpy_line(const Model *m, Buf *out) {
  const char *g = rv_numpy_generation(m);
  if (g) buf_printf(out, ", %s", g);
}

/* The class meta.json names for a root that is not an object. */
static const char *container_class(const Value *v) {
  if (v == NULL) return "nothing decoded";
  switch (v->kind) {
    case VAL_DICT: return v->flags & VF_ORDERED ? "collections.OrderedDict" : "builtins.dict";
    case VAL_LIST: return "builtins.list";
    case VAL_TUPLE: return "builtins.tuple";
    case VAL_SET: return "builtins.set";
    case VAL_FROZENSET: return "builtins.frozenset";
    case VAL_NDARRAY: return "numpy.ndarray";
    default: return value_kind_name((ValueKind)v->kind);
  }
}

static void header(const Model *m, const Judgement *j, const Value *root, Buf *out) {
  Buf c;
  buf_init(&c);
  if (!rv_class(&c, root)) buf_puts(&c, container_class(root));
  buf_printf(out, "class     %s\n", c.p ? c.p : "");
  buf_free(&c);
  size_t svn;
  const char *sv = rv_str(rv_attr(root, "_sklearn_version"), &svn);
  Buf np;
  buf_init(&np);
  numpy_line(m, &np);
  if (sv)
    buf_printf(out, "versions  sklearn %.*s%.*s\n", (int)svn, sv, (int)np.len, np.p);
  else if (is_estimator(root))
    buf_printf(out, "versions  sklearn unknown%.*s\n", (int)np.len, np.p);
  else if (np.len)
    buf_printf(out, "versions  %.*s\n", (int)np.len - 2, np.p + 2);
  buf_free(&np);
  buf_printf(out, "verdict   %s", j->verdict ? j->verdict : "?");
  const char **names = j->ndangerous ? j->dangerous : j->untrusted;
  size_t nn = j->ndangerous ? j->ndangerous : j->nuntrusted;
  for (size_t i = 0; i < nn && i < 4; i++) buf_printf(out, i ? ", %s" : " (%s", names[i]);
  if (nn > 4) buf_printf(out, ", " ELLIPSIS " %zu in all", nn);
  if (nn) buf_putc(out, ')');
  buf_putc(out, '\n');
  buf_printf(out, "file      %s, compression %s, protocol %d\n", m->format ? m->format : "?",
             m->compression ? m->compression : "?", m->protocol);
  if (!m->ok)
    buf_printf(out, "status    error: %s\n", m->err.msg[0] ? m->err.msg : err_code_name(m->err.code));
}

/* One line of a step: "Class(params)", a ColumnTransformer with its columns. */
static void step_text(Buf *b, const Value *est) {
  est = rv_unwrap(est);
  if (est && est->kind == VAL_STR) {
    buf_add(b, est->u.str.s, est->u.str.len);
    return;
  }
  if (!class_is(est, "ColumnTransformer")) {
    brief(b, est, 0);
    return;
  }
  const Value *tr = rv_attr(est, "transformers_");
  if (!rv_is_step_list(tr)) tr = rv_attr(est, "transformers");
  buf_puts(b, "ColumnTransformer");
  if (!rv_is_step_list(tr)) return;
  buf_puts(b, " " ARROW " ");
  int k = 0;
  for (size_t i = 0; i < tr->u.seq.n; i++) {
    const Value *t = rv_unwrap(tr->u.seq.items[i]);
    const Value *name = rv_unwrap(t->u.seq.items[0]), *e = rv_unwrap(t->u.seq.items[1]);
    Names cols = {0};
    int have = t->u.seq.n == 3 && ct_columns(t->u.seq.items[2], NULL, &cols);
    if (e && e->kind == VAL_STR && value_is_str(e, "drop") && (!have || cols.n == 0)) {
      names_free(&cols);
      continue;
    }
    buf_printf(b, "%s%.*s ", k++ ? ", " : "", (int)name->u.str.len, name->u.str.s);
    step_text(b, e);
    if (have) {
      buf_putc(b, '[');
      for (size_t c = 0; c < cols.n && c < MFS_SUMMARY_SMALL; c++) buf_printf(b, c ? ", %s" : "%s", cols.s[c]);
      if (cols.n > MFS_SUMMARY_SMALL) buf_puts(b, ", " ELLIPSIS);
      buf_putc(b, ']');
    }
    names_free(&cols);
  }
}

static const Value *step_list_of(const Value *est) {
  static const char *const keys[] = {"steps", "transformer_list", "estimators", NULL};
  for (size_t i = 0; keys[i]; i++) {
    const Value *s = rv_attr(est, keys[i]);
    if (rv_is_step_list(s)) return s;
  }
  return NULL;
}

/* The features a pipeline takes in: its first step's feature_names_in_. */
static void input_line(const Value *steps, Buf *out) {
  const Value *first = rv_unwrap(rv_unwrap(steps->u.seq.items[0])->u.seq.items[1]);
  const Value *fin = rv_attr(first, "feature_names_in_");
  Names nm = {0};
  if (fin != NULL && str_list(fin, &nm) && nm.n > 0) {
    buf_printf(out, "input     %zu features: ", nm.n);
    for (size_t i = 0; i < nm.n && i < MFS_SUMMARY_NAMES; i++) buf_printf(out, i ? ", %s" : "%s", nm.s[i]);
    buf_puts(out, nm.n > MFS_SUMMARY_NAMES ? ", " ELLIPSIS "\n" : "\n");
  }
  names_free(&nm);
}

static void steps_section(const Value *root, Buf *out) {
  const Value *steps = step_list_of(root);
  if (steps == NULL) return;
  input_line(steps, out);
  size_t w = 0;
  for (size_t i = 0; i < steps->u.seq.n; i++) {
    const Value *n = rv_unwrap(rv_unwrap(steps->u.seq.items[i])->u.seq.items[0]);
    if (n->u.str.len > w) w = n->u.str.len;
  }
  buf_puts(out, "\nsteps\n");
  for (size_t i = 0; i < steps->u.seq.n; i++) {
    const Value *t = rv_unwrap(steps->u.seq.items[i]);
    const Value *n = rv_unwrap(t->u.seq.items[0]);
    buf_printf(out, "  %-*.*s  ", (int)w, (int)n->u.str.len, n->u.str.s);
    step_text(out, t->u.seq.items[1]);
    buf_putc(out, '\n');
  }
}

/* The trees of an ensemble on one line. */
static void ensemble_line(const Value *est, Buf *out) {
  const Value *es = rv_attr(est, "estimators_");
  if (es && es->kind == VAL_NDARRAY && es->u.arr->objects) es = es->u.arr->objects;
  if (es == NULL || (es->kind != VAL_LIST && es->kind != VAL_TUPLE) || es->u.seq.n == 0) return;
  long long total = 0, lo = -1, hi = -1, dmax = -1, trees = 0;
  const Value *first = NULL;
  for (size_t i = 0; i < es->u.seq.n; i++) {
    const Value *e = rv_unwrap(es->u.seq.items[i]);
    if (e && (e->kind == VAL_LIST || e->kind == VAL_TUPLE || e->kind == VAL_NDARRAY)) {
      if (e->kind == VAL_NDARRAY) e = e->u.arr->objects;   /* boosting: one row per stage */
      e = e && e->u.seq.n ? rv_unwrap(e->u.seq.items[0]) : NULL;
    }
    if (first == NULL) first = e;
    long long nodes, depth;
    if (!tree_facts(rv_attr(e, "tree_"), &nodes, &depth)) continue;
    trees++;
    total += nodes;
    if (lo < 0 || nodes < lo) lo = nodes;
    if (nodes > hi) hi = nodes;
    if (depth > dmax) dmax = depth;
  }
  Buf c;
  buf_init(&c);
  if (!rv_class(&c, first)) buf_puts(&c, "?");
  buf_printf(out, "ensemble  %zu %s", es->u.seq.n, rv_short(c.p ? c.p : ""));
  buf_free(&c);
  if (trees) buf_printf(out, ": %lld nodes in all (%lld-%lld a tree), depth up to %lld", total, lo, hi, dmax);
  buf_putc(out, '\n');
}

static void params_section(const Value *est, Buf *out) {
  Buf cls;
  buf_init(&cls);
  rv_class(&cls, est);
  const char *c = cls.p ? cls.p : "";
  const Value *s = rv_state(est);
  size_t vl = 0;
  const char *ver = rv_defaults_version(&vl);
  size_t w = 0;
  char kb[MFS_SUMMARY_WIDTH];
  for (size_t i = 0; s && i < s->u.dict.n; i++) {
    const char *k = key_name(s->u.dict.keys[i], kb, sizeof kb);
    if (k != NULL && strlen(k) > w && strlen(k) < MFS_SUMMARY_WIDTH) w = strlen(k);
  }
  int known = rv_param(c, "") >= 0;
  if (known) buf_printf(out, "\nhyperparameters  (* differs from the default of sklearn %.*s)\n", (int)vl, ver ? ver : "?");
  else buf_puts(out, "\nhyperparameters  (defaults unknown for this class)\n");
  for (size_t i = 0; s && i < s->u.dict.n; i++) {
    const char *k = key_name(s->u.dict.keys[i], kb, sizeof kb);
    if (k == NULL) continue;
    int p = rv_param(c, k);
    if (p == 0 || (p < 0 && (k[0] == '_' || is_public_fitted(k)))) continue;
    const Value *v = rv_unwrap(s->u.dict.vals[i]);
    size_t dl;
    const char *def = rv_default(c, k, &dl);
    int diff = rv_differs(v, def, dl);
    buf_printf(out, "  %c %-*s  ", diff > 0 ? '*' : ' ', (int)w, k);
    if (rv_is_step_list(v)) buf_puts(out, "(the steps above)");
    else brief(out, v, 0);
    if (diff > 0) buf_printf(out, "   (default %.*s)", (int)dl, def);
    buf_putc(out, '\n');
  }
  buf_free(&cls);
}

static void fitted_section(const Value *est, const char *title, Buf *out) {
  const Value *s = rv_state(est);
  size_t shown = 0, total = 0, w = 0;
  char kb[MFS_SUMMARY_WIDTH];
  for (size_t i = 0; s && i < s->u.dict.n; i++) {
    const char *k = key_name(s->u.dict.keys[i], kb, sizeof kb);
    if (k != NULL && is_public_fitted(k)) {
      total++;
      if (strlen(k) > w && strlen(k) < MFS_SUMMARY_WIDTH) w = strlen(k);
    }
  }
  if (total == 0) return;
  buf_printf(out, "\nfitted%s\n", title);
  for (size_t i = 0; s && i < s->u.dict.n; i++) {
    const char *k = key_name(s->u.dict.keys[i], kb, sizeof kb);
    if (k == NULL || !is_public_fitted(k)) continue;
    if (shown == MFS_SUMMARY_LINES) {
      buf_printf(out, "  " ELLIPSIS " %zu more\n", total - shown);
      break;
    }
    buf_printf(out, "  %-*s  ", (int)w, k);
    fitted_value(out, s->u.dict.vals[i]);
    buf_putc(out, '\n');
    shown++;
  }
}

/* ---- largest coefficients by feature name -------------------------------------------- */

typedef struct Ranked {
  uint64_t idx;
  double key;
} Ranked;

static int cmp_ranked(const void *a, const void *b) {
  const Ranked *x = a, *y = b;
  if (x->key != y->key) return x->key > y->key ? -1 : 1;
  return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Names for the last axis of est's coef_: its own feature_names_in_, else what
** the steps before it in a pipeline output. */
static int axis_names(const Value *pipe, size_t step, const Value *est, uint64_t n, Names *out) {
  if (str_list(rv_attr(est, "feature_names_in_"), out) && out->n == n) return 1;
  names_free(out);
  if (pipe == NULL) return 0;
  const Value *steps = rv_attr(pipe, "steps");
  Names cur = {0};
  int have = str_list(rv_attr(pipe, "feature_names_in_"), &cur);
  if (!have) names_free(&cur);
  for (size_t i = 0; i < step; i++) {
    const Value *s = rv_unwrap(rv_unwrap(steps->u.seq.items[i])->u.seq.items[1]);
    if (s && s->kind == VAL_STR) continue;
    Names next = {0};
    if (!out_names(s, have ? &cur : NULL, &next, 0)) {
      names_free(&next);
      names_free(&cur);
      return 0;
    }
    names_free(&cur);
    cur = next;
    have = 1;
  }
  if (!have || cur.n != n) {
    names_free(&cur);
    return 0;
  }
  *out = cur;
  return 1;
}

/* Adds a fitted Tree's normalised impurity-based importances to imp[nf] (what
** sklearn's Tree.compute_feature_importances() returns).  0 when the tree has
** one node or its node array cannot be read; -1 when it is malformed. */
static int tree_importances(const Value *tree, uint64_t nf, double *imp) {
  const Value *nodes = rv_attr(tree, "nodes");
  if (nodes == NULL || nodes->kind != VAL_NDARRAY || nodes->u.arr->ndim != 1) return -1;
  const NdArray *a = nodes->u.arr;
  const Dtype *d = a->dtype && a->dtype->kind == VAL_DTYPE ? a->dtype->u.dtype : NULL;
  uint64_t ol, orr, of, oi, ow;
  const Dtype *dl, *dr, *df, *di, *dw;
  if (d == NULL || !(dl = rv_field(d, "left_child", &ol)) || !(dr = rv_field(d, "right_child", &orr)) ||
      !(df = rv_field(d, "feature", &of)) || !(di = rv_field(d, "impurity", &oi)) ||
      !(dw = rv_field(d, "weighted_n_node_samples", &ow)))
    return -1;
  uint8_t *raw;
  uint64_t nb, n = a->shape[0];
  Err e;
  err_clear(&e);
  if (rv_bytes(a, &raw, &nb, &e) != MFS_OK) return -1;
  if (n <= 1) {
    free(raw);
    return 0;
  }
  /* Each node's weighted impurity once (every node is a child once more). */
  double *t = calloc((size_t)nf, sizeof *t), *wi = malloc((size_t)n * sizeof *wi);
  int ok = t != NULL && wi != NULL;
#define REC(i, off, fd) rv_element(fd, raw + (i) * d->itemsize + (off))
  for (uint64_t i = 0; ok && i < n; i++) wi[i] = REC(i, ow, dw) * REC(i, oi, di);
  for (uint64_t i = 0; ok && i < n; i++) {
    double l = REC(i, ol, dl), r = REC(i, orr, dr), f = REC(i, of, df);
    if (l < 0) continue;   /* a leaf */
    ok = l < (double)n && r >= 0 && r < (double)n && f >= 0 && f < (double)nf;
    if (!ok) break;
    t[(uint64_t)f] += wi[i] - wi[(uint64_t)l] - wi[(uint64_t)r];
  }
  double root = ok ? REC(0, ow, dw) : 0;
#undef REC
  free(wi);
  double sum = 0;
  for (uint64_t k = 0; ok && k < nf; k++) sum += (t[k] /= root);
  for (uint64_t k = 0; ok && k < nf; k++) imp[k] += sum > 0 ? t[k] / sum : t[k];
  free(t);
  free(raw);
  return ok ? 1 : -1;
}

/* feature_importances_ of a fitted tree or forest, from its trees as sklearn
** computes it (it is a property, never stored).  NULL when est has no trees. */
static double *importances(const Value *est, uint64_t *nf) {
  const Value *nfv = rv_attr(est, "n_features_in_");
  if (nfv == NULL || nfv->kind != VAL_INT || nfv->u.i <= 0 || nfv->u.i > MFS_REVIEW_MAX_FEATURES) return NULL;
  *nf = (uint64_t)nfv->u.i;
  double *imp = calloc((size_t)*nf, sizeof *imp);
  if (imp == NULL) return NULL;
  const Value *tree = rv_attr(est, "tree_");
  const Value *es = rv_attr(est, "estimators_");
  size_t used = 0;
  int bad = 0;
  if (tree != NULL) {
    bad = tree_importances(tree, *nf, imp) < 0;
    used = 1;
  } else if (es && es->kind == VAL_LIST && es->u.seq.n > 0) {
    for (size_t i = 0; i < es->u.seq.n && !bad; i++) {
      int r = tree_importances(rv_attr(es->u.seq.items[i], "tree_"), *nf, imp);
      bad = r < 0;
      used += r > 0;
    }
    double sum = 0;
    for (uint64_t k = 0; used && k < *nf; k++) sum += (imp[k] /= (double)used);
    for (uint64_t k = 0; used && sum > 0 && k < *nf; k++) imp[k] /= sum;
  } else {
    bad = 1;
  }
  if (bad) {
    free(imp);
    return NULL;
  }
  return imp;
}

static void top_section(const Value *pipe, size_t step, const char *stepname, const Value *est,
                        Buf *out) {
  const char *attr = "coef_";
  const Value *c = rv_attr(est, attr);
  if (c == NULL || c->kind != VAL_NDARRAY) {
    attr = "feature_importances_";
    c = rv_attr(est, attr);
  }
  double *v = NULL;
  uint64_t n = 0, rows = 1, cols = 0;
  const char *how = "";
  if (c != NULL && c->kind == VAL_NDARRAY && c->u.arr->ndim >= 1 && c->u.arr->ndim <= 2) {
    const NdArray *a = c->u.arr;
    rows = a->ndim == 2 ? a->shape[0] : 1;
    cols = a->shape[a->ndim - 1];
    Err e;
    err_clear(&e);
    if (rows == 0 || cols == 0 || rv_doubles(a, &v, &n, &e) != MFS_OK || n != rows * cols) {
      if (e.code == MFS_OK) free(v);
      return;
    }
  } else if ((v = importances(est, &cols)) != NULL) {
    how = ", computed from the trees";
  } else {
    return;
  }
  Names nm = {0};
  if (!axis_names(pipe, step, est, cols, &nm)) {
    /* no names in the file: sklearn's own names for columns (get_feature_names_out) */
    how = *how ? ", computed from the trees, columns x0, x1, ..." : ", columns x0, x1, ...";
    for (uint64_t j = 0; j < cols && !nm.oom; j++) {
      char num[32];
      int k = snprintf(num, sizeof num, "x%llu", (unsigned long long)j);
      names_add(&nm, num, (size_t)k);
    }
    if (nm.oom) {
      names_free(&nm);
      free(v);
      return;
    }
  }
  Ranked *r = malloc((size_t)cols * sizeof *r);
  uint64_t *at = malloc((size_t)cols * sizeof *at);
  if (r && at) {
    for (uint64_t j = 0; j < cols; j++) {
      r[j].idx = j;
      r[j].key = -1;
      at[j] = 0;
      for (uint64_t i = 0; i < rows; i++) {
        double x = fabs(v[i * cols + j]);
        if (x > r[j].key || isnan(x)) r[j].key = x, at[j] = i;
      }
    }
    qsort(r, (size_t)cols, sizeof *r, cmp_ranked);
    size_t w = 0;
    for (uint64_t k = 0; k < cols && k < MFS_SUMMARY_TOP; k++)
      if (strlen(nm.s[r[k].idx]) > w) w = strlen(nm.s[r[k].idx]);
    if (w > MFS_SUMMARY_WIDTH) w = MFS_SUMMARY_WIDTH;
    buf_printf(out, "\nlargest %s%s%s (by |value|, of %llu%s)\n", stepname ? stepname : "",
               stepname ? " " : "", attr, (unsigned long long)cols, how);
    for (uint64_t k = 0; k < cols && k < MFS_SUMMARY_TOP; k++) {
      uint64_t j = r[k].idx;
      char num[TEXT_FLOAT_MAX];
      text_double(num, v[at[j] * cols + j]);
      buf_printf(out, "  %-*s  %s", (int)w, nm.s[j], num);
      if (rows > 1) buf_printf(out, "   (row %llu)", (unsigned long long)at[j]);
      buf_putc(out, '\n');
    }
  }
  free(r);
  free(at);
  free(v);
  names_free(&nm);
}

/* ---- roots that are not estimators ------------------------------------------------------ */

typedef struct Walk {
  Buf *out;
  uint64_t arrays, elements, bytes;
  size_t shown, width;
  U64Map seen;
  int listing;             /* second pass: print the lines */
} Walk;

static void walk_arrays(Walk *w, const Value *v, Buf *path, int depth);

/* Into the child named as the tree names it (render.c): a key, an index, or one of an
** object's own names (__args__, __state__, __items__, __dictitems__) as `own`. */
static void walk_child(Walk *w, const Value *key, size_t index, const Value *v, Buf *path,
                       int depth) {
  size_t mark = path->len;
  rv_path_push(path, key, index);
  walk_arrays(w, v, path, depth + 1);
  path->len = mark;
  if (path->p) path->p[mark] = '\0';
}

static void walk_own(Walk *w, const char *own, const Value *v, Buf *path, int depth) {
  Value key = {.kind = VAL_STR};
  key.u.str.s = own;
  key.u.str.len = strlen(own);
  walk_child(w, &key, 0, v, path, depth);
}

static void walk_dict(Walk *w, const Value *d, Buf *path, int depth) {
  for (size_t i = 0; d && d->kind == VAL_DICT && i < d->u.dict.n; i++)
    walk_child(w, d->u.dict.keys[i], i, d->u.dict.vals[i], path, depth);
}

static void walk_arrays(Walk *w, const Value *v, Buf *path, int depth) {
  v = rv_unwrap(v);
  if (v == NULL || depth > MFS_MAX_DEPTH) return;
  uint64_t dummy;
  if (u64map_get(&w->seen, v->id, &dummy)) return;
  if (v->kind >= VAL_LIST && v->kind != VAL_GLOBAL && v->kind != VAL_DTYPE &&
      v->kind != VAL_SCALAR && u64map_put(&w->seen, v->id, 1) != MFS_OK)
    return;
  switch (v->kind) {
    case VAL_NDARRAY: {
      const NdArray *a = v->u.arr;
      if (a->objects) {
        walk_arrays(w, a->objects, path, depth);
        return;
      }
      int of = 0;
      uint64_t n = ndarray_count(a, &of);
      const Dtype *d = a->dtype && a->dtype->kind == VAL_DTYPE ? a->dtype->u.dtype : NULL;
      w->arrays++;
      w->elements += n;
      if (d) w->bytes += n * d->itemsize;
      if (!w->listing) {
        if (path->len > w->width) w->width = path->len;
        return;
      }
      if (w->shown++ < 3 * MFS_SUMMARY_LINES) {
        buf_printf(w->out, "  %-*s  ", (int)w->width, path->p ? path->p : "");
        rv_array_brief(w->out, a);
        if (a->stored_dtype) buf_printf(w->out, ", stored as %s", a->stored_dtype);
        buf_putc(w->out, '\n');
      }
      return;
    }
    case VAL_LIST: case VAL_TUPLE: case VAL_SET: case VAL_FROZENSET: {
      int named = steps_named(v);   /* steps/clf/1/..., as the tree lays them out */
      for (size_t i = 0; i < v->u.seq.n; i++)
        walk_child(w, named ? v->u.seq.items[i]->u.seq.items[0] : NULL, i, v->u.seq.items[i], path, depth);
      return;
    }
    case VAL_DICT: walk_dict(w, v, path, depth); return;
    case VAL_OBJECT: {
      const Object *o = v->u.obj;
      const Value *st = o->state;
      if (o->args && o->args->u.seq.n) walk_own(w, "__args__", o->args, path, depth);
      if (st && st->kind == VAL_DICT) {
        walk_dict(w, st, path, depth);
      } else if (st && st->kind == VAL_TUPLE && st->u.seq.n == 2 &&    /* (dict, slots): merged */
                 (st->u.seq.items[0] == NULL || st->u.seq.items[0]->kind == VAL_DICT || st->u.seq.items[0]->kind == VAL_NONE) &&
                 st->u.seq.items[1] && st->u.seq.items[1]->kind == VAL_DICT) {
        walk_dict(w, st->u.seq.items[0], path, depth);
        walk_dict(w, st->u.seq.items[1], path, depth);
      } else if (st) {
        walk_own(w, "__state__", st, path, depth);
      }
      if (o->items) walk_own(w, "__items__", o->items, path, depth);
      if (o->dictitems) walk_own(w, "__dictitems__", o->dictitems, path, depth);
      return;
    }
    default: return;
  }
}

static void generic_section(const Value *root, Buf *out) {
  Walk w = {.out = out};
  Buf path;
  buf_init(&path);
  walk_arrays(&w, root, &path, 0);
  u64map_free(&w.seen);
  memset(&w.seen, 0, sizeof w.seen);
  if (w.width > MFS_SUMMARY_WIDTH) w.width = MFS_SUMMARY_WIDTH;
  buf_printf(out, "\narrays    %llu, %llu elements (parameters), %llu bytes\n",
             (unsigned long long)w.arrays, (unsigned long long)w.elements,
             (unsigned long long)w.bytes);
  w.listing = 1;
  w.shown = 0;
  path.len = 0;
  walk_arrays(&w, root, &path, 0);
  if (w.shown > 3 * MFS_SUMMARY_LINES)
    buf_printf(out, "  " ELLIPSIS " %zu more\n", w.shown - 3 * MFS_SUMMARY_LINES);
  u64map_free(&w.seen);
  buf_free(&path);
}

/* ---- the document -------------------------------------------------------------------- */

/* The estimator whose fitted facts matter most: a pipeline's last step, a
** search's best estimator; with the pipeline and step index it sits at. */
static const Value *primary(const Value *root, const Value **pipe, size_t *step,
                            const char **stepname) {
  *pipe = NULL;
  *step = 0;
  *stepname = NULL;
  const Value *steps = rv_attr(root, "steps");
  if (class_is(root, "Pipeline") && rv_is_step_list(steps)) {
    size_t last = steps->u.seq.n - 1;
    const Value *t = rv_unwrap(steps->u.seq.items[last]);
    const Value *name = rv_unwrap(t->u.seq.items[0]);
    *pipe = root;
    *step = last;
    *stepname = name->u.str.s;
    return rv_unwrap(t->u.seq.items[1]);
  }
  const Value *best = rv_attr(root, "best_estimator_");
  if (is_estimator(best)) {
    *stepname = "best_estimator_";
    if (class_is(best, "Pipeline")) return primary(best, pipe, step, stepname);
    return best;
  }
  return root;
}

MfsStatus summary_make(const Model *m, const Judgement *j, Buf *out, Err *e) {
  const Value *root = rv_unwrap(m->root);
  header(m, j, root, out);
  if (is_estimator(root)) {
    steps_section(root, out);
    ensemble_line(root, out);
    params_section(root, out);
    fitted_section(root, "", out);
    const Value *pipe;
    size_t step;
    const char *stepname;
    const Value *p = primary(root, &pipe, &step, &stepname);
    if (p != root && is_estimator(p)) {
      Buf t;
      buf_init(&t);
      buf_printf(&t, " (%s: ", stepname);
      brief(&t, p, 0);
      buf_putc(&t, ')');
      ensemble_line(p, out);
      fitted_section(p, t.p ? t.p : "", out);
      buf_free(&t);
    }
    top_section(pipe, step, p != root ? stepname : NULL, p, out);
  } else if (root != NULL) {
    generic_section(root, out);
  }
  if (out->oom) return err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
  return MFS_OK;
}
