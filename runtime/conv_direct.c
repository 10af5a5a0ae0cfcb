/* conv_direct.c - the generic direct convolution: any shape, fp32.
 * The generated kernels must beat it; it serves every shape nobody
 * generated. Same loop order as the generated kernel (per output row, a
 * row of accumulators over contiguous output width) so the comparison
 * measures specialization, not a different algorithm. */
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

/* Workspace: one row of output accumulators. */
static size_t workspace_bytes(const dp_desc *d)
{
	return (size_t)dp_conv_out_w(d) * sizeof(float);
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

static dp_status execute(const dp_desc *d, const void *state,
                         const float *input, float *output, void *workspace)
{
	const float *wt = state;
	const float *bias = wt + dp_conv_weight_elems(d);
	float *acc = workspace;
	const int ho = dp_conv_out_h(d), wo = dp_conv_out_w(d);
	int lo, hi;
	interior(d->w, d->s, d->stride, d->pad_w, wo, &lo, &hi);
	for (int n = 0; n < d->n; n++)
	for (int k = 0; k < d->k; k++)
	for (int y = 0; y < ho; y++) {
		for (int x = 0; x < wo; x++)
			acc[x] = bias[k];
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
			const float *in_row = input +
				(((int64_t)n * d->c + c) * d->h + iy) * d->w;
			const float *wrow = wt +
				(((int64_t)k * d->c + c) * d->r + i) * d->s;
			row_taps(d, in_row, wrow, acc, lo, hi, wo);
		}
		memcpy(output + (((int64_t)n * d->k + k) * ho + y) * wo, acc,
		       (size_t)wo * sizeof(float));
	}
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
