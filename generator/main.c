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
	int rc;
	if (argc > 1 && !strcmp(argv[1], "run"))
		rc = cmd_run(argc - 2, argv + 2);
	else if (argc > 1 && !strcmp(argv[1], "manifest"))
		rc = cmd_manifest(argc - 2, argv + 2);
	else if (argc > 1 && !strcmp(argv[1], "tune")) rc = cmd_tune(argc - 2, argv + 2);
	else
		rc = cmd_generate(argc - 1, argv + 1);
	/* Whatever went to stdout (names, help, kernels) must have arrived. */
	if ((fflush(stdout) != 0 || ferror(stdout)) && rc == 0) {
		fprintf(stderr, "dpgen: cannot write to standard output\n");
		return 1;
	}
	return rc;
}
