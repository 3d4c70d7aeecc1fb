/*
** main.c -- the modelfs program: an offline command, or a mount.
** Only chooses; it must never hold any logic of either.
*/
#include "modelfs/cli.h"
#include "modelfs/mount.h"

int main(int argc, char **argv) {
  if (cli_takes(argc, argv)) return cli_main(argc, argv);
  return mount_main(argc, argv);
}
