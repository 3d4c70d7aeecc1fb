/* joblib.c -- STUB: the pickle/joblib Format (owner: joblib helper). */
#include "modelfs/pickle.h"
static int sniff(Source *src, const uint8_t *head, size_t n) { (void)src; return pickle_sniff(head, n); }
static MfsStatus decode(Model *m, Source *src) {
  Reader r;
  if (reader_init(&r, src, 0, &m->err) != MFS_OK) return m->err.code;
  MfsStatus st = pickle_run(m, &r, NULL, 0, &m->root, &m->protocol);
  reader_done(&r);
  return st;
}
const Format format_pickle = {"pickle", sniff, decode};
