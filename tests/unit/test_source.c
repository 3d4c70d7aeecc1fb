/*
** test_source.c -- the decompressing sources against a reference decompression.
**
** Each codec's stream is produced here with the real library (zlib, libbz2,
** liblzma, liblz4) from known bytes; the source under test must give back exactly
** those bytes at any offset, in any order, from several threads, and must report
** truncation and corruption as errors naming the compressed offset.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <bzlib.h>
#include <lz4frame.h>
#include <lzma.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utime.h>
#include <zlib.h>
#include "modelfs/limits.h"
#include "modelfs/source.h"

/* 6 MiB: more than the memory cache (spill file used) and several restart points. */
#define PLAIN_LEN ((size_t)6 << 20)

static uint8_t *plain;

static uint64_t rng_state = 88172645463325252ULL;
static uint64_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

/* Half noise, half text-like repeats: compressible but not trivially. */
static void make_plain(void) {
  plain = malloc(PLAIN_LEN);
  for (size_t i = 0; i < PLAIN_LEN; i++) {
    if ((i / 4096) % 2) plain[i] = (uint8_t)rnd();
    else plain[i] = (uint8_t)("float64 array data "[i % 19] + (i / 65536) % 7);
  }
}

/* ---- compressing with the real libraries ---------------------------------------- */

typedef struct Buf {
  uint8_t *p;
  size_t n;
} Buf;

static Buf deflate_of(const uint8_t *src, size_t len, int wbits) {
  z_stream z;
  memset(&z, 0, sizeof z);
  assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY), Z_OK);
  Buf b;
  b.p = malloc(deflateBound(&z, len) + 64);
  z.next_in = (Bytef *)src;
  z.avail_in = (uInt)len;
  z.next_out = b.p;
  z.avail_out = (uInt)(deflateBound(&z, len) + 64);
  assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
  b.n = z.total_out;
  deflateEnd(&z);
  return b;
}

static Buf deflate_with(int wbits) { return deflate_of(plain, PLAIN_LEN, wbits); }

static Buf bz2_of(const uint8_t *src, size_t len) {
  Buf b;
  unsigned n = (unsigned)(len + len / 50 + 1024);
  b.p = malloc(n);
  assert_int_equal(BZ2_bzBuffToBuffCompress((char *)b.p, &n, (char *)src, (unsigned)len, 9, 0, 0), BZ_OK);
  b.n = n;
  return b;
}

static Buf xz_of(const uint8_t *src, size_t len, int alone) {
  Buf b;
  size_t cap = len + len / 2 + 4096;
  b.p = malloc(cap);
  b.n = 0;
  if (!alone) {
    assert_int_equal(lzma_easy_buffer_encode(1, LZMA_CHECK_CRC64, NULL, src, len, b.p, &b.n, cap), LZMA_OK);
    return b;
  }
  lzma_stream s = LZMA_STREAM_INIT;
  lzma_options_lzma opt;
  lzma_lzma_preset(&opt, 1);
  assert_int_equal(lzma_alone_encoder(&s, &opt), LZMA_OK);
  s.next_in = src;
  s.avail_in = len;
  s.next_out = b.p;
  s.avail_out = cap;
  assert_int_equal(lzma_code(&s, LZMA_FINISH), LZMA_STREAM_END);
  b.n = s.total_out;
  lzma_end(&s);
  return b;
}

static Buf lz4_of(const uint8_t *src, size_t len, int checksum) {
  LZ4F_preferences_t prefs;
  memset(&prefs, 0, sizeof prefs);
  prefs.frameInfo.contentChecksumFlag = checksum ? LZ4F_contentChecksumEnabled : LZ4F_noContentChecksum;
  Buf b;
  size_t cap = LZ4F_compressFrameBound(len, &prefs);
  b.p = malloc(cap);
  b.n = LZ4F_compressFrame(b.p, cap, src, len, &prefs);
  assert_false(LZ4F_isError(b.n));
  return b;
}

static Buf compress_buf(const char *kind, const uint8_t *src, size_t len) {
  if (strcmp(kind, "zlib") == 0) return deflate_of(src, len, 15);
  if (strcmp(kind, "gzip") == 0) return deflate_of(src, len, 31);
  if (strcmp(kind, "deflate") == 0) return deflate_of(src, len, -15);
  if (strcmp(kind, "bz2") == 0) return bz2_of(src, len);
  if (strcmp(kind, "xz") == 0) return xz_of(src, len, 0);
  if (strcmp(kind, "lzma") == 0) return xz_of(src, len, 1);
  return lz4_of(src, len, 1);
}

static Buf compress_as(const char *kind) { return compress_buf(kind, plain, PLAIN_LEN); }

/* ---- a source that counts the compressed bytes read through it ----------------------- */

typedef struct Counting {
  Source base;
  Source *inner;
  uint64_t bytes;
} Counting;

static MfsStatus counting_read(Source *s, uint64_t off, void *buf, size_t len, size_t *got, Err *e) {
  Counting *c = (Counting *)s;
  MfsStatus st = c->inner->ops->read(c->inner, off, buf, len, got, e);
  __atomic_add_fetch(&c->bytes, *got, __ATOMIC_RELAXED);
  return st;
}

static void counting_destroy(Source *s) {
  source_unref(((Counting *)s)->inner);
  free(s);
}

static const SourceOps counting_ops = {counting_read, counting_destroy, NULL};

static Counting *counting_over(const Buf *b) {
  Counting *c = calloc(1, sizeof *c);
  c->inner = source_from_memory(b->p, b->n, "test.bin");
  source_init(&c->base, &counting_ops, "test.bin", b->n);
  return c;
}

/* The test data compressed as KIND (into *b), decompressed again over a source
** that counts the compressed bytes it hands out (*cnt). */
static Source *counted_decompress(const char *kind, Buf *b, Counting **cnt, Err *e) {
  *b = compress_as(kind);
  *cnt = counting_over(b);
  err_clear(e);
  return source_decompress(&(*cnt)->base, kind, e);
}

/* ---- checks ------------------------------------------------------------------------------- */

static uint8_t *buf;

static void expect_range(Source *s, uint64_t off, size_t len) {
  assert_true(len <= (1 << 20));
  Err e;
  err_clear(&e);
  MfsStatus st = source_read(s, off, buf, len, &e);
  if (st != MFS_OK) fail_msg("read %llu+%zu: %s", (unsigned long long)off, len, e.msg);
  assert_memory_equal(buf, plain + off, len);
}

static void roundtrip(const char *kind) {
  Buf b;
  Counting *cnt;
  Err e;
  Source *s = counted_decompress(kind, &b, &cnt, &e);
  assert_non_null(s);
  assert_int_equal(s->size, SOURCE_SIZE_UNKNOWN);
  /* One sequential pass, as a decoder makes it: the stream is read once. */
  for (size_t off = 0; off < PLAIN_LEN; off += 65536) expect_range(s, off, 65536);
  uint64_t first_pass = cnt->bytes;
  assert_true(first_pass >= b.n);
  assert_true(first_pass <= b.n + 65536);
  /* Reading at the end discovers the size; past it there is nothing. */
  uint8_t x;
  size_t got = 99;
  assert_int_equal(s->ops->read(s, PLAIN_LEN, &x, 1, &got, &e), MFS_OK);
  assert_int_equal(got, 0);
  assert_int_equal(s->size, PLAIN_LEN);
  /* Random reads, backwards and forwards. */
  for (int i = 0; i < 300; i++) {
    size_t len = 1 + rnd() % 70000;
    uint64_t off = rnd() % (PLAIN_LEN - len);
    expect_range(s, off, len);
  }
  expect_range(s, PLAIN_LEN - 100, 100);
  expect_range(s, 0, 100);
  /* The store kept what the first pass produced: no read after it decompresses
  ** anything again, whatever the codec. */
  assert_int_equal(cnt->bytes, first_pass);
  uint64_t before = cnt->bytes;
  expect_range(s, PLAIN_LEN - 5000, 4000);
  assert_int_equal(cnt->bytes - before, 0);
  source_unref(s);
  source_unref(&cnt->base);
  free(b.p);
}

static void test_zlib(void **st) { (void)st; roundtrip("zlib"); }
static void test_gzip(void **st) { (void)st; roundtrip("gzip"); }
static void test_deflate(void **st) { (void)st; roundtrip("deflate"); }
static void test_bz2(void **st) { (void)st; roundtrip("bz2"); }
static void test_xz(void **st) { (void)st; roundtrip("xz"); }
static void test_lzma(void **st) { (void)st; roundtrip("lzma"); }
static void test_lz4(void **st) { (void)st; roundtrip("lz4"); }

/* Reading everything of a damaged stream must fail with a message naming the
** compressed offset, never return wrong bytes silently. */
static void expect_damage(const char *kind, Buf b, MfsStatus want1, MfsStatus want2) {
  Source *raw = source_from_memory(b.p, b.n, "bad.bin");
  Err e;
  err_clear(&e);
  Source *s = source_decompress(raw, kind, &e);
  MfsStatus st = MFS_OK;
  if (s == NULL) {
    st = e.code;
  } else {
    uint8_t *tmp = malloc(65536);
    for (size_t off = 0; off < PLAIN_LEN + 65536 && st == MFS_OK; off += 65536) {
      size_t got = 0;
      st = s->ops->read(s, off, tmp, 65536, &got, &e);
      /* Bytes before the damage may come out (checksums are verified at the end
      ** of the stream, which the decoder's first pass always reaches). */
      if (st == MFS_OK && got < 65536 && off + got != PLAIN_LEN)
        st = err_set(&e, MFS_ETRUNC, off + got, "short");
      if (st == MFS_OK && got < 65536) break;
    }
    free(tmp);
    source_unref(s);
  }
  if (st != want1 && st != want2) fail_msg("%s: status %d (%s)", kind, st, e.msg);
  assert_non_null(strstr(e.msg, "compressed offset"));
  source_unref(raw);
  free(b.p);
}

static void test_truncated(void **state) {
  (void)state;
  const char *kinds[] = {"zlib", "gzip", "bz2", "xz", "lzma", "lz4"};
  for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
    Buf b = compress_as(kinds[i]);
    b.n = b.n / 2;
    expect_damage(kinds[i], b, MFS_ETRUNC, MFS_ETRUNC);
  }
}

static void test_corrupt(void **state) {
  (void)state;
  const char *kinds[] = {"zlib", "gzip", "bz2", "xz", "lzma", "lz4"};
  for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
    Buf b = compress_as(kinds[i]);
    for (size_t k = b.n / 2; k < b.n / 2 + 64; k++) b.p[k] ^= 0x5a;
    /* A flip may also make a length field run past the data: truncation. */
    expect_damage(kinds[i], b, MFS_ECORRUPT, MFS_ETRUNC);
  }
}

static void test_sniff(void **state) {
  (void)state;
  const char *kinds[] = {"zlib", "gzip", "bz2", "xz", "lzma", "lz4"};
  for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
    Buf b = compress_as(kinds[i]);
    const char *got = source_sniff_compression(b.p, b.n);
    assert_non_null(got);
    assert_string_equal(got, kinds[i]);
    free(b.p);
  }
  assert_string_equal(source_sniff_compression((const uint8_t *)"ZF0x6e               x", 22), "zlib");
  assert_null(source_sniff_compression((const uint8_t *)"\x80\x04\x95", 3));
  assert_null(source_sniff_compression((const uint8_t *)"(lp0\n", 5));
  assert_null(source_sniff_compression((const uint8_t *)"]q\x00", 3));
  assert_null(source_sniff_compression((const uint8_t *)"PK\x03\x04", 4));
  assert_null(source_sniff_compression((const uint8_t *)"", 0));
}

/* joblib < 0.10 Z-file: header with the decompressed length, then zlib. */
static Buf zfile(size_t declared, int extra_space) {
  Buf z = deflate_with(15);
  Buf b;
  b.p = malloc(z.n + 32);
  char head[32];
  snprintf(head, sizeof head, "ZF%-19s%s", "", extra_space ? " " : "");
  char hex[24];
  snprintf(hex, sizeof hex, "0x%zx", declared);
  memcpy(head + 2, hex, strlen(hex));
  size_t hn = 21 + (extra_space ? 1 : 0);
  memcpy(b.p, head, hn);
  memcpy(b.p + hn, z.p, z.n);
  b.n = hn + z.n;
  free(z.p);
  return b;
}

static void test_zfile(void **state) {
  (void)state;
  for (int extra = 0; extra < 2; extra++) {
    Buf b = zfile(PLAIN_LEN, extra);
    Source *raw = source_from_memory(b.p, b.n, "old.pkl");
    Err e;
    err_clear(&e);
    Source *s = source_decompress(raw, "zlib", &e);
    assert_non_null(s);
    expect_range(s, PLAIN_LEN - 1000, 1000);
    expect_range(s, 0, 1000);
    uint8_t x;
    size_t got = 1;
    assert_int_equal(s->ops->read(s, PLAIN_LEN, &x, 1, &got, &e), MFS_OK);
    assert_int_equal(got, 0);
    assert_int_equal(s->size, PLAIN_LEN);
    source_unref(s);
    source_unref(raw);
    free(b.p);
  }
  /* A header that lies about the length is an error at the end of the stream. */
  Buf b = zfile(PLAIN_LEN + 1, 0);
  Source *raw = source_from_memory(b.p, b.n, "old.pkl");
  Err e;
  err_clear(&e);
  Source *s = source_decompress(raw, "zlib", &e);
  assert_non_null(s);
  uint8_t *all = malloc(PLAIN_LEN + 1);
  assert_int_not_equal(source_read(s, 0, all, PLAIN_LEN + 1, &e), MFS_OK);
  assert_non_null(strstr(e.msg, "declares"));
  free(all);
  source_unref(s);
  source_unref(raw);
  free(b.p);
  /* A header that is not hexadecimal is refused at once. */
  Source *junk = source_from_memory("ZFxyz                 \x78\x9c", 23, "junk");
  err_clear(&e);
  assert_null(source_decompress(junk, "zlib", &e));
  assert_int_equal(e.code, MFS_ECORRUPT);
  source_unref(junk);
}

/* Several threads reading random ranges of one source at once. */
typedef struct ThreadArg {
  Source *s;
  uint64_t seed;
  int bad;
} ThreadArg;

static void *reader_thread(void *p) {
  ThreadArg *a = p;
  uint8_t *tb = malloc(65536);
  uint64_t x = a->seed;
  for (int i = 0; i < 150; i++) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    size_t len = 1 + x % 65536;
    uint64_t off = (x >> 20) % (PLAIN_LEN - len);
    Err e;
    err_clear(&e);
    if (source_read(a->s, off, tb, len, &e) != MFS_OK || memcmp(tb, plain + off, len) != 0) a->bad++;
  }
  free(tb);
  return NULL;
}

static void threads_on(const char *kind) {
  Buf b = compress_as(kind);
  Source *raw = source_from_memory(b.p, b.n, "t.bin");
  Err e;
  err_clear(&e);
  Source *s = source_decompress(raw, kind, &e);
  assert_non_null(s);
  pthread_t th[4];
  ThreadArg args[4];
  for (int i = 0; i < 4; i++) {
    args[i].s = s;
    args[i].seed = 1234567 + (uint64_t)i * 7919;
    args[i].bad = 0;
    pthread_create(&th[i], NULL, reader_thread, &args[i]);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(args[i].bad, 0);
  }
  source_unref(s);
  source_unref(raw);
  free(b.p);
}

static void test_threads(void **state) {
  (void)state;
  threads_on("zlib");
  threads_on("bz2");
  threads_on("lz4");
}

/* Without a usable cache dir the store codecs still serve every byte (by decoding
** again from the start); with one, the spill file lands there. */
static void test_cache_dir(void **state) {
  (void)state;
  source_set_cache_dir("/nonexistent/modelfs-cache");
  {
    Buf b = compress_as("xz");
    Source *raw = source_from_memory(b.p, b.n, "x.xz");
    Err e;
    err_clear(&e);
    Source *s = source_decompress(raw, "xz", &e);
    for (size_t off = 0; off < PLAIN_LEN; off += 65536) expect_range(s, off, 65536);
    expect_range(s, MFS_DECOMP_MEM_CACHE + 1000, 5000);
    expect_range(s, 100, 5000);
    expect_range(s, PLAIN_LEN - 5000, 5000);
    source_unref(s);
    source_unref(raw);
    free(b.p);
  }
  char dir[] = "/tmp/modelfs-test-cache-XXXXXX";
  assert_non_null(mkdtemp(dir));
  source_set_cache_dir(dir);
  roundtrip("lz4");
  source_set_cache_dir(NULL);
  assert_int_equal(rmdir(dir), 0);   /* the spill file was unlinked */
}

/* ---- reads as the kernel makes them ------------------------------------------------------ */

static const char *all_kinds[] = {"zlib", "gzip", "deflate", "bz2", "xz", "lzma", "lz4"};

/* Read [from, to) in requests of `step` bytes (the first one `first`), checking
** every byte; returns the compressed bytes read meanwhile. */
static uint64_t sweep(Counting *cnt, Source *s, uint64_t from, uint64_t to, size_t first, size_t step) {
  uint64_t before = cnt->bytes;
  for (uint64_t off = from; off < to;) {
    size_t len = off == from ? first : step;
    if (len > to - off) len = (size_t)(to - off);
    expect_range(s, off, len);
    off += len;
  }
  return cnt->bytes - before;
}

/* FUSE asks for 128 KiB at a time, not aligned with what a decoder produces per
** step: consecutive requests must continue one stream, never decode twice. */
static void test_kernel_reads(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof all_kinds / sizeof *all_kinds; i++) {
    Buf b;
    Counting *cnt;
    Err e;
    Source *s = counted_decompress(all_kinds[i], &b, &cnt, &e);
    uint64_t cost = sweep(cnt, s, 0, PLAIN_LEN, 1000, 131072);
    if (cost > b.n + 65536) fail_msg("%s: first pass read %llu of %zu compressed bytes", all_kinds[i],
                                     (unsigned long long)cost, b.n);
    assert_int_equal(sweep(cnt, s, 0, PLAIN_LEN, 4096, 131072), 0);
    source_unref(s);
    source_unref(&cnt->base);
    free(b.p);
  }
}

/* Without a cache dir only the first MFS_DECOMP_MEM_CACHE bytes are kept; past
** them, sequential reads of odd sizes still decode the stream once (a cursor
** keeps its last chunk), and a second pass over the tail restarts from the
** nearest restart point, not from the beginning (zlib family). */
static void test_without_store(void **state) {
  (void)state;
  source_set_cache_dir("/nonexistent/modelfs-cache");
  for (size_t i = 0; i < sizeof all_kinds / sizeof *all_kinds; i++) {
    const char *kind = all_kinds[i];
    Buf b;
    Counting *cnt;
    Err e;
    Source *s = counted_decompress(kind, &b, &cnt, &e);
    uint64_t cost = sweep(cnt, s, 0, PLAIN_LEN, 100000, 100000);
    if (cost > b.n + 65536) fail_msg("%s: first pass read %llu of %zu compressed bytes", kind,
                                     (unsigned long long)cost, b.n);
    /* The kept head costs nothing. */
    assert_int_equal(sweep(cnt, s, 0, MFS_DECOMP_MEM_CACHE, 100000, 100000), 0);
    if (strcmp(kind, "zlib") == 0 || strcmp(kind, "gzip") == 0 || strcmp(kind, "deflate") == 0) {
      uint64_t tail = (uint64_t)3 << 19;   /* 1.5 MiB, past the first restart point */
      cost = sweep(cnt, s, PLAIN_LEN - tail, PLAIN_LEN, 100000, 100000);
      /* At most one spacing before the tail, plus the tail, at the stream's ratio. */
      uint64_t bound = (tail + MFS_RESTART_SPACING) * b.n / PLAIN_LEN * 5 / 4 + 2 * 65536;
      if (cost > bound) fail_msg("%s: second pass over the tail read %llu compressed bytes (bound %llu)",
                                 kind, (unsigned long long)cost, (unsigned long long)bound);
    }
    for (int k = 0; k < 40; k++) {
      size_t len = 1 + rnd() % 70000;
      expect_range(s, rnd() % (PLAIN_LEN - len), len);
    }
    source_unref(s);
    source_unref(&cnt->base);
    free(b.p);
  }
  source_set_cache_dir(NULL);
}

/* FUSE's worker threads take consecutive 128 KiB requests of one readahead
** window, so they arrive slightly out of order: still one pass over the stream. */
typedef struct SeqArg {
  Source *s;
  uint64_t *next;
  int bad;
} SeqArg;

static void *seq_thread(void *p) {
  SeqArg *a = p;
  uint8_t *tb = malloc(131072);
  for (;;) {
    uint64_t off = __atomic_fetch_add(a->next, 131072, __ATOMIC_RELAXED);
    if (off >= PLAIN_LEN) break;
    size_t len = PLAIN_LEN - off < 131072 ? (size_t)(PLAIN_LEN - off) : 131072;
    Err e;
    err_clear(&e);
    if (source_read(a->s, off, tb, len, &e) != MFS_OK || memcmp(tb, plain + off, len) != 0) a->bad++;
  }
  free(tb);
  return NULL;
}

static void test_threads_sequential(void **state) {
  (void)state;
  const char *kinds[] = {"zlib", "bz2", "lz4"};
  for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
    Buf b;
    Counting *cnt;
    Err e;
    Source *s = counted_decompress(kinds[i], &b, &cnt, &e);
    uint64_t next = 0;
    pthread_t th[4];
    SeqArg args[4];
    for (int k = 0; k < 4; k++) {
      args[k] = (SeqArg){s, &next, 0};
      pthread_create(&th[k], NULL, seq_thread, &args[k]);
    }
    for (int k = 0; k < 4; k++) {
      pthread_join(th[k], NULL);
      assert_int_equal(args[k].bad, 0);
    }
    if (cnt->bytes > b.n + 65536) fail_msg("%s: %llu of %zu compressed bytes read", kinds[i],
                                           (unsigned long long)cnt->bytes, b.n);
    source_unref(s);
    source_unref(&cnt->base);
    free(b.p);
  }
}

/* The spill file of a source in dir, found among our open descriptors; -1 if none. */
static int spill_fd_in(const char *dir) {
  for (int fd = 3; fd < 1024; fd++) {
    char link[64], target[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n <= 0) continue;
    target[n] = '\0';
    if (strncmp(target, dir, strlen(dir)) == 0 && target[strlen(dir)] == '/') return fd;
  }
  return -1;
}

/* Long runs of zeros (sparse weights, bombs) spill as holes: served as zeros,
** costing no disk, also when the stream ends in zeros. */
static void test_zero_runs(void **state) {
  (void)state;
  const size_t n = (size_t)8 << 20, data_end = (size_t)9 << 19, island = (size_t)6 << 20;
  uint8_t *src = calloc(1, n);
  memcpy(src, plain, data_end);
  src[island] = 1, src[island + 1] = 2, src[island + 2] = 3;
  char dir[] = "/tmp/modelfs-test-zero-XXXXXX";
  assert_non_null(mkdtemp(dir));
  source_set_cache_dir(dir);
  const char *kinds[] = {"zlib", "xz", "lz4"};
  uint8_t *got = malloc(1 << 20);
  for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
    Buf b = compress_buf(kinds[i], src, n);
    Source *raw = source_from_memory(b.p, b.n, "zeros.bin");
    Err e;
    err_clear(&e);
    Source *s = source_decompress(raw, kinds[i], &e);
    for (size_t off = 0; off < n; off += 65536) {
      assert_int_equal(source_read(s, off, got, 65536, &e), MFS_OK);
      assert_memory_equal(got, src + off, 65536);
    }
    size_t end = 7;
    assert_int_equal(s->ops->read(s, n, got, 1, &end, &e), MFS_OK);
    assert_int_equal(end, 0);
    uint64_t offs[] = {data_end - 1000, island - 70000, island - 1, n - 100000, MFS_DECOMP_MEM_CACHE - 10};
    for (size_t k = 0; k < sizeof offs / sizeof *offs; k++) {
      size_t len = n - offs[k] < 200000 ? n - offs[k] : 200000;
      assert_int_equal(source_read(s, offs[k], got, len, &e), MFS_OK);
      assert_memory_equal(got, src + offs[k], len);
    }
    int fd = spill_fd_in(dir);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal((uint64_t)st.st_size, n - MFS_DECOMP_MEM_CACHE);
    /* 0.5 MiB of data and a few partly zero chunks; the 3.5 MiB of zeros are holes. */
    if ((uint64_t)st.st_blocks * 512 > ((uint64_t)1 << 20))
      fail_msg("%s: spill file holds %llu bytes on disk", kinds[i], (unsigned long long)st.st_blocks * 512);
    source_unref(s);
    source_unref(raw);
    free(b.p);
  }
  free(got);
  free(src);
  source_set_cache_dir(NULL);
  assert_int_equal(rmdir(dir), 0);
}

/* The Adler-32 trailer is checked by our own sum (not zlib's): lengths around its
** 16-byte steps and 4 KiB reductions, high bytes (the sums' worst case) and
** mixed ones; a wrong trailer is corrupt. */
static void test_adler_trailer(void **state) {
  (void)state;
  const size_t lens[] = {0, 1, 15, 16, 17, 4095, 4096, 4097, 5552, 12293, 300007};
  uint8_t *src = malloc(300007);
  for (size_t i = 0; i < 300007; i++) src[i] = i % 3 ? 0xff : (uint8_t)(i * 7919 >> 5);
  uint8_t *out = malloc(300007 + 1);
  for (size_t li = 0; li < sizeof lens / sizeof *lens; li++) {
    for (int flip = 0; flip < 2; flip++) {
      Buf b = compress_buf("zlib", src, lens[li]);
      if (flip) b.p[b.n - 1 - (lens[li] % 4)] ^= 0x10;
      Source *raw = source_from_memory(b.p, b.n, "a.z");
      Err e;
      err_clear(&e);
      Source *s = source_decompress(raw, "zlib", &e);
      assert_non_null(s);
      size_t got = 0;
      MfsStatus st = s->ops->read(s, 0, out, lens[li] + 1, &got, &e);
      if (flip) {
        assert_int_equal(st, MFS_ECORRUPT);
        assert_non_null(strstr(e.msg, "incorrect data check"));
      } else {
        assert_int_equal(st, MFS_OK);
        assert_int_equal(got, lens[li]);
        if (lens[li]) assert_memory_equal(out, src, lens[li]);
      }
      source_unref(s);
      source_unref(raw);
      free(b.p);
    }
  }
  free(src);
  free(out);
}

/* reader_skip over a decompressor reads only the last byte it skips: what
** follows is still right, and a skip past the end is truncation at the end. */
static void test_reader_skip_stream(void **state) {
  (void)state;
  Buf b = compress_as("zlib");
  Source *raw = source_from_memory(b.p, b.n, "a.z");
  Err e;
  err_clear(&e);
  Source *s = source_decompress(raw, "zlib", &e);
  Reader r;
  assert_int_equal(reader_init(&r, s, 0, &e), MFS_OK);
  const uint8_t *p;
  assert_int_equal(reader_take(&r, 10, &p), MFS_OK);
  assert_memory_equal(p, plain, 10);
  assert_int_equal(reader_skip(&r, 20), MFS_OK);            /* inside the buffer */
  assert_int_equal(reader_take(&r, 4, &p), MFS_OK);
  assert_memory_equal(p, plain + 30, 4);
  assert_int_equal(reader_skip(&r, 300000), MFS_OK);        /* past it */
  assert_int_equal(reader_take(&r, 8, &p), MFS_OK);
  assert_memory_equal(p, plain + 300034, 8);
  uint8_t copy[100];
  assert_int_equal(reader_copy(&r, copy, sizeof copy), MFS_OK);
  assert_memory_equal(copy, plain + 300042, sizeof copy);
  assert_int_equal(reader_skip(&r, PLAIN_LEN), MFS_ETRUNC);
  assert_int_equal(e.offset, PLAIN_LEN);
  reader_done(&r);
  source_unref(s);
  source_unref(raw);
  free(b.p);
}

static void test_unknown_kind(void **state) {
  (void)state;
  Source *raw = source_from_memory("abc", 3, "x");
  Err e;
  err_clear(&e);
  assert_null(source_decompress(raw, "zstd", &e));
  assert_int_equal(e.code, MFS_EUNSUPPORTED);
  source_unref(raw);
}

/* Empty and tiny streams. */
static void test_tiny(void **state) {
  (void)state;
  uint8_t out[64];
  uLongf n = sizeof out;
  assert_int_equal(compress2(out, &n, (const Bytef *)"", 0, 3), Z_OK);
  Source *raw = source_from_memory(out, n, "empty.z");
  Err e;
  err_clear(&e);
  Source *s = source_decompress(raw, "zlib", &e);
  uint8_t x;
  size_t got = 5;
  assert_int_equal(s->ops->read(s, 0, &x, 1, &got, &e), MFS_OK);
  assert_int_equal(got, 0);
  assert_int_equal(s->size, 0);
  assert_int_equal(source_read(s, 0, &x, 1, &e), MFS_ETRUNC);
  source_unref(s);
  source_unref(raw);
}

/* A file Source proves every read is of the version opened: a touch, an append
** or the same bytes written again read on (never past the size opened); other
** bytes in the opened range make every later read fail. */
static void write_file(const char *path, const void *data, size_t n, const char *mode) {
  FILE *f = fopen(path, mode);
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, n, f), n);
  fclose(f);
}

static void test_file_versions(void **state) {
  (void)state;
  char path[] = "/tmp/modelfs-test-versions-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  size_t n = 3 * MFS_PROVE_BLOCK + 123;
  uint8_t *data = malloc(n), *got = malloc(n);
  for (size_t i = 0; i < n; i++) data[i] = (uint8_t)(i * 7 + (i >> 12));
  write_file(path, data, n, "wb");
  Err e;
  err_clear(&e);
  Source *s = source_open_file(path, &e);
  assert_non_null(s);
  assert_int_equal(source_read(s, 0, got, 4096, &e), MFS_OK);
  usleep(20000);
  assert_int_equal(utime(path, NULL), 0);                         /* touch */
  assert_int_equal(source_read(s, 4096, got + 4096, n - 4096, &e), MFS_OK);
  assert_memory_equal(got, data, n);
  write_file(path, "tail", 4, "ab");                               /* append */
  size_t k = 0;
  assert_int_equal(s->ops->read(s, n - 10, got, 100, &k, &e), MFS_OK);
  assert_int_equal(k, 10);                                         /* not past the size opened */
  assert_memory_equal(got, data + n - 10, 10);
  write_file(path, data, n, "r+b");                                /* same bytes again */
  assert_int_equal(source_read(s, 0, got, n, &e), MFS_OK);
  assert_memory_equal(got, data, n);
  data[2 * MFS_PROVE_BLOCK + 5] ^= 1;                              /* one byte differs */
  write_file(path, data, n, "r+b");
  assert_int_equal(source_read(s, 0, got, 16, &e), MFS_EIO);
  assert_non_null(strstr(e.msg, "rewritten"));
  data[2 * MFS_PROVE_BLOCK + 5] ^= 1;                              /* and back: still broken */
  write_file(path, data, n, "r+b");
  assert_int_equal(source_read(s, 0, got, 16, &e), MFS_EIO);
  source_unref(s);
  unlink(path);
  free(data);
  free(got);
}

/* A file past MFS_PROVE_MAX is not summed at open: only the ranges asked for
** (through a slice, as an array inside the file) survive a touch; bytes never
** summed fail after it, and a summed byte that differs breaks the source. */
static void test_big_file_sums(void **state) {
  (void)state;
  char path[] = "/tmp/modelfs-test-bigsums-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  size_t n = (size_t)MFS_PROVE_MAX + 3 * MFS_PROVE_BLOCK + 99, at = 10 * MFS_PROVE_BLOCK + 7;
  uint8_t *data = malloc(n), *got = malloc(2 * MFS_PROVE_BLOCK);
  for (size_t i = 0; i < n; i++) data[i] = (uint8_t)(i * 13 + (i >> 16));
  write_file(path, data, n, "wb");
  Err e;
  err_clear(&e);
  Source *s = source_open_file(path, &e);
  assert_non_null(s);
  Source *arr = source_slice(s, at, 2 * MFS_PROVE_BLOCK, "arr");  /* blocks 10-12 */
  assert_int_equal(source_sum(arr, 0, arr->size, &e), MFS_OK);
  usleep(20000);
  assert_int_equal(utime(path, NULL), 0);                         /* touch */
  assert_int_equal(source_read(arr, 0, got, arr->size, &e), MFS_OK);
  assert_memory_equal(got, data + at, arr->size);
  assert_int_equal(source_read(s, 0, got, 16, &e), MFS_EIO);     /* never summed */
  assert_non_null(strstr(e.msg, "summed"));
  err_clear(&e);
  assert_int_equal(source_sum(s, 20 * MFS_PROVE_BLOCK, 16, &e), MFS_EIO);
  err_clear(&e);
  write_file(path, "tail", 4, "ab");                               /* append */
  assert_int_equal(source_read(arr, 5, got, 4096, &e), MFS_OK);
  assert_memory_equal(got, data + at + 5, 4096);
  data[11 * MFS_PROVE_BLOCK] ^= 1;                                 /* a summed byte differs */
  write_file(path, data, n, "r+b");
  err_clear(&e);
  assert_int_equal(source_read(arr, 5, got, 16, &e), MFS_EIO);
  assert_non_null(strstr(e.msg, "rewritten"));
  source_unref(arr);
  source_unref(s);
  unlink(path);
  free(data);
  free(got);
}

static int setup(void **state) {
  (void)state;
  make_plain();
  buf = malloc(1 << 20);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  free(plain);
  free(buf);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_zlib),      cmocka_unit_test(test_gzip),
    cmocka_unit_test(test_deflate),   cmocka_unit_test(test_bz2),
    cmocka_unit_test(test_xz),        cmocka_unit_test(test_lzma),
    cmocka_unit_test(test_lz4),       cmocka_unit_test(test_truncated),
    cmocka_unit_test(test_corrupt),   cmocka_unit_test(test_sniff),
    cmocka_unit_test(test_zfile),     cmocka_unit_test(test_threads),
    cmocka_unit_test(test_cache_dir), cmocka_unit_test(test_unknown_kind),
    cmocka_unit_test(test_tiny),      cmocka_unit_test(test_kernel_reads),
    cmocka_unit_test(test_without_store), cmocka_unit_test(test_threads_sequential),
    cmocka_unit_test(test_zero_runs),
    cmocka_unit_test(test_adler_trailer), cmocka_unit_test(test_reader_skip_stream),
    cmocka_unit_test(test_file_versions), cmocka_unit_test(test_big_file_sums),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
