/*
** decode.h -- a model file in, a value graph out.
**
** model_decode opens a file, finds its container (compression by magic, zip) and
** its format (pickle/joblib, skops), and runs that format's decoder.  It never
** fails silently and never returns a half-initialised Model: on bad input the
** Model has ok == 0, err set, and root holding whatever was decoded before the
** fault.  Nothing here knows about FUSE or about names in the tree.
**
** A new format is one new source file that defines a Format and one line in the
** table in decode.c.
*/
#ifndef MODELFS_DECODE_H
#define MODELFS_DECODE_H

#include "modelfs/value.h"

typedef struct Model {
  ValueSet vs;             /* arena, ids; vs.err points at err */
  Err err;
  int ok;                  /* 1 when the whole file decoded */
  Value *root;             /* may be partial (or NULL) when !ok */
  const char *path;        /* as given to model_decode */
  const char *format;      /* "pickle", "joblib", "skops" */
  const char *compression; /* "none", "zlib", "gzip", "bz2", "xz", "lzma", "lz4", "deflate", "store" */
  int protocol;            /* pickle PROTO (0 when absent) or skops schema protocol */
  uint64_t size;           /* bytes of the file */
  Value *globals;          /* VAL_LIST of VAL_GLOBAL: every global referenced, in order met,
                              duplicates allowed, nested pickles and skops types included */
  Value *meta_extra;       /* VAL_DICT str -> scalar: format-specific meta.json keys */
  Source *src;             /* the file itself */
  /* A format that judges trust node by node lists here what it reports as
  ** untrusted (skops: exactly what skops.io.get_untrusted_types computes from the
  ** schema, each node judged by its own default list, e.g. numpy.dtype is reported
  ** for a DTypeNode, numpy.float64 for a protocol-0 scalar).  VAL_LIST of VAL_GLOBAL,
  ** duplicates allowed; NULL for formats judged by the trust list alone.  When set,
  ** untrusted.txt is this list (sorted, unique) rather than types.txt minus the list. */
  Value *untrusted;
} Model;

typedef struct Format {
  const char *name;
  /* Nonzero when the (decompressed) stream is ours; head is its first bytes.
  ** May read src (a zip's directory) but must stay cheap. */
  int (*sniff)(Source *src, const uint8_t *head, size_t n);
  /* Decode src into m->root.  On error: record in m->err, leave the partial root. */
  MfsStatus (*decode)(Model *m, Source *src);
} Format;

/* Decode the file at path.  Returns NULL only when out of memory. */
Model *model_decode(const char *path);
/* Decode bytes from any source (tests, fuzzers, zip members).  name is for messages
** and for companion-file lookups (legacy joblib); it may be NULL. */
Model *model_decode_source(Source *src, const char *name);
void model_free(Model *m);

/* Record a referenced global (module, qualname) after Python-2 name mapping. */
MfsStatus model_note_global(Model *m, const char *module, const char *name);
/* Set a meta.json extra key to a string / integer value. */
MfsStatus model_set_meta_str(Model *m, const char *key, const char *val);
MfsStatus model_set_meta_int(Model *m, const char *key, int64_t val);

/* Does this file look like a model?  By content (first bytes) when head is given,
** else by name alone.  Extensions: .pkl .pickle .joblib .sav .skops .p .z .gz .bz2
** .xz .lzma .lz4 and combinations such as .pkl.z, .joblib.gz. */
int model_name_looks_like_model(const char *name);
int model_head_looks_like_model(const uint8_t *head, size_t n);

#endif
