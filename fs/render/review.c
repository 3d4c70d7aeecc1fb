/*
** review.c -- what summary.c and modeldiff.c both need to read an estimator
** from the value graph: its state, class, Python reprs of hyperparameters, array
** data as numbers, and the shipped sklearn defaults (data/sklearn_defaults.txt).
**
** Reads the graph and the embedded data only; never resolves a name or runs
** anything, and never trusts a size the file declares without checking it.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "modelfs/data.h"
#include "modelfs/limits.h"
#include "modelfs/review.h"
#include "modelfs/text.h"

const Value *rv_unwrap(const Value *v) {
  for (int i = 0; i < 8 && v != NULL && v->kind == VAL_SCALAR && v->u.scalar->object; i++)
    v = v->u.scalar->object;
  return v;
}

const Value *rv_state(const Value *obj) {
  obj = rv_unwrap(obj);
  if (obj == NULL || obj->kind != VAL_OBJECT || obj->u.obj->state == NULL) return NULL;
  const Value *s = obj->u.obj->state;
  if (s->kind == VAL_DICT) return s;
  if (s->kind == VAL_TUPLE && s->u.seq.n == 2 && s->u.seq.items[0] &&
      s->u.seq.items[0]->kind == VAL_DICT)
    return s->u.seq.items[0];
  return NULL;
}

/* A str key, or a Python-2 str key (its bytes are the latin-1 text). */
static int key_is(const Value *k, const char *key, size_t n) {
  if (k == NULL) return 0;
  if (k->kind == VAL_STR) return k->u.str.len == n && memcmp(k->u.str.s, key, n) == 0;
  if (k->kind == VAL_BYTES && (k->flags & VF_PY2STR) && k->u.bytes.mem)
    return k->u.bytes.len == n && memcmp(k->u.bytes.mem, key, n) == 0;
  return 0;
}

const Value *rv_attr(const Value *obj, const char *key) {
  const Value *s = rv_state(obj);
  size_t n = strlen(key);
  for (size_t i = s ? s->u.dict.n : 0; i-- > 0;)   /* last write wins, as in a dict */
    if (key_is(s->u.dict.keys[i], key, n)) return rv_unwrap(s->u.dict.vals[i]);
  return NULL;
}

const char *rv_str(const Value *v, size_t *n) {
  v = rv_unwrap(v);
  if (v == NULL) return NULL;
  if (v->kind == VAL_STR) return *n = v->u.str.len, v->u.str.s;
  if (v->kind != VAL_BYTES || !(v->flags & VF_PY2STR) || v->u.bytes.mem == NULL) return NULL;
  for (uint64_t i = 0; i < v->u.bytes.len; i++)
    if (v->u.bytes.mem[i] >= 0x80) return NULL;
  *n = (size_t)v->u.bytes.len;
  return (const char *)v->u.bytes.mem;
}

void rv_path_push(Buf *path, const Value *key, size_t index) {
  if (path->len) buf_putc(path, '/');
  Buf raw;
  buf_init(&raw);
  if (key && key->kind == VAL_STR) buf_add(&raw, key->u.str.s, key->u.str.len);
  else if (key && key->kind == VAL_BYTES && (key->flags & VF_PY2STR)) text_scalar(&raw, key, NULL);
  else if (key) text_key(&raw, key);
  else buf_printf(&raw, "%zu", index);
  for (size_t i = 0; i < raw.len; i++) {
    if (raw.p[i] == '%') buf_puts(path, "%25");
    else if (raw.p[i] == '/') buf_puts(path, "%2F");
    else if (raw.p[i] == '\0') buf_puts(path, "%00");
    else buf_putc(path, raw.p[i]);
  }
  buf_free(&raw);
}

int rv_class(Buf *b, const Value *v) {
  v = rv_unwrap(v);
  if (v == NULL || v->kind != VAL_OBJECT) return 0;
  const Value *c = v->u.obj->callable;
  if (c == NULL || c->kind != VAL_GLOBAL) buf_puts(b, "<dynamic>");
  else text_scalar(b, c, NULL);
  return 1;
}

const char *rv_short(const char *dotted) {
  const char *d = strrchr(dotted, '.');
  return d ? d + 1 : dotted;
}

static int repr_scalar(Buf *b, const Value *v) {
  v = rv_unwrap(v);
  if (v == NULL) return 0;
  switch (v->kind) {
    case VAL_STR: text_repr_str(b, v->u.str.s, v->u.str.len); return 1;
    case VAL_BYTES: {   /* a Python-2 str is the str Python 3 loads: its latin-1 text */
      if (!(v->flags & VF_PY2STR) || v->u.bytes.mem == NULL) return 0;
      Buf t;
      buf_init(&t);
      text_latin1(&t, v->u.bytes.mem, (size_t)v->u.bytes.len);
      text_repr_str(b, t.p ? t.p : "", t.len);
      buf_free(&t);
      return 1;
    }
    case VAL_NONE: case VAL_BOOL: case VAL_INT: case VAL_BIGINT: case VAL_FLOAT:
    case VAL_COMPLEX:
      return text_scalar(b, v, NULL);
    case VAL_SCALAR: {
      const Value *dv = v->u.scalar->dtype;
      if (dv == NULL || dv->kind != VAL_DTYPE) return 0;
      char k = dv->u.dtype->kind;
      if (k != 'b' && k != 'i' && k != 'u' && k != 'f') return 0;
      return text_scalar(b, v, NULL);
    }
    default: return 0;
  }
}

/* A scalar, or a tuple/list of scalars. */
static int repr_seq(Buf *b, const Value *v) {
  v = rv_unwrap(v);
  if (v == NULL) return 0;
  if (v->kind != VAL_TUPLE && v->kind != VAL_LIST) return repr_scalar(b, v);
  int tuple = v->kind == VAL_TUPLE;
  buf_putc(b, tuple ? '(' : '[');
  for (size_t i = 0; i < v->u.seq.n; i++) {
    if (i) buf_puts(b, ", ");
    if (!repr_scalar(b, v->u.seq.items[i])) return 0;
  }
  if (tuple && v->u.seq.n == 1) buf_putc(b, ',');
  buf_putc(b, tuple ? ')' : ']');
  return 1;
}

int rv_repr(Buf *b, const Value *v) {
  v = rv_unwrap(v);
  if (v == NULL) return 0;
  if (v->kind == VAL_DICT) {   /* a parameter grid: {'C': [0.1, 1.0]} */
    buf_putc(b, '{');
    for (size_t i = 0; i < v->u.dict.n; i++) {
      if (i) buf_puts(b, ", ");
      if (!repr_scalar(b, v->u.dict.keys[i])) return 0;
      buf_puts(b, ": ");
      if (!repr_seq(b, v->u.dict.vals[i])) return 0;
    }
    buf_putc(b, '}');
    return 1;
  }
  return repr_seq(b, v);
}

void rv_shape(Buf *b, const NdArray *a) {
  buf_putc(b, '(');
  for (int i = 0; i < a->ndim; i++)
    buf_printf(b, i ? ", %llu" : "%llu", (unsigned long long)a->shape[i]);
  if (a->ndim == 1) buf_putc(b, ',');
  buf_putc(b, ')');
}

void rv_array_brief(Buf *b, const NdArray *a) {
  if (a->dtype == NULL || a->dtype->kind != VAL_DTYPE || a->objects != NULL) buf_puts(b, "object");
  else if (a->dtype->u.dtype->nfields > 0) buf_puts(b, "records");
  else text_scalar(b, a->dtype, NULL);
  buf_putc(b, ' ');
  rv_shape(b, a);
}

int rv_brief_plain(Buf *b, const Value *v, size_t max) {
  size_t mark = b->len;
  if (rv_repr(b, v)) {
    rv_cut(b, mark, max);
    return 1;
  }
  b->len = mark;
  switch (v->kind) {
    case VAL_NDARRAY: rv_array_brief(b, v->u.arr); return 1;
    case VAL_LIST: case VAL_TUPLE: case VAL_SET: case VAL_FROZENSET:
      buf_printf(b, "%s of %zu", value_kind_name(v->kind), v->u.seq.n);
      return 1;
    case VAL_DICT: buf_printf(b, "dict of %zu", v->u.dict.n); return 1;
    default: return 0;
  }
}

static const Dtype *plain_dtype(const NdArray *a) {
  if (a->dtype == NULL || a->dtype->kind != VAL_DTYPE || a->objects != NULL) return NULL;
  const Dtype *d = a->dtype->u.dtype;
  return d->kind == 'O' ? NULL : d;
}

MfsStatus rv_bytes(const NdArray *a, uint8_t **out, uint64_t *nbytes, Err *e) {
  const Dtype *d = plain_dtype(a);
  int of = 0;
  uint64_t n = ndarray_count(a, &of);
  if (d == NULL || of || (d->itemsize && n > UINT64_MAX / d->itemsize))
    return err_set(e, MFS_EUNSUPPORTED, MFS_NO_OFFSET, "not a plain array");
  if (a->error) return err_set(e, MFS_EIO, MFS_NO_OFFSET, "%s", a->error);
  uint64_t nb = n * d->itemsize;
  if (nb > MFS_REVIEW_MAX_ARRAY)
    return err_set(e, MFS_ELIMIT, MFS_NO_OFFSET, "array of %llu bytes is too big to compare",
                   (unsigned long long)nb);
  if (a->data.len < nb) return err_set(e, MFS_EIO, MFS_NO_OFFSET, "array data is cut short");
  uint8_t *p = malloc(nb ? (size_t)nb : 1);
  if (p == NULL) return err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
  if (nb && blob_read(&a->data, 0, p, (size_t)nb, e) != MFS_OK) {
    free(p);
    return e->code ? e->code : err_set(e, MFS_EIO, MFS_NO_OFFSET, "array data unreadable");
  }
  *out = p;
  *nbytes = nb;
  return MFS_OK;
}

double rv_element(const Dtype *d, const uint8_t *p) {
  uint8_t t[8];
  size_t n = (size_t)d->itemsize;
  /* Big-endian bytes are turned around; others are read where they lie (the
  ** summary of a forest reads millions of elements). */
  if (d->byteorder == '>') {
    for (size_t i = 0; i < n; i++) t[i] = p[n - 1 - i];
    p = t;
  }
  switch (d->kind) {
    case 'b': return p[0] != 0;
    case 'i':
      if (n == 1) return (int8_t)p[0];
      if (n == 2) { int16_t v; memcpy(&v, p, 2); return v; }
      if (n == 4) { int32_t v; memcpy(&v, p, 4); return v; }
      { int64_t v; memcpy(&v, p, 8); return (double)v; }
    case 'u':
      if (n == 1) return p[0];
      if (n == 2) { uint16_t v; memcpy(&v, p, 2); return v; }
      if (n == 4) { uint32_t v; memcpy(&v, p, 4); return v; }
      { uint64_t v; memcpy(&v, p, 8); return (double)v; }
    default:
      if (n == 4) { float v; memcpy(&v, p, 4); return v; }
      { double v; memcpy(&v, p, 8); return v; }
  }
}

int rv_numeric_dtype(const Dtype *d) {
  if (d == NULL || d->nfields || d->sub_ndim) return 0;
  size_t n = (size_t)d->itemsize;
  switch (d->kind) {
    case 'b': return n == 1;
    case 'i': case 'u': return n == 1 || n == 2 || n == 4 || n == 8;
    case 'f': return n == 4 || n == 8;
    default: return 0;
  }
}

/* Storage position of C-order element i of a Fortran-order array. */
static uint64_t fortran_pos(const NdArray *a, uint64_t i) {
  uint64_t pos = 0, stride = 1;
  uint64_t idx[MFS_MAX_NDIM];
  for (int k = a->ndim - 1; k >= 0; k--) {
    idx[k] = a->shape[k] ? i % a->shape[k] : 0;
    i = a->shape[k] ? i / a->shape[k] : 0;
  }
  for (int k = 0; k < a->ndim; k++) {
    pos += idx[k] * stride;
    stride *= a->shape[k];
  }
  return pos;
}

MfsStatus rv_doubles(const NdArray *a, double **out, uint64_t *n, Err *e) {
  const Dtype *d = plain_dtype(a);
  if (!rv_numeric_dtype(d) || a->ndim > MFS_MAX_NDIM)
    return err_set(e, MFS_EUNSUPPORTED, MFS_NO_OFFSET, "not a numeric array");
  uint8_t *raw;
  uint64_t nb;
  if (rv_bytes(a, &raw, &nb, e) != MFS_OK) return e->code;
  uint64_t count = d->itemsize ? nb / d->itemsize : 0;
  double *v = malloc(count ? (size_t)count * sizeof *v : 1);
  if (v == NULL) {
    free(raw);
    return err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
  }
  int reorder = a->fortran && a->ndim > 1;
  for (uint64_t i = 0; i < count; i++)
    v[i] = rv_element(d, raw + (reorder ? fortran_pos(a, i) : i) * d->itemsize);
  free(raw);
  *out = v;
  *n = count;
  return MFS_OK;
}

const Dtype *rv_field(const Dtype *d, const char *name, uint64_t *off) {
  for (size_t i = 0; i < d->nfields; i++) {
    const DtypeField *f = &d->fields[i];
    if (strcmp(f->name, name) != 0 || f->dtype == NULL || f->dtype->kind != VAL_DTYPE) continue;
    const Dtype *fd = f->dtype->u.dtype;
    if (!rv_numeric_dtype(fd) || f->offset + fd->itemsize > d->itemsize) return NULL;
    *off = f->offset;
    return fd;
  }
  return NULL;
}

/* The depth of a Tree from its node array, as Tree.max_depth counts it (a lone root is
** depth 0): scikit-learn's builders add a node after its parent, so one pass in order
** gives every node's depth.  -1 when the array cannot be read or breaks that order. */
static long long nodes_depth(const Value *tree) {
  const Value *nodes = rv_attr(tree, "nodes");
  if (nodes == NULL || nodes->kind != VAL_NDARRAY || nodes->u.arr->ndim != 1) return -1;
  const NdArray *a = nodes->u.arr;
  const Dtype *d = a->dtype && a->dtype->kind == VAL_DTYPE ? a->dtype->u.dtype : NULL;
  uint64_t ol, orr, nb, n = a->shape[0];
  const Dtype *dl, *dr;
  if (d == NULL || n == 0 || !(dl = rv_field(d, "left_child", &ol)) || !(dr = rv_field(d, "right_child", &orr)))
    return -1;
  uint8_t *raw;
  Err e;
  err_clear(&e);
  if (rv_bytes(a, &raw, &nb, &e) != MFS_OK) return -1;
  long long *depth = calloc((size_t)n, sizeof *depth), max = 0;
  for (uint64_t i = 0; depth != NULL && i < n && max >= 0; i++) {
    double kids[2] = {rv_element(dl, raw + i * d->itemsize + ol), rv_element(dr, raw + i * d->itemsize + orr)};
    for (int k = 0; k < 2 && max >= 0; k++) {
      if (kids[k] < 0) continue;   /* a leaf: TREE_LEAF is -1 */
      if (kids[k] <= (double)i || kids[k] >= (double)n) max = -1;
      else if ((depth[(uint64_t)kids[k]] = depth[i] + 1) > max) max = depth[i] + 1;
    }
  }
  if (depth == NULL) max = -1;
  free(depth);
  free(raw);
  return max;
}

long long rv_tree_depth(const Value *tree) {
  const Value *v = rv_attr(tree, "max_depth");
  if (v != NULL && v->kind == VAL_INT) return v->u.i;
  return nodes_depth(tree);
}

int rv_is_step_list(const Value *v) {
  v = rv_unwrap(v);
  if (v == NULL || (v->kind != VAL_LIST && v->kind != VAL_TUPLE) || v->u.seq.n == 0) return 0;
  for (size_t i = 0; i < v->u.seq.n; i++) {
    const Value *t = rv_unwrap(v->u.seq.items[i]);
    if (t == NULL || t->kind != VAL_TUPLE || t->u.seq.n < 2 || t->u.seq.n > 3) return 0;
    const Value *name = rv_unwrap(t->u.seq.items[0]);
    if (name == NULL || name->kind != VAL_STR) return 0;
  }
  return 1;
}

/* ---- the shipped defaults -------------------------------------------------------- */

/* The line of data_sklearn_defaults for cls.param: exact dotted class first, else
** any class of the same qualname (modules move between sklearn versions). */
static const char *find_default(const char *cls, const char *param, int exact, size_t *len) {
  const char *want = exact ? cls : rv_short(cls);
  size_t wl = strlen(want), pl = strlen(param);
  for (const char *p = data_sklearn_defaults; *p;) {
    const char *eol = strchr(p, '\n');
    if (eol == NULL) eol = p + strlen(p);
    const char *tab = memchr(p, '\t', (size_t)(eol - p));
    if (tab && *p != '#') {
      size_t cl = (size_t)(tab - p);
      int match = exact ? (cl == wl && memcmp(p, want, wl) == 0)
                        : (cl > wl && p[cl - wl - 1] == '.' && memcmp(tab - wl, want, wl) == 0);
      const char *q = tab + 1;
      const char *tab2 = memchr(q, '\t', (size_t)(eol - q));
      if (match && tab2 && (size_t)(tab2 - q) == pl && memcmp(q, param, pl) == 0) {
        *len = (size_t)(eol - tab2 - 1);
        return tab2 + 1;
      }
    }
    p = *eol ? eol + 1 : eol;
  }
  return NULL;
}

const char *rv_default(const char *cls, const char *param, size_t *len) {
  const char *d = find_default(cls, param, 1, len);
  if (d == NULL) d = find_default(cls, param, 0, len);
  if (d == NULL || (*len == 1 && d[0] == '?')) return NULL;
  return d;
}

const char *rv_defaults_version(size_t *len) {
  const char *p = strstr(data_sklearn_defaults, "\n@version\t");
  if (p == NULL) return NULL;
  p += 10;
  *len = strcspn(p, "\n");
  return p;
}

/* A number in Python syntax (int or float literal, True/False are not). */
static int parse_number(const char *s, size_t n, double *v) {
  char tmp[64];
  if (n == 0 || n >= sizeof tmp) return 0;
  memcpy(tmp, s, n);
  tmp[n] = '\0';
  char *end;
  *v = strtod(tmp, &end);
  return *end == '\0' && (tmp[0] == '-' || tmp[0] == '.' || (tmp[0] >= '0' && tmp[0] <= '9') ||
                          strcmp(tmp, "inf") == 0 || strcmp(tmp, "nan") == 0);
}

int rv_differs(const Value *v, const char *def, size_t deflen) {
  if (def == NULL) return -1;
  Buf b;
  buf_init(&b);
  int ok = rv_repr(&b, v);
  int r = -1;
  if (ok && !b.oom) {
    double x, y;
    if (parse_number(b.p, b.len, &x) && parse_number(def, deflen, &y))
      r = !(x == y || (isnan(x) && isnan(y)));
    else
      r = !(b.len == deflen && memcmp(b.p, def, deflen) == 0);
  }
  buf_free(&b);
  return r;
}

int rv_param(const char *cls, const char *key) {
  size_t len;
  if (find_default(cls, key, 1, &len) || find_default(cls, key, 0, &len)) return 1;
  size_t cl = strlen(cls);
  const char *sh = rv_short(cls);
  size_t sl = strlen(sh);
  for (const char *p = data_sklearn_defaults; *p;) {
    const char *eol = strchr(p, '\n');
    if (eol == NULL) eol = p + strlen(p);
    const char *tab = memchr(p, '\t', (size_t)(eol - p));
    if (tab && *p != '#' && *p != '@') {
      size_t l = (size_t)(tab - p);
      if ((l == cl && memcmp(p, cls, cl) == 0) ||
          (l > sl && p[l - sl - 1] == '.' && memcmp(tab - sl, sh, sl) == 0))
        return 0;
    }
    p = *eol ? eol + 1 : eol;
  }
  return -1;
}

const char *rv_numpy_generation(const Model *m) {
  int g1 = 0, g2 = 0;
  const Value *gl = m->globals;
  for (size_t i = 0; gl && gl->kind == VAL_LIST && i < gl->u.seq.n; i++) {
    const Value *g = gl->u.seq.items[i];
    if (g == NULL || g->kind != VAL_GLOBAL) continue;
    const char *mod = g->u.global.module;
    if (strcmp(mod, "numpy._core") == 0 || strncmp(mod, "numpy._core.", 12) == 0) g2 = 1;
    else if (strcmp(mod, "numpy.core") == 0 || strncmp(mod, "numpy.core.", 11) == 0) g1 = 1;
  }
  return g2 ? "numpy >= 2 (numpy._core names)" : g1 ? "numpy 1.x (numpy.core names)" : NULL;
}

void rv_cut(Buf *b, size_t mark, size_t max) {
  if (b->oom || b->len - mark <= max) return;
  size_t at = mark + max - 3;
  while (at > mark && ((unsigned char)b->p[at] & 0xC0) == 0x80) at--;   /* never inside a character */
  b->len = at;
  buf_puts(b, "\xe2\x80\xa6");
}
