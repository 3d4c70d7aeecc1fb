/*
** test_judge.c -- types.txt, untrusted.txt and the verdict from one judgement.
** Models come from small pickles decoded for real (no hand-built graphs).
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "modelfs/decode.h"
#include "modelfs/judge.h"

static Model *decode(const char *bytes, size_t n) {
  Source *src = source_from_memory(bytes, n, "test.pkl");
  Model *m = model_decode_source(src, "test.pkl");
  source_unref(src);
  return m;
}
#define DECODE(lit) decode(lit, sizeof(lit) - 1)

static const char *judge_of(Model *m, TrustList *t, Judgement *j) {
  assert_int_equal(judge_model(m, t, m->vs.arena, j), MFS_OK);
  return j->verdict;
}

static void test_safe_untrusted_dangerous(void **state) {
  (void)state;
  TrustList *t = trust_new_default();
  Judgement j;
  Model *m = DECODE("\x80\x02" "cbuiltins\nset\n)R.");            /* set(): plumbing */
  assert_string_equal(judge_of(m, t, &j), "safe");
  assert_int_equal(j.nglobals, 1);
  assert_int_equal(j.nuntrusted, 0);
  model_free(m);
  m = DECODE("\x80\x02" "cmypkg\nThing\n)\x81" "cmypkg\nThing\n0.");  /* listed once */
  assert_string_equal(judge_of(m, t, &j), "untrusted");
  assert_int_equal(j.nglobals, 1);
  assert_string_equal(j.untrusted[0], "mypkg.Thing");
  model_free(m);
  m = DECODE("\x80\x02" "cposix\nsystem\nX\x02\x00\x00\x00idq\x00\x85R.");
  assert_string_equal(judge_of(m, t, &j), "dangerous");
  assert_int_equal(j.ndangerous, 1);
  assert_string_equal(j.dangerous[0], "posix.system");
  model_free(m);
  assert_int_equal(trust_add_name(t, "mypkg.Thing"), MFS_OK);  /* a trust file helps */
  m = DECODE("\x80\x02" "cmypkg\nThing\n)\x81.");
  assert_string_equal(judge_of(m, t, &j), "safe");
  model_free(m);
  trust_free(t);
}

static void test_incomplete_is_never_safe(void **state) {
  (void)state;
  TrustList *t = trust_new_default();
  Judgement j;
  Model *m = DECODE("\x80\x02" "cbuiltins\nset\n)R");          /* no STOP */
  assert_false(m->ok);
  assert_string_equal(judge_of(m, t, &j), "incomplete");
  model_free(m);
  m = DECODE("\x80\x02" "cos\nsystem\n");                        /* dangerous wins */
  assert_false(m->ok);
  assert_string_equal(judge_of(m, t, &j), "dangerous");
  model_free(m);
  trust_free(t);
}

static void test_format_supplied_untrusted_list(void **state) {
  (void)state;
  TrustList *t = trust_new_default();
  Judgement j;
  Model *m = DECODE("\x80\x02" "cbuiltins\nset\n)R.");
  m->untrusted = value_new(&m->vs, VAL_LIST);                   /* as skops.c does */
  seq_push(&m->vs, m->untrusted, value_global(&m->vs, "numpy", "dtype"));
  seq_push(&m->vs, m->untrusted, value_global(&m->vs, "numpy", "dtype"));
  assert_string_equal(judge_of(m, t, &j), "untrusted");
  assert_int_equal(j.nuntrusted, 1);                             /* sorted, unique */
  assert_string_equal(j.untrusted[0], "numpy.dtype");
  seq_push(&m->vs, m->untrusted, value_global(&m->vs, "builtins", "eval"));
  assert_string_equal(judge_of(m, t, &j), "dangerous");
  model_free(m);
  trust_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_safe_untrusted_dangerous),
    cmocka_unit_test(test_incomplete_is_never_safe),
    cmocka_unit_test(test_format_supplied_untrusted_list),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
