/*
** test_trust.c -- the parsed trust and dangerous lists: exact names, "module.*"
** prefixes matched on whole dotted components only, additions kept sorted and
** unique, and every entry of the shipped lists found again through the parsed set.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "modelfs/data.h"
#include "modelfs/trust.h"

static void test_exact_and_prefix(void **state) {
  (void)state;
  TrustList *t = trust_new_default();
  assert_non_null(t);
  assert_false(trust_is_trusted(t, "mypkg.Thing"));
  assert_int_equal(trust_add_name(t, "mypkg.Thing"), MFS_OK);
  assert_true(trust_is_trusted(t, "mypkg.Thing"));
  assert_false(trust_is_trusted(t, "mypkg.Thing2"));    /* exact means exact */
  assert_false(trust_is_trusted(t, "mypkg.Thin"));
  assert_false(trust_is_trusted(t, "mypkg"));
  assert_int_equal(trust_add_name(t, "  other.sub.*  \n"), MFS_OK);   /* trimmed */
  assert_true(trust_is_trusted(t, "other.sub"));            /* the module itself */
  assert_true(trust_is_trusted(t, "other.sub.Cls"));
  assert_true(trust_is_trusted(t, "other.sub.deep.er.Cls"));
  assert_false(trust_is_trusted(t, "other.subway.Cls"));    /* a whole component */
  assert_false(trust_is_trusted(t, "other.su"));
  assert_false(trust_is_trusted(t, "other"));
  assert_false(trust_is_trusted(t, ""));
  assert_false(trust_is_trusted(t, NULL));
  assert_false(trust_is_trusted(NULL, "other.sub.Cls"));
  assert_int_equal(trust_add_name(t, "# a comment"), MFS_OK);
  assert_false(trust_is_trusted(t, "# a comment"));
  trust_free(t);
}

/* Names added in any order, twice, interleaved with lookups: the set stays
** sorted (every one is found) and each is stored once. */
static void test_additions_stay_sorted(void **state) {
  (void)state;
  TrustList *t = trust_new_default();
  char name[64];
  for (int round = 0; round < 2; round++)
    for (int i = 0; i < 500; i++) {
      int k = (i * 7919) % 500;           /* a permutation of 0..499 */
      snprintf(name, sizeof name, "zz%03d.C%d", k, k);
      assert_int_equal(trust_add_name(t, name), MFS_OK);
      assert_true(trust_is_trusted(t, name));
    }
  for (int k = 0; k < 500; k++) {
    snprintf(name, sizeof name, "zz%03d.C%d", k, k);
    assert_true(trust_is_trusted(t, name));
    snprintf(name, sizeof name, "zz%03d.C%dx", k, k);
    assert_false(trust_is_trusted(t, name));
  }
  assert_true(trust_is_trusted(t, "numpy.float64"));   /* the defaults are still there */
  trust_free(t);
}

/* Names as find_class resolves them: the qualified name is walked attribute by
** attribute, so a module one imports and a dunder that reaches globals count. */
static void test_dangerous_walks(void **state) {
  (void)state;
  assert_true(trust_global_is_dangerous("pathlib", "os.system"));
  assert_true(trust_global_is_dangerous("sklearn", "os.system"));
  assert_true(trust_global_is_dangerous("joblib.numpy_pickle", "pickle.loads"));
  assert_true(trust_global_is_dangerous("builtins", "eval.__call__"));
  assert_true(trust_global_is_dangerous("builtins", "object.__getattribute__"));
  assert_true(trust_global_is_dangerous("mypkg", "f.__globals__"));
  assert_true(trust_global_is_dangerous("numpy", "__builtins__"));
  assert_true(trust_global_is_dangerous("torch", "compile"));
  assert_true(trust_global_is_dangerous("torch.compile", "dangerous"));
  /* a module path is imported, not walked: numpy.random._pickle is numpy's own */
  assert_false(trust_global_is_dangerous("numpy.random._pickle", "__randomstate_ctor"));
  assert_false(trust_global_is_dangerous("copyreg", "__newobj__"));
  assert_false(trust_global_is_dangerous("re", "compile"));      /* a bare last name is no module */
  assert_false(trust_global_is_dangerous("sklearn.tree._tree", "Tree"));
  assert_false(trust_global_is_dangerous("mypkg", "Outer.Inner"));
  assert_false(trust_global_is_dangerous("joblib.numpy_pickle", "NumpyArrayWrapper"));
}

static void test_dangerous(void **state) {
  (void)state;
  assert_true(trust_is_dangerous("os.system"));
  assert_true(trust_is_dangerous("os"));                /* "os.*" covers the module */
  assert_true(trust_is_dangerous("os.path.join"));
  assert_true(trust_is_dangerous("builtins.eval"));
  assert_true(trust_is_dangerous("subprocess.Popen"));
  assert_true(trust_is_dangerous("platform.popen"));
  assert_true(trust_is_dangerous("builtins.eval.__call__"));   /* an attribute of eval */
  assert_false(trust_is_dangerous("builtins.int"));            /* "!" exempts it from builtins.* */
  assert_true(trust_is_dangerous("builtins.dangerous"));       /* any other builtin is not */
  assert_false(trust_is_dangerous("uuid.UUID"));
  assert_true(trust_is_dangerous("uuid._get_command_stdout"));
  assert_false(trust_is_dangerous("osx.thing"));
  assert_false(trust_is_dangerous("numpy.random._pickle.__randomstate_ctor"));
  assert_false(trust_is_dangerous("numpy.core.multiarray._reconstruct"));
  assert_false(trust_is_dangerous(""));
  assert_false(trust_is_dangerous(NULL));
  /* A trust entry never takes a name off the dangerous list. */
  TrustList *t = trust_new_default();
  assert_int_equal(trust_add_name(t, "os.*"), MFS_OK);
  assert_true(trust_is_trusted(t, "os.system"));
  assert_true(trust_is_dangerous("os.system"));
  trust_free(t);
}

/* Every entry of a shipped list, and a name under every "x.*" entry, matches. */
static void check_list(const char *text, int dangerous, TrustList *t) {
  size_t entries = 0;
  for (const char *p = text; *p;) {
    const char *end = strchr(p, '\n');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    char line[512];
    assert_true(len < sizeof line);
    memcpy(line, p, len);
    line[len] = 0;
    p = end ? end + 1 : p + len;
    char *s = line, *e = line + len;
    while (*s == ' ' || *s == '\t') s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) *--e = 0;
    if (*s == 0 || *s == '#') continue;
    entries++;
    if (*s == '!') {   /* an exemption: exactly that name is harmless */
      if (dangerous && trust_is_dangerous(s + 1)) fail_msg("exempt name is dangerous: %s", s + 1);
      continue;
    }
    char probe[600];
    size_t n = strlen(s);
    if (n >= 2 && strcmp(s + n - 2, ".*") == 0) {
      snprintf(probe, sizeof probe, "%.*s.Anything.deeper", (int)(n - 2), s);
    } else {
      snprintf(probe, sizeof probe, "%s", s);
    }
    int hit = dangerous ? trust_is_dangerous(probe) : trust_is_trusted(t, probe);
    if (!hit) fail_msg("list entry not matched: %s", probe);
  }
  assert_true(entries > 50);
}

static void test_shipped_lists_round_trip(void **state) {
  (void)state;
  TrustList *t = trust_new_default();
  check_list(data_trusted, 0, t);
  check_list(data_dangerous, 1, NULL);
  trust_free(t);
}

static void test_trust_file(void **state) {
  (void)state;
  char path[] = "/tmp/modelfs-trust-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  const char text[] = "# mine\n\nmine.Model\r\n  mine.sub.*\t\n";
  assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
  close(fd);
  TrustList *t = trust_new_default();
  Err e;
  err_clear(&e);
  assert_int_equal(trust_add_file(t, path, &e), MFS_OK);
  assert_true(trust_is_trusted(t, "mine.Model"));
  assert_true(trust_is_trusted(t, "mine.sub.X"));
  assert_false(trust_is_trusted(t, "mine.Other"));
  assert_false(trust_is_trusted(t, "# mine"));
  unlink(path);
  assert_int_not_equal(trust_add_file(t, path, &e), MFS_OK);
  assert_non_null(strstr(e.msg, path));
  trust_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_exact_and_prefix),
    cmocka_unit_test(test_additions_stay_sorted),
    cmocka_unit_test(test_dangerous),
    cmocka_unit_test(test_dangerous_walks),
    cmocka_unit_test(test_shipped_lists_round_trip),
    cmocka_unit_test(test_trust_file),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
