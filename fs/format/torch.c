/*
** torch.c -- the "pytorch" and "pytorch-legacy" Formats: checkpoints torch.save
** writes, their tensors as arrays.
**
** Zip layout (torch >= 1.6, Hugging Face's pytorch_model.bin): PREFIX/data.pkl
** runs through the pickle VM with two hooks: persistent_load resolves
** ('storage', StorageType, key, location, numel) to the stored member
** PREFIX/data/KEY, and the call hook folds torch's tensor reconstructors
** (_rebuild_tensor_v2, _rebuild_tensor, _rebuild_parameter[_with_state],
** _rebuild_from_type_v2 of a plain Tensor/Parameter) into VAL_NDARRAY values.
** Legacy layout (_use_new_zipfile_serialization=False): five pickles back to back
** (magic number, protocol version, sys info, the data, the storage keys) and then
** each storage as an 8-byte element count and its bytes, in key order.
**
** A tensor is served in C order: by offset from its storage when C-contiguous,
** gathered through a strided Source otherwise, widened to float32 when numpy has
** no such dtype (bfloat16, float8).  Two tensors that are the same view of one
** storage (tied weights) are one Value, so the renderer links them; other views
** of a storage are separate arrays.  A state_dict's OrderedDict is a dict (its
** `_metadata` of module versions is a container fact, not shown).
** It must never execute, import or resolve anything, never read tensor bytes at
** decode time, never trust a declared size or stride before checking it against
** the bytes the storage holds, and never extract a member to a host path.
*/
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>
#include "modelfs/dtype.h"
#include "modelfs/limits.h"
#include "modelfs/pickle.h"
#include "modelfs/u64map.h"
#include "modelfs/zipio.h"

/* ---- torch dtypes ------------------------------------------------------------------ */

typedef struct TType {
  const char *storage;     /* torch.<storage> as pickled */
  const char *name;        /* torch's dtype name */
  const char *typestr;     /* numpy dtype served */
  unsigned size;           /* bytes per stored element */
  int widen;               /* served widened to float32 (no numpy dtype) */
} TType;

static const TType ttypes[] = {
  {"DoubleStorage", "float64", "<f8", 8, 0},
  {"FloatStorage", "float32", "<f4", 4, 0},
  {"HalfStorage", "float16", "<f2", 2, 0},
  {"BFloat16Storage", "bfloat16", "<f4", 2, 1},
  {"LongStorage", "int64", "<i8", 8, 0},
  {"IntStorage", "int32", "<i4", 4, 0},
  {"ShortStorage", "int16", "<i2", 2, 0},
  {"CharStorage", "int8", "|i1", 1, 0},
  {"ByteStorage", "uint8", "|u1", 1, 0},
  {"BoolStorage", "bool", "|b1", 1, 0},
  {"ComplexDoubleStorage", "complex128", "<c16", 16, 0},
  {"ComplexFloatStorage", "complex64", "<c8", 8, 0},
  {"UInt16Storage", "uint16", "<u2", 2, 0},
  {"UInt32Storage", "uint32", "<u4", 4, 0},
  {"UInt64Storage", "uint64", "<u8", 8, 0},
  {"QInt8Storage", "qint8", "|i1", 1, 0},
  {"QUInt8Storage", "quint8", "|u1", 1, 0},
  {"QInt32Storage", "qint32", "<i4", 4, 0},
  {"Float8_e4m3fnStorage", "float8_e4m3fn", "<f4", 1, 1},
  {"Float8_e5m2Storage", "float8_e5m2", "<f4", 1, 1},
  {"UntypedStorage", "uint8", "|u1", 1, 0},
};

static const TType *ttype_of(const Value *g) {
  if (g == NULL || g->kind != VAL_GLOBAL) return NULL;
  const char *mod = g->u.global.module;
  if (strcmp(mod, "torch") != 0 && strcmp(mod, "torch.cuda") != 0) return NULL;
  for (size_t i = 0; i < sizeof ttypes / sizeof *ttypes; i++)
    if (strcmp(g->u.global.name, ttypes[i].storage) == 0) return &ttypes[i];
  return NULL;
}

/* ---- decoding state ------------------------------------------------------------------ */

typedef struct Storage {
  const char *key;
  const TType *type;
  uint64_t numel;
  Value *v;                /* the storage as a 1-D array */
  Source *src;             /* where its bytes are (NULL until located) */
  uint64_t off;
  int parent;              /* legacy storage views: index of the root storage, else -1 */
  uint64_t parent_off;     /* elements into the parent */
  const char *missing;     /* why the bytes cannot be produced */
  int next;                /* next storage whose key hashes alike, or -1 */
} Storage;

typedef struct Tensor {
  Value *v;
  int storage;
  uint64_t off;            /* elements */
  int ndim;
  uint64_t *shape;
  int64_t *stride;
  uint64_t hash;
} Tensor;

typedef struct Torch {
  Model *m;
  Reader *r;               /* for error offsets */
  int big_endian;
  Storage *st;
  size_t nst, capst;
  Tensor *tn;
  size_t ntn, capt;
  U64Map by_value;         /* storage Value id -> index */
  U64Map by_key;           /* hash of a storage key -> 1 + index of the latest with it */
  U64Map by_view;          /* view hash -> 1 + index of the first tensor with it */
  U64Map by_tensor;        /* tensor Value id -> 1 */
  Value *dtypes[sizeof ttypes / sizeof *ttypes];
  uint64_t counts[sizeof ttypes / sizeof *ttypes];
  Source *keep;            /* bundle of the storages' and views' Sources (arena-kept) */
  size_t nkeep;
  /* zip layout */
  zip_t *za;
  struct ZipIo *io;
  const char *prefix;      /* "archive/" */
} Torch;

static uint64_t here(const Torch *t) { return t->r ? reader_pos(t->r) : MFS_NO_OFFSET; }

static MfsStatus fail(Torch *t, MfsStatus code, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));
static MfsStatus fail(Torch *t, MfsStatus code, const char *fmt, ...) {
  char why[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  uint64_t at = here(t);
  if (at == MFS_NO_OFFSET) return err_set(&t->m->err, code, at, "%s", why);
  return err_set(&t->m->err, code, at, "offset %llu: %s", (unsigned long long)at, why);
}

static int as_u64(const Value *v, uint64_t *out) {
  if (v == NULL || v->kind != VAL_INT || v->u.i < 0) return 0;
  *out = (uint64_t)v->u.i;
  return 1;
}

static const char *text(const Value *v) {
  return v != NULL && v->kind == VAL_STR && memchr(v->u.str.s, 0, v->u.str.len) == NULL ? v->u.str.s
                                                                                          : NULL;
}

static Value *dtype_for(Torch *t, const TType *ty) {
  size_t i = (size_t)(ty - ttypes);
  if (t->dtypes[i] == NULL) {
    char ts[8];
    snprintf(ts, sizeof ts, "%s", ty->typestr);
    if (t->big_endian && !ty->widen && ts[0] == '<') ts[0] = '>';
    t->dtypes[i] = dtype_from_str(&t->m->vs, ts, 0);
  }
  return t->dtypes[i];
}

/* A fresh VAL_NDARRAY of type ty and shape (data filled in by finish()). */
static Value *new_array(Torch *t, const TType *ty, int ndim, const uint64_t *shape) {
  Value *dt = dtype_for(t, ty);
  Value *v = dt ? value_new(&t->m->vs, VAL_NDARRAY) : NULL;
  NdArray *a = v ? arena_alloc(t->m->vs.arena, sizeof *a) : NULL;
  uint64_t *sh = v ? arena_alloc(t->m->vs.arena, (size_t)(ndim ? ndim : 1) * sizeof *sh) : NULL;
  if (a == NULL || sh == NULL) {
    if (t->m->err.code == MFS_OK) fail(t, MFS_ENOMEM, "out of memory");
    return NULL;
  }
  if (ndim) memcpy(sh, shape, (size_t)ndim * sizeof *sh);
  a->dtype = dt;
  a->ndim = ndim;
  a->shape = sh;
  if (ty->widen) a->stored_dtype = ty->name;
  v->u.arr = a;
  return v;
}

/* Keep src (our reference) alive as long as the graph; 0 when over the limit or
** out of memory (src is then released). */
static int keep(Torch *t, Source *src) {
  if (t->keep == NULL) {
    t->keep = source_bundle("tensor views");
    if (t->keep == NULL) {
      source_unref(src);
      return 0;
    }
    arena_keep_source(t->m->vs.arena, t->keep);
    source_unref(t->keep);   /* the arena's reference keeps it */
  }
  if (t->nkeep >= limit_lowered("MODELFS_TEST_MAX_DERIVED_SOURCES", MFS_MAX_DERIVED_SOURCES) ||
      !source_bundle_add(t->keep, src)) {
    source_unref(src);
    return 0;
  }
  t->nkeep++;
  return 1;
}

/* ---- storages ------------------------------------------------------------------------ */

static uint64_t key_hash(const char *key) {
  uint64_t h = 1469598103934665603ULL;
  for (; *key; key++) h = (h ^ (uint8_t)*key) * 1099511628211ULL;
  return h;
}

static int find_storage(const Torch *t, const char *key) {
  uint64_t at;
  if (!u64map_get(&t->by_key, key_hash(key), &at)) return -1;
  for (int i = (int)at - 1; i >= 0; i = t->st[i].next)
    if (strcmp(t->st[i].key, key) == 0) return i;
  return -1;
}

static int add_storage(Torch *t, const char *key, const TType *ty, uint64_t numel) {
  if (t->nst == t->capst) {
    size_t cap = t->capst ? t->capst * 2 : 64;
    Storage *ns = realloc(t->st, cap * sizeof *ns);
    if (ns == NULL) return -1;
    t->st = ns;
    t->capst = cap;
  }
  if (numel > MFS_MAX_ELEMENTS) {
    fail(t, MFS_ELIMIT, "storage %s: %llu elements", key, (unsigned long long)numel);
    return -1;
  }
  Storage *s = &t->st[t->nst];
  memset(s, 0, sizeof *s);
  s->key = arena_strndup(t->m->vs.arena, key, strlen(key));
  s->type = ty;
  s->numel = numel;
  s->parent = -1;
  s->v = new_array(t, ty, 1, &numel);
  if (s->key == NULL || s->v == NULL) return -1;
  uint64_t h = key_hash(key), at;
  s->next = u64map_get(&t->by_key, h, &at) ? (int)at - 1 : -1;
  if (u64map_put(&t->by_value, s->v->id, t->nst) != MFS_OK ||
      u64map_put(&t->by_key, h, t->nst + 1) != MFS_OK) {
    fail(t, MFS_ENOMEM, "out of memory");
    return -1;
  }
  return (int)t->nst++;
}

struct ZipIo;
static Source *zip_member(Torch *t, const char *name, uint64_t *size, char *why, size_t cap);

/* persistent_load(('storage', StorageType, key, location, numel[, view_metadata])). */
static MfsStatus hook_persistent_load(void *ctx, Model *m, Value *pid, Value **out) {
  Torch *t = ctx;
  (void)m;
  *out = NULL;
  if (pid->kind != VAL_TUPLE || pid->u.seq.n < 5 || !value_is_str(pid->u.seq.items[0], "storage"))
    return fail(t, MFS_ECORRUPT, "persistent id is not a ('storage', type, key, location, numel) tuple");
  Value **it = pid->u.seq.items;
  const TType *ty = ttype_of(it[1]);
  const char *key = text(it[2]);
  uint64_t numel;
  if (ty == NULL)
    return fail(t, MFS_EUNSUPPORTED, "storage of unknown type %s",
                it[1]->kind == VAL_GLOBAL ? global_dotted(t->m->vs.arena, it[1]) : "?");
  if (key == NULL || !as_u64(it[4], &numel))
    return fail(t, MFS_ECORRUPT, "storage key or element count of the wrong kind");
  int i = find_storage(t, key);
  if (i < 0) {
    i = add_storage(t, key, ty, numel);
    if (i < 0) return t->m->err.code ? t->m->err.code : fail(t, MFS_ENOMEM, "out of memory");
    if (t->za != NULL) {   /* zip: the bytes are the member PREFIX/data/KEY */
      char name[1024], why[300] = "";
      uint64_t size = 0;
      snprintf(name, sizeof name, "%sdata/%s", t->prefix, key);
      Storage *s = &t->st[i];
      s->src = zip_member(t, name, &size, why, sizeof why);
      if (s->src == NULL) {
        s->missing = arena_strndup(t->m->vs.arena, why, strlen(why));
        fail(t, MFS_ECORRUPT, "storage %s: %s", key, why);
      } else if (size / ty->size < numel) {
        fail(t, MFS_ECORRUPT, "storage %s: %llu elements declared, member holds %llu bytes", key,
             (unsigned long long)numel, (unsigned long long)size);
        s->missing = "storage member shorter than declared";
      }
      if (s->src != NULL && !keep(t, s->src)) {
        s->src = NULL;
        s->missing = "too many storages";
        fail(t, MFS_ELIMIT, "more than %llu storages", (unsigned long long)t->nkeep);
      }
    }
  }
  /* Legacy storage views (pre-1.0 files): (view_key, offset, view_size). */
  Value *view = pid->u.seq.n > 5 ? it[5] : NULL;
  if (view != NULL && view->kind == VAL_TUPLE && view->u.seq.n == 3) {
    const char *vkey = text(view->u.seq.items[0]);
    uint64_t voff, vsize;
    if (vkey == NULL || !as_u64(view->u.seq.items[1], &voff) || !as_u64(view->u.seq.items[2], &vsize) ||
        voff > numel || vsize > numel - voff)
      return fail(t, MFS_ECORRUPT, "storage view outside its storage %s", key);
    int j = find_storage(t, vkey);
    if (j < 0) {
      j = add_storage(t, vkey, ty, vsize);
      if (j < 0) return t->m->err.code ? t->m->err.code : fail(t, MFS_ENOMEM, "out of memory");
      t->st[j].parent = i;
      t->st[j].parent_off = voff;
    }
    i = j;
  }
  *out = t->st[i].v;
  return MFS_OK;
}

/* ---- tensors --------------------------------------------------------------------------- */

static int storage_of(Torch *t, const Value *v) {
  uint64_t i;
  if (v == NULL || v->kind != VAL_NDARRAY || !u64map_get(&t->by_value, v->id, &i)) return -1;
  return t->st[i].v == v ? (int)i : -1;
}

static uint64_t mix(uint64_t h, uint64_t x) {
  h ^= x + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  return h * 0xff51afd7ed558ccdULL;
}

static int same_view(const Tensor *a, const Tensor *b) {
  if (a->storage != b->storage || a->off != b->off || a->ndim != b->ndim) return 0;
  for (int d = 0; d < a->ndim; d++)
    if (a->shape[d] != b->shape[d] || (a->shape[d] > 1 && a->stride[d] != b->stride[d])) return 0;
  return 1;
}

/* A tensor view (storage, offset, size, stride) as an array; the same view of
** the same storage twice is the same Value. */
static MfsStatus fold_tensor(Torch *t, Value *args, Value **out) {
  Value **it = args->u.seq.items;
  int si = args->u.seq.n >= 4 ? storage_of(t, it[0]) : -1;
  uint64_t off;
  if (si < 0) return MFS_OK;   /* not a storage we resolved: left as a call */
  if (!as_u64(it[1], &off) || it[2]->kind != VAL_TUPLE || it[3]->kind != VAL_TUPLE ||
      it[2]->u.seq.n != it[3]->u.seq.n || it[2]->u.seq.n > MFS_MAX_NDIM)
    return fail(t, MFS_ECORRUPT, "tensor offset, size or stride of the wrong kind");
  Tensor tn = {NULL, si, off, (int)it[2]->u.seq.n, NULL, NULL, 0};
  tn.shape = arena_alloc(t->m->vs.arena, (size_t)(tn.ndim + 1) * sizeof *tn.shape);
  tn.stride = arena_alloc(t->m->vs.arena, (size_t)(tn.ndim + 1) * sizeof *tn.stride);
  if (tn.shape == NULL || tn.stride == NULL) return fail(t, MFS_ENOMEM, "out of memory");
  uint64_t count = 1, last = off;
  int empty = 0;
  for (int d = 0; d < tn.ndim; d++) {
    uint64_t n, s;
    if (!as_u64(it[2]->u.seq.items[d], &n) || !as_u64(it[3]->u.seq.items[d], &s))
      return fail(t, MFS_ECORRUPT, "tensor size or stride is not a non-negative int");
    if (n > MFS_MAX_ELEMENTS || s > MFS_MAX_ELEMENTS || (n && count > MFS_MAX_ELEMENTS / n))
      return fail(t, MFS_ELIMIT, "tensor of more than %llu elements",
                  (unsigned long long)MFS_MAX_ELEMENTS);
    tn.shape[d] = n;
    tn.stride[d] = (int64_t)s;
    count *= n;
    if (n == 0) empty = 1;
    else last += (n - 1) * s;
  }
  const Storage *st = &t->st[si];
  if (!empty && last >= st->numel)
    return fail(t, MFS_ECORRUPT, "tensor view reaches element %llu of storage %s of %llu elements",
                (unsigned long long)last, st->key, (unsigned long long)st->numel);
  uint64_t h = mix(mix((uint64_t)si, off), (uint64_t)tn.ndim);
  for (int d = 0; d < tn.ndim; d++)
    h = mix(mix(h, tn.shape[d]), tn.shape[d] > 1 ? (uint64_t)tn.stride[d] : 0);
  tn.hash = h;
  uint64_t first;
  if (u64map_get(&t->by_view, h, &first)) {
    for (size_t k = first - 1; k < t->ntn; k++)
      if (t->tn[k].hash == h && same_view(&t->tn[k], &tn)) {
        *out = t->tn[k].v;
        return MFS_OK;
      }
  }
  tn.v = new_array(t, st->type, tn.ndim, tn.shape);
  if (tn.v == NULL) return t->m->err.code;
  if (t->ntn == t->capt) {
    size_t cap = t->capt ? t->capt * 2 : 64;
    Tensor *nt = realloc(t->tn, cap * sizeof *nt);
    if (nt == NULL) return fail(t, MFS_ENOMEM, "out of memory");
    t->tn = nt;
    t->capt = cap;
  }
  if ((!u64map_get(&t->by_view, h, &first) && u64map_put(&t->by_view, h, t->ntn + 1) != MFS_OK) ||
      u64map_put(&t->by_tensor, tn.v->id, 1) != MFS_OK)
    return fail(t, MFS_ENOMEM, "out of memory");
  t->tn[t->ntn++] = tn;
  *out = tn.v;
  return MFS_OK;
}

static int is_fn(const Value *g, const char *module, const char *name) {
  return value_is_global(g, module, name);
}

/* A value built by one of ours: a tensor array (or a storage). */
static int ours(Torch *t, const Value *v) {
  uint64_t one;
  if (v == NULL || v->kind != VAL_NDARRAY) return 0;
  return u64map_get(&t->by_tensor, v->id, &one) || storage_of(t, v) >= 0;
}

static MfsStatus hook_call(void *ctx, Model *m, Value *callable, Value *args, Value **out) {
  Torch *t = ctx;
  (void)m;
  *out = NULL;
  if (callable == NULL || callable->kind != VAL_GLOBAL || args == NULL || args->kind != VAL_TUPLE)
    return MFS_OK;
  Value **it = args->u.seq.items;
  size_t n = args->u.seq.n;
  if (is_fn(callable, "torch._utils", "_rebuild_tensor_v2") || is_fn(callable, "torch._utils", "_rebuild_tensor"))
    return fold_tensor(t, args, out);
  if ((is_fn(callable, "torch._utils", "_rebuild_parameter") ||
       is_fn(callable, "torch._utils", "_rebuild_parameter_with_state")) && n >= 1 && ours(t, it[0])) {
    *out = it[0];
    return MFS_OK;
  }
  /* Tensor.__reduce_ex__ of a tensor with Python state: (func, type, args, state). */
  if (is_fn(callable, "torch._tensor", "_rebuild_from_type_v2") && n == 4 &&
      (is_fn(it[1], "torch", "Tensor") || is_fn(it[1], "torch.nn.parameter", "Parameter")) &&
      it[2]->kind == VAL_TUPLE &&
      (is_fn(it[0], "torch._utils", "_rebuild_tensor_v2") || is_fn(it[0], "torch._utils", "_rebuild_tensor")))
    return fold_tensor(t, it[2], out);
  return MFS_OK;
}

/* A state_dict: OrderedDict() + SETITEMS + BUILD({'_metadata': ...}).  Back to a
** dict in place (memo references see it), module versions dropped. */
static MfsStatus hook_after_build(void *ctx, Model *m, Reader *r, Value **obj) {
  (void)ctx;
  (void)m;
  Value *v = *obj;
  if (r == NULL || v->kind != VAL_OBJECT) return MFS_OK;
  Object *o = v->u.obj;
  if (!is_fn(o->callable, "collections", "OrderedDict") || o->items != NULL ||
      (o->args != NULL && o->args->u.seq.n != 0) || o->state == NULL ||
      o->state->kind != VAL_DICT || o->state->u.dict.n != 1 ||
      !value_is_str(o->state->u.dict.keys[0], "_metadata"))
    return MFS_OK;
  Value *items = o->dictitems;
  v->kind = VAL_DICT;
  v->flags |= VF_ORDERED;
  memset(&v->u, 0, sizeof v->u);
  if (items != NULL) v->u.dict = items->u.dict;
  return MFS_OK;
}

/* ---- serving tensor bytes ---------------------------------------------------------- */

static int c_contiguous(const Tensor *tn) {
  uint64_t want = 1;
  for (int d = tn->ndim; d-- > 0;) {
    if (tn->shape[d] == 0) return 1;
    if (tn->shape[d] != 1 && (uint64_t)tn->stride[d] != want) return 0;
    want *= tn->shape[d];
  }
  return 1;
}

/* Where a storage's bytes are, following legacy views to their root. */
static int storage_bytes(Torch *t, int i, Source **src, uint64_t *off, const char **why) {
  uint64_t extra = 0;
  for (int hops = 0; i >= 0 && hops < 2; hops++) {
    Storage *s = &t->st[i];
    if (s->parent < 0) {
      if (s->src == NULL || s->missing) {
        *why = s->missing ? s->missing : "storage bytes not found in the file";
        return 0;
      }
      *src = s->src;
      *off = s->off + extra * s->type->size;
      return 1;
    }
    extra += s->parent_off;
    i = s->parent;
  }
  *why = "storage view of a view";
  return 0;
}

static void set_data(Torch *t, NdArray *a, const TType *ty, Source *inner, uint64_t off, int ndim,
                     const uint64_t *shape, const int64_t *stride, int contiguous) {
  uint64_t n = 1;
  for (int d = 0; d < ndim; d++) n *= shape[d];
  uint64_t bytes = n * ty->size;
  if (ty->widen && ty->size > 1 && t->big_endian) {   /* source_widen reads little-endian */
    a->error = "a big-endian bfloat16 tensor cannot be served";
    return;
  }
  if (contiguous && !ty->widen) {
    a->data.src = inner;
    a->data.off = off;
    a->data.len = bytes;
    return;
  }
  Source *s = contiguous ? source_slice(inner, off, bytes, inner->name)
                         : source_strided(inner, off, ty->size, ndim, shape, stride, inner->name);
  if (s != NULL && ty->widen) {
    Source *w = source_widen(s, ty->name, inner->name);
    source_unref(s);
    s = w;
  }
  if (s == NULL || !keep(t, s)) {
    a->error = s == NULL ? "out of memory" : "too many tensor views to serve";
    if (t->m->err.code == MFS_OK)
      fail(t, s == NULL ? MFS_ENOMEM : MFS_ELIMIT, "more than %llu tensors served through views",
           (unsigned long long)t->nkeep);
    return;
  }
  a->data.src = s;
  a->data.off = 0;
  a->data.len = n * (ty->widen ? 4 : ty->size);
}

/* Give every storage and tensor its bytes; count dtypes for meta.json. */
static void finish(Torch *t) {
  for (size_t i = 0; i < t->nst; i++) {
    Storage *s = &t->st[i];
    Source *src;
    uint64_t off;
    const char *why;
    int64_t one = 1;
    if (!storage_bytes(t, (int)i, &src, &off, &why)) s->v->u.arr->error = why;
    else set_data(t, s->v->u.arr, s->type, src, off, 1, &s->numel, &one, 1);
  }
  for (size_t k = 0; k < t->ntn; k++) {
    Tensor *tn = &t->tn[k];
    const TType *ty = t->st[tn->storage].type;
    Source *src;
    uint64_t off;
    const char *why;
    t->counts[ty - ttypes]++;
    if (!storage_bytes(t, tn->storage, &src, &off, &why)) tn->v->u.arr->error = why;
    else set_data(t, tn->v->u.arr, ty, src, off + tn->off * ty->size, tn->ndim, tn->shape,
                  tn->stride, c_contiguous(tn));
  }
  /* meta.json "dtypes": the tensors' stored dtypes and how many of each */
  Value *d = value_new(&t->m->vs, VAL_DICT);
  for (size_t i = 0; d && i < sizeof ttypes / sizeof *ttypes; i++) {
    if (t->counts[i] == 0) continue;
    Value *k = value_str(&t->m->vs, ttypes[i].name, strlen(ttypes[i].name));
    Value *c = value_int(&t->m->vs, (int64_t)t->counts[i]);
    /* float32 from FloatStorage and a count under the same name merge */
    Value *old = k ? dict_get_str(d, ttypes[i].name) : NULL;
    if (old) old->u.i += (int64_t)t->counts[i];
    else if (k && c) dict_put(&t->m->vs, d, k, c);
  }
  if (d) dict_put(&t->m->vs, t->m->meta_extra, value_str(&t->m->vs, "dtypes", 6), d);
}

static void torch_free(Torch *t) {
  free(t->st);
  free(t->tn);
  u64map_free(&t->by_value);
  u64map_free(&t->by_view);
  u64map_free(&t->by_tensor);
  u64map_free(&t->by_key);
}

static MfsStatus run_data_pickle(Torch *t, Reader *r, Value **root) {
  PickleHooks hooks = {t, hook_after_build, hook_persistent_load, hook_call};
  t->r = r;
  MfsStatus st = pickle_run(t->m, r, &hooks, 0, root, &t->m->protocol);
  t->r = NULL;
  return st;
}

/* ---- zip layout ------------------------------------------------------------------------ */

/* A Source over the named member (stored: a slice; deflated: a streaming
** inflate), or NULL with the reason. */
static Source *zip_member(Torch *t, const char *name, uint64_t *size, char *why, size_t cap) {
  zip_int64_t i = zip_name_locate(t->za, name, 0);
  zip_stat_t st;
  if (i < 0 || zip_stat_index(t->za, (zip_uint64_t)i, 0, &st) != 0) {
    snprintf(why, cap, "member %s is missing", name);
    return NULL;
  }
  *size = st.size;
  char label[1100];
  snprintf(label, sizeof label, "%s:%s", t->m->path, name);
  uint64_t off = 0;
  if (st.encryption_method != ZIP_EM_NONE ||
      (st.comp_method != ZIP_CM_STORE && st.comp_method != ZIP_CM_DEFLATE)) {
    snprintf(why, cap, "member %s: compression method %d is not supported", name, (int)st.comp_method);
    return NULL;
  }
  if (st.size == 0) return source_from_memory("", 0, label);
  if (!zipio_member_offset(t->za, t->io, (zip_uint64_t)i, st.comp_size, ZIP_FL_COMPRESSED, &off)) {
    snprintf(why, cap, "member %s: data not found", name);
    return NULL;
  }
  if (st.comp_method == ZIP_CM_STORE) {
    if (st.comp_size != st.size) {
      snprintf(why, cap, "member %s: stored sizes disagree", name);
      return NULL;
    }
    return source_slice(t->io->src, off, st.size, label);
  }
  Source *raw = source_slice(t->io->src, off, st.comp_size, label);
  Err e;
  err_clear(&e);
  Source *inf = raw ? source_decompress(raw, "deflate", &e) : NULL;
  source_unref(raw);
  Source *s = inf ? source_slice(inf, 0, st.size, label) : NULL;
  source_unref(inf);
  if (s == NULL) snprintf(why, cap, "member %.200s: %.80s", name, e.msg[0] ? e.msg : "cannot inflate");
  return s;
}

/* A small member's text (version, byteorder), or "" when absent. */
static void member_text(Torch *t, const char *leaf, char *out, size_t cap) {
  char name[1024], why[300];
  uint64_t size = 0;
  out[0] = '\0';
  snprintf(name, sizeof name, "%s%s", t->prefix, leaf);
  Source *s = zip_member(t, name, &size, why, sizeof why);
  if (s == NULL) return;
  Err e;
  err_clear(&e);
  size_t n = size < cap - 1 ? (size_t)size : cap - 1;
  if (source_read(s, 0, out, n, &e) == MFS_OK) out[n] = '\0';
  else out[0] = '\0';
  source_unref(s);
  while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' ')) out[--n] = '\0';
}

/* "X/data.pkl": one directory level, as torch writes it. */
static int data_pkl_name(const char *name, size_t n) {
  const char *slash = memchr(name, '/', n);
  return slash != NULL && slash > name && (size_t)(name + n - slash) == 9 &&
         memcmp(slash, "/data.pkl", 9) == 0;
}

static uint32_t le16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t le32(const uint8_t *p) { return le16(p) | le16(p + 2) << 16; }

/* A zip re-packed by another tool (names sorted: byteorder before data.pkl):
** look for X/data.pkl in the central directory (plain zip; a zip64 directory is
** left to the first-member rule).  Reads the tail and at most
** MFS_SNIFF_DIRECTORY_BYTES of the directory. */
static int sniff_directory(Source *src) {
  uint64_t size = src->size;
  uint8_t tail[22 + 1024];
  if (size == SOURCE_SIZE_UNKNOWN || size < 22) return 0;
  size_t span = size < sizeof tail ? (size_t)size : sizeof tail;
  Err e;
  err_clear(&e);
  if (source_read(src, size - span, tail, span, &e) != MFS_OK) return 0;
  size_t at = span - 22 + 1;
  while (at-- > 0 && memcmp(tail + at, "PK\5\6", 4) != 0) {}
  if (at == (size_t)-1) return 0;
  uint64_t cd_size = le32(tail + at + 12), cd_off = le32(tail + at + 16);
  if (cd_off > size || cd_size > size - cd_off) return 0;
  if (cd_size > MFS_SNIFF_DIRECTORY_BYTES) cd_size = MFS_SNIFF_DIRECTORY_BYTES;
  uint8_t *cd = malloc(cd_size ? (size_t)cd_size : 1);
  int found = 0;
  if (cd != NULL && source_read(src, cd_off, cd, (size_t)cd_size, &e) == MFS_OK) {
    for (size_t p = 0; p + 46 <= cd_size && memcmp(cd + p, "PK\1\2", 4) == 0 && !found;) {
      size_t nlen = le16(cd + p + 28), rest = le16(cd + p + 30) + le16(cd + p + 32);
      if (p + 46 + nlen > cd_size) break;
      found = data_pkl_name((const char *)cd + p + 46, nlen);
      p += 46 + nlen + rest;
    }
  }
  free(cd);
  return found;
}

/* src may be NULL (a head alone): then the name must lie within head. */
static int sniff_zip(Source *src, const uint8_t *head, size_t n) {
  if (n < 30 || memcmp(head, "PK\3\4", 4) != 0) return 0;
  size_t nlen = (size_t)head[26] | (size_t)head[27] << 8;
  char name[1025];
  Err e;
  err_clear(&e);
  int first = 0;
  if (nlen >= 10 && nlen <= 1024) {
    if (30 + nlen <= n) memcpy(name, head + 30, nlen);
    else if (src == NULL || source_read(src, 30, name, nlen, &e) != MFS_OK) nlen = 0;
    first = nlen && data_pkl_name(name, nlen);
  }
  return first || (src != NULL && sniff_directory(src));
}

/* Globals of the archive's other pickles (TorchScript constants, extra
** records): judged like the data, though not shown. */
static void judge_other_pickles(Torch *t, const char *data_name) {
  zip_int64_t n = zip_get_num_entries(t->za, 0);
  for (zip_int64_t i = 0; i < n && i < MFS_MAX_ZIP_MEMBERS; i++) {
    const char *name = zip_get_name(t->za, (zip_uint64_t)i, 0);
    size_t len = name ? strlen(name) : 0;
    if (len < 4 || strcmp(name + len - 4, ".pkl") != 0 || strcmp(name, data_name) == 0) continue;
    char why[300];
    uint64_t size;
    Source *s = zip_member(t, name, &size, why, sizeof why);
    if (s == NULL) continue;
    Err saved = t->m->err;
    err_clear(&t->m->err);
    Reader r;
    Value *v = NULL;
    if (reader_init(&r, s, 0, &t->m->err) == MFS_OK) {
      pickle_run(t->m, &r, NULL, 0, &v, NULL);
      reader_done(&r);
    }
    t->m->err = saved;
    source_unref(s);
  }
}

static MfsStatus decode_zip(Model *m, Source *src) {
  Torch t;
  memset(&t, 0, sizeof t);
  t.m = m;
  ZipIo io;
  memset(&io, 0, sizeof io);
  io.src = src;
  zip_error_init(&io.error);
  zip_error_t zerr;
  zip_error_init(&zerr);
  zip_source_t *zs = zip_source_function_create(zipio_cb, &io, &zerr);
  zip_t *za = zs ? zip_open_from_source(zs, ZIP_RDONLY, &zerr) : NULL;
  MfsStatus st = MFS_OK;
  if (za == NULL) {
    st = err_set(&m->err, MFS_ECORRUPT, MFS_NO_OFFSET, "not a readable zip archive: %s",
                 zip_error_strerror(&zerr));
    if (zs) zip_source_free(zs);
    goto out;
  }
  t.za = za;
  t.io = &io;
  const char *data_name = NULL;
  zip_int64_t n = zip_get_num_entries(za, 0);
  for (zip_int64_t i = 0; i < n && i < MFS_MAX_ZIP_MEMBERS && data_name == NULL; i++) {
    const char *name = zip_get_name(za, (zip_uint64_t)i, 0);
    if (name && data_pkl_name(name, strlen(name))) data_name = name;
  }
  if (data_name == NULL) {
    st = err_set(&m->err, MFS_ECORRUPT, MFS_NO_OFFSET, "PyTorch archive without a data.pkl member");
    goto out;
  }
  t.prefix = arena_strndup(m->vs.arena, data_name, strlen(data_name) - 8);   /* keeps the '/' */
  char buf[64];
  member_text(&t, "version", buf, sizeof buf);
  if (buf[0]) {
    char *end;
    long long v = strtoll(buf, &end, 10);
    if (*end == '\0') model_set_meta_int(m, "serialization_version", v);
    else model_set_meta_str(m, "serialization_version", buf);
  }
  member_text(&t, "byteorder", buf, sizeof buf);
  if (buf[0]) model_set_meta_str(m, "byteorder", buf);
  t.big_endian = strcmp(buf, "big") == 0;
  char why[300];
  uint64_t size;
  Source *ds = zip_member(&t, data_name, &size, why, sizeof why);
  if (ds == NULL) {
    st = err_set(&m->err, MFS_ECORRUPT, MFS_NO_OFFSET, "%s", why);
    goto out;
  }
  zip_stat_t zst;
  if (zip_stat(za, data_name, 0, &zst) == 0)
    m->compression = zst.comp_method == ZIP_CM_STORE ? "store" : "deflate";
  Reader r;
  if (reader_init(&r, ds, 0, &m->err) == MFS_OK) {
    st = run_data_pickle(&t, &r, &m->root);
    reader_done(&r);
  } else {
    st = m->err.code;
  }
  arena_keep_source(m->vs.arena, ds);
  source_unref(ds);
  judge_other_pickles(&t, data_name);
  finish(&t);
out:
  if (za) zip_discard(za);
  zip_error_fini(&zerr);
  zip_error_fini(&io.error);
  torch_free(&t);
  return st != MFS_OK ? st : m->err.code;
}

const Format format_pytorch = {"pytorch", sniff_zip, decode_zip};

/* ---- legacy layout --------------------------------------------------------------------- */

/* torch.serialization.MAGIC_NUMBER, 0x1950a86a20f9469cfc6c, as LONG1 bytes. */
static const uint8_t magic_le[10] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};

static int sniff_legacy(Source *src, const uint8_t *head, size_t n) {
  (void)src;
  size_t i = 0;
  if (n >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5) i = 2;
  if (i && n >= i + 9 && head[i] == 0x95) i += 9;   /* protocol 4+: FRAME */
  if (n >= i + 13 && head[i] == 0x8a && head[i + 1] == 10 && memcmp(head + i + 2, magic_le, 10) == 0 &&
      head[i + 12] == '.')
    return 1;
  static const char text_form[] = "L119547037146038801333356L\n.";
  return n >= sizeof text_form - 1 && memcmp(head, text_form, sizeof text_form - 1) == 0;
}

/* One of the small framing pickles: its value, errors recorded. */
static MfsStatus run_plain(Model *m, Reader *r, Value **v) {
  return pickle_run(m, r, NULL, 0, v, NULL);
}

/* The raw storages after the key list: each an 8-byte element count and data. */
static MfsStatus locate_storages(Torch *t, Reader *r, Value *keys, Source *src) {
  for (size_t k = 0; k < keys->u.seq.n; k++) {
    const char *key = text(keys->u.seq.items[k]);
    int i = key ? find_storage(t, key) : -1;
    if (i < 0)
      return fail(t, MFS_ECORRUPT, "storage key %zu is not one the data referenced", k);
    Storage *s = &t->st[i];
    uint8_t b[8];
    t->r = r;
    if ((src->size != SOURCE_SIZE_UNKNOWN && src->size - reader_pos(r) < 8) ||
        reader_copy(r, b, 8) != MFS_OK) {
      s->missing = "file ends before the storage";
      fail(t, MFS_ETRUNC, "storage %s: file ends before its element count", key);
      t->r = NULL;
      return MFS_ETRUNC;
    }
    uint64_t numel = 0;
    for (int j = 0; j < 8; j++) numel |= (uint64_t)b[j] << (8 * (t->big_endian ? 7 - j : j));
    if (numel < s->numel || numel > MFS_MAX_ELEMENTS) {
      fail(t, MFS_ECORRUPT, "storage %s holds %llu elements, the data declared %llu", key,
           (unsigned long long)numel, (unsigned long long)s->numel);
      t->r = NULL;
      return MFS_ECORRUPT;
    }
    s->src = src;
    s->off = reader_pos(r);
    uint64_t bytes = numel * s->type->size;
    if ((src->size != SOURCE_SIZE_UNKNOWN && bytes > src->size - s->off) ||
        reader_skip(r, bytes) != MFS_OK) {
      s->missing = "file ends inside the storage";
      fail(t, MFS_ETRUNC, "storage %s: %llu bytes declared, the file ends first", key,
           (unsigned long long)(numel * s->type->size));
      t->r = NULL;
      return MFS_ETRUNC;
    }
    t->r = NULL;
  }
  for (size_t i = 0; i < t->nst; i++)
    if (t->st[i].parent < 0 && t->st[i].src == NULL)
      return err_set(&t->m->err, MFS_ECORRUPT, reader_pos(r),
                     "offset %llu: storage %s is not in the file's storage list",
                     (unsigned long long)reader_pos(r), t->st[i].key);
  return MFS_OK;
}

/* Pickles after the last storage: torch.load never reads them, other loaders
** may; their globals are judged (not shown), a fault there changes nothing else. */
static void judge_trailing(Model *m, Reader *r) {
  for (int k = 0; k < MFS_MAX_NESTED_PICKLES; k++) {
    const uint8_t *p;
    size_t got = 0;
    if (reader_peek(r, 64, &p, &got) != MFS_OK || got == 0 || !pickle_sniff(p, got)) return;
    Err saved = m->err;
    err_clear(&m->err);
    Value *v = NULL;
    MfsStatus st = pickle_run(m, r, NULL, 0, &v, NULL);
    m->err = saved;
    if (st != MFS_OK) return;
  }
}

static MfsStatus decode_legacy(Model *m, Source *src) {
  Torch t;
  memset(&t, 0, sizeof t);
  t.m = m;
  Reader r;
  if (reader_init(&r, src, 0, &m->err) != MFS_OK) return m->err.code;
  Value *magic = NULL, *proto = NULL, *sys = NULL, *keys = NULL;
  MfsStatus st = run_plain(m, &r, &magic);
  if (st == MFS_OK) st = run_plain(m, &r, &proto);
  if (st == MFS_OK && proto && proto->kind == VAL_INT)
    model_set_meta_int(m, "serialization_version", proto->u.i);
  if (st == MFS_OK) st = run_plain(m, &r, &sys);
  if (st == MFS_OK && sys && sys->kind == VAL_DICT) {
    Value *le = dict_get_str(sys, "little_endian");
    t.big_endian = le != NULL && le->kind == VAL_BOOL && !le->u.b;
    if (t.big_endian) model_set_meta_str(m, "byteorder", "big");
  }
  if (st == MFS_OK) st = run_data_pickle(&t, &r, &m->root);
  if (st == MFS_OK) st = run_plain(m, &r, &keys);
  if (st == MFS_OK && (keys == NULL || keys->kind != VAL_LIST))
    st = err_set(&m->err, MFS_ECORRUPT, reader_pos(&r), "offset %llu: the storage key list is not a list",
                 (unsigned long long)reader_pos(&r));
  if (st == MFS_OK) st = locate_storages(&t, &r, keys, src);
  if (st == MFS_OK && src->size != SOURCE_SIZE_UNKNOWN && reader_pos(&r) < src->size) {
    model_set_meta_int(m, "trailing_bytes", (int64_t)(src->size - reader_pos(&r)));
    judge_trailing(m, &r);
  }
  reader_done(&r);
  finish(&t);
  torch_free(&t);
  return st != MFS_OK ? st : m->err.code;
}

const Format format_pytorch_legacy = {"pytorch-legacy", sniff_legacy, decode_legacy};
