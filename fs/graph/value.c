/*
** value.c -- the arena and the constructors of the value graph.
**
** One Arena per decoded model: bump allocation in chunks, freed at once, so a
** decoder that stops halfway leaks nothing.  Containers grow by copying into a
** larger arena block (the old block is abandoned: at most 2x waste, no frees).
** Nothing here reads a file or knows a format.
*/
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "modelfs/value.h"
#include "modelfs/limits.h"

/* Chunk sizes grow with the arena: the first is small (most models are a few
** KiB of graph, and the cache counts every byte a chunk holds), each next one
** as large as all before it, up to CHUNK_MAX; so the slack is under half the
** arena and a big graph still takes few chunks. */
#define ARENA_FIRST_CHUNK (4u * 1024u)
#define ARENA_CHUNK_MAX   (256u * 1024u)
/* Chunks this large are mapped, so a freed graph's big chunks go back to the
** system at once; smaller ones come from calloc (a mapping per 4 KiB chunk would
** cost two syscalls and, on unmapping, a TLB shootdown across loop threads).
** Mapped populated: a big chunk is about to be written through (a string, an
** array's bytes, the head that fills up), and one fault per 4 KiB page cost
** protocol 2's 45 MB of text and bytes 8% of its decode; the cache counts every
** byte of a chunk as held anyway. */
#define ARENA_MAP_MIN     (128u * 1024u)

typedef struct Chunk {
  struct Chunk *next;
  size_t used, cap;
  int mapped;                 /* mmap'd rather than calloc'd */
  _Alignas(16) unsigned char data[];
} Chunk;

struct Arena {
  Chunk *head;
  size_t bytes;
  Source **sources;
  size_t nsources, capsources;
};

Arena *arena_new(void) { return calloc(1, sizeof(Arena)); }

static void chunk_free(Chunk *c) {
  if (c->mapped) munmap(c, sizeof(Chunk) + c->cap);
  else free(c);
}

void arena_free(Arena *a) {
  if (a == NULL) return;
  for (Chunk *c = a->head, *next; c != NULL; c = next) {
    next = c->next;
    chunk_free(c);
  }
  for (size_t i = 0; i < a->nsources; i++) source_unref(a->sources[i]);
  free(a->sources);
  free(a);
}

static Chunk *chunk_new(Arena *a, size_t cap) {
  size_t page = 4096, total = sizeof(Chunk) + cap;
  Chunk *c;
  if (total >= ARENA_MAP_MIN) {
    total = (total + page - 1) & ~(page - 1);
    c = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1,
             0);
    if (c == MAP_FAILED) return NULL;
    c->mapped = 1;
  } else {
    /* Zeroed whole, as a mapping is: a block is zero up to the chunk's end. */
    if ((c = calloc(1, total)) == NULL) return NULL;
    c->mapped = 0;
  }
  c->used = 0;
  c->cap = total - sizeof(Chunk);
  a->bytes += total;
  return c;
}

/* The size of the next head chunk: as much as the arena holds already. */
static size_t next_chunk_cap(const Arena *a) {
  size_t cap = a->bytes < ARENA_FIRST_CHUNK ? ARENA_FIRST_CHUNK : a->bytes;
  if (cap > ARENA_CHUNK_MAX) cap = ARENA_CHUNK_MAX;
  return cap - sizeof(Chunk);
}

/* A fresh block of n bytes from a new chunk.  A block larger than a quarter of
** the chunk the arena would take next gets a chunk of its own, kept behind the
** head so that the head's free space is not wasted. */
static void *alloc_slow(Arena *a, size_t n) {
  size_t cap = next_chunk_cap(a);
  Chunk *head = a->head, *c;
  if (n > cap / 4) {
    if ((c = chunk_new(a, n)) == NULL) return NULL;
    if (head == NULL) {
      c->next = NULL;
      a->head = c;
    } else {
      c->next = head->next;
      head->next = c;
    }
  } else {
    if ((c = chunk_new(a, cap)) == NULL) return NULL;
    c->next = head;
    a->head = c;
  }
  c->used = n;
  return c->data;
}

void *arena_alloc(Arena *a, size_t n) {
  n = (n + 7) & ~(size_t)7;   /* 8 suffices for every graph type; 16 would cost 20% */
  if (n == 0) n = 8;
  Chunk *c = a->head;
  if (c == NULL || c->cap - c->used < n) return alloc_slow(a, n);
  void *p = c->data + c->used;   /* every chunk starts zeroed */
  c->used += n;
  return p;
}

char *arena_strndup(Arena *a, const char *s, size_t n) {
  char *p = arena_alloc(a, n + 1);
  if (p == NULL) return NULL;
  if (n) memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

void *arena_memdup(Arena *a, const void *p, size_t n) {
  void *q = arena_alloc(a, n);
  if (q != NULL && n) memcpy(q, p, n);
  return q;
}

size_t arena_bytes(const Arena *a) { return a->bytes; }

void arena_keep_source(Arena *a, Source *src) {
  for (size_t i = 0; i < a->nsources; i++)
    if (a->sources[i] == src) return;
  if (a->nsources == a->capsources) {
    size_t cap = a->capsources ? a->capsources * 2 : 4;
    Source **s = realloc(a->sources, cap * sizeof *s);
    if (s == NULL) return;  /* the caller still holds its own reference */
    a->sources = s;
    a->capsources = cap;
  }
  a->sources[a->nsources++] = source_ref(src);
}

MfsStatus blob_read(const Blob *b, uint64_t off, void *buf, size_t len, Err *e) {
  if (off > b->len || len > b->len - off)
    return err_set(e, MFS_EIO, off, "read past the end of a %llu-byte value",
                   (unsigned long long)b->len);
  if (b->mem != NULL) {
    memcpy(buf, b->mem + off, len);
    return MFS_OK;
  }
  if (b->src == NULL) return err_set(e, MFS_EIO, off, "value bytes are not available");
  return source_read(b->src, b->off + off, buf, len, e);
}

Value *value_new(ValueSet *vs, ValueKind kind) {
  if (vs->next_id >= MFS_MAX_VALUES) {
    err_set(vs->err, MFS_ELIMIT, MFS_NO_OFFSET, "more than %u values", MFS_MAX_VALUES);
    return NULL;
  }
  if (arena_bytes(vs->arena) > MFS_MAX_GRAPH_BYTES) {
    err_set(vs->err, MFS_ELIMIT, MFS_NO_OFFSET, "decoded graph larger than %llu MiB",
            (unsigned long long)(MFS_MAX_GRAPH_BYTES >> 20));
    return NULL;
  }
  Value *v = arena_alloc(vs->arena, sizeof *v);
  if (v == NULL) {
    err_set(vs->err, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
    return NULL;
  }
  v->kind = (uint8_t)kind;
  v->id = ++vs->next_id;
  return v;
}

Value *value_none(ValueSet *vs) { return value_new(vs, VAL_NONE); }

Value *value_bool(ValueSet *vs, int b) {
  Value *v = value_new(vs, VAL_BOOL);
  if (v) v->u.b = b != 0;
  return v;
}

Value *value_int(ValueSet *vs, int64_t i) {
  Value *v = value_new(vs, VAL_INT);
  if (v) v->u.i = i;
  return v;
}

Value *value_bigint(ValueSet *vs, const uint8_t *le, size_t n) {
  if (n == 0) return value_int(vs, 0);
  int negative = (le[n - 1] & 0x80) != 0;
  /* Strip redundant sign bytes so the fit test below is exact. */
  while (n > 1 && ((le[n - 1] == 0x00 && !(le[n - 2] & 0x80)) ||
                   (le[n - 1] == 0xff && (le[n - 2] & 0x80))))
    n--;
  if (n <= 8) {
    uint64_t u = negative ? UINT64_MAX : 0;
    for (size_t k = 0; k < n; k++) {
      u &= ~((uint64_t)0xff << (8 * k));
      u |= (uint64_t)le[k] << (8 * k);
    }
    return value_int(vs, (int64_t)u);
  }
  Value *v = value_new(vs, VAL_BIGINT);
  if (v == NULL) return NULL;
  v->u.str.s = arena_memdup(vs->arena, le, n);
  v->u.str.len = n;
  if (v->u.str.s == NULL) {
    err_set(vs->err, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
    return NULL;
  }
  return v;
}

Value *value_float(ValueSet *vs, double f) {
  Value *v = value_new(vs, VAL_FLOAT);
  if (v) v->u.f = f;
  return v;
}

Value *value_str(ValueSet *vs, const char *s, size_t len) {
  Value *v = value_new(vs, VAL_STR);
  if (v == NULL) return NULL;
  v->u.str.s = arena_strndup(vs->arena, s, len);
  v->u.str.len = len;
  if (v->u.str.s == NULL) {
    err_set(vs->err, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
    return NULL;
  }
  return v;
}

Value *value_bytes_mem(ValueSet *vs, ValueKind kind, const void *p, size_t len) {
  Value *v = value_new(vs, kind);
  if (v == NULL) return NULL;
  uint8_t *copy = arena_alloc(vs->arena, len ? len : 1);
  if (copy == NULL) {
    err_set(vs->err, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
    return NULL;
  }
  if (len) memcpy(copy, p, len);
  v->u.bytes.mem = copy;
  v->u.bytes.len = len;
  return v;
}

Value *value_bytes_src(ValueSet *vs, ValueKind kind, Source *src, uint64_t off, uint64_t len) {
  Value *v = value_new(vs, kind);
  if (v == NULL) return NULL;
  arena_keep_source(vs->arena, src);
  v->u.bytes.src = src;
  v->u.bytes.off = off;
  v->u.bytes.len = len;
  return v;
}

Value *value_global(ValueSet *vs, const char *module, const char *name) {
  Value *v = value_new(vs, VAL_GLOBAL);
  if (v == NULL) return NULL;
  v->u.global.module = arena_strndup(vs->arena, module, strlen(module));
  v->u.global.name = arena_strndup(vs->arena, name, strlen(name));
  if (v->u.global.module == NULL || v->u.global.name == NULL) {
    err_set(vs->err, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
    return NULL;
  }
  return v;
}

Value *value_object(ValueSet *vs, Value *callable, Value *args, ObjHow how) {
  Value *v = value_new(vs, VAL_OBJECT);
  if (v == NULL) return NULL;
  v->u.obj = arena_alloc(vs->arena, sizeof(Object));
  if (v->u.obj == NULL) {
    err_set(vs->err, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
    return NULL;
  }
  v->u.obj->callable = callable;
  v->u.obj->args = args;
  v->u.obj->how = how;
  return v;
}

/* Grow an array of pointers held in the arena to hold at least need items. */
static MfsStatus grow(ValueSet *vs, Value ***items, size_t n, size_t *cap, size_t need) {
  if (need <= *cap) return MFS_OK;
  size_t ncap = *cap ? *cap * 2 : 4;
  while (ncap < need) ncap *= 2;
  Value **p = arena_alloc(vs->arena, ncap * sizeof *p);
  if (p == NULL) return err_set(vs->err, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
  if (n) memcpy(p, *items, n * sizeof *p);
  *items = p;
  *cap = ncap;
  return MFS_OK;
}

MfsStatus seq_push(ValueSet *vs, Value *seq, Value *item) {
  Seq *s = &seq->u.seq;
  if (grow(vs, &s->items, s->n, &s->cap, s->n + 1) != MFS_OK) return vs->err->code;
  s->items[s->n++] = item;
  return MFS_OK;
}

MfsStatus dict_put(ValueSet *vs, Value *dict, Value *key, Value *val) {
  Dict *d = &dict->u.dict;
  size_t kcap = d->cap, vcap = d->cap;
  if (grow(vs, &d->keys, d->n, &kcap, d->n + 1) != MFS_OK) return vs->err->code;
  if (grow(vs, &d->vals, d->n, &vcap, d->n + 1) != MFS_OK) return vs->err->code;
  d->cap = kcap < vcap ? kcap : vcap;
  d->keys[d->n] = key;
  d->vals[d->n] = val;
  d->n++;
  return MFS_OK;
}

int value_is_str(const Value *v, const char *s) {
  if (v == NULL || v->kind != VAL_STR) return 0;
  size_t n = strlen(s);
  return v->u.str.len == n && memcmp(v->u.str.s, s, n) == 0;
}

Value *dict_get_str(const Value *dict, const char *key) {
  if (dict == NULL || dict->kind != VAL_DICT) return NULL;
  for (size_t i = dict->u.dict.n; i-- > 0;)   /* last write wins, as in a dict */
    if (value_is_str(dict->u.dict.keys[i], key)) return dict->u.dict.vals[i];
  return NULL;
}

int value_is_global(const Value *v, const char *module, const char *name) {
  return v != NULL && v->kind == VAL_GLOBAL && strcmp(v->u.global.module, module) == 0 &&
         strcmp(v->u.global.name, name) == 0;
}

const char *global_dotted(Arena *a, const Value *g) {
  size_t m = strlen(g->u.global.module), n = strlen(g->u.global.name);
  char *s = arena_alloc(a, m + n + 2);
  if (s == NULL) return NULL;
  memcpy(s, g->u.global.module, m);
  s[m] = '.';
  memcpy(s + m + 1, g->u.global.name, n + 1);
  return s;
}

const char *value_kind_name(ValueKind k) {
  static const char *names[VAL_KIND_COUNT] = {
    "none", "bool", "int", "bigint", "float", "complex", "str", "bytes", "bytearray",
    "text", "list", "tuple", "set", "frozenset", "dict", "global", "object", "ndarray",
    "dtype", "scalar"};
  return (unsigned)k < VAL_KIND_COUNT ? names[k] : "?";
}

uint64_t ndarray_count(const NdArray *a, int *overflow) {
  uint64_t n = 1;
  *overflow = 0;
  for (int i = 0; i < a->ndim; i++) {
    if (a->shape[i] != 0 && n > UINT64_MAX / a->shape[i]) {
      *overflow = 1;
      return 0;
    }
    n *= a->shape[i];
  }
  return n;
}
