/*
** archive.c -- the members of an archive (zip, 7z) as a tree: each member identified
** by its bytes like a file (identify.h, SPEC 1), a model member decoded as a model of
** its own and renumbered into the archive's ids, any other member served as the file
** it is (VF_MEMBER), member folders as folders.
**
** It must never map a member name to a host path (names are attacker data and only
** become dict keys), never open archives nested deeper than MFS_MAX_ARCHIVE_DEPTH,
** and keep the members' graphs together under MFS_MAX_GRAPH_BYTES.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "modelfs/archive.h"
#include "modelfs/decode.h"
#include "modelfs/identify.h"
#include "modelfs/limits.h"

/* ---- keeping a member's Model alive ------------------------------------------------ */

typedef struct Holder {
  Source base;
  Model *sub;
} Holder;

static MfsStatus holder_read(Source *s, uint64_t off, void *buf, size_t len, size_t *got, Err *e) {
  (void)s; (void)off; (void)buf; (void)len; (void)e;
  *got = 0;
  return MFS_OK;
}

static void holder_destroy(Source *s) {
  model_free(((Holder *)s)->sub);
  free(s);
}

static const SourceOps holder_ops = {holder_read, holder_destroy, NULL};

static int keep_model(Model *m, Model *sub) {
  Holder *h = calloc(1, sizeof *h);
  if (h == NULL) return 0;
  h->sub = sub;
  source_init(&h->base, &holder_ops, "zip member", 0);
  arena_keep_source(m->vs.arena, &h->base);
  source_unref(&h->base);
  return 1;
}

/* ---- renumbering a member's graph into the parent's ids ----------------------------- */

typedef struct PtrSet {
  const void **slots;
  size_t n, cap;
} PtrSet;

static int ptrset_add(PtrSet *s, const void *p) {   /* 1 added, 0 present, -1 OOM */
  if ((s->n + 1) * 2 > s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 256;
    const void **ns = calloc(cap, sizeof *ns);
    if (ns == NULL) return -1;
    for (size_t i = 0; i < s->cap; i++) {
      if (s->slots[i] == NULL) continue;
      size_t k = ((uintptr_t)s->slots[i] >> 4) & (cap - 1);
      while (ns[k]) k = (k + 1) & (cap - 1);
      ns[k] = s->slots[i];
    }
    free(s->slots);
    s->slots = ns;
    s->cap = cap;
  }
  size_t k = ((uintptr_t)p >> 4) & (s->cap - 1);
  while (s->slots[k]) {
    if (s->slots[k] == p) return 0;
    k = (k + 1) & (s->cap - 1);
  }
  s->slots[k] = p;
  s->n++;
  return 1;
}

typedef struct Stack {
  Value **v;
  size_t n, cap;
} Stack;

static int push(Stack *s, Value *v) {
  if (v == NULL) return 1;
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 256;
    Value **nv = realloc(s->v, cap * sizeof *nv);
    if (nv == NULL) return 0;
    s->v = nv;
    s->cap = cap;
  }
  s->v[s->n++] = v;
  return 1;
}

static int push_children(Stack *s, Value *v) {
  int ok = 1;
  switch (v->kind) {
    case VAL_LIST: case VAL_TUPLE: case VAL_SET: case VAL_FROZENSET:
      for (size_t i = 0; i < v->u.seq.n; i++) ok &= push(s, v->u.seq.items[i]);
      break;
    case VAL_DICT:
      for (size_t i = 0; i < v->u.dict.n; i++)
        ok &= push(s, v->u.dict.keys[i]) & push(s, v->u.dict.vals[i]);
      break;
    case VAL_OBJECT: {
      Object *o = v->u.obj;
      ok = push(s, o->callable) & push(s, o->args) & push(s, o->kwargs) & push(s, o->state) &
           push(s, o->items) & push(s, o->dictitems);
      break;
    }
    case VAL_NDARRAY:
      ok = push(s, v->u.arr->dtype) & push(s, v->u.arr->cls) & push(s, v->u.arr->objects);
      break;
    case VAL_DTYPE:
      for (size_t i = 0; i < v->u.dtype->nfields; i++) ok &= push(s, v->u.dtype->fields[i].dtype);
      ok &= push(s, v->u.dtype->sub_base);
      break;
    case VAL_SCALAR:
      ok = push(s, v->u.scalar->dtype) & push(s, v->u.scalar->object);
      break;
    default: break;
  }
  return ok;
}

/* Give every value reachable from roots a fresh id of the parent's set. */
static MfsStatus renumber(Model *m, Value **roots, size_t nroots) {
  PtrSet seen = {NULL, 0, 0};
  Stack st = {NULL, 0, 0};
  MfsStatus rc = MFS_OK;
  for (size_t i = 0; i < nroots; i++) push(&st, roots[i]);
  while (st.n > 0 && rc == MFS_OK) {
    Value *v = st.v[--st.n];
    int added = ptrset_add(&seen, v);
    if (added < 0) rc = err_set(&m->err, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
    if (added <= 0) continue;
    if (m->vs.next_id >= MFS_MAX_VALUES)
      rc = err_set(&m->err, MFS_ELIMIT, MFS_NO_OFFSET, "more than %u values", MFS_MAX_VALUES);
    v->id = ++m->vs.next_id;
    if (!push_children(&st, v)) rc = err_set(&m->err, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
  }
  free(seen.slots);
  free(st.v);
  return rc;
}

/* Decode a model member; returns its root (possibly partial) or NULL.  Each
** member's decoder bounds only its own graph, so an archive of many members
** would hold many times MFS_MAX_GRAPH_BYTES: a kept member's arena size is
** charged to the archive's arena (reserved, never touched: address space, not
** memory), so the bound -- and the mount's cache, which reads the arena's size
** -- see the whole archive.  The member that would cross the bound is dropped
** (the ones before stay browsable) and the walk stops with MFS_ELIMIT. */
static Value *member_model(Model *m, Source *ms, const char *label, const char *name,
                           int first, const char *method) {
  Model *sub = model_decode_member(ms, label, m);
  if (sub == NULL) {
    err_set(&m->err, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
    return NULL;
  }
  size_t bytes = arena_bytes(sub->vs.arena);
  if (arena_bytes(m->vs.arena) + bytes > MFS_MAX_GRAPH_BYTES) {
    model_free(sub);
    err_set(&m->err, MFS_ELIMIT, MFS_NO_OFFSET,
            "member %s: the archive's members decode to more than %llu MiB", name,
            (unsigned long long)(MFS_MAX_GRAPH_BYTES >> 20));
    return NULL;
  }
  if (arena_alloc(m->vs.arena, bytes) == NULL || !keep_model(m, sub)) {
    model_free(sub);
    err_set(&m->err, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
    return NULL;
  }
  Value *roots[2] = {sub->root, sub->globals};
  if (renumber(m, roots, 2) != MFS_OK) return NULL;
  for (size_t k = 0; k < sub->globals->u.seq.n; k++)
    seq_push(&m->vs, m->globals, sub->globals->u.seq.items[k]);
  if (first) {
    m->format = sub->format;
    m->protocol = sub->protocol;
    m->compression = method;
    if (strcmp(sub->compression, "none") != 0) model_set_meta_str(m, "member_compression", sub->compression);
  }
  if (!sub->ok)
    err_set(&m->err, sub->err.code, sub->err.offset, "member %s: %s", name, sub->err.msg);
  if (sub->root != NULL) return sub->root;
  return value_none(&m->vs);
}


/* ---- placing members ------------------------------------------------------------------ */

MfsStatus archive_begin(ArchiveBuild *ab, Model *m, const char *container) {
  ab->m = m;
  ab->models = 0;
  m->root = value_new(&m->vs, VAL_DICT);
  if (m->root == NULL) return m->err.code;
  m->root->flags |= VF_MEMBER;
  model_set_meta_str(m, "container", container);
  if (m->depth >= MFS_MAX_ARCHIVE_DEPTH)
    return err_set(&m->err, MFS_ELIMIT, MFS_NO_OFFSET,
                   "archives nested more than %d deep are not opened", MFS_MAX_ARCHIVE_DEPTH);
  return MFS_OK;
}

/* The folder dict named by path[0..n) under dir, made when missing; NULL when a
** member already holds that name (the caller then keys the member by its whole path). */
static Value *folder(Model *m, Value *dir, const char *name, size_t n) {
  char key[1024];
  if (n >= sizeof key) return NULL;
  memcpy(key, name, n);
  key[n] = '\0';
  Value *f = dict_get_str(dir, key);
  if (f != NULL) return f->kind == VAL_DICT && (f->flags & VF_MEMBER) ? f : NULL;
  Value *k = value_str(&m->vs, name, n);
  f = k ? value_new(&m->vs, VAL_DICT) : NULL;
  if (f == NULL) return NULL;
  f->flags |= VF_MEMBER;
  return dict_put(&m->vs, dir, k, f) == MFS_OK ? f : NULL;
}

/* Put val at path: "inner/model.pkl" is model.pkl in folder inner.  Empty and "."
** components are skipped; a clash with a member's name keeps the whole path as key. */
static MfsStatus place(Model *m, const char *path, Value *val) {
  Value *dir = m->root;
  const char *p = path, *leaf = path;
  for (const char *slash; (slash = strchr(p, '/')) != NULL; p = slash + 1) {
    size_t n = (size_t)(slash - p);
    if (n == 0 || (n == 1 && p[0] == '.')) continue;
    Value *f = folder(m, dir, p, n);
    if (f == NULL) {
      if (m->err.code == MFS_ENOMEM) return MFS_ENOMEM;
      dir = m->root, leaf = path;
      break;
    }
    dir = f, leaf = slash + 1;
  }
  if (*leaf == '\0') return MFS_OK;   /* a directory entry */
  if (dict_get_str(dir, leaf) != NULL) dir = m->root, leaf = path;
  Value *key = value_str(&m->vs, leaf, strlen(leaf));
  if (key == NULL) return m->err.code ? m->err.code : MFS_ENOMEM;
  return dict_put(&m->vs, dir, key, val);
}

/* A compressed member that is itself an archive is served as bytes, never opened:
** an archive is read by offset and a stream has none (and zip(gzip(zip(...)))
** would nest without bound). */
static int compressed_archive(const Ident *id) {
  static const char *const archives[] = {"zip", "skops", "pytorch", "7z", NULL};
  if (strcmp(id->compression, "none") == 0 || id->format == NULL) return 0;
  for (int i = 0; archives[i]; i++)
    if (strcmp(id->format->name, archives[i]) == 0) return 1;
  return 0;
}

MfsStatus archive_add(ArchiveBuild *ab, const char *path, Source *ms, const char *why,
                      const char *method) {
  Model *m = ab->m;
  char label[1024];
  snprintf(label, sizeof label, "%s:%s", m->path, path);
  Value *val = NULL;
  if (ms == NULL) {
    err_set(&m->err, MFS_EUNSUPPORTED, MFS_NO_OFFSET, "member %s: %s", path, why);
    val = value_none(&m->vs);
  } else {
    Ident id;
    const char *base = strrchr(path, '/');
    identify_source(ms, base ? base + 1 : path, &id);
    if (id.kind == IDENT_UNREADABLE) {
      err_set(&m->err, MFS_EIO, MFS_NO_OFFSET, "member %s: %s", path, id.what);
      val = value_none(&m->vs);
    } else if (ident_is_model(&id) && !compressed_archive(&id)) {
      val = member_model(m, ms, label, path, ab->models == 0, method);
      ab->models++;
      /* a model member is a directory, as a model file is in the mount */
      if (val && val->kind >= VAL_LIST && val->kind <= VAL_DICT) val->flags |= VF_MEMBER;
    } else {
      val = value_bytes_src(&m->vs, VAL_BYTES, ms, 0, ms->size);
      if (val) val->flags |= VF_MEMBER;
    }
  }
  if (val == NULL) return m->err.code ? m->err.code : MFS_ENOMEM;
  return place(m, path, val);
}
