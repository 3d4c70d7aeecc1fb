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
#include "modelfs/commands.h"
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

enum { SUMMARY_TRUST = 1 };

const CliOpt summary_options[] = {
  {SUMMARY_TRUST, "--trust", NULL, "FILE", "also trust the globals listed in FILE, one per line"},
  {0, NULL, NULL, NULL, NULL},
};

const ExitSpec summary_exits[] = {
  {0, "ok"},
  {1, "a file could not be read or summarised"},
  {2, "usage error"},
  {0, NULL},
};

int cli_summary_main(int argc, char **argv) {
  const CliCmd *cmd = cli_command("summary");
  TrustList *trust = trust_new_default();
  if (trust == NULL) {
    fputs("modelfs: out of memory\n", stderr);
    return 1;
  }
  int nfiles = 0, status = 0, id;
  char **files = calloc((size_t)argc, sizeof *files);
  CliArgs args;
  cli_args_init(&args, cmd, argc, argv);
  const char *val;
  while (files && status == 0 && (id = cli_next(&args, &val)) != CLI_END) {
    Err e;
    err_clear(&e);
    if (id == CLI_BAD) {
      status = 2;
    } else if (id == CLI_HELP) {
      cli_help_command(cmd, stdout);
      free(files);
      trust_free(trust);
      return 0;
    } else if (id == SUMMARY_TRUST) {
      if (trust_add_file(trust, val, &e) != MFS_OK) {
        fprintf(stderr, "modelfs: %s: cannot read trust list: %s\n", val, e.msg);
        status = 2;
      }
    } else {
      files[nfiles++] = (char *)val;
    }
  }
  if (files == NULL) status = 2;
  else if (status == 0 && nfiles == 0) status = cli_usage_error(cmd, "no FILE or MODELDIR given");
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
