/*
** pandas.c -- pandas DataFrame, Series and Index in SPEC 3.2's one form, whatever
** pandas version pickled them.
**
** A pickle holds a frame as its BlockManager: blocks of columns sharing a dtype,
** each a 2-D array (columns x rows) with a placement, plus the axes; the layout
** changes with pandas versions (BlockManager(blocks, axes) calls with
** _unpickle_block since 1.3, a "0.14.1" state dict before, "_data" for "_mgr"
** before 1.1).  Here the blocks become one entry per column in frame order, the
** axes become "columns" (the keys of that dict) and "index", and the extension
** arrays (Categorical, DatetimeArray, StringArray...) become the values they
** hold.  A state this file does not fully understand is left as it is: the model
** then shows its internals, it never fails because of them.
**
** May read small arrays the decoder already made (placements, category codes,
** integer labels: at most MFS_MAX_MATERIALISE bytes each) through their Blobs;
** must never read the pickle stream, import or call anything.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "modelfs/canon.h"
#include "modelfs/dtype.h"
#include "modelfs/limits.h"

/* ---- small readers of the decoded graph ---------------------------------------- */

static Value *item(const Value *seq, size_t i) {
  if (seq == NULL || (seq->kind != VAL_TUPLE && seq->kind != VAL_LIST)) return NULL;
  return i < seq->u.seq.n ? seq->u.seq.items[i] : NULL;
}

static size_t count(const Value *seq) {
  if (seq == NULL || (seq->kind != VAL_TUPLE && seq->kind != VAL_LIST)) return 0;
  return seq->u.seq.n;
}

/* The last dotted part of a pandas global's name, else NULL. */
static const char *pandas_name(const Value *g) {
  if (g == NULL || g->kind != VAL_GLOBAL || strncmp(g->u.global.module, "pandas.", 7) != 0)
    return NULL;
  const char *dot = strrchr(g->u.global.name, '.');
  return dot ? dot + 1 : g->u.global.name;
}

static int is_pandas(const Value *g, const char *name) {
  const char *n = pandas_name(g);
  return n != NULL && strcmp(n, name) == 0;
}

static Value *callable_of(const Value *o) {
  return o != NULL && o->kind == VAL_OBJECT ? o->u.obj->callable : NULL;
}

static Value *state_of(const Value *o) {
  return o != NULL && o->kind == VAL_OBJECT ? o->u.obj->state : NULL;
}

static Value *sget(const Value *d, const char *key) {
  return d != NULL && d->kind == VAL_DICT ? dict_get_str(d, key) : NULL;
}

static const Dtype *dtype_of(const Value *arr) {
  if (arr == NULL || arr->kind != VAL_NDARRAY) return NULL;
  const Value *d = arr->u.arr->dtype;
  return d != NULL && d->kind == VAL_DTYPE ? d->u.dtype : NULL;
}

static MfsStatus put(ValueSet *vs, Value *d, const char *key, Value *v) {
  Value *k = value_str(vs, key, strlen(key));
  if (k == NULL) return vs->err->code;
  return dict_put(vs, d, k, v);
}

/* The integers of a small 1-D integer array (placements, codes), malloc'd. */
static int64_t *read_ints(const Value *arr, uint64_t *n) {
  const Dtype *d = dtype_of(arr);
  const NdArray *a = arr ? arr->u.arr : NULL;
  if (d == NULL || a->objects != NULL || a->error != NULL || a->ndim != 1 ||
      (d->kind != 'i' && d->kind != 'u') || d->byteorder == '>' ||
      (d->itemsize != 1 && d->itemsize != 2 && d->itemsize != 4 && d->itemsize != 8))
    return NULL;
  *n = a->shape[0];
  if (*n > MFS_MAX_MATERIALISE / 8 || a->data.len != *n * d->itemsize) return NULL;
  uint8_t *raw = malloc(a->data.len ? (size_t)a->data.len : 1);
  int64_t *out = malloc(*n ? (size_t)*n * sizeof *out : 1);
  Err e;
  err_clear(&e);
  if (raw == NULL || out == NULL || blob_read(&a->data, 0, raw, (size_t)a->data.len, &e) != MFS_OK) {
    free(raw);
    free(out);
    return NULL;
  }
  for (uint64_t i = 0; i < *n; i++) {
    const uint8_t *p = raw + i * d->itemsize;
    int64_t v = 0;
    switch (d->itemsize) {
      case 1: v = d->kind == 'i' ? (int8_t)p[0] : p[0]; break;
      case 2: { int16_t s; uint16_t u; memcpy(&s, p, 2); memcpy(&u, p, 2); v = d->kind == 'i' ? s : u; break; }
      case 4: { int32_t s; uint32_t u; memcpy(&s, p, 4); memcpy(&u, p, 4); v = d->kind == 'i' ? s : (int64_t)u; break; }
      default: memcpy(&v, p, 8); break;
    }
    out[i] = v;
  }
  free(raw);
  return out;
}

/* ---- one column out of a block ------------------------------------------------------ */

/* Row k of a 2-D array (k of m rows, n columns) as a 1-D array sharing its bytes:
** an offset for C order, a strided view of the source for Fortran order. */
static Value *row_of(ValueSet *vs, const Value *arr, uint64_t k) {
  const NdArray *a = arr->u.arr;
  if (a->ndim != 2 || k >= a->shape[0]) return NULL;
  uint64_t m = a->shape[0], n = a->shape[1];
  Value *v = value_new(vs, VAL_NDARRAY);
  NdArray *r = arena_alloc(vs->arena, sizeof *r);
  uint64_t *shape = arena_alloc(vs->arena, sizeof *shape);
  if (v == NULL || r == NULL || shape == NULL) return NULL;
  *r = *a;
  shape[0] = n;
  r->shape = shape;
  r->ndim = 1;
  r->fortran = 0;
  v->u.arr = r;
  if (a->objects != NULL) {
    if (a->objects->kind != VAL_LIST || a->objects->u.seq.n != m * n) return NULL;
    Value *list = value_new(vs, VAL_LIST);
    if (list == NULL) return NULL;
    list->u.seq.items = a->objects->u.seq.items + k * n;
    list->u.seq.n = list->u.seq.cap = (size_t)n;
    r->objects = list;
    return v;
  }
  const Dtype *d = dtype_of(arr);
  if (d == NULL || d->itemsize == 0 || a->error != NULL) return a->error ? v : NULL;
  uint64_t isz = d->itemsize;
  if (n > UINT64_MAX / isz / (m ? m : 1) || a->data.len != m * n * isz) return NULL;
  r->data.len = n * isz;
  if (!a->fortran || m == 1 || n <= 1) {
    if (a->data.mem) r->data.mem = a->data.mem + k * n * isz;
    else r->data.off = a->data.off + k * n * isz;
    return v;
  }
  if (a->data.mem != NULL) {
    uint8_t *p = arena_alloc(vs->arena, (size_t)(n * isz) + 1);
    if (p == NULL) return NULL;
    for (uint64_t j = 0; j < n; j++) memcpy(p + j * isz, a->data.mem + (k + j * m) * isz, isz);
    r->data.mem = p;
    return v;
  }
  if (a->data.src == NULL) return NULL;
  int64_t stride = (int64_t)m;
  Source *s = source_strided(a->data.src, a->data.off + k * isz, (size_t)isz, 1, &n, &stride,
                             a->data.src->name);
  if (s == NULL) return NULL;
  arena_keep_source(vs->arena, s);
  source_unref(s);
  r->data.src = s;
  r->data.off = 0;
  return v;
}

/* A numpy dtype as pandas names it in df.dtypes ("int64", "datetime64[ns]"). */
static const char *numpy_name(ValueSet *vs, const Dtype *d) {
  char buf[64];
  const char *base = NULL;
  switch (d->kind) {
    case 'b': return "bool";
    case 'O': return "object";
    case 'i': base = "int"; break;
    case 'u': base = "uint"; break;
    case 'f': base = "float"; break;
    case 'c': base = "complex"; break;
    case 'M': case 'm':
      snprintf(buf, sizeof buf, "%s64[%s]", d->kind == 'M' ? "datetime" : "timedelta",
               d->unit ? d->unit : "ns");
      return arena_strndup(vs->arena, buf, strlen(buf));
    default:
      if (dtype_typestr(d, buf, sizeof buf) < 0) return NULL;
      return arena_strndup(vs->arena, buf, strlen(buf));
  }
  snprintf(buf, sizeof buf, "%s%llu", base, (unsigned long long)d->itemsize * 8);
  return arena_strndup(vs->arena, buf, strlen(buf));
}

/* The zone name of a pickled tzinfo, as far as it says one. */
static const char *tz_name(const Value *tz) {
  if (tz == NULL) return NULL;
  if (tz->kind == VAL_TEXT || tz->kind == VAL_STR) return tz->u.str.s;
  const Value *c = callable_of(tz);
  if (c != NULL && c->kind == VAL_GLOBAL && strcmp(c->u.global.name, "_UTC") == 0) return "UTC";
  const Value *a0 = item(tz->kind == VAL_OBJECT ? tz->u.obj->args : NULL, 0);
  if (a0 != NULL && a0->kind == VAL_STR) return a0->u.str.s;
  const Value *z = sget(state_of(tz), "zone");
  return z != NULL && z->kind == VAL_STR ? z->u.str.s : NULL;
}

/* "datetime64[ns, UTC]" of a DatetimeTZDtype, else NULL. */
static const char *tz_dtype_name(ValueSet *vs, const Value *dt) {
  if (!is_pandas(callable_of(dt), "DatetimeTZDtype")) return NULL;
  const Value *st = state_of(dt);
  const Value *unit = sget(st, "unit"), *tz = sget(st, "tz");
  if (unit == NULL) unit = sget(st, "_unit");
  const char *zone = tz_name(tz ? tz : sget(st, "_tz"));
  char buf[160];
  snprintf(buf, sizeof buf, "datetime64[%s, %s]",
           unit && unit->kind == VAL_STR ? unit->u.str.s : "ns", zone ? zone : "tz");
  return arena_strndup(vs->arena, buf, strlen(buf));
}

/* The values of a Categorical: its categories indexed by its codes, missing as
** None; numeric categories become numpy scalars (one .json list either way). */
static Value *categorical_values(ValueSet *vs, const Value *codes, const Value *cats) {
  const Value *cv = sget(state_of(cats), "values");
  if (cv == NULL || cv->kind != VAL_NDARRAY || cv->u.arr->ndim != 1) return NULL;
  uint64_t ncode, ncat = cv->u.arr->shape[0];
  int64_t *c = read_ints(codes, &ncode);
  if (c == NULL) return NULL;
  Value **catv = calloc(ncat ? (size_t)ncat : 1, sizeof *catv);
  Value *list = value_new(vs, VAL_LIST);
  const Dtype *d = dtype_of(cv);
  int ok = catv != NULL && list != NULL && d != NULL;
  if (ok && cv->u.arr->objects != NULL) {
    ok = cv->u.arr->objects->u.seq.n == ncat;
    for (uint64_t i = 0; ok && i < ncat; i++) catv[i] = cv->u.arr->objects->u.seq.items[i];
  } else if (ok) {
    ok = d->itemsize > 0 && d->itemsize <= 16 && cv->u.arr->data.len == ncat * d->itemsize &&
         (d->kind == 'b' || d->kind == 'i' || d->kind == 'u' || d->kind == 'f');
    uint8_t *raw = ok ? arena_alloc(vs->arena, ncat * d->itemsize + 1) : NULL;
    Err e;
    err_clear(&e);
    ok = ok && raw != NULL &&
         blob_read(&cv->u.arr->data, 0, raw, (size_t)cv->u.arr->data.len, &e) == MFS_OK;
    for (uint64_t i = 0; ok && i < ncat; i++) {
      Value *s = value_new(vs, VAL_SCALAR);
      Scalar *sc = arena_alloc(vs->arena, sizeof *sc);
      ok = s != NULL && sc != NULL;
      if (!ok) break;
      sc->dtype = cv->u.arr->dtype;
      sc->data.mem = raw + i * d->itemsize;
      sc->data.len = d->itemsize;
      s->u.scalar = sc;
      catv[i] = s;
    }
  }
  Value *none = ok ? value_none(vs) : NULL;
  for (uint64_t i = 0; none != NULL && i < ncode; i++) {
    Value *v = c[i] >= 0 && (uint64_t)c[i] < ncat ? catv[c[i]] : c[i] == -1 ? none : NULL;
    if (v == NULL || seq_push(vs, list, v) != MFS_OK) none = NULL;
  }
  free(c);
  free(catv);
  return none != NULL ? list : NULL;
}

/* An ndarray or a pandas extension array: the array (or list) of its values and
** the dtype pandas reports, else NULL (an array this file does not know). */
static Value *ext_values(ValueSet *vs, const Value *v, const char **dtype) {
  if (v == NULL) return NULL;
  if (v->kind == VAL_NDARRAY) {
    const Dtype *d = dtype_of(v);
    *dtype = d ? numpy_name(vs, d) : NULL;
    return *dtype ? (Value *)v : NULL;
  }
  const Value *cls = callable_of(v), *st = state_of(v), *dt = NULL, *data = NULL;
  if (cls == NULL) return NULL;
  if (cls->kind == VAL_GLOBAL && strcmp(cls->u.global.name, "__pyx_unpickle_NDArrayBacked") == 0)
    cls = item(v->u.obj->args, 0);
  if (st != NULL && st->kind == VAL_TUPLE) {   /* NDArrayBacked: (dtype, ndarray, attrs) */
    dt = item(st, 0);
    data = item(st, 1);
  } else if (st != NULL && st->kind == VAL_DICT) {
    dt = sget(st, "_dtype");
    data = sget(st, "_ndarray");
    if (data == NULL) data = sget(st, "_data");
    if (data == NULL) data = sget(st, "_codes");
  }
  const char *name = pandas_name(cls);
  if (name == NULL) return NULL;
  if (strcmp(name, "Categorical") == 0) {
    const Value *cats = dt ? sget(state_of(dt), "categories") : sget(st, "_categories");
    if (cats == NULL && dt != NULL) cats = sget(state_of(dt), "_categories");
    *dtype = "category";
    return categorical_values(vs, st && st->kind == VAL_DICT ? sget(st, "_codes") : data, cats);
  }
  if (strcmp(name, "DatetimeIndex") == 0 || strcmp(name, "TimedeltaIndex") == 0)
    return ext_values(vs, sget(st, "values"), dtype);
  if (data == NULL || data->kind != VAL_NDARRAY) return NULL;
  if (strcmp(name, "DatetimeArray") == 0) {
    const char *tz = tz_dtype_name(vs, dt);
    if (ext_values(vs, data, dtype) == NULL) return NULL;
    if (tz != NULL) *dtype = tz;
    return (Value *)data;
  }
  if (strcmp(name, "TimedeltaArray") == 0 || strcmp(name, "PandasArray") == 0 ||
      strcmp(name, "NumpyExtensionArray") == 0)
    return ext_values(vs, data, dtype);
  if (strcmp(name, "StringArray") == 0) {
    *dtype = "string";
    return (Value *)data;
  }
  return NULL;
}

/* ---- Index ------------------------------------------------------------------------------ */

MfsStatus canon_pandas_index(ValueSet *vs, Value *callable, Value *args, Value **out) {
  *out = NULL;
  if (!is_pandas(callable, "_new_Index") && !is_pandas(callable, "_new_DatetimeIndex"))
    return MFS_OK;
  Value *cls = item(args, 0), *d = item(args, 1);
  if (count(args) != 2 || pandas_name(cls) == NULL || d == NULL || d->kind != VAL_DICT)
    return MFS_OK;
  Value *st = value_new(vs, VAL_DICT);
  if (st == NULL) return vs->err->code;
  Value *name = dict_get_str(d, "name");
  if (name == NULL) name = value_none(vs);
  if (name == NULL || put(vs, st, "name", name) != MFS_OK) return vs->err->code;
  Value *data = dict_get_str(d, "data");
  if (data != NULL) {
    const char *dtype;
    Value *vals = ext_values(vs, data, &dtype);
    if (put(vs, st, "values", vals ? vals : data) != MFS_OK) return vs->err->code;
  }
  for (size_t i = 0; i < d->u.dict.n; i++) {
    Value *k = d->u.dict.keys[i];
    if (value_is_str(k, "name") || value_is_str(k, "data") || value_is_str(k, "dtype")) continue;
    if (dict_put(vs, st, k, d->u.dict.vals[i]) != MFS_OK) return vs->err->code;
  }
  *out = value_object(vs, cls, NULL, OBJ_REDUCE);
  if (*out == NULL) return vs->err->code;
  (*out)->u.obj->state = st;
  return MFS_OK;
}

/* The labels of a canonical Index (values list or array, or a RangeIndex), as a
** list of Values; NULL when not one this file can list. */
static Value *index_labels(ValueSet *vs, const Value *idx, uint64_t *n) {
  const Value *st = state_of(idx);
  if (st == NULL || st->kind != VAL_DICT || pandas_name(callable_of(idx)) == NULL) return NULL;
  Value *list = value_new(vs, VAL_LIST);
  if (list == NULL) return NULL;
  const Value *start = sget(st, "start"), *stop = sget(st, "stop"), *step = sget(st, "step");
  if (is_pandas(callable_of(idx), "RangeIndex") && start && stop && step &&
      start->kind == VAL_INT && stop->kind == VAL_INT && step->kind == VAL_INT && step->u.i != 0) {
    int64_t a = start->u.i, b = stop->u.i, s = step->u.i;
    for (int64_t x = a; (s > 0 ? x < b : x > b) && list->u.seq.n < MFS_MAX_MATERIALISE / 8; x += s) {
      Value *v = value_int(vs, x);
      if (v == NULL || seq_push(vs, list, v) != MFS_OK) return NULL;
    }
    *n = list->u.seq.n;
    return list;
  }
  const Value *vals = sget(st, "values");
  if (vals != NULL && vals->kind == VAL_NDARRAY && vals->u.arr->ndim == 1 && vals->u.arr->objects) {
    *n = vals->u.arr->objects->u.seq.n;
    return vals->u.arr->objects;
  }
  uint64_t k;
  int64_t *ints = vals ? read_ints(vals, &k) : NULL;
  if (ints == NULL) return NULL;
  int ok = dtype_of(vals)->kind == 'i' || dtype_of(vals)->itemsize < 8;
  for (uint64_t i = 0; ok && i < k; i++) {
    Value *v = value_int(vs, ints[i]);
    ok = v != NULL && seq_push(vs, list, v) == MFS_OK;
  }
  free(ints);
  *n = k;
  return ok ? list : NULL;
}

/* ---- managers ------------------------------------------------------------------------- */

/* The blocks of a manager, whatever pandas wrote it: *axes gets the axes list,
** and vals/locs the values and placement of every block. */
typedef struct Blocks {
  const Value *axes;
  size_t n;
  const Value *vals[MFS_MAX_PANDAS_BLOCKS];
  const Value *locs[MFS_MAX_PANDAS_BLOCKS];
} Blocks;

static int add_block(Blocks *b, const Value *vals, const Value *locs) {
  if (b->n == MFS_MAX_PANDAS_BLOCKS || vals == NULL || locs == NULL) return 0;
  b->vals[b->n] = vals;
  b->locs[b->n] = locs;
  b->n++;
  return 1;
}

/* BlockManager(blocks, axes) / SingleBlockManager(block, axis) with blocks made by
** _unpickle_block(values, placement, ndim) (pandas >= 1.3). */
static int blocks_of_call(const Value *mgr, Blocks *b, Value *one_axis) {
  const Value *args = mgr->u.obj->args;
  if (count(args) != 2) return 0;
  const Value *blocks = item(args, 0);
  int single = is_pandas(callable_of(mgr), "SingleBlockManager");
  if (single) {
    one_axis->u.seq.items[0] = item(args, 1);
    b->axes = one_axis;
  } else {
    b->axes = item(args, 1);
  }
  size_t nb = single ? 1 : count(blocks);
  for (size_t i = 0; i < nb; i++) {
    const Value *blk = single ? blocks : item(blocks, i);
    if (!is_pandas(callable_of(blk), "_unpickle_block")) return 0;
    const Value *ba = blk->u.obj->args;
    if (!add_block(b, item(ba, 0), item(ba, 1))) return 0;
  }
  return 1;
}

/* The state tuple (axes, values, items, {"0.14.1": {"axes", "blocks"}}) of pandas
** 0.14.1 up to 1.2. */
static int blocks_of_state(const Value *st, Blocks *b) {
  const Value *extra = item(st, 3);
  const Value *v = sget(extra, "0.14.1");
  const Value *blocks = sget(v, "blocks");
  b->axes = sget(v, "axes");
  if (blocks == NULL || b->axes == NULL) return 0;
  for (size_t i = 0; i < count(blocks); i++) {
    const Value *blk = item(blocks, i);
    if (!add_block(b, sget(blk, "values"), sget(blk, "mgr_locs"))) return 0;
  }
  return count(blocks) == b->n;
}

static int manager_blocks(const Value *mgr, Blocks *b, Value *one_axis) {
  const Value *c = callable_of(mgr);
  if (!is_pandas(c, "BlockManager") && !is_pandas(c, "SingleBlockManager")) return 0;
  const Value *st = mgr->u.obj->state;
  if (st != NULL && st->kind == VAL_TUPLE) return blocks_of_state(st, b);
  return blocks_of_call(mgr, b, one_axis);
}

/* The frame positions of a block's items: a slice(start, stop, step) or an array
** of integers; malloc'd. */
static int64_t *placement(const Value *locs, uint64_t *n) {
  if (locs != NULL && locs->kind == VAL_NDARRAY) return read_ints(locs, n);
  const Value *c = callable_of(locs);
  if (c == NULL || !value_is_global(c, "builtins", "slice")) return NULL;
  const Value *a = locs->u.obj->args;
  const Value *s0 = item(a, 0), *s1 = item(a, 1), *s2 = item(a, 2);
  if (s1 == NULL || s1->kind != VAL_INT) return NULL;
  int64_t start = s0 && s0->kind == VAL_INT ? s0->u.i : 0;
  int64_t stop = s1->u.i, step = s2 && s2->kind == VAL_INT ? s2->u.i : 1;
  if (step <= 0 || start < 0 || stop < start || (uint64_t)(stop - start) > MFS_MAX_MATERIALISE / 8)
    return NULL;
  *n = (uint64_t)((stop - start + step - 1) / step);
  int64_t *out = malloc(*n ? (size_t)*n * sizeof *out : 1);
  for (uint64_t i = 0; out != NULL && i < *n; i++) out[i] = start + (int64_t)i * step;
  return out;
}

/* A nullable array (IntegerArray, FloatingArray, BooleanArray: values and a mask
** of missing ones) as an object of its class holding "data" and "mask" only, as
** numpy masked arrays show; pandas' dtype name ("Int64", "boolean").  Another
** extension array is shown as stored, its dtype named by its class. */
static Value *other_column(ValueSet *vs, const Value *vals, const char **dtype) {
  const char *name = pandas_name(callable_of(vals));
  const Value *st = state_of(vals);
  Value *data = sget(st, "_data"), *mask = sget(st, "_mask");
  if (name == NULL) return NULL;
  *dtype = name;
  if (data == NULL || mask == NULL || dtype_of(data) == NULL ||
      (strcmp(name, "IntegerArray") != 0 && strcmp(name, "FloatingArray") != 0 &&
       strcmp(name, "BooleanArray") != 0))
    return (Value *)vals;
  const char *np = numpy_name(vs, dtype_of(data));
  if (np == NULL) return NULL;
  char buf[32];
  snprintf(buf, sizeof buf, "%s", np);
  if (strcmp(name, "BooleanArray") == 0) snprintf(buf, sizeof buf, "boolean");
  else if (buf[0] == 'u') buf[0] = 'U', buf[1] = 'I';
  else buf[0] = (char)(buf[0] - 'a' + 'A');
  *dtype = arena_strndup(vs->arena, buf, strlen(buf));
  Value *out = value_object(vs, vals->u.obj->callable, NULL, OBJ_REDUCE);
  Value *ns = value_new(vs, VAL_DICT);
  if (*dtype == NULL || out == NULL || ns == NULL || put(vs, ns, "data", data) != MFS_OK ||
      put(vs, ns, "mask", mask) != MFS_OK)
    return NULL;
  out->u.obj->state = ns;
  return out;
}

/* Column i of a block's values (2-D arrays hold one column per row; 1-D
** extension arrays are one column). */
static Value *block_column(ValueSet *vs, const Value *vals, uint64_t i, const char **dtype) {
  Value *v = ext_values(vs, vals, dtype);
  if (v == NULL && i == 0 && vals->kind == VAL_OBJECT) return other_column(vs, vals, dtype);
  if (v == NULL) return NULL;
  if (v->kind == VAL_NDARRAY && v->u.arr->ndim == 2) return row_of(vs, v, i);
  if (i != 0) return NULL;
  if (v->kind == VAL_LIST || (v->kind == VAL_NDARRAY && v->u.arr->ndim == 1)) return v;
  return NULL;
}

/* Every column in frame order, with its dtype; 0 when any is missing or doubled. */
static int frame_columns(ValueSet *vs, const Blocks *b, uint64_t ncols, Value **cols,
                         const char **dtypes) {
  for (size_t k = 0; k < b->n; k++) {
    uint64_t n;
    int64_t *pos = placement(b->locs[k], &n);
    int ok = pos != NULL;
    for (uint64_t i = 0; ok && i < n; i++) {
      ok = pos[i] >= 0 && (uint64_t)pos[i] < ncols && cols[pos[i]] == NULL;
      if (ok) cols[pos[i]] = block_column(vs, b->vals[k], i, &dtypes[pos[i]]);
      ok = ok && cols[pos[i]] != NULL;
    }
    free(pos);
    if (!ok) return 0;
  }
  for (uint64_t j = 0; j < ncols; j++)
    if (cols[j] == NULL) return 0;
  return 1;
}

static Value *str_value(ValueSet *vs, const char *s) { return value_str(vs, s, strlen(s)); }

/* The canonical state of a frame: columns {label: values}, dtypes {label: name},
** index; NULL when the manager is not one this file can read. */
static Value *frame_state(ValueSet *vs, const Blocks *b) {
  const Value *colidx = item(b->axes, 0), *rowidx = item(b->axes, 1);
  uint64_t ncols;
  Value *labels = index_labels(vs, colidx, &ncols);
  if (labels == NULL || rowidx == NULL || count(b->axes) != 2) return NULL;
  Value **cols = calloc(ncols ? (size_t)ncols : 1, sizeof *cols);
  const char **dtypes = calloc(ncols ? (size_t)ncols : 1, sizeof *dtypes);
  Value *st = value_new(vs, VAL_DICT), *cd = value_new(vs, VAL_DICT), *dd = value_new(vs, VAL_DICT);
  int ok = cols && dtypes && st && cd && dd && frame_columns(vs, b, ncols, cols, dtypes);
  for (uint64_t j = 0; ok && j < ncols; j++) {
    Value *lab = labels->u.seq.items[j], *dn = str_value(vs, dtypes[j]);
    ok = dn != NULL && dict_put(vs, cd, lab, cols[j]) == MFS_OK && dict_put(vs, dd, lab, dn) == MFS_OK;
  }
  ok = ok && put(vs, st, "columns", cd) == MFS_OK && put(vs, st, "dtypes", dd) == MFS_OK &&
       put(vs, st, "index", (Value *)rowidx) == MFS_OK;
  free(cols);
  free(dtypes);
  return ok ? st : NULL;
}

/* The canonical state of a Series: name, dtype, index, values. */
static Value *series_state(ValueSet *vs, const Blocks *b, Value *name) {
  const char *dtype = NULL;
  Value *vals = b->n == 1 ? block_column(vs, b->vals[0], 0, &dtype) : NULL;
  if (vals != NULL && vals->kind == VAL_NDARRAY && vals->u.arr->ndim != 1) vals = NULL;
  const Value *idx = item(b->axes, 0);
  Value *st = value_new(vs, VAL_DICT), *dn = dtype ? str_value(vs, dtype) : NULL;
  if (vals == NULL || idx == NULL || count(b->axes) != 1 || st == NULL || dn == NULL) return NULL;
  if (name == NULL) name = value_none(vs);
  if (name == NULL || put(vs, st, "name", name) != MFS_OK || put(vs, st, "dtype", dn) != MFS_OK ||
      put(vs, st, "index", (Value *)idx) != MFS_OK || put(vs, st, "values", vals) != MFS_OK)
    return NULL;
  return st;
}

int canon_pandas_kind(const Value *obj) {
  const Value *c = callable_of(obj);
  if (c == NULL || c->kind != VAL_GLOBAL) return 0;
  if (value_is_global(c, "pandas.core.frame", "DataFrame")) return PANDAS_FRAME;
  if (value_is_global(c, "pandas.core.series", "Series")) return PANDAS_SERIES;
  return 0;
}

MfsStatus canon_pandas(ValueSet *vs, Value *obj) {
  int kind = canon_pandas_kind(obj);
  Value *st = state_of(obj);
  if (kind == 0 || st == NULL || st->kind != VAL_DICT) return MFS_OK;
  Value *mgr = dict_get_str(st, "_mgr");
  if (mgr == NULL) mgr = dict_get_str(st, "_data");
  Value *axis_items[1] = {NULL};
  Value one_axis;
  memset(&one_axis, 0, sizeof one_axis);
  one_axis.kind = VAL_LIST;
  one_axis.u.seq.items = axis_items;
  one_axis.u.seq.n = one_axis.u.seq.cap = 1;
  Blocks *b = calloc(1, sizeof *b);
  if (b == NULL) return MFS_OK;
  Value *out = NULL;
  if (mgr != NULL && manager_blocks(mgr, b, &one_axis))
    out = kind == PANDAS_FRAME ? frame_state(vs, b) : series_state(vs, b, dict_get_str(st, "name"));
  free(b);
  if (out == NULL) return vs->err->code == MFS_ELIMIT || vs->err->code == MFS_ENOMEM ? vs->err->code : MFS_OK;
  const Value *attrs = dict_get_str(st, "attrs");
  if (attrs != NULL && attrs->kind == VAL_DICT && attrs->u.dict.n > 0 &&
      put(vs, out, "attrs", (Value *)attrs) != MFS_OK)
    return vs->err->code;
  obj->u.obj->state = out;
  return MFS_OK;
}
