/*
** render.h -- a value graph as a tree of names (SPEC sections 2-4).
**
** render_tree walks a decoded Model once and lays out every name: meta.json,
** types.txt, untrusted.txt, object.json, one entry per attribute, links for
** shared values.  File contents are produced lazily, on the first size or read
** request, and cached; .npy data is read from the array's Blob by offset and never
** held whole.  Nothing here knows about FUSE or about file formats: the same tree
** serves the mount and the offline CLI, so both give the same bytes.
**
** Thread safety: render_size and render_read may be called from many threads.
*/
#ifndef MODELFS_RENDER_H
#define MODELFS_RENDER_H

#include "modelfs/model.h"
#include "modelfs/trust.h"

typedef enum RKind { RK_DIR, RK_FILE, RK_LINK } RKind;

typedef struct RNode {
  const char *name;        /* escaped, unique within its directory; "" for the model dir */
  uint8_t kind;            /* RKind */
  uint8_t content;         /* renderer-private: how file bytes are produced */
  uint32_t index;          /* 0 = the model directory; stable for one tree */
  uint32_t parent;
  uint32_t nchildren;      /* RK_DIR: children in listing order */
  uint32_t *children;
  const Value *value;
  const char *target;      /* RK_LINK: relative path, e.g. "../../random_state" */
} RNode;

typedef struct RTree RTree;

/* Lay out the tree of a decoded model (ok or not).  NULL only on OOM. */
RTree *render_tree(Model *m, const TrustList *trust);
/* The same, with compat.json answering for a target environment such as
** "sklearn=1.5,numpy=2.1,python=3.12" (compat.h); NULL for none. */
RTree *render_tree_for(Model *m, const TrustList *trust, const char *compat_target);
void render_free(RTree *t);               /* does not free the Model */
Model *render_model(const RTree *t);
/* Where sizing a big .txt view steps aside now and then (the mount's pool,
** pool_pause), as decodes do; set once, before the tree is shared. */
void render_set_pause(RTree *t, PauseHook pause);

uint32_t render_count(const RTree *t);
const RNode *render_node(const RTree *t, uint32_t index);
const RNode *render_root(const RTree *t);
const RNode *render_lookup(const RTree *t, const RNode *dir, const char *name);
/* "a/b/c" relative to the model directory ("" is the root); links are not followed. */
const RNode *render_path(const RTree *t, const char *path);

/* Size of a file (produces its content on first call) or link (target length). */
MfsStatus render_size(RTree *t, const RNode *n, uint64_t *size, Err *e);
/* The size when it costs nothing to know: links, directories, .bin and .npy
** entries, small fixed texts, and any file whose content was already made.
** Returns 0 (and makes nothing) for the generated documents whose size is their
** whole text (.txt views, N.json, object.json, compat.json): a directory
** listing need not format every array it shows. */
int render_size_known(RTree *t, const RNode *n, uint64_t *size);
/* Nonzero when the size is not known yet and learning it means formatting a
** .txt view of more than MFS_TEXT_WHOLE data bytes (seconds for a big array):
** the mount learns it on a thread of its decode pool, never a loop thread. */
int render_size_costly(RTree *t, const RNode *n);
/* Read file bytes at off; *got < len only at the end of the file.  An entry whose
** data cannot be produced fails (the FUSE layer answers EIO). */
MfsStatus render_read(RTree *t, const RNode *n, uint64_t off, void *buf, size_t len,
                      size_t *got, Err *e);

/* Take what proves, after a touch or an append of the model file, the source
** bytes a file reads lazily (an array's .npy, a big .txt view, a .bin): called
** when the file is opened, after render_size.  A failure means those bytes
** cannot be proven after a change (reads then fail with EIO, never a mix). */
MfsStatus render_sum(RTree *t, const RNode *n, Err *e);
/* Nonzero when render_sum may read bytes (a source past MFS_PROVE_MAX, not
** summed yet for N: 72 MB read for a 72 MB array): the mount sums on a thread
** of its decode pool, never a loop thread. */
int render_sum_costly(RTree *t, const RNode *n);

/* Where the verdict comes from: for each dangerous or untrusted global (sorted,
** unique), the tree paths that use it -- an object directory built by calling it,
** a file holding it as a value -- in tree order, at most MFS_MAX_WHERE_PATHS each.
** A global no rendered entry uses (one a BUILD or a popped value named) has
** none.  The arrays live as long as the tree.  Not for a tree other threads
** are reading (it allocates from the tree's arena): the CLI's scan, or meta.json. */
typedef struct WhereEntry {
  const char *global;
  int dangerous;
  const char **paths;
  size_t npaths;
} WhereEntry;
MfsStatus render_where(RTree *t, const WhereEntry **out, size_t *n);
/* The verdict ("safe", "untrusted", "dangerous", "incomplete") and the hazards
** (constructs that run code whatever the names) of the tree's model. */
const char *render_verdict(const RTree *t, const char *const **hazards, size_t *nhazards);

/* Memory held by the tree, its cached contents and its Model, for cache bounds. */
size_t render_memory(const RTree *t);

#endif
