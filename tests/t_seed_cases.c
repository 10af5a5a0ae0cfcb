/* t_seed_cases.c - the seed assignment's own convolution cases: one
 * channel, no padding, stride 1, square inputs H = 3, 7, ..., 47, standard
 * normal input, kernel and bias, 100 seeds each, with a 3x3 kernel and
 * with an odd kernel of about H/2, for direct, im2col and im2col-blas
 * (generic kernels; the generated ones are checked in t_conv). The
 * assignment's limit is a mean
 * absolute error below 1e-4 against the reference; we also state what we
 * get, which is orders of magnitude below it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "tap.h"
#include "util.h"

#define SEEDS 100

/* Mean |error| over all seeds and outputs of kern for an H x H input and
 * an R x R kernel. */
static double mean_error(const dp_kernel *kern, int h, int r, double *worst)
{
	dp_desc d = { .op = DP_OP_CONV, .algo = kern->desc.algo,
	              .precision = DP_PREC_FP32, .n = 1, .c = 1, .h = h,
	              .w = h, .k = 1, .r = r, .s = r, .stride = 1 };
	int ho = h - r + 1;
	size_t no = (size_t)ho * ho;
	float *x = malloc((size_t)h * h * 4), *w = malloc((size_t)r * r * 4);
	float *y = malloc(no * 4), b;
	double *ref = malloc(no * 8), sum = 0;
	rng_t rng;
	*worst = 0;
	for (int seed = 0; seed < SEEDS; seed++) {
		rng_seed(&rng, (uint64_t)seed * 1000 + (uint64_t)h * 10 + r);
		fill_normal(&rng, x, (size_t)h * h);
		fill_normal(&rng, w, (size_t)r * r);
		fill_normal(&rng, &b, 1);
		if (dp_kernel_run(kern, &d, x, w, &b, y) != DP_OK ||
		    dp_ref_conv2d(&d, x, w, &b, ref) != DP_OK) {
			sum = INFINITY;
			break;
		}
		err_stats e = compare(y, ref, no);
		sum += e.mean_abs_err;
		if (e.max_abs_err > *worst)
			*worst = e.max_abs_err;
	}
	free(x);
	free(w);
	free(y);
	free(ref);
	return sum / SEEDS;
}

int main(void)
{
	static const dp_algo algos[] = {
		DP_ALGO_DIRECT, DP_ALGO_IM2COL, DP_ALGO_IM2COL_BLAS
	};
	double overall = 0;
	for (size_t a = 0; a < sizeof algos / sizeof algos[0]; a++)
	for (int h = 3; h <= 47; h += 4) {
		dp_desc any = { .op = DP_OP_CONV, .algo = algos[a],
		                .precision = DP_PREC_FP32 };
		const dp_kernel *kern = dp_generic_kernel(&any);
		int big = (h / 2) | 1;   /* the odd kernel of about H/2 */
		int ks[2] = { 3, big };
		for (int i = 0; i < 2; i++) {
			if (i == 1 && big == 3)
				continue;
			double worst, m = mean_error(kern, h, ks[i], &worst);
			ok(m < 1e-4, "%s H=%d %dx%d, %d seeds: mean |err| %.2e "
			   "(max %.2e) < 1e-4", dp_algo_name(algos[a]), h, ks[i],
			   ks[i], SEEDS, m, worst);
			if (m > overall)
				overall = m;
		}
	}
	diag("largest mean |err| over all cases: %.2e", overall);
	return done_testing();
}
