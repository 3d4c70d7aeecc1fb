/*
** npyfile.c -- the "npy" Format: a .npy file of object dtype.  numpy.save writes such
** an array as a pickle after the header (numpy.load runs it with allow_pickle=True,
** and old joblib and every .npz loader with it), so the file is a model: the pickle
** is decoded and judged like any other.  A .npy of plain numbers holds no pickle and
** is not claimed (it is shown as the file it is).
**
** It must never read the array data as anything but a pickle, and never claim a
** .npy whose header does not say object dtype.
*/
#include <string.h>
#include "modelfs/pickle.h"

#define NPY_MAGIC "\x93NUMPY"

/* Offset of the header text and its length, from the prefix in head; 0 when head
** is not a .npy prefix numpy writes (versions 1.0, 2.0, 3.0). */
static size_t header_at(const uint8_t *head, size_t n, size_t *len) {
  if (n < 10 || memcmp(head, NPY_MAGIC, 6) != 0) return 0;
  if (head[6] == 1) {
    *len = (size_t)head[8] | (size_t)head[9] << 8;
    return 10;
  }
  if ((head[6] == 2 || head[6] == 3) && n >= 12) {
    *len = (size_t)head[8] | (size_t)head[9] << 8 | (size_t)head[10] << 16 |
           (size_t)head[11] << 24;
    return 12;
  }
  return 0;
}

/* numpy writes an object field or array as '|O' in the header's descr, whatever
** else the dtype holds; a field name is never written with the '|' prefix. */
static int object_header(const uint8_t *h, size_t len) {
  static const char pat[] = "'|O'";
  for (size_t i = 0; i + 4 <= len; i++)
    if (memcmp(h + i, pat, 4) == 0) return 1;
  return 0;
}

static int sniff(Source *src, const uint8_t *head, size_t n) {
  (void)src;
  size_t len = 0, at = header_at(head, n, &len);
  return at != 0 && at + len <= n && object_header(head + at, len);
}

static MfsStatus decode(Model *m, Source *src) {
  uint8_t head[12];
  size_t got = 0, len = 0;
  if (src->ops->read(src, 0, head, sizeof head, &got, &m->err) != MFS_OK) return m->err.code;
  size_t at = header_at(head, got, &len);
  if (at == 0) return err_set(&m->err, MFS_ECORRUPT, 0, "offset 0: not a .npy file");
  model_set_meta_str(m, "container", "npy");
  Reader r;
  if (reader_init(&r, src, at + len, &m->err) != MFS_OK) return m->err.code;
  MfsStatus st = pickle_run(m, &r, NULL, 0, &m->root, &m->protocol);
  reader_done(&r);
  return st;
}

const Format format_npy = {"npy", sniff, decode};
