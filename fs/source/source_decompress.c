/*
** source_decompress.c -- the decompressed view of a compressed Source.
**
** One Source per compressed stream (zlib, gzip, raw deflate, bz2, xz, lzma-alone,
** lz4 frame, and joblib's old "ZF" Z-file).  The decoder reads it once from start
** to end; the renderer then reads arrays at arbitrary offsets.  Random reads must
** not cost a second decompression nor hold the whole stream in memory, so every
** codec keeps what its first pass produces (the "store"): the first
** MFS_DECOMP_MEM_CACHE bytes in memory, the rest in an unlinked spill file in the
** cache dir (all-zero runs as holes), up to MFS_MAX_SPILL.  When the store ends
** early (cap reached, disk full, no cache dir):
**   - zlib family: restart points (the 32 KiB window + bit position at a deflate
**     block boundary, as zlib's examples/zran.c) are recorded past the store's
**     end, and a few live decoders ("cursors") keep interleaved readers from
**     restarting each other;
**   - bz2/xz/lzma/lz4 cannot restart mid-stream: their single cursor decodes
**     again from the start when a read goes backwards.
** A cursor keeps its last output chunk, so consecutive reads (the kernel's
** 128 KiB requests, whatever their alignment) continue one stream and never
** decode a byte twice.  Once the store holds the whole stream, the decoders,
** their buffers and the restart points are freed.
** A zlib/gzip/deflate stream that decompresses to no more than the in-memory
** store (MFS_DECOMP_MEM_CACHE) is inflated in one call by libdeflate once a read
** goes past the first 32 KiB zlib made (a decode, not a look at the head),
** straight into the store: about twice zlib's speed, and no more memory than
** the store holds anyway.  A longer stream, or one libdeflate refuses, is
** inflated by zlib as above, so its errors are zlib's, with their offsets.  A
** stream proven corrupt (a bad code, a failed check) serves nothing after:
** what was decoded before the check may be wrong too.
** All codec work goes through the real libraries (zlib, libdeflate, libbz2,
** liblzma, liblz4): this file must never decode a compressed format by hand.
** One mutex per source serialises its state (spill-file reads run outside
** it); different sources never contend.
*/
#include <bzlib.h>
#include <errno.h>
#include <fcntl.h>
#include <libdeflate.h>
#include <limits.h>
#include <lz4frame.h>
#include <lzma.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include "modelfs/limits.h"
#include "modelfs/source.h"

#define IN_BUF   (64u * 1024u)
#define OUT_BUF  (256u * 1024u)   /* inflate copies each call's last 32 KiB to its window */
#define FIRST_OUT (32u * 1024u)   /* a stream's first step: enough to identify it */
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
  size_t out_len;          /* out[0, out_len) holds bytes [out_pos - out_len, out_pos) */
  uint64_t stamp;          /* last use, for choosing a cursor to recycle */
  int checking;            /* zlib from byte 0: `check` is the Adler-32 of all output */
  uint32_t check;
  const uint8_t *next_in;
  size_t avail_in;
  uint8_t *in;             /* IN_BUF, allocated when the cursor first starts */
  uint8_t *out;            /* OUT_BUF: the last chunk produced */
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
  uint64_t max_out;        /* MFS_MAX_DECOMPRESSED, or lower for tests */
  pthread_mutex_t mu;
  Cursor cur[MFS_DECOMP_CURSORS];
  int ncur;
  uint64_t clock;
  /* zlib family: restart points past the store's end */
  Point *pts;
  size_t npts;
  uint64_t spacing;
  /* the store: bytes [0, head_len) in memory, [MEM_CACHE, +spill_len) in the file */
  uint8_t *head;
  size_t head_len, head_cap;
  int spill_fd;
  uint64_t spill_len;
  int store_off;           /* the store stopped growing (cap, write error, no dir) */
  int released;            /* the store holds everything: decoders freed */
  int whole_tried;         /* libdeflate had its one try at the whole stream */
  Err broken;              /* the stream proved corrupt: every read fails with this */
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

static int restartable(const DSrc *d) {
  return d->codec == C_ZLIB || d->codec == C_GZIP || d->codec == C_DEFLATE;
}

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
  c->checking = 0;
  c->in_eof = 0;
  c->in_pos = in_pos;
  c->out_pos = out_pos;
  c->out_len = 0;
  c->next_in = c->in;
  c->avail_in = 0;
}

/* A cursor's buffers exist only while it is in use (freed with the decoders). */
static MfsStatus cursor_buffers(DSrc *d, Cursor *c, uint64_t at, Err *e) {
  if (c->in == NULL) c->in = malloc(IN_BUF);
  if (c->out == NULL) c->out = malloc(OUT_BUF);
  if (c->in == NULL || c->out == NULL)
    return err_set(e, MFS_ENOMEM, at, "%s: out of memory for a %s decoder", d->base.name, d->kind);
  return MFS_OK;
}

/* Start c at the beginning of the stream. */
static MfsStatus codec_begin(DSrc *d, Cursor *c, Err *e) {
  codec_end(d, c);
  MfsStatus st = cursor_buffers(d, c, 0, e);
  if (st != MFS_OK) return st;
  memset(&c->u, 0, sizeof c->u);
  cursor_reset_io(c, d->start, 0);
  int ok = 0;
  switch (d->codec) {
    case C_ZLIB:
      /* zlib's own Adler-32 is a third of inflate's time; adler_update does the
      ** same sum vectorised and stream_check compares it with the trailer. */
      ok = inflateInit2(&c->u.z, 15) == Z_OK && inflateValidate(&c->u.z, 0) == Z_OK;
      c->checking = 1;
      c->check = 1;
      break;
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
  MfsStatus st = cursor_buffers(d, c, p->out, e);
  if (st != MFS_OK) return st;
  memset(&c->u, 0, sizeof c->u);
  if (inflateInit2(&c->u.z, -15) != Z_OK)
    return err_set(e, MFS_ENOMEM, p->out, "%s: cannot start inflate", d->base.name);
  c->live = 1;
  cursor_reset_io(c, p->in, p->out);
  if (p->bits) {
    uint8_t byte;
    st = source_read(d->inner, p->in - 1, &byte, 1, e);
    if (st != MFS_OK) {
      codec_end(d, c);
      return st;
    }
    inflatePrime(&c->u.z, p->bits, byte >> (8 - p->bits));
  }
  inflateSetDictionary(&c->u.z, p->window, p->wlen);
  return MFS_OK;
}

/* ---- the store ------------------------------------------------------------------- */

static uint64_t store_end(const DSrc *d) {
  return d->head_len < MFS_DECOMP_MEM_CACHE ? d->head_len : MFS_DECOMP_MEM_CACHE + d->spill_len;
}

/* Will bytes produced at `at` be kept?  Then no restart point is needed there. */
static int store_takes(const DSrc *d, uint64_t at) {
  return !d->store_off && at == store_end(d);
}

static int all_zero(const uint8_t *p, size_t n) {
  return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* Append n bytes to the spill file; a run of zeros only extends it (a hole). */
static void spill_append(DSrc *d, const uint8_t *p, size_t n) {
  if (d->spill_len + n > MFS_MAX_SPILL) {
    d->store_off = 1;
    return;
  }
  if (d->spill_fd < 0) d->spill_fd = spill_open();
  if (d->spill_fd < 0) {
    d->store_off = 1;
    return;
  }
  if (all_zero(p, n)) {
    if (ftruncate(d->spill_fd, (off_t)(d->spill_len + n)) != 0) d->store_off = 1;
    else d->spill_len += n;
    return;
  }
  size_t done = 0;
  while (done < n) {
    ssize_t w = pwrite(d->spill_fd, p + done, n - done, (off_t)(d->spill_len + done));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      d->store_off = 1;   /* disk full: what is written stays valid */
      d->spill_len += done;
      return;
    }
    done += (size_t)w;
  }
  d->spill_len += n;
}

/* Keep bytes [at, at+n) just decoded, as far as they extend the store. */
static void store_append(DSrc *d, uint64_t at, const uint8_t *p, size_t n) {
  uint64_t se = store_end(d);
  if (d->store_off || at > se || at + n <= se) return;
  p += se - at;
  n -= (size_t)(se - at);
  while (n > 0 && d->head_len < MFS_DECOMP_MEM_CACHE) {
    size_t want = d->head_len + n;
    if (want > MFS_DECOMP_MEM_CACHE) want = MFS_DECOMP_MEM_CACHE;
    if (want > d->head_cap) {
      size_t cap = d->head_cap ? d->head_cap : OUT_BUF;
      while (cap < want) cap *= 2;
      if (cap > MFS_DECOMP_MEM_CACHE) cap = MFS_DECOMP_MEM_CACHE;
      uint8_t *h = realloc(d->head, cap);
      if (h == NULL) {
        d->store_off = 1;
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
  if (n > 0) spill_append(d, p, n);
}

/* Read spill-file bytes [rel, rel+len) through fd (called without the lock). */
static MfsStatus spill_read(DSrc *d, int fd, uint64_t rel, uint8_t *buf, size_t len, size_t *n, Err *e) {
  for (;;) {
    ssize_t r = pread(fd, buf, len, (off_t)rel);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0)
      return err_set(e, MFS_EIO, MFS_DECOMP_MEM_CACHE + rel, "%s: cache file read failed: %s",
                     d->base.name, r < 0 ? strerror(errno) : "short file");
    *n = (size_t)r;
    return MFS_OK;
  }
}

/* ---- restart points -------------------------------------------------------------- */

static void points_free(DSrc *d) {
  for (size_t i = 0; i < d->npts; i++) free(d->pts[i].window);
  free(d->pts);
  d->pts = NULL;
  d->npts = 0;
}

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

/* Called after an inflate(Z_BLOCK) past the store: remember a block boundary when
** far enough from the last point (the store's end counts as one: reads below it
** never need a point). */
/* Where the next restart point is due: SPACING past the last one, and no
** earlier than the store's end (reads below it never need a point). */
static uint64_t point_due(const DSrc *d) {
  uint64_t next = (d->npts ? d->pts[d->npts - 1].out : 0) + d->spacing;
  uint64_t se = store_end(d);
  return se > next ? se : next;
}

static void point_maybe_add(DSrc *d, Cursor *c) {
  z_stream *z = &c->u.z;
  if (!(z->data_type & 128) || (z->data_type & 64)) return;
  if (c->out_pos < point_due(d)) return;
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

/* ---- the zlib trailer ------------------------------------------------------------ */

#define ADLER_BASE 65521u

/* Adler-32 of n more bytes (RFC 1950), as zlib's adler32() computes it.  With SSE2
** (every x86-64) 16 bytes a step: s1 by a sum of absolute differences, s2 by a
** multiply-add with weights 16..1; sums are reduced every 4 KiB, long before a
** 32-bit lane can overflow. */
static uint32_t adler_update(uint32_t adler, const uint8_t *p, size_t n) {
  uint32_t s1 = adler & 0xffff, s2 = adler >> 16;
#ifdef __SSE2__
  const __m128i zero = _mm_setzero_si128();
  const __m128i w_front = _mm_setr_epi16(16, 15, 14, 13, 12, 11, 10, 9);
  const __m128i w_back = _mm_setr_epi16(8, 7, 6, 5, 4, 3, 2, 1);
  while (n >= 16) {
    size_t blocks = n / 16 > 256 ? 256 : n / 16;
    __m128i v1 = zero, vprev = zero, v2 = zero;
    for (size_t i = 0; i < blocks; i++, p += 16) {
      __m128i x = _mm_loadu_si128((const __m128i *)p);
      vprev = _mm_add_epi32(vprev, v1);
      v1 = _mm_add_epi32(v1, _mm_sad_epu8(x, zero));
      v2 = _mm_add_epi32(v2, _mm_madd_epi16(_mm_unpacklo_epi8(x, zero), w_front));
      v2 = _mm_add_epi32(v2, _mm_madd_epi16(_mm_unpackhi_epi8(x, zero), w_back));
    }
    uint32_t a[4], b[4], c[4];
    _mm_storeu_si128((__m128i *)a, v1);
    _mm_storeu_si128((__m128i *)b, vprev);
    _mm_storeu_si128((__m128i *)c, v2);
    uint64_t sum1 = (uint64_t)a[0] + a[2], prev = (uint64_t)b[0] + b[2];
    uint64_t sum2 = (uint64_t)c[0] + c[1] + c[2] + c[3];
    uint64_t t2 = s2 + (uint64_t)s1 * blocks * 16 + prev * 16 + sum2;
    s1 = (uint32_t)((s1 + sum1) % ADLER_BASE);
    s2 = (uint32_t)(t2 % ADLER_BASE);
    n -= blocks * 16;
  }
#endif
  if (n == 0) return s2 << 16 | s1;
  return (uint32_t)adler32((s2 << 16) | s1, p, (uInt)n);
}

/* The stream ended: its last four bytes (big-endian) must be the Adler-32 of the
** output.  They are read back from the compressed source, which is cheaper than
** keeping them: the check runs once per stream. */
static MfsStatus stream_check(DSrc *d, Cursor *c, Err *e) {
  uint64_t cin = c->in_pos - c->avail_in;
  uint8_t t[4];
  if (cin < d->start + 6 || source_read(d->inner, cin - 4, t, 4, e) != MFS_OK)
    return bad_stream(d, c, e, MFS_ECORRUPT, "cannot read the Adler-32 trailer");
  uint32_t want = (uint32_t)t[0] << 24 | (uint32_t)t[1] << 16 | (uint32_t)t[2] << 8 | t[3];
  if (want != c->check) return bad_stream(d, c, e, MFS_ECORRUPT, "incorrect data check");
  return MFS_OK;
}

/* ---- one decoding step --------------------------------------------------------- */

/* Z_BLOCK stops at block boundaries so a restart point can be taken there; it
** costs ~8%, so it is asked for only once a point is due (the first boundary
** after that is taken) and never by a cursor whose output the store keeps. */
static MfsStatus step_zlib(DSrc *d, Cursor *c, size_t *made, Err *e) {
  z_stream *z = &c->u.z;
  int mark = !store_takes(d, c->out_pos) && c->out_pos >= point_due(d);
  z->next_in = (Bytef *)c->next_in;
  z->avail_in = (uInt)c->avail_in;
  /* A look at the head (identification) needs only the first step; a decode
  ** goes on past it and the whole stream may go to libdeflate then. */
  uInt room = c->out_pos == 0 ? FIRST_OUT : OUT_BUF;
  z->next_out = c->out;
  z->avail_out = room;
  int ret = inflate(z, mark ? Z_BLOCK : Z_NO_FLUSH);
  c->next_in = z->next_in;
  c->avail_in = z->avail_in;
  *made = room - z->avail_out;
  c->out_pos += *made;
  if (c->checking) c->check = adler_update(c->check, c->out, *made);
  if (ret == Z_STREAM_END) {
    c->ended = 1;
    return c->checking ? stream_check(d, c, e) : MFS_OK;
  }
  if (ret == Z_OK || ret == Z_BUF_ERROR) {
    if (mark) point_maybe_add(d, c);
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
    c->out_len = *made;
    if (st != MFS_OK) return st;
    if (c->out_pos > d->max_out)
      return err_set(e, MFS_ELIMIT, c->out_pos, "offset %llu: %s stream decompresses to more than %llu bytes",
                     (unsigned long long)c->out_pos, d->kind, (unsigned long long)d->max_out);
    if (*made > 0) return MFS_OK;
    /* No output: the decoder wants input.  At end of input that is truncation;
    ** a decoder that consumes nothing and makes nothing twice is stuck. */
    if (c->in_eof && !c->ended) return bad_stream(d, c, e, MFS_ETRUNC, "unexpected end of input");
    idle = c->avail_in < before ? 0 : idle + 1;
    if (idle > 64) return bad_stream(d, c, e, MFS_ECORRUPT, "decoder makes no progress");
  }
  return MFS_OK;
}

/* ---- choosing and positioning a decoder -------------------------------------------- */

/* A cursor can serve off when its kept chunk starts at or before it. */
static int cursor_covers(const Cursor *c, uint64_t off) {
  return (c->live || c->ended) && c->out_pos - c->out_len <= off;
}

/* The cursor to recycle: an idle one, else the least recently used, sparing the
** one that extends the store while another can go. */
static Cursor *cursor_victim(DSrc *d) {
  Cursor *v = NULL;
  int vkeep = 0;
  for (int i = 0; i < d->ncur; i++) {
    Cursor *c = &d->cur[i];
    if (!c->live && !c->ended) return c;
    int keep = c->live && store_takes(d, c->out_pos);
    if (v == NULL || (vkeep && !keep) || (vkeep == keep && c->stamp < v->stamp)) {
      v = c;
      vkeep = keep;
    }
  }
  return v;
}

/* A cursor positioned at or before off, restarted when needed. */
static MfsStatus cursor_for(DSrc *d, uint64_t off, Cursor **out, Err *e) {
  Cursor *best = NULL;
  for (int i = 0; i < d->ncur; i++) {
    Cursor *c = &d->cur[i];
    if (cursor_covers(c, off) && (best == NULL || c->out_pos > best->out_pos)) best = c;
  }
  const Point *p = restartable(d) ? point_find(d, off) : NULL;
  /* A cursor behind off wins unless a restart point is much closer. */
  if (best != NULL && (p == NULL || best->out_pos >= p->out || off - best->out_pos < d->spacing)) {
    *out = best;
    best->stamp = ++d->clock;
    return MFS_OK;
  }
  Cursor *victim = cursor_victim(d);
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

/* c failed with *e: it restarts next time.  A corrupt stream serves nothing from
** now on: what was decoded before the codec noticed may be wrong too (zlib's
** check covers the whole stream).  A cut one still serves the bytes before the cut. */
static MfsStatus cursor_failed(DSrc *d, Cursor *c, MfsStatus st, const Err *e) {
  codec_end(d, c);
  cursor_reset_io(c, d->start, 0);
  if (st == MFS_ECORRUPT && d->broken.code == MFS_OK) d->broken = *e;
  return st;
}

/* Produce [off, off+len) from a cursor (its kept chunk first), or up to the end. */
static MfsStatus decode_into(DSrc *d, uint64_t off, uint8_t *buf, size_t len, size_t *got, Err *e) {
  Cursor *c;
  MfsStatus st = cursor_for(d, off, &c, e);
  if (st != MFS_OK) return st;
  while (*got < len) {
    uint64_t want = off + *got;
    uint64_t base = c->out_pos - c->out_len;
    if (want >= base && want < c->out_pos) {
      size_t skip = (size_t)(want - base);
      size_t k = c->out_len - skip < len - *got ? c->out_len - skip : len - *got;
      memcpy(buf + *got, c->out + skip, k);
      *got += k;
      continue;
    }
    if (c->ended) break;
    uint64_t at = c->out_pos;
    size_t made;
    st = cursor_step(d, c, &made, e);
    if (st != MFS_OK) return cursor_failed(d, c, st, e);
    store_append(d, at, c->out, made);
    if (c->ended) {
      codec_end(d, c);   /* its kept chunk still serves */
      st = stream_ended(d, c->out_pos, e);
      if (st != MFS_OK) {
        cursor_reset_io(c, d->start, 0);
        return st;
      }
    }
  }
  return MFS_OK;
}

/* ---- whole streams (libdeflate) ---------------------------------------------------- */

/* The output room for inflating d whole, or 0 when it is not worth a try: the
** decompressed length when the stream declares it (ZF header, gzip ISIZE; *exact
** then), else as predicted from what cursor c made of the input so far.  Never
** more than the in-memory store (or the decompression limit: zlib reports going
** past it). */
static size_t whole_room(DSrc *d, const Cursor *c, uint64_t in_len, int *exact, Err *e) {
  uint64_t cap = MFS_DECOMP_MEM_CACHE < d->max_out ? MFS_DECOMP_MEM_CACHE : d->max_out;
  uint64_t want = 0;
  *exact = d->expect != UINT64_MAX || d->codec == C_GZIP;
  if (d->expect != UINT64_MAX) {
    want = d->expect;
  } else if (d->codec == C_GZIP) {
    uint8_t t[4];
    if (in_len < 18 || source_read(d->inner, d->start + in_len - 4, t, 4, e) != MFS_OK) return 0;
    want = (uint64_t)t[0] | (uint64_t)t[1] << 8 | (uint64_t)t[2] << 16 | (uint64_t)t[3] << 24;
  } else {
    uint64_t used = c->in_pos - c->avail_in - d->start;
    if (used == 0 || c->out_pos == 0) return 0;
    want = c->out_pos * (in_len / used) + c->out_pos * (in_len % used) / used;
    if (want / 8 * 9 > cap) return 0;      /* a guess: past the room even a little under */
    want = cap;
  }
  return want == 0 || want > cap ? 0 : (size_t)want;
}

/* Run c to the stream's end, keeping what it makes; the error when it fails. */
static MfsStatus zlib_to_end(DSrc *d, Cursor *c, Err *e) {
  while (!c->ended) {
    uint64_t at = c->out_pos;
    size_t made;
    MfsStatus st = cursor_step(d, c, &made, e);
    if (st != MFS_OK) return cursor_failed(d, c, st, e);
    store_append(d, at, c->out, made);
  }
  codec_end(d, c);
  return stream_ended(d, c->out_pos, e);
}

static enum libdeflate_result whole_call(const DSrc *d, struct libdeflate_decompressor *z,
                                         const uint8_t *in, size_t in_len, uint8_t *out,
                                         size_t room, size_t *made) {
  size_t used;
  switch (d->codec) {
    case C_ZLIB: return libdeflate_zlib_decompress_ex(z, in, in_len, out, room, &used, made);
    case C_GZIP: return libdeflate_gzip_decompress_ex(z, in, in_len, out, room, &used, made);
    default: return libdeflate_deflate_decompress_ex(z, in, in_len, out, room, &used, made);
  }
}

/* libdeflate refused a stream it had room for: cut or corrupt (or longer than it
** declares).  zlib, to the end now, says where and why, so a corrupt stream is
** known before the decoder takes garbage for a model; 1 and *st when the read
** at hand fails.  A cut one still serves the bytes before the cut. */
static int whole_refused(DSrc *d, Cursor *c, MfsStatus *st, Err *e) {
  Err why;
  err_clear(&why);
  if (zlib_to_end(d, c, &why) == MFS_OK) return 1;    /* all stored after all */
  if (d->broken.code == MFS_OK) return 0;
  *st = err_set(e, why.code, why.offset, "%s", why.msg);
  return 1;
}

/* The zlib-family stream inflated whole into a new head for the store, when it
** fits (see the top); 1 when the store now holds all of it (*st: the end's
** checks), 0 to go on with zlib (nothing changed but the try being spent). */
static int whole_inflate(DSrc *d, uint64_t pos, MfsStatus *st, Err *e) {
  Cursor *c = &d->cur[0];
  for (int i = 1; i < d->ncur; i++)
    if (d->cur[i].live && d->cur[i].out_pos > c->out_pos) c = &d->cur[i];
  if (d->whole_tried || !restartable(d) || !c->live || pos < c->out_pos ||
      d->end != UINT64_MAX || d->store_off || d->head_len != store_end(d) ||
      d->inner->size == SOURCE_SIZE_UNKNOWN || d->inner->size <= d->start)
    return 0;
  d->whole_tried = 1;
  uint64_t in_len = d->inner->size - d->start;
  Err ignored;
  err_clear(&ignored);
  int exact = 0;
  size_t room = in_len <= MFS_DECOMP_MEM_CACHE ? whole_room(d, c, in_len, &exact, &ignored) : 0;
  uint8_t *in = room ? malloc((size_t)in_len) : NULL, *out = in ? malloc(room) : NULL;
  struct libdeflate_decompressor *z = out ? libdeflate_alloc_decompressor() : NULL;
  size_t made = 0;
  int ran = z && source_read(d->inner, d->start, in, (size_t)in_len, &ignored) == MFS_OK;
  enum libdeflate_result r = ran ? whole_call(d, z, in, (size_t)in_len, out, room, &made)
                                 : LIBDEFLATE_INSUFFICIENT_SPACE;
  int ok = r == LIBDEFLATE_SUCCESS && made >= d->head_len;
  libdeflate_free_decompressor(z);
  free(in);
  if (!ok) {
    free(out);
    int refused = ran && r != LIBDEFLATE_SUCCESS && (r != LIBDEFLATE_INSUFFICIENT_SPACE || exact);
    return refused && whole_refused(d, c, st, e);
  }
  free(d->head);
  d->head = out;
  d->head_len = made;
  d->head_cap = room;
  *st = stream_ended(d, made, e);
  return 1;
}

/* Everything is stored: the decoders and the restart points are dead weight. */
static void store_maybe_release(DSrc *d) {
  if (d->released || d->end == UINT64_MAX || d->store_off || store_end(d) < d->end) return;
  for (int i = 0; i < d->ncur; i++) {
    Cursor *c = &d->cur[i];
    codec_end(d, c);
    free(c->in);
    free(c->out);
    c->in = c->out = NULL;
    cursor_reset_io(c, d->start, 0);
  }
  points_free(d);
  d->released = 1;
}

/* Copy what a cursor's kept chunk holds from pos on; 0 when none holds pos. */
static size_t kept_copy(DSrc *d, uint64_t pos, uint8_t *buf, size_t len) {
  for (int i = 0; i < d->ncur; i++) {
    Cursor *c = &d->cur[i];
    if (c->out == NULL || pos < c->out_pos - c->out_len || pos >= c->out_pos) continue;
    size_t skip = (size_t)(pos - (c->out_pos - c->out_len));
    size_t k = c->out_len - skip < len ? c->out_len - skip : len;
    memcpy(buf, c->out + skip, k);
    return k;
  }
  return 0;
}

static MfsStatus dsrc_read(Source *s, uint64_t off, void *buf, size_t len, size_t *got, Err *e) {
  DSrc *d = (DSrc *)s;
  uint8_t *out = buf;
  MfsStatus st = MFS_OK;
  *got = 0;
  pthread_mutex_lock(&d->mu);
  if (d->broken.code != MFS_OK)
    st = err_set(e, d->broken.code, d->broken.offset, "%s", d->broken.msg);
  while (*got < len && st == MFS_OK) {
    uint64_t pos = off + *got;
    if (pos >= d->end) break;
    size_t want = len - *got, n = 0;
    if (pos < d->head_len) {
      n = d->head_len - pos < want ? (size_t)(d->head_len - pos) : want;
      memcpy(out + *got, d->head + pos, n);
    } else if ((n = kept_copy(d, pos, out + *got, want)) > 0) {
      /* just decoded (a skip ran ahead to here): memory beats the spill file */
    } else if (pos >= MFS_DECOMP_MEM_CACHE && pos < MFS_DECOMP_MEM_CACHE + d->spill_len) {
      uint64_t rel = pos - MFS_DECOMP_MEM_CACHE;
      size_t k = d->spill_len - rel < want ? (size_t)(d->spill_len - rel) : want;
      int fd = d->spill_fd;
      /* Stored bytes never change: other readers may decode meanwhile. */
      pthread_mutex_unlock(&d->mu);
      st = spill_read(d, fd, rel, out + *got, k, &n, e);
      pthread_mutex_lock(&d->mu);
    } else if (whole_inflate(d, pos, &st, e)) {
      /* the store holds the whole stream now: served from it next turn */
    } else {
      st = decode_into(d, pos, out + *got, want, &n, e);
      if (st == MFS_OK && n == 0) break;   /* end of stream */
    }
    *got += n;
  }
  if (st == MFS_OK) store_maybe_release(d);
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
  points_free(d);
  free(d->head);
  if (d->spill_fd >= 0) close(d->spill_fd);
  pthread_mutex_destroy(&d->mu);
  source_unref(d->inner);
  free(d);
}

/* Bytes the store holds were decompressed from the file as it was when the first
** pass read it (each of those reads proven), so nothing can change them.  Past
** the store (it stopped: cap, full disk, no cache dir) they are inflated again
** from the compressed bytes, which are summed from the stream's start to the
** file's end: which of them a range needs is known only by inflating. */
static MfsStatus dsrc_sum(Source *s, uint64_t off, uint64_t len, Err *e) {
  DSrc *d = (DSrc *)s;
  pthread_mutex_lock(&d->mu);
  uint64_t se = store_end(d);
  pthread_mutex_unlock(&d->mu);
  if (len == 0 || (off < se && len <= se - off)) return MFS_OK;
  return source_sum(d->inner, d->start, UINT64_MAX - d->start, e);
}

static const SourceOps dsrc_ops = {dsrc_read, dsrc_destroy, dsrc_sum};

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
  if (n > d->max_out)
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
  if (d == NULL) {
    err_set(e, MFS_ENOMEM, 0, "out of memory");
    return NULL;
  }
  d->inner = source_ref(compressed);
  d->codec = kinds[k].codec;
  d->kind = kinds[k].name;
  d->expect = d->end = UINT64_MAX;
  d->max_out = limit_lowered("MODELFS_TEST_MAX_DECOMPRESSED", MFS_MAX_DECOMPRESSED);
  d->spill_fd = -1;
  d->spacing = MFS_RESTART_SPACING;
  d->ncur = restartable(d) ? MFS_DECOMP_CURSORS : 1;
  pthread_mutex_init(&d->mu, NULL);
  char name[512];
  snprintf(name, sizeof name, "%s", compressed->name);
  source_init(&d->base, &dsrc_ops, name, SOURCE_SIZE_UNKNOWN);
  if (d->codec == C_ZLIB && zfile_header(d, e) != MFS_OK) {
    source_unref(&d->base);
    return NULL;
  }
  return &d->base;
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
