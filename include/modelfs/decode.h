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

#include "modelfs/model.h"

/* Decode the file at path.  Returns NULL only when out of memory. */
Model *model_decode(const char *path);
/* The same with the file (and its companions) opened with opts: their reads
** counted, their bytes proven as opts says (source.h); giving up (the Model
** fails with MFS_ELIMIT) once *stop is set, when stop is not NULL; calling
** pause.fn, when not NULL, at every look at stop. */
Model *model_decode_with(const char *path, const SourceFileOpts *opts, const _Atomic int *stop,
                         PauseHook pause);
/* As model_decode_with, from fd, opened on path (taken over, closed with the
** Model): the caller knows which file was decoded (the mount: a touch during
** the decode leaves the decode that of the version it stat'ed, see cache.c). */
Model *model_decode_fd(int fd, const char *path, const SourceFileOpts *opts,
                       const _Atomic int *stop, PauseHook pause);
/* Decode bytes from any source (tests, fuzzers, zip members).  name is for messages
** and for companion-file lookups (legacy joblib); it may be NULL. */
Model *model_decode_source(Source *src, const char *name);

/* A member of an archive: as model_decode_source, one archive level deeper than
** the parent (depth = parent's depth + 1), stopping when the parent would. */
Model *model_decode_member(Source *src, const char *name, const Model *parent);
/* The first Format of the table whose sniff claims this (already decompressed)
** stream, or NULL.  head holds the stream's first n bytes (up to MFS_IDENT_BYTES). */
const Format *format_for_stream(Source *stream, const uint8_t *head, size_t n);
/* Read the first bytes of src as format_for_stream wants them (MFS_IDENT_BYTES). */
MfsStatus format_head(Source *src, uint8_t *head, size_t *n, Err *e);

#endif
