/*
** source_file.c -- a plain file as a Source: pread at an offset, nothing cached
** (the page cache does that).  Must never write to or seek the descriptor, so
** any number of threads can read at once.
*/
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "modelfs/source.h"

typedef struct FileSource {
  Source base;
  int fd;
} FileSource;

static MfsStatus file_read(Source *s, uint64_t off, void *buf, size_t len, size_t *got, Err *e) {
  FileSource *f = (FileSource *)s;
  size_t done = 0;
  while (done < len) {
    ssize_t n = pread(f->fd, (char *)buf + done, len - done, (off_t)(off + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      *got = done;
      return err_set(e, MFS_EIO, off + done, "%s: read at offset %llu: %s", s->name,
                     (unsigned long long)(off + done), strerror(errno));
    }
    if (n == 0) break;
    done += (size_t)n;
  }
  *got = done;
  return MFS_OK;
}

static void file_destroy(Source *s) {
  close(((FileSource *)s)->fd);
  free(s);
}

static const SourceOps file_ops = {file_read, file_destroy};

Source *source_open_file(const char *path, Err *e) {
  /* O_NONBLOCK: a FIFO or a device under a model's name must be refused, not
  ** waited on (open() of a FIFO blocks until a writer comes).  It means nothing
  ** for the regular files that get past the check below. */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    err_set(e, MFS_EIO, MFS_NO_OFFSET, "%s: %s", path, strerror(errno));
    return NULL;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    err_set(e, MFS_EIO, MFS_NO_OFFSET, "%s: not a regular file", path);
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
  source_init(&f->base, &file_ops, path, (uint64_t)st.st_size);
  return &f->base;
}
