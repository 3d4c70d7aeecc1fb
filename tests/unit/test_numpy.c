/*
** test_numpy.c -- the recognisers: numpy arrays, dtypes, scalars, codecs bytes,
** copyreg, datetime texts, and the dtype helpers of dtype.c.
**
** Expectations come from Python: scripts/pickle_cases.py pickles real numpy
** 1.24 / scikit-learn objects at protocols 0-5 (and numpy-2 renamings) and
** prints a canonical text of the original objects; canon.h computes the same
** text from our graph.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "canon.h"
#include "modelfs/limits.h"

#define DECODE(lit) decode_bytes(lit, sizeof(lit) - 1)

/* Large arrays: the data Blob points into the source at the offset Python found. */
static int check_data_offset(const char *name, Model *m, const char *extra) {
  if (extra == NULL || strcmp(extra, "-") == 0) return 1;
  const Value *v = m->root;
  if (v->kind != VAL_NDARRAY) {
    fprintf(stderr, "%s: root is not an array\n", name);
    return 0;
  }
  const Blob *b = &v->u.arr->data;
  unsigned long long want = strtoull(extra, NULL, 10);
  if (b->mem != NULL || b->src == NULL || b->off != want) {
    fprintf(stderr, "%s: data mem=%p src=%p off=%llu, want offset %llu in the source\n", name,
            (const void *)b->mem, (void *)b->src, (unsigned long long)b->off, want);
    return 0;
  }
  return 1;
}

static void test_numpy_cases(void **state) {
  (void)state;
  int ran = 0;
  assert_int_equal(run_cases("numpy", check_data_offset, &ran), 0);
  assert_true(ran >= 160);
}

static void test_numpy2_cases(void **state) {
  (void)state;
  int ran = 0;
  assert_int_equal(run_cases("numpy2", NULL, &ran), 0);
  assert_true(ran >= 20);
}

static void test_sklearn_cases(void **state) {
  (void)state;
  int ran = 0;
  assert_int_equal(run_cases("sklearn", NULL, &ran), 0);
  assert_true(ran >= 12);
}

/* FORMATS.md 2.1: protocol 3, float64 [1.0, 2.0] */
static const char p3_array[] =
  "\x80\x03" "cnumpy.core.multiarray\n_reconstruct\nq\x00" "cnumpy\nndarray\nq\x01K\x00\x85q\x02"
  "C\x01" "bq\x03\x87q\x04Rq\x05(K\x01K\x02\x85q\x06" "cnumpy\ndtype\nq\x07X\x02\x00\x00\x00" "f8q\x08"
  "\x89\x88\x87q\tRq\n(K\x03X\x01\x00\x00\x00<q\x0bNNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tq\x0c"
  "b\x89" "C\x10\x00\x00\x00\x00\x00\x00\xf0?\x00\x00\x00\x00\x00\x00\x00@q\rtq\x0e" "b.";

static void test_reconstruct_p3(void **state) {
  (void)state;
  Model *m = decode_bytes(p3_array, sizeof p3_array - 1);
  assert_true(m->ok);
  assert_int_equal(m->protocol, 3);
  Value *v = m->root;
  assert_int_equal(v->kind, VAL_NDARRAY);
  NdArray *a = v->u.arr;
  assert_int_equal(a->ndim, 1);
  assert_int_equal(a->shape[0], 2);
  assert_int_equal(a->fortran, 0);
  assert_int_equal(a->dtype->kind, VAL_DTYPE);
  assert_int_equal(a->dtype->u.dtype->kind, 'f');
  assert_int_equal(a->dtype->u.dtype->byteorder, '<');
  assert_int_equal(a->data.len, 16);
  assert_true(value_is_global(a->cls, "numpy", "ndarray"));
  double d[2];
  Err e;
  err_clear(&e);
  assert_int_equal(blob_read(&a->data, 0, d, 16, &e), MFS_OK);
  assert_true(d[0] == 1.0 && d[1] == 2.0);
  model_free(m);
}

/* The same stream with Python-2 str (SHORT_BINSTRING) for data, dummy and typestrs. */
static void test_reconstruct_py2_str(void **state) {
  (void)state;
  static const char s[] =
    "\x80\x02" "cnumpy.core.multiarray\n_reconstruct\nq\x00" "cnumpy\nndarray\nq\x01K\x00\x85q\x02"
    "U\x01" "bq\x03\x87q\x04Rq\x05(K\x01K\x02\x85q\x06" "cnumpy\ndtype\nq\x07U\x02" "f8q\x08"
    "K\x00K\x01\x87q\tRq\n(K\x03U\x01<q\x0bNNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tq\x0c"
    "bI00\nU\x10\x00\x00\x00\x00\x00\x00\xf0?\x00\x00\x00\x00\x00\x00\x00@q\rtq\x0e" "b.";
  Model *m = decode_bytes(s, sizeof s - 1);
  assert_true(m->ok);
  char *c = canon_of(m->root);
  assert_string_equal(c, "A<D<f8;2;C;000000000000f03f0000000000000040>");
  free(c);
  model_free(m);
}

static void test_shared_dtype(void **state) {
  (void)state;
  FILE *f = popen("/usr/bin/python3 -c \"import pickle,numpy as np\n"
                  "print(pickle.dumps([np.zeros(2), np.ones(3, dtype='>f8'), np.ones(1)], 2).hex())\"",
                  "r");
  char line[8192];
  assert_non_null(fgets(line, sizeof line, f));
  pclose(f);
  line[strcspn(line, "\n")] = 0;
  size_t n;
  uint8_t *p = unhex(line, &n);
  Model *m = decode_bytes(p, n);
  assert_true(m->ok);
  Value **items = m->root->u.seq.items;
  /* a memo GET returns the dtype value its BUILD completed */
  assert_ptr_equal(items[0]->u.arr->dtype, items[2]->u.arr->dtype);
  assert_ptr_not_equal(items[0]->u.arr->dtype, items[1]->u.arr->dtype);
  assert_int_equal(items[2]->u.arr->dtype->u.dtype->byteorder, '<');
  assert_int_equal(items[1]->u.arr->dtype->u.dtype->byteorder, '>');
  model_free(m);
  free(p);
}

static void expect_text(const char *p, size_t n, const char *want) {
  Model *m = decode_bytes(p, n);
  assert_true(m->ok);
  assert_int_equal(m->root->kind, VAL_TEXT);
  assert_string_equal(m->root->u.str.s, want);
  model_free(m);
}

#define EXPECT_TEXT(lit, want) expect_text(lit, sizeof(lit) - 1, want)

static void test_datetime_texts(void **state) {
  (void)state;
  EXPECT_TEXT("\x80\x02" "cdatetime\ntimedelta\nK\x01K\x02K\x03\x87R.", "1 day, 0:00:02.000003");
  EXPECT_TEXT("\x80\x02" "cdatetime\ntimedelta\nJ\xff\xff\xff\xffK\x05K\x03\x87R.", "-1 day, 0:00:05.000003");
  EXPECT_TEXT("\x80\x03" "cdatetime\ndatetime\nC\n\x07\xe8\x01\x02\x03\x04\x05\x0a\x5b\xf5"
              "cdatetime\ntimezone\ncdatetime\ntimedelta\nK\x00K\x00K\x00\x87R\x85R\x86R.",
              "2024-01-02 03:04:05.678901+00:00");
  EXPECT_TEXT("\x80\x04" "cdatetime\ndatetime\nC\n\x07\xe8\x81\x02\x03\x04\x05\x00\x00\x00\x85R.",
              "2024-01-02 03:04:05");   /* fold bit masked */
  EXPECT_TEXT("\x80\x03" "cdatetime\ndate\nC\x04\x07\xe8\x01\x02\x85R.", "2024-01-02");
  EXPECT_TEXT("\x80\x03" "cdatetime\ntime\nC\x06\x81\x00\x00\x00\x00\x07\x85R.", "01:00:00.000007");
  EXPECT_TEXT("\x80\x02" "cdecimal\nDecimal\nX\x04\x00\x00\x00" "1.25\x85R.", "1.25");
  EXPECT_TEXT("\x80\x03" "cdatetime\ntimezone\ncdatetime\ntimedelta\nK\x00M\x10\x0eK\x00\x87R\x85R.",
              "UTC+01:00");
  /* a tzinfo we cannot evaluate keeps the datetime an object */
  Model *m = DECODE("\x80\x03" "cdatetime\ndatetime\nC\n\x07\xe8\x01\x02\x03\x04\x05\x00\x00\x00"
                    "cpytz\nutc\n\x86R.");
  assert_true(m->ok);
  assert_int_equal(m->root->kind, VAL_OBJECT);
  model_free(m);
}

static void test_codecs_and_builtins(void **state) {
  (void)state;
  Model *m = DECODE("\x80\x02" "c_codecs\nencode\nX\x02\x00\x00\x00\xc4\x81X\x06\x00\x00\x00latin1\x86R.");
  assert_false(m->ok);
  assert_non_null(strstr(m->err.msg, "REDUCE"));
  assert_non_null(strstr(m->err.msg, "latin-1"));
  model_free(m);
  m = DECODE("\x80\x02" "c_codecs\nencode\nX\x02\x00\x00\x00\xc3\xa9X\x0a\x00\x00\x00ISO-8859-1\x86R.");
  assert_true(m->ok && m->root->kind == VAL_BYTES && m->root->u.bytes.len == 1 &&
              m->root->u.bytes.mem[0] == 0xe9);
  model_free(m);
  /* an unknown codec stays a call */
  m = DECODE("\x80\x02" "c_codecs\nencode\nX\x01\x00\x00\x00" "aX\x05\x00\x00\x00rot13\x86R.");
  assert_true(m->ok && m->root->kind == VAL_OBJECT);
  assert_int_equal(m->globals->u.seq.n, 1);   /* plumbing still listed */
  model_free(m);
  m = DECODE("\x80\x02" "c__builtin__\ncomplex\nG?\xf0\x00\x00\x00\x00\x00\x00G@\x00\x00\x00\x00\x00\x00\x00\x86R.");
  assert_true(m->ok && m->root->kind == VAL_COMPLEX && m->root->u.c.re == 1.0 && m->root->u.c.im == 2.0);
  model_free(m);
  m = DECODE("\x80\x02" "ccollections\nOrderedDict\n)R(K\x01K\x02u.");
  assert_true(m->ok && m->root->kind == VAL_DICT && (m->root->flags & VF_ORDERED) && m->root->u.dict.n == 1);
  model_free(m);
}

/* copyreg._reconstructor at protocol 0 and NEWOBJ at protocol 2 give the same graph. */
static void test_reconstructor_equals_newobj(void **state) {
  (void)state;
  static const char p0[] = "ccopy_reg\n_reconstructor\np0\n(cm\nC\np1\nc__builtin__\nobject\np2\nNtp3\nRp4\n"
                           "(dp5\nVa\np6\nI1\nsb.";
  static const char p2[] = "\x80\x02" "cm\nC\nq\x00)\x81q\x01}q\x02X\x01\x00\x00\x00" "aq\x03K\x01sb.";
  Model *a = decode_bytes(p0, sizeof p0 - 1), *b = decode_bytes(p2, sizeof p2 - 1);
  assert_true(a->ok && b->ok);
  char *ca = canon_of(a->root), *cb = canon_of(b->root);
  assert_string_equal(ca, cb);
  assert_int_equal(a->root->u.obj->how, OBJ_NEWOBJ);
  free(ca);
  free(cb);
  model_free(a);
  model_free(b);
  /* dict base: the state becomes the object's items */
  static const char d0[] = "ccopy_reg\n_reconstructor\n(cm\nD\nc__builtin__\ndict\n(dVk\nI1\nstR.";
  Model *m = decode_bytes(d0, sizeof d0 - 1);
  assert_true(m->ok);
  char *c = canon_of(m->root);
  assert_string_equal(c, "O<gm.D|()|-|-|d{s6b:i1}>");
  free(c);
  model_free(m);
}

static void expect_err(const char *p, size_t n, MfsStatus code, const char *part) {
  Model *m = decode_bytes(p, n);
  assert_false(m->ok);
  if (strstr(m->err.msg, part) == NULL) fprintf(stderr, "message: %s\n", m->err.msg);
  assert_non_null(strstr(m->err.msg, part));
  assert_int_equal(m->err.code, code);
  if (m->root) assert_true(m->root->flags & VF_PARTIAL);
  model_free(m);
}

#define EXPECT_ERR(lit, code, part) expect_err(lit, sizeof(lit) - 1, code, part)

static void test_array_errors(void **state) {
  (void)state;
  /* 15 data bytes for two float64 */
  char s[sizeof p3_array];
  memcpy(s, p3_array, sizeof p3_array);
  char *d = memmem(s, sizeof s, "C\x10", 2);
  assert_non_null(d);
  d[1] = 0x0f;
  memmove(d + 17, d + 18, (size_t)(s + sizeof s - (d + 18)));
  expect_err(s, sizeof s - 2, MFS_ECORRUPT, "array data has 15 bytes, shape and dtype need 16");
  /* a dtype that contains itself */
  EXPECT_ERR("\x80\x02" "cnumpy\ndtype\nX\x02\x00\x00\x00V8\x89\x88\x87Rq\x01(K\x03X\x01\x00\x00\x00|N"
             "X\x01\x00\x00\x00x\x85}X\x01\x00\x00\x00xh\x01K\x00\x86sK\x08K\x01K\x10tb.",
             MFS_ECORRUPT, "contains itself");
  EXPECT_ERR("\x80\x02" "cnumpy\ndtype\nX\x02\x00\x00\x00" "f8\x89\x88\x87R(K\x09X\x01\x00\x00\x00<NNNJ"
             "\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb.", MFS_ECORRUPT, "version 9");
  EXPECT_ERR("\x80\x02" "cnumpy\ndtype\nX\x02\x00\x00\x00zz\x89\x88\x87R.", MFS_ECORRUPT, "not understood");
  /* fields outside the record */
  EXPECT_ERR("\x80\x02" "cnumpy\ndtype\nX\x02\x00\x00\x00V4\x89\x88\x87R(K\x03X\x01\x00\x00\x00|N"
             "X\x01\x00\x00\x00x\x85}X\x01\x00\x00\x00x" "cnumpy\ndtype\nX\x02\x00\x00\x00" "f8\x89\x88\x87RK\x00"
             "\x86sK\x04K\x01K\x10tb.", MFS_ECORRUPT, "outside the 4-byte record");
}

/* A dtype state may not change a dtype already placed inside another one, nor
** one an array or scalar was sized by: their readers would run past the bytes. */
static void test_dtype_frozen_after_use(void **state) {
  (void)state;
  /* B.x = A (V8), then A rebuilt as a plain V4096: no fields, only its size */
  EXPECT_ERR("\x80\x02" "cnumpy\ndtype\nX\x02\x00\x00\x00V8\x89\x88\x87Rq\x01"
             "cnumpy\ndtype\nX\x02\x00\x00\x00V8\x89\x88\x87R(K\x03X\x01\x00\x00\x00|N"
             "X\x01\x00\x00\x00x\x85}X\x01\x00\x00\x00xh\x01K\x00\x86sK\x08K\x01K\x10tb"
             "0h\x01(K\x03X\x01\x00\x00\x00|NNNJ\x00\x10\x00\x00K\x01K\x00tb.",
             MFS_ECORRUPT, "dtype rebuilt after an array or another dtype used it");
  /* an array of two V4 elements (8 bytes), then its dtype rebuilt as V4096 */
  EXPECT_ERR("\x80\x02" "cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85" "C\x01" "b\x87R"
             "(K\x01K\x02\x85" "cnumpy\ndtype\nX\x02\x00\x00\x00V4\x89\x88\x87Rq\x01\x89" "C\x08" "abcdefgh"
             "tb0h\x01(K\x03X\x01\x00\x00\x00|NNNJ\x00\x10\x00\x00K\x01K\x00tb.",
             MFS_ECORRUPT, "dtype rebuilt after an array or another dtype used it");
  /* a scalar sized by a V4, then the V4 grown */
  EXPECT_ERR("\x80\x02" "cnumpy.core.multiarray\nscalar\ncnumpy\ndtype\nX\x02\x00\x00\x00V4\x89\x88\x87Rq\x01"
             "C\x04" "abcd\x86R0h\x01(K\x03X\x01\x00\x00\x00|NNNJ\x00\x10\x00\x00K\x01K\x00tb.",
             MFS_ECORRUPT, "dtype rebuilt after an array or another dtype used it");
  /* building a dtype twice before anything uses it stays allowed */
  Model *ok = DECODE("\x80\x02" "cnumpy\ndtype\nX\x02\x00\x00\x00V4\x89\x88\x87Rq\x01"
                     "(K\x03X\x01\x00\x00\x00|NNNK\x08K\x01K\x00tb(K\x03X\x01\x00\x00\x00|NNNK\x10K\x01K\x00tb.");
  assert_true(ok->ok);
  assert_int_equal(ok->root->u.dtype->itemsize, 16);
  model_free(ok);
  EXPECT_ERR("\x80\x02" "cnumpy\ndtype\nX\x02\x00\x00\x00V8\x89\x88\x87Rq\x01"                /* A */
             "cnumpy\ndtype\nX\x02\x00\x00\x00V8\x89\x88\x87R(K\x03X\x01\x00\x00\x00|N"          /* B */
             "X\x01\x00\x00\x00x\x85}X\x01\x00\x00\x00xh\x01K\x00\x86sK\x08K\x01K\x10tb"       /* B.x = A */
             "0h\x01(K\x03X\x01\x00\x00\x00|N"                                                 /* A again */
             "X\x01\x00\x00\x00y\x85}X\x01\x00\x00\x00y" "cnumpy\ndtype\nX\x02\x00\x00\x00" "f8\x89\x88\x87RK\x00"
             "\x86sK\x08K\x01K\x10tb.", MFS_ECORRUPT, "another dtype used it");
}

/* Old dtype state layouts: lengths 7, 6 and 5 (names under the key -1). */
static void test_dtype_old_states(void **state) {
  (void)state;
  static const char s7[] = "\x80\x02" "cnumpy\ndtype\nU\x02i4K\x00K\x01\x87R(K\x02U\x01>NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xfftb.";
  static const char s6[] = "\x80\x02" "cnumpy\ndtype\nU\x02i4K\x00K\x01\x87R(K\x01U\x01>NNJ\xff\xff\xff\xffJ\xff\xff\xff\xfftb.";
  static const char s5[] = "\x80\x02" "cnumpy\ndtype\nU\x02i4K\x00K\x01\x87R(U\x01>NNJ\xff\xff\xff\xffJ\xff\xff\xff\xfftb.";
  const char *streams[] = {s7, s6, s5};
  size_t lens[] = {sizeof s7 - 1, sizeof s6 - 1, sizeof s5 - 1};
  for (size_t i = 0; i < 3; i++) {
    Model *m = decode_bytes(streams[i], lens[i]);
    if (!m->ok) fprintf(stderr, "%zu: %s\n", i, m->err.msg);
    assert_true(m->ok);
    char *c = canon_of(m->root);
    assert_string_equal(c, "D>i4");
    free(c);
    model_free(m);
  }
  static const char v0[] =
    "\x80\x02" "cnumpy\ndtype\nU\x02V8K\x00K\x01\x87R(U\x01|N}(J\xff\xff\xff\xff]U\x01" "aaU\x01" "a"
    "cnumpy\ndtype\nU\x02" "f8K\x00K\x01\x87R(U\x01<NNJ\xff\xff\xff\xffJ\xff\xff\xff\xfftbK\x00\x86uK\x08K\x01tb.";
  Model *m = decode_bytes(v0, sizeof v0 - 1);
  if (!m->ok) fprintf(stderr, "v0: %s\n", m->err.msg);
  assert_true(m->ok);
  char *c = canon_of(m->root);
  assert_string_equal(c, "D|V8{a:D<f8@0}");
  free(c);
  model_free(m);
}

/* ---- dtype.c ------------------------------------------------------------------------ */

static void expect_dtype(const char *in, char order, const char *typestr, char kind, uint64_t size) {
  Model *m = DECODE("N.");
  Value *v = dtype_from_str(&m->vs, in, order);
  if (v == NULL) fprintf(stderr, "%s: %s\n", in, m->err.msg);
  assert_non_null(v);
  char buf[64];
  assert_true(dtype_typestr(v->u.dtype, buf, sizeof buf) > 0);
  if (strcmp(buf, typestr) != 0) fprintf(stderr, "%s -> %s, want %s\n", in, buf, typestr);
  assert_string_equal(buf, typestr);
  assert_int_equal(v->u.dtype->kind, kind);
  assert_int_equal(v->u.dtype->itemsize, size);
  model_free(m);
}

static void expect_bad_dtype(const char *in) {
  Model *m = DECODE("N.");
  assert_null(dtype_from_str(&m->vs, in, 0));
  assert_int_not_equal(m->err.code, MFS_OK);
  model_free(m);
}

static void test_dtype_from_str(void **state) {
  (void)state;
  expect_dtype("f8", 0, "<f8", 'f', 8);
  expect_dtype("<f8", 0, "<f8", 'f', 8);
  expect_dtype(">i4", 0, ">i4", 'i', 4);
  expect_dtype("|b1", 0, "|b1", 'b', 1);
  expect_dtype("?", 0, "|b1", 'b', 1);
  expect_dtype("b", 0, "|i1", 'i', 1);
  expect_dtype("<i1", 0, "|i1", 'i', 1);
  expect_dtype("U5", 0, "<U5", 'U', 20);
  expect_dtype(">U5", 0, ">U5", 'U', 20);
  expect_dtype("S3", 0, "|S3", 'S', 3);
  expect_dtype("a3", 0, "|S3", 'S', 3);
  expect_dtype("V56", 0, "|V56", 'V', 56);
  expect_dtype("O", 0, "|O", 'O', 8);
  expect_dtype("O8", 0, "|O", 'O', 8);
  expect_dtype("M8", 0, "<M8", 'M', 8);
  expect_dtype("<M8[ns]", 0, "<M8[ns]", 'M', 8);
  expect_dtype("m8[s]", 0, "<m8[s]", 'm', 8);
  expect_dtype("M8[10us]", 0, "<M8[10us]", 'M', 8);
  expect_dtype("M8[1D]", 0, "<M8[D]", 'M', 8);
  expect_dtype("M8[generic]", 0, "<M8", 'M', 8);
  expect_dtype("d", 0, "<f8", 'f', 8);
  expect_dtype("=c16", 0, "<c16", 'c', 16);
  expect_dtype("f8", '>', ">f8", 'f', 8);
  expect_dtype("u1", '>', "|u1", 'u', 1);
  expect_bad_dtype("x9");
  expect_bad_dtype("i3");
  expect_bad_dtype("f8junk");
  expect_bad_dtype("M8[xx]");
  expect_bad_dtype("f8[ns]");
  expect_bad_dtype("");
  expect_bad_dtype("U99999999999999999999");
}

static void test_dtype_has_object(void **state) {
  (void)state;
  Model *m = DECODE("N.");
  Value *o = dtype_from_str(&m->vs, "O", 0), *f = dtype_from_str(&m->vs, "f8", 0);
  Value *rec = dtype_from_str(&m->vs, "V16", 0);
  assert_true(dtype_has_object(o->u.dtype));
  assert_false(dtype_has_object(f->u.dtype));
  DtypeField fields[2] = {{"a", NULL, f, 0}, {"b", NULL, o, 8}};
  rec->u.dtype->fields = fields;
  rec->u.dtype->nfields = 2;
  assert_true(dtype_has_object(rec->u.dtype));
  rec->u.dtype->nfields = 1;
  assert_false(dtype_has_object(rec->u.dtype));
  model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_numpy_cases),
    cmocka_unit_test(test_numpy2_cases),
    cmocka_unit_test(test_sklearn_cases),
    cmocka_unit_test(test_reconstruct_p3),
    cmocka_unit_test(test_reconstruct_py2_str),
    cmocka_unit_test(test_shared_dtype),
    cmocka_unit_test(test_datetime_texts),
    cmocka_unit_test(test_codecs_and_builtins),
    cmocka_unit_test(test_reconstructor_equals_newobj),
    cmocka_unit_test(test_array_errors),
    cmocka_unit_test(test_dtype_frozen_after_use),
    cmocka_unit_test(test_dtype_old_states),
    cmocka_unit_test(test_dtype_from_str),
    cmocka_unit_test(test_dtype_has_object),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
