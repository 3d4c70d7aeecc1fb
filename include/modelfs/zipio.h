/*
** zipio.h -- libzip over a Source (see zipio.c).
*/
#ifndef MODELFS_ZIPIO_H
#define MODELFS_ZIPIO_H

#include <zip.h>
#include "modelfs/model.h"

typedef struct ZipIo {
  Model *m;                /* the archive's model, for meta.json notes (may be NULL) */
  Source *src;
  uint64_t pos;
  uint64_t last_read;      /* offset of the last read libzip asked for */
  zip_error_t error;
} ZipIo;

/* The zip_source_callback over io->src (zip_source_function_create(zipio_cb, io, …)). */
zip_int64_t zipio_cb(void *ud, void *data, zip_uint64_t len, zip_source_cmd_t cmd);

/* Where member i's data (comp bytes as stored) start in io->src: the offset of
** libzip's first read of it, checked against the bytes libzip returned.  flags:
** ZIP_FL_COMPRESSED, or ZIP_FL_ENCRYPTED for a member flagged encrypted. */
int zipio_member_offset(zip_t *za, ZipIo *io, zip_uint64_t i, uint64_t comp, zip_flags_t flags,
                        uint64_t *off);

#endif
