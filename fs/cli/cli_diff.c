/*
** cli_diff.c -- `modelfs diff [--json] A B`: what changed between two models, for a
** reviewer (text, one line per change) or a tool (--json).
**
** A and B are model files, or model directories of a mount (found back to their
** source file through the mount table, fsname=SOURCE).  The comparison itself is
** modeldiff.c's; this file only opens, prints and sets the exit status like
** diff(1): 0 the same, 1 different, 2 trouble (missing file, a model that did not
** decode to its end, out of memory).
*/
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cJSON.h>
#include "modelfs/cli.h"
#include "modelfs/commands.h"
#include "modelfs/decode.h"
#include "modelfs/judge.h"
#include "modelfs/review.h"
#include "modelfs/trust.h"

#define EXIT_SAME 0
#define EXIT_DIFFERENT 1
#define EXIT_TROUBLE 2
#define ARROW "\xe2\x86\x92"

typedef struct Side {
  const char *name;        /* as given */
  char *file;              /* the model file (malloc'd) */
  Model *m;
  Arena *arena;
  Judgement j;
} Side;

/* Undo the octal escapes of /proc/self/mountinfo (\040 for a space). */
static void unescape_mount(char *s) {
  char *o = s;
  for (char *p = s; *p; p++) {
    if (p[0] == '\\' && p[1] >= '0' && p[1] <= '7' && p[2] && p[3]) {
      *o++ = (char)(((p[1] - '0') << 6) | ((p[2] - '0') << 3) | (p[3] - '0'));
      p += 3;
    } else {
      *o++ = *p;
    }
  }
  *o = '\0';
}

/* The source file behind a model directory of a FUSE mount, or NULL. */
static char *source_of_dir(const char *dir) {
  char real[PATH_MAX];
  if (realpath(dir, real) == NULL) return NULL;
  FILE *f = fopen("/proc/self/mountinfo", "r");
  if (f == NULL) return NULL;
  char line[3 * PATH_MAX], best_src[PATH_MAX] = "";
  size_t best = 0;
  while (fgets(line, sizeof line, f)) {
    char *fields[6] = {0}, *save = NULL, *tok = strtok_r(line, " \n", &save);
    for (int i = 0; tok && i < 5; i++, tok = strtok_r(NULL, " \n", &save)) fields[i] = tok;
    while (tok && strcmp(tok, "-") != 0) tok = strtok_r(NULL, " \n", &save);
    char *type = tok ? strtok_r(NULL, " \n", &save) : NULL;
    char *src = type ? strtok_r(NULL, " \n", &save) : NULL;
    if (fields[4] == NULL || src == NULL || strncmp(type, "fuse", 4) != 0) continue;
    unescape_mount(fields[4]);
    unescape_mount(src);
    size_t n = strlen(fields[4]);
    if (strncmp(real, fields[4], n) == 0 && (real[n] == '/' || real[n] == '\0') && n >= best &&
        strlen(src) < sizeof best_src) {
      best = n;
      strcpy(best_src, src);
    }
  }
  fclose(f);
  if (!best_src[0]) return NULL;
  char *out = NULL;
  if (asprintf(&out, "%s%s", best_src, real + best) < 0) return NULL;
  struct stat st;
  if (stat(out, &st) != 0 || !S_ISREG(st.st_mode)) {
    free(out);
    return NULL;
  }
  return out;
}

static int open_side(Side *s, const TrustList *trust) {
  struct stat st;
  if (stat(s->name, &st) != 0) {
    fprintf(stderr, "modelfs: %s: %s\n", s->name, strerror(errno));
    return 0;
  }
  s->file = S_ISDIR(st.st_mode) ? source_of_dir(s->name) : strdup(s->name);
  if (s->file == NULL) {
    fprintf(stderr, "modelfs: %s: %s\n", s->name,
            S_ISDIR(st.st_mode) ? "a directory that is not a model directory of a modelfs mount"
                                : "out of memory");
    return 0;
  }
  s->m = model_decode(s->file);
  s->arena = arena_new();
  if (s->m == NULL || s->arena == NULL || judge_model(s->m, trust, s->arena, &s->j) != MFS_OK) {
    fprintf(stderr, "modelfs: %s: out of memory\n", s->name);
    return 0;
  }
  if (!s->m->ok)
    fprintf(stderr, "modelfs: %s: warning: decode failed: %s\n", s->name,
            s->m->err.msg[0] ? s->m->err.msg : err_code_name(s->m->err.code));
  return 1;
}

static void close_side(Side *s) {
  model_free(s->m);
  arena_free(s->arena);
  free(s->file);
}

static const char *kind_name(DiffKind k) {
  static const char *const names[] = {"fact", "class", "version", "verdict", "trust", "value",
                                      "array", "tree", "length", "added", "removed", "kind"};
  return (unsigned)k < sizeof names / sizeof *names ? names[k] : "?";
}

static void print_stats(const DiffItem *it) {
  if (!it->compared) return;
  printf(": %llu of %llu %s changed", (unsigned long long)it->changed,
         (unsigned long long)it->count, it->kind == DK_TREE ? "nodes" : "elements");
  if (it->numeric && it->changed) {
    printf(", max abs %.6g", it->max_abs);
    if (isinf(it->max_rel)) printf(", max rel inf");
    else printf(", max rel %.6g", it->max_rel);
  }
}

static void print_item(const DiffItem *it) {
  const char *p = it->path && *it->path ? it->path : NULL;
  switch (it->kind) {
    case DK_FACT: case DK_VERDICT: case DK_VERSION:
      printf("%s: %s " ARROW " %s\n", it->what, it->a, it->b);
      return;
    case DK_TRUST:
      printf("%s: %c %s\n", it->what, it->a ? '-' : '+', it->a ? it->a : it->b);
      return;
    case DK_ADDED: printf("+ %s: %s\n", p ? p : ".", it->b); return;
    case DK_REMOVED: printf("- %s: %s\n", p ? p : ".", it->a); return;
    case DK_CLASS: printf("%s: class %s " ARROW " %s\n", p ? p : ".", it->a, it->b); return;
    case DK_ARRAY: case DK_TREE:
      if (it->kind == DK_TREE) printf("%s: tree ", p ? p : ".");
      else printf("%s: ", p ? p : ".");
      if (strcmp(it->a, it->b) == 0) printf("%s", it->a);
      else printf("%s " ARROW " %s", it->a, it->b);
      print_stats(it);
      if (!it->compared && it->what) printf(" (%s)", it->what);
      putchar('\n');
      return;
    default:
      printf("%s: %s " ARROW " %s\n", p ? p : ".", it->a, it->b);
  }
}

static void add_num(cJSON *o, const char *k, double v) {
  if (isinf(v)) cJSON_AddStringToObject(o, k, v > 0 ? "inf" : "-inf");
  else cJSON_AddNumberToObject(o, k, v);
}

static int print_json(const Side *a, const Side *b, const ModelDiff *d) {
  cJSON *doc = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(doc, "changes");
  cJSON_AddStringToObject(doc, "a", a->name);
  cJSON_AddStringToObject(doc, "b", b->name);
  cJSON_AddBoolToObject(doc, "same", d->n == 0);
  for (size_t i = 0; list && i < d->n; i++) {
    const DiffItem *it = &d->items[i];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", kind_name(it->kind));
    if (it->kind != DK_FACT && it->kind != DK_VERDICT && it->kind != DK_VERSION && it->kind != DK_TRUST)
      cJSON_AddStringToObject(o, "path", it->path ? it->path : "");
    if (it->what) cJSON_AddStringToObject(o, it->kind == DK_ARRAY ? "note" : "what", it->what);
    if (it->a) cJSON_AddStringToObject(o, "a", it->a);
    else cJSON_AddNullToObject(o, "a");
    if (it->b) cJSON_AddStringToObject(o, "b", it->b);
    else cJSON_AddNullToObject(o, "b");
    if (it->compared) {
      cJSON_AddNumberToObject(o, "count", (double)it->count);
      cJSON_AddNumberToObject(o, "changed", (double)it->changed);
    }
    if (it->numeric && it->changed) {
      add_num(o, "max_abs", it->max_abs);
      add_num(o, "max_rel", it->max_rel);
    }
    cJSON_AddItemToArray(list, o);
  }
  char *s = cJSON_Print(doc);
  cJSON_Delete(doc);
  if (s == NULL) return 0;
  puts(s);
  free(s);
  return 1;
}

enum { DIFF_JSON = 1, DIFF_TRUST };

const CliOpt diff_options[] = {
  {DIFF_JSON, "--json", NULL, NULL, "one JSON document instead of one line per change"},
  {DIFF_TRUST, "--trust", NULL, "FILE", "also trust the globals listed in FILE, one per line"},
  {0, NULL, NULL, NULL, NULL},
};

const ExitSpec diff_exits[] = {
  {EXIT_SAME, "the same"},
  {EXIT_DIFFERENT, "different"},
  {EXIT_TROUBLE, "trouble (a file missing or not decoded to its end, a usage error)"},
  {0, NULL},
};

/* The two operands, options taken.  0, -1 after --help, or EXIT_TROUBLE. */
static int diff_args(int argc, char **argv, TrustList *trust, int *json, const char **ops) {
  const CliCmd *cmd = cli_command("diff");
  CliArgs args;
  cli_args_init(&args, cmd, argc, argv);
  const char *val;
  int id, nops = 0;
  while ((id = cli_next(&args, &val)) != CLI_END) {
    Err e;
    err_clear(&e);
    if (id == CLI_BAD) return EXIT_TROUBLE;
    if (id == CLI_HELP) {
      cli_help_command(cmd, stdout);
      return -1;
    }
    if (id == DIFF_JSON) {
      *json = 1;
    } else if (id == DIFF_TRUST) {
      if (trust_add_file(trust, val, &e) != MFS_OK) {
        fprintf(stderr, "modelfs: %s: cannot read trust list: %s\n", val, e.msg);
        return EXIT_TROUBLE;
      }
    } else if (nops == 2) {
      return cli_usage_error(cmd, "two models A and B, not more");
    } else {
      ops[nops++] = val;
    }
  }
  return nops == 2 ? 0 : cli_usage_error(cmd, "two models A and B needed");
}

int cli_diff_main(int argc, char **argv) {
  int json = 0;
  const char *ops[2] = {0};
  TrustList *trust = trust_new_default();
  if (trust == NULL) return EXIT_TROUBLE;
  int r = diff_args(argc, argv, trust, &json, ops);
  if (r != 0) {
    trust_free(trust);
    return r < 0 ? 0 : r;
  }
  Side sa = {.name = ops[0]}, sb = {.name = ops[1]};
  int status = EXIT_TROUBLE;
  if (open_side(&sa, trust) && open_side(&sb, trust)) {
    ModelDiff d = {0};
    Err e;
    err_clear(&e);
    if (model_diff(sa.m, &sa.j, sb.m, &sb.j, &d, &e) != MFS_OK) {
      fprintf(stderr, "modelfs: diff: %s\n", e.msg);
    } else {
      int ok = 1;
      if (json) {
        ok = print_json(&sa, &sb, &d);
      } else if (d.n) {
        printf("--- %s\n+++ %s\n", sa.name, sb.name);
        for (size_t i = 0; i < d.n; i++) print_item(&d.items[i]);
      }
      status = !ok || !sa.m->ok || !sb.m->ok ? EXIT_TROUBLE : d.n ? EXIT_DIFFERENT : EXIT_SAME;
    }
    model_diff_free(&d);
  }
  if (fflush(stdout) != 0) status = EXIT_TROUBLE;
  close_side(&sa);
  close_side(&sb);
  trust_free(trust);
  return status;
}
