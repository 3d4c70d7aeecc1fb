/*
** trust.c -- which globals are plumbing, which are unknown, which can run code.
**
** Judgements over dotted names only ("module.qualname"); nothing is imported or
** resolved.  Lists are text, one entry per line, '#' comments; an entry ending in
** ".*" covers every name under that module prefix.  The built-in lists come from
** data/trusted.txt and data/dangerous.txt (compiled in).  Dangerous always wins:
** a trust file can make a name trusted, never make a dangerous name harmless.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "modelfs/data.h"
#include "modelfs/trust.h"

struct TrustList {
  char **names;            /* exact names and "prefix.*" patterns */
  size_t n, cap;
};

/* Does pattern (one list entry, length plen) cover the dotted name? */
static int pattern_matches(const char *pat, size_t plen, const char *dotted) {
  if (plen >= 2 && pat[plen - 1] == '*' && pat[plen - 2] == '.') {
    size_t k = plen - 1;   /* "os." */
    return strncmp(dotted, pat, k) == 0 ||
           (strlen(dotted) == k - 1 && strncmp(dotted, pat, k - 1) == 0);
  }
  return strlen(dotted) == plen && strncmp(dotted, pat, plen) == 0;
}

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

static int text_list_matches(const char *list, const char *dotted) {
  for (const char *p = list; p != NULL && *p;) {
    const char *entry;
    size_t len;
    p = next_line(p, &entry, &len);
    if (len && pattern_matches(entry, len, dotted)) return 1;
  }
  return 0;
}

static MfsStatus add_entry(TrustList *t, const char *s, size_t n) {
  if (t->n == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 256;
    char **p = realloc(t->names, cap * sizeof *p);
    if (p == NULL) return MFS_ENOMEM;
    t->names = p;
    t->cap = cap;
  }
  char *copy = strndup(s, n);
  if (copy == NULL) return MFS_ENOMEM;
  t->names[t->n++] = copy;
  return MFS_OK;
}

static MfsStatus add_text(TrustList *t, const char *text) {
  for (const char *p = text; p != NULL && *p;) {
    const char *entry;
    size_t len;
    p = next_line(p, &entry, &len);
    if (len && add_entry(t, entry, len) != MFS_OK) return MFS_ENOMEM;
  }
  return MFS_OK;
}

TrustList *trust_new_default(void) {
  TrustList *t = calloc(1, sizeof *t);
  if (t == NULL) return NULL;
  if (add_text(t, data_trusted) != MFS_OK) {
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
    if (len && add_entry(t, entry, len) != MFS_OK)
      st = err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
  }
  if (st == MFS_OK && ferror(f))
    st = err_set(e, MFS_EIO, MFS_NO_OFFSET, "cannot read trust list %s", path);
  fclose(f);
  return st;
}

MfsStatus trust_add_name(TrustList *t, const char *dotted) {
  const char *entry;
  size_t len;
  next_line(dotted, &entry, &len);
  return len ? add_entry(t, entry, len) : MFS_OK;
}

void trust_free(TrustList *t) {
  if (t == NULL) return;
  for (size_t i = 0; i < t->n; i++) free(t->names[i]);
  free(t->names);
  free(t);
}

int trust_is_trusted(const TrustList *t, const char *dotted) {
  if (t == NULL || dotted == NULL) return 0;
  for (size_t i = 0; i < t->n; i++)
    if (pattern_matches(t->names[i], strlen(t->names[i]), dotted)) return 1;
  return 0;
}

int trust_is_dangerous(const char *dotted) {
  return dotted != NULL && text_list_matches(data_dangerous, dotted);
}
