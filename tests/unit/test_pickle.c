/*
** test_pickle.c -- the pickle VM: every opcode family against what CPython does.
**
** Most expectations come from Python itself: scripts/pickle_cases.py pickles
** objects at protocols 0-5 and prints a canonical text of each object, which
** must equal the canonical text of our decoded graph (canon.h).  The rest are
** the reference streams of FORMATS.md 1.x, Python-2 streams, and hostile input.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "canon.h"
#include "modelfs/limits.h"
#include "modelfs/pickle.h"

#define DECODE(lit) decode_bytes(lit, sizeof(lit) - 1)

/* Decode, compare the canon, free. */
static void expect_canon(const void *p, size_t n, const char *want) {
  Model *m = decode_bytes(p, n);
  assert_non_null(m);
  if (!m->ok) fprintf(stderr, "error: %s\n", m->err.msg);
  assert_true(m->ok);
  char *got = canon_of(m->root);
  if (strcmp(got, want) != 0) fprintf(stderr, "got  %s\nwant %s\n", got, want);
  assert_string_equal(got, want);
  free(got);
  model_free(m);
}

#define EXPECT(lit, want) expect_canon(lit, sizeof(lit) - 1, want)

/* Decode, expect an error whose message contains `part`; returns nothing. */
static void expect_error(const void *p, size_t n, MfsStatus code, const char *part) {
  Model *m = decode_bytes(p, n);
  assert_non_null(m);
  assert_false(m->ok);
  if (strstr(m->err.msg, part) == NULL || (code != MFS_OK && m->err.code != code))
    fprintf(stderr, "message: %s (code %d)\n", m->err.msg, m->err.code);
  assert_non_null(strstr(m->err.msg, part));
  if (code != MFS_OK) assert_int_equal(m->err.code, code);
  model_free(m);
}

#define EXPECT_ERR(lit, code, part) expect_error(lit, sizeof(lit) - 1, code, part)

static int has_global(Model *m, const char *mod, const char *name) {
  for (size_t i = 0; i < m->globals->u.seq.n; i++)
    if (value_is_global(m->globals->u.seq.items[i], mod, name)) return 1;
  return 0;
}

/* ---- Python-generated cases ---------------------------------------------------------- */

/* ---- UTF-8 checks and the memo (the fast paths of pickle.c) ---------------------------- */

/* BINUNICODE of n bytes: 1 when the VM takes it as text. */
static int binunicode_ok(const char *text, size_t n) {
  uint8_t buf[256];
  assert_true(n + 8 <= sizeof buf);
  memcpy(buf, "\x80\x04X", 3);
  for (int i = 0; i < 4; i++) buf[3 + i] = (uint8_t)(n >> (8 * i));
  memcpy(buf + 7, text, n);
  buf[7 + n] = '.';
  Model *m = decode_bytes(buf, n + 8);
  assert_non_null(m);
  int ok = m->ok;
  if (!ok) assert_non_null(strstr(m->err.msg, "invalid UTF-8"));
  model_free(m);
  return ok;
}

#define UTF8_OK(lit) binunicode_ok(lit, sizeof(lit) - 1)

static void test_utf8_edges(void **state) {
  (void)state;
  assert_true(UTF8_OK("plain ascii, more than eight bytes long"));
  assert_true(UTF8_OK("aaaaaaa\xc3\xa9" "bbbbbbbb"));           /* a pair across words */
  assert_true(UTF8_OK("\xc2\x80\xc3\xbf\xc2\xa0\xc3\x80" "\xc3\xa9xyzabcd"));
  assert_true(UTF8_OK("aaaaaaaa\xe2\x82\xac" "aaaaaaaaaaaaaaaa"));   /* 3-byte after a run */
  assert_true(UTF8_OK("aaaaaaaa\xf0\x9f\x98\x80" "aaaaaaaaaaaa"));   /* 4-byte */
  assert_true(UTF8_OK("aaaaaaaa\xed\xa0\x80" "aaaaaaaa"));          /* surrogatepass */
  assert_true(UTF8_OK("aaaaaaaaaaaaaaa\xc3\xa9"));                 /* pair ends the string */
  assert_false(UTF8_OK("aaaaaaa\xc3"));                            /* lead at the end */
  assert_false(UTF8_OK("aaaaaaa\xc3" "Xaaaaaaa"));                 /* lead, then no continuation */
  assert_false(UTF8_OK("aaaaaaaa\x80" "aaaaaaa"));                 /* stray continuation */
  assert_false(UTF8_OK("aaaaaaaa\xc0\x80" "aaaaaa"));              /* overlong 2-byte */
  assert_false(UTF8_OK("aaaaaaaa\xe0\x80\x80" "aaaaa"));           /* overlong 3-byte */
  assert_false(UTF8_OK("aaaaaaaa\xf0\x80\x80\x80" "aaaa"));        /* overlong 4-byte */
  assert_false(UTF8_OK("aaaaaaaa\xf4\x90\x80\x80" "aaaa"));        /* above U+10FFFF */
  assert_false(UTF8_OK("aaaaaaaaaaaaaa\xe2\x82"));                 /* cut 3-byte */
  assert_false(UTF8_OK("aaaaaaaaaaaaa\xf0\x9f\x98"));              /* cut 4-byte */
  assert_false(UTF8_OK("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xff"));        /* bad continuation in a word */
  assert_true(UTF8_OK("\xc3\xa9\xc3\xa9\xc3\xa9\xc4\x80"));         /* U+0100: general path */
  assert_true(UTF8_OK("\xc3\xa9\xc3\xa9\xc3\xa9\xc4\x80" "aaaa\xc3\xa9" "aaaaaaaa"));
}

/* Keys 0.. go to the memo's array, a large one to its table; a key put in the
** table before the array grew over it is still found and replaced there. */
static void test_memo_dense_sparse(void **state) {
  (void)state;
  uint8_t buf[1024];
  size_t n = 0;
  memcpy(buf + n, "\x80\x02(K\x01q\x64", 7);         /* 1 -> memo[100] (table) */
  n += 7;
  for (int i = 0; i < 80; i++) {                      /* 7 -> memo[0..79] (array) */
    memcpy(buf + n, "K\x07q", 3);
    buf[n + 3] = (uint8_t)i;
    buf[n + 4] = '0';
    n += 5;
  }
  memcpy(buf + n, "K\x09q\x64" "0" "h\x64" "h\x00" "K\x03r\x00\x00\x00\x40" "0" "j\x00\x00\x00\x40" "t.", 24);
  n += 24;
  expect_canon(buf, n, "(i1,i9,i7,i3)");
  EXPECT_ERR("\x80\x02K\x01q\x00" "0h\x01.", MFS_ECORRUPT, "memo value not found at index 1");
}

static void test_python_cases(void **state) {
  (void)state;
  int ran = 0;
  int fails = run_cases("basic", NULL, &ran);
  assert_int_equal(fails, 0);
  assert_true(ran >= 170);
}

/* ---- FORMATS.md 1.4, 1.5, 1.10 reference streams ---------------------------------------- */

static void test_memoize_after_binput(void **state) {
  (void)state;
  /* MEMOIZE after a BINPUT at 5 stores at key 1 (the number of entries). */
  EXPECT("\x80\x04\x4b\x07\x71\x05\x4b\x08\x94\x68\x01\x68\x05\x86\x2e", "(i8,i7)");
  /* PUT overwrites; MEMOIZE then counts entries, not the highest index. */
  EXPECT("\x80\x04\x4b\x01\x71\x00\x4b\x02\x71\x00\x4b\x03\x94\x68\x00\x68\x01\x87\x2e", "(i3,i2,i3)");
  /* LONG_BINPUT 300 / LONG_BINGET 300 */
  EXPECT("\x80\x02\x4b\x09\x72\x2c\x01\x00\x00\x30\x6a\x2c\x01\x00\x00\x2e", "i9");
  EXPECT_ERR("\x80\x02\x4b\x09\x71\x01\x30\x68\x02\x2e", MFS_ECORRUPT, "memo value not found at index 2");
}

static void test_recursive_tuples(void **state) {
  (void)state;
  /* protocol 0: n+1 POPs, the last one pops the MARK */
  EXPECT("((lp0\n(g0\ntp1\na00g1\n.", "&1([*1])");
  /* protocol 1: POP_MARK */
  EXPECT("(K\x01]q\x00(K\x01h\x00tq\x01" "a1h\x01.", "&1(i1,[*1])");
  /* protocol 2: TUPLE1 then one POP */
  EXPECT("\x80\x02\x5d\x71\x00\x68\x00\x85\x71\x01\x61\x30\x68\x01\x2e", "&1([*1])");
  Model *m = DECODE("((lp0\n(g0\ntp1\na00g1\n.");
  assert_true(m->ok);
  Value *t = m->root, *l = t->u.seq.items[0];
  assert_int_equal(t->kind, VAL_TUPLE);
  assert_ptr_equal(l->u.seq.items[0], t);
  model_free(m);
}

static void test_reference_streams(void **state) {
  (void)state;
  EXPECT("N.", "N");
  EXPECT("(lp0\n.", "[]");
  EXPECT("(dp0\n.", "d{}");
  EXPECT("(t.", "()");
  EXPECT("\x80\x02\x5d\x71\x00\x68\x00\x61\x2e", "&1[*1]");
  EXPECT("\x80\x03\x7d\x71\x00\x28\x58\x01\x00\x00\x00\x61\x71\x01\x4b\x01\x58\x01\x00\x00\x00\x62"
         "\x71\x02\x5d\x71\x03\x75\x2e", "d{s61:i1,s62:[]}");
  EXPECT("\x80\x04\x95\x09\x00\x00\x00\x00\x00\x00\x00\x8f\x94\x28\x4b\x01\x4b\x02\x90\x2e", "{i1,i2}");
  EXPECT("c_codecs\nencode\np0\n(Vab\\u0000\xff\np1\nVlatin1\np2\ntp3\nRp4\n.", "b616200ff");
  EXPECT("\x80\x02\x63_codecs\nencode\n\x71\x00\x58\x04\x00\x00\x00\x61\x62\xc3\xbf\x71\x01\x58\x06"
         "\x00\x00\x00latin1\x71\x02\x86\x71\x03\x52\x71\x04\x2e", "b6162ff");
  EXPECT("\x80\x02\x63__builtin__\nbytes\n\x71\x00\x29\x52\x71\x01\x2e", "b");
  EXPECT("\x47\x3f\xf8\x00\x00\x00\x00\x00\x00\x2e", "f3ff8000000000000");
  /* the same str twice is the same value */
  const char shared[] = "\x5d\x71\x00\x28\x58\x03\x00\x00\x00\x61\x62\x63\x71\x01\x68\x01\x28\x4b\x01"
                        "\x4b\x02\x74\x71\x02\x65\x2e";
  Model *m = decode_bytes(shared, sizeof shared - 1);
  assert_true(m->ok);
  assert_ptr_equal(m->root->u.seq.items[0], m->root->u.seq.items[1]);
  model_free(m);
}

static void test_instance_protocol0(void **state) {
  (void)state;
  const char s[] = "ccopy_reg\n_reconstructor\np0\n(cmymod\nC\np1\nc__builtin__\nobject\np2\nNtp3\nRp4\n"
                   "(dp5\nVa\np6\nI1\nsb.";
  expect_canon(s, sizeof s - 1, "O<gmymod.C|()|d{s61:i1}|-|->");
  Model *m = decode_bytes(s, sizeof s - 1);
  assert_true(has_global(m, "copyreg", "_reconstructor"));
  assert_true(has_global(m, "builtins", "object"));
  assert_true(has_global(m, "mymod", "C"));
  assert_int_equal(m->globals->u.seq.n, 3);
  model_free(m);
}

/* Python 2 cPickle: ['ab\'"\n\xff', u'\xe9\\', 2**70, True] at protocols 0 and 2 */
static void test_python2_streams(void **state) {
  (void)state;
  const char *want = "[p616227220aff,sc3a95c,i1180591620717411303424,T]";
  EXPECT("(lp1\nS'ab\\'\"\\n\\xff'\np2\naV\xe9\\u005c\np3\naL1180591620717411303424L\naI01\na.", want);
  EXPECT("\x80\x02\x5d\x71\x01\x28\x55\x06\x61\x62\x27\x22\x0a\xff\x71\x02\x58\x03\x00\x00\x00\xc3\xa9"
         "\x5c\x71\x03\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x40\x88\x65\x2e", want);
  EXPECT("T\x03\x00\x00\x00" "abc.", "p616263");
}

/* ---- opcode families ---------------------------------------------------------------- */

static void test_int_text(void **state) {
  (void)state;
  EXPECT("I01\n.", "T");
  EXPECT("I00\n.", "F");
  EXPECT("I-3\n.", "i-3");
  EXPECT("I1099511627776\n.", "i1099511627776");
  EXPECT("I99999999999999999999\n.", "i99999999999999999999");
  EXPECT("I010\n.", "i8");          /* CPython tries strtol(base 0) first */
  EXPECT("I0x1f\n.", "i31");
  EXPECT("L1180591620717411303424L\n.", "i1180591620717411303424");
  EXPECT("L-5\n.", "i-5");
  EXPECT("L0x1_0L\n.", "i16");
  EXPECT("L-0b1\n.", "i-1");
  EXPECT_ERR("L010L\n.", MFS_ECORRUPT, "could not convert");
  EXPECT_ERR("I1a\n.", MFS_ECORRUPT, "could not convert");
  EXPECT_ERR("\x80\x01I\n.", MFS_ECORRUPT, "INT");
  char big[6000];
  memset(big, '7', sizeof big);
  big[0] = 'L';
  memcpy(big + sizeof big - 3, "\n.", 2);
  big[sizeof big - 1] = 0;
  expect_error(big, sizeof big - 1, MFS_ECORRUPT, "limit of digits");
}

static void test_long_binary(void **state) {
  (void)state;
  EXPECT("\x80\x02\x8a\x05\x00\x00\x00\x80\x00.", "i2147483648");
  EXPECT("\x80\x02\x8a\x05\xff\xff\xff\x7f\xff.", "i-2147483649");
  EXPECT("\x80\x02\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x80\x00.", "i9223372036854775808");
  EXPECT("\x80\x02\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x80.", "i-9223372036854775808");
  EXPECT("\x80\x02\x8a\x00.", "i0");
  EXPECT("\x80\x02\x8a\x02\xff\x00.", "i255");
  EXPECT("\x80\x02\x8a\x02\x00\xff.", "i-256");
  EXPECT("\x80\x02\x8a\x01\x7f.", "i127");
  EXPECT("\x80\x02\x8a\x01\x80.", "i-128");
  EXPECT("\x80\x02\x8b\x02\x00\x00\x00\x00\x01.", "i256");
  EXPECT_ERR("\x80\x02\x8b\xfe\xff\xff\xff.", MFS_ECORRUPT, "negative byte count");
  EXPECT("\x80\x02J\xff\xff\xff\xff.", "i-1");
  EXPECT("\x80\x02M\xff\xff.", "i65535");
}

static void test_float_text(void **state) {
  (void)state;
  EXPECT("F1.5\n.", "f3ff8000000000000");
  EXPECT("Finf\n.", "f7ff0000000000000");
  EXPECT("F-inf\n.", "ffff0000000000000");
  EXPECT("F-0.0\n.", "f8000000000000000");
  EXPECT("F0.10000000000000001\n.", "f3fb999999999999a");
  Model *m = DECODE("Fnan\n.");
  assert_true(m->ok && m->root->kind == VAL_FLOAT && m->root->u.f != m->root->u.f);
  model_free(m);
  EXPECT_ERR("\x80\x01" "F0x10\n.", MFS_ECORRUPT, "float");
  EXPECT_ERR("\x80\x01" "F 1.5\n.", MFS_ECORRUPT, "float");
  EXPECT_ERR("F1e999\n.", MFS_ECORRUPT, "float");
}

static void test_unicode_escapes(void **state) {
  (void)state;
  EXPECT("Va\\u005cb\\u000ac\xe9\\u4e2d\\u000d\\u001a\\u0000\n.", "s615c620a63c3a9e4b8ad0d1a00");
  EXPECT("V\\U0001f600\n.", "sf09f9880");
  EXPECT("V\\\\u0041\n.", "s5c5c7530303431");        /* even run: literal */
  EXPECT("V\\\\\\u0041\n.", "s5c5c41");                /* odd run: escape */
  EXPECT("V\\x41\\\n.", "s5c7834315c");                 /* other escapes and a trailing \ */
  EXPECT("V\\ud800\n.", "seda080");                     /* lone surrogate kept */
  EXPECT_ERR("V\\u00\n.", MFS_ECORRUPT, "truncated");
  EXPECT_ERR("V\\U00110000\n.", MFS_ECORRUPT, "out of range");
  EXPECT_ERR("\x80\x04\x8c\x02\xc3\x28.", MFS_ECORRUPT, "UTF-8");
  EXPECT("\x80\x04\x8c\x03\xed\xa0\x80.", "seda080");   /* surrogatepass */
}

static void test_string_escapes(void **state) {
  (void)state;
  EXPECT("S'\\x41\\101\\q\\'\\\\\\n\\t\\0'\n.", "p41415c71275c0a0900");
  EXPECT("S\"it's\"\n.", "p69742773");
  EXPECT("S''\n.", "p");
  EXPECT_ERR("\x80\x01" "Sabc\n.", MFS_ECORRUPT, "must be quoted");
  EXPECT_ERR("S'abc\"\n.", MFS_ECORRUPT, "must be quoted");
  EXPECT_ERR("S'\\x4'\n.", MFS_ECORRUPT, "invalid \\x escape");
  EXPECT_ERR("S'a\\'\n.", MFS_ECORRUPT, "trailing");
}

static void test_py2_names(void **state) {
  (void)state;
  const char s[] = "(c__builtin__\nlong\nccopy_reg\n_reconstructor\ncexceptions\nValueError\n"
                   "cexceptions\nFoo\ncitertools\nizip\nc__builtin__\nxrange\ncUserDict\nUserDict\nl.";
  expect_canon(s, sizeof s - 1,
               "[gbuiltins.int,gcopyreg._reconstructor,gbuiltins.ValueError,gexceptions.Foo,"
               "gbuiltins.zip,gbuiltins.range,gcollections.UserDict]");
  Model *m = decode_bytes(s, sizeof s - 1);
  assert_true(has_global(m, "builtins", "int"));
  assert_true(has_global(m, "exceptions", "Foo"));
  assert_false(has_global(m, "__builtin__", "long"));
  model_free(m);
  /* protocol 3 and later: no mapping */
  EXPECT("\x80\x03\x63__builtin__\nlong\n.", "g__builtin__.long");
  const char *mod = "__builtin__", *name = "unicode";
  pickle_map_py2_name(&mod, &name);
  assert_string_equal(mod, "builtins");
  assert_string_equal(name, "str");
  mod = "Queue", name = "Queue";
  pickle_map_py2_name(&mod, &name);
  assert_string_equal(mod, "queue");
  assert_string_equal(name, "Queue");
}

static void test_calls(void **state) {
  (void)state;
  EXPECT("(I1\nimymod\nC\n.", "O<gmymod.C|(i1)|-|-|->");
  EXPECT("(cmymod\nC\nI1\nI2\no.", "O<gmymod.C|(i1,i2)|-|-|->");
  EXPECT("\x80\x04\x8c\x01m\x8c\x01" "C\x93)}\x8c\x01k\x4b\x01s\x92.", "O<gm.C|()|-|-|->");
  Model *m = DECODE("\x80\x04\x8c\x01m\x8c\x01" "C\x93)}\x8c\x01k\x4b\x01s\x92.");
  assert_true(m->ok && m->root->u.obj->kwargs != NULL && m->root->u.obj->how == OBJ_NEWOBJ_EX);
  model_free(m);
  /* a callable that is itself a built value */
  EXPECT("\x80\x02" "cm\nf\n)R)R.", "O<O<gm.f|()|-|-|->|()|-|-|->");
  /* BUILD twice with dict states merges; SETITEMS/APPENDS go to the object */
  EXPECT("\x80\x02" "cm\nC\n)\x81}X\x01\x00\x00\x00" "aK\x01sb}(X\x01\x00\x00\x00" "bK\x02X\x01\x00\x00\x00" "aK\x03ub.",
         "O<gm.C|()|d{s61:i3,s62:i2}|-|->");
  EXPECT("\x80\x02" "cm\nL\n)\x81(K\x01K\x02" "e(K\x03K\x04u.", "O<gm.L|()|-|[i1,i2]|d{i3:i4}>");
  EXPECT_ERR("\x80\x02" "cm\nf\nK\x01R.", MFS_ECORRUPT, "must be a tuple");
  EXPECT_ERR("\x80\x04K\x01\x8c\x01" "f\x93.", MFS_ECORRUPT, "STACK_GLOBAL requires str");
  EXPECT_ERR("\x80\x02K\x01K\x02" "b.", MFS_EUNSUPPORTED, "cannot apply a state");
}

static void test_external_refs(void **state) {
  (void)state;
  Model *m = DECODE("Pkey42\n.");
  assert_true(m->ok);
  char *c = canon_of(m->root);
  assert_string_equal(c, "O<gpickle.persistent_load|(s6b65793432)|-|-|->");
  free(c);
  /* The hook the loader would call is listed, so the verdict is never "safe". */
  assert_int_equal(m->globals->u.seq.n, 1);
  assert_string_equal(m->globals->u.seq.items[0]->u.global.name, "persistent_load");
  model_free(m);
  EXPECT("\x80\x02X\x05\x00\x00\x00key42q\x01Q.", "O<gpickle.persistent_load|(s6b65793432)|-|-|->");
  EXPECT("\x80\x02\x82\xab.", "O<gcopyreg._inverted_registry|(i171)|-|-|->");
  EXPECT("\x80\x02\x83\x34\x12.", "O<gcopyreg._inverted_registry|(i4660)|-|-|->");
  EXPECT("\x80\x02\x84\x78\x56\x34\x12.", "O<gcopyreg._inverted_registry|(i305419896)|-|-|->");
  EXPECT_ERR("\x80\x02\x84\x00\x00\x00\x80.", MFS_ECORRUPT, "code <= 0");
}

static void test_buffers(void **state) {
  (void)state;
  EXPECT_ERR("\x80\x05\x5d\x94\x28\x97\x97\x98\x65\x2e", MFS_EUNSUPPORTED, "out-of-band buffer");
  EXPECT("\x80\x05\x96\x02\x00\x00\x00\x00\x00\x00\x00" "ab\x94.", "y6162");
  EXPECT("\x80\x05\x43\x02" "ab\x98.", "b6162");
  EXPECT_ERR("\x80\x05K\x01\x98.", MFS_EUNSUPPORTED, "out-of-band buffer");
}

static void test_stack_errors(void **state) {
  (void)state;
  EXPECT_ERR("\x80\x02\x86.", MFS_ECORRUPT, "stack underflow");
  EXPECT_ERR("\x80\x02K\x01(\x85.", MFS_ECORRUPT, "stack underflow");   /* TUPLE1 cannot pass a MARK */
  EXPECT_ERR("\x80\x02\x31.", MFS_ECORRUPT, "could not find MARK");
  EXPECT_ERR("\x80\x02(K\x01K\x02K\x03" "d.", MFS_ECORRUPT, "odd number of items for DICT");
  EXPECT_ERR("\x80\x02}(K\x01u.", MFS_ECORRUPT, "odd number of items for SETITEMS");
  EXPECT_ERR("\x80\x02(.", MFS_ECORRUPT, "stack underflow");
  EXPECT_ERR("\x80\x02K\x01", MFS_ETRUNC, "truncated");
  EXPECT_ERR("\x80\x02\x80\x06N.", MFS_EUNSUPPORTED, "unsupported pickle protocol: 6");
  EXPECT_ERR("\x80\x02\xff.", MFS_ECORRUPT, "invalid load key");
  EXPECT_ERR("(p-1\n.", MFS_ECORRUPT, "negative PUT argument");
  EXPECT_ERR("\x80\x02K\x01" "a.", MFS_ECORRUPT, "stack underflow");
  EXPECT_ERR("\x80\x02K\x01K\x02" "a.", MFS_ECORRUPT, "cannot append items to a int");
  EXPECT("\x80\x02(K\x01\x30\x30N.", "N");        /* POP of the value, then of the MARK */
  EXPECT("\x80\x02K\x05\x32\x86.", "(i5,i5)");    /* DUP */
  /* DICT and FROZENSET of nothing on a stack never used: no pointer into it */
  EXPECT("(d.", "d{}");
  EXPECT("\x80\x04(\x91.", "z{}");
  /* keys and members CPython refuses */
  EXPECT_ERR("\x80\x02(]K\x01" "d.", MFS_ECORRUPT, "unhashable type: 'list'");
  EXPECT_ERR("\x80\x04\x8f(}\x90.", MFS_ECORRUPT, "unhashable type: 'dict'");
}

static void test_messages_name_opcode(void **state) {
  (void)state;
  Model *m = DECODE("\x80\x02X\x05\x00\x00\x00" "ab");
  assert_false(m->ok);
  assert_int_equal(m->err.code, MFS_ETRUNC);
  assert_string_equal(m->err.msg, "offset 2: BINUNICODE: length 5 exceeds the 2 bytes that remain");
  assert_int_equal(m->err.offset, 2);
  model_free(m);
}

/* Protocol 0 lines longer than the reader's buffer (bytes written on one line). */
static void test_long_text_line(void **state) {
  (void)state;
  size_t n = 200000;
  char *s = malloc(n + 16);
  s[0] = 'V';
  memset(s + 1, 'x', n);
  memcpy(s + 1 + n, "\n.", 2);
  Model *m = decode_bytes(s, n + 3);
  assert_true(m->ok);
  assert_int_equal(m->root->kind, VAL_STR);
  assert_int_equal(m->root->u.str.len, n);
  model_free(m);
  free(s);
}

/* ---- hostile input ---------------------------------------------------------------- */

static void test_hostile_lengths(void **state) {
  (void)state;
  EXPECT_ERR("\x80\x04\x8e\x00\x00\x00\x00\x00\x00\x00\x40xyz.", MFS_ETRUNC, "BINBYTES8");
  EXPECT_ERR("\x80\x04\x96\xff\xff\xff\xff\xff\xff\xff\xff.", MFS_ETRUNC, "BYTEARRAY8");
  EXPECT_ERR("\x80\x04\x8d\x00\x00\x00\x00\x00\x00\x00\x40xyz.", MFS_ELIMIT, "BINUNICODE8");
  EXPECT_ERR("\x80\x02X\xff\xff\xff\xff.", MFS_ELIMIT, "BINUNICODE");
  EXPECT_ERR("\x80\x02X\xff\xff\x00\x00.", MFS_ETRUNC, "BINUNICODE");
  EXPECT_ERR("\x80\x02T\xff\xff\xff\xff.", MFS_ECORRUPT, "negative byte count");
  EXPECT_ERR("\x80\x02" "B\xff\xff\xff\x7f.", MFS_ETRUNC, "BINBYTES");
  EXPECT_ERR("\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x40N.", MFS_ETRUNC, "FRAME");
  EXPECT_ERR("\x80\x04\x95\xff\xff\xff\xff\xff\xff\xff\xffN.", MFS_ECORRUPT, "FRAME");
  /* A file cut inside its frame keeps what precedes the cut, and the error is
  ** where the bytes end, not at the FRAME. */
  static const char cut[] = "\x80\x04\x95\x40\x00\x00\x00\x00\x00\x00\x00]\x94(K\x01K\x02" "e";
  Model *m = decode_bytes(cut, sizeof cut - 1);
  assert_false(m->ok);
  assert_int_equal(m->err.code, MFS_ETRUNC);
  assert_null(strstr(m->err.msg, "FRAME"));
  assert_true(m->root != NULL && (m->root->flags & VF_PARTIAL));
  char *got = canon_of(m->root);
  if (strstr(got, "2") == NULL) fprintf(stderr, "partial root: %s\n", got);
  assert_non_null(strstr(got, "2"));
  free(got);
  model_free(m);
}

static void test_limits(void **state) {
  (void)state;
  size_t n = MFS_MAX_MARKS + 10;
  char *s = malloc(n + 2);
  memcpy(s, "\x80\x02", 2);
  memset(s + 2, '(', n);
  Model *m = decode_bytes(s, n + 2);
  assert_false(m->ok);
  assert_int_equal(m->err.code, MFS_ELIMIT);
  assert_non_null(strstr(m->err.msg, "MARK"));
  model_free(m);
  free(s);
  n = MFS_MAX_STACK + 10;
  s = malloc(n + 2);
  memcpy(s, "\x80\x02", 2);
  memset(s + 2, ']', n);   /* empty lists: a bottom that holds items stays the root */
  m = decode_bytes(s, n + 2);
  assert_false(m->ok);
  assert_int_equal(m->err.code, MFS_ELIMIT);
  assert_non_null(strstr(m->err.msg, "stack"));
  assert_true(m->root != NULL && (m->root->flags & VF_PARTIAL));
  model_free(m);
  free(s);
}

/* Cut a stream at every offset: an error every time, never a crash or a leak. */
static void truncate_everywhere(const uint8_t *p, size_t n) {
  for (size_t k = 0; k < n; k++) {
    Model *m = decode_bytes(p, k);
    assert_non_null(m);
    if (m->ok) fprintf(stderr, "prefix of %zu/%zu bytes decoded\n", k, n);
    assert_false(m->ok);
    assert_int_not_equal(m->err.code, MFS_OK);
    if (m->root != NULL && strcmp(m->format, "pickle") == 0 && k > 2)
      assert_true(m->root->flags & VF_PARTIAL);
    model_free(m);
  }
}

static void test_truncation(void **state) {
  (void)state;
  static const char *const streams[] = {
    "((lp0\n(g0\ntp1\na00g1\n.",
    "ccopy_reg\n_reconstructor\np0\n(cmymod\nC\np1\nc__builtin__\nobject\np2\nNtp3\nRp4\n(dp5\nVa\np6\nI1\nsb.",
    "(lp1\nS'ab\\'\"\\n\\xff'\np2\naV\xe9\\u005c\np3\naL1180591620717411303424L\naI01\na.",
  };
  for (size_t i = 0; i < sizeof streams / sizeof *streams; i++)
    truncate_everywhere((const uint8_t *)streams[i], strlen(streams[i]));
  /* and a whole estimator at protocols 0, 2, 4, 5 from Python */
  FILE *f = popen("/usr/bin/python3 -c \"import pickle,sys\n"
                  "from sklearn.tree import DecisionTreeClassifier\n"
                  "t=DecisionTreeClassifier(random_state=0).fit([[0],[1],[2]],[0,1,0])\n"
                  "[print(pickle.dumps(t,p).hex()) for p in (0,2,4,5)]\"", "r");
  assert_non_null(f);
  char *line = NULL;
  size_t cap = 0;
  int count = 0;
  while (getline(&line, &cap, f) > 0) {
    line[strcspn(line, "\n")] = 0;
    size_t n;
    uint8_t *p = unhex(line, &n);
    Model *m = decode_bytes(p, n);
    assert_true(m->ok);
    model_free(m);
    truncate_everywhere(p, n);
    free(p);
    count++;
  }
  free(line);
  assert_int_equal(pclose(f), 0);
  assert_int_equal(count, 4);
}

/* ---- pickle_run directly: hooks, nesting ---------------------------------------------- */

static MfsStatus hook_read3(void *ctx, Model *m, Reader *r, Value **obj) {
  int *calls = ctx;
  const uint8_t *p;
  (*calls)++;
  if (!value_is_global((*obj)->u.obj->callable, "m", "W")) return MFS_OK;
  if (reader_take(r, 3, &p) != MFS_OK) return m->err.code;
  *obj = value_str(&m->vs, (const char *)p, 3);
  return MFS_OK;
}

static void test_after_build_hook(void **state) {
  (void)state;
  Model *m = DECODE("N.");
  assert_true(m->ok);
  const char s[] = "\x80\x02\x63m\nW\n)\x81}bxyzcm\nV\n)\x81}bN\x87.";
  Source *src = source_from_memory(s, sizeof s - 1, "hook");
  Reader r;
  assert_int_equal(reader_init(&r, src, 0, &m->err), MFS_OK);
  int calls = 0;
  PickleHooks hooks = {&calls, hook_read3, NULL, NULL};
  Value *result;
  int proto;
  assert_int_equal(pickle_run(m, &r, &hooks, 0, &result, &proto), MFS_OK);
  assert_int_equal(proto, 2);
  assert_int_equal(calls, 2);
  char *c = canon_of(result);
  assert_string_equal(c, "(s78797a,O<gm.V|()|d{}|-|->,N)");
  free(c);
  assert_ptr_equal(r.err, &m->err);   /* the reader's Err is given back */
  reader_done(&r);
  /* nesting deeper than the limit is refused */
  assert_int_equal(reader_init(&r, src, 0, &m->err), MFS_OK);
  assert_int_equal(pickle_run(m, &r, NULL, MFS_MAX_NESTED_PICKLES + 1, &result, NULL), MFS_ELIMIT);
  reader_done(&r);
  source_unref(src);
  model_free(m);
}

/* A second BUILD updates the state as __dict__.update: old keys get new values,
** new keys are appended, in time linear in the keys (a file may BUILD a large
** state onto itself again and again). */
static void test_build_merges_states(void **state) {
  (void)state;
  Model *m = DECODE("\x80\x02" "cm\nC\n)\x81}(X\x01\x00\x00\x00" "aK\x01X\x01\x00\x00\x00" "bK\x02ub"
                    "}(X\x01\x00\x00\x00" "aK\x09X\x01\x00\x00\x00" "cK\x03X\x01\x00\x00\x00" "cK\x04ub.");
  assert_true(m->ok);
  Value *st = m->root->u.obj->state;
  assert_int_equal(st->kind, VAL_DICT);
  assert_int_equal(st->u.dict.n, 3);
  assert_string_equal(st->u.dict.keys[0]->u.str.s, "a");
  assert_int_equal(st->u.dict.vals[0]->u.i, 9);
  assert_int_equal(dict_get_str(st, "b")->u.i, 2);
  assert_int_equal(dict_get_str(st, "c")->u.i, 4);
  model_free(m);
  /* 40000 keys built onto themselves 30 times: 4.8e10 key comparisons if quadratic */
  size_t nkeys = 40000, cap = 64 + nkeys * 12 + 30 * 3;
  char *p = malloc(cap);
  size_t n = 0;
  static const char head[] = "\x80\x04" "cm\nC\n)\x81}q\x00(";
  memcpy(p, head, sizeof head - 1);
  n = sizeof head - 1;
  for (size_t i = 0; i < nkeys; i++) n += (size_t)sprintf(p + n, "\x8c\x08k%07zuN", i);
  p[n++] = 'u';
  p[n++] = 'b';
  for (int i = 0; i < 30; i++) p[n++] = 'h', p[n++] = 0, p[n++] = 'b';
  p[n++] = '.';
  m = decode_bytes(p, n);
  assert_true(m->ok);
  assert_int_equal(m->root->u.obj->state->u.dict.n, nkeys);
  model_free(m);
  free(p);
}

/* Items that are already in the graph (GET, DUP) cost no new Value; the graph
** limit still stops one list from growing past it, and keeps what came before. */
static void test_graph_limit_on_container_growth(void **state) {
  (void)state;
  size_t per = 500000, rounds = (MFS_MAX_GRAPH_BYTES / sizeof(Value *)) / per + 2;
  size_t cap = 32 + rounds * (2 * per + 2);
  char *p = malloc(cap);
  size_t n = 0;
  static const char head[] = "\x80\x04]Nq\x01]q\x00";   /* an outer list, None as memo 1, the list */
  memcpy(p, head, sizeof head - 1);
  n = sizeof head - 1;
  for (size_t r = 0; r < rounds; r++) {
    p[n++] = '(';
    for (size_t i = 0; i < per; i++) p[n++] = 'h', p[n++] = 1;
    p[n++] = 'e';
  }
  p[n++] = '.';
  Model *m = decode_bytes(p, n);
  assert_false(m->ok);
  assert_int_equal(m->err.code, MFS_ELIMIT);
  assert_non_null(strstr(m->err.msg, "APPENDS: decoded graph larger than"));
  assert_non_null(m->root);
  assert_true(m->root->flags & VF_PARTIAL);
  model_free(m);
  free(p);
}

/* A dtype a format hook has seen (joblib sizes the bytes after a wrapper by it)
** may not be rebuilt afterwards. */
static MfsStatus hook_nothing(void *ctx, Model *m, Reader *r, Value **obj) {
  (void)ctx, (void)m, (void)r, (void)obj;
  return MFS_OK;
}

static void test_dtype_frozen_by_hook(void **state) {
  (void)state;
  static const char s[] = "\x80\x02" "cnumpy\ndtype\nX\x02\x00\x00\x00V4\x89\x88\x87Rq\x01"
                          "cm\nW\n)\x81}X\x05\x00\x00\x00" "dtypeh\x01sb0"
                          "h\x01(K\x03X\x01\x00\x00\x00|NNNJ\x00\x10\x00\x00K\x01K\x00tb.";
  for (int with_hook = 0; with_hook < 2; with_hook++) {
    Model *m = DECODE("N.");
    Source *src = source_from_memory(s, sizeof s - 1, "hook");
    Reader r;
    assert_int_equal(reader_init(&r, src, 0, &m->err), MFS_OK);
    PickleHooks hooks = {NULL, hook_nothing, NULL, NULL};
    Value *result;
    MfsStatus st = pickle_run(m, &r, with_hook ? &hooks : NULL, 0, &result, NULL);
    if (with_hook) {
      assert_int_equal(st, MFS_ECORRUPT);
      assert_non_null(strstr(m->err.msg, "dtype rebuilt after"));
    } else {
      assert_int_equal(st, MFS_OK);   /* no hook ran: nothing was sized by it */
    }
    reader_done(&r);
    source_unref(src);
    model_free(m);
  }
}

/* MODELFS_TEST_MAX_OPCODES lowers the opcode limit for tests, never raises it. */
static void test_opcode_limit_env(void **state) {
  (void)state;
  setenv("MODELFS_TEST_MAX_OPCODES", "6", 1);
  Model *m = DECODE("\x80\x02]K\x01" "aK\x02" "aK\x03" "a.");
  assert_false(m->ok);
  assert_int_equal(m->err.code, MFS_ELIMIT);
  assert_string_equal(m->err.msg, "offset 9: more than 6 opcodes");
  assert_int_equal(m->root->u.seq.n, 2);   /* the list so far */
  model_free(m);
  setenv("MODELFS_TEST_MAX_OPCODES", "99999999999999999999", 1);
  m = DECODE("\x80\x02]K\x01" "aK\x02" "aK\x03" "a.");
  assert_true(m->ok);
  model_free(m);
  unsetenv("MODELFS_TEST_MAX_OPCODES");
}

static void test_sniff(void **state) {
  (void)state;
  assert_true(pickle_sniff((const uint8_t *)"\x80\x04\x95", 3));
  assert_true(pickle_sniff((const uint8_t *)"(lp0\nI1\na.", 10));
  assert_true(pickle_sniff((const uint8_t *)"ccopy_reg\n_reconstructor\np0\n", 28));
  assert_true(pickle_sniff((const uint8_t *)"N.", 2));
  assert_false(pickle_sniff((const uint8_t *)"Notes about the model\n", 22));
  assert_false(pickle_sniff((const uint8_t *)"(a note)", 8));
  assert_false(pickle_sniff((const uint8_t *)"PK\x03\x04", 4));
  assert_false(pickle_sniff((const uint8_t *)"\x80\x09", 2));
  assert_false(pickle_sniff((const uint8_t *)"c import os\n", 12));
  /* CPython refuses these at once without importing anything (memo miss, no MARK) */
#define SNIFF(lit) pickle_sniff_stream((const uint8_t *)(lit), sizeof(lit) - 1, sizeof(lit) - 1)
  assert_false(SNIFF("hi\n"));
  assert_false(SNIFF("hi"));
  assert_false(SNIFF("N"));
  assert_false(SNIFF("README\n"));
  assert_false(SNIFF("K\x01h\x00"));                       /* GET before any PUT */
  /* any opcode starts a stream; an import makes it a pickle even when cut */
  assert_true(SNIFF("\x8c\x02os\x8c\x06system\x93N\x85R."));
  assert_true(SNIFF("cposix\nsystem\n(S'x'\n"));
  assert_true(SNIFF("K\x01q\x00h\x00."));
#undef SNIFF
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_python_cases),
    cmocka_unit_test(test_memoize_after_binput),
    cmocka_unit_test(test_recursive_tuples),
    cmocka_unit_test(test_reference_streams),
    cmocka_unit_test(test_instance_protocol0),
    cmocka_unit_test(test_python2_streams),
    cmocka_unit_test(test_int_text),
    cmocka_unit_test(test_long_binary),
    cmocka_unit_test(test_float_text),
    cmocka_unit_test(test_unicode_escapes),
    cmocka_unit_test(test_string_escapes),
    cmocka_unit_test(test_py2_names),
    cmocka_unit_test(test_calls),
    cmocka_unit_test(test_external_refs),
    cmocka_unit_test(test_buffers),
    cmocka_unit_test(test_stack_errors),
    cmocka_unit_test(test_messages_name_opcode),
    cmocka_unit_test(test_long_text_line),
    cmocka_unit_test(test_hostile_lengths),
    cmocka_unit_test(test_limits),
    cmocka_unit_test(test_truncation),
    cmocka_unit_test(test_after_build_hook),
    cmocka_unit_test(test_build_merges_states),
    cmocka_unit_test(test_graph_limit_on_container_growth),
    cmocka_unit_test(test_dtype_frozen_by_hook),
    cmocka_unit_test(test_opcode_limit_env),
    cmocka_unit_test(test_sniff),
    cmocka_unit_test(test_utf8_edges),
    cmocka_unit_test(test_memo_dense_sparse),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
