/* fuzz_cli.c - libFuzzer target: the command line and descriptor parser.
 *
 * The input is split into argv words at NUL and newline bytes. The words
 * go through cli_parse as a generation command (then cli_gen_desc and
 * dp_desc_command), as a `dpgen run` command and as a `dpgen manifest` line.
 * Every call must return 0 or -1 with a one-line message; a descriptor
 * accepted by cli_gen_desc must pass dp_desc_check. */
#include "fuzz_util.h"

#include "cli.h"

#define MAX_WORDS 64

static void one_mode(int argc, char **argv, enum cli_mode mode)
{
	char err[CLI_ERR_LEN] = "";
	char msg[CLI_ERR_LEN];
	char cmd[1024];
	cli_opts o;
	dp_desc d;

	if (cli_parse(argc, argv, mode, &o, err, sizeof err) != 0) {
		fuzz_check_msg(err, sizeof err);
		return;
	}
	if (mode != MODE_GEN)
		return;
	err[0] = '\0';
	if (cli_gen_desc(&o, &d, err, sizeof err) != 0) {
		fuzz_check_msg(err, sizeof err);
		return;
	}
	if (dp_desc_check(&d, msg, sizeof msg) != DP_OK) {
		fprintf(stderr, "cli_gen_desc accepted a descriptor that "
		        "dp_desc_check rejects: %s\n", msg);
		abort();
	}
	dp_desc_command(&d, cmd, sizeof cmd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[MAX_WORDS + 1];
	char *block;
	int argc = fuzz_split(data, size, argv, MAX_WORDS, &block);

	one_mode(argc, argv, MODE_GEN);
	one_mode(argc, argv, MODE_RUN);
	one_mode(argc, argv, MODE_MANIFEST);
	free(block);
	return 0;
}
