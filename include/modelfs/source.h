/*
** source.h -- bytes at an offset, whatever the container.
**
** A Source answers "give me LEN bytes at OFF" for a plain file (pread), a
** decompressed stream (zlib, gzip, bz2, xz, lzma, lz4: restart points or a chunk
** cache) or a zip member.  The decoder reads through a Reader (buffered, forward)
** and the renderer serves array bytes by offset, so neither knows where bytes live.
**
** A Source is reference counted: the value graph keeps the Sources its arrays point
** into.  source_read is safe to call from several threads at once.  A Source never
** reads outside the bytes it was given (a zip member never reaches the next one).
*/
#ifndef MODELFS_SOURCE_H
#define MODELFS_SOURCE_H

#include <stddef.h>
#include <stdint.h>
#include "modelfs/err.h"

#define SOURCE_SIZE_UNKNOWN UINT64_MAX

typedef struct Source Source;

typedef struct SourceOps {
  /* Read up to len bytes at off into buf; *got < len only at end of data. */
  MfsStatus (*read)(Source *s, uint64_t off, void *buf, size_t len, size_t *got, Err *e);
  void (*destroy)(Source *s);
  /* Take now what proves [off, off+len) later, while the bytes are still those
  ** opened (a file's crc32 sums, source_file.c), so a touch or an append after
  ** this is told from a rewrite.  NULL: nothing to take (the bytes are in
  ** memory or in a private store), or nothing this source can take (then a
  ** change to the file under it fails the reads that need it). */
  MfsStatus (*sum)(Source *s, uint64_t off, uint64_t len, Err *e);
} SourceOps;

struct Source {
  const SourceOps *ops;
  uint64_t size;          /* SOURCE_SIZE_UNKNOWN until a decompressor reaches the end */
  int refs;               /* atomic */
  char *name;             /* for messages: "model.joblib" or "model.zip:member.pkl" */
};

/* Read exactly len bytes; a short read is MFS_ETRUNC with the offset. */
MfsStatus source_read(Source *s, uint64_t off, void *buf, size_t len, Err *e);
/* 1 when e says only that the bytes ended (a read or a reader past the end), not why. */
int err_is_end_of_data(const Err *e);
/* ops->sum when there is one; MFS_OK otherwise.  A failure means those bytes
** cannot be proven after a change (their reads then fail); it changes nothing. */
MfsStatus source_sum(Source *s, uint64_t off, uint64_t len, Err *e);
Source *source_ref(Source *s);
void source_unref(Source *s);
/* For implementations: fill the common fields (refs = 1, name copied). */
void source_init(Source *s, const SourceOps *ops, const char *name, uint64_t size);

/* Reads taken from files (pread calls, the proving sums' included) and their
** bytes: what a network filesystem under SOURCE is asked for.  Counted
** atomically into the tally and every tally up its chain (a model's, the
** mount's); the tallies must outlive the sources that count into them. */
typedef struct SourceTally {
  uint64_t reads, bytes;
  struct SourceTally *up;
} SourceTally;
void source_tally_add(SourceTally *t, uint64_t reads, uint64_t bytes);
/* An atomic snapshot of one tally's counters. */
void source_tally_get(const SourceTally *t, uint64_t *reads, uint64_t *bytes);

/* How a file source proves its bytes (see source_file.c).  SOURCE_PROVE_OPEN:
** crc32 sums of every block of a file up to MFS_PROVE_MAX taken at open, of a
** bigger one the ranges source_sum asks for (a touch never breaks a reader of
** summed bytes).  SOURCE_PROVE_SERVED: a file up to MFS_PROVE_MAX summed at
** open as above, a bigger one not; the sums then run over the bytes served (a
** plain file served as itself: its version is the bytes at each offset, so a
** change that left every byte served in place and the size as opened is read
** on from the file as it is now; a longer one only when every block is summed).
** SOURCE_PROVE_NONE: no sums, source_sum included (identification: nothing
** read is served later; -o frugal), every read still checked against the
** identity opened. */
typedef enum SourceProve { SOURCE_PROVE_OPEN = 0, SOURCE_PROVE_NONE, SOURCE_PROVE_SERVED } SourceProve;
typedef struct SourceFileOpts {
  SourceTally *tally;     /* may be NULL */
  SourceProve prove;
} SourceFileOpts;

/* source_file.c: a plain file read with pread; the fd stays open.  Every read is
** checked to be of the version opened (EIO otherwise; see source_file.c).  opts
** may be NULL: no tally, sums at open. */
Source *source_open_file(const char *path, Err *e);
Source *source_open_file_with(const char *path, const SourceFileOpts *opts, Err *e);
/* The same over an open descriptor, which the source owns from now on (closed
** on failure too). */
Source *source_from_fd(int fd, const char *name, Err *e);
Source *source_from_fd_with(int fd, const char *name, const SourceFileOpts *opts, Err *e);
/* source_mem.c: bytes in memory (tests, fuzzers, small decoded members); copies them. */
Source *source_from_memory(const void *data, size_t len, const char *name);
/* A window [off, off+len) of another source (legacy joblib ZF payloads, zip stored members). */
Source *source_slice(Source *inner, uint64_t off, uint64_t len, const char *name);

/* source_view.c: the C-order elements of a strided view of inner: element
** (i0, ..., in) is itemsize bytes at base_off + itemsize * sum(ik * stride[k]).
** The caller checks that every element lies inside inner. */
Source *source_strided(Source *inner, uint64_t base_off, size_t itemsize, int ndim,
                       const uint64_t *shape, const int64_t *stride, const char *name);
/* source_view.c: little-endian float32 values of inner's elements of kind
** "bfloat16", "float8_e4m3fn" or "float8_e5m2" (exact widenings); NULL for
** another kind. */
Source *source_widen(Source *inner, const char *kind, const char *name);
/* source_view.c: a Source holding no bytes that keeps others alive until it is
** destroyed (a decoder's many tensor views, kept by the arena as one).
** source_bundle_add takes over the caller's reference; 0 on OOM (then the caller
** still owns s). */
Source *source_bundle(const char *name);
int source_bundle_add(Source *bundle, Source *s);

/* source_inflate.c and friends: the decompressed view of a compressed source.
** kind is one of the compression names meta.json uses ("zlib", "gzip", "bz2",
** "xz", "lzma", "lz4").  Sequential reads cost one pass; random reads use restart
** points recorded on the way. */
Source *source_decompress(Source *compressed, const char *kind, Err *e);
/* The compression name whose magic starts head, or NULL for none.  A joblib < 0.10
** "ZF" Z-file is "zlib" (source_decompress skips its header and checks its length). */
const char *source_sniff_compression(const uint8_t *head, size_t n);
/* source_decompress also takes kind "deflate": a raw deflate stream (zip members). */
/* Directory for the files bz2/xz/lzma/lz4 sources spill decompressed bytes to
** (unlinked at once).  NULL restores the default: $TMPDIR, else /tmp.  Process-wide;
** affects sources created afterwards (the mount's -o cache_dir=). */
void source_set_cache_dir(const char *dir);

/*
** Reader: a forward cursor over a Source with a small buffer, for decoders.
** reader_take returns a pointer valid until the next call on the reader.
**
** Its reads are a window that grows: READER_MIN bytes (a page) after
** reader_init and after every skip of READER_MIN bytes or more, or past the
** buffer (an array payload stepped over), doubling with each window read whole
** until READER_BUF.  Reads end on READER_MIN boundaries where they can (the
** first after a skip goes to the end of its page), so a filesystem below never
** fetches a page twice.  A run of g bytes the decoder takes (smaller skips
** included) between two such skips so costs fewer than 2g + READER_MIN bytes
** of the source, in at most 6 + g / (READER_BUF - READER_MIN) reads: small
** stretches of pickle between arrays read little, long ones in large reads.
*/
#define READER_BUF (64u * 1024u)
#define READER_MIN (4u * 1024u)

/* Called at a long job's checkpoints (a decoder's, where it looks at its stop
** flag); it may block while other work goes first (the mount's decode pool). */
typedef struct PauseHook {
  void (*fn)(void *ctx);
  void *ctx;
} PauseHook;

typedef struct Reader {
  Source *src;
  uint64_t pos;           /* offset of the next unread byte */
  uint64_t buf_off;       /* source offset of buf[0] */
  size_t buf_len;
  uint8_t *buf;           /* READER_BUF bytes */
  size_t win;             /* bytes the next read asks for (READER_MIN..READER_BUF) */
  Err *err;               /* where failures are recorded */
  const _Atomic int *stop; /* NULL, or set (nonzero) when the decode is not wanted any
                              more: a long skip stops at its next step (MFS_SKIP_STEP) */
  PauseHook pause;        /* fn NULL, or called before every step of a long skip */
} Reader;

MfsStatus reader_init(Reader *r, Source *src, uint64_t start, Err *e);
void reader_done(Reader *r);
/* Take n (<= READER_BUF) bytes; MFS_ETRUNC at end of data.  Inline when the
** buffer holds them: the VM takes one to nine bytes per opcode. */
MfsStatus reader_take_slow(Reader *r, size_t n, const uint8_t **p);
static inline MfsStatus reader_take(Reader *r, size_t n, const uint8_t **p) {
  size_t at = (size_t)(r->pos - r->buf_off);   /* pos >= buf_off always */
  if (r->pos < r->buf_off + r->buf_len && n <= r->buf_len - at) {
    *p = r->buf + at;
    r->pos += n;
    return MFS_OK;
  }
  return reader_take_slow(r, n, p);
}
/* Copy n bytes of any size. */
MfsStatus reader_copy(Reader *r, void *dst, uint64_t n);
/* Skip n bytes (checked against the source size when it is known).  Over a
** source of unknown size (a decompressor) every skipped byte is produced, in
** steps that call r->pause and look at r->stop: MFS_ELIMIT "stopped" once it
** is set. */
MfsStatus reader_skip(Reader *r, uint64_t n);
/* Take bytes up to and excluding '\n' (max READER_BUF-1); *len excludes the newline. */
MfsStatus reader_line(Reader *r, const uint8_t **p, size_t *len);
/* Peek at up to n bytes without consuming; *got may be < n at end of data. */
MfsStatus reader_peek(Reader *r, size_t n, const uint8_t **p, size_t *got);
static inline uint64_t reader_pos(const Reader *r) { return r->pos; }

#endif
