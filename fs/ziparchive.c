/* ziparchive.c -- STUB: zip archives of pickles (owner: joblib helper). */
#include "modelfs/decode.h"
static int sniff(Source *src, const uint8_t *head, size_t n) { (void)src; (void)head; (void)n; return 0; }
static MfsStatus decode(Model *m, Source *src) { (void)src; return err_set(&m->err, MFS_EUNSUPPORTED, 0, "zip archives not written yet"); }
const Format format_ziparchive = {"zip", sniff, decode};
