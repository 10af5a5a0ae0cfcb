/* dispatch.c - find a kernel for a descriptor and run it. */
#include <stdlib.h>
#include <string.h>

#include "dpgen.h"
#include "kernels.h"

/* Two descriptors describe the same problem. */
static int same_problem(const dp_desc *a, const dp_desc *b)
{
	if (a->op != b->op || a->algo != b->algo ||
	    a->precision != b->precision || a->policy != b->policy)
		return 0;
	if (a->op == DP_OP_MATMUL)
		return a->mm_m == b->mm_m && a->mm_k == b->mm_k &&
		       a->mm_n == b->mm_n && a->rank_a == b->rank_a &&
		       a->rank_b == b->rank_b && a->frac_bits == b->frac_bits &&
		       a->acc_bits == b->acc_bits && a->bin_bits == b->bin_bits;
	return a->n == b->n && a->c == b->c && a->h == b->h && a->w == b->w &&
	       a->k == b->k && a->r == b->r && a->s == b->s &&
	       a->stride == b->stride && a->pad_h == b->pad_h &&
	       a->pad_w == b->pad_w && a->tile == b->tile &&
	       strcmp(a->points, b->points) == 0;
}

const dp_kernel *dp_registry_find(const dp_desc *d)
{
	for (size_t i = 0; d && i < dp_registry_count; i++)
		if (same_problem(&dp_registry[i]->desc, d))
			return dp_registry[i];
	return NULL;
}

const dp_kernel *dp_generic_kernel(const dp_desc *d)
{
	if (!d)
		return NULL;
	if (d->precision != DP_PREC_FP32)  /* emulated precisions (issue 6) */
		return d->op == DP_OP_CONV ? dp_emul_conv_kernel(d)
		                           : dp_emul_matmul_kernel(d);
	switch (d->algo) {
	case DP_ALGO_DIRECT: return &dp_conv_direct_generic;
	case DP_ALGO_NAIVE: return &dp_matmul_naive_generic;
	case DP_ALGO_GEMM: return &dp_matmul_gemm_generic;
	case DP_ALGO_SVD: return &dp_matmul_svd_generic;
	case DP_ALGO_LOG: return &dp_matmul_log_generic;
	case DP_ALGO_LNS: return &dp_matmul_lns_generic;
	case DP_ALGO_WINOGRAD: return &dp_conv_winograd_generic;
	case DP_ALGO_IM2COL: return &dp_conv_im2col_generic;
	case DP_ALGO_IM2COL_BLAS: return &dp_conv_im2col_blas_generic;
	case DP_ALGO_FFT: return &dp_conv_fft_generic;
	case DP_ALGO_FFT_FFTW: return &dp_conv_fftw_generic;
	default: return NULL;
	}
}

dp_status dp_kernel_run(const dp_kernel *kern, const dp_desc *d,
                        const float *in, const float *weights,
                        const float *bias, float *out)
{
	if (!kern || !d || !in || !weights || !out)
		return DP_ERR_ARG;
	dp_status st = dp_desc_check(d, NULL, 0);
	if (st != DP_OK)
		return st;
	/* Room for at least one byte each, so malloc(0) never decides. */
	void *state = malloc(kern->state_bytes(d) + 1);
	void *ws = malloc(kern->workspace_bytes(d) + 1);
	if (!state || !ws) {
		st = DP_ERR_NOMEM;
		goto out;
	}
	st = kern->prepare(d, weights, bias, state);
	if (st == DP_OK)
		st = kern->execute(d, state, in, out, ws);
out:
	free(state);
	free(ws);
	return st;
}

static dp_status pick(const dp_desc *d, dp_op op, const dp_kernel **kern)
{
	if (!d || d->op != op || dp_desc_check(d, NULL, 0) != DP_OK)
		return DP_ERR_ARG;
	*kern = dp_registry_find(d);
	if (!*kern)
		*kern = dp_generic_kernel(d);
	return *kern ? DP_OK : DP_ERR_UNSUPPORTED;
}

dp_status dp_conv2d(const dp_desc *d, const float *in, const float *weights,
                    const float *bias, float *out, const dp_kernel **used)
{
	const dp_kernel *kern = NULL;
	dp_status st = pick(d, DP_OP_CONV, &kern);
	if (used)
		*used = kern;
	if (st != DP_OK)
		return st;
	return dp_kernel_run(kern, d, in, weights, bias, out);
}

dp_status dp_matmul(const dp_desc *d, const float *a, const float *b,
                    float *c, const dp_kernel **used)
{
	const dp_kernel *kern = NULL;
	dp_status st = pick(d, DP_OP_MATMUL, &kern);
	if (used)
		*used = kern;
	if (st != DP_OK)
		return st;
	return dp_kernel_run(kern, d, a, b, NULL, c);
}
