/*
** test_cache.c -- the mount's cache without FUSE: slots and inode numbers, change
** detection (rename over, rewrite in place, delete), decode-once under concurrent
** first access, LRU eviction by bytes with the same node indices after a re-decode.
** Files are written to a fresh temporary directory; tiny pickles are hand-written
** opcodes (an int, a list) so only the pickle VM and the renderer are involved.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "modelfs/cache.h"
#include "modelfs/limits.h"

typedef struct Fixture {
  char dir[64];
  Cache *cache;
  TrustList *trust;
  int changes;                 /* on_changed calls */
  uint64_t last_parent;
  char last_name[64];
} Fixture;

static void on_changed(void *ctx, const SlotStat *old, SlotKind now, uint64_t parent_ino,
                       const char *name) {
  (void)now;
  Fixture *f = ctx;
  (void)old;
  f->changes++;
  f->last_parent = parent_ino;
  snprintf(f->last_name, sizeof f->last_name, "%s", name);
}

static void write_file(Fixture *f, const char *name, const void *data, size_t n) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", f->dir, name);
  FILE *fp = fopen(path, "wb");
  assert_non_null(fp);
  assert_int_equal(fwrite(data, 1, n, fp), n);
  fclose(fp);
}

/* PROTO 4, BININT1 v, STOP: the int v. */
static void write_int_pickle(Fixture *f, const char *name, uint8_t v) {
  uint8_t p[] = {0x80, 4, 'K', v, '.'};
  write_file(f, name, p, sizeof p);
}

static Fixture *fixture_new(void) {
  Fixture *f = calloc(1, sizeof *f);
  snprintf(f->dir, sizeof f->dir, "/tmp/modelfs-cache-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  f->trust = trust_new_default();
  return f;
}

static void fixture_open_max(Fixture *f, size_t budget, uint32_t max_models) {
  CacheConfig cc = {f->dir, budget, f->trust, on_changed, f, NULL, NULL, max_models, 0, NULL, NULL,
                    {NULL, NULL}};
  Err e;
  err_clear(&e);
  f->cache = cache_new(&cc, &e);
  assert_non_null(f->cache);
}

static void fixture_open(Fixture *f, size_t budget) { fixture_open_max(f, budget, 0); }

static void fixture_free(Fixture *f) {
  cache_free(f->cache);
  trust_free(f->trust);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
  assert_int_equal(system(cmd), 0);
  free(f);
}

static void test_inode_numbers(void **state) {
  (void)state;
  assert_int_equal(cache_ino(0, 0, 0), 1);             /* FUSE_ROOT_ID */
  uint32_t s, v, i;
  cache_ino_split(cache_ino(123456, 300, 77), &s, &v, &i);
  assert_int_equal(s, 123456);
  assert_int_equal(v, 300 & CACHE_VERSION_MASK);
  assert_int_equal(i, 77);
  assert_true(cache_ino(1, 1, 0) != cache_ino(1, 2, 0));
  assert_true(cache_ino(1, 1, 5) != cache_ino(2, 1, 5));
}

static void test_classify_and_lookup(void **state) {
  (void)state;
  Fixture *f = fixture_new();
  write_int_pickle(f, "a.pkl", 1);
  write_int_pickle(f, "no_extension", 2);        /* a model by its first bytes */
  write_file(f, "notes.txt", "hello\n", 6);
  write_file(f, "junk.pkl", "junk", 4);          /* a model by name, broken */
  char sub[128];
  snprintf(sub, sizeof sub, "%s/sub", f->dir);
  assert_int_equal(mkdir(sub, 0755), 0);
  fixture_open(f, 1 << 20);
  SlotStat ss;
  assert_int_equal(cache_lookup(f->cache, 0, "a.pkl", &ss), 0);
  assert_int_equal(ss.kind, SLOT_MODEL);
  uint32_t a = ss.id;
  assert_int_equal(cache_lookup(f->cache, 0, "no_extension", &ss), 0);
  assert_int_equal(ss.kind, SLOT_MODEL);
  assert_int_equal(cache_lookup(f->cache, 0, "notes.txt", &ss), 0);
  assert_int_equal(ss.kind, SLOT_FILE);
  assert_int_equal(cache_lookup(f->cache, 0, "junk.pkl", &ss), 0);
  assert_int_equal(ss.kind, SLOT_MODEL);
  assert_int_equal(cache_lookup(f->cache, 0, "sub", &ss), 0);
  assert_int_equal(ss.kind, SLOT_DIR);
  assert_int_equal(cache_lookup(f->cache, 0, "missing", &ss), ENOENT);
  /* The same name keeps its slot and version. */
  assert_int_equal(cache_lookup(f->cache, 0, "a.pkl", &ss), 0);
  assert_int_equal(ss.id, a);
  assert_int_equal(ss.version, 1);
  CacheEntry *v;
  size_t n;
  assert_int_equal(cache_list(f->cache, 0, &v, &n), 0);
  assert_int_equal(n, 5);
  cache_list_unpin(f->cache, v, n);
  cache_list_free(v, n);
  CacheStats st;
  cache_stats(f->cache, &st);
  assert_int_equal(st.decodes, 0);                /* nothing decoded by looking */
  assert_int_equal(f->changes, 0);
  fixture_free(f);
}

typedef struct Racer {
  Fixture *f;
  uint32_t slot;
  int err;
} Racer;

static void *race(void *arg) {
  Racer *r = arg;
  CacheModel *m;
  r->err = cache_acquire(r->f->cache, r->slot, 1, &m);
  if (r->err == 0) cache_release(r->f->cache, m);
  return NULL;
}

static void test_decode_once(void **state) {
  (void)state;
  Fixture *f = fixture_new();
  write_int_pickle(f, "a.pkl", 7);
  fixture_open(f, 1 << 20);
  SlotStat ss;
  assert_int_equal(cache_lookup(f->cache, 0, "a.pkl", &ss), 0);
  pthread_t t[8];
  Racer r[8];
  for (int i = 0; i < 8; i++) {
    r[i] = (Racer){f, ss.id, -1};
    pthread_create(&t[i], NULL, race, &r[i]);
  }
  for (int i = 0; i < 8; i++) {
    pthread_join(t[i], NULL);
    assert_int_equal(r[i].err, 0);
  }
  assert_int_equal(cache_slot_decodes(f->cache, ss.id), 1);
  /* A wrong version is stale, not decoded. */
  CacheModel *m;
  assert_int_equal(cache_acquire(f->cache, ss.id, 2, &m), ESTALE);
  fixture_free(f);
}

static void test_changes_bump_versions(void **state) {
  (void)state;
  Fixture *f = fixture_new();
  write_int_pickle(f, "a.pkl", 1);
  fixture_open(f, 1 << 20);
  SlotStat ss, now;
  assert_int_equal(cache_lookup(f->cache, 0, "a.pkl", &ss), 0);
  CacheModel *old;
  assert_int_equal(cache_acquire(f->cache, ss.id, ss.version, &old), 0);
  /* Rename over: a new inode, a new version; the held tree stays valid. */
  write_int_pickle(f, "tmp", 2);
  char from[256], to[256];
  snprintf(from, sizeof from, "%s/tmp", f->dir);
  snprintf(to, sizeof to, "%s/a.pkl", f->dir);
  assert_int_equal(rename(from, to), 0);
  assert_int_equal(cache_refresh(f->cache, ss.id, &now), 0);
  assert_int_equal(now.id, ss.id);
  assert_int_equal(now.version, ss.version + 1);
  assert_int_equal(f->changes, 1);
  assert_string_equal(f->last_name, "a.pkl");
  assert_int_equal(f->last_parent, 1);
  assert_non_null(render_root(cache_tree(old)));
  cache_release(f->cache, old);
  /* Rewrite in place (longer): same inode, new version (the held tree's lazy
  ** reads are proven in the source, test_source). */
  assert_int_equal(cache_acquire(f->cache, now.id, now.version, &old), 0);
  uint8_t longer[] = {0x80, 4, 'M', 0x34, 0x12, '.'};
  int fd = open(to, O_WRONLY | O_TRUNC);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, longer, sizeof longer), (ssize_t)sizeof longer);
  close(fd);
  assert_int_equal(cache_refresh(f->cache, ss.id, &now), 0);
  assert_int_equal(now.version, ss.version + 2);
  cache_release(f->cache, old);
  /* Unchanged: no new version. */
  assert_int_equal(cache_refresh(f->cache, ss.id, &now), 0);
  assert_int_equal(now.version, ss.version + 2);
  /* Deleted: gone, and a change. */
  assert_int_equal(unlink(to), 0);
  assert_int_equal(cache_refresh(f->cache, ss.id, &now), ENOENT);
  assert_int_equal(now.kind, SLOT_GONE);
  assert_int_equal(f->changes, 3);
  fixture_free(f);
}

static void test_eviction_keeps_indices(void **state) {
  (void)state;
  Fixture *f = fixture_new();
  /* PROTO 4, EMPTY_LIST, MARK, BININT1 1, BININT1 2, APPENDS, STOP: [1, 2]. */
  uint8_t list[] = {0x80, 4, ']', '(', 'K', 1, 'K', 2, 'e', '.'};
  write_file(f, "a.pkl", list, sizeof list);
  write_file(f, "b.pkl", list, sizeof list);
  fixture_open(f, 0);                              /* budget 0: keep only the newest */
  SlotStat a, b;
  assert_int_equal(cache_lookup(f->cache, 0, "a.pkl", &a), 0);
  assert_int_equal(cache_lookup(f->cache, 0, "b.pkl", &b), 0);
  CacheModel *m;
  assert_int_equal(cache_acquire(f->cache, a.id, a.version, &m), 0);
  uint32_t count = render_count(cache_tree(m));
  const RNode *meta = render_lookup(cache_tree(m), render_root(cache_tree(m)), "meta.json");
  assert_non_null(meta);
  uint32_t meta_index = meta->index;
  cache_release(f->cache, m);
  assert_int_equal(cache_acquire(f->cache, b.id, b.version, &m), 0);
  cache_release(f->cache, m);
  CacheStats st;
  cache_stats(f->cache, &st);
  assert_true(st.evictions >= 1);
  assert_int_equal(st.models, 1);
  assert_int_equal(cache_acquire(f->cache, a.id, a.version, &m), 0);
  assert_int_equal(cache_slot_decodes(f->cache, a.id), 2);
  assert_int_equal(render_count(cache_tree(m)), count);
  meta = render_lookup(cache_tree(m), render_root(cache_tree(m)), "meta.json");
  assert_non_null(meta);
  assert_int_equal(meta->index, meta_index);
  cache_release(f->cache, m);
  fixture_free(f);
}

/* Small models are small in the cache (a few KiB each, not a 256 KiB arena
** chunk), so many fit a modest budget; the count bound holds on its own; and a
** second pass over them decodes nothing. */
static void test_many_small_models_decoded_once(void **state) {
  (void)state;
  Fixture *f = fixture_new();
  char name[32];
  for (int i = 0; i < 300; i++) {
    snprintf(name, sizeof name, "m%03d.pkl", i);
    write_int_pickle(f, name, (uint8_t)i);
  }
  fixture_open_max(f, 16u << 20, 1000);
  SlotStat ss[300];
  for (int pass = 0; pass < 2; pass++)
    for (int i = 0; i < 300; i++) {
      snprintf(name, sizeof name, "m%03d.pkl", i);
      assert_int_equal(cache_lookup(f->cache, 0, name, &ss[i]), 0);
      CacheModel *m;
      assert_int_equal(cache_acquire(f->cache, ss[i].id, ss[i].version, &m), 0);
      cache_release(f->cache, m);
    }
  CacheStats st;
  cache_stats(f->cache, &st);
  assert_int_equal(st.decodes, 300);
  assert_int_equal(st.evictions, 0);
  assert_int_equal(st.models, 300);
  assert_true(st.bytes / 300 < 64 * 1024);   /* was 512 KiB: two 256 KiB chunks */
  assert_int_equal(st.max_models, 1000);
  cache_free(f->cache);
  /* The same with room for 100 trees: the count bound evicts, bytes or not. */
  fixture_open_max(f, 16u << 20, 100);
  for (int i = 0; i < 300; i++) {
    CacheModel *m;
    snprintf(name, sizeof name, "m%03d.pkl", i);
    assert_int_equal(cache_lookup(f->cache, 0, name, &ss[i]), 0);
    assert_int_equal(cache_acquire(f->cache, ss[i].id, ss[i].version, &m), 0);
    cache_release(f->cache, m);
  }
  cache_stats(f->cache, &st);
  assert_int_equal(st.models, 100);
  assert_int_equal(st.evictions, 200);
  /* Cycling 300 models through room for 100 evicts on every access: once the
  ** freed trees add up to MFS_TRIM_BYTES the heap is trimmed. */
  uint64_t per_tree = st.bytes / 100 + 1, rounds = 0;
  while (st.evictions * per_tree < 2 * (uint64_t)MFS_TRIM_BYTES && rounds++ < 100) {
    for (int i = 0; i < 300; i++) {
      CacheModel *m;
      assert_int_equal(cache_acquire(f->cache, ss[i].id, ss[i].version, &m), 0);
      cache_release(f->cache, m);
    }
    cache_stats(f->cache, &st);
  }
  assert_true(st.evictions * per_tree >= 2 * (uint64_t)MFS_TRIM_BYTES);
  assert_true(st.trims >= 1);
  fixture_free(f);
}

static void test_max_models_from_fd_limit(void **state) {
  (void)state;
  assert_int_equal(cache_max_models(0), MFS_CACHE_MAX_MODELS);        /* unknown: the floor */
  assert_int_equal(cache_max_models(1024), MFS_CACHE_MAX_MODELS + 128);
  assert_int_equal(cache_max_models(20000), (20000 - MFS_FD_RESERVE) / 2);
  assert_int_equal(cache_max_models(UINT64_MAX), MFS_CACHE_MAX_MODELS_CAP);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_inode_numbers),
    cmocka_unit_test(test_classify_and_lookup),
    cmocka_unit_test(test_decode_once),
    cmocka_unit_test(test_changes_bump_versions),
    cmocka_unit_test(test_eviction_keeps_indices),
    cmocka_unit_test(test_many_small_models_decoded_once),
    cmocka_unit_test(test_max_models_from_fd_limit),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
