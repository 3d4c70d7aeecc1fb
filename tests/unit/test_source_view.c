/*
** test_source_view.c -- strided and widening Sources (PyTorch tensor views,
** bfloat16/float8 as float32) against a plain index computation and the values
** the OCP float8 specification gives for its landmark codes.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "modelfs/limits.h"
#include "modelfs/source.h"

static float f32_at(Source *s, uint64_t i) {
  float f;
  Err e;
  err_clear(&e);
  assert_int_equal(source_read(s, i * 4, &f, 4, &e), MFS_OK);
  return f;
}

/* Every C-order element of a strided view equals the element the strides name,
** read whole and at every odd offset and length. */
static void check_view(uint32_t *store, size_t n, uint64_t base, int ndim, const uint64_t *shape,
                       const int64_t *stride) {
  Source *in = source_from_memory(store, n * 4, "store");
  Source *v = source_strided(in, base * 4, 4, ndim, shape, stride, "view");
  uint64_t count = 1;
  for (int d = 0; d < ndim; d++) count *= shape[d];
  assert_int_equal(v->size, count * 4);
  uint32_t *want = malloc(count * 4 + 1), *got = malloc(count * 4 + 1);
  for (uint64_t k = 0; k < count; k++) {
    uint64_t rest = k, at = base;
    for (int d = ndim; d-- > 0;) {
      at += (rest % shape[d]) * (uint64_t)stride[d];
      rest /= shape[d];
    }
    want[k] = store[at];
  }
  Err e;
  err_clear(&e);
  assert_int_equal(source_read(v, 0, got, count * 4, &e), MFS_OK);
  assert_memory_equal(got, want, count * 4);
  for (uint64_t off = 1; off < count * 4; off += 7) {
    size_t len = (size_t)((count * 4 - off) < 13 ? count * 4 - off : 13);
    assert_int_equal(source_read(v, off, got, len, &e), MFS_OK);
    assert_memory_equal(got, (uint8_t *)want + off, len);
  }
  free(want);
  free(got);
  source_unref(v);
  source_unref(in);
}

static void test_strided_views(void **state) {
  (void)state;
  enum { N = 4096 };
  uint32_t *store = malloc(N * 4);
  for (uint32_t i = 0; i < N; i++) store[i] = i * 2654435761u;
  uint64_t t_shape[2] = {6, 4};
  int64_t t_stride[2] = {1, 6};              /* a (4, 6) matrix transposed */
  check_view(store, N, 0, 2, t_shape, t_stride);
  uint64_t s_shape[2] = {3, 3};
  int64_t s_stride[2] = {6, 2};              /* base[1:, ::2] */
  check_view(store, N, 6, 2, s_shape, s_stride);
  uint64_t p_shape[3] = {8, 16, 32};
  int64_t p_stride[3] = {1, 256, 8};         /* a permuted 3-D block */
  check_view(store, N, 0, 3, p_shape, p_stride);
  uint64_t b_shape[2] = {5, 3};
  int64_t b_stride[2] = {0, 1};              /* a broadcast row */
  check_view(store, N, 100, 2, b_shape, b_stride);
  free(store);
}

/* A view whose rows lie further apart than the gather window is read run by run. */
static void test_strided_wide_view(void **state) {
  (void)state;
  size_t rows = 4, row_elems = MFS_MAX_GATHER_WINDOW / 4;   /* 4 rows, each a window apart */
  size_t n = rows * row_elems;
  uint32_t *store = malloc(n * 4);
  for (size_t i = 0; i < n; i++) store[i] = (uint32_t)i;
  uint64_t shape[2] = {rows, 3};
  int64_t stride[2] = {(int64_t)row_elems, 1};
  check_view(store, n, 5, 2, shape, stride);
  free(store);
}

static void test_bfloat16_widening(void **state) {
  (void)state;
  float vals[] = {0.0f, -0.0f, 1.0f, -2.5f, 3.140625f, INFINITY, -INFINITY, 1e-40f, 65504.0f};
  size_t n = sizeof vals / sizeof *vals;
  uint16_t raw[16];
  for (size_t i = 0; i < n; i++) {
    uint32_t u;
    memcpy(&u, &vals[i], 4);
    raw[i] = (uint16_t)(u >> 16);   /* every value above is exact in bfloat16's top half */
  }
  Source *in = source_from_memory(raw, n * 2, "bf16");
  Source *w = source_widen(in, "bfloat16", "f32");
  assert_int_equal(w->size, n * 4);
  for (size_t i = 0; i < n; i++) {
    float f = f32_at(w, i);
    uint32_t a, b;
    memcpy(&a, &f, 4);
    memcpy(&b, &vals[i], 4);
    assert_int_equal(a & 0xffff0000u, b & 0xffff0000u);
  }
  uint16_t nan = 0x7fc0;
  Source *in2 = source_from_memory(&nan, 2, "nan");
  Source *w2 = source_widen(in2, "bfloat16", "f32");
  assert_true(isnan(f32_at(w2, 0)));
  source_unref(w2);
  source_unref(in2);
  assert_null(source_widen(in, "float128", "x"));
  source_unref(w);
  source_unref(in);
}

static void test_float8_widening(void **state) {
  (void)state;
  uint8_t codes[256];
  for (int i = 0; i < 256; i++) codes[i] = (uint8_t)i;
  Source *in = source_from_memory(codes, 256, "f8");
  Source *e4 = source_widen(in, "float8_e4m3fn", "f32");
  Source *e5 = source_widen(in, "float8_e5m2", "f32");
  /* OCP 8-bit floating point specification, tables of E4M3 and E5M2 */
  assert_true(f32_at(e4, 0x7e) == 448.0f);
  assert_true(isnan(f32_at(e4, 0x7f)) && isnan(f32_at(e4, 0xff)));
  assert_true(f32_at(e4, 0x01) == ldexpf(1, -9));
  assert_true(f32_at(e4, 0x08) == ldexpf(1, -6));
  assert_true(f32_at(e4, 0x38) == 1.0f);
  assert_true(f32_at(e4, 0xb8) == -1.0f);
  assert_true(f32_at(e4, 0x78) == 256.0f);
  assert_true(f32_at(e5, 0x7b) == 57344.0f);
  assert_true(isinf(f32_at(e5, 0x7c)) && f32_at(e5, 0xfc) < 0);
  assert_true(isnan(f32_at(e5, 0x7d)));
  assert_true(f32_at(e5, 0x01) == ldexpf(1, -16));
  assert_true(f32_at(e5, 0x3c) == 1.0f);
  /* every finite e4m3fn code round-trips through its neighbours' order */
  for (int c = 1; c < 0x7e; c++) assert_true(f32_at(e4, (uint64_t)c) < f32_at(e4, (uint64_t)c + 1));
  source_unref(e4);
  source_unref(e5);
  source_unref(in);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_strided_views),
    cmocka_unit_test(test_strided_wide_view),
    cmocka_unit_test(test_bfloat16_widening),
    cmocka_unit_test(test_float8_widening),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
