/*
** decode.c -- from a path to a Model: open, undo compression, pick the format.
**
** The only place that knows the list of formats.  It never interprets a byte of
** a format itself beyond the compression magic; each Format's sniff decides.
*/
#include <stdlib.h>
#include <string.h>
#include "modelfs/decode.h"
#include "modelfs/pickle.h"

extern const Format format_pytorch;
extern const Format format_pytorch_legacy;
extern const Format format_safetensors;
extern const Format format_skops;
extern const Format format_ziparchive;
extern const Format format_pickle;

/* Order matters: a zip is a PyTorch archive when it holds X/data.pkl, a skops file
** when it holds schema.json, else an archive; a pickle that is PyTorch's magic
** number starts a legacy checkpoint. */
static const Format *const formats[] = {&format_pytorch, &format_skops, &format_ziparchive,
                                        &format_pytorch_legacy, &format_safetensors,
                                        &format_pickle};

#define HEAD_BYTES 64

static void model_fail(Model *m) {
  m->ok = 0;
  if (m->err.code == MFS_OK) err_set(&m->err, MFS_ECORRUPT, MFS_NO_OFFSET, "decode failed");
}

static MfsStatus read_head(Source *src, uint8_t *head, size_t *n, Err *e) {
  size_t got = 0;
  MfsStatus st = src->ops->read(src, 0, head, HEAD_BYTES, &got, e);
  *n = got;
  return st;
}

/* Pick the format of an (already decompressed) stream and run it. */
static void decode_stream(Model *m, Source *stream) {
  uint8_t head[HEAD_BYTES];
  size_t n;
  if (read_head(stream, head, &n, &m->err) != MFS_OK) return model_fail(m);
  if (n == 0) {
    err_set(&m->err, MFS_ETRUNC, 0, "offset 0: empty file");
    return model_fail(m);
  }
  for (size_t i = 0; i < sizeof formats / sizeof *formats; i++) {
    if (!formats[i]->sniff(stream, head, n)) continue;
    m->format = formats[i]->name;
    MfsStatus st = formats[i]->decode(m, stream);
    m->ok = st == MFS_OK && m->err.code == MFS_OK;
    if (!m->ok) model_fail(m);
    return;
  }
  err_set(&m->err, MFS_ECORRUPT, 0,
          "offset 0: not a model file (first bytes %02x %02x %02x %02x)", head[0],
          n > 1 ? head[1] : 0, n > 2 ? head[2] : 0, n > 3 ? head[3] : 0);
  model_fail(m);
}

Model *model_decode_source(Source *src, const char *name) {
  Model *m = model_new(name ? name : src->name);
  if (m == NULL) return NULL;
  m->src = source_ref(src);
  m->size = src->size;
  arena_keep_source(m->vs.arena, src);
  uint8_t head[HEAD_BYTES];
  size_t n;
  if (read_head(src, head, &n, &m->err) != MFS_OK) {
    model_fail(m);
    return m;
  }
  const char *kind = source_sniff_compression(head, n);
  if (kind == NULL) {
    decode_stream(m, src);
    return m;
  }
  Source *plain = source_decompress(src, kind, &m->err);
  if (plain == NULL) {
    model_fail(m);
    return m;
  }
  m->compression = kind;
  arena_keep_source(m->vs.arena, plain);
  decode_stream(m, plain);
  source_unref(plain);
  return m;
}

Model *model_decode(const char *path) {
  Err e;
  err_clear(&e);
  Source *src = source_open_file(path, &e);
  if (src == NULL) {
    Model *m = model_new(path);
    if (m == NULL) return NULL;
    m->err = e;
    m->ok = 0;
    return m;
  }
  Model *m = model_decode_source(src, path);
  source_unref(src);
  return m;
}

static int ends_with(const char *s, size_t n, const char *suffix) {
  size_t k = strlen(suffix);
  return n >= k && strcmp(s + n - k, suffix) == 0;
}

int model_name_looks_like_model(const char *name) {
  static const char *const model_ext[] = {".pkl", ".pickle", ".joblib", ".sav", ".skops",
                                          ".p", ".pck", ".pcl", ".jbl", ".model", ".pt",
                                          ".pth", ".ckpt", ".safetensors", NULL};
  static const char *const comp_ext[] = {".z", ".gz", ".bz2", ".xz", ".lzma", ".lz4",
                                         ".pbz2", ".zip", NULL};
  size_t n = strlen(name);
  for (int pass = 0; pass < 2; pass++) {
    for (int i = 0; model_ext[i]; i++)
      if (ends_with(name, n, model_ext[i])) return 1;
    /* "model.pkl.gz": strip one compression ending and look again; a bare
    ** ".gz" or ".zip" is not a model by name alone. */
    int stripped = 0;
    for (int i = 0; comp_ext[i] && pass == 0; i++)
      if (ends_with(name, n, comp_ext[i])) {
        if (strcmp(comp_ext[i], ".pbz2") == 0) return 1;
        n -= strlen(comp_ext[i]);
        stripped = 1;
        break;
      }
    if (!stripped) break;
    char *tmp = strndup(name, n);
    if (tmp == NULL) return 0;
    int r = 0;
    for (int i = 0; model_ext[i]; i++)
      if (ends_with(tmp, n, model_ext[i])) r = 1;
    free(tmp);
    return r;
  }
  return 0;
}

int model_head_looks_like_model(const uint8_t *head, size_t n) {
  if (n >= 2 && head[0] == 'Z' && head[1] == 'F') return 1;   /* joblib < 0.10 zlib */
  return model_head_is_tensor_file(head, n) || pickle_sniff(head, n);
}

int model_head_is_tensor_file(const uint8_t *head, size_t n) {
  return format_pytorch.sniff(NULL, head, n) || format_pytorch_legacy.sniff(NULL, head, n) ||
         format_safetensors.sniff(NULL, head, n);
}
