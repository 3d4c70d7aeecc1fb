/*
** render.c -- a decoded value graph as a tree of names (SPEC sections 2-4).
**
** render_tree lays out every name in one depth-first walk driven by an explicit
** stack (hostile graphs cannot overflow the C stack): a value met again becomes a
** relative symlink to its first place, so cycles end.  File contents are made on
** the first size/read request and cached per node, except .npy data, which is
** always read from the array's Blob at the asked offset, and the .txt view of a
** big array, which keeps only the offset of each block of rows and makes the
** blocks a read needs again (bounded memory for any size).  Knows nothing of FUSE
** and nothing of file formats; it must never execute, import or guess.
*/
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "modelfs/canon.h"
#include "modelfs/compat.h"
#include "modelfs/json.h"
#include "modelfs/judge.h"
#include "modelfs/limits.h"
#include "modelfs/npy.h"
#include "modelfs/render.h"
#include "modelfs/review.h"
#include "modelfs/text.h"
#include "modelfs/steps.h"
#include "modelfs/views.h"

/* RNode.content: how a file's bytes are produced. */
enum {
  C_NONE, C_META, C_TYPES, C_UNTRUSTED, C_OBJJSON, C_COMPAT, C_SCALAR, C_BIN, C_NPY,
  C_TXT, C_JSON, C_CLASS, C_ERROR, C_SUMMARY, C_VIEW, C_COLUMNS, C_CSV
};

/* How a value shows in a directory. */
enum { P_FILE, P_BIN, P_ARRAY, P_JSON, P_DIR, P_ERROR };

/* A .txt view too big to keep whole (MFS_TEXT_WHOLE): remade block by block on
** each read, found through the byte offset of every block.  The last block made
** is kept, so a sequential reader makes each block about once. */
typedef struct TxtIndex {
  TextView v;
  uint64_t block_rows;
  uint64_t nblocks;
  uint64_t *off;           /* nblocks + 1 entries; off[0] = header length, off[nblocks] = size */
  uint64_t have_block;     /* block held in blk, UINT64_MAX for none */
  char *blk;
  size_t blk_len;
} TxtIndex;

typedef struct NodeX {
  TxtIndex *tx;            /* C_TXT of a big array; data is then its header */
  char *data;              /* cached content (malloc'd), or the .npy header */
  size_t len;
  int have;
  uint32_t link_to;        /* RK_LINK: the node of the first place */
  const Value *view;       /* object ndarrays: the nested-list view */
  const char *msg;         /* C_ERROR: the reason */
  int summed;              /* render_sum took its sums */
  int producing;           /* a big .txt view's blocks are being sized, unlocked */
} NodeX;

/* Per linkable value: how it shows and where it was first placed. */
typedef struct VInfo {
  const Value *v;
  const Value *view;
  uint32_t first;
  uint8_t pkind;
  uint8_t placed;
  uint8_t emitted;         /* object.json walk */
} VInfo;

typedef struct NameSlot {
  uint32_t parent;
  uint32_t node;           /* node index + 1; 0 = empty */
} NameSlot;

typedef struct StemSlot {
  uint32_t parent;
  const char *stem;        /* NULL = empty */
  uint32_t next;
} StemSlot;

typedef struct Work {
  uint32_t node;
  uint32_t depth;
} Work;

struct RTree {
  Model *m;
  const TrustList *trust;
  char *compat_target;     /* -o target=... for compat.json, or NULL */
  Arena *arena;            /* names, targets, children arrays, synthetic values */
  ValueSet vs;             /* synthetic lists of object arrays */
  Err vs_err;
  RNode *nodes;
  NodeX *x;
  uint32_t n, cap;
  NameSlot *names;
  size_t nnames;           /* slots, a power of two */
  StemSlot *stems;
  size_t nstems, stems_used;
  VInfo *info;
  size_t ninfo, info_used;
  Work *stack;
  size_t nstack, capstack;
  Judgement judged;        /* types.txt, untrusted.txt, verdict */
  uint64_t arrays, array_bytes;
  size_t cached;
  int failed;              /* OOM during layout */
  PauseHook pause;         /* between blocks of a big .txt view being sized */
  pthread_mutex_t mu;
  pthread_cond_t made;     /* a view sized unlocked is there (NodeX.producing) */
};

/* ---- small helpers ---------------------------------------------------------- */

static void txt_index_free(TxtIndex *tx) {
  if (tx == NULL) return;
  free(tx->off);
  free(tx->blk);
  free(tx);
}

static uint64_t hash_bytes(const char *s, size_t n, uint64_t h) {
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
  return h;
}

static uint64_t hash_name(uint32_t parent, const char *name) {
  return hash_bytes(name, strlen(name), 1469598103934665603ULL ^ ((uint64_t)parent * 0x9e3779b97f4a7c15ULL));
}

static uint64_t hash_ptr(const void *p) {
  uint64_t x = (uint64_t)(uintptr_t)p;
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return x;
}

static int is_seq(const Value *v) {
  return v->kind == VAL_LIST || v->kind == VAL_TUPLE || v->kind == VAL_SET ||
         v->kind == VAL_FROZENSET;
}

static const Dtype *arr_dtype(const NdArray *a) {
  return a->dtype && a->dtype->kind == VAL_DTYPE ? a->dtype->u.dtype : NULL;
}

static int is_object_array(const Value *v) {
  if (v->kind != VAL_NDARRAY) return 0;
  const Dtype *d = arr_dtype(v->u.arr);
  return v->u.arr->objects != NULL || (d != NULL && d->kind == 'O');
}

/* What a value stands for when shown: object scalars show their object.  (A 0-d
** object array stays an array: its view is a one-element list.) */
static const Value *unwrap(const Value *v) {
  for (int i = 0; i < 8 && v != NULL; i++) {
    if (v->kind == VAL_SCALAR && v->u.scalar->object) {
      v = v->u.scalar->object;
    } else {
      break;
    }
  }
  return v;
}

static int container_len(const Value *v) {
  if (is_seq(v)) return v->u.seq.n > 0;
  if (v->kind == VAL_DICT) return v->u.dict.n > 0;
  return 1;
}

/* ---- node and name tables ---------------------------------------------------- */

static uint32_t name_find(const RTree *t, uint32_t parent, const char *name) {
  if (t->nnames == 0) return UINT32_MAX;
  size_t mask = t->nnames - 1;
  for (size_t i = hash_name(parent, name) & mask;; i = (i + 1) & mask) {
    const NameSlot *s = &t->names[i];
    if (s->node == 0) return UINT32_MAX;
    if (s->parent == parent && strcmp(t->nodes[s->node - 1].name, name) == 0) return s->node - 1;
  }
}

/* The tables below start small and double: most models are small, and a mount
** keeps up to thousands of trees (a 256-node start cost ~30 KiB per tree). */
static int name_insert(RTree *t, uint32_t parent, uint32_t node) {
  if ((t->n + 1) * 2 > t->nnames) {
    size_t nn = t->nnames ? t->nnames * 2 : 64;
    NameSlot *ns = calloc(nn, sizeof *ns);
    if (ns == NULL) return 0;
    for (size_t i = 0; i < t->nnames; i++) {
      if (t->names[i].node == 0) continue;
      const char *nm = t->nodes[t->names[i].node - 1].name;
      size_t j = hash_name(t->names[i].parent, nm) & (nn - 1);
      while (ns[j].node) j = (j + 1) & (nn - 1);
      ns[j] = t->names[i];
    }
    free(t->names);
    t->names = ns;
    t->nnames = nn;
  }
  size_t mask = t->nnames - 1;
  size_t i = hash_name(parent, t->nodes[node].name) & mask;
  while (t->names[i].node) i = (i + 1) & mask;
  t->names[i].parent = parent;
  t->names[i].node = node + 1;
  return 1;
}

static uint32_t new_node(RTree *t, uint32_t parent, const char *name, RKind kind, int content,
                         const Value *v) {
  if (t->n == UINT32_MAX - 1) {
    t->failed = 1;
    return UINT32_MAX;
  }
  if (t->n == t->cap) {
    uint32_t cap = t->cap ? t->cap * 2 : 32;
    RNode *nodes = realloc(t->nodes, cap * sizeof *nodes);
    if (nodes == NULL) {
      t->failed = 1;
      return UINT32_MAX;
    }
    t->nodes = nodes;
    NodeX *x = realloc(t->x, cap * sizeof *x);
    if (x == NULL) {
      t->failed = 1;
      return UINT32_MAX;
    }
    t->x = x;
    t->cap = cap;
  }
  uint32_t i = t->n;
  RNode *nd = &t->nodes[i];
  memset(nd, 0, sizeof *nd);
  memset(&t->x[i], 0, sizeof t->x[i]);
  nd->name = name;
  nd->kind = (uint8_t)kind;
  nd->content = (uint8_t)content;
  nd->index = i;
  nd->parent = parent;
  nd->value = v;
  t->n++;
  if (i > 0 && !name_insert(t, parent, i)) {
    t->failed = 1;
    return UINT32_MAX;
  }
  return i;
}

/* Counter of "~N" suffixes per (directory, stem), so a directory of many equal
** names costs linear time. */
static StemSlot *stem_slot(RTree *t, uint32_t parent, const char *stem) {
  if ((t->stems_used + 1) * 2 > t->nstems) {
    size_t nn = t->nstems ? t->nstems * 2 : 64;
    StemSlot *ns = calloc(nn, sizeof *ns);
    if (ns == NULL) return NULL;
    for (size_t i = 0; i < t->nstems; i++) {
      if (t->stems[i].stem == NULL) continue;
      size_t j = hash_name(t->stems[i].parent, t->stems[i].stem) & (nn - 1);
      while (ns[j].stem) j = (j + 1) & (nn - 1);
      ns[j] = t->stems[i];
    }
    free(t->stems);
    t->stems = ns;
    t->nstems = nn;
  }
  size_t mask = t->nstems - 1;
  size_t i = hash_name(parent, stem) & mask;
  for (;; i = (i + 1) & mask) {
    StemSlot *s = &t->stems[i];
    if (s->stem == NULL) {
      s->parent = parent;
      s->stem = stem;
      s->next = 2;
      t->stems_used++;
      return s;
    }
    if (s->parent == parent && strcmp(s->stem, stem) == 0) return s;
  }
}

static char *arena_cat(RTree *t, const char *a, size_t an, const char *b) {
  size_t bn = strlen(b);
  char *s = arena_alloc(t->arena, an + bn + 1);
  if (s == NULL) {
    t->failed = 1;
    return NULL;
  }
  memcpy(s, a, an);
  memcpy(s + an, b, bn + 1);
  return s;
}

/* A free name stem in dir for the suffixes (one or two: ".npy" and ".txt"). */
static const char *free_stem(RTree *t, uint32_t dir, const char *base, const char *suf1,
                             const char *suf2) {
  char *c1 = arena_cat(t, base, strlen(base), suf1);
  char *c2 = suf2 ? arena_cat(t, base, strlen(base), suf2) : NULL;
  if (c1 == NULL || (suf2 && c2 == NULL)) return NULL;
  if (name_find(t, dir, c1) == UINT32_MAX && (!suf2 || name_find(t, dir, c2) == UINT32_MAX))
    return base;
  StemSlot *s = stem_slot(t, dir, c1);
  if (s == NULL) {
    t->failed = 1;
    return NULL;
  }
  char num[32];
  for (; s->next < MFS_MAX_COLLISIONS; s->next++) {
    snprintf(num, sizeof num, "~%u", s->next);
    char *stem = arena_cat(t, base, strlen(base), num);
    if (stem == NULL) return NULL;
    c1 = arena_cat(t, stem, strlen(stem), suf1);
    c2 = suf2 ? arena_cat(t, stem, strlen(stem), suf2) : NULL;
    if (c1 == NULL || (suf2 && c2 == NULL)) return NULL;
    if (name_find(t, dir, c1) == UINT32_MAX && (!suf2 || name_find(t, dir, c2) == UINT32_MAX)) {
      s->next++;
      return stem;
    }
  }
  return NULL;
}

/* ---- value info ---------------------------------------------------------------- */

static int linkable(const Value *v) {
  if (v == NULL) return 0;
  switch (v->kind) {
    case VAL_LIST: case VAL_TUPLE: case VAL_SET: case VAL_FROZENSET: case VAL_DICT:
      return container_len(v);
    case VAL_OBJECT: case VAL_BYTEARRAY: return 1;
    case VAL_BYTES: return !(v->flags & VF_PY2STR);
    case VAL_NDARRAY:
      if (is_object_array(v)) {
        int of;
        return ndarray_count(v->u.arr, &of) > 0 || of;
      }
      return 1;
    default: return 0;
  }
}

static VInfo *info_get(RTree *t, const Value *v, int create) {
  if (t->ninfo == 0 || (create && (t->info_used + 1) * 2 > t->ninfo)) {
    if (!create) return NULL;
    size_t nn = t->ninfo ? t->ninfo * 2 : 32;
    VInfo *ni = calloc(nn, sizeof *ni);
    if (ni == NULL) {
      t->failed = 1;
      return NULL;
    }
    for (size_t i = 0; i < t->ninfo; i++) {
      if (t->info[i].v == NULL) continue;
      size_t j = hash_ptr(t->info[i].v) & (nn - 1);
      while (ni[j].v) j = (j + 1) & (nn - 1);
      ni[j] = t->info[i];
    }
    free(t->info);
    t->info = ni;
    t->ninfo = nn;
  }
  size_t mask = t->ninfo - 1;
  for (size_t i = hash_ptr(v) & mask;; i = (i + 1) & mask) {
    VInfo *s = &t->info[i];
    if (s->v == v) return s;
    if (s->v == NULL) {
      if (!create) return NULL;
      s->v = v;
      t->info_used++;
      return s;
    }
  }
}

/* The nested-list view of an object array (SPEC 3: "treated as a list"). */
static Value *nested_view(RTree *t, const NdArray *a, Value **items, size_t n, int axis) {
  Value *list = value_new(&t->vs, VAL_LIST);
  if (list == NULL) return NULL;
  if (axis >= a->ndim - 1) {
    list->u.seq.items = items;
    list->u.seq.n = list->u.seq.cap = n;
    return list;
  }
  uint64_t rows = a->shape[axis];
  uint64_t stride = rows ? n / rows : 0;
  for (uint64_t r = 0; r < rows; r++) {
    Value *sub = nested_view(t, a, items + r * stride, (size_t)stride, axis + 1);
    if (sub == NULL || seq_push(&t->vs, list, sub) != MFS_OK) return NULL;
  }
  return list;
}

static const Value *object_view(RTree *t, const Value *v) {
  const NdArray *a = v->u.arr;
  if (a->objects == NULL || a->objects->kind != VAL_LIST) return NULL;
  int of;
  uint64_t count = ndarray_count(a, &of);
  if (of || count != a->objects->u.seq.n || a->ndim > MFS_MAX_NDIM) return NULL;
  VInfo *vi = info_get(t, v, 1);
  if (vi && vi->view) return vi->view;
  Value *view = nested_view(t, a, a->objects->u.seq.items, (size_t)count, 0);
  if (vi) vi->view = view;
  if (view == NULL) t->failed = 1;
  return view;
}

/* How v shows (after unwrap); object arrays answer for their view. */
static int pkind_of(RTree *t, const Value *v) {
  if (v == NULL) return P_ERROR;
  if ((v->flags & VF_MEMBER) && v->kind >= VAL_LIST && v->kind <= VAL_DICT)
    return P_DIR;   /* an archive's folder, or the root of a model member */
  switch (v->kind) {
    case VAL_BYTES: return (v->flags & VF_PY2STR) ? P_FILE : P_BIN;
    case VAL_BYTEARRAY: return P_BIN;
    case VAL_NDARRAY: {
      if (!is_object_array(v)) return P_ARRAY;
      if (v->u.arr->objects == NULL) return P_ERROR;
      int of;
      uint64_t count = ndarray_count(v->u.arr, &of);
      if (of || count != v->u.arr->objects->u.seq.n) return P_ERROR;
      if (v->u.arr->ndim >= 2 && v->u.arr->shape[0] > 0) return P_DIR;
      return json_is_flat_container(v->u.arr->objects) ? P_JSON : P_DIR;
    }
    case VAL_LIST: case VAL_TUPLE: case VAL_SET: case VAL_FROZENSET: case VAL_DICT:
      return json_is_flat_container(v) ? P_JSON : P_DIR;
    case VAL_OBJECT: return P_DIR;
    default: return P_FILE;
  }
  (void)t;
}

static int pkind_cached(RTree *t, const Value *v) {
  if (!linkable(v)) return pkind_of(t, v);
  VInfo *vi = info_get(t, v, 1);
  if (vi == NULL) return P_ERROR;
  if (vi->pkind == 0) vi->pkind = (uint8_t)(pkind_of(t, v) + 1);
  return vi->pkind - 1;
}

/* ---- names ------------------------------------------------------------------------ */

static void escape_name(Buf *b, const char *s, size_t n) {
  if (n == 0) {
    buf_putc(b, '%');
    return;
  }
  if (n == 1 && s[0] == '.') {
    buf_puts(b, "%2E");
    return;
  }
  if (n == 2 && s[0] == '.' && s[1] == '.') {
    buf_puts(b, "%2E%2E");
    return;
  }
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '%') buf_puts(b, "%25");
    else if (s[i] == '/') buf_puts(b, "%2F");
    else if (s[i] == '\0') buf_puts(b, "%00");
    else buf_putc(b, s[i]);
  }
}

/* Where to cut an escaped name of n bytes so that it fits MFS_MAX_NAME_STEM:
** never inside a UTF-8 sequence, never inside a %XX escape, so the cut name is
** still a name readdir can list and a user can type. */
static size_t name_cut(const char *s, size_t n) {
  if (n <= MFS_MAX_NAME_STEM) return n;
  size_t cut = MFS_MAX_NAME_STEM;
  while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80) cut--;
  if (cut >= 1 && s[cut - 1] == '%') cut -= 1;
  else if (cut >= 2 && s[cut - 2] == '%') cut -= 2;
  return cut;
}

static const char *key_name(RTree *t, const Value *key) {
  Buf raw, esc;
  buf_init(&raw);
  buf_init(&esc);
  text_key(&raw, key);
  escape_name(&esc, raw.p ? raw.p : "", raw.len);
  buf_free(&raw);
  const char *s = esc.oom ? NULL
                          : arena_strndup(t->arena, esc.p ? esc.p : "",
                                          name_cut(esc.p ? esc.p : "", esc.len));
  buf_free(&esc);
  if (s == NULL) t->failed = 1;
  return s;
}

/* ---- layout ------------------------------------------------------------------------ */

static void push_work(RTree *t, uint32_t node, uint32_t depth) {
  if (t->nstack == t->capstack) {
    size_t cap = t->capstack ? t->capstack * 2 : 256;
    Work *w = realloc(t->stack, cap * sizeof *w);
    if (w == NULL) {
      t->failed = 1;
      return;
    }
    t->stack = w;
    t->capstack = cap;
  }
  t->stack[t->nstack].node = node;
  t->stack[t->nstack].depth = depth;
  t->nstack++;
}

static void error_node(RTree *t, uint32_t i, const char *msg) {
  t->nodes[i].kind = RK_FILE;
  t->nodes[i].content = C_ERROR;
  t->x[i].msg = msg;
}

/* A container a cut file left unfinished is shown only as a directory of the
** items it got: empty, or as one .json file, it would say what it does not know. */
static int cut_before_items(RTree *t, const Value *v) {
  if (v == NULL || !(v->flags & VF_PARTIAL) || v->kind == VAL_OBJECT || v->kind == VAL_NDARRAY)
    return 0;
  return container_len(v) == 0 || pkind_cached(t, v) == P_JSON;
}

/* One child of dir: the value v under the escaped name base.  Returns the node
** (the .npy of an array pair), UINT32_MAX when none was made. */
static uint32_t add_child(RTree *t, uint32_t dir, const char *base, const Value *v) {
  if (base == NULL || t->failed) return UINT32_MAX;
  v = unwrap(v);
  if (cut_before_items(t, v)) return UINT32_MAX;
  int pk = pkind_cached(t, v);
  const char *suf1 = "", *suf2 = NULL;
  int content = C_SCALAR;
  RKind kind = RK_FILE;
  switch (pk) {
    case P_BIN: suf1 = v->flags & VF_MEMBER ? "" : ".bin"; content = C_BIN; break;
    case P_ARRAY: suf1 = ".npy"; suf2 = ".txt"; content = C_NPY; break;
    case P_JSON: suf1 = ".json"; content = C_JSON; break;
    case P_DIR: kind = RK_DIR; content = C_NONE; break;
    case P_ERROR: content = C_ERROR; break;
    default: break;
  }
  const char *stem = free_stem(t, dir, base, suf1, suf2);
  if (stem == NULL) return UINT32_MAX;
  const char *name = *suf1 ? arena_cat(t, stem, strlen(stem), suf1) : stem;
  if (name == NULL) return UINT32_MAX;
  uint32_t i = new_node(t, dir, name, kind, content, v);
  if (i == UINT32_MAX) return i;
  if (pk == P_ERROR) {
    const char *why = "value missing (decoding stopped before it)";
    if (v && v->kind == VAL_NDARRAY && v->u.arr->error) why = v->u.arr->error;
    else if (v) why = "object array elements are missing";
    t->x[i].msg = why;
  }
  if (suf2) {
    const char *n2 = arena_cat(t, stem, strlen(stem), suf2);
    if (n2 == NULL || new_node(t, dir, n2, RK_FILE, C_TXT, v) == UINT32_MAX) return UINT32_MAX;
  }
  return i;
}

static const char *index_name(RTree *t, size_t i) {
  char num[32];
  snprintf(num, sizeof num, "%zu", i);
  const char *s = arena_strndup(t->arena, num, strlen(num));
  if (s == NULL) t->failed = 1;
  return s;
}

static void add_dict_entries(RTree *t, uint32_t dir, const Value *d) {
  for (size_t i = 0; i < d->u.dict.n && !t->failed; i++)
    add_child(t, dir, key_name(t, d->u.dict.keys[i]), d->u.dict.vals[i]);
}

/* A (dict or None, slots dict) state, merged into the object's entries. */
static int is_slots_state(const Value *s) {
  if (s == NULL || s->kind != VAL_TUPLE || s->u.seq.n != 2) return 0;
  const Value *d = s->u.seq.items[0], *slots = s->u.seq.items[1];
  return (d == NULL || d->kind == VAL_DICT || d->kind == VAL_NONE) && slots != NULL &&
         slots->kind == VAL_DICT;
}

static int nonempty(const Value *v) { return v != NULL && container_len(v); }

static void add_view_file(RTree *t, uint32_t dir, const char *name, int content, const Value *v) {
  const char *stem = free_stem(t, dir, name, "", NULL);
  if (stem != NULL) new_node(t, dir, stem, RK_FILE, content, v);
}

/* The text views of a well-known type (views.h): matrix.mtx of a sparse matrix,
** columns.json and frame.csv of a pandas frame. */
static void add_view(RTree *t, uint32_t dir, const Value *v) {
  if (mtx_applies(v)) add_view_file(t, dir, "matrix.mtx", C_VIEW, v);
  int frame = frame_applies(v);
  if (frame == PANDAS_FRAME) add_view_file(t, dir, "columns.json", C_COLUMNS, v);
  if (frame != 0 && frame_csv_applies(v)) add_view_file(t, dir, "frame.csv", C_CSV, v);
}

static void add_object_entries(RTree *t, uint32_t dir, const Value *v) {
  const Object *o = v->u.obj;
  uint32_t c = add_child(t, dir, "__class__", NULL);
  if (c != UINT32_MAX) {
    t->nodes[c].content = C_CLASS;
    t->nodes[c].value = v;
    t->x[c].msg = NULL;
  }
  if (o->callable != NULL && o->callable->kind != VAL_GLOBAL)
    add_child(t, dir, "__callable__", o->callable);
  if (o->args != NULL && (o->args->kind != VAL_TUPLE || o->args->u.seq.n > 0))
    add_child(t, dir, "__args__", o->args);
  if (nonempty(o->kwargs)) add_child(t, dir, "__kwargs__", o->kwargs);
  if (o->state != NULL) {
    if (o->state->kind == VAL_DICT) {
      add_dict_entries(t, dir, o->state);
    } else if (is_slots_state(o->state)) {
      for (int k = 0; k < 2; k++)
        if (o->state->u.seq.items[k] && o->state->u.seq.items[k]->kind == VAL_DICT)
          add_dict_entries(t, dir, o->state->u.seq.items[k]);
    } else {
      add_child(t, dir, "__state__", o->state);
    }
  }
  if (o->items != NULL) add_child(t, dir, "__items__", o->items);
  if (o->dictitems != NULL) add_child(t, dir, "__dictitems__", o->dictitems);
  add_view(t, dir, v);
}

/* Lay out the entries of a directory value; children get consecutive nodes. */
static void expand(RTree *t, uint32_t dir, const Value *v, uint32_t depth) {
  uint32_t first = t->n;
  if (v->kind == VAL_OBJECT) {
    add_object_entries(t, dir, v);
  } else if (v->kind == VAL_DICT) {
    add_dict_entries(t, dir, v);
  } else {
    const Value *seq = v;
    if (v->kind == VAL_NDARRAY) {
      seq = object_view(t, v);
      t->x[dir].view = seq;
    }
    int named = seq != NULL && seq == v && steps_named(seq);
    for (size_t i = 0; seq && i < seq->u.seq.n && !t->failed; i++) {
      const Value *item = seq->u.seq.items[i];
      add_child(t, dir, named ? key_name(t, item->u.seq.items[0]) : index_name(t, i), item);
    }
  }
  if (t->failed) return;
  uint32_t count = t->n - first;
  t->nodes[dir].nchildren = count;
  t->nodes[dir].children = arena_alloc(t->arena, (count ? count : 1) * sizeof(uint32_t));
  if (t->nodes[dir].children == NULL) {
    t->failed = 1;
    return;
  }
  for (uint32_t k = 0; k < count; k++) t->nodes[dir].children[k] = first + k;
  /* reverse order on the stack, so the first child is walked first */
  for (uint32_t k = count; k-- > 0;) {
    uint32_t c = first + k;
    if (t->nodes[c].content == C_TXT) continue;   /* walked with its .npy */
    push_work(t, c, depth + 1);
  }
}

static void count_array(RTree *t, const Value *v) {
  const NdArray *a = v->u.arr;
  const Dtype *d = arr_dtype(a);
  int of;
  uint64_t n = ndarray_count(a, &of);
  t->arrays++;
  if (d != NULL && !of && (d->itemsize == 0 || n <= UINT64_MAX / d->itemsize))
    t->array_bytes += n * d->itemsize;
}

static void visit(RTree *t, uint32_t i, uint32_t depth) {
  const Value *v = t->nodes[i].value;
  int c = t->nodes[i].content;
  if (c == C_CLASS || c == C_VIEW || c == C_COLUMNS || c == C_CSV) return;
  VInfo *vi = linkable(v) ? info_get(t, v, 1) : NULL;
  if (vi != NULL && vi->placed) {
    int pair = t->nodes[i].content == C_NPY;
    for (int k = 0; k <= pair; k++) {
      t->nodes[i + k].kind = RK_LINK;
      t->nodes[i + k].content = C_NONE;
      t->x[i + k].link_to = vi->first + (uint32_t)k;
    }
    return;
  }
  if (vi != NULL) {
    vi->placed = 1;
    vi->first = i;
  }
  if (t->nodes[i].content == C_NPY) count_array(t, v);
  if (t->nodes[i].kind != RK_DIR) return;
  if (depth > MFS_MAX_DEPTH) {
    char msg[96];
    snprintf(msg, sizeof msg, "nesting deeper than %d levels is not shown", MFS_MAX_DEPTH);
    const char *m = arena_strndup(t->arena, msg, strlen(msg));
    if (m == NULL) t->failed = 1;
    error_node(t, i, m);
    return;
  }
  expand(t, i, v, depth);
}

/* ---- the model directory ----------------------------------------------------------- */

static int collect_globals(RTree *t) {
  return judge_model(t->m, t->trust, t->arena, &t->judged) == MFS_OK;
}

static void layout_root(RTree *t) {
  static const struct { const char *name; int content; } top[] = {
    {"meta.json", C_META}, {"types.txt", C_TYPES}, {"untrusted.txt", C_UNTRUSTED},
    {"object.json", C_OBJJSON}, {"compat.json", C_COMPAT}, {"summary.txt", C_SUMMARY}};
  uint32_t root = new_node(t, 0, "", RK_DIR, C_NONE, t->m->root);
  if (root != 0) return;
  for (size_t k = 0; k < sizeof top / sizeof *top; k++)
    new_node(t, 0, top[k].name, RK_FILE, top[k].content, NULL);
  /* Pickles appended after the first (SPEC 2): __trailing__/1, /2, ... */
  uint32_t trailing = t->m->trailing ? add_child(t, 0, "__trailing__", t->m->trailing) : UINT32_MAX;
  const Value *r = unwrap(t->m->root);
  uint32_t first = 0;
  if (r != NULL && pkind_cached(t, r) == P_DIR) {
    VInfo *vi = info_get(t, r, 1);
    if (vi) {
      vi->placed = 1;
      vi->first = 0;
    }
    t->nodes[0].value = r;
    expand(t, 0, r, 0);   /* the root's entries sit in the model directory */
  } else {
    if (r != NULL) first = add_child(t, 0, "value", r);
    uint32_t count = t->n - 1;
    t->nodes[0].nchildren = count;
    t->nodes[0].children = arena_alloc(t->arena, (count ? count : 1) * sizeof(uint32_t));
    if (t->nodes[0].children == NULL) {
      t->failed = 1;
      return;
    }
    for (uint32_t k = 0; k < count; k++) t->nodes[0].children[k] = 1 + k;
    if (r != NULL && first != UINT32_MAX) push_work(t, first, 1);
  }
  if (trailing != UINT32_MAX) push_work(t, trailing, 1);
}

/* The model directory lists the reserved files made before the root's own
** entries: rebuild its children from the parents. */
static void fix_root_children(RTree *t) {
  uint32_t count = 0;
  for (uint32_t i = 1; i < t->n; i++)
    if (t->nodes[i].parent == 0) count++;
  uint32_t *c = arena_alloc(t->arena, (count ? count : 1) * sizeof *c);
  if (c == NULL) {
    t->failed = 1;
    return;
  }
  uint32_t k = 0;
  for (uint32_t i = 1; i < t->n; i++)
    if (t->nodes[i].parent == 0) c[k++] = i;
  t->nodes[0].children = c;
  t->nodes[0].nchildren = count;
}

/* Relative path from directory `from` to node `to`. */
static char *rel_path(RTree *t, uint32_t from, uint32_t to) {
  uint32_t a[MFS_MAX_DEPTH + 8], b[MFS_MAX_DEPTH + 8];
  int na = 0, nb = 0;
  for (uint32_t i = from;; i = t->nodes[i].parent) {
    if (na >= MFS_MAX_DEPTH + 8) return NULL;
    a[na++] = i;
    if (i == 0) break;
  }
  for (uint32_t i = to;; i = t->nodes[i].parent) {
    if (nb >= MFS_MAX_DEPTH + 8) return NULL;
    b[nb++] = i;
    if (i == 0) break;
  }
  /* chains are leaf-first; find the common ancestor from the root end */
  int common = 0;
  while (common < na && common < nb && a[na - 1 - common] == b[nb - 1 - common]) common++;
  Buf p;
  buf_init(&p);
  for (int k = 0; k < na - common; k++) buf_puts(&p, k ? "/.." : "..");
  for (int k = nb - common - 1; k >= 0; k--) {
    if (p.len) buf_putc(&p, '/');
    buf_puts(&p, t->nodes[b[k]].name);
  }
  if (p.len == 0) buf_putc(&p, '.');
  char *s = p.oom ? NULL : arena_strndup(t->arena, p.p, p.len);
  buf_free(&p);
  return s;
}

static void resolve_links(RTree *t) {
  for (uint32_t i = 0; i < t->n && !t->failed; i++) {
    if (t->nodes[i].kind != RK_LINK) continue;
    t->nodes[i].target = rel_path(t, t->nodes[i].parent, t->x[i].link_to);
    if (t->nodes[i].target == NULL) t->failed = 1;
  }
}

RTree *render_tree(Model *m, const TrustList *trust) {
  return render_tree_for(m, trust, NULL);
}

RTree *render_tree_for(Model *m, const TrustList *trust, const char *compat_target) {
  RTree *t = calloc(1, sizeof *t);
  if (t == NULL) return NULL;
  t->m = m;
  t->trust = trust;
  if (compat_target != NULL && (t->compat_target = strdup(compat_target)) == NULL) {
    free(t);
    return NULL;
  }
  t->arena = arena_new();
  err_clear(&t->vs_err);
  t->vs.arena = t->arena;
  t->vs.err = &t->vs_err;
  pthread_mutex_init(&t->mu, NULL);
  pthread_cond_init(&t->made, NULL);
  if (t->arena == NULL || !collect_globals(t)) {
    render_free(t);
    return NULL;
  }
  layout_root(t);
  while (t->nstack > 0 && !t->failed) {
    Work w = t->stack[--t->nstack];
    visit(t, w.node, w.depth);
  }
  if (!t->failed && t->n > 0) fix_root_children(t);
  if (!t->failed) resolve_links(t);
  free(t->stack);
  t->stack = NULL;
  t->nstack = t->capstack = 0;
  if (t->failed) {
    render_free(t);
    return NULL;
  }
  return t;
}

void render_free(RTree *t) {
  if (t == NULL) return;
  free(t->compat_target);
  for (uint32_t i = 0; i < t->n; i++) {
    free(t->x[i].data);
    txt_index_free(t->x[i].tx);
  }
  free(t->nodes);
  free(t->x);
  free(t->names);
  free(t->stems);
  free(t->info);
  free(t->stack);
  arena_free(t->arena);
  pthread_mutex_destroy(&t->mu);
  pthread_cond_destroy(&t->made);
  free(t);
}

Model *render_model(const RTree *t) { return t->m; }
void render_set_pause(RTree *t, PauseHook pause) { t->pause = pause; }
uint32_t render_count(const RTree *t) { return t->n; }

const RNode *render_node(const RTree *t, uint32_t index) {
  return index < t->n ? &t->nodes[index] : NULL;
}

const RNode *render_root(const RTree *t) { return t->n ? &t->nodes[0] : NULL; }

const RNode *render_lookup(const RTree *t, const RNode *dir, const char *name) {
  if (dir == NULL || dir->kind != RK_DIR) return NULL;
  uint32_t i = name_find(t, dir->index, name);
  return i == UINT32_MAX ? NULL : &t->nodes[i];
}

const RNode *render_path(const RTree *t, const char *path) {
  const RNode *n = render_root(t);
  char part[4096];
  while (n != NULL && *path) {
    while (*path == '/') path++;
    if (!*path) break;
    size_t k = strcspn(path, "/");
    if (k >= sizeof part) return NULL;
    memcpy(part, path, k);
    part[k] = '\0';
    path += k;
    if (strcmp(part, ".") == 0) continue;
    n = render_lookup(t, n, part);
  }
  return n;
}

/* ---- contents ---------------------------------------------------------------------- */

static const char *root_class(RTree *t, Buf *b) {
  const Value *r = unwrap(t->m->root);
  if (r == NULL) return NULL;
  switch (r->kind) {
    case VAL_OBJECT: {
      const Value *c = r->u.obj->callable;
      if (c == NULL || c->kind != VAL_GLOBAL) return "<dynamic>";
      text_scalar(b, c, NULL);
      return b->p;
    }
    case VAL_DICT: return r->flags & VF_ORDERED ? "collections.OrderedDict" : "builtins.dict";
    case VAL_LIST: return "builtins.list";
    case VAL_TUPLE: return "builtins.tuple";
    case VAL_SET: return "builtins.set";
    case VAL_FROZENSET: return "builtins.frozenset";
    case VAL_NDARRAY:
      if (r->u.arr->cls && r->u.arr->cls->kind == VAL_GLOBAL) {
        text_scalar(b, r->u.arr->cls, NULL);
        return b->p;
      }
      return "numpy.ndarray";
    case VAL_NONE: return "builtins.NoneType";
    case VAL_BOOL: return "builtins.bool";
    case VAL_INT: case VAL_BIGINT: return "builtins.int";
    case VAL_FLOAT: return "builtins.float";
    case VAL_COMPLEX: return "builtins.complex";
    case VAL_STR: return "builtins.str";
    case VAL_BYTES: return r->flags & VF_PY2STR ? "builtins.str" : "builtins.bytes";
    case VAL_BYTEARRAY: return "builtins.bytearray";
    case VAL_GLOBAL:   /* a bare function or class: its own name (never resolved) */
      text_scalar(b, r, NULL);
      return b->p;
    case VAL_DTYPE: return "numpy.dtype";
    case VAL_SCALAR: {
      const Value *dv = r->u.scalar->dtype;
      const Dtype *d = dv && dv->kind == VAL_DTYPE ? dv->u.dtype : NULL;
      if (d == NULL) return "numpy.generic";
      switch (d->kind) {
        case 'b': return "numpy.bool_";
        case 'U': return "numpy.str_";
        case 'S': return "numpy.bytes_";
        case 'V': return "numpy.void";
        case 'M': return "numpy.datetime64";
        case 'm': return "numpy.timedelta64";
        case 'i': buf_printf(b, "numpy.int%llu", (unsigned long long)d->itemsize * 8); return b->p;
        case 'u': buf_printf(b, "numpy.uint%llu", (unsigned long long)d->itemsize * 8); return b->p;
        case 'f': buf_printf(b, "numpy.float%llu", (unsigned long long)d->itemsize * 8); return b->p;
        case 'c': buf_printf(b, "numpy.complex%llu", (unsigned long long)d->itemsize * 8); return b->p;
        default: return "numpy.generic";
      }
    }
    default: return NULL;
  }
}

/* The root's _sklearn_version (a Python-2 str too, as Python 3 loads it): its text and
** *n, else NULL. */
static const char *sklearn_version(RTree *t, size_t *n) {
  const Value *r = unwrap(t->m->root);
  if (r == NULL || r->kind != VAL_OBJECT || r->u.obj->state == NULL) return NULL;
  const Value *s = r->u.obj->state;
  const Value *v = rv_attr(r, "_sklearn_version");
  if (v == NULL && is_slots_state(s)) v = dict_get_str(s->u.seq.items[1], "_sklearn_version");
  return rv_str(v, n);
}

typedef struct MetaKey {
  const char *key;
  char *json;              /* malloc'd JSON text */
} MetaKey;

static int cmp_meta(const void *a, const void *b) {
  return strcmp(((const MetaKey *)a)->key, ((const MetaKey *)b)->key);
}

static void meta_put(MetaKey *keys, size_t *n, size_t cap, const char *key, Buf *val) {
  for (size_t i = 0; i < *n; i++)
    if (strcmp(keys[i].key, key) == 0) {   /* the contract's keys win over extras */
      buf_free(val);
      return;
    }
  if (*n >= cap) {
    buf_free(val);
    return;
  }
  keys[*n].key = key;
  keys[*n].json = buf_detach(val, NULL);
  (*n)++;
}

static void meta_str(MetaKey *k, size_t *n, size_t cap, const char *key, const char *s) {
  Buf b;
  buf_init(&b);
  if (s) json_escape(&b, s, strlen(s));
  else buf_puts(&b, "null");
  meta_put(k, n, cap, key, &b);
}

static void meta_u64(MetaKey *k, size_t *n, size_t cap, const char *key, unsigned long long v) {
  Buf b;
  buf_init(&b);
  buf_printf(&b, "%llu", v);
  meta_put(k, n, cap, key, &b);
}

/* A flat dict or list of scalars (a format's meta key, e.g. PyTorch's dtype
** counts) as JSON indented for one level inside meta.json's object. */
static void meta_flat(Buf *b, const Value *v, Err *e) {
  int dict = v->kind == VAL_DICT;
  size_t n = dict ? v->u.dict.n : v->u.seq.n;
  buf_putc(b, dict ? '{' : '[');
  for (size_t i = 0; i < n; i++) {
    buf_puts(b, i ? ",\n    " : "\n    ");
    if (dict) {
      Buf k;
      buf_init(&k);
      const Value *key = v->u.dict.keys[i];
      if (key->kind == VAL_STR) json_escape(b, key->u.str.s, key->u.str.len);
      else if (text_scalar(&k, key, e)) json_escape(b, k.p ? k.p : "", k.len);
      buf_free(&k);
      buf_puts(b, ": ");
    }
    if (!json_scalar(b, dict ? v->u.dict.vals[i] : v->u.seq.items[i], e)) buf_puts(b, "null");
  }
  buf_puts(b, n ? (dict ? "\n  }" : "\n  ]") : (dict ? "}" : "]"));
}

/* The globals that decide the verdict, as a JSON array text indented for one
** level inside meta.json's object. */
static void verdict_globals(RTree *t, Buf *b) {
  const Judgement *j = &t->judged;
  int dangerous = j->ndangerous > 0;
  const char **names = dangerous ? j->dangerous : j->untrusted;
  size_t n = dangerous ? j->ndangerous : j->nuntrusted;
  buf_putc(b, '[');
  for (size_t i = 0; i < n; i++) {
    buf_puts(b, i ? ",\n    " : "\n    ");
    json_escape(b, names[i], strlen(names[i]));
  }
  buf_puts(b, n ? "\n  ]" : "]");
}

/* ---- where the verdict comes from -------------------------------------------------- */

static char *node_path(RTree *t, uint32_t node);   /* "a/b/c", malloc'd; "." for the root */

/* The global node i stands for: the callable of an object directory, or a global
** kept as a value; NULL for anything else (links name their first place). */
static const Value *node_global(const RTree *t, uint32_t i) {
  const RNode *n = &t->nodes[i];
  const Value *v = n->value;
  if (v == NULL || n->kind == RK_LINK || n->content == C_CLASS) return NULL;
  if (n->kind == RK_DIR && v->kind == VAL_OBJECT && v->u.obj->callable != NULL &&
      v->u.obj->callable->kind == VAL_GLOBAL)
    return v->u.obj->callable;
  if (n->kind == RK_FILE && v->kind == VAL_GLOBAL) return v;
  return NULL;
}

static int cmp_where(const void *a, const void *b) {
  return strcmp(((const WhereEntry *)a)->global, ((const WhereEntry *)b)->global);
}

static int in_sorted(const char *const *v, size_t n, const char *s) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(v[mid], s);
    if (c == 0) return 1;
    if (c < 0) lo = mid + 1; else hi = mid;
  }
  return 0;
}

/* The dangerous and untrusted names, sorted and unique, as empty entries. */
static WhereEntry *where_entries(RTree *t, size_t *n) {
  const Judgement *j = &t->judged;
  WhereEntry *w = arena_alloc(t->arena, (j->ndangerous + j->nuntrusted + 1) * sizeof *w);
  if (w == NULL) return NULL;
  size_t k = 0;
  for (size_t i = 0; i < j->ndangerous; i++) w[k++].global = j->dangerous[i];
  for (size_t i = 0; i < j->nuntrusted; i++)
    if (!in_sorted(j->dangerous, j->ndangerous, j->untrusted[i])) w[k++].global = j->untrusted[i];
  for (size_t i = 0; i < k; i++) {
    w[i].dangerous = in_sorted(j->dangerous, j->ndangerous, w[i].global);
    w[i].paths = NULL;
    w[i].npaths = 0;
  }
  if (k > 1) qsort(w, k, sizeof *w, cmp_where);
  *n = k;
  return w;
}

MfsStatus render_where(RTree *t, const WhereEntry **out, size_t *nout) {
  size_t n = 0;
  WhereEntry *w = where_entries(t, &n);
  if (w == NULL) return MFS_ENOMEM;
  size_t *cap = calloc(n ? n : 1, sizeof *cap);
  if (cap == NULL) return MFS_ENOMEM;
  MfsStatus st = MFS_OK;
  for (uint32_t i = 0; i < t->n && st == MFS_OK && n > 0; i++) {
    const Value *g = node_global(t, i);
    const char *d = g ? global_dotted(t->arena, g) : NULL;
    if (d == NULL) continue;
    WhereEntry key = {d, 0, NULL, 0};
    WhereEntry *e = bsearch(&key, w, n, sizeof *w, cmp_where);
    if (e == NULL || e->npaths >= MFS_MAX_WHERE_PATHS) continue;
    size_t k = (size_t)(e - w);
    if (e->npaths == cap[k]) {
      size_t nc = cap[k] ? cap[k] * 2 : 4;
      const char **np = arena_alloc(t->arena, nc * sizeof *np);
      if (np == NULL) { st = MFS_ENOMEM; break; }
      if (e->npaths) memcpy(np, e->paths, e->npaths * sizeof *np);
      e->paths = np;
      cap[k] = nc;
    }
    char *p = node_path(t, i);
    const char *kept = p ? arena_strndup(t->arena, p, strlen(p)) : NULL;
    free(p);
    if (kept == NULL) st = MFS_ENOMEM;
    else e->paths[e->npaths++] = kept;
  }
  free(cap);
  *out = w;
  *nout = n;
  return st;
}

const char *render_verdict(const RTree *t, const char *const **hazards, size_t *nhazards) {
  if (hazards) *hazards = t->judged.hazards;
  if (nhazards) *nhazards = t->judged.nhazards;
  return t->judged.verdict;
}

/* meta.json's verdict_where (the caller holds the tree's lock): {"global": ["path", ...], ...}, sorted by global. */
static void verdict_where(RTree *t, Buf *b) {
  const WhereEntry *w = NULL;
  size_t n = 0;
  MfsStatus st = render_where(t, &w, &n);   /* produce() holds the lock */
  if (st != MFS_OK) n = 0;
  buf_putc(b, '{');
  for (size_t i = 0; i < n; i++) {
    buf_puts(b, i ? ",\n    " : "\n    ");
    json_escape(b, w[i].global, strlen(w[i].global));
    buf_puts(b, ": [");
    for (size_t k = 0; k < w[i].npaths; k++) {
      buf_puts(b, k ? ",\n      " : "\n      ");
      json_escape(b, w[i].paths[k], strlen(w[i].paths[k]));
    }
    buf_puts(b, w[i].npaths ? "\n    ]" : "]");
  }
  buf_puts(b, n ? "\n  }" : "}");
}

static MfsStatus make_meta(RTree *t, Buf *out, Err *e) {
  Model *m = t->m;
  size_t cap = 16 + (m->meta_extra ? m->meta_extra->u.dict.n : 0);
  MetaKey *keys = calloc(cap, sizeof *keys);
  if (keys == NULL) return err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
  size_t n = 0;
  Buf cls;
  buf_init(&cls);
  const char *verdict = t->judged.verdict;
  meta_str(keys, &n, cap, "format", m->format);
  meta_str(keys, &n, cap, "compression", m->compression);
  meta_u64(keys, &n, cap, "protocol", (unsigned long long)(m->protocol < 0 ? 0 : m->protocol));
  meta_str(keys, &n, cap, "class", root_class(t, &cls));
  size_t svn;
  const char *sv = sklearn_version(t, &svn);
  Buf b;
  buf_init(&b);
  if (sv) json_escape(&b, sv, svn);
  else buf_puts(&b, "null");
  meta_put(keys, &n, cap, "sklearn_version", &b);
  meta_u64(keys, &n, cap, "size", (unsigned long long)(m->size == SOURCE_SIZE_UNKNOWN ? 0 : m->size));
  meta_str(keys, &n, cap, "status", m->ok ? "ok" : "error");
  if (!m->ok) meta_str(keys, &n, cap, "error", m->err.msg[0] ? m->err.msg : err_code_name(m->err.code));
  meta_str(keys, &n, cap, "verdict", verdict);
  buf_init(&b);
  verdict_globals(t, &b);
  meta_put(keys, &n, cap, "verdict_globals", &b);
  buf_init(&b);
  verdict_where(t, &b);
  meta_put(keys, &n, cap, "verdict_where", &b);
  if (t->judged.nhazards > 0) {   /* what makes it dangerous when no name does */
    buf_init(&b);
    buf_putc(&b, '[');
    for (size_t i = 0; i < t->judged.nhazards; i++) {
      buf_puts(&b, i ? ",\n    " : "\n    ");
      json_escape(&b, t->judged.hazards[i], strlen(t->judged.hazards[i]));
    }
    buf_puts(&b, "\n  ]");
    meta_put(keys, &n, cap, "hazards", &b);
  }
  meta_u64(keys, &n, cap, "arrays", (unsigned long long)t->arrays);
  meta_u64(keys, &n, cap, "array_bytes", (unsigned long long)t->array_bytes);
  const Value *x = m->meta_extra;
  for (size_t i = 0; x && x->kind == VAL_DICT && i < x->u.dict.n; i++) {
    const Value *k = x->u.dict.keys[i];
    if (k == NULL || k->kind != VAL_STR) continue;
    buf_init(&b);
    if (x->u.dict.vals[i] && json_is_flat_container(x->u.dict.vals[i])) {
      meta_flat(&b, x->u.dict.vals[i], e);
    } else if (!json_scalar(&b, x->u.dict.vals[i], e)) {
      Buf s;
      buf_init(&s);
      if (x->u.dict.vals[i] && text_scalar(&s, x->u.dict.vals[i], e))
        json_escape(&b, s.p ? s.p : "", s.len);
      else
        buf_puts(&b, "null");
      buf_free(&s);
    }
    meta_put(keys, &n, cap, k->u.str.s, &b);
  }
  qsort(keys, n, sizeof *keys, cmp_meta);
  JsonW w;
  jw_init(&w, out);
  jw_begin(&w, '{');
  for (size_t i = 0; i < n; i++) {
    jw_key(&w, keys[i].key, strlen(keys[i].key));
    jw_raw(&w, keys[i].json ? keys[i].json : "null", keys[i].json ? strlen(keys[i].json) : 4);
    free(keys[i].json);
  }
  jw_end(&w, '}');
  jw_done(&w);
  buf_putc(out, '\n');
  free(keys);
  buf_free(&cls);
  return out->oom ? err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory") : MFS_OK;
}

static void make_names_list(RTree *t, Buf *out, int untrusted_only) {
  const Judgement *j = &t->judged;
  const char **names = untrusted_only ? j->untrusted : j->globals;
  size_t n = untrusted_only ? j->nuntrusted : j->nglobals;
  for (size_t i = 0; i < n; i++) {
    buf_puts(out, names[i]);
    buf_putc(out, '\n');
  }
}

/* ---- object.json ---------------------------------------------------------------------- */

typedef struct OJ {
  RTree *t;
  JsonW w;
  Err *e;
} OJ;

static void oj_value(OJ *o, const Value *v, int depth);

static char *node_path(RTree *t, uint32_t node) {
  if (node == 0) return strdup(".");
  uint32_t chain[MFS_MAX_DEPTH + 8];
  int n = 0;
  for (uint32_t i = node; i != 0 && n < MFS_MAX_DEPTH + 8; i = t->nodes[i].parent) chain[n++] = i;
  Buf b;
  buf_init(&b);
  for (int k = n - 1; k >= 0; k--) {
    buf_puts(&b, t->nodes[chain[k]].name);
    if (k) buf_putc(&b, '/');
  }
  return buf_detach(&b, NULL);
}

static void oj_ref(OJ *o, const char *key, uint32_t node) {
  char *p = node_path(o->t, node);
  jw_begin(&o->w, '{');
  jw_key(&o->w, key, strlen(key));
  jw_cstring(&o->w, p ? p : "");
  free(p);
}

static void oj_array(OJ *o, const Value *v, const VInfo *vi) {
  const NdArray *a = v->u.arr;
  const Dtype *d = arr_dtype(a);
  if (vi != NULL && vi->placed) oj_ref(o, "__ndarray__", vi->first);
  else {
    jw_begin(&o->w, '{');
    jw_key(&o->w, "__ndarray__", 11);
    jw_raw(&o->w, "null", 4);
  }
  jw_key(&o->w, "dtype", 5);
  char *ds = NULL;
  if (d != NULL && d->nfields == 0) {
    ds = npy_descr(d);
    if (ds && ds[0] == '\'') {   /* '<f8' -> <f8 */
      size_t l = strlen(ds);
      memmove(ds, ds + 1, l - 2);
      ds[l - 2] = '\0';
    }
  } else if (d != NULL) {
    ds = npy_descr(d);
  }
  jw_cstring(&o->w, ds ? ds : "?");
  free(ds);
  jw_key(&o->w, "shape", 5);
  jw_begin(&o->w, '[');
  for (int i = 0; i < a->ndim; i++) {
    char num[32];
    int k = snprintf(num, sizeof num, "%llu", (unsigned long long)a->shape[i]);
    jw_raw(&o->w, num, (size_t)k);
  }
  jw_end(&o->w, ']');
  if (a->stored_dtype != NULL) {   /* widened: the file's own dtype (bfloat16) */
    jw_key(&o->w, "stored_dtype", 12);
    jw_cstring(&o->w, a->stored_dtype);
  }
  jw_end(&o->w, '}');
}

static void oj_dict_items(OJ *o, const Value *d, int depth) {
  for (size_t i = 0; i < d->u.dict.n; i++) {
    Buf k;
    buf_init(&k);
    const Value *key = json_unwrap(d->u.dict.keys[i]);
    if (key && json_is_value(key)) text_scalar(&k, key, o->e);
    else text_key(&k, key);
    jw_key(&o->w, k.p ? k.p : "", k.len);
    buf_free(&k);
    oj_value(o, d->u.dict.vals[i], depth + 1);
  }
}

static void oj_object(OJ *o, const Value *v, int depth) {
  const Object *ob = v->u.obj;
  jw_begin(&o->w, '{');
  jw_key(&o->w, "__class__", 9);
  if (ob->callable && ob->callable->kind == VAL_GLOBAL) {
    Buf c;
    buf_init(&c);
    text_scalar(&c, ob->callable, o->e);
    jw_string(&o->w, c.p ? c.p : "", c.len);
    buf_free(&c);
  } else {
    jw_cstring(&o->w, "<dynamic>");
    jw_key(&o->w, "__callable__", 12);
    oj_value(o, ob->callable, depth + 1);
  }
  if (ob->args != NULL && (ob->args->kind != VAL_TUPLE || ob->args->u.seq.n > 0)) {
    jw_key(&o->w, "__args__", 8);
    oj_value(o, ob->args, depth + 1);
  }
  if (nonempty(ob->kwargs)) {
    jw_key(&o->w, "__kwargs__", 10);
    oj_value(o, ob->kwargs, depth + 1);
  }
  if (ob->state != NULL) {
    if (ob->state->kind == VAL_DICT) {
      oj_dict_items(o, ob->state, depth);
    } else if (is_slots_state(ob->state)) {
      for (int k = 0; k < 2; k++)
        if (ob->state->u.seq.items[k] && ob->state->u.seq.items[k]->kind == VAL_DICT)
          oj_dict_items(o, ob->state->u.seq.items[k], depth);
    } else {
      jw_key(&o->w, "__state__", 9);
      oj_value(o, ob->state, depth + 1);
    }
  }
  if (ob->items != NULL) {
    jw_key(&o->w, "__items__", 9);
    oj_value(o, ob->items, depth + 1);
  }
  if (ob->dictitems != NULL) {
    jw_key(&o->w, "__dictitems__", 13);
    oj_value(o, ob->dictitems, depth + 1);
  }
  jw_end(&o->w, '}');
}

static void oj_string_of(OJ *o, const Value *v) {
  Buf b;
  buf_init(&b);
  text_scalar(&b, v, o->e);
  jw_string(&o->w, b.p ? b.p : "", b.len);
  buf_free(&b);
}

static void oj_value(OJ *o, const Value *v, int depth) {
  RTree *t = o->t;
  v = unwrap(v);
  if (v == NULL) {
    jw_raw(&o->w, "null", 4);
    return;
  }
  if (depth > MFS_MAX_DEPTH) {
    jw_begin(&o->w, '{');
    jw_key(&o->w, "__error__", 9);
    jw_cstring(&o->w, "nesting too deep");
    jw_end(&o->w, '}');
    return;
  }
  VInfo *vi = linkable(v) ? info_get(t, v, 0) : NULL;
  if (vi != NULL && vi->emitted) {
    if (vi->placed) {
      oj_ref(o, "__ref__", vi->first);
      jw_end(&o->w, '}');
    } else {
      jw_raw(&o->w, "null", 4);
    }
    return;
  }
  if (vi != NULL) vi->emitted = 1;
  if (json_is_value(v)) {
    Buf b;
    buf_init(&b);
    json_scalar(&b, v, o->e);
    jw_raw(&o->w, b.p ? b.p : "", b.len);
    buf_free(&b);
    return;
  }
  switch (v->kind) {
    case VAL_BYTES:
    case VAL_BYTEARRAY: {
      char num[48];
      int k = snprintf(num, sizeof num, "%llu", (unsigned long long)v->u.bytes.len);
      jw_begin(&o->w, '{');
      jw_key(&o->w, "__bytes__", 9);
      jw_raw(&o->w, num, (size_t)k);
      jw_end(&o->w, '}');
      return;
    }
    case VAL_NDARRAY: {
      if (!is_object_array(v)) {
        oj_array(o, v, vi);
        return;
      }
      const Value *view = object_view(t, v);
      if (view == NULL) {
        jw_raw(&o->w, "null", 4);
        return;
      }
      v = view;
    }
    /* fall through */
    case VAL_LIST: case VAL_TUPLE: case VAL_SET: case VAL_FROZENSET:
      if ((v->kind == VAL_SET || v->kind == VAL_FROZENSET) && json_is_flat_container(v)) {
        json_write_set(&o->w, v, o->e);
        return;
      }
      jw_begin(&o->w, '[');
      for (size_t i = 0; i < v->u.seq.n; i++) oj_value(o, v->u.seq.items[i], depth + 1);
      jw_end(&o->w, ']');
      return;
    case VAL_DICT:
      jw_begin(&o->w, '{');
      oj_dict_items(o, v, depth);
      jw_end(&o->w, '}');
      return;
    case VAL_OBJECT: oj_object(o, v, depth); return;
    default: oj_string_of(o, v); return;
  }
}

static MfsStatus make_object_json(RTree *t, Buf *out, Err *e) {
  for (size_t i = 0; i < t->ninfo; i++) t->info[i].emitted = 0;
  OJ o = {.t = t, .e = e};
  jw_init(&o.w, out);
  oj_value(&o, t->m->root, 0);
  jw_done(&o.w);
  buf_putc(out, '\n');
  if (t->failed || out->oom) return err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
  return MFS_OK;
}

/* ---- producing and serving bytes ------------------------------------------------------ */

static const char *class_text(const Value *obj, Buf *b) {
  const Value *c = obj->u.obj->callable;
  if (c == NULL || c->kind != VAL_GLOBAL) return "<dynamic>";
  text_scalar(b, c, NULL);
  return b->p ? b->p : "";
}

static void copy_out(const char *src, uint64_t srclen, uint64_t off, void *buf, size_t len,
                     size_t *got) {
  *got = 0;
  if (off >= srclen) return;
  uint64_t k = srclen - off < len ? srclen - off : len;
  memcpy(buf, src + off, (size_t)k);
  *got = (size_t)k;
}

/* Text of block k of a big .txt view into out.  Reads only the array and the
** view, which never change: no lock needed for those. */
static MfsStatus txt_block(const TxtIndex *tx, uint64_t k, Buf *out, Err *e) {
  uint64_t r0 = k * tx->block_rows;
  return text_view_rows(out, &tx->v, r0, r0 + tx->block_rows, e);
}

/* The offset of every block of TX, formatting each once; steps aside at PAUSE
** every MFS_TEXT_PAUSE_BLOCKS blocks, as a decode does at its checkpoints. */
static MfsStatus txt_size_blocks(TxtIndex *tx, PauseHook pause, Err *e) {
  Buf blk;
  buf_init(&blk);
  for (uint64_t k = 0; k < tx->nblocks; k++) {
    if (pause.fn != NULL && k % MFS_TEXT_PAUSE_BLOCKS == MFS_TEXT_PAUSE_BLOCKS - 1)
      pause.fn(pause.ctx);
    blk.len = 0;
    if (txt_block(tx, k, &blk, e) != MFS_OK) {
      buf_free(&blk);
      return e->code;
    }
    tx->off[k + 1] = tx->off[k] + blk.len;
  }
  buf_free(&blk);
  return MFS_OK;
}

/* A .txt view: whole when small (or when it must be made at once anyway),
** else its header in out and an index of block offsets, made by formatting every
** block once and keeping only the lengths (caller holds the lock, which is let
** go meanwhile). */
static MfsStatus produce_txt(RTree *t, uint32_t i, Buf *out, Err *e) {
  const NdArray *a = t->nodes[i].value->u.arr;
  TextView v;
  if (text_view_layout(a, &v, e) != MFS_OK) return e->code;
  if (v.nbytes <= MFS_TEXT_WHOLE || v.reorder || v.rows == 0) {
    text_view_header(out, &v);
    return text_view_rows(out, &v, 0, v.rows, e);
  }
  uint64_t row_bytes = v.nbytes / v.rows;
  TxtIndex *tx = calloc(1, sizeof *tx);
  if (tx == NULL) return err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
  tx->v = v;
  tx->block_rows = row_bytes >= MFS_TEXT_BLOCK ? 1 : MFS_TEXT_BLOCK / (row_bytes ? row_bytes : 1);
  tx->nblocks = (v.rows + tx->block_rows - 1) / tx->block_rows;
  tx->have_block = UINT64_MAX;
  tx->off = malloc((size_t)(tx->nblocks + 1) * sizeof *tx->off);
  if (tx->off == NULL) {
    txt_index_free(tx);
    return err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
  }
  text_view_header(out, &v);
  tx->off[0] = out->len;
  /* Sizing formats every block once (4.7 s for 646 MB of text): the lock is let
  ** go meanwhile, so the tree's other files answer; this view's readers wait in
  ** ensure.  The array and the view are never changed, so nothing else is shared. */
  t->x[i].producing = 1;
  pthread_mutex_unlock(&t->mu);
  MfsStatus st = txt_size_blocks(tx, t->pause, e);
  pthread_mutex_lock(&t->mu);
  t->x[i].producing = 0;
  pthread_cond_broadcast(&t->made);
  if (st != MFS_OK) {
    txt_index_free(tx);
    return st;
  }
  t->x[i].tx = tx;
  t->cached += (size_t)(tx->nblocks + 1) * sizeof *tx->off + sizeof *tx;
  return out->oom ? err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory") : MFS_OK;
}

/* Bytes [off, off+len) of a big .txt view, block by block (takes the lock). */
static MfsStatus read_txt(RTree *t, uint32_t i, uint64_t off, void *buf, size_t len,
                          size_t *got, Err *e) {
  MfsStatus st = MFS_OK;
  pthread_mutex_lock(&t->mu);
  const NodeX *x = &t->x[i];
  TxtIndex *tx = x->tx;
  size_t h = 0;
  copy_out(x->data, x->len, off, buf, len, &h);
  *got = h;
  uint64_t pos = off + h;
  while (*got < len && pos < tx->off[tx->nblocks]) {
    /* the block holding pos: the last k with off[k] <= pos */
    uint64_t lo = 0, hi = tx->nblocks;
    while (hi - lo > 1) {
      uint64_t mid = lo + (hi - lo) / 2;
      if (tx->off[mid] <= pos) lo = mid;
      else hi = mid;
    }
    if (tx->have_block != lo) {
      Buf b;
      buf_init(&b);
      st = txt_block(tx, lo, &b, e);
      if (st == MFS_OK && b.len != tx->off[lo + 1] - tx->off[lo])
        st = err_set(e, MFS_EIO, MFS_NO_OFFSET, "array data changed under its text view");
      if (st != MFS_OK) {
        buf_free(&b);
        break;
      }
      t->cached -= tx->blk_len;
      free(tx->blk);
      tx->blk = b.p;
      tx->blk_len = b.len;
      tx->have_block = lo;
      t->cached += tx->blk_len;
    }
    size_t k = 0;
    copy_out(tx->blk, tx->blk_len, pos - tx->off[lo], (char *)buf + *got, len - *got, &k);
    if (k == 0) break;
    *got += k;
    pos += k;
  }
  pthread_mutex_unlock(&t->mu);
  return st;
}

/* Make the bytes of a cached-content file (caller holds the lock; a big .txt
** view lets it go while it sizes its blocks, produce_txt). */
static MfsStatus produce(RTree *t, uint32_t i, Buf *out, Err *e) {
  const RNode *n = &t->nodes[i];
  const Value *v = n->value;
  switch (n->content) {
    case C_META: return make_meta(t, out, e);
    case C_TYPES: make_names_list(t, out, 0); break;
    case C_UNTRUSTED: make_names_list(t, out, 1); break;
    case C_OBJJSON: return make_object_json(t, out, e);
    case C_SUMMARY: return summary_make(t->m, &t->judged, out, e);
    case C_COMPAT: {
      char *s = compat_report_json(t->m, t->compat_target);
      if (s == NULL) return err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "compat report failed");
      buf_puts(out, s);
      free(s);
      break;
    }
    case C_SCALAR:
      if (v == NULL || !text_scalar(out, v, e))
        return err_set(e, MFS_EUNSUPPORTED, MFS_NO_OFFSET, "value has no text form");
      if (e->code != MFS_OK) return e->code;
      buf_putc(out, '\n');
      break;
    case C_CLASS: {
      Buf c;
      buf_init(&c);
      buf_puts(out, class_text(v, &c));
      buf_free(&c);
      buf_putc(out, '\n');
      break;
    }
    case C_TXT: return produce_txt(t, i, out, e);
    case C_JSON: {
      const Value *doc = v;
      if (v->kind == VAL_NDARRAY) doc = t->x[i].view ? t->x[i].view : object_view(t, v);
      if (doc == NULL) return err_set(e, MFS_EIO, MFS_NO_OFFSET, "object array elements are missing");
      return json_container_doc(out, doc, e);
    }
    case C_NPY: {
      size_t len;
      char *h = npy_header(v->u.arr, &len, NULL, e);
      if (h == NULL) return e->code ? e->code : MFS_ENOMEM;
      buf_add(out, h, len);
      free(h);
      break;
    }
    case C_VIEW: return mtx_write(out, v, e);
    case C_COLUMNS: return frame_columns_write(out, v, e);
    case C_CSV: return frame_csv_write(out, v, e);
    case C_ERROR:
      return err_set(e, MFS_EIO, MFS_NO_OFFSET, "%s", t->x[i].msg ? t->x[i].msg : "no data");
    default:
      return err_set(e, MFS_EIO, MFS_NO_OFFSET, "not a file");
  }
  return out->oom ? err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory") : MFS_OK;
}

/* The cached bytes of node i, produced on first use.  Errors are not cached: a
** source that failed once (I/O) may answer later. */
static MfsStatus ensure(RTree *t, uint32_t i, Err *e) {
  pthread_mutex_lock(&t->mu);
  while (t->x[i].producing) pthread_cond_wait(&t->made, &t->mu);
  MfsStatus st = MFS_OK;
  if (!t->x[i].have) {
    Buf b;
    buf_init(&b);
    st = produce(t, i, &b, e);
    if (st == MFS_OK) {
      size_t len;
      char *p = buf_detach(&b, &len);
      if (p == NULL) {
        st = err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
      } else {
        t->x[i].data = p;
        t->x[i].len = len;
        t->x[i].have = 1;
        t->cached += len;
      }
    } else {
      buf_free(&b);
    }
  }
  pthread_mutex_unlock(&t->mu);
  return st;
}

/* Data bytes of a non-object array, checked against what the blob holds. */
static MfsStatus array_nbytes(const NdArray *a, uint64_t *nbytes, Err *e) {
  const Dtype *d = arr_dtype(a);
  int of;
  uint64_t count = ndarray_count(a, &of);
  if (d == NULL || of || (d->itemsize && count > UINT64_MAX / d->itemsize))
    return err_set(e, MFS_ECORRUPT, MFS_NO_OFFSET, "array size cannot be computed");
  *nbytes = count * d->itemsize;
  return MFS_OK;
}

static const RNode *checked(const RTree *t, const RNode *n) {
  return n != NULL && n->index < t->n && &t->nodes[n->index] == n ? n : NULL;
}

MfsStatus render_size(RTree *t, const RNode *n, uint64_t *size, Err *e) {
  if (checked(t, n) == NULL) return err_set(e, MFS_EIO, MFS_NO_OFFSET, "no such entry");
  if (n->kind == RK_LINK) {
    *size = n->target ? strlen(n->target) : 0;
    return MFS_OK;
  }
  if (n->kind == RK_DIR) {
    *size = 0;
    return MFS_OK;
  }
  if (n->content == C_BIN) {
    *size = n->value->u.bytes.len;
    return MFS_OK;
  }
  /* an array whose data cannot be produced (a missing companion file) has no
  ** size: stat says 0 and open fails with the reason, not a header then EIO */
  if (n->content == C_NPY && n->value->u.arr->error != NULL)
    return err_set(e, MFS_EIO, MFS_NO_OFFSET, "%s", n->value->u.arr->error);
  MfsStatus st = ensure(t, n->index, e);
  if (st != MFS_OK) return st;
  *size = t->x[n->index].len;
  if (t->x[n->index].tx != NULL) *size = t->x[n->index].tx->off[t->x[n->index].tx->nblocks];
  if (n->content == C_NPY) {
    uint64_t nb;
    if (array_nbytes(n->value->u.arr, &nb, e) != MFS_OK) return e->code;
    *size += nb;
  }
  return MFS_OK;
}

int render_size_known(RTree *t, const RNode *n, uint64_t *size) {
  if (checked(t, n) == NULL) return 0;
  if (n->kind == RK_FILE) {
    switch (n->content) {
      case C_TXT: case C_JSON: case C_OBJJSON: case C_COMPAT: case C_SUMMARY: case C_VIEW:
      case C_COLUMNS: case C_CSV: {
        pthread_mutex_lock(&t->mu);
        int have = t->x[n->index].have;
        pthread_mutex_unlock(&t->mu);
        if (!have) return 0;
        break;
      }
      default:
        break;
    }
  }
  Err e;
  err_clear(&e);
  return render_size(t, n, size, &e) == MFS_OK;
}

int render_size_costly(RTree *t, const RNode *n) {
  uint64_t size, nb;
  Err e;
  err_clear(&e);
  if (n->kind != RK_FILE || n->content != C_TXT || render_size_known(t, n, &size)) return 0;
  return array_nbytes(n->value->u.arr, &nb, &e) == MFS_OK && nb > MFS_TEXT_WHOLE;
}


static MfsStatus read_npy(RTree *t, const RNode *n, uint64_t off, void *buf, size_t len,
                          size_t *got, Err *e) {
  const NdArray *a = n->value->u.arr;
  if (a->error != NULL) return err_set(e, MFS_EIO, MFS_NO_OFFSET, "%s", a->error);
  uint64_t nb;
  if (array_nbytes(a, &nb, e) != MFS_OK) return e->code;
  if (a->data.len < nb)
    return err_set(e, MFS_EIO, MFS_NO_OFFSET, "array data holds %llu of %llu bytes",
                   (unsigned long long)a->data.len, (unsigned long long)nb);
  const NodeX *x = &t->x[n->index];
  size_t h = 0;
  copy_out(x->data, x->len, off, buf, len, &h);
  *got = h;
  uint64_t pos = off + h;
  if (h == len || pos < x->len) return MFS_OK;
  uint64_t doff = pos - x->len;
  if (doff >= nb) return MFS_OK;
  uint64_t want = len - h;
  if (want > nb - doff) want = nb - doff;
  if (blob_read(&a->data, doff, (char *)buf + h, (size_t)want, e) != MFS_OK) {
    if (e->code == MFS_OK) err_set(e, MFS_EIO, MFS_NO_OFFSET, "array data unreadable");
    return e->code;
  }
  *got = h + (size_t)want;
  return MFS_OK;
}

MfsStatus render_read(RTree *t, const RNode *n, uint64_t off, void *buf, size_t len,
                      size_t *got, Err *e) {
  *got = 0;
  if (checked(t, n) == NULL || n->kind != RK_FILE)
    return err_set(e, MFS_EIO, MFS_NO_OFFSET, "not a file");
  if (n->content == C_BIN) {
    const Blob *b = &n->value->u.bytes;
    if (off >= b->len) return MFS_OK;
    uint64_t want = b->len - off < len ? b->len - off : len;
    if (blob_read(b, off, buf, (size_t)want, e) != MFS_OK) return e->code ? e->code : MFS_EIO;
    *got = (size_t)want;
    return MFS_OK;
  }
  MfsStatus st = ensure(t, n->index, e);
  if (st != MFS_OK) return st;
  if (n->content == C_NPY) return read_npy(t, n, off, buf, len, got, e);
  if (t->x[n->index].tx != NULL) return read_txt(t, n->index, off, buf, len, got, e);
  copy_out(t->x[n->index].data, t->x[n->index].len, off, buf, len, got);
  return MFS_OK;
}

/* The source bytes N reads lazily, which render_sum sums; NULL when none. */
static const Blob *lazy_blob(RTree *t, const RNode *n) {
  if (checked(t, n) == NULL || n->kind != RK_FILE) return NULL;
  const Blob *b = NULL;
  if (n->content == C_BIN) b = &n->value->u.bytes;
  if (n->content == C_NPY) b = &n->value->u.arr->data;
  if (n->content == C_TXT) {                      /* a big view reads its array on */
    pthread_mutex_lock(&t->mu);
    int streamed = t->x[n->index].tx != NULL;
    pthread_mutex_unlock(&t->mu);
    if (streamed) b = &n->value->u.arr->data;
  }
  return b == NULL || b->mem != NULL || b->src == NULL ? NULL : b;
}

MfsStatus render_sum(RTree *t, const RNode *n, Err *e) {
  const Blob *b = lazy_blob(t, n);
  if (b == NULL) return MFS_OK;
  MfsStatus st = source_sum(b->src, b->off, b->len, e);
  if (st == MFS_OK) {
    pthread_mutex_lock(&t->mu);
    t->x[n->index].summed = 1;
    pthread_mutex_unlock(&t->mu);
  }
  return st;
}

/* A file of at most MFS_PROVE_MAX bytes was summed whole when opened: its sums
** read nothing more.  Past it, a range is read and summed the first time. */
int render_sum_costly(RTree *t, const RNode *n) {
  const Blob *b = lazy_blob(t, n);
  if (b == NULL) return 0;
  pthread_mutex_lock(&t->mu);
  int summed = t->x[n->index].summed;
  pthread_mutex_unlock(&t->mu);
  return !summed && (b->src->size > MFS_PROVE_MAX || (t->m != NULL && t->m->size > MFS_PROVE_MAX));
}

size_t render_memory(const RTree *t) {
  RTree *w = (RTree *)t;   /* the lock is not part of the tree's value */
  pthread_mutex_lock(&w->mu);
  size_t cached = t->cached;
  pthread_mutex_unlock(&w->mu);
  size_t m = sizeof *t + (size_t)t->cap * (sizeof(RNode) + sizeof(NodeX)) +
             t->nnames * sizeof(NameSlot) + t->nstems * sizeof(StemSlot) +
             t->ninfo * sizeof(VInfo) + arena_bytes(t->arena) + cached;
  if (t->m != NULL && t->m->vs.arena != NULL) m += arena_bytes(t->m->vs.arena);
  return m;
}
