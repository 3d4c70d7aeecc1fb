/*
** cache.c -- slots for the paths of SOURCE, and an LRU of decoded model trees.
**
** A slot records what a path was when last stat'ed; a change of identity bumps
** its version (new inode numbers upstairs) and drops its tree.  Trees are
** reference counted: every user holds one reference and the slot one more while
** the tree is cached, so eviction never frees a tree somebody still reads.
**
** Freed trees go back to the system: glibc keeps freed heap memory, so after
** every MFS_TRIM_BYTES of trees freed the heap is trimmed (malloc_trim).
**
** A caller that must not wait (a FUSE loop thread) asks with
** cache_acquire_now and hands its request to the decode pool when the tree is
** not there; a pool job whose tree another thread is decoding is parked on the
** slot (cache_park) and handed back (CacheConfig.ready) when that decode ends.
**
** Must never: hold the lock across a syscall, a decode or a free of a tree;
** decode one version of one file twice at the same time, or begin more than
** MFS_MAX_BEGUN_DECODES decodes not ended; let the cache grow past its byte
** budget except by the trees in use right now; keep a job parked once its
** decode ended.
*/
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include "modelfs/cache.h"
#include "modelfs/decode.h"
#include "modelfs/identify.h"
#include "modelfs/limits.h"
#include "modelfs/u64map.h"

typedef struct Slot {
  uint32_t id, parent;        /* immutable */
  char *name, *relpath;       /* immutable */
  struct Slot *hnext;         /* hash chain by (parent, name) */
  SlotKind kind;
  uint32_t version;
  struct stat st;
  CacheModel *model;          /* cached tree of the current version, or NULL */
  int decoding;               /* a thread is decoding the current version */
  PoolJob *waiters;           /* jobs parked until that decode ends (cache_park) */
  uint64_t decodes;
  uint64_t krefs;             /* the kernel's lookups of the current version's inodes */
  uint64_t nested;            /* of them, of nodes below the model directory */
  struct OldVersion *old;     /* earlier versions the kernel still holds inodes of */
  uint32_t busy;              /* calls using relpath/name outside the lock */
  int was_dir;                /* ever a directory: may have children, watches */
  int seen;                   /* stat'ed at least once: version is an identity */
  int queued;                 /* on the gone queue, since gone_at */
  double gone_at;
  struct Slot *gnext;
  U64Map *sizes;              /* node index -> size of files costly to size, ... */
  uint32_t sizes_version;     /* ... of this version */
  /* The versions the kernel was handed by the lookups after an open answered
  ** ESTALE (cache_stale_open): one of them is its retry, whose ESTALE would
  ** reach the application.  Bit V8 of retried; retry_marks handouts left. */
  uint8_t retried[(CACHE_VERSION_MASK + 1) / 8];
  uint32_t retry_marks;
} Slot;

/* A version replaced while the kernel still held inodes of it (LOOKUP counts
** minus FORGETs): its attributes, and its tree when one was decoded, so those
** inodes keep answering as that version until the kernel lets go. */
typedef struct OldVersion {
  struct OldVersion *next;
  SlotStat ss;
  CacheModel *model;          /* a reference, or NULL: never decoded, or evicted */
  uint64_t krefs;
  uint64_t nested;            /* of them, of nodes below the model directory */
} OldVersion;

struct CacheModel {
  RTree *tree;
  Model *model;
  SlotStat ss;                /* the version decoded */
  int refs;
  int attached;               /* held by its slot (or owner) and on the LRU */
  struct OldVersion *owner;   /* the earlier version holding it, or NULL: its slot */
  int pinned;                 /* holds its slot (busy) until freed */
  int held;                   /* an earlier version's tree the kernel holds nodes of:
                                 kept outside the budget (Cache.held_*) */
  size_t mem;
  struct timespec measured;   /* when mem was last taken from render_memory */
  CacheModel *prev, *next;    /* LRU, most recent first */
};

struct Cache {
  pthread_mutex_t lock;
  pthread_cond_t decoded;        /* a slot's decode ended */
  pthread_cond_t decode_room;    /* a decode ended: room for a waiting one */
  uint32_t decoding;             /* decodes begun, not ended (MFS_MAX_BEGUN_DECODES) */
  _Atomic int stop;              /* unmounting: decodes running give up (cache_stop) */
  CacheReady ready;              /* jobs parked on a decode that ended go here */
  void *ready_ctx;
  PauseHook pause;              /* decodes' checkpoints call it (CacheConfig) */
  char *source;
  int srcfd;
  const TrustList *trust;
  char *compat_target;
  size_t budget;
  uint32_t max_models;
  CacheChanged changed;
  void *changed_ctx;
  char *hide;
  int single;                    /* SOURCE is one model file: slot 0 is that model */
  SourceTally tally;             /* reads of SOURCE's files since mount (atomic) */
  SourceProve prove;             /* how opened files prove their bytes (-o frugal) */
  Slot **slots;               /* by id; NULL for a reclaimed id */
  uint32_t nslots, capslots;  /* ids in use are below nslots */
  uint32_t *free_ids;         /* reclaimed ids, reused first, ... */
  uint32_t *free_vers;        /* ... with their last version, which their next name
                                 continues: an inode number is never handed out
                                 again soon after the kernel forgot it */
  uint32_t nfree, capfree;
  uint32_t live;              /* slots that exist */
  Slot *gone_head, *gone_tail; /* reclaimable slots, oldest first (sweep) */
  Slot **hash;
  size_t hcap;
  CacheModel *lru_head, *lru_tail;
  size_t lru_bytes;
  uint32_t lru_count;
  size_t held_bytes;          /* of them, trees held (CacheModel.held) */
  uint32_t held_count;
  uint64_t decodes, evictions;
  uint64_t sizings;              /* cache_size_put calls: sizes made the costly way */
  atomic_size_t untrimmed;       /* bytes of trees freed since the last trim */
  atomic_uint_fast64_t trims;
};

/* render_memory walks the tree: take it again at most this often per tree. */
#define MEASURE_INTERVAL_NS 100000000LL

static SlotStat snap(const Slot *s) {
  SlotStat ss;
  ss.id = s->id;
  ss.version = s->version;
  ss.kind = s->kind;
  ss.st = s->st;
  return ss;
}

static size_t hash_of(uint32_t parent, const char *name) {
  uint64_t h = 1469598103934665603ULL ^ parent;
  for (const unsigned char *p = (const unsigned char *)name; *p; p++)
    h = (h ^ *p) * 1099511628211ULL;
  return (size_t)h;
}

static Slot *hash_find(Cache *c, uint32_t parent, const char *name) {
  for (Slot *s = c->hash[hash_of(parent, name) & (c->hcap - 1)]; s; s = s->hnext)
    if (s->parent == parent && strcmp(s->name, name) == 0) return s;
  return NULL;
}

static int hash_grow(Cache *c) {
  size_t cap = c->hcap * 2;
  Slot **h = calloc(cap, sizeof *h);
  if (h == NULL) return ENOMEM;
  for (uint32_t i = 1; i < c->nslots; i++) {
    Slot *s = c->slots[i];
    if (s == NULL) continue;
    size_t b = hash_of(s->parent, s->name) & (cap - 1);
    s->hnext = h[b];
    h[b] = s;
  }
  free(c->hash);
  c->hash = h;
  c->hcap = cap;
  return 0;
}

static Slot *slot_get(Cache *c, uint32_t id) {
  return id < c->nslots ? c->slots[id] : NULL;
}

static int join(char *out, size_t size, const char *dir, const char *name) {
  int n = *dir ? snprintf(out, size, "%s/%s", dir, name) : snprintf(out, size, "%s", name);
  return n < 0 || (size_t)n >= size ? ENAMETOOLONG : 0;
}

/* Under the lock.  A new slot for NAME in PARENT, with no identity yet. */
static int slot_new(Cache *c, uint32_t parent, const char *name, Slot **out) {
  if (c->nfree == 0 && c->nslots >= MFS_MAX_SLOTS) return ENOSPC;
  if (c->nfree == 0 && c->nslots == c->capslots) {
    uint32_t cap = c->capslots ? c->capslots * 2 : 256;
    Slot **v = realloc(c->slots, cap * sizeof *v);
    if (v == NULL) return ENOMEM;
    c->slots = v;
    c->capslots = cap;
  }
  if ((size_t)c->live * 2 >= c->hcap && hash_grow(c) != 0) return ENOMEM;
  char rel[PATH_MAX];
  int err = join(rel, sizeof rel, c->slots[parent]->relpath, name);
  if (err) return err;
  Slot *s = calloc(1, sizeof *s);
  if (s == NULL) return ENOMEM;
  s->name = strdup(name);
  s->relpath = strdup(rel);
  if (s->name == NULL || s->relpath == NULL) {
    free(s->name);
    free(s->relpath);
    free(s);
    return ENOMEM;
  }
  if (c->nfree) {
    c->nfree--;
    s->id = c->free_ids[c->nfree];
    s->version = c->free_vers[c->nfree];
  } else {
    s->id = c->nslots++;
  }
  s->parent = parent;
  s->kind = SLOT_GONE;
  c->slots[s->id] = s;
  c->live++;
  size_t b = hash_of(parent, name) & (c->hcap - 1);
  s->hnext = c->hash[b];
  c->hash[b] = s;
  *out = s;
  return 0;
}

static int reclaimable(const Slot *s) {
  return s->id != 0 && s->kind == SLOT_GONE && !s->was_dir && !s->krefs && !s->old &&
         !s->busy && !s->model && !s->decoding && s->seen;
}

/* Under the lock.  Free a reclaimable slot now. */
static void slot_free(Cache *c, Slot *s) {
  if (c->nfree == c->capfree) {
    uint32_t cap = c->capfree ? c->capfree * 2 : 64;
    uint32_t *v = realloc(c->free_ids, cap * sizeof *v);
    if (v) c->free_ids = v;
    uint32_t *w = v ? realloc(c->free_vers, cap * sizeof *w) : NULL;
    if (w == NULL) return;                 /* kept: a slot, not a failure */
    c->free_vers = w;
    c->capfree = cap;
  }
  Slot **pp = &c->hash[hash_of(s->parent, s->name) & (c->hcap - 1)];
  while (*pp != s) pp = &(*pp)->hnext;
  *pp = s->hnext;
  c->slots[s->id] = NULL;
  c->free_ids[c->nfree] = s->id;
  c->free_vers[c->nfree++] = s->version;
  c->live--;
  if (s->sizes) u64map_free(s->sizes);
  free(s->sizes);
  free(s->name);
  free(s->relpath);
  free(s);
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
  return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* Under the lock.  Free the slots that have been reclaimable for
** MFS_SLOT_GRACE_S: a name that comes back within it keeps its slot, so a
** listing continued meanwhile (offsets are slot ids) never shows it twice. */
static void sweep(Cache *c) {
  double now = now_s();
  while (c->gone_head && now - c->gone_head->gone_at >= MFS_SLOT_GRACE_S) {
    Slot *s = c->gone_head;
    c->gone_head = s->gnext;
    if (c->gone_head == NULL) c->gone_tail = NULL;
    s->queued = 0;
    if (reclaimable(s)) slot_free(c, s);
  }
}

void cache_sweep(Cache *c) {
  pthread_mutex_lock(&c->lock);
  sweep(c);
  pthread_mutex_unlock(&c->lock);
}

/* Under the lock.  A name that is gone and that nobody holds any more (no
** kernel inode, no tree, no call in progress) gives its slot back after the
** grace period, so memory stays flat however many names come and go.
** Directories keep theirs: their children and inotify watches are indexed by it. */
static void slot_reclaim(Cache *c, Slot *s) {
  if (reclaimable(s) && !s->queued) {
    s->queued = 1;
    s->gone_at = now_s();
    s->gnext = NULL;
    if (c->gone_tail) c->gone_tail->gnext = s; else c->gone_head = s;
    c->gone_tail = s;
  }
  sweep(c);
}

/* Under the lock: a slot used outside the lock (its relpath) stays allocated. */
static Slot *slot_pin(Cache *c, uint32_t id) {
  Slot *s = id < c->nslots ? c->slots[id] : NULL;
  if (s) s->busy++;
  return s;
}

static void slot_unpin(Cache *c, Slot *s) {
  pthread_mutex_lock(&c->lock);
  s->busy--;
  slot_reclaim(c, s);
  pthread_mutex_unlock(&c->lock);
}

/* Identity: what, when it differs, makes the entry a different version.  A
** directory's mtime moves with every file added to it, and its children have
** slots of their own, so only its inode and mode count. */
static int same_identity(SlotKind kind, const struct stat *a, const struct stat *b) {
  if (a->st_dev != b->st_dev || a->st_ino != b->st_ino || a->st_mode != b->st_mode ||
      a->st_uid != b->st_uid || a->st_gid != b->st_gid)
    return 0;
  if (kind == SLOT_DIR) return 1;
  return a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
         a->st_mtim.tv_nsec == b->st_mtim.tv_nsec && a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
         a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static void lru_unlink(Cache *c, CacheModel *m) {
  if (m->prev) m->prev->next = m->next; else c->lru_head = m->next;
  if (m->next) m->next->prev = m->prev; else c->lru_tail = m->prev;
  m->prev = m->next = NULL;
}

static void lru_push(Cache *c, CacheModel *m) {
  m->prev = NULL;
  m->next = c->lru_head;
  if (c->lru_head) c->lru_head->prev = m; else c->lru_tail = m;
  c->lru_head = m;
}

/* Unlocked.  Whoever brings the freed bytes past MFS_TRIM_BYTES trims. */
static void model_destroy(Cache *c, CacheModel *m) {
  size_t mem = m->mem;
  if (m->pinned) {                /* its slot may go now (a name gone, forgotten) */
    pthread_mutex_lock(&c->lock);
    Slot *s = slot_get(c, m->ss.id);
    if (s) {
      s->busy--;
      slot_reclaim(c, s);
    }
    pthread_mutex_unlock(&c->lock);
  }
  render_free(m->tree);
  model_free(m->model);
  free(m);
  if (atomic_fetch_add(&c->untrimmed, mem) + mem < MFS_TRIM_BYTES) return;
  if (atomic_exchange(&c->untrimmed, 0) < MFS_TRIM_BYTES) return;   /* another did */
  malloc_trim(0);
  atomic_fetch_add(&c->trims, 1);
}

static void free_dropped(Cache *c, CacheModel *list) {
  while (list) {
    CacheModel *next = list->next;
    model_destroy(c, list);
    list = next;
  }
}

/* Under the lock.  A tree of a replaced version cannot be decoded again (its
** bytes are gone), so while the kernel holds nodes of it below the model
** directory (a walk, an open directory: their inodes would answer ESTALE) it is
** held: kept outside the budget, within MFS_MAX_HELD_TREES and
** MFS_HELD_TREES_BYTES.  Call after any change to m's owner or its counts. */
static void held_update(Cache *c, CacheModel *m) {
  int want = m->attached && m->owner && m->owner->nested > 0;
  if (want == m->held) return;
  m->held = want;
  if (want) {
    c->held_bytes += m->mem;
    c->held_count++;
  } else {
    c->held_bytes -= m->mem;
    c->held_count--;
  }
}

/* Under the lock.  Whoever held m (a slot, or an old version) lets go of it;
** the tree is freed (after the unlock, through *dropped) once its last user lets go. */
static void let_go(Cache *c, CacheModel *m, CacheModel **dropped) {
  m->owner = NULL;
  lru_unlink(c, m);
  c->lru_bytes -= m->mem;
  c->lru_count--;
  m->attached = 0;
  held_update(c, m);
  if (--m->refs == 0) {
    m->next = *dropped;
    *dropped = m;
  }
}

static void detach(Cache *c, Slot *s, CacheModel **dropped) {
  CacheModel *m = s->model;
  if (m == NULL) return;
  s->model = NULL;
  let_go(c, m, dropped);
}

/* Under the lock.  An earlier version's record lets go of its tree. */
static void old_detach(Cache *c, struct OldVersion *o, CacheModel **dropped);

static void evict(Cache *c, CacheModel *m, CacheModel **dropped) {
  if (m->owner) old_detach(c, m->owner, dropped);
  else detach(c, c->slots[m->ss.id], dropped);
  c->evictions++;
}

/* Under the lock.  The tree to evict: the least recently used one the kernel
** holds no node of below its model directory (among the MFS_EVICT_SCAN least
** recently used), else the least recently used current version's (decoded
** again when asked, same inode numbers; lost only if its file changes before).
** Never KEEP (in use) nor a held one; NULL when there is none. */
static CacheModel *victim(Cache *c, CacheModel *keep) {
  CacheModel *first = NULL;
  uint32_t scanned = 0;
  for (CacheModel *m = c->lru_tail; m && scanned < MFS_EVICT_SCAN; m = m->prev, scanned++) {
    if (m == keep || m->held) continue;
    const Slot *s = m->owner ? NULL : slot_get(c, m->ss.id);
    if (m->owner || s == NULL || s->nested == 0) return m;
    if (first == NULL) first = m;
  }
  for (CacheModel *m = first ? NULL : c->lru_tail; m; m = m->prev)   /* all held: any */
    if (m != keep && !m->held) return m;
  return first;
}

/* Under the lock.  Evict until within bounds; KEEP (the tree in use) stays even
** when it alone is over budget.  Held trees count apart: past their cap the
** least recently used of them goes, and its nodes answer ESTALE. */
static void enforce(Cache *c, CacheModel *keep, CacheModel **dropped) {
  CacheModel *m;
  while ((c->lru_bytes - c->held_bytes > c->budget ||
          c->lru_count - c->held_count > c->max_models) &&
         (m = victim(c, keep)) != NULL)
    evict(c, m, dropped);
  while (c->held_count > MFS_MAX_HELD_TREES || c->held_bytes > MFS_HELD_TREES_BYTES) {
    for (m = c->lru_tail; m && (m == keep || !m->held); m = m->prev) {}
    if (m == NULL) break;
    evict(c, m, dropped);
  }
}

static uint64_t parent_ino(Cache *c, const Slot *s) {
  const Slot *p = c->slots[s->parent];
  return cache_ino(p->id, p->version, 0);
}

/* Under the lock.  Record what a stat found (st NULL: gone).  A change of
** identity bumps the version, drops the tree and tells the owner. */
static OldVersion *old_find(const Slot *s, uint32_t ver8) {
  for (OldVersion *o = s->old; o; o = o->next)
    if ((o->ss.version & CACHE_VERSION_MASK) == ver8) return o;
  return NULL;
}

/* Under the lock.  The slot's current version is being replaced: when the
** kernel holds inodes of it, keep what they need (its stat, its tree).  The
** tree stays on the LRU, held while the kernel holds nodes of it (held_update). */
static void keep_old(Cache *c, Slot *s, CacheModel **dropped) {
  OldVersion *o = s->krefs ? calloc(1, sizeof *o) : NULL;
  if (o == NULL) {                         /* nobody holds it (or no memory: ESTALE later) */
    detach(c, s, dropped);
    return;
  }
  o->ss = snap(s);
  o->krefs = s->krefs;
  o->nested = s->nested;
  o->model = s->model;                     /* the slot's reference becomes the record's */
  if (o->model) o->model->owner = o;
  if (o->model) held_update(c, o->model);
  s->model = NULL;
  o->next = s->old;
  s->old = o;
  s->krefs = s->nested = 0;
}

static void old_detach(Cache *c, OldVersion *o, CacheModel **dropped) {
  CacheModel *m = o->model;
  if (m == NULL) return;
  o->model = NULL;
  let_go(c, m, dropped);
}

static void old_free(Cache *c, OldVersion *o, CacheModel **dropped) {
  old_detach(c, o, dropped);
  free(o);
}

/* Under the lock.  The slot's next version: its low bits (its inode numbers)
** neither those of WAS nor of a version the kernel still holds, nor 0 for a
** single model at the root (version 0 in an inode number means "the root, as it
** is now", so its trees never use 0).  When the kernel holds a version on every
** other number (a reader keeping each version it opened open: 255 of them), the
** oldest gives its number up -- looking on would never end, under the lock --
** and its tree goes: the kernel, told the number again with another generation,
** drops its inodes (their handles fail with EIO: never the new version's bytes),
** and the lookups it still has of them are the new version's to forget. */
static void next_version_number(Cache *c, Slot *s, uint32_t was, CacheModel **dropped) {
  for (uint32_t round = 0;; round++) {
    s->version++;
    uint32_t v8 = s->version & CACHE_VERSION_MASK;
    if (v8 == (was & CACHE_VERSION_MASK) || (s->id == 0 && v8 == 0)) continue;
    OldVersion **pp = &s->old;
    while (*pp && ((*pp)->ss.version & CACHE_VERSION_MASK) != v8) pp = &(*pp)->next;
    if (*pp == NULL) return;
    if (round < CACHE_VERSION_MASK) continue;
    OldVersion *o = *pp;                   /* every number taken: this one is the oldest */
    *pp = o->next;
    s->krefs += o->krefs;
    s->nested += o->nested;
    old_free(c, o, dropped);
    return;
  }
}

/* Under the lock.  Mark (or unmark) version V8 of S as a possible retry. */
static void retry_mark(Slot *s, uint32_t v8, int on) {
  uint8_t bit = (uint8_t)(1u << (v8 % 8));
  if (on) s->retried[v8 / 8] |= bit;
  else s->retried[v8 / 8] &= (uint8_t)~bit;
}

static void next_version(Cache *c, Slot *s, uint32_t was, CacheModel **dropped) {
  next_version_number(c, s, was, dropped);
  retry_mark(s, s->version & CACHE_VERSION_MASK, 0);  /* a number used again: no retry yet */
}

/* Under the lock.  Record what a stat found (st NULL: gone).  A change of
** identity bumps the version (next_version), keeps or drops the tree and tells
** the owner. */
static void observe(Cache *c, Slot *s, SlotKind kind, const struct stat *st,
                    CacheModel **dropped) {
  if (s->id == 0 && !c->single) {   /* the root keeps inode 1 whatever happens */
    if (st) s->st = *st;
    return;
  }
  int known = s->seen;
  s->seen = 1;
  if (known && kind == s->kind && (kind == SLOT_GONE || same_identity(kind, &s->st, st)))
    return;
  SlotStat old = snap(s);
  if (known) keep_old(c, s, dropped);
  else detach(c, s, dropped);
  next_version(c, s, old.version, dropped);
  s->kind = kind;
  if (kind == SLOT_DIR) s->was_dir = 1;
  if (st) s->st = *st; else memset(&s->st, 0, sizeof s->st);
  if (known && c->changed && s->id != 0)
    c->changed(c->changed_ctx, &old, kind, parent_ino(c, s), s->name);
}

/* A relative link that stays inside SOURCE is served as a link: the kernel
** follows it inside the mount.  Any other link would lead out of the mount. */
static int link_stays_inside(const Cache *c, int dirfd, const char *at, const char *rel) {
  char target[PATH_MAX], path[PATH_MAX];
  ssize_t n = readlinkat(dirfd, at, target, sizeof target - 1);
  if (n <= 0 || target[0] == '/') return 0;
  int w = snprintf(path, sizeof path, "%s/%s", c->source, rel);
  if (w < 0 || (size_t)w >= sizeof path) return 0;
  char *real = realpath(path, NULL);
  size_t len = strlen(c->source);
  int inside = real && (len == 1 || (strncmp(real, c->source, len) == 0 && real[len] == '/'));
  free(real);
  return inside;
}

/* A symbolic link to a regular file outside SOURCE (or absolute) is that file
** (SPEC 1: links are followed wherever they point): a model directory when the
** file is a model, as in `scan`.  Links to directories stay links: following
** them could loop. */
static void follow_to_file(const Cache *c, int dirfd, const char *at, const char *rel,
                           struct stat *st) {
  struct stat target;
  if (S_ISLNK(st->st_mode) && fstatat(dirfd, at, &target, 0) == 0 &&
      S_ISREG(target.st_mode) && !link_stays_inside(c, dirfd, at, rel))
    *st = target;
}

static int stat_rel(Cache *c, const char *rel, struct stat *st) {
  int r = *rel ? fstatat(c->srcfd, rel, st, AT_SYMLINK_NOFOLLOW) : fstat(c->srcfd, st);
  if (r != 0) return errno;
  if (*rel) follow_to_file(c, c->srcfd, rel, rel, st);
  return 0;
}

/* What a regular file is comes from its bytes (identify.h), the same answer
** `scan` gets; only the head is read, nothing is decoded. */
static SlotKind classify(Cache *c, const char *rel, const struct stat *st) {
  if (S_ISDIR(st->st_mode)) return SLOT_DIR;
  if (S_ISLNK(st->st_mode)) return SLOT_LINK;
  if (!S_ISREG(st->st_mode)) return SLOT_GONE;
  char path[PATH_MAX];
  int n = snprintf(path, sizeof path, "%s/%s", c->source, rel);
  if (n < 0 || (size_t)n >= sizeof path) return SLOT_FILE;
  Ident id;
  identify_path_counted(path, &c->tally, &id);
  return ident_is_model(&id) ? SLOT_MODEL : SLOT_FILE;
}

/* NAME in PARENT was stat'ed as ST: find or make its slot and bring it up to date.
** The kind is worked out (a sniff, maybe) only when the identity is new. */
static int settle(Cache *c, uint32_t parent, const char *name, const char *rel,
                  const struct stat *st, SlotStat *out, int pin) {
  pthread_mutex_lock(&c->lock);
  Slot *s = hash_find(c, parent, name);
  if (s && s->seen && s->kind != SLOT_GONE && same_identity(s->kind, &s->st, st)) {
    *out = snap(s);
    s->busy += pin;
    sweep(c);
    pthread_mutex_unlock(&c->lock);
    return 0;
  }
  pthread_mutex_unlock(&c->lock);
  SlotKind kind = classify(c, rel, st);
  CacheModel *dropped = NULL;
  int err = 0;
  pthread_mutex_lock(&c->lock);
  s = hash_find(c, parent, name);
  if (s == NULL && kind != SLOT_GONE) err = slot_new(c, parent, name, &s);
  if (s && !err) {
    observe(c, s, kind, kind == SLOT_GONE ? NULL : st, &dropped);
    *out = snap(s);
    if (kind != SLOT_GONE) s->busy += pin;
    slot_reclaim(c, s);
  }
  pthread_mutex_unlock(&c->lock);
  free_dropped(c, dropped);
  if (err) return err;
  return kind == SLOT_GONE ? ENOENT : 0;
}

static void gone(Cache *c, uint32_t parent, const char *name) {
  CacheModel *dropped = NULL;
  pthread_mutex_lock(&c->lock);
  Slot *s = hash_find(c, parent, name);
  if (s) observe(c, s, SLOT_GONE, NULL, &dropped);
  if (s) slot_reclaim(c, s);
  pthread_mutex_unlock(&c->lock);
  free_dropped(c, dropped);
}

/* SOURCE given as one model file: the cache serves its directory, and slot 0
** is the file itself (relpath its name).  *base is NULL for a directory. */
static int split_single(char *abs, char **base, Err *e) {
  struct stat st;
  *base = NULL;
  if (stat(abs, &st) != 0 || S_ISDIR(st.st_mode)) return 0;
  Ident id;
  identify_path(abs, &id);
  if (!S_ISREG(st.st_mode) || !ident_is_model(&id)) {
    err_set(e, MFS_EIO, MFS_NO_OFFSET,
            "%s: not a directory, nor a model file (SOURCE is a directory of models, or one "
            "model file)", abs);
    return -1;
  }
  char *slash = strrchr(abs, '/');
  *base = strdup(slash + 1);
  if (*base == NULL) return -1;
  slash[slash == abs ? 1 : 0] = '\0';
  return 0;
}

Cache *cache_new(const CacheConfig *cfg, Err *e) {
  char *abs = realpath(cfg->source, NULL), *base = NULL;
  if (abs == NULL) {
    err_set(e, MFS_EIO, MFS_NO_OFFSET, "%s: %s", cfg->source, strerror(errno));
    return NULL;
  }
  if (split_single(abs, &base, e) != 0) {
    free(abs);
    return NULL;
  }
  int fd = open(abs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    err_set(e, MFS_EIO, MFS_NO_OFFSET, "%s: %s", cfg->source, strerror(errno));
    free(abs);
    free(base);
    return NULL;
  }
  Cache *c = calloc(1, sizeof *c);
  Slot *root = calloc(1, sizeof *root);
  if (c) c->hash = calloc(1024, sizeof *c->hash);
  if (c) c->slots = calloc(256, sizeof *c->slots);
  if (c == NULL || root == NULL || c->hash == NULL || c->slots == NULL ||
      (root->name = strdup("")) == NULL ||
      (root->relpath = base ? base : strdup("")) == NULL) {
    if (root) free(root->name);
    free(root);
    if (c) free(c->hash), free(c->slots);
    free(c);
    close(fd);
    free(abs);
    err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
    return NULL;
  }
  pthread_mutex_init(&c->lock, NULL);
  pthread_cond_init(&c->decoded, NULL);
  pthread_cond_init(&c->decode_room, NULL);
  c->source = abs;
  c->srcfd = fd;
  c->trust = cfg->trust;
  if (cfg->compat_target && (c->compat_target = strdup(cfg->compat_target)) == NULL) {
    err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
    cache_free(c);
    return NULL;
  }
  c->budget = cfg->budget;
  c->prove = cfg->frugal ? SOURCE_PROVE_NONE : SOURCE_PROVE_OPEN;
  c->max_models = cfg->max_models ? cfg->max_models : MFS_CACHE_MAX_MODELS;
  c->changed = cfg->changed;
  c->changed_ctx = cfg->changed_ctx;
  c->ready = cfg->ready;
  c->ready_ctx = cfg->ready_ctx;
  c->pause = cfg->pause;
  c->hide = cfg->hide ? strdup(cfg->hide) : NULL;
  c->hcap = 1024;
  c->capslots = 256;
  c->single = base != NULL;
  root->kind = c->single ? SLOT_MODEL : SLOT_DIR;
  root->version = c->single ? 1 : 0;
  if (c->single) stat_rel(c, base, &root->st);
  else fstat(fd, &root->st);
  c->slots[0] = root;
  c->nslots = 1;
  c->live = 1;
  return c;
}

void cache_free(Cache *c) {
  if (c == NULL) return;
  CacheModel *dropped = NULL;
  for (uint32_t i = 0; i < c->nslots; i++) {
    Slot *s = c->slots[i];
    if (s == NULL) continue;
    detach(c, s, &dropped);
    while (s->old) {
      OldVersion *o = s->old;
      s->old = o->next;
      old_free(c, o, &dropped);
    }
  }
  free_dropped(c, dropped);
  for (uint32_t i = 0; i < c->nslots; i++) {
    if (c->slots[i] == NULL) continue;
    if (c->slots[i]->sizes) u64map_free(c->slots[i]->sizes);
    free(c->slots[i]->sizes);
    free(c->slots[i]->name);
    free(c->slots[i]->relpath);
    free(c->slots[i]);
  }
  free(c->slots);
  free(c->free_ids);
  free(c->free_vers);
  free(c->hash);
  close(c->srcfd);
  free(c->source);
  free(c->hide);
  free(c->compat_target);
  pthread_cond_destroy(&c->decoded);
  pthread_cond_destroy(&c->decode_room);
  pthread_mutex_destroy(&c->lock);
  free(c);
}

const char *cache_source(const Cache *c) { return c->source; }

int cache_statfs(Cache *c, struct statvfs *sv) {
  /* The open descriptor: SOURCE may have been removed or moved since. */
  return fstatvfs(c->srcfd, sv) == 0 ? 0 : errno;
}

uint32_t cache_max_models(uint64_t nofile) {
  uint64_t n = nofile > 2 * MFS_FD_RESERVE ? (nofile - MFS_FD_RESERVE) / 2 : nofile / 4;
  if (n < MFS_CACHE_MAX_MODELS) n = MFS_CACHE_MAX_MODELS;
  if (n > MFS_CACHE_MAX_MODELS_CAP) n = MFS_CACHE_MAX_MODELS_CAP;
  return (uint32_t)n;
}

/* Our own mountpoint inside SOURCE: stat'ing it would call into ourselves. */
static int hidden(const Cache *c, const char *rel) {
  return c->hide && strcmp(rel, c->hide) == 0;
}

/* The relative path of a directory slot, for building a child's path. */
static int dir_relpath(Cache *c, uint32_t dir, const char **rel) {
  int err = 0;
  pthread_mutex_lock(&c->lock);
  Slot *p = slot_get(c, dir);
  if (p == NULL || p->kind == SLOT_GONE) err = ENOENT;
  else if (p->kind != SLOT_DIR) err = ENOTDIR;
  else *rel = p->relpath;
  pthread_mutex_unlock(&c->lock);
  return err;
}

int cache_lookup(Cache *c, uint32_t parent, const char *name, SlotStat *out) {
  const char *prel;
  int err = dir_relpath(c, parent, &prel);
  if (err) return err;
  char rel[PATH_MAX];
  if ((err = join(rel, sizeof rel, prel, name)) != 0) return err;
  if (hidden(c, rel)) return ENOENT;
  struct stat st;
  if ((err = stat_rel(c, rel, &st)) != 0) {
    if (err == ENOENT || err == ENOTDIR) gone(c, parent, name);
    return err == ENOTDIR ? ENOENT : err;
  }
  return settle(c, parent, name, rel, &st, out, 0);
}

/* The model at the root of a single-file mount, stat'ed again: a new identity is
** a new version (its trees get new inode numbers); it stays a model whatever
** happens (a file that no longer decodes shows meta.json saying why). */
static int refresh_single(Cache *c, Slot *s, int err, const struct stat *st, SlotStat *out) {
  if (err) return err;
  CacheModel *dropped = NULL;
  pthread_mutex_lock(&c->lock);
  observe(c, s, SLOT_MODEL, st, &dropped);
  *out = snap(s);
  pthread_mutex_unlock(&c->lock);
  free_dropped(c, dropped);
  return 0;
}

static int refresh_pinned(Cache *c, Slot *s, SlotStat *out) {
  struct stat st;
  int err = stat_rel(c, s->relpath, &st);
  if (s->id == 0 && c->single) return refresh_single(c, s, err, &st, out);
  if (s->id == 0) {
    pthread_mutex_lock(&c->lock);
    if (!err) s->st = st;
    *out = snap(s);
    pthread_mutex_unlock(&c->lock);
    return 0;
  }
  if (err == ENOENT || err == ENOTDIR) {
    gone(c, s->parent, s->name);
    pthread_mutex_lock(&c->lock);
    *out = snap(s);
    pthread_mutex_unlock(&c->lock);
    return ENOENT;
  }
  if (err) return err;
  return settle(c, s->parent, s->name, s->relpath, &st, out, 0);
}

int cache_refresh(Cache *c, uint32_t id, SlotStat *out) {
  pthread_mutex_lock(&c->lock);
  Slot *s = slot_pin(c, id);
  pthread_mutex_unlock(&c->lock);
  if (s == NULL) return ENOENT;
  int err = refresh_pinned(c, s, out);
  slot_unpin(c, s);
  return err;
}

void cache_refresh_all(Cache *c) {
  pthread_mutex_lock(&c->lock);
  uint32_t n = c->nslots;
  pthread_mutex_unlock(&c->lock);
  SlotStat ss;
  for (uint32_t id = 1; id < n; id++) cache_refresh(c, id, &ss);
}

int cache_get(Cache *c, uint32_t id, SlotStat *out) {
  int err = 0;
  pthread_mutex_lock(&c->lock);
  Slot *s = slot_get(c, id);
  if (s) *out = snap(s); else err = ENOENT;
  pthread_mutex_unlock(&c->lock);
  return err;
}

static Slot *slot_locked(Cache *c, uint32_t id) {
  pthread_mutex_lock(&c->lock);
  Slot *s = slot_get(c, id);
  pthread_mutex_unlock(&c->lock);
  return s;
}

const char *cache_name(Cache *c, uint32_t id) {
  Slot *s = slot_locked(c, id);
  return s ? s->name : NULL;
}

const char *cache_relpath(Cache *c, uint32_t id) {
  Slot *s = slot_locked(c, id);
  return s ? s->relpath : NULL;
}

uint32_t cache_parent(Cache *c, uint32_t id) {
  Slot *s = slot_locked(c, id);
  return s ? s->parent : 0;
}

int cache_find(Cache *c, uint32_t parent, const char *name, uint32_t *id) {
  pthread_mutex_lock(&c->lock);
  Slot *s = hash_find(c, parent, name);
  if (s) *id = s->id;
  pthread_mutex_unlock(&c->lock);
  return s ? 0 : ENOENT;
}

static int push_entry(CacheEntry **v, size_t *n, size_t *cap, const char *name,
                      const SlotStat *ss) {
  if (*n == *cap) {
    size_t nc = *cap ? *cap * 2 : 64;
    CacheEntry *nv = realloc(*v, nc * sizeof *nv);
    if (nv == NULL) return ENOMEM;
    *v = nv;
    *cap = nc;
  }
  if (((*v)[*n].name = strdup(name)) == NULL) return ENOMEM;
  (*v)[*n].ss = *ss;
  (*n)++;
  return 0;
}

int cache_list(Cache *c, uint32_t dir, CacheEntry **out, size_t *nout) {
  const char *prel;
  int err = dir_relpath(c, dir, &prel);
  if (err) return err;
  int fd = openat(c->srcfd, *prel ? prel : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  DIR *d = fdopendir(fd);
  if (d == NULL) {
    err = errno;
    close(fd);
    return err;
  }
  CacheEntry *v = NULL;
  size_t n = 0, cap = 0;
  struct dirent *de;
  while (!err && (de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
    char rel[PATH_MAX];
    struct stat st;
    SlotStat ss;
    /* A name that cannot be reached (deeper than PATH_MAX, or a directory we
    ** may read but not search) fails the listing: a silently shorter listing
    ** would say the file is not there. */
    if ((err = join(rel, sizeof rel, prel, de->d_name)) != 0) break;
    if (hidden(c, rel)) continue;
    if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno != ENOENT) err = errno;     /* ENOENT: gone since readdir */
      continue;
    }
    follow_to_file(c, dirfd(d), de->d_name, rel, &st);
    int e2 = settle(c, dir, de->d_name, rel, &st, &ss, 1);   /* pinned: listed */
    if (e2 == ENOMEM || e2 == ENOSPC) err = e2;
    else if (e2 == 0 && (err = push_entry(&v, &n, &cap, de->d_name, &ss)) != 0)
      cache_list_unpin(c, &(CacheEntry){NULL, ss}, 1);
  }
  closedir(d);
  if (err) {
    cache_list_unpin(c, v, n);
    cache_list_free(v, n);
    return err;
  }
  *out = v;
  *nout = n;
  return 0;
}

void cache_list_unpin(Cache *c, const CacheEntry *v, size_t n) {
  pthread_mutex_lock(&c->lock);
  for (size_t i = 0; i < n; i++) {
    Slot *s = slot_get(c, v[i].ss.id);
    if (s == NULL) continue;
    s->busy--;
    slot_reclaim(c, s);
  }
  pthread_mutex_unlock(&c->lock);
}

void cache_list_free(CacheEntry *v, size_t n) {
  for (size_t i = 0; i < n; i++) free(v[i].name);
  free(v);
}

int cache_open_source(Cache *c, uint32_t id, int flags) {
  pthread_mutex_lock(&c->lock);
  Slot *s = slot_pin(c, id);
  pthread_mutex_unlock(&c->lock);
  if (s == NULL) return -ENOENT;
  int fd = *s->relpath ? openat(c->srcfd, s->relpath, flags | O_CLOEXEC)   /* a link: its file */
                       : openat(c->srcfd, ".", flags | O_CLOEXEC);
  int err = fd < 0 ? errno : 0;
  slot_unpin(c, s);
  return fd < 0 ? -err : fd;
}

int cache_copy_relpath(Cache *c, uint32_t id, char *buf, size_t cap) {
  pthread_mutex_lock(&c->lock);
  Slot *s = slot_get(c, id);
  if (s) snprintf(buf, cap, "%s", s->relpath);
  pthread_mutex_unlock(&c->lock);
  return s ? 0 : ENOENT;
}

long cache_readlink(Cache *c, uint32_t id, char *buf, size_t size) {
  pthread_mutex_lock(&c->lock);
  Slot *s = slot_pin(c, id);
  pthread_mutex_unlock(&c->lock);
  if (s == NULL) return -ENOENT;
  ssize_t n = *s->relpath ? readlinkat(c->srcfd, s->relpath, buf, size) : -1;
  int err = n < 0 ? (*s->relpath ? errno : ENOENT) : 0;
  slot_unpin(c, s);
  return n < 0 ? -err : (long)n;
}

/* A decode of the file opened as A, which has moved since (B): still A's when
** nothing failed and one more read proves the identity -- every read the decode
** made was proven when made (source_file.c), and this one, through a file
** source, proves the summed bytes still there: a touch, an append, the same
** bytes written again, or a rename over it (the descriptor keeps the old file).
** A compressed source answers it from its store, whose bytes were proven when
** inflated, so what the tree serves never depends on the file again.  Without
** it a file touched more often than it takes to decode would never settle, and
** its readers got ESTALE. */
static int decode_still_proven(Model *m) {
  uint8_t byte;
  Err e;
  err_clear(&e);
  if (!m->ok || m->src == NULL) return 0;
  return m->src->size == 0 || source_read(m->src, 0, &byte, 1, &e) == MFS_OK;
}

/* Decode the file behind S as it was when WANT was taken.  Unlocked.  A file that
** changes or moves away during the decode (stat before and after differ) is
** decoded again unless the decode is proven still WANT's (decode_still_proven);
** one that is no longer WANT gives ESTALE. */
static int decode_slot(Cache *c, const Slot *s, const SlotStat *want, CacheModel **out) {
  char path[PATH_MAX];
  int n = snprintf(path, sizeof path, "%s/%s", c->source, s->relpath);
  if (n < 0 || (size_t)n >= sizeof path) return ENAMETOOLONG;
  for (int tries = 0; tries < MFS_DECODE_TRIES; tries++) {
    struct stat a, b, opened;
    int err = stat_rel(c, s->relpath, &a);
    if (err) return err == ENOENT ? ESTALE : err;
    if (!same_identity(SLOT_MODEL, &a, &want->st)) return ESTALE;
    /* O_NONBLOCK: a FIFO put there since must be refused, not waited on. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0 && errno == ENOENT) return ESTALE;
    if (fd >= 0 && (fstat(fd, &opened) != 0 || !same_identity(SLOT_MODEL, &a, &opened))) {
      close(fd);                           /* changed before the open: look again */
      continue;
    }
    SourceFileOpts opts = cache_file_opts(c);
    /* Not openable (EACCES...): decoding by path makes the model saying why. */
    Model *m = fd >= 0 ? model_decode_fd(fd, path, &opts, &c->stop, c->pause)
                       : model_decode_with(path, &opts, &c->stop, c->pause);
    if (m == NULL) return ENOMEM;
    /* Moved away (renamed, deleted) or replaced since the open: the descriptor
    ** read the file opened all the same. */
    err = stat_rel(c, s->relpath, &b);
    int moved = err == ENOENT || (!err && !same_identity(SLOT_MODEL, &a, &b));
    if ((err && err != ENOENT) || (moved && !decode_still_proven(m))) {
      model_free(m);
      continue;
    }
    RTree *t = render_tree_for(m, c->trust, c->compat_target);
    if (t) render_set_pause(t, c->pause);
    CacheModel *cm = t ? calloc(1, sizeof *cm) : NULL;
    if (cm == NULL) {
      render_free(t);
      model_free(m);
      return EIO;
    }
    cm->tree = t;
    cm->model = m;
    cm->ss = *want;
    cm->mem = sizeof *cm + render_memory(t);
    clock_gettime(CLOCK_MONOTONIC_COARSE, &cm->measured);
    *out = cm;
    return 0;
  }
  return EIO;
}

/* Under the lock.  The kept tree of an earlier version (a new reference), or NULL. */
static CacheModel *old_tree(Cache *c, Slot *s, uint32_t ver8) {
  OldVersion *o = old_find(s, ver8);
  if (o == NULL || o->model == NULL) return NULL;
  o->model->refs++;
  lru_unlink(c, o->model);
  lru_push(c, o->model);
  return o->model;
}

/* Under the lock.  S's decode ended: the jobs parked on it, for the caller to
** hand over (cache_ready) once unlocked. */
static PoolJob *decode_ended(Cache *c, Slot *s) {
  PoolJob *ready = s->waiters;
  s->waiters = NULL;
  s->decoding = 0;
  c->decoding--;
  pthread_cond_signal(&c->decode_room);
  pthread_cond_broadcast(&c->decoded);
  return ready;
}

static void hand_over(Cache *c, PoolJob *ready) {
  if (ready && c->ready) c->ready(c->ready_ctx, ready);
}

static int acquire(Cache *c, uint32_t id, uint32_t ver8, int wait, CacheModel **out);

int cache_acquire(Cache *c, uint32_t id, uint32_t ver8, CacheModel **out) {
  return acquire(c, id, ver8, 1, out);
}

int cache_acquire_now(Cache *c, uint32_t id, uint32_t ver8, CacheModel **out) {
  return acquire(c, id, ver8, 0, out);
}

int cache_park(Cache *c, uint32_t id, PoolJob *j) {
  pthread_mutex_lock(&c->lock);
  Slot *s = slot_get(c, id);
  int parked = s && s->decoding;
  if (parked) {
    j->next = s->waiters;
    s->waiters = j;
  }
  pthread_mutex_unlock(&c->lock);
  return parked;
}

void cache_stop(Cache *c) { atomic_store(&c->stop, 1); }

static int acquire(Cache *c, uint32_t id, uint32_t ver8, int wait, CacheModel **out) {
  pthread_mutex_lock(&c->lock);
  Slot *s = slot_get(c, id);
  for (;;) {
    int err = 0;
    if (s && (s->version & CACHE_VERSION_MASK) != ver8 && !(id == 0 && ver8 == 0)) {
      *out = old_tree(c, s, ver8);
      pthread_mutex_unlock(&c->lock);
      return *out ? 0 : ESTALE;
    }
    if (s == NULL || s->kind == SLOT_GONE) err = ENOENT;
    else if (s->kind != SLOT_MODEL) err = ENOENT;
    if (err) {
      pthread_mutex_unlock(&c->lock);
      return err;
    }
    if (s->model) {
      CacheModel *m = s->model;
      m->refs++;
      lru_unlink(c, m);
      lru_push(c, m);
      pthread_mutex_unlock(&c->lock);
      *out = m;
      return 0;
    }
    if (!wait) {   /* a decode to start or to wait for: the caller hands it on */
      pthread_mutex_unlock(&c->lock);
      return EWOULDBLOCK;
    }
    if (!s->decoding) break;
    pthread_cond_wait(&c->decoded, &c->lock);
  }
  s->decoding = 1;
  s->decodes++;
  c->decodes++;
  SlotStat want = snap(s);
  /* Decodes run side by side, each within the decoder's limits, so a slow or
  ** hostile file never holds up another model; the decodes begun are bounded
  ** (the pool's threads are too: this never waits under the mount), which
  ** bounds their memory together. */
  while (c->decoding >= MFS_MAX_BEGUN_DECODES) pthread_cond_wait(&c->decode_room, &c->lock);
  c->decoding++;
  /* Make room first: a tree kept over budget because it was in use must not
  ** stay resident while a second one is decoded beside it. */
  CacheModel *before = NULL;
  enforce(c, NULL, &before);
  pthread_mutex_unlock(&c->lock);
  free_dropped(c, before);

  CacheModel *m = NULL;
  int err = decode_slot(c, s, &want, &m);

  CacheModel *dropped = NULL;
  pthread_mutex_lock(&c->lock);
  PoolJob *ready = decode_ended(c, s);
  if (!err && s->version != want.version) {
    /* Replaced while decoding: the tree is still that version's, which the
    ** kernel may hold inodes of. */
    OldVersion *o = old_find(s, want.version & CACHE_VERSION_MASK);
    if (o && o->model == NULL && o->ss.version == want.version) {
      m->refs = 2;
      m->pinned = 1;
      s->busy++;
      m->attached = 1;
      m->owner = o;
      o->model = m;
      lru_push(c, m);
      c->lru_bytes += m->mem;
      c->lru_count++;
      held_update(c, m);
      enforce(c, m, &dropped);
      pthread_mutex_unlock(&c->lock);
      hand_over(c, ready);
      free_dropped(c, dropped);
      *out = m;
      return 0;
    }
    err = ESTALE;
  }
  if (!err) {
    m->refs = 2;
    m->pinned = 1;
    s->busy++;
    m->attached = 1;
    s->model = m;
    lru_push(c, m);
    c->lru_bytes += m->mem;
    c->lru_count++;
    enforce(c, m, &dropped);
  }
  pthread_mutex_unlock(&c->lock);
  hand_over(c, ready);
  free_dropped(c, dropped);
  if (err == ESTALE) {
    if (m) model_destroy(c, m);
    SlotStat ss;
    cache_refresh(c, id, &ss);   /* records the new identity: a new version */
    return ESTALE;
  }
  if (err) return err;
  *out = m;
  return 0;
}

CacheModel *cache_hold(Cache *c, CacheModel *m) {
  pthread_mutex_lock(&c->lock);
  m->refs++;
  pthread_mutex_unlock(&c->lock);
  return m;
}

static int measure_due(CacheModel *m) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
  long long ns = (now.tv_sec - m->measured.tv_sec) * 1000000000LL +
                 (now.tv_nsec - m->measured.tv_nsec);
  if (ns < MEASURE_INTERVAL_NS) return 0;
  m->measured = now;
  return 1;
}

void cache_release(Cache *c, CacheModel *m) {
  if (m == NULL) return;
  CacheModel *dropped = NULL;
  pthread_mutex_lock(&c->lock);
  int last = --m->refs == 0;
  /* Only the slot holds it now, so nobody is producing content in it: the one
  ** moment render_memory may look at its caches. */
  if (!last && m->attached && m->refs == 1 && measure_due(m)) {
    size_t mem = sizeof *m + render_memory(m->tree);
    c->lru_bytes = c->lru_bytes - m->mem + mem;
    if (m->held) c->held_bytes = c->held_bytes - m->mem + mem;
    m->mem = mem;
    enforce(c, c->lru_head, &dropped);
  }
  pthread_mutex_unlock(&c->lock);
  if (last) model_destroy(c, m);
  free_dropped(c, dropped);
}

void cache_kernel_ref(Cache *c, const SlotStat *ss, uint64_t ino, uint64_t n) {
  if (ss->id == 0 || n == 0) return;
  uint32_t id, ver, index;
  cache_ino_split(ino, &id, &ver, &index);
  uint64_t nested = index != 0 ? n : 0;
  pthread_mutex_lock(&c->lock);
  Slot *s = slot_get(c, ss->id);
  uint32_t ver8 = ss->version & CACHE_VERSION_MASK;
  if (s && index == 0 && s->retry_marks > 0) {
    retry_mark(s, ver8, 1);
    s->retry_marks--;
  }
  if (s && (s->version & CACHE_VERSION_MASK) == ver8) {
    s->krefs += n;
    s->nested += nested;
  } else if (s) {
    OldVersion *o = old_find(s, ver8);
    if (o == NULL && (o = calloc(1, sizeof *o)) != NULL) {   /* replaced just now */
      o->ss = *ss;
      o->next = s->old;
      s->old = o;
    }
    if (o) o->krefs += n;
    if (o) o->nested += nested;
    if (o && o->model) held_update(c, o->model);
  }
  pthread_mutex_unlock(&c->lock);
}

int cache_kernel_forget(Cache *c, uint64_t ino, uint64_t n) {
  uint32_t id, ver8, index;
  cache_ino_split(ino, &id, &ver8, &index);
  if (id == 0) return 0;
  CacheModel *dropped = NULL;
  int recheck = 0;
  pthread_mutex_lock(&c->lock);
  Slot *s = slot_get(c, id);
  if (s && (s->version & CACHE_VERSION_MASK) == ver8) {
    s->krefs -= n < s->krefs ? n : s->krefs;
    if (index) s->nested -= n < s->nested ? n : s->nested;
    recheck = s->krefs == 0 && s->kind != SLOT_GONE && !s->was_dir;
  } else if (s) {
    OldVersion **pp = &s->old;
    while (*pp && ((*pp)->ss.version & CACHE_VERSION_MASK) != ver8) pp = &(*pp)->next;
    OldVersion *o = *pp;
    if (o && index) o->nested -= n < o->nested ? n : o->nested;
    if (o && o->model) held_update(c, o->model);   /* let go of: evictable again */
    if (o && (o->krefs -= n < o->krefs ? n : o->krefs) == 0) {
      *pp = o->next;
      old_free(c, o, &dropped);
    }
  }
  if (s) slot_reclaim(c, s);
  pthread_mutex_unlock(&c->lock);
  free_dropped(c, dropped);
  return recheck;
}

void cache_stale_open(Cache *c, uint32_t id) {
  pthread_mutex_lock(&c->lock);
  Slot *s = slot_get(c, id);
  if (s) s->retry_marks = MFS_RETRY_MARKS;
  pthread_mutex_unlock(&c->lock);
}

void cache_retry_done(Cache *c, uint32_t id, uint32_t ver8) {
  pthread_mutex_lock(&c->lock);
  Slot *s = slot_get(c, id);
  if (s) retry_mark(s, ver8 & CACHE_VERSION_MASK, 0);
  pthread_mutex_unlock(&c->lock);
}

int cache_open_retried(Cache *c, uint32_t id, uint32_t ver8) {
  pthread_mutex_lock(&c->lock);
  Slot *s = slot_get(c, id);
  ver8 &= CACHE_VERSION_MASK;
  int retried = s && (s->retried[ver8 / 8] & (1u << (ver8 % 8))) != 0;
  pthread_mutex_unlock(&c->lock);
  return retried;
}

void cache_old_restat(Cache *c, uint32_t id, uint32_t ver8, const struct stat *st) {
  pthread_mutex_lock(&c->lock);
  Slot *s = slot_get(c, id);
  OldVersion *o = s ? old_find(s, ver8) : NULL;
  if (o && o->ss.kind == SLOT_FILE) o->ss.st = *st;
  pthread_mutex_unlock(&c->lock);
}

int cache_old_stat(Cache *c, uint32_t id, uint32_t ver8, SlotStat *out) {
  pthread_mutex_lock(&c->lock);
  Slot *s = slot_get(c, id);
  OldVersion *o = s ? old_find(s, ver8) : NULL;
  if (o) *out = o->ss;
  pthread_mutex_unlock(&c->lock);
  return o ? 0 : ESTALE;
}

int cache_size_get(Cache *c, const SlotStat *ss, uint32_t index, uint64_t *size) {
  pthread_mutex_lock(&c->lock);
  Slot *s = slot_get(c, ss->id);
  int found = s && s->sizes && s->sizes_version == ss->version && u64map_get(s->sizes, index, size);
  pthread_mutex_unlock(&c->lock);
  return found;
}

void cache_size_put(Cache *c, const SlotStat *ss, uint32_t index, uint64_t size) {
  pthread_mutex_lock(&c->lock);
  c->sizings++;
  Slot *s = slot_get(c, ss->id);
  if (s && s->version == ss->version) {
    if (s->sizes && s->sizes_version != ss->version) {
      u64map_free(s->sizes);
      free(s->sizes);
      s->sizes = NULL;
    }
    if (s->sizes == NULL && (s->sizes = calloc(1, sizeof *s->sizes)) != NULL)
      s->sizes_version = ss->version;
    if (s->sizes && s->sizes->n < MFS_MAX_REMEMBERED_SIZES) (void)u64map_put(s->sizes, index, size);
  }
  pthread_mutex_unlock(&c->lock);
}

RTree *cache_tree(const CacheModel *m) { return m->tree; }

const SlotStat *cache_model_stat(const CacheModel *m) { return &m->ss; }

void cache_stats(Cache *c, CacheStats *st) {
  pthread_mutex_lock(&c->lock);
  st->decodes = c->decodes;
  st->evictions = c->evictions;
  st->models = c->lru_count;
  st->bytes = c->lru_bytes;
  st->budget = c->budget;
  st->max_models = c->max_models;
  st->trims = atomic_load(&c->trims);
  st->slots = c->live;
  st->sizings = c->sizings;
  pthread_mutex_unlock(&c->lock);
  source_tally_get(&c->tally, &st->source_reads, &st->source_bytes);
}

SourceFileOpts cache_file_opts(Cache *c) {
  SourceFileOpts o = {&c->tally, c->prove};
  return o;
}

uint64_t cache_slot_decodes(Cache *c, uint32_t id) {
  pthread_mutex_lock(&c->lock);
  Slot *s = slot_get(c, id);
  uint64_t n = s ? s->decodes : 0;
  pthread_mutex_unlock(&c->lock);
  return n;
}
