/*
** test_utf8.c -- utf8.c's step-at-a-time loops against Python's codecs.
**
** /usr/bin/python3 writes random UTF-8 texts, most of them Latin-1 code points
** as protocol 2 makes of array bytes, some broken at random places (a code
** point above U+00FF, a lone continuation, a lead without one, a cut at the
** end), with lengths around the 8- and 16-byte steps; for each it prints what
** text.encode('latin-1') gives, or '-' where Python fails.  Every level of the
** loops the CPU has (8-byte words, SSE, AVX-512) must give exactly that, and
** the checking run must stop only between sequences of what is valid.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "modelfs/utf8.h"

static const char *TRUTH =
  "import random\n"
  "r = random.Random(2026)\n"
  "def case(n):\n"
  "    b = bytes(r.choice([r.randrange(128), r.randrange(256)]) for _ in range(n))\n"
  "    u = bytearray(b.decode('latin-1').encode('utf-8'))\n"
  "    if r.random() < 0.4 and u:\n"
  "        at = r.randrange(len(u) + 1)\n"
  "        bad = r.choice([b'\\xe2\\x82\\xac', b'\\x80', b'\\xc3', b'\\xc4\\x80', b'\\xc1\\x81',\n"
  "                        b'\\xff', b'\\xc2\\xc2', b'\\xf0\\x9f\\x98\\x80'])\n"
  "        u[at:at] = bad\n"
  "    if r.random() < 0.1 and u: del u[-1]\n"
  "    return bytes(u)\n"
  "for n in list(range(0, 140)) * 6 + [r.randrange(140, 4000) for _ in range(300)]:\n"
  "    u = case(n)\n"
  "    try: out = u.decode('utf-8').encode('latin-1').hex() or '='\n"
  "    except UnicodeError: out = '-'\n"
  "    print(u.hex() or '=', out)\n";

static size_t unhex(const char *h, unsigned char *out) {
  size_t n = 0;
  if (strcmp(h, "=") == 0) return 0;
  for (; h[0] && h[1]; h += 2) {
    unsigned v;
    sscanf(h, "%2x", &v);
    out[n++] = (unsigned char)v;
  }
  return n;
}

/* The text before where the run stopped is valid (so it did not stop inside a sequence). */
static void check_run(int level, const unsigned char *u, size_t n, int valid) {
  size_t p = utf8_latin1_run_at(level, u, 0, n);
  assert_true(p <= n);
  static unsigned char out[1 << 14];
  assert_true(utf8_to_latin1_at(UTF8_WORD, u, p, out) >= 0);
  if (valid) assert_true(p + 8 >= n);        /* only the last few bytes are left over */
}

/* Each level the CPU has on one case: Python's answer, or -1 where it fails. */
static int check_levels(const unsigned char *u, size_t n, int valid, const unsigned char *want,
                        size_t nw) {
  static unsigned char got[1 << 13];
  int levels = 0;
  for (int level = UTF8_WORD; level <= UTF8_AVX512; level++) {
    if (!utf8_level_ok(level)) continue;
    long k = utf8_to_latin1_at(level, u, n, got);
    assert_int_equal(k, valid ? (long)nw : -1);
    if (valid) assert_memory_equal(got, want, nw);
    check_run(level, u, n, valid);
    levels++;
  }
  long k = utf8_to_latin1(u, n, got);          /* the widest, as callers get it */
  assert_int_equal(k, valid ? (long)nw : -1);
  if (valid) assert_memory_equal(got, want, nw);
  return levels;
}

static void test_against_python(void **state) {
  (void)state;
  char path[] = "/tmp/modelfs_test_utf8_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, TRUTH, strlen(TRUTH)), (ssize_t)strlen(TRUTH));
  close(fd);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s", path);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  static char line[1 << 15], h1[1 << 14], h2[1 << 14];
  static unsigned char u[1 << 13], want[1 << 13];
  int cases = 0, failing = 0, levels = 0;
  while (fgets(line, sizeof line, p)) {
    if (sscanf(line, "%16383s %16383s", h1, h2) != 2) continue;
    size_t n = unhex(h1, u);
    int valid = strcmp(h2, "-") != 0;
    size_t nw = valid ? unhex(h2, want) : 0;
    levels = check_levels(u, n, valid, want, nw);
    failing += !valid;
    cases++;
  }
  assert_int_equal(pclose(p), 0);
  unlink(path);
  assert_true(cases == 1140);
  assert_true(levels >= 1 && utf8_level_ok(UTF8_WORD));
  assert_true(failing > 100 && failing < cases - 100);   /* both kinds well covered */
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_against_python),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
