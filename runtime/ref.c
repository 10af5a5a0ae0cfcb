/* ref.c - reference convolution and matmul, accumulating in double.
 * Written for obviousness, not speed: these are what every algorithm is
 * measured against. */
#include "dpgen.h"

dp_status dp_ref_conv2d(const dp_desc *d, const float *in,
                        const float *weights, const float *bias, double *out)
{
	if (!d || !in || !weights || !out || d->op != DP_OP_CONV)
		return DP_ERR_ARG;
	if (dp_desc_check(d, NULL, 0) != DP_OK)
		return DP_ERR_ARG;
	const int ho = dp_conv_out_h(d), wo = dp_conv_out_w(d);
	for (int n = 0; n < d->n; n++)
	for (int k = 0; k < d->k; k++)
	for (int y = 0; y < ho; y++)
	for (int x = 0; x < wo; x++) {
		double acc = bias ? bias[k] : 0.0;
		for (int c = 0; c < d->c; c++)
		for (int i = 0; i < d->r; i++)
		for (int j = 0; j < d->s; j++) {
			int iy = y * d->stride + i - d->pad_h;
			int ix = x * d->stride + j - d->pad_w;
			if (iy < 0 || iy >= d->h || ix < 0 || ix >= d->w)
				continue;
			double v = in[(((int64_t)n * d->c + c) * d->h + iy)
			              * d->w + ix];
			double g = weights[(((int64_t)k * d->c + c) * d->r + i)
			                   * d->s + j];
			acc += v * g;
		}
		out[(((int64_t)n * d->k + k) * ho + y) * wo + x] = acc;
	}
	return DP_OK;
}

dp_status dp_ref_matmul(int m, int k, int n, const float *a, const float *b,
                        double *c)
{
	if (m < 1 || k < 1 || n < 1 || !a || !b || !c)
		return DP_ERR_ARG;
	for (int i = 0; i < m; i++)
	for (int j = 0; j < n; j++) {
		double acc = 0.0;
		for (int p = 0; p < k; p++)
			acc += (double)a[(int64_t)i * k + p] * b[(int64_t)p * n + j];
		c[(int64_t)i * n + j] = acc;
	}
	return DP_OK;
}
