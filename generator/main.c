/* main.c - dpgen: generate specialized kernels, run operators on .npy
 * files, generate a manifest's kernels. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

/* One line on stderr, status 2: the contract for bad input. */
int usage_fail(const char *msg)
{
	fprintf(stderr, "dpgen: %s\n", msg);
	return 2;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "run"))
		return cmd_run(argc - 2, argv + 2);
	if (argc > 1 && !strcmp(argv[1], "manifest"))
		return cmd_manifest(argc - 2, argv + 2);
	return cmd_generate(argc - 1, argv + 1);
}
