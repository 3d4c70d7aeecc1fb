/*
** archive.h -- what the archive Formats (zip, 7z) share: every member is identified
** by its bytes like a file (identify.h), a model member is decoded as a model of its
** own, any other member is served as the file it is, and member folders are folders.
** Internal to the format layer.
*/
#ifndef MODELFS_ARCHIVE_H
#define MODELFS_ARCHIVE_H

#include "modelfs/model.h"

typedef struct ArchiveBuild {
  Model *m;
  int models;              /* model members met so far */
} ArchiveBuild;

/* Start m's tree: an empty dict, meta.json's "container".  Refuses (MFS_ELIMIT) an
** archive nested deeper than MFS_MAX_ARCHIVE_DEPTH. */
MfsStatus archive_begin(ArchiveBuild *ab, Model *m, const char *container);

/* Add the member at path (archive data: only ever dict keys, split at '/').  ms NULL:
** the member cannot be read, why says why (recorded, the member shows as None).
** method is the member's own compression ("store", "deflate", "7z"): meta.json's
** "compression" when it is the first model member.  Returns MFS_OK, or MFS_ENOMEM /
** MFS_ELIMIT when the walk must stop; a broken member is recorded in m->err. */
MfsStatus archive_add(ArchiveBuild *ab, const char *path, Source *ms, const char *why,
                      const char *method);

#endif
