/*
** cache.h -- the mount's view of SOURCE: one slot per path, one decoded tree per model.
**
** A slot is a path below SOURCE (a directory, a plain file, a model file or a
** symlink) with the stat identity it had when last seen.  Slot numbers never
** change while mounted.  A slot's version goes up each time its identity (type,
** inode, size, mtime, ctime, mode) changes, so an inode number built from
** (slot, version, node index) names one version of one node for as long as the
** kernel may remember it: a re-saved model gets fresh inode numbers, and the old
** ones keep meaning the old bytes for readers that still hold them open.
**
** Model trees are decoded on first use, once (concurrent users wait for the
** first), and kept in an LRU bounded in bytes (render_memory) and in count.  An
** evicted tree is decoded again on demand; the renderer lays out the same bytes
** the same way, so node indices, hence inode numbers, do not change.
**
** Nothing here knows about FUSE: callers get errno values and inode numbers.
** All functions are thread-safe.  The only syscalls made under the lock are none:
** stat, open, sniff and decode run unlocked.
*/
#ifndef MODELFS_CACHE_H
#define MODELFS_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include "modelfs/err.h"
#include "modelfs/pool.h"
#include "modelfs/render.h"
#include "modelfs/trust.h"

typedef enum SlotKind {
  SLOT_GONE = 0,   /* not there (deleted, or a fifo/socket/device we do not show) */
  SLOT_DIR,        /* a directory of SOURCE */
  SLOT_FILE,       /* any other regular file: passed through */
  SLOT_MODEL,      /* a model file: shown as a directory */
  SLOT_LINK        /* a symlink of SOURCE: shown as itself */
} SlotKind;

/* What a request needs to know about a slot, copied out under the lock. */
typedef struct SlotStat {
  uint32_t id;
  uint32_t version;      /* full counter: the FUSE generation; low bits go into inodes */
  SlotKind kind;
  struct stat st;        /* lstat of the source entry when last seen */
} SlotStat;

/*
** Inode numbers: (slot << 40 | version8 << 32 | node index) + 1, so the root
** (slot 0, version 0, node 0) is FUSE_ROOT_ID.  Node 0 is the source entry
** itself (for a model: its directory, RNode index 0).
*/
#define CACHE_VERSION_MASK 0xffu
static inline uint64_t cache_ino(uint32_t slot, uint32_t version, uint32_t index) {
  return (((uint64_t)slot << 40) | ((uint64_t)(version & CACHE_VERSION_MASK) << 32) | index) + 1;
}
static inline void cache_ino_split(uint64_t ino, uint32_t *slot, uint32_t *ver8, uint32_t *index) {
  uint64_t x = ino - 1;
  *slot = (uint32_t)(x >> 40);
  *ver8 = (uint32_t)(x >> 32) & CACHE_VERSION_MASK;
  *index = (uint32_t)x;
}
/* Version 0 of slot 0 is the root as it is now: inode 1 for ever, also when SOURCE
** is one model file whose versions come and go. */
static inline int cache_same_version(const SlotStat *s, uint32_t ver8) {
  return (s->version & CACHE_VERSION_MASK) == ver8 || (s->id == 0 && ver8 == 0);
}

typedef struct Cache Cache;
typedef struct CacheModel CacheModel;

/* Called (under the cache lock: only queue work, never call back into the cache)
** when a known slot changes identity; old is how it was, now its kind since,
** parent_ino the inode of the directory holding NAME. */
typedef void (*CacheChanged)(void *ctx, const SlotStat *old, SlotKind now, uint64_t parent_ino,
                             const char *name);

/* Called, unlocked, with the jobs parked on a decode (cache_park) once it ended. */
typedef void (*CacheReady)(void *ctx, PoolJob *list);

typedef struct CacheConfig {
  const char *source;        /* SOURCE directory */
  size_t budget;             /* bytes of decoded trees kept (render_memory) */
  const TrustList *trust;
  CacheChanged changed;
  void *changed_ctx;
  const char *hide;          /* path relative to SOURCE never shown or stat'ed (the
                                mountpoint, when it lies inside SOURCE), or NULL */
  const char *compat_target; /* -o target=...: compat.json answers for it, or NULL */
  uint32_t max_models;       /* trees kept at most (each holds its file open); 0:
                                MFS_CACHE_MAX_MODELS.  cache_max_models() picks one. */
  int frugal;                /* -o frugal: no sums at open (SOURCE_PROVE_NONE) */
  CacheReady ready;          /* jobs parked on a decode that ended (cache_park), or NULL */
  void *ready_ctx;
  PauseHook pause;          /* at every decode's checkpoints (the pool's pool_pause) */
} CacheConfig;

/* How many trees a process allowed NOFILE open files can keep: each holds its
** file (sometimes two: a stream and its companion) open, and the rest of the
** daemon needs MFS_FD_RESERVE. */
uint32_t cache_max_models(uint64_t nofile);

/* Opens SOURCE (must be a directory).  NULL with e set on failure. */
Cache *cache_new(const CacheConfig *cfg, Err *e);
void cache_free(Cache *c);
const char *cache_source(const Cache *c);    /* absolute path */
/* statvfs of SOURCE's filesystem, also after SOURCE was removed; 0 or errno. */
struct statvfs;
int cache_statfs(Cache *c, struct statvfs *sv);

/* Stat NAME in directory slot PARENT; its slot is created on first sight.
** 0, or an errno: ENOENT (missing, or a kind not shown), ENOTDIR, ENAMETOOLONG, ENOSPC. */
int cache_lookup(Cache *c, uint32_t parent, const char *name, SlotStat *out);
/* Stat a known slot again (change detection); 0 or errno (ENOENT when gone). */
int cache_refresh(Cache *c, uint32_t slot, SlotStat *out);
/* Re-stat every known slot (after an inotify overflow). */
void cache_refresh_all(Cache *c);
/* What is known, without a syscall; 0 or ENOENT for an unknown slot. */
int cache_get(Cache *c, uint32_t slot, SlotStat *out);
/* Immutable facts of a slot; NULL for an unknown slot.  The strings stay valid
** for directories (never reclaimed); copy any other slot's path instead. */
const char *cache_name(Cache *c, uint32_t slot);
const char *cache_relpath(Cache *c, uint32_t slot);   /* "" for the root */
uint32_t cache_parent(Cache *c, uint32_t slot);
int cache_copy_relpath(Cache *c, uint32_t slot, char *buf, size_t cap);   /* 0 or ENOENT */
/* Slot of NAME in PARENT if already known, without a syscall; 0 ok or ENOENT. */
int cache_find(Cache *c, uint32_t parent, const char *name, uint32_t *slot);

/* One directory of SOURCE, listed: every shown entry, stat'ed and classified. */
typedef struct CacheEntry {
  char *name;
  SlotStat ss;
} CacheEntry;
/* The slots listed stay (pinned) until cache_list_unpin: a reply made from the
** listing later still names them, even when they went meanwhile. */
int cache_list(Cache *c, uint32_t dir, CacheEntry **out, size_t *n);
void cache_list_unpin(Cache *c, const CacheEntry *v, size_t n);
void cache_list_free(CacheEntry *v, size_t n);

/* Open a source entry read-only (plain files); returns fd or -errno. */
int cache_open_source(Cache *c, uint32_t slot, int flags);
/* Read a source symlink; returns length or -errno. */
long cache_readlink(Cache *c, uint32_t slot, char *buf, size_t size);

/* The decoded tree of model slot SLOT at version VER8, decoding it on first use
** (once, whatever the number of concurrent callers).  An earlier version answers
** with its kept tree.  0 or errno: ESTALE when that version's tree is gone,
** ENOENT when it is not a model, ENOMEM. */
int cache_acquire(Cache *c, uint32_t slot, uint32_t ver8, CacheModel **out);
/* The same without waiting: EWOULDBLOCK, nothing done, when the tree must be
** decoded first or another thread is decoding it. */
int cache_acquire_now(Cache *c, uint32_t slot, uint32_t ver8, CacheModel **out);
/* A job that would wait for SLOT's decode running now is parked instead (1):
** handed to CacheConfig.ready when that decode ends.  0: no decode runs. */
int cache_park(Cache *c, uint32_t slot, PoolJob *j);
/* Unmounting: decodes running stop at their next check and fail. */
void cache_stop(Cache *c);
CacheModel *cache_hold(Cache *c, CacheModel *m);   /* one more reference */

/* The kernel's references.  Each reply that hands the kernel inode INO of
** version SS (LOOKUP, READDIRPLUS) counts N lookups; each FORGET of INO takes
** them back.  A version replaced while the kernel holds inodes of it stays
** answerable -- its attributes (cache_old_stat), its tree when it had one
** (cache_acquire with its VER8; held outside the budget while the kernel holds
** nodes of it, up to MFS_MAX_HELD_TREES) -- until the kernel forgets the last
** of them; a name gone and forgotten gives its slot back.  A tree whose nodes
** the kernel holds is evicted after the others.  cache_kernel_forget returns 1
** when the slot, still there, is no longer referenced: stat it again
** (cache_refresh), so a name removed unseen (-o nowatch) is reclaimed. */
void cache_kernel_ref(Cache *c, const SlotStat *ss, uint64_t ino, uint64_t n);
/* Reclaim the slots gone long enough (MFS_SLOT_GRACE_S); call now and then. */
void cache_sweep(Cache *c);
int cache_kernel_forget(Cache *c, uint64_t ino, uint64_t n);
int cache_old_stat(Cache *c, uint32_t slot, uint32_t ver8, SlotStat *out);
/* An open of SLOT answered ESTALE: the kernel looks the name up once more and
** opens what that lookup handed it, and never again.  cache_open_retried says
** whether VER8 of SLOT is what the kernel was handed after such an answer: its
** last try, which ESTALE would fail. */
void cache_stale_open(Cache *c, uint32_t slot);
int cache_open_retried(Cache *c, uint32_t slot, uint32_t ver8);
/* VER8 of SLOT served a lookup or an open: a retry, if it was one, is over,
** and a later change of it is met by a first try again. */
void cache_retry_done(Cache *c, uint32_t slot, uint32_t ver8);
/* A plain file's earlier version VER8 was opened as the file is now (ST): its
** inode answers with those attributes from then on, as its opens do. */
void cache_old_restat(Cache *c, uint32_t slot, uint32_t ver8, const struct stat *st);
void cache_release(Cache *c, CacheModel *m);
RTree *cache_tree(const CacheModel *m);
/* Sizes of files that cost their whole content to know (.txt views), kept per
** slot for its current version SS, across evictions of its tree.  Every size
** learnt the costly way is put here (and counted: CacheStats.sizings). */
int cache_size_get(Cache *c, const SlotStat *ss, uint32_t index, uint64_t *size);
void cache_size_put(Cache *c, const SlotStat *ss, uint32_t index, uint64_t size);
const SlotStat *cache_model_stat(const CacheModel *m);  /* the version it was decoded from */

typedef struct CacheStats {
  uint64_t decodes;          /* model_decode calls since mount */
  uint64_t evictions;
  uint64_t models;           /* trees held by the cache now */
  uint64_t bytes;            /* their render_memory */
  uint64_t budget;
  uint64_t max_models;
  uint64_t trims;            /* malloc_trim calls after evictions */
  uint64_t slots;            /* paths of SOURCE with a slot now (names gone are reclaimed) */
  uint64_t source_reads;     /* reads of SOURCE's files since mount (SourceTally) */
  uint64_t source_bytes;     /* and their bytes */
  uint64_t sizings;          /* sizes learnt by making a whole content (cache_size_put) */
} CacheStats;
void cache_stats(Cache *c, CacheStats *s);
/* Decodes of one slot since mount. */
uint64_t cache_slot_decodes(Cache *c, uint32_t slot);
/* How the mount opens SOURCE's files: the tally their reads count in, the proof
** (files passed through open with it too). */
SourceFileOpts cache_file_opts(Cache *c);

#endif
