/*
** commands.h -- the table of modelfs's offline commands and their options.
**
** One table: the parsers read their options from it (cli_next), `--help` and
** `modelfs COMMAND --help` are printed from it, `--list-options` gives it to the
** bash completion and to the test that holds the man page and README to it.
** A new command is one row of cli_commands (help.c) plus its option array.
*/
#ifndef MODELFS_COMMANDS_H
#define MODELFS_COMMANDS_H
#include <stdio.h>
#include "modelfs/mountopt.h"

/* What cli_next returns besides an option's id (ids are > 0). */
#define CLI_OPERAND 0
#define CLI_END    (-1)
#define CLI_BAD    (-2)     /* a message naming the option was printed */
#define CLI_HELP   (-3)     /* -h or --help: print the command's help, exit 0 */

typedef struct CliOpt {
  int id;                /* > 0, what cli_next returns for it */
  const char *name;      /* "--json", "-l", "-o" */
  const char *alias;     /* another spelling ("--scikit-learn"), or NULL */
  const char *arg;       /* the accepted form of its argument ("FILE"), NULL for a flag */
  const char *help;
} CliOpt;

typedef struct CliCmd {
  const char *name;
  int (*run)(int argc, char **argv);   /* argv[1] is the command's name */
  const char *operands;                /* "MODEL [PATH]" */
  const char *summary;                 /* one line */
  const CliOpt *opts;                  /* ends with name NULL */
  const ExitSpec *exits;               /* ends with meaning NULL */
  int usage_status;                    /* exit status of a usage error */
} CliCmd;

/* Ends with name NULL. */
extern const CliCmd cli_commands[];
const CliCmd *cli_command(const char *name);

/* Walks argv[2..] of a command: options anywhere before "--", in the forms
** "--opt ARG", "--opt=ARG" and "-o ARG". */
typedef struct CliArgs {
  const CliCmd *cmd;
  int argc;
  char **argv;
  int i;
  int operands_only;     /* after "--" */
} CliArgs;

void cli_args_init(CliArgs *a, const CliCmd *cmd, int argc, char **argv);
/* The next option's id with *val its argument (NULL for a flag), CLI_OPERAND
** with *val the operand, CLI_END, CLI_HELP, or CLI_BAD after a message. */
int cli_next(CliArgs *a, const char **val);

/* "modelfs CMD: MESSAGE", then where to read more; returns the usage status. */
int cli_usage_error(const CliCmd *cmd, const char *fmt, ...)
  __attribute__((format(printf, 2, 3)));

/* The help of one command, and of the whole program. */
void cli_help_command(const CliCmd *cmd, FILE *out);
void cli_help(FILE *out);
/* The version lines: modelfs's, then libfuse's. */
void cli_version(FILE *out);
/* Every command, option and exit status, one per line, tab-separated. */
void cli_list_options(FILE *out);
/* The command nearest to a mistyped WORD, or NULL when none is near. */
const char *cli_suggest(const char *word);

/* The runners of the rows (cli.c, scan.c, cli_check.c; summary and diff: cli.h). */
int cli_model_main(int argc, char **argv);
int scan_cli_main(int argc, char **argv);
int compat_cli_check(int argc, char **argv);

/* The option arrays of the rows. */
extern const CliOpt cli_ls_options[], cli_model_options[], scan_options[], check_options[],
    summary_options[], diff_options[];
extern const ExitSpec cli_model_exits[], scan_exits[], check_exits[], summary_exits[],
    diff_exits[];
#endif
