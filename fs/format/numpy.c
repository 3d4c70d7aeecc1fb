/*
** numpy.c -- recognisers: numpy/copyreg/codecs/builtins/datetime plumbing folded
** into concrete values while the pickle VM runs.
**
** The VM hands over a call (callable + argument tuple) or a BUILD (target +
** state); a recogniser that knows the callable builds the value Python would
** have built -- an ndarray whose data Blob points into the source, a dtype, a
** numpy scalar, bytes, a set, the str() text of a datetime -- and anything else
** stays a VAL_OBJECT.  It must never import, resolve or call anything, never read
** the stream, and never copy array bytes it can reference (only transposes and
** latin-1 text become new bytes).  Values BUILD completes (ndarray, dtype) are
** completed in place so memo references see the finished value.
*/
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "modelfs/canon.h"
#include "modelfs/dtype.h"
#include "modelfs/limits.h"
#include "modelfs/recognise.h"
#include "modelfs/utf8.h"

#define LITTLE_HOST (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)

/* The durations map keeps timedeltas under their id and timezones under id|TZ_KEY. */
#define TZ_KEY (1ULL << 63)
#define USEC_PER_DAY 86400000000LL

void recog_init(Recog *rc, Model *m) {
  memset(rc, 0, sizeof *rc);
  rc->m = m;
  rc->op = "";
}

void recog_done(Recog *rc) {
  u64map_free(&rc->durations);
  u64map_free(&rc->dtype_nodes);
  u64map_free(&rc->dtype_used);
}

MfsStatus recog_fail(Recog *rc, MfsStatus code, const char *fmt, ...) {
  char why[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  return err_set(&rc->m->err, code, rc->off, "offset %llu: %s: %s", (unsigned long long)rc->off,
                 rc->op ? rc->op : "", why);
}

static MfsStatus oom(Recog *rc) { return recog_fail(rc, MFS_ENOMEM, "out of memory"); }

/* Room in the graph for n more bytes copied from the file (a scalar's bytes, a
** reordered array): checked before the copy, not after it. */
static MfsStatus graph_room(Recog *rc, uint64_t n) {
  if (arena_bytes(rc->m->vs.arena) + n > MFS_MAX_GRAPH_BYTES)
    return recog_fail(rc, MFS_ELIMIT, "decoded graph larger than %llu MiB",
                      (unsigned long long)(MFS_MAX_GRAPH_BYTES >> 20));
  return MFS_OK;
}

/* ---- small readers over values ---------------------------------------------------- */

static size_t nargs(const Value *t) { return t->u.seq.n; }
static Value *arg(const Value *t, size_t i) { return i < t->u.seq.n ? t->u.seq.items[i] : NULL; }

static int as_int(const Value *v, int64_t *out) {
  if (v == NULL) return 0;
  if (v->kind == VAL_INT) *out = v->u.i;
  else if (v->kind == VAL_BOOL) *out = v->u.b;
  else return 0;
  return 1;
}

static int as_double(const Value *v, double *out) {
  int64_t i;
  if (v != NULL && v->kind == VAL_FLOAT) {
    *out = v->u.f;
    return 1;
  }
  if (!as_int(v, &i)) return 0;
  *out = (double)i;
  return 1;
}

static int is_none(const Value *v) { return v != NULL && v->kind == VAL_NONE; }

/* A str or a Python-2 str (bytes) with text; copied NUL-terminated into the arena. */
static const char *text_of(Recog *rc, const Value *v) {
  if (v == NULL) return NULL;
  if (v->kind == VAL_STR) return v->u.str.s;
  if (v->kind == VAL_BYTES && v->u.bytes.mem != NULL && v->u.bytes.len < 4096)
    return arena_strndup(rc->m->vs.arena, (const char *)v->u.bytes.mem, (size_t)v->u.bytes.len);
  return NULL;
}

/* Code points of UTF-8 text mapped to bytes (all must be <= 0xFF): Latin-1.
** Protocol 2 pickles numpy array bytes this way, so this runs over every byte
** of such arrays (utf8.c does it many bytes a step). */
static int latin1_of(Recog *rc, const char *s, size_t n, uint8_t **out, size_t *outlen) {
  uint8_t *b = arena_alloc(rc->m->vs.arena, n ? n : 1);
  if (b == NULL) return -2;
  long k = utf8_to_latin1((const uint8_t *)s, n, b);
  if (k < 0) return -1;
  *out = b;
  *outlen = (size_t)k;
  return 0;
}

/* The Blob of a bytes-like value (bytes, py2 str, bytearray; str via Latin-1). */
static MfsStatus blob_of(Recog *rc, const Value *v, Blob *b, int *ok) {
  *ok = 0;
  memset(b, 0, sizeof *b);
  if (v->kind == VAL_BYTES || v->kind == VAL_BYTEARRAY) {
    *b = v->u.bytes;
    *ok = 1;
    return MFS_OK;
  }
  if (v->kind != VAL_STR) return MFS_OK;
  uint8_t *p;
  size_t n;
  int rcode = latin1_of(rc, v->u.str.s, v->u.str.len, &p, &n);
  if (rcode == -2) return oom(rc);
  if (rcode == -1) return recog_fail(rc, MFS_ECORRUPT, "str holds a code point above U+00FF");
  b->mem = p;
  b->len = n;
  *ok = 1;
  return MFS_OK;
}

/* Exactly n bytes of a small bytes-like value into buf; 0 when it is not one. */
static int small_bytes(Recog *rc, const Value *v, uint8_t *buf, size_t n) {
  Blob b;
  int ok;
  if (v == NULL || blob_of(rc, v, &b, &ok) != MFS_OK || !ok || b.len != n) return 0;
  return blob_read(&b, 0, buf, n, &rc->m->err) == MFS_OK;
}

static Value *new_bytes(Recog *rc, ValueKind kind, const Blob *b) {
  Value *v = value_new(&rc->m->vs, kind);
  if (v != NULL) v->u.bytes = *b;
  return v;
}

static Value *new_text(Recog *rc, const char *s) {
  Value *v = value_str(&rc->m->vs, s, strlen(s));
  if (v != NULL) v->kind = VAL_TEXT;
  return v;
}

/* A shape: a tuple of non-negative ints (or one int), bounded by limits.h. */
static MfsStatus shape_of(Recog *rc, const Value *v, uint64_t **shape, int *ndim, uint64_t *count) {
  int64_t one;
  size_t n = 1;
  const Value *const *items = (const Value *const *)&v;
  if (v != NULL && v->kind == VAL_TUPLE) {
    n = v->u.seq.n;
    items = (const Value *const *)v->u.seq.items;
  } else if (!as_int(v, &one)) {
    return recog_fail(rc, MFS_ECORRUPT, "array shape is a %s, not a tuple of ints",
                      v ? value_kind_name(v->kind) : "nothing");
  }
  if (n > MFS_MAX_NDIM) return recog_fail(rc, MFS_ELIMIT, "array has %zu dimensions", n);
  *shape = arena_alloc(rc->m->vs.arena, (n ? n : 1) * sizeof **shape);
  if (*shape == NULL) return oom(rc);
  *count = 1;
  for (size_t i = 0; i < n; i++) {
    int64_t d;
    if (!as_int(items[i], &d)) return recog_fail(rc, MFS_ECORRUPT, "array dimension is not an int");
    if (d < 0) return recog_fail(rc, MFS_ECORRUPT, "negative dimensions are not allowed");
    (*shape)[i] = (uint64_t)d;
    if (d != 0 && *count > MFS_MAX_ELEMENTS / (uint64_t)d)
      return recog_fail(rc, MFS_ELIMIT, "array has more than %llu elements",
                        (unsigned long long)MFS_MAX_ELEMENTS);
    *count *= (uint64_t)d;
  }
  *ndim = (int)n;
  return MFS_OK;
}

/* ---- dtype ------------------------------------------------------------------------ */

static int dtype_of(const Value *v, Dtype **d) {
  if (v == NULL || v->kind != VAL_DTYPE) return 0;
  *d = v->u.dtype;
  return 1;
}

/* numpy.dtype(typestr, align, copy) */
static MfsStatus call_dtype(Recog *rc, Value *args, int call, Value **out) {
  (void)call;
  const char *s = text_of(rc, arg(args, 0));
  if (s == NULL) return MFS_OK;   /* dtype(<something else>): leave it an object */
  Err local;
  err_clear(&local);
  ValueSet tmp = rc->m->vs;
  tmp.err = &local;
  *out = dtype_from_str(&tmp, s, 0);
  rc->m->vs.next_id = tmp.next_id;
  if (*out == NULL) return recog_fail(rc, local.code ? local.code : MFS_ECORRUPT, "%s", local.msg);
  return MFS_OK;
}

/* Facts kept per built dtype so every walk over a dtype tree stays small. */
static void dtype_size(Recog *rc, const Value *v, uint64_t *depth, uint64_t *nodes) {
  uint64_t x;
  if (u64map_get(&rc->dtype_nodes, v->id, &x)) {
    *depth = x >> 32;
    *nodes = x & 0xffffffffu;
  } else {
    *depth = 1;
    *nodes = 1;
  }
}

/* A dtype is final once something sized by it exists (see build_dtype). */
static MfsStatus dtype_freeze(Recog *rc, const Value *dt) {
  return u64map_put(&rc->dtype_used, dt->id, 1) == MFS_OK ? MFS_OK : oom(rc);
}

static MfsStatus dtype_adopt(Recog *rc, Value *self, Value *child, uint64_t *depth, uint64_t *nodes) {
  if (child == self) return recog_fail(rc, MFS_ECORRUPT, "dtype contains itself");
  uint64_t d, n;
  dtype_size(rc, child, &d, &n);
  if (d + 1 > *depth) *depth = d + 1;
  *nodes += n;
  if (*depth > MFS_MAX_DTYPE_DEPTH || *nodes > MFS_MAX_DTYPE_NODES)
    return recog_fail(rc, MFS_ELIMIT, "structured dtype nested deeper than %d or larger than %d nodes",
                      MFS_MAX_DTYPE_DEPTH, MFS_MAX_DTYPE_NODES);
  return dtype_freeze(rc, child);
}

/* Field names of a fields dict, hashed once per BUILD: a lookup per name would
** cost n^2 for n = MFS_MAX_FIELDS, and a file may BUILD the same dtype again and
** again before anything uses it (each BUILD of 4096 fields took 60 ms). */
typedef struct FieldIndex {
  size_t *slots;           /* key position + 1, 0 = empty */
  size_t cap;
} FieldIndex;

/* The bytes of a str or in-memory bytes key; 0 for any other key. */
static int key_bytes(const Value *k, const uint8_t **p, size_t *n) {
  if (k->kind == VAL_STR) {
    *p = (const uint8_t *)k->u.str.s;
    *n = k->u.str.len;
    return 1;
  }
  if (k->kind == VAL_BYTES && k->u.bytes.mem != NULL) {
    *p = k->u.bytes.mem;
    *n = (size_t)k->u.bytes.len;
    return 1;
  }
  return 0;
}

static size_t key_hash(int kind, const uint8_t *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL ^ (uint64_t)kind;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
  return (size_t)(h ^ h >> 29);
}

/* The slot of key (kind, p, n) in fields' index: empty, or the first equal key. */
static size_t *field_slot(const FieldIndex *ix, const Value *fields, int kind, const uint8_t *p,
                          size_t n) {
  for (size_t i = key_hash(kind, p, n) & (ix->cap - 1);; i = (i + 1) & (ix->cap - 1)) {
    if (ix->slots[i] == 0) return &ix->slots[i];
    const Value *k = fields->u.dict.keys[ix->slots[i] - 1];
    const uint8_t *kp;
    size_t kn;
    if (k->kind == kind && key_bytes(k, &kp, &kn) && kn == n && memcmp(kp, p, n) == 0)
      return &ix->slots[i];
  }
}

static MfsStatus field_index(Recog *rc, const Value *fields, FieldIndex *ix) {
  ix->cap = 16;
  while (ix->cap < 2 * fields->u.dict.n) ix->cap *= 2;
  ix->slots = calloc(ix->cap, sizeof *ix->slots);
  if (ix->slots == NULL) return oom(rc);
  for (size_t i = 0; i < fields->u.dict.n; i++) {
    const uint8_t *p;
    size_t n;
    const Value *k = fields->u.dict.keys[i];
    if (!key_bytes(k, &p, &n)) continue;
    size_t *slot = field_slot(ix, fields, k->kind, p, n);
    if (*slot == 0) *slot = i + 1;   /* the first of equal keys, as the scan found */
  }
  return MFS_OK;
}

/* The tuple (dtype, offset[, title]) of field `name` in a fields dict. */
static Value *field_entry(const FieldIndex *ix, const Value *fields, const Value *name) {
  const uint8_t *p;
  size_t n;
  if (!key_bytes(name, &p, &n)) return NULL;
  size_t *slot = field_slot(ix, fields, name->kind, p, n);
  return *slot ? fields->u.dict.vals[*slot - 1] : NULL;
}

static MfsStatus dtype_field(Recog *rc, Value *self, Dtype *d, const FieldIndex *ix,
                             const Value *name, const Value *fields, size_t i, DtypeField *f,
                             uint64_t *depth, uint64_t *nodes);

static MfsStatus dtype_fields(Recog *rc, Value *self, Dtype *d, const Value *names,
                              const Value *fields, uint64_t *depth, uint64_t *nodes) {
  if (names->kind != VAL_TUPLE && names->kind != VAL_LIST)
    return recog_fail(rc, MFS_ECORRUPT, "non-tuple names in numpy dtype unpickling");
  if (fields->kind != VAL_DICT)
    return recog_fail(rc, MFS_ECORRUPT, "non-dict fields in numpy dtype unpickling");
  size_t n = names->u.seq.n;
  if (n > MFS_MAX_FIELDS) return recog_fail(rc, MFS_ELIMIT, "dtype has %zu fields", n);
  if (graph_room(rc, n * sizeof(DtypeField)) != MFS_OK) return rc->m->err.code;
  DtypeField *f = arena_alloc(rc->m->vs.arena, (n ? n : 1) * sizeof *f);
  if (f == NULL) return oom(rc);
  FieldIndex ix;
  if (field_index(rc, fields, &ix) != MFS_OK) return rc->m->err.code;
  MfsStatus st = MFS_OK;
  for (size_t i = 0; i < n && st == MFS_OK; i++)
    st = dtype_field(rc, self, d, &ix, names->u.seq.items[i], fields, i, &f[i], depth, nodes);
  free(ix.slots);
  if (st != MFS_OK) return st;
  d->fields = f;
  d->nfields = n;
  return MFS_OK;
}

/* Field i of a record: its (dtype, offset[, title]) entry, inside the record. */
static MfsStatus dtype_field(Recog *rc, Value *self, Dtype *d, const FieldIndex *ix,
                             const Value *name, const Value *fields, size_t i, DtypeField *f,
                             uint64_t *depth, uint64_t *nodes) {
  const char *s = text_of(rc, name);
  const Value *e = s ? field_entry(ix, fields, name) : NULL;
  int64_t off;
  Dtype *fd;
  if (e == NULL || e->kind != VAL_TUPLE || nargs(e) < 2 || !dtype_of(arg(e, 0), &fd) ||
      !as_int(arg(e, 1), &off) || off < 0)
    return recog_fail(rc, MFS_ECORRUPT, "dtype field %zu has no (dtype, offset) entry", i);
  if ((uint64_t)off > d->itemsize || fd->itemsize > d->itemsize - (uint64_t)off)
    return recog_fail(rc, MFS_ECORRUPT, "dtype field '%.64s' lies outside the %llu-byte record",
                      s, (unsigned long long)d->itemsize);
  if (dtype_adopt(rc, self, arg(e, 0), depth, nodes) != MFS_OK) return rc->m->err.code;
  f->name = s;
  f->title = nargs(e) > 2 ? text_of(rc, arg(e, 2)) : NULL;
  f->dtype = arg(e, 0);
  f->offset = (uint64_t)off;
  return MFS_OK;
}

static MfsStatus dtype_subarray(Recog *rc, Value *self, Dtype *d, const Value *sub,
                                uint64_t *depth, uint64_t *nodes) {
  Dtype *base;
  uint64_t *shape, count;
  int ndim;
  if (sub->kind != VAL_TUPLE || nargs(sub) != 2 || !dtype_of(arg(sub, 0), &base))
    return recog_fail(rc, MFS_ECORRUPT, "dtype subarray is not a (dtype, shape) tuple");
  if (shape_of(rc, arg(sub, 1), &shape, &ndim, &count) != MFS_OK) return rc->m->err.code;
  if (base->itemsize != 0 && count > d->itemsize / base->itemsize)
    return recog_fail(rc, MFS_ECORRUPT, "dtype subarray larger than its %llu-byte element",
                      (unsigned long long)d->itemsize);
  if (dtype_adopt(rc, self, arg(sub, 0), depth, nodes) != MFS_OK) return rc->m->err.code;
  d->sub_base = arg(sub, 0);
  d->sub_shape = shape;
  d->sub_ndim = ndim;
  return MFS_OK;
}

/* Datetime metadata (metadata_dict, (unit, num, den, events)) -> "10us", or NULL. */
static MfsStatus dtype_unit(Recog *rc, Dtype *d, const Value *meta) {
  if (meta == NULL || is_none(meta) || (d->kind != 'M' && d->kind != 'm')) return MFS_OK;
  const Value *t = meta->kind == VAL_TUPLE && nargs(meta) == 2 ? arg(meta, 1) : NULL;
  int64_t num;
  char unit[16];
  size_t n = 0;
  if (t == NULL || t->kind != VAL_TUPLE || nargs(t) < 2 || !as_int(arg(t, 1), &num) || num <= 0)
    return recog_fail(rc, MFS_ECORRUPT, "invalid datetime dtype metadata");
  const Value *u = arg(t, 0);
  if (u->kind == VAL_STR && u->u.str.len < sizeof unit) {
    n = u->u.str.len;
    memcpy(unit, u->u.str.s, n);
  } else if ((u->kind == VAL_BYTES) && u->u.bytes.mem && u->u.bytes.len < sizeof unit) {
    n = (size_t)u->u.bytes.len;
    memcpy(unit, u->u.bytes.mem, n);
  } else {
    return recog_fail(rc, MFS_ECORRUPT, "invalid datetime unit");
  }
  unit[n] = '\0';
  char spec[48];
  if (num == 1)
    snprintf(spec, sizeof spec, "M8[%s]", unit);
  else
    snprintf(spec, sizeof spec, "M8[%lld%s]", (long long)num, unit);
  Err local;
  err_clear(&local);
  ValueSet tmp = rc->m->vs;
  tmp.err = &local;
  Value *probe = dtype_from_str(&tmp, spec, 0);
  rc->m->vs.next_id = tmp.next_id;
  if (probe == NULL) return recog_fail(rc, MFS_ECORRUPT, "invalid datetime unit '%s'", unit);
  d->unit = probe->u.dtype->unit;
  return MFS_OK;
}

/* numpy's arraydescr_setstate: state lengths 9, 8, 7, 6, 5 (FORMATS 2.5). */
static MfsStatus build_dtype(Recog *rc, Value *self, const Value *st) {
  Dtype *d = self->u.dtype;
  size_t n = st->kind == VAL_TUPLE ? nargs(st) : 0;
  if (n < 5 || n > 9) return recog_fail(rc, MFS_ECORRUPT, "can't handle this numpy.dtype pickle state");
  /* each BUILD allocates (fields, a subarray shape) and creates no Value: a file
  ** may BUILD one dtype millions of times before anything uses it */
  if (graph_room(rc, 0) != MFS_OK) return rc->m->err.code;
  int64_t version = 0, elsize, alignment, flags = 0;
  size_t i = 0;
  if (n >= 6 && !as_int(arg(st, i++), &version))
    return recog_fail(rc, MFS_ECORRUPT, "dtype state version is not an int");
  if (version < 0 || version > 4)
    return recog_fail(rc, MFS_ECORRUPT, "can't handle version %lld of numpy.dtype pickle",
                      (long long)version);
  const Value *endian = arg(st, i++), *sub = arg(st, i++), *names = NULL, *fields;
  if (n >= 7) names = arg(st, i++);
  fields = arg(st, i++);
  if (!as_int(arg(st, i++), &elsize) || !as_int(arg(st, i++), &alignment))
    return recog_fail(rc, MFS_ECORRUPT, "dtype state elsize/alignment are not ints");
  if (n >= 8 && !as_int(arg(st, i++), &flags))
    return recog_fail(rc, MFS_ECORRUPT, "dtype state flags are not an int");
  const Value *meta = n == 9 ? arg(st, i) : NULL;
  const char *e = text_of(rc, endian);
  if (e == NULL || strlen(e) != 1 || strchr("<>|=", e[0]) == NULL)
    return recog_fail(rc, MFS_ECORRUPT, "dtype endian is not one of < > | =");
  if (version <= 1 && !is_none(fields)) {
    /* Old layout: the field names are the list stored under the key -1. */
    names = NULL;
    if (fields->kind == VAL_DICT)
      for (size_t k = 0; k < fields->u.dict.n; k++) {
        int64_t key;
        if (fields->u.dict.keys[k]->kind == VAL_INT && as_int(fields->u.dict.keys[k], &key) && key == -1)
          names = fields->u.dict.vals[k];
      }
    if (names == NULL) return recog_fail(rc, MFS_ECORRUPT, "inconsistent fields and names in dtype");
  }
  if (names == NULL) names = fields;   /* state of length 6, version >= 2: no names */
  if (is_none(fields) != is_none(names))
    return recog_fail(rc, MFS_ECORRUPT, "inconsistent fields and names in numpy dtype unpickling");
  /* Arrays, scalars, records and format hooks (joblib wrappers) sized data by
  ** this dtype when they took it: changing it now (numpy never pickles that)
  ** would let them read past their bytes. */
  uint64_t used;
  if (u64map_get(&rc->dtype_used, self->id, &used) || self->id <= rc->hook_seen)
    return recog_fail(rc, MFS_ECORRUPT, "dtype rebuilt after an array or another dtype used it");
  if (elsize < 0 && (d->kind == 'S' || d->kind == 'U' || d->kind == 'V'))
    return recog_fail(rc, MFS_ECORRUPT, "negative element size %lld", (long long)elsize);
  if (d->kind == 'S' || d->kind == 'U' || d->kind == 'V') {
    if ((uint64_t)elsize > 0x7fffffffULL) return recog_fail(rc, MFS_ELIMIT, "element size too large");
    d->itemsize = (uint64_t)elsize;
  }
  int single = d->itemsize <= 1 || strchr("SVOb", d->kind) != NULL;
  d->byteorder = single ? '|' : (e[0] == '>' ? '>' : '<');
  d->fields = NULL;
  d->nfields = 0;
  d->sub_base = NULL;
  d->sub_shape = NULL;
  d->sub_ndim = 0;
  d->aligned = version >= 3 && (((uint64_t)flags & 0xff) & 0x80) != 0;
  uint64_t depth = 1, nodes = 1;
  if (!is_none(sub) && dtype_subarray(rc, self, d, sub, &depth, &nodes) != MFS_OK)
    return rc->m->err.code;
  if (!is_none(fields) && dtype_fields(rc, self, d, names, fields, &depth, &nodes) != MFS_OK)
    return rc->m->err.code;
  if (u64map_put(&rc->dtype_nodes, self->id, depth << 32 | nodes) != MFS_OK) return oom(rc);
  return dtype_unit(rc, d, meta);
}

/* ---- ndarray ------------------------------------------------------------------------ */

static int is_multiarray(const char *mod) {
  return strcmp(mod, "numpy.core.multiarray") == 0 || strcmp(mod, "numpy._core.multiarray") == 0 ||
         strcmp(mod, "numpy.core._multiarray_umath") == 0 ||
         strcmp(mod, "numpy._core._multiarray_umath") == 0;
}

static NdArray *new_array(Recog *rc, Value *dtype, uint64_t *shape, int ndim) {
  NdArray *a = arena_alloc(rc->m->vs.arena, sizeof *a);
  if (a == NULL) {
    oom(rc);
    return NULL;
  }
  a->dtype = dtype;
  a->shape = shape;
  a->ndim = ndim;
  return a;
}

/* Bytes of count elements: data must hold exactly count * itemsize. */
static MfsStatus check_nbytes(Recog *rc, const Dtype *d, uint64_t count, uint64_t have) {
  if (d->itemsize != 0 && count > UINT64_MAX / d->itemsize)
    return recog_fail(rc, MFS_ELIMIT, "array too large");
  uint64_t want = count * d->itemsize;
  if (want != have)
    return recog_fail(rc, MFS_ECORRUPT, "array data has %llu bytes, shape and dtype need %llu",
                      (unsigned long long)have, (unsigned long long)want);
  return MFS_OK;
}

/* An ndarray from the parts of its pickled state; self becomes it in place. */
static MfsStatus fill_ndarray(Recog *rc, Value *self, Value *cls, const Value *shapev,
                              const Value *dtv, const Value *fv, const Value *data) {
  int64_t fortran;
  Dtype *d;
  uint64_t *shape, count;
  int ndim;
  if (!dtype_of(dtv, &d)) return recog_fail(rc, MFS_ECORRUPT, "ndarray state has no dtype");
  if (!as_int(fv, &fortran)) return recog_fail(rc, MFS_ECORRUPT, "ndarray is_fortran is not an int");
  if (shapev == NULL || shapev->kind != VAL_TUPLE)
    return recog_fail(rc, MFS_ECORRUPT, "ndarray shape is not a tuple");
  if (shape_of(rc, shapev, &shape, &ndim, &count) != MFS_OK) return rc->m->err.code;
  NdArray *a = new_array(rc, (Value *)dtv, shape, ndim);
  if (a == NULL) return rc->m->err.code;
  a->cls = cls;
  if (dtype_has_object(d)) {
    if (data == NULL || data->kind != VAL_LIST)
      return recog_fail(rc, MFS_ECORRUPT, "object array data is a %s, not a list",
                        data ? value_kind_name(data->kind) : "nothing");
    if (data->u.seq.n != count)
      return recog_fail(rc, MFS_ECORRUPT, "object array has %zu items, shape needs %llu",
                        data->u.seq.n, (unsigned long long)count);
    a->objects = (Value *)data;
  } else {
    int ok;
    if (data == NULL || data->kind == VAL_BYTEARRAY || blob_of(rc, data, &a->data, &ok) != MFS_OK || !ok)
      return rc->m->err.code != MFS_OK ? rc->m->err.code
                                       : recog_fail(rc, MFS_ECORRUPT, "ndarray data is a %s, not bytes",
                                                    data ? value_kind_name(data->kind) : "nothing");
    if (check_nbytes(rc, d, count, a->data.len) != MFS_OK) return rc->m->err.code;
    a->fortran = fortran != 0;
  }
  if (dtype_freeze(rc, dtv) != MFS_OK) return rc->m->err.code;
  self->kind = VAL_NDARRAY;
  self->u.arr = a;
  return MFS_OK;
}

/* ndarray.__setstate__((version, shape, dtype, is_fortran, data)) or the old
** 4-tuple, onto the object _reconstruct made: it becomes the ndarray in place. */
static MfsStatus build_ndarray(Recog *rc, Value *self, const Value *st, int *done) {
  size_t n = st->kind == VAL_TUPLE ? nargs(st) : 0;
  if (n != 4 && n != 5) return MFS_OK;   /* a subclass with its own state: keep the object */
  size_t i = 0;
  int64_t version = 0;
  if (n == 5 && (!as_int(arg(st, i++), &version) || (version != 0 && version != 1)))
    return recog_fail(rc, MFS_ECORRUPT, "can't handle this version of numpy.ndarray pickle");
  const Value *shapev = arg(st, i), *dtv = arg(st, i + 1), *fv = arg(st, i + 2), *data = arg(st, i + 3);
  Object *o = self->u.obj;
  Value *cls = o->args != NULL && nargs(o->args) > 0 ? arg(o->args, 0) : NULL;
  if (fill_ndarray(rc, self, cls, shapev, dtv, fv, data) != MFS_OK) return rc->m->err.code;
  *done = 1;
  return MFS_OK;
}

static Value *tuple_of(Recog *rc, Value **items, size_t n);

/* ---- numpy.ma ------------------------------------------------------------------------ */

/* The bytes of a 0-d array in host order, the first 16 (zero-padded); 0 when v is
** not a small 0-d array of plain data. */
static int scalar_bytes(Recog *rc, const Value *v, const Dtype **d, uint8_t out[16]) {
  if (v == NULL || v->kind != VAL_NDARRAY) return 0;
  const NdArray *a = v->u.arr;
  if (a->ndim != 0 || a->objects != NULL || a->error != NULL || a->dtype == NULL) return 0;
  *d = a->dtype->u.dtype;
  size_t n = (size_t)(*d)->itemsize;
  uint8_t tmp[16] = {0};
  if (n == 0 || n > 16 || a->data.len != n || blob_read(&a->data, 0, tmp, n, &rc->m->err) != MFS_OK)
    return 0;
  int swap = (*d)->byteorder == (LITTLE_HOST ? '>' : '<') && (*d)->kind != 'U';
  memset(out, 0, 16);
  size_t half = (*d)->kind == 'c' ? n / 2 : n;   /* complex: each part swapped alone */
  for (size_t i = 0; i < n; i++)
    out[i] = swap ? tmp[(i / half) * half + half - 1 - i % half] : tmp[i];
  return 1;
}

/* Whether a masked array's stored fill_value is numpy.ma's default for data of kind
** `kind` (1e20, 999999, True, 'N/A', '?', NaT).  Loading a masked array turns the
** stored None into that default as a 0-d array of its own type (np.array(1e20): float64
** for any float data), so a model pickled after a load stores it while the same
** model pickled fresh stores None and skops stores nothing: all mean "not set"
** (`a.fill_value` is the same), and none is shown. */
static int is_default_fill(Recog *rc, const Value *fv, char kind) {
  const Dtype *d;
  uint8_t b[16];
  if (!scalar_bytes(rc, fv, &d, b)) return 0;
  double f8;
  float f4;
  int64_t i8 = 0;
  switch (kind) {
    case 'f': case 'c':
      if (d->kind != kind || (d->kind == 'c' && memcmp(b + d->itemsize / 2, "\0\0\0\0\0\0\0\0", d->itemsize / 2) != 0))
        return 0;
      if (d->itemsize == (kind == 'c' ? 16u : 8u)) return memcpy(&f8, b, 8), f8 == 1e20;
      if (d->itemsize == (kind == 'c' ? 8u : 4u)) return memcpy(&f4, b, 4), f4 == (float)1e20;
      return 0;
    case 'i': case 'u':
      if ((d->kind != 'i' && d->kind != 'u') || d->itemsize < 4 || d->itemsize > 8) return 0;
      memcpy(&i8, b, (size_t)d->itemsize);   /* 999999 fits: no sign to extend */
      return LITTLE_HOST && i8 == 999999;
    case 'b': return d->kind == 'b' && b[0] == 1;
    case 'M': case 'm':
      memcpy(&i8, b, 8);
      return d->kind == kind && d->itemsize == 8 && i8 == INT64_MIN;
    case 'S': return d->kind == 'S' && d->itemsize >= 3 && memcmp(b, "N/A", 4) == 0;
    case 'U': return d->kind == 'U' && d->itemsize >= 12 && d->byteorder != '>' &&
                     memcmp(b, "N\0\0\0/\0\0\0A\0\0\0", 13) == 0;
    case 'O': return d->kind == 'U' && d->itemsize >= 4 && d->byteorder != '>' && memcmp(b, "?\0\0\0", 5) == 0;
    default: return 0;
  }
}

/* MaskedArray.__setstate__((version, shape, dtype, is_fortran, data, mask, fill_value))
** onto numpy.ma.core._mareconstruct(MaskedArray, ndarray, (0,), 'b'): SPEC 3.2's one
** form, an object of class numpy.ma.core.MaskedArray with data, mask and fill_value
** (the fill_value only when the file stores one that is not the default: None and
** numpy.ma's default mean the same, and skops never stores it).  Structured dtypes (a
** mask of records) keep the plain form. */
static MfsStatus build_masked(Recog *rc, Value *self, const Value *st, int *done) {
  Object *o = self->u.obj;
  Value *cls = o->args != NULL && nargs(o->args) == 4 ? arg(o->args, 0) : NULL;
  Dtype *d;
  if (!value_is_global(cls, "numpy.ma.core", "MaskedArray") || st->kind != VAL_TUPLE ||
      nargs(st) != 7 || !dtype_of(arg(st, 2), &d) || d->nfields > 0 || d->sub_base != NULL)
    return MFS_OK;
  ValueSet *vs = &rc->m->vs;
  Value *data = value_new(vs, VAL_NONE), *mask = value_new(vs, VAL_NONE);
  Value *boolt = dtype_from_str(vs, "|b1", 0);
  Value *state = value_new(vs, VAL_DICT);
  if (data == NULL || mask == NULL || boolt == NULL || state == NULL) return rc->m->err.code;
  if (fill_ndarray(rc, data, NULL, arg(st, 1), arg(st, 2), arg(st, 3), arg(st, 4)) != MFS_OK ||
      fill_ndarray(rc, mask, NULL, arg(st, 1), boolt, arg(st, 3), arg(st, 5)) != MFS_OK)
    return rc->m->err.code;
  Value *kd = value_str(vs, "data", 4), *km = value_str(vs, "mask", 4);
  if (kd == NULL || km == NULL || dict_put(vs, state, kd, data) != MFS_OK ||
      dict_put(vs, state, km, mask) != MFS_OK)
    return rc->m->err.code;
  if (!is_none(arg(st, 6)) && !is_default_fill(rc, arg(st, 6), d->kind)) {
    Value *kf = value_str(vs, "fill_value", 10);
    if (kf == NULL || dict_put(vs, state, kf, arg(st, 6)) != MFS_OK) return rc->m->err.code;
  }
  o->callable = cls;
  o->args = NULL;
  o->state = state;
  *done = 1;
  return MFS_OK;
}

/* ---- Cython --------------------------------------------------------------------------- */

/* module.__pyx_unpickle_Name(cls, checksum, state): an object of class cls (SPEC 3.2,
** what skops shows) with that state; an empty state tuple is no state.  The
** checksum only guards Cython's own loader and is not shown. */
static MfsStatus call_pyx_unpickle(Recog *rc, Value *callable, Value *args, Value **out) {
  static const char prefix[] = "__pyx_unpickle_";
  const char *name = callable->u.global.name;
  Value *cls = arg(args, 0);
  if (strncmp(name, prefix, sizeof prefix - 1) != 0 || nargs(args) != 3 || cls == NULL ||
      cls->kind != VAL_GLOBAL || strcmp(cls->u.global.name, name + sizeof prefix - 1) != 0 ||
      strcmp(cls->u.global.module, callable->u.global.module) != 0)
    return MFS_OK;
  Value *empty = tuple_of(rc, NULL, 0);
  if (empty == NULL) return rc->m->err.code;
  *out = value_object(&rc->m->vs, cls, empty, OBJ_NEWOBJ);
  if (*out == NULL) return rc->m->err.code;
  Value *state = arg(args, 2);
  int none = is_none(state) || (state->kind == VAL_TUPLE && nargs(state) == 0);
  (*out)->u.obj->state = none ? NULL : state;
  return MFS_OK;
}

/* C-order bytes of src (C-contiguous, shape s) transposed by perm: the array numpy
** gets from frombuffer(...).reshape(s).transpose(perm). */
static MfsStatus materialise(Recog *rc, NdArray *a, const Blob *src, const uint64_t *s,
                             const int *perm) {
  uint64_t total = src->len, isz = a->dtype->u.dtype->itemsize;
  if (total > MFS_MAX_MATERIALISE)
    return recog_fail(rc, MFS_ELIMIT, "array of %llu bytes in a permuted order is too large to reorder",
                      (unsigned long long)total);
  if (graph_room(rc, total) != MFS_OK) return rc->m->err.code;
  uint8_t *in = malloc(total ? (size_t)total : 1);
  uint8_t *out = arena_alloc(rc->m->vs.arena, total ? (size_t)total : 1);
  if (in == NULL || out == NULL) {
    free(in);
    return oom(rc);
  }
  if (blob_read(src, 0, in, (size_t)total, &rc->m->err) != MFS_OK) {
    free(in);
    return rc->m->err.code;
  }
  int nd = a->ndim;
  uint64_t cstride[MFS_MAX_NDIM], idx[MFS_MAX_NDIM] = {0};
  uint64_t acc = isz;
  for (int k = nd - 1; k >= 0; k--) {
    cstride[k] = acc;
    acc *= s[k];
  }
  uint64_t count = isz ? total / isz : 0;
  for (uint64_t e = 0; e < count; e++) {
    uint64_t off = 0;
    for (int k = 0; k < nd; k++) off += idx[k] * cstride[perm[k]];
    memcpy(out + e * isz, in + off, (size_t)isz);
    for (int k = nd - 1; k >= 0; k--) {   /* odometer over the result's C order */
      if (++idx[k] < a->shape[k]) break;
      idx[k] = 0;
    }
  }
  free(in);
  a->data.mem = out;
  a->data.src = NULL;
  a->data.off = 0;
  a->data.len = total;
  return MFS_OK;
}

/* numpy.core.numeric._frombuffer(buf, dtype, shape, order[, axis_order]) */
static MfsStatus call_frombuffer(Recog *rc, Value *args, int call, Value **out) {
  (void)call;
  size_t n = nargs(args);
  Dtype *d;
  Blob b;
  int ok;
  if (n != 4 && n != 5) return recog_fail(rc, MFS_ECORRUPT, "_frombuffer takes 4 or 5 arguments");
  Value *buf = arg(args, 0), *dtv = arg(args, 1), *order = arg(args, 3);
  if (!dtype_of(dtv, &d)) return recog_fail(rc, MFS_ECORRUPT, "_frombuffer dtype is not a dtype");
  if (dtype_has_object(d)) return recog_fail(rc, MFS_ECORRUPT, "_frombuffer of an object dtype");
  if ((buf->kind != VAL_BYTES && buf->kind != VAL_BYTEARRAY) || blob_of(rc, buf, &b, &ok) != MFS_OK)
    return rc->m->err.code != MFS_OK ? rc->m->err.code
                                     : recog_fail(rc, MFS_ECORRUPT, "_frombuffer buffer is a %s",
                                                  value_kind_name(buf->kind));
  uint64_t *shape, count;
  int ndim;
  if (shape_of(rc, arg(args, 2), &shape, &ndim, &count) != MFS_OK) return rc->m->err.code;
  if (d->itemsize == 0) return recog_fail(rc, MFS_ECORRUPT, "itemsize cannot be zero in type");
  if (check_nbytes(rc, d, count, b.len) != MFS_OK || dtype_freeze(rc, dtv) != MFS_OK)
    return rc->m->err.code;
  const char *o = order && order->kind == VAL_STR && order->u.str.len == 1 ? order->u.str.s : "";
  Value *axes = n == 5 ? arg(args, 4) : NULL;
  NdArray *a = new_array(rc, dtv, shape, ndim);
  if (a == NULL) return rc->m->err.code;
  a->data = b;
  if (o[0] == 'C' || o[0] == 'A') {
    a->fortran = 0;
  } else if (o[0] == 'F') {
    a->fortran = 1;
  } else if (o[0] == 'K' && axes != NULL && axes->kind == VAL_TUPLE) {
    /* numpy >= 2.3: shape is the C-contiguous permuted shape; the array is its
    ** transpose by axes.  Reversed axes is Fortran order over the same bytes. */
    int perm[MFS_MAX_NDIM], seen[MFS_MAX_NDIM] = {0}, reversed = 1, identity = 1;
    if ((int)nargs(axes) != ndim) return recog_fail(rc, MFS_ECORRUPT, "axis_order does not match shape");
    for (int k = 0; k < ndim; k++) {
      int64_t p;
      if (!as_int(arg(axes, (size_t)k), &p) || p < 0 || p >= ndim || seen[p]++)
        return recog_fail(rc, MFS_ECORRUPT, "axis_order is not a permutation");
      perm[k] = (int)p;
      reversed &= p == ndim - 1 - k;
      identity &= p == k;
    }
    uint64_t *res = arena_alloc(rc->m->vs.arena, (ndim ? (size_t)ndim : 1) * sizeof *res);
    if (res == NULL) return oom(rc);
    for (int k = 0; k < ndim; k++) res[k] = shape[perm[k]];
    a->shape = res;
    if (identity) a->fortran = 0;
    else if (reversed) a->fortran = 1;
    else if (materialise(rc, a, &b, shape, perm) != MFS_OK) return rc->m->err.code;
  } else {
    return recog_fail(rc, MFS_ECORRUPT, "_frombuffer order is not 'C', 'F' or 'K' with axes");
  }
  *out = value_new(&rc->m->vs, VAL_NDARRAY);
  if (*out == NULL) return rc->m->err.code;
  (*out)->u.arr = a;
  return MFS_OK;
}

/* numpy.core.multiarray.scalar(dtype[, obj]) */
static MfsStatus call_scalar(Recog *rc, Value *args, int call, Value **out) {
  (void)call;
  Dtype *d;
  if (nargs(args) < 1 || nargs(args) > 2 || !dtype_of(arg(args, 0), &d))
    return recog_fail(rc, MFS_ECORRUPT, "scalar() needs a dtype and its bytes");
  Scalar *s = arena_alloc(rc->m->vs.arena, sizeof *s);
  if (s == NULL) return oom(rc);
  if (dtype_freeze(rc, arg(args, 0)) != MFS_OK) return rc->m->err.code;
  s->dtype = arg(args, 0);
  Value *obj = arg(args, 1);
  if (dtype_has_object(d)) {
    if (obj == NULL) return recog_fail(rc, MFS_ECORRUPT, "object scalar without its object");
    s->object = obj;
  } else {
    if (d->itemsize > MFS_MAX_STRING) return recog_fail(rc, MFS_ELIMIT, "scalar too large");
    if (graph_room(rc, d->itemsize) != MFS_OK) return rc->m->err.code;
    uint8_t *mem = arena_alloc(rc->m->vs.arena, d->itemsize ? (size_t)d->itemsize : 1);
    if (mem == NULL) return oom(rc);
    if (obj != NULL) {
      Blob b;
      int ok;
      if (blob_of(rc, obj, &b, &ok) != MFS_OK) return rc->m->err.code;
      if (!ok || obj->kind == VAL_BYTEARRAY)
        return recog_fail(rc, MFS_ECORRUPT, "initializing object must be a bytes object");
      if (b.len < d->itemsize) return recog_fail(rc, MFS_ECORRUPT, "initialization string is too small");
      if (blob_read(&b, 0, mem, (size_t)d->itemsize, &rc->m->err) != MFS_OK) return rc->m->err.code;
    }
    s->data.mem = mem;
    s->data.len = d->itemsize;
  }
  *out = value_new(&rc->m->vs, VAL_SCALAR);
  if (*out != NULL) (*out)->u.scalar = s;
  return rc->m->err.code;
}

/* ---- codecs and builtins ------------------------------------------------------------- */

/* Python's codec name normalisation, then: 1 latin-1, 2 utf-8, 0 other. */
static int codec_kind(const char *enc) {
  static const char *const latin1[] = {"latin_1", "latin1", "latin", "l1", "iso8859_1",
                                       "iso_8859_1", "8859", "cp819", "ibm819", "iso_ir_100",
                                       "csisolatin1", "iso_8859_1_1987", NULL};
  static const char *const utf8[] = {"utf_8", "utf8", "u8", "utf", "cp65001", NULL};
  char norm[64];
  size_t k = 0;
  int gap = 0;
  for (const char *p = enc; *p && k + 2 < sizeof norm; p++) {
    char c = *p;
    int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.';
    if (!alnum) {
      gap = k > 0;
      continue;
    }
    if (gap) norm[k++] = '_';
    gap = 0;
    norm[k++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
  }
  norm[k] = '\0';
  for (int i = 0; latin1[i]; i++)
    if (strcmp(norm, latin1[i]) == 0) return 1;
  for (int i = 0; utf8[i]; i++)
    if (strcmp(norm, utf8[i]) == 0) return 2;
  return 0;
}

/* str.encode(enc) for Latin-1 and UTF-8 into a Blob; 0 when not handled. */
static MfsStatus encode_str(Recog *rc, const Value *s, const Value *enc, const Value *errors,
                            Blob *b, int *ok) {
  *ok = 0;
  if (s == NULL || s->kind != VAL_STR) return MFS_OK;
  if (errors != NULL && !value_is_str(errors, "strict")) return MFS_OK;
  int kind = enc == NULL ? 2 : enc->kind == VAL_STR ? codec_kind(enc->u.str.s) : 0;
  memset(b, 0, sizeof *b);
  if (kind == 1) {
    uint8_t *p;
    size_t n;
    int r = latin1_of(rc, s->u.str.s, s->u.str.len, &p, &n);
    if (r == -2) return oom(rc);
    if (r == -1)
      return recog_fail(rc, MFS_ECORRUPT, "'latin-1' codec can't encode a character above U+00FF");
    b->mem = p;
    b->len = n;
  } else if (kind == 2) {
    for (size_t i = 0; i + 1 < s->u.str.len; i++)
      if ((uint8_t)s->u.str.s[i] == 0xed && (uint8_t)s->u.str.s[i + 1] >= 0xa0)
        return recog_fail(rc, MFS_ECORRUPT, "'utf-8' codec can't encode a surrogate");
    b->mem = (const uint8_t *)s->u.str.s;
    b->len = s->u.str.len;
  } else {
    return MFS_OK;
  }
  *ok = 1;
  return MFS_OK;
}

/* _codecs.encode(str, 'latin1'): how protocol 2 writes bytes under Python 3. */
static MfsStatus call_encode(Recog *rc, Value *args, int call, Value **out) {
  (void)call;
  Blob b;
  int ok;
  if (nargs(args) < 1 || nargs(args) > 3) return MFS_OK;
  if (encode_str(rc, arg(args, 0), arg(args, 1), arg(args, 2), &b, &ok) != MFS_OK) return rc->m->err.code;
  if (ok) *out = new_bytes(rc, VAL_BYTES, &b);
  return rc->m->err.code;
}

/* bytes() / bytes(b) / bytes(str, enc) / bytes([ints]), and bytearray likewise. */
static MfsStatus bytes_like(Recog *rc, Value *args, ValueKind kind, Value **out) {
  Blob b = {0};
  int ok = 1;
  Value *x = arg(args, 0);
  if (nargs(args) == 0) {
    b.mem = (const uint8_t *)"";
  } else if (nargs(args) == 1 && (x->kind == VAL_BYTES || x->kind == VAL_BYTEARRAY)) {
    b = x->u.bytes;
  } else if (nargs(args) == 1 && x->kind == VAL_LIST) {
    uint8_t *p = arena_alloc(rc->m->vs.arena, x->u.seq.n ? x->u.seq.n : 1);
    if (p == NULL) return oom(rc);
    for (size_t i = 0; i < x->u.seq.n; i++) {
      int64_t v;
      if (!as_int(x->u.seq.items[i], &v) || v < 0 || v > 255) return MFS_OK;
      p[i] = (uint8_t)v;
    }
    b.mem = p;
    b.len = x->u.seq.n;
  } else if (nargs(args) >= 2 && nargs(args) <= 3) {
    if (encode_str(rc, x, arg(args, 1), arg(args, 2), &b, &ok) != MFS_OK) return rc->m->err.code;
  } else {
    ok = 0;
  }
  if (ok) *out = new_bytes(rc, kind, &b);
  return rc->m->err.code;
}

static MfsStatus call_bytes(Recog *rc, Value *args, int call, Value **out) {
  (void)call;
  return bytes_like(rc, args, VAL_BYTES, out);
}

static MfsStatus call_bytearray(Recog *rc, Value *args, int call, Value **out) {
  if (!call && nargs(args) > 0) return MFS_OK;   /* bytearray.__new__ ignores arguments */
  return bytes_like(rc, args, VAL_BYTEARRAY, out);
}

static MfsStatus set_like(Recog *rc, Value *args, ValueKind kind, Value **out) {
  Value *x = arg(args, 0);
  if (nargs(args) > 1) return MFS_OK;
  if (x != NULL && x->kind != VAL_LIST && x->kind != VAL_TUPLE && x->kind != VAL_SET &&
      x->kind != VAL_FROZENSET)
    return MFS_OK;
  Value *v = value_new(&rc->m->vs, kind);
  if (v == NULL) return rc->m->err.code;
  for (size_t i = 0; x != NULL && i < x->u.seq.n; i++)
    if (seq_push(&rc->m->vs, v, x->u.seq.items[i]) != MFS_OK) return rc->m->err.code;
  *out = v;
  return MFS_OK;
}

static MfsStatus call_set(Recog *rc, Value *args, int call, Value **out) {
  if (!call && nargs(args) > 0) return MFS_OK;   /* set.__new__ ignores arguments */
  return set_like(rc, args, VAL_SET, out);
}

static MfsStatus call_frozenset(Recog *rc, Value *args, int call, Value **out) {
  (void)call;
  return set_like(rc, args, VAL_FROZENSET, out);
}

static MfsStatus call_complex(Recog *rc, Value *args, int call, Value **out) {
  (void)call;
  double re = 0, im = 0;
  if (nargs(args) > 2 || (nargs(args) >= 1 && !as_double(arg(args, 0), &re)) ||
      (nargs(args) == 2 && !as_double(arg(args, 1), &im)))
    return MFS_OK;
  Value *v = value_new(&rc->m->vs, VAL_COMPLEX);
  if (v == NULL) return rc->m->err.code;
  v->u.c.re = re;
  v->u.c.im = im;
  *out = v;
  return MFS_OK;
}

/* collections.OrderedDict() (items follow by SETITEMS) or Python 2's ([[k, v], ...],) */
static MfsStatus call_ordereddict(Recog *rc, Value *args, int call, Value **out) {
  Value *items = arg(args, 0);
  if (nargs(args) > 1 || (items != NULL && (!call || (items->kind != VAL_LIST && items->kind != VAL_TUPLE))))
    return MFS_OK;
  for (size_t i = 0; items != NULL && i < items->u.seq.n; i++) {
    Value *p = items->u.seq.items[i];
    if ((p->kind != VAL_LIST && p->kind != VAL_TUPLE) || p->u.seq.n != 2) return MFS_OK;
  }
  Value *d = value_new(&rc->m->vs, VAL_DICT);
  if (d == NULL) return rc->m->err.code;
  d->flags |= VF_ORDERED;
  for (size_t i = 0; items != NULL && i < items->u.seq.n; i++) {
    Value *p = items->u.seq.items[i];
    if (dict_put(&rc->m->vs, d, p->u.seq.items[0], p->u.seq.items[1]) != MFS_OK) return rc->m->err.code;
  }
  *out = d;
  return MFS_OK;
}

static MfsStatus call_decimal(Recog *rc, Value *args, int call, Value **out) {
  (void)call;
  Value *s = arg(args, 0);
  if (nargs(args) != 1 || s->kind != VAL_STR || s->u.str.len == 0 ||
      memchr(s->u.str.s, '\0', s->u.str.len) != NULL)
    return MFS_OK;
  *out = new_text(rc, s->u.str.s);
  return rc->m->err.code;
}

/* ---- copyreg ----------------------------------------------------------------------- */

/* cls.__new__(cls, *args) as NEWOBJ would build it (recognised when it can be). */
static MfsStatus new_instance(Recog *rc, Value *cls, Value *args, Value *kwargs, ObjHow how,
                              Value **out) {
  if (recognise_call(rc, cls, args, kwargs, how, out) != MFS_OK) return rc->m->err.code;
  if (*out != NULL) return MFS_OK;
  *out = value_object(&rc->m->vs, cls, args, how);
  if (*out == NULL) return rc->m->err.code;
  (*out)->u.obj->kwargs = kwargs;
  return MFS_OK;
}

static Value *tuple_of(Recog *rc, Value **items, size_t n) {
  Value *t = value_new(&rc->m->vs, VAL_TUPLE);
  for (size_t i = 0; t != NULL && i < n; i++)
    if (seq_push(&rc->m->vs, t, items[i]) != MFS_OK) return NULL;
  return t;
}

/* copyreg._reconstructor(cls, base, state): protocols 0/1 give the graph NEWOBJ
** gives at protocol 2 (object -> no args; dict/list bases -> their items). */
static MfsStatus call_reconstructor(Recog *rc, Value *args, int call, Value **out) {
  if (!call || nargs(args) != 3) return MFS_OK;
  Value *cls = arg(args, 0), *base = arg(args, 1), *state = arg(args, 2);
  ValueSet *vs = &rc->m->vs;
  int is_object = value_is_global(base, "builtins", "object");
  int is_dict = value_is_global(base, "builtins", "dict") && state->kind == VAL_DICT;
  int is_list = value_is_global(base, "builtins", "list") && state->kind == VAL_LIST;
  Value *nargs_t = is_object || is_dict || is_list ? tuple_of(rc, NULL, 0) : tuple_of(rc, &state, 1);
  if (nargs_t == NULL) return rc->m->err.code;
  if (is_object || is_dict || is_list) {
    *out = value_object(vs, cls, nargs_t, OBJ_NEWOBJ);
    if (*out == NULL) return rc->m->err.code;
  } else if (new_instance(rc, cls, nargs_t, NULL, OBJ_NEWOBJ, out) != MFS_OK) {
    return rc->m->err.code;
  }
  if ((is_dict || is_list) && (*out)->kind == VAL_OBJECT) {
    Value *c = value_new(vs, state->kind);
    if (c == NULL) return rc->m->err.code;
    if (is_dict) {
      for (size_t i = 0; i < state->u.dict.n; i++)
        if (dict_put(vs, c, state->u.dict.keys[i], state->u.dict.vals[i]) != MFS_OK) return rc->m->err.code;
      if (c->u.dict.n) (*out)->u.obj->dictitems = c;
    } else {
      for (size_t i = 0; i < state->u.seq.n; i++)
        if (seq_push(vs, c, state->u.seq.items[i]) != MFS_OK) return rc->m->err.code;
      if (c->u.seq.n) (*out)->u.obj->items = c;
    }
  }
  return MFS_OK;
}

/* copyreg.__newobj__(cls, *args) */
static MfsStatus call_newobj(Recog *rc, Value *args, int call, Value **out) {
  if (!call || nargs(args) < 1) return MFS_OK;
  Value *rest = tuple_of(rc, args->u.seq.items + 1, nargs(args) - 1);
  if (rest == NULL) return rc->m->err.code;
  return new_instance(rc, arg(args, 0), rest, NULL, OBJ_NEWOBJ, out);
}

/* copyreg.__newobj_ex__(cls, args, kwargs) */
static MfsStatus call_newobj_ex(Recog *rc, Value *args, int call, Value **out) {
  if (!call || nargs(args) != 3 || arg(args, 1)->kind != VAL_TUPLE || arg(args, 2)->kind != VAL_DICT)
    return MFS_OK;
  return new_instance(rc, arg(args, 0), arg(args, 1), arg(args, 2), OBJ_NEWOBJ_EX, out);
}

/* ---- datetime --------------------------------------------------------------------- */

/* "+HH:MM[:SS[.ffffff]]" of an offset in microseconds, as utcoffset() prints. */
static void format_offset(char *buf, size_t cap, int64_t us) {
  char sign = us < 0 ? '-' : '+';
  if (us < 0) us = -us;
  int64_t secs = us / 1000000, frac = us % 1000000;
  int64_t hh = secs / 3600, mm = secs / 60 % 60, ss = secs % 60;
  if (frac)
    snprintf(buf, cap, "%c%02lld:%02lld:%02lld.%06lld", sign, (long long)hh, (long long)mm,
             (long long)ss, (long long)frac);
  else if (ss)
    snprintf(buf, cap, "%c%02lld:%02lld:%02lld", sign, (long long)hh, (long long)mm, (long long)ss);
  else
    snprintf(buf, cap, "%c%02lld:%02lld", sign, (long long)hh, (long long)mm);
}

/* The offset text of a tzinfo argument: "" for None/absent, 0 when unknown. */
static int tz_text(Recog *rc, const Value *tz, char *buf, size_t cap) {
  buf[0] = '\0';
  if (tz == NULL || is_none(tz)) return 1;
  uint64_t off;
  if (!u64map_get(&rc->durations, tz->id | TZ_KEY, &off)) return 0;
  format_offset(buf, cap, (int64_t)off);
  return 1;
}

static int days_in_month(int y, int m) {
  static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : dm[m - 1];
}

/* Fields y m d h mi s us from the pickled payload or from int arguments. */
static int datetime_fields(Recog *rc, Value *args, int what, int64_t f[7], Value **tz) {
  static const size_t plen[] = {4, 10, 6};   /* date, datetime, time */
  uint8_t p[10];
  memset(f, 0, 7 * sizeof *f);
  *tz = NULL;
  if (nargs(args) >= 1 && nargs(args) <= 2 && small_bytes(rc, arg(args, 0), p, plen[what])) {
    if (what == 2) {
      if ((p[0] & 0x7f) >= 24) return 0;
      f[3] = p[0] & 0x7f, f[4] = p[1], f[5] = p[2], f[6] = p[3] << 16 | p[4] << 8 | p[5];
    } else {
      int month = what == 0 ? p[2] : p[2] & 0x7f;   /* the fold bit (protocol >= 4) */
      if (month < 1 || month > 12) return 0;
      f[0] = p[0] << 8 | p[1], f[1] = month, f[2] = p[3];
      if (what == 1) f[3] = p[4], f[4] = p[5], f[5] = p[6], f[6] = p[7] << 16 | p[8] << 8 | p[9];
    }
    if (what != 0) *tz = arg(args, 1);
    else if (nargs(args) != 1) return 0;
    return 1;
  }
  /* date(y, m, d), datetime(y, m, d[, h, mi, s, us, tz]), time([h, mi, s, us, tz]) */
  size_t first = what == 2 ? 3 : 0, max = what == 0 ? 3 : what == 1 ? 8 : 5;
  size_t n = nargs(args);
  if (n > max || (what != 2 && n < 3)) return 0;
  for (size_t i = 0; i < n; i++) {
    if (first + i == 7) {
      *tz = arg(args, i);
      break;
    }
    if (!as_int(arg(args, i), &f[first + i])) return 0;
  }
  if (what != 2 && (f[0] < 1 || f[0] > 9999 || f[1] < 1 || f[1] > 12 || f[2] < 1 ||
                    f[2] > days_in_month((int)f[0], (int)f[1])))
    return 0;
  return f[3] >= 0 && f[3] < 24 && f[4] >= 0 && f[4] < 60 && f[5] >= 0 && f[5] < 60 &&
         f[6] >= 0 && f[6] < 1000000;
}

static MfsStatus datetime_text(Recog *rc, Value *args, int what, Value **out) {
  int64_t f[7];
  Value *tz;
  char off[40], text[160], timepart[48];
  if (!datetime_fields(rc, args, what, f, &tz) || !tz_text(rc, tz, off, sizeof off)) return MFS_OK;
  snprintf(timepart, sizeof timepart, "%02lld:%02lld:%02lld", (long long)f[3], (long long)f[4],
           (long long)f[5]);
  if (f[6]) snprintf(timepart + 8, sizeof timepart - 8, ".%06lld", (long long)f[6]);
  if (what == 0)
    snprintf(text, sizeof text, "%04lld-%02lld-%02lld", (long long)f[0], (long long)f[1], (long long)f[2]);
  else if (what == 1)
    snprintf(text, sizeof text, "%04lld-%02lld-%02lld %s%s", (long long)f[0], (long long)f[1],
             (long long)f[2], timepart, off);
  else
    snprintf(text, sizeof text, "%s%s", timepart, off);
  *out = new_text(rc, text);
  return rc->m->err.code;
}

static MfsStatus call_date(Recog *rc, Value *args, int call, Value **out) {
  (void)call;
  return datetime_text(rc, args, 0, out);
}

static MfsStatus call_datetime(Recog *rc, Value *args, int call, Value **out) {
  (void)call;
  return datetime_text(rc, args, 1, out);
}

static MfsStatus call_time(Recog *rc, Value *args, int call, Value **out) {
  (void)call;
  return datetime_text(rc, args, 2, out);
}

/* timedelta(days, seconds, microseconds), normalised as Python does. */
static MfsStatus call_timedelta(Recog *rc, Value *args, int call, Value **out) {
  (void)call;
  int64_t v[3] = {0, 0, 0};
  if (nargs(args) > 3) return MFS_OK;
  for (size_t i = 0; i < nargs(args); i++)
    if (!as_int(arg(args, i), &v[i])) return MFS_OK;
  __int128 total = (__int128)v[0] * USEC_PER_DAY + (__int128)v[1] * 1000000 + v[2];
  __int128 days = total / USEC_PER_DAY, rem = total % USEC_PER_DAY;
  if (rem < 0) {
    rem += USEC_PER_DAY;
    days -= 1;
  }
  if (days > 999999999 || days < -999999999) return MFS_OK;   /* OverflowError in Python */
  int64_t secs = (int64_t)(rem / 1000000), us = (int64_t)(rem % 1000000);
  char text[80];
  int k = 0;
  if (days)
    k = snprintf(text, sizeof text, "%lld day%s, ", (long long)days,
                 days == 1 || days == -1 ? "" : "s");
  k += snprintf(text + k, sizeof text - (size_t)k, "%lld:%02lld:%02lld", (long long)(secs / 3600),
                (long long)(secs / 60 % 60), (long long)(secs % 60));
  if (us) snprintf(text + k, sizeof text - (size_t)k, ".%06lld", (long long)us);
  *out = new_text(rc, text);
  if (*out == NULL) return rc->m->err.code;
  if (u64map_put(&rc->durations, (*out)->id, (uint64_t)(int64_t)total) != MFS_OK) return oom(rc);
  return MFS_OK;
}

/* timezone(offset[, name]): str() is the name, "UTC", or "UTC+HH:MM...". */
static MfsStatus call_timezone(Recog *rc, Value *args, int call, Value **out) {
  (void)call;
  uint64_t raw;
  Value *td = arg(args, 0), *name = arg(args, 1);
  if (nargs(args) < 1 || nargs(args) > 2 || !u64map_get(&rc->durations, td->id, &raw)) return MFS_OK;
  if (name != NULL && name->kind != VAL_STR) return MFS_OK;
  int64_t us = (int64_t)raw;
  if (us <= -USEC_PER_DAY || us >= USEC_PER_DAY) return MFS_OK;   /* ValueError in Python */
  char text[48];
  if (us == 0)
    snprintf(text, sizeof text, "UTC");
  else {
    memcpy(text, "UTC", 3);
    format_offset(text + 3, sizeof text - 3, us);
  }
  *out = name != NULL ? value_str(&rc->m->vs, name->u.str.s, name->u.str.len) : new_text(rc, text);
  if (*out == NULL) return rc->m->err.code;
  (*out)->kind = VAL_TEXT;
  if (u64map_put(&rc->durations, (*out)->id | TZ_KEY, (uint64_t)us) != MFS_OK) return oom(rc);
  return MFS_OK;
}

/* ---- dispatch ------------------------------------------------------------------------ */

typedef MfsStatus (*CallFn)(Recog *rc, Value *args, int call, Value **out);

static const struct {
  const char *mod, *name;
  CallFn fn;
  int calls_only;   /* a function: never the class of a NEWOBJ */
} known_calls[] = {
  {"numpy", "dtype", call_dtype, 0},
  {"numpy.core.multiarray", "scalar", call_scalar, 1},
  {"numpy._core.multiarray", "scalar", call_scalar, 1},
  {"numpy.core._multiarray_umath", "scalar", call_scalar, 1},
  {"numpy._core._multiarray_umath", "scalar", call_scalar, 1},
  {"numpy.core.numeric", "_frombuffer", call_frombuffer, 1},
  {"numpy._core.numeric", "_frombuffer", call_frombuffer, 1},
  {"_codecs", "encode", call_encode, 1},
  {"codecs", "encode", call_encode, 1},
  {"builtins", "bytes", call_bytes, 0},
  {"builtins", "bytearray", call_bytearray, 0},
  {"builtins", "set", call_set, 0},
  {"builtins", "frozenset", call_frozenset, 0},
  {"builtins", "complex", call_complex, 0},
  {"copyreg", "_reconstructor", call_reconstructor, 1},
  {"copyreg", "__newobj__", call_newobj, 1},
  {"copyreg", "__newobj_ex__", call_newobj_ex, 1},
  {"collections", "OrderedDict", call_ordereddict, 0},
  {"datetime", "date", call_date, 0},
  {"datetime", "datetime", call_datetime, 0},
  {"datetime", "time", call_time, 0},
  {"datetime", "timedelta", call_timedelta, 0},
  {"datetime", "timezone", call_timezone, 0},
  {"decimal", "Decimal", call_decimal, 0},
};

MfsStatus recognise_call(Recog *rc, Value *callable, Value *args, Value *kwargs, ObjHow how,
                         Value **out) {
  *out = NULL;
  if (callable == NULL || callable->kind != VAL_GLOBAL || args == NULL || args->kind != VAL_TUPLE)
    return MFS_OK;
  if (kwargs != NULL && kwargs->u.dict.n > 0) return MFS_OK;
  int call = how == OBJ_REDUCE || how == OBJ_INST;
  if (call && strncmp(callable->u.global.name, "__pyx_unpickle_", 15) == 0)
    return call_pyx_unpickle(rc, callable, args, out);
  if (call && strncmp(callable->u.global.module, "pandas.", 7) == 0)
    return canon_pandas_index(&rc->m->vs, callable, args, out);
  for (size_t i = 0; i < sizeof known_calls / sizeof *known_calls; i++) {
    if (strcmp(callable->u.global.name, known_calls[i].name) != 0 ||
        strcmp(callable->u.global.module, known_calls[i].mod) != 0)
      continue;
    if (known_calls[i].calls_only && !call) return MFS_OK;
    return known_calls[i].fn(rc, args, call, out);
  }
  return MFS_OK;
}

MfsStatus recognise_build(Recog *rc, Value *target, Value *state, int *done) {
  *done = 0;
  if (target->kind == VAL_DTYPE) {
    *done = 1;
    return build_dtype(rc, target, state);
  }
  if (target->kind != VAL_OBJECT) return MFS_OK;
  const Value *c = target->u.obj->callable;
  if (c != NULL && c->kind == VAL_GLOBAL && strcmp(c->u.global.name, "_reconstruct") == 0 &&
      is_multiarray(c->u.global.module))
    return build_ndarray(rc, target, state, done);
  if (value_is_global(c, "numpy.ma.core", "_mareconstruct")) return build_masked(rc, target, state, done);
  if (canon_pandas_kind(target) != 0 && state != NULL && state->kind == VAL_DICT &&
      target->u.obj->state == NULL) {
    target->u.obj->state = state;
    *done = 1;
    return canon_pandas(&rc->m->vs, target);
  }
  if (canon_sparse_format(c) != NULL && state != NULL && state->kind == VAL_DICT &&
      target->u.obj->state == NULL) {
    target->u.obj->state = state;
    *done = 1;
    return canon_sparse(&rc->m->vs, target);
  }
  return MFS_OK;
}
