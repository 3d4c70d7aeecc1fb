/*
** limits.c -- the named limits of limits.h, lowered for tests.  A test cannot
** make a 64 GiB stream or 200 million opcodes, so MODELFS_TEST_<LIMIT>=N in the
** environment lowers that one limit.  Must never raise a limit: a hostile
** environment variable can only make modelfs stricter.
*/
#include <stdlib.h>
#include "modelfs/limits.h"

uint64_t limit_lowered(const char *env, uint64_t limit) {
  const char *s = getenv(env);
  if (s == NULL || *s < '0' || *s > '9') return limit;
  char *end;
  unsigned long long n = strtoull(s, &end, 10);
  return *end == '\0' && n < limit ? (uint64_t)n : limit;
}
