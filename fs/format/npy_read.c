/*
** npy_read.c -- reading the header of a .npy stream (skops members, legacy joblib
** companions) into a VAL_NDARRAY whose data Blob points into the stream.
**
** The header is a Python dict literal written by numpy's repr(): {'descr': ...,
** 'fortran_order': ..., 'shape': (...), } padded with spaces to 16 or 64 bytes.
** It is parsed here as a tiny literal language (strings, ints, True/False/None,
** tuples, lists, dicts), never evaluated.  Array bytes are never copied: the
** Blob names the source and the offset after the header.
**
** It must never accept an object dtype (its payload is a pickle), never allocate
** what the header asks for before checking it against the bytes that exist and
** limits.h, and never read past the stream.
*/
#include <stdlib.h>
#include <string.h>
#include "modelfs/dtype.h"
#include "modelfs/limits.h"
#include "modelfs/npy_read.h"
#include "modelfs/utf8.h"

/* ---- the literal language -------------------------------------------------- */

typedef enum LitKind { LIT_STR, LIT_INT, LIT_TRUE, LIT_FALSE, LIT_NONE, LIT_TUPLE,
                       LIT_LIST, LIT_DICT } LitKind;

typedef struct Lit {
  LitKind kind;
  char *s;                 /* LIT_STR: UTF-8, NUL-terminated (may hold NUL) */
  size_t len;
  int64_t i;               /* LIT_INT */
  struct Lit **items;      /* TUPLE/LIST: elements; DICT: key, value, key, value... */
  size_t n, cap;
} Lit;

/* Items of one container: a descr lists at most MFS_MAX_FIELDS fields, a shape
** MFS_MAX_NDIM dimensions, a dict three keys (doubled: dicts hold key, value). */
#define LIT_MAX_ITEMS (2 * MFS_MAX_FIELDS)

/* Parser state: the header text, a cursor, every allocation (freed at once). */
typedef struct LitParser {
  const char *p, *end;
  const char *start;
  uint64_t base;           /* stream offset of the header text, for messages */
  void **allocs;
  size_t nallocs, capallocs;
  Err *err;
} LitParser;

static void *lp_alloc(LitParser *lp, size_t n) {
  if (lp->nallocs == lp->capallocs) {
    size_t cap = lp->capallocs ? lp->capallocs * 2 : 32;
    void **a = realloc(lp->allocs, cap * sizeof *a);
    if (a == NULL) return NULL;
    lp->allocs = a;
    lp->capallocs = cap;
  }
  void *p = calloc(1, n ? n : 1);
  if (p != NULL) lp->allocs[lp->nallocs++] = p;
  return p;
}

static void lp_free(LitParser *lp) {
  for (size_t i = 0; i < lp->nallocs; i++) free(lp->allocs[i]);
  free(lp->allocs);
}

static uint64_t lp_off(const LitParser *lp) { return lp->base + (uint64_t)(lp->p - lp->start); }

static Lit *lp_fail(LitParser *lp, const char *what) {
  err_set(lp->err, MFS_ECORRUPT, lp_off(lp), "offset %llu: .npy header: %s",
          (unsigned long long)lp_off(lp), what);
  return NULL;
}

static void lp_space(LitParser *lp) {
  while (lp->p < lp->end && (*lp->p == ' ' || *lp->p == '\t' || *lp->p == '\n' || *lp->p == '\r'))
    lp->p++;
}

static Lit *lit_new(LitParser *lp, LitKind kind) {
  Lit *l = lp_alloc(lp, sizeof *l);
  if (l == NULL) {
    err_set(lp->err, MFS_ENOMEM, lp_off(lp), "out of memory");
    return NULL;
  }
  l->kind = kind;
  return l;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* A Python str literal: '...' or "..." with repr()'s escapes.  Bytes >= 0x80 are
** latin-1 in v1/v2 headers and UTF-8 in v3 (latin1 != 0 converts them). */
static Lit *lp_string(LitParser *lp, int latin1) {
  char q = *lp->p++;
  const char *s = lp->p;
  while (lp->p < lp->end && *lp->p != q) lp->p += (*lp->p == '\\' && lp->p + 1 < lp->end) ? 2 : 1;
  if (lp->p >= lp->end) return lp_fail(lp, "unterminated string");
  size_t n = (size_t)(lp->p - s);
  lp->p++;
  Lit *l = lit_new(lp, LIT_STR);
  if (l == NULL) return NULL;
  l->s = lp_alloc(lp, n * 4 + 1);    /* \U escapes and latin-1 never grow past 4x */
  if (l->s == NULL) return lp_fail(lp, "out of memory");
  size_t o = 0;
  for (size_t k = 0; k < n; k++) {
    unsigned char c = (unsigned char)s[k];
    if (c != '\\') {
      if (latin1 && c >= 0x80) o += utf8_encode((uint8_t *)l->s + o, c);
      else l->s[o++] = (char)c;
      continue;
    }
    char e = s[++k];
    int digits = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
    if (digits) {
      uint32_t cp = 0;
      if (k + (size_t)digits >= n) return lp_fail(lp, "bad escape");
      for (int d = 1; d <= digits; d++) {
        int h = hexval(s[k + (size_t)d]);
        if (h < 0) return lp_fail(lp, "bad escape");
        cp = cp * 16 + (uint32_t)h;
      }
      if (cp > 0x10ffff) return lp_fail(lp, "bad escape");
      k += (size_t)digits;
      o += utf8_encode((uint8_t *)l->s + o, cp);
      continue;
    }
    switch (e) {
      case 'n': l->s[o++] = '\n'; break;
      case 't': l->s[o++] = '\t'; break;
      case 'r': l->s[o++] = '\r'; break;
      case '0': l->s[o++] = '\0'; break;
      case '\\': case '\'': case '"': l->s[o++] = e; break;
      default: return lp_fail(lp, "bad escape");
    }
  }
  l->s[o] = '\0';
  l->len = o;
  return l;
}

/* A decimal integer; Python 2 headers write longs as "3L". */
static Lit *lp_int(LitParser *lp) {
  int neg = 0;
  if (*lp->p == '-' || *lp->p == '+') neg = *lp->p++ == '-';
  if (lp->p >= lp->end || *lp->p < '0' || *lp->p > '9') return lp_fail(lp, "bad number");
  uint64_t v = 0;
  while (lp->p < lp->end && *lp->p >= '0' && *lp->p <= '9') {
    if (v > (uint64_t)INT64_MAX / 10) return lp_fail(lp, "integer too large");
    v = v * 10 + (uint64_t)(*lp->p++ - '0');
    if (v > (uint64_t)INT64_MAX) return lp_fail(lp, "integer too large");
  }
  if (lp->p < lp->end && (*lp->p == 'L' || *lp->p == 'l')) lp->p++;
  Lit *l = lit_new(lp, LIT_INT);
  if (l) l->i = neg ? -(int64_t)v : (int64_t)v;
  return l;
}

static Lit *lp_value(LitParser *lp, int depth, int latin1);

/* Grows by doubling: the old blocks stay in the pool until the end, so a
** container of n items costs at most 2n slots (growing by a constant would cost
** n^2 -- 10 GB for a 400 KB header). */
static MfsStatus lp_push(LitParser *lp, Lit *c, Lit *item) {
  if (c->n == LIT_MAX_ITEMS) {
    lp_fail(lp, "container with too many items");
    return MFS_ECORRUPT;
  }
  if (c->n == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 16;
    Lit **items = lp_alloc(lp, cap * sizeof *items);
    if (items == NULL) return err_set(lp->err, MFS_ENOMEM, lp_off(lp), "out of memory");
    if (c->n) memcpy(items, c->items, c->n * sizeof *items);
    c->items = items;   /* the old block is freed with the pool */
    c->cap = cap;
  }
  c->items[c->n++] = item;
  return MFS_OK;
}

/* ( ... ), [ ... ] or { k: v, ... }; a trailing comma is allowed, "(3,)" is a tuple. */
static Lit *lp_container(LitParser *lp, int depth, int latin1) {
  char open = *lp->p++;
  char close = open == '(' ? ')' : open == '[' ? ']' : '}';
  Lit *c = lit_new(lp, open == '(' ? LIT_TUPLE : open == '[' ? LIT_LIST : LIT_DICT);
  if (c == NULL) return NULL;
  for (;;) {
    lp_space(lp);
    if (lp->p >= lp->end) return lp_fail(lp, "unterminated container");
    if (*lp->p == close) {
      lp->p++;
      return c;
    }
    Lit *v = lp_value(lp, depth + 1, latin1);
    if (v == NULL || lp_push(lp, c, v) != MFS_OK) return NULL;
    lp_space(lp);
    if (c->kind == LIT_DICT) {
      if (lp->p >= lp->end || *lp->p != ':') return lp_fail(lp, "expected ':'");
      lp->p++;
      lp_space(lp);
      v = lp_value(lp, depth + 1, latin1);
      if (v == NULL || lp_push(lp, c, v) != MFS_OK) return NULL;
      lp_space(lp);
    }
    if (lp->p < lp->end && *lp->p == ',') {
      lp->p++;
      continue;
    }
    lp_space(lp);
    if (lp->p >= lp->end || *lp->p != close) return lp_fail(lp, "expected ',' or a closing bracket");
  }
}

static int lp_word(LitParser *lp, const char *w) {
  size_t n = strlen(w);
  if ((size_t)(lp->end - lp->p) < n || memcmp(lp->p, w, n) != 0) return 0;
  lp->p += n;
  return 1;
}

static Lit *lp_value(LitParser *lp, int depth, int latin1) {
  if (depth > MFS_MAX_DEPTH) return lp_fail(lp, "nested too deeply");
  lp_space(lp);
  if (lp->p >= lp->end) return lp_fail(lp, "unexpected end");
  char c = *lp->p;
  if (c == '\'' || c == '"') return lp_string(lp, latin1);
  if (c == '(' || c == '[' || c == '{') return lp_container(lp, depth, latin1);
  if (c == '-' || c == '+' || (c >= '0' && c <= '9')) return lp_int(lp);
  if (lp_word(lp, "True")) return lit_new(lp, LIT_TRUE);
  if (lp_word(lp, "False")) return lit_new(lp, LIT_FALSE);
  if (lp_word(lp, "None")) return lit_new(lp, LIT_NONE);
  return lp_fail(lp, "unexpected character");
}

static Lit *dict_lookup(const Lit *d, const char *key) {
  for (size_t k = 0; k + 1 < d->n; k += 2)
    if (d->items[k]->kind == LIT_STR && strcmp(d->items[k]->s, key) == 0) return d->items[k + 1];
  return NULL;
}

/* ---- descr -> Dtype --------------------------------------------------------- */

typedef struct DescrCtx {
  ValueSet *vs;
  LitParser *lp;
  uint64_t nodes;          /* dtypes made so far: MFS_MAX_DTYPE_NODES */
} DescrCtx;

/* numpy's itemsize is a C int; a larger record or subarray is no dtype numpy
** could have written, and the renderer sizes buffers by it. */
#define NPY_MAX_ITEMSIZE 0x7fffffffULL

static Value *descr_fail(DescrCtx *c, const char *what) {
  err_set(c->lp->err, MFS_ECORRUPT, c->lp->base, "offset %llu: .npy header: %s",
          (unsigned long long)c->lp->base, what);
  return NULL;
}

static Value *descr_to_dtype(DescrCtx *c, const Lit *d, int depth);

static Value *dtype_simple(DescrCtx *c, const char *typestr) {
  Value *v = dtype_from_str(c->vs, typestr, 0);
  if (v == NULL) {
    /* dtype_from_str records into vs->err; make sure the caller's Err has it too. */
    if (c->vs->err != c->lp->err && c->vs->err != NULL)
      err_set(c->lp->err, c->vs->err->code ? c->vs->err->code : MFS_ECORRUPT, c->lp->base,
              "offset %llu: .npy header: %s", (unsigned long long)c->lp->base,
              c->vs->err->msg[0] ? c->vs->err->msg : "bad type string");
    else
      err_set(c->lp->err, MFS_ECORRUPT, c->lp->base, "offset %llu: .npy header: bad type string '%.64s'",
              (unsigned long long)c->lp->base, typestr);
  }
  return v;
}

static Value *dtype_value(DescrCtx *c, Dtype **out) {
  if (++c->nodes > MFS_MAX_DTYPE_NODES) return descr_fail(c, "descr has too many fields in all");
  Value *v = value_new(c->vs, VAL_DTYPE);
  Dtype *d = v ? arena_alloc(c->vs->arena, sizeof *d) : NULL;
  if (d == NULL) {
    err_set(c->lp->err, MFS_ENOMEM, c->lp->base, "out of memory");
    return NULL;
  }
  v->u.dtype = d;
  *out = d;
  return v;
}

/* ('name', '<f8', (2, 3)): a field whose element is a subarray of base. */
static Value *dtype_subarray(DescrCtx *c, Value *base, const Lit *shape) {
  if (shape->kind == LIT_INT) {
    /* numpy accepts a bare int as a 1-d shape */
  } else if (shape->kind != LIT_TUPLE) {
    return descr_fail(c, "subarray shape is not a tuple");
  }
  size_t nd = shape->kind == LIT_INT ? 1 : shape->n;
  if (nd > MFS_MAX_NDIM) return descr_fail(c, "subarray has too many dimensions");
  Dtype *d;
  Value *v = dtype_value(c, &d);
  if (v == NULL) return NULL;
  d->sub_shape = arena_alloc(c->vs->arena, (nd ? nd : 1) * sizeof *d->sub_shape);
  if (d->sub_shape == NULL) return descr_fail(c, "out of memory");
  uint64_t count = 1;
  for (size_t k = 0; k < nd; k++) {
    const Lit *e = shape->kind == LIT_INT ? shape : shape->items[k];
    if (e->kind != LIT_INT || e->i < 0) return descr_fail(c, "bad subarray dimension");
    d->sub_shape[k] = (uint64_t)e->i;
    if (d->sub_shape[k] && count > MFS_MAX_ELEMENTS / d->sub_shape[k])
      return descr_fail(c, "subarray too large");
    count *= d->sub_shape[k];
  }
  uint64_t isz = base->u.dtype->itemsize;
  if (isz && count > NPY_MAX_ITEMSIZE / isz) return descr_fail(c, "subarray too large");
  d->kind = 'V';
  d->byteorder = '|';
  d->itemsize = count * isz;
  d->sub_base = base;
  d->sub_ndim = (int)nd;
  return v;
}

/* [('a', '<f8'), (('title', 'b'), '<i4', (2,)), ('', '|V4'), ('c', [...])]:
** numpy's descr_to_dtype.  Unnamed void entries are padding: they move the offset
** of the next field but are not fields. */
static Value *dtype_struct(DescrCtx *c, const Lit *list, int depth) {
  if (list->n > MFS_MAX_FIELDS) return descr_fail(c, "too many fields");
  Dtype *d;
  Value *v = dtype_value(c, &d);
  if (v == NULL) return NULL;
  d->kind = 'V';
  d->byteorder = '|';
  d->fields = arena_alloc(c->vs->arena, (list->n ? list->n : 1) * sizeof *d->fields);
  if (d->fields == NULL) return descr_fail(c, "out of memory");
  uint64_t off = 0;
  for (size_t k = 0; k < list->n; k++) {
    const Lit *f = list->items[k];
    if (f->kind != LIT_TUPLE || f->n < 2 || f->n > 3) return descr_fail(c, "bad field in descr");
    const Lit *name = f->items[0], *title = NULL;
    if (name->kind == LIT_TUPLE) {
      if (name->n != 2 || name->items[1]->kind != LIT_STR) return descr_fail(c, "bad field name");
      title = name->items[0];
      name = name->items[1];
    }
    if (name->kind != LIT_STR) return descr_fail(c, "bad field name");
    Value *fd = descr_to_dtype(c, f->items[1], depth + 1);
    if (fd == NULL) return NULL;
    if (f->n == 3) {
      fd = dtype_subarray(c, fd, f->items[2]);
      if (fd == NULL) return NULL;
    }
    uint64_t isz = fd->u.dtype->itemsize;
    if (name->len == 0 && fd->u.dtype->kind == 'V' && fd->u.dtype->nfields == 0 &&
        fd->u.dtype->sub_base == NULL) {
      if (isz > NPY_MAX_ITEMSIZE || off > NPY_MAX_ITEMSIZE - isz) return descr_fail(c, "record too large");
      off += isz;
      continue;
    }
    for (size_t j = 0; j < d->nfields; j++)
      if (strcmp(d->fields[j].name, name->s) == 0) return descr_fail(c, "duplicate field name");
    DtypeField *df = &d->fields[d->nfields++];
    df->name = arena_strndup(c->vs->arena, name->s, name->len);
    if (title != NULL && title->kind == LIT_STR)
      df->title = arena_strndup(c->vs->arena, title->s, title->len);
    df->dtype = fd;
    df->offset = off;
    if (df->name == NULL || isz > NPY_MAX_ITEMSIZE || off > NPY_MAX_ITEMSIZE - isz)
      return descr_fail(c, "record too large");
    off += isz;
  }
  d->itemsize = off;
  return v;
}

static Value *descr_to_dtype(DescrCtx *c, const Lit *d, int depth) {
  if (depth >= MFS_MAX_DTYPE_DEPTH) return descr_fail(c, "descr nested too deeply");
  if (d->kind == LIT_STR) {
    if (memchr(d->s, '\0', d->len) != NULL) return descr_fail(c, "bad type string");
    return dtype_simple(c, d->s);
  }
  if (d->kind == LIT_LIST) return dtype_struct(c, d, depth);
  return descr_fail(c, "descr is neither a type string nor a list of fields");
}

/* ---- the header ------------------------------------------------------------- */

static MfsStatus read_prefix(Source *src, uint64_t *hoff, uint64_t *hlen, int *utf8, Err *e) {
  uint8_t b[12];
  MfsStatus st = source_read(src, 0, b, 10, e);
  if (st != MFS_OK) return st;
  if (memcmp(b, "\x93NUMPY", 6) != 0)
    return err_set(e, MFS_ECORRUPT, 0, "offset 0: not a .npy file (bad magic)");
  int major = b[6];
  if (major == 1) {
    *hoff = 10;
    *hlen = (uint64_t)b[8] | (uint64_t)b[9] << 8;
  } else if (major == 2 || major == 3) {
    st = source_read(src, 10, b + 10, 2, e);
    if (st != MFS_OK) return st;
    *hoff = 12;
    *hlen = (uint64_t)b[8] | (uint64_t)b[9] << 8 | (uint64_t)b[10] << 16 | (uint64_t)b[11] << 24;
  } else {
    return err_set(e, MFS_EUNSUPPORTED, 6, "offset 6: .npy format version %d.%d is not supported",
                   major, b[7]);
  }
  *utf8 = major == 3;
  if (*hlen > MFS_MAX_NPY_HEADER)
    return err_set(e, MFS_ELIMIT, 8, "offset 8: .npy header of %llu bytes is larger than %u",
                   (unsigned long long)*hlen, MFS_MAX_NPY_HEADER);
  if (src->size != SOURCE_SIZE_UNKNOWN && *hoff + *hlen > src->size)
    return err_set(e, MFS_ETRUNC, 8, "offset 8: .npy header runs past the end of the data");
  return MFS_OK;
}

static MfsStatus take_shape(DescrCtx *c, NdArray *a, const Lit *shape, uint64_t *count) {
  Err *e = c->lp->err;
  uint64_t off = c->lp->base;
  if (shape == NULL || shape->kind != LIT_TUPLE)
    return err_set(e, MFS_ECORRUPT, off, "offset %llu: .npy header: shape is not a tuple",
                   (unsigned long long)off);
  if (shape->n > MFS_MAX_NDIM)
    return err_set(e, MFS_ELIMIT, off, "offset %llu: .npy header: %zu dimensions (limit %d)",
                   (unsigned long long)off, shape->n, MFS_MAX_NDIM);
  a->ndim = (int)shape->n;
  a->shape = arena_alloc(c->vs->arena, (shape->n ? shape->n : 1) * sizeof *a->shape);
  if (a->shape == NULL) return err_set(e, MFS_ENOMEM, off, "out of memory");
  uint64_t n = 1;
  int zero = 0;
  for (size_t k = 0; k < shape->n; k++) {
    const Lit *d = shape->items[k];
    if (d->kind != LIT_INT || d->i < 0)
      return err_set(e, MFS_ECORRUPT, off, "offset %llu: .npy header: bad dimension",
                     (unsigned long long)off);
    a->shape[k] = (uint64_t)d->i;
    if (a->shape[k] == 0) zero = 1;
    else if (n > MFS_MAX_ELEMENTS / a->shape[k]) n = MFS_MAX_ELEMENTS + 1;
    else n *= a->shape[k];
  }
  if (zero) n = 0;
  if (n > MFS_MAX_ELEMENTS)
    return err_set(e, MFS_ELIMIT, off, "offset %llu: .npy header: more than %llu elements",
                   (unsigned long long)off, (unsigned long long)MFS_MAX_ELEMENTS);
  *count = n;
  return MFS_OK;
}

static Value *npy_build(ValueSet *vs, Source *src, LitParser *lp, const Lit *hdr,
                        uint64_t data_off, uint64_t *payload) {
  Err *e = lp->err;
  DescrCtx c = {vs, lp, 0};
  if (hdr->kind != LIT_DICT) {
    lp_fail(lp, "header is not a dict");
    return NULL;
  }
  const Lit *descr = dict_lookup(hdr, "descr");
  const Lit *fo = dict_lookup(hdr, "fortran_order");
  const Lit *shape = dict_lookup(hdr, "shape");
  if (descr == NULL || fo == NULL || shape == NULL || hdr->n != 6) {
    err_set(e, MFS_ECORRUPT, lp->base,
            "offset %llu: .npy header: keys must be exactly descr, fortran_order, shape",
            (unsigned long long)lp->base);
    return NULL;
  }
  if (fo->kind != LIT_TRUE && fo->kind != LIT_FALSE) {
    descr_fail(&c, "fortran_order is not a bool");
    return NULL;
  }
  Value *dt = descr_to_dtype(&c, descr, 0);
  if (dt == NULL) return NULL;
  if (dtype_has_object(dt->u.dtype) && payload != NULL) {
    *payload = data_off;   /* the caller decodes the pickle there */
    return NULL;
  }
  if (dtype_has_object(dt->u.dtype)) {
    err_set(e, MFS_EUNSUPPORTED, lp->base,
            "offset %llu: .npy holds an object dtype: its payload is a pickle, not decoded",
            (unsigned long long)lp->base);
    return NULL;
  }
  Value *v = value_new(vs, VAL_NDARRAY);
  NdArray *a = v ? arena_alloc(vs->arena, sizeof *a) : NULL;
  if (a == NULL) {
    err_set(e, MFS_ENOMEM, lp->base, "out of memory");
    return NULL;
  }
  v->u.arr = a;
  a->dtype = dt;
  a->fortran = fo->kind == LIT_TRUE;
  uint64_t count = 0;
  if (take_shape(&c, a, shape, &count) != MFS_OK) return NULL;
  uint64_t isz = dt->u.dtype->itemsize;
  if (isz && count > UINT64_MAX / isz) {
    err_set(e, MFS_ELIMIT, lp->base, "offset %llu: .npy array too large", (unsigned long long)lp->base);
    return NULL;
  }
  uint64_t len = count * isz;
  if (src->size != SOURCE_SIZE_UNKNOWN && (data_off > src->size || len > src->size - data_off)) {
    err_set(e, MFS_ETRUNC, data_off,
            "offset %llu: .npy data needs %llu bytes, %llu remain",
            (unsigned long long)data_off, (unsigned long long)len,
            (unsigned long long)(data_off > src->size ? 0 : src->size - data_off));
    return NULL;
  }
  a->data.src = src;
  a->data.off = data_off;
  a->data.len = len;
  arena_keep_source(vs->arena, src);
  return v;
}

static Value *read_npy(ValueSet *vs, Source *src, uint64_t *payload, Err *e);

Value *npy_read(ValueSet *vs, Source *src, Err *e) { return read_npy(vs, src, NULL, e); }

Value *npy_read_objects(ValueSet *vs, Source *src, uint64_t *payload, Err *e) {
  *payload = 0;
  return read_npy(vs, src, payload, e);
}

static Value *read_npy(ValueSet *vs, Source *src, uint64_t *payload, Err *e) {
  uint64_t hoff = 0, hlen = 0;
  int utf8 = 0;
  if (read_prefix(src, &hoff, &hlen, &utf8, e) != MFS_OK) return NULL;
  char *text = malloc(hlen ? hlen : 1);
  if (text == NULL) {
    err_set(e, MFS_ENOMEM, hoff, "out of memory");
    return NULL;
  }
  Value *v = NULL;
  if (source_read(src, hoff, text, hlen, e) == MFS_OK) {
    LitParser lp = {text, text + hlen, text, hoff, NULL, 0, 0, e};
    Lit *hdr = lp_value(&lp, 0, !utf8);
    if (hdr != NULL) {
      lp_space(&lp);
      if (lp.p != lp.end) lp_fail(&lp, "junk after the header dict");
      else v = npy_build(vs, src, &lp, hdr, hoff + hlen, payload);
    }
    lp_free(&lp);
  }
  free(text);
  return v;
}
