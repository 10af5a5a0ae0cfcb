/* emul_conv.c - convolution at emulated precisions (issue 6; the contract
 * is docs/PRECISION.md, the rounding is runtime/precision.h).
 *
 * One engine for every algorithm and every non-fp32 format. Values are
 * held in double; what makes them a format's values is where they are
 * rounded, through three functions of the emulation context:
 *   opr(x)  the result of one arithmetic operation: policy all R(x),
 *           acc32 fp32 (float)x, fp64 and the integer formats x;
 *   sto(x)  an operand or transformed operand as stored: R(x) for the
 *           narrow floats (both policies), x otherwise;
 *   out     y = R(S + b) (floats), (float)(S + b) (fp64),
 *           (float)S + b (integers: acc * scales, plus the float bias).
 * Holding values in double and rounding each result to float first, then
 * to the format, gives bit for bit what float arithmetic followed by
 * dp_round gives: double rounding of +, -, * is innocuous when the wider
 * format has at least 2p + 2 bits (53 >= 2*24 + 2; 24 >= 2*11 + 2 for the
 * formats of at most 11 significant bits), and products of two values of
 * at most 12 significant bits are exact in both. So the direct kernel here
 * is bitwise what a float kernel computes in the contract's order.
 *
 * The integer formats (int16, int8): symmetric, one scale per tensor;
 * input and weights quantized with dp_fixed_scale / dp_fixed_quantize
 * (the input's scale over the whole batch), products and sums exact in
 * int64, the result acc * s_x * s_w in double, rounded to float, plus the
 * float bias. Transformed operands (Winograd U and V, FFT spectra) are
 * computed in double from the quantized operands and quantized again with
 * their own per-tensor scale (max |v| / qmax in double, round to nearest
 * even); the output transforms run in double.
 *
 * Algorithms (each one's order is written at its code):
 *   direct    per output: each channel's taps summed sequentially in (r, s)
 *             order, padding taps skipped; the channel partials pairwise
 *             (the contract's reference order; DP_EMUL_SUM_SEQUENTIAL: one
 *             running sum over (c, r, s)).
 *   im2col    the column matrix (C*R*S x HO*WO, padding entries are zeros)
 *             and the GEMM's order: one accumulator per output, starting at
 *             +0, sequential over k = (c*R + r)*S + s, as the packed fp32
 *             GEMM accumulates through all its K blocks. Numerically the
 *             sequential direct order (the padding products are exact
 *             zeros).
 *   winograd  F(m x m, r x r) with the descriptor's points: U = G g G^T,
 *             V = BT d BT^T, M = sum_c U .* V, Y = AT M AT^T. Transforms
 *             as matrix products, each product and each (sequential) sum
 *             through opr(); the transformed U and V then through sto()
 *             (policy all: every op rounded, the store changes nothing;
 *             acc32: computed in fp32, rounded once per element). The
 *             constants are rounded to the format under all (the study
 *             lists the inexact ones), to fp32 under acc32 (an fp32
 *             transform uses fp32 constants), exact doubles for fp64 and
 *             the integer formats. The C products of each M element summed
 *             pairwise (or sequentially). The output transform through
 *             opr(), then the bias as for every algorithm.
 *   fft       overlap-save tiles of T x T as conv_fft.c; an iterative
 *             radix-2 complex FFT (bit reversal, log2 T butterfly passes,
 *             rows then columns) whose every butterfly multiply and add goes
 *             through opr(), twiddles cos/sin(2 pi j/T) rounded like the
 *             Winograd constants. Scaling (dp_emul_fft_scale, default
 *             SPLIT): the forward transform of a tile grows values by up to
 *             T^2 and the unnormalized inverse again by T^2, so without
 *             scaling fp16 (max 65504) overflows on real layers; halving
 *             after every butterfly stage of the forward row pass and of the
 *             inverse row pass divides by T twice, keeps every intermediate
 *             within max|x| (forward) and the output's size (inverse), and
 *             unlike the fp32 kernels' 1/T^2 on the input it does not push
 *             small inputs into fp8's subnormals before the transform has
 *             summed them. Spectra X (tiles) and W (weights, unscaled)
 *             stored through sto(); the complex products X conj(W) summed
 *             over channels pairwise (or sequentially).
 *   fft-fftw  whole-image transforms as conv_fftw.c. FFTW cannot round
 *             inside its transforms: for the narrow floats they run in fp32
 *             (fftwf, FFTW_ESTIMATE plans cached per size), and the
 *             emulation rounds what it can reach: the operands, the spectra
 *             (sto), every product and sum over channels (opr), the output.
 *             Scaling: the input spectrum times 2^-floor(log2(L)/2), L =
 *             LH*LW (exact), before it is rounded, the inverse's result
 *             times the rest of 1/L in fp32: spectra of size ~ max|x|, not
 *             max|x| / sqrt(L), which would sink into fp8's subnormals.
 *             fp64 and the integer formats use a plain DFT in double over the
 *             same LH x LW grid instead (fftwf is single precision).
 *   im2col-blas  none: OpenBLAS sgemm is fp32 inside; NULL, so dispatch
 *             reports DP_ERR_UNSUPPORTED (dp_emul_conv_unsupported says why).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <fftw3.h>

#include "dpgen.h"
#include "emul.h"
#include "fftw_plans.h"
#include "kernels.h"
#include "precision.h"

#define MAXA DP_WINOGRAD_MAX_ALPHA
#define ALIGN 64

/* ---- the emulation context ---- */

typedef enum { EM_F64, EM_FLT, EM_INT } em_kind;

typedef struct emctx {
	em_kind kind;
	dp_format fmt;     /* EM_FLT */
	int acc32;         /* EM_FLT: policy acc32 */
	int bits;          /* EM_INT */
	dp_emul_sum sum;
	dp_emul_fft_scale scale;
	/* the inlined fast path of dp_round (see rfmt) */
	uint32_t fast_lo;  /* fp32 exponent field of the format's min normal */
	uint32_t max_bits; /* fp32 bits of the format's max finite */
	int shift;         /* 23 - the format's mantissa bits */
} emctx;

static int make_ctx(const dp_desc *d, const dp_emul_opts *o, emctx *e)
{
	memset(e, 0, sizeof *e);
	if ((unsigned)d->precision >= DP_PREC_COUNT)
		return -1;
	e->sum = o ? o->sum : DP_EMUL_SUM_PAIRWISE;
	e->scale = o ? o->fft_scale : DP_EMUL_FFT_SPLIT;
	if ((unsigned)e->sum > DP_EMUL_SUM_SEQUENTIAL ||
	    (unsigned)e->scale > DP_EMUL_FFT_NONE)
		return -1;
	switch (d->precision) {
	case DP_PREC_FP64:
		e->kind = EM_F64;
		break;
	case DP_PREC_INT16:
		e->kind = EM_INT;
		e->bits = 16;
		break;
	case DP_PREC_INT8:
		e->kind = EM_INT;
		e->bits = 8;
		break;
	default:
		e->kind = EM_FLT;
		if (dp_precision_format(d->precision, &e->fmt) != DP_OK)
			return -1;
		e->acc32 = d->policy == DP_POLICY_ACC32 &&
		           d->precision != DP_PREC_FP32;
		if (e->fmt != DP_FMT_FP32) {
			const dp_format_info *fi = dp_format_get(e->fmt);
			uint32_t lo, hi;
			memcpy(&lo, &fi->min_normal, 4);
			memcpy(&hi, &fi->max_finite, 4);
			e->fast_lo = lo >> 23;
			e->max_bits = hi;
			e->shift = 23 - fi->man_bits;
		}
		break;
	}
	return 0;
}

/* dp_round(fmt, (float)x), with its normal-range case inlined (the
 * emulation rounds billions of values in the study): a float whose
 * exponent is in the format's normal range rounds to nearest even at the
 * format's last mantissa bit, the carry rippling into the exponent; any
 * other value (subnormal in the format, overflow, Inf, NaN) goes to
 * dp_round. t_emul_conv checks the two agree bit for bit on random bit
 * patterns of every class. */
static inline double rfmt(const emctx *e, double x)
{
	float f = (float)x;
	if (e->fmt == DP_FMT_FP32)
		return f;
	uint32_t u;
	memcpy(&u, &f, 4);
	const uint32_t a = u & 0x7FFFFFFFu;
	if ((a >> 23) >= e->fast_lo) {
		const int sh = e->shift;
		uint32_t r = a + ((1u << (sh - 1)) - 1) + ((a >> sh) & 1u);
		r &= ~((1u << sh) - 1);
		if (r <= e->max_bits) {
			u = (u & 0x80000000u) | r;
			memcpy(&f, &u, 4);
			return f;
		}
	}
	return (double)dp_round(e->fmt, f);
}

/* One arithmetic result. */
static inline double opr(const emctx *e, double x)
{
	if (e->kind != EM_FLT)
		return x;
	return e->acc32 ? (double)(float)x : rfmt(e, x);
}

/* A stored (transformed) operand. */
static inline double sto(const emctx *e, double x)
{
	return e->kind == EM_FLT ? rfmt(e, x) : x;
}

/* A transform constant. */
static inline double cst(const emctx *e, double x)
{
	if (e->kind != EM_FLT)
		return x;
	return e->acc32 ? (double)(float)x : rfmt(e, x);
}

/* A product with a constant or twiddle: by +-1 it is exact (the other
 * factor is already a value of the format or fp32), so no rounding. */
static inline double mulc(const emctx *e, double c, double x)
{
	if (c == 1)
		return x;
	if (c == -1)
		return -x;
	return opr(e, c * x);
}

/* The output: S (the sum, already through opr) plus the stored bias. */
static inline float outv(const emctx *e, double s, double b)
{
	switch (e->kind) {
	case EM_F64: return (float)(s + b);
	case EM_FLT: return (float)rfmt(e, s + b);
	default: {
		float y = (float)s;
		return y + (float)b;
	}
	}
}

/* Operands: rounded (floats), as is (fp64) or quantized to integers held
 * in double with one scale (integers; *scale = 1 otherwise). */
static void prep_operand(const emctx *e, const float *src, size_t n,
                         double *dst, double *scale)
{
	*scale = 1;
	if (e->kind == EM_INT) {
		float s = 0;
		dp_fixed_scale(src, n, e->bits, &s);
		for (size_t i = 0; i < n; i++)
			dst[i] = dp_fixed_quantize_value(src[i], s, e->bits, NULL);
		*scale = s;
		return;
	}
	for (size_t i = 0; i < n; i++)
		dst[i] = sto(e, src[i]);
}

/* A transformed tensor as stored: rounded (floats; under all a no-op),
 * or quantized with its own scale (integers). */
static void store_tensor(const emctx *e, double *v, size_t n, double *scale)
{
	*scale = 1;
	if (e->kind == EM_FLT) {
		for (size_t i = 0; i < n; i++)
			v[i] = sto(e, v[i]);
		return;
	}
	if (e->kind != EM_INT)
		return;
	const double qmax = dp_fixed_qmax(e->bits);
	double mx = 0;
	for (size_t i = 0; i < n; i++)
		if (isfinite(v[i]) && fabs(v[i]) > mx)
			mx = fabs(v[i]);
	double s = mx / qmax;
	*scale = s;
	for (size_t i = 0; i < n; i++) {
		double q = s > 0 && isfinite(v[i]) ? rint(v[i] / s) : 0;
		v[i] = q > qmax ? qmax : q < -qmax ? -qmax : q;
	}
}

/* The contract's pairwise combination: P(c0, n) = n == 1 ? t[c0] :
 * P(c0, h) + P(c0 + h, n - h), h = n / 2. */
static double pairwise(const emctx *e, const double *t, int n)
{
	if (n == 1)
		return t[0];
	int h = n / 2;
	double a = pairwise(e, t, h);
	return opr(e, a + pairwise(e, t + h, n - h));
}

/* The C terms of one output (C >= 1), in the context's order. */
static double chan_sum(const emctx *e, const double *t, int n)
{
	if (e->sum == DP_EMUL_SUM_PAIRWISE)
		return pairwise(e, t, n);
	double s = t[0];
	for (int i = 1; i < n; i++)
		s = opr(e, s + t[i]);
	return s;
}

/* ---- memory layout ----
 * State: the header, then doubles (weights or their transforms, then the
 * bias). Workspace: doubles, each region 64-byte aligned. */

typedef dp_fftw_plan eplan;   /* fftw_plans.h: shared with conv_fftw.c */

typedef struct hdr {
	emctx e;
	dp_algo algo;
	double sw;                 /* the weights' (or U's, W's) scale */
	int m, r, a;               /* winograd */
	double at[MAXA * MAXA], ata[MAXA * MAXA];  /* AT (m x a), its T */
	double g[MAXA * MAXA], gt[MAXA * MAXA];    /* G (a x r), G^T */
	double bt[MAXA * MAXA], btt[MAXA * MAXA];  /* BT (a x a), BT^T */
	int t, lg;                 /* fft: tile, log2 */
	double twr[DP_FFT_MAX_TILE / 2], twi[DP_FFT_MAX_TILE / 2];
	int lh, lw, hc;            /* fftw */
	const eplan *plan;         /* fftw, narrow floats */
	size_t wcount;             /* doubles of weights (transformed) */
} hdr;

static size_t up(size_t b)
{
	return (b + ALIGN - 1) / ALIGN * ALIGN;
}

static void *align_ptr(const void *p)
{
	return (void *)(((uintptr_t)p + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1));
}

/* FFT geometry (as conv_fft.c). */
typedef struct {
	int t, lg, oy, ox, ty, tx, hp, wp, ho, wo;
	size_t area;
} fgeom;

static void fft_geometry(const dp_desc *d, fgeom *g)
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

/* Does this kernel serve d? (algorithm and variant constraints) */
static int supported(const dp_desc *d)
{
	if (d->op != DP_OP_CONV)
		return 0;
	switch (d->algo) {
	case DP_ALGO_DIRECT:
	case DP_ALGO_IM2COL:
		return 1;
	case DP_ALGO_WINOGRAD:
		return d->stride == 1 && d->r == d->s && d->tile >= 1 &&
		       d->tile + d->r - 1 <= MAXA;
	case DP_ALGO_FFT:
		return d->stride == 1 && d->tile >= DP_FFT_MIN_TILE &&
		       d->tile <= DP_FFT_MAX_TILE &&
		       (d->tile & (d->tile - 1)) == 0 && d->tile >= d->r &&
		       d->tile >= d->s;
	case DP_ALGO_FFT_FFTW:
		return d->stride == 1;
	default:
		return 0;
	}
}

static int fftw_native(const dp_desc *d)
{
	return d->precision != DP_PREC_FP64 && d->precision != DP_PREC_INT16 &&
	       d->precision != DP_PREC_INT8;
}

/* Doubles of the (transformed) weights in the state. */
static size_t weight_doubles(const dp_desc *d)
{
	size_t kc = (size_t)d->k * d->c;
	switch (d->algo) {
	case DP_ALGO_WINOGRAD: {
		size_t a = (size_t)(d->tile + d->r - 1);
		return a * a * kc;
	}
	case DP_ALGO_FFT:
		return 2 * (size_t)d->tile * d->tile * kc;
	case DP_ALGO_FFT_FFTW: {
		size_t lh = fast_size(d->h + 2 * d->pad_h);
		size_t lw = fast_size(d->w + 2 * d->pad_w);
		size_t nf = fftw_native(d) ? lh * (lw / 2 + 1) : lh * lw;
		return 2 * nf * kc;
	}
	default:
		return (size_t)dp_conv_weight_elems(d);
	}
}

static size_t state_bytes(const dp_desc *d)
{
	if (!supported(d))
		return 0;
	return ALIGN + up(sizeof(hdr)) +
	       up((weight_doubles(d) + (size_t)d->k) * sizeof(double));
}

/* Workspace regions (bytes, each up()'d). */
typedef struct {
	size_t xin;     /* the operand x^: N*C*H*W doubles */
	size_t big;     /* im2col columns / winograd V / fft X / fftw X */
	size_t part;    /* channel terms (2C doubles) */
	size_t tile;    /* per-tile scratch */
	size_t aux;     /* fftw: float plane + float spectrum, DFT tables */
} wlayout;

static void work_layout(const dp_desc *d, wlayout *l)
{
	memset(l, 0, sizeof *l);
	const size_t nci = (size_t)dp_conv_input_elems(d);
	const size_t ho = dp_conv_out_h(d), wo = dp_conv_out_w(d);
	l->xin = up(nci * sizeof(double));
	l->part = up((2 * ((size_t)d->c + 1) + ((size_t)d->c + 1) * wo) *
	             sizeof(double));
	switch (d->algo) {
	case DP_ALGO_IM2COL:
		l->big = up((size_t)d->c * d->r * d->s * ho * wo * sizeof(double));
		l->tile = up(2 * ho * wo * sizeof(double));
		break;
	case DP_ALGO_WINOGRAD: {
		size_t m = d->tile, a = m + d->r - 1;
		size_t nt = ((ho + m - 1) / m) * ((wo + m - 1) / m);
		l->big = up((size_t)d->n * a * a * d->c * nt * sizeof(double));
		break;
	}
	case DP_ALGO_FFT: {
		fgeom g;
		fft_geometry(d, &g);
		size_t nt = (size_t)g.ty * g.tx;
		l->big = up(2 * (size_t)d->n * d->c * nt * g.area * sizeof(double));
		l->tile = up(2 * g.area * sizeof(double));
		break;
	}
	case DP_ALGO_FFT_FFTW: {
		size_t lh = fast_size(d->h + 2 * d->pad_h);
		size_t lw = fast_size(d->w + 2 * d->pad_w);
		size_t nf = fftw_native(d) ? lh * (lw / 2 + 1) : lh * lw;
		l->big = up(2 * (size_t)d->n * d->c * nf * sizeof(double));
		l->tile = up(2 * nf * sizeof(double));
		if (fftw_native(d))
			l->aux = up(lh * lw * sizeof(float)) +
			         up(2 * lh * (lw / 2 + 1) * sizeof(float));
		else
			l->aux = up(2 * lh * lw * sizeof(double)) +
			         up(2 * (lh + lw) * sizeof(double)) +
			         up(2 * (lh > lw ? lh : lw) * sizeof(double));
		break;
	}
	default:
		break;
	}
}

static size_t workspace_bytes(const dp_desc *d)
{
	if (!supported(d))
		return 0;
	wlayout l;
	work_layout(d, &l);
	return ALIGN + l.xin + l.big + l.part + l.tile + l.aux;
}

/* ---- rounded matrix products for the Winograd transforms ----
 * out (p x s) = A (p x q) B (q x s): per element the products A_il B_lj
 * through opr(), summed sequentially in l through opr(). */
static void tmul(const emctx *e, const double *A, int p, int q,
                 const double *B, int s, double *out)
{
	for (int i = 0; i < p; i++)
		for (int j = 0; j < s; j++) {
			/* terms with a zero factor are exact zeros: adding them
			 * changes nothing (but the sign of a zero sum), so they are
			 * skipped, as a kernel that folds its constants does */
			double acc = 0;
			int any = 0;
			for (int l = 0; l < q; l++) {
				double a = A[i * q + l], b = B[l * s + j];
				if (a == 0 || b == 0)
					continue;
				double t = mulc(e, a, b);
				acc = any ? opr(e, acc + t) : t;
				any = 1;
			}
			out[i * s + j] = acc;
		}
}

/* ---- the emulated radix-2 FFT ---- */

/* In-place complex FFT of n = 2^lg points at stride st; sign < 0:
 * forward, exp(-2 pi i jk/n); sign > 0: inverse, unnormalized. halve: each
 * butterfly output times 1/2 (through opr: exact unless subnormal). */
static void efft1(const emctx *e, const hdr *h, double *re, double *im,
                  ptrdiff_t st, int n, int sign, int halve)
{
	for (int i = 0; i < n; i++) {
		int j = 0;
		for (int b = 0; b < h->lg; b++)
			j |= ((i >> b) & 1) << (h->lg - 1 - b);
		if (j > i) {
			double tr = re[i * st], ti = im[i * st];
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
				/* twi = R(-sin): forward multiplies by c + i twi */
				double c = h->twr[j * step];
				double s = sign < 0 ? h->twi[j * step] : -h->twi[j * step];
				ptrdiff_t p = (ptrdiff_t)(b + j) * st, q = p + half * st;
				double xr, xi;
				if (s == 0) {           /* j = 0: the twiddle is 1 */
					xr = mulc(e, c, re[q]);
					xi = mulc(e, c, im[q]);
				} else {
					xr = opr(e, mulc(e, c, re[q]) - mulc(e, s, im[q]));
					xi = opr(e, mulc(e, s, re[q]) + mulc(e, c, im[q]));
				}
				double pr = opr(e, re[p] + xr), pi = opr(e, im[p] + xi);
				double qr = opr(e, re[p] - xr), qi = opr(e, im[p] - xi);
				if (halve) {
					pr = opr(e, pr * 0.5);
					pi = opr(e, pi * 0.5);
					qr = opr(e, qr * 0.5);
					qi = opr(e, qi * 0.5);
				}
				re[p] = pr;
				im[p] = pi;
				re[q] = qr;
				im[q] = qi;
			}
	}
}

static void efft2(const emctx *e, const hdr *h, double *re, double *im,
                  int sign, int halve_rows, int halve_cols)
{
	const int t = h->t;
	for (int i = 0; i < t; i++)
		efft1(e, h, re + (ptrdiff_t)i * t, im + (ptrdiff_t)i * t, 1, t,
		      sign, halve_rows);
	for (int j = 0; j < t; j++)
		efft1(e, h, re + j, im + j, t, t, sign, halve_cols);
}

/* ---- a plain DFT in double (fftw at fp64 and the integer formats) ----
 * cs[j] = cos(2 pi j / n), sn[j] = sin(2 pi j / n). */
static void dft1(double *re, double *im, ptrdiff_t st, int n, int sign,
                 const double *cs, const double *sn, double *tmp)
{
	for (int k = 0; k < n; k++) {
		double sr = 0, si = 0;
		for (int j = 0; j < n; j++) {
			int idx = (int)(((int64_t)j * k) % n);
			double c = cs[idx], s = sign < 0 ? -sn[idx] : sn[idx];
			double xr = re[j * st], xi = im[j * st];
			sr += xr * c - xi * s;
			si += xr * s + xi * c;
		}
		tmp[2 * k] = sr;
		tmp[2 * k + 1] = si;
	}
	for (int k = 0; k < n; k++) {
		re[k * st] = tmp[2 * k];
		im[k * st] = tmp[2 * k + 1];
	}
}

static void dft2(double *re, double *im, int lh, int lw, int sign,
                 const double *tabh, const double *tabw, double *tmp)
{
	for (int i = 0; i < lh; i++)
		dft1(re + (ptrdiff_t)i * lw, im + (ptrdiff_t)i * lw, 1, lw, sign,
		     tabw, tabw + lw, tmp);
	for (int j = 0; j < lw; j++)
		dft1(re + j, im + j, lw, lh, sign, tabh, tabh + lh, tmp);
}

static void dft_tables(int n, double *tab)
{
	const double two_pi = 6.283185307179586476925;
	for (int j = 0; j < n; j++) {
		tab[j] = cos(two_pi * j / n);
		tab[n + j] = sin(two_pi * j / n);
	}
}

/* ---- prepare ---- */

static void state_parts(const void *state, hdr **h, double **w)
{
	char *p = align_ptr(state);
	*h = (hdr *)p;
	*w = (double *)(p + up(sizeof(hdr)));
}

static void transpose(const double *a, int rows, int cols, double *t)
{
	for (int i = 0; i < rows; i++)
		for (int j = 0; j < cols; j++)
			t[j * rows + i] = a[i * cols + j];
}

static dp_status prepare_winograd(hdr *h, const dp_desc *d,
                                  const double *wq, double *u)
{
	const emctx *e = &h->e;
	double at[MAXA * MAXA], g[MAXA * MAXA], bt[MAXA * MAXA];
	const int m = d->tile, r = d->r, a = m + r - 1;
	if (dp_winograd_transforms(m, r, d->points, at, g, bt) != DP_OK)
		return DP_ERR_ARG;
	h->m = m;
	h->r = r;
	h->a = a;
	for (int i = 0; i < m * a; i++)
		at[i] = cst(e, at[i]);
	for (int i = 0; i < a * r; i++)
		g[i] = cst(e, g[i]);
	for (int i = 0; i < a * a; i++)
		bt[i] = cst(e, bt[i]);
	memcpy(h->at, at, sizeof at);
	memcpy(h->g, g, sizeof g);
	memcpy(h->bt, bt, sizeof bt);
	transpose(at, m, a, h->ata);
	transpose(g, a, r, h->gt);
	transpose(bt, a, a, h->btt);
	/* U[xi][k][c] = (G g) G^T */
	const size_t kc = (size_t)d->k * d->c;
	for (int k = 0; k < d->k; k++)
		for (int c = 0; c < d->c; c++) {
			double gg[MAXA * MAXA], t1[MAXA * MAXA], uu[MAXA * MAXA];
			const double *wk = wq + ((size_t)k * d->c + c) * r * r;
			for (int i = 0; i < r * r; i++)
				gg[i] = e->kind == EM_INT ? wk[i] * h->sw : wk[i];
			tmul(e, h->g, a, r, gg, r, t1);
			tmul(e, t1, a, r, h->gt, a, uu);
			for (int xi = 0; xi < a * a; xi++)
				u[(size_t)xi * kc + (size_t)k * d->c + c] = uu[xi];
		}
	double su;
	store_tensor(e, u, (size_t)a * a * kc, &su);
	h->sw = su;
	return DP_OK;
}

static void fft_twiddles(hdr *h, int t)
{
	const double two_pi = 6.283185307179586476925;
	h->t = t;
	for (h->lg = 0; (1 << h->lg) < t; h->lg++)
		;
	for (int j = 0; j < t / 2; j++) {
		h->twr[j] = cst(&h->e, cos(two_pi * j / t));
		h->twi[j] = cst(&h->e, -sin(two_pi * j / t));
	}
}

static dp_status prepare_fft(hdr *h, const dp_desc *d, const double *wq,
                             double *spec)
{
	const emctx *e = &h->e;
	fft_twiddles(h, d->tile);
	const size_t area = (size_t)d->tile * d->tile;
	const size_t kc = (size_t)d->k * d->c;
	for (size_t kk = 0; kk < kc; kk++) {
		double *re = spec + 2 * kk * area, *im = re + area;
		memset(re, 0, 2 * area * sizeof(double));
		const double *w = wq + kk * d->r * d->s;
		for (int i = 0; i < d->r; i++)
			for (int j = 0; j < d->s; j++)
				re[i * d->tile + j] = e->kind == EM_INT ?
					w[i * d->s + j] * h->sw : w[i * d->s + j];
		efft2(e, h, re, im, -1, 0, 0);
		for (size_t f = 0; f < area; f++)
			im[f] = -im[f];             /* conj: correlation */
	}
	double s;
	store_tensor(e, spec, 2 * area * kc, &s);
	h->sw = s;
	return DP_OK;
}

static dp_status prepare_fftw(hdr *h, const dp_desc *d, const double *wq,
                              double *spec)
{
	const emctx *e = &h->e;
	const int lh = fast_size(d->h + 2 * d->pad_h);
	const int lw = fast_size(d->w + 2 * d->pad_w);
	const size_t kc = (size_t)d->k * d->c;
	h->lh = lh;
	h->lw = lw;
	h->hc = lw / 2 + 1;
	if (fftw_native(d)) {
		const size_t nf = (size_t)lh * h->hc;
		h->plan = dp_fftw_plan_get(lh, lw);
		float *real = fftwf_malloc(sizeof(float) * (size_t)lh * lw);
		fftwf_complex *cx = fftwf_malloc(sizeof(fftwf_complex) * nf);
		dp_status st = h->plan && real && cx ? DP_OK : DP_ERR_NOMEM;
		for (size_t kk = 0; st == DP_OK && kk < kc; kk++) {
			memset(real, 0, sizeof(float) * (size_t)lh * lw);
			const double *w = wq + kk * d->r * d->s;
			for (int i = 0; i < d->r; i++)
				for (int j = 0; j < d->s; j++)
					real[i * lw + j] = (float)w[i * d->s + j];
			fftwf_execute_dft_r2c(h->plan->fwd, real, cx);
			double *re = spec + 2 * kk * nf, *im = re + nf;
			for (size_t f = 0; f < nf; f++) {
				re[f] = sto(e, cx[f][0]);
				im[f] = sto(e, -cx[f][1]);  /* conj */
			}
		}
		fftwf_free(real);
		fftwf_free(cx);
		return st;
	}
	const size_t nf = (size_t)lh * lw;
	double *tabh = malloc(sizeof(double) * 2 * (size_t)(lh + lw));
	double *tmp = malloc(sizeof(double) * 2 * (size_t)(lh > lw ? lh : lw));
	if (!tabh || !tmp) {
		free(tabh);
		free(tmp);
		return DP_ERR_NOMEM;
	}
	double *tabw = tabh + 2 * lh;
	dft_tables(lh, tabh);
	dft_tables(lw, tabw);
	for (size_t kk = 0; kk < kc; kk++) {
		double *re = spec + 2 * kk * nf, *im = re + nf;
		memset(re, 0, 2 * nf * sizeof(double));
		const double *w = wq + kk * d->r * d->s;
		for (int i = 0; i < d->r; i++)
			for (int j = 0; j < d->s; j++)
				re[i * lw + j] = e->kind == EM_INT ?
					w[i * d->s + j] * h->sw : w[i * d->s + j];
		dft2(re, im, lh, lw, -1, tabh, tabw, tmp);
		for (size_t f = 0; f < nf; f++)
			im[f] = -im[f];
	}
	free(tabh);
	free(tmp);
	double s;
	store_tensor(e, spec, 2 * nf * kc, &s);
	h->sw = s;
	return DP_OK;
}

static dp_status prepare_opts(const dp_desc *d, const dp_emul_opts *o,
                              const float *weights, const float *bias,
                              void *state)
{
	if (!supported(d))
		return DP_ERR_UNSUPPORTED;
	hdr *h;
	double *w;
	state_parts(state, &h, &w);
	memset(h, 0, sizeof *h);
	if (make_ctx(d, o, &h->e) != 0)
		return DP_ERR_ARG;
	h->algo = d->algo;
	h->wcount = weight_doubles(d);
	const size_t nw = (size_t)dp_conv_weight_elems(d);
	double *b = w + h->wcount;
	/* bias: stored in the format (floats), as given otherwise */
	for (int k = 0; k < d->k; k++) {
		double v = bias ? bias[k] : 0.0;
		b[k] = h->e.kind == EM_FLT ? sto(&h->e, v) : v;
	}
	if (d->algo == DP_ALGO_DIRECT || d->algo == DP_ALGO_IM2COL) {
		prep_operand(&h->e, weights, nw, w, &h->sw);
		return DP_OK;
	}
	/* The transforming algorithms: the rounded/quantized weights first
	 * (into a scratch copy), then their transform into the state. */
	double *wq = malloc(nw * sizeof(double));
	if (!wq)
		return DP_ERR_NOMEM;
	prep_operand(&h->e, weights, nw, wq, &h->sw);
	dp_status st;
	if (d->algo == DP_ALGO_WINOGRAD)
		st = prepare_winograd(h, d, wq, w);
	else if (d->algo == DP_ALGO_FFT)
		st = prepare_fft(h, d, wq, w);
	else
		st = prepare_fftw(h, d, wq, w);
	free(wq);
	return st;
}

/* ---- execute ---- */

/* Per output row: the taps of a kernel row j land inside the input for
 * the output columns [*lo, *hi). */
static void tap_range(const dp_desc *d, int j, int wo, int *lo, int *hi)
{
	int a = 0, b = wo;
	while (a < b && a * d->stride + j - d->pad_w < 0)
		a++;
	while (b > a && (b - 1) * d->stride + j - d->pad_w >= d->w)
		b--;
	*lo = a;
	*hi = b;
}

/* The contract's order, a row of outputs at a time (the rows' sums are
 * independent, so their rounding chains overlap): per channel c the taps
 * in (r, s) order into t[c][x], starting at +0, padding taps skipped; then
 * the channel partials pairwise. Sequential: one sum per output over
 * (c, r, s), starting at +0. Integers: exact int64 sums. */
static dp_status exec_direct(const dp_desc *d, const hdr *h, const double *w,
                             const double *x, double sx, double *t,
                             float *out)
{
	const emctx *e = &h->e;
	const double *b = w + h->wcount;
	const int ho = dp_conv_out_h(d), wo = dp_conv_out_w(d);
	const int C = d->c, R = d->r, S = d->s, st = d->stride;
	const int seq = e->sum == DP_EMUL_SUM_SEQUENTIAL || e->kind == EM_INT;
	double *col = t + (size_t)C * wo;     /* one output's C partials */
	int64_t *acc = (int64_t *)(col + C);  /* integers: wo sums */
	for (int n = 0; n < d->n; n++)
	for (int k = 0; k < d->k; k++)
	for (int y = 0; y < ho; y++) {
		for (size_t i = 0; i < (size_t)(seq ? 1 : C) * wo; i++)
			t[i] = 0;
		for (int xo = 0; xo < wo; xo++)
			acc[xo] = 0;
		for (int c = 0; c < C; c++) {
			const double *xc = x + ((size_t)n * C + c) * d->h * d->w;
			const double *wc = w + ((size_t)k * C + c) * R * S;
			double *tc = seq ? t : t + (size_t)c * wo;
			for (int i = 0; i < R; i++) {
				int iy = y * st + i - d->pad_h;
				if (iy < 0 || iy >= d->h)
					continue;
				const double *row = xc + (size_t)iy * d->w;
				for (int j = 0; j < S; j++) {
					const double wv = wc[i * S + j];
					const int off = j - d->pad_w;
					int lo, hi;
					tap_range(d, j, wo, &lo, &hi);
					if (e->kind == EM_INT) {
						for (int xo = lo; xo < hi; xo++)
							acc[xo] += (int64_t)row[xo * st + off] *
							           (int64_t)wv;
					} else if (e->kind == EM_F64) {
						for (int xo = lo; xo < hi; xo++)
							tc[xo] += row[xo * st + off] * wv;
					} else {
						for (int xo = lo; xo < hi; xo++)
							tc[xo] = opr(e, tc[xo] +
							             opr(e, row[xo * st + off] * wv));
					}
				}
			}
		}
		float *o = out + (((size_t)n * d->k + k) * ho + y) * wo;
		for (int xo = 0; xo < wo; xo++) {
			double s;
			if (e->kind == EM_INT) {
				s = (double)acc[xo] * sx * h->sw;
			} else if (seq) {
				s = t[xo];
			} else {
				for (int c = 0; c < C; c++)
					col[c] = t[(size_t)c * wo + xo];
				s = pairwise(e, col, C);
			}
			o[xo] = outv(e, s, b[k]);
		}
	}
	return DP_OK;
}

static dp_status exec_im2col(const dp_desc *d, const hdr *h, const double *w,
                             const double *x, double sx, double *cols,
                             double *acc, float *out)
{
	int64_t *iacc = (int64_t *)(acc + (size_t)dp_conv_out_h(d) *
	                                  dp_conv_out_w(d));
	const emctx *e = &h->e;
	const double *b = w + h->wcount;
	const int ho = dp_conv_out_h(d), wo = dp_conv_out_w(d);
	const size_t np = (size_t)ho * wo, kk = (size_t)d->c * d->r * d->s;
	for (int n = 0; n < d->n; n++) {
		/* the column matrix of image n */
		for (int c = 0; c < d->c; c++)
		for (int i = 0; i < d->r; i++)
		for (int j = 0; j < d->s; j++) {
			double *row = cols + ((size_t)(c * d->r + i) * d->s + j) * np;
			const double *plane = x + ((size_t)n * d->c + c) * d->h * d->w;
			for (int y = 0; y < ho; y++)
				for (int xo = 0; xo < wo; xo++) {
					int iy = y * d->stride + i - d->pad_h;
					int ix = xo * d->stride + j - d->pad_w;
					row[(size_t)y * wo + xo] = iy >= 0 && iy < d->h &&
						ix >= 0 && ix < d->w ?
						plane[(size_t)iy * d->w + ix] : 0.0;
				}
		}
		/* the GEMM: per output, sequential over k = (c, r, s) from +0
		 * (all outputs of a filter advance together) */
		for (int k = 0; k < d->k; k++) {
			const double *wk = w + (size_t)k * kk;
			for (size_t p = 0; p < np; p++) {
				acc[p] = 0;
				iacc[p] = 0;
			}
			for (size_t q = 0; q < kk; q++) {
				const double a = wk[q], *cq = cols + q * np;
				if (e->kind == EM_INT)
					for (size_t p = 0; p < np; p++)
						iacc[p] += (int64_t)a * (int64_t)cq[p];
				else if (e->kind == EM_F64)
					for (size_t p = 0; p < np; p++)
						acc[p] += a * cq[p];
				else
					for (size_t p = 0; p < np; p++)
						acc[p] = opr(e, acc[p] + opr(e, a * cq[p]));
			}
			for (size_t p = 0; p < np; p++) {
				double s = e->kind == EM_INT ?
					(double)iacc[p] * sx * h->sw : acc[p];
				out[((size_t)n * d->k + k) * np + p] = outv(e, s, b[k]);
			}
		}
	}
	return DP_OK;
}

static dp_status exec_winograd(const dp_desc *d, const hdr *h,
                               const double *u, const double *x, double sx,
                               double *v, double *t, float *out)
{
	const emctx *e = &h->e;
	const int m = h->m, a = h->a, xis = a * a, C = d->c;
	const double *b = u + h->wcount;
	const int ho = dp_conv_out_h(d), wo = dp_conv_out_w(d);
	const int tyn = (ho + m - 1) / m, txn = (wo + m - 1) / m;
	const size_t nt = (size_t)tyn * txn, kc = (size_t)d->k * C;
	/* V[n][xi][c][tile] = (BT d) BT^T */
	for (int n = 0; n < d->n; n++)
		for (int c = 0; c < C; c++) {
			const double *plane = x + ((size_t)n * C + c) * d->h * d->w;
			for (size_t tile = 0; tile < nt; tile++) {
				int y0 = (int)(tile / txn) * m - d->pad_h;
				int x0 = (int)(tile % txn) * m - d->pad_w;
				double dt[MAXA * MAXA], t1[MAXA * MAXA], vv[MAXA * MAXA];
				for (int i = 0; i < a; i++)
					for (int j = 0; j < a; j++) {
						int y = y0 + i, xx = x0 + j;
						double val = y >= 0 && y < d->h && xx >= 0 &&
							xx < d->w ? plane[(size_t)y * d->w + xx] : 0;
						dt[i * a + j] = e->kind == EM_INT ? val * sx : val;
					}
				tmul(e, h->bt, a, a, dt, a, t1);
				tmul(e, t1, a, a, h->btt, a, vv);
				for (int xi = 0; xi < xis; xi++)
					v[(((size_t)n * xis + xi) * C + c) * nt + tile] = vv[xi];
			}
		}
	double sv;
	store_tensor(e, v, (size_t)d->n * xis * C * nt, &sv);
	/* M = sum_c U .* V, then Y = (AT M) AT^T, per (n, k, tile) */
	for (int n = 0; n < d->n; n++)
	for (int k = 0; k < d->k; k++)
	for (size_t tile = 0; tile < nt; tile++) {
		double mm[MAXA * MAXA], t1[MAXA * MAXA], yy[MAXA * MAXA];
		for (int xi = 0; xi < xis; xi++) {
			const double *uk = u + (size_t)xi * kc + (size_t)k * C;
			const double *vn = v + ((size_t)n * xis + xi) * C * nt + tile;
			if (e->kind == EM_INT) {
				int64_t acc = 0;
				for (int c = 0; c < C; c++)
					acc += (int64_t)uk[c] * (int64_t)vn[(size_t)c * nt];
				mm[xi] = (double)acc * h->sw * sv;
				continue;
			}
			for (int c = 0; c < C; c++)
				t[c] = opr(e, uk[c] * vn[(size_t)c * nt]);
			mm[xi] = chan_sum(e, t, C);
		}
		tmul(e, h->at, m, a, mm, a, t1);
		tmul(e, t1, m, a, h->ata, m, yy);
		int oy = (int)(tile / txn) * m, ox = (int)(tile % txn) * m;
		float *o = out + ((size_t)n * d->k + k) * ho * wo;
		for (int i = 0; i < m && oy + i < ho; i++)
			for (int j = 0; j < m && ox + j < wo; j++)
				o[(size_t)(oy + i) * wo + ox + j] = outv(e, yy[i * m + j],
				                                         b[k]);
	}
	return DP_OK;
}

/* The complex products of one frequency over the channels: Z = sum_c
 * X_c conj(W_kc) (conj already in the state), in the context's order. */
static void spectral_sum(const emctx *e, const double *xr, const double *xi,
                         size_t xstride, const double *wr, const double *wi,
                         size_t wstride, int C, double scale, double *t,
                         double *zr, double *zi)
{
	if (e->kind == EM_INT) {
		int64_t ar = 0, ai = 0;
		for (int c = 0; c < C; c++) {
			int64_t a = (int64_t)xr[c * xstride], bb = (int64_t)xi[c * xstride];
			int64_t p = (int64_t)wr[c * wstride], q = (int64_t)wi[c * wstride];
			ar += a * p - bb * q;
			ai += a * q + bb * p;
		}
		*zr = (double)ar * scale;
		*zi = (double)ai * scale;
		return;
	}
	double *tr = t, *ti = t + C;
	for (int c = 0; c < C; c++) {
		double a = xr[c * xstride], bb = xi[c * xstride];
		double p = wr[c * wstride], q = wi[c * wstride];
		tr[c] = opr(e, opr(e, a * p) - opr(e, bb * q));
		ti[c] = opr(e, opr(e, a * q) + opr(e, bb * p));
	}
	*zr = chan_sum(e, tr, C);
	*zi = chan_sum(e, ti, C);
}

static dp_status exec_fft(const dp_desc *d, const hdr *h, const double *w,
                          const double *x, double sx, double *X, double *t,
                          double *tilebuf, float *out)
{
	const emctx *e = &h->e;
	fgeom g;
	fft_geometry(d, &g);
	const int C = d->c, T = g.t;
	const size_t area = g.area, nt = (size_t)g.ty * g.tx;
	const double *b = w + h->wcount;
	const double inv_area = 1.0 / (double)area;      /* a power of two */
	const int sc = e->scale;
	/* forward: X[n][c][tile] (re area, im area) */
	for (int n = 0; n < d->n; n++)
		for (int c = 0; c < C; c++) {
			const double *plane = x + ((size_t)n * C + c) * d->h * d->w;
			for (size_t tile = 0; tile < nt; tile++) {
				int y0 = (int)(tile / g.tx) * g.oy - d->pad_h;
				int x0 = (int)(tile % g.tx) * g.ox - d->pad_w;
				double *re = X + 2 * (((size_t)n * C + c) * nt + tile) * area;
				double *im = re + area;
				for (int i = 0; i < T; i++)
					for (int j = 0; j < T; j++) {
						int y = y0 + i, xx = x0 + j;
						double val = y >= 0 && y < d->h && xx >= 0 &&
							xx < d->w ? plane[(size_t)y * d->w + xx] : 0;
						if (e->kind == EM_INT)
							val *= sx;
						if (sc == DP_EMUL_FFT_INPUT)
							val = opr(e, val * inv_area);
						re[i * T + j] = val;
						im[i * T + j] = 0;
					}
				efft2(e, h, re, im, -1,
				      sc == DP_EMUL_FFT_SPLIT || sc == DP_EMUL_FFT_FORWARD,
				      sc == DP_EMUL_FFT_FORWARD);
			}
		}
	double sxx;
	store_tensor(e, X, 2 * (size_t)d->n * C * nt * area, &sxx);
	const double zscale = sxx * h->sw;
	double *zr = tilebuf, *zi = tilebuf + area;
	for (int n = 0; n < d->n; n++)
	for (int k = 0; k < d->k; k++)
	for (size_t tile = 0; tile < nt; tile++) {
		const double *x0p = X + 2 * ((size_t)n * C * nt + tile) * area;
		const double *w0p = w + 2 * (size_t)k * C * area;
		for (size_t f = 0; f < area; f++)
			spectral_sum(e, x0p + f, x0p + area + f, 2 * nt * area,
			             w0p + f, w0p + area + f, 2 * area, C, zscale, t,
			             &zr[f], &zi[f]);
		efft2(e, h, zr, zi, 1, sc == DP_EMUL_FFT_SPLIT, 0);
		const int oy = (int)(tile / g.tx) * g.oy, ox = (int)(tile % g.tx) * g.ox;
		const int nr = g.ho - oy < g.oy ? g.ho - oy : g.oy;
		const int ncl = g.wo - ox < g.ox ? g.wo - ox : g.ox;
		float *o = out + ((size_t)n * d->k + k) * g.ho * g.wo;
		for (int i = 0; i < nr; i++)
			for (int j = 0; j < ncl; j++) {
				double s = zr[i * T + j];
				if (sc == DP_EMUL_FFT_NONE)
					s = opr(e, s * inv_area);
				o[(size_t)(oy + i) * g.wo + ox + j] = outv(e, s, b[k]);
			}
	}
	return DP_OK;
}

static dp_status exec_fftw(const dp_desc *d, const hdr *h, const double *w,
                           const double *x, double sx, double *X, double *t,
                           double *zbuf, char *aux, float *out)
{
	const emctx *e = &h->e;
	const int C = d->c, lh = h->lh, lw = h->lw;
	const int ho = dp_conv_out_h(d), wo = dp_conv_out_w(d);
	const double *b = w + h->wcount;
	const double L = (double)lh * lw;
	const int native = h->e.kind == EM_FLT;
	const size_t nf = native ? (size_t)lh * h->hc : (size_t)lh * lw;
	float *real = NULL;
	fftwf_complex *cx = NULL;
	double *cre = NULL, *tabh = NULL, *tabw = NULL, *tmp = NULL;
	if (native) {
		real = (float *)aux;
		cx = (fftwf_complex *)(aux + up((size_t)lh * lw * sizeof(float)));
	} else {
		cre = (double *)aux;
		tabh = (double *)(aux + up(2 * (size_t)lh * lw * sizeof(double)));
		tabw = tabh + 2 * lh;
		tmp = (double *)((char *)tabh + up(2 * (size_t)(lh + lw) *
		                                   sizeof(double)));
		dft_tables(lh, tabh);
		dft_tables(lw, tabw);
	}
	/* Forward spectra of every (n, c): X[n][c] (re nf, im nf). */
	int e1 = 0;
	while ((1 << (2 * (e1 + 1))) <= (int)L)
		e1++;                                      /* floor(log2 L / 2) */
	const double s1 = ldexp(1.0, -e1), s2 = 1.0 / (L * s1);
	for (int n = 0; n < d->n; n++)
		for (int c = 0; c < C; c++) {
			const double *plane = x + ((size_t)n * C + c) * d->h * d->w;
			double *re = X + 2 * ((size_t)n * C + c) * nf, *im = re + nf;
			if (native) {
				memset(real, 0, sizeof(float) * (size_t)lh * lw);
				for (int y = 0; y < d->h; y++)
					for (int xx = 0; xx < d->w; xx++)
						real[(size_t)(y + d->pad_h) * lw + xx + d->pad_w] =
							(float)plane[(size_t)y * d->w + xx];
				fftwf_execute_dft_r2c(h->plan->fwd, real, cx);
				for (size_t f = 0; f < nf; f++) {
					re[f] = (float)(cx[f][0] * s1);
					im[f] = (float)(cx[f][1] * s1);
				}
			} else {
				memset(re, 0, 2 * nf * sizeof(double));
				for (int y = 0; y < d->h; y++)
					for (int xx = 0; xx < d->w; xx++)
						re[(size_t)(y + d->pad_h) * lw + xx + d->pad_w] =
							plane[(size_t)y * d->w + xx] *
							(e->kind == EM_INT ? sx : 1.0);
				dft2(re, im, lh, lw, -1, tabh, tabw, tmp);
			}
		}
	double sxx;
	store_tensor(e, X, 2 * (size_t)d->n * C * nf, &sxx);
	const double zscale = sxx * h->sw;
	double *zr = zbuf, *zi = zbuf + nf;
	for (int n = 0; n < d->n; n++)
		for (int k = 0; k < d->k; k++) {
			const double *x0p = X + 2 * (size_t)n * C * nf;
			const double *w0p = w + 2 * (size_t)k * C * nf;
			for (size_t f = 0; f < nf; f++)
				spectral_sum(e, x0p + f, x0p + nf + f, 2 * nf, w0p + f,
				             w0p + nf + f, 2 * nf, C, zscale, t, &zr[f],
				             &zi[f]);
			float *o = out + ((size_t)n * d->k + k) * ho * wo;
			if (native) {
				for (size_t f = 0; f < nf; f++) {
					cx[f][0] = (float)zr[f];
					cx[f][1] = (float)zi[f];
				}
				fftwf_execute_dft_c2r(h->plan->inv, cx, real);
				for (int i = 0; i < ho; i++)
					for (int j = 0; j < wo; j++) {
						double s = (float)(real[(size_t)i * lw + j] * s2);
						o[(size_t)i * wo + j] = outv(e, s, b[k]);
					}
			} else {
				double *ci = cre + nf;
				memcpy(cre, zr, nf * sizeof(double));
				memcpy(ci, zi, nf * sizeof(double));
				dft2(cre, ci, lh, lw, 1, tabh, tabw, tmp);
				for (int i = 0; i < ho; i++)
					for (int j = 0; j < wo; j++)
						o[(size_t)i * wo + j] = outv(e,
							cre[(size_t)i * lw + j] / L, b[k]);
			}
		}
	return DP_OK;
}

static dp_status execute(const dp_desc *d, const void *state,
                         const float *input, float *output, void *workspace)
{
	if (!supported(d))
		return DP_ERR_UNSUPPORTED;
	hdr *h;
	double *w;
	state_parts(state, &h, &w);
	if (h->algo != d->algo || h->wcount != weight_doubles(d))
		return DP_ERR_ARG;
	wlayout l;
	work_layout(d, &l);
	char *p = align_ptr(workspace);
	double *x = (double *)p;
	double *big = (double *)(p + l.xin);
	double *part = (double *)(p + l.xin + l.big);
	double *tile = (double *)(p + l.xin + l.big + l.part);
	char *aux = p + l.xin + l.big + l.part + l.tile;
	double sx;
	prep_operand(&h->e, input, (size_t)dp_conv_input_elems(d), x, &sx);
	switch (d->algo) {
	case DP_ALGO_DIRECT:
		return exec_direct(d, h, w, x, sx, part, output);
	case DP_ALGO_IM2COL:
		return exec_im2col(d, h, w, x, sx, big, tile, output);
	case DP_ALGO_WINOGRAD:
		return exec_winograd(d, h, w, x, sx, big, part, output);
	case DP_ALGO_FFT:
		return exec_fft(d, h, w, x, sx, big, part, tile, output);
	case DP_ALGO_FFT_FFTW:
		return exec_fftw(d, h, w, x, sx, big, part, tile, aux, output);
	default:
		return DP_ERR_UNSUPPORTED;
	}
}

static dp_status prepare(const dp_desc *d, const float *weights,
                         const float *bias, void *state)
{
	return prepare_opts(d, NULL, weights, bias, state);
}

#define EMUL_KERNEL(var, nm, al) \
	static const dp_kernel var = { \
		.name = nm, \
		.desc = { .op = DP_OP_CONV, .algo = al, \
		          .precision = DP_PREC_FP64 }, \
		.generic = 1, \
		.state_bytes = state_bytes, \
		.prepare = prepare, \
		.workspace_bytes = workspace_bytes, \
		.execute = execute, \
	}

EMUL_KERNEL(k_direct, "dp_conv_direct_emul", DP_ALGO_DIRECT);
EMUL_KERNEL(k_im2col, "dp_conv_im2col_emul", DP_ALGO_IM2COL);
EMUL_KERNEL(k_winograd, "dp_conv_winograd_emul", DP_ALGO_WINOGRAD);
EMUL_KERNEL(k_fft, "dp_conv_fft_emul", DP_ALGO_FFT);
EMUL_KERNEL(k_fftw, "dp_conv_fftw_emul", DP_ALGO_FFT_FFTW);

const char *dp_emul_conv_unsupported(const dp_desc *d)
{
	if (!d || d->op != DP_OP_CONV)
		return "not a convolution";
	if (d->algo == DP_ALGO_IM2COL_BLAS)
		return "im2col-blas calls OpenBLAS sgemm, which computes in fp32 "
		       "only; use im2col for emulated precisions";
	if (d->precision == DP_PREC_FP32)
		return "fp32 is native: no emulation";
	if (!dp_algo_name(d->algo) || dp_algo_op(d->algo) != DP_OP_CONV)
		return "not a convolution algorithm";
	return supported(d) ? NULL : "the variant is out of range";
}

const dp_kernel *dp_emul_conv_kernel(const dp_desc *d)
{
	if (!d || d->op != DP_OP_CONV || d->precision == DP_PREC_FP32)
		return NULL;
	switch (d->algo) {
	case DP_ALGO_DIRECT: return &k_direct;
	case DP_ALGO_IM2COL: return &k_im2col;
	case DP_ALGO_WINOGRAD: return &k_winograd;
	case DP_ALGO_FFT: return &k_fft;
	case DP_ALGO_FFT_FFTW: return &k_fftw;
	default: return NULL;   /* im2col-blas: fp32 only (OpenBLAS) */
	}
}

dp_status dp_emul_conv2d(const dp_desc *d, const dp_emul_opts *opts,
                         const float *in, const float *weights,
                         const float *bias, float *out)
{
	if (!d || !in || !weights || !out)
		return DP_ERR_ARG;
	dp_status st = dp_desc_check(d, NULL, 0);
	if (st != DP_OK)
		return st;
	if (!supported(d))
		return DP_ERR_UNSUPPORTED;
	void *state = malloc(state_bytes(d) + 1);
	void *ws = malloc(workspace_bytes(d) + 1);
	if (!state || !ws) {
		st = DP_ERR_NOMEM;
		goto done;
	}
	st = prepare_opts(d, opts, weights, bias, state);
	if (st == DP_OK)
		st = execute(d, state, in, out, ws);
done:
	free(state);
	free(ws);
	return st;
}
