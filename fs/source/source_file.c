/*
** source_file.c -- a plain file as a Source: pread at an offset, nothing cached
** (the page cache does that), and every read proven to be of the version opened.
**
** A file can be rewritten in place while it is read: arrays are read lazily,
** long after the decode.  So each read is followed by an fstat of the
** descriptor; when size, mtime, ctime (or inode) moved, the bytes just read may
** be of another version and are not returned.  A touch, an append or a rewrite
** with the same bytes also moves them without changing what was opened: for
** files up to MFS_PROVE_MAX the bytes are summed per MFS_PROVE_BLOCK at open
** (crc32), and a moved identity is accepted once every block still sums the
** same and the file is not shorter.  Reads never go past the size opened.
**
** Must never: return bytes read while the file was not the version opened;
** write to or seek the descriptor (any number of threads read at once).
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
  pthread_mutex_t lock;       /* cur, broken */
  struct stat cur;            /* identity under which the opened bytes are proven */
  int broken;                 /* proven changed: every later read fails */
  uint32_t *sums;             /* crc32 per block of [0, size), or NULL: not provable */
  size_t nsums;
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

/* The crc32 of every block of [0, size) into sums; 0 when all were read whole.
** libdeflate's crc32 (carry-less multiply) is ~6x zlib's here: the sums run
** over every byte of a file at open, before the decoder reads it once more. */
static int sum_blocks(const FileSource *f, uint64_t size, uint32_t *sums, size_t nsums,
                      uint8_t *buf) {
  for (size_t i = 0; i < nsums; i++) {
    uint64_t off = (uint64_t)i * MFS_PROVE_BLOCK;
    size_t len = size - off < MFS_PROVE_BLOCK ? (size_t)(size - off) : MFS_PROVE_BLOCK;
    size_t got;
    if (pread_all(f->fd, f->tally, buf, len, off, &got) != MFS_OK || got != len) return -1;
    sums[i] = libdeflate_crc32(0, buf, len);
  }
  return 0;
}

/* The file's identity moved from f->cur to *now: accept *now when the opened
** bytes are all still there (same sums, not shorter).  Bytes that differ, or
** a file too big to have sums, break the source for good; a file still moving
** while summed fails this read only.  MFS_OK when *now is proven. */
static MfsStatus prove(FileSource *f, const struct stat *now, Err *e) {
  uint64_t size = f->base.size;
  int gone = f->sums == NULL || (uint64_t)now->st_size < size, stable = 0;
  uint8_t *buf = gone ? NULL : malloc(MFS_PROVE_BLOCK);
  uint32_t *sums = gone ? NULL : malloc(f->nsums * sizeof *sums);
  if (!gone && buf && sums && sum_blocks(f, size, sums, f->nsums, buf) == 0) {
    struct stat after;
    stable = fstat(f->fd, &after) == 0 && same_identity(&after, now);
    gone = stable && memcmp(sums, f->sums, f->nsums * sizeof *sums) != 0;
  }
  free(buf);
  free(sums);
  int ok = stable && !gone;
  pthread_mutex_lock(&f->lock);
  if (ok) f->cur = *now;
  if (gone) f->broken = 1;
  pthread_mutex_unlock(&f->lock);
  if (ok) return MFS_OK;
  return err_set(e, MFS_EIO, MFS_NO_OFFSET, "%s: %s since it was opened", f->base.name,
                 gone ? "rewritten" : "being changed");
}

static MfsStatus file_read(Source *s, uint64_t off, void *buf, size_t len, size_t *got, Err *e) {
  FileSource *f = (FileSource *)s;
  *got = 0;
  if (off >= s->size) return MFS_OK;
  if (len > s->size - off) len = (size_t)(s->size - off);   /* never appended bytes */
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
    pthread_mutex_unlock(&f->lock);
    if (broken) break;
    if (same) {
      *got = done;
      return MFS_OK;
    }
    MfsStatus st = prove(f, &now, e);   /* then read again under the new identity */
    if (st != MFS_OK) return st;
  }
  return err_set(e, MFS_EIO, off, "%s: rewritten since it was opened", s->name);
}

static void file_destroy(Source *s) {
  FileSource *f = (FileSource *)s;
  close(f->fd);
  pthread_mutex_destroy(&f->lock);
  free(f->sums);
  free(s);
}

static const SourceOps file_ops = {file_read, file_destroy};

/* Sum the blocks of a file small enough to prove later; NULL sums otherwise
** (or when it changed while being summed: it is not provable then). */
static void take_sums(FileSource *f) {
  uint64_t size = (uint64_t)f->cur.st_size;
  if (size > MFS_PROVE_MAX) return;
  size_t n = (size_t)((size + MFS_PROVE_BLOCK - 1) / MFS_PROVE_BLOCK);
  uint32_t *sums = malloc((n ? n : 1) * sizeof *sums);
  uint8_t *buf = n ? malloc(MFS_PROVE_BLOCK) : NULL;
  struct stat after;
  if (sums && (n == 0 || buf) && sum_blocks(f, size, sums, n, buf) == 0 &&
      fstat(f->fd, &after) == 0 && same_identity(&after, &f->cur)) {
    f->sums = sums;
    f->nsums = n;
  } else {
    free(sums);
  }
  free(buf);
}

Source *source_from_fd_with(int fd, const char *name, const SourceFileOpts *opts, Err *e) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    err_set(e, MFS_EIO, MFS_NO_OFFSET, "%s: not a regular file", name);
    close(fd);
    return NULL;
  }
  FileSource *f = calloc(1, sizeof *f);
  if (f == NULL) {
    close(fd);
    err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
    return NULL;
  }
  f->fd = fd;
  f->cur = st;
  f->tally = opts ? opts->tally : NULL;
  pthread_mutex_init(&f->lock, NULL);
  if (opts == NULL || opts->prove == SOURCE_PROVE_OPEN) take_sums(f);
  source_init(&f->base, &file_ops, name, (uint64_t)st.st_size);
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
