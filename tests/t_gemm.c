/* t_gemm.c - the packed, blocked GEMM, generated (built with dpgen for
 * each shape) and generic, against the fp64 reference. The shapes hit
 * the edges of the blocking: 1x1x1, a vector (M = 1), K = 1, odd sizes,
 * an exact 6 x 32 micro-tile, one past the tiles in every direction,
 * several K blocks and M blocks, and every variant the generator picks
 * (A packed or read in place, narrow N, leftover rows and columns).
 * Bound: Higham's gamma_K * sum_p |a_ip b_pj| per element, which any
 * order of the K products satisfies.
 * Each kernel runs twice on output poisoned with NaN (so a skipped element
 * fails) and must give the same bits both times. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "util.h"

#include "kernels.h"

/* M, K, N, and whether the generated kernel is built too. */
static const struct { int m, k, n, gen; } shapes[] = {
	{ 1, 1, 1, 1 }, { 1, 784, 512, 1 }, { 7, 1, 9, 1 },
	{ 13, 17, 19, 1 }, { 6, 32, 256, 1 }, { 7, 33, 257, 1 },
	{ 65, 63, 300, 1 }, { 128, 128, 128, 1 }, { 64, 784, 128, 1 },
	{ 512, 784, 512, 1 }, { 1000, 784, 512, 0 }, { 300, 1000, 70, 1 },
	/* The generator's other paths: N <= 8 (one-vector panels), a narrow
	 * N read with A in place and a partial last vector (N = 10), A in
	 * place with several K blocks and leftover rows (M = 37), packed A
	 * with leftover rows and columns and several K blocks (N = 260). */
	{ 13, 5, 3, 1 }, { 11, 40, 8, 1 }, { 64, 128, 10, 1 },
	{ 1000, 128, 10, 1 }, { 37, 700, 100, 1 }, { 37, 700, 260, 1 },
};

typedef struct problem {
	int m, k, n;
	float *a, *b;
	double *ref, *mag;   /* A*B and |A|*|B| in fp64 */
} problem;

static int problem_init(problem *p, int m, int k, int n, uint64_t seed)
{
	size_t na = (size_t)m * k, nb = (size_t)k * n, nc = (size_t)m * n;
	float *aa = malloc(na * 4), *ab = malloc(nb * 4);
	*p = (problem){ m, k, n, malloc(na * 4), malloc(nb * 4),
	                malloc(nc * 8), malloc(nc * 8) };
	if (!aa || !ab || !p->a || !p->b || !p->ref || !p->mag) {
		free(aa); free(ab);
		return -1;
	}
	rng_t r;
	rng_seed(&r, seed);
	fill_normal(&r, p->a, na);
	fill_normal(&r, p->b, nb);
	for (size_t i = 0; i < na; i++)
		aa[i] = fabsf(p->a[i]);
	for (size_t i = 0; i < nb; i++)
		ab[i] = fabsf(p->b[i]);
	dp_ref_matmul(m, k, n, p->a, p->b, p->ref);
	dp_ref_matmul(m, k, n, aa, ab, p->mag);
	free(aa);
	free(ab);
	return 0;
}

static void problem_free(problem *p)
{
	free(p->a); free(p->b); free(p->ref); free(p->mag);
}

/* Worst error / bound over C, or a negative value if the kernel failed or
 * two runs differed. note says what happened. */
static double check(const dp_kernel *kern, const problem *p, char *note,
                    size_t len)
{
	dp_desc d = { .op = DP_OP_MATMUL, .algo = DP_ALGO_GEMM,
	              .precision = DP_PREC_FP32, .mm_m = p->m, .mm_k = p->k,
	              .mm_n = p->n };
	size_t nc = (size_t)p->m * p->n;
	float *c = malloc(nc * 4), *c2 = malloc(nc * 4);
	double worst = -1;
	if (!c || !c2) {
		snprintf(note, len, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < nc; i++)
		c[i] = c2[i] = NAN;
	dp_status st = dp_kernel_run(kern, &d, p->a, p->b, NULL, c);
	if (st == DP_OK)
		st = dp_kernel_run(kern, &d, p->a, p->b, NULL, c2);
	if (st != DP_OK) {
		snprintf(note, len, "%s failed: %s", kern->name,
		         dp_status_str(st));
		goto out;
	}
	if (memcmp(c, c2, nc * 4) != 0) {
		snprintf(note, len, "%s: two runs differ", kern->name);
		goto out;
	}
	worst = 0;
	for (size_t i = 0; i < nc; i++) {
		double e = fabs(c[i] - p->ref[i]);
		double bound = dot_error_bound(p->k, p->mag[i]);
		double ratio = e == 0 ? 0 : e / bound;
		if (!(ratio <= worst))
			worst = isnan(ratio) ? INFINITY : ratio;
	}
	err_stats es = compare(c, p->ref, nc);
	snprintf(note, len, "%s: max err %.3g, worst err/bound %.3g",
	         kern->name, es.max_abs_err, worst);
out:
	free(c);
	free(c2);
	return worst;
}

int main(void)
{
	char note[512], err[4096], dirbuf[512];
	char *dir = make_temp_dir(dirbuf, sizeof dirbuf);
	if (!ok(dir != NULL, "temporary directory for the generated kernels"))
		return done_testing();
	for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
		int m = shapes[i].m, k = shapes[i].k, n = shapes[i].n;
		problem p;
		if (!ok(problem_init(&p, m, k, n, 101 + i) == 0,
		        "%dx%dx%d: test data", m, k, n))
			continue;
		double w = check(&dp_matmul_gemm_generic, &p, note, sizeof note);
		ok(w >= 0 && w <= 1, "generic %dx%dx%d within the bound: %s", m, k,
		   n, note);
		if (shapes[i].gen) {
			dp_desc d = { .op = DP_OP_MATMUL, .algo = DP_ALGO_GEMM,
			              .precision = DP_PREC_FP32, .mm_m = m,
			              .mm_k = k, .mm_n = n };
			const dp_kernel *kern = build_kernel(&d, dir, err, sizeof err);
			if (!ok(kern != NULL, "generated %dx%dx%d builds", m, k, n)) {
				diag("%s", err);
			} else {
				w = check(kern, &p, note, sizeof note);
				ok(w >= 0 && w <= 1,
				   "generated %dx%dx%d within the bound: %s", m, k, n,
				   note);
			}
		}
		problem_free(&p);
	}
	remove_tree(dir);
	return done_testing();
}
