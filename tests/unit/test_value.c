/*
** test_value.c -- the arena: every block zeroed and 8-aligned whatever came
** before it, blocks never overlap, a small graph costs a small first chunk
** (the cache counts arena_bytes), and chunks grow geometrically so a large
** graph takes few of them and wastes under half.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "modelfs/value.h"

/* Allocate, check zero and alignment, then scribble so that a block handed out
** twice (or a chunk not zeroed) shows up in a later check. */
static unsigned char *take(Arena *a, size_t n) {
  unsigned char *p = arena_alloc(a, n);
  assert_non_null(p);
  assert_int_equal((uintptr_t)p % 8, 0);
  for (size_t i = 0; i < n; i++) assert_int_equal(p[i], 0);
  memset(p, 0xa5, n ? n : 1);
  return p;
}

static void test_small_graph_small_arena(void **state) {
  (void)state;
  Arena *a = arena_new();
  assert_non_null(a);
  for (int i = 0; i < 40; i++) take(a, 40);     /* 40 Values */
  assert_true(arena_bytes(a) <= 8 * 1024);
  assert_non_null(arena_strndup(a, "abc", 3));
  arena_free(a);
}

static void test_blocks_zeroed_aligned_disjoint(void **state) {
  (void)state;
  Arena *a = arena_new();
  size_t total = 0;
  unsigned char *prev = NULL;
  size_t prevn = 0;
  for (size_t i = 0; i < 5000; i++) {
    size_t n = (i * 37) % 300;                  /* 0..299, odd sizes included */
    if (i % 500 == 499) n = 70000 + i;          /* a block past a chunk's quarter */
    unsigned char *p = take(a, n);
    if (prev) assert_int_equal(prev[prevn ? prevn - 1 : 0], 0xa5);   /* not overwritten */
    prev = p;
    prevn = n;
    total += n;
  }
  /* Geometric chunks: what is held is the bytes asked for plus bounded slack. */
  assert_true(arena_bytes(a) >= total);
  assert_true(arena_bytes(a) <= 2 * total + 64 * 1024);
  arena_free(a);
}

static void test_large_graph_few_chunks(void **state) {
  (void)state;
  Arena *a = arena_new();
  size_t total = 0;
  for (int i = 0; i < 200000; i++) {            /* ~8 MB of 40-byte Values */
    take(a, 40);
    total += 40;
  }
  assert_true(arena_bytes(a) <= total + total / 2 + 256 * 1024);
  arena_free(a);
}

static void test_memdup_and_strndup(void **state) {
  (void)state;
  Arena *a = arena_new();
  char *s = arena_strndup(a, "hello world", 5);
  assert_string_equal(s, "hello");
  uint8_t bytes[3] = {1, 2, 3};
  uint8_t *b = arena_memdup(a, bytes, 3);
  assert_memory_equal(b, bytes, 3);
  assert_non_null(arena_alloc(a, 0));           /* zero bytes still gives a block */
  arena_free(a);
  arena_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_small_graph_small_arena),
    cmocka_unit_test(test_blocks_zeroed_aligned_disjoint),
    cmocka_unit_test(test_large_graph_few_chunks),
    cmocka_unit_test(test_memdup_and_strndup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
