/*
** compat.h -- "will it load?": the environment a model needs, from its bytes.
** Reads the value graph and the rules table only; never imports anything.
*/
#ifndef MODELFS_COMPAT_H
#define MODELFS_COMPAT_H

#include <stddef.h>
#include "modelfs/model.h"

/* The compat.json document for a model, malloc'd, NUL-terminated (JSON with a
** trailing newline).  target may be NULL (no target check), else a string such as
** "sklearn=1.5,numpy=2.1,python=3.12". */
char *compat_report_json(Model *m, const char *target);

/* The answer to a target check; the values are `modelfs check`'s exit statuses. */
typedef enum CompatVerdict {
  COMPAT_LOADS = 0,
  COMPAT_WARNS = 1,        /* loads with warnings */
  COMPAT_FAILS = 2,
  COMPAT_UNREADABLE = 3,   /* the file did not decode */
  COMPAT_NO_TARGET = 4     /* no (valid) target given: facts only */
} CompatVerdict;

/* The same report as compat_report_json, plus the verdict.  *json (when json is
** not NULL) receives the malloc'd document, or NULL on out of memory. */
CompatVerdict compat_check(Model *m, const char *target, char **json);

/* 0 when TARGET ("sklearn=1.5,numpy=2.1") names only known libraries with versions
** of digits and dots; else -1 and the reason in WHY (N bytes). */
int compat_target_check(const char *target, char *why, size_t n);

/* `modelfs check FILE... [--sklearn V] [--numpy V] [--python V] [--skops V] [--json]`
** (argv[1] may be "check").  Returns the exit status: the worst verdict over the
** files (0 loads, 1 loads with warnings, 2 fails, 3 unreadable), 64 on usage error. */
int compat_cli_check(int argc, char **argv);

/* Parse the shipped rules table: *count rules read, *malformed lines skipped. */
int compat_rules_check(size_t *count, size_t *malformed);

#endif
