/*
** zipio.c -- libzip reading a zip through a Source, and where a member's bytes
** start in it.  Shared by every Format that opens zips (bundles, PyTorch
** archives), so that a stored member is served by offset from the Source and
** never copied.  Must never trust libzip's idea of an offset without checking
** the bytes there against what libzip returned.
*/
#include <errno.h>
#include <string.h>
#include "modelfs/zipio.h"

zip_int64_t zipio_cb(void *ud, void *data, zip_uint64_t len, zip_source_cmd_t cmd) {
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

int zipio_member_offset(zip_t *za, ZipIo *io, zip_uint64_t i, uint64_t comp, zip_flags_t flags,
                        uint64_t *off) {
  zip_file_t *zf = zip_fopen_index(za, i, flags);
  if (zf == NULL) return 0;
  uint8_t a[256], b[256];
  size_t want = comp < sizeof a ? (size_t)comp : sizeof a;
  zip_int64_t n = zip_fread(zf, a, want);
  uint64_t guess = io->last_read;
  zip_fclose(zf);
  Err e;
  err_clear(&e);
  if (n != (zip_int64_t)want || guess > io->src->size || comp > io->src->size - guess) return 0;
  if (want && (source_read(io->src, guess, b, want, &e) != MFS_OK || memcmp(a, b, want) != 0))
    return 0;
  *off = guess;
  return 1;
}
