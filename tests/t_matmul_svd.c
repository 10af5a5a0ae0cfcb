/* t_matmul_svd.c - the svd matmul (rank-k factors of B, the two products
 * fused), generic and generated, against predictions computed here with
 * an independent SVD (LAPACKE_dgesvd, QR iteration; the kernels use
 * dgesdd, divide and conquer).
 *
 * Bound: the kernel computes T = fl(A P) and C = fl(T Q) with P = U_k S_k
 * and Q = V_k^T rounded to float (relative error u = 2^-24 each). With
 * Higham's gamma_n = n u / (1 - n u):
 *     |C - A B_k| <= (gamma_K + gamma_k + 2u + O(u^2)) |A| |P| |Q|
 * elementwise, B_k = P Q the exact rank-k truncation (double here); we
 * use gamma_{K+k+3} |A| |P| |Q| (the extra u covers the second-order
 * terms and the SVDs' own backward errors, ~1e-15 ||B||). At full rank
 * B_k = B, so this is the float tolerance against the reference; at rank
 * k the error against A B equals A (B - B_k), the part the discarded
 * singular values carry, within the same bound (checked elementwise and
 * in the Frobenius norm; with A = I the norm is sqrt(sum_{i>k} s_i^2),
 * from the singular values alone). */
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "util.h"

#include "kernels.h"

static char tmpdir[256];

static dp_desc svd_desc(int m, int k, int n, int rank)
{
	dp_desc d = { .op = DP_OP_MATMUL, .algo = DP_ALGO_SVD,
	              .precision = DP_PREC_FP32, .mm_m = m, .mm_k = k,
	              .mm_n = n, .rank_b = rank };
	return d;
}

/* The test's SVD of B (K x N): s (mn), u (K x mn), vt (mn x N). */
static int test_svd(int k, int n, const float *b, double *s, double *u,
                    double *vt)
{
	const int mn = k < n ? k : n;
	double *x = malloc((size_t)k * n * 8), *super = malloc((size_t)mn * 8);
	for (size_t i = 0; i < (size_t)k * n; i++)
		x[i] = b[i];
	lapack_int info = LAPACKE_dgesvd(LAPACK_ROW_MAJOR, 'S', 'S', k, n, x, n,
	                                 s, u, mn, vt, n, super);
	free(x);
	free(super);
	return info == 0;
}

typedef struct result {
	double worst;     /* largest |C - A B_k| / bound; <= 1 passes */
	double fro_err;   /* ||C - A B||_F */
	double fro_pred;  /* ||A (B - B_k)||_F, the prediction */
	double fro_slack; /* ||bound||_F: |fro_err - fro_pred| may reach it */
	double max_err;   /* max |C - A B| */
} result;

/* Run kern on A (M x K, identity if a == NULL) and a random B. */
static result check(const dp_kernel *kern, int m, int k, int n, int rank,
                    int identity, uint64_t seed)
{
	result res = { INFINITY, 0, 0, 0, INFINITY };
	const int mn = k < n ? k : n;
	size_t na = (size_t)m * k, nb = (size_t)k * n, nc = (size_t)m * n;
	float *a = calloc(na, 4), *b = malloc(nb * 4), *c = malloc(nc * 4);
	double *s = malloc((size_t)mn * 8), *u = malloc((size_t)k * mn * 8),
	       *vt = malloc((size_t)mn * n * 8), *bk = calloc(nb, 8),
	       *pabs = calloc((size_t)k * rank, 8), *tabs = calloc((size_t)m * rank, 8),
	       *ta = calloc((size_t)m * rank, 8);
	rng_t r;
	rng_seed(&r, seed);
	if (identity)
		for (int i = 0; i < m; i++)
			a[(size_t)i * k + i] = 1;
	else
		fill_normal(&r, a, na);
	fill_normal(&r, b, nb);
	dp_desc d = svd_desc(m, k, n, rank);
	dp_status st = dp_kernel_run(kern, &d, a, b, NULL, c);
	if (st != DP_OK) {
		diag("%s: %s", kern->name, dp_status_str(st));
		goto out;
	}
	if (!test_svd(k, n, b, s, u, vt)) {
		diag("dgesvd failed");
		goto out;
	}
	/* B_k, |P| = |U_k S_k|, and the two halves of the product. */
	for (int p = 0; p < k; p++)
		for (int t = 0; t < rank; t++) {
			double pv = u[(size_t)p * mn + t] * s[t];
			pabs[(size_t)p * rank + t] = fabs(pv);
			for (int j = 0; j < n; j++)
				bk[(size_t)p * n + j] += pv * vt[(size_t)t * n + j];
		}
	for (int i = 0; i < m; i++)
		for (int p = 0; p < k; p++) {
			double av = a[(size_t)i * k + p];
			for (int t = 0; t < rank; t++)
				tabs[(size_t)i * rank + t] += fabs(av) *
				                              pabs[(size_t)p * rank + t];
		}
	const double u24 = ldexp(1.0, -24);
	const double gamma = (k + rank + 3) * u24 / (1 - (k + rank + 3) * u24);
	double sum_err2 = 0, sum_pred2 = 0, sum_bound2 = 0;
	res.worst = res.max_err = 0;
	double *cref = malloc((size_t)n * 8), *ckr = malloc((size_t)n * 8),
	       *bnd = malloc((size_t)n * 8);
	for (int i = 0; i < m; i++) {
		memset(cref, 0, (size_t)n * 8);
		memset(ckr, 0, (size_t)n * 8);
		memset(bnd, 0, (size_t)n * 8);
		for (int p = 0; p < k; p++) {
			double av = a[(size_t)i * k + p];
			if (av == 0)
				continue;
			for (int j = 0; j < n; j++) {
				cref[j] += av * b[(size_t)p * n + j];
				ckr[j] += av * bk[(size_t)p * n + j];
			}
		}
		for (int t = 0; t < rank; t++)
			for (int j = 0; j < n; j++)
				bnd[j] += tabs[(size_t)i * rank + t] *
				          fabs(vt[(size_t)t * n + j]);
		for (int j = 0; j < n; j++) {
			const double got = c[(size_t)i * n + j];
			const double bound = gamma * bnd[j] + 1e-300;
			const double e = fabs(got - ckr[j]) / bound;
			if (!(e <= res.worst))
				res.worst = isnan(e) ? INFINITY : e;
			const double full = fabs(got - cref[j]);
			if (!(full <= res.max_err))
				res.max_err = isnan(full) ? INFINITY : full;
			sum_err2 += full * full;
			sum_pred2 += (ckr[j] - cref[j]) * (ckr[j] - cref[j]);
			sum_bound2 += gamma * bnd[j] * gamma * bnd[j];
		}
	}
	res.fro_err = sqrt(sum_err2);
	res.fro_pred = sqrt(sum_pred2);
	res.fro_slack = sqrt(sum_bound2);
	if (identity) {   /* the prediction from the singular values alone */
		double tail = 0;
		for (int t = rank; t < mn; t++)
			tail += s[t] * s[t];
		res.fro_pred = sqrt(tail);
	}
	free(cref);
	free(ckr);
	free(bnd);
out:
	free(a); free(b); free(c); free(s); free(u); free(vt); free(bk);
	free(pabs); free(tabs); free(ta);
	return res;
}

static const dp_kernel *generated(const dp_desc *d)
{
	char err[4096];
	const dp_kernel *k = build_kernel(d, tmpdir, err, sizeof err);
	if (!k)
		diag("%s", err);
	return k;
}

static void full_rank(void)
{
	static const int shapes[][3] = {
		{ 1, 1, 1 }, { 1, 64, 10 }, { 7, 1, 9 }, { 33, 65, 17 },
		{ 200, 37, 29 }, { 128, 128, 128 }, { 512, 784, 512 },
	};
	for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
		const int m = shapes[i][0], k = shapes[i][1], n = shapes[i][2];
		const int rank = k < n ? k : n;
		dp_desc d = svd_desc(m, k, n, rank);
		/* The largest shape once (the generic kernel here, the generated
		 * one below at rank 64), to keep the test fast. */
		const int big = (double)m * k * n > 1e8;
		const dp_kernel *kerns[2] = { &dp_matmul_svd_generic,
		                              big ? NULL : generated(&d) };
		for (int v = 0; v < 2 - big; v++) {
			result r = kerns[v] ? check(kerns[v], m, k, n, rank, 0, 10 + i)
			                    : (result){ INFINITY, 0, 0, 0, INFINITY };
			ok(r.worst <= 1, "%s, full rank: within the float bound of the "
			   "reference (worst err/bound %.3g, max err %.3g)",
			   kerns[v] ? kerns[v]->name : "(none)", r.worst, r.max_err);
		}
	}
}

static void truncated(void)
{
	static const int cases[][5] = {   /* m, k, n, rank, A = identity */
		{ 33, 65, 17, 5, 0 }, { 128, 128, 128, 16, 0 },
		{ 64, 300, 200, 32, 0 }, { 512, 784, 512, 64, 0 },
		{ 100, 100, 60, 7, 1 }, { 128, 128, 128, 40, 1 },
		/* k <= 16: the thin path (loops of its own, not GEMMs), with M
		 * past one block of 192 rows and not a multiple of the register
		 * blocks (12 or 6 rows of A P, 6 of T Q), N not a multiple of
		 * 8 or 16, and k = 12 (two vectors, the second partial). */
		{ 200, 100, 70, 1, 0 }, { 205, 130, 77, 8, 0 },
		{ 397, 64, 40, 16, 0 }, { 13, 50, 33, 8, 0 }, { 31, 40, 45, 12, 0 },
		{ 203, 203, 96, 8, 1 },
		/* Generic: K = 384 is one GEMM depth block, so its A block holds
		 * 84 rows; blocks of 192 rows get three of 66, the last 80 rows
		 * one of 84 (a larger workspace than the full blocks need). */
		{ 272, 384, 40, 8, 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const int m = cases[i][0], k = cases[i][1], n = cases[i][2];
		const int rank = cases[i][3], id = cases[i][4];
		dp_desc d = svd_desc(m, k, n, rank);
		const int big = (double)m * k * n > 1e8;
		const dp_kernel *kerns[2] = { big ? generated(&d) :
		                              &dp_matmul_svd_generic,
		                              big ? NULL : generated(&d) };
		for (int v = 0; v < 2 - big; v++) {
			result r = kerns[v] ? check(kerns[v], m, k, n, rank, id, 50 + i)
			                    : (result){ INFINITY, 0, 0, 0, INFINITY };
			ok(r.worst <= 1 && fabs(r.fro_err - r.fro_pred) <= r.fro_slack,
			   "%s, %s: C = A B_k within the bound (worst %.3g); "
			   "||C - A B||_F %.6g vs predicted %.6g (%s; allowed diff "
			   "%.2g)", kerns[v] ? kerns[v]->name : "(none)",
			   id ? "A = I" : "random A", r.worst, r.fro_err, r.fro_pred,
			   id ? "sqrt of the discarded s_i^2" : "||A (B - B_k)||_F",
			   r.fro_slack);
		}
	}
}

/* The thin generated kernel (k <= 16) with N % 8 == 0 aligns its vector
 * stores to C, with one unaligned vector at each end of a row: C must not
 * depend on where the output starts (offsets 0..7 floats, bitwise). The
 * generic kernel's GEMMs share their work among threads: C must not
 * depend on the thread count (1 or 2, bitwise). */
static void invariance(void)
{
	static const int cases[][4] = {   /* m, k, n, rank */
		{ 50, 40, 48, 8 }, { 37, 64, 64, 16 }, { 29, 33, 16, 3 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const int m = cases[i][0], k = cases[i][1], n = cases[i][2];
		dp_desc d = svd_desc(m, k, n, cases[i][3]);
		const dp_kernel *kern = generated(&d);
		size_t na = (size_t)m * k, nb = (size_t)k * n, nc = (size_t)m * n;
		float *a = malloc(na * 4), *b = malloc(nb * 4), *ref = malloc(nc * 4);
		float *buf = aligned_alloc(64, (nc + 64) * 4);
		rng_t r;
		rng_seed(&r, 90 + i);
		fill_normal(&r, a, na);
		fill_normal(&r, b, nb);
		int same = kern && dp_kernel_run(kern, &d, a, b, NULL, ref) == DP_OK;
		for (int off = 0; same && off < 8; off++)
			same = dp_kernel_run(kern, &d, a, b, NULL, buf + off) == DP_OK &&
			       memcmp(buf + off, ref, nc * 4) == 0;
		ok(same, "%s: C is bitwise the same at output offsets 0..7 floats",
		   kern ? kern->name : "(none)");
		dp_set_num_threads(1);
		same = dp_kernel_run(&dp_matmul_svd_generic, &d, a, b, NULL, ref) ==
		       DP_OK;
		dp_set_num_threads(2);
		same = same && dp_kernel_run(&dp_matmul_svd_generic, &d, a, b, NULL,
		                             buf) == DP_OK &&
		       memcmp(buf, ref, nc * 4) == 0;
		dp_set_num_threads(0);
		ok(same, "generic, %dx%dx%d rank %d: C is bitwise the same on 1 "
		   "and 2 threads", m, k, n, cases[i][3]);
		free(a);
		free(b);
		free(ref);
		free(buf);
	}
}

static void refusals(void)
{
	float a[4] = { 1, 2, 3, 4 }, b[4] = { 1, 0, 0, 1 }, c[4];
	dp_desc d = svd_desc(2, 2, 2, 1);
	d.rank_a = 1;
	ok(dp_kernel_run(&dp_matmul_svd_generic, &d, a, b, NULL, c) ==
	   DP_ERR_UNSUPPORTED, "rank_a is refused by the kernel "
	   "(DP_ERR_UNSUPPORTED): A is the per-call input, only B is prepared");
	d.rank_a = 0;
	b[2] = NAN;
	ok(dp_kernel_run(&dp_matmul_svd_generic, &d, a, b, NULL, c) ==
	   DP_ERR_ARG, "a NaN in B is refused at prepare (DP_ERR_ARG)");
	b[2] = INFINITY;
	ok(dp_kernel_run(&dp_matmul_svd_generic, &d, a, b, NULL, c) ==
	   DP_ERR_ARG, "so is an Inf in B");
	b[2] = 0;
	a[1] = NAN;
	ok(dp_kernel_run(&dp_matmul_svd_generic, &d, a, b, NULL, c) == DP_OK &&
	   isnan(c[0]) && isnan(c[1]) && !isnan(c[2]) && !isnan(c[3]),
	   "a NaN in A reaches exactly the outputs of its row");

	char cmd[1024], out[4096];
	snprintf(cmd, sizeof cmd, "%s --op matmul --algo svd --shape 64x512x512 "
	         "--rank-b ratio:0.25 --print-name", dpgen_path());
	int rc = sh_capture(cmd, out, sizeof out);
	ok(rc == 0 && strstr(out, "_ra0rb64_"), "--rank-b ratio:0.25 keeps a "
	   "quarter of the parameters: k (K + N) = KN / 4 gives k = 64 (%s)",
	   out);
	snprintf(cmd, sizeof cmd, "%s --op matmul --algo svd --shape 64x512x512 "
	         "--rank-b energy:0.9 --print-name", dpgen_path());
	rc = sh_capture(cmd, out, sizeof out);
	ok(rc == 2 && strstr(out, "energy"), "--rank-b energy:F needs the "
	   "matrix, so generation refuses it (exit %d: %s)", rc, out);
	snprintf(cmd, sizeof cmd, "%s --op matmul --algo svd --shape 64x512x512 "
	         "--rank-a 8 --print-name", dpgen_path());
	rc = sh_capture(cmd, out, sizeof out);
	ok(rc == 2 && strstr(out, "--rank-a"), "--rank-a is refused in "
	   "generation (exit %d: %s)", rc, out);
}

int main(void)
{
	if (!make_temp_dir(tmpdir, sizeof tmpdir)) {
		ok(0, "temporary directory");
		return done_testing();
	}
	full_rank();
	truncated();
	invariance();
	refusals();
	remove_tree(tmpdir);
	return done_testing();
}
