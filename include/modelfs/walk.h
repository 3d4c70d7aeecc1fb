/*
** walk.h -- the files `scan` and `check` look at: each path named on the command line,
** and every regular file under a named directory, in bytewise order.
*/
#ifndef MODELFS_WALK_H
#define MODELFS_WALK_H

/* Called for each file: error NULL for a regular file to look at, else why the path
** cannot be looked at ("No such file or directory", "not a regular file"). */
typedef void (*WalkFn)(void *ctx, const char *path, const char *error);

/* Walk one command-line path: a file is reported whatever it is (symlinks followed);
** under a directory every regular file is (symlinks to files followed, to
** directories not: loops), entries sorted bytewise so two runs print alike. */
void walk_path(const char *path, WalkFn fn, void *ctx);

#endif
