/* matmul_svd.c - C = A * B with B replaced by its rank-k truncation, for
 * any shape: the generic svd kernel, and the SVD helpers `dpgen run`
 * uses for --rank-a and the ratio/energy rank forms.
 *
 * prepare factorizes B (K x N) once with LAPACKE_dgesdd, in double:
 * B = U S V^T; it keeps the k = rank_b largest singular triplets and
 * folds S into the left factor, so the state holds
 *     P = U_k S_k  (K x k)   and   Q = V_k^T  (k x N),  both float.
 * execute computes C = (A P) Q a block of MB rows at a time: the block of
 * A P (MB x k) goes into the workspace, where it stays in cache, and is
 * multiplied by Q at once; the M x k intermediate is never written out.
 * Both products are the generic GEMM's (matmul_gemm.c), P and Q packed
 * for it at prepare.
 *
 * Why double (dgesdd, not sgesdd): the factorization runs once per
 * weights and is not part of the execution time, so its cost (about twice
 * sgesdd's) buys factors accurate to ~1e-16 instead of ~1e-7: rounding
 * them to float is then the only error the factorization adds, the
 * full-rank kernel matches the dense product within float tolerance, and
 * the truncation error is exactly what the discarded singular values
 * predict (sgesdd's error in the small singular vectors would blur it).
 *
 * rank_a: A is the per-call input and the issue puts every factorization
 * in prepare, which sees only B, so a kernel cannot truncate A.
 * prepare refuses rank_a != 0 (DP_ERR_UNSUPPORTED); `dpgen run`, which
 * has A up front, truncates A with dp_svd_truncate before the product. */
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dpgen.h"
#include "kernels.h"

/* The SVD of rows x cols x (row-major float) in double: s gets the
 * min(rows, cols) singular values, largest first; u (rows x mn) and vt
 * (mn x cols) the vectors, row-major, unless both are NULL (values
 * only). DP_ERR_ARG if x is not finite, DP_ERR_UNSUPPORTED if LAPACK
 * does not converge. */
static dp_status svd_double(int rows, int cols, const float *x, double *s,
                            double *u, double *vt)
{
	const size_t n = (size_t)rows * (size_t)cols;
	const int mn = rows < cols ? rows : cols;
	for (size_t i = 0; i < n; i++)
		if (!isfinite(x[i]))
			return DP_ERR_ARG;
	double *a = malloc(n * sizeof *a);
	if (!a)
		return DP_ERR_NOMEM;
	for (size_t i = 0; i < n; i++)
		a[i] = x[i];
	lapack_int info;
	if (u)
		info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', rows, cols, a, cols,
		                      s, u, mn, vt, cols);
	else
		info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'N', rows, cols, a, cols,
		                      s, NULL, mn, NULL, cols);
	free(a);
	if (info < 0)
		return DP_ERR_NOMEM;  /* LAPACKE reports a failed malloc as -1010 */
	return info == 0 ? DP_OK : DP_ERR_UNSUPPORTED;
}

dp_status dp_svd_values(int rows, int cols, const float *x, double *s)
{
	return svd_double(rows, cols, x, s, NULL, NULL);
}

/* P = U_k S_k (rows x k) and Q = V_k^T (k x cols), float, row-major. */
dp_status dp_svd_factors(int rows, int cols, const float *x, int k,
                         float *p, float *q)
{
	const int mn = rows < cols ? rows : cols;
	if (k < 1 || k > mn)
		return DP_ERR_ARG;
	double *s = malloc((size_t)mn * sizeof *s);
	double *u = malloc((size_t)rows * (size_t)mn * sizeof *u);
	double *vt = malloc((size_t)mn * (size_t)cols * sizeof *vt);
	dp_status st = s && u && vt ? svd_double(rows, cols, x, s, u, vt)
	                            : DP_ERR_NOMEM;
	if (st == DP_OK) {
		for (int i = 0; i < rows; i++)
			for (int t = 0; t < k; t++)
				p[(size_t)i * k + t] =
					(float)(u[(size_t)i * mn + t] * s[t]);
		for (int t = 0; t < k; t++)
			for (int j = 0; j < cols; j++)
				q[(size_t)t * cols + j] =
					(float)vt[(size_t)t * cols + j];
	}
	free(s);
	free(u);
	free(vt);
	return st;
}

/* out = the rank-k truncation of x (rows x cols), rounded to float. */
dp_status dp_svd_truncate(int rows, int cols, const float *x, int k,
                          float *out)
{
	const int mn = rows < cols ? rows : cols;
	if (k < 1 || k > mn)
		return DP_ERR_ARG;
	double *s = malloc((size_t)mn * sizeof *s);
	double *u = malloc((size_t)rows * (size_t)mn * sizeof *u);
	double *vt = malloc((size_t)mn * (size_t)cols * sizeof *vt);
	double *row = malloc((size_t)cols * sizeof *row);
	dp_status st = s && u && vt && row ?
		svd_double(rows, cols, x, s, u, vt) : DP_ERR_NOMEM;
	for (int i = 0; st == DP_OK && i < rows; i++) {
		memset(row, 0, (size_t)cols * sizeof *row);
		for (int t = 0; t < k; t++) {
			const double us = u[(size_t)i * mn + t] * s[t];
			for (int j = 0; j < cols; j++)
				row[j] += us * vt[(size_t)t * cols + j];
		}
		for (int j = 0; j < cols; j++)
			out[(size_t)i * cols + j] = (float)row[j];
	}
	free(s);
	free(u);
	free(vt);
	free(row);
	return st;
}

/* The smallest k whose leading singular values hold at least `energy`
 * (0 < energy <= 1) of sum s_i^2; at least 1. */
int dp_svd_energy_rank(const double *s, int mn, double energy)
{
	double total = 0, run = 0;
	for (int i = 0; i < mn; i++)
		total += s[i] * s[i];
	for (int k = 1; k <= mn; k++) {
		run += s[k - 1] * s[k - 1];
		if (run >= energy * total)
			return k;
	}
	return mn;
}

/* ---- the generic kernel ---- */

/* The two products are the generic GEMM's (matmul_gemm.c), on the
 * factors it packed at prepare: ap = A[rows] P (rows x K times K x k) and
 * tq = T Q (rows x k times k x N). Its packed layout of B depends on K and
 * N only (not on M), so the full blocks and the last, shorter one share
 * the packed factors. Rows go MB at a time, MB such that the block T of
 * A P takes at most T_BYTES (it is written and read at once, from L2), a
 * multiple of the GEMM's 6-row register block, at most MB_MAX rows. */
enum { T_BYTES = 48 * 1024, MB_MAX = 192, MR = 6, ALIGN_BYTES = 64 };

/* rank_b, at least 1: prepare and execute refuse rank_b < 1, and the
 * sizes asked for before must not divide by it (nor the GEMM's plan). */
static int rank(const dp_desc *d)
{
	return d->rank_b > 1 ? d->rank_b : 1;
}

static int block_rows(const dp_desc *d)
{
	int mb = T_BYTES / (4 * rank(d)) / MR * MR;
	mb = mb < MR ? MR : mb > MB_MAX ? MB_MAX : mb;
	return d->mm_m < 1 ? 1 : d->mm_m < mb ? d->mm_m : mb;
}

/* The GEMM descriptions of the two products for a block of `rows`. */
static dp_desc ap_desc(const dp_desc *d, int rows)
{
	return (dp_desc){ .op = DP_OP_MATMUL, .algo = DP_ALGO_GEMM,
	                  .precision = DP_PREC_FP32, .mm_m = rows,
	                  .mm_k = d->mm_k, .mm_n = rank(d) };
}

static dp_desc tq_desc(const dp_desc *d, int rows)
{
	return (dp_desc){ .op = DP_OP_MATMUL, .algo = DP_ALGO_GEMM,
	                  .precision = DP_PREC_FP32, .mm_m = rows,
	                  .mm_k = rank(d), .mm_n = d->mm_n };
}

static size_t round_bytes(size_t x)
{
	return (x + ALIGN_BYTES - 1) / ALIGN_BYTES * ALIGN_BYTES;
}

static size_t max_size(size_t a, size_t b)
{
	return a > b ? a : b;
}

/* State: the GEMM state of P (packed), then that of Q, each starting a
 * multiple of 64 bytes after the first (the GEMM aligns inside its own). */
static size_t state_p_bytes(const dp_desc *d)
{
	const dp_desc ap = ap_desc(d, block_rows(d));
	return round_bytes(dp_matmul_gemm_generic.state_bytes(&ap));
}

static size_t state_bytes(const dp_desc *d)
{
	const dp_desc tq = tq_desc(d, block_rows(d));
	return state_p_bytes(d) + dp_matmul_gemm_generic.state_bytes(&tq);
}

static dp_status prepare(const dp_desc *d, const float *b, const float *bias,
                         void *state)
{
	(void)bias;
	if (d->rank_a != 0 || d->rank_b < 1)
		return DP_ERR_UNSUPPORTED;
	const int mb = block_rows(d);
	const dp_desc ap = ap_desc(d, mb), tq = tq_desc(d, mb);
	const size_t k = (size_t)d->rank_b;
	float *p = malloc((size_t)d->mm_k * k * sizeof *p);
	float *q = malloc(k * (size_t)d->mm_n * sizeof *q);
	dp_status st = p && q ? dp_svd_factors(d->mm_k, d->mm_n, b, d->rank_b,
	                                       p, q) : DP_ERR_NOMEM;
	if (st == DP_OK)
		st = dp_matmul_gemm_generic.prepare(&ap, p, NULL, state);
	if (st == DP_OK)
		st = dp_matmul_gemm_generic.prepare(&tq, q, NULL,
		                                    (char *)state +
		                                    state_p_bytes(d));
	free(p);
	free(q);
	return st;
}

/* Workspace: T (MB x k floats), then the largest of the GEMMs'
 * workspaces (they run one after the other), for the full blocks and for
 * the last, shorter one: the GEMM's block of A need not shrink with M. */
static size_t t_bytes(const dp_desc *d)
{
	return round_bytes((size_t)block_rows(d) * (size_t)rank(d) *
	                   sizeof(float));
}

static size_t gemms_ws(const dp_desc *d, int rows)
{
	const dp_desc ap = ap_desc(d, rows), tq = tq_desc(d, rows);
	return max_size(dp_matmul_gemm_generic.workspace_bytes(&ap),
	                dp_matmul_gemm_generic.workspace_bytes(&tq));
}

static size_t workspace_bytes(const dp_desc *d)
{
	const int mb = block_rows(d), tail = d->mm_m % mb;
	size_t ws = gemms_ws(d, mb);
	if (tail > 0)
		ws = max_size(ws, gemms_ws(d, tail));
	return ALIGN_BYTES + t_bytes(d) + ws;
}

/* C = (A P) Q, MB rows at a time: the block T of A P is multiplied by Q
 * at once, while it is still in cache; the M x k intermediate is never
 * written out. Each GEMM shares its work among threads itself (bitwise
 * identical for any count). */
static dp_status execute(const dp_desc *d, const void *state, const float *a,
                         float *c, void *workspace)
{
	const int m = d->mm_m, kdim = d->mm_k, n = d->mm_n;
	if (d->rank_a != 0 || d->rank_b < 1)
		return DP_ERR_UNSUPPORTED;
	const int mb = block_rows(d);
	const void *sp = state;
	const void *sq = (const char *)state + state_p_bytes(d);
	float *t = (float *)(((uintptr_t)workspace + ALIGN_BYTES - 1) &
	                     ~(uintptr_t)(ALIGN_BYTES - 1));
	void *ws = (char *)t + t_bytes(d);
	for (int i = 0; i < m; i += mb) {
		const int rows = m - i < mb ? m - i : mb;
		const dp_desc ap = ap_desc(d, rows), tq = tq_desc(d, rows);
		dp_status st = dp_matmul_gemm_generic.execute(&ap, sp,
		                                              a + (size_t)i * kdim,
		                                              t, ws);
		if (st == DP_OK)
			st = dp_matmul_gemm_generic.execute(&tq, sq, t,
			                                    c + (size_t)i * n, ws);
		if (st != DP_OK)
			return st;
	}
	return DP_OK;
}

const dp_kernel dp_matmul_svd_generic = {
	.name = "dp_matmul_svd_generic_fp32",
	.desc = { .op = DP_OP_MATMUL, .algo = DP_ALGO_SVD,
	          .precision = DP_PREC_FP32 },
	.generic = 1,
	.state_bytes = state_bytes,
	.prepare = prepare,
	.workspace_bytes = workspace_bytes,
	.execute = execute,
};
