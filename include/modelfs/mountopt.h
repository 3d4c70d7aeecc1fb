/*
** mountopt.h -- the mount's options: one table that parses and validates every
** -o item modelfs takes, and documents those it leaves to libfuse.  `modelfs
** --help`, the man page test and the bash completion all read this table.
*/
#ifndef MODELFS_MOUNTOPT_H
#define MODELFS_MOUNTOPT_H
#include <stddef.h>

typedef enum MountOptKind {
  MOPT_OWN,        /* -o NAME[=VALUE], taken and checked by modelfs */
  MOPT_FUSE_O,     /* -o NAME[=VALUE], passed to libfuse */
  MOPT_FUSE_FLAG   /* a command-line flag of libfuse (-f, -d, -s) */
} MountOptKind;

typedef struct MountOptSpec {
  const char *name;    /* "cache_mb", "allow_other", "-f" */
  const char *value;   /* the accepted form of the value ("N"), NULL for a flag */
  MountOptKind kind;
  const char *dflt;    /* the default, as shown in help; NULL when none */
  const char *help;    /* one line */
} MountOptSpec;

/* Terminated by an entry with name NULL. */
extern const MountOptSpec mount_options[];

/* An exit status and what it means; tables end with meaning NULL. */
typedef struct ExitSpec {
  int status;
  const char *meaning;
} ExitSpec;

/* What `modelfs SOURCE MOUNTPOINT` exits with. */
extern const ExitSpec mount_exits[];

/* What the user's -o items say; strings malloc'd. */
typedef struct MountOpts {
  unsigned cache_mb;
  char *trust;
  char *cache_dir;
  char *target;        /* "sklearn=1.5,numpy=2.1": checked when taken */
  unsigned max_read;
  unsigned max_threads; /* 0: the mount's own default (MFS_LOOP_THREADS) */
  int nowatch;
  int stats;           /* print the reads of SOURCE at unmount */
  int frugal;          /* read only what is asked for: no sums at open */
} MountOpts;

void mountopt_init(MountOpts *o);
void mountopt_free(MountOpts *o);

/* One -o item (libfuse splits -o at commas).  Returns 1 when taken, 2 when
** noted but also meant for libfuse (max_read, max_threads), 0 when not modelfs's, -1 when
** its value is bad: then MSG (N bytes) names the option and the accepted form. */
int mountopt_take(MountOpts *o, const char *item, char *msg, size_t n);
#endif
