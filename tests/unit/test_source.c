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
#include <unistd.h>
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

static Buf deflate_with(int wbits) {
  z_stream z;
  memset(&z, 0, sizeof z);
  assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY), Z_OK);
  Buf b;
  b.p = malloc(deflateBound(&z, PLAIN_LEN) + 64);
  z.next_in = plain;
  z.avail_in = PLAIN_LEN;
  z.next_out = b.p;
  z.avail_out = (uInt)(deflateBound(&z, PLAIN_LEN) + 64);
  assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
  b.n = z.total_out;
  deflateEnd(&z);
  return b;
}

static Buf bz2_of(void) {
  Buf b;
  unsigned n = PLAIN_LEN + PLAIN_LEN / 50 + 1024;
  b.p = malloc(n);
  assert_int_equal(BZ2_bzBuffToBuffCompress((char *)b.p, &n, (char *)plain, PLAIN_LEN, 9, 0, 0), BZ_OK);
  b.n = n;
  return b;
}

static Buf xz_of(int alone) {
  Buf b;
  size_t cap = PLAIN_LEN + PLAIN_LEN / 2 + 4096;
  b.p = malloc(cap);
  b.n = 0;
  if (!alone) {
    assert_int_equal(lzma_easy_buffer_encode(1, LZMA_CHECK_CRC64, NULL, plain, PLAIN_LEN, b.p, &b.n, cap), LZMA_OK);
    return b;
  }
  lzma_stream s = LZMA_STREAM_INIT;
  lzma_options_lzma opt;
  lzma_lzma_preset(&opt, 1);
  assert_int_equal(lzma_alone_encoder(&s, &opt), LZMA_OK);
  s.next_in = plain;
  s.avail_in = PLAIN_LEN;
  s.next_out = b.p;
  s.avail_out = cap;
  assert_int_equal(lzma_code(&s, LZMA_FINISH), LZMA_STREAM_END);
  b.n = s.total_out;
  lzma_end(&s);
  return b;
}

static Buf lz4_of(int checksum) {
  LZ4F_preferences_t prefs;
  memset(&prefs, 0, sizeof prefs);
  prefs.frameInfo.contentChecksumFlag = checksum ? LZ4F_contentChecksumEnabled : LZ4F_noContentChecksum;
  Buf b;
  size_t cap = LZ4F_compressFrameBound(PLAIN_LEN, &prefs);
  b.p = malloc(cap);
  b.n = LZ4F_compressFrame(b.p, cap, plain, PLAIN_LEN, &prefs);
  assert_false(LZ4F_isError(b.n));
  return b;
}

static Buf compress_as(const char *kind) {
  if (strcmp(kind, "zlib") == 0) return deflate_with(15);
  if (strcmp(kind, "gzip") == 0) return deflate_with(31);
  if (strcmp(kind, "deflate") == 0) return deflate_with(-15);
  if (strcmp(kind, "bz2") == 0) return bz2_of();
  if (strcmp(kind, "xz") == 0) return xz_of(0);
  if (strcmp(kind, "lzma") == 0) return xz_of(1);
  return lz4_of(1);
}

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

static const SourceOps counting_ops = {counting_read, counting_destroy};

static Counting *counting_over(const Buf *b) {
  Counting *c = calloc(1, sizeof *c);
  c->inner = source_from_memory(b->p, b->n, "test.bin");
  source_init(&c->base, &counting_ops, "test.bin", b->n);
  return c;
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
  Buf b = compress_as(kind);
  Counting *cnt = counting_over(&b);
  Err e;
  err_clear(&e);
  Source *s = source_decompress(&cnt->base, kind, &e);
  assert_non_null(s);
  assert_int_equal(s->size, SOURCE_SIZE_UNKNOWN);
  /* One sequential pass, as a decoder makes it. */
  for (size_t off = 0; off < PLAIN_LEN; off += 65536) expect_range(s, off, 65536);
  uint64_t first_pass = cnt->bytes;
  assert_true(first_pass >= b.n);
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
  /* Restart points / the spill store: a late read after the first pass must not
  ** decompress from the beginning. */
  uint64_t before = cnt->bytes;
  expect_range(s, PLAIN_LEN - 5000, 4000);
  uint64_t cost = cnt->bytes - before;
  if (strcmp(kind, "zlib") == 0 || strcmp(kind, "gzip") == 0 || strcmp(kind, "deflate") == 0)
    assert_true(cost < b.n / 2);
  else
    assert_int_equal(cost, 0);
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
    cmocka_unit_test(test_tiny),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
