/* t_matmul.c - the naive matmul against the fp64 reference, on shapes
 * with the edges: 1x1x1, a vector (M = 1), K = 1, odd sizes, and one of
 * the MNIST layer's shapes. Bound: Higham's gamma_K * sum_p |a_ip b_pj|
 * for a float dot product of K terms. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "tap.h"
#include "util.h"

static const int shapes[][3] = {
	{ 1, 1, 1 }, { 1, 64, 10 }, { 7, 1, 9 }, { 7, 13, 5 },
	{ 33, 65, 17 }, { 128, 128, 128 }, { 64, 784, 128 },
};

static double check(int m, int k, int n, uint64_t seed, char *note,
                    size_t len)
{
	dp_desc d = { .op = DP_OP_MATMUL, .algo = DP_ALGO_NAIVE,
	              .precision = DP_PREC_FP32, .mm_m = m, .mm_k = k,
	              .mm_n = n };
	size_t na = (size_t)m * k, nb = (size_t)k * n, nc = (size_t)m * n;
	float *a = malloc(na * 4), *b = malloc(nb * 4), *c = malloc(nc * 4);
	float *aa = malloc(na * 4), *ab = malloc(nb * 4);
	double *ref = malloc(nc * 8), *mag = malloc(nc * 8), worst = -1;
	const dp_kernel *used = NULL;
	rng_t r;
	rng_seed(&r, seed);
	fill_normal(&r, a, na);
	fill_normal(&r, b, nb);
	for (size_t i = 0; i < na; i++)
		aa[i] = fabsf(a[i]);
	for (size_t i = 0; i < nb; i++)
		ab[i] = fabsf(b[i]);
	dp_status st = dp_matmul(&d, a, b, c, &used);
	if (st != DP_OK) {
		snprintf(note, len, "dp_matmul failed: %s", dp_status_str(st));
		goto out;
	}
	dp_ref_matmul(m, k, n, a, b, ref);
	dp_ref_matmul(m, k, n, aa, ab, mag);
	worst = 0;
	for (size_t i = 0; i < nc; i++) {
		double e = fabs(c[i] - ref[i]);
		double bound = dot_error_bound(k, mag[i]);
		double ratio = e == 0 ? 0 : e / bound;
		if (!(ratio <= worst))
			worst = isnan(ratio) ? INFINITY : ratio;
	}
	err_stats es = compare(c, ref, nc);
	snprintf(note, len, "%s: max err %.3g, worst err/bound %.3g",
	         used ? used->name : "?", es.max_abs_err, worst);
out:
	free(a); free(b); free(c); free(aa); free(ab); free(ref); free(mag);
	return worst;
}

int main(void)
{
	char note[512];
	for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
		int m = shapes[i][0], k = shapes[i][1], n = shapes[i][2];
		double w = check(m, k, n, 11 + i, note, sizeof note);
		ok(w >= 0 && w <= 1, "naive %dx%dx%d within the bound: %s", m, k,
		   n, note);
	}
	/* Bad descriptors are refused with a status, not a crash. */
	dp_desc bad = { .op = DP_OP_MATMUL, .algo = DP_ALGO_NAIVE,
	                .mm_m = 0, .mm_k = 3, .mm_n = 3 };
	float one = 1, out = 0;
	ok(dp_matmul(&bad, &one, &one, &out, NULL) == DP_ERR_ARG,
	   "M = 0 is refused with DP_ERR_ARG");
	bad.mm_m = 1;
	bad.algo = DP_ALGO_DIRECT;
	ok(dp_matmul(&bad, &one, &one, &out, NULL) == DP_ERR_ARG,
	   "a conv algorithm for a matmul is refused");
	ok(dp_desc_check(&bad, note, sizeof note) == DP_ERR_ARG &&
	   note[0] != '\0', "and the check says why: %s", note);
	return done_testing();
}
