/* cli.c -- STUB (owner: CLI helper). */
#include <string.h>
#include <stdio.h>
#include "modelfs/cli.h"
int cli_is_command(const char *w) { return strcmp(w, "ls") == 0 || strcmp(w, "cat") == 0 || strcmp(w, "tree") == 0; }
int cli_main(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "modelfs: not written yet\n"); return 2; }
