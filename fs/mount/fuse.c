/*
** fuse.c -- the mount: libfuse low-level operations over cache.h and render.h.
**
** Translates calls and nothing more: a name or an inode number in, a slot of
** SOURCE or a node of a rendered tree out.  Inode numbers are (slot, version,
** node index), so every inode names one version of one thing forever and the
** kernel may cache it all with long timeouts and keep_cache; a changed source
** file gets new numbers, and a thread of its own (the notifier, fed by inotify
** and by change detection in requests) tells the kernel to drop the old names.
**
** Must never: write to SOURCE; decode, render or interpret bytes itself; send
** a notification from inside a request handler (the kernel may deadlock on the
** request it is waiting for); serve .npy with direct_io (mmap needs the page
** cache); answer with bytes of another version than the one a handle opened;
** wait for a decode on a loop thread (see "waiting").
*/
#define FUSE_USE_VERSION 314
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include "modelfs/cache.h"
#include "modelfs/limits.h"
#include "modelfs/mount.h"
#include "modelfs/mountopt.h"
#include "modelfs/pool.h"
#include "modelfs/source.h"

/* Seconds the kernel may trust a name or attributes.  Content is immutable per
** inode number, so "forever" is right wherever inotify will tell us about
** changes; a directory we could not watch (watch limit, NFS) gets a short one. */
#define TTL_FOREVER   86400.0
#define TTL_UNWATCHED 1.0
/* What the notifier watches in each directory of SOURCE.  Not IN_MODIFY: a
** writer makes one per write(); the change is taken when it closes (or when a
** reader opens, which always re-checks size, mtime and inode). */
#define WATCH_EVENTS (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE | \
                      IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
/* Seconds the notifier gets to finish at unmount before the connection is aborted. */
#define NOTIFIER_GRACE_S 2
/* libfuse's own bound on loop threads (FUSE_LOOP_MT_MAX_THREADS). */
#define MAX_LOOP_THREADS 100000
/* st_blksize: makes cat and cp read in large blocks.  A file of a model smaller
** than that says SMALL_BLOCK: diff -r allocates a buffer of st_blksize per file
** it compares (mmap and page faults at 128 KiB, ~4 a file over a forest's
** thousands of small files), while cat and cp read at least 128 KiB whatever
** it says. */
#define IO_BLOCK      (128 * 1024)
#define SMALL_BLOCK   4096

/* Extended attributes for tests and curious users: counters, never content. */
#define XA_DECODES   "user.modelfs.decodes"
#define XA_EVICTIONS "user.modelfs.evictions"
#define XA_MODELS    "user.modelfs.cached_models"
#define XA_BYTES     "user.modelfs.cached_bytes"
#define XA_SLOTS     "user.modelfs.slots"
/* Reads of SOURCE's files since mount and their bytes (any node: one mount-wide
** pair; read it before and after an operation to see what the operation cost). */
#define XA_SRC_READS "user.modelfs.source_reads"
#define XA_SRC_BYTES "user.modelfs.source_bytes"
#define XA_SIZINGS   "user.modelfs.text_sizings"

typedef enum HandleKind { H_PASS, H_MODEL } HandleKind;

/* An open file.  Each holds what it needs to answer later reads with the
** version it opened: an fd, or a reference to the decoded tree.  Directories
** have no handles (see "directories" below). */
typedef struct Handle {
  struct Handle *prev, *next;   /* every open handle, freed at unmount */
  HandleKind kind;
  Source *src;                  /* H_PASS: reads proven to be of the version opened */
  struct stat st;               /* H_PASS: the file when opened */
  CacheModel *model;            /* H_MODEL */
  uint32_t index;               /* node of the tree */
} Handle;

/* A listing of a directory of SOURCE, kept between the readdir calls that
** read it (see "directories" below). */
typedef struct Listing {
  int refs;                     /* under Mount.lock */
  size_t n;
  CacheEntry *v;                /* sorted by slot id */
} Listing;

/* An invalidation to send from the notifier thread: the listing of parent
** (the kernel caches it), the name in it unless empty, the old inode unless 0. */
typedef struct Notice {
  struct Notice *next;
  fuse_ino_t parent, old;
  int unlinked;                 /* old is a file or link whose name went or was replaced */
  char name[];
} Notice;

typedef struct Mount {
  Cache *cache;
  Pool *pool;                   /* requests that wait for a decode (see "waiting") */
  TrustList *trust;
  struct fuse_session *se;
  /* Lock order: the cache's lock may be held when qlock is taken (on_changed),
  ** never the other way round; lock is never held across a cache call. */
  pthread_mutex_t qlock;        /* queue, queue_tail, stopping */
  Notice *queue, *queue_tail;
  int stopping;
  pthread_mutex_t lock;         /* the fields below */
  Handle *handles;
  int wake_fd, inotify_fd;
  pthread_t notifier;
  int notifier_running;
  uint32_t *wd_slot;            /* inotify watch descriptor -> directory slot */
  size_t wd_cap;
  uint8_t *watch_state;         /* per slot: 0 untried, 1 watched, 2 failed */
  size_t watch_cap;
  Listing **listings;           /* per directory slot: the one being read, or NULL */
  size_t listings_cap;
  int no_opendir;               /* the kernel opens directories without asking us */
  unsigned max_read;            /* -o max_read=N, echoed in init (libfuse 3.14 needs it) */
  unsigned max_threads;         /* -o max_threads=N as given, or 0 */
  unsigned conn;                /* /sys/fs/fuse/connections/N of the mount, 0 unknown */
  int stats;                    /* -o stats: print the source reads at unmount */
  int abandoned;                /* the notifier could not be stopped: free nothing */
} Mount;

static Mount *mount_of(fuse_req_t req) { return fuse_req_userdata(req); }

/* ---- attributes ---------------------------------------------------------- */

/* A model shows as a directory that can be entered wherever it can be read.
** Permission bits are the source's, write bits included, as squashfs or an ISO
** show theirs: the mount is read-only (EROFS) whatever they say, and a copy made
** with `cp -r` is then a tree its owner can change and delete. */
static mode_t dir_mode_of(mode_t src) {
  return S_IFDIR | (src & 0666) | ((src & 0444) >> 2);
}

static void attr_base(struct stat *st, const struct stat *src, fuse_ino_t ino) {
  memset(st, 0, sizeof *st);
  st->st_ino = ino;
  st->st_nlink = 1;             /* "unknown": find must not count subdirectories */
  st->st_uid = src->st_uid;
  st->st_gid = src->st_gid;
  st->st_atim = src->st_mtim;
  st->st_mtim = src->st_mtim;
  st->st_ctim = src->st_mtim;
  st->st_blksize = IO_BLOCK;
}

/* Attributes of a source entry (node 0).  A model directory's size is the size
** of its file, which is what `ls -l` users want to see. */
static void slot_attr(const SlotStat *ss, struct stat *st) {
  fuse_ino_t ino = ss->id == 0 ? FUSE_ROOT_ID : cache_ino(ss->id, ss->version, 0);
  attr_base(st, &ss->st, ino);
  switch (ss->kind) {
  case SLOT_DIR:
    st->st_mode = S_IFDIR | (ss->st.st_mode & 0777);
    st->st_size = ss->st.st_size;
    break;
  case SLOT_FILE:
    st->st_mode = S_IFREG | (ss->st.st_mode & 0777);
    st->st_size = ss->st.st_size;
    st->st_blocks = ss->st.st_blocks;
    break;
  case SLOT_MODEL:
    st->st_mode = dir_mode_of(ss->st.st_mode);
    st->st_size = ss->st.st_size;
    break;
  case SLOT_LINK:
  case SLOT_GONE:
    st->st_mode = S_IFLNK | 0777;
    st->st_size = ss->st.st_size;
    break;
  }
}

/* Attributes of a node of a model.  A file whose content cannot be produced
** shows size 0; opening it then fails with EIO.  With only_known, a file whose
** size would mean generating its whole text (a .txt view, object.json) gets no
** attributes: returns 0 with st_ino and st_mode set, enough for a dirent. */
static int node_attr_of(Cache *c, RTree *t, const SlotStat *ss, const RNode *n,
                        struct stat *st, int only_known) {
  if (n->index == 0) {
    slot_attr(ss, st);
    return 1;
  }
  attr_base(st, &ss->st, cache_ino(ss->id, ss->version, n->index));
  if (n->kind == RK_DIR) {
    st->st_mode = dir_mode_of(ss->st.st_mode);
  } else if (n->kind == RK_LINK) {
    st->st_mode = S_IFLNK | 0777;
    st->st_size = n->target ? (off_t)strlen(n->target) : 0;
  } else {
    uint64_t size = 0;
    Err e;
    err_clear(&e);
    st->st_mode = S_IFREG | (ss->st.st_mode & 0666);
    /* A size that took making the whole text (a .txt view of a big array) is
    ** remembered for the version, so it is not made again after an eviction. */
    if (render_size_known(t, n, &size) || cache_size_get(c, ss, n->index, &size)) {
      /* known */
    } else if (only_known) {
      return 0;
    } else if (render_size(t, n, &size, &e) != MFS_OK) {
      size = 0;
    } else {
      cache_size_put(c, ss, n->index, size);
    }
    st->st_size = (off_t)size;
    st->st_blocks = (blkcnt_t)((size + 511) / 512);
    if (size < IO_BLOCK) st->st_blksize = SMALL_BLOCK;
  }
  return 1;
}

static void node_attr(Cache *c, RTree *t, const SlotStat *ss, const RNode *n, struct stat *st) {
  (void)node_attr_of(c, t, ss, n, st, 0);
}

/* Learning N's size would format a big .txt view (seconds) and WAIT is not
** allowed: a pool thread learns it (see "waiting"). */
static int sizing_would_wait(Cache *c, RTree *t, const SlotStat *ss, const RNode *n, int wait) {
  uint64_t size;
  return !wait && render_size_costly(t, n) && !cache_size_get(c, ss, n->index, &size);
}

static void entry_of(struct fuse_entry_param *e, const struct stat *st, uint32_t gen,
                     double ttl) {
  memset(e, 0, sizeof *e);
  e->ino = st->st_ino;
  e->generation = gen;
  e->attr = *st;
  e->attr_timeout = ttl;
  e->entry_timeout = ttl;
}

/* ---- the notifier thread and inotify --------------------------------------- */

static void wake(Mount *mt) {
  uint64_t one = 1;
  if (write(mt->wake_fd, &one, sizeof one) < 0) { /* counter full: already awake */ }
}

/* A decode's checkpoint: it steps aside there when it has run a slice while
** requests wait for the pool. */
static void on_checkpoint(void *ctx) {
  Mount *mt = ctx;
  pool_pause(mt->pool);
}

/* Requests parked on a decode that ended (cache_park): they run next. */
static void on_ready(void *ctx, PoolJob *list) {
  Mount *mt = ctx;
  pool_submit_ready(mt->pool, list);
}

/* Called by the cache (under its lock) when a known entry changed identity. */
static void on_changed(void *ctx, const SlotStat *old, SlotKind now, uint64_t parent_ino,
                       const char *name) {
  Mount *mt = ctx;
  size_t len = strlen(name);
  Notice *n = malloc(sizeof *n + len + 1);
  if (n == NULL) return;      /* the open-time check still catches the change */
  n->next = NULL;
  n->parent = parent_ino;
  n->old = old->kind == SLOT_GONE ? 0 : cache_ino(old->id, old->version, 0);
  /* Files, and whatever is gone: the kernel drops their inodes once unused.
  ** Not a directory (a model shows as one) that was replaced: it would stop
  ** listing for whoever is still in it, and its old version is kept for them. */
  n->unlinked = old->kind != SLOT_GONE &&
                (now == SLOT_GONE || old->kind == SLOT_FILE || old->kind == SLOT_LINK);
  memcpy(n->name, name, len + 1);
  pthread_mutex_lock(&mt->qlock);
  if (mt->queue_tail) mt->queue_tail->next = n; else mt->queue = n;
  mt->queue_tail = n;
  pthread_mutex_unlock(&mt->qlock);
  wake(mt);
}

static void queue_name(Mount *mt, fuse_ino_t parent, const char *name) {
  SlotStat none;
  memset(&none, 0, sizeof none);
  on_changed(mt, &none, SLOT_GONE, parent, name);
}

/* Room for cell INDEX in the table v of *cap cells of ELEM bytes, new cells
** filled with the byte FILL: the table (perhaps moved), or NULL, unchanged,
** when memory ran out.  The tables indexed by slot or watch descriptor. */
static void *table_room(void *v, size_t *cap, size_t index, size_t elem, int fill) {
  if (index < *cap) return v;
  size_t n = *cap ? *cap : 64;
  while (n <= index) n *= 2;
  char *p = realloc(v, n * elem);
  if (p == NULL) return NULL;
  memset(p + *cap * elem, fill, (n - *cap) * elem);
  *cap = n;
  return p;
}

/* Watch a directory of SOURCE; nonzero when watched (long timeouts are safe). */
static int watch_dir(Mount *mt, uint32_t slot) {
  const char *rel = cache_relpath(mt->cache, slot);    /* before the lock: see Mount */
  if (rel == NULL) return 0;
  pthread_mutex_lock(&mt->lock);
  uint8_t *states = table_room(mt->watch_state, &mt->watch_cap, slot, 1, 0);
  if (states == NULL) {
    pthread_mutex_unlock(&mt->lock);
    return 0;
  }
  mt->watch_state = states;
  int state = mt->watch_state[slot];
  if (state == 0 && mt->inotify_fd >= 0) {
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s%s%s", cache_source(mt->cache), *rel ? "/" : "", rel);
    int wd = n > 0 && (size_t)n < sizeof path
                 ? inotify_add_watch(mt->inotify_fd, path,
                                     WATCH_EVENTS)
                 : -1;
    if (wd >= 0) {
      uint32_t *slots = table_room(mt->wd_slot, &mt->wd_cap, (size_t)wd, sizeof *slots, 0xff);
      if (slots == NULL) {
        inotify_rm_watch(mt->inotify_fd, wd);
        wd = -1;
      } else {
        mt->wd_slot = slots;
      }
    }
    if (wd >= 0) mt->wd_slot[wd] = slot;
    state = mt->watch_state[slot] = wd >= 0 ? 1 : 2;
  }
  pthread_mutex_unlock(&mt->lock);
  return state == 1;
}

static double ttl_for_dir(Mount *mt, uint32_t slot) {
  return watch_dir(mt, slot) ? TTL_FOREVER : TTL_UNWATCHED;
}

/* After lost events: every watched directory's cached listing may be wrong. */
static void drop_all_listings(Mount *mt) {
  pthread_mutex_lock(&mt->lock);
  size_t n = mt->watch_cap;
  pthread_mutex_unlock(&mt->lock);
  for (size_t slot = 0; slot < n; slot++) {
    SlotStat ss;
    pthread_mutex_lock(&mt->lock);
    int watched = slot < mt->watch_cap && mt->watch_state[slot] == 1;
    pthread_mutex_unlock(&mt->lock);
    if (watched && cache_get(mt->cache, (uint32_t)slot, &ss) == 0)
      queue_name(mt, slot == 0 ? FUSE_ROOT_ID : cache_ino((uint32_t)slot, ss.version, 0), "");
  }
}

static void inotify_event(Mount *mt, const struct inotify_event *ev) {
  if (ev->mask & IN_Q_OVERFLOW) {
    cache_refresh_all(mt->cache);
    drop_all_listings(mt);     /* names we never saw may have come */
    return;
  }
  pthread_mutex_lock(&mt->lock);
  uint32_t dir = ev->wd >= 0 && (size_t)ev->wd < mt->wd_cap ? mt->wd_slot[ev->wd] : UINT32_MAX;
  if (dir != UINT32_MAX && (ev->mask & IN_IGNORED)) {
    mt->wd_slot[ev->wd] = UINT32_MAX;
    if (dir < mt->watch_cap) mt->watch_state[dir] = 0;
  }
  pthread_mutex_unlock(&mt->lock);
  if (dir == UINT32_MAX) return;
  SlotStat ss;
  if (ev->len == 0 || ev->name[0] == 0) {
    cache_refresh(mt->cache, dir, &ss);
    return;
  }
  uint32_t child;
  if (cache_find(mt->cache, dir, ev->name, &child) == 0) {
    cache_refresh(mt->cache, child, &ss);     /* a change reaches on_changed */
  } else if ((ev->mask & (IN_CREATE | IN_MOVED_TO)) && cache_get(mt->cache, dir, &ss) == 0) {
    /* Never seen: the kernel may hold a negative entry for the name. */
    queue_name(mt, dir == 0 ? FUSE_ROOT_ID : cache_ino(dir, ss.version, 0), ev->name);
  }
}

static void read_inotify(Mount *mt) {
  char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
  for (;;) {
    ssize_t n = read(mt->inotify_fd, buf, sizeof buf);
    if (n <= 0) return;
    for (char *p = buf; p < buf + n;) {
      struct inotify_event *ev = (struct inotify_event *)p;
      inotify_event(mt, ev);
      p += sizeof *ev + ev->len;
    }
  }
}

/* Send what is queued.  The lock is not held while talking to the kernel: it
** may wait for a request that needs the lock. */
static void send_notices(Mount *mt) {
  pthread_mutex_lock(&mt->qlock);
  Notice *n = mt->queue;
  mt->queue = mt->queue_tail = NULL;
  pthread_mutex_unlock(&mt->qlock);
  fuse_ino_t listing_dropped = 0;
  while (n) {
    Notice *next = n->next;
    /* The cached listing first: once the name is gone, so is the listing
    ** that showed it.  One drop serves a run of changes in one directory. */
    if (n->parent != listing_dropped)
      fuse_lowlevel_notify_inval_inode(mt->se, n->parent, 0, 0);
    listing_dropped = n->parent;
    /* A file's old inode loses its link count as well: unused, the kernel
    ** drops it at once and FORGETs it, and its slot or old version goes. */
    if (n->unlinked && n->name[0])
      fuse_lowlevel_notify_delete(mt->se, n->parent, n->old, n->name, strlen(n->name));
    if (n->name[0]) fuse_lowlevel_notify_inval_entry(mt->se, n->parent, n->name, strlen(n->name));
    if (n->old) fuse_lowlevel_notify_inval_inode(mt->se, n->old, 0, 0);
    free(n);
    n = next;
  }
}

static void *notifier_main(void *arg) {
  Mount *mt = arg;
  for (;;) {
    struct pollfd p[2] = {{mt->wake_fd, POLLIN, 0}, {mt->inotify_fd, POLLIN, 0}};
    /* Woken at least every grace period: slots of names gone are reclaimed
    ** also when nothing else happens. */
    if (poll(p, mt->inotify_fd >= 0 ? 2 : 1, (int)(MFS_SLOT_GRACE_S * 1000)) < 0 && errno != EINTR)
      break;
    cache_sweep(mt->cache);
    if (p[1].revents & POLLIN) read_inotify(mt);
    if (p[0].revents & POLLIN) {
      uint64_t v;
      if (read(mt->wake_fd, &v, sizeof v) < 0) { /* spurious */ }
    }
    pthread_mutex_lock(&mt->qlock);
    int stop = mt->stopping;
    pthread_mutex_unlock(&mt->qlock);
    if (stop) break;
    send_notices(mt);
  }
  return NULL;
}

/* After fuse_daemonize: threads do not survive the fork.  Signals stay with the
** loop's threads, so SIGTERM always ends the loop. */
static int notifier_start(Mount *mt) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  int r = pthread_create(&mt->notifier, NULL, notifier_main, mt);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  mt->notifier_running = r == 0;
  return r;
}

/* The kernel's connection number of our mount (its st_dev minor), read from
** mountinfo: stat'ing the mountpoint would call into ourselves. */
static unsigned connection_of(const char *mountpoint) {
  char *want = realpath(mountpoint, NULL);
  FILE *f = fopen("/proc/self/mountinfo", "r");
  unsigned conn = 0, major, minor;
  char line[4096], mnt[4096];
  while (want && f && fgets(line, sizeof line, f))
    if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &major, &minor, mnt) == 3 &&
        strcmp(mnt, want) == 0)
      conn = minor;                /* the last one mounted there is ours */
  if (f) fclose(f);
  free(want);
  return conn;
}

/* The notifier may be blocked in the kernel on a request the finished loop will
** never answer (an invalidation waits for a lookup in the same directory).
** Aborting the connection ends that request, and so the wait. */
static void notifier_stop(Mount *mt) {
  if (!mt->notifier_running) return;
  pthread_mutex_lock(&mt->qlock);
  mt->stopping = 1;
  pthread_mutex_unlock(&mt->qlock);
  wake(mt);
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += NOTIFIER_GRACE_S;
  if (pthread_timedjoin_np(mt->notifier, NULL, &deadline) != 0) {
    char path[64];
    snprintf(path, sizeof path, "/sys/fs/fuse/connections/%u/abort", mt->conn);
    FILE *f = mt->conn ? fopen(path, "w") : NULL;
    if (f == NULL) {
      /* No fusectl: leave the thread (and all it uses) to the process exit. */
      fprintf(stderr, "modelfs: notifier did not stop; exiting without cleanup\n");
      mt->abandoned = 1;
      return;
    }
    fputs("1", f);
    fclose(f);
    pthread_join(mt->notifier, NULL);
  }
  mt->notifier_running = 0;
}

/* ---- handles ------------------------------------------------------------- */

static Handle *handle_new(Mount *mt, HandleKind kind) {
  Handle *h = calloc(1, sizeof *h);
  if (h == NULL) return NULL;
  h->kind = kind;
  pthread_mutex_lock(&mt->lock);
  h->next = mt->handles;
  if (mt->handles) mt->handles->prev = h;
  mt->handles = h;
  pthread_mutex_unlock(&mt->lock);
  return h;
}

static void handle_free(Mount *mt, Handle *h) {
  if (h == NULL) return;
  pthread_mutex_lock(&mt->lock);
  if (h->prev) h->prev->next = h->next; else mt->handles = h->next;
  if (h->next) h->next->prev = h->prev;
  pthread_mutex_unlock(&mt->lock);
  source_unref(h->src);
  cache_release(mt->cache, h->model);
  free(h);
}

static Handle *handle_of(const struct fuse_file_info *fi) {
  return fi ? (Handle *)(uintptr_t)fi->fh : NULL;
}

/* ---- resolving inode numbers ---------------------------------------------- */

/* What a handler called without WAIT returns when it would have to wait for a
** decode: it answered nothing, and the request goes to the pool (answer). */
#define WOULD_WAIT EWOULDBLOCK

static int acquire(Mount *mt, uint32_t slot, uint32_t ver8, int wait, CacheModel **m) {
  return wait ? cache_acquire(mt->cache, slot, ver8, m) : cache_acquire_now(mt->cache, slot, ver8, m);
}

/* A node of a decoded model; the tree is held until cache_release.  Without
** WAIT, WOULD_WAIT when the tree must be decoded first. */
static int model_get(Mount *mt, fuse_ino_t ino, int wait, CacheModel **m, const RNode **n) {
  uint32_t slot, ver8, index;
  cache_ino_split(ino, &slot, &ver8, &index);
  int err = acquire(mt, slot, ver8, wait, m);
  SlotStat now;
  if (err == ESTALE && index == 0 && cache_get(mt->cache, slot, &now) == 0 &&
      !cache_same_version(&now, ver8)) {
    /* An earlier version never decoded (or its tree gone) that the kernel
    ** still holds the directory of: nothing of it was served, so its
    ** directory shows the model as it is now (entries with their own inodes),
    ** or nothing when the file is gone, as a removed directory does. */
    for (int tries = 0; err == ESTALE && tries < MFS_DECODE_TRIES; tries++) {
      if (now.kind != SLOT_MODEL) err = ENOENT;
      else err = acquire(mt, slot, now.version & CACHE_VERSION_MASK, wait, m);
      if (err == ESTALE && cache_get(mt->cache, slot, &now) != 0) err = ENOENT;
    }   /* ESTALE again: replaced while decoding; the newer one is tried */
  }
  if (err) return err;
  *n = render_node(cache_tree(*m), index);
  if (*n == NULL) {
    cache_release(mt->cache, *m);
    return ENOENT;
  }
  return 0;
}

/* Stat the source entry again and check the inode is still its version: the
** fallback when inotify has not (yet) told us.  ESTALE makes the kernel look the
** path up again and find the new inode numbers. */
static int fresh(Mount *mt, fuse_ino_t ino, SlotStat *ss) {
  uint32_t slot, ver8, index;
  cache_ino_split(ino, &slot, &ver8, &index);
  int err = cache_refresh(mt->cache, slot, ss);
  if (err) return err == ENOENT ? ESTALE : err;
  return cache_same_version(ss, ver8) ? 0 : ESTALE;
}

/* The attributes of node 0 of INO's version: checked afresh when it is the
** current one, else those of the earlier version the kernel still holds. */
static int slot_stat_of(Mount *mt, fuse_ino_t ino, SlotStat *ss) {
  uint32_t slot, ver8, index;
  cache_ino_split(ino, &slot, &ver8, &index);
  int err = fresh(mt, ino, ss);
  if (err == ESTALE && cache_old_stat(mt->cache, slot, ver8, ss) == 0) return 0;
  return err;
}

static fuse_ino_t parent_of_slot(Mount *mt, uint32_t slot) {
  if (slot == 0) return FUSE_ROOT_ID;
  uint32_t p = cache_parent(mt->cache, slot);
  SlotStat ps;
  if (p == 0 || cache_get(mt->cache, p, &ps) != 0) return FUSE_ROOT_ID;
  return cache_ino(p, ps.version, 0);
}

/* ---- lookup, getattr, readlink -------------------------------------------- */

static void reply_negative(fuse_req_t req, double ttl) {
  struct fuse_entry_param e;
  memset(&e, 0, sizeof e);
  e.entry_timeout = ttl;
  fuse_reply_entry(req, &e);
}

/* Hand the kernel an inode: one more lookup of its version, counted before the
** reply (a FORGET may follow at once) and taken back if the reply failed. */
static void reply_entry_counted(fuse_req_t req, Mount *mt, const SlotStat *ss,
                                const struct fuse_entry_param *e) {
  cache_kernel_ref(mt->cache, ss, e->ino, 1);
  if (fuse_reply_entry(req, e) != 0) cache_kernel_forget(mt->cache, e->ino, 1);
}

static void lookup_source(fuse_req_t req, Mount *mt, uint32_t dir, const char *name) {
  double ttl = ttl_for_dir(mt, dir);
  SlotStat ss;
  int err = cache_lookup(mt->cache, dir, name, &ss);
  if (err == ENOENT) return reply_negative(req, ttl);
  if (err) return (void)fuse_reply_err(req, err);
  struct stat st;
  struct fuse_entry_param e;
  slot_attr(&ss, &st);
  entry_of(&e, &st, ss.version, ttl);
  reply_entry_counted(req, mt, &ss, &e);
}

/* Names and attributes inside a model never change (a new version has new inode
** numbers), except at the root of a single-file mount: nothing watches that file,
** so its names are looked up again after TTL_UNWATCHED and a re-saved file shows. */
static double ttl_in_model(uint32_t slot, const RNode *dir) {
  return slot == 0 && dir->index == 0 ? TTL_UNWATCHED : TTL_FOREVER;
}

/* ESTALE makes the kernel look the path up once more, and never twice.  An
** answer about a version the kernel was handed by lookups after an ESTALE
** (cache_open_retried) may be that last try: the file keeps changing faster
** than a version of it can be served, which says EIO, as a read of a file
** rewritten under it does (ENOENT when the name is gone).  Any other ESTALE
** marks the versions the next lookups hand out. */
static int stale_answer(Mount *mt, uint32_t slot, uint32_t ver8, int err) {
  if (err != ESTALE) return err;
  if (!cache_open_retried(mt->cache, slot, ver8)) {
    cache_stale_open(mt->cache, slot);
    return ESTALE;
  }
  SlotStat now;
  return cache_get(mt->cache, slot, &now) != 0 || now.kind == SLOT_GONE ? ENOENT : EIO;
}

/* The handlers that may need a decode answer (0) or, without WAIT, return
** WOULD_WAIT having answered nothing and changed nothing. */
static int do_lookup(fuse_req_t req, fuse_ino_t parent, const char *name, int wait) {
  Mount *mt = mount_of(req);
  uint32_t slot, ver8, index;
  cache_ino_split(parent, &slot, &ver8, &index);
  SlotStat ps;
  if (index == 0) {
    if (cache_get(mt->cache, slot, &ps) != 0) return fuse_reply_err(req, ENOENT), 0;
    int same = cache_same_version(&ps, ver8);
    /* An earlier version of a directory of SOURCE finds names as they are now;
    ** one of a model, in its kept tree (model_get). */
    if (ps.kind == SLOT_DIR) return lookup_source(req, mt, slot, name), 0;
    if (same && ps.kind == SLOT_GONE) return fuse_reply_err(req, ENOENT), 0;
    if (same && ps.kind != SLOT_MODEL) return fuse_reply_err(req, ENOTDIR), 0;
  }
  CacheModel *m;
  const RNode *dir;
  int err = model_get(mt, parent, wait, &m, &dir);
  if (err == WOULD_WAIT && !wait) return WOULD_WAIT;
  if (err) return fuse_reply_err(req, stale_answer(mt, slot, ver8, err)), 0;
  RTree *t = cache_tree(m);
  const SlotStat *ss = cache_model_stat(m);
  if (dir->kind != RK_DIR) {
    cache_release(mt->cache, m);
    return fuse_reply_err(req, ENOTDIR), 0;
  }
  const RNode *n = render_lookup(t, dir, name);
  if (n == NULL) {
    cache_release(mt->cache, m);
    return reply_negative(req, TTL_FOREVER), 0;
  }
  if (sizing_would_wait(mt->cache, t, ss, n, wait)) {
    cache_release(mt->cache, m);
    return WOULD_WAIT;
  }
  struct stat st;
  struct fuse_entry_param e;
  node_attr(mt->cache, t, ss, n, &st);
  entry_of(&e, &st, ss->version, ttl_in_model(slot, dir));
  SlotStat held = *ss;
  cache_release(mt->cache, m);
  cache_retry_done(mt->cache, slot, ver8);
  reply_entry_counted(req, mt, &held, &e);
  return 0;
}

static int attr_of_handle(Mount *mt, Handle *h, fuse_ino_t ino, struct stat *st) {
  if (h->kind == H_PASS) {
    attr_base(st, &h->st, ino);
    st->st_mode = S_IFREG | (h->st.st_mode & 0777);
    st->st_size = h->st.st_size;
    st->st_blocks = h->st.st_blocks;
    return 0;
  }
  if (h->model) {
    RTree *t = cache_tree(h->model);
    const RNode *n = render_node(t, h->index);
    if (n == NULL) return ENOENT;
    node_attr(mt->cache, t, cache_model_stat(h->model), n, st);
    return 0;
  }
  (void)mt;
  return ENOENT;
}

static int do_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int wait) {
  Mount *mt = mount_of(req);
  struct stat st;
  Handle *h = handle_of(fi);
  if (h && attr_of_handle(mt, h, ino, &st) == 0) return fuse_reply_attr(req, &st, TTL_FOREVER), 0;
  uint32_t slot, ver8, index;
  cache_ino_split(ino, &slot, &ver8, &index);
  if (index == 0) {
    SlotStat ss;
    int err = slot_stat_of(mt, ino, &ss);
    if (err) return fuse_reply_err(req, err), 0;
    slot_attr(&ss, &st);
    st.st_ino = ino;
    return fuse_reply_attr(req, &st, ss.kind == SLOT_DIR || slot == 0
                                         ? ttl_for_dir(mt, slot) : TTL_FOREVER), 0;
  }
  CacheModel *m;
  const RNode *n;
  int err = model_get(mt, ino, wait, &m, &n);
  if (err == WOULD_WAIT && !wait) return WOULD_WAIT;
  if (err) return fuse_reply_err(req, stale_answer(mt, slot, ver8, err)), 0;
  if (sizing_would_wait(mt->cache, cache_tree(m), cache_model_stat(m), n, wait)) {
    cache_release(mt->cache, m);
    return WOULD_WAIT;
  }
  node_attr(mt->cache, cache_tree(m), cache_model_stat(m), n, &st);
  cache_release(mt->cache, m);
  fuse_reply_attr(req, &st, TTL_FOREVER);
  return 0;
}

static int do_readlink(fuse_req_t req, fuse_ino_t ino, int wait) {
  Mount *mt = mount_of(req);
  uint32_t slot, ver8, index;
  cache_ino_split(ino, &slot, &ver8, &index);
  if (index == 0) {
    char buf[PATH_MAX];
    long n = cache_readlink(mt->cache, slot, buf, sizeof buf - 1);
    if (n < 0) return fuse_reply_err(req, (int)-n), 0;
    buf[n] = 0;
    return fuse_reply_readlink(req, buf), 0;
  }
  CacheModel *m;
  const RNode *n;
  int err = model_get(mt, ino, wait, &m, &n);
  if (err == WOULD_WAIT && !wait) return WOULD_WAIT;
  if (err) return fuse_reply_err(req, err), 0;
  if (n->kind != RK_LINK || n->target == NULL) err = EINVAL;
  else fuse_reply_readlink(req, n->target);
  cache_release(mt->cache, m);
  if (err) fuse_reply_err(req, err);
  return 0;
}

/* ---- files ---------------------------------------------------------------- */

/* A plain file is proven by the bytes it served (SOURCE_PROVE_SERVED), so a
** touch, an append or a change of bytes not read yet reads on with the file as
** it is; nothing is read at open, whatever the size.  AS_NOW: the inode is of a
** version gone and the kernel will not look the name up again (its retry after
** ESTALE), so the file is opened as it is now, whatever changed since SS, and
** read past the kernel's idea of its size (direct_io; fstat answers from the
** handle). */
static int open_source_file(Mount *mt, const SlotStat *ss, int as_now, struct fuse_file_info *fi) {
  if (ss->kind == SLOT_DIR || ss->kind == SLOT_MODEL) return EISDIR;
  if (ss->kind != SLOT_FILE) return ELOOP;
  SourceFileOpts so = cache_file_opts(mt->cache);
  if (so.prove == SOURCE_PROVE_OPEN) so.prove = SOURCE_PROVE_SERVED;
  int fd = cache_open_source(mt->cache, ss->id, O_RDONLY);
  if (fd < 0) return -fd;
  struct stat st;
  if (fstat(fd, &st) != 0 || (!as_now && (st.st_ino != ss->st.st_ino ||
      st.st_dev != ss->st.st_dev || st.st_size != ss->st.st_size ||
      st.st_mtim.tv_sec != ss->st.st_mtim.tv_sec || st.st_mtim.tv_nsec != ss->st.st_mtim.tv_nsec))) {
    close(fd);
    return as_now ? EIO : ESTALE;   /* changed between the stat and the open */
  }
  Err e;
  err_clear(&e);
  char name[PATH_MAX];
  if (cache_copy_relpath(mt->cache, ss->id, name, sizeof name) != 0) snprintf(name, sizeof name, "?");
  Source *src = source_from_fd_with(fd, name, &so, &e);
  Handle *h = src ? handle_new(mt, H_PASS) : NULL;
  if (h == NULL) {
    source_unref(src);
    return src ? ENOMEM : EIO;
  }
  h->src = src;
  h->st = st;
  fi->fh = (uintptr_t)h;
  fi->keep_cache = !as_now;
  fi->direct_io = as_now;
  return 0;
}

static int open_model_file(Mount *mt, fuse_ino_t ino, struct fuse_file_info *fi, int wait) {
  CacheModel *m;
  const RNode *n;
  int err = model_get(mt, ino, wait, &m, &n);
  if (err) return err;
  uint64_t size;
  Err e;
  err_clear(&e);
  if (n->kind == RK_DIR) err = EISDIR;
  else if (n->kind != RK_FILE) err = ELOOP;
  else if (!wait && (render_size_costly(cache_tree(m), n) ||   /* it makes the text, */
                     render_sum_costly(cache_tree(m), n))) {    /* or reads to sum */
    cache_release(mt->cache, m);
    return WOULD_WAIT;
  } else if (render_size(cache_tree(m), n, &size, &e) != MFS_OK) err = EIO;
  /* Sum the source bytes this file reads lazily while they are still those
  ** decoded, so a touch or an append before its reads end is told from a
  ** rewrite.  Failing, it changes nothing: its reads then prove or fail. */
  if (!err) render_sum(cache_tree(m), n, &e);
  Handle *h = err ? NULL : handle_new(mt, H_MODEL);
  if (h == NULL) {
    cache_release(mt->cache, m);
    return err ? err : ENOMEM;
  }
  h->model = m;
  h->index = n->index;
  fi->fh = (uintptr_t)h;
  fi->keep_cache = 1;           /* immutable per inode number; no direct_io: mmap works */
  return 0;
}

static int do_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int wait) {
  Mount *mt = mount_of(req);
  if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & (O_TRUNC | O_CREAT | O_APPEND)))
    return fuse_reply_err(req, EROFS), 0;
  uint32_t slot, ver8, index;
  cache_ino_split(ino, &slot, &ver8, &index);
  SlotStat ss;
  memset(&ss, 0, sizeof ss);         /* SLOT_GONE when fresh() found no slot */
  /* A file of a model replaced before this open (inotify or another request
  ** saw it; the kernel came with the inode all the same: an open directory, or
  ** a path walked again while the writer went on) opens the version it names,
  ** while its tree is kept.  A change this open finds itself answers ESTALE,
  ** so the kernel walks the path again and opens the current version. */
  int stale = index != 0 && cache_get(mt->cache, slot, &ss) == 0 && !cache_same_version(&ss, ver8);
  int err = stale ? 0 : fresh(mt, ino, &ss);
  /* A plain file changed again before the kernel's one retry: no ESTALE for it. */
  int as_now = err == ESTALE && index == 0 && ss.kind == SLOT_FILE &&
               cache_open_retried(mt->cache, slot, ver8);
  if (!err || as_now)
    err = index == 0 ? open_source_file(mt, &ss, as_now, fi) : open_model_file(mt, ino, fi, wait);
  if (err == WOULD_WAIT && !wait) return WOULD_WAIT;
  if (err) return fuse_reply_err(req, stale_answer(mt, slot, ver8, err)), 0;
  /* The kernel holds the gone version's attributes: that inode answers with
  ** the file's from now on, and the kernel asks again (attributes only: no page
  ** of it is cached). */
  if (as_now) {
    cache_old_restat(mt->cache, slot, ver8, &handle_of(fi)->st);
    fuse_lowlevel_notify_inval_inode(mt->se, ino, -1, 0);
  } else if (index != 0) {     /* a plain file keeps them: opened as it is, harmless */
    cache_retry_done(mt->cache, slot, ver8);
  }
  fuse_reply_open(req, fi);
  return 0;
}

/* A plain file: through its Source, which proves every read is of the version
** opened (a splice straight from the descriptor could not). */
static void read_pass(fuse_req_t req, Handle *h, size_t size, off_t off) {
  char *buf = malloc(size ? size : 1);
  if (buf == NULL) return (void)fuse_reply_err(req, ENOMEM);
  size_t got = 0;
  Err e;
  err_clear(&e);
  if (off < 0 || h->src->ops->read(h->src, (uint64_t)off, buf, size, &got, &e) != MFS_OK) {
    free(buf);
    return (void)fuse_reply_err(req, EIO);
  }
  fuse_reply_buf(req, buf, got);
  free(buf);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi) {
  Handle *h = handle_of(fi);
  (void)ino;
  if (h == NULL) return (void)fuse_reply_err(req, EBADF);
  if (h->kind == H_PASS) return read_pass(req, h, size, off);
  if (h->kind != H_MODEL) return (void)fuse_reply_err(req, EISDIR);
  /* Array bytes read lazily from a source rewritten since fail in the source
  ** (source_file.c proves every read): EIO, never bytes of two versions. */
  RTree *t = cache_tree(h->model);
  const RNode *n = render_node(t, h->index);
  char *buf = malloc(size ? size : 1);
  if (n == NULL || buf == NULL) {
    free(buf);
    return (void)fuse_reply_err(req, n ? ENOMEM : EIO);
  }
  size_t got = 0;
  Err e;
  err_clear(&e);
  if (render_read(t, n, (uint64_t)off, buf, size, &got, &e) != MFS_OK) {
    free(buf);
    return (void)fuse_reply_err(req, EIO);
  }
  fuse_reply_buf(req, buf, got);
  free(buf);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  (void)ino;
  handle_free(mount_of(req), handle_of(fi));
  fuse_reply_err(req, 0);
}

/* ---- directories ---------------------------------------------------------- */

/* There are no directory handles: everything a readdir needs follows from the
** inode number.  So opendir, once it has checked the directory, answers ENOSYS
** where the kernel allows that ("opened; do not ask again") and inotify will
** report changes; the kernel then opens and closes directories itself, which
** halves the round trips of `ls -R` or `diff -r`, and caches every listing (the
** notifier drops changed ones; a directory inotify could not watch keeps its
** listing until its mtime changes and its attributes expire, after 1 s).
**
** A listing of SOURCE is taken when a reader starts at offset 0 and kept, one
** per directory, for the calls that continue it.  Its offsets are slot ids,
** which never change meaning, so a reader that continues across another
** reader's fresher listing neither repeats nor skips an entry that stayed. */

static int by_slot(const void *a, const void *b) {
  uint32_t x = ((const CacheEntry *)a)->ss.id, y = ((const CacheEntry *)b)->ss.id;
  return (x > y) - (x < y);
}

static void listing_unref(Mount *mt, Listing *l) {
  if (l == NULL) return;
  pthread_mutex_lock(&mt->lock);
  int last = --l->refs == 0;
  pthread_mutex_unlock(&mt->lock);
  if (!last) return;
  cache_list_unpin(mt->cache, l->v, l->n);
  cache_list_free(l->v, l->n);
  free(l);
}

/* DIR's listing, referenced for the caller: the kept one when continuing,
** else a fresh one, which is kept from now on. */
static int listing_take(Mount *mt, uint32_t dir, int fresh_one, Listing **out) {
  pthread_mutex_lock(&mt->lock);
  Listing *l = !fresh_one && dir < mt->listings_cap ? mt->listings[dir] : NULL;
  if (l) l->refs++;
  pthread_mutex_unlock(&mt->lock);
  if ((*out = l) != NULL) return 0;
  if ((l = calloc(1, sizeof *l)) == NULL) return ENOMEM;
  int err = cache_list(mt->cache, dir, &l->v, &l->n);      /* outside the lock */
  if (err) {
    free(l);
    return err;
  }
  if (l->n > 1) qsort(l->v, l->n, sizeof *l->v, by_slot);   /* an empty one has v NULL */
  l->refs = 2;                                             /* the table's and ours */
  Listing *old = NULL;
  pthread_mutex_lock(&mt->lock);
  Listing **table = table_room(mt->listings, &mt->listings_cap, dir, sizeof *table, 0);
  if (table != NULL) {
    mt->listings = table;
    old = table[dir];
    mt->listings[dir] = l;
  } else {
    l->refs = 1;                                           /* served, not kept */
  }
  pthread_mutex_unlock(&mt->lock);
  listing_unref(mt, old);
  *out = l;
  return 0;
}

/* The reader got to the end: the kept listing is not needed any more. */
static void listing_done(Mount *mt, uint32_t dir, Listing *l) {
  int kept = 0;
  pthread_mutex_lock(&mt->lock);
  if (dir < mt->listings_cap && mt->listings[dir] == l) {
    mt->listings[dir] = NULL;
    kept = 1;
  }
  pthread_mutex_unlock(&mt->lock);
  if (kept) listing_unref(mt, l);
}

/* A directory as one readdir call sees it. */
typedef struct DirView {
  fuse_ino_t self, parent;
  uint32_t slot;
  double ttl;                   /* of the entries it lists */
  CacheModel *model;            /* a model's directory: held for the call */
  const RNode *node;
  Listing *listing;             /* a directory of SOURCE */
} DirView;

static void dirview_close(Mount *mt, DirView *dv) {
  cache_release(mt->cache, dv->model);
  listing_unref(mt, dv->listing);
}

/* Directory INO.  At the start of a listing the source entry is checked
** again (ESTALE: the kernel looks the path up anew) and SOURCE listed afresh. */
static int dirview_open(Mount *mt, fuse_ino_t ino, int at_start, int wait, DirView *dv) {
  memset(dv, 0, sizeof *dv);
  uint32_t slot, ver8, index;
  cache_ino_split(ino, &slot, &ver8, &index);
  dv->self = ino;
  dv->slot = slot;
  SlotStat ss;
  int err = 0;
  if (at_start) err = fresh(mt, ino, &ss);
  else if (index == 0 && (err = cache_get(mt->cache, slot, &ss)) == 0 && !cache_same_version(&ss, ver8))
    err = ESTALE;
  /* An earlier version the kernel still holds (a directory open across a
  ** change, a walk's working directory): a model lists its kept tree (or as
  ** it is now, when it had none); a directory of SOURCE lists as it is now. */
  if (err == ESTALE && index == 0 && cache_old_stat(mt->cache, slot, ver8, &ss) == 0) err = 0;
  if (err == ESTALE && index != 0) err = 0;       /* model_get: its tree, or ESTALE */
  if (err) return err;
  if (index == 0 && ss.kind == SLOT_DIR) {
    dv->parent = parent_of_slot(mt, slot);
    dv->ttl = ttl_for_dir(mt, slot);
    return listing_take(mt, slot, at_start, &dv->listing);
  }
  if (index == 0 && ss.kind != SLOT_MODEL) return ss.kind == SLOT_GONE ? ENOENT : ENOTDIR;
  if ((err = model_get(mt, ino, wait, &dv->model, &dv->node)) != 0) return err;
  if (dv->node->kind != RK_DIR) {
    dirview_close(mt, dv);
    return ENOTDIR;
  }
  const SlotStat *ms = cache_model_stat(dv->model);
  dv->parent = index == 0 || (slot == 0 && dv->node->parent == 0)   /* a single-file root */
                   ? parent_of_slot(mt, slot)
                   : cache_ino(slot, ms->version, dv->node->parent);
  dv->ttl = ttl_in_model(slot, dv->node);
  return 0;
}

/* Position I of the first entry after offset OFF.  Positions: 0 ".", 1 "..",
** then the entries; a model's offsets are positions + 1 (its tree never
** changes), a SOURCE directory's are slot ids + 3. */
static size_t dir_first(const DirView *dv, off_t off) {
  if (off <= 0) return 0;
  if (dv->listing == NULL || off < 2) return (size_t)off;
  uint64_t id = (uint64_t)off - 2;
  size_t lo = 0, hi = dv->listing->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (dv->listing->v[mid].ss.id < id) lo = mid + 1; else hi = mid;
  }
  return lo + 2;
}

/* The entry at position I and the offset after it.  For readdirplus, *full
** says whether st holds complete attributes: a file whose size is not known
** yet goes without, and the kernel asks (LOOKUP) only if someone stats it, so
** `ls -R` or `find` never format every array's .txt. */
static const char *dir_entry(Mount *mt, const DirView *dv, size_t i, struct stat *st,
                             const SlotStat **of, int plus, int *full, off_t *next) {
  memset(st, 0, sizeof *st);
  *of = NULL;
  *full = 1;
  *next = (off_t)(i + 1);
  if (i < 2) {
    st->st_ino = i == 0 ? dv->self : dv->parent;
    st->st_mode = S_IFDIR;
    return i == 0 ? "." : "..";
  }
  i -= 2;
  if (dv->listing) {
    if (i >= dv->listing->n) return NULL;
    const CacheEntry *e = &dv->listing->v[i];
    slot_attr(&e->ss, st);
    *of = &e->ss;
    *next = (off_t)e->ss.id + 3;
    return e->name;
  }
  RTree *t = cache_tree(dv->model);
  if (i >= dv->node->nchildren) return NULL;
  const RNode *n = render_node(t, dv->node->children[i]);
  if (n == NULL) return NULL;
  const SlotStat *ss = cache_model_stat(dv->model);
  *of = ss;
  if (plus) {
    *full = node_attr_of(mt->cache, t, ss, n, st, 1);
  } else {
    st->st_ino = cache_ino(ss->id, ss->version, n->index);
    st->st_mode = n->kind == RK_DIR ? S_IFDIR : n->kind == RK_LINK ? S_IFLNK : S_IFREG;
  }
  return n->name;
}

/* Fill BUF (SIZE bytes) with the entries from position I on; the bytes used. */
static size_t dir_fill(fuse_req_t req, Mount *mt, const DirView *dv, size_t i, char *buf,
                       size_t size, int plus) {
  size_t used = 0;
  for (;; i++) {
    struct stat st;
    const SlotStat *of;
    int full;
    off_t next;
    const char *name = dir_entry(mt, dv, i, &st, &of, plus, &full, &next);
    if (name == NULL) break;
    size_t len;
    int counted = 0;
    if (plus) {
      struct fuse_entry_param e;
      entry_of(&e, &st, of ? of->version : 0, dv->ttl);
      /* "." and "..", and files of unknown size: a plain dirent, no attributes,
      ** no lookup count (the kernel reads ino and type from e.attr). */
      if (i < 2 || !full) e.ino = 0;
      len = fuse_add_direntry_plus(req, buf + used, size - used, name, &e, next);
      counted = e.ino != 0;
    } else {
      len = fuse_add_direntry(req, buf + used, size - used, name, &st, next);
    }
    if (len > size - used) break;
    if (counted) cache_kernel_ref(mt->cache, of, st.st_ino, 1);   /* the kernel takes a lookup */
    used += len;
  }
  return used;
}

static int do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, int plus,
                      int wait) {
  Mount *mt = mount_of(req);
  DirView dv;
  int err = dirview_open(mt, ino, off == 0, wait, &dv);
  if (err == WOULD_WAIT && !wait) return WOULD_WAIT;
  /* The kernel never looks a path up again for a READDIR, so ESTALE would reach
  ** the application.  The version opened is gone and the file has not settled
  ** into one that could be listed instead: a removed directory, which answers
  ** ENOENT (readdir(3) takes it for the end). */
  if (err == ESTALE) err = ENOENT;
  if (err) return fuse_reply_err(req, err), 0;
  char *buf = malloc(size ? size : 1);
  if (buf == NULL) {
    dirview_close(mt, &dv);
    return fuse_reply_err(req, ENOMEM), 0;
  }
  size_t used = dir_fill(req, mt, &dv, dir_first(&dv, off), buf, size, plus);
  if (used == 0 && dv.listing) listing_done(mt, dv.slot, dv.listing);
  dirview_close(mt, &dv);
  fuse_reply_buf(req, buf, used);
  free(buf);
  return 0;
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  Mount *mt = mount_of(req);
  uint32_t slot, ver8, index;
  cache_ino_split(ino, &slot, &ver8, &index);
  SlotStat ss;
  int err = fresh(mt, ino, &ss);
  if (!err && index == 0 && ss.kind != SLOT_DIR && ss.kind != SLOT_MODEL) err = ENOTDIR;
  if (err) return (void)fuse_reply_err(req, err);
  if (mt->no_opendir && mt->inotify_fd >= 0) return (void)fuse_reply_err(req, ENOSYS);
  /* An older kernel, or no inotify: no handle all the same, and a listing the
  ** kernel may keep wherever the notifier will tell it about changes.  Without
  ** inotify this open is where a changed source is noticed (ESTALE above), so
  ** it must keep being asked for. */
  int keep = index != 0 || (ss.kind == SLOT_MODEL && slot != 0) ||
             ttl_for_dir(mt, slot) == TTL_FOREVER;
  fi->fh = 0;
  fi->cache_readdir = keep;
  fi->keep_cache = keep;
  fuse_reply_open(req, fi);
}

/* ---- waiting: requests that need a decode ------------------------------------ */

/* A loop thread never waits for a decode: a request that would is copied
** here and handed to the pool, whose threads decode (at most
** MFS_MAX_PARALLEL_DECODES at once; a long one steps aside for a waiting
** request at its checkpoint, on_checkpoint) and answer it; the loop thread goes
** back to the requests that need no decode.  A job whose model another pool thread
** is decoding is parked on that decode (cache_park) instead of holding a pool
** thread, and comes back first when it ends. */
typedef enum DeferOp { D_LOOKUP, D_GETATTR, D_READLINK, D_OPEN, D_READDIR, D_READDIRPLUS } DeferOp;

typedef struct Deferred {
  PoolJob job;                  /* first: the pool hands this back */
  DeferOp op;
  fuse_req_t req;
  fuse_ino_t ino;
  uint32_t slot;                /* whose decode it waits for */
  int has_fi;
  struct fuse_file_info fi;
  size_t size;
  off_t off;
  const char *name;             /* D_LOOKUP: the request's, then the copy below */
  char copy[];
} Deferred;

static int run_request(Deferred *d, int wait) {
  struct fuse_file_info *fi = d->has_fi ? &d->fi : NULL;
  switch (d->op) {
  case D_LOOKUP: return do_lookup(d->req, d->ino, d->name, wait);
  case D_GETATTR: return do_getattr(d->req, d->ino, fi, wait);
  case D_READLINK: return do_readlink(d->req, d->ino, wait);
  case D_OPEN: return do_open(d->req, d->ino, &d->fi, wait);
  case D_READDIR: return do_readdir(d->req, d->ino, d->size, d->off, 0, wait);
  case D_READDIRPLUS: return do_readdir(d->req, d->ino, d->size, d->off, 1, wait);
  }
  return fuse_reply_err(d->req, ENOSYS), 0;
}

static void deferred_run(PoolJob *j, int stopping) {
  Deferred *d = (Deferred *)j;
  Mount *mt = mount_of(d->req);
  if (stopping) {
    fuse_reply_err(d->req, ENOTCONN);   /* unmounting: no decode will answer it */
    free(d);
    return;
  }
  if (cache_park(mt->cache, d->slot, j)) return;
  (void)run_request(d, 1);
  free(d);
}

/* On a loop thread: answer now, or hand the request to the pool. */
static void answer(fuse_req_t req, DeferOp op, fuse_ino_t ino, const char *name,
                   struct fuse_file_info *fi, size_t size, off_t off) {
  Deferred now = {.op = op, .req = req, .ino = ino, .has_fi = fi != NULL, .size = size,
                  .off = off, .name = name};
  if (fi) now.fi = *fi;
  if (run_request(&now, 0) != WOULD_WAIT) return;
  size_t nlen = name ? strlen(name) + 1 : 0;
  Deferred *d = malloc(sizeof *d + nlen);
  if (d == NULL) return (void)fuse_reply_err(req, ENOMEM);
  *d = now;
  d->job.run = deferred_run;
  uint32_t ver8, index;
  cache_ino_split(ino, &d->slot, &ver8, &index);
  if (name) d->name = memcpy(d->copy, name, nlen);
  pool_submit(mount_of(req)->pool, &d->job);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
  answer(req, D_LOOKUP, parent, name, NULL, 0, 0);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  answer(req, D_GETATTR, ino, NULL, fi, 0, 0);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino) {
  answer(req, D_READLINK, ino, NULL, NULL, 0, 0);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  answer(req, D_OPEN, ino, NULL, fi, 0, 0);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi) {
  (void)fi;
  answer(req, D_READDIR, ino, NULL, NULL, size, off);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                           struct fuse_file_info *fi) {
  (void)fi;
  answer(req, D_READDIRPLUS, ino, NULL, NULL, size, off);
}

/* ---- the kernel lets go of inodes ------------------------------------------ */

static void forget_one(Mount *mt, fuse_ino_t ino, uint64_t n) {
  uint32_t slot, ver8, index;
  cache_ino_split(ino, &slot, &ver8, &index);
  SlotStat ss;
  if (cache_kernel_forget(mt->cache, ino, n)) cache_refresh(mt->cache, slot, &ss);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  forget_one(mount_of(req), ino, nlookup);
  fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets) {
  Mount *mt = mount_of(req);
  for (size_t i = 0; i < count; i++) forget_one(mt, forgets[i].ino, forgets[i].nlookup);
  fuse_reply_none(req);
}

/* ---- statfs, xattrs --------------------------------------------------------- */

static void op_statfs(fuse_req_t req, fuse_ino_t ino) {
  Mount *mt = mount_of(req);
  (void)ino;
  struct statvfs sv;
  int err = cache_statfs(mt->cache, &sv);
  if (err) return (void)fuse_reply_err(req, err);
  /* Nothing can be written here, and nothing here takes room of its own: 0
  ** blocks, as read-only network mounts report, so `df` and disk monitors do
  ** not see a full disk. */
  sv.f_blocks = sv.f_bfree = sv.f_bavail = 0;
  sv.f_files = sv.f_ffree = sv.f_favail = 0;
  sv.f_flag |= ST_RDONLY;
  sv.f_namemax = NAME_MAX;
  fuse_reply_statfs(req, &sv);
}

/* The value of a counter xattr, or ENODATA. */
static int xattr_value(Mount *mt, fuse_ino_t ino, const char *name, char *out, size_t cap) {
  uint32_t slot, ver8, index;
  cache_ino_split(ino, &slot, &ver8, &index);
  CacheStats cs;
  cache_stats(mt->cache, &cs);
  unsigned long long v;
  if (strcmp(name, XA_SRC_READS) == 0) v = cs.source_reads;
  else if (strcmp(name, XA_SRC_BYTES) == 0) v = cs.source_bytes;
  else if (ino == FUSE_ROOT_ID && strcmp(name, XA_DECODES) == 0) v = cs.decodes;
  else if (ino == FUSE_ROOT_ID && strcmp(name, XA_EVICTIONS) == 0) v = cs.evictions;
  else if (ino == FUSE_ROOT_ID && strcmp(name, XA_MODELS) == 0) v = cs.models;
  else if (ino == FUSE_ROOT_ID && strcmp(name, XA_BYTES) == 0) v = cs.bytes;
  else if (ino == FUSE_ROOT_ID && strcmp(name, XA_SLOTS) == 0) v = cs.slots;
  else if (ino == FUSE_ROOT_ID && strcmp(name, XA_SIZINGS) == 0) v = cs.sizings;
  else if (ino != FUSE_ROOT_ID && index == 0 && strcmp(name, XA_DECODES) == 0) {
    SlotStat ss;
    if (cache_get(mt->cache, slot, &ss) != 0 || ss.kind != SLOT_MODEL) return -ENODATA;
    v = cache_slot_decodes(mt->cache, slot);
  } else {
    return -ENODATA;
  }
  return snprintf(out, cap, "%llu", v);
}

/* Only user.modelfs.* exist.  Other namespaces (security.selinux, the POSIX ACLs)
** answer EOPNOTSUPP, not ENODATA: `ls -l` asks for three of them per entry and,
** told they are unsupported, stops asking for the whole device (coreutils caches
** that per st_dev), which makes `ls -l` of 10,000 models ~9x faster.  (ENOSYS
** would stop the kernel sending any getxattr, the counters included.) */
static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size) {
  char val[32];
  if (strncmp(name, "user.", 5) != 0) return (void)fuse_reply_err(req, EOPNOTSUPP);
  int n = xattr_value(mount_of(req), ino, name, val, sizeof val);
  if (n < 0) return (void)fuse_reply_err(req, -n);
  if (size == 0) return (void)fuse_reply_xattr(req, (size_t)n);
  if (size < (size_t)n) return (void)fuse_reply_err(req, ERANGE);
  fuse_reply_buf(req, val, (size_t)n);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  static const char root_names[] = XA_DECODES "\0" XA_EVICTIONS "\0" XA_MODELS "\0" XA_BYTES
                                   "\0" XA_SLOTS "\0" XA_SRC_READS "\0" XA_SRC_BYTES "\0" XA_SIZINGS;
  static const char model_names[] = XA_DECODES "\0" XA_SRC_READS "\0" XA_SRC_BYTES;
  static const char node_names[] = XA_SRC_READS "\0" XA_SRC_BYTES;
  char tmp[8];
  const char *names = node_names;
  size_t len = sizeof node_names;
  if (ino == FUSE_ROOT_ID) {
    names = root_names;
    len = sizeof root_names;
  } else if (xattr_value(mount_of(req), ino, XA_DECODES, tmp, sizeof tmp) >= 0) {
    names = model_names;
    len = sizeof model_names;
  }
  if (size == 0) return (void)fuse_reply_xattr(req, len);
  if (size < len) return (void)fuse_reply_err(req, ERANGE);
  fuse_reply_buf(req, names, len);
}

/* ---- everything that would write --------------------------------------------- */

static void erofs(fuse_req_t req) { fuse_reply_err(req, EROFS); }

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *a, int to_set,
                       struct fuse_file_info *fi) {
  (void)ino; (void)a; (void)to_set; (void)fi;
  erofs(req);
}
static void op_mknod(fuse_req_t req, fuse_ino_t p, const char *n, mode_t m, dev_t d) {
  (void)p; (void)n; (void)m; (void)d;
  erofs(req);
}
static void op_mkdir(fuse_req_t req, fuse_ino_t p, const char *n, mode_t m) {
  (void)p; (void)n; (void)m;
  erofs(req);
}
static void op_unlink(fuse_req_t req, fuse_ino_t p, const char *n) {
  (void)p; (void)n;
  erofs(req);
}
static void op_rmdir(fuse_req_t req, fuse_ino_t p, const char *n) {
  (void)p; (void)n;
  erofs(req);
}
static void op_symlink(fuse_req_t req, const char *l, fuse_ino_t p, const char *n) {
  (void)l; (void)p; (void)n;
  erofs(req);
}
static void op_rename(fuse_req_t req, fuse_ino_t p, const char *n, fuse_ino_t np,
                      const char *nn, unsigned int flags) {
  (void)p; (void)n; (void)np; (void)nn; (void)flags;
  erofs(req);
}
static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t np, const char *nn) {
  (void)ino; (void)np; (void)nn;
  erofs(req);
}
static void op_write(fuse_req_t req, fuse_ino_t ino, const char *b, size_t s, off_t o,
                     struct fuse_file_info *fi) {
  (void)ino; (void)b; (void)s; (void)o; (void)fi;
  erofs(req);
}
static void op_create(fuse_req_t req, fuse_ino_t p, const char *n, mode_t m,
                      struct fuse_file_info *fi) {
  (void)p; (void)n; (void)m; (void)fi;
  erofs(req);
}
static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *n, const char *v,
                        size_t s, int f) {
  (void)ino; (void)n; (void)v; (void)s; (void)f;
  erofs(req);
}
static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *n) {
  (void)ino; (void)n;
  erofs(req);
}
static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int m, off_t o, off_t l,
                         struct fuse_file_info *fi) {
  (void)ino; (void)m; (void)o; (void)l; (void)fi;
  erofs(req);
}
static void op_copy_file_range(fuse_req_t req, fuse_ino_t i, off_t o, struct fuse_file_info *f,
                               fuse_ino_t i2, off_t o2, struct fuse_file_info *f2, size_t l,
                               int fl) {
  (void)i; (void)o; (void)f; (void)i2; (void)o2; (void)f2; (void)l; (void)fl;
  erofs(req);
}

static void op_init(void *userdata, struct fuse_conn_info *conn) {
  Mount *mt = userdata;
  /* 3.14 fails INIT with EPROTO when -o max_read=N is not echoed here. */
  if (mt->max_read) conn->max_read = mt->max_read;
  /* readlink answers never change for an inode number: let the kernel keep them. */
  if (conn->capable & FUSE_CAP_CACHE_SYMLINKS) conn->want |= FUSE_CAP_CACHE_SYMLINKS;
  mt->no_opendir = (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT) != 0;
  conn->time_gran = 1;
}

static const struct fuse_lowlevel_ops mount_ops = {
  .init = op_init,
  .lookup = op_lookup,
  .forget = op_forget,
  .forget_multi = op_forget_multi,
  .getattr = op_getattr,
  .readlink = op_readlink,
  .open = op_open,
  .read = op_read,
  .release = op_release,
  .opendir = op_opendir,
  .readdir = op_readdir,
  .readdirplus = op_readdirplus,
  .statfs = op_statfs,
  .getxattr = op_getxattr,
  .listxattr = op_listxattr,
  .setattr = op_setattr,
  .mknod = op_mknod,
  .mkdir = op_mkdir,
  .unlink = op_unlink,
  .rmdir = op_rmdir,
  .symlink = op_symlink,
  .rename = op_rename,
  .link = op_link,
  .write = op_write,
  .create = op_create,
  .setxattr = op_setxattr,
  .removexattr = op_removexattr,
  .fallocate = op_fallocate,
  .copy_file_range = op_copy_file_range,
};

/* ---- command line ------------------------------------------------------------ */

typedef struct MountConf {
  char *source;
  MountOpts o;
} MountConf;

/* Every -o item and every argument libfuse does not match comes here: ours are
** taken (and checked), SOURCE is the first plain argument, the rest (the
** mountpoint, -f -d -s, libfuse's -o items) is left for libfuse. */
static int conf_proc(void *data, const char *arg, int key, struct fuse_args *outargs) {
  MountConf *conf = data;
  (void)outargs;
  if (key == FUSE_OPT_KEY_NONOPT && conf->source == NULL) {
    conf->source = strdup(arg);
    return conf->source ? 0 : -1;
  }
  if (key != FUSE_OPT_KEY_OPT || arg[0] == '-') return 1;
  char msg[512];
  int r = mountopt_take(&conf->o, arg, msg, sizeof msg);
  if (r < 0) {
    fprintf(stderr, "modelfs: %s\n", msg[0] ? msg : "out of memory");
    return -1;
  }
  return r == 1 ? 0 : 1;
}

static const struct fuse_opt conf_opts[] = {FUSE_OPT_END};

const char *mount_fuse_version(void) { return fuse_pkgversion(); }

/* -o ro,default_permissions,fsname=SOURCE: after the user's options, so they win. */
static int add_mount_opts(struct fuse_args *args, const char *source) {
  char *opts = NULL, *fsname = NULL;
  int r = -1;
  if (asprintf(&fsname, "fsname=%s", source) >= 0 && fuse_opt_add_opt(&opts, "ro") == 0 &&
      fuse_opt_add_opt(&opts, "default_permissions") == 0 &&
      fuse_opt_add_opt_escaped(&opts, fsname) == 0 && fuse_opt_add_arg(args, "-o") == 0 &&
      fuse_opt_add_arg(args, opts) == 0)
    r = 0;
  free(fsname);
  free(opts);
  return r;
}

/* A daemon started from a script inherits SIGINT ignored; we still want a clean
** unmount on it (fuse_set_signal_handlers only replaces default actions). */
static void unignore_signals(void) {
  int sigs[] = {SIGINT, SIGTERM};
  for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) {
    struct sigaction sa;
    if (sigaction(sigs[i], NULL, &sa) == 0 && sa.sa_handler == SIG_IGN) signal(sigs[i], SIG_DFL);
  }
}

/* Each cached model holds its file open: as many open files as allowed, and
** the number of trees the cache may keep with them. */
static uint32_t raise_fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return cache_max_models(0);
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) getrlimit(RLIMIT_NOFILE, &rl);
  }
  return cache_max_models(rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur);
}

/* -o stats: what the mount asked of SOURCE, for whoever watches the daemon's
** stderr (-f) on a network filesystem. */
static void print_stats(Mount *mt) {
  CacheStats cs;
  cache_stats(mt->cache, &cs);
  fprintf(stderr, "modelfs: SOURCE read %llu times, %llu bytes; %llu decodes, %llu evictions\n",
          (unsigned long long)cs.source_reads, (unsigned long long)cs.source_bytes,
          (unsigned long long)cs.decodes, (unsigned long long)cs.evictions);
}

static int serve(Mount *mt, struct fuse_args *args, struct fuse_cmdline_opts *opts) {
  mt->se = fuse_session_new(args, &mount_ops, sizeof mount_ops, mt);
  if (mt->se == NULL) return 2;   /* libfuse refused an option (and said which) */
  int status = 1;
  unignore_signals();
  if (fuse_set_signal_handlers(mt->se) != 0) goto out_session;
  if (fuse_session_mount(mt->se, opts->mountpoint) != 0) goto out_signals;
  mt->conn = connection_of(opts->mountpoint);
  fuse_daemonize(opts->foreground);
  if (notifier_start(mt) != 0) fprintf(stderr, "modelfs: no notifier thread\n");
  int r;
  if (opts->singlethread) {
    r = fuse_session_loop(mt->se);
  } else {
    struct fuse_loop_config *cfg = fuse_loop_cfg_create();
    fuse_loop_cfg_set_clone_fd(cfg, (unsigned)opts->clone_fd);
    /* Unset values are UINT_MAX, which 3.14.0 warns about; the defaults stand then. */
    if (opts->max_idle_threads < MAX_LOOP_THREADS)
      fuse_loop_cfg_set_idle_threads(cfg, opts->max_idle_threads);
    /* Waits (decodes, big sizes, sums) go to the decode pool; more loop
    ** threads than libfuse's default of 10 answer the rest meanwhile. */
    unsigned threads = mt->max_threads ? opts->max_threads : MFS_LOOP_THREADS;
    if (threads > 0 && threads < MAX_LOOP_THREADS) fuse_loop_cfg_set_max_threads(cfg, threads);
    r = fuse_session_loop_mt(mt->se, cfg);
    fuse_loop_cfg_destroy(cfg);
  }
  /* Decodes running give up at once (a minute-long hostile one too), and the
  ** requests waiting for them are answered: nothing holds the exit. */
  cache_stop(mt->cache);
  pool_stop(mt->pool);
  notifier_stop(mt);
  if (mt->stats) print_stats(mt);
  /* 0: unmounted; > 0: the signal that ended the loop.  Both are a clean exit. */
  status = r < 0 ? 1 : 0;
  fuse_session_unmount(mt->se);
  if (mt->abandoned) return status;
out_signals:
  fuse_remove_signal_handlers(mt->se);
out_session:
  fuse_session_destroy(mt->se);
  mt->se = NULL;
  return status;
}

static void mount_cleanup(Mount *mt) {
  if (mt->cache) cache_stop(mt->cache);
  pool_free(mt->pool);
  while (mt->handles) handle_free(mt, mt->handles);
  while (mt->queue) {
    Notice *n = mt->queue;
    mt->queue = n->next;
    free(n);
  }
  for (size_t i = 0; i < mt->listings_cap; i++) listing_unref(mt, mt->listings[i]);
  free(mt->listings);
  cache_free(mt->cache);
  trust_free(mt->trust);
  if (mt->inotify_fd >= 0) close(mt->inotify_fd);
  if (mt->wake_fd >= 0) close(mt->wake_fd);
  free(mt->wd_slot);
  free(mt->watch_state);
  pthread_mutex_destroy(&mt->lock);
  pthread_mutex_destroy(&mt->qlock);
}

/* PATH lies in or below DIR (both absolute, resolved). */
static int path_under(const char *path, const char *dir) {
  size_t n = strlen(dir);
  if (strcmp(dir, "/") == 0) return 1;
  return strncmp(path, dir, n) == 0 && (path[n] == 0 || path[n] == '/');
}

/* The type of the filesystem mounted last at PATH (resolved), or "" when none. */
static void mounted_type(const char *path, char *type, size_t cap) {
  FILE *f = fopen("/proc/self/mountinfo", "r");
  char line[8192], mnt[4096], fstype[256];
  *type = 0;
  while (f && fgets(line, sizeof line, f)) {
    const char *sep = strstr(line, " - ");
    if (sep && sscanf(line, "%*u %*u %*s %*s %4095s", mnt) == 1 &&
        sscanf(sep + 3, "%255s", fstype) == 1 && strcmp(mnt, path) == 0)
      snprintf(type, cap, "%s", fstype);
  }
  if (f) fclose(f);
}

/* SPEC 1: refused before anything is mounted -- a mount onto SOURCE, inside it
** or above it would call into itself (the first `ls` hangs in D state); one
** onto a live or dead FUSE mount would stack silently.  0, or the exit status. */
static int mountpoint_check(const char *source, const char *mountpoint) {
  char *m = realpath(mountpoint, NULL);
  if (m == NULL && errno == ENOTCONN) {
    fprintf(stderr, "modelfs: %s: a dead mount (its daemon is gone); unmount it first: "
            "fusermount3 -u %s\n", mountpoint, mountpoint);
    return 1;
  }
  char *s = realpath(source, NULL);
  int status = 0;
  char type[256] = "";
  if (s && m) mounted_type(m, type, sizeof type);
  if (s == NULL || m == NULL) {
    /* the mount itself says what is wrong with a missing path */
  } else if (strcmp(s, m) == 0 || path_under(m, s) || path_under(s, m)) {
    fprintf(stderr, "modelfs: refusing to mount %s %s: the mount would contain itself "
            "(SOURCE is %s)\n", strcmp(s, m) == 0 ? "onto SOURCE," :
            path_under(m, s) ? "inside SOURCE, at" : "onto a directory holding SOURCE,",
            mountpoint, s);
    status = 1;
  } else if (strncmp(type, "fuse", 4) == 0) {
    fprintf(stderr, "modelfs: %s is already a mount point (%s); unmount it first: "
            "fusermount3 -u %s\n", mountpoint, type, mountpoint);
    status = 1;
  }
  free(s);
  free(m);
  return status;
}

static int mount_setup(Mount *mt, const MountConf *conf, const char *mountpoint) {
  memset(mt, 0, sizeof *mt);
  pthread_mutex_init(&mt->lock, NULL);
  pthread_mutex_init(&mt->qlock, NULL);
  mt->inotify_fd = conf->o.nowatch ? -1 : inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  mt->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  mt->trust = trust_new_default();
  if (mt->wake_fd < 0 || mt->trust == NULL) {
    fprintf(stderr, "modelfs: out of resources\n");
    return 1;
  }
  Err e;
  err_clear(&e);
  if (conf->o.cache_dir) {
    /* Resolved now: the daemon runs from "/". */
    char *dir = realpath(conf->o.cache_dir, NULL);
    if (dir == NULL) {
      fprintf(stderr, "modelfs: cache_dir=%s: %s\n", conf->o.cache_dir, strerror(errno));
      return 2;
    }
    source_set_cache_dir(dir);
    free(dir);
  }
  if (conf->o.trust && trust_add_file(mt->trust, conf->o.trust, &e) != MFS_OK) {
    fprintf(stderr, "modelfs: trust=%s: %s\n", conf->o.trust, e.msg);
    return 2;
  }
  (void)mountpoint;
  if ((mt->pool = pool_new(MFS_MAX_PARALLEL_DECODES, MFS_MAX_BEGUN_DECODES,
                           MFS_DECODE_SLICE_MS * 1000000ull)) == NULL) {
    fprintf(stderr, "modelfs: out of memory\n");
    return 1;
  }
  CacheConfig cc = {conf->source, (size_t)conf->o.cache_mb << 20, mt->trust, on_changed, mt, NULL,
                    conf->o.target, raise_fd_limit(), conf->o.frugal, on_ready, mt,
                    {on_checkpoint, mt}};
  mt->cache = cache_new(&cc, &e);
  if (mt->cache == NULL) {
    fprintf(stderr, "modelfs: %s\n", e.msg);
    return 1;
  }
  return 0;
}

/* Loop threads decode; glibc would give each its own malloc arena (up to 8 per
** core), and memory freed in one is never reused by another, so RSS after
** evictions would grow with the number of threads that ever decoded.  Two
** arenas keep lock contention low on small machines and freed memory shared. */
#define MALLOC_ARENAS 2

int mount_main(int argc, char **argv) {
  mallopt(M_ARENA_MAX, MALLOC_ARENAS);
  struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
  MountConf conf;
  memset(&conf, 0, sizeof conf);
  mountopt_init(&conf.o);
  struct fuse_cmdline_opts opts;
  memset(&opts, 0, sizeof opts);
  Mount mt;
  int status = 2, set_up = 0;
  if (fuse_opt_parse(&args, &conf, conf_opts, conf_proc) != 0) goto out;
  if (conf.source == NULL) {
    fprintf(stderr, "usage: %s [options] SOURCE MOUNTPOINT (--help for more)\n", argv[0]);
    goto out;
  }
  if (fuse_parse_cmdline(&args, &opts) != 0) goto out;
  if (opts.mountpoint == NULL) {
    fprintf(stderr, "%s: no mountpoint (usage: %s [options] SOURCE MOUNTPOINT)\n", argv[0],
            argv[0]);
    goto out;
  }
  if ((status = mountpoint_check(conf.source, opts.mountpoint)) != 0) goto out;
  set_up = 1;
  if ((status = mount_setup(&mt, &conf, opts.mountpoint)) != 0) goto out;
  mt.max_read = conf.o.max_read;
  mt.max_threads = conf.o.max_threads;
  mt.stats = conf.o.stats;
  if (add_mount_opts(&args, cache_source(mt.cache)) != 0) {
    status = 1;
    goto out;
  }
  status = serve(&mt, &args, &opts);
out:
  if (set_up && !mt.abandoned) mount_cleanup(&mt);
  free(opts.mountpoint);
  free(conf.source);
  mountopt_free(&conf.o);
  fuse_opt_free_args(&args);
  return status;
}
