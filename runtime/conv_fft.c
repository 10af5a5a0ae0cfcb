/* conv_fft.c - the generic tiled FFT convolution: any shape the
 * descriptor check accepts for DP_ALGO_FFT (stride 1, T = d->tile a power
 * of two from 8 to 64, T >= R, S), fp32. The baseline of the generated
 * kernels of templates/conv_fft.lua, with the same method and written as
 * plain loops:
 *
 *   overlap-save: tile (ty, tx) is the T x T block of the zero-padded
 *   input at (ty * OUT_Y, tx * OUT_X), OUT_Y = T - R + 1, OUT_X = T - S + 1;
 *   its circular cross-correlation with the kernel (zero-padded, not
 *   flipped) is the true output in its first OUT_Y rows and OUT_X columns;
 *   in frequency Z = X conj(W), summed over the channels.
 *
 * The FFT is an iterative radix-2 complex transform (bit-reversal, then
 * log2 T butterfly passes) with its twiddle factors computed at prepare
 * time, in double, into the state: no trigonometry in execute. The 2-D
 * transform is rows then columns, on complex data (the real input is not
 * exploited here: that is the generated kernel's job).
 *
 * Scaling: the input is multiplied by 1/T^2 (exact, a power of two) when
 * it is padded, so every forward value stays within max|x|, the products
 * within the output's own bound, and the inverse (unnormalized) produces
 * the output directly; templates/conv_fft.lua explains the bound. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dpgen.h"
#include "kernels.h"

#define ALIGN_BYTES 64

/* Sizes derived from a descriptor. */
typedef struct {
	int t, lg, oy, ox, ty, tx, hp, wp, ho, wo;
	size_t area;            /* T * T */
} geom;

static void geometry(const dp_desc *d, geom *g)
{
	g->t = d->tile;
	for (g->lg = 0; (1 << g->lg) < g->t; g->lg++)
		;
	g->area = (size_t)g->t * g->t;
	g->ho = dp_conv_out_h(d);
	g->wo = dp_conv_out_w(d);
	g->oy = g->t - d->r + 1;
	g->ox = g->t - d->s + 1;
	g->ty = (g->ho + g->oy - 1) / g->oy;
	g->tx = (g->wo + g->ox - 1) / g->ox;
	g->hp = (g->ty - 1) * g->oy + g->t;
	g->wp = (g->tx - 1) * g->ox + g->t;
}

static int valid(const dp_desc *d)
{
	int t = d->tile;
	return d->op == DP_OP_CONV && d->stride == 1 && t >= DP_FFT_MIN_TILE &&
	       t <= DP_FFT_MAX_TILE && (t & (t - 1)) == 0 && t >= d->r &&
	       t >= d->s;
}

static size_t up(size_t bytes)
{
	return (bytes + ALIGN_BYTES - 1) / ALIGN_BYTES * ALIGN_BYTES;
}

static void *align_ptr(const void *p)
{
	return (void *)(((uintptr_t)p + ALIGN_BYTES - 1) &
	                ~(uintptr_t)(ALIGN_BYTES - 1));
}

/* The state: twiddles cos/sin(2 pi j / T), j < T/2; the bit-reversal
 * permutation; the bias; conj(W) for every (k, c), split into re and im
 * planes of T*T floats. */
typedef struct {
	float *wr, *wi;
	int *rev;
	float *bias;
	float *vr, *vi;   /* conj(W): vr[(k*C + c)*T*T + f] */
} fft_state;

static void state_parts(const dp_desc *d, const void *state, fft_state *s)
{
	geom g;
	geometry(d, &g);
	char *p = align_ptr(state);
	size_t spec = (size_t)d->k * d->c * g.area;
	s->wr = (float *)p;
	p += up((size_t)g.t / 2 * sizeof(float));
	s->wi = (float *)p;
	p += up((size_t)g.t / 2 * sizeof(float));
	s->rev = (int *)p;
	p += up((size_t)g.t * sizeof(int));
	s->bias = (float *)p;
	p += up((size_t)d->k * sizeof(float));
	s->vr = (float *)p;
	p += up(spec * sizeof(float));
	s->vi = (float *)p;
}

static size_t state_bytes(const dp_desc *d)
{
	if (!valid(d))
		return 0;
	geom g;
	geometry(d, &g);
	size_t spec = (size_t)d->k * d->c * g.area;
	return ALIGN_BYTES + 2 * up((size_t)g.t / 2 * sizeof(float)) +
	       up((size_t)g.t * sizeof(int)) + up((size_t)d->k * sizeof(float)) +
	       2 * up(spec * sizeof(float));
}

/* In-place complex DFT of n = 2^lg points at stride st, forward
 * (sign < 0: exp(-2 pi i jk/n)) or inverse unnormalized (sign > 0). */
static void fft1d(float *re, float *im, ptrdiff_t st, int n, int sign,
                  const fft_state *s)
{
	for (int i = 0; i < n; i++) {
		int j = s->rev[i];
		if (j > i) {
			float tr = re[i * st], ti = im[i * st];
			re[i * st] = re[j * st];
			im[i * st] = im[j * st];
			re[j * st] = tr;
			im[j * st] = ti;
		}
	}
	for (int len = 2; len <= n; len *= 2) {
		int half = len / 2, step = n / len;
		for (int b = 0; b < n; b += len)
			for (int j = 0; j < half; j++) {
				float c = s->wr[j * step], sn = sign * s->wi[j * step];
				ptrdiff_t p = (ptrdiff_t)(b + j) * st, q = p + half * st;
				float xr = re[q] * c - im[q] * sn;
				float xi = re[q] * sn + im[q] * c;
				re[q] = re[p] - xr;
				im[q] = im[p] - xi;
				re[p] += xr;
				im[p] += xi;
			}
	}
}

/* 2-D transform of a T x T tile, rows then columns. */
static void fft2d(float *re, float *im, int t, int sign, const fft_state *s)
{
	for (int i = 0; i < t; i++)
		fft1d(re + (ptrdiff_t)i * t, im + (ptrdiff_t)i * t, 1, t, sign, s);
	for (int j = 0; j < t; j++)
		fft1d(re + j, im + j, t, t, sign, s);
}

static dp_status prepare(const dp_desc *d, const float *weights,
                         const float *bias, void *state)
{
	if (!valid(d))
		return d->stride != 1 ? DP_ERR_UNSUPPORTED : DP_ERR_ARG;
	geom g;
	geometry(d, &g);
	fft_state s;
	state_parts(d, state, &s);
	const double two_pi = 6.283185307179586476925;
	for (int j = 0; j < g.t / 2; j++) {
		s.wr[j] = (float)cos(two_pi * j / g.t);
		s.wi[j] = (float)-sin(two_pi * j / g.t);   /* forward: exp(-i..) */
	}
	for (int i = 0; i < g.t; i++) {
		int r = 0;
		for (int b = 0; b < g.lg; b++)
			r |= ((i >> b) & 1) << (g.lg - 1 - b);
		s.rev[i] = r;
	}
	for (int k = 0; k < d->k; k++)
		s.bias[k] = bias ? bias[k] : 0.0f;
	for (int k = 0; k < d->k; k++)
		for (int c = 0; c < d->c; c++) {
			size_t off = ((size_t)k * d->c + c) * g.area;
			float *re = s.vr + off, *im = s.vi + off;
			memset(re, 0, g.area * sizeof(float));
			memset(im, 0, g.area * sizeof(float));
			const float *w = weights + ((size_t)k * d->c + c) * d->r * d->s;
			for (int i = 0; i < d->r; i++)
				for (int j = 0; j < d->s; j++)
					re[i * g.t + j] = w[i * d->s + j];
			fft2d(re, im, g.t, -1, &s);
			for (size_t f = 0; f < g.area; f++)
				im[f] = -im[f];            /* conj: correlation */
		}
	return DP_OK;
}

/* Workspace: the padded planar input (C x HP x WP), the spectra of one
 * tile's C channels (re, im), and one accumulator (re, im). */
static size_t workspace_bytes(const dp_desc *d)
{
	if (!valid(d))
		return 0;
	geom g;
	geometry(d, &g);
	return ALIGN_BYTES + up((size_t)d->c * g.hp * g.wp * sizeof(float)) +
	       2 * up((size_t)d->c * g.area * sizeof(float)) +
	       2 * up(g.area * sizeof(float));
}

static dp_status execute(const dp_desc *d, const void *state,
                         const float *input, float *output, void *workspace)
{
	if (!valid(d))
		return d->stride != 1 ? DP_ERR_UNSUPPORTED : DP_ERR_ARG;
	geom g;
	geometry(d, &g);
	fft_state s;
	state_parts(d, state, &s);
	const int C = d->c, K = d->k, t = g.t;
	const size_t plane = (size_t)g.hp * g.wp;
	char *w = align_ptr(workspace);
	float *pad = (float *)w;
	w += up((size_t)C * plane * sizeof(float));
	float *xr = (float *)w;
	w += up((size_t)C * g.area * sizeof(float));
	float *xi = (float *)w;
	w += up((size_t)C * g.area * sizeof(float));
	float *ar = (float *)w;
	w += up(g.area * sizeof(float));
	float *ai = (float *)w;
	/* The one normalization: 1/T^2, exact. */
	const float inv_area = 1.0f / (float)g.area;
	for (int n = 0; n < d->n; n++) {
		const float *img = input + (size_t)n * C * d->h * d->w;
		float *out = output + (size_t)n * K * g.ho * g.wo;
		memset(pad, 0, (size_t)C * plane * sizeof(float));
		for (int c = 0; c < C; c++)
			for (int y = 0; y < d->h; y++)
				for (int x = 0; x < d->w; x++)
					pad[c * plane + (size_t)(y + d->pad_h) * g.wp + x +
					    d->pad_w] = inv_area *
						img[((size_t)c * d->h + y) * d->w + x];
		for (int ty = 0; ty < g.ty; ty++)
			for (int tx = 0; tx < g.tx; tx++) {
				const int y0 = ty * g.oy, x0 = tx * g.ox;
				for (int c = 0; c < C; c++) {
					float *re = xr + c * g.area, *im = xi + c * g.area;
					for (int i = 0; i < t; i++)
						for (int j = 0; j < t; j++) {
							re[i * t + j] = pad[c * plane +
								(size_t)(y0 + i) * g.wp + x0 + j];
							im[i * t + j] = 0;
						}
					fft2d(re, im, t, -1, &s);
				}
				const int nr = g.ho - y0 < g.oy ? g.ho - y0 : g.oy;
				const int nc = g.wo - x0 < g.ox ? g.wo - x0 : g.ox;
				for (int k = 0; k < K; k++) {
					memset(ar, 0, g.area * sizeof(float));
					memset(ai, 0, g.area * sizeof(float));
					for (int c = 0; c < C; c++) {
						size_t off = ((size_t)k * C + c) * g.area;
						const float *vr = s.vr + off, *vi = s.vi + off;
						const float *re = xr + c * g.area;
						const float *im = xi + c * g.area;
						for (size_t f = 0; f < g.area; f++) {
							ar[f] += re[f] * vr[f] - im[f] * vi[f];
							ai[f] += re[f] * vi[f] + im[f] * vr[f];
						}
					}
					fft2d(ar, ai, t, 1, &s);
					float *o = out + ((size_t)k * g.ho + y0) * g.wo + x0;
					for (int i = 0; i < nr; i++)
						for (int j = 0; j < nc; j++)
							o[(size_t)i * g.wo + j] = ar[i * t + j] +
								s.bias[k];
				}
			}
	}
	return DP_OK;
}

const dp_kernel dp_conv_fft_generic = {
	.name = "dp_conv_fft_generic_fp32",
	.desc = { .op = DP_OP_CONV, .algo = DP_ALGO_FFT,
	          .precision = DP_PREC_FP32 },
	.generic = 1,
	.state_bytes = state_bytes,
	.prepare = prepare,
	.workspace_bytes = workspace_bytes,
	.execute = execute,
};
