/*
** mount.h -- the FUSE filesystem: modelfs [options] SOURCE MOUNTPOINT.
*/
#ifndef MODELFS_MOUNT_H
#define MODELFS_MOUNT_H

/* The one version string (modelfs --version, man page). */
#ifndef MODELFS_VERSION
#define MODELFS_VERSION "0.1.0"
#endif

/* Parse FUSE-style options, mount, serve until unmounted; returns exit status. */
int mount_main(int argc, char **argv);

/* The version of libfuse modelfs runs with, for --version. */
const char *mount_fuse_version(void);

#endif
