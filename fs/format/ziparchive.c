/*
** ziparchive.c -- the "zip" Format: a zip archive that is not a skops file (people
** zip large pickles to publish them) shown as a dict of its members, each model
** member decoded as a model of its own.
**
** libzip reads the directory (through a zip_source over our Source, so a zip inside
** a compressed stream works too); member bytes are then served by offset: a stored
** member is a slice of the archive, a deflated one a streaming inflate over that
** slice with restart points.  Other methods (bzip2, lzma, ...) are read into memory
** when small.  It must never extract anything to a host path: member names are
** attacker data and only ever become dict keys.  A member that is itself a zip
** (also behind compression) is shown as bytes, never recursed into, and the
** members' graphs together stay under MFS_MAX_GRAPH_BYTES.
**
** A member's Model is decoded by model_decode_source and kept alive by the parent's
** arena (a holder Source); its values are renumbered into the parent's id space so
** ids stay unique within the archive's graph.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>
#include "modelfs/limits.h"
#include "modelfs/decode.h"
#include "modelfs/identify.h"

/* ---- libzip over a Source ------------------------------------------------------ */

typedef struct ZipIo {
  Source *src;
  uint64_t pos;
  uint64_t last_read;      /* offset of the last read libzip asked for */
  zip_error_t error;
} ZipIo;

static zip_int64_t zipio_cb(void *ud, void *data, zip_uint64_t len, zip_source_cmd_t cmd) {
  ZipIo *io = ud;
  switch (cmd) {
    case ZIP_SOURCE_OPEN: io->pos = 0; return 0;
    case ZIP_SOURCE_READ: {
      size_t got = 0;
      Err e;
      err_clear(&e);
      if (io->src->ops->read(io->src, io->pos, data, (size_t)len, &got, &e) != MFS_OK) {
        zip_error_set(&io->error, ZIP_ER_READ, EIO);
        return -1;
      }
      io->last_read = io->pos;
      io->pos += got;
      return (zip_int64_t)got;
    }
    case ZIP_SOURCE_CLOSE: return 0;
    case ZIP_SOURCE_STAT: {
      zip_stat_t *st = data;
      zip_stat_init(st);
      st->size = io->src->size;
      st->valid |= ZIP_STAT_SIZE;
      return sizeof *st;
    }
    case ZIP_SOURCE_ERROR: return zip_error_to_data(&io->error, data, len);
    case ZIP_SOURCE_SEEK: {
      zip_int64_t np = zip_source_seek_compute_offset(io->pos, io->src->size, data, len, &io->error);
      if (np < 0) return -1;
      io->pos = (uint64_t)np;
      return 0;
    }
    case ZIP_SOURCE_TELL: return (zip_int64_t)io->pos;
    case ZIP_SOURCE_FREE: return 0;
    case ZIP_SOURCE_SUPPORTS:
      return zip_source_make_command_bitmap(ZIP_SOURCE_OPEN, ZIP_SOURCE_READ, ZIP_SOURCE_CLOSE,
                                            ZIP_SOURCE_STAT, ZIP_SOURCE_ERROR, ZIP_SOURCE_FREE,
                                            ZIP_SOURCE_SEEK, ZIP_SOURCE_TELL, ZIP_SOURCE_SUPPORTS, -1);
    default:
      zip_error_set(&io->error, ZIP_ER_OPNOTSUPP, 0);
      return -1;
  }
}

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

static const SourceOps holder_ops = {holder_read, holder_destroy};

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

/* ---- members ------------------------------------------------------------------------- */

/* Where libzip found the member's data: the offset of its first read, checked
** against the bytes libzip returned. */
static int member_data_offset(zip_t *za, ZipIo *io, zip_uint64_t i, uint64_t comp, uint64_t *off) {
  zip_file_t *zf = zip_fopen_index(za, i, ZIP_FL_COMPRESSED);
  if (zf == NULL) return 0;
  uint8_t a[256], b[256];
  size_t want = comp < sizeof a ? (size_t)comp : sizeof a;
  zip_int64_t n = zip_fread(zf, a, want);
  uint64_t guess = io->last_read;
  zip_fclose(zf);
  if (n != (zip_int64_t)want) return 0;
  Err e;
  err_clear(&e);
  if (guess > io->src->size || comp > io->src->size - guess) return 0;
  if (source_read(io->src, guess, b, want, &e) != MFS_OK || memcmp(a, b, want) != 0) return 0;
  *off = guess;
  return 1;
}

/* A Source over member i, or NULL with a reason. */
static Source *member_source(zip_t *za, ZipIo *io, zip_uint64_t i, const zip_stat_t *st,
                             const char *label, char *why, size_t cap) {
  if (st->encryption_method != ZIP_EM_NONE) {
    snprintf(why, cap, "member is encrypted");
    return NULL;
  }
  if (st->size > MFS_MAX_ZIP_MEMBER_SIZE) {
    snprintf(why, cap, "member of %llu bytes is over the limit", (unsigned long long)st->size);
    return NULL;
  }
  if (st->size == 0) return source_from_memory("", 0, label);
  uint64_t off;
  int found = (st->comp_method == ZIP_CM_STORE || st->comp_method == ZIP_CM_DEFLATE) &&
              member_data_offset(za, io, i, st->comp_size, &off);
  if (found && st->comp_method == ZIP_CM_STORE) {
    if (st->comp_size != st->size) {
      snprintf(why, cap, "stored member sizes disagree");
      return NULL;
    }
    return source_slice(io->src, off, st->size, label);
  }
  if (found) {
    Source *raw = source_slice(io->src, off, st->comp_size, label);
    Err e;
    err_clear(&e);
    Source *inf = raw ? source_decompress(raw, "deflate", &e) : NULL;
    source_unref(raw);
    if (inf == NULL) {
      snprintf(why, cap, "%s", e.msg);
      return NULL;
    }
    /* The directory's size bounds the member: a longer stream is cut there and a
    ** shorter one reads as truncated. */
    Source *s = source_slice(inf, 0, st->size, label);
    source_unref(inf);
    return s;
  }
  if (st->size > MFS_MAX_ZIP_MEMBER_IN_MEMORY) {
    snprintf(why, cap, "member compressed with method %d is too large to read into memory",
             (int)st->comp_method);
    return NULL;
  }
  zip_file_t *zf = zip_fopen_index(za, i, 0);
  uint8_t *buf = malloc((size_t)st->size);
  zip_int64_t n = zf && buf ? zip_fread(zf, buf, st->size) : -1;
  if (n != (zip_int64_t)st->size) {
    snprintf(why, cap, "cannot read member: %s", zf ? zip_file_strerror(zf) : zip_strerror(za));
    if (zf) zip_fclose(zf);
    free(buf);
    return NULL;
  }
  zip_fclose(zf);
  Source *s = source_from_memory(buf, (size_t)st->size, label);
  free(buf);
  return s;
}

/* Decode a model member; returns its root (possibly partial) or NULL.  Each
** member's decoder bounds only its own graph, so an archive of many members
** would hold many times MFS_MAX_GRAPH_BYTES: a kept member's arena size is
** charged to the archive's arena (reserved, never touched: address space, not
** memory), so the bound -- and the mount's cache, which reads the arena's size
** -- see the whole archive.  The member that would cross the bound is dropped
** (the ones before stay browsable) and the walk stops with MFS_ELIMIT. */
static Value *member_model(Model *m, Source *ms, const char *label, const char *name,
                           int *first, const zip_stat_t *st) {
  Model *sub = model_decode_member(ms, label, m->depth + 1);
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
  if (*first) {
    *first = 0;
    m->format = sub->format;
    m->protocol = sub->protocol;
    m->compression = st->comp_method == ZIP_CM_STORE ? "store" : "deflate";
    if (strcmp(sub->compression, "none") != 0) model_set_meta_str(m, "member_compression", sub->compression);
  }
  if (!sub->ok)
    err_set(&m->err, sub->err.code, sub->err.offset, "member %s: %s", name, sub->err.msg);
  if (sub->root != NULL) return sub->root;
  return value_none(&m->vs);
}

/* A compressed member whose content is itself a zip: shown as bytes, never
** decoded (libzip needs the archive's size, which a stream does not know). */
static int compressed_zip(Source *ms, const Ident *id) {
  (void)ms;
  return strcmp(id->compression, "none") != 0 && id->format != NULL &&
         strcmp(id->format->name, "zip") == 0;
}

static MfsStatus add_member(Model *m, zip_t *za, ZipIo *io, zip_uint64_t i, int *first) {
  zip_stat_t st;
  if (zip_stat_index(za, i, 0, &st) != 0 || !(st.valid & ZIP_STAT_NAME))
    return err_set(&m->err, MFS_ECORRUPT, MFS_NO_OFFSET, "zip member %llu: %s",
                   (unsigned long long)i, zip_strerror(za));
  size_t nlen = strlen(st.name);
  if (nlen > 0 && st.name[nlen - 1] == '/') return MFS_OK;   /* directory entry */
  Value *key = value_str(&m->vs, st.name, nlen);
  if (key == NULL) return m->err.code;
  char label[1024], why[600] = "";
  snprintf(label, sizeof label, "%s:%s", m->path, st.name);
  Source *ms = member_source(za, io, i, &st, label, why, sizeof why);
  Value *val = NULL;
  if (ms == NULL) {
    err_set(&m->err, MFS_EUNSUPPORTED, MFS_NO_OFFSET, "member %s: %s", st.name, why);
    val = value_none(&m->vs);
  } else {
    Ident id;
    identify_source(ms, st.name, &id);
    if (ident_is_model(&id) && !compressed_zip(ms, &id))
      val = member_model(m, ms, label, st.name, first, &st);
    else
      val = value_bytes_src(&m->vs, VAL_BYTES, ms, 0, st.size);
    source_unref(ms);
  }
  if (val == NULL) return m->err.code ? m->err.code : MFS_ENOMEM;
  return dict_put(&m->vs, m->root, key, val);
}

static int sniff(Source *src, const uint8_t *head, size_t n) {
  (void)src;
  return n >= 4 && (memcmp(head, "PK\x03\x04", 4) == 0 || memcmp(head, "PK\x05\x06", 4) == 0);
}

static MfsStatus decode(Model *m, Source *src) {
  m->root = value_new(&m->vs, VAL_DICT);
  if (m->root == NULL) return m->err.code;
  model_set_meta_str(m, "container", "zip");
  if (m->depth >= MFS_MAX_ARCHIVE_DEPTH)
    return err_set(&m->err, MFS_ELIMIT, MFS_NO_OFFSET,
                   "archives nested more than %d deep are not opened", MFS_MAX_ARCHIVE_DEPTH);
  ZipIo io;
  memset(&io, 0, sizeof io);
  io.src = src;
  zip_error_init(&io.error);
  zip_error_t zerr;
  zip_error_init(&zerr);
  zip_source_t *zs = zip_source_function_create(zipio_cb, &io, &zerr);
  zip_t *za = zs ? zip_open_from_source(zs, ZIP_RDONLY, &zerr) : NULL;
  if (za == NULL) {
    MfsStatus st = err_set(&m->err, MFS_ECORRUPT, MFS_NO_OFFSET, "not a readable zip archive: %s",
                           zip_error_strerror(&zerr));
    if (zs) zip_source_free(zs);
    zip_error_fini(&zerr);
    zip_error_fini(&io.error);
    return st;
  }
  zip_int64_t n = zip_get_num_entries(za, 0);
  MfsStatus st = MFS_OK;
  if (n < 0 || n > MFS_MAX_ZIP_MEMBERS)
    st = err_set(&m->err, MFS_ELIMIT, MFS_NO_OFFSET, "zip archive has %lld members",
                 (long long)n);
  int first = 1;
  for (zip_int64_t i = 0; i < n && st == MFS_OK; i++) {
    st = add_member(m, za, &io, (zip_uint64_t)i, &first);
    /* A broken member is reported but the others are still shown. */
    if (st != MFS_OK && st != MFS_ENOMEM && st != MFS_ELIMIT) st = MFS_OK;
  }
  zip_discard(za);
  zip_error_fini(&zerr);
  zip_error_fini(&io.error);
  return st != MFS_OK ? st : m->err.code;
}

const Format format_ziparchive = {"zip", sniff, decode};
