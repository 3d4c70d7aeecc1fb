/*
** joblib.c -- the "pickle" Format: plain pickles and every file joblib.dump writes.
**
** The stream (already decompressed by decode.c: zlib, gzip, bz2, xz, lzma, lz4, or
** the old "ZF" Z-file) runs through the pickle VM with one hook, after BUILD, that
** turns joblib's array wrappers into VAL_NDARRAY:
**   - NumpyArrayWrapper (joblib >= 0.10): the array bytes follow the BUILD in the
**     stream (after a pad-length byte and padding when the state has
**     numpy_array_alignment_bytes); the array keeps only (source, offset, length)
**     and the cursor skips the bytes, so listing never reads array data.  Object
**     arrays are a nested, independent pickle run on the same cursor.
**   - NDArrayWrapper / ZNDArrayWrapper (joblib < 0.10): the data lives in companion
**     files beside the pickle (`model.pkl_01.npy`, `model.pkl_01.npy.z`).
** It must never open a path the file names outside the pickle's own directory
** (companion names with '/' are refused), never read a whole array into memory,
** and never fail the whole model for one missing companion file: that array
** carries NdArray.error (reads give EIO) and meta.json keeps status "ok" -- the
** file itself decoded; what is missing lies outside it -- with the count in the
** meta key "joblib_missing_files".
**
** A companion is looked up by its stored name; when that does not exist and the
** pickle was renamed after the dump, by the pickle's own name plus the stored
** suffix ("_01.npy"), which is how renamed multi-file dumps are usually kept.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "modelfs/dtype.h"
#include "modelfs/limits.h"
#include "modelfs/npy_read.h"
#include "modelfs/pickle.h"

typedef struct Job {
  Model *m;
  int depth;          /* nesting of object-array pickles */
  int wrappers;       /* NumpyArrayWrapper seen */
  int legacy;         /* NDArrayWrapper / ZNDArrayWrapper seen */
  int missing;        /* legacy arrays whose companion could not be used */
} Job;

/* ---- small readers of the wrapper state ------------------------------------------- */

/* A str, or a Python-2 str (bytes), equal to s. */
static int text_is(const Value *v, const char *s) {
  if (v == NULL) return 0;
  size_t n = strlen(s);
  if (v->kind == VAL_STR) return v->u.str.len == n && memcmp(v->u.str.s, s, n) == 0;
  if (v->kind == VAL_BYTES && v->u.bytes.mem != NULL)
    return v->u.bytes.len == n && memcmp(v->u.bytes.mem, s, n) == 0;
  return 0;
}

/* state[key] for str or Python-2 str keys; last write wins. */
static Value *state_get(const Value *d, const char *key) {
  if (d == NULL || d->kind != VAL_DICT) return NULL;
  for (size_t i = d->u.dict.n; i-- > 0;)
    if (text_is(d->u.dict.keys[i], key)) return d->u.dict.vals[i];
  return NULL;
}

/* The bytes of a str / py2 str value, or NULL. */
static const char *text_of(const Value *v, size_t *len) {
  if (v == NULL) return NULL;
  if (v->kind == VAL_STR) {
    *len = v->u.str.len;
    return v->u.str.s;
  }
  if (v->kind == VAL_BYTES && v->u.bytes.mem != NULL) {
    *len = (size_t)v->u.bytes.len;
    return (const char *)v->u.bytes.mem;
  }
  return NULL;
}

static int is_wrapper(const Value *g, const char *name) {
  if (g == NULL || g->kind != VAL_GLOBAL || strcmp(g->u.global.name, name) != 0) return 0;
  const char *mod = g->u.global.module;
  return strcmp(mod, "joblib.numpy_pickle") == 0 ||
         strcmp(mod, "sklearn.externals.joblib.numpy_pickle") == 0 ||
         strcmp(mod, "joblib.numpy_pickle_compat") == 0 ||
         strcmp(mod, "sklearn.externals.joblib.numpy_pickle_compat") == 0;
}

static MfsStatus fail(Job *j, Reader *r, MfsStatus code, const char *what) {
  return err_set(&j->m->err, code, reader_pos(r), "offset %llu: %s",
                 (unsigned long long)reader_pos(r), what);
}

/* A fresh VAL_NDARRAY with dtype and shape (a tuple/list of ints >= 0). */
static Value *array_new(Job *j, Reader *r, Value *dtype, const Value *shape, Value *cls) {
  Model *m = j->m;
  if (dtype == NULL || dtype->kind != VAL_DTYPE) {
    fail(j, r, MFS_ECORRUPT, "joblib array wrapper without a dtype");
    return NULL;
  }
  if (shape == NULL || (shape->kind != VAL_TUPLE && shape->kind != VAL_LIST)) {
    fail(j, r, MFS_ECORRUPT, "joblib array wrapper shape is not a tuple");
    return NULL;
  }
  size_t ndim = shape->u.seq.n;
  if (ndim > MFS_MAX_NDIM) {
    fail(j, r, MFS_ELIMIT, "joblib array has too many dimensions");
    return NULL;
  }
  Value *v = value_new(&m->vs, VAL_NDARRAY);
  NdArray *a = v ? arena_alloc(m->vs.arena, sizeof *a) : NULL;
  uint64_t *dims = arena_alloc(m->vs.arena, (ndim ? ndim : 1) * sizeof *dims);
  if (v == NULL || a == NULL || dims == NULL) {
    err_set(&m->err, MFS_ENOMEM, reader_pos(r), "out of memory");
    return NULL;
  }
  for (size_t i = 0; i < ndim; i++) {
    const Value *d = shape->u.seq.items[i];
    if (d == NULL || d->kind != VAL_INT || d->u.i < 0) {
      fail(j, r, MFS_ECORRUPT, "joblib array shape holds a non-integer or negative size");
      return NULL;
    }
    dims[i] = (uint64_t)d->u.i;
  }
  a->dtype = dtype;
  a->cls = cls && cls->kind == VAL_GLOBAL ? cls : NULL;
  a->ndim = (int)ndim;
  a->shape = dims;
  v->u.arr = a;
  return v;
}

/* Bytes of the array's data, checked against the element limit. */
static MfsStatus array_nbytes(Job *j, Reader *r, const NdArray *a, uint64_t *n) {
  int overflow;
  uint64_t count = ndarray_count(a, &overflow);
  uint64_t item = a->dtype->u.dtype->itemsize;
  if (overflow || count > MFS_MAX_ELEMENTS || (item && count > UINT64_MAX / item))
    return fail(j, r, MFS_ELIMIT, "joblib array has too many elements");
  *n = count * item;
  return MFS_OK;
}

/* ---- NumpyArrayWrapper (joblib >= 0.10) ---------------------------------------------- */

/* Object arrays: a nested, self-contained pickle.  joblib reads it with plain
** pickle.load, so wrappers inside it are not joblib's: no hooks. */
static MfsStatus nested_objects(Job *j, Reader *r, Value *cls, Value **obj) {
  if (j->depth >= MFS_MAX_DEPTH) return fail(j, r, MFS_ELIMIT, "object arrays nested too deeply");
  Value *res = NULL;
  j->depth++;
  MfsStatus st = pickle_run(j->m, r, NULL, j->depth, &res, NULL);
  j->depth--;
  if (res != NULL && res->kind == VAL_NDARRAY && cls && cls->kind == VAL_GLOBAL)
    res->u.arr->cls = cls;
  if (res != NULL) *obj = res;
  return st;
}

static MfsStatus numpy_wrapper(Job *j, Reader *r, Value **obj) {
  Value *state = (*obj)->u.obj->state;
  if (state == NULL || state->kind != VAL_DICT)
    return fail(j, r, MFS_ECORRUPT, "NumpyArrayWrapper state is not a dict");
  j->wrappers++;
  Value *dtype = state_get(state, "dtype");
  Value *cls = state_get(state, "subclass");
  if (dtype != NULL && dtype->kind == VAL_DTYPE && dtype_has_object(dtype->u.dtype))
    return nested_objects(j, r, cls, obj);
  Value *order = state_get(state, "order");
  int fortran = text_is(order, "F");
  if (order != NULL && !fortran && !text_is(order, "C"))
    return fail(j, r, MFS_ECORRUPT, "NumpyArrayWrapper order is neither 'C' nor 'F'");
  Value *v = array_new(j, r, dtype, state_get(state, "shape"), cls);
  if (v == NULL) return j->m->err.code;
  v->u.arr->fortran = fortran && v->u.arr->ndim > 1;
  Value *align = state_get(state, "numpy_array_alignment_bytes");
  if (align != NULL && align->kind != VAL_NONE) {
    const uint8_t *p;
    MfsStatus st = reader_take(r, 1, &p);
    if (st != MFS_OK) return st;
    st = reader_skip(r, p[0]);   /* joblib skips the pad without looking at it */
    if (st != MFS_OK) return st;
  }
  uint64_t n;
  MfsStatus st = array_nbytes(j, r, v->u.arr, &n);
  if (st != MFS_OK) return st;
  v->u.arr->data.src = r->src;
  v->u.arr->data.off = reader_pos(r);
  v->u.arr->data.len = n;
  arena_keep_source(j->m->vs.arena, r->src);
  st = reader_skip(r, n);
  if (st != MFS_OK) {   /* the cut array stays listed; reading it fails */
    v->u.arr->error = st == MFS_ETRUNC ? "the file ends inside this array's data"
                                       : "this array's data could not be read (see meta.json)";
    v->flags |= VF_PARTIAL;
  }
  *obj = v;
  return st;
}

/* ---- companion files (joblib < 0.10) --------------------------------------------------- */

/* Directory part of path ("." when none) into buf. */
static void dir_of(const char *path, char *buf, size_t cap) {
  const char *slash = strrchr(path, '/');
  if (slash == NULL) snprintf(buf, cap, ".");
  else if (slash == path) snprintf(buf, cap, "/");
  else snprintf(buf, cap, "%.*s", (int)(slash - path), path);
}

/* Open the companion named by the pickle; NULL and a reason in why. */
static Source *companion_open(Job *j, const char *name, size_t len, char *why, size_t cap) {
  const char *path = j->m->path;
  struct stat stt;
  if (path == NULL || stat(path, &stt) != 0 || !S_ISREG(stt.st_mode)) {
    snprintf(why, cap, "companion file '%.*s' cannot be looked up: the pickle is not a file",
             (int)(len > 200 ? 200 : len), name);
    return NULL;
  }
  if (len == 0 || len > 255 || memchr(name, '/', len) || memchr(name, '\0', len) ||
      (len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.')) {
    snprintf(why, cap, "companion file name '%.*s' is not a plain file name",
             (int)(len > 200 ? 200 : len), name);
    return NULL;
  }
  char dir[4096], full[4096 + 512];
  dir_of(path, dir, sizeof dir);
  snprintf(full, sizeof full, "%s/%.*s", dir, (int)len, name);
  Err e;
  err_clear(&e);
  Source *s = source_open_file_with(full, &j->m->file_opts, &e);
  if (s != NULL) return s;
  /* Renamed dump: our own name + the stored suffix "_NN.npy[.z]". */
  const char *us = NULL;
  for (const char *p = name; p < name + len; p++)
    if (*p == '_') us = p;
  if (us != NULL) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(full, sizeof full, "%s/%s%.*s", dir, base, (int)(name + len - us), us);
    Err e2;
    err_clear(&e2);
    s = source_open_file_with(full, &j->m->file_opts, &e2);
    if (s != NULL) return s;
  }
  snprintf(why, cap, "companion file '%.*s': %s", (int)len, name,
           e.msg[0] ? e.msg : "cannot be opened");
  return NULL;
}

static const char *arena_text(Job *j, const char *s) {
  return arena_strndup(j->m->vs.arena, s, strlen(s));
}

/* An array whose data cannot be produced: the rest of the model stays usable. */
static Value *array_missing(Job *j, Reader *r, Value *dtype, const Value *shape, Value *cls,
                            const char *why) {
  j->missing++;
  if (dtype == NULL || dtype->kind != VAL_DTYPE) {
    /* NDArrayWrapper: dtype and shape live only in the missing file. */
    Value *d = value_new(&j->m->vs, VAL_DTYPE);
    Dtype *dt = d ? arena_alloc(j->m->vs.arena, sizeof *dt) : NULL;
    if (dt == NULL) return NULL;
    dt->kind = 'V';
    dt->byteorder = '|';
    dt->itemsize = 0;
    d->u.dtype = dt;
    dtype = d;
    shape = NULL;
  }
  Value *v;
  if (shape != NULL) {
    v = array_new(j, r, dtype, shape, cls);
  } else {
    Value *empty = value_new(&j->m->vs, VAL_TUPLE);
    v = empty ? array_new(j, r, dtype, empty, cls) : NULL;
  }
  if (v != NULL) v->u.arr->error = arena_text(j, why);
  return v;
}

/* Call npy_read without letting its errors become the model's error. */
/* An object array companion: old joblib loads it with numpy.load(allow_pickle=True),
** which unpickles its payload, so that pickle is decoded and judged with the file. */
static Value *companion_objects(Job *j, Source *s, uint64_t off, char *why, size_t cap) {
  Model *m = j->m;
  Reader r;
  Value *res = NULL;
  Err saved = m->err;
  err_clear(&m->err);
  if (reader_init(&r, s, off, &m->err) == MFS_OK) {
    j->depth++;
    MfsStatus st = j->depth > MFS_MAX_NESTED_PICKLES ? MFS_ELIMIT
                 : pickle_run(m, &r, NULL, j->depth, &res, NULL);
    j->depth--;
    reader_done(&r);
    if (st != MFS_OK) {
      snprintf(why, cap, "companion file %s: its object pickle: %s", s->name,
               m->err.msg[0] ? m->err.msg : err_code_name(st));
      res = NULL;
    }
  }
  m->err = saved;   /* a broken companion is a missing array, as any other */
  return res;
}

static Value *companion_npy(Job *j, Source *s, char *why, size_t cap) {
  Model *m = j->m;
  Err local;
  err_clear(&local);
  Err *saved = m->vs.err;
  m->vs.err = &local;
  uint64_t payload = 0;
  Value *v = npy_read_objects(&m->vs, s, &payload, &local);
  m->vs.err = saved;
  if (v == NULL && payload != 0) return companion_objects(j, s, payload, why, cap);
  if (v == NULL || v->kind != VAL_NDARRAY) {
    snprintf(why, cap, "companion file %s: %s", s->name, local.msg[0] ? local.msg : "not an array");
    return NULL;
  }
  return v;
}

static MfsStatus nd_wrapper(Job *j, Reader *r, Value **obj) {
  Value *state = (*obj)->u.obj->state;
  if (state == NULL || state->kind != VAL_DICT)
    return fail(j, r, MFS_ECORRUPT, "NDArrayWrapper state is not a dict");
  j->legacy++;
  Value *cls = state_get(state, "subclass");
  size_t len;
  const char *name = text_of(state_get(state, "filename"), &len);
  char why[600];
  Value *v = NULL;
  if (name == NULL) {
    snprintf(why, sizeof why, "NDArrayWrapper without a file name");
  } else {
    Source *s = companion_open(j, name, len, why, sizeof why);
    if (s != NULL) {
      arena_keep_source(j->m->vs.arena, s);
      v = companion_npy(j, s, why, sizeof why);
      source_unref(s);
    }
  }
  if (v != NULL) {
    if (cls && cls->kind == VAL_GLOBAL && v->kind == VAL_NDARRAY) v->u.arr->cls = cls;
  } else {
    v = array_missing(j, r, NULL, NULL, cls, why);
    if (v == NULL) return j->m->err.code ? j->m->err.code : MFS_ENOMEM;
  }
  *obj = v;
  return MFS_OK;
}

/* The declared length of a Z-file, or UINT64_MAX. */
static uint64_t zfile_length(Source *s) {
  char h[22];
  Err e;
  err_clear(&e);
  if (source_read(s, 0, h, 21, &e) != MFS_OK || h[0] != 'Z' || h[1] != 'F') return UINT64_MAX;
  h[21] = '\0';
  char *end;
  unsigned long long n = strtoull(h + 2, &end, 16);
  return end == h + 2 ? UINT64_MAX : n;
}

static MfsStatus znd_wrapper(Job *j, Reader *r, Value **obj) {
  Value *state = (*obj)->u.obj->state;
  if (state == NULL || state->kind != VAL_DICT)
    return fail(j, r, MFS_ECORRUPT, "ZNDArrayWrapper state is not a dict");
  j->legacy++;
  Value *init = state_get(state, "init_args");
  Value *st = state_get(state, "state");
  if (st == NULL || st->kind != VAL_TUPLE || st->u.seq.n < 3)
    return fail(j, r, MFS_ECORRUPT, "ZNDArrayWrapper state tuple is malformed");
  size_t k = st->u.seq.n >= 4 ? 1 : 0;   /* (version, shape, dtype, is_fortran) */
  Value *shape = st->u.seq.items[k], *dtype = st->u.seq.items[k + 1];
  Value *fort = st->u.seq.items[k + 2];
  Value *cls = init && init->kind == VAL_TUPLE && init->u.seq.n > 0 ? init->u.seq.items[0] : NULL;
  Value *v = array_new(j, r, dtype, shape, cls);
  if (v == NULL) return j->m->err.code;
  v->u.arr->fortran = v->u.arr->ndim > 1 && fort != NULL &&
                      ((fort->kind == VAL_BOOL && fort->u.b) || (fort->kind == VAL_INT && fort->u.i));
  uint64_t n;
  MfsStatus rc = array_nbytes(j, r, v->u.arr, &n);
  if (rc != MFS_OK) return rc;
  size_t len;
  const char *name = text_of(state_get(state, "filename"), &len);
  char why[600] = "ZNDArrayWrapper without a file name";
  Source *s = name ? companion_open(j, name, len, why, sizeof why) : NULL;
  if (s != NULL) {
    uint64_t declared = zfile_length(s);
    Err e;
    err_clear(&e);
    Source *plain = declared == n ? source_decompress(s, "zlib", &e) : NULL;
    if (plain != NULL) {
      arena_keep_source(j->m->vs.arena, plain);
      v->u.arr->data.src = plain;
      v->u.arr->data.off = 0;
      v->u.arr->data.len = n;
      source_unref(plain);
    } else if (declared != n) {
      snprintf(why, sizeof why, "companion file %s holds %llu bytes, the array needs %llu", s->name,
               (unsigned long long)declared, (unsigned long long)n);
    } else {
      snprintf(why, sizeof why, "companion file %s: %s", s->name, e.msg);
    }
    source_unref(s);
    if (plain != NULL) {
      *obj = v;
      return MFS_OK;
    }
  }
  j->missing++;
  v->u.arr->error = arena_text(j, why);
  *obj = v;
  return MFS_OK;
}

/* ---- the hook and the Format -------------------------------------------------------- */

static MfsStatus after_build(void *ctx, Model *m, Reader *r, Value **obj) {
  Job *j = ctx;
  (void)m;
  if (*obj == NULL || (*obj)->kind != VAL_OBJECT) return MFS_OK;
  Value *g = (*obj)->u.obj->callable;
  if (r == NULL)   /* asked by a cut stream: would this object have read data? */
    return is_wrapper(g, "NumpyArrayWrapper") || is_wrapper(g, "NDArrayWrapper") ||
                   is_wrapper(g, "ZNDArrayWrapper") ? MFS_ETRUNC : MFS_OK;
  if (is_wrapper(g, "NumpyArrayWrapper")) return numpy_wrapper(j, r, obj);
  if (is_wrapper(g, "NDArrayWrapper")) return nd_wrapper(j, r, obj);
  if (is_wrapper(g, "ZNDArrayWrapper")) return znd_wrapper(j, r, obj);
  return MFS_OK;
}

/* head is the stream's first MFS_IDENT_BYTES; fewer means the stream ends there. */
static int sniff(Source *src, const uint8_t *head, size_t n) {
  return pickle_sniff_stream(head, n, n < MFS_IDENT_BYTES ? n : src->size);
}

/* The file itself (before decompression) starts with joblib's old "ZF" header. */
static int is_zfile(Model *m, Source *stream) {
  uint8_t h[2];
  Err e;
  err_clear(&e);
  return m->src != NULL && m->src != stream && source_read(m->src, 0, h, 2, &e) == MFS_OK &&
         h[0] == 'Z' && h[1] == 'F';
}

/* Bytes from start to the end of the stream (read through when the size is
** not known, as behind a compressor). */
static MfsStatus bytes_to_end(Source *src, uint64_t start, uint64_t *n) {
  if (src->size != SOURCE_SIZE_UNKNOWN) {
    *n = src->size > start ? src->size - start : 0;
    return MFS_OK;
  }
  Err e;
  err_clear(&e);
  Reader r;
  if (reader_init(&r, src, start, &e) != MFS_OK) return e.code;
  MfsStatus st = MFS_OK;
  for (;;) {
    const uint8_t *p;
    size_t got = 0;
    if ((st = reader_peek(&r, READER_BUF, &p, &got)) != MFS_OK || got == 0) break;
    if ((st = reader_skip(&r, got)) != MFS_OK) break;
  }
  *n = reader_pos(&r) - start;
  reader_done(&r);
  return st;
}

/* What follows the first pickle's STOP (SPEC 2): every pickle a loader calling
** pickle.load again would run is decoded and judged (its globals are the
** model's), kept as m->trailing; bytes that are no pickle are counted.  A
** trailing pickle that breaks keeps the globals met before the break (a loader
** would have run them) and counts as bytes; only a limit or a lack of memory
** makes the model incomplete. */
static MfsStatus decode_trailing(Model *m, Source *src, Reader *r) {
  for (int n = 0;; n++) {
    uint64_t start = reader_pos(r);
    const uint8_t *p;
    size_t got = 0;
    if (reader_peek(r, 1, &p, &got) != MFS_OK || got == 0) return MFS_OK;
    if (pickle_is_opcode(p[0])) {
      if (n >= MFS_MAX_TRAILING_PICKLES)
        return err_set(&m->err, MFS_ELIMIT, start, "offset %llu: more than %d pickles appended",
                       (unsigned long long)start, MFS_MAX_TRAILING_PICKLES);
      Value *root = NULL;
      MfsStatus st = pickle_run(m, r, NULL, 0, &root, NULL);
      if (st == MFS_ELIMIT || st == MFS_ENOMEM) return st;
      if (st == MFS_OK) {
        if (m->trailing == NULL) m->trailing = value_new(&m->vs, VAL_DICT);
        Value *k = value_int(&m->vs, n + 1);
        if (m->trailing == NULL || k == NULL || root == NULL ||
            dict_put(&m->vs, m->trailing, k, root) != MFS_OK)
          return err_set(&m->err, MFS_ENOMEM, start, "out of memory");
        continue;
      }
      err_clear(&m->err);   /* not a pickle after all: bytes */
    }
    uint64_t rest = 0;
    MfsStatus st = bytes_to_end(src, start, &rest);
    if (st != MFS_OK) return err_set(&m->err, st, start, "offset %llu: trailing bytes unreadable",
                                     (unsigned long long)start);
    return model_set_meta_int(m, "trailing_bytes", (int64_t)rest);
  }
}

static MfsStatus decode(Model *m, Source *src) {
  Job job = {m, 0, 0, 0, 0};
  PickleHooks hooks = {&job, after_build, NULL, NULL};
  Reader r;
  if (reader_init(&r, src, 0, &m->err) != MFS_OK) return m->err.code;
  MfsStatus st = pickle_run(m, &r, &hooks, 0, &m->root, &m->protocol);
  if (st == MFS_OK) st = decode_trailing(m, src, &r);
  reader_done(&r);
  int zf = is_zfile(m, src);
  int compressed = m->compression != NULL && strcmp(m->compression, "none") != 0;
  if (job.wrappers || job.legacy || zf || compressed) m->format = "joblib";
  if (job.legacy || zf) model_set_meta_str(m, "joblib_format", "legacy");
  if (job.missing) model_set_meta_int(m, "joblib_missing_files", job.missing);
  return st;
}

const Format format_pickle = {"pickle", sniff, decode};
