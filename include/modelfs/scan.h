/*
** scan.h -- `modelfs scan [--json] [--trust FILE] FILE|DIR...`: a verdict per model,
** for CI pipelines.
**
** One line per model: PATH, TAB, verdict, TAB, the untrusted types joined by ","
** ("-" when none), and, when the model did not decode fully, TAB "error: " and the
** reason; with --where, one line per flagged global ("\twhere\tGLOBAL\tPATH,PATH")
** and per hazard ("\thazard\tTEXT").  --json (--format json) prints one JSON array
** instead, one object per model; --format sarif one SARIF 2.1.0 log.
**
** Verdicts: "safe", "untrusted", "dangerous" (section 5 of SPEC.md), "incomplete"
** (the file did not decode fully and nothing dangerous was seen before the fault:
** never reported safe) and "unreadable" (the file could not be opened).
**
** Exit status, the worst over all models: 2 when any is dangerous, else 3 when any
** is incomplete or unreadable, else 1 when any is untrusted (unless --fail-on
** dangerous), else 0.  Usage errors exit with SCAN_EXIT_USAGE.
*/
#ifndef MODELFS_SCAN_H
#define MODELFS_SCAN_H

#define SCAN_EXIT_SAFE       0
#define SCAN_EXIT_UNTRUSTED  1
#define SCAN_EXIT_DANGEROUS  2
#define SCAN_EXIT_UNREADABLE 3
#define SCAN_EXIT_USAGE      64

/* argv[0] is the program, argv[1] is "scan"; returns the exit status. */
int scan_cli_main(int argc, char **argv);

#endif
