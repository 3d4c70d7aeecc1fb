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
/* Decode bytes from any source (tests, fuzzers, zip members).  name is for messages
** and for companion-file lookups (legacy joblib); it may be NULL. */
Model *model_decode_source(Source *src, const char *name);

/* Does this file look like a model?  By content (first bytes) when head is given,
** else by name alone.  Extensions: .pkl .pickle .joblib .sav .skops .p .z .gz .bz2
** .xz .lzma .lz4 and combinations such as .pkl.z, .joblib.gz. */
int model_name_looks_like_model(const char *name);
int model_head_looks_like_model(const uint8_t *head, size_t n);
/* A PyTorch checkpoint (zip whose first member is X/data.pkl, or the legacy
** magic-number pickle) or a safetensors file, by its first bytes alone: files that
** do not end the way a pickle does. */
int model_head_is_tensor_file(const uint8_t *head, size_t n);

#endif
