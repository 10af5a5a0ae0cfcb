/* fuzz_lua.c - libFuzzer target: the template loader given a hostile
 * template directory.
 *
 * The input becomes DIR/dpgen.lua; if it contains a line "--@helper",
 * the text after that line becomes DIR/helper.lua instead (a module the
 * first can require). dp_lua_generate then runs with template_dir = DIR
 * for a small valid descriptor, for the name and for the full kernel. It
 * must return 0 or -1 with a one-line message: never crash, never hang
 * (libFuzzer's -timeout), never touch files (no io, no os). */
#include <sys/stat.h>

#include "fuzz_util.h"

#include "luahost.h"

static char dir[128], main_path[192], helper_path[192], canary[192];

static void run(const dp_desc *d, int name_only)
{
	char err[FUZZ_MSG_LEN] = "";
	dp_gen_result r;

	if (dp_lua_generate(d, "dpgen fuzz", dir, name_only, &r, err,
	                    sizeof err) != 0) {
		fuzz_check_msg(err, sizeof err);
		if (r.name || r.c_src || r.h_src)
			abort();
		return;
	}
	if (!r.name || (!name_only && (!r.c_src || !r.h_src)))
		abort();
	dp_gen_result_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char mark[] = "\n--@helper\n";
	const uint8_t *split = NULL;
	dp_desc d;

	if (!dir[0]) {
		fuzz_tmp_path(dir, sizeof dir, "templates");
		if (mkdir(dir, 0700) != 0 && access(dir, W_OK) != 0) {
			perror(dir);
			abort();
		}
		snprintf(main_path, sizeof main_path, "%s/dpgen.lua", dir);
		snprintf(helper_path, sizeof helper_path, "%s/helper.lua", dir);
		/* A file templates must not be able to remove or change. */
		snprintf(canary, sizeof canary, "%s/canary", dir);
		fuzz_write(canary, "canary", 6);
	}
	for (size_t i = 0; i + sizeof mark - 1 <= size; i++)
		if (!memcmp(data + i, mark, sizeof mark - 1)) {
			split = data + i;
			break;
		}
	if (split) {
		size_t head = (size_t)(split - data);

		fuzz_write(main_path, data, head);
		fuzz_write(helper_path, split + sizeof mark - 1,
		           size - head - (sizeof mark - 1));
	} else {
		fuzz_write(main_path, data, size);
		unlink(helper_path);
	}
	memset(&d, 0, sizeof d);
	d.op = DP_OP_CONV;
	d.algo = DP_ALGO_DIRECT;
	d.precision = DP_PREC_FP32;
	d.n = 1;
	d.c = 2;
	d.h = d.w = 5;
	d.k = 3;
	d.r = d.s = 3;
	d.stride = 1;
	d.pad_h = d.pad_w = 1;
	run(&d, 1);
	run(&d, 0);
	if (access(canary, F_OK) != 0) {
		fprintf(stderr, "a template removed %s\n", canary);
		abort();
	}
	return 0;
}
