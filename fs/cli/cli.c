/*
** cli.c -- the offline commands modelfs ls | cat | tree (their rows in the
** command table are in commands.c, their options here).
**
** Each command decodes one model file and walks the same RTree the mount serves,
** reading file bytes through render_size/render_read, so `modelfs cat` prints
** exactly what a read on the mount returns.  It must never interpret a format or
** lay out a name itself: every name, kind, size and byte printed comes from
** render.h.  Messages go to stderr, start with "modelfs: " and name the file.
**
** Exit status: 0 ok, 1 a file or entry was not found or could not be produced,
** 2 usage.  A model that failed to decode is not an error by itself: its tree
** still holds meta.json saying why.
*/
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "modelfs/cli.h"
#include "modelfs/commands.h"
#include "modelfs/compat.h"
#include "modelfs/decode.h"
#include "modelfs/identify.h"
#include "modelfs/limits.h"
#include "modelfs/render.h"
#include "modelfs/scan.h"
#include "modelfs/trust.h"

#define EXIT_NOTFOUND 1
#define EXIT_USAGE 2
#define CAT_CHUNK (64u * 1024u)

/* One opened model: the file as named on the command line and its tree. */
typedef struct Cli {
  const char *file;
  TrustList *trust;
  Model *model;
  RTree *tree;
  int long_format;         /* ls -l */
} Cli;

typedef int (*CmdFn)(Cli *c, int nargs, char **args);

static int cmd_ls(Cli *c, int nargs, char **args);
static int cmd_cat(Cli *c, int nargs, char **args);
static int cmd_tree(Cli *c, int nargs, char **args);

enum { OPT_LONG = 1, OPT_TRUST, OPT_O };

const CliOpt cli_ls_options[] = {
  {OPT_LONG, "-l", NULL, NULL, "long: kind (d/f/l), size (bytes; entries of a directory), link target"},
  {OPT_TRUST, "--trust", NULL, "FILE", "also trust the globals listed in FILE, one per line"},
  {OPT_O, "-o", NULL, "trust=FILE", "the same, in the mount's option syntax"},
  {0, NULL, NULL, NULL, NULL},
};

const CliOpt cli_model_options[] = {
  {OPT_TRUST, "--trust", NULL, "FILE", "also trust the globals listed in FILE, one per line"},
  {OPT_O, "-o", NULL, "trust=FILE", "the same, in the mount's option syntax"},
  {0, NULL, NULL, NULL, NULL},
};

const ExitSpec cli_model_exits[] = {
  {0, "ok"},
  {EXIT_NOTFOUND, "a file or entry was not found or could not be produced"},
  {EXIT_USAGE, "usage error"},
  {0, NULL},
};

/* How many operands after MODEL each command takes (max -1: any). */
static const struct {
  const char *name;
  CmdFn run;
  int min_args, max_args;
} model_commands[] = {
  {"ls", cmd_ls, 0, 1},
  {"cat", cmd_cat, 1, -1},
  {"tree", cmd_tree, 0, 0},
};

/* ---- output helpers ------------------------------------------------------------ */

/* A name as one printable line: control bytes and backslash escaped (GNU ls -b), so
** a key holding a newline cannot forge a second entry.  Other bytes (UTF-8) pass. */
static void put_escaped(FILE *out, const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    switch (*p) {
      case '\\': fputs("\\\\", out); break;
      case '\n': fputs("\\n", out); break;
      case '\t': fputs("\\t", out); break;
      case '\r': fputs("\\r", out); break;
      default:
        if (*p < 0x20 || *p == 0x7f) fprintf(out, "\\x%02x", *p);
        else fputc(*p, out);
    }
  }
}

/* ---- opening a model ----------------------------------------------------------- */

static int add_trust(Cli *c, const char *file) {
  Err e;
  err_clear(&e);
  if (trust_add_file(c->trust, file, &e) == MFS_OK) return 1;
  fprintf(stderr, "modelfs: %s: cannot read trust list: %s\n", file,
          e.msg[0] ? e.msg : strerror(errno));
  return 0;
}

/* "-o trust=A,trust=B": the mount's option syntax, accepted here too. */
static int add_o_options(Cli *c, const char *opts) {
  char *copy = strdup(opts);
  if (copy == NULL) return 0;
  int ok = 1;
  char *save = NULL;
  for (char *o = strtok_r(copy, ",", &save); o && ok; o = strtok_r(NULL, ",", &save)) {
    if (strncmp(o, "trust=", 6) == 0) {
      ok = add_trust(c, o + 6);
    } else {
      fprintf(stderr, "modelfs: -o %s: unknown option here (accepted: -o trust=FILE)\n", o);
      ok = 0;
    }
  }
  free(copy);
  return ok;
}

/* Decode the file and lay out its tree.  Returns 0 or an exit status. */
static int cli_open(Cli *c) {
  struct stat st;
  if (stat(c->file, &st) != 0) {
    fprintf(stderr, "modelfs: %s: %s\n", c->file, strerror(errno));
    return EXIT_NOTFOUND;
  }
  if (S_ISDIR(st.st_mode)) {
    fprintf(stderr,
            "modelfs: %s: is a directory, not a model file (modelfs scan %s lists the models "
            "in it; modelfs %s MOUNTPOINT shows each as a directory)\n",
            c->file, c->file, c->file);
    return EXIT_NOTFOUND;
  }
  Ident id;
  identify_path(c->file, &id);
  if (!ident_is_model(&id)) {
    fprintf(stderr, "modelfs: %s: not a model file (%s)\n", c->file, id.what);
    return EXIT_NOTFOUND;
  }
  c->model = model_decode(c->file);
  if (c->model != NULL) c->tree = render_tree(c->model, c->trust);
  if (c->tree == NULL) {
    fprintf(stderr, "modelfs: %s: out of memory\n", c->file);
    return EXIT_NOTFOUND;
  }
  return 0;
}

static void cli_close(Cli *c) {
  render_free(c->tree);
  model_free(c->model);
  trust_free(c->trust);
}

/* The decoder's reason, for a warning: the tree is still served. */
static void warn_decode_error(const Cli *c) {
  if (c->model->ok) return;
  fprintf(stderr, "modelfs: %s: warning: decode failed: %s (see meta.json)\n", c->file,
          c->model->err.msg[0] ? c->model->err.msg : err_code_name(c->model->err.code));
}

/* ---- paths ------------------------------------------------------------------------ */

/* Resolve PATH ("a/b/c", "", ".", "/a/") from dir, following links in the middle
** and, when follow_last, at the end too.  ".." above the model directory stays
** there, as at the root of a file system.  NULL when missing or looping. */
static const RNode *resolve(const RTree *t, const RNode *dir, const char *path,
                            int follow_last, int *hops) {
  char *copy = strdup(path);
  if (copy == NULL) return NULL;
  const RNode *n = dir;
  char *save = NULL;
  for (char *part = strtok_r(copy, "/", &save); part && n; part = strtok_r(NULL, "/", &save)) {
    if (n->kind != RK_DIR) {
      n = NULL;
      break;
    }
    if (strcmp(part, ".") == 0) continue;
    if (strcmp(part, "..") == 0) {
      n = render_node(t, n->parent);
      continue;
    }
    const RNode *child = render_lookup(t, n, part);
    int last = save == NULL || *save == '\0';
    if (child && child->kind == RK_LINK && (!last || follow_last)) {
      if (++*hops > MFS_MAX_LINK_HOPS) child = NULL;
      else child = resolve(t, n, child->target, 1, hops);
    }
    n = child;
  }
  free(copy);
  return n;
}

static const RNode *find_entry(const Cli *c, const char *path, int follow_last) {
  int hops = 0;
  size_t n = strlen(path);
  int want_dir = n > 0 && path[n - 1] == '/';   /* "x/" names a directory, as POSIX */
  const RNode *e = resolve(c->tree, render_root(c->tree), path, follow_last || want_dir, &hops);
  return e && want_dir && e->kind != RK_DIR ? NULL : e;
}

static void report_missing(const Cli *c, const char *path) {
  fprintf(stderr, "modelfs: %s: %s: no such entry\n", c->file, path);
}

static void report_failed(const Cli *c, const char *path, const Err *e) {
  fprintf(stderr, "modelfs: %s: %s: %s\n", c->file, path,
          e->msg[0] ? e->msg : err_code_name(e->code));
}

/* Size column: bytes for a file, target length for a link, entries for a dir. */
static int entry_size(Cli *c, const RNode *n, const char *path, uint64_t *size) {
  if (n->kind == RK_DIR) {
    *size = n->nchildren;
    return 1;
  }
  Err e;
  err_clear(&e);
  if (render_size(c->tree, n, size, &e) == MFS_OK) return 1;
  report_failed(c, path, &e);
  return 0;
}

static char kind_letter(const RNode *n) {
  return n->kind == RK_DIR ? 'd' : n->kind == RK_LINK ? 'l' : 'f';
}

/* "KIND SIZE NAME [-> TARGET]": the line of ls -l and tree.  0 when the size failed. */
static int print_long(Cli *c, const RNode *n, const char *shown, const char *path) {
  uint64_t size = 0;
  int ok = entry_size(c, n, path, &size);
  if (ok) printf("%c %10" PRIu64 " ", kind_letter(n), size);
  else printf("%c %10s ", kind_letter(n), "?");
  put_escaped(stdout, shown);
  if (n->kind == RK_LINK) {
    fputs(" -> ", stdout);
    put_escaped(stdout, n->target);
  }
  putchar('\n');
  return ok;
}

/* ---- commands ---------------------------------------------------------------------- */

static int cmd_ls(Cli *c, int nargs, char **args) {
  const char *path = nargs > 0 ? args[0] : "";
  /* As ls: a link named last is listed itself with -l, followed without. */
  const RNode *n = find_entry(c, path, !c->long_format);
  if (n == NULL) {
    report_missing(c, path);
    return EXIT_NOTFOUND;
  }
  warn_decode_error(c);
  int ok = 1;
  if (n->kind != RK_DIR) {
    if (c->long_format) ok = print_long(c, n, path, path);
    else put_escaped(stdout, path), putchar('\n');
    return ok ? 0 : EXIT_NOTFOUND;
  }
  for (uint32_t i = 0; i < n->nchildren; i++) {
    const RNode *ch = render_node(c->tree, n->children[i]);
    if (ch == NULL) continue;
    if (!c->long_format) {
      put_escaped(stdout, ch->name);
      putchar('\n');
    } else if (!print_long(c, ch, ch->name, ch->name)) {
      ok = 0;
    }
  }
  return ok ? 0 : EXIT_NOTFOUND;
}

/* Copy one file entry to stdout.  0 when it could not be produced. */
static int cat_one(Cli *c, const char *path, uint8_t *buf) {
  const RNode *n = find_entry(c, path, 1);
  if (n == NULL) {
    report_missing(c, path);
    return 0;
  }
  if (n->kind != RK_FILE) {
    fprintf(stderr, "modelfs: %s: %s: is a directory\n", c->file, path);
    return 0;
  }
  Err e;
  err_clear(&e);
  uint64_t size, off = 0;
  /* Size first: the content is produced (or fails) before any byte is written. */
  if (render_size(c->tree, n, &size, &e) != MFS_OK) {
    report_failed(c, path, &e);
    return 0;
  }
  for (;;) {
    size_t got = 0;
    if (render_read(c->tree, n, off, buf, CAT_CHUNK, &got, &e) != MFS_OK) {
      report_failed(c, path, &e);
      return 0;
    }
    if (got == 0) break;
    if (fwrite(buf, 1, got, stdout) != got) {
      fprintf(stderr, "modelfs: %s: %s: write error: %s\n", c->file, path, strerror(errno));
      return 0;
    }
    off += got;
    if (got < CAT_CHUNK) break;
  }
  if (off != size) {
    fprintf(stderr, "modelfs: %s: %s: read %" PRIu64 " of %" PRIu64 " bytes\n", c->file, path,
            off, size);
    return 0;
  }
  return 1;
}

static int cmd_cat(Cli *c, int nargs, char **args) {
  uint8_t *buf = malloc(CAT_CHUNK);
  if (buf == NULL) {
    fprintf(stderr, "modelfs: %s: out of memory\n", c->file);
    return EXIT_NOTFOUND;
  }
  int ok = 1;
  for (int i = 0; i < nargs; i++) ok &= cat_one(c, args[i], buf);  /* as cat: go on */
  free(buf);
  if (fflush(stdout) != 0) ok = 0;
  return ok ? 0 : EXIT_NOTFOUND;
}

/* Depth-first, children in listing order; path grows in one buffer. */
static int tree_walk(Cli *c, const RNode *dir, char **path, size_t *cap, size_t len,
                     int depth) {
  int ok = 1;
  if (depth > MFS_MAX_DEPTH) return 0;
  for (uint32_t i = 0; i < dir->nchildren; i++) {
    const RNode *ch = render_node(c->tree, dir->children[i]);
    if (ch == NULL) continue;
    size_t nl = strlen(ch->name), need = len + 1 + nl + 1;
    if (need > *cap) {
      char *p = realloc(*path, need * 2);
      if (p == NULL) return 0;
      *path = p, *cap = need * 2;
    }
    size_t at = len;
    if (len > 0) (*path)[at++] = '/';
    memcpy(*path + at, ch->name, nl + 1);
    ok &= print_long(c, ch, *path, *path);
    if (ch->kind == RK_DIR) ok &= tree_walk(c, ch, path, cap, at + nl, depth + 1);
    (*path)[len] = '\0';
  }
  return ok;
}

static int cmd_tree(Cli *c, int nargs, char **args) {
  (void)nargs, (void)args;
  warn_decode_error(c);
  size_t cap = 256;
  char *path = calloc(1, cap);
  if (path == NULL) return EXIT_NOTFOUND;
  int ok = tree_walk(c, render_root(c->tree), &path, &cap, 0, 0);
  free(path);
  return ok ? 0 : EXIT_NOTFOUND;
}

/* ---- argument parsing ---------------------------------------------------------- */

/* Options anywhere before "--"; operands collected in order.  0, -1 after -h, or
** an exit status. */
static int parse_args(Cli *c, CliArgs *a, char **ops, int *nops) {
  const char *val;
  int id;
  *nops = 0;
  while ((id = cli_next(a, &val)) != CLI_END) {
    if (id == CLI_BAD) return EXIT_USAGE;
    if (id == CLI_HELP) {
      cli_help_command(a->cmd, stdout);
      return -1;
    }
    if (id == CLI_OPERAND) ops[(*nops)++] = (char *)val;
    else if (id == OPT_LONG) c->long_format = 1;
    else if (!(id == OPT_O ? add_o_options(c, val) : add_trust(c, val))) return EXIT_USAGE;
  }
  return 0;
}

int cli_model_main(int argc, char **argv) {
  const CliCmd *cmd = cli_command(argv[1]);
  size_t k = 0;
  while (k < sizeof model_commands / sizeof *model_commands &&
         strcmp(model_commands[k].name, argv[1]) != 0)
    k++;
  Cli c;
  memset(&c, 0, sizeof c);
  c.trust = trust_new_default();
  char **ops = calloc((size_t)argc + 1, sizeof *ops);
  if (c.trust == NULL || ops == NULL) {
    fputs("modelfs: out of memory\n", stderr);
    free(ops);
    trust_free(c.trust);
    return EXIT_NOTFOUND;
  }
  CliArgs a;
  cli_args_init(&a, cmd, argc, argv);
  int nops = 0, status = parse_args(&c, &a, ops, &nops);
  int nargs = nops - 1, min = model_commands[k].min_args, max = model_commands[k].max_args;
  if (status == 0 && (nops < 1 || nargs < min || (max >= 0 && nargs > max)))
    status = cli_usage_error(cmd, nops < 1 ? "no MODEL given" : "wrong number of operands");
  if (status == 0) {
    c.file = ops[0];
    status = cli_open(&c);
    if (status == 0) status = model_commands[k].run(&c, nargs, ops + 1);
  }
  if (status < 0) status = 0;   /* -h */
  free(ops);
  cli_close(&c);
  return status;
}
