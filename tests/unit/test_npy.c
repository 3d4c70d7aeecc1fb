/*
** test_npy.c -- .npy headers and dtype texts against numpy.save / str(dtype).
**
** Each case is an array built in Python (numpy 1.24) and the same array built by
** hand here as a Value; numpy.save's bytes are the truth.  The data bytes are
** taken from numpy's file, so what is checked is the header (version, descr,
** fortran_order, shape, growth spaces, padding) and str(dtype).
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "modelfs/dtype.h"
#include "modelfs/npy.h"

static Err err;
static ValueSet vs;

static Value *simple(const char *t) {
  Value *v = dtype_from_str(&vs, t, 0);
  assert_non_null(v);
  return v;
}

/* A record dtype from parallel arrays; titles may be NULL. */
static Value *record(size_t n, const char *const *names, Value **types, const uint64_t *offs,
                     uint64_t itemsize, const char *const *titles, int aligned) {
  Value *v = value_new(&vs, VAL_DTYPE);
  Dtype *d = arena_alloc(vs.arena, sizeof *d);
  d->kind = 'V';
  d->byteorder = '|';
  d->itemsize = itemsize;
  d->nfields = n;
  d->aligned = aligned;
  d->fields = arena_alloc(vs.arena, n * sizeof *d->fields);
  for (size_t i = 0; i < n; i++) {
    d->fields[i].name = names[i];
    d->fields[i].title = titles ? titles[i] : NULL;
    d->fields[i].dtype = types[i];
    d->fields[i].offset = offs[i];
  }
  v->u.dtype = d;
  return v;
}

static Value *subarray(Value *base, int ndim, const uint64_t *shape) {
  Value *v = value_new(&vs, VAL_DTYPE);
  Dtype *d = arena_alloc(vs.arena, sizeof *d);
  d->kind = 'V';
  d->byteorder = '|';
  d->sub_base = base;
  d->sub_ndim = ndim;
  d->sub_shape = arena_memdup(vs.arena, shape, sizeof *shape * (size_t)ndim);
  uint64_t n = 1;
  for (int i = 0; i < ndim; i++) n *= shape[i];
  d->itemsize = n * base->u.dtype->itemsize;
  v->u.dtype = d;
  return v;
}

static Value *tree_nodes(int v13) {
  static const char *const names[] = {"left_child", "right_child", "feature", "threshold",
                                      "impurity", "n_node_samples", "weighted_n_node_samples",
                                      "missing_go_to_left"};
  Value *t[8] = {simple("<i8"), simple("<i8"), simple("<i8"), simple("<f8"),
                 simple("<f8"), simple("<i8"), simple("<f8"), simple("|u1")};
  uint64_t offs[8] = {0, 8, 16, 24, 32, 40, 48, 56};
  return record(v13 ? 8 : 7, names, t, offs, v13 ? 64 : 56, NULL, 0);
}

typedef struct Case {
  const char *py;          /* Python expression for the array `a` */
  Value *(*dtype)(void);
  int ndim;
  uint64_t shape[4];
  int fortran;             /* data bytes are in Fortran order */
} Case;

static Value *d_f8(void) { return simple("<f8"); }
static Value *d_f4(void) { return simple("<f4"); }
static Value *d_i8(void) { return simple("<i8"); }
static Value *d_i4(void) { return simple("<i4"); }
static Value *d_b1(void) { return simple("|b1"); }
static Value *d_u5(void) { return simple("<U5"); }
static Value *d_s3(void) { return simple("|S3"); }
static Value *d_c16(void) { return simple("<c16"); }
static Value *d_m8(void) { return simple("<M8[ns]"); }
static Value *d_bf8(void) { return simple(">f8"); }
static Value *d_bu2(void) { return simple(">U2"); }
static Value *d_f2(void) { return simple("<f2"); }
static Value *d_nodes(void) { return tree_nodes(0); }
static Value *d_nodes13(void) { return tree_nodes(1); }
static Value *d_padded(void) {
  static const char *const n[] = {"a", "m"};
  Value *t[] = {simple("<i8"), simple("|u1")};
  uint64_t o[] = {0, 8};
  return record(2, n, t, o, 16, NULL, 0);
}
static Value *d_nested(void) {
  static const char *const n[] = {"x", "y"}, *const zn[] = {"z"};
  uint64_t two[] = {2};
  Value *z[] = {simple("<i2")};
  uint64_t zo[] = {0};
  Value *t[] = {subarray(simple("<f4"), 1, two), record(1, zn, z, zo, 2, NULL, 0)};
  uint64_t o[] = {0, 8};
  return record(2, n, t, o, 10, NULL, 0);
}
static Value *d_gap(void) {
  static const char *const n[] = {"a", "b"};
  Value *t[] = {simple("<f8"), simple(">i4")};
  uint64_t o[] = {4, 16};
  return record(2, n, t, o, 24, NULL, 0);
}
static Value *d_long(void) {
  static const char *const n[] = {"abcdefghijklmnopqrstuvwxyz012345"};
  Value *t[] = {simple("<f8")};
  uint64_t o[] = {0};
  return record(1, n, t, o, 8, NULL, 0);
}
static Value *d_utf8(void) {
  static const char *const n[] = {"\xce\xb1\xce\xb2", "caf\xc3\xa9"};
  Value *t[] = {simple("<f8"), simple("<i4")};
  uint64_t o[] = {0, 8};
  return record(2, n, t, o, 12, NULL, 0);
}
static Value *d_latin1(void) {
  static const char *const n[] = {"caf\xc3\xa9"};
  Value *t[] = {simple("<f8")};
  uint64_t o[] = {0};
  return record(1, n, t, o, 8, NULL, 0);
}
static Value *d_title(void) {
  static const char *const n[] = {"n", "q"}, *const ti[] = {"t", NULL};
  Value *t[] = {simple("<f8"), simple("|i1")};
  uint64_t o[] = {0, 8};
  return record(2, n, t, o, 9, ti, 0);
}
static Value *d_aligned(void) {
  static const char *const n[] = {"a", "b"};
  Value *t[] = {simple("|i1"), simple("<f8")};
  uint64_t o[] = {0, 8};
  return record(2, n, t, o, 16, NULL, 1);
}
static Value *d_many(void) {
  enum { N = 2500 };
  const char **n = arena_alloc(vs.arena, N * sizeof *n);
  Value **t = arena_alloc(vs.arena, N * sizeof *t);
  uint64_t *o = arena_alloc(vs.arena, N * sizeof *o);
  for (int i = 0; i < N; i++) {
    char buf[64];
    snprintf(buf, sizeof buf, "field_%04d_padding_padding", i);
    n[i] = arena_strndup(vs.arena, buf, strlen(buf));
    t[i] = simple("<f4");
    o[i] = 4u * (unsigned)i;
  }
  return record(N, n, t, o, 4 * N, NULL, 0);
}

static const Case cases[] = {
  {"np.arange(3.)", d_f8, 1, {3}, 0},
  {"np.arange(6,dtype='f4').reshape(2,3)", d_f4, 2, {2, 3}, 0},
  {"np.arange(5)", d_i8, 1, {5}, 0},
  {"np.arange(4,dtype='i4')", d_i4, 1, {4}, 0},
  {"np.array([True,False])", d_b1, 1, {2}, 0},
  {"np.array(['ab','cdefg'])", d_u5, 1, {2}, 0},
  {"np.array([b'xyz'])", d_s3, 1, {1}, 0},
  {"np.array(2.5)", d_f8, 0, {0}, 0},
  {"np.asfortranarray(np.arange(6.).reshape(2,3))", d_f8, 2, {2, 3}, 1},
  {"np.zeros((0,2))", d_f8, 2, {0, 2}, 0},
  {"np.array([1+2j])", d_c16, 1, {1}, 0},
  {"np.array([1,2],dtype='M8[ns]')", d_m8, 1, {2}, 0},
  {"np.arange(3.).astype('>f8')", d_bf8, 1, {3}, 0},
  {"np.array(['ab','c'],dtype='>U2')", d_bu2, 1, {2}, 0},
  {"np.arange(3,dtype='f2')", d_f2, 1, {3}, 0},
  {"np.zeros(3,dtype=[('left_child','<i8'),('right_child','<i8'),('feature','<i8'),"
   "('threshold','<f8'),('impurity','<f8'),('n_node_samples','<i8'),"
   "('weighted_n_node_samples','<f8')])", d_nodes, 1, {3}, 0},
  {"np.zeros(3,dtype=np.dtype({'names':['left_child','right_child','feature','threshold',"
   "'impurity','n_node_samples','weighted_n_node_samples','missing_go_to_left'],"
   "'formats':['<i8','<i8','<i8','<f8','<f8','<i8','<f8','u1'],"
   "'offsets':[0,8,16,24,32,40,48,56],'itemsize':64}))", d_nodes13, 1, {3}, 0},
  {"np.zeros(2,dtype=np.dtype({'names':['a','m'],'formats':['<i8','u1'],'offsets':[0,8],"
   "'itemsize':16}))", d_padded, 1, {2}, 0},
  {"np.zeros(2,dtype=[('x','<f4',(2,)),('y',[('z','<i2')])])", d_nested, 1, {2}, 0},
  {"np.zeros(2,dtype=np.dtype({'names':['a','b'],'formats':['<f8','>i4'],'offsets':[4,16],"
   "'itemsize':24}))", d_gap, 1, {2}, 0},
  {"np.zeros(1,dtype=[('abcdefghijklmnopqrstuvwxyz012345','<f8')])", d_long, 1, {1}, 0},
  {"np.zeros(2,dtype=[('\\u03b1\\u03b2','<f8'),('caf\\u00e9','<i4')])", d_utf8, 1, {2}, 0},
  {"np.zeros(2,dtype=[('caf\\u00e9','<f8')])", d_latin1, 1, {2}, 0},
  {"np.zeros(2,dtype=[(('t','n'),'<f8'),('q','i1')])", d_title, 1, {2}, 0},
  {"np.zeros(2,dtype=np.dtype([('a','i1'),('b','<f8')],align=True))", d_aligned, 1, {2}, 0},
  {"np.asfortranarray(np.arange(3.).reshape(1,3))", d_f8, 2, {1, 3}, 1},
  {"np.asfortranarray(np.arange(24.).reshape(2,3,4))", d_f8, 3, {2, 3, 4}, 1},
  {"np.zeros(0,dtype='i8')", d_i8, 1, {0}, 0},
  {"np.zeros((1234567890123, 0),dtype='i8')", d_i8, 2, {1234567890123ULL, 0}, 0},
  {"np.zeros(1,dtype=[('field_%04d_padding_padding'%i,'<f4') for i in range(2500)])", d_many, 1,
   {1}, 0},
};

#define NCASES (sizeof cases / sizeof *cases)

static void run_python(char ***lines) {
  FILE *f = fopen("/tmp/modelfs_test_npy.py", "w");
  assert_non_null(f);
  fputs("import io, warnings, numpy as np\nwarnings.simplefilter('ignore')\n", f);
  for (size_t i = 0; i < NCASES; i++) {
    fprintf(f, "a=%s\nb=io.BytesIO(); np.save(b,a)\n", cases[i].py);
    fprintf(f, "print(b.getvalue().hex(), str(a.dtype).encode('utf-8').hex())\n");
  }
  fclose(f);
  FILE *p = popen("/usr/bin/python3 /tmp/modelfs_test_npy.py", "r");
  assert_non_null(p);
  *lines = calloc(NCASES, sizeof **lines);
  size_t cap = 1 << 22;
  char *line = malloc(cap);
  for (size_t i = 0; i < NCASES && fgets(line, (int)cap, p); i++) (*lines)[i] = strdup(line);
  free(line);
  assert_int_equal(pclose(p), 0);
}

static unsigned char *unhex(const char *h, size_t n, size_t *len) {
  unsigned char *o = malloc(n / 2 + 1);
  for (size_t i = 0; i + 1 < n; i += 2) {
    unsigned v;
    sscanf(h + i, "%2x", &v);
    o[i / 2] = (unsigned char)v;
  }
  *len = n / 2;
  return o;
}

static void test_headers(void **state) {
  (void)state;
  char **lines;
  run_python(&lines);
  int failed = 0;
  for (size_t i = 0; i < NCASES; i++) {
    assert_non_null(lines[i]);
    size_t h1 = strcspn(lines[i], " ");
    const char *s2 = lines[i] + h1 + 1;
    size_t h2 = strcspn(s2, " \n");
    size_t flen, slen;
    unsigned char *file = unhex(lines[i], h1, &flen);
    unsigned char *dstr = unhex(s2, h2, &slen);
    NdArray a;
    memset(&a, 0, sizeof a);
    a.dtype = cases[i].dtype();
    a.ndim = cases[i].ndim;
    a.shape = (uint64_t *)cases[i].shape;
    a.fortran = cases[i].fortran;
    size_t hlen;
    int fo;
    char *h = npy_header(&a, &hlen, &fo, &err);
    assert_non_null(h);
    /* the data after numpy's header must be exactly prod(shape)*itemsize */
    int of;
    uint64_t nb = ndarray_count(&a, &of) * a.dtype->u.dtype->itemsize;
    if (hlen + nb != flen || memcmp(h, file, hlen) != 0) {
      failed++;
      fprintf(stderr, "  case %zu (%s): header differs\n    got  %.*s\n    want %.*s\n", i,
              cases[i].py, (int)(hlen > 400 ? 400 : hlen), h,
              (int)(flen - nb > 400 ? 400 : flen - nb), (const char *)file);
    }
    char *ds = npy_dtype_str(a.dtype->u.dtype);
    if (strlen(ds) != slen || memcmp(ds, dstr, slen) != 0) {
      failed++;
      fprintf(stderr, "  case %zu: str(dtype) got %s want %.*s\n", i, ds, (int)slen,
              (const char *)dstr);
    }
    free(ds);
    free(h);
    free(file);
    free(dstr);
    free(lines[i]);
  }
  free(lines);
  assert_int_equal(failed, 0);
}

/* Documented facts from FORMATS.md 5.2, independent of Python. */
static void test_known_header(void **state) {
  (void)state;
  uint64_t shape[1] = {3};
  NdArray a;
  memset(&a, 0, sizeof a);
  a.dtype = simple("<f8");
  a.ndim = 1;
  a.shape = shape;
  size_t len;
  char *h = npy_header(&a, &len, NULL, &err);
  assert_int_equal(len, 128);
  assert_memory_equal(h, "\x93NUMPY\x01\x00\x76\x00{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", 66);
  assert_int_equal(h[127], '\n');
  free(h);
  char *d = npy_descr(tree_nodes(1)->u.dtype);
  assert_string_equal(d, "[('left_child', '<i8'), ('right_child', '<i8'), ('feature', '<i8'), "
                         "('threshold', '<f8'), ('impurity', '<f8'), ('n_node_samples', '<i8'), "
                         "('weighted_n_node_samples', '<f8'), ('missing_go_to_left', '|u1'), "
                         "('', '|V7')]");
  free(d);
  /* out-of-order fields: numpy.save refuses, so do we */
  static const char *const n[] = {"a", "b"};
  Value *t[] = {simple("<f8"), simple("<f8")};
  uint64_t o[] = {8, 0};
  a.dtype = record(2, n, t, o, 16, NULL, 0);
  err_clear(&err);
  assert_null(npy_header(&a, &len, NULL, &err));
  assert_int_not_equal(err.code, MFS_OK);
  err_clear(&err);
}

static int setup(void **state) {
  (void)state;
  err_clear(&err);
  vs.arena = arena_new();
  vs.next_id = 0;
  vs.err = &err;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  arena_free(vs.arena);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_known_header),
    cmocka_unit_test(test_headers),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
