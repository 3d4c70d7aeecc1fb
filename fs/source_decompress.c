/*
** source_decompress.c -- the decompressed view of a compressed Source.
**
** One Source per compressed stream (zlib, gzip, raw deflate, bz2, xz, lzma-alone,
** lz4 frame, and joblib's old "ZF" Z-file).  The decoder reads it once from start
** to end; the renderer then reads arrays at arbitrary offsets.  Random reads must
** not cost a full decompression nor hold the whole stream in memory:
**   - zlib family: restart points (the 32 KiB window + bit position at a deflate
**     block boundary, as zlib's examples/zran.c) recorded during the first pass,
**     and a few live decoders ("cursors") so interleaved readers do not thrash;
**   - bz2/xz/lzma/lz4 cannot restart mid-stream: every decompressed byte is kept,
**     the first MFS_DECOMP_MEM_CACHE in memory and the rest in an unlinked file in
**     the cache dir, so the stream is decompressed exactly once.
** All codec work goes through the real libraries (zlib, libbz2, liblzma, liblz4):
** this file must never decode a compressed format by hand.  One mutex per source
** serialises its state; different sources never contend.
*/
#include <bzlib.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lz4frame.h>
#include <lzma.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "modelfs/limits.h"
#include "modelfs/source.h"

#define IN_BUF   (64u * 1024u)
#define OUT_BUF  (64u * 1024u)
#define WINDOW   32768u
#define ZF_HEAD  21          /* "ZF" + 19 hex/space characters */

typedef enum Codec { C_ZLIB, C_GZIP, C_DEFLATE, C_BZ2, C_XZ, C_LZMA, C_LZ4 } Codec;

/* A place in a deflate stream from which inflate can start afresh. */
typedef struct Point {
  uint64_t in;             /* compressed offset of the first whole byte */
  uint64_t out;            /* decompressed offset */
  int bits;                /* bits of the byte before `in` still to be used */
  unsigned wlen;
  uint8_t *window;         /* the last <= 32 KiB of output before `out` */
} Point;

typedef struct Cursor {
  int live;                /* codec state initialised */
  int ended;               /* the stream's end was decoded */
  int in_eof;              /* the compressed input is exhausted */
  uint64_t in_pos;         /* compressed offset of the next byte to fetch */
  uint64_t out_pos;        /* decompressed offset of the next byte produced */
  uint64_t stamp;          /* last use, for choosing a cursor to recycle */
  const uint8_t *next_in;
  size_t avail_in;
  uint8_t *in;             /* IN_BUF */
  uint8_t *out;            /* OUT_BUF scratch */
  union {
    z_stream z;
    bz_stream bz;
    lzma_stream xz;
    LZ4F_dctx *lz4;
  } u;
} Cursor;

typedef struct DSrc {
  Source base;
  Source *inner;
  Codec codec;
  const char *kind;
  uint64_t start;          /* compressed offset where the stream begins */
  uint64_t expect;         /* declared decompressed length (ZF), else UINT64_MAX */
  uint64_t end;            /* decompressed length once known, else UINT64_MAX */
  pthread_mutex_t mu;
  Cursor cur[MFS_DECOMP_CURSORS];
  int ncur;
  uint64_t clock;
  /* zlib family */
  Point *pts;
  size_t npts;
  uint64_t spacing;
  /* other codecs: bytes [0, head_len) in memory, [MEM_CACHE, +spill_len) in the file */
  uint8_t *head;
  size_t head_len, head_cap;
  int spill_fd;
  uint64_t spill_len;
  int spill_broken;        /* the file could not be written: fall back to re-decoding */
} DSrc;

/* ---- cache directory --------------------------------------------------------- */

static pthread_mutex_t cache_dir_mu = PTHREAD_MUTEX_INITIALIZER;
static char cache_dir[PATH_MAX];

void source_set_cache_dir(const char *dir) {
  pthread_mutex_lock(&cache_dir_mu);
  snprintf(cache_dir, sizeof cache_dir, "%s", dir ? dir : "");
  pthread_mutex_unlock(&cache_dir_mu);
}

/* An anonymous file in the cache dir; -1 when none can be made. */
static int spill_open(void) {
  char dir[PATH_MAX];
  pthread_mutex_lock(&cache_dir_mu);
  snprintf(dir, sizeof dir, "%s", cache_dir);
  pthread_mutex_unlock(&cache_dir_mu);
  if (dir[0] == '\0') {
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s", t && *t ? t : "/tmp");
  }
  int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0) return fd;
  char path[PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/modelfs-spill-XXXXXX", dir);
  fd = mkostemp(path, O_CLOEXEC);
  if (fd >= 0) unlink(path);
  return fd;
}

/* ---- errors ------------------------------------------------------------------- */

static MfsStatus bad_stream(DSrc *d, Cursor *c, Err *e, MfsStatus code, const char *why) {
  uint64_t cin = c->in_pos - c->avail_in;
  return err_set(e, code, c->out_pos,
                 "offset %llu: %s stream %s at compressed offset %llu: %s",
                 (unsigned long long)c->out_pos, d->kind,
                 code == MFS_ETRUNC ? "truncated" : "corrupt", (unsigned long long)cin, why);
}

/* ---- input -------------------------------------------------------------------- */

static MfsStatus refill(DSrc *d, Cursor *c, Err *e) {
  if (c->avail_in > 0 || c->in_eof) return MFS_OK;
  size_t got = 0;
  MfsStatus st = d->inner->ops->read(d->inner, c->in_pos, c->in, IN_BUF, &got, e);
  if (st != MFS_OK) return st;
  c->next_in = c->in;
  c->avail_in = got;
  c->in_pos += got;
  if (got == 0) c->in_eof = 1;
  return MFS_OK;
}

/* ---- codec state ----------------------------------------------------------------- */

static void codec_end(DSrc *d, Cursor *c) {
  if (!c->live) return;
  switch (d->codec) {
    case C_ZLIB: case C_GZIP: case C_DEFLATE: inflateEnd(&c->u.z); break;
    case C_BZ2: BZ2_bzDecompressEnd(&c->u.bz); break;
    case C_XZ: case C_LZMA: lzma_end(&c->u.xz); break;
    case C_LZ4: LZ4F_freeDecompressionContext(c->u.lz4); break;
  }
  c->live = 0;
}

static void cursor_reset_io(Cursor *c, uint64_t in_pos, uint64_t out_pos) {
  c->ended = 0;
  c->in_eof = 0;
  c->in_pos = in_pos;
  c->out_pos = out_pos;
  c->next_in = c->in;
  c->avail_in = 0;
}

/* Start c at the beginning of the stream. */
static MfsStatus codec_begin(DSrc *d, Cursor *c, Err *e) {
  codec_end(d, c);
  memset(&c->u, 0, sizeof c->u);
  cursor_reset_io(c, d->start, 0);
  int ok = 0;
  switch (d->codec) {
    case C_ZLIB: ok = inflateInit2(&c->u.z, 15) == Z_OK; break;
    case C_GZIP: ok = inflateInit2(&c->u.z, 31) == Z_OK; break;
    case C_DEFLATE: ok = inflateInit2(&c->u.z, -15) == Z_OK; break;
    case C_BZ2: ok = BZ2_bzDecompressInit(&c->u.bz, 0, 0) == BZ_OK; break;
    case C_XZ: {
      lzma_stream init = LZMA_STREAM_INIT;
      c->u.xz = init;
      ok = lzma_stream_decoder(&c->u.xz, MFS_MAX_DECODER_MEMORY, 0) == LZMA_OK;
      break;
    }
    case C_LZMA: {
      lzma_stream init = LZMA_STREAM_INIT;
      c->u.xz = init;
      ok = lzma_alone_decoder(&c->u.xz, MFS_MAX_DECODER_MEMORY) == LZMA_OK;
      break;
    }
    case C_LZ4: ok = !LZ4F_isError(LZ4F_createDecompressionContext(&c->u.lz4, LZ4F_VERSION)); break;
  }
  if (!ok) return err_set(e, MFS_ENOMEM, 0, "%s: cannot start a %s decoder", d->base.name, d->kind);
  c->live = 1;
  return MFS_OK;
}

/* Start c (raw inflate) at restart point p, as zran.c does. */
static MfsStatus codec_begin_at(DSrc *d, Cursor *c, const Point *p, Err *e) {
  codec_end(d, c);
  memset(&c->u, 0, sizeof c->u);
  if (inflateInit2(&c->u.z, -15) != Z_OK)
    return err_set(e, MFS_ENOMEM, p->out, "%s: cannot start inflate", d->base.name);
  c->live = 1;
  cursor_reset_io(c, p->in, p->out);
  if (p->bits) {
    uint8_t byte;
    MfsStatus st = source_read(d->inner, p->in - 1, &byte, 1, e);
    if (st != MFS_OK) {
      codec_end(d, c);
      return st;
    }
    inflatePrime(&c->u.z, p->bits, byte >> (8 - p->bits));
  }
  inflateSetDictionary(&c->u.z, p->window, p->wlen);
  return MFS_OK;
}

/* ---- restart points -------------------------------------------------------------- */

static void points_thin(DSrc *d) {
  size_t k = 0;
  for (size_t i = 0; i < d->npts; i++) {
    if (i % 2 == 1) {
      free(d->pts[i].window);
      continue;
    }
    d->pts[k++] = d->pts[i];
  }
  d->npts = k;
  d->spacing *= 2;
}

/* Called at a deflate block boundary: remember it when far enough from the last. */
static void point_maybe_add(DSrc *d, Cursor *c) {
  z_stream *z = &c->u.z;
  if (!(z->data_type & 128) || (z->data_type & 64)) return;
  uint64_t last = d->npts ? d->pts[d->npts - 1].out : 0;
  if (c->out_pos < last + d->spacing) return;
  if (d->npts == MFS_MAX_RESTART_POINTS) {
    points_thin(d);
    if (c->out_pos < d->pts[d->npts - 1].out + d->spacing) return;
  }
  if (d->pts == NULL) {
    d->pts = calloc(MFS_MAX_RESTART_POINTS, sizeof *d->pts);
    if (d->pts == NULL) return;     /* no index: random reads restart from 0 */
  }
  Point *p = &d->pts[d->npts];
  p->window = malloc(WINDOW);
  if (p->window == NULL) return;
  uInt wlen = WINDOW;
  if (inflateGetDictionary(z, p->window, &wlen) != Z_OK) {
    free(p->window);
    return;
  }
  p->wlen = wlen;
  p->in = c->in_pos - c->avail_in;
  p->out = c->out_pos;
  p->bits = z->data_type & 7;
  d->npts++;
}

/* The restart point with the largest out <= off, or NULL. */
static const Point *point_find(const DSrc *d, uint64_t off) {
  size_t lo = 0, hi = d->npts;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (d->pts[mid].out <= off) lo = mid + 1;
    else hi = mid;
  }
  return lo ? &d->pts[lo - 1] : NULL;
}

/* ---- one decoding step --------------------------------------------------------- */

static MfsStatus step_zlib(DSrc *d, Cursor *c, size_t *made, Err *e) {
  z_stream *z = &c->u.z;
  z->next_in = (Bytef *)c->next_in;
  z->avail_in = (uInt)c->avail_in;
  z->next_out = c->out;
  z->avail_out = OUT_BUF;
  int ret = inflate(z, Z_BLOCK);
  c->next_in = z->next_in;
  c->avail_in = z->avail_in;
  *made = OUT_BUF - z->avail_out;
  c->out_pos += *made;
  if (ret == Z_STREAM_END) {
    c->ended = 1;
    return MFS_OK;
  }
  if (ret == Z_OK || ret == Z_BUF_ERROR) {
    point_maybe_add(d, c);
    return MFS_OK;
  }
  if (ret == Z_MEM_ERROR) return err_set(e, MFS_ENOMEM, c->out_pos, "out of memory");
  return bad_stream(d, c, e, MFS_ECORRUPT, z->msg ? z->msg : "invalid data");
}

static MfsStatus step_bz2(DSrc *d, Cursor *c, size_t *made, Err *e) {
  bz_stream *b = &c->u.bz;
  b->next_in = (char *)c->next_in;
  b->avail_in = (unsigned)c->avail_in;
  b->next_out = (char *)c->out;
  b->avail_out = OUT_BUF;
  int ret = BZ2_bzDecompress(b);
  c->next_in = (const uint8_t *)b->next_in;
  c->avail_in = b->avail_in;
  *made = OUT_BUF - b->avail_out;
  c->out_pos += *made;
  if (ret == BZ_STREAM_END) c->ended = 1;
  else if (ret == BZ_MEM_ERROR) return err_set(e, MFS_ENOMEM, c->out_pos, "out of memory");
  else if (ret != BZ_OK) return bad_stream(d, c, e, MFS_ECORRUPT, "invalid bzip2 data");
  return MFS_OK;
}

static MfsStatus step_lzma(DSrc *d, Cursor *c, size_t *made, Err *e) {
  lzma_stream *x = &c->u.xz;
  x->next_in = c->next_in;
  x->avail_in = c->avail_in;
  x->next_out = c->out;
  x->avail_out = OUT_BUF;
  lzma_ret ret = lzma_code(x, c->in_eof ? LZMA_FINISH : LZMA_RUN);
  c->next_in = x->next_in;
  c->avail_in = x->avail_in;
  *made = OUT_BUF - x->avail_out;
  c->out_pos += *made;
  switch (ret) {
    case LZMA_OK: return MFS_OK;
    case LZMA_STREAM_END: c->ended = 1; return MFS_OK;
    case LZMA_MEM_ERROR: return err_set(e, MFS_ENOMEM, c->out_pos, "out of memory");
    case LZMA_MEMLIMIT_ERROR:
      return err_set(e, MFS_ELIMIT, c->out_pos, "%s stream needs more than %llu MiB to decode",
                     d->kind, (unsigned long long)(MFS_MAX_DECODER_MEMORY >> 20));
    case LZMA_BUF_ERROR: return bad_stream(d, c, e, MFS_ETRUNC, "unexpected end of input");
    case LZMA_FORMAT_ERROR: return bad_stream(d, c, e, MFS_ECORRUPT, "bad header");
    case LZMA_OPTIONS_ERROR: return bad_stream(d, c, e, MFS_ECORRUPT, "unsupported options");
    default: return bad_stream(d, c, e, MFS_ECORRUPT, "invalid data");
  }
}

static MfsStatus step_lz4(DSrc *d, Cursor *c, size_t *made, Err *e) {
  size_t dst = OUT_BUF, src = c->avail_in;
  size_t ret = LZ4F_decompress(c->u.lz4, c->out, &dst, c->next_in, &src, NULL);
  if (LZ4F_isError(ret)) return bad_stream(d, c, e, MFS_ECORRUPT, LZ4F_getErrorName(ret));
  c->next_in += src;
  c->avail_in -= src;
  *made = dst;
  c->out_pos += dst;
  if (ret == 0) c->ended = 1;
  return MFS_OK;
}

/* Produce the next bytes of c into c->out (*made may be 0 only at the end). */
static MfsStatus cursor_step(DSrc *d, Cursor *c, size_t *made, Err *e) {
  *made = 0;
  for (int idle = 0; !c->ended; ) {
    MfsStatus st = refill(d, c, e);
    if (st != MFS_OK) return st;
    size_t before = c->avail_in;
    switch (d->codec) {
      case C_ZLIB: case C_GZIP: case C_DEFLATE: st = step_zlib(d, c, made, e); break;
      case C_BZ2: st = step_bz2(d, c, made, e); break;
      case C_XZ: case C_LZMA: st = step_lzma(d, c, made, e); break;
      case C_LZ4: st = step_lz4(d, c, made, e); break;
    }
    if (st != MFS_OK) return st;
    if (c->out_pos > MFS_MAX_DECOMPRESSED)
      return err_set(e, MFS_ELIMIT, c->out_pos, "offset %llu: %s stream decompresses to more than %llu bytes",
                     (unsigned long long)c->out_pos, d->kind, (unsigned long long)MFS_MAX_DECOMPRESSED);
    if (*made > 0) return MFS_OK;
    /* No output: the decoder wants input.  At end of input that is truncation;
    ** a decoder that consumes nothing and makes nothing twice is stuck. */
    if (c->in_eof && !c->ended) return bad_stream(d, c, e, MFS_ETRUNC, "unexpected end of input");
    idle = c->avail_in < before ? 0 : idle + 1;
    if (idle > 64) return bad_stream(d, c, e, MFS_ECORRUPT, "decoder makes no progress");
  }
  return MFS_OK;
}

/* ---- the store (non-restartable codecs) ----------------------------------------- */

static int uses_store(const DSrc *d) {
  return d->codec != C_ZLIB && d->codec != C_GZIP && d->codec != C_DEFLATE;
}

static uint64_t store_end(const DSrc *d) {
  return d->head_len < MFS_DECOMP_MEM_CACHE ? d->head_len : MFS_DECOMP_MEM_CACHE + d->spill_len;
}

/* Keep bytes [at, at+n) just decoded, when they extend the store. */
static void store_append(DSrc *d, uint64_t at, const uint8_t *p, size_t n) {
  if (!uses_store(d) || d->spill_broken || at != store_end(d)) return;
  while (n > 0 && d->head_len < MFS_DECOMP_MEM_CACHE) {
    size_t want = d->head_len + n;
    if (want > MFS_DECOMP_MEM_CACHE) want = MFS_DECOMP_MEM_CACHE;
    if (want > d->head_cap) {
      size_t cap = d->head_cap ? d->head_cap : OUT_BUF;
      while (cap < want) cap *= 2;
      if (cap > MFS_DECOMP_MEM_CACHE) cap = MFS_DECOMP_MEM_CACHE;
      uint8_t *h = realloc(d->head, cap);
      if (h == NULL) {
        d->spill_broken = 1;
        return;
      }
      d->head = h;
      d->head_cap = cap;
    }
    size_t k = want - d->head_len;
    memcpy(d->head + d->head_len, p, k);
    d->head_len += k;
    p += k;
    n -= k;
  }
  if (n == 0) return;
  if (d->spill_fd < 0) d->spill_fd = spill_open();
  if (d->spill_fd < 0) {
    d->spill_broken = 1;
    return;
  }
  size_t done = 0;
  while (done < n) {
    ssize_t w = pwrite(d->spill_fd, p + done, n - done, (off_t)(d->spill_len + done));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      d->spill_broken = 1;   /* disk full: what is written stays valid */
      d->spill_len += done;
      return;
    }
    done += (size_t)w;
  }
  d->spill_len += n;
}

/* Serve [off, off+len) from the store; *n = bytes served (0 when not stored). */
static MfsStatus store_read(DSrc *d, uint64_t off, uint8_t *buf, size_t len, size_t *n, Err *e) {
  *n = 0;
  if (!uses_store(d)) return MFS_OK;
  if (off < d->head_len) {
    size_t k = d->head_len - off < len ? (size_t)(d->head_len - off) : len;
    memcpy(buf, d->head + off, k);
    *n = k;
    return MFS_OK;
  }
  if (off < MFS_DECOMP_MEM_CACHE || off >= MFS_DECOMP_MEM_CACHE + d->spill_len) return MFS_OK;
  uint64_t rel = off - MFS_DECOMP_MEM_CACHE;
  size_t k = d->spill_len - rel < len ? (size_t)(d->spill_len - rel) : len;
  for (;;) {
    ssize_t r = pread(d->spill_fd, buf, k, (off_t)rel);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0)
      return err_set(e, MFS_EIO, off, "%s: cache file read failed: %s", d->base.name,
                     r < 0 ? strerror(errno) : "short file");
    *n = (size_t)r;
    return MFS_OK;
  }
}

/* ---- choosing and positioning a decoder -------------------------------------------- */

/* A cursor whose position is <= off, restarted when needed. */
static MfsStatus cursor_for(DSrc *d, uint64_t off, Cursor **out, Err *e) {
  Cursor *best = NULL, *victim = NULL;
  for (int i = 0; i < d->ncur; i++) {
    Cursor *c = &d->cur[i];
    if (c->live && c->out_pos <= off && (best == NULL || c->out_pos > best->out_pos)) best = c;
    if (victim == NULL || !c->live || (victim->live && c->stamp < victim->stamp)) victim = c;
  }
  const Point *p = uses_store(d) ? NULL : point_find(d, off);
  /* A live cursor behind off wins unless a restart point is much closer. */
  if (best != NULL && (p == NULL || best->out_pos >= p->out || off - best->out_pos < d->spacing)) {
    *out = best;
    best->stamp = ++d->clock;
    return MFS_OK;
  }
  victim->stamp = ++d->clock;
  *out = victim;
  if (p != NULL && p->out > 0) return codec_begin_at(d, victim, p, e);
  return codec_begin(d, victim, e);
}

/* The stream's end was reached at total length n: check it and publish the size. */
static MfsStatus stream_ended(DSrc *d, uint64_t n, Err *e) {
  if (d->expect != UINT64_MAX && n != d->expect)
    return err_set(e, MFS_ECORRUPT, n, "offset %llu: Z-file header declares %llu bytes, stream holds %llu",
                   (unsigned long long)n, (unsigned long long)d->expect, (unsigned long long)n);
  d->end = n;
  __atomic_store_n(&d->base.size, n, __ATOMIC_RELEASE);
  return MFS_OK;
}

/* Decode forward until [off, off+len) is produced or the stream ends. */
static MfsStatus decode_into(DSrc *d, uint64_t off, uint8_t *buf, size_t len, size_t *got, Err *e) {
  Cursor *c;
  MfsStatus st = cursor_for(d, off, &c, e);
  if (st != MFS_OK) return st;
  while (*got < len) {
    uint64_t at = c->out_pos;
    size_t made;
    st = cursor_step(d, c, &made, e);
    if (st != MFS_OK) {
      codec_end(d, c);   /* a failed cursor restarts next time */
      return st;
    }
    store_append(d, at, c->out, made);
    uint64_t want = off + *got;
    if (made > 0 && at + made > want) {
      size_t skip = (size_t)(want - at);
      size_t k = made - skip < len - *got ? made - skip : len - *got;
      memcpy(buf + *got, c->out + skip, k);
      *got += k;
    }
    if (c->ended) {
      st = stream_ended(d, c->out_pos, e);
      if (st != MFS_OK) return st;
      codec_end(d, c);
      break;
    }
  }
  return MFS_OK;
}

static MfsStatus dsrc_read_locked(DSrc *d, uint64_t off, void *buf, size_t len, size_t *got, Err *e) {
  uint8_t *out = buf;
  *got = 0;
  while (*got < len) {
    uint64_t pos = off + *got;
    if (pos >= d->end) break;
    size_t n;
    MfsStatus st = store_read(d, pos, out + *got, len - *got, &n, e);
    if (st != MFS_OK) return st;
    if (n > 0) {
      *got += n;
      continue;
    }
    size_t before = *got;
    size_t part = 0;
    /* Decode only up to the next stored byte range is not needed: decoding
    ** always extends the store from its end, so read the rest in one go. */
    st = decode_into(d, pos, out + *got, len - *got, &part, e);
    *got += part;
    if (st != MFS_OK) return st;
    if (*got == before) break;   /* end of stream */
  }
  return MFS_OK;
}

static MfsStatus dsrc_read(Source *s, uint64_t off, void *buf, size_t len, size_t *got, Err *e) {
  DSrc *d = (DSrc *)s;
  pthread_mutex_lock(&d->mu);
  MfsStatus st = dsrc_read_locked(d, off, buf, len, got, e);
  pthread_mutex_unlock(&d->mu);
  return st;
}

static void dsrc_destroy(Source *s) {
  DSrc *d = (DSrc *)s;
  for (int i = 0; i < d->ncur; i++) {
    codec_end(d, &d->cur[i]);
    free(d->cur[i].in);
    free(d->cur[i].out);
  }
  for (size_t i = 0; i < d->npts; i++) free(d->pts[i].window);
  free(d->pts);
  free(d->head);
  if (d->spill_fd >= 0) close(d->spill_fd);
  pthread_mutex_destroy(&d->mu);
  source_unref(d->inner);
  free(d);
}

static const SourceOps dsrc_ops = {dsrc_read, dsrc_destroy};

/* ---- construction ------------------------------------------------------------------ */

static const struct { const char *name; Codec codec; } kinds[] = {
  {"zlib", C_ZLIB}, {"gzip", C_GZIP}, {"deflate", C_DEFLATE}, {"bz2", C_BZ2},
  {"xz", C_XZ},     {"lzma", C_LZMA}, {"lz4", C_LZ4},
};

/* joblib < 0.10 Z-file: "ZF" + hex length left-justified in 19 columns (Py2 <= 0.8.4
** wrote 20), then a zlib stream. */
static MfsStatus zfile_header(DSrc *d, Err *e) {
  uint8_t h[ZF_HEAD + 1];
  size_t got = 0;
  MfsStatus st = d->inner->ops->read(d->inner, 0, h, sizeof h, &got, e);
  if (st != MFS_OK) return st;
  if (got < 2 || h[0] != 'Z' || h[1] != 'F') return MFS_OK;
  if (got < ZF_HEAD) return err_set(e, MFS_ETRUNC, 0, "offset 0: truncated Z-file header");
  char text[ZF_HEAD];
  memcpy(text, h + 2, ZF_HEAD - 2);
  text[ZF_HEAD - 2] = '\0';
  char *p = text;
  if (p[0] != '0' || (p[1] != 'x' && p[1] != 'X'))
    return err_set(e, MFS_ECORRUPT, 2, "offset 2: Z-file length is not hexadecimal");
  char *endp;
  errno = 0;
  unsigned long long n = strtoull(p + 2, &endp, 16);
  if (endp == p + 2 || errno != 0) return err_set(e, MFS_ECORRUPT, 2, "offset 2: bad Z-file length");
  if (*endp == 'L') endp++;
  while (*endp == ' ') endp++;
  if (*endp != '\0') return err_set(e, MFS_ECORRUPT, 2, "offset 2: bad Z-file length");
  if (n > MFS_MAX_DECOMPRESSED)
    return err_set(e, MFS_ELIMIT, 2, "offset 2: Z-file declares %llu bytes", n);
  d->expect = n;
  d->start = ZF_HEAD + (got > ZF_HEAD && h[ZF_HEAD] == ' ');
  return MFS_OK;
}

Source *source_decompress(Source *compressed, const char *kind, Err *e) {
  int k = -1;
  for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
    if (strcmp(kinds[i].name, kind) == 0) k = (int)i;
  if (k < 0) {
    err_set(e, MFS_EUNSUPPORTED, 0, "unknown compression '%s'", kind);
    return NULL;
  }
  DSrc *d = calloc(1, sizeof *d);
  if (d == NULL) goto oom;
  d->inner = source_ref(compressed);
  d->codec = kinds[k].codec;
  d->kind = kinds[k].name;
  d->expect = d->end = UINT64_MAX;
  d->spill_fd = -1;
  d->spacing = MFS_RESTART_SPACING;
  d->ncur = uses_store(d) ? 1 : MFS_DECOMP_CURSORS;
  pthread_mutex_init(&d->mu, NULL);
  char name[512];
  snprintf(name, sizeof name, "%s", compressed->name);
  source_init(&d->base, &dsrc_ops, name, SOURCE_SIZE_UNKNOWN);
  for (int i = 0; i < d->ncur; i++) {
    d->cur[i].in = malloc(IN_BUF);
    d->cur[i].out = malloc(OUT_BUF);
    if (d->cur[i].in == NULL || d->cur[i].out == NULL) {
      source_unref(&d->base);
      goto oom;
    }
  }
  if (d->codec == C_ZLIB && zfile_header(d, e) != MFS_OK) {
    source_unref(&d->base);
    return NULL;
  }
  return &d->base;
oom:
  err_set(e, MFS_ENOMEM, 0, "out of memory");
  return NULL;
}

const char *source_sniff_compression(const uint8_t *h, size_t n) {
  if (n >= 2 && h[0] == 'Z' && h[1] == 'F') return "zlib";
  /* 0x78 = deflate with a 32 KiB window; the header is a multiple of 31 and
  ** has no preset dictionary.  Neither byte pair starts a pickle. */
  if (n >= 2 && h[0] == 0x78 && ((h[0] << 8) | h[1]) % 31 == 0 && !(h[1] & 0x20)) return "zlib";
  if (n >= 3 && h[0] == 0x1f && h[1] == 0x8b && h[2] == 8) return "gzip";
  if (n >= 4 && h[0] == 'B' && h[1] == 'Z' && h[2] == 'h' && h[3] >= '1' && h[3] <= '9') return "bz2";
  if (n >= 6 && memcmp(h, "\xfd" "7zXZ\0", 6) == 0) return "xz";
  if (n >= 2 && h[0] == 0x5d && h[1] == 0x00) return "lzma";
  if (n >= 4 && memcmp(h, "\x04\x22\x4d\x18", 4) == 0) return "lz4";
  return NULL;
}
