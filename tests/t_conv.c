/* t_conv.c - the convolutions whose every output is one float dot product
 * (direct, im2col, im2col-blas), generated and generic, against the fp64
 * reference over the edge cases: 1x1 input, one channel, one filter, odd
 * sizes, strides 2 and 3, padding 0..3 (also beyond the kernel), batch 3,
 * kernels 1x1 to 9x9 and as large as the padded input. Every generated
 * kernel is built fresh by dpgen, compiled with $CC -Wall -Wextra -Werror,
 * and loaded. Winograd has its own test: its error bound differs. */
#include <stdio.h>
#include <string.h>

#include "conv_check.h"
#include "tap.h"
#include "util.h"

static const struct { int n, c, h, w, k, r, s, st, ph, pw; } shapes[] = {
	{ 1, 1, 1, 1, 1, 1, 1, 1, 0, 0 },    /* 1x1 input, 1x1 kernel */
	{ 1, 1, 1, 1, 1, 3, 3, 1, 1, 1 },    /* 1x1 input, kernel = padded */
	{ 1, 3, 28, 28, 16, 3, 3, 1, 1, 1 }, /* the demo layer */
	{ 3, 2, 9, 7, 4, 3, 3, 1, 1, 1 },    /* batch 3, odd sizes */
	{ 1, 1, 13, 13, 1, 5, 5, 1, 2, 2 },  /* C = K = 1, 5x5 */
	{ 1, 4, 17, 11, 3, 7, 7, 1, 3, 3 },  /* 7x7, prime height */
	{ 1, 2, 15, 15, 2, 3, 3, 2, 1, 1 },  /* stride 2 */
	{ 1, 2, 16, 13, 3, 3, 3, 3, 0, 0 },  /* stride 3, no padding */
	{ 1, 3, 11, 11, 2, 5, 5, 2, 2, 2 },  /* stride 2, 5x5 */
	{ 1, 1, 7, 7, 1, 7, 7, 1, 0, 0 },    /* kernel = input */
	{ 1, 2, 5, 5, 2, 9, 9, 1, 2, 2 },    /* kernel = padded input */
	{ 2, 3, 8, 6, 5, 3, 5, 1, 1, 2 },    /* 3x5 kernel, pad 1x2 */
	{ 1, 1, 3, 3, 1, 3, 3, 1, 2, 2 },    /* pad 2 on 3x3 */
	{ 1, 5, 6, 6, 1, 1, 1, 2, 0, 0 },    /* 1x1 kernel, stride 2 */
	{ 1, 1, 9, 9, 1, 2, 2, 1, 0, 0 },    /* even kernel */
	{ 1, 2, 10, 10, 3, 4, 4, 2, 1, 1 },  /* even kernel, stride 2, pad */
	{ 1, 1, 4, 4, 1, 3, 3, 1, 3, 3 },    /* pad = kernel: bias-only rows */
	{ 1, 1, 1, 20, 2, 1, 5, 1, 0, 2 },   /* one-row image */
	{ 3, 1, 23, 5, 2, 3, 1, 3, 1, 0 },   /* batch 3, stride 3, 3x1 */
	/* im2col's blocking: depth C*R*S past one block (432), output pixels
	 * past one block of columns (400), filters in two row blocks with a
	 * leftover (157); 12 blocks of columns (threads take whole blocks);
	 * a stride-2 7x7 over several blocks; a deep 1x1 (81 pixels: a last
	 * panel of one column, 7 filters: a last row block of 3); 18 pixels
	 * (a last panel of two columns) by 11 filters; 257 filters in two
	 * parts of rows, one per thread slot. */
	{ 2, 48, 20, 20, 157, 3, 3, 1, 1, 1 },
	{ 1, 29, 40, 40, 7, 3, 3, 1, 1, 1 },
	{ 1, 3, 40, 37, 8, 7, 7, 2, 3, 3 },
	{ 1, 40, 9, 9, 7, 1, 1, 1, 0, 0 },
	{ 1, 6, 9, 2, 11, 3, 3, 1, 1, 1 },
	{ 1, 4, 6, 6, 257, 3, 3, 1, 1, 1 },
};

static const dp_algo algos[] = {
	DP_ALGO_DIRECT, DP_ALGO_IM2COL, DP_ALGO_IM2COL_BLAS
};

static dp_desc make_desc(int i, dp_algo algo)
{
	dp_desc d = { .op = DP_OP_CONV, .algo = algo,
	              .precision = DP_PREC_FP32 };
	d.n = shapes[i].n; d.c = shapes[i].c; d.h = shapes[i].h;
	d.w = shapes[i].w; d.k = shapes[i].k; d.r = shapes[i].r;
	d.s = shapes[i].s; d.stride = shapes[i].st;
	d.pad_h = shapes[i].ph; d.pad_w = shapes[i].pw;
	return d;
}

int main(void)
{
	char dir[256], note[512], args[512];
	if (!make_temp_dir(dir, sizeof dir)) {
		ok(0, "temporary directory");
		return done_testing();
	}
	int count = (int)(sizeof shapes / sizeof shapes[0]);
	for (int i = 0; i < count; i++)
	for (size_t a = 0; a < sizeof algos / sizeof algos[0]; a++) {
		dp_desc d = make_desc(i, algos[a]);
		desc_args(&d, args, sizeof args);
		ok(dp_desc_check(&d, note, sizeof note) == DP_OK,
		   "valid descriptor: %s", args);
		double g = conv_check(dp_generic_kernel(&d), &d, 100 + i, note,
		                      sizeof note);
		ok(g >= 0 && g <= 1, "generic  %s: %s", args, note);
		if (!dp_algo_generated(d.algo))
			continue;
		const dp_kernel *kern = build_kernel(&d, dir, note, sizeof note);
		if (!ok(kern != NULL, "generated kernel builds: %s", args)) {
			diag("%s", note);
			continue;
		}
		ok(!kern->generic && !memcmp(&kern->desc, &d, sizeof d),
		   "kernel %s describes its own shape", kern->name);
		double e = conv_check(kern, &d, 100 + i, note, sizeof note);
		ok(e >= 0 && e <= 1, "generated %s: %s", args, note);
	}
	/* Kernels built into the library: dispatch must pick them. */
	for (size_t i = 0; i < dp_registry_count; i++) {
		const dp_kernel *kern = dp_registry[i];
		if ((kern->desc.algo != DP_ALGO_DIRECT &&
		     kern->desc.algo != DP_ALGO_IM2COL) ||
		    kern->desc.precision != DP_PREC_FP32) /* t_precision_gen */
			continue;
		ok(dp_registry_find(&kern->desc) == kern,
		   "dispatch finds %s", kern->name);
		double e = conv_check(kern, &kern->desc, 7 + i, note, sizeof note);
		ok(e >= 0 && e <= 1, "registered %s: %s", kern->name, note);
	}
	remove_tree(dir);
	return done_testing();
}
