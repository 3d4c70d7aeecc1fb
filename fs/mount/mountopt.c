/*
** mountopt.c -- the mount's option table: every -o item modelfs takes, checked
** before anything is mounted, and the libfuse options worth knowing.
**
** The table is the one place an option is named: fuse.c parses with it, `modelfs
** --help` and the completion print it, a test holds the man page and README to
** it.  It must never accept a value it cannot use ("cache_mb=-5", a target with
** an unknown library): a typo must fail loudly, not mount with a default.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "modelfs/compat.h"
#include "modelfs/limits.h"
#include "modelfs/mountopt.h"

#define STR_(x) #x
#define STR(x) STR_(x)
#define TARGET_FORM "sklearn=V,numpy=V,python=V,skops=V"

const MountOptSpec mount_options[] = {
  {"cache_mb", "N", MOPT_OWN, STR(MFS_CACHE_MB_DEFAULT),
   "keep up to N MiB of decoded models in memory, least recently used dropped first"},
  {"trust", "FILE", MOPT_OWN, NULL,
   "also trust the globals (module.qualname) listed in FILE, one per line"},
  {"target", TARGET_FORM, MOPT_OWN, NULL,
   "compat.json says whether each model loads with these versions (V: digits and dots)"},
  {"cache_dir", "DIR", MOPT_OWN, "$TMPDIR, else /tmp",
   "where decompressed bytes of compressed models spill (files unlinked at once)"},
  {"nowatch", NULL, MOPT_OWN, NULL,
   "no inotify (network filesystems): names re-checked after 1 s and on every open"},
  {"frugal", NULL, MOPT_OWN, NULL,
   "read models only as far as asked (network filesystems): no sums at open, so a touch fails open files"},
  {"stats", NULL, MOPT_OWN, NULL,
   "at unmount, print to stderr how often and how much SOURCE was read (with -f)"},
  {"allow_other", NULL, MOPT_FUSE_O, NULL,
   "let other users see the mount (user_allow_other in /etc/fuse.conf when not root)"},
  {"max_read", "N", MOPT_FUSE_O, NULL, "largest read request, in bytes"},
  {"clone_fd", NULL, MOPT_FUSE_O, NULL, "one /dev/fuse descriptor per thread"},
  {"max_threads", "N", MOPT_FUSE_O, NULL, "at most N threads serve requests"},
  {"-f", NULL, MOPT_FUSE_FLAG, NULL, "stay in the foreground"},
  {"-d", NULL, MOPT_FUSE_FLAG, NULL, "debug: print every FUSE request (implies -f)"},
  {"-s", NULL, MOPT_FUSE_FLAG, NULL, "serve requests with one thread"},
  {NULL, NULL, 0, NULL, NULL},
};

const ExitSpec mount_exits[] = {
  {0, "unmounted cleanly"},
  {1, "the mount could not be set up (SOURCE missing or MOUNTPOINT busy)"},
  {2, "usage error (unknown option or bad option value)"},
  {0, NULL},
};

void mountopt_init(MountOpts *o) {
  memset(o, 0, sizeof *o);
  o->cache_mb = MFS_CACHE_MB_DEFAULT;
}

void mountopt_free(MountOpts *o) {
  free(o->trust);
  free(o->cache_dir);
  free(o->target);
  memset(o, 0, sizeof *o);
}

/* A whole decimal number in [0, max]: no sign, no space, no suffix. */
static int parse_uint(const char *s, unsigned max, unsigned *out) {
  if (*s < '0' || *s > '9') return -1;
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (*end != '\0' || errno != 0 || v > max) return -1;
  *out = (unsigned)v;
  return 0;
}

static int set_string(char **slot, const char *value) {
  char *copy = strdup(value);
  if (copy == NULL) return -1;
  free(*slot);
  *slot = copy;
  return 0;
}

/* "target=sklearn=1.5,numpy=2.1" reaches us in parts: "numpy=2.1" continues it. */
static int target_add(MountOpts *o, const char *part, const char *item, char *msg, size_t n) {
  char why[160];
  if (compat_target_check(part, why, sizeof why) != 0) {
    snprintf(msg, n, "-o %s: %s (accepted: target=" TARGET_FORM ", V like 1.5 or 1.5.2)",
             item, why);
    return -1;
  }
  size_t have = o->target ? strlen(o->target) : 0;
  char *t = realloc(o->target, have + strlen(part) + 2);
  if (t == NULL) return -1;
  if (have) t[have++] = ',';
  strcpy(t + have, part);
  o->target = t;
  return 1;
}

static int is_target_part(const char *item) {
  static const char *const libs[] = {"sklearn=", "scikit-learn=", "numpy=", "python=", "skops="};
  for (size_t i = 0; i < sizeof libs / sizeof *libs; i++)
    if (strncmp(item, libs[i], strlen(libs[i])) == 0) return 1;
  return 0;
}

/* NAME=VALUE of a MOPT_OWN option with a value. */
static int take_value(MountOpts *o, const char *name, const char *value, const char *item,
                      char *msg, size_t n) {
  if (strcmp(name, "cache_mb") == 0) {
    if (parse_uint(value, MFS_CACHE_MB_MAX, &o->cache_mb) == 0) return 1;
    snprintf(msg, n, "-o %s: want cache_mb=N, N a whole number of MiB from 0 to %u", item,
             MFS_CACHE_MB_MAX);
    return -1;
  }
  if (strcmp(name, "target") == 0) {
    free(o->target);
    o->target = NULL;
    return target_add(o, value, item, msg, n);
  }
  if (*value == '\0') {
    snprintf(msg, n, "-o %s: want %s=%s", item, name, strcmp(name, "trust") ? "DIR" : "FILE");
    return -1;
  }
  char **slot = strcmp(name, "trust") == 0 ? &o->trust : &o->cache_dir;
  return set_string(slot, value) == 0 ? 1 : -1;
}

int mountopt_take(MountOpts *o, const char *item, char *msg, size_t n) {
  msg[0] = '\0';
  if (strcmp(item, "nowatch") == 0) return o->nowatch = 1;
  if (strcmp(item, "stats") == 0) return o->stats = 1;
  if (strcmp(item, "frugal") == 0) return o->frugal = 1;
  if (strncmp(item, "max_read=", 9) == 0) {
    if (parse_uint(item + 9, ~0u, &o->max_read) == 0) return 2;
    snprintf(msg, n, "-o %s: want max_read=N, N a whole number of bytes", item);
    return -1;
  }
  if (strncmp(item, "max_threads=", 12) == 0) {
    if (parse_uint(item + 12, ~0u, &o->max_threads) == 0) return 2;
    snprintf(msg, n, "-o %s: want max_threads=N, N a whole number", item);
    return -1;
  }
  if (is_target_part(item)) return target_add(o, item, item, msg, n);
  const char *eq = strchr(item, '=');
  size_t len = eq ? (size_t)(eq - item) : strlen(item);
  for (const MountOptSpec *s = mount_options; s->name; s++) {
    if (s->kind != MOPT_OWN || s->value == NULL) continue;
    if (strlen(s->name) != len || strncmp(s->name, item, len) != 0) continue;
    if (eq == NULL) {
      snprintf(msg, n, "-o %s: want %s=%s", item, s->name, s->value);
      return -1;
    }
    return take_value(o, s->name, eq + 1, item, msg, n);
  }
  return 0;
}
