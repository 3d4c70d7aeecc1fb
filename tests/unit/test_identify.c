/*
** test_identify.c -- identify_source: what bytes are, whatever they are called.
**
** The compressed stream is made here by zlib itself; the pickles are CPython's
** protocol-0/4 output for small values (as pickle.dumps writes them).
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include <zlib.h>
#include "modelfs/identify.h"
#include "modelfs/source.h"

static Ident ident_of(const void *p, size_t n, const char *name) {
  Source *s = source_from_memory(p, n, "mem");
  assert_non_null(s);
  Ident id;
  identify_source(s, name, &id);
  source_unref(s);
  return id;
}

#define LIT(s) s, sizeof(s) - 1

static void test_pickles_any_first_opcode(void **state) {
  (void)state;
  Ident id = ident_of(LIT("(lp0\nI1\naI2\na."), "notes");          /* pickle.dumps([1, 2], 0) */
  assert_int_equal(id.kind, IDENT_MODEL);
  assert_string_equal(id.format->name, "pickle");
  id = ident_of(LIT("\x80\x04\x95\x07\x00\x00\x00\x00\x00\x00\x00]\x94K\x01a."), NULL);
  assert_int_equal(id.kind, IDENT_MODEL);
  id = ident_of(LIT("\x95\x07\x00\x00\x00\x00\x00\x00\x00]\x94K\x01a."), NULL);  /* no PROTO */
  assert_int_equal(id.kind, IDENT_MODEL);
}

static void test_text_is_not_a_model(void **state) {
  (void)state;
  static const char *const texts[] = {"hi\n", "hi", "README\n", "Notes about the model\n",
                                      "Version 2\n", "a,b\n1,2\n", "N", NULL};
  for (int i = 0; texts[i]; i++) {
    Ident id = ident_of(texts[i], strlen(texts[i]), "notes.txt");
    assert_int_equal(id.kind, IDENT_NOT_MODEL);
    assert_string_equal(id.what, "text");
  }
  Ident id = ident_of("", 0, "empty");
  assert_int_equal(id.kind, IDENT_NOT_MODEL);
}

static void test_compressed_pickle_whatever_the_name(void **state) {
  (void)state;
  static const char plain[] = "\x80\x04\x95\x07\x00\x00\x00\x00\x00\x00\x00]\x94K\x01a.";
  uint8_t z[128];
  uLongf zn = sizeof z;
  assert_int_equal(compress2(z, &zn, (const Bytef *)plain, sizeof plain - 1, 9), Z_OK);
  Ident id = ident_of(z, zn, "model.bin");
  assert_int_equal(id.kind, IDENT_MODEL);
  assert_string_equal(id.compression, "zlib");
  assert_string_equal(id.format->name, "pickle");
}

static void test_name_decides_only_what_bytes_leave_open(void **state) {
  (void)state;
  Ident id = ident_of(LIT("junk that is no pickle\n"), "broken.pkl");
  assert_int_equal(id.kind, IDENT_BY_NAME);
  assert_true(ident_is_model(&id));
  id = ident_of(LIT("junk that is no pickle\n"), "model.pkl.gz");
  assert_int_equal(id.kind, IDENT_BY_NAME);
  id = ident_of(LIT("junk\n"), "x.gz");
  assert_int_equal(id.kind, IDENT_NOT_MODEL);
  assert_true(identify_name_is_model("w.joblib.gzip"));
  assert_false(identify_name_is_model("data.zip"));
}

static void test_npy_object_dtype_only(void **state) {
  (void)state;
  char h[128];
  static const char obj[] = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }";
  static const char num[] = "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }";
  for (int k = 0; k < 2; k++) {
    const char *dict = k ? num : obj;
    size_t len = strlen(dict);
    memcpy(h, "\x93NUMPY\x01\x00", 8);
    h[8] = (char)len, h[9] = 0;
    memcpy(h + 10, dict, len);
    memcpy(h + 10 + len, "N.", 2);
    Ident id = ident_of(h, 12 + len, "a.npy");
    assert_int_equal(id.kind, k ? IDENT_NOT_MODEL : IDENT_MODEL);
    if (!k) assert_string_equal(id.format->name, "npy");
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_pickles_any_first_opcode),
    cmocka_unit_test(test_text_is_not_a_model),
    cmocka_unit_test(test_compressed_pickle_whatever_the_name),
    cmocka_unit_test(test_name_decides_only_what_bytes_leave_open),
    cmocka_unit_test(test_npy_object_dtype_only),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
