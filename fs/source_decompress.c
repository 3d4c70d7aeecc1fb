/* source_decompress.c -- STUB: decompressing sources (owner: joblib helper). */
#include "modelfs/source.h"
Source *source_decompress(Source *compressed, const char *kind, Err *e) {
  (void)compressed;
  err_set(e, MFS_EUNSUPPORTED, 0, "%s decompression not written yet", kind);
  return NULL;
}
const char *source_sniff_compression(const uint8_t *head, size_t n) { (void)head; (void)n; return NULL; }
