/*
** source_file.c -- a plain file as a Source: pread at an offset, nothing cached
** (the page cache does that), and every read proven to be of the version opened.
**
** A file can be rewritten in place while it is read: arrays are read lazily,
** long after the decode.  So each read is followed by an fstat of the
** descriptor; when size, mtime, ctime (or inode) moved, the bytes just read may
** be of another version and are not returned.  A touch, an append or a rewrite
** with the same bytes also moves them without changing what was opened, so
** blocks of MFS_PROVE_BLOCK bytes are summed (crc32) while the identity is still
** the one opened: all of a file up to MFS_PROVE_MAX at open, and of a bigger one
** the ranges a caller asks for with source_sum (an array when its file is
** opened).  A moved identity is accepted once every summed block still sums the
** same and the file is not shorter; blocks never summed cannot be proven then
** and their reads fail (EIO), as do all reads once a summed block differs.
** Under SOURCE_PROVE_SERVED (a plain file served as itself: the version IS the
** bytes at each offset) a file past MFS_PROVE_MAX reads nothing at open: each
** block's sum runs over the prefix of it served so far, extended from the buffer
** each proven read returns (a read past the prefix sums the gap first).  A moved
** identity is accepted when every byte served is still there and the size is
** the one opened: bytes never served are then read from the file as it is now,
** so what a reader gets is all of one version.  Longer (an append, or a file cut,
** rewritten and grown: nothing tells them apart) only when every block is
** summed.  Under SOURCE_PROVE_NONE (identification, -o frugal) nothing is summed:
** any change fails the reads after it.  Reads never go past the size opened.
**
** Must never: return bytes read while the file was not the version opened, nor
** bytes of a block not proven under the identity they were read under; write to
** or seek the descriptor (any number of threads read at once).
*/
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libdeflate.h>
#include "modelfs/limits.h"
#include "modelfs/source.h"

typedef struct FileSource {
  Source base;
  int fd;
  pthread_mutex_t prove_mu;   /* one sum or proof at a time; held by every writer of
                                 cur, lost[], have[] and sums[] (so they may read them) */
  pthread_mutex_t lock;       /* cur, broken, lost[], have[] for readers without prove_mu */
  struct stat cur;            /* identity under which the opened bytes are proven */
  int broken;                 /* proven changed: every later read fails */
  size_t nblocks;             /* MFS_PROVE_BLOCK blocks of [0, size) */
  /* A block is summed when have[] covers it: its crc32 of the version opened is
  ** known.  Not summed, its bytes are proven only while the identity is still
  ** the one opened, and lost[] once that moved: nothing proves them then. */
  uint8_t *lost;              /* per block */
  uint32_t *have;             /* per block, the bytes from its start summed in sums[] */
  uint32_t *sums;             /* per block, crc32 of its first have[] bytes */
  SourceProve prove;          /* SOURCE_PROVE_NONE: no sums ever (-o frugal) */
  SourceTally *tally;         /* every pread counted here, or NULL */
} FileSource;

static int same_identity(const struct stat *a, const struct stat *b) {
  return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
         a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
         a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Every pread is counted: each is a request to a network filesystem below. */
static MfsStatus pread_all(int fd, SourceTally *tally, void *buf, size_t len, uint64_t off,
                           size_t *got) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
    source_tally_add(tally, 1, n > 0 ? (uint64_t)n : 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *got = done;
      return MFS_EIO;
    }
    if (n == 0) break;
    done += (size_t)n;
  }
  *got = done;
  return MFS_OK;
}

static size_t block_len(const FileSource *f, size_t b) {
  uint64_t off = (uint64_t)b * MFS_PROVE_BLOCK, size = f->base.size;
  return size - off < MFS_PROVE_BLOCK ? (size_t)(size - off) : MFS_PROVE_BLOCK;
}

static int summed(const FileSource *f, size_t b) {
  return f->have[b] == block_len(f, b);
}

/* The crc32 of the bytes [from, to) of block b as the file holds them now,
** carried on from crc (the sum of the bytes before from); 0 when read whole.
** libdeflate's crc32 (carry-less multiply) is ~6x zlib's here: sums run over
** every byte summed, before the decoder or a reader reads it once more. */
static int sum_part(FileSource *f, size_t b, size_t from, size_t to, uint8_t *buf,
                    uint32_t *crc) {
  size_t got;
  uint64_t off = (uint64_t)b * MFS_PROVE_BLOCK + from;
  if (pread_all(f->fd, f->tally, buf, to - from, off, &got) != MFS_OK || got != to - from)
    return -1;
  *crc = libdeflate_crc32(*crc, buf, to - from);
  return 0;
}

/* prove_mu held.  1 when every block's summed bytes still sum the same, 0 when
** one differs, -1 when one could not be read. */
static int summed_blocks_same(FileSource *f, uint8_t *buf) {
  for (size_t b = 0; b < f->nblocks; b++) {
    uint32_t crc = 0;
    if (f->have[b] == 0) continue;
    if (sum_part(f, b, 0, f->have[b], buf, &crc) != 0) return -1;
    if (crc != f->sums[b]) return 0;
  }
  return 1;
}

/* prove_mu held.  A file proven by what it served that is now longer than
** opened: the bytes not served yet may be those opened (an append) or not (cut,
** rewritten, then grown), and served as they are now they would be the start of
** a file that is no version of it -- so it goes on only when every block is
** summed whole (a file up to MFS_PROVE_MAX is summed at open).  Same size: what
** it serves is the file as it is now, all of it. */
static int grew_unproven(const FileSource *f, const struct stat *now) {
  if (f->prove != SOURCE_PROVE_SERVED || (uint64_t)now->st_size <= f->base.size) return 0;
  for (size_t b = 0; b < f->nblocks; b++)
    if (!summed(f, b)) return 1;
  return 0;
}

/* prove_mu held.  The identity moved from cur: accept the file as it is now when
** the opened bytes summed are all still there (same sums, not shorter); blocks
** never summed are lost then.  A summed block that differs breaks the source
** for good; a file still moving while summed fails this call only. */
static MfsStatus prove_locked(FileSource *f, Err *e) {
  struct stat now, after;
  if (fstat(f->fd, &now) != 0)
    return err_set(e, MFS_EIO, MFS_NO_OFFSET, "%s: %s", f->base.name, strerror(errno));
  pthread_mutex_lock(&f->lock);
  int gone = f->broken, moved = !same_identity(&now, &f->cur), stable = 0;
  pthread_mutex_unlock(&f->lock);
  if (!gone && !moved) return MFS_OK;               /* proven meanwhile by another reader */
  gone = gone || (uint64_t)now.st_size < f->base.size || grew_unproven(f, &now);
  uint8_t *buf = gone ? NULL : malloc(MFS_PROVE_BLOCK);
  if (!gone && buf == NULL) return err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
  if (!gone) {
    int same = summed_blocks_same(f, buf);
    stable = same >= 0 && fstat(f->fd, &after) == 0 && same_identity(&after, &now);
    gone = stable && same == 0;
  }
  free(buf);
  pthread_mutex_lock(&f->lock);
  if (gone) f->broken = 1;
  else if (stable) f->cur = now;
  for (size_t b = 0; stable && !gone && f->prove != SOURCE_PROVE_SERVED && b < f->nblocks; b++)
    if (!summed(f, b)) f->lost[b] = 1;
  pthread_mutex_unlock(&f->lock);
  if (stable && !gone) return MFS_OK;
  return err_set(e, MFS_EIO, MFS_NO_OFFSET, "%s: %s since it was opened", f->base.name,
                 gone ? "rewritten" : "being changed");
}

static MfsStatus prove(FileSource *f, Err *e) {
  pthread_mutex_lock(&f->prove_mu);
  MfsStatus st = prove_locked(f, e);
  pthread_mutex_unlock(&f->prove_mu);
  return st;
}

/* Under lock: does [off, off+len) touch a block nothing proves? */
static int range_lost(const FileSource *f, uint64_t off, size_t len) {
  if (len == 0) return 0;
  for (uint64_t b = off / MFS_PROVE_BLOCK; b <= (off + len - 1) / MFS_PROVE_BLOCK; b++)
    if (f->lost[b]) return 1;
  return 0;
}

static MfsStatus not_summed(const FileSource *f, uint64_t at, Err *e) {
  return err_set(e, MFS_EIO, at, "%s: changed since it was opened, before the bytes at "
                 "offset %llu were summed", f->base.name, (unsigned long long)at);
}

/* A block's summed prefix carried over the bytes [from, to) of it a read got
** (buf holds the block's bytes from `from`): what it would be, in *have, *crc. */
typedef struct Served { size_t b, have; uint32_t crc; } Served;

/* prove_mu held.  The served prefixes of the blocks [off, off+len) touches, as
** they are once BUF (the bytes just read there) is served: a gap between a
** prefix and the read is summed from the file first (into gap, one block).
** -1 when the gap could not be read, -2 out of memory. */
static int extend_served(FileSource *f, uint64_t off, const uint8_t *buf, size_t len,
                         Served *out, size_t *n, uint8_t **gap) {
  *n = 0;
  for (size_t b = (size_t)(off / MFS_PROVE_BLOCK); len && (uint64_t)b * MFS_PROVE_BLOCK < off + len; b++) {
    uint64_t start = (uint64_t)b * MFS_PROVE_BLOCK;
    size_t from = off > start ? (size_t)(off - start) : 0;
    size_t to = off + len - start < block_len(f, b) ? (size_t)(off + len - start) : block_len(f, b);
    Served *sv = &out[(*n)++];
    sv->b = b, sv->have = f->have[b], sv->crc = f->sums[b];
    if (sv->have >= to) continue;
    if (sv->have < from) {                    /* a gap: its bytes are summed first */
      if (*gap == NULL && (*gap = malloc(MFS_PROVE_BLOCK)) == NULL) return -2;
      if (sum_part(f, b, sv->have, from, *gap, &sv->crc) != 0) return -1;
      sv->have = from;
    }
    sv->crc = libdeflate_crc32(sv->crc, buf + (start + sv->have - off), to - sv->have);
    sv->have = to;
  }
  return 0;
}

/* prove_mu held.  Note BUF (LEN bytes read at OFF under the identity SNAP) as
** served: 1 when the file is still SNAP, its sums then extended over it; 0 when
** it moved or a gap could not be read (nothing noted); -1 out of memory. */
static int note_served(FileSource *f, const struct stat *snap, uint64_t off, const uint8_t *buf,
                       size_t len, Err *e) {
  size_t n, blocks = len ? (size_t)((off + len - 1) / MFS_PROVE_BLOCK - off / MFS_PROVE_BLOCK) + 1 : 0;
  Served *sv = malloc((blocks ? blocks : 1) * sizeof *sv);
  uint8_t *gap = NULL;
  if (sv == NULL) return err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory"), -1;
  int read = extend_served(f, off, buf, len, sv, &n, &gap);
  free(gap);
  if (read == -2) {
    free(sv);
    return err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory"), -1;
  }
  struct stat now;
  int ok = read == 0 && fstat(f->fd, &now) == 0;
  pthread_mutex_lock(&f->lock);
  ok = ok && !f->broken && same_identity(&now, &f->cur) && same_identity(snap, &f->cur);
  for (size_t i = 0; ok && i < n; i++) {
    f->have[sv[i].b] = (uint32_t)sv[i].have;
    f->sums[sv[i].b] = sv[i].crc;
  }
  pthread_mutex_unlock(&f->lock);
  free(sv);
  return ok;
}

/* SOURCE_PROVE_SERVED: a read is returned once it is noted as served under the
** identity it was read under; when that moved, the bytes served so far are
** proven still there (prove) and the read is taken again. */
static MfsStatus served_read(FileSource *f, uint64_t off, uint8_t *buf, size_t len, size_t *got,
                             Err *e) {
  for (int tries = 0; tries < MFS_PROVE_TRIES; tries++) {
    size_t done;
    pthread_mutex_lock(&f->lock);
    struct stat snap = f->cur;
    int broken = f->broken;
    pthread_mutex_unlock(&f->lock);
    if (broken) break;
    if (pread_all(f->fd, f->tally, buf, len, off, &done) != MFS_OK)
      return err_set(e, MFS_EIO, off + done, "%s: read at offset %llu: %s", f->base.name,
                     (unsigned long long)(off + done), strerror(errno));
    pthread_mutex_lock(&f->prove_mu);
    int noted = note_served(f, &snap, off, buf, done, e);
    MfsStatus st = noted != 0 ? MFS_OK : prove_locked(f, e);
    pthread_mutex_unlock(&f->prove_mu);
    if (noted < 0) return MFS_ENOMEM;
    if (noted > 0) {
      *got = done;
      return MFS_OK;
    }
    if (st != MFS_OK) return st;
  }
  return err_set(e, MFS_EIO, off, "%s: rewritten since it was opened", f->base.name);
}

static MfsStatus file_read(Source *s, uint64_t off, void *buf, size_t len, size_t *got, Err *e) {
  FileSource *f = (FileSource *)s;
  *got = 0;
  if (off >= s->size) return MFS_OK;
  if (len > s->size - off) len = (size_t)(s->size - off);   /* never appended bytes */
  if (f->prove == SOURCE_PROVE_SERVED) return served_read(f, off, buf, len, got, e);
  for (int tries = 0; tries < MFS_PROVE_TRIES; tries++) {
    size_t done;
    if (pread_all(f->fd, f->tally, buf, len, off, &done) != MFS_OK)
      return err_set(e, MFS_EIO, off + done, "%s: read at offset %llu: %s", s->name,
                     (unsigned long long)(off + done), strerror(errno));
    struct stat now;
    if (fstat(f->fd, &now) != 0)
      return err_set(e, MFS_EIO, off, "%s: %s", s->name, strerror(errno));
    pthread_mutex_lock(&f->lock);
    int broken = f->broken, same = same_identity(&now, &f->cur);
    int lost = same && range_lost(f, off, done);
    pthread_mutex_unlock(&f->lock);
    if (broken) break;
    if (lost) return not_summed(f, off, e);
    if (same) {
      *got = done;
      return MFS_OK;
    }
    MfsStatus st = prove(f, e);   /* then read again under the new identity */
    if (st != MFS_OK) return st;
  }
  return err_set(e, MFS_EIO, off, "%s: rewritten since it was opened", s->name);
}

/* prove_mu held.  Sum block b if the identity is still the one its bytes are
** proven under; a block the identity moved away from first cannot be summed. */
static MfsStatus take_sum(FileSource *f, size_t b, uint8_t *buf, Err *e) {
  uint64_t at = (uint64_t)b * MFS_PROVE_BLOCK;
  uint32_t crc = 0;
  struct stat now;
  if (summed(f, b)) return MFS_OK;
  if (f->lost[b]) return not_summed(f, at, e);
  if (sum_part(f, b, 0, block_len(f, b), buf, &crc) != 0)
    return err_set(e, MFS_EIO, at, "%s: read at offset %llu: %s", f->base.name,
                   (unsigned long long)at, strerror(errno));
  if (fstat(f->fd, &now) != 0)
    return err_set(e, MFS_EIO, at, "%s: %s", f->base.name, strerror(errno));
  pthread_mutex_lock(&f->lock);
  int ok = !f->broken && same_identity(&now, &f->cur);
  if (ok) {
    f->sums[b] = crc;
    f->have[b] = (uint32_t)block_len(f, b);
  }
  pthread_mutex_unlock(&f->lock);
  return ok ? MFS_OK : not_summed(f, at, e);
}

/* Sum the blocks of [off, off+len) not summed yet, so a touch or an append after
** this is told from a rewrite for these bytes (source_sum).  Nothing under
** SOURCE_PROVE_NONE: reading a range twice is what -o frugal declines. */
static MfsStatus file_sum(Source *s, uint64_t off, uint64_t len, Err *e) {
  FileSource *f = (FileSource *)s;
  if (off >= s->size || len == 0 || f->prove == SOURCE_PROVE_NONE) return MFS_OK;
  if (len > s->size - off) len = s->size - off;
  size_t b1 = (size_t)((off + len - 1) / MFS_PROVE_BLOCK) + 1;
  uint8_t *buf = NULL;
  MfsStatus st = MFS_OK;
  pthread_mutex_lock(&f->prove_mu);
  for (size_t b = (size_t)(off / MFS_PROVE_BLOCK); b < b1 && st == MFS_OK; b++) {
    if (!summed(f, b) && buf == NULL && (buf = malloc(MFS_PROVE_BLOCK)) == NULL)
      st = err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
    else
      st = take_sum(f, b, buf, e);
  }
  pthread_mutex_unlock(&f->prove_mu);
  free(buf);
  return st;
}

static void file_destroy(Source *s) {
  FileSource *f = (FileSource *)s;
  close(f->fd);
  pthread_mutex_destroy(&f->lock);
  pthread_mutex_destroy(&f->prove_mu);
  free(f->lost);
  free(f->have);
  free(f->sums);
  free(s);
}

static const SourceOps file_ops = {file_read, file_destroy, file_sum};

Source *source_from_fd_with(int fd, const char *name, const SourceFileOpts *opts, Err *e) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    err_set(e, MFS_EIO, MFS_NO_OFFSET, "%s: not a regular file", name);
    close(fd);
    return NULL;
  }
  FileSource *f = calloc(1, sizeof *f);
  size_t n = (size_t)(((uint64_t)st.st_size + MFS_PROVE_BLOCK - 1) / MFS_PROVE_BLOCK);
  if (f) {
    f->lost = calloc(n ? n : 1, 1);
    f->have = calloc(n ? n : 1, sizeof *f->have);
    f->sums = calloc(n ? n : 1, sizeof *f->sums);
  }
  if (f == NULL || f->lost == NULL || f->have == NULL || f->sums == NULL) {
    if (f) free(f->lost), free(f->have), free(f->sums);
    free(f);
    close(fd);
    err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
    return NULL;
  }
  f->fd = fd;
  f->cur = st;
  f->nblocks = n;
  f->prove = opts ? opts->prove : SOURCE_PROVE_OPEN;
  f->tally = opts ? opts->tally : NULL;
  pthread_mutex_init(&f->lock, NULL);
  pthread_mutex_init(&f->prove_mu, NULL);
  source_init(&f->base, &file_ops, name, (uint64_t)st.st_size);
  /* A small file is summed whole now: every byte of it stays provable, whatever
  ** is read later, an append too.  A failure (it changed meanwhile) shows in its
  ** reads.  A bigger file proven by what it served reads nothing now. */
  Err ignored;
  err_clear(&ignored);
  if ((uint64_t)st.st_size <= MFS_PROVE_MAX && f->prove != SOURCE_PROVE_NONE)
    file_sum(&f->base, 0, (uint64_t)st.st_size, &ignored);
  return &f->base;
}

Source *source_from_fd(int fd, const char *name, Err *e) {
  return source_from_fd_with(fd, name, NULL, e);
}

Source *source_open_file_with(const char *path, const SourceFileOpts *opts, Err *e) {
  /* O_NONBLOCK: a FIFO or a device under a model's name must be refused, not
  ** waited on (open() of a FIFO blocks until a writer comes).  It means nothing
  ** for the regular files that get past the check in source_from_fd. */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    err_set(e, MFS_EIO, MFS_NO_OFFSET, "%s: %s", path, strerror(errno));
    return NULL;
  }
  return source_from_fd_with(fd, path, opts, e);
}

Source *source_open_file(const char *path, Err *e) {
  return source_open_file_with(path, NULL, e);
}
