/* t_conv_direct.c - the mechanisms of the generated direct convolution
 * (templates/conv_direct.lua) that t_conv's shapes reach only by chance:
 * register blocks that run from one output row into the next, row tails
 * of at most 4 lanes paired with the next row's (odd row counts leave one
 * unpaired), channel blocks that add to stored outputs (with paired
 * tails), strides 2 and 3 with paired tails. Each kernel is checked
 * against the fp64 reference with conv_check's derived bound, built twice:
 * with $DP_KERNEL_CFLAGS (default -O2, no AVX: the portable path) and,
 * when the CPU has AVX2 and FMA, with -O2 -mavx2 -mfma (the path with the
 * register pins). Results must also be bitwise identical with 1 and 2
 * threads on a layer large enough to be shared. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv_check.h"
#include "tap.h"
#include "util.h"

static const struct { int n, c, h, w, k, r, s, st, ph, pw; } shapes[] = {
	{ 1, 3, 28, 28, 16, 3, 3, 1, 1, 1 },  /* 28 = 3 vectors + a 4-lane pair */
	{ 1, 2, 5, 3, 3, 3, 3, 1, 1, 1 },     /* 3-lane rows only, 5 rows */
	{ 2, 3, 7, 12, 5, 3, 3, 1, 1, 1 },    /* batch 2, odd rows, pairs */
	{ 1, 300, 12, 12, 6, 3, 3, 1, 1, 1 }, /* channel blocks + pairs */
	{ 1, 200, 9, 13, 3, 3, 3, 1, 1, 1 },  /* channel blocks, 5-lane tail */
	{ 2, 4, 11, 20, 5, 3, 3, 2, 1, 1 },   /* stride 2: 10 = 8 + 2-lane pair */
	{ 1, 3, 17, 29, 4, 5, 3, 3, 2, 1 },   /* stride 3, 5x3 */
	{ 1, 3, 9, 2, 9, 1, 1, 1, 0, 0 },     /* 1x1, 2-lane rows */
	{ 1, 1, 33, 33, 1, 3, 3, 1, 0, 0 },   /* one filter: 31 = 3 + 7 lanes */
	{ 1, 16, 40, 36, 24, 3, 3, 1, 1, 1 }, /* 36 = 4 vectors + 4-lane pair;
	                                       * 10 MFLOP: shared by threads */
};

static dp_desc make_desc(int i)
{
	dp_desc d = { .op = DP_OP_CONV, .algo = DP_ALGO_DIRECT,
	              .precision = DP_PREC_FP32 };
	d.n = shapes[i].n; d.c = shapes[i].c; d.h = shapes[i].h;
	d.w = shapes[i].w; d.k = shapes[i].k; d.r = shapes[i].r;
	d.s = shapes[i].s; d.stride = shapes[i].st;
	d.pad_h = shapes[i].ph; d.pad_w = shapes[i].pw;
	return d;
}

/* Runs kern on d with `threads` threads; the output in y. 0 on success. */
static int run(const dp_kernel *kern, const dp_desc *d, int threads,
               const float *x, const float *w, const float *b, float *y)
{
	void *state = malloc(kern->state_bytes(d) + 1);
	void *ws = malloc(kern->workspace_bytes(d) + 1);
	int rc = -1;
	if (state && ws && dp_set_num_threads(threads) == DP_OK &&
	    kern->prepare(d, w, b, state) == DP_OK &&
	    kern->execute(d, state, x, y, ws) == DP_OK)
		rc = 0;
	free(state);
	free(ws);
	return rc;
}

/* Bitwise identity of 1 and 2 threads on d. */
static void check_threads(const dp_kernel *kern, const dp_desc *d)
{
	size_t ni = (size_t)dp_conv_input_elems(d);
	size_t nw = (size_t)dp_conv_weight_elems(d);
	size_t no = (size_t)dp_conv_output_elems(d);
	float *x = malloc(ni * 4), *w = malloc(nw * 4), *b = malloc(d->k * 4u);
	float *y1 = malloc(no * 4), *y2 = malloc(no * 4);
	rng_t rng;
	rng_seed(&rng, 5);
	if (x && w && b && y1 && y2) {
		fill_normal(&rng, x, ni);
		fill_normal(&rng, w, nw);
		fill_normal(&rng, b, (size_t)d->k);
		int ok1 = run(kern, d, 1, x, w, b, y1) == 0;
		int ok2 = run(kern, d, 2, x, w, b, y2) == 0;
		ok(ok1 && ok2 && !memcmp(y1, y2, no * 4),
		   "%s: 1 and 2 threads bitwise identical", kern->name);
	} else {
		ok(0, "memory for the thread check");
	}
	dp_set_num_threads(1);
	free(x); free(w); free(b); free(y1); free(y2);
}

static int have_avx2_fma(void)
{
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
	return 0;
#endif
}

int main(void)
{
	char note[512], args[512];
	const char *own = getenv("DP_KERNEL_CFLAGS");
	char flags[2][256];
	snprintf(flags[0], sizeof flags[0], "%s", own && *own ? own : "-O2");
	snprintf(flags[1], sizeof flags[1], "-O2 -mavx2 -mfma");
	const int nflags = have_avx2_fma() ? 2 : 1;
	const int count = (int)(sizeof shapes / sizeof shapes[0]);
	for (int f = 0; f < nflags; f++) {
		char dir[256];
		/* One directory per set of flags: the kernels have the same
		 * names, and dlopen would return the first one loaded. */
		if (!make_temp_dir(dir, sizeof dir)) {
			ok(0, "temporary directory");
			return done_testing();
		}
		setenv("DP_KERNEL_CFLAGS", flags[f], 1);
		for (int i = 0; i < count; i++) {
			dp_desc d = make_desc(i);
			desc_args(&d, args, sizeof args);
			const dp_kernel *kern = build_kernel(&d, dir, note,
			                                     sizeof note);
			if (!ok(kern != NULL, "builds with %s: %s", flags[f], args)) {
				diag("%s", note);
				continue;
			}
			double e = conv_check(kern, &d, 300 + i, note, sizeof note);
			ok(e >= 0 && e <= 1, "%s [%s]: %s", args, flags[f], note);
			if (i == count - 1)
				check_threads(kern, &d);
		}
		remove_tree(dir);
	}
	return done_testing();
}
