/*
** mount.h -- the FUSE filesystem: modelfs [options] SOURCE MOUNTPOINT.
*/
#ifndef MODELFS_MOUNT_H
#define MODELFS_MOUNT_H

/* Parse FUSE-style options, mount, serve until unmounted; returns exit status. */
int mount_main(int argc, char **argv);

#endif
