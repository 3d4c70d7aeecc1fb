/*
** identify.h -- what a file is, from its bytes (SPEC 1): not a model, or a model
** with its container and format.  The one answer the mount, `scan`, `check`,
** `ls/cat/tree` and the archive formats (zip and 7z members) all use, so a file is
** a directory in the mount exactly when `scan` judges it.
**
** Compression is undone by magic (joblib under every compressor, whatever the
** name), then each Format of decode.c's table is asked through its own sniff: a
** new Format is identified with no change here.  Nothing is decoded: only the
** first MFS_IDENT_BYTES of the stream (and, for an archive, its directory) are read.
*/
#ifndef MODELFS_IDENTIFY_H
#define MODELFS_IDENTIFY_H

#include "modelfs/model.h"

typedef enum IdentKind {
  IDENT_NOT_MODEL = 0,  /* shown as itself; `scan` lists it as "not-model" */
  IDENT_MODEL,          /* a Format claimed the (decompressed) bytes */
  IDENT_BY_NAME,        /* no Format claimed them, but the name is a model's (.pkl,
                           .joblib, ...): a directory whose meta.json says why */
  IDENT_UNREADABLE      /* the file cannot be opened or read (what says why) and its
                           name is not a model's: not a model, not a file to list as one */
} IdentKind;

typedef struct Ident {
  IdentKind kind;
  const Format *format;     /* IDENT_MODEL: the Format that claimed the stream */
  const char *compression;  /* "none" or the compressor whose magic starts the bytes */
  char what[200];           /* what the bytes are, for messages: "text", "empty file",
                               "joblib companion of model.pkl", "first bytes 7f 45 4c 46" */
} Ident;

static inline int ident_is_model(const Ident *id) {
  return id->kind == IDENT_MODEL || id->kind == IDENT_BY_NAME;
}

/* Identify src.  name (a file or member name, may be NULL) counts only when no
** Format claims the bytes.  A read error makes the bytes unknown: the name decides. */
void identify_source(Source *src, const char *name, Ident *out);
/* Open path and identify it; a pre-0.10 joblib companion (X_01.npy beside X) that
** holds no pickle says so in what. */
void identify_path(const char *path, Ident *out);
/* The same with its reads counted into tally (may be NULL). */
void identify_path_counted(const char *path, SourceTally *tally, Ident *out);
/* The model extensions of SPEC 1 (.pkl .pickle .joblib .sav .skops .pt .pth ...,
** also under a compression ending: .pkl.gz, .joblib.z). */
int identify_name_is_model(const char *name);

#endif
