/* conv_fftw.c - whole-image FFT convolution with FFTW3 (single
 * precision): the generic `fft-fftw` kernel, any stride-1 shape.
 *
 * Each channel of the zero-padded image (HP x WP, HP = H + 2 pad_h) is
 * zero-extended to LH x LW, the smallest sizes >= HP, WP whose only prime
 * factors are 2, 3, 5 and 7 (FFTW's fast sizes), and transformed with a
 * real-to-complex plan; the weights likewise (once, in prepare), stored
 * conjugated: Z = X conj(W) is the circular cross-correlation, which
 * equals the true output for i <= HP - R, j <= WP - S (no index wraps
 * because LH >= HP). Per filter: Z summed over the channels, one
 * complex-to-real plan, the crop, the bias.
 *
 * Scaling: FFTW's transforms are unnormalized; the one factor
 * 1/(LH * LW) is applied to the input as it is padded (one rounding
 * unless LH * LW is a power of two), for the same reason as the tiled
 * kernels (templates/conv_fft.lua): the forward values stay within
 * max|x| and the products within the output's own bound.
 *
 * Plans: FFTW's planner is not thread-safe, so plans are created under a
 * process-wide mutex, once per (LH, LW), with FFTW_ESTIMATE, and kept in
 * a small cache for the life of the process (a plan is immutable once
 * made; the new-array execute functions, which are thread-safe, run it on
 * the workspace). ESTIMATE, not MEASURE: a measured plan depends on the
 * timings of the moment, so two processes could pick different
 * algorithms and round differently; dpgen promises bitwise-identical
 * results across runs (t_determinism), and the planner's choice cost no
 * measurable speed on the benchmark layers (both within the machine's
 * noise, 2x run to run). Planning happens in prepare, never in
 * execute. All arrays given to the plans are 64-byte aligned, like the
 * planner's (fftwf_malloc), as the new-array interface requires.
 *
 * Threads, as in the tiled kernels (templates/conv_fft.lua): each phase
 * of execute() is one dp_parallel_for, two per image: the channels (pad,
 * forward transform) and the filters (products, inverse transform, crop,
 * bias). The items of a phase are cut into at most MAX_SLICES fixed
 * slices, the items of dp_parallel_for; a call for slices [s0, s1) runs
 * their items in order on one thread with slot s0 of the workspace as its
 * scratch (a real plane and an accumulated spectrum): calls running at
 * once never share a slot, and one thread reuses a single one. No item
 * reads scratch another wrote, and each is computed alike on any thread
 * (the same plan on arrays of the same alignment): results are bitwise
 * identical for any thread count. The plans are shared: the new-array
 * execute functions are thread-safe (FFTW's manual, "Thread safety"),
 * only planning is not, and it happens in prepare. The work passed along
 * is counted in flops: 2.5 N log2 N for a real transform of N points
 * (half the 5 N log2 N of a complex radix-2 one; FFTW's counts are
 * close), 8 per complex multiply-add of the products, 1 per float padded
 * or stored. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <fftw3.h>

#include "fftw_plans.h"

#include "dpgen.h"
#include "kernels.h"

#define ALIGN_BYTES 64
#define MAX_SLICES 16

typedef dp_fftw_plan plan_entry;

static pthread_mutex_t plan_lock = PTHREAD_MUTEX_INITIALIZER;
static plan_entry *plans;

/* The smallest n' >= n of the form 2^a 3^b 5^c 7^d. */
static int fast_size(int n)
{
	for (int m = n > 1 ? n : 1;; m++) {
		int r = m;
		static const int p[] = { 2, 3, 5, 7 };
		for (int i = 0; i < 4; i++)
			while (r % p[i] == 0)
				r /= p[i];
		if (r == 1)
			return m;
	}
}

typedef struct {
	int lh, lw, hc;           /* hc = LW/2 + 1 complex values per row */
	size_t real, cplx;        /* floats of a real plane, of a complex one
	                           * (2 * LH * hc, rounded up to 16 floats) */
	int ho, wo;
} geom;

static void geometry(const dp_desc *d, geom *g)
{
	g->lh = fast_size(d->h + 2 * d->pad_h);
	g->lw = fast_size(d->w + 2 * d->pad_w);
	g->hc = g->lw / 2 + 1;
	g->real = ((size_t)g->lh * g->lw + 15) / 16 * 16;
	g->cplx = ((size_t)2 * g->lh * g->hc + 15) / 16 * 16;
	g->ho = dp_conv_out_h(d);
	g->wo = dp_conv_out_w(d);
}

static void *align_ptr(const void *p)
{
	return (void *)(((uintptr_t)p + ALIGN_BYTES - 1) &
	                ~(uintptr_t)(ALIGN_BYTES - 1));
}

/* The cached plans for LH x LW, made on first use (fftw_plans.h). */
const dp_fftw_plan *dp_fftw_plan_get(int lh, int lw)
{
	plan_entry *e;
	pthread_mutex_lock(&plan_lock);
	for (e = plans; e; e = e->next)
		if (e->lh == lh && e->lw == lw)
			break;
	if (!e) {
		size_t hc = (size_t)lw / 2 + 1;
		float *r = fftwf_malloc(sizeof(float) * (size_t)lh * lw);
		fftwf_complex *c = fftwf_malloc(sizeof(fftwf_complex) * lh * hc);
		e = malloc(sizeof *e);
		if (r && c && e) {
			e->lh = lh;
			e->lw = lw;
			e->fwd = fftwf_plan_dft_r2c_2d(lh, lw, r, c, FFTW_ESTIMATE);
			e->inv = fftwf_plan_dft_c2r_2d(lh, lw, c, r, FFTW_ESTIMATE);
			if (e->fwd && e->inv) {
				e->next = plans;
				plans = e;
			} else {
				if (e->fwd)
					fftwf_destroy_plan(e->fwd);
				if (e->inv)
					fftwf_destroy_plan(e->inv);
				free(e);
				e = NULL;
			}
		} else {
			free(e);
			e = NULL;
		}
		fftwf_free(r);
		fftwf_free(c);
	}
	pthread_mutex_unlock(&plan_lock);
	return e;
}

/* State: a header with the plans, then the bias, then conj(W) for every
 * (k, c): (k*C + c) * cplx floats, interleaved re, im. */
typedef struct {
	const plan_entry *plans;
} fftw_state;

static size_t bias_bytes(const dp_desc *d)
{
	return ((size_t)d->k * sizeof(float) + ALIGN_BYTES - 1) / ALIGN_BYTES *
	       ALIGN_BYTES;
}

static void state_parts(const dp_desc *d, void *state, fftw_state **hdr,
                        float **bias, float **spec)
{
	char *p = align_ptr(state);
	*hdr = (fftw_state *)p;
	p += ALIGN_BYTES;
	*bias = (float *)p;
	p += bias_bytes(d);
	*spec = (float *)p;
}

static size_t state_bytes(const dp_desc *d)
{
	geom g;
	geometry(d, &g);
	return 2 * ALIGN_BYTES + bias_bytes(d) +
	       (size_t)d->k * d->c * g.cplx * sizeof(float);
}

static dp_status prepare(const dp_desc *d, const float *weights,
                         const float *bias, void *state)
{
	if (d->stride != 1)
		return DP_ERR_UNSUPPORTED;
	geom g;
	geometry(d, &g);
	fftw_state *hdr;
	float *b, *spec;
	state_parts(d, state, &hdr, &b, &spec);
	hdr->plans = dp_fftw_plan_get(g.lh, g.lw);
	if (!hdr->plans)
		return DP_ERR_NOMEM;
	for (int k = 0; k < d->k; k++)
		b[k] = bias ? bias[k] : 0.0f;
	float *real = aligned_alloc(ALIGN_BYTES, g.real * sizeof(float));
	if (!real)
		return DP_ERR_NOMEM;
	for (int k = 0; k < d->k; k++)
		for (int c = 0; c < d->c; c++) {
			const float *w = weights + ((size_t)k * d->c + c) * d->r * d->s;
			float *out = spec + ((size_t)k * d->c + c) * g.cplx;
			memset(real, 0, g.real * sizeof(float));
			for (int i = 0; i < d->r; i++)
				memcpy(real + (size_t)i * g.lw, w + (size_t)i * d->s,
				       (size_t)d->s * sizeof(float));
			fftwf_execute_dft_r2c(hdr->plans->fwd, real,
			                      (fftwf_complex *)out);
			for (size_t f = 0; f < (size_t)g.lh * g.hc; f++)
				out[2 * f + 1] = -out[2 * f + 1];   /* conj */
		}
	free(real);
	return DP_OK;
}

/* Slices of n items (one scratch slot each). */
static int slices(int n)
{
	return n < MAX_SLICES ? n : MAX_SLICES;
}

/* Workspace: the spectra of the C channels, then a slot per slice (the
 * more of the two phases): one real plane and one accumulated spectrum,
 * each a multiple of 16 floats, so every array is 64-byte aligned. */
static size_t workspace_bytes(const dp_desc *d)
{
	geom g;
	geometry(d, &g);
	const int n = slices(d->c > d->k ? d->c : d->k);
	return ALIGN_BYTES + ((size_t)d->c * g.cplx +
	                      (size_t)n * (g.real + g.cplx)) * sizeof(float);
}

/* What the phases of one image share. */
typedef struct {
	const dp_desc *d;
	const geom *g;
	const fftw_state *hdr;
	const float *bias, *spec, *img;
	float *x, *slots, *out;
	int nslices;        /* of the phase running */
} job;

/* The first item of slice s when items are cut into n slices. */
static int slice_start(int items, int n, int s)
{
	return (int)((long long)items * s / n);
}

/* The channels of slices [s0, s1), with slot s0: each channel
 * zero-padded (times the normalization) into the slot's real plane, then
 * its spectrum into x. */
static void channel_slices(void *ctx, int s0, int s1)
{
	const job *j = ctx;
	const dp_desc *d = j->d;
	const geom *g = j->g;
	const float scale = (float)(1.0 / ((double)g->lh * g->lw));
	float *real = j->slots + (size_t)s0 * (g->real + g->cplx);
	const int end = slice_start(d->c, j->nslices, s1);
	for (int c = slice_start(d->c, j->nslices, s0); c < end; c++) {
		memset(real, 0, g->real * sizeof(float));
		for (int y = 0; y < d->h; y++)
			for (int xx = 0; xx < d->w; xx++)
				real[(size_t)(y + d->pad_h) * g->lw + xx + d->pad_w] =
					scale * j->img[((size_t)c * d->h + y) * d->w + xx];
		fftwf_execute_dft_r2c(j->hdr->plans->fwd, real,
		                      (fftwf_complex *)(j->x + c * g->cplx));
	}
}

/* The filters of slices [s0, s1), with slot s0: Z summed over the
 * channels into the slot's spectrum, the inverse into its real plane,
 * crop and bias. */
static void filter_slices(void *ctx, int s0, int s1)
{
	const job *j = ctx;
	const dp_desc *d = j->d;
	const geom *g = j->g;
	const int C = d->c;
	const size_t nf = (size_t)g->lh * g->hc;
	float *real = j->slots + (size_t)s0 * (g->real + g->cplx);
	float *acc = real + g->real;
	const int end = slice_start(d->k, j->nslices, s1);
	for (int k = slice_start(d->k, j->nslices, s0); k < end; k++) {
		memset(acc, 0, 2 * nf * sizeof(float));
		for (int c = 0; c < C; c++) {
			const float *v = j->spec + ((size_t)k * C + c) * g->cplx;
			const float *xc = j->x + c * g->cplx;
			for (size_t f = 0; f < nf; f++) {
				float a = xc[2 * f], b = xc[2 * f + 1];
				acc[2 * f] += a * v[2 * f] - b * v[2 * f + 1];
				acc[2 * f + 1] += a * v[2 * f + 1] + b * v[2 * f];
			}
		}
		fftwf_execute_dft_c2r(j->hdr->plans->inv, (fftwf_complex *)acc,
		                      real);
		float *o = j->out + (size_t)k * g->ho * g->wo;
		for (int i = 0; i < g->ho; i++)
			for (int jj = 0; jj < g->wo; jj++)
				o[(size_t)i * g->wo + jj] = real[(size_t)i * g->lw + jj] +
					j->bias[k];
	}
}

static dp_status execute(const dp_desc *d, const void *state,
                         const float *input, float *output, void *workspace)
{
	if (d->stride != 1)
		return DP_ERR_UNSUPPORTED;
	geom g;
	geometry(d, &g);
	fftw_state *hdr;
	float *bias, *spec;
	state_parts(d, (void *)state, &hdr, &bias, &spec);
	const int C = d->c, K = d->k;
	job j = { .d = d, .g = &g, .hdr = hdr, .bias = bias, .spec = spec };
	j.x = align_ptr(workspace);
	j.slots = j.x + (size_t)C * g.cplx;
	/* Work (see the header). */
	const double pts = (double)g.lh * g.lw;
	const double rfft = 2.5 * pts * log2(pts);
	const double nf = (double)g.lh * g.hc;
	for (int n = 0; n < d->n; n++) {
		j.img = input + (size_t)n * C * d->h * d->w;
		j.out = output + (size_t)n * K * g.ho * g.wo;
		j.nslices = slices(C);
		dp_parallel_for(j.nslices, C * (pts + rfft), channel_slices, &j);
		j.nslices = slices(K);
		dp_parallel_for(j.nslices, K * (8.0 * C * nf + rfft) +
		                (double)K * g.ho * g.wo, filter_slices, &j);
	}
	return DP_OK;
}

const dp_kernel dp_conv_fftw_generic = {
	.name = "dp_conv_fftw_generic_fp32",
	.desc = { .op = DP_OP_CONV, .algo = DP_ALGO_FFT_FFTW,
	          .precision = DP_PREC_FP32 },
	.generic = 1,
	.state_bytes = state_bytes,
	.prepare = prepare,
	.workspace_bytes = workspace_bytes,
	.execute = execute,
};
