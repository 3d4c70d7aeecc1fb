/*
** walk.c -- the files `scan` and `check` look at (walk.h).  Every regular file under
** a directory is handed on, whatever its name: what it is comes from its bytes
** (identify.h), decided by the caller.
**
** It must never follow a symbolic link to a directory while recursing (loops), never
** enter a directory already on the walk path, and never go deeper than MFS_MAX_DEPTH.
*/
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "modelfs/limits.h"
#include "modelfs/walk.h"

typedef struct Walk {
  WalkFn fn;
  void *ctx;
  struct { dev_t dev; ino_t ino; } dirs[MFS_MAX_DEPTH];   /* directories on the walk path */
  int ndirs;
} Walk;

static int cmp_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void walk_one(Walk *w, const char *path, int explicit);

/* The names in path, sorted; NULL with *n = 0 when it cannot be read. */
static char **read_names(const char *path, size_t *n) {
  DIR *d = opendir(path);
  *n = 0;
  if (d == NULL) return NULL;
  char **names = NULL;
  size_t cap = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
    if (*n == cap) {
      size_t nc = cap ? cap * 2 : 64;
      char **nn = realloc(names, nc * sizeof *nn);
      if (nn == NULL) break;
      names = nn, cap = nc;
    }
    if ((names[*n] = strdup(de->d_name)) != NULL) (*n)++;
  }
  closedir(d);
  if (*n > 1) qsort(names, *n, sizeof *names, cmp_name);
  return names ? names : calloc(1, sizeof *names);
}

static void walk_dir(Walk *w, const char *path, const struct stat *st) {
  for (int i = 0; i < w->ndirs; i++)
    if (w->dirs[i].dev == st->st_dev && w->dirs[i].ino == st->st_ino) return;
  if (w->ndirs >= MFS_MAX_DEPTH) {
    fprintf(stderr, "modelfs: %s: directories nested too deep, not entered\n", path);
    return;
  }
  size_t n;
  char **names = read_names(path, &n);
  if (names == NULL) return w->fn(w->ctx, path, strerror(errno));
  w->dirs[w->ndirs].dev = st->st_dev;
  w->dirs[w->ndirs].ino = st->st_ino;
  w->ndirs++;
  size_t plen = strlen(path);
  int slash = plen > 0 && path[plen - 1] == '/';
  for (size_t i = 0; i < n; i++) {
    char *child = malloc(plen + strlen(names[i]) + 2);
    if (child != NULL) {
      sprintf(child, "%s%s%s", path, slash ? "" : "/", names[i]);
      walk_one(w, child, 0);
      free(child);
    }
    free(names[i]);
  }
  free(names);
  w->ndirs--;
}

static void walk_one(Walk *w, const char *path, int explicit) {
  struct stat st;
  if (explicit ? stat(path, &st) != 0 : lstat(path, &st) != 0) {
    if (explicit) w->fn(w->ctx, path, strerror(errno));
    return;
  }
  if (!explicit && S_ISLNK(st.st_mode)) {
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return;
  }
  if (S_ISDIR(st.st_mode)) return walk_dir(w, path, &st);
  if (!S_ISREG(st.st_mode)) {
    if (explicit) w->fn(w->ctx, path, "not a regular file");
    return;
  }
  w->fn(w->ctx, path, NULL);
}

void walk_path(const char *path, WalkFn fn, void *ctx) {
  Walk *w = calloc(1, sizeof *w);
  if (w == NULL) return fn(ctx, path, "out of memory");
  w->fn = fn;
  w->ctx = ctx;
  walk_one(w, path, 1);
  free(w);
}
