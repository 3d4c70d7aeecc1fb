/*
** safetensors.c -- the "safetensors" Format: Hugging Face's pickle-free tensor file.
**
** Layout (github.com/huggingface/safetensors, "Format"): an 8-byte little-endian
** header length N, N bytes of JSON (cJSON parses it) mapping each tensor name to
** {"dtype", "shape", "data_offsets": [begin, end]} (offsets into the bytes after
** the header) and an optional "__metadata__" of str -> str, then the data.  The
** root is an ordered dict of the tensors in data order (the order they were
** written, as a state_dict has them), plus `metadata` from __metadata__; each
** tensor is an array served by offset from the file, zero-copy, or widened to
** float32 when numpy has no such dtype (BF16, F8_*), as torch.c does.
** It must never trust an offset or shape before checking it against the data
** length, never read tensor bytes at decode time, and never parse a header
** larger than MFS_MAX_SAFETENSORS_HEADER.
*/
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "modelfs/dtype.h"
#include "modelfs/limits.h"
#include "modelfs/model.h"

typedef struct SType {
  const char *code;        /* the header's dtype */
  const char *name;        /* torch's name for it (meta.json, object.json) */
  const char *typestr;     /* numpy dtype served */
  unsigned size;           /* bytes per stored element */
  int widen;
} SType;

static const SType stypes[] = {
  {"F64", "float64", "<f8", 8, 0},   {"F32", "float32", "<f4", 4, 0},
  {"F16", "float16", "<f2", 2, 0},   {"BF16", "bfloat16", "<f4", 2, 1},
  {"I64", "int64", "<i8", 8, 0},     {"I32", "int32", "<i4", 4, 0},
  {"I16", "int16", "<i2", 2, 0},     {"I8", "int8", "|i1", 1, 0},
  {"U64", "uint64", "<u8", 8, 0},    {"U32", "uint32", "<u4", 4, 0},
  {"U16", "uint16", "<u2", 2, 0},    {"U8", "uint8", "|u1", 1, 0},
  {"BOOL", "bool", "|b1", 1, 0},     {"C64", "complex64", "<c8", 8, 0},
  {"F8_E4M3", "float8_e4m3fn", "<f4", 1, 1}, {"F8_E5M2", "float8_e5m2", "<f4", 1, 1},
};
#define NSTYPES (sizeof stypes / sizeof *stypes)

typedef struct Entry {
  const cJSON *j;
  uint64_t begin, end;
} Entry;

typedef struct St {
  Model *m;
  Source *src;
  uint64_t data_off, data_len;
  Source *keep;             /* bundle of the widened tensors' Sources (arena-kept) */
  size_t nkeep;
  Value *dtypes[NSTYPES];
  uint64_t counts[NSTYPES];
} St;

static MfsStatus bad(St *s, const char *name, const char *why) {
  return err_set(&s->m->err, MFS_ECORRUPT, 8, "offset 8: header: tensor %s: %s", name, why);
}

static const SType *stype(const char *code) {
  for (size_t i = 0; i < NSTYPES; i++)
    if (strcmp(stypes[i].code, code) == 0) return &stypes[i];
  return NULL;
}

static int as_u64(const cJSON *j, uint64_t *out) {
  if (!cJSON_IsNumber(j) || j->valuedouble < 0 || j->valuedouble > 9007199254740992.0 ||
      j->valuedouble != (double)(uint64_t)j->valuedouble)
    return 0;
  *out = (uint64_t)j->valuedouble;
  return 1;
}

static int offsets(const cJSON *t, uint64_t *b, uint64_t *e) {
  const cJSON *o = cJSON_GetObjectItemCaseSensitive(t, "data_offsets");
  return cJSON_IsArray(o) && cJSON_GetArraySize(o) == 2 && as_u64(cJSON_GetArrayItem(o, 0), b) &&
         as_u64(cJSON_GetArrayItem(o, 1), e) && *b <= *e;
}

/* Keep w (our reference) alive as long as the graph; 0 (w released) when over
** the limit or out of memory. */
static int keep(St *s, Source *w) {
  if (s->keep == NULL) {
    s->keep = source_bundle("widened tensors");
    if (s->keep == NULL) {
      source_unref(w);
      return 0;
    }
    arena_keep_source(s->m->vs.arena, s->keep);
    source_unref(s->keep);
  }
  if (s->nkeep >= limit_lowered("MODELFS_TEST_MAX_DERIVED_SOURCES", MFS_MAX_DERIVED_SOURCES) ||
      !source_bundle_add(s->keep, w)) {
    source_unref(w);
    return 0;
  }
  s->nkeep++;
  return 1;
}

/* One tensor entry as an array whose data are the file's bytes. */
static Value *tensor(St *s, const Entry *en) {
  const char *name = en->j->string;
  const cJSON *dt = cJSON_GetObjectItemCaseSensitive(en->j, "dtype");
  const cJSON *sh = cJSON_GetObjectItemCaseSensitive(en->j, "shape");
  const SType *ty = cJSON_IsString(dt) ? stype(dt->valuestring) : NULL;
  if (ty == NULL) {
    char why[96];
    snprintf(why, sizeof why, "dtype %.40s is not supported",
             cJSON_IsString(dt) ? dt->valuestring : "(not a string)");
    bad(s, name, why);
    return NULL;
  }
  int ndim = cJSON_IsArray(sh) ? cJSON_GetArraySize(sh) : -1;
  if (ndim < 0 || ndim > MFS_MAX_NDIM) return bad(s, name, "shape is not a list of sizes"), NULL;
  Value *v = value_new(&s->m->vs, VAL_NDARRAY);
  NdArray *a = v ? arena_alloc(s->m->vs.arena, sizeof *a) : NULL;
  uint64_t *shape = a ? arena_alloc(s->m->vs.arena, (size_t)(ndim + 1) * sizeof *shape) : NULL;
  if (shape == NULL) {
    err_set(&s->m->err, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
    return NULL;
  }
  uint64_t count = 1;
  for (int d = 0; d < ndim; d++) {
    if (!as_u64(cJSON_GetArrayItem(sh, d), &shape[d])) return bad(s, name, "shape is not a list of sizes"), NULL;
    if (shape[d] && count > MFS_MAX_ELEMENTS / shape[d]) return bad(s, name, "too many elements"), NULL;
    count *= shape[d];
  }
  if (en->end - en->begin != count * ty->size)
    return bad(s, name, "data_offsets disagree with dtype and shape"), NULL;
  size_t k = (size_t)(ty - stypes);
  if (s->dtypes[k] == NULL) s->dtypes[k] = dtype_from_str(&s->m->vs, ty->typestr, 0);
  if (s->dtypes[k] == NULL) return NULL;
  s->counts[k]++;
  v->u.arr = a;
  a->dtype = s->dtypes[k];
  a->ndim = ndim;
  a->shape = shape;
  a->data.src = s->src;
  a->data.off = s->data_off + en->begin;
  a->data.len = en->end - en->begin;
  if (ty->widen) {
    a->stored_dtype = ty->name;
    Source *sl = source_slice(s->src, a->data.off, a->data.len, s->src->name);
    Source *w = sl ? source_widen(sl, ty->name, s->src->name) : NULL;
    source_unref(sl);
    if (w == NULL || !keep(s, w)) {
      a->error = w == NULL ? "out of memory" : "too many widened tensors to serve";
      if (s->m->err.code == MFS_OK)
        err_set(&s->m->err, w == NULL ? MFS_ENOMEM : MFS_ELIMIT, MFS_NO_OFFSET,
                "more than %llu widened tensors", (unsigned long long)s->nkeep);
      return v;
    }
    a->data.src = w;
    a->data.off = 0;
    a->data.len = count * 4;
  }
  return v;
}

static int by_offset(const void *x, const void *y) {
  const Entry *a = x, *b = y;
  if (a->begin != b->begin) return a->begin < b->begin ? -1 : 1;
  return a->end < b->end ? -1 : a->end > b->end;
}

/* __metadata__: str -> str, shown as metadata.json. */
static MfsStatus metadata(St *s, const cJSON *md) {
  Value *d = value_new(&s->m->vs, VAL_DICT);
  if (d == NULL) return s->m->err.code;
  if (!cJSON_IsObject(md))
    return err_set(&s->m->err, MFS_ECORRUPT, 8, "offset 8: header: __metadata__ is not an object");
  for (const cJSON *e = md->child; e != NULL; e = e->next) {
    if (!cJSON_IsString(e))
      return err_set(&s->m->err, MFS_ECORRUPT, 8, "offset 8: header: __metadata__ value is not a string");
    Value *k = value_str(&s->m->vs, e->string, strlen(e->string));
    Value *v = value_str(&s->m->vs, e->valuestring, strlen(e->valuestring));
    if (k == NULL || v == NULL || dict_put(&s->m->vs, d, k, v) != MFS_OK) return s->m->err.code;
  }
  Value *key = value_str(&s->m->vs, "metadata", 8);
  return key ? dict_put(&s->m->vs, s->m->root, key, d) : s->m->err.code;
}

static void meta_dtypes(St *s) {
  Value *d = value_new(&s->m->vs, VAL_DICT);
  for (size_t i = 0; d && i < NSTYPES; i++) {
    if (s->counts[i] == 0) continue;
    Value *k = value_str(&s->m->vs, stypes[i].name, strlen(stypes[i].name));
    Value *c = value_int(&s->m->vs, (int64_t)s->counts[i]);
    if (k && c) dict_put(&s->m->vs, d, k, c);
  }
  Value *k = value_str(&s->m->vs, "dtypes", 6);
  if (d && k) dict_put(&s->m->vs, s->m->meta_extra, k, d);
}

static MfsStatus tensors(St *s, const cJSON *h) {
  int n = cJSON_GetArraySize(h);
  Entry *en = calloc((size_t)(n ? n : 1), sizeof *en);
  if (en == NULL) return err_set(&s->m->err, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
  size_t ne = 0;
  const cJSON *md = NULL;
  MfsStatus st = MFS_OK;
  for (const cJSON *e = h->child; e != NULL && st == MFS_OK; e = e->next) {
    if (strcmp(e->string, "__metadata__") == 0) {
      md = e;
      continue;
    }
    if (!cJSON_IsObject(e) || !offsets(e, &en[ne].begin, &en[ne].end))
      st = bad(s, e->string, "no valid data_offsets");
    else if (en[ne].end > s->data_len)
      st = bad(s, e->string, "data_offsets beyond the end of the file");
    en[ne++].j = e;
  }
  if (st == MFS_OK) qsort(en, ne, sizeof *en, by_offset);
  for (size_t i = 0; i < ne && st == MFS_OK; i++) {
    Value *v = tensor(s, &en[i]);
    Value *k = v ? value_str(&s->m->vs, en[i].j->string, strlen(en[i].j->string)) : NULL;
    st = k ? dict_put(&s->m->vs, s->m->root, k, v) : (s->m->err.code ? s->m->err.code : MFS_ENOMEM);
  }
  if (st == MFS_OK && md != NULL) st = metadata(s, md);
  free(en);
  meta_dtypes(s);
  return st;
}

/* src may be NULL (a head alone). */
static int sniff(Source *src, const uint8_t *head, size_t n) {
  if (n < 9 || head[8] != '{') return 0;
  uint64_t len = 0;
  for (int i = 0; i < 8; i++) len |= (uint64_t)head[i] << (8 * i);
  if (len < 2 || len > MFS_MAX_SAFETENSORS_HEADER) return 0;
  return src == NULL || src->size == SOURCE_SIZE_UNKNOWN || 8 + len <= src->size;
}

static MfsStatus decode(Model *m, Source *src) {
  St s;
  memset(&s, 0, sizeof s);
  s.m = m;
  s.src = src;
  uint8_t b[8];
  MfsStatus st = source_read(src, 0, b, 8, &m->err);
  if (st != MFS_OK) return st;
  uint64_t len = 0;
  for (int i = 0; i < 8; i++) len |= (uint64_t)b[i] << (8 * i);
  if (len > MFS_MAX_SAFETENSORS_HEADER || src->size == SOURCE_SIZE_UNKNOWN || 8 + len > src->size)
    return err_set(&m->err, MFS_ECORRUPT, 0, "offset 0: header length %llu does not fit the file",
                   (unsigned long long)len);
  char *text = malloc((size_t)len + 1);
  if (text == NULL) return err_set(&m->err, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
  st = source_read(src, 8, text, (size_t)len, &m->err);
  cJSON *h = NULL;
  if (st == MFS_OK) {
    text[len] = '\0';
    const char *end = NULL;
    h = cJSON_ParseWithLengthOpts(text, (size_t)len, &end, 0);
    if (!cJSON_IsObject(h))
      st = err_set(&m->err, MFS_ECORRUPT, 8, "offset %llu: header is not a JSON object",
                   (unsigned long long)(8 + (end && end >= text ? (uint64_t)(end - text) : 0)));
  }
  m->root = st == MFS_OK ? value_new(&m->vs, VAL_DICT) : NULL;
  if (m->root != NULL) {
    m->root->flags |= VF_ORDERED;
    s.data_off = 8 + len;
    s.data_len = src->size - s.data_off;
    arena_keep_source(m->vs.arena, src);
    st = tensors(&s, h);
  } else if (st == MFS_OK) {
    st = m->err.code;
  }
  cJSON_Delete(h);
  free(text);
  return st != MFS_OK ? st : m->err.code;
}

const Format format_safetensors = {"safetensors", sniff, decode};
