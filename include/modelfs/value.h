/*
** value.h -- the value graph every format decodes into, and its arena.
**
** Pickle, joblib and skops all produce these Values; the renderer, trust and
** compat checks read only these.  A Value is never executed or resolved: a class
** is a VAL_GLOBAL naming it, a constructor call is a VAL_OBJECT recording callable,
** arguments and state.  The same Python object reached twice (memo GET, skops id)
** is the same Value pointer; cycles are allowed, so walkers must track visits.
**
** All memory of one decoded model lives in one Arena and is freed at once.
** Array data is never copied here: an ndarray holds a Blob (source, offset,
** length) unless the bytes had to be transformed (latin-1 text, transposes).
*/
#ifndef MODELFS_VALUE_H
#define MODELFS_VALUE_H

#include <stddef.h>
#include <stdint.h>
#include "modelfs/err.h"
#include "modelfs/source.h"

typedef struct Arena Arena;
typedef struct Value Value;

Arena *arena_new(void);
void arena_free(Arena *a);                 /* also drops the Sources it keeps */
void *arena_alloc(Arena *a, size_t n);     /* zeroed, 8-aligned; NULL on OOM */
char *arena_strndup(Arena *a, const char *s, size_t n);   /* NUL-terminated copy */
void *arena_memdup(Arena *a, const void *p, size_t n);
size_t arena_bytes(const Arena *a);        /* memory held, for cache accounting */
/* Keep src alive as long as the arena (Blobs point into it). */
void arena_keep_source(Arena *a, Source *src);

/* Bytes that live in memory (mem != NULL) or in a Source at an offset. */
typedef struct Blob {
  const uint8_t *mem;
  Source *src;
  uint64_t off;
  uint64_t len;
} Blob;

/* Read [off, off+len) of a blob into buf. */
MfsStatus blob_read(const Blob *b, uint64_t off, void *buf, size_t len, Err *e);

typedef enum ValueKind {
  VAL_NONE,
  VAL_BOOL,        /* u.b */
  VAL_INT,         /* u.i: fits int64 */
  VAL_BIGINT,      /* u.str: little-endian two's complement bytes (pickle LONG) */
  VAL_FLOAT,       /* u.f */
  VAL_COMPLEX,     /* u.c */
  VAL_STR,         /* u.str: UTF-8 (may hold NUL, may hold surrogatepass bytes) */
  VAL_BYTES,       /* u.bytes; flag VF_PY2STR: a Python-2 str (latin-1 text) */
  VAL_BYTEARRAY,   /* u.bytes */
  VAL_TEXT,        /* u.str: a scalar known by its str() text (datetime, Decimal, ...) */
  VAL_LIST,        /* u.seq */
  VAL_TUPLE,       /* u.seq */
  VAL_SET,         /* u.seq */
  VAL_FROZENSET,   /* u.seq */
  VAL_DICT,        /* u.dict: insertion order kept, keys of any kind */
  VAL_GLOBAL,      /* u.global: a name the file references, e.g. numpy.float64 */
  VAL_OBJECT,      /* u.obj: instance or call result */
  VAL_NDARRAY,     /* u.arr */
  VAL_DTYPE,       /* u.dtype */
  VAL_SCALAR,      /* u.scalar: numpy scalar, dtype + raw bytes */
  VAL_KIND_COUNT
} ValueKind;

/* Value.flags */
#define VF_PY2STR     0x01   /* VAL_BYTES from STRING/BINSTRING: render as latin-1 text */
#define VF_ORDERED    0x02   /* VAL_DICT that was a collections.OrderedDict */
#define VF_PARTIAL    0x04   /* a container/object whose decoding was cut by an error */
#define VF_MEMBER     0x08   /* an archive's file that is not a model (VAL_BYTES: served as
                                the file it is, under its own name) or folder (VAL_DICT:
                                always a directory) */

typedef struct Seq {
  Value **items;
  size_t n, cap;
} Seq;

typedef struct Dict {
  Value **keys;
  Value **vals;
  size_t n, cap;
} Dict;

typedef struct Global {
  const char *module;      /* after Python-2 name mapping: "builtins", "copyreg" */
  const char *name;        /* qualname, may be dotted */
} Global;

/* How an object came to be; only affects diagnostics, never the tree. */
typedef enum ObjHow { OBJ_REDUCE, OBJ_NEWOBJ, OBJ_NEWOBJ_EX, OBJ_INST, OBJ_SKOPS } ObjHow;

typedef struct Object {
  Value *callable;         /* VAL_GLOBAL, or any Value for "<dynamic>" */
  Value *args;             /* VAL_TUPLE or NULL when none */
  Value *kwargs;           /* VAL_DICT or NULL (NEWOBJ_EX) */
  Value *state;            /* BUILD state, NULL when never built */
  Value *items;            /* VAL_LIST of APPEND(S)/ADDITEMS items, or NULL */
  Value *dictitems;        /* VAL_DICT of SETITEM(S) pairs, or NULL */
  ObjHow how;
} Object;

typedef struct DtypeField {
  const char *name;
  const char *title;       /* NULL when none */
  Value *dtype;            /* VAL_DTYPE */
  uint64_t offset;
} DtypeField;

typedef struct Dtype {
  char kind;               /* numpy kind: b i u f c S U V O M m */
  char byteorder;          /* '<', '>' or '|' */
  uint64_t itemsize;       /* bytes per element (U5 -> 20) */
  const char *unit;        /* M/m: "ns", "D", "10us"...; NULL otherwise */
  size_t nfields;          /* structured: fields in names order */
  DtypeField *fields;
  Value *sub_base;         /* subarray dtype: base VAL_DTYPE, else NULL */
  int sub_ndim;
  uint64_t *sub_shape;
  int aligned;             /* struct was built with align=True */
} Dtype;

typedef struct NdArray {
  Value *dtype;            /* VAL_DTYPE */
  Value *cls;              /* subclass global (numpy.ndarray, numpy.matrix, ...) or NULL */
  int ndim;
  uint64_t *shape;
  int fortran;             /* data bytes are in Fortran order */
  Blob data;               /* numeric/string/record dtypes: prod(shape)*itemsize bytes */
  Value *objects;          /* object dtype: VAL_LIST of elements, C order, else NULL */
  const char *error;       /* data cannot be produced (missing companion file...): EIO */
  const char *stored_dtype;/* the file's dtype when data were widened to this one
                              ("bfloat16" served as float32), else NULL */
} NdArray;

typedef struct Scalar {
  Value *dtype;            /* VAL_DTYPE */
  Blob data;               /* itemsize bytes, in memory */
  Value *object;           /* object-dtype scalar: the wrapped value */
} Scalar;

struct Value {
  uint8_t kind;            /* ValueKind */
  uint8_t flags;           /* VF_* */
  uint32_t id;             /* 1..n in creation order, unique within a model */
  union {
    int b;
    int64_t i;
    double f;
    struct { double re, im; } c;
    struct { const char *s; size_t len; } str;
    Blob bytes;
    Seq seq;
    Dict dict;
    Global global;
    Object *obj;
    NdArray *arr;
    Dtype *dtype;
    Scalar *scalar;
  } u;
};

/*
** Construction.  A ValueSet is one model's factory: the arena plus the id counter
** and the limit on the number of values.  Every constructor returns NULL and sets
** the Err on OOM or limit.
*/
typedef struct ValueSet {
  Arena *arena;
  uint32_t next_id;
  Err *err;
} ValueSet;

Value *value_new(ValueSet *vs, ValueKind kind);
Value *value_none(ValueSet *vs);
Value *value_bool(ValueSet *vs, int b);
Value *value_int(ValueSet *vs, int64_t i);
/* Two's complement little-endian; normalises to VAL_INT when it fits. */
Value *value_bigint(ValueSet *vs, const uint8_t *le, size_t n);
Value *value_float(ValueSet *vs, double f);
Value *value_str(ValueSet *vs, const char *s, size_t len);      /* copies */
Value *value_bytes_mem(ValueSet *vs, ValueKind kind, const void *p, size_t len);  /* copies */
Value *value_bytes_src(ValueSet *vs, ValueKind kind, Source *src, uint64_t off, uint64_t len);
Value *value_global(ValueSet *vs, const char *module, const char *name);  /* copies */
Value *value_object(ValueSet *vs, Value *callable, Value *args, ObjHow how);

/* Containers grow in the arena; returns MFS_OK or an error in vs->err. */
MfsStatus seq_push(ValueSet *vs, Value *seq, Value *item);
MfsStatus dict_put(ValueSet *vs, Value *dict, Value *key, Value *val);  /* appends */

/* Lookups used by recognisers and the renderer. */
Value *dict_get_str(const Value *dict, const char *key);        /* NULL when absent */
int value_is_str(const Value *v, const char *s);
int value_is_global(const Value *v, const char *module, const char *name);
/* "module.name" of a VAL_GLOBAL into the arena. */
const char *global_dotted(Arena *a, const Value *g);
const char *value_kind_name(ValueKind k);

/* Elements of an array (product of shape); 0 on overflow sets *overflow. */
uint64_t ndarray_count(const NdArray *a, int *overflow);

#endif
