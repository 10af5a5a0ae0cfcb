/* matmul_naive.c - the triple loop, the matmul baseline: any shape, fp32.
 * Kernel contract for matmul: "weights" is B (K x N), input is A (M x K),
 * output is C (M x N). */
#include <string.h>

#include "dpgen.h"
#include "kernels.h"

static size_t state_bytes(const dp_desc *d)
{
	return (size_t)d->mm_k * (size_t)d->mm_n * sizeof(float);
}

static dp_status prepare(const dp_desc *d, const float *b, const float *bias,
                         void *state)
{
	(void)bias;
	memcpy(state, b, state_bytes(d));
	return DP_OK;
}

static size_t workspace_bytes(const dp_desc *d)
{
	(void)d;
	return 0;
}

/* i-p-j order: the innermost loop runs along contiguous rows of B and C. */
static dp_status execute(const dp_desc *d, const void *state, const float *a,
                         float *c, void *workspace)
{
	const float *b = state;
	const int64_t m = d->mm_m, k = d->mm_k, n = d->mm_n;
	(void)workspace;
	for (int64_t i = 0; i < m; i++) {
		float *crow = c + i * n;
		memset(crow, 0, (size_t)n * sizeof(float));
		for (int64_t p = 0; p < k; p++) {
			const float aip = a[i * k + p];
			const float *brow = b + p * n;
			for (int64_t j = 0; j < n; j++)
				crow[j] += aip * brow[j];
		}
	}
	return DP_OK;
}

const dp_kernel dp_matmul_naive_generic = {
	.name = "dp_matmul_naive_generic_fp32",
	.desc = { .op = DP_OP_MATMUL, .algo = DP_ALGO_NAIVE,
	          .precision = DP_PREC_FP32 },
	.generic = 1,
	.state_bytes = state_bytes,
	.prepare = prepare,
	.workspace_bytes = workspace_bytes,
	.execute = execute,
};
