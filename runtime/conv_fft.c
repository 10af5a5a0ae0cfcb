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
 * the output directly; templates/conv_fft.lua explains the bound.
 *
 * Threads, as in the generated kernels: each phase of execute() is one
 * dp_parallel_for, here two per image: the padding (rows of the padded
 * planes), then the tiles (each tile's forward transforms, products,
 * inverse transforms, crop and bias, as one item). The tiles are cut into
 * at most MAX_SLICES fixed slices, the items of dp_parallel_for; a call
 * for slices [s0, s1) runs their tiles in order on one thread with slot
 * s0 of the workspace as its scratch (the tile's spectra and the
 * accumulator): calls running at once never share a slot, and one
 * thread reuses a single one. No tile reads scratch another wrote, so
 * results are bitwise identical for any thread count. The work passed along is counted in flops: 10 per radix-2
 * butterfly (a complex multiply and two complex adds; 5 n log2 n for a
 * transform of n points), 8 per complex multiply-add of the products, 1
 * per float padded or stored. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dpgen.h"
#include "kernels.h"

#define ALIGN_BYTES 64
#define MAX_SLICES 16

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

/* Slices of the tiles (one scratch slot each). */
static int slices(const geom *g)
{
	int tiles = g->ty * g->tx;
	return tiles < MAX_SLICES ? tiles : MAX_SLICES;
}

/* Bytes of a slot: the spectra of one tile's C channels (re, im) and one
 * accumulator (re, im). */
static size_t slot_bytes(const dp_desc *d, const geom *g)
{
	return 2 * up((size_t)d->c * g->area * sizeof(float)) +
	       2 * up(g->area * sizeof(float));
}

/* Workspace: the padded planar input (C x HP x WP), then a slot per
 * slice of the tiles. */
static size_t workspace_bytes(const dp_desc *d)
{
	if (!valid(d))
		return 0;
	geom g;
	geometry(d, &g);
	return ALIGN_BYTES + up((size_t)d->c * g.hp * g.wp * sizeof(float)) +
	       (size_t)slices(&g) * slot_bytes(d, &g);
}

/* What the phases of one image share. */
typedef struct {
	const dp_desc *d;
	const geom *g;
	const fft_state *s;
	const float *img;
	float *pad, *out;
	char *slots;
	size_t slot;        /* bytes per slot */
	int nslices;
} job;

/* Rows [r0, r1) of the padded planes (row r: channel r / HP, row r % HP
 * of its plane): the image times 1/T^2, zeros around it. */
static void pad_rows(void *ctx, int r0, int r1)
{
	const job *j = ctx;
	const dp_desc *d = j->d;
	const geom *g = j->g;
	/* The one normalization: 1/T^2, exact. */
	const float inv_area = 1.0f / (float)g->area;
	memset(j->pad + (size_t)r0 * g->wp, 0,
	       (size_t)(r1 - r0) * g->wp * sizeof(float));
	for (int r = r0; r < r1; r++) {
		const int c = r / g->hp, y = r % g->hp - d->pad_h;
		float *row = j->pad + (size_t)r * g->wp;
		if (y < 0 || y >= d->h)
			continue;
		const float *src = j->img + ((size_t)c * d->h + y) * d->w;
		for (int x = 0; x < d->w; x++)
			row[x + d->pad_w] = inv_area * src[x];
	}
}

/* One tile: the forward transforms of its C channels, then per filter
 * the products summed over the channels, the inverse, crop and bias.
 * xr, xi, ar, ai: the slot's scratch. */
static void one_tile(const job *j, int tile, float *xr, float *xi, float *ar,
                     float *ai)
{
	const dp_desc *d = j->d;
	const geom *g = j->g;
	const fft_state *s = j->s;
	const int C = d->c, K = d->k, t = g->t;
	const size_t plane = (size_t)g->hp * g->wp;
	const int y0 = tile / g->tx * g->oy, x0 = tile % g->tx * g->ox;
	for (int c = 0; c < C; c++) {
		float *re = xr + c * g->area, *im = xi + c * g->area;
		for (int i = 0; i < t; i++)
			for (int k = 0; k < t; k++) {
				re[i * t + k] = j->pad[c * plane +
					(size_t)(y0 + i) * g->wp + x0 + k];
				im[i * t + k] = 0;
			}
		fft2d(re, im, t, -1, s);
	}
	const int nr = g->ho - y0 < g->oy ? g->ho - y0 : g->oy;
	const int nc = g->wo - x0 < g->ox ? g->wo - x0 : g->ox;
	for (int k = 0; k < K; k++) {
		memset(ar, 0, g->area * sizeof(float));
		memset(ai, 0, g->area * sizeof(float));
		for (int c = 0; c < C; c++) {
			size_t off = ((size_t)k * C + c) * g->area;
			const float *vr = s->vr + off, *vi = s->vi + off;
			const float *re = xr + c * g->area;
			const float *im = xi + c * g->area;
			for (size_t f = 0; f < g->area; f++) {
				ar[f] += re[f] * vr[f] - im[f] * vi[f];
				ai[f] += re[f] * vi[f] + im[f] * vr[f];
			}
		}
		fft2d(ar, ai, t, 1, s);
		float *o = j->out + ((size_t)k * g->ho + y0) * g->wo + x0;
		for (int i = 0; i < nr; i++)
			for (int x = 0; x < nc; x++)
				o[(size_t)i * g->wo + x] = ar[i * t + x] + s->bias[k];
	}
}

/* The tiles of slices [s0, s1), with slot s0. */
static void tile_slices(void *ctx, int s0, int s1)
{
	const job *j = ctx;
	const int tiles = j->g->ty * j->g->tx;
	const size_t spec = up((size_t)j->d->c * j->g->area * sizeof(float));
	const size_t acc = up(j->g->area * sizeof(float));
	char *w = j->slots + (size_t)s0 * j->slot;
	float *xr = (float *)w, *xi = (float *)(w + spec);
	float *ar = (float *)(w + 2 * spec), *ai = (float *)(w + 2 * spec + acc);
	const int end = (int)((long long)tiles * s1 / j->nslices);
	for (int tile = (int)((long long)tiles * s0 / j->nslices); tile < end;
	     tile++)
		one_tile(j, tile, xr, xi, ar, ai);
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
	const int C = d->c, K = d->k;
	const int tiles = g.ty * g.tx;
	const size_t plane = (size_t)g.hp * g.wp;
	job j = { .d = d, .g = &g, .s = &s, .nslices = slices(&g),
	          .slot = slot_bytes(d, &g) };
	j.pad = align_ptr(workspace);
	j.slots = (char *)j.pad + up((size_t)C * plane * sizeof(float));
	/* Work (see the header): a 2-D transform is 2T transforms of T
	 * points; per tile C forward, K inverse, K C complex multiply-adds
	 * per frequency. */
	const double fft2 = 2.0 * g.t * 5.0 * g.t * g.lg;
	const double tile_work = C * fft2 + K * (fft2 + 8.0 * C * g.area);
	for (int n = 0; n < d->n; n++) {
		j.img = input + (size_t)n * C * d->h * d->w;
		j.out = output + (size_t)n * K * g.ho * g.wo;
		dp_parallel_for(C * g.hp, (double)C * plane, pad_rows, &j);
		dp_parallel_for(j.nslices, tiles * tile_work +
		                (double)K * g.ho * g.wo, tile_slices, &j);
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
