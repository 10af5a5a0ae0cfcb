/* t_emul_matmul.c - matmul at emulated precisions (runtime/emul_matmul.c,
 * docs/PRECISION.md "Matmul"): every algorithm (naive, gemm, svd at full
 * and lower rank, log exact and F = 8, lns exact bins and Mitchell) at
 * every emulated precision and policy, on 1x1x1, M = 1, K = 1, odd sizes,
 * 64x300x33 and a K = 800 shape (the gemm's K blocks), against the fp64
 * reference on the ROUNDED inputs (A^ = R(A), B^ = R(B); for int8/int16
 * the dequantized values).
 *
 * Bounds (u: the format's unit roundoff, eta: half its least subnormal,
 * the absolute error of a rounding that underflows; u32 = 2^-24,
 * u64 = 2^-53; p_x = a^_x b^_x, s_x the exact partial sums):
 *  - one rounded sum after another (naive; a gemm block): with sums
 *    rounded to unit us and each product to relative rho_x (its own
 *    error) then unit up, additive etap, the error e_x of the running sum
 *    obeys  e_x <= (1 + us) (e_{x-1} + d_x) + us |s_x|,
 *    d_x = |p_x| ((1 + rho_x)(1 + up) - 1) + etap
 *    (from s^_x = (s^_{x-1} + p^_x)(1 + eps); subnormal sums are exact).
 *    This is the gamma_K bound of Higham 3.1 written per step, with the
 *    partial sums |s_x| in place of sum |p|: it never needs K u < 1.
 *  - gemm: block sums t_b with bounds E_b; C_b = R(C_{b-1} + t_b):
 *    E <= (1 + us)(E + E_b) + us |C_b|.
 *  - all: us = up = u, etap = eta. acc32: us = u32, up = 0 (a product of
 *    two stored values is exact in float), etap = 2^-150, then the output
 *    rounding adds u (|c| + E) + eta. fp64: us = u64, up = 0, output
 *    u32 (|c| + E) + 2^-150. int: acc exact, acc * (s_a s_b) rounded in
 *    double then float: (u32 + 2^-52) |c| + 2^-150.
 *  - svd (P = U_k S_k, Q = V_k^T from the test's own dgesdd of B^, in
 *    double; G = |A^| |P| |Q|): each term of the expansion passes at most
 *    n = K + k + 5 roundings (P^, Q^, the product and K sums of T, T's
 *    store, the product and k sums of C), so all: ((1+u)^n - 1) G;
 *    acc32: ((1+u)^4 (1+u32)^(K+k) - 1) G; fp64: ((1+u64)^(K+k+2) - 1) G
 *    then the output; underflow adds eta (1+u)^n (k sum|a^| + sum_r
 *    (|A^||P|)_r + (K+1) k + k + 1) (|q| <= 1); the SVD itself
 *    |PQ - B^| <= 10 (K+N) u64 ||B^||_F per element (LAPACK's backward
 *    error, p(n) = 10 (K+N)), times sum |a^|. int: the quantization
 *    errors |dP| <= s_p/2 + u32|P| (P is rounded to float first), the same
 *    for Q and T (its scale from max(|A^|(|P|+|dP|))), propagated through
 *    both products; the output as for int.
 *  - log: rho_x per product: F bits: 2^(2^-F) - 1 (each log within half
 *    a step) + 4 u64 (the tables); exact float logs: as t_matmul_log,
 *    1.05 (ln2 1.5 2^-23 (|la|+|lb|) + 2^-23); fp64 exact logs:
 *    1.05 (ln2 (2^-52 (|la|+|lb|) + u64 |la+lb|) + 2^-52). Then the
 *    product is rounded (all: u, eta; acc32 and int: u32) and summed as
 *    above.
 *  - lns: rho = 2^(2^-F) - 1 per product (quantized logs), Mitchell adds
 *    (1 + x)/2^x - 1 at x = the largest r_lo / 2^F; truncation below 2^-O
 *    at most K 2^-O; E = rho' S + K 2^-O; the LNS rounding adds
 *    rho (|c| + E), the format u (1 + rho)(|c| + E) + eta.
 *  - every bound adds the reference's own error gamma_K(u64) sum |p|;
 *    int: the reference's inputs are the dequantized floats R32(q s),
 *    the kernel's are q s exactly: ((1+u32)/(1-u32))^2 - 1 per product.
 * A bound is only a test when it is informative: below half of sum |p|
 * (fp8 with K = 300 is not: (17/16)^300 is astronomically large); the
 * naive, gemm and svd results (float formats, fp64; gemm and naive also
 * int), and log with F bits at the float formats, are in any case checked
 * bit for bit against an independent model of the documented order
 * written here, with its own rounding of doubles (nearbyint on the ulp
 * scale) for the svd factors and the log products. */
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "util.h"

#include "emul.h"
#include "kernels.h"
#include "precision.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#define LN2 0.69314718055994530942
#define U32 ldexp(1.0, -24)
#define U64 ldexp(1.0, -53)
#define ETA32 ldexp(1.0, -150)

enum { FP64, FLT, INT };

typedef struct cfg {
	dp_precision prec;
	dp_policy pol;
	int kind;
	dp_format fmt;
	int bits;
	double u, eta;   /* the format's (FLT) */
} cfg;

static const cfg configs[] = {
	{ DP_PREC_FP64, DP_POLICY_ALL, FP64, DP_FMT_FP32, 0, 0, 0 },
	{ DP_PREC_TF32, DP_POLICY_ALL, FLT, DP_FMT_TF32, 0, 0, 0 },
	{ DP_PREC_TF32, DP_POLICY_ACC32, FLT, DP_FMT_TF32, 0, 0, 0 },
	{ DP_PREC_BF16, DP_POLICY_ALL, FLT, DP_FMT_BF16, 0, 0, 0 },
	{ DP_PREC_BF16, DP_POLICY_ACC32, FLT, DP_FMT_BF16, 0, 0, 0 },
	{ DP_PREC_FP16, DP_POLICY_ALL, FLT, DP_FMT_FP16, 0, 0, 0 },
	{ DP_PREC_FP16, DP_POLICY_ACC32, FLT, DP_FMT_FP16, 0, 0, 0 },
	{ DP_PREC_FP8_E4M3, DP_POLICY_ALL, FLT, DP_FMT_E4M3, 0, 0, 0 },
	{ DP_PREC_FP8_E4M3, DP_POLICY_ACC32, FLT, DP_FMT_E4M3, 0, 0, 0 },
	{ DP_PREC_FP8_E5M2, DP_POLICY_ALL, FLT, DP_FMT_E5M2, 0, 0, 0 },
	{ DP_PREC_FP8_E5M2, DP_POLICY_ACC32, FLT, DP_FMT_E5M2, 0, 0, 0 },
	{ DP_PREC_INT16, DP_POLICY_ALL, INT, DP_FMT_FP32, 16, 0, 0 },
	{ DP_PREC_INT8, DP_POLICY_ALL, INT, DP_FMT_FP32, 8, 0, 0 },
};
#define NCFG (sizeof configs / sizeof configs[0])

static cfg cfg_full(cfg c)
{
	if (c.kind == FLT) {
		const dp_format_info *fi = dp_format_get(c.fmt);
		c.u = fi->unit_roundoff;
		c.eta = fi->min_subnormal / 2.0;
	}
	return c;
}

static const char *cfg_name(const cfg *c, char *buf, size_t len)
{
	dp_precision_spec_name(c->prec, c->pol, buf, len);
	return buf;
}

/* A^ = R(A): rounded, quantized-dequantized, or as is. */
static void round_input(const cfg *c, const float *x, size_t n, float *y)
{
	float s = 0;
	if (c->kind == INT && dp_fixed_scale(x, n, c->bits, &s) != DP_OK)
		s = 0;
	for (size_t i = 0; i < n; i++)
		y[i] = c->kind == FLT ? dp_round(c->fmt, x[i]) :
		       c->kind == INT ? dp_fixed_round(x[i], s, c->bits) : x[i];
}

static double gamma64(int n)
{
	return n * U64 / (1 - n * U64);
}

/* ---- the bound of a sequence of rounded sums (see the top) ---- */

typedef struct units { double us, up, etap; } units;

static units units_of(const cfg *c)
{
	units x = { U64, 0, 0 };
	if (c->kind == FLT && c->pol == DP_POLICY_ALL)
		x = (units){ c->u, c->u, c->eta };
	else if (c->kind == FLT || c->kind == INT)
		x = (units){ U32, 0, ETA32 };
	return x;
}

/* Terms p[0..n) with relative errors rho (NULL: 0); returns the bound,
 * *sum the exact sum, *abs the sum of |p|. */
static double seq_bound(const double *p, const double *rho, int n,
                        units un, double *sum, double *abs)
{
	double e = 0, s = 0, a = 0;
	for (int x = 0; x < n; x++) {
		s += p[x];
		a += fabs(p[x]);
		double r = rho ? rho[x] : 0;
		double d = fabs(p[x]) * ((1 + r) * (1 + un.up) - 1) + un.etap;
		e = (1 + un.us) * (e + d) + un.us * fabs(s);
	}
	*sum = s;
	*abs = a;
	return e;
}

/* The output rounding of acc32 (format) and fp64 (float). */
static double output_bound(const cfg *c, double e, double exact)
{
	if (c->kind == FLT && c->pol == DP_POLICY_ACC32)
		return e + c->u * (fabs(exact) + e) + c->eta;
	if (c->kind == FP64)
		return e + U32 * (fabs(exact) + e) + ETA32;
	return e;
}

static int gemm_kc(int k)
{
	if (k <= 384)
		return k;
	int blocks = (k + 255) / 256;
	return (k + blocks - 1) / blocks;
}

/* ---- the independent model of naive and gemm, bit for bit ---- */

static void model_dense(const cfg *c, int m, int k, int n, const float *a,
                        const float *b, int kc, float *y)
{
	float sa = 0, sb = 0;
	if (c->kind == INT) {
		dp_fixed_scale(a, (size_t)m * k, c->bits, &sa);
		dp_fixed_scale(b, (size_t)k * n, c->bits, &sb);
	}
	for (int i = 0; i < m; i++)
		for (int j = 0; j < n; j++) {
			if (c->kind == INT) {
				long long acc = 0;
				for (int p = 0; p < k; p++)
					acc += (long long)dp_fixed_quantize_value(
						a[i * k + p], sa, c->bits, NULL) *
					       dp_fixed_quantize_value(b[p * n + j], sb,
					                               c->bits, NULL);
				y[i * n + j] = (float)((double)acc *
				                       ((double)sa * sb));
				continue;
			}
			double cd = 0;
			float cf = 0;
			for (int p0 = 0; p0 < k; p0 += kc) {
				double td = 0;
				float tf = 0;
				for (int p = p0; p < k && p < p0 + kc; p++) {
					if (c->kind == FP64) {
						td += (double)a[i * k + p] * b[p * n + j];
						continue;
					}
					float x = dp_round(c->fmt, a[i * k + p]);
					float w = dp_round(c->fmt, b[p * n + j]);
					if (c->pol == DP_POLICY_ALL)
						tf = dp_round(c->fmt,
						              tf + dp_round(c->fmt, x * w));
					else
						tf += x * w;
				}
				if (c->kind == FP64)
					cd = p0 ? cd + td : td;
				else if (c->pol == DP_POLICY_ALL)
					cf = p0 ? dp_round(c->fmt, cf + tf) : tf;
				else
					cf = p0 ? cf + tf : tf;
			}
			y[i * n + j] = c->kind == FP64 ? (float)cd :
			               c->pol == DP_POLICY_ACC32 ?
			               dp_round(c->fmt, cf) : cf;
		}
}

static int same_bits(const float *x, const float *y, size_t n, size_t *at)
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(&x[i], &y[i], sizeof x[i]) != 0) {
			*at = i;
			return 0;
		}
	return 1;
}

/* ---- one problem ---- */

typedef struct prob {
	int m, k, n;
	float *a, *b, *ah, *bh, *y;
	double *p;   /* K products of one output */
	double *rho;
} prob;

static prob prob_new(int m, int k, int n, uint64_t seed)
{
	prob q = { m, k, n, malloc((size_t)m * k * 4), malloc((size_t)k * n * 4),
	           malloc((size_t)m * k * 4), malloc((size_t)k * n * 4),
	           malloc((size_t)m * n * 4), malloc((size_t)k * 8),
	           malloc((size_t)k * 8) };
	rng_t r;
	rng_seed(&r, seed);
	fill_normal(&r, q.a, (size_t)m * k);
	fill_normal(&r, q.b, (size_t)k * n);
	return q;
}

static void prob_free(prob *q)
{
	free(q->a); free(q->b); free(q->ah); free(q->bh); free(q->y);
	free(q->p); free(q->rho);
}

static dp_desc mm(dp_algo algo, const cfg *c, int m, int k, int n)
{
	dp_desc d = { .op = DP_OP_MATMUL, .algo = algo, .precision = c->prec,
	              .policy = c->pol, .mm_m = m, .mm_k = k, .mm_n = n };
	return d;
}

/* Run d on q; for a float format also check that every output is a
 * value of the format (R(y) == y, NaN aside): the output is stored. */
static int run(const dp_desc *d, const prob *q)
{
	const dp_kernel *used = NULL;
	dp_status st = dp_matmul(d, q->a, q->b, q->y, &used);
	if (st != DP_OK)
		diag("dp_matmul %s: %s", used ? used->name : "(none)",
		     dp_status_str(st));
	for (size_t i = 0; st == DP_OK && i < NCFG; i++) {
		const cfg *c = &configs[i];
		if (c->prec != d->precision || c->pol != d->policy ||
		    c->kind != FLT)
			continue;
		size_t bad = 0, nc = (size_t)q->m * q->n;
		for (size_t o = 0; o < nc; o++)
			bad += !isnan(q->y[o]) &&
			       dp_round(c->fmt, q->y[o]) != q->y[o];
		ok(bad == 0, "%s %s: every output is a %s value (%zu are not)",
		   used ? used->name : "?", dp_precision_name(c->prec),
		   dp_precision_name(c->prec), bad);
	}
	return st == DP_OK;
}

/* Report err/bound: ok when every ratio <= 1, skipped (diag) when the
 * bound is not informative. */
static void report(const char *what, double worst, double rel_bound,
                   double max_err)
{
	if (rel_bound >= 0.5) {
		diag("%s: bound not informative (bound / sum|p| up to %.3g), "
		     "max err %.3g: checked by the model only", what, rel_bound,
		     max_err);
		return;
	}
	ok(worst <= 1, "%s: max err %.3g, worst err/bound %.3g", what, max_err,
	   worst);
}

/* naive and gemm */
static void check_dense(dp_algo algo, const cfg *c, prob *q)
{
	char nm[64], what[160];
	dp_desc d = mm(algo, c, q->m, q->k, q->n);
	snprintf(what, sizeof what, "%s %s %dx%dx%d", dp_algo_name(algo),
	         cfg_name(c, nm, sizeof nm), q->m, q->k, q->n);
	if (!ok(run(&d, q), "%s runs", what))
		return;
	const int kc = algo == DP_ALGO_GEMM ? gemm_kc(q->k) : q->k;
	float *model = malloc((size_t)q->m * q->n * 4);
	model_dense(c, q->m, q->k, q->n, q->a, q->b, kc, model);
	size_t at = 0;
	ok(same_bits(q->y, model, (size_t)q->m * q->n, &at),
	   "%s: bitwise the documented order%s", what,
	   "");
	free(model);
	round_input(c, q->a, (size_t)q->m * q->k, q->ah);
	round_input(c, q->b, (size_t)q->k * q->n, q->bh);
	const units un = units_of(c);
	double worst = 0, rel = 0, maxe = 0;
	for (int i = 0; i < q->m; i++)
		for (int j = 0; j < q->n; j++) {
			for (int x = 0; x < q->k; x++)
				q->p[x] = (double)q->ah[i * q->k + x] *
				          q->bh[x * q->n + j];
			double e = 0, cx = 0, abs_all = 0;
			if (c->kind == INT) {
				/* the reference's inputs are the dequantized floats
				 * R32(q s), each within u32 of the kernel's q s */
				seq_bound(q->p, NULL, q->k, un, &cx, &abs_all);
				e = (U32 + ldexp(1.0, -52)) * fabs(cx) + ETA32 +
				    (pow((1 + U32) / (1 - U32), 2) - 1) * abs_all;
			} else {
				for (int p0 = 0; p0 < q->k; p0 += kc) {
					int len = q->k - p0 < kc ? q->k - p0 : kc;
					double t, ab;
					double eb = seq_bound(q->p + p0, NULL, len, un, &t,
					                      &ab);
					abs_all += ab;
					cx += t;
					e = p0 ? (1 + un.us) * (e + eb) + un.us * fabs(cx)
					       : eb;
				}
				e = output_bound(c, e, cx);
			}
			e += gamma64(q->k) * abs_all;
			double err = fabs((double)q->y[i * q->n + j] - cx);
			double r = err == 0 ? 0 : err / e;
			if (!(r <= worst))
				worst = isnan(r) ? INFINITY : r;
			if (abs_all > 0 && e / abs_all > rel)
				rel = e / abs_all;
			if (!(err <= maxe))
				maxe = err;
		}
	report(what, worst, rel, maxe);
}

/* ---- svd ---- */

/* P (K x r) = U_r S_r and Q (r x N) = V_r^T of x in double. */
static int svd_pq(int k, int n, const float *x, int r, double *p, double *q)
{
	int mn = k < n ? k : n;
	double *a = malloc((size_t)k * n * 8), *s = malloc((size_t)mn * 8);
	double *u = malloc((size_t)k * mn * 8), *vt = malloc((size_t)mn * n * 8);
	for (size_t i = 0; i < (size_t)k * n; i++)
		a[i] = x[i];
	int info = (int)LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', k, n, a, n, s, u,
	                               mn, vt, n);
	for (int i = 0; info == 0 && i < k; i++)
		for (int t = 0; t < r; t++)
			p[(size_t)i * r + t] = u[(size_t)i * mn + t] * s[t];
	for (int t = 0; info == 0 && t < r; t++)
		for (int j = 0; j < n; j++)
			q[(size_t)t * n + j] = vt[(size_t)t * n + j];
	free(a); free(s); free(u); free(vt);
	return info == 0;
}

/* z (m x n) = |x| (m x k) |y| (k x n), or x y when absolute is 0. */
static void dmul(int m, int k, int n, const double *x, const double *y,
                 double *z, int absolute)
{
	for (int i = 0; i < m; i++)
		for (int j = 0; j < n; j++) {
			double s = 0;
			for (int p = 0; p < k; p++) {
				double v = x[(size_t)i * k + p] * y[(size_t)p * n + j];
				s += absolute ? fabs(v) : v;
			}
			z[(size_t)i * n + j] = s;
		}
}

/* A double rounded to format f, correctly, by scaling to an integer
 * number of ulps and nearbyint (ties to even): independent of
 * runtime/precision.h's bit manipulation. Finite |x| below the overflow
 * threshold only (the factors of a normal matrix are far from it). */
static float round_fmt_d(dp_format f, double x)
{
	const dp_format_info *fi = dp_format_get(f);
	if (x == 0 || !isfinite(x))
		return (float)x;
	int lead = ilogb(x), emin = ilogb(fi->min_normal);
	if (lead < emin)
		lead = emin;
	const double ulp = ldexp(1.0, lead - fi->man_bits);
	return (float)(nearbyint(x / ulp) * ulp);
}

/* The documented svd order, bit for bit (float formats and fp64): P^,
 * Q^ rounded once from double, T = A^ P^ and C = R(T) Q^ as naive. */
static void model_svd(const cfg *c, int m, int k, int n, int r,
                      const float *ah, const double *p, const double *q,
                      float *y)
{
	float *pf = malloc((size_t)k * r * 4), *qf = malloc((size_t)r * n * 4);
	float *tf = malloc((size_t)r * 4);
	double *td = malloc((size_t)r * 8);
	for (size_t i = 0; c->kind == FLT && i < (size_t)k * r; i++)
		pf[i] = round_fmt_d(c->fmt, p[i]);
	for (size_t i = 0; c->kind == FLT && i < (size_t)r * n; i++)
		qf[i] = round_fmt_d(c->fmt, q[i]);
	const int all = c->pol == DP_POLICY_ALL;
	for (int i = 0; i < m; i++) {
		for (int t = 0; t < r; t++) {
			double sd = 0;
			float sf = 0;
			for (int x = 0; x < k; x++) {
				const float a = ah[(size_t)i * k + x];
				if (c->kind == FP64)
					sd += (double)a * p[(size_t)x * r + t];
				else if (all)
					sf = dp_round(c->fmt, sf + dp_round(c->fmt,
					              a * pf[(size_t)x * r + t]));
				else
					sf += a * pf[(size_t)x * r + t];
			}
			td[t] = sd;
			tf[t] = dp_round(c->fmt, sf);
		}
		for (int j = 0; j < n; j++) {
			double sd = 0;
			float sf = 0;
			for (int t = 0; t < r; t++) {
				if (c->kind == FP64)
					sd += td[t] * q[(size_t)t * n + j];
				else if (all)
					sf = dp_round(c->fmt, sf + dp_round(c->fmt,
					              tf[t] * qf[(size_t)t * n + j]));
				else
					sf += tf[t] * qf[(size_t)t * n + j];
			}
			y[(size_t)i * n + j] = c->kind == FP64 ? (float)sd :
			                       dp_round(c->fmt, sf);
		}
	}
	free(pf);
	free(qf);
	free(tf);
	free(td);
}

static float fixed_scale_d(const double *x, size_t n, int bits)
{
	float *f = malloc(n * 4), s = 0;
	for (size_t i = 0; i < n; i++)
		f[i] = (float)x[i];
	dp_fixed_scale(f, n, bits, &s);
	free(f);
	return s;
}

static void check_svd(const cfg *c, prob *q, int r)
{
	char nm[64], what[160];
	const int m = q->m, k = q->k, n = q->n;
	dp_desc d = mm(DP_ALGO_SVD, c, m, k, n);
	d.rank_b = r;
	snprintf(what, sizeof what, "svd rank %d %s %dx%dx%d", r,
	         cfg_name(c, nm, sizeof nm), m, k, n);
	if (!ok(run(&d, q), "%s runs", what))
		return;
	round_input(c, q->a, (size_t)m * k, q->ah);
	round_input(c, q->b, (size_t)k * n, q->bh);
	const size_t nk = (size_t)k * r, nq = (size_t)r * n, nc = (size_t)m * n;
	double *p = malloc(nk * 8), *qq = malloc(nq * 8);
	double *ad = malloc((size_t)m * k * 8), *aa = malloc((size_t)m * k * 8);
	double *ap = malloc((size_t)m * r * 8), *g = malloc(nc * 8);
	double *ref = malloc(nc * 8), *pq = malloc((size_t)k * n * 8);
	double *dp = malloc(nk * 8), *dq = malloc(nq * 8), *tmp = malloc(nc * 8);
	double *t1 = malloc((size_t)m * r * 8), *t2 = malloc(nc * 8);
	double *ib = malloc(nc * 8);   /* int: the quantization bound */
	const int full = r == (k < n ? k : n);
	if (!ok(svd_pq(k, n, q->bh, r, p, qq), "%s: the test's own SVD", what))
		goto out;
	if (c->kind != INT) {
		float *my = malloc(nc * 4);
		size_t at = 0;
		model_svd(c, m, k, n, r, q->ah, p, qq, my);
		ok(same_bits(q->y, my, nc, &at), "%s: bitwise the documented "
		   "order%s", what, "");
		free(my);
	}
	double fro = 0, worst = 0, rel = 0, maxe = 0;
	for (size_t i = 0; i < (size_t)k * n; i++)
		fro += (double)q->bh[i] * q->bh[i];
	fro = sqrt(fro);
	for (size_t i = 0; i < (size_t)m * k; i++) {
		ad[i] = q->ah[i];
		aa[i] = fabs(ad[i]);
	}
	/* The reference: A^ B^ at full rank (dp_ref_matmul), else A^ (P Q). */
	if (full) {
		dp_ref_matmul(m, k, n, q->ah, q->bh, ref);
	} else {
		dmul(k, r, n, p, qq, pq, 0);
		dmul(m, k, n, ad, pq, ref, 0);
	}
	dmul(m, k, r, ad, p, ap, 1);     /* |A^| |P| */
	dmul(m, r, n, ap, qq, g, 1);     /* G = |A^| |P| |Q| */
	const double esvd = 10.0 * (k + n) * U64 * fro;
	const double eta = c->kind == FLT ? c->eta : ETA32;
	double gf;
	if (c->kind == FLT && c->pol == DP_POLICY_ALL)
		gf = pow(1 + c->u, k + r + 5) - 1;
	else if (c->kind == FLT)
		gf = pow(1 + c->u, 4) * pow(1 + U32, k + r) - 1;
	else
		gf = pow(1 + U64, k + r + 2) - 1;
	if (c->kind == INT) {
		/* |dP| <= s_p/2 + u32 |P|, likewise Q; T's scale from
		 * max(|A^|(|P| + |dP|)) (1 + u32 + 2^-52) / qmax, 1 ulp up. */
		const double qmax = dp_fixed_qmax(c->bits);
		const double sp = fixed_scale_d(p, nk, c->bits);
		const double sq = fixed_scale_d(qq, nq, c->bits);
		for (size_t i = 0; i < nk; i++)
			dp[i] = sp / 2 + U32 * fabs(p[i]);
		for (size_t i = 0; i < nq; i++)
			dq[i] = sq / 2 + U32 * fabs(qq[i]);
		double *pd = malloc(nk * 8), *qd = malloc(nq * 8);
		for (size_t i = 0; i < nk; i++)
			pd[i] = fabs(p[i]) + dp[i];
		for (size_t i = 0; i < nq; i++)
			qd[i] = fabs(qq[i]) + dq[i];
		dmul(m, k, r, aa, pd, t1, 1);   /* |A^| (|P| + |dP|) >= |T| */
		double tmax = 0;
		for (size_t i = 0; i < (size_t)m * r; i++)
			tmax = fmax(tmax, t1[i]);
		const double uo = U32 + ldexp(1.0, -52);
		const double st = tmax * (1 + uo) / qmax * (1 + ldexp(1.0, -23));
		/* |T^ - A^ P^| <= st/2 + uo |A^|(|P| + |dP|) */
		for (size_t i = 0; i < (size_t)m * r; i++)
			t1[i] = st / 2 + uo * t1[i];
		dmul(m, r, n, t1, qd, t2, 1);            /* |dT| |Q^| */
		dmul(m, k, r, aa, dp, tmp, 1);           /* |A^||dP| */
		double *x1 = malloc(nc * 8), *x2 = malloc(nc * 8);
		dmul(m, r, n, tmp, qd, x1, 1);           /* |A^||dP||Q^| */
		dmul(m, r, n, ap, dq, x2, 1);            /* |A^||P||dQ| */
		for (size_t i = 0; i < nc; i++)
			ib[i] = t2[i] + x1[i] + x2[i];
		free(x1);
		free(x2);
		free(pd);
		free(qd);
	}
	for (int i = 0; i < m; i++) {
		double suma = 0, sumap = 0;
		for (int x = 0; x < k; x++)
			suma += aa[(size_t)i * k + x];
		for (int x = 0; x < r; x++)
			sumap += ap[(size_t)i * r + x];
		for (int j = 0; j < n; j++) {
			const size_t o = (size_t)i * n + j;
			const double cx = ref[o];
			double e, absab = 0;
			for (int x = 0; x < k; x++)
				absab += aa[(size_t)i * k + x] *
				         fabs((double)q->bh[(size_t)x * n + j]);
			if (c->kind == INT) {
				/* + A^'s dequantized floats R32(q s) vs q s */
				e = ib[o] + ((1 + U32) / (1 - U32) - 1) * (g[o] + ib[o]);
				e += (U32 + ldexp(1.0, -52)) * (fabs(cx) + e) + ETA32;
			} else {
				e = gf * g[o] + eta * pow(1 + (c->kind == FLT ? c->u : U64),
				                          k + r + 5) *
				    (r * suma + sumap + (double)(k + 1) * r + r + 1);
				if (c->kind == FP64)
					e = gf * g[o] + U32 * (fabs(cx) + gf * g[o]) + ETA32;
			}
			/* the reference's own error: dp_ref_matmul's double sum
			 * and the SVD (full rank), the double A^ (P Q) (lower) */
			e += full ? esvd * suma + gamma64(k) * absab
			          : gamma64(k + r + 2) * g[o];
			double err = fabs((double)q->y[o] - cx);
			double ratio = err == 0 ? 0 : err / e;
			if (!(ratio <= worst))
				worst = isnan(ratio) ? INFINITY : ratio;
			double sz = fabs(g[o]) > 0 ? fabs(g[o]) : 1;
			if (c->kind != INT && e / sz > rel)
				rel = e / sz;
			if (!(err <= maxe))
				maxe = err;
		}
	}
	report(what, worst, rel, maxe);
out:
	free(p); free(qq); free(ad); free(aa); free(ap); free(g); free(ref);
	free(pq); free(dp); free(dq); free(tmp); free(t1); free(t2); free(ib);
}

/* ---- log and lns ---- */

/* The log order with F bits at a float format, independently: logs
 * round(log2|x| 2^F), each product 2^((La + Lb) / 2^F) by exp2 in double
 * (the kernel uses tables: the two differ in the last bit of a double
 * about once in 2^40 products, far too rarely to change a rounding to
 * the format here), rounded with round_fmt_d (all) or to float (acc32),
 * summed in order from +0. Zero operands add nothing. */
static void model_log(const cfg *c, const prob *q, int f, float *y)
{
	for (int i = 0; i < q->m; i++)
		for (int j = 0; j < q->n; j++) {
			float s = 0;
			for (int x = 0; x < q->k; x++) {
				const float a = q->ah[i * q->k + x];
				const float b = q->bh[x * q->n + j];
				if (a == 0 || b == 0)
					continue;
				long la = lrint(ldexp(log2(fabs((double)a)), f));
				long lb = lrint(ldexp(log2(fabs((double)b)), f));
				double v = exp2(ldexp((double)(la + lb), -f));
				if ((a < 0) != (b < 0))
					v = -v;
				if (c->pol == DP_POLICY_ALL)
					s = dp_round(c->fmt, s + round_fmt_d(c->fmt, v));
				else
					s += (float)v;
			}
			y[i * q->n + j] = c->pol == DP_POLICY_ALL ? s :
			                  dp_round(c->fmt, s);
		}
}

static void check_log(const cfg *c, prob *q, int f)
{
	char nm[64], what[160];
	dp_desc d = mm(DP_ALGO_LOG, c, q->m, q->k, q->n);
	d.frac_bits = f;
	snprintf(what, sizeof what, "log F=%s %s %dx%dx%d",
	         f < 0 ? "exact" : f == 8 ? "8" : "?", cfg_name(c, nm, sizeof nm),
	         q->m, q->k, q->n);
	if (!ok(run(&d, q), "%s runs", what))
		return;
	round_input(c, q->a, (size_t)q->m * q->k, q->ah);
	round_input(c, q->b, (size_t)q->k * q->n, q->bh);
	if (c->kind == FLT && f >= 0) {
		float *my = malloc((size_t)q->m * q->n * 4);
		size_t at = 0;
		model_log(c, q, f, my);
		ok(same_bits(q->y, my, (size_t)q->m * q->n, &at),
		   "%s: bitwise the documented order", what);
		free(my);
	}
	units un = units_of(c);
	if (c->kind == FLT && c->pol == DP_POLICY_ACC32)
		un = (units){ U32, U32, ETA32 };   /* products rounded to float */
	if (c->kind == INT)
		un = (units){ U32, U32, ETA32 };
	if (c->kind == FP64)
		un = (units){ U64, 0, 0 };
	double worst = 0, rel = 0, maxe = 0;
	for (int i = 0; i < q->m; i++)
		for (int j = 0; j < q->n; j++) {
			for (int x = 0; x < q->k; x++) {
				double av = q->ah[i * q->k + x], bv = q->bh[x * q->n + j];
				q->p[x] = av * bv;
				double la = av ? fabs(log2(fabs(av))) : 0;
				double lb = bv ? fabs(log2(fabs(bv))) : 0;
				if (f >= 0)
					q->rho[x] = exp2(ldexp(1.0, -f)) - 1 + 4 * U64;
				else if (c->kind == FP64)
					q->rho[x] = 1.05 * (LN2 * (ldexp(1.0, -52) *
					            (la + lb) + U64 * (la + lb)) +
					            ldexp(1.0, -52));
				else
					q->rho[x] = 1.05 * (LN2 * 1.5 * ldexp(1.0, -23) *
					            (la + lb) + ldexp(1.0, -23));
			}
			double cx, ab;
			double e = seq_bound(q->p, q->rho, q->k, un, &cx, &ab);
			e = output_bound(c, e, cx) + gamma64(q->k) * ab;
			double err = fabs((double)q->y[i * q->n + j] - cx);
			double r = err == 0 ? 0 : err / e;
			if (!(r <= worst))
				worst = isnan(r) ? INFINITY : r;
			if (ab > 0 && e / ab > rel)
				rel = e / ab;
			if (!(err <= maxe))
				maxe = err;
		}
	report(what, worst, rel, maxe);
}

static void check_lns(const cfg *c, prob *q, int f, int bins, int w)
{
	char nm[64], what[160];
	dp_desc d = mm(DP_ALGO_LNS, c, q->m, q->k, q->n);
	d.frac_bits = f;
	d.bin_bits = bins;
	d.acc_bits = w;
	snprintf(what, sizeof what, "lns F=%d B=%d W=%d %s %dx%dx%d", f, bins,
	         w, cfg_name(c, nm, sizeof nm), q->m, q->k, q->n);
	if (!ok(run(&d, q), "%s runs", what))
		return;
	round_input(c, q->a, (size_t)q->m * q->k, q->ah);
	round_input(c, q->b, (size_t)q->k * q->n, q->bh);
	const double rho = exp2(ldexp(1.0, -f)) - 1;
	const double xm = (ldexp(1.0, f - bins) - 1) / ldexp(1.0, f);
	const double mitchell = (1 + xm) / exp2(xm) - 1;
	const double rho1 = (1 + rho) * (1 + mitchell) - 1;
	const double tr = q->k * ldexp(1.0, -(w / 2));
	const double uf = c->kind == FLT ? c->u : c->kind == INT ? U32 : U32;
	const double ef = c->kind == FLT ? c->eta : ETA32;
	double worst = 0, rel = 0, maxe = 0;
	for (int i = 0; i < q->m; i++)
		for (int j = 0; j < q->n; j++) {
			double cx = 0, ab = 0;
			for (int x = 0; x < q->k; x++) {
				double v = (double)q->ah[i * q->k + x] *
				           q->bh[x * q->n + j];
				cx += v;
				ab += fabs(v);
			}
			double e = rho1 * ab + tr;
			e += rho * (fabs(cx) + e);
			e += uf * (1 + rho) * (fabs(cx) + e) + ef;
			e += gamma64(q->k) * ab;
			double err = fabs((double)q->y[i * q->n + j] - cx);
			double r = err == 0 ? 0 : err / e;
			if (!(r <= worst))
				worst = isnan(r) ? INFINITY : r;
			if (ab > 0 && e / ab > rel)
				rel = e / ab;
			if (!(err <= maxe))
				maxe = err;
		}
	report(what, worst, rel, maxe);
}

/* ---- specific behaviour ---- */

static double mean_err(const cfg *c, prob *q, dp_algo algo)
{
	dp_desc d = mm(algo, c, q->m, q->k, q->n);
	if (!run(&d, q))
		return INFINITY;
	round_input(c, q->a, (size_t)q->m * q->k, q->ah);
	round_input(c, q->b, (size_t)q->k * q->n, q->bh);
	double *ref = malloc((size_t)q->m * q->n * 8);
	dp_ref_matmul(q->m, q->k, q->n, q->ah, q->bh, ref);
	err_stats e = compare(q->y, ref, (size_t)q->m * q->n);
	free(ref);
	return e.mean_abs_err;
}

/* acc32 against all on a long K: the running sum of K = 4096 products
 * rounded to bf16/fp16 loses about u sqrt(K) |s| per output (and
 * stagnates once |s| dwarfs the products), acc32 about u |c| once: the
 * prediction is a ratio well above 4. */
static void check_acc32_wins(void)
{
	prob q = prob_new(4, 4096, 8, 77);
	for (int i = 0; i < 2; i++) {
		dp_precision pr = i ? DP_PREC_FP16 : DP_PREC_BF16;
		cfg all = cfg_full((cfg){ pr, DP_POLICY_ALL, FLT,
		                          i ? DP_FMT_FP16 : DP_FMT_BF16, 0, 0, 0 });
		cfg acc = all;
		acc.pol = DP_POLICY_ACC32;
		double ea = mean_err(&all, &q, DP_ALGO_NAIVE);
		double ec = mean_err(&acc, &q, DP_ALGO_NAIVE);
		ok(ec * 4 < ea, "%s naive K=4096: acc32 mean |err| %.3g is more "
		   "than 4x below all's %.3g", dp_precision_name(pr), ec, ea);
	}
	prob_free(&q);
}

/* gemm's blocks change the result at K > 384 (bf16, all), and make it
 * more accurate than one running sum (shorter sums). */
static void check_gemm_blocks(void)
{
	prob q = prob_new(8, 1000, 16, 5);
	cfg c = cfg_full((cfg){ DP_PREC_BF16, DP_POLICY_ALL, FLT, DP_FMT_BF16,
	                        0, 0, 0 });
	double en = mean_err(&c, &q, DP_ALGO_NAIVE);
	float *yn = malloc(8 * 16 * 4);
	memcpy(yn, q.y, 8 * 16 * 4);
	double eg = mean_err(&c, &q, DP_ALGO_GEMM);
	size_t at;
	ok(!same_bits(yn, q.y, 8 * 16, &at), "bf16 K=1000: gemm's 4 blocks of "
	   "250 give other results than naive's one sum");
	ok(eg < en, "bf16 K=1000: gemm mean |err| %.3g < naive %.3g", eg, en);
	free(yn);
	prob_free(&q);
}

/* Dispatch: every emulated algorithm x precision x policy has a kernel
 * named after it; fp32 stays native. */
static void check_dispatch(void)
{
	static const dp_algo algos[] = { DP_ALGO_NAIVE, DP_ALGO_GEMM,
		DP_ALGO_SVD, DP_ALGO_LOG, DP_ALGO_LNS };
	int missing = 0, badname = 0;
	for (size_t a = 0; a < 5; a++)
		for (size_t i = 0; i < NCFG; i++) {
			dp_desc d = mm(algos[a], &configs[i], 2, 2, 2);
			const dp_kernel *k = dp_generic_kernel(&d);
			if (!k) {
				missing++;
				continue;
			}
			if (k->desc.precision != d.precision ||
			    k->desc.policy != d.policy || k->desc.algo != d.algo ||
			    !strstr(k->name, dp_algo_name(algos[a])))
				badname++;
		}
	ok(missing == 0 && badname == 0, "an emulated kernel for every "
	   "algorithm x precision x policy (%d missing, %d misnamed)", missing,
	   badname);
	dp_desc f = { .op = DP_OP_MATMUL, .algo = DP_ALGO_NAIVE,
	              .precision = DP_PREC_FP32, .mm_m = 1, .mm_k = 1,
	              .mm_n = 1 };
	ok(dp_emul_matmul_kernel(&f) == NULL &&
	   dp_generic_kernel(&f) == &dp_matmul_naive_generic,
	   "fp32 is native, not emulated");
}

/* Overflow: fp16 sums beyond 65504 become Inf, e4m3 saturates at 448. */
static void check_overflow(void)
{
	float a[2] = { 250, 250 }, b[2] = { 200, 200 }, y = 0;
	cfg c16 = { DP_PREC_FP16, DP_POLICY_ALL, FLT, DP_FMT_FP16, 0, 0, 0 };
	dp_desc d = mm(DP_ALGO_NAIVE, &c16, 1, 2, 1);
	ok(dp_matmul(&d, a, b, &y, NULL) == DP_OK && isinf(y) && y > 0,
	   "fp16: 250*200 + 250*200 = 100000 overflows to +Inf (got %g)", y);
	float a8[2] = { 20, 20 }, b8[2] = { 16, 16 };
	cfg c8 = { DP_PREC_FP8_E4M3, DP_POLICY_ALL, FLT, DP_FMT_E4M3, 0, 0, 0 };
	d = mm(DP_ALGO_NAIVE, &c8, 1, 2, 1);
	ok(dp_matmul(&d, a8, b8, &y, NULL) == DP_OK && y == 448.0f,
	   "fp8-e4m3: 20*16 + 20*16 = 640 saturates to 448 (got %g)", y);
	d.policy = DP_POLICY_ACC32;
	ok(dp_matmul(&d, a8, b8, &y, NULL) == DP_OK && y == 448.0f,
	   "fp8-e4m3:acc32: the fp32 sum 640 is stored as 448 (got %g)", y);
	float an[2] = { NAN, 1 };
	d = mm(DP_ALGO_GEMM, &c16, 1, 2, 1);
	ok(dp_matmul(&d, an, b, &y, NULL) == DP_OK && isnan(y),
	   "fp16 gemm: a NaN input gives NaN");
}

/* Every emulated matmul kernel built into the library (generated, in
 * generated/MANIFEST) computes what the runtime emulation computes, bit
 * for bit: the documented order is the contract between the two. */
static void check_registry(void)
{
	int seen = 0;
	for (size_t r = 0; r < dp_registry_count; r++) {
		const dp_kernel *g = dp_registry[r];
		const dp_desc *d = &g->desc;
		if (d->op != DP_OP_MATMUL || d->precision == DP_PREC_FP32)
			continue;
		const dp_kernel *e = dp_emul_matmul_kernel(d);
		if (!ok(e != NULL, "%s: the runtime emulates it", g->name))
			continue;
		prob q = prob_new(d->mm_m, d->mm_k, d->mm_n, 31 + r);
		float *ye = malloc((size_t)d->mm_m * d->mm_n * 4);
		size_t at = 0;
		int okg = dp_kernel_run(g, d, q.a, q.b, NULL, q.y) == DP_OK;
		int oke = dp_kernel_run(e, d, q.a, q.b, NULL, ye) == DP_OK;
		ok(okg && oke && same_bits(q.y, ye, (size_t)d->mm_m * d->mm_n,
		   &at), "generated %s equals %s bit for bit", g->name, e->name);
		free(ye);
		prob_free(&q);
		seen++;
	}
	diag("%d generated emulated matmul kernels in the registry", seen);
}

/* Rounding a double to a format (svd factors, log products, lns results)
 * is correct, not double rounding through float: the midpoints between
 * neighbours of the format, nudged by 2^-27 of their binade (below half
 * a float ulp, 2^-24, so (float)x lands on the midpoint itself and ties
 * to even the wrong way half the time), and random doubles, against
 * round_fmt_d. */
static void check_round_double(void)
{
	static const dp_precision ps[] = { DP_PREC_TF32, DP_PREC_BF16,
		DP_PREC_FP16, DP_PREC_FP8_E4M3, DP_PREC_FP8_E5M2 };
	static const dp_format fs[] = { DP_FMT_TF32, DP_FMT_BF16, DP_FMT_FP16,
		DP_FMT_E4M3, DP_FMT_E5M2 };
	rng_t r;
	rng_seed(&r, 4711);
	for (int i = 0; i < 5; i++) {
		const dp_format_info *fi = dp_format_get(fs[i]);
		long bad = 0, naive_bad = 0, n = 0;
		for (int t = 0; t < 200000; t++) {
			/* a value of the format in [2^-3, 2^3), the midpoint above it */
			double e = floor(rng_uniform(&r) * 6) - 3;
			double ulp = ldexp(1.0, (int)e - fi->man_bits);
			double v = ldexp(1.0, (int)e) +
			           floor(rng_uniform(&r) * ldexp(1.0, fi->man_bits)) * ulp;
			double x = t % 4 == 0 ? (rng_uniform(&r) * 2 - 1) * 8 :
			           (v + ulp / 2) + (t % 2 ? 1 : -1) *
			           ldexp(1.0, (int)e - 27) * (t % 4 == 1 ? 1 : -1);
			float want = round_fmt_d(fs[i], x);
			bad += dp_emul_round_double(ps[i], x) != want;
			naive_bad += dp_round(fs[i], (float)x) != want;
			n++;
		}
		ok(bad == 0 && naive_bad > 0, "%s: doubles rounded correctly "
		   "(%ld of %ld wrong; through float: %ld wrong)",
		   dp_precision_name(ps[i]), bad, n, naive_bad);
	}
}

int main(void)
{
	static const int shapes[][3] = {
		{ 1, 1, 1 }, { 1, 64, 10 }, { 7, 1, 9 }, { 7, 13, 5 },
		{ 33, 65, 17 }, { 64, 300, 33 }, { 3, 800, 5 },
	};
	check_dispatch();
	check_registry();
	check_round_double();
	for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
		const int m = shapes[s][0], k = shapes[s][1], n = shapes[s][2];
		prob q = prob_new(m, k, n, 1000 + s);
		for (size_t i = 0; i < NCFG; i++) {
			const cfg c = cfg_full(configs[i]);
			check_dense(DP_ALGO_NAIVE, &c, &q);
			check_dense(DP_ALGO_GEMM, &c, &q);
			const int full = k < n ? k : n;
			check_svd(&c, &q, full);
			if (full > 2 && k <= 300)
				check_svd(&c, &q, full / 2);
			check_log(&c, &q, DP_LOG_EXACT);
			check_log(&c, &q, 8);
			check_lns(&c, &q, 8, 8, 32);
			check_lns(&c, &q, 8, 4, 32);
		}
		prob_free(&q);
	}
	check_acc32_wins();
	check_gemm_blocks();
	check_overflow();
	return done_testing();
}
