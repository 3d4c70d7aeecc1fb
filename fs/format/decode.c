/*
** decode.c -- from a path to a Model: open, undo compression, pick the format.
**
** The only place that knows the list of formats.  It never interprets a byte of
** a format itself beyond the compression magic; each Format's sniff decides.
*/
#include <stdlib.h>
#include <string.h>
#include "modelfs/decode.h"
#include "modelfs/limits.h"
#include "modelfs/pickle.h"

extern const Format format_pytorch;
extern const Format format_pytorch_legacy;
extern const Format format_safetensors;
extern const Format format_skops;
extern const Format format_ziparchive;
extern const Format format_pickle;
extern const Format format_npy;
extern const Format format_sevenzip;

/* Order matters: a zip is a PyTorch archive when it holds X/data.pkl, a skops file
** when it holds schema.json, else an archive; a pickle that is PyTorch's magic
** number starts a legacy checkpoint. */
static const Format *const formats[] = {&format_pytorch, &format_skops, &format_ziparchive,
                                        &format_pytorch_legacy, &format_safetensors,
                                        &format_npy, &format_sevenzip,
                                        &format_pickle};

#define HEAD_BYTES MFS_IDENT_BYTES

static void model_fail(Model *m) {
  m->ok = 0;
  if (m->err.code == MFS_OK) err_set(&m->err, MFS_ECORRUPT, MFS_NO_OFFSET, "decode failed");
}

MfsStatus format_head(Source *src, uint8_t *head, size_t *n, Err *e) {
  size_t got = 0;
  MfsStatus st = src->ops->read(src, 0, head, HEAD_BYTES, &got, e);
  *n = got;
  return st;
}

const Format *format_for_stream(Source *stream, const uint8_t *head, size_t n) {
  if (n == 0) return NULL;
  for (size_t i = 0; i < sizeof formats / sizeof *formats; i++)
    if (formats[i]->sniff(stream, head, n)) return formats[i];
  return NULL;
}

/* Pick the format of an (already decompressed) stream and run it. */
static void decode_stream(Model *m, Source *stream) {
  uint8_t head[HEAD_BYTES];
  size_t n;
  if (format_head(stream, head, &n, &m->err) != MFS_OK) return model_fail(m);
  if (n == 0) {
    err_set(&m->err, MFS_ETRUNC, 0, "offset 0: empty file");
    return model_fail(m);
  }
  const Format *f = format_for_stream(stream, head, n);
  /* Only a file named like a model gets here unclaimed (identify.h): when it
  ** starts with an opcode, the VM's reason ("offset 9: BINGET: no memo entry")
  ** says more than "not a model file". */
  if (f == NULL && pickle_first_opcode(head, n)) f = &format_pickle;
  if (f != NULL) {
    m->format = f->name;
    MfsStatus st = f->decode(m, stream);
    m->ok = st == MFS_OK && m->err.code == MFS_OK;
    if (!m->ok) model_fail(m);
    return;
  }
  err_set(&m->err, MFS_ECORRUPT, 0,
          "offset 0: not a model file (first bytes %02x %02x %02x %02x)", head[0],
          n > 1 ? head[1] : 0, n > 2 ? head[2] : 0, n > 3 ? head[3] : 0);
  model_fail(m);
}

static Model *model_decode_into(Model *m, Source *src, int depth);

Model *model_decode_source(Source *src, const char *name) {
  return model_decode_into(model_new(name ? name : src->name), src, 0);
}

Model *model_decode_member(Source *src, const char *name, const Model *parent) {
  Model *m = model_new_within(name ? name : src->name, parent);
  return model_decode_into(m, src, parent->depth + 1);
}

/* Decode src into m, a new model (NULL: out of memory, returned as is). */
static Model *model_decode_into(Model *m, Source *src, int depth) {
  if (m == NULL) return NULL;
  m->depth = depth;
  m->src = source_ref(src);
  m->size = src->size;
  arena_keep_source(m->vs.arena, src);
  uint8_t head[HEAD_BYTES];
  size_t n;
  if (format_head(src, head, &n, &m->err) != MFS_OK) {
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
  SourceFileOpts opts = {NULL, SOURCE_PROVE_OPEN};
  return model_decode_with(path, &opts, NULL, (PauseHook){NULL, NULL});
}

static Model *decode_opened(const char *path, Source *src, const Err *e,
                            const SourceFileOpts *opts, const _Atomic int *stop, PauseHook pause);

Model *model_decode_with(const char *path, const SourceFileOpts *opts, const _Atomic int *stop,
                         PauseHook pause) {
  Err e;
  err_clear(&e);
  Source *src = source_open_file_with(path, opts, &e);
  return decode_opened(path, src, &e, opts, stop, pause);
}

Model *model_decode_fd(int fd, const char *path, const SourceFileOpts *opts,
                       const _Atomic int *stop, PauseHook pause) {
  Err e;
  err_clear(&e);
  Source *src = source_from_fd_with(fd, path, opts, &e);
  return decode_opened(path, src, &e, opts, stop, pause);
}

/* SRC opened on PATH (NULL: it could not be, E says why). */
static Model *decode_opened(const char *path, Source *src, const Err *e,
                            const SourceFileOpts *opts, const _Atomic int *stop, PauseHook pause) {
  if (src == NULL) {
    Model *m = model_new(path);
    if (m == NULL) return NULL;
    m->err = *e;
    m->ok = 0;
    return m;
  }
  Model *m = model_new(path);
  if (m != NULL) {
    m->file_opts = *opts;
    m->stop = stop;
    m->pause = pause;
  }
  m = model_decode_into(m, src, 0);
  source_unref(src);
  return m;
}
