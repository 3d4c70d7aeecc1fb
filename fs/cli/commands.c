/*
** commands.c -- the front door: the table of offline commands, the option walker
** every command parses with, the help, --version and --list-options printed from
** the tables, and the guess at a mistyped command.
**
** Each option, command and exit status is named once, in a table (here, in the
** command's own file for its options, in mountopt.c for the mount), and every
** text a user reads about them is printed from there.  It must never hold the
** logic of a command, nor describe an option a parser does not take.
*/
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "modelfs/cli.h"
#include "modelfs/commands.h"
#include "modelfs/mount.h"

#define EXIT_USAGE 2
#define HELP_COLUMN 24          /* where option help starts */
#define HELP_WIDTH 79           /* help lines wrap before this column */
#define SUGGEST_MAX_DISTANCE 2  /* edits from a command name still worth suggesting */

static int help_main(int argc, char **argv);
static int distance(const char *a, const char *b);

static const CliOpt help_options[] = {{0, NULL, NULL, NULL, NULL}};

const CliCmd cli_commands[] = {
  {"ls", cli_model_main, "MODEL [PATH]",
   "names in a directory of the model, in tree order", cli_ls_options, cli_model_exits,
   EXIT_USAGE},
  {"cat", cli_model_main, "MODEL PATH...",
   "the exact bytes of file entries (links followed), as the mount serves them",
   cli_model_options, cli_model_exits, EXIT_USAGE},
  {"tree", cli_model_main, "MODEL", "every entry as `KIND SIZE PATH [-> TARGET]`, depth first",
   cli_model_options, cli_model_exits, EXIT_USAGE},
  {"scan", scan_cli_main, "FILE|DIR...", "a trust verdict per model file, for CI",
   scan_options, scan_exits, 64},
  {"check", compat_cli_check, "FILE...",
   "will these model files load with those library versions", check_options, check_exits, 64},
  {"summary", cli_summary_main, "FILE|MODELDIR...",
   "the summary.txt of each model (also a git textconv driver)", summary_options, summary_exits,
   2},
  {"diff", cli_diff_main, "A B",
   "what changed between two models (files, or model directories of a mount)", diff_options,
   diff_exits, 2},
  {"help", help_main, "[COMMAND]", "this help, or one command's", help_options, NULL,
   EXIT_USAGE},
  {NULL, NULL, NULL, NULL, NULL, NULL, 0},
};

/* Options every command and the mount take; not in the rows, printed once. */
static const CliOpt common_options[] = {
  {0, "-h", "--help", NULL, "print help and exit"},
  {0, "-V", "--version", NULL, "print modelfs's version (and libfuse's) and exit"},
  {0, NULL, NULL, NULL, NULL},
};

const CliCmd *cli_command(const char *name) {
  for (const CliCmd *c = cli_commands; name && c->name; c++)
    if (strcmp(c->name, name) == 0) return c;
  return NULL;
}

/* ---- walking the arguments ---------------------------------------------------- */

void cli_args_init(CliArgs *a, const CliCmd *cmd, int argc, char **argv) {
  a->cmd = cmd;
  a->argc = argc;
  a->argv = argv;
  a->i = 2;
  a->operands_only = 0;
}

static void synopsis(const CliCmd *cmd, FILE *out) {
  fprintf(out, "modelfs %s", cmd->name);
  for (const CliOpt *o = cmd->opts; o->name; o++)
    fprintf(out, " [%s%s%s%s%s]", o->name, o->alias ? "|" : "", o->alias ? o->alias : "",
            o->arg ? " " : "", o->arg ? o->arg : "");
  fprintf(out, " %s", cmd->operands);
}

int cli_usage_error(const CliCmd *cmd, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "modelfs: %s: ", cmd->name);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputs("\nmodelfs: usage: ", stderr);
  synopsis(cmd, stderr);
  fprintf(stderr, "\n(modelfs %s --help for more)\n", cmd->name);
  return cmd->usage_status;
}

static int spelled(const CliOpt *o, const char *arg, size_t len) {
  return (strlen(o->name) == len && strncmp(o->name, arg, len) == 0) ||
         (o->alias && strlen(o->alias) == len && strncmp(o->alias, arg, len) == 0);
}

static int take_option(CliArgs *a, const CliOpt *o, const char *arg, const char *eq,
                       const char **val) {
  if (o->arg == NULL) {
    if (eq == NULL) return o->id;
    cli_usage_error(a->cmd, "option %s takes no value", o->name);
    return CLI_BAD;
  }
  if (eq) *val = eq + 1;
  else if (a->i < a->argc) *val = a->argv[a->i++];
  else {
    cli_usage_error(a->cmd, "option %s needs an argument: %s %s", arg, o->name, o->arg);
    return CLI_BAD;
  }
  return o->id;
}

int cli_next(CliArgs *a, const char **val) {
  *val = NULL;
  if (a->i >= a->argc) return CLI_END;
  const char *arg = a->argv[a->i++];
  if (a->operands_only || arg[0] != '-' || arg[1] == '\0') {
    *val = arg;
    return CLI_OPERAND;
  }
  if (strcmp(arg, "--") == 0) {
    a->operands_only = 1;
    return cli_next(a, val);
  }
  if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) return CLI_HELP;
  const char *eq = strncmp(arg, "--", 2) == 0 ? strchr(arg, '=') : NULL;
  size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
  for (const CliOpt *o = a->cmd->opts; o->name; o++)
    if (spelled(o, arg, len)) return take_option(a, o, arg, eq, val);
  const char *near = NULL;
  char word[64];
  snprintf(word, sizeof word, "%.*s", (int)(len < sizeof word ? len : sizeof word - 1), arg);
  for (const CliOpt *o = a->cmd->opts; o->name && !near; o++)
    if (strlen(o->name) > 2 && distance(word, o->name) <= SUGGEST_MAX_DISTANCE) near = o->name;
  if (near) cli_usage_error(a->cmd, "unknown option %s; did you mean %s?", arg, near);
  else cli_usage_error(a->cmd, "unknown option %s", arg);
  return CLI_BAD;
}

/* ---- help ---------------------------------------------------------------------- */

/* TEXT from column COL on, wrapped at spaces, continued at column INDENT. */
static void wrap(FILE *out, const char *text, int col, int indent) {
  while (*text) {
    int len = (int)strcspn(text, " ");
    if (col > indent && col + 1 + len > HELP_WIDTH) {
      fprintf(out, "\n%*s", indent, "");
      col = indent;
    } else if (col > indent) {
      fputc(' ', out);
      col++;
    }
    fprintf(out, "%.*s", len, text);
    col += len;
    text += len;
    while (*text == ' ') text++;
  }
}

static void option_line(FILE *out, const char *name, const char *alias, const char *arg,
                        const char *help, const char *dflt) {
  char form[128];
  snprintf(form, sizeof form, "%s%s%s%s%s", name, alias ? ", " : "", alias ? alias : "",
           arg ? " " : "", arg ? arg : "");
  fprintf(out, "  %-*s%s", HELP_COLUMN - 2, form, strlen(form) >= HELP_COLUMN - 2 ? "\n" : "");
  if (strlen(form) >= HELP_COLUMN - 2) fprintf(out, "%*s", HELP_COLUMN, "");
  char text[512];
  snprintf(text, sizeof text, "%s%s%s%s", help, dflt ? " (default " : "", dflt ? dflt : "",
           dflt ? ")" : "");
  wrap(out, text, HELP_COLUMN, HELP_COLUMN);
  fputc('\n', out);
}

/* "modelfs ls, cat, tree: 0 ok, 1 ..., 2 usage error": commands sharing a table
** share a line.  The same lines are in the man page and README (a test checks). */
static void exit_line(FILE *out, const char *who, const ExitSpec *e, int wrapped) {
  char text[1024];
  size_t n = (size_t)snprintf(text, sizeof text, "%s:", who);
  for (const ExitSpec *x = e; x->meaning && n < sizeof text; x++)
    n += (size_t)snprintf(text + n, sizeof text - n, "%s %d %s", x == e ? "" : ",", x->status,
                          x->meaning);
  if (wrapped) {
    fputs("  ", out);
    wrap(out, text, 2, 6);
  } else {
    fputs(text, out);
  }
  fputc('\n', out);
}

static void exits_of_commands(FILE *out, int with_list) {
  for (const CliCmd *c = cli_commands; c->name; c++) {
    if (c->exits == NULL) continue;
    int first = 1;
    for (const CliCmd *p = cli_commands; p < c; p++) first &= p->exits != c->exits;
    if (!first) continue;
    char who[256];
    int n = snprintf(who, sizeof who, "modelfs %s", c->name);
    for (const CliCmd *q = c + 1; q->name && n > 0 && (size_t)n < sizeof who; q++)
      if (q->exits == c->exits) n += snprintf(who + n, sizeof who - (size_t)n, ", %s", q->name);
    if (with_list) fprintf(out, "exit\t%s\t", c->name);
    exit_line(out, who, c->exits, !with_list);
  }
}

static void mount_exit_line(FILE *out, int wrapped) {
  exit_line(out, "modelfs SOURCE MOUNTPOINT", mount_exits, wrapped);
}

void cli_help_command(const CliCmd *cmd, FILE *out) {
  fputs("usage: ", out);
  synopsis(cmd, out);
  fprintf(out, "\n%s\n\n", cmd->summary);
  for (const CliOpt *o = cmd->opts; o->name; o++)
    option_line(out, o->name, o->alias, o->arg, o->help, NULL);
  option_line(out, "-h", "--help", NULL, "print this help and exit", NULL);
  if (cmd->exits) {
    char who[64];
    snprintf(who, sizeof who, "modelfs %s", cmd->name);
    fputs("\nexit status:\n", out);
    exit_line(out, who, cmd->exits, 1);
  }
}

static void mount_help(FILE *out) {
  fputs("Mount (read-only; unmount with fusermount3 -u MOUNTPOINT):\n"
        "  modelfs [-f] [-d] [-s] [-o OPT,...] SOURCE MOUNTPOINT\n"
        "  every model file under SOURCE appears as a directory of the same name;\n"
        "  SOURCE may also be one model file: its tree is then at MOUNTPOINT\n\n"
        "mount options (-o; several are joined by commas):\n",
        out);
  for (const MountOptSpec *s = mount_options; s->name; s++) {
    if (s->kind == MOPT_FUSE_FLAG) continue;
    char item[96];
    snprintf(item, sizeof item, "%s%s%s", s->name, s->value ? "=" : "", s->value ? s->value : "");
    option_line(out, "-o", NULL, item, s->help, s->dflt);
  }
  fputs("  (and the other options of mount.fuse3(8); ro, default_permissions,\n"
        "   fsname=SOURCE and subtype=modelfs are always added)\n",
        out);
  for (const MountOptSpec *s = mount_options; s->name; s++)
    if (s->kind == MOPT_FUSE_FLAG) option_line(out, s->name, NULL, NULL, s->help, s->dflt);
}

void cli_help(FILE *out) {
  fputs("modelfs " MODELFS_VERSION " -- model files as directories, decoded without executing "
        "anything.\n\n",
        out);
  mount_help(out);
  fputs("\nOffline commands (the same tree, no FUSE):\n", out);
  for (const CliCmd *c = cli_commands; c->name; c++) {
    fputs("  ", out);
    synopsis(c, out);
    fprintf(out, "\n      %s\n", c->summary);
  }
  fputs("\nOptions of every command:\n", out);
  for (const CliOpt *o = common_options; o->name; o++)
    option_line(out, o->name, o->alias, o->arg, o->help, NULL);
  fputs("\nExit status:\n", out);
  mount_exit_line(out, 1);
  exits_of_commands(out, 0);
  fputs("\nmodelfs help COMMAND (or modelfs COMMAND --help) details one command.\n", out);
}

void cli_version(FILE *out) {
  fprintf(out, "modelfs " MODELFS_VERSION "\nlibfuse %s\n", mount_fuse_version());
}

/* For the completion and the documentation test: tab-separated, one per line. */
void cli_list_options(FILE *out) {
  for (const CliCmd *c = cli_commands; c->name; c++) {
    fprintf(out, "command\t%s\n", c->name);
    for (const CliOpt *o = c->opts; o->name; o++) {
      fprintf(out, "option\t%s\t%s%s%s\n", c->name, o->name, o->arg ? " " : "", o->arg ? o->arg : "");
      if (o->alias)
        fprintf(out, "option\t%s\t%s%s%s\n", c->name, o->alias, o->arg ? " " : "", o->arg ? o->arg : "");
    }
  }
  for (const CliOpt *o = common_options; o->name; o++)
    fprintf(out, "option\t*\t%s\noption\t*\t%s\n", o->name, o->alias);
  for (const MountOptSpec *s = mount_options; s->name; s++) {
    if (s->kind == MOPT_FUSE_FLAG) fprintf(out, "option\tmount\t%s\n", s->name);
    else fprintf(out, "option\tmount\t-o %s%s%s\n", s->name, s->value ? "=" : "", s->value ? s->value : "");
    if (s->dflt)
      fprintf(out, "default\tmount\t-o %s=%s\t%s\n", s->name, s->value, s->dflt);
  }
  fputs("exit\tmount\t", out);
  mount_exit_line(out, 0);
  exits_of_commands(out, 1);
}

/* ---- a mistyped command ---------------------------------------------------------- */

/* Edits (insert, delete, change, swap two neighbours) from a to b; capped. */
static int distance(const char *a, const char *b) {
  size_t n = strlen(a), m = strlen(b);
  if (n > 32 || m > 32) return SUGGEST_MAX_DISTANCE + 1;
  int d[33][33];
  for (size_t i = 0; i <= n; i++) d[i][0] = (int)i;
  for (size_t j = 0; j <= m; j++) d[0][j] = (int)j;
  for (size_t i = 1; i <= n; i++)
    for (size_t j = 1; j <= m; j++) {
      int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
      if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
        best = d[i - 2][j - 2] + 1;
      d[i][j] = best;
    }
  return d[n][m];
}

const char *cli_suggest(const char *word) {
  const char *best = NULL;
  int bestd = SUGGEST_MAX_DISTANCE + 1;
  for (const CliCmd *c = cli_commands; c->name; c++) {
    int d = distance(word, c->name);
    if (d < bestd && d < (int)strlen(c->name)) bestd = d, best = c->name;
  }
  return best;
}

/* ---- the front door ----------------------------------------------------------------- */

static int is_global_flag(const char *a) {
  return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0 || strcmp(a, "-V") == 0 ||
         strcmp(a, "--version") == 0 || strcmp(a, "--list-options") == 0;
}

/* A word in the place of a command that is neither a command nor a path. */
static int looks_mistyped(const char *word) {
  struct stat st;
  return word[0] != '-' && strchr(word, '/') == NULL && lstat(word, &st) != 0;
}

int cli_takes(int argc, char **argv) {
  if (argc < 2 || cli_command(argv[1]) || looks_mistyped(argv[1])) return 1;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) break;
    if (strcmp(argv[i], "-o") == 0) i++;
    else if (is_global_flag(argv[i])) return 1;
  }
  return 0;
}

static int help_main(int argc, char **argv) {
  const CliCmd *self = cli_command("help"), *topic = NULL;
  CliArgs a;
  cli_args_init(&a, self, argc, argv);
  const char *val;
  int id, ntopics = 0;
  while ((id = cli_next(&a, &val)) != CLI_END) {
    if (id == CLI_BAD) return self->usage_status;
    if (id == CLI_HELP) topic = self, ntopics = 1;
    else if (id == CLI_OPERAND && !topic && ntopics++ == 0 && (topic = cli_command(val)) == NULL)
      return cli_usage_error(self, "no command %s", val);
  }
  if (ntopics > 1) return cli_usage_error(self, "one COMMAND at most");
  if (topic) cli_help_command(topic, stdout);
  else cli_help(stdout);
  return 0;
}

static int unknown_command(const char *word) {
  const char *near = cli_suggest(word);
  fprintf(stderr, "modelfs: %s is neither a command nor an existing SOURCE", word);
  if (near) fprintf(stderr, "; did you mean: modelfs %s ...?", near);
  fputs("\n(modelfs --help lists the commands)\n", stderr);
  return EXIT_USAGE;
}

int cli_main(int argc, char **argv) {
  if (argc < 2) {
    cli_help(stderr);
    return EXIT_USAGE;
  }
  const CliCmd *cmd = cli_command(argv[1]);
  if (cmd) return cmd->run(argc, argv);
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) break;
    if (strcmp(argv[i], "-o") == 0) i++;
    else if (strcmp(argv[i], "--list-options") == 0) return cli_list_options(stdout), 0;
    else if (strcmp(argv[i], "-V") == 0 || strcmp(argv[i], "--version") == 0)
      return cli_version(stdout), 0;
    else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
      return cli_help(stdout), 0;
  }
  return unknown_command(argv[1]);
}
