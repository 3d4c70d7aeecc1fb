/*
** err.h -- the one error record every layer fills.
**
** An error a user sees names the file, the byte offset and the reason.  Functions
** return an MfsStatus; the first error recorded into an Err wins, so the message
** that reaches meta.json is the one closest to the fault.  Never abort() on input.
*/
#ifndef MODELFS_ERR_H
#define MODELFS_ERR_H

#include <stdint.h>

typedef enum MfsStatus {
  MFS_OK = 0,
  MFS_ECORRUPT,     /* bytes that no writer produces */
  MFS_ETRUNC,       /* input ended early */
  MFS_ELIMIT,       /* a limits.h bound was hit */
  MFS_ENOMEM,
  MFS_EIO,          /* the source could not be read */
  MFS_EUNSUPPORTED  /* valid input we do not decode (out-of-band buffers, ...) */
} MfsStatus;

#define MFS_NO_OFFSET UINT64_MAX

typedef struct Err {
  MfsStatus code;
  uint64_t offset;        /* byte offset in the (decompressed) stream, or MFS_NO_OFFSET */
  char msg[512];          /* "offset 123: truncated BINUNICODE" style, without the file */
} Err;

/* Record an error unless one is already recorded; returns code for tail calls. */
MfsStatus err_set(Err *e, MfsStatus code, uint64_t offset, const char *fmt, ...)
  __attribute__((format(printf, 4, 5)));
void err_clear(Err *e);
const char *err_code_name(MfsStatus code);

#endif
