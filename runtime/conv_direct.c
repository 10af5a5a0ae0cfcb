/* conv_direct.c - the generic direct convolution: any shape, fp32.
 * The generated kernels must beat it; it serves every shape nobody
 * generated. Same loop order as the generated kernel (per output row, a
 * row of accumulators over contiguous output width) so the comparison
 * measures specialization, not a different algorithm. The output rows
 * are shared among up to dp_get_num_threads() threads. */
#include <string.h>

#include "dpgen.h"
#include "kernels.h"

/* State: the weights then the bias, copied so the caller may free them. */
static size_t state_bytes(const dp_desc *d)
{
	return (size_t)(dp_conv_weight_elems(d) + d->k) * sizeof(float);
}

static dp_status prepare(const dp_desc *d, const float *weights,
                         const float *bias, void *state)
{
	float *st = state;
	size_t nw = (size_t)dp_conv_weight_elems(d);
	memcpy(st, weights, nw * sizeof(float));
	if (bias)
		memcpy(st + nw, bias, (size_t)d->k * sizeof(float));
	else
		memset(st + nw, 0, (size_t)d->k * sizeof(float));
	return DP_OK;
}

/* Workspace: none (the rows accumulate in the output). One float, so
 * that callers which allocate it never ask malloc for 0 bytes. */
static size_t workspace_bytes(const dp_desc *d)
{
	(void)d;
	return sizeof(float);
}

/* Output columns [*lo, *hi) whose taps j all land inside the input row
 * are the interior; the rest are the left and right borders. */
static void interior(int w, int s, int stride, int pad, int wo,
                     int *lo, int *hi)
{
	int a = (pad + stride - 1) / stride;  /* first x with x*st - pad >= 0 */
	int b = (w - s + pad) / stride + 1;   /* first x with a tap past w */
	if (w - s + pad < 0)
		b = 0;
	if (a > wo)
		a = wo;
	if (b > wo)
		b = wo;
	if (b < a)
		b = a;
	*lo = a;
	*hi = b;
}

static void border_taps(const float *in_row, float g, int off, int st,
                        int w, float *acc, int x0, int x1)
{
	for (int x = x0; x < x1; x++) {
		int ix = x * st + off;
		if (ix >= 0 && ix < w)
			acc[x] += g * in_row[ix];
	}
}

/* One kernel row against one input row: the interior without tests, the
 * borders with the taps that land inside the row. */
static void row_taps(const dp_desc *d, const float *in_row, const float *wrow,
                     float *acc, int lo, int hi, int wo)
{
	const int st = d->stride;
	for (int j = 0; j < d->s; j++) {
		const float g = wrow[j];
		const int off = j - d->pad_w;
		for (int x = lo; x < hi; x++)
			acc[x] += g * in_row[x * st + off];
		border_taps(in_row, g, off, st, d->w, acc, 0, lo);
		border_taps(in_row, g, off, st, d->w, acc, hi, wo);
	}
}

/* Output rows [begin, end) of all N x K x HO, each accumulated in place
 * in the output (a row of accumulators over the contiguous width), so
 * threads need no workspace and each row's operations are the same
 * whichever thread runs it. */
typedef struct direct_job {
	const dp_desc *d;
	const float *wt, *bias, *input;
	float *output;
	int ho, wo, lo, hi;
} direct_job;

static void direct_rows(void *ctx, int begin, int end)
{
	const direct_job *j = ctx;
	const dp_desc *d = j->d;
	const int ho = j->ho, wo = j->wo;
	for (int row = begin; row < end; row++) {
		const int y = row % ho, k = row / ho % d->k, n = row / ho / d->k;
		float *acc = j->output + (int64_t)row * wo;
		for (int x = 0; x < wo; x++)
			acc[x] = j->bias[k];
		/* Rows of the kernel that land inside the input: no test per
		 * multiply-add, only per kernel row. */
		int i0 = d->pad_h - y * d->stride, i1 = d->h + i0;
		if (i0 < 0)
			i0 = 0;
		if (i1 > d->r)
			i1 = d->r;
		for (int c = 0; c < d->c; c++)
		for (int i = i0; i < i1; i++) {
			int iy = y * d->stride + i - d->pad_h;
			const float *in_row = j->input +
				(((int64_t)n * d->c + c) * d->h + iy) * d->w;
			const float *wrow = j->wt +
				(((int64_t)k * d->c + c) * d->r + i) * d->s;
			row_taps(d, in_row, wrow, acc, j->lo, j->hi, wo);
		}
	}
}

static dp_status execute(const dp_desc *d, const void *state,
                         const float *input, float *output, void *workspace)
{
	direct_job j = { .d = d, .wt = state, .input = input,
	                 .output = output };
	(void)workspace;
	j.bias = j.wt + dp_conv_weight_elems(d);
	j.ho = dp_conv_out_h(d);
	j.wo = dp_conv_out_w(d);
	interior(d->w, d->s, d->stride, d->pad_w, j.wo, &j.lo, &j.hi);
	const int rows = d->n * d->k * j.ho;
	dp_parallel_for(rows, 2.0 * rows * j.wo * d->c * d->r * d->s,
	                direct_rows, &j);
	return DP_OK;
}

const dp_kernel dp_conv_direct_generic = {
	.name = "dp_conv_direct_generic_fp32",
	.desc = { .op = DP_OP_CONV, .algo = DP_ALGO_DIRECT,
	          .precision = DP_PREC_FP32 },
	.generic = 1,
	.state_bytes = state_bytes,
	.prepare = prepare,
	.workspace_bytes = workspace_bytes,
	.execute = execute,
};
