/*
** test_reader.c -- the Reader's window and the file source's read tally.
**
** A source that records every read it is asked for stands under the Reader:
** the window starts at READER_MIN, doubles while the decoder reads on, starts
** small again after a payload is stepped over, reads end on page boundaries,
** and a run of g bytes costs fewer than 2g + READER_MIN bytes in at most
** 6 + g / (READER_BUF - READER_MIN) reads (source.h).  A skip over a source of
** unknown size goes in MFS_SKIP_STEP steps and stops at the stop flag.  A file
** source counts each pread, the sums' pass included; under SOURCE_PROVE_SERVED
** it reads nothing at open, sums what it served as it serves it (a gap before a
** read is the only extra read) and, when the file moved, reads on where every
** byte served is still in place.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "modelfs/limits.h"
#include "modelfs/source.h"

#define MAX_LOG 4096

typedef struct LogSource {
  Source base;
  size_t n;
  uint64_t off[MAX_LOG];
  size_t len[MAX_LOG];
  uint64_t bytes;
} LogSource;

static MfsStatus log_read(Source *s, uint64_t off, void *buf, size_t len, size_t *got, Err *e) {
  (void)e;
  LogSource *l = (LogSource *)s;
  size_t n = off >= s->size ? 0 : (s->size - off < len ? (size_t)(s->size - off) : len);
  memset(buf, 0x2a, n);
  if (l->n < MAX_LOG) {
    l->off[l->n] = off;
    l->len[l->n] = len;
  }
  l->n++;
  l->bytes += n;
  *got = n;
  return MFS_OK;
}

static void log_destroy(Source *s) { free(s); }

static const SourceOps log_ops = {log_read, log_destroy, NULL};

static LogSource *log_new(uint64_t size) {
  LogSource *l = calloc(1, sizeof *l);
  assert_non_null(l);
  source_init(&l->base, &log_ops, "log", size);
  return l;
}

/* Take n bytes a few at a time, as the pickle VM does. */
static void take_run(Reader *r, uint64_t n) {
  while (n > 0) {
    size_t k = n < 9 ? (size_t)n : 9;
    const uint8_t *p;
    assert_int_equal(reader_take(r, k, &p), MFS_OK);
    n -= k;
  }
}

static void test_window_grows_while_reading_on(void **state) {
  (void)state;
  LogSource *l = log_new(1 << 20);
  Err e;
  err_clear(&e);
  Reader r;
  assert_int_equal(reader_init(&r, &l->base, 0, &e), MFS_OK);
  take_run(&r, 200000);
  assert_true(l->n >= 5);
  assert_int_equal(l->len[0], READER_MIN);
  /* Each read asks for twice the last, up to the buffer, follows on without
  ** overlap and ends on a page boundary. */
  for (size_t i = 1; i < l->n; i++) {
    assert_int_equal(l->off[i], l->off[i - 1] + l->len[i - 1]);
    assert_true(l->len[i] <= READER_BUF);
    assert_int_equal((l->off[i] + l->len[i]) % READER_MIN, 0);
  }
  assert_int_equal(l->len[1], READER_MIN * 2);
  assert_true(l->len[4] >= READER_BUF - READER_MIN);   /* the buffer, less what was kept */
  assert_true(l->bytes < 2 * 200000 + READER_MIN);
  reader_done(&r);
  source_unref(&l->base);
}

static void test_skip_starts_small(void **state) {
  (void)state;
  LogSource *l = log_new(64 << 20);
  Err e;
  err_clear(&e);
  Reader r;
  assert_int_equal(reader_init(&r, &l->base, 0, &e), MFS_OK);
  take_run(&r, 100000);                      /* the window is at READER_BUF now */
  size_t k = l->n;
  assert_int_equal(reader_skip(&r, 1 << 20), MFS_OK);
  assert_int_equal(l->n, k);                  /* a skip reads nothing */
  uint64_t at = 100000 + (1 << 20), page_end = (at / READER_MIN + 1) * READER_MIN;
  take_run(&r, 10);
  /* The first read after the skip goes to the end of its page, no further. */
  assert_int_equal(l->n, k + 1);
  assert_int_equal(l->off[k], at);
  assert_int_equal(l->off[k] + l->len[k], page_end);
  /* Reading on: a page, then two, from page boundaries. */
  take_run(&r, page_end - at - 10 + 1);
  assert_int_equal(l->n, k + 2);
  assert_int_equal(l->off[k + 1], page_end);
  assert_int_equal(l->len[k + 1], READER_MIN);
  take_run(&r, READER_MIN);
  assert_int_equal(l->n, k + 3);
  assert_int_equal(l->len[k + 2], 2 * READER_MIN);
  /* A small skip inside the buffer neither reads nor shrinks the window. */
  assert_int_equal(reader_skip(&r, 50), MFS_OK);
  assert_int_equal(l->n, k + 3);
  take_run(&r, 2 * READER_MIN);
  assert_int_equal(l->n, k + 4);
  assert_int_equal(l->len[k + 3], 4 * READER_MIN);
  /* A skip of READER_MIN or more inside the buffer starts small again. */
  take_run(&r, 100);
  assert_int_equal(reader_skip(&r, READER_MIN), MFS_OK);
  assert_int_equal(l->n, k + 4);
  take_run(&r, 3 * READER_MIN);
  assert_int_equal(l->n, k + 5);
  assert_int_equal(l->len[k + 4], READER_MIN);
  reader_done(&r);
  source_unref(&l->base);
}

/* Runs of pickle between payloads the decoder steps over: the bound of source.h
** holds for every run length, from a few bytes to several buffers. */
static void test_runs_cost_what_source_h_says(void **state) {
  (void)state;
  static const uint64_t runs[] = {1, 190, 4095, 4096, 4097, 9000, 65535, 65536, 70000, 300000};
  LogSource *l = log_new(256 << 20);
  Err e;
  err_clear(&e);
  Reader r;
  assert_int_equal(reader_init(&r, &l->base, 0, &e), MFS_OK);
  uint64_t bound_bytes = 0, bound_reads = 0;
  for (size_t i = 0; i < sizeof runs / sizeof *runs; i++) {
    uint64_t n0 = l->n, b0 = l->bytes;
    take_run(&r, runs[i]);
    assert_int_equal(reader_skip(&r, 200000 + i), MFS_OK);
    uint64_t reads = l->n - n0, bytes = l->bytes - b0;
    assert_true(bytes < 2 * runs[i] + READER_MIN);
    assert_true(reads <= 6 + runs[i] / (READER_BUF - READER_MIN));
    bound_bytes += 2 * runs[i] + READER_MIN;
    bound_reads += 6 + runs[i] / (READER_BUF - READER_MIN);
  }
  assert_true(l->bytes < bound_bytes);
  assert_true(l->n <= bound_reads);
  reader_done(&r);
  source_unref(&l->base);
}

/* ---- a skip over a source of unknown size (a decompressor) ------------------------- */

/* A log source whose every read raises a stop flag: SIGTERM arriving while the
** first step of a skip is inflated. */
typedef struct StopSource {
  LogSource log;
  _Atomic int stop;
  int raise;
} StopSource;

static MfsStatus stop_read(Source *s, uint64_t off, void *buf, size_t len, size_t *got, Err *e) {
  StopSource *t = (StopSource *)s;
  if (t->raise) atomic_store(&t->stop, 1);
  return log_read(s, off, buf, len, got, e);
}

static const SourceOps stop_ops = {stop_read, log_destroy, NULL};

static void test_skip_steps_and_stops(void **state) {
  (void)state;
  for (int raise = 0; raise <= 1; raise++) {
    StopSource *t = calloc(1, sizeof *t);
    assert_non_null(t);
    source_init(&t->log.base, &stop_ops, "stop", SOURCE_SIZE_UNKNOWN);
    t->raise = raise;
    Err e;
    err_clear(&e);
    Reader r;
    assert_int_equal(reader_init(&r, &t->log.base, 0, &e), MFS_OK);
    r.stop = &t->stop;
    MfsStatus st = reader_skip(&r, 3 * MFS_SKIP_STEP + 1);
    if (raise) {             /* one step produced, then the flag: nothing skipped */
      assert_int_equal(st, MFS_ELIMIT);
      assert_int_equal(t->log.n, 1);
      assert_int_equal(reader_pos(&r), 0);
    } else {                 /* the last byte of each step, the end last */
      assert_int_equal(st, MFS_OK);
      assert_int_equal(t->log.n, 4);
      for (size_t i = 0; i < 3; i++) assert_int_equal(t->log.off[i], (i + 1) * MFS_SKIP_STEP - 1);
      assert_int_equal(t->log.off[3], 3 * MFS_SKIP_STEP);
      assert_int_equal(reader_pos(&r), 3 * MFS_SKIP_STEP + 1);
    }
    reader_done(&r);
    source_unref(&t->log.base);
  }
}

/* The pause hook (the mount's decode pool parks a long decode there while
** requests wait): called before every step of a long skip, so a skip of
** gigabytes, no opcode running, steps aside as opcodes do.  Records the
** source reads made before each call. */
typedef struct Pauses {
  LogSource *log;
  size_t n;
  size_t reads_before[8];
} Pauses;

static void count_pause(void *ctx) {
  Pauses *p = ctx;
  if (p->n < 8) p->reads_before[p->n] = p->log->n;
  p->n++;
}

static void test_skip_pauses_before_each_step(void **state) {
  (void)state;
  LogSource *log = log_new(SOURCE_SIZE_UNKNOWN);
  Err e;
  err_clear(&e);
  Reader r;
  assert_int_equal(reader_init(&r, &log->base, 0, &e), MFS_OK);
  Pauses p = {log, 0, {0}};
  r.pause = (PauseHook){count_pause, &p};
  assert_int_equal(reader_skip(&r, 3 * MFS_SKIP_STEP + 1), MFS_OK);
  assert_int_equal(p.n, 4);
  for (size_t i = 0; i < 4; i++) assert_int_equal(p.reads_before[i], i);
  reader_done(&r);
  source_unref(&log->base);
}

/* ---- the file source's tally ------------------------------------------------------ */

static char *temp_file(size_t size) {
  char *path = strdup("/tmp/modelfs-test-reader-XXXXXX");
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  uint8_t *buf = malloc(size);
  for (size_t i = 0; i < size; i++) buf[i] = (uint8_t)(i * 7);
  assert_int_equal(write(fd, buf, size), (ssize_t)size);
  close(fd);
  free(buf);
  return path;
}

static void test_file_reads_are_tallied(void **state) {
  (void)state;
  size_t size = (size_t)MFS_PROVE_BLOCK * 2 + 1000;
  char *path = temp_file(size);
  SourceTally mount = {0, 0, NULL}, model = {0, 0, &mount};
  Err e;
  err_clear(&e);
  SourceFileOpts none = {&model, SOURCE_PROVE_NONE};
  Source *s = source_open_file_with(path, &none, &e);
  assert_non_null(s);
  assert_int_equal(model.reads, 0);          /* no sums: nothing read at open */
  uint8_t buf[5000];
  assert_int_equal(source_read(s, 100, buf, sizeof buf, &e), MFS_OK);
  assert_int_equal(model.reads, 1);
  assert_int_equal(model.bytes, sizeof buf);
  assert_int_equal(mount.reads, 1);          /* counted up the chain */
  assert_int_equal(mount.bytes, sizeof buf);
  source_unref(s);

  /* Sums at open: one pass over the file in MFS_PROVE_BLOCK reads. */
  SourceTally t = {0, 0, NULL};
  SourceFileOpts open_sums = {&t, SOURCE_PROVE_OPEN};
  s = source_open_file_with(path, &open_sums, &e);
  assert_non_null(s);
  assert_int_equal(t.reads, 3);
  assert_int_equal(t.bytes, size);
  uint64_t r, b;
  source_tally_get(&t, &r, &b);
  assert_int_equal(r, 3);
  assert_int_equal(b, size);
  source_unref(s);
  unlink(path);
  free(path);
}

/* A file past MFS_PROVE_MAX (sparse: no disk) is summed at open under neither
** mode; after a touch, reads of its last block go on only under
** SOURCE_PROVE_SERVED (its bytes before were never served). */
static void test_served_past_prove_max(void **state) {
  (void)state;
  char *path = strdup("/tmp/modelfs-test-reader-XXXXXX");
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  uint64_t size = MFS_PROVE_MAX + MFS_PROVE_BLOCK + 10;
  assert_int_equal(ftruncate(fd, (off_t)size), 0);
  close(fd);
  for (int served = 0; served <= 1; served++) {
    SourceTally t = {0, 0, NULL};
    SourceFileOpts o = {&t, served ? SOURCE_PROVE_SERVED : SOURCE_PROVE_OPEN};
    Err e;
    err_clear(&e);
    Source *s = source_open_file_with(path, &o, &e);
    assert_non_null(s);
    assert_int_equal(t.bytes, 0);
    struct timespec later[2] = {{0, UTIME_OMIT}, {12345, 0}};   /* a touch: mtime only */
    assert_int_equal(utimensat(AT_FDCWD, path, later, 0), 0);
    uint8_t buf[10];
    assert_int_equal(source_read(s, size - 10, buf, sizeof buf, &e), served ? MFS_OK : MFS_EIO);
    source_unref(s);
  }
  unlink(path);
  free(path);
}

static void poke(const char *path, uint64_t at, uint8_t byte) {
  int fd = open(path, O_WRONLY);
  assert_true(fd >= 0);
  assert_int_equal(pwrite(fd, &byte, 1, (off_t)at), 1);
  close(fd);
}

/* PATH opened proven by the bytes it serves, its reads counted in T. */
static Source *open_served(const char *path, SourceTally *t) {
  SourceFileOpts o = {t, SOURCE_PROVE_SERVED};
  Err e;
  err_clear(&e);
  Source *s = source_open_file_with(path, &o, &e);
  assert_non_null(s);
  return s;
}

/* SOURCE_PROVE_SERVED: reads in order cost their bytes only; a read past a
** block's served prefix sums the gap first; a touch costs a re-read of what was
** served; a byte never served changed in place is read as the file holds it now,
** a byte served changed fails every later read. */
static void test_served_sums_what_was_served(void **state) {
  (void)state;
  size_t size = (size_t)MFS_PROVE_MAX + MFS_PROVE_BLOCK * 3 + 100, B = MFS_PROVE_BLOCK;
  char *path = temp_file(size);
  SourceTally t = {0, 0, NULL};
  Source *s = open_served(path, &t);
  Err e;
  err_clear(&e);
  assert_int_equal(t.bytes, 0);
  uint8_t buf[5000];
  assert_int_equal(source_read(s, 0, buf, 1000, &e), MFS_OK);
  assert_int_equal(source_read(s, 1000, buf, 4000, &e), MFS_OK);
  assert_int_equal(t.bytes, 5000);                            /* in order: no extra read */
  assert_int_equal(source_read(s, B + 200, buf, 100, &e), MFS_OK);
  assert_int_equal(t.bytes, 5000 + 200 + 100);                /* block 1's gap first */
  assert_int_equal(buf[0], (uint8_t)((B + 200) * 7));
  struct timespec later[2] = {{0, UTIME_OMIT}, {12345, 0}};   /* a touch: mtime only */
  assert_int_equal(utimensat(AT_FDCWD, path, later, 0), 0);
  uint64_t before = t.bytes;
  assert_int_equal(source_read(s, 2 * B, buf, 100, &e), MFS_OK);
  assert_int_equal(buf[0], (uint8_t)(2 * B * 7));
  assert_int_equal(t.bytes - before, 100 + 5300 + 100);       /* read, proof, read again */
  poke(path, 3 * B + 50, 0xAB);                               /* never served */
  assert_int_equal(source_read(s, 3 * B + 40, buf, 20, &e), MFS_OK);
  assert_int_equal(buf[10], 0xAB);                            /* the file as it is now */
  assert_int_equal(buf[9], (uint8_t)((3 * B + 49) * 7));
  poke(path, 10, 0xCD);                                       /* served: a rewrite */
  struct timespec other[2] = {{0, UTIME_OMIT}, {23456, 0}};   /* seen whatever the clock */
  assert_int_equal(utimensat(AT_FDCWD, path, other, 0), 0);
  assert_int_equal(source_read(s, 3 * B, buf, 10, &e), MFS_EIO);
  assert_int_equal(source_read(s, 10, buf, 1, &e), MFS_EIO);
  source_unref(s);
  unlink(path);
  free(path);
}

static void append_byte(const char *path) {
  int fd = open(path, O_WRONLY | O_APPEND);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "x", 1), 1);
  close(fd);
}

/* SOURCE_PROVE_SERVED and a file grown since it was opened: the bytes not served
** yet may be those opened (an append) or not (cut, rewritten, grown), so it reads
** on only when every block is summed -- a file up to MFS_PROVE_MAX is, at open. */
static void test_served_grown_reads_on_only_when_all_summed(void **state) {
  (void)state;
  for (int big = 0; big <= 1; big++) {
    size_t size = big ? (size_t)MFS_PROVE_MAX + 100 : (size_t)MFS_PROVE_BLOCK * 2 + 100;
    char *path = temp_file(size);
    SourceTally t = {0, 0, NULL};
    Source *s = open_served(path, &t);
    Err e;
    err_clear(&e);
    assert_int_equal(t.bytes, big ? 0 : size);                /* small: summed at open */
    uint8_t buf[100];
    assert_int_equal(source_read(s, 0, buf, sizeof buf, &e), MFS_OK);
    append_byte(path);
    assert_int_equal(source_read(s, size - 100, buf, sizeof buf, &e), big ? MFS_EIO : MFS_OK);
    if (!big) assert_int_equal(buf[99], (uint8_t)((size - 1) * 7));
    source_unref(s);
    unlink(path);
    free(path);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_window_grows_while_reading_on),
    cmocka_unit_test(test_skip_starts_small),
    cmocka_unit_test(test_runs_cost_what_source_h_says),
    cmocka_unit_test(test_file_reads_are_tallied),
    cmocka_unit_test(test_skip_steps_and_stops),
    cmocka_unit_test(test_served_past_prove_max),
    cmocka_unit_test(test_served_sums_what_was_served),
    cmocka_unit_test(test_served_grown_reads_on_only_when_all_summed),
    cmocka_unit_test(test_skip_pauses_before_each_step),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
