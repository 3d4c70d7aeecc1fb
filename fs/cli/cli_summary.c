/*
** cli_summary.c -- `modelfs summary FILE...`: the summary.txt of each model, also
** as git's textconv driver (`git config diff.modelfs.textconv 'modelfs summary'`).
**
** The text is read from the same RTree the mount serves (render_read of the
** model's summary.txt), so the command, the mount and `git diff` print the same
** bytes.  A directory operand (a model directory of a mount) prints its
** summary.txt.  It must never lay out or format anything itself.
**
** Exit status: 0 ok, 1 a file could not be read or summarised, 2 usage.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "modelfs/cli.h"
#include "modelfs/decode.h"
#include "modelfs/render.h"
#include "modelfs/trust.h"

#define SUMMARY_CHUNK (64u * 1024u)

static int summary_of_dir(const char *dir) {
  char path[4096];
  if (snprintf(path, sizeof path, "%s/summary.txt", dir) >= (int)sizeof path) return 1;
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    fprintf(stderr, "modelfs: %s: not a model directory (no summary.txt): %s\n", dir,
            strerror(errno));
    return 1;
  }
  char buf[8192];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, n, stdout);
  int bad = ferror(f);
  fclose(f);
  if (bad) fprintf(stderr, "modelfs: %s: read error\n", path);
  return bad;
}

static int summary_of_file(const char *file, const TrustList *trust) {
  Model *m = model_decode(file);
  RTree *t = m ? render_tree(m, trust) : NULL;
  const RNode *n = t ? render_lookup(t, render_root(t), "summary.txt") : NULL;
  int status = 1;
  char *buf = malloc(SUMMARY_CHUNK);
  Err e;
  err_clear(&e);
  if (n == NULL || buf == NULL) {
    fprintf(stderr, "modelfs: %s: out of memory\n", file);
  } else {
    uint64_t off = 0;
    size_t got;
    while (render_read(t, n, off, buf, SUMMARY_CHUNK, &got, &e) == MFS_OK && got > 0) {
      fwrite(buf, 1, got, stdout);
      off += got;
    }
    if (e.code != MFS_OK) fprintf(stderr, "modelfs: %s: summary.txt: %s\n", file, e.msg);
    else status = 0;
  }
  free(buf);
  render_free(t);
  model_free(m);
  return status;
}

int cli_summary_main(int argc, char **argv) {
  TrustList *trust = trust_new_default();
  if (trust == NULL) {
    fputs("modelfs: out of memory\n", stderr);
    return 1;
  }
  int nfiles = 0, status = 0, options = 1;
  char **files = calloc((size_t)argc, sizeof *files);
  for (int i = 2; files && i < argc; i++) {
    const char *a = argv[i];
    Err e;
    err_clear(&e);
    if (options && strcmp(a, "--") == 0) {
      options = 0;
    } else if (options && (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)) {
      puts("modelfs: usage: modelfs summary [--trust FILE] FILE|MODELDIR...");
      free(files);
      trust_free(trust);
      return 0;
    } else if (options && strcmp(a, "--trust") == 0 && i + 1 < argc) {
      if (trust_add_file(trust, argv[++i], &e) != MFS_OK) {
        fprintf(stderr, "modelfs: %s: cannot read trust list: %s\n", argv[i], e.msg);
        status = 2;
      }
    } else if (options && a[0] == '-' && a[1] != '\0') {
      fprintf(stderr, "modelfs: summary: unknown option %s\n", a);
      status = 2;
    } else {
      files[nfiles++] = argv[i];
    }
  }
  if (files == NULL || (status == 0 && nfiles == 0)) {
    fputs("modelfs: usage: modelfs summary [--trust FILE] FILE|MODELDIR...\n", stderr);
    status = 2;
  }
  for (int i = 0; status != 2 && i < nfiles; i++) {
    struct stat st;
    if (nfiles > 1) printf("%s==> %s <==\n", i ? "\n" : "", files[i]);
    fflush(stdout);
    if (stat(files[i], &st) != 0) {
      fprintf(stderr, "modelfs: %s: %s\n", files[i], strerror(errno));
      status = 1;
    } else if (S_ISDIR(st.st_mode)) {
      status |= summary_of_dir(files[i]);
    } else {
      status |= summary_of_file(files[i], trust);
    }
  }
  if (fflush(stdout) != 0 && status == 0) status = 1;
  free(files);
  trust_free(trust);
  return status;
}
