/*
** trust.c -- which globals are plumbing, which are unknown, which can run code.
**
** Judgements over dotted names only ("module.qualname"); nothing is imported or
** resolved.  Lists are text, one entry per line, '#' comments; an entry ending in
** ".*" covers every name under that module prefix.  The built-in lists come from
** data/trusted.txt and data/dangerous.txt (compiled in).  Dangerous always wins:
** a trust file can make a name trusted, never make a dangerous name harmless.
**
** A list is parsed once into a NameSet (sorted exact names, sorted prefixes), so
** a lookup is a few binary searches: every model judges every global it
** references, and re-reading ~1000 lines of text per global was ~half of the
** cost of decoding a small model.
**
** Must never: match a name by anything but whole dotted components; let a
** trust entry take a name off the dangerous list; change a NameSet that another
** thread may be reading (TrustLists are filled before the mount serves, and the
** built-in dangerous set is built once, under pthread_once, then only read).
*/
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "modelfs/data.h"
#include "modelfs/trust.h"

/* A list, parsed: "a.b.C" entries in exact, "a.b.*" entries as "a.b" in prefix,
** both sorted bytewise (strcmp) and unique.  The strings live in blocks: a copy
** of a whole list text, cut into entries in place, or one added line. */
typedef struct NameSet {
  char **exact, **prefix, **exempt;
  size_t nexact, capexact, nprefix, capprefix, nexempt, capexempt;
  char **blocks;
  size_t nblocks, capblocks;
} NameSet;

struct TrustList {
  NameSet trusted;
};

/* One trimmed entry of a text list, or len 0 for blank/comment lines. */
static const char *next_line(const char *p, const char **entry, size_t *len) {
  const char *end = strchr(p, '\n');
  const char *stop = end ? end : p + strlen(p);
  const char *s = p, *e = stop;
  while (s < e && (*s == ' ' || *s == '\t' || *s == '\r')) s++;
  while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) e--;
  *entry = s;
  *len = (s < e && *s != '#') ? (size_t)(e - s) : 0;
  return end ? end + 1 : NULL;
}

/* ---- NameSet ---------------------------------------------------------------- */

static void nameset_free(NameSet *s) {
  for (size_t i = 0; i < s->nblocks; i++) free(s->blocks[i]);
  free(s->blocks);
  free(s->exact);
  free(s->prefix);
  free(s->exempt);
  memset(s, 0, sizeof *s);
}

static int grow_ptrs(char ***v, size_t n, size_t *cap) {
  if (n < *cap) return 1;
  size_t ncap = *cap ? *cap * 2 : 256;
  char **p = realloc(*v, ncap * sizeof *p);
  if (p == NULL) return 0;
  *v = p;
  *cap = ncap;
  return 1;
}

/* Take ownership of a block of entry text. */
static char *keep_block(NameSet *s, char *block) {
  if (block == NULL || !grow_ptrs(&s->blocks, s->nblocks, &s->capblocks)) {
    free(block);
    return NULL;
  }
  return s->blocks[s->nblocks++] = block;
}

/* One entry, NUL-terminated at len in a block we own: "prefix.*" covers the
** module prefix, "!name" exempts that exact name from a prefix (only the
** dangerous list uses it), anything else is exact.  Unsorted until
** nameset_finish. */
static MfsStatus nameset_append(NameSet *s, char *entry, size_t len) {
  if (entry[0] == '!' && len > 1) {
    entry[len] = '\0';
    if (!grow_ptrs(&s->exempt, s->nexempt, &s->capexempt)) return MFS_ENOMEM;
    s->exempt[s->nexempt++] = entry + 1;
    return MFS_OK;
  }
  int pat = len >= 2 && entry[len - 1] == '*' && entry[len - 2] == '.';
  entry[pat ? len - 2 : len] = '\0';
  if (pat) {
    if (!grow_ptrs(&s->prefix, s->nprefix, &s->capprefix)) return MFS_ENOMEM;
    s->prefix[s->nprefix++] = entry;
  } else {
    if (!grow_ptrs(&s->exact, s->nexact, &s->capexact)) return MFS_ENOMEM;
    s->exact[s->nexact++] = entry;
  }
  return MFS_OK;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static size_t sort_unique(char **v, size_t n) {
  if (n > 1) qsort(v, n, sizeof *v, cmp_str);
  size_t u = 0;
  for (size_t i = 0; i < n; i++)
    if (u == 0 || strcmp(v[u - 1], v[i]) != 0) v[u++] = v[i];
  return u;
}

/* After appending: sorted and unique again, ready for lookups. */
static void nameset_finish(NameSet *s) {
  s->nexact = sort_unique(s->exact, s->nexact);
  s->nprefix = sort_unique(s->prefix, s->nprefix);
  s->nexempt = sort_unique(s->exempt, s->nexempt);
}

/* Every entry of a list text (one copy of it, cut in place). */
static MfsStatus nameset_add_text(NameSet *s, const char *text) {
  char *copy = keep_block(s, strdup(text));
  if (copy == NULL) return MFS_ENOMEM;
  MfsStatus st = MFS_OK;
  for (char *p = copy; st == MFS_OK && p != NULL && *p;) {
    const char *entry;
    size_t len;
    char *next = (char *)next_line(p, &entry, &len);
    if (len) st = nameset_append(s, (char *)entry, len);
    p = next;
  }
  nameset_finish(s);
  return st;
}

/* One entry copied from s[0..len). */
static MfsStatus nameset_add_one(NameSet *s, const char *entry, size_t len) {
  char *copy = keep_block(s, strndup(entry, len));
  if (copy == NULL) return MFS_ENOMEM;
  return nameset_append(s, copy, len);
}

/* Is name[0..n) in the sorted v?  Compares as strcmp would with name cut at n. */
static int has(char *const *v, size_t count, const char *name, size_t n) {
  size_t lo = 0, hi = count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strncmp(v[mid], name, n);
    if (c == 0) c = v[mid][n] != '\0';   /* v[mid] is longer: it sorts after */
    if (c == 0) return 1;
    if (c < 0) lo = mid + 1; else hi = mid;
  }
  return 0;
}

/* "a.b.*" covers "a.b" itself and every "a.b.x...": so a name matches when it,
** or any part of it that ends just before a '.', is a listed prefix.  With
** attrs, an attribute of an exact entry matches too (find_class walks the
** dotted name: "builtins.eval.__call__" is eval). */
static int nameset_matches_n(const NameSet *s, const char *dotted, size_t n, int attrs) {
  if (has(s->exact, s->nexact, dotted, n) || has(s->prefix, s->nprefix, dotted, n)) return 1;
  const char *end = dotted + n;
  for (const char *dot = memchr(dotted, '.', n); dot != NULL;
       dot = memchr(dot + 1, '.', (size_t)(end - dot - 1))) {
    size_t k = (size_t)(dot - dotted);
    if (has(s->prefix, s->nprefix, dotted, k) || (attrs && has(s->exact, s->nexact, dotted, k)))
      return 1;
  }
  return 0;
}

static int nameset_matches(const NameSet *s, const char *dotted) {
  return nameset_matches_n(s, dotted, strlen(dotted), 0);
}

/* ---- the built-in dangerous list ------------------------------------------- */

/* Built once per process on first use and never changed after: a read-only
** table, so it needs no owner object (trust_is_dangerous takes no list). */
static NameSet dangerous_set;
static int dangerous_ok;
static pthread_once_t dangerous_once = PTHREAD_ONCE_INIT;

static void dangerous_build(void) {
  if (nameset_add_text(&dangerous_set, data_dangerous) == MFS_OK) dangerous_ok = 1;
  else nameset_free(&dangerous_set);
}

/* Does one list entry cover the dotted name?  Only for the fallback below. */
static int entry_matches(const char *entry, size_t len, const char *dotted) {
  size_t n = strlen(dotted);
  if (len >= 2 && entry[len - 1] == '*' && entry[len - 2] == '.')
    return (n == len - 2 || (n > len - 2 && dotted[len - 2] == '.')) &&
           strncmp(dotted, entry, len - 2) == 0;
  return n == len && strncmp(dotted, entry, len) == 0;
}

/* Out of memory building the set: scan the text, never call a name harmless. */
static int dangerous_text_matches(const char *dotted) {
  for (const char *p = data_dangerous; p != NULL && *p;) {
    const char *entry;
    size_t len;
    p = next_line(p, &entry, &len);
    if (len && entry_matches(entry, len, dotted)) return 1;
  }
  return 0;
}

/* One dotted name (n bytes of it) against the dangerous list: an exempt
** exact name ("!builtins.int") is harmless, whatever prefix covers it. */
static int dangerous_n(const char *dotted, size_t n) {
  if (!dangerous_ok) {
    char *copy = strndup(dotted, n);
    int hit = copy == NULL || dangerous_text_matches(copy);
    free(copy);
    return hit;
  }
  if (has(dangerous_set.exempt, dangerous_set.nexempt, dotted, n)) return 0;
  return nameset_matches_n(&dangerous_set, dotted, n, 1);
}

int trust_is_dangerous(const char *dotted) {
  if (dotted == NULL) return 0;
  pthread_once(&dangerous_once, dangerous_build);
  return dangerous_n(dotted, strlen(dotted));
}

/* Attributes that lead from any object to code, globals or the import system:
** a qualified name walking through one reaches whatever the file wants. */
static int walk_dunder(const char *c, size_t n) {
  static const char *const names[] = {
    "__base__", "__bases__", "__builtins__", "__call__", "__class__", "__closure__", "__code__",
    "__defaults__", "__delattr__", "__dict__", "__func__", "__getattr__", "__getattribute__",
    "__globals__", "__import__", "__init_subclass__", "__kwdefaults__", "__loader__",
    "__mro__", "__reduce__", "__reduce_ex__", "__self__", "__setattr__", "__spec__",
    "__subclasses__", "__wrapped__", NULL};
  for (int i = 0; names[i]; i++)
    if (strlen(names[i]) == n && memcmp(names[i], c, n) == 0) return 1;
  return 0;
}

int trust_global_is_dangerous(const char *module, const char *qualname) {
  if (module == NULL || qualname == NULL) return 0;
  pthread_once(&dangerous_once, dangerous_build);
  size_t m = strlen(module), q = strlen(qualname);
  char *full = malloc(m + q + 2);
  if (full == NULL) return 1;   /* never call a name harmless for want of memory */
  memcpy(full, module, m);
  full[m] = '.';
  memcpy(full + m + 1, qualname, q + 1);
  int hit = dangerous_n(full, m + 1 + q);
  free(full);
  /* find_class walks the qualified name attribute by attribute: a component
  ** that is a walk dunder leads anywhere ("object.__getattribute__"); one that
  ** is a module imported by the first ("pathlib" "os.system") is that module,
  ** so every tail of two or more components is a dotted name of its own. */
  const char *c = qualname, *end = qualname + q;
  while (!hit && c < end) {
    const char *dot = memchr(c, '.', (size_t)(end - c));
    size_t len = dot ? (size_t)(dot - c) : (size_t)(end - c);
    if (walk_dunder(c, len)) hit = 1;
    else if (dot != NULL && dangerous_n(c, (size_t)(end - c))) hit = 1;
    c = dot ? dot + 1 : end;
  }
  return hit;
}

/* ---- trust lists --------------------------------------------------------------- */

TrustList *trust_new_default(void) {
  TrustList *t = calloc(1, sizeof *t);
  if (t == NULL) return NULL;
  if (nameset_add_text(&t->trusted, data_trusted) != MFS_OK) {
    trust_free(t);
    return NULL;
  }
  return t;
}

MfsStatus trust_add_file(TrustList *t, const char *path, Err *e) {
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return err_set(e, MFS_EIO, MFS_NO_OFFSET, "cannot open trust list %s: %s", path,
                   strerror(errno));
  char line[4096];
  MfsStatus st = MFS_OK;
  while (st == MFS_OK && fgets(line, sizeof line, f) != NULL) {
    const char *entry;
    size_t len;
    next_line(line, &entry, &len);
    if (len && nameset_add_one(&t->trusted, entry, len) != MFS_OK)
      st = err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
  }
  nameset_finish(&t->trusted);
  if (st == MFS_OK && ferror(f))
    st = err_set(e, MFS_EIO, MFS_NO_OFFSET, "cannot read trust list %s", path);
  fclose(f);
  return st;
}

MfsStatus trust_add_name(TrustList *t, const char *dotted) {
  const char *entry;
  size_t len;
  next_line(dotted, &entry, &len);
  if (len == 0) return MFS_OK;
  MfsStatus st = nameset_add_one(&t->trusted, entry, len);
  nameset_finish(&t->trusted);
  return st;
}

void trust_free(TrustList *t) {
  if (t == NULL) return;
  nameset_free(&t->trusted);
  free(t);
}

int trust_is_trusted(const TrustList *t, const char *dotted) {
  if (t == NULL || dotted == NULL) return 0;
  return nameset_matches(&t->trusted, dotted);
}
