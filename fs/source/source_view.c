/*
** source_view.c -- derived views of a Source: a strided gather and a widening.
**
** A PyTorch tensor is a view (offset, sizes, strides) of a storage, and a
** bfloat16/float8 tensor has no numpy dtype; the renderer only serves bytes in C
** order of a numpy dtype.  These Sources produce exactly those bytes on demand
** from the stored ones, so nothing is copied at decode time and a view of a
** gigabyte storage costs a few hundred bytes until it is read.
** They must never read outside the inner Source's bytes the view was declared
** over (the decoder checks the view's extent before creating it), never keep
** state between reads (reads come from several threads), and never allocate
** more than a bounded scratch buffer per read.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "modelfs/limits.h"
#include "modelfs/source.h"

/* ---- strided gather ---------------------------------------------------------- */

typedef struct Strided {
  Source base;
  Source *inner;
  uint64_t base_off;       /* bytes: where element (0, ..., 0) lives in inner */
  size_t isz;
  int ndim;
  uint64_t *shape;
  int64_t *stride;         /* in elements, may be 0 (broadcast) */
} Strided;

/* Inner element offset of C-order element number k. */
static int64_t strided_at(const Strided *s, uint64_t k) {
  int64_t at = 0;
  for (int d = s->ndim; d-- > 0;) {
    uint64_t n = s->shape[d];
    at += (int64_t)(k % n) * s->stride[d];
    k /= n;
  }
  return at;
}

/* Copy elements [e0, e1) into out.  Runs of elements adjacent in the storage are
** read at once; when the whole request spans a bounded window of the storage it
** is read in one go and picked from memory (a transposed matrix). */
static MfsStatus strided_gather(Strided *s, uint64_t e0, uint64_t e1, uint8_t *out, Err *e) {
  int64_t lo = INT64_MAX, hi = INT64_MIN;
  for (uint64_t k = e0; k < e1; k++) {
    int64_t at = strided_at(s, k);
    if (at < lo) lo = at;
    if (at > hi) hi = at;
  }
  uint64_t span = (uint64_t)(hi - lo + 1) * s->isz;
  if (span <= MFS_MAX_GATHER_WINDOW) {
    uint8_t *win = malloc(span);
    if (win == NULL) return err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
    MfsStatus st = source_read(s->inner, s->base_off + (uint64_t)lo * s->isz, win, span, e);
    for (uint64_t k = e0; st == MFS_OK && k < e1; k++)
      memcpy(out + (k - e0) * s->isz, win + (uint64_t)(strided_at(s, k) - lo) * s->isz, s->isz);
    free(win);
    return st;
  }
  for (uint64_t k = e0; k < e1;) {
    int64_t at = strided_at(s, k);
    uint64_t run = 1;
    while (k + run < e1 && strided_at(s, k + run) == at + (int64_t)run) run++;
    MfsStatus st = source_read(s->inner, s->base_off + (uint64_t)at * s->isz,
                               out + (k - e0) * s->isz, run * s->isz, e);
    if (st != MFS_OK) return st;
    k += run;
  }
  return MFS_OK;
}

static MfsStatus strided_read(Source *src, uint64_t off, void *buf, size_t len, size_t *got,
                              Err *e) {
  Strided *s = (Strided *)src;
  *got = 0;
  if (off >= src->size || len == 0) return MFS_OK;
  if (len > src->size - off) len = (size_t)(src->size - off);
  uint64_t e0 = off / s->isz, e1 = (off + len + s->isz - 1) / s->isz;
  uint64_t chunk = MFS_MAX_GATHER_WINDOW / s->isz;
  uint8_t *tmp = malloc((size_t)((e1 - e0 < chunk ? e1 - e0 : chunk) * s->isz));
  if (tmp == NULL) return err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
  MfsStatus st = MFS_OK;
  for (uint64_t k = e0; k < e1 && st == MFS_OK; k += chunk) {
    uint64_t k1 = k + chunk < e1 ? k + chunk : e1;
    st = strided_gather(s, k, k1, tmp, e);
    uint64_t from = k * s->isz, to = k1 * s->isz;   /* bytes of the view */
    uint64_t a = from > off ? from : off, b = to < off + len ? to : off + len;
    if (st == MFS_OK) memcpy((uint8_t *)buf + (a - off), tmp + (a - from), (size_t)(b - a));
  }
  free(tmp);
  if (st == MFS_OK) *got = len;
  return st;
}

static void strided_destroy(Source *src) {
  source_unref(((Strided *)src)->inner);
  free(src);
}

/* Every element the view can serve lies in one span of inner: sum it whole. */
static MfsStatus strided_sum(Source *src, uint64_t off, uint64_t len, Err *e) {
  Strided *s = (Strided *)src;
  if (off >= src->size || len == 0) return MFS_OK;
  int64_t lo = 0, hi = 0;
  for (int d = 0; d < s->ndim; d++) {
    int64_t far = (int64_t)(s->shape[d] - 1) * s->stride[d];
    if (far < 0) lo += far;
    else hi += far;
  }
  return source_sum(s->inner, s->base_off + (uint64_t)lo * s->isz,
                    (uint64_t)(hi - lo + 1) * s->isz, e);
}

static const SourceOps strided_ops = {strided_read, strided_destroy, strided_sum};

Source *source_strided(Source *inner, uint64_t base_off, size_t itemsize, int ndim,
                       const uint64_t *shape, const int64_t *stride, const char *name) {
  if (ndim < 0 || ndim > MFS_MAX_NDIM || itemsize == 0) return NULL;
  /* one allocation: a view costs ~100 bytes plus 16 per dimension */
  Strided *s = calloc(1, sizeof *s + (size_t)ndim * (sizeof *s->shape + sizeof *s->stride));
  if (s == NULL) return NULL;
  s->shape = (uint64_t *)(s + 1);
  s->stride = (int64_t *)(s->shape + ndim);
  uint64_t n = 1;
  for (int d = 0; d < ndim; d++) {
    s->shape[d] = shape[d];
    s->stride[d] = stride[d];
    n *= shape[d];
  }
  s->inner = source_ref(inner);
  s->base_off = base_off;
  s->isz = itemsize;
  s->ndim = ndim;
  source_init(&s->base, &strided_ops, name, n * itemsize);
  return &s->base;
}

/* ---- widening to float32 --------------------------------------------------------- */

typedef struct Widen {
  Source base;
  Source *inner;
  size_t in_size;          /* bytes per stored element: 2 or 1 */
  float table[256];        /* float8 kinds: every code's value */
  int bf16;
} Widen;

static float bf16_to_f32(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* A float8 code with ebits exponent bits: IEEE-like (e5m2: inf and nan) or the
** "fn" variant (e4m3fn: no inf, only S.1111.111 is nan). */
static float f8_value(unsigned code, int ebits, int fn) {
  int mbits = 7 - ebits, bias = (1 << (ebits - 1)) - 1;
  unsigned sign = code >> 7, ex = (code >> mbits) & ((1u << ebits) - 1), man = code & ((1u << mbits) - 1);
  float v;
  if (fn && ex == (1u << ebits) - 1 && man == (1u << mbits) - 1) v = NAN;
  else if (!fn && ex == (1u << ebits) - 1) v = man ? NAN : INFINITY;
  else if (ex == 0) v = ldexpf((float)man, 1 - bias - mbits);
  else v = ldexpf((float)(man | (1u << mbits)), (int)ex - bias - mbits);
  return sign ? -v : v;
}

static MfsStatus widen_read(Source *src, uint64_t off, void *buf, size_t len, size_t *got,
                            Err *e) {
  Widen *w = (Widen *)src;
  *got = 0;
  if (off >= src->size || len == 0) return MFS_OK;
  if (len > src->size - off) len = (size_t)(src->size - off);
  uint64_t e0 = off / 4, e1 = (off + len + 3) / 4;
  enum { CHUNK = 16384 };
  uint8_t in[CHUNK * 2];
  float outv[CHUNK];
  for (uint64_t k = e0; k < e1; k += CHUNK) {
    uint64_t k1 = k + CHUNK < e1 ? k + CHUNK : e1;
    size_t n = (size_t)(k1 - k);
    MfsStatus st = source_read(w->inner, k * w->in_size, in, n * w->in_size, e);
    if (st != MFS_OK) return st;
    for (size_t i = 0; i < n; i++)
      outv[i] = w->bf16 ? bf16_to_f32((uint16_t)(in[2 * i] | in[2 * i + 1] << 8)) : w->table[in[i]];
    uint64_t from = k * 4, to = k1 * 4;
    uint64_t a = from > off ? from : off, b = to < off + len ? to : off + len;
    memcpy((uint8_t *)buf + (a - off), (uint8_t *)outv + (a - from), (size_t)(b - a));
  }
  *got = len;
  return MFS_OK;
}

static void widen_destroy(Source *src) {
  source_unref(((Widen *)src)->inner);
  free(src);
}

static MfsStatus widen_sum(Source *src, uint64_t off, uint64_t len, Err *e) {
  Widen *w = (Widen *)src;
  if (off >= src->size || len == 0) return MFS_OK;
  if (len > src->size - off) len = src->size - off;
  uint64_t e0 = off / 4, e1 = (off + len + 3) / 4;
  return source_sum(w->inner, e0 * w->in_size, (e1 - e0) * w->in_size, e);
}

static const SourceOps widen_ops = {widen_read, widen_destroy, widen_sum};

Source *source_widen(Source *inner, const char *kind, const char *name) {
  Widen *w = calloc(1, sizeof *w);
  if (w == NULL) return NULL;
  if (strcmp(kind, "bfloat16") == 0) {
    w->bf16 = 1;
    w->in_size = 2;
  } else if (strcmp(kind, "float8_e4m3fn") == 0 || strcmp(kind, "float8_e5m2") == 0) {
    int e5 = kind[8] == '5';
    w->in_size = 1;
    for (unsigned c = 0; c < 256; c++) w->table[c] = f8_value(c, e5 ? 5 : 4, !e5);
  } else {
    free(w);
    return NULL;
  }
  w->inner = source_ref(inner);
  uint64_t n = inner->size == SOURCE_SIZE_UNKNOWN ? 0 : inner->size / w->in_size;
  source_init(&w->base, &widen_ops, name, n * 4);
  return &w->base;
}

/* ---- a bundle: keeps many derived Sources alive as one -------------------------- */

typedef struct Bundle {
  Source base;
  Source **v;
  size_t n, cap;
} Bundle;

static MfsStatus bundle_read(Source *s, uint64_t off, void *buf, size_t len, size_t *got, Err *e) {
  (void)s; (void)off; (void)buf; (void)len; (void)e;
  *got = 0;
  return MFS_OK;
}

static void bundle_destroy(Source *s) {
  Bundle *b = (Bundle *)s;
  for (size_t i = 0; i < b->n; i++) source_unref(b->v[i]);
  free(b->v);
  free(b);
}

static const SourceOps bundle_ops = {bundle_read, bundle_destroy, NULL};

Source *source_bundle(const char *name) {
  Bundle *b = calloc(1, sizeof *b);
  if (b == NULL) return NULL;
  source_init(&b->base, &bundle_ops, name, 0);
  return &b->base;
}

int source_bundle_add(Source *bundle, Source *s) {
  Bundle *b = (Bundle *)bundle;
  if (b->base.ops != &bundle_ops) return 0;
  if (b->n == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 64;
    Source **nv = realloc(b->v, cap * sizeof *nv);
    if (nv == NULL) return 0;
    b->v = nv;
    b->cap = cap;
  }
  b->v[b->n++] = s;
  return 1;
}
