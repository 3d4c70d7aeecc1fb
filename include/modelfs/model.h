/*
** model.h -- a decoded model file: the value graph and the facts about it that
** every format fills in, and the Format interface each decoder implements.
** Formats include this, never decode.h: decode.c is above them (it holds the
** table of formats), so nothing below it calls back into it.
*/
#ifndef MODELFS_MODEL_H
#define MODELFS_MODEL_H

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
  Value *trailing;         /* VAL_DICT 1, 2, ... -> the root of each pickle appended after
                              the first one's STOP (SPEC 2: __trailing__/N), or NULL */
  Value *hazards;          /* VAL_LIST of VAL_STR, "offset N: what": constructs that run
                              code or rewrite the loader whatever names they use (a global
                              computed at load time, a BUILD on a module): dangerous */
  Value *meta_extra;       /* VAL_DICT str -> scalar: format-specific meta.json keys */
  Source *src;             /* the file itself */
  /* A format that judges trust node by node lists here what it reports as
  ** untrusted (skops: exactly what skops.io.get_untrusted_types computes from the
  ** schema, each node judged by its own default list, e.g. numpy.dtype is reported
  ** for a DTypeNode, numpy.float64 for a protocol-0 scalar).  VAL_LIST of VAL_GLOBAL,
  ** duplicates allowed; NULL for formats judged by the trust list alone.  When set,
  ** untrusted.txt is this list (sorted, unique) rather than types.txt minus the list. */
  Value *untrusted;
  int depth;               /* archives (zip, 7z) this model is a member of: an archive
                              format refuses to open one deeper than MFS_MAX_ARCHIVE_DEPTH */
  SourceFileOpts file_opts; /* how files it opens (companions) are read: tally, proof */
  const _Atomic int *stop; /* set (nonzero) when nobody will want the result any more
                              (the mount is going away): decoders give up at their next
                              check; NULL: never */
  PauseHook pause;        /* looked at with stop: may park the decode while others
                              run (the mount's pool, pool_pause); fn NULL: never */
} Model;

typedef struct Format {
  const char *name;
  /* Nonzero when the (decompressed) stream is ours; head is its first bytes.
  ** May read src (a zip's directory) but must stay cheap. */
  int (*sniff)(Source *src, const uint8_t *head, size_t n);
  /* Decode src into m->root.  On error: record in m->err, leave the partial root. */
  MfsStatus (*decode)(Model *m, Source *src);
} Format;

/* A fresh, empty Model named name (for messages); NULL when out of memory. */
Model *model_new(const char *name);
/* The same, for a decode done on PARENT's behalf (a zip member, a nested or
** salvaged pickle): it gives up and steps aside where PARENT does. */
Model *model_new_within(const char *name, const Model *parent);
void model_free(Model *m);

/* Record a referenced global (module, qualname) after Python-2 name mapping. */
MfsStatus model_note_global(Model *m, const char *module, const char *name);
/* Set a meta.json extra key to a string / integer value. */
/* Record a hazard (see Model.hazards) found at byte offset off. */
MfsStatus model_note_hazard(Model *m, uint64_t off, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));
MfsStatus model_set_meta_str(Model *m, const char *key, const char *val);
MfsStatus model_set_meta_int(Model *m, const char *key, int64_t val);

#endif
