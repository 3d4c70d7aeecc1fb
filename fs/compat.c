/* compat.c -- STUB (owner: compat helper). */
#include <string.h>
#include "modelfs/compat.h"
char *compat_report_json(Model *m, const char *target) { (void)m; (void)target; return strdup("{}\n"); }
