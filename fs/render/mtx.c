/*
** mtx.c -- matrix.mtx: a sparse matrix as the Matrix Market coordinate text that
** scipy.io.mmwrite writes (header, "%" line, "rows cols nnz", then "i j value"
** lines, 1-based), so R, Julia, MATLAB and awk read what a model holds.
**
** Entries come in the order scipy's tocoo() gives them for each format, values
** printed as mmwrite prints them ('%.15e' for double, '%.7e' for float32/16,
** decimal for integers).  mmwrite would also look for symmetry and then write only
** the lower triangle; this view always says "general" and writes every stored
** entry -- scipy.io.mmread gives the same matrix.  Reads only the canonical graph
** (canon.h); must never know which file format the matrix came from.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "modelfs/canon.h"
#include "modelfs/limits.h"
#include "modelfs/text.h"
#include "modelfs/views.h"

/* One array's bytes in memory, with what indexing needs. */
typedef struct Arr {
  const NdArray *a;
  const Dtype *d;
  uint8_t *p;
  uint64_t n;              /* elements */
} Arr;

/* A value of the matrix: integer or (complex) floating. */
typedef struct Num {
  int64_t i;
  uint64_t u;
  double re, im;
} Num;

static const Dtype *dtype_of(const Value *v) {
  return v != NULL && v->kind == VAL_DTYPE ? v->u.dtype : NULL;
}

static const Value *state_get(const Value *obj, const char *key) {
  return dict_get_str(obj->u.obj->state, key);
}

static const char *field_of(const Dtype *d) {
  if (d == NULL) return NULL;
  switch (d->kind) {
    case 'i': return d->itemsize <= 8 ? "integer" : NULL;
    case 'u': return d->itemsize <= 8 ? "unsigned-integer" : NULL;
    case 'f': return d->itemsize == 2 || d->itemsize == 4 || d->itemsize == 8 ? "real" : NULL;
    case 'c': return d->itemsize == 8 || d->itemsize == 16 ? "complex" : NULL;
    default: return NULL;
  }
}

/* The dtype of the matrix's values. */
static const Dtype *value_dtype(const Value *obj) {
  const Value *data = state_get(obj, "data");
  if (data != NULL && data->kind == VAL_NDARRAY && data->u.arr->objects == NULL)
    return dtype_of(data->u.arr->dtype);
  return dtype_of(state_get(obj, "dtype"));   /* lil, dok */
}

int mtx_applies(const Value *obj) {
  if (obj == NULL || obj->kind != VAL_OBJECT || obj->u.obj->state == NULL) return 0;
  const char *fmt = canon_sparse_format(obj->u.obj->callable);
  if (fmt == NULL || state_get(obj, "format") == NULL) return 0;
  const Value *shape = state_get(obj, "shape");
  if (shape == NULL || shape->kind != VAL_TUPLE || shape->u.seq.n != 2) return 0;
  return field_of(value_dtype(obj)) != NULL;
}

static uint64_t load_u(const uint8_t *p, size_t n, int big) {
  uint64_t u = 0;
  for (size_t i = 0; i < n; i++) u |= (uint64_t)p[big ? n - 1 - i : i] << (8 * i);
  return u;
}

static Num num_at(const Dtype *d, const uint8_t *p) {
  Num x = {0};
  int big = d->byteorder == '>';
  size_t n = (size_t)d->itemsize;
  if (d->kind == 'c') n /= 2;
  for (int part = 0; part < (d->kind == 'c' ? 2 : 1); part++) {
    uint64_t u = load_u(p + part * n, n, big);
    double f = 0;
    if (d->kind == 'i') {
      x.i = n < 8 && (u >> (8 * n - 1)) & 1 ? (int64_t)(u | ~(uint64_t)0 << (8 * n)) : (int64_t)u;
    } else if (d->kind == 'u') {
      x.u = u;
    } else if (n == 8) {
      memcpy(&f, &u, 8);
    } else if (n == 4) {
      float g;
      uint32_t w = (uint32_t)u;
      memcpy(&g, &w, 4);
      f = g;
    } else {
      f = text_half_value((uint16_t)u);
    }
    if (part == 0) x.re = f;
    else x.im = f;
  }
  return x;
}

static int num_of_value(const Value *v, const Dtype *d, Num *x) {
  memset(x, 0, sizeof *x);
  if (v != NULL && v->kind == VAL_SCALAR && v->u.scalar->object == NULL) {
    const Dtype *sd = dtype_of(v->u.scalar->dtype);
    if (sd == NULL || field_of(sd) == NULL || v->u.scalar->data.mem == NULL) return 0;
    Num y = num_at(sd, v->u.scalar->data.mem);
    double re = sd->kind == 'i' ? (double)y.i : sd->kind == 'u' ? (double)y.u : y.re;
    x->i = sd->kind == 'i' ? y.i : sd->kind == 'u' ? (int64_t)y.u : (int64_t)y.re;
    x->u = sd->kind == 'u' ? y.u : (uint64_t)x->i;
    x->re = re;
    x->im = y.im;
    return 1;
  }
  if (v == NULL) return 0;
  switch (v->kind) {
    case VAL_BOOL: x->i = v->u.b; break;
    case VAL_INT: x->i = v->u.i; break;
    case VAL_FLOAT: x->re = v->u.f; x->i = (int64_t)v->u.f; break;
    case VAL_COMPLEX: x->re = v->u.c.re; x->im = v->u.c.im; break;
    default: return 0;
  }
  if (v->kind != VAL_FLOAT && v->kind != VAL_COMPLEX) x->re = (double)x->i;
  x->u = (uint64_t)x->i;
  (void)d;
  return 1;
}

static void put_float(Buf *b, double f, int prec) {
  if (isnan(f)) buf_puts(b, "nan");
  else if (isinf(f)) buf_puts(b, f < 0 ? "-inf" : "inf");
  else buf_printf(b, "%.*e", prec, f);
}

static void put_entry(Buf *b, uint64_t r, uint64_t c, const Dtype *d, const Num *x) {
  buf_printf(b, "%llu %llu ", (unsigned long long)r + 1, (unsigned long long)c + 1);
  int prec = d->itemsize <= 4 || (d->kind == 'c' && d->itemsize <= 8) ? 7 : 15;
  switch (d->kind) {
    case 'i': buf_printf(b, "%lld", (long long)x->i); break;
    case 'u': buf_printf(b, "%llu", (unsigned long long)x->u); break;
    case 'c':
      put_float(b, x->re, prec);
      buf_putc(b, ' ');
      put_float(b, x->im, prec);
      break;
    default: put_float(b, x->re, prec); break;
  }
  buf_putc(b, '\n');
}

/* ---- arrays ------------------------------------------------------------------- */

static MfsStatus load(const Value *v, Arr *x, int ndim, Err *e) {
  memset(x, 0, sizeof *x);
  if (v == NULL || v->kind != VAL_NDARRAY || v->u.arr->objects != NULL || v->u.arr->ndim != ndim)
    return err_set(e, MFS_EUNSUPPORTED, MFS_NO_OFFSET, "sparse matrix part is not a %d-d array", ndim);
  x->a = v->u.arr;
  x->d = dtype_of(x->a->dtype);
  if (x->a->error != NULL) return err_set(e, MFS_EIO, MFS_NO_OFFSET, "%s", x->a->error);
  int of;
  x->n = ndarray_count(x->a, &of);
  if (x->d == NULL || of || x->d->itemsize == 0 || x->n > MFS_MAX_ELEMENTS ||
      x->a->data.len != x->n * x->d->itemsize)
    return err_set(e, MFS_ECORRUPT, MFS_NO_OFFSET, "sparse matrix part has no readable data");
  x->p = malloc(x->a->data.len ? (size_t)x->a->data.len : 1);
  if (x->p == NULL) return err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
  if (blob_read(&x->a->data, 0, x->p, (size_t)x->a->data.len, e) != MFS_OK) {
    free(x->p);
    x->p = NULL;
    return e->code ? e->code : err_set(e, MFS_EIO, MFS_NO_OFFSET, "sparse matrix data unreadable");
  }
  return MFS_OK;
}

/* Byte offset of the element at C index idx[0..ndim) (Fortran-stored data too). */
static const uint8_t *elem(const Arr *x, const uint64_t *idx) {
  uint64_t off = 0, stride = 1;
  if (x->a->fortran) {
    for (int k = 0; k < x->a->ndim; k++) {
      off += idx[k] * stride;
      stride *= x->a->shape[k];
    }
  } else {
    for (int k = x->a->ndim - 1; k >= 0; k--) {
      off += idx[k] * stride;
      stride *= x->a->shape[k];
    }
  }
  return x->p + off * x->d->itemsize;
}

/* An index array element as an integer (kinds i/u only). */
static int64_t index_at(const Arr *x, uint64_t k) {
  Num n = num_at(x->d, x->p + k * x->d->itemsize);
  return x->d->kind == 'u' ? (int64_t)n.u : n.i;
}

static int is_index(const Arr *x) { return x->d->kind == 'i' || x->d->kind == 'u'; }

/* ---- formats -------------------------------------------------------------------- */

typedef struct Out {
  Buf body;
  uint64_t nnz;
  const Dtype *vd;
} Out;

static void emit(Out *o, int64_t r, int64_t c, const Num *x) {
  put_entry(&o->body, (uint64_t)r, (uint64_t)c, o->vd, x);
  o->nnz++;
}

/* csr/csc: compressed rows (or columns), in storage order. */
static MfsStatus compressed(Out *o, const Arr *data, const Arr *ind, const Arr *ptr, int by_col,
                            Err *e) {
  if (data->n != ind->n || !is_index(ind) || !is_index(ptr) || ptr->n == 0)
    return err_set(e, MFS_ECORRUPT, MFS_NO_OFFSET, "sparse matrix indices do not match its data");
  for (uint64_t i = 0; i + 1 < ptr->n; i++) {
    int64_t a = index_at(ptr, i), b = index_at(ptr, i + 1);
    if (a < 0 || b < a || (uint64_t)b > data->n)
      return err_set(e, MFS_ECORRUPT, MFS_NO_OFFSET, "sparse matrix indptr out of range");
    for (int64_t k = a; k < b; k++) {
      Num x = num_at(data->d, data->p + (uint64_t)k * data->d->itemsize);
      int64_t j = index_at(ind, (uint64_t)k);
      if (by_col) emit(o, j, (int64_t)i, &x);
      else emit(o, (int64_t)i, j, &x);
    }
  }
  return MFS_OK;
}

static MfsStatus coo(Out *o, const Arr *data, const Arr *row, const Arr *col, Err *e) {
  if (row->n != data->n || col->n != data->n || !is_index(row) || !is_index(col))
    return err_set(e, MFS_ECORRUPT, MFS_NO_OFFSET, "coo row/col do not match its data");
  for (uint64_t k = 0; k < data->n; k++) {
    Num x = num_at(data->d, data->p + k * data->d->itemsize);
    emit(o, index_at(row, k), index_at(col, k), &x);
  }
  return MFS_OK;
}

/* bsr: blocks in storage order, each block row by row (what tocoo() gives). */
static MfsStatus bsr(Out *o, const Arr *data, const Arr *ind, const Arr *ptr, Err *e) {
  uint64_t nb = data->a->shape[0], R = data->a->shape[1], C = data->a->shape[2];
  if (ind->n != nb || !is_index(ind) || !is_index(ptr) || ptr->n == 0)
    return err_set(e, MFS_ECORRUPT, MFS_NO_OFFSET, "bsr indices do not match its blocks");
  for (uint64_t br = 0; br + 1 < ptr->n; br++) {
    int64_t a = index_at(ptr, br), b = index_at(ptr, br + 1);
    if (a < 0 || b < a || (uint64_t)b > nb)
      return err_set(e, MFS_ECORRUPT, MFS_NO_OFFSET, "bsr indptr out of range");
    for (int64_t k = a; k < b; k++)
      for (uint64_t r = 0; r < R; r++)
        for (uint64_t c = 0; c < C; c++) {
          uint64_t idx[3] = {(uint64_t)k, r, c};
          Num x = num_at(data->d, elem(data, idx));
          emit(o, (int64_t)(br * R + r), index_at(ind, (uint64_t)k) * (int64_t)C + (int64_t)c, &x);
        }
  }
  return MFS_OK;
}

static int is_zero(const Dtype *d, const Num *x) {
  if (d->kind == 'i') return x->i == 0;
  if (d->kind == 'u') return x->u == 0;
  return x->re == 0 && x->im == 0;   /* nan != 0: kept, as numpy's data != 0 */
}

/* dia: diagonal by diagonal, column by column, zeros and cells outside dropped. */
static MfsStatus dia(Out *o, const Arr *data, const Arr *offs, uint64_t M, uint64_t N, Err *e) {
  uint64_t nd = data->a->shape[0], L = data->a->shape[1];
  if (offs->n != nd || !is_index(offs))
    return err_set(e, MFS_ECORRUPT, MFS_NO_OFFSET, "dia offsets do not match its data");
  for (uint64_t d = 0; d < nd; d++) {
    int64_t off = index_at(offs, d);
    for (uint64_t j = 0; j < L && j < N; j++) {
      int64_t r = (int64_t)j - off;
      if (r < 0 || (uint64_t)r >= M) continue;
      uint64_t idx[2] = {d, j};
      Num x = num_at(data->d, elem(data, idx));
      if (!is_zero(data->d, &x)) emit(o, r, (int64_t)j, &x);
    }
  }
  return MFS_OK;
}

/* The list an object array holds at i (lil rows/data), or NULL. */
static const Value *objects_at(const Value *arr, uint64_t i) {
  if (arr == NULL || arr->kind != VAL_NDARRAY || arr->u.arr->objects == NULL) return NULL;
  const Value *l = arr->u.arr->objects;
  if (l->kind != VAL_LIST || i >= l->u.seq.n) return NULL;
  const Value *v = l->u.seq.items[i];
  return v != NULL && v->kind == VAL_LIST ? v : NULL;
}

static MfsStatus lil(Out *o, const Value *rows, const Value *data, uint64_t M, Err *e) {
  for (uint64_t i = 0; i < M; i++) {
    const Value *r = objects_at(rows, i), *d = objects_at(data, i);
    if (r == NULL || d == NULL || r->u.seq.n != d->u.seq.n)
      return err_set(e, MFS_ECORRUPT, MFS_NO_OFFSET, "lil rows do not match its data");
    for (size_t k = 0; k < r->u.seq.n; k++) {
      Num j, x;
      if (!num_of_value(r->u.seq.items[k], o->vd, &j) || !num_of_value(d->u.seq.items[k], o->vd, &x))
        return err_set(e, MFS_EUNSUPPORTED, MFS_NO_OFFSET, "lil entry is not a number");
      emit(o, (int64_t)i, j.i, &x);
    }
  }
  return MFS_OK;
}

static MfsStatus dok(Out *o, const Value *items, Err *e) {
  for (size_t k = 0; items != NULL && k < items->u.dict.n; k++) {
    const Value *key = items->u.dict.keys[k];
    Num r, c, x;
    if (key == NULL || key->kind != VAL_TUPLE || key->u.seq.n != 2 ||
        !num_of_value(key->u.seq.items[0], o->vd, &r) || !num_of_value(key->u.seq.items[1], o->vd, &c) ||
        !num_of_value(items->u.dict.vals[k], o->vd, &x))
      return err_set(e, MFS_EUNSUPPORTED, MFS_NO_OFFSET, "dok entry is not ((row, col), number)");
    emit(o, r.i, c.i, &x);
  }
  return MFS_OK;
}

static int shape_dim(const Value *shape, int k, uint64_t *out) {
  Num x;
  if (!num_of_value(shape->u.seq.items[k], NULL, &x) || x.i < 0) return 0;
  *out = (uint64_t)x.i;
  return 1;
}

MfsStatus mtx_write(Buf *out, const Value *obj, Err *e) {
  if (!mtx_applies(obj)) return err_set(e, MFS_EUNSUPPORTED, MFS_NO_OFFSET, "not a sparse matrix");
  const char *fmt = canon_sparse_format(obj->u.obj->callable);
  const Value *shape = state_get(obj, "shape");
  uint64_t M, N;
  if (!shape_dim(shape, 0, &M) || !shape_dim(shape, 1, &N))
    return err_set(e, MFS_ECORRUPT, MFS_NO_OFFSET, "sparse matrix shape is not two ints");
  Out o = {.vd = value_dtype(obj)};
  buf_init(&o.body);
  Arr a[3];
  memset(a, 0, sizeof a);
  MfsStatus st = MFS_OK;
  if (strcmp(fmt, "csr") == 0 || strcmp(fmt, "csc") == 0 || strcmp(fmt, "bsr") == 0) {
    int b = strcmp(fmt, "bsr") == 0;
    if ((st = load(state_get(obj, "data"), &a[0], b ? 3 : 1, e)) == MFS_OK &&
        (st = load(state_get(obj, "indices"), &a[1], 1, e)) == MFS_OK &&
        (st = load(state_get(obj, "indptr"), &a[2], 1, e)) == MFS_OK)
      st = b ? bsr(&o, &a[0], &a[1], &a[2], e) : compressed(&o, &a[0], &a[1], &a[2], fmt[2] == 'c', e);
  } else if (strcmp(fmt, "coo") == 0) {
    if ((st = load(state_get(obj, "data"), &a[0], 1, e)) == MFS_OK &&
        (st = load(state_get(obj, "row"), &a[1], 1, e)) == MFS_OK &&
        (st = load(state_get(obj, "col"), &a[2], 1, e)) == MFS_OK)
      st = coo(&o, &a[0], &a[1], &a[2], e);
  } else if (strcmp(fmt, "dia") == 0) {
    if ((st = load(state_get(obj, "data"), &a[0], 2, e)) == MFS_OK &&
        (st = load(state_get(obj, "offsets"), &a[1], 1, e)) == MFS_OK)
      st = dia(&o, &a[0], &a[1], M, N, e);
  } else if (strcmp(fmt, "lil") == 0) {
    st = lil(&o, state_get(obj, "rows"), state_get(obj, "data"), M, e);
  } else {
    st = dok(&o, obj->u.obj->dictitems, e);
  }
  for (int k = 0; k < 3; k++) free(a[k].p);
  if (st == MFS_OK) {
    buf_printf(out, "%%%%MatrixMarket matrix coordinate %s general\n%%\n%llu %llu %llu\n",
               field_of(o.vd), (unsigned long long)M, (unsigned long long)N,
               (unsigned long long)o.nnz);
    buf_add(out, o.body.p ? o.body.p : "", o.body.len);
  }
  int oom = out->oom || o.body.oom;
  buf_free(&o.body);
  if (st == MFS_OK && oom) st = err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
  return st;
}
