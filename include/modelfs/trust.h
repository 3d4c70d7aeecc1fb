/*
** trust.h -- which globals are plumbing, which are unknown, which can run code.
**
** Judgements over names only: a global is a string "module.qualname", never
** imported.  The built-in list ships with the program (trust_data.c);
** -o trust=FILE / --trust FILE add names, one per line ('#' comments).
*/
#ifndef MODELFS_TRUST_H
#define MODELFS_TRUST_H

#include <stddef.h>
#include "modelfs/err.h"

typedef struct TrustList TrustList;

TrustList *trust_new_default(void);
MfsStatus trust_add_file(TrustList *t, const char *path, Err *e);
MfsStatus trust_add_name(TrustList *t, const char *dotted);
void trust_free(TrustList *t);

int trust_is_trusted(const TrustList *t, const char *dotted);
/* Nonzero when the global can run code or touch the system (os.system, eval, ...). */
int trust_is_dangerous(const char *dotted);
/* The same for a global as find_class resolves it: module, then the qualified
** name walked attribute by attribute ("pathlib" "os.system" is os.system,
** "builtins" "eval.__call__" is eval, a walk through __globals__ reaches
** anything). */
int trust_global_is_dangerous(const char *module, const char *qualname);
/* The verdict over a whole model is judge.c's (judge.h). */

#endif
