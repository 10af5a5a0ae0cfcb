/* conv_im2col.c - convolution as a matrix product over the column matrix,
 * any shape: `im2col` with the runtime's own blocked GEMM, `im2col-blas`
 * with OpenBLAS (the baseline every convolution is compared with).
 *
 * Per image, the columns hold every input value each output pixel sees:
 * cols[(c*R + i)*S + j][y*WO + x] = in[c][y*stride + i - pad_h]
 *                                       [x*stride + j - pad_w]  (0 outside)
 * so that out[K x HO*WO] = W[K x C*R*S] * cols + bias. The column build
 * and the generic GEMM share their work among dp_get_num_threads()
 * threads, and so does OpenBLAS: left alone it takes every core, and
 * find and tune would then compare a 2-core im2col-blas with 1-thread
 * dpgen kernels (and on a shared machine its spinning threads fight the
 * other jobs). */
#include <string.h>

#include <cblas.h>

#include "dpgen.h"
#include "kernels.h"

/* Byte offsets inside the workspace, rounded to a cache line. */
static size_t line_up(size_t bytes)
{
	return (bytes + 63) & ~(size_t)63;
}

/* Rows [begin, end) of the column matrix, one per (c, i, j) tap. */
typedef struct im2col_job {
	const dp_desc *d;
	const float *img;
	float *cols;
} im2col_job;

static void im2col_rows(void *ctx, int begin, int end)
{
	const im2col_job *job = ctx;
	const dp_desc *d = job->d;
	const int ho = dp_conv_out_h(d), wo = dp_conv_out_w(d);
	const int st = d->stride;
	for (int t = begin; t < end; t++) {
		const int c = t / (d->r * d->s), i = t / d->s % d->r, j = t % d->s;
		float *row = job->cols + (size_t)t * (size_t)ho * wo;
		const float *plane = job->img + (size_t)c * d->h * d->w;
		for (int y = 0; y < ho; y++) {
			int iy = y * st + i - d->pad_h;
			float *dst = row + (size_t)y * wo;
			if (iy < 0 || iy >= d->h) {
				memset(dst, 0, (size_t)wo * sizeof(float));
				continue;
			}
			const float *src = plane + (size_t)iy * d->w;
			for (int x = 0; x < wo; x++) {
				int ix = x * st + j - d->pad_w;
				dst[x] = ix >= 0 && ix < d->w ? src[ix] : 0.0f;
			}
		}
	}
}

/* Copies only, so the rows may go to several threads. */
void dp_im2col(const dp_desc *d, const float *img, float *cols)
{
	im2col_job job = { .d = d, .img = img, .cols = cols };
	const int rows = d->c * d->r * d->s;
	dp_parallel_for(rows, (double)rows * dp_conv_out_h(d) * dp_conv_out_w(d),
	                im2col_rows, &job);
}

/* The matrix product each image needs: C[K x P] = W[K x CRS] * cols. */
static dp_desc gemm_desc(const dp_desc *d)
{
	dp_desc g = { .op = DP_OP_MATMUL, .algo = DP_ALGO_GEMM,
	              .precision = DP_PREC_FP32 };
	g.mm_m = d->k;
	g.mm_k = d->c * d->r * d->s;
	g.mm_n = dp_conv_out_h(d) * dp_conv_out_w(d);
	return g;
}

static size_t cols_bytes(const dp_desc *d)
{
	return line_up((size_t)d->c * d->r * d->s * (size_t)dp_conv_out_h(d) *
	               (size_t)dp_conv_out_w(d) * sizeof(float));
}

/* State: the weights (KCRS = K x CRS row-major) then the bias. */
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

static void add_bias(const dp_desc *d, const float *bias, float *out)
{
	const size_t p = (size_t)dp_conv_out_h(d) * dp_conv_out_w(d);
	for (int k = 0; k < d->k; k++)
		for (size_t i = 0; i < p; i++)
			out[k * p + i] += bias[k];
}

/* im2col: columns, then the generic GEMM kernel through its own contract:
 * the columns are its B (packed by its prepare), the weights its A. */
static size_t gemm_workspace_bytes(const dp_desc *d)
{
	dp_desc g = gemm_desc(d);
	const dp_kernel *gk = &dp_matmul_gemm_generic;
	return cols_bytes(d) + line_up(gk->state_bytes(&g)) +
	       line_up(gk->workspace_bytes(&g));
}

static dp_status gemm_execute(const dp_desc *d, const void *state,
                              const float *input, float *output, void *ws)
{
	const dp_kernel *gk = &dp_matmul_gemm_generic;
	dp_desc g = gemm_desc(d);
	const float *w = state;
	const float *bias = w + dp_conv_weight_elems(d);
	char *base = ws;
	float *cols = ws;
	void *gstate = base + cols_bytes(d);
	void *gws = base + cols_bytes(d) + line_up(gk->state_bytes(&g));
	for (int n = 0; n < d->n; n++) {
		const float *img = input + (size_t)n * d->c * d->h * d->w;
		float *out = output + (size_t)n * d->k * g.mm_n;
		dp_im2col(d, img, cols);
		dp_status st = gk->prepare(&g, cols, NULL, gstate);
		if (st == DP_OK)
			st = gk->execute(&g, gstate, w, out, gws);
		if (st != DP_OK)
			return st;
		add_bias(d, bias, out);
	}
	return DP_OK;
}

const dp_kernel dp_conv_im2col_generic = {
	.name = "dp_conv_im2col_generic_fp32",
	.desc = { .op = DP_OP_CONV, .algo = DP_ALGO_IM2COL,
	          .precision = DP_PREC_FP32 },
	.generic = 1,
	.state_bytes = state_bytes,
	.prepare = prepare,
	.workspace_bytes = gemm_workspace_bytes,
	.execute = gemm_execute,
};

/* im2col-blas: the same columns, then OpenBLAS. */
static size_t blas_workspace_bytes(const dp_desc *d)
{
	return cols_bytes(d);
}

static dp_status blas_execute(const dp_desc *d, const void *state,
                              const float *input, float *output, void *ws)
{
	const dp_desc g = gemm_desc(d);
	const float *w = state;
	const float *bias = w + dp_conv_weight_elems(d);
	float *cols = ws;
	/* OpenBLAS on dpgen's thread count for this call; the caller's
	 * setting is put back after it (a change only when they differ). */
	const int want = dp_get_num_threads(), had = openblas_get_num_threads();
	if (want != had)
		openblas_set_num_threads(want);
	for (int n = 0; n < d->n; n++) {
		const float *img = input + (size_t)n * d->c * d->h * d->w;
		float *out = output + (size_t)n * d->k * g.mm_n;
		dp_im2col(d, img, cols);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g.mm_m,
		            g.mm_n, g.mm_k, 1.0f, w, g.mm_k, cols, g.mm_n, 0.0f,
		            out, g.mm_n);
		add_bias(d, bias, out);
	}
	if (want != had)
		openblas_set_num_threads(had);
	return DP_OK;
}

const dp_kernel dp_conv_im2col_blas_generic = {
	.name = "dp_conv_im2col_blas_generic_fp32",
	.desc = { .op = DP_OP_CONV, .algo = DP_ALGO_IM2COL_BLAS,
	          .precision = DP_PREC_FP32 },
	.generic = 1,
	.state_bytes = state_bytes,
	.prepare = prepare,
	.workspace_bytes = blas_workspace_bytes,
	.execute = blas_execute,
};
