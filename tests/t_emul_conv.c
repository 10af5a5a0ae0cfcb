/* t_emul_conv.c - convolution at emulated precisions (runtime/emul_conv.c,
 * the contract docs/PRECISION.md): every algorithm (direct, im2col,
 * Winograd F(2,3), F(4,3), F(6,3), F(2,5), F(4,5) with default and custom
 * points, tiled FFT, FFTW) x every non-fp32 precision x policy, through the
 * public dispatch (dp_generic_kernel + dp_kernel_run), on small edge
 * shapes: a 1x1 input, C = 1, odd sizes, batch 2, outputs that are not a
 * multiple of the Winograd tile or the FFT tile's output, a 5x5 kernel,
 * stride 2 (direct, im2col).
 *
 * Every output is checked against dp_ref_conv2d (fp64) on the ROUNDED
 * inputs (x^ = R(x), w^ = R(w), b^ = R(b); the dequantized values for
 * int16/int8), with a bound derived from the format's unit roundoff u and
 * smallest normal mu (precision.h's dp_format_info), never tuned:
 *
 *   rounding model: |fl(z) - z| <= u (|z| + mu) (a result below mu is
 *   subnormal: its error is at most half the least subnormal = u mu).
 *   A value that went through n roundings of the format and m of fp32
 *   (acc32) carries a factor in [1 - D, 1 + D], D(n, m) = (1 + u)^n
 *   (1 + u32)^m - 1 (Higham, Accuracy and Stability, Lemma 3.1, without
 *   the n u < 1 condition that gamma_n needs: fp8 has u = 1/16). The error
 *   of every output is then at most D times S, the sum of the magnitudes of
 *   all terms of the exact expansion (every operand and constant replaced
 *   by its absolute value), plus the subnormal part, bounded the same way
 *   with every data value replaced by 1 (S1) times n mu: for the data here
 *   (N(0,1)) it is far below the first term except for fp8.
 *
 *   direct    (all) n = 1 product + R*S adds + ceil(log2 C) pairwise adds
 *             + 1 bias add; (acc32) exact products, m = R*S + ceil(log2 C)
 *             + 1 in fp32, n = 1 (the output). S = sum |x^ w^| + |b^|.
 *   im2col    the GEMM order: n = 1 + C*R*S + 1 (all); m = C*R*S + 1.
 *   winograd  S = |b| + sum_c |AT| [(|G||g||G|^T) .* (|BT||d||BT|^T)]
 *             |AT|^T at the output's place in its tile (t_conv_winograd.c).
 *             (all) per pass of a transform a rounded constant, a product
 *             and the sequential adds: filter 2 (r + 1), input 2 (alpha +
 *             1), output 2 (alpha + 1); the product; ceil(log2 C) pairwise
 *             adds; the bias: n = 4 alpha + 2 r + 8 + ceil(log2 C).
 *             (acc32) the same count in fp32 (constants rounded to fp32)
 *             and n = 3 format roundings: U, V stored, the output.
 *   fft       the 2-norm argument of t_conv_fft.c: a radix-2 transform of
 *             2 log2 T levels whose butterflies round every operation has
 *             relative 2-norm error eps = (1 + eta)^(2 log2 T) - 1, eta =
 *             mu_t + D(4)(sqrt 2 + mu_t) per level (Higham Thm 24.2, mu_t
 *             the twiddles' error, <= u); forward errors of the tile x_c
 *             and of w map to the output by Cauchy-Schwarz as ||x_c||
 *             ||w_kc||, the inverse's as eps ||z|| <= eps sum_c ||x_c||
 *             |w_kc|_1 (Young), the products and channel sums as 2 D(2 +
 *             ceil(log2 C)) sum_c ||x_c|| ||w_kc||. All together bounded by
 *             Dfft * B, B = sum_c ||x_c||_2 |w_kc|_1 >= sum_c ||x_c||
 *             ||w_kc||, Dfft = (1+eps_x)(1+eps_w)(1+2 D_p)(1+eps_i)(1+u)-1,
 *             plus u |y_ref| for the output's rounding. acc32: the
 *             transforms in fp32 (eps with u32) and one format rounding of
 *             every stored spectrum element (relative u, so 2-norm u).
 *   fft-fftw  the same with FFTW's fp32 transforms, eps = (log2 L + 2) 7
 *             u32, doubled when L is not a power of two (t_conv_fft.c),
 *             one format rounding of each spectrum, the products and sums
 *             in the format (all) or fp32 (acc32); x_c the whole padded
 *             image.
 *   fp64      the emulation computes in double and rounds the output to
 *             float once: |y - ref| <= u32 |ref| + the double-precision
 *             bound of the algorithm (u = 2^-53); i.e. it matches the
 *             reference to ~1e-15 relative before that last rounding.
 *             Also checked: y == (float)ref for nearly every output.
 *   int16/8   direct, im2col: exact integer sums, so only the float
 *             roundings: |y - ref| <= 4 u32 sum|x~ w~| + 2 u32 (|ref| + |b|)
 *             (x~ = fl32(q s_x), the reference's inputs). Winograd: U and V
 *             quantized with scales s_U <= max|U|/qmax, s_V likewise, so
 *             |dU| <= s_U / 2, |dV| <= s_V / 2 and the error is at most
 *             |AT| [sum_c (|U_c| s_V + |V_c| s_U + s_U s_V / 2) / 2] |AT|^T
 *             (magnitudes bound |U|, |V| and their maxima) plus the float
 *             terms. FFT and FFTW: |X| <= |x_c|_1, |W| <= |w_kc|_1, each of
 *             re, im within s/2, so with the 1/T^2 (1/L) of the inverse
 *             |dy| <= sum_c (|x_c|_1 s_W + |w_kc|_1 s_X + s_X s_W / sqrt 2)
 *             / sqrt 2, s_X <= max |x_c|_1 / qmax, s_W <= max |w_kc|_1 / qmax.
 *
 * A case whose magnitudes could reach the format's overflow threshold (fp8
 * F(6,3) transforms: the error model does not hold past it) is reported as
 * skipped, not checked. The largest err/bound ratio of each case is shown.
 *
 * These worst-case bounds hold with a wide margin (err/bound 1e-4 to 0.1
 * for Winograd and FFT at fp16): they catch gross errors, not subtle ones.
 * Sharp checks complement them: fp64 (the algorithm itself, to ~u32 of
 * the output), the bitwise ones below, and the bf16/fp16 error ratio
 * (test_scaling). Verified by mutation of emul_conv.c: every transform
 * constant times (1 + 1/256) under policy all fails four ratio checks
 * (Winograd, FFT); a twiddle cos(2 pi/T) times 1.01 fails the fp64 and
 * int16 FFT bounds; one pairwise add perturbed by 2^-9 fails 39 bitwise
 * checks and the fp64 bounds.
 *
 * Bitwise: the direct emulation equals an independent straightforward
 * implementation of the PRECISION.md order written below in float with
 * dp_round (pairwise and sequential, both policies, every float format),
 * every bit of every output.
 *
 * Policies: on a long reduction (C = 512, 3x3) bf16:acc32 is more
 * accurate than bf16:all (acc32 rounds the output once, all also rounds
 * the 9 taps of each channel and the 9 pairwise levels; a random-walk
 * model predicts up to ~sqrt(18) = 4x in rms, measured 2.5x: many sums are
 * exact), and bf16 im2col (one sequential sum of 4608 terms) is less
 * accurate than direct (pairwise over channels). im2col-blas has no
 * emulation: dispatch reports unsupported, with a reason that names fp32. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emul.h"
#include "kernels.h"
#include "precision.h"
#include "tap.h"
#include "util.h"

#define MAXA DP_WINOGRAD_MAX_ALPHA
#define U32 0x1p-24
#define U64 0x1p-53

typedef struct {
	dp_precision p;
	dp_policy pol;
} prec_t;

static const prec_t precs[] = {
	{ DP_PREC_FP64, DP_POLICY_ALL },
	{ DP_PREC_TF32, DP_POLICY_ALL }, { DP_PREC_TF32, DP_POLICY_ACC32 },
	{ DP_PREC_BF16, DP_POLICY_ALL }, { DP_PREC_BF16, DP_POLICY_ACC32 },
	{ DP_PREC_FP16, DP_POLICY_ALL }, { DP_PREC_FP16, DP_POLICY_ACC32 },
	{ DP_PREC_FP8_E4M3, DP_POLICY_ALL },
	{ DP_PREC_FP8_E4M3, DP_POLICY_ACC32 },
	{ DP_PREC_FP8_E5M2, DP_POLICY_ALL },
	{ DP_PREC_FP8_E5M2, DP_POLICY_ACC32 },
	{ DP_PREC_INT16, DP_POLICY_ALL }, { DP_PREC_INT8, DP_POLICY_ALL },
};
#define NPRECS (int)(sizeof precs / sizeof precs[0])

static dp_format fmt_of(dp_precision p)
{
	switch (p) {
	case DP_PREC_TF32: return DP_FMT_TF32;
	case DP_PREC_BF16: return DP_FMT_BF16;
	case DP_PREC_FP16: return DP_FMT_FP16;
	case DP_PREC_FP8_E4M3: return DP_FMT_E4M3;
	case DP_PREC_FP8_E5M2: return DP_FMT_E5M2;
	default: return DP_FMT_FP32;
	}
}

static int is_int(dp_precision p)
{
	return p == DP_PREC_INT16 || p == DP_PREC_INT8;
}

static int bits_of(dp_precision p)
{
	return p == DP_PREC_INT16 ? 16 : 8;
}

/* D(n, m) of the header. */
static double grow(int n, double u, int m, double u2)
{
	return pow(1 + u, n) * pow(1 + u2, m) - 1;
}

static int ceil_log2(int c)
{
	int l = 0;
	while ((1 << l) < c)
		l++;
	return l;
}

/* The values the emulation computes with (and the reference uses). */
static void round_operand(dp_precision p, const float *x, float *xr,
                          size_t n)
{
	if (is_int(p)) {
		float s = 0;
		dp_fixed_scale(x, n, bits_of(p), &s);
		for (size_t i = 0; i < n; i++)
			xr[i] = dp_fixed_round(x[i], s, bits_of(p));
	} else if (p == DP_PREC_FP64) {
		memcpy(xr, x, n * sizeof *x);
	} else {
		dp_round_array(fmt_of(p), x, xr, n);
	}
}

/* ---- magnitudes ---- */

typedef struct {
	double *s;     /* S per output */
	double *s1;    /* S with every data value 1 */
	double *q;     /* integer formats: the quantization term */
	double maxmag; /* largest intermediate magnitude (overflow check) */
} mags;

static double in_at(const dp_desc *d, const float *x, int n, int c, int y,
                    int xx)
{
	if (y < 0 || y >= d->h || xx < 0 || xx >= d->w)
		return 0;
	return x[(((size_t)n * d->c + c) * d->h + y) * d->w + xx];
}

static void mag_direct(const dp_desc *d, const float *x, const float *w,
                       const float *b, mags *m)
{
	const int ho = dp_conv_out_h(d), wo = dp_conv_out_w(d);
	m->maxmag = 0;
	for (int n = 0; n < d->n; n++)
	for (int k = 0; k < d->k; k++)
	for (int y = 0; y < ho; y++)
	for (int xo = 0; xo < wo; xo++) {
		double s = fabs(b[k]), s1 = 1;
		for (int c = 0; c < d->c; c++)
			for (int i = 0; i < d->r; i++)
				for (int j = 0; j < d->s; j++) {
					int iy = y * d->stride + i - d->pad_h;
					int ix = xo * d->stride + j - d->pad_w;
					if (iy < 0 || iy >= d->h || ix < 0 || ix >= d->w)
						continue;
					s += fabs(in_at(d, x, n, c, iy, ix) *
					          w[(((size_t)k * d->c + c) * d->r + i) *
					            d->s + j]);
					s1 += 1;
				}
		size_t o = (((size_t)n * d->k + k) * ho + y) * wo + xo;
		m->s[o] = s;
		m->s1[o] = s1;
		m->q[o] = 0;
		if (s > m->maxmag)
			m->maxmag = s;
	}
}

/* |A| (p x q) |B| (q x s) */
static void amul(const double *A, int p, int q, const double *B, int s,
                 double *out)
{
	for (int i = 0; i < p; i++)
		for (int j = 0; j < s; j++) {
			double acc = 0;
			for (int l = 0; l < q; l++)
				acc += fabs(A[i * q + l]) * fabs(B[l * s + j]);
			out[i * s + j] = acc;
		}
}

static void tr(const double *a, int r, int c, double *t)
{
	for (int i = 0; i < r; i++)
		for (int j = 0; j < c; j++)
			t[j * r + i] = a[i * c + j];
}

/* Winograd magnitudes; ones: every data value 1. qmax > 0: also the
 * integer quantization term. Returns -1 on failure. */
static int mag_winograd(const dp_desc *d, const float *x, const float *w,
                        const float *b, int ones, double qmax, mags *m)
{
	const int mt = d->tile, r = d->r, a = mt + r - 1, aa = a * a;
	const int ho = dp_conv_out_h(d), wo = dp_conv_out_w(d);
	const int txn = (wo + mt - 1) / mt, tyn = (ho + mt - 1) / mt;
	const int nt = txn * tyn;
	double at[MAXA * MAXA], g[MAXA * MAXA], bt[MAXA * MAXA];
	double att[MAXA * MAXA], gt[MAXA * MAXA], btt[MAXA * MAXA];
	if (dp_winograd_transforms(mt, r, d->points, at, g, bt) != DP_OK)
		return -1;
	tr(at, mt, a, att);
	tr(g, a, r, gt);
	tr(bt, a, a, btt);
	double *um = malloc(sizeof(double) * aa * d->k * d->c);
	double *vm = malloc(sizeof(double) * aa * d->n * d->c * nt);
	if (!um || !vm) {
		free(um);
		free(vm);
		return -1;
	}
	double umax = 0, vmax = 0;
	for (int k = 0; k < d->k; k++)
		for (int c = 0; c < d->c; c++) {
			double gg[MAXA * MAXA], t1[MAXA * MAXA];
			for (int i = 0; i < r * r; i++)
				gg[i] = ones ? 1 : w[((size_t)k * d->c + c) * r * r + i];
			amul(g, a, r, gg, r, t1);
			double *u = um + ((size_t)k * d->c + c) * aa;
			amul(t1, a, r, gt, a, u);
			for (int i = 0; i < aa; i++)
				umax = u[i] > umax ? u[i] : umax;
		}
	for (int n = 0; n < d->n; n++)
		for (int c = 0; c < d->c; c++)
			for (int t = 0; t < nt; t++) {
				double dt[MAXA * MAXA], t1[MAXA * MAXA];
				int y0 = t / txn * mt - d->pad_h, x0 = t % txn * mt - d->pad_w;
				for (int i = 0; i < a; i++)
					for (int j = 0; j < a; j++) {
						int y = y0 + i, xx = x0 + j;
						int in = y >= 0 && y < d->h && xx >= 0 && xx < d->w;
						dt[i * a + j] = !in ? 0 : ones ? 1 :
							in_at(d, x, n, c, y, xx);
					}
				amul(bt, a, a, dt, a, t1);
				double *v = vm + (((size_t)n * d->c + c) * nt + t) * aa;
				amul(t1, a, a, btt, a, v);
				for (int i = 0; i < aa; i++)
					vmax = v[i] > vmax ? v[i] : vmax;
			}
	/* scales as the emulation's, from magnitudes (upper bounds) */
	const double su = qmax > 0 ? umax / qmax : 0, sv = qmax > 0 ? vmax / qmax : 0;
	m->maxmag = umax > vmax ? umax : vmax;
	for (int n = 0; n < d->n; n++)
	for (int k = 0; k < d->k; k++)
	for (int t = 0; t < nt; t++) {
		double p[MAXA * MAXA] = { 0 }, pq[MAXA * MAXA] = { 0 };
		double t1[MAXA * MAXA], y1[MAXA * MAXA];
		for (int c = 0; c < d->c; c++) {
			const double *u = um + ((size_t)k * d->c + c) * aa;
			const double *v = vm + (((size_t)n * d->c + c) * nt + t) * aa;
			for (int i = 0; i < aa; i++) {
				p[i] += u[i] * v[i];
				pq[i] += (u[i] * sv + v[i] * su + su * sv / 2) / 2;
			}
		}
		for (int i = 0; i < aa; i++)
			if (p[i] > m->maxmag)
				m->maxmag = p[i];
		int oy = t / txn * mt, ox = t % txn * mt;
		for (int pass = 0; pass < 2; pass++) {
			amul(at, mt, a, pass ? pq : p, a, t1);
			amul(t1, mt, a, att, mt, y1);
			for (int i = 0; i < mt && oy + i < ho; i++)
				for (int j = 0; j < mt && ox + j < wo; j++) {
					size_t o = (((size_t)n * d->k + k) * ho + oy + i) * wo +
					           ox + j;
					double bb = ones ? 1 : fabs(b[k]);
					if (pass)
						m->q[o] = y1[i * mt + j];
					else if (ones)
						m->s1[o] = y1[i * mt + j] + bb;
					else
						m->s[o] = y1[i * mt + j] + bb;
				}
		}
	}
	free(um);
	free(vm);
	return 0;
}

/* FFT magnitudes: B = sum_c ||x_c||_2 |w_kc|_1 per output, x_c the input
 * block its tile (or the whole image, fftw) transforms; B1 with ones;
 * q the integer term. */
static void mag_fft(const dp_desc *d, const float *x, const float *w,
                    double qmax, mags *m)
{
	const int ho = dp_conv_out_h(d), wo = dp_conv_out_w(d);
	const int fftw = d->algo == DP_ALGO_FFT_FFTW;
	const int t = d->tile, oy = fftw ? ho : t - d->r + 1;
	const int ox = fftw ? wo : t - d->s + 1;
	const int bh = fftw ? d->h + 2 * d->pad_h : t;
	const int bw = fftw ? d->w + 2 * d->pad_w : t;
	const int tyn = (ho + oy - 1) / oy, txn = (wo + ox - 1) / ox;
	double smax_x = 0, smax_w = 0;
	const int nb = d->n * d->c * tyn * txn;
	double *n2 = malloc(sizeof(double) * nb), *n1 = malloc(sizeof(double) * nb);
	double *w1 = malloc(sizeof(double) * d->k * d->c);
	if (!n2 || !n1 || !w1)
		abort();
	for (int n = 0; n < d->n; n++)
		for (int c = 0; c < d->c; c++)
			for (int ty = 0; ty < tyn; ty++)
				for (int tx = 0; tx < txn; tx++) {
					double s2 = 0, s1 = 0;
					for (int i = 0; i < bh; i++)
						for (int j = 0; j < bw; j++) {
							double v = in_at(d, x, n, c, ty * oy + i - d->pad_h,
							                 tx * ox + j - d->pad_w);
							s2 += v * v;
							s1 += fabs(v);
						}
					int id = ((n * d->c + c) * tyn + ty) * txn + tx;
					n2[id] = sqrt(s2);
					n1[id] = s1;
					smax_x = s1 > smax_x ? s1 : smax_x;
				}
	for (int k = 0; k < d->k; k++)
		for (int c = 0; c < d->c; c++) {
			double s = 0;
			for (int i = 0; i < d->r * d->s; i++)
				s += fabs(w[((size_t)k * d->c + c) * d->r * d->s + i]);
			w1[k * d->c + c] = s;
			smax_w = s > smax_w ? s : smax_w;
		}
	const double sx = qmax > 0 ? smax_x / qmax : 0;
	const double sw = qmax > 0 ? smax_w / qmax : 0;
	m->maxmag = 0;
	for (int n = 0; n < d->n; n++)
	for (int k = 0; k < d->k; k++)
	for (int y = 0; y < ho; y++)
	for (int xo = 0; xo < wo; xo++) {
		double s = 0, s1 = 0, q = 0;
		for (int c = 0; c < d->c; c++) {
			int id = ((n * d->c + c) * tyn + y / oy) * txn + xo / ox;
			double wk = w1[k * d->c + c];
			s += n2[id] * wk;
			s1 += sqrt((double)bh * bw) * d->r * d->s;
			q += (n1[id] * sw + wk * sx + sx * sw / sqrt(2.0)) / sqrt(2.0);
			double mx = n1[id] * wk;    /* |X W| <= |x|_1 |w|_1 */
			if (n1[id] > m->maxmag)
				m->maxmag = n1[id];
			if (mx > m->maxmag)
				m->maxmag = mx;
		}
		size_t o = (((size_t)n * d->k + k) * ho + y) * wo + xo;
		m->s[o] = s;
		m->s1[o] = s1;
		m->q[o] = q;
	}
	free(n2);
	free(n1);
	free(w1);
}

/* ---- one case ---- */

typedef struct {
	double worst;     /* largest err / bound */
	int skipped;      /* overflow possible: bound not applicable */
	int exact_frac_ok; /* fp64: y == (float)ref for >= 99% */
	char note[200];
} result;

static int lg2(int v)
{
	int l = 0;
	while ((1 << l) < v)
		l++;
	return l;
}

static int fast_size(int n)
{
	for (int m = n;; m++) {
		int r = m;
		static const int p[] = { 2, 3, 5, 7 };
		for (int i = 0; i < 4; i++)
			while (r % p[i] == 0)
				r /= p[i];
		if (r == 1)
			return m;
	}
}

static result run_case(const dp_desc *d, uint64_t seed)
{
	result res = { 0, 0, 1, "" };
	size_t ni = (size_t)dp_conv_input_elems(d);
	size_t nw = (size_t)dp_conv_weight_elems(d);
	size_t no = (size_t)dp_conv_output_elems(d);
	float *x = malloc(ni * 4), *w = malloc(nw * 4), *b = malloc(d->k * 4u);
	float *xr = malloc(ni * 4), *wr = malloc(nw * 4), *br = malloc(d->k * 4u);
	float *y = malloc(no * 4);
	double *ref = malloc(no * 8);
	mags m = { malloc(no * 8), malloc(no * 8), malloc(no * 8), 0 };
	mags m1 = { malloc(no * 8), malloc(no * 8), malloc(no * 8), 0 };
	if (!x || !w || !b || !xr || !wr || !br || !y || !ref || !m.s ||
	    !m.s1 || !m.q || !m1.s || !m1.s1 || !m1.q)
		abort();
	rng_t rng;
	rng_seed(&rng, seed);
	fill_normal(&rng, x, ni);
	fill_normal(&rng, w, nw);
	fill_normal(&rng, b, (size_t)d->k);
	for (size_t i = 0; i < no; i++)
		y[i] = NAN;
	const dp_kernel *kern = dp_generic_kernel(d);
	dp_status st = kern ? dp_kernel_run(kern, d, x, w, b, y) :
	               DP_ERR_UNSUPPORTED;
	if (st != DP_OK) {
		res.worst = INFINITY;
		snprintf(res.note, sizeof res.note, "kernel failed: %s",
		         dp_status_str(st));
		goto out;
	}
	const dp_precision p = d->precision;
	round_operand(p, x, xr, ni);
	round_operand(p, w, wr, nw);
	for (int k = 0; k < d->k; k++)      /* integers: the float bias */
		br[k] = is_int(p) || p == DP_PREC_FP64 ? b[k] :
		        dp_round(fmt_of(p), b[k]);
	if (dp_ref_conv2d(d, xr, wr, br, ref) != DP_OK)
		abort();
	const dp_format_info *fi = dp_format_get(fmt_of(p));
	const int flt = !is_int(p) && p != DP_PREC_FP64;
	const int acc32 = d->policy == DP_POLICY_ACC32;
	double u = flt ? fi->unit_roundoff : p == DP_PREC_FP64 ? U64 : U32;
	const double mu = flt ? fi->min_normal : 0;
	const double qmax = is_int(p) ? dp_fixed_qmax(bits_of(p)) : 0;
	const int L = ceil_log2(d->c);
	/* D = the relative factor; n_all = roundings for the subnormal term */
	double D = 0;
	int n_all = 0;
	switch (d->algo) {
	case DP_ALGO_DIRECT:
	case DP_ALGO_IM2COL: {
		int rs = d->algo == DP_ALGO_DIRECT ? d->r * d->s + L :
		         d->c * d->r * d->s;
		mag_direct(d, xr, wr, br, &m);
		n_all = 1 + rs + 1;
		D = !flt ? grow(n_all, u, 0, 0) :
		    acc32 ? grow(1, u, rs + 1, U32) : grow(n_all, u, 0, 0);
		break;
	}
	case DP_ALGO_WINOGRAD: {
		int a = d->tile + d->r - 1;
		n_all = 4 * a + 2 * d->r + 8 + L + 1;   /* +1: double constants */
		if (mag_winograd(d, xr, wr, br, 0, qmax, &m) ||
		    mag_winograd(d, xr, wr, br, 1, 0, &m1))
			abort();
		memcpy(m.s1, m1.s1, no * 8);
		D = !flt ? grow(n_all, u, 0, 0) :
		    acc32 ? grow(3, u, n_all, U32) : grow(n_all, u, 0, 0);
		break;
	}
	default: {   /* fft, fftw */
		mag_fft(d, xr, wr, qmax, &m);
		double ua = flt && !acc32 ? u : p == DP_PREC_FP64 ? U64 : U32;
		double us = flt ? u : 0;   /* the stores of the spectra */
		double eps_t, eps_i;
		if (d->algo == DP_ALGO_FFT) {
			double eta = ua + grow(4, ua, 0, 0) * (sqrt(2.0) + ua);
			eps_t = pow(1 + eta, 2 * lg2(d->tile)) - 1;
			eps_i = eps_t;
			n_all = 3 * 8 * lg2(d->tile) + L + 4;
		} else {
			int lh = fast_size(d->h + 2 * d->pad_h);
			int lw = fast_size(d->w + 2 * d->pad_w);
			double lgl = log2((double)lh * lw);
			int pow2 = !(lh & (lh - 1)) && !(lw & (lw - 1));
			if (flt) {   /* FFTW fp32 transforms, scalings in fp32 */
				eps_t = (lgl + 2) * 7 * U32 * (pow2 ? 1 : 2) + 2 * U32;
			} else {     /* a plain DFT in double */
				eps_t = (lh + lw) * 4 * U64;
			}
			eps_i = eps_t;
			n_all = 8 + L;
		}
		double dp = grow(2 + L, ua, 0, 0);
		double ex = (1 + eps_t) * (1 + us) - 1;   /* forward + store */
		D = (1 + ex) * (1 + ex) * (1 + 2 * dp) * (1 + eps_i) *
		    (1 + (flt ? u : U32)) - 1;
		break;
	}
	}
	/* skip when an intermediate may reach the overflow threshold */
	if (flt && m.maxmag * (1 + D) >= fi->max_finite) {
		res.skipped = 1;
		snprintf(res.note, sizeof res.note, "magnitudes up to %.3g: %s may "
		         "overflow, the bound does not apply", m.maxmag, fi->name);
		goto out;
	}
	size_t at = 0, exact = 0;
	for (size_t i = 0; i < no; i++) {
		double e = fabs((double)y[i] - ref[i]), bound;
		if (p == DP_PREC_FP64) {
			bound = U32 * fabs(ref[i]) + D * m.s[i];
			exact += (float)ref[i] == y[i];
		} else if (is_int(p)) {
			bound = m.q[i] + 4 * U32 * m.s[i] +
			        2 * U32 * (fabs(ref[i]) + fabs(br[i % d->k])) + D * m.s[i];
		} else {
			bound = D * (m.s[i] + n_all * mu * m.s1[i]) +
			        u * (fabs(ref[i]) + mu);
		}
		double ratio = e == 0 ? 0 : bound > 0 ? e / bound : INFINITY;
		if (!(ratio <= res.worst)) {
			res.worst = isnan(ratio) ? INFINITY : ratio;
			at = i;
		}
	}
	if (p == DP_PREC_FP64)
		res.exact_frac_ok = exact >= no * 99 / 100;
	snprintf(res.note, sizeof res.note, "worst err/bound %.3g at %zu "
	         "(got %.9g, ref %.9g)%s", res.worst, at, y[at], ref[at],
	         p == DP_PREC_FP64 && !res.exact_frac_ok ?
	         "; fewer than 99% equal to (float)ref" : "");
out:
	free(x); free(w); free(b); free(xr); free(wr); free(br); free(y);
	free(ref); free(m.s); free(m.s1); free(m.q); free(m1.s); free(m1.s1);
	free(m1.q);
	return res;
}

/* ---- the independent direct implementation (PRECISION.md) ---- */

static float rnd(dp_format f, int acc32, float v)
{
	return acc32 ? v : dp_round(f, v);
}

static float pw(dp_format f, int acc32, const float *t, int n)
{
	if (n == 1)
		return t[0];
	int h = n / 2;
	float a = pw(f, acc32, t, h);
	float b = pw(f, acc32, t + h, n - h);
	return rnd(f, acc32, a + b);
}

static void direct_by_hand(const dp_desc *d, int sequential, const float *x,
                           const float *w, const float *b, float *y)
{
	const dp_format f = fmt_of(d->precision);
	const int acc = d->policy == DP_POLICY_ACC32;
	const int ho = dp_conv_out_h(d), wo = dp_conv_out_w(d);
	float *t = malloc(sizeof(float) * d->c);
	for (int n = 0; n < d->n; n++)
	for (int k = 0; k < d->k; k++)
	for (int oy = 0; oy < ho; oy++)
	for (int ox = 0; ox < wo; ox++) {
		float seq = 0;
		for (int c = 0; c < d->c; c++) {
			float tc = 0;
			for (int i = 0; i < d->r; i++)
				for (int j = 0; j < d->s; j++) {
					int iy = oy * d->stride + i - d->pad_h;
					int ix = ox * d->stride + j - d->pad_w;
					if (iy < 0 || iy >= d->h || ix < 0 || ix >= d->w)
						continue;
					float xv = dp_round(f, x[(((size_t)n * d->c + c) * d->h +
					                          iy) * d->w + ix]);
					float wv = dp_round(f, w[(((size_t)k * d->c + c) * d->r +
					                          i) * d->s + j]);
					float prod = rnd(f, acc, xv * wv);
					if (sequential)
						seq = rnd(f, acc, seq + prod);
					else
						tc = rnd(f, acc, tc + prod);
				}
			t[c] = tc;
		}
		float s = sequential ? seq : pw(f, acc, t, d->c);
		y[(((size_t)n * d->k + k) * ho + oy) * wo + ox] =
			dp_round(f, s + dp_round(f, b[k]));
	}
	free(t);
}

static void test_bitwise(void)
{
	static const int shapes[][9] = {
		/* n c h w k r s stride pad */
		{ 2, 5, 7, 6, 3, 3, 3, 1, 1 },
		{ 1, 16, 5, 5, 2, 3, 3, 1, 1 },
		{ 1, 1, 1, 1, 1, 3, 3, 1, 1 },
		{ 1, 7, 9, 8, 2, 3, 5, 2, 2 },
		{ 1, 33, 4, 4, 2, 1, 1, 1, 0 },
	};
	for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
		const int *s = shapes[si];
		dp_desc d = { .op = DP_OP_CONV, .algo = DP_ALGO_DIRECT };
		d.n = s[0]; d.c = s[1]; d.h = s[2]; d.w = s[3]; d.k = s[4];
		d.r = s[5]; d.s = s[6]; d.stride = s[7]; d.pad_h = d.pad_w = s[8];
		size_t ni = dp_conv_input_elems(&d), nw = dp_conv_weight_elems(&d);
		size_t no = dp_conv_output_elems(&d);
		float *x = malloc(ni * 4), *w = malloc(nw * 4), *b = malloc(d.k * 4);
		float *y = malloc(no * 4), *z = malloc(no * 4);
		rng_t rng;
		rng_seed(&rng, 77 + si);
		fill_normal(&rng, x, ni);
		fill_normal(&rng, w, nw);
		fill_normal(&rng, b, (size_t)d.k);
		for (int pi = 1; pi < NPRECS; pi++) {
			if (is_int(precs[pi].p))
				continue;
			d.precision = precs[pi].p;
			d.policy = precs[pi].pol;
			for (int sq = 0; sq < 3; sq++) {
				/* 0: pairwise, 1: sequential, 2: im2col (= sequential) */
				dp_emul_opts o = { .sum = sq ? DP_EMUL_SUM_SEQUENTIAL :
				                               DP_EMUL_SUM_PAIRWISE };
				dp_desc di = d;
				di.algo = sq == 2 ? DP_ALGO_IM2COL : DP_ALGO_DIRECT;
				dp_status st = sq == 1 ? dp_emul_conv2d(&d, &o, x, w, b, y) :
					dp_kernel_run(dp_generic_kernel(&di), &di, x, w, b, y);
				direct_by_hand(&d, sq != 0, x, w, b, z);
				size_t diff = 0, first = no;
				for (size_t i = 0; i < no; i++)
					if (memcmp(&y[i], &z[i], 4) != 0) {
						diff++;
						if (first == no)
							first = i;
					}
				char spec[32];
				dp_precision_spec_name(d.precision, d.policy, spec,
				                       sizeof spec);
				if (!ok(st == DP_OK && diff == 0, "%s %s n%dc%dh%dw%d"
				        "k%d %dx%d s%d p%d: bitwise equal to the "
				        "PRECISION.md order by hand", spec,
				        sq == 2 ? "im2col (sequential order)" : sq ?
				        "direct sequential" : "direct pairwise", d.n, d.c,
				        d.h, d.w,
				        d.k, d.r, d.s, d.stride, d.pad_h))
					diag("status %s, %zu outputs differ, first %zu: %.9g "
					     "vs %.9g", dp_status_str(st), diff, first,
					     first < no ? y[first] : 0.0,
					     first < no ? z[first] : 0.0);
			}
		}
		free(x); free(w); free(b); free(y); free(z);
	}
}


/* Errors scale with u: on the same data, with every value in the normal
 * range, the first-order error of every algorithm is u times a quantity
 * that depends on the data and the algorithm only, so the relative L2
 * error of bf16 over that of fp16 is u_bf16 / u_fp16 = 2^-8 / 2^-11 = 8.
 * The realized errors are sums over ~1000 outputs of random-signed
 * roundings, so the ratio may stray from 8 by a modest factor: it must lie
 * in [2, 32]. This is sharper than the worst-case bounds (which hold with
 * a margin of 10-1000 for Winograd): rounding to a wrong format, a
 * rounding skipped, or a systematic error (a wrong constant, shared by
 * both formats) moves the ratio towards 1 or far from 8. */
static void test_scaling(void)
{
	static const int shapes[][7] = {
		{ 2, 3, 9, 11, 3, 3, 1 },
		{ 1, 5, 11, 10, 3, 5, 2 },
	};
	struct { dp_algo a; int tile; } al[] = {
		{ DP_ALGO_DIRECT, 0 }, { DP_ALGO_IM2COL, 0 },
		{ DP_ALGO_WINOGRAD, 2 }, { DP_ALGO_WINOGRAD, 4 },
		{ DP_ALGO_WINOGRAD, 6 }, { DP_ALGO_FFT, 16 },
		{ DP_ALGO_FFT_FFTW, 0 },
	};
	for (size_t si = 0; si < 2; si++)
		for (size_t ai = 0; ai < sizeof al / sizeof al[0]; ai++)
			for (int pol = 0; pol < 2; pol++) {
				const int *s = shapes[si];
				dp_desc d = { .op = DP_OP_CONV, .algo = al[ai].a,
				              .policy = pol ? DP_POLICY_ACC32 :
				                              DP_POLICY_ALL };
				d.n = s[0]; d.c = s[1]; d.h = s[2]; d.w = s[3]; d.k = s[4];
				d.r = d.s = s[5]; d.stride = 1; d.pad_h = d.pad_w = s[6];
				d.tile = al[ai].tile;
				if (d.algo == DP_ALGO_WINOGRAD && d.tile + d.r - 1 > MAXA)
					continue;
				size_t ni = dp_conv_input_elems(&d);
				size_t nw = dp_conv_weight_elems(&d);
				size_t no = dp_conv_output_elems(&d);
				float *x = malloc(ni * 4), *w = malloc(nw * 4);
				float *xr = malloc(ni * 4), *wr = malloc(nw * 4);
				float *y = malloc(no * 4);
				double *ref = malloc(no * 8), e[2];
				rng_t rng;
				rng_seed(&rng, 31337 + si);
				fill_normal(&rng, x, ni);
				fill_normal(&rng, w, nw);
				for (int f = 0; f < 2; f++) {
					d.precision = f ? DP_PREC_BF16 : DP_PREC_FP16;
					round_operand(d.precision, x, xr, ni);
					round_operand(d.precision, w, wr, nw);
					dp_ref_conv2d(&d, xr, wr, NULL, ref);
					double se = 0, sr = 0;
					if (dp_conv2d(&d, x, w, NULL, y, NULL) != DP_OK)
						se = NAN;
					for (size_t i = 0; i < no; i++) {
						se += (y[i] - ref[i]) * (y[i] - ref[i]);
						sr += ref[i] * ref[i];
					}
					e[f] = sqrt(se / sr);
				}
				double ratio = e[1] / e[0];
				ok(ratio >= 2 && ratio <= 32, "%s t%d %s r%d: relative error "
				   "bf16 / fp16 = %.2f (%.3g / %.3g), expected ~8",
				   dp_algo_name(d.algo), d.tile, pol ? "acc32" : "all", d.r,
				   ratio, e[1], e[0]);
				free(x); free(w); free(xr); free(wr); free(y); free(ref);
			}
}


/* The emulation inlines dp_round's normal-range case (emul_conv.c rfmt);
 * it must agree with dp_round bit for bit. A 1 x 1 direct convolution with
 * the weight 1 and no bias returns R(x) for every input x (products by 1
 * and sums with 0 are exact), except that -0 becomes +0: checked on random
 * bit patterns (every exponent, Inf, NaN), log-uniform magnitudes from
 * 2^-30 to 2^20 (subnormals, overflow) and exact ties between neighbours
 * of every format. */
static void test_rounding(void)
{
	enum { N = 30000 };
	static const dp_precision ps[] = { DP_PREC_TF32, DP_PREC_BF16,
		DP_PREC_FP16, DP_PREC_FP8_E4M3, DP_PREC_FP8_E5M2 };
	float *x = malloc(N * sizeof(float)), *y = malloc(N * sizeof(float));
	float one = 1;
	for (size_t pi = 0; pi < sizeof ps / sizeof ps[0]; pi++) {
		const dp_format f = fmt_of(ps[pi]);
		rng_t rng;
		rng_seed(&rng, 2024 + pi);
		for (int i = 0; i < N; i++) {
			uint32_t bits = (uint32_t)(rng_uniform(&rng) * 4294967296.0);
			float v;
			if (i % 3 == 0) {
				memcpy(&v, &bits, 4);
			} else if (i % 3 == 1) {
				v = (float)ldexp(1 + rng_uniform(&rng),
				                 (int)(rng_uniform(&rng) * 50) - 30);
				if (bits & 1)
					v = -v;
			} else {
				float a = dp_round(f, (float)rng_normal(&rng) *
				                      (float)ldexp(1, (int)(bits % 24) - 12));
				float b = dp_decode(f, dp_encode(f, a) + 1);
				v = isfinite(b) && fabsf(b - a) < fabsf(a) + 1 ?
				    (a + b) / 2 : a;
			}
			x[i] = v;
		}
		dp_desc d = { .op = DP_OP_CONV, .algo = DP_ALGO_DIRECT,
		              .precision = ps[pi] };
		d.n = 1; d.c = 1; d.h = 1; d.w = N; d.k = 1; d.r = d.s = 1;
		d.stride = 1;
		dp_status st = dp_conv2d(&d, x, &one, NULL, y, NULL);
		int bad = 0, first = -1;
		for (int i = 0; i < N && st == DP_OK; i++) {
			float want = dp_round(f, x[i]);
			int same = memcmp(&want, &y[i], 4) == 0 ||
			           (isnan(want) && isnan(y[i])) ||
			           (want == 0 && y[i] == 0);
			if (!same && first < 0)
				first = i;
			bad += !same;
		}
		if (!ok(st == DP_OK && bad == 0, "%s: the emulation rounds %d "
		        "values as dp_round does", dp_format_name(f), N))
			diag("%d differ, first x = %a: %a vs %a", bad, first >= 0 ?
			     x[first] : 0.0, first >= 0 ? dp_round(f, x[first]) : 0.0,
			     first >= 0 ? y[first] : 0.0);
	}
	free(x);
	free(y);
}

/* bf16:acc32 vs bf16:all on a long reduction. */
static void test_policy(void)
{
	dp_desc d = { .op = DP_OP_CONV, .algo = DP_ALGO_DIRECT,
	              .precision = DP_PREC_BF16 };
	d.n = 1; d.c = 512; d.h = 4; d.w = 4; d.k = 4; d.r = 3; d.s = 3;
	d.stride = 1; d.pad_h = d.pad_w = 1;
	size_t ni = dp_conv_input_elems(&d), nw = dp_conv_weight_elems(&d);
	size_t no = dp_conv_output_elems(&d);
	float *x = malloc(ni * 4), *w = malloc(nw * 4), *xr = malloc(ni * 4);
	float *wr = malloc(nw * 4), *y = malloc(no * 4);
	double *ref = malloc(no * 8);
	rng_t rng;
	rng_seed(&rng, 4096);
	fill_normal(&rng, x, ni);
	fill_normal(&rng, w, nw);
	dp_round_array(DP_FMT_BF16, x, xr, ni);
	dp_round_array(DP_FMT_BF16, w, wr, nw);
	dp_ref_conv2d(&d, xr, wr, NULL, ref);
	double e2[2] = { 0, 0 };
	for (int pol = 0; pol < 2; pol++) {
		d.policy = pol ? DP_POLICY_ACC32 : DP_POLICY_ALL;
		dp_status st = dp_conv2d(&d, x, w, NULL, y, NULL);
		for (size_t i = 0; i < no && st == DP_OK; i++)
			e2[pol] += (y[i] - ref[i]) * (y[i] - ref[i]);
		if (st != DP_OK)
			e2[pol] = INFINITY;
	}
	ok(e2[1] < e2[0], "bf16:acc32 more accurate than bf16:all over "
	   "C*R*S = 4608 terms (rms error %.3g vs %.3g)",
	   sqrt(e2[1] / no), sqrt(e2[0] / no));
	/* and im2col (sequential over 4608 terms) is worse than direct */
	d.policy = DP_POLICY_ALL;
	d.algo = DP_ALGO_IM2COL;
	double e3 = 0;
	if (dp_conv2d(&d, x, w, NULL, y, NULL) == DP_OK)
		for (size_t i = 0; i < no; i++)
			e3 += (y[i] - ref[i]) * (y[i] - ref[i]);
	else
		e3 = -1;
	ok(e3 > e2[0], "bf16 im2col (one sequential sum) less accurate than "
	   "direct (pairwise over channels): rms %.3g vs %.3g",
	   sqrt(e3 / no), sqrt(e2[0] / no));
	free(x); free(w); free(xr); free(wr); free(y); free(ref);
}

static void test_unsupported(void)
{
	dp_desc d = { .op = DP_OP_CONV, .algo = DP_ALGO_IM2COL_BLAS,
	              .precision = DP_PREC_FP16 };
	d.n = 1; d.c = 2; d.h = 5; d.w = 5; d.k = 2; d.r = 3; d.s = 3;
	d.stride = 1; d.pad_h = d.pad_w = 1;
	float x[50] = { 0 }, w[36] = { 0 }, y[50];
	ok(dp_generic_kernel(&d) == NULL, "im2col-blas fp16: no kernel");
	ok(dp_conv2d(&d, x, w, NULL, y, NULL) == DP_ERR_UNSUPPORTED,
	   "im2col-blas fp16: dp_conv2d reports unsupported");
	const char *why = dp_emul_conv_unsupported(&d);
	ok(why && strstr(why, "fp32") && strstr(why, "im2col"),
	   "the reason names fp32 and im2col: %s", why ? why : "(null)");
	d.algo = DP_ALGO_IM2COL;
	ok(dp_emul_conv_unsupported(&d) == NULL && dp_generic_kernel(&d),
	   "im2col fp16 has an emulated kernel");
}

int main(void)
{
	/* n c h w k r pad: the edge shapes */
	static const int shapes[][7] = {
		{ 1, 1, 1, 1, 1, 3, 1 },    /* 1x1 input */
		{ 1, 1, 5, 7, 2, 3, 1 },    /* C = 1, odd */
		{ 2, 3, 9, 11, 3, 3, 1 },   /* batch 2, non-multiple tiles */
		{ 1, 8, 6, 6, 2, 3, 0 },    /* pairwise depth 3, no padding */
		{ 1, 5, 7, 6, 2, 5, 2 },    /* 5x5 */
	};
	int cases = 0;
	for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
		const int *s = shapes[si];
		struct { dp_algo a; int tile; const char *pts; } al[] = {
			{ DP_ALGO_DIRECT, 0, "" }, { DP_ALGO_IM2COL, 0, "" },
			{ DP_ALGO_WINOGRAD, 2, "" }, { DP_ALGO_WINOGRAD, 4, "" },
			{ DP_ALGO_WINOGRAD, 6, "" },
			{ DP_ALGO_WINOGRAD, 4, "0,1,-1,2,-1/2" },
			{ DP_ALGO_FFT, 8, "" }, { DP_ALGO_FFT, 16, "" },
			{ DP_ALGO_FFT_FFTW, 0, "" },
		};
		for (size_t ai = 0; ai < sizeof al / sizeof al[0]; ai++)
			for (int pi = 0; pi < NPRECS; pi++) {
				dp_desc d = { .op = DP_OP_CONV, .algo = al[ai].a,
				              .precision = precs[pi].p,
				              .policy = precs[pi].pol };
				d.n = s[0]; d.c = s[1]; d.h = s[2]; d.w = s[3]; d.k = s[4];
				d.r = d.s = s[5]; d.stride = 1; d.pad_h = d.pad_w = s[6];
				d.tile = al[ai].tile;
				snprintf(d.points, sizeof d.points, "%s", al[ai].pts);
				if (d.algo == DP_ALGO_WINOGRAD && d.tile + d.r - 1 > MAXA)
					continue;
				if (d.algo == DP_ALGO_WINOGRAD && d.r == 5 && al[ai].pts[0])
					continue;
				if (dp_desc_check(&d, NULL, 0) != DP_OK)
					continue;
				char spec[32];
				dp_precision_spec_name(d.precision, d.policy, spec,
				                       sizeof spec);
				result r = run_case(&d, 1000 + si * 31 + ai);
				cases++;
				if (r.skipped) {
					ok(1, "# SKIP %s t%d %s %s n%dc%dh%dw%dk%d r%d: %s",
					   dp_algo_name(d.algo), d.tile, d.points, spec, d.n,
					   d.c, d.h, d.w, d.k, d.r, r.note);
					continue;
				}
				if (!ok(r.worst <= 1 && r.exact_frac_ok,
				        "%s t%d %s %s n%dc%dh%dw%dk%d r%d p%d: within the "
				        "derived bound", dp_algo_name(d.algo), d.tile,
				        d.points, spec, d.n, d.c, d.h, d.w, d.k, d.r,
				        d.pad_h))
					diag("%s", r.note);
				else if (r.worst > 0.3)
					diag("%s %s: %s", dp_algo_name(d.algo), spec, r.note);
			}
	}
	(void)cases;
	test_rounding();
	test_bitwise();
	test_scaling();
	test_policy();
	test_unsupported();
	return done_testing();
}
