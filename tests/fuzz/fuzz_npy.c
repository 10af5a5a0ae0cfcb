/* fuzz_npy.c - libFuzzer target: the .npy reader.
 *
 * The input is written to a per-process file under /tmp and read with
 * dp_npy_read. A file it accepts must have a consistent shape; it is
 * written back with dp_npy_write and read again, and the second read must
 * give the same shape and bit-identical data. */
#include "fuzz_util.h"

#include "dpgen.h"

static char in_path[128], out_path[128];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char msg[FUZZ_MSG_LEN] = "";
	dp_array a, b;
	dp_status st;
	int64_t n;

	if (!in_path[0]) {
		fuzz_tmp_path(in_path, sizeof in_path, "in.npy");
		fuzz_tmp_path(out_path, sizeof out_path, "out.npy");
	}
	fuzz_write(in_path, data, size);
	st = dp_npy_read(in_path, &a, msg, sizeof msg);
	if (st != DP_OK) {
		fuzz_check_msg(msg, sizeof msg);
		if (a.data || a.ndim)
			abort();
		return 0;
	}
	n = dp_array_elems(&a);
	if (n < 1 || n > DP_MAX_ELEMS || !a.data)
		abort();
	if (dp_npy_write(out_path, &a, msg, sizeof msg) != DP_OK ||
	    dp_npy_read(out_path, &b, msg, sizeof msg) != DP_OK) {
		fprintf(stderr, "round trip failed: %s\n", msg);
		abort();
	}
	if (b.ndim != a.ndim || memcmp(a.shape, b.shape, sizeof a.shape) ||
	    memcmp(a.data, b.data, (size_t)n * sizeof(float)))
		abort();
	dp_array_free(&a);
	dp_array_free(&b);
	return 0;
}
