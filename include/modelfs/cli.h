/*
** cli.h -- the offline commands (no FUSE): ls, cat, tree, scan, check.
** They serve the same RTree the mount serves, so they print the same bytes.
*/
#ifndef MODELFS_CLI_H
#define MODELFS_CLI_H

/* Nonzero when the command line is for the CLI, not a mount: an offline command,
** -h/--help/-V/--version anywhere, or a mistyped command (a word that is no path). */
int cli_takes(int argc, char **argv);
/* Run it; returns the process exit status (0 ok, 1 not found/failed, 2 usage). */
int cli_main(int argc, char **argv);

/* `modelfs summary` (cli_summary.c) and `modelfs diff` (cli_diff.c); argv[1] is
** the command.  Each returns its exit status. */
int cli_summary_main(int argc, char **argv);
int cli_diff_main(int argc, char **argv);

#endif
