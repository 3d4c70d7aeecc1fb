/*
** err.c -- filling the one error record.  First error wins: later failures are
** usually consequences of the first and would hide the real fault.
*/
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "modelfs/err.h"

MfsStatus err_set(Err *e, MfsStatus code, uint64_t offset, const char *fmt, ...) {
  if (e == NULL || e->code != MFS_OK) return code;
  e->code = code;
  e->offset = offset;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
  return code;
}

void err_clear(Err *e) {
  e->code = MFS_OK;
  e->offset = MFS_NO_OFFSET;
  e->msg[0] = '\0';
}

const char *err_code_name(MfsStatus code) {
  switch (code) {
    case MFS_OK: return "ok";
    case MFS_ECORRUPT: return "corrupt";
    case MFS_ETRUNC: return "truncated";
    case MFS_ELIMIT: return "limit";
    case MFS_ENOMEM: return "out of memory";
    case MFS_EIO: return "I/O error";
    case MFS_EUNSUPPORTED: return "unsupported";
  }
  return "error";
}
