/*
** identify.c -- what a file is, from its bytes: the one identification the mount,
** `scan`, `check`, `ls/cat/tree` and archive members share (SPEC 1).
**
** Compression is undone by magic, then the Formats of decode.c's table are asked in
** order through their own sniff, so a Format added to the table is identified here
** without a change.  The name counts only when no Format claims the bytes: a file
** named like a model that cannot be decoded is still a model directory, so the user
** can read why it is broken.
**
** It must never decode a model, never read more than the head of a stream (and an
** archive's directory, through the archive Formats' sniff), and never treat a
** name as a reason to call bytes "not a model".
*/
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include "modelfs/decode.h"
#include "modelfs/identify.h"
#include "modelfs/limits.h"

static int ends_with(const char *s, size_t n, const char *suffix) {
  size_t k = strlen(suffix);
  return n >= k && strncmp(s + n - k, suffix, k) == 0;
}

static int has_model_ext(const char *name, size_t n) {
  static const char *const ext[] = {".pkl", ".pickle", ".joblib", ".sav", ".skops", ".pt", ".pth",
                                    ".ckpt", ".safetensors", ".p", ".pck", ".pcl", ".jbl",
                                    ".model", NULL};
  for (int i = 0; ext[i]; i++)
    if (ends_with(name, n, ext[i])) return 1;
  return 0;
}

int identify_name_is_model(const char *name) {
  static const char *const comp[] = {".z", ".gz", ".gzip", ".bz2", ".xz", ".lzma", ".lz4", NULL};
  size_t n = strlen(name);
  if (has_model_ext(name, n) || ends_with(name, n, ".pbz2")) return 1;
  for (int i = 0; comp[i]; i++)   /* "model.pkl.gz": one compression ending */
    if (ends_with(name, n, comp[i])) return has_model_ext(name, n - strlen(comp[i]));
  return 0;
}

/* Printable text (ASCII or UTF-8 lead/continuation bytes, usual whitespace)? */
static int looks_like_text(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i] < 0x20 && p[i] != '\n' && p[i] != '\r' && p[i] != '\t' && p[i] != '\f') return 0;
  return n > 0;
}

static void describe(Ident *out, const uint8_t *head, size_t n, const char *compression) {
  if (n == 0) {
    snprintf(out->what, sizeof out->what, "empty %s", compression ? "stream" : "file");
  } else if (n >= 6 && memcmp(head, "\x93NUMPY", 6) == 0) {
    snprintf(out->what, sizeof out->what, "numpy array without objects (no pickle)");
  } else if (looks_like_text(head, n)) {
    snprintf(out->what, sizeof out->what, "text%s%s", compression ? " under " : "",
             compression ? compression : "");
  } else {
    snprintf(out->what, sizeof out->what, "%s%sfirst bytes %02x %02x %02x %02x",
             compression ? compression : "", compression ? " stream, " : "", head[0],
             n > 1 ? head[1] : 0, n > 2 ? head[2] : 0, n > 3 ? head[3] : 0);
  }
}

/* Ask the Formats about the stream at src (compression already undone): 1 claimed,
** 0 not, -1 the stream cannot be read. */
static int claim(Source *src, Ident *out, const char *compression) {
  uint8_t head[MFS_IDENT_BYTES];
  size_t n = 0;
  Err e;
  err_clear(&e);
  if (format_head(src, head, &n, &e) != MFS_OK) {
    snprintf(out->what, sizeof out->what, "unreadable%s%s: %.150s", compression ? " " : "",
             compression ? compression : "", e.msg);
    return -1;
  }
  out->format = format_for_stream(src, head, n);
  if (out->format != NULL) return 1;
  describe(out, head, n, compression);
  return 0;
}

void identify_source(Source *src, const char *name, Ident *out) {
  memset(out, 0, sizeof *out);
  out->compression = "none";
  uint8_t magic[16];
  size_t n = 0;
  Err e;
  err_clear(&e);
  int found = -1;
  if (src->ops->read(src, 0, magic, sizeof magic, &n, &e) != MFS_OK) {
    snprintf(out->what, sizeof out->what, "unreadable: %.180s", e.msg);
  } else {
    const char *kind = source_sniff_compression(magic, n);
    Source *plain = kind ? source_decompress(src, kind, &e) : NULL;
    if (plain != NULL) {
      out->compression = kind;
      found = claim(plain, out, kind);
      source_unref(plain);
    }
    /* A compressor's magic over bytes it cannot undo: maybe they are not compressed
    ** at all (0x78 0x9c also starts text); the raw bytes get their say. */
    if (found < 0) {
      out->compression = "none";
      found = claim(src, out, NULL);
    }
  }
  if (found > 0) out->kind = IDENT_MODEL;
  else if (name != NULL && identify_name_is_model(name)) out->kind = IDENT_BY_NAME;
  else if (found < 0) out->kind = IDENT_UNREADABLE;
}

/* "model.pkl_01.npy" or "model.pkl_01.npy.z" beside "model.pkl": the companion of a
** joblib < 0.10 file, read with it (its numeric arrays are data, not a model). */
static void note_companion(const char *path, Ident *out) {
  size_t n = strlen(path);
  size_t end = ends_with(path, n, ".npy") ? n - 4 : ends_with(path, n, ".npy.z") ? n - 6 : 0;
  size_t k = end;
  while (k > 0 && path[k - 1] >= '0' && path[k - 1] <= '9') k--;
  if (end == 0 || k == end || k < 2 || path[k - 1] != '_' || path[k - 2] == '/') return;
  char main[4096];
  if (k - 1 >= sizeof main) return;
  memcpy(main, path, k - 1);
  main[k - 1] = '\0';
  struct stat st;
  if (stat(main, &st) != 0 || !S_ISREG(st.st_mode)) return;
  const char *base = strrchr(main, '/');
  snprintf(out->what, sizeof out->what, "joblib companion of %.170s", base ? base + 1 : main);
}

void identify_path(const char *path, Ident *out) { identify_path_counted(path, NULL, out); }

void identify_path_counted(const char *path, SourceTally *tally, Ident *out) {
  Err e;
  err_clear(&e);
  /* Nothing read here is served later: no sums, only the head is read. */
  SourceFileOpts opts = {tally, SOURCE_PROVE_NONE};
  Source *src = source_open_file_with(path, &opts, &e);
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  if (src == NULL) {
    memset(out, 0, sizeof *out);
    out->compression = "none";
    out->kind = identify_name_is_model(base) ? IDENT_BY_NAME : IDENT_UNREADABLE;
    snprintf(out->what, sizeof out->what, "%.190s", e.msg);
    return;
  }
  identify_source(src, base, out);
  source_unref(src);
  if (out->kind == IDENT_NOT_MODEL) note_companion(path, out);
}
