/* fuse.c -- STUB (owner: FUSE helper). */
#include <stdio.h>
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include "modelfs/mount.h"
int mount_main(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "modelfs: mount not written yet\n"); return 2; }
