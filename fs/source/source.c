/*
** source.c -- what every Source shares: reference counts, exact reads, the
** in-memory and slice sources, and the Reader cursor decoders use.
**
** The Reader is the only place the decoders' bounds are checked against the
** bytes that exist: every take/skip/copy goes through here.
*/
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include "modelfs/limits.h"
#include "modelfs/source.h"

void source_init(Source *s, const SourceOps *ops, const char *name, uint64_t size) {
  s->ops = ops;
  s->size = size;
  s->refs = 1;
  s->name = strdup(name ? name : "?");
}

Source *source_ref(Source *s) {
  if (s) __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
  return s;
}

void source_unref(Source *s) {
  if (s == NULL) return;
  if (__atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
  char *name = s->name;
  s->ops->destroy(s);
  free(name);
}

/* The bytes simply ended at off: the one wording of it, which err_is_end_of_data
** recognises (a source with a reason of its own, a cut compressed stream, says that). */
static const char END_OF_DATA[] = ": unexpected end of data";

static MfsStatus end_of_data(Err *e, uint64_t off) {
  return err_set(e, MFS_ETRUNC, off, "offset %llu%s", (unsigned long long)off, END_OF_DATA);
}

int err_is_end_of_data(const Err *e) {
  size_t n = strlen(e->msg), k = sizeof END_OF_DATA - 1;
  return e->code == MFS_ETRUNC && n >= k && strcmp(e->msg + n - k, END_OF_DATA) == 0;
}

MfsStatus source_read(Source *s, uint64_t off, void *buf, size_t len, Err *e) {
  size_t got = 0;
  MfsStatus st = s->ops->read(s, off, buf, len, &got, e);
  if (st != MFS_OK) return st;
  if (got < len)
    return end_of_data(e, off + got);
  return MFS_OK;
}

void source_tally_add(SourceTally *t, uint64_t reads, uint64_t bytes) {
  for (; t != NULL; t = t->up) {
    __atomic_add_fetch(&t->reads, reads, __ATOMIC_RELAXED);
    __atomic_add_fetch(&t->bytes, bytes, __ATOMIC_RELAXED);
  }
}

void source_tally_get(const SourceTally *t, uint64_t *reads, uint64_t *bytes) {
  *reads = __atomic_load_n(&t->reads, __ATOMIC_RELAXED);
  *bytes = __atomic_load_n(&t->bytes, __ATOMIC_RELAXED);
}

MfsStatus source_sum(Source *s, uint64_t off, uint64_t len, Err *e) {
  return s->ops->sum ? s->ops->sum(s, off, len, e) : MFS_OK;
}

/* ---- memory ---------------------------------------------------------------- */

typedef struct MemSource {
  Source base;
  uint8_t *data;
} MemSource;

static MfsStatus mem_read(Source *s, uint64_t off, void *buf, size_t len, size_t *got, Err *e) {
  (void)e;
  MemSource *m = (MemSource *)s;
  if (off >= s->size) {
    *got = 0;
    return MFS_OK;
  }
  size_t n = s->size - off < len ? (size_t)(s->size - off) : len;
  memcpy(buf, m->data + off, n);
  *got = n;
  return MFS_OK;
}

static void mem_destroy(Source *s) {
  free(((MemSource *)s)->data);
  free(s);
}

static const SourceOps mem_ops = {mem_read, mem_destroy, NULL};

Source *source_from_memory(const void *data, size_t len, const char *name) {
  MemSource *m = calloc(1, sizeof *m);
  if (m == NULL) return NULL;
  m->data = malloc(len ? len : 1);
  if (m->data == NULL) {
    free(m);
    return NULL;
  }
  if (len) memcpy(m->data, data, len);
  source_init(&m->base, &mem_ops, name, len);
  return &m->base;
}

/* ---- slice ----------------------------------------------------------------- */

typedef struct SliceSource {
  Source base;
  Source *inner;
  uint64_t start;
} SliceSource;

static MfsStatus slice_read(Source *s, uint64_t off, void *buf, size_t len, size_t *got, Err *e) {
  SliceSource *sl = (SliceSource *)s;
  if (off >= s->size) {
    *got = 0;
    return MFS_OK;
  }
  if (len > s->size - off) len = (size_t)(s->size - off);
  return sl->inner->ops->read(sl->inner, sl->start + off, buf, len, got, e);
}

static void slice_destroy(Source *s) {
  source_unref(((SliceSource *)s)->inner);
  free(s);
}

static MfsStatus slice_sum(Source *s, uint64_t off, uint64_t len, Err *e) {
  SliceSource *sl = (SliceSource *)s;
  if (off >= s->size) return MFS_OK;
  if (len > s->size - off) len = s->size - off;
  return source_sum(sl->inner, sl->start + off, len, e);
}

static const SourceOps slice_ops = {slice_read, slice_destroy, slice_sum};

Source *source_slice(Source *inner, uint64_t off, uint64_t len, const char *name) {
  SliceSource *sl = calloc(1, sizeof *sl);
  if (sl == NULL) return NULL;
  sl->inner = source_ref(inner);
  sl->start = off;
  source_init(&sl->base, &slice_ops, name, len);
  return &sl->base;
}

/* ---- reader ---------------------------------------------------------------- */

MfsStatus reader_init(Reader *r, Source *src, uint64_t start, Err *e) {
  memset(r, 0, sizeof *r);
  r->src = src;
  r->pos = start;
  r->buf_off = start;
  r->win = READER_MIN;
  r->err = e;
  r->buf = malloc(READER_BUF);
  if (r->buf == NULL) return err_set(e, MFS_ENOMEM, start, "out of memory");
  return MFS_OK;
}

void reader_done(Reader *r) {
  free(r->buf);
  r->buf = NULL;
}

/* What buf should hold after a fill that keeps keep bytes and needs n: the
** window after what is kept, ending on a READER_MIN boundary when that still
** gives n.  A filesystem below reads whole pages: a read ending inside one
** would have it fetched again by the next (over sshfs, twice the bytes). */
static size_t fill_target(const Reader *r, size_t keep, size_t n) {
  size_t target = keep + r->win;
  if (target > READER_BUF) target = READER_BUF;
  size_t over = (size_t)((r->buf_off + target) % READER_MIN);
  if (target - over >= n && target - over > keep) target -= over;
  return target > n ? target : n;
}

/* Make at least n bytes from pos available in buf (fewer only at end of data). */
static MfsStatus reader_fill(Reader *r, size_t n, size_t *avail) {
  uint64_t have_end = r->buf_off + r->buf_len;
  if (r->pos >= r->buf_off && r->pos + n <= have_end) {
    *avail = (size_t)(have_end - r->pos);
    return MFS_OK;
  }
  size_t keep = 0;
  if (r->pos >= r->buf_off && r->pos < have_end) {
    keep = (size_t)(have_end - r->pos);
    memmove(r->buf, r->buf + (r->pos - r->buf_off), keep);
  }
  r->buf_off = r->pos;
  r->buf_len = keep;
  size_t target = fill_target(r, keep, n);
  while (r->buf_len < target) {
    size_t got = 0;
    MfsStatus st = r->src->ops->read(r->src, r->buf_off + r->buf_len, r->buf + r->buf_len,
                                     target - r->buf_len, &got, r->err);
    if (st != MFS_OK) return st;
    if (got == 0) break;
    r->buf_len += got;
    if (r->buf_len >= n) break;
  }
  /* Reading on: a window read whole makes the next one twice as large; a first
  ** read cut short at its page's end does not (the bound in source.h). */
  if (target - keep >= r->win && r->win < READER_BUF) r->win *= 2;
  *avail = r->buf_len;
  return MFS_OK;
}

MfsStatus reader_peek(Reader *r, size_t n, const uint8_t **p, size_t *got) {
  if (n > READER_BUF) n = READER_BUF;
  size_t avail;
  MfsStatus st = reader_fill(r, n, &avail);
  if (st != MFS_OK) return st;
  *p = r->buf + (r->pos - r->buf_off);
  *got = avail < n ? avail : n;
  return MFS_OK;
}

MfsStatus reader_take_slow(Reader *r, size_t n, const uint8_t **p) {
  if (n > READER_BUF)
    return err_set(r->err, MFS_ELIMIT, r->pos, "offset %llu: read of %zu bytes too large",
                   (unsigned long long)r->pos, n);
  size_t got;
  MfsStatus st = reader_peek(r, n, p, &got);
  if (st != MFS_OK) return st;
  if (got < n)
    return end_of_data(r->err, r->pos + got);
  r->pos += n;
  return MFS_OK;
}

MfsStatus reader_copy(Reader *r, void *dst, uint64_t n) {
  uint8_t *out = dst;
  if (r->pos >= r->buf_off && r->pos < r->buf_off + r->buf_len &&
      n <= r->buf_off + r->buf_len - r->pos) {   /* all in the buffer: one copy */
    memcpy(out, r->buf + (r->pos - r->buf_off), (size_t)n);
    r->pos += n;
    return MFS_OK;
  }
  if (r->pos >= r->buf_off && r->pos < r->buf_off + r->buf_len) {   /* what is buffered */
    size_t k = (size_t)(r->buf_off + r->buf_len - r->pos);
    memcpy(out, r->buf + (r->pos - r->buf_off), k);
    out += k;
    n -= k;
    r->pos += k;
  }
  /* The rest straight from the source: a long string goes into its place with
  ** no pass through the buffer. */
  MfsStatus st = source_read(r->src, r->pos, out, (size_t)n, r->err);
  if (st == MFS_OK) r->pos += n;
  return st;
}

/* Produce a source of unknown size up to end (exclusive) by reading its last byte. */
static MfsStatus skip_to(Reader *r, uint64_t end) {
  Source *s = r->src;
  uint8_t last;
  size_t got = 0;
  MfsStatus st = s->ops->read(s, end - 1, &last, 1, &got, r->err);
  if (st != MFS_OK) return st;
  if (got == 0) {
    uint64_t size = __atomic_load_n(&s->size, __ATOMIC_ACQUIRE);
    if (size == SOURCE_SIZE_UNKNOWN || size < r->pos) size = r->pos;
    return end_of_data(r->err, size);
  }
  return MFS_OK;
}

MfsStatus reader_skip(Reader *r, uint64_t n) {
  Source *s = r->src;
  if (s->size != SOURCE_SIZE_UNKNOWN) {
    if (r->pos > s->size || n > s->size - r->pos)
      return err_set(r->err, MFS_ETRUNC, s->size,
                     "offset %llu: %llu bytes declared but only %llu remain",
                     (unsigned long long)r->pos, (unsigned long long)n,
                     (unsigned long long)(r->pos <= s->size ? s->size - r->pos : 0));
    r->pos += n;
    /* Stepped over a payload: what follows is pickle again, start small. */
    if (n >= READER_MIN || r->pos > r->buf_off + r->buf_len) r->win = READER_MIN;
    return MFS_OK;
  }
  /* Unknown size (a decompressor).  Within the buffer: just move on. */
  uint64_t have_end = r->buf_off + r->buf_len;
  if (r->pos >= r->buf_off && n <= have_end - r->pos) {
    r->pos += n;
    return MFS_OK;
  }
  /* Beyond it: read only the last byte of each step.  The decompressor produces
  ** (and keeps) everything before it on the way, and none of it is copied here;
  ** a stream that ends first is truncation, reported where it ended.  A step is
  ** bounded so that a decode nobody wants any more (unmount) ends within one. */
  for (uint64_t done = 0; done < n; ) {
    if (r->pause.fn != NULL) r->pause.fn(r->pause.ctx);   /* others may go first */
    if (r->stop != NULL && atomic_load_explicit(r->stop, memory_order_relaxed) != 0)
      return err_set(r->err, MFS_ELIMIT, r->pos + done, "offset %llu: stopped: the result "
                     "is not wanted any more (unmount)", (unsigned long long)(r->pos + done));
    uint64_t step = n - done < MFS_SKIP_STEP ? n - done : MFS_SKIP_STEP;
    MfsStatus st = skip_to(r, r->pos + done + step);
    if (st != MFS_OK) return st;
    done += step;
  }
  r->pos += n;
  return MFS_OK;
}

MfsStatus reader_line(Reader *r, const uint8_t **p, size_t *len) {
  size_t avail;
  MfsStatus st = reader_fill(r, READER_BUF, &avail);
  if (st != MFS_OK) return st;
  const uint8_t *start = r->buf + (r->pos - r->buf_off);
  const uint8_t *nl = memchr(start, '\n', avail);
  if (nl == NULL)
    return err_set(r->err, avail < READER_BUF ? MFS_ETRUNC : MFS_ELIMIT, r->pos,
                   "offset %llu: %s", (unsigned long long)r->pos,
                   avail < READER_BUF ? "line not terminated before end of data"
                                      : "text line longer than 64 KiB");
  *p = start;
  *len = (size_t)(nl - start);
  r->pos += *len + 1;
  return MFS_OK;
}
