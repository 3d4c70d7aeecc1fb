/*
** compat.h -- "will it load?": the environment a model needs, from its bytes.
** Reads the value graph and the rules table only; never imports anything.
*/
#ifndef MODELFS_COMPAT_H
#define MODELFS_COMPAT_H

#include "modelfs/decode.h"

/* The compat.json document for a model, malloc'd, NUL-terminated (JSON with a
** trailing newline).  target may be NULL (no target check), else a string such as
** "sklearn=1.5,numpy=2.1,python=3.12". */
char *compat_report_json(Model *m, const char *target);

#endif
