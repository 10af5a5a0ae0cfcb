/* fuzz_shape.c - libFuzzer target: the size strings of --shape, --kernel
 * and --pad through cli_gen_desc.
 *
 * The first byte picks the operator and algorithm; the rest is split at
 * NUL and newline bytes into the --shape, --kernel and --pad values (an
 * empty or missing one is left out). Other options keep fixed values. */
#include "fuzz_util.h"

#include "cli.h"

static const char *const algos[][2] = {
	{ "conv", "direct" }, { "conv", "winograd" }, { "conv", "im2col" },
	{ "conv", "fft" }, { "matmul", "gemm" }, { "matmul", "svd" },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *w[4];
	char *block;
	char err[CLI_ERR_LEN] = "";
	char cmd[1024];
	cli_opts o;
	dp_desc d;
	int n, pick;

	if (size == 0)
		return 0;
	pick = data[0] % (int)(sizeof algos / sizeof algos[0]);
	n = fuzz_split(data + 1, size - 1, w, 3, &block);
	memset(&o, 0, sizeof o);
	o.op = algos[pick][0];
	o.algo = algos[pick][1];
	o.shape = n > 0 ? w[0] : "28x28x3";
	if (pick == 5)
		o.rank_b = "ratio:0.5";
	if (pick < 4) {
		o.filters = "8";
		if (n > 1 && w[1][0])
			o.kernel = w[1];
		if (n > 2 && w[2][0])
			o.pad = w[2];
	}
	if (cli_gen_desc(&o, &d, err, sizeof err) != 0) {
		fuzz_check_msg(err, sizeof err);
	} else {
		char msg[CLI_ERR_LEN];

		if (dp_desc_check(&d, msg, sizeof msg) != DP_OK)
			abort();
		dp_desc_command(&d, cmd, sizeof cmd);
	}
	free(block);
	return 0;
}
