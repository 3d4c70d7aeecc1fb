/*
** main.c -- the modelfs program: an offline command, or a mount.
** Only chooses; it must never hold any logic of either.
*/
#include "modelfs/cli.h"
#include "modelfs/mount.h"

int main(int argc, char **argv) {
  if (argc > 1 && cli_is_command(argv[1])) return cli_main(argc, argv);
  return mount_main(argc, argv);
}
