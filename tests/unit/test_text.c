/*
** test_text.c -- Python-exact texts against Python itself.
**
** /usr/bin/python3 (numpy 1.24) prints repr() of tricky and random doubles,
** numpy str() of float32 and of every float16, complex reprs, big ints, str and
** bytes reprs, numpy scalar strs and .txt view expectations; text.c must give the
** same bytes.  Expectations are hex-encoded so no text survives a parser.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "modelfs/dtype.h"
#include "modelfs/text.h"

static const char *TRUTH =
  "import struct, random, numpy as np\n"
  "random.seed(12345)\n"
  "H=lambda s: (s.encode('utf-8','surrogatepass') if isinstance(s,str) else s).hex() or '-'\n"
  "ds=[0.1,1e-05,1e16,5e-324,2.2250738585072014e-308,1.7976931348623157e+308,-0.0,0.0,\n"
  "    123456789012345680.0,0.0001,1e15,9.999999999999999e-05,1e-4,9999999999999998.0,\n"
  "    float('inf'),float('-inf'),float('nan'),1.5,100.0,3e-323,1/3,2/3,0.3,1e22,1e23,\n"
  "    2.0**60,2.0**-1022,2.0**-1000,4.35,0.5e-4,1234.5678,-2.5e-7,8.41e21,5e-310]\n"
  "for e in range(-1074,1024,7): ds.append(2.0**e)\n"
  "for i in range(3000):\n"
  "    b=random.getrandbits(64)\n"
  "    v=struct.unpack('<d',struct.pack('<Q',b))[0]\n"
  "    if v==v and abs(v)!=float('inf'): ds.append(v)\n"
  "for i in range(2000): ds.append(round(random.uniform(-1000,1000),random.randint(0,8)))\n"
  "for i in range(500): ds.append(random.random()*10**random.randint(-30,30))\n"
  "for v in ds: print('d', struct.pack('<d',v).hex(), H(repr(v)))\n"
  "fs=[0.1,1e-5,1e-4,1e16,16777216.0,3.4028235e38,1e15,1e-45,-0.0,0.0,1.0,0.3,2.5e-5,1/3]\n"
  "for i in range(3000):\n"
  "    b=random.getrandbits(32)\n"
  "    v=np.frombuffer(struct.pack('<I',b),dtype='<f4')[0]\n"
  "    if np.isfinite(v): fs.append(v)\n"
  "for v in fs:\n"
  "    f=np.float32(v); print('f', f.tobytes().hex(), H(str(f)))\n"
  "for b in range(65536):\n"
  "    h=np.frombuffer(struct.pack('<H',b),dtype='<f2')[0]\n"
  "    if np.isfinite(h) or b in (0x7c00,0xfc00): print('h', h.tobytes().hex(), H(str(h)))\n"
  "cs=[1+2j,1j,complex(-0.0,1),complex(0,-1),complex(1.5,-0.0),complex(float('nan'),1),\n"
  "    complex(1,float('inf')),complex(1e16,1e-5),0j,complex(-0.0,-0.0),complex(2,float('nan'))]\n"
  "for c in cs: print('c', struct.pack('<dd',c.real,c.imag).hex(), H(repr(c)))\n"
  "ints=[0,1,-1,127,128,-128,-129,255,256,2**63,-2**63-1,2**64,2**128+12345,-(2**200)+7,10**40]\n"
  "for i in range(50): ints.append(random.getrandbits(random.randint(1,400))*random.choice([1,-1]))\n"
  "for v in ints:\n"
  "    n=max(1,(v.bit_length()+8)//8); print('i', v.to_bytes(n,'little',signed=True).hex(), H(str(v)))\n"
  "ss=['abc',\"it's\",'say \"hi\"','both \\' and \"','tab\\tnl\\n\\r','\\x00\\x7f\\x80\\x9f\\xa0\\xad',\n"
  "    '\\u00e9t\\u00e9','\\u2028\\u200b\\ufeff','\\ud800x','\\ue000','\\U0001f600','back\\\\slash','']\n"
  "for s in ss: print('s', H(s), H(repr(s)))\n"
  "bs=[b'abc',b\"it's\",b'\\x00\\xff\\t\\n\\r\\\\',b'\"\\'',b'']\n"
  "for s in bs: print('b', H(s), H(repr(s)))\n";

typedef struct Fail {
  int n;
  int shown;
} Fail;

static void unhex(const char *h, unsigned char *out, size_t *n) {
  *n = 0;
  if (strcmp(h, "-") == 0) return;
  for (size_t i = 0; h[i] && h[i + 1]; i += 2) {
    unsigned v;
    sscanf(h + i, "%2x", &v);
    out[(*n)++] = (unsigned char)v;
  }
}

static void check(Fail *f, const char *what, const char *input, const char *got, size_t gotlen,
                  const unsigned char *want, size_t wantlen) {
  if (gotlen == wantlen && memcmp(got, want, wantlen) == 0) return;
  f->n++;
  if (f->shown++ < 15)
    fprintf(stderr, "  %s %s: got [%.*s] want [%.*s]\n", what, input, (int)gotlen, got,
            (int)wantlen, (const char *)want);
}

static void test_against_python(void **state) {
  (void)state;
  FILE *tmp = fopen("/tmp/modelfs_test_text.py", "w");
  assert_non_null(tmp);
  fputs(TRUTH, tmp);
  fclose(tmp);
  FILE *p = popen("/usr/bin/python3 /tmp/modelfs_test_text.py", "r");
  assert_non_null(p);
  static char line[1 << 16];
  static unsigned char a[1 << 15], w[1 << 15];
  Fail f = {0, 0};
  int counts[8] = {0};
  while (fgets(line, sizeof line, p)) {
    char kind[4], h1[1 << 14], h2[1 << 14];
    if (sscanf(line, "%3s %16383s %16383s", kind, h1, h2) != 3) continue;
    size_t na, nw;
    unhex(h1, a, &na);
    unhex(h2, w, &nw);
    char out[TEXT_FLOAT_MAX];
    Buf b;
    buf_init(&b);
    switch (kind[0]) {
      case 'd': {
        double v;
        memcpy(&v, a, 8);
        int n = text_double(out, v);
        check(&f, "repr(float)", h1, out, (size_t)n, w, nw);
        counts[0]++;
        break;
      }
      case 'f': {
        float v;
        memcpy(&v, a, 4);
        int n = text_float32(out, v);
        check(&f, "str(float32)", h1, out, (size_t)n, w, nw);
        counts[1]++;
        break;
      }
      case 'h': {
        uint16_t v;
        memcpy(&v, a, 2);
        int n = text_half(out, v);
        check(&f, "str(float16)", h1, out, (size_t)n, w, nw);
        counts[2]++;
        break;
      }
      case 'c': {
        double re, im;
        memcpy(&re, a, 8);
        memcpy(&im, a + 8, 8);
        text_complex(&b, re, im, 0);
        check(&f, "repr(complex)", h1, b.p, b.len, w, nw);
        counts[3]++;
        break;
      }
      case 'i':
        text_bigint(&b, a, na);
        check(&f, "str(int)", h1, b.p, b.len, w, nw);
        counts[4]++;
        break;
      case 's':
        text_repr_str(&b, (const char *)a, na);
        check(&f, "repr(str)", h1, b.p, b.len, w, nw);
        counts[5]++;
        break;
      case 'b':
        text_repr_bytes(&b, a, na);
        check(&f, "repr(bytes)", h1, b.p, b.len, w, nw);
        counts[6]++;
        break;
    }
    buf_free(&b);
  }
  assert_int_equal(pclose(p), 0);
  fprintf(stderr, "  checked %d doubles, %d float32, %d float16, %d complex, %d ints, %d str, %d bytes\n",
          counts[0], counts[1], counts[2], counts[3], counts[4], counts[5], counts[6]);
  assert_true(counts[0] > 5000 && counts[1] > 2000 && counts[2] > 60000);
  assert_int_equal(f.n, 0);
}

/* A few fixed expectations, readable without Python. */
static void test_fixed(void **state) {
  (void)state;
  char out[TEXT_FLOAT_MAX];
  text_double(out, 1e-5);
  assert_string_equal(out, "1e-05");
  text_double(out, 1e16);
  assert_string_equal(out, "1e+16");
  text_double(out, 0.0001);
  assert_string_equal(out, "0.0001");
  text_double(out, -0.0);
  assert_string_equal(out, "-0.0");
  text_double(out, NAN);
  assert_string_equal(out, "nan");
  text_float32(out, 0.0001f);
  assert_string_equal(out, "1e-04");
  Buf b;
  buf_init(&b);
  text_complex(&b, -0.0, 1, 0);
  assert_string_equal(b.p, "(-0+1j)");
  buf_free(&b);
}

/* Runs a python snippet that prints the expected bytes as hex on one line. */
static size_t python_hex(const char *code, unsigned char *out, size_t cap) {
  FILE *tmp = fopen("/tmp/modelfs_test_text2.py", "w");
  assert_non_null(tmp);
  fputs(code, tmp);
  fclose(tmp);
  FILE *p = popen("/usr/bin/python3 /tmp/modelfs_test_text2.py", "r");
  assert_non_null(p);
  static char line[1 << 20];
  size_t n = 0;
  if (fgets(line, sizeof line, p)) {
    line[strcspn(line, "\n")] = '\0';
    for (size_t i = 0; line[i] && line[i + 1] && n < cap; i += 2) {
      unsigned v;
      sscanf(line + i, "%2x", &v);
      out[n++] = (unsigned char)v;
    }
  }
  assert_int_equal(pclose(p), 0);
  return n;
}

static NdArray *make_array(ValueSet *vs, const char *typestr, int ndim, const uint64_t *shape,
                           int fortran, const void *data, size_t len) {
  NdArray *a = arena_alloc(vs->arena, sizeof *a);
  a->dtype = dtype_from_str(vs, typestr, 0);
  assert_non_null(a->dtype);
  a->ndim = ndim;
  a->shape = arena_memdup(vs->arena, shape, sizeof(uint64_t) * (ndim ? ndim : 1));
  a->fortran = fortran;
  a->data.mem = arena_memdup(vs->arena, data, len ? len : 1);
  a->data.len = len;
  return a;
}

/* .txt views: numpy.loadtxt of our text gives back the same bits; Fortran data
** prints in logical order; >2-D gets the shape line. */
static void test_txt_views(void **state) {
  (void)state;
  Err e;
  err_clear(&e);
  ValueSet vs = {arena_new(), 0, &e};
  static unsigned char want[1 << 16];
  /* f8 2x3 Fortran-ordered bytes of [[0.1, 1e-05, 1e16],[-0.0, nan, 5e-324]] */
  double c[6] = {0.1, 1e-05, 1e16, -0.0, NAN, 5e-324};
  double fo[6] = {c[0], c[3], c[1], c[4], c[2], c[5]};
  uint64_t s23[2] = {2, 3};
  NdArray *a = make_array(&vs, "<f8", 2, s23, 1, fo, sizeof fo);
  Buf b;
  buf_init(&b);
  assert_int_equal(text_array_view(&b, a, &e), MFS_OK);
  assert_string_equal(b.p, "0.1 1e-05 1e+16\n-0.0 nan 5e-324\n");
  /* loadtxt round trip */
  FILE *tf = fopen("/tmp/modelfs_view.txt", "w");
  fwrite(b.p, 1, b.len, tf);
  fclose(tf);
  size_t n = python_hex(
      "import numpy as np\n"
      "a=np.loadtxt('/tmp/modelfs_view.txt')\n"
      "print(a.tobytes().hex())\n", want, sizeof want);
  assert_int_equal(n, 48);
  assert_memory_equal(want, c, 48);
  buf_free(&b);

  /* 3-D int32 big-endian: shape line and rows of the last axis */
  uint64_t s3[3] = {2, 1, 2};
  unsigned char be[16] = {0, 0, 0, 1, 0xff, 0xff, 0xff, 0xfe, 0, 0, 1, 0, 0x7f, 0xff, 0xff, 0xff};
  a = make_array(&vs, ">i4", 3, s3, 0, be, sizeof be);
  buf_init(&b);
  assert_int_equal(text_array_view(&b, a, &e), MFS_OK);
  assert_string_equal(b.p, "# shape: (2, 1, 2)\n1 -2\n256 2147483647\n");
  buf_free(&b);

  /* bools, complex, strings */
  uint64_t s2[1] = {2};
  unsigned char bo[2] = {1, 0};
  a = make_array(&vs, "|b1", 1, s2, 0, bo, 2);
  buf_init(&b);
  text_array_view(&b, a, &e);
  assert_string_equal(b.p, "1\n0\n");
  buf_free(&b);
  double cx[4] = {1, 2, 0, -1};
  a = make_array(&vs, "<c16", 1, s2, 0, cx, sizeof cx);
  buf_init(&b);
  text_array_view(&b, a, &e);
  assert_string_equal(b.p, "(1+2j)\n(0-1j)\n");
  tf = fopen("/tmp/modelfs_view.txt", "w");
  fwrite(b.p, 1, b.len, tf);
  fclose(tf);
  n = python_hex("import numpy as np\n"
                 "print(np.loadtxt('/tmp/modelfs_view.txt',dtype=complex).tobytes().hex())\n",
                 want, sizeof want);
  assert_int_equal(n, 32);
  assert_memory_equal(want, cx, 32);
  buf_free(&b);
  uint32_t u[6] = {'a', 'b', 0, 0xe9, 0, 0};
  a = make_array(&vs, "<U3", 1, s2, 0, u, sizeof u);
  buf_init(&b);
  text_array_view(&b, a, &e);
  assert_string_equal(b.p, "ab\n\xc3\xa9\n");
  buf_free(&b);
  /* an array with an error never gives text */
  a->error = "companion file missing";
  buf_init(&b);
  err_clear(&e);
  assert_int_not_equal(text_array_view(&b, a, &e), MFS_OK);
  buf_free(&b);
  arena_free(vs.arena);
}

/* numpy scalar strs from raw bytes */
static void test_scalars(void **state) {
  (void)state;
  Err e;
  err_clear(&e);
  ValueSet vs = {arena_new(), 0, &e};
  struct { const char *t; const char *hex; const char *want; } cases[] = {
    {"<f4", "cdcccc3d", "0.1"},
    {"<f8", "000000000000f03f", "1.0"},
    {"<i8", "ffffffffffffffff", "-1"},
    {"|b1", "01", "True"},
    {"<U2", "6100000062000000", "ab"},
    {"|S3", "616200", "b'ab'"},
    {"<M8[D]", "0100000000000000", "1970-01-02"},
    {"<M8[ns]", "0100000000000000", "1970-01-01T00:00:00.000000001"},
    {"<m8[D]", "0500000000000000", "5 days"},
    {"<c8", "000000000000803f", "1j"},
    {"<f2", "0034", "0.25"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    Value *dt = dtype_from_str(&vs, cases[i].t, 0);
    assert_non_null(dt);
    unsigned char raw[64];
    size_t n;
    unhex(cases[i].hex, raw, &n);
    Buf b;
    buf_init(&b);
    text_element(&b, dt->u.dtype, raw, 0);
    if (strcmp(b.p, cases[i].want) != 0) fprintf(stderr, "  %s: got %s\n", cases[i].t, b.p);
    assert_string_equal(b.p, cases[i].want);
    buf_free(&b);
  }
  arena_free(vs.arena);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_fixed),
    cmocka_unit_test(test_against_python),
    cmocka_unit_test(test_txt_views),
    cmocka_unit_test(test_scalars),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
