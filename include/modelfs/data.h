/*
** data.h -- the text lists compiled into the program from data/NAME.txt
** (scripts/embed.sh).  One entry per line; '#' starts a comment line.
*/
#ifndef MODELFS_DATA_H
#define MODELFS_DATA_H
extern const char data_trusted[];     /* data/trusted.txt */
extern const char data_dangerous[];   /* data/dangerous.txt */
extern const char data_compat_rules[]; /* data/compat_rules.txt (TAB-separated) */
extern const char data_sklearn_defaults[]; /* data/sklearn_defaults.txt (TAB-separated) */
#endif
