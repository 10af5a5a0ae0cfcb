/* t_matmul_log.c - the log-domain matmuls (log, lns), generic and
 * generated, against the fp64 reference and against independent models.
 *
 * Bounds (u = 2^-24, S = sum_p |a_ip b_pj|, la = log2|a|):
 * - log, exact (float) logs: each log2f is within 1 ulp (2^-23 |la|), the
 *   float sum la + lb adds 2^-24 |la + lb|, so the exponent is off by at
 *   most 1.5 * 2^-23 (|la| + |lb|); exp2f adds 1 ulp (2^-23). Per product
 *   |err| <= |p| (ln2 * 1.5 * 2^-23 (|la| + |lb|) + 2^-23) (to first
 *   order; 5% margin), then the float sum adds gamma_K S (Higham).
 * - log, F bits: against the model sum_p +-2^((La + Lb) / 2^F) in double
 *   (La = round(log2|a| 2^F), computed here): each product is rounded to
 *   float (u |p|), then summed in float: gamma_{K+1} S_model.
 *   Against the reference: each log is off by at most 2^-F / 2, so each
 *   product by a factor 2^(±2^-F): + (2^(2^-F) - 1) S.
 * - lns: against the model (exact bin sums, in double, of the quantized
 *   products, the accumulator's truncation below 2^-O included), the
 *   output must be exactly the LNS value nearest the model's sum, except
 *   when that sum lies within 1e-9 (relative) of a midpoint, where the
 *   double rounding of either side may pick the other neighbour.
 *   Against the reference: quantized inputs (factor 2^(2^-F) per
 *   product), the output rounding (factor 2^(2^-F)) and truncated
 *   products (< 2^-O each, at most K of them). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "util.h"

#include "kernels.h"

static char tmpdir[256];

static dp_desc mm_desc(dp_algo algo, int m, int k, int n, int f, int w,
                       int bins)
{
	dp_desc d = { .op = DP_OP_MATMUL, .algo = algo,
	              .precision = DP_PREC_FP32, .mm_m = m, .mm_k = k,
	              .mm_n = n, .frac_bits = f };
	if (algo == DP_ALGO_LNS) {
		d.acc_bits = w;
		d.bin_bits = bins;
	}
	return d;
}

static const dp_kernel *generated(const dp_desc *d)
{
	char err[4096];
	const dp_kernel *k = build_kernel(d, tmpdir, err, sizeof err);
	if (!k)
		diag("%s", err);
	return k;
}

static int run(const dp_kernel *k, const dp_desc *d, const float *a,
               const float *b, float *c)
{
	dp_status st = dp_kernel_run(k, d, a, b, NULL, c);
	if (st != DP_OK)
		diag("%s: %s", k->name, dp_status_str(st));
	return st == DP_OK;
}

/* C = |A| |B| and the like, in double: c[i][j] = sum_p x[i][p] y[p][j]. */
static void dmatmul(int m, int k, int n, const double *x, const double *y,
                    double *c)
{
	for (int i = 0; i < m; i++) {
		double *ci = c + (size_t)i * n;
		memset(ci, 0, (size_t)n * sizeof *ci);
		for (int p = 0; p < k; p++) {
			const double xv = x[(size_t)i * k + p];
			const double *yp = y + (size_t)p * n;
			for (int j = 0; j < n; j++)
				ci[j] += xv * yp[j];
		}
	}
}

typedef struct prob {
	int m, k, n;
	float *a, *b, *c;
	double *ref;
} prob;

static prob prob_new(int m, int k, int n, uint64_t seed)
{
	prob p = { m, k, n, malloc((size_t)m * k * 4), malloc((size_t)k * n * 4),
	           malloc((size_t)m * n * 4), malloc((size_t)m * n * 8) };
	rng_t r;
	rng_seed(&r, seed);
	fill_normal(&r, p.a, (size_t)m * k);
	fill_normal(&r, p.b, (size_t)k * n);
	dp_ref_matmul(m, k, n, p.a, p.b, p.ref);
	return p;
}

static void prob_free(prob *p)
{
	free(p->a);
	free(p->b);
	free(p->c);
	free(p->ref);
}

/* |A| |B| (s), and (|A| o |la|) |B| + |A| (|B| o |lb|) (t), in double. */
static void abs_sums(const prob *p, double *s, double *t)
{
	size_t na = (size_t)p->m * p->k, nb = (size_t)p->k * p->n;
	double *aa = malloc(na * 8), *bb = malloc(nb * 8), *al = malloc(na * 8),
	       *bl = malloc(nb * 8), *tmp = malloc((size_t)p->m * p->n * 8);
	for (size_t i = 0; i < na; i++) {
		aa[i] = fabs(p->a[i]);
		al[i] = aa[i] ? aa[i] * fabs(log2(aa[i])) : 0;
	}
	for (size_t i = 0; i < nb; i++) {
		bb[i] = fabs(p->b[i]);
		bl[i] = bb[i] ? bb[i] * fabs(log2(bb[i])) : 0;
	}
	dmatmul(p->m, p->k, p->n, aa, bb, s);
	if (t) {
		dmatmul(p->m, p->k, p->n, al, bb, t);
		dmatmul(p->m, p->k, p->n, aa, bl, tmp);
		for (size_t i = 0; i < (size_t)p->m * p->n; i++)
			t[i] += tmp[i];
	}
	free(aa); free(bb); free(al); free(bl); free(tmp);
}

/* Exact logs: the worst err / bound over C (<= 1 passes), and the MAE. */
static double check_log_exact(const dp_kernel *kern, const prob *p,
                              double *mae)
{
	dp_desc d = mm_desc(DP_ALGO_LOG, p->m, p->k, p->n, DP_LOG_EXACT, 0, 0);
	size_t nc = (size_t)p->m * p->n;
	double *s = malloc(nc * 8), *t = malloc(nc * 8), worst = INFINITY;
	if (run(kern, &d, p->a, p->b, p->c)) {
		abs_sums(p, s, t);
		const double u = ldexp(1.0, -24);
		worst = 0;
		for (size_t i = 0; i < nc; i++) {
			double bound = 1.05 * (log(2.0) * 3 * u * t[i] + 2 * u * s[i]) +
			               dot_error_bound(p->k, s[i]);
			double e = fabs(p->c[i] - p->ref[i]);
			double r = e == 0 ? 0 : e / bound;
			if (!(r <= worst))
				worst = isnan(r) ? INFINITY : r;
		}
		*mae = compare(p->c, p->ref, nc).mean_abs_err;
	}
	free(s);
	free(t);
	return worst;
}

static int32_t qlog(float x, int f)
{
	return (int32_t)lrint(ldexp(log2(fabs((double)x)), f));
}

/* Fixed-point log: worst err / bound against the model and against the
 * reference. */
static void check_log_fixed(const dp_kernel *kern, const prob *p, int f,
                            double *vs_model, double *vs_ref)
{
	dp_desc d = mm_desc(DP_ALGO_LOG, p->m, p->k, p->n, f, 0, 0);
	*vs_model = *vs_ref = INFINITY;
	if (!run(kern, &d, p->a, p->b, p->c))
		return;
	const double grow = exp2(ldexp(1.0, -f)) - 1;
	double *s = malloc((size_t)p->m * p->n * 8);
	abs_sums(p, s, NULL);
	*vs_model = *vs_ref = 0;
	for (int i = 0; i < p->m; i++)
		for (int j = 0; j < p->n; j++) {
			double model = 0, smod = 0;
			for (int q = 0; q < p->k; q++) {
				float x = p->a[i * p->k + q], y = p->b[q * p->n + j];
				if (x == 0 || y == 0)
					continue;
				double v = exp2((double)(qlog(x, f) + (int64_t)qlog(y, f)) /
				                ldexp(1.0, f));
				model += (x < 0) != (y < 0) ? -v : v;
				smod += v;
			}
			const size_t o = (size_t)i * p->n + j;
			double e1 = fabs(p->c[o] - model);
			double b1 = dot_error_bound(p->k + 1, smod) + 1e-12 * smod;
			double e2 = fabs(p->c[o] - p->ref[o]);
			double b2 = b1 + grow * s[o];
			double r1 = e1 == 0 ? 0 : e1 / b1, r2 = e2 == 0 ? 0 : e2 / b2;
			if (!(r1 <= *vs_model))
				*vs_model = isnan(r1) ? INFINITY : r1;
			if (!(r2 <= *vs_ref))
				*vs_ref = isnan(r2) ? INFINITY : r2;
		}
	free(s);
}

/* The LNS value nearest s (midpoints in the linear domain), and whether
 * s is within 1e-9 of a midpoint (a near tie). Written apart from the
 * kernel's: E from frexp and a search, not from floor(log2). */
static double lns_nearest(double s, int f, int *near_tie)
{
	*near_tie = 0;
	if (s == 0)
		return 0;
	double a = fabs(s), step = ldexp(1.0, -f);
	int ex;
	frexp(a, &ex);   /* 2^(ex-1) <= a < 2^ex */
	double e = (double)(ex - 1) / step;
	while (exp2((e + 1) * step) <= a)
		e += 1;
	while (exp2(e * step) > a)
		e -= 1;
	double lo = exp2(e * step), hi = exp2((e + 1) * step);
	double mid = 0.5 * (lo + hi);
	*near_tie = fabs(a - mid) <= 1e-9 * mid;
	return copysign(a < mid ? lo : hi, s);
}

/* The lns model for one output: each finite product's log e = q 2^F + r;
 * its contribution, in units of 2^-O, is floor((2^F + r_lo) 2^(q+O-F))
 * (r_lo = the low F - B bits of r; 0 for exact bins), times the bin's
 * constant 2^(r_hi 2^(F-B) / 2^F). Everything in double, exactly: the
 * contributions are integers below 2^53 for these inputs. */
static double lns_model(const prob *p, int i, int j, int f, int bins, int w)
{
	const int off = w / 2;
	double sum = 0;
	for (int q = 0; q < p->k; q++) {
		float x = p->a[i * p->k + q], y = p->b[q * p->n + j];
		if (x == 0 || y == 0)
			continue;
		int64_t e = (int64_t)qlog(x, f) + qlog(y, f);
		int64_t qq = (int64_t)floor((double)e / ldexp(1.0, f));
		int64_t r = e - qq * ((int64_t)1 << f);
		int64_t rhi = r >> (f - bins), rlo = r - (rhi << (f - bins));
		double units = floor(ldexp((double)(((int64_t)1 << f) + rlo),
		                           (int)(qq + off - f)));
		double v = units * exp2((double)(rhi << (f - bins)) /
		                        ldexp(1.0, f));
		sum += (x < 0) != (y < 0) ? -v : v;
	}
	return ldexp(sum, -off);
}

/* Outputs that differ from the model's nearest LNS value (near ties
 * excepted); -1 if the kernel failed. */
static int lns_mismatches(const dp_kernel *kern, const prob *p, int f,
                          int bins, int w, int *ties)
{
	dp_desc d = mm_desc(DP_ALGO_LNS, p->m, p->k, p->n, f, w, bins);
	if (!run(kern, &d, p->a, p->b, p->c))
		return -1;
	int bad = 0;
	*ties = 0;
	for (int i = 0; i < p->m; i++)
		for (int j = 0; j < p->n; j++) {
			int tie;
			double want = lns_nearest(lns_model(p, i, j, f, bins, w), f,
			                          &tie);
			if ((float)want != p->c[i * p->n + j]) {
				if (tie)
					(*ties)++;
				else
					bad++;
			}
		}
	return bad;
}

static void seed_case(void)
{
	static const int sz[] = { 2, 8, 32, 128 };
	double worst_mae = 0;
	int fails = 0;
	for (int x = 0; x < 4; x++)
		for (int y = 0; y < 4; y++)
			for (int z = 0; z < 4; z++) {
				prob p = prob_new(sz[x], sz[y], sz[z], 100 + x * 16 + y * 4 + z);
				double mae = INFINITY;
				double w = check_log_exact(&dp_matmul_log_generic, &p, &mae);
				if (!(mae < 1e-5) || !(w <= 1)) {
					fails++;
					diag("%dx%dx%d: mae %.3g, err/bound %.3g", sz[x], sz[y],
					     sz[z], mae, w);
				}
				if (mae > worst_mae)
					worst_mae = mae;
				prob_free(&p);
			}
	ok(fails == 0, "seed case, log with exact logs, M, K, N in {2, 8, 32, "
	   "128} (64 shapes): every mean |err| < 1e-5 and every element "
	   "within its bound (largest mean |err| %.3g)", worst_mae);
	const int gen[][3] = { { 128, 128, 128 }, { 2, 32, 8 } };
	for (int g = 0; g < 2; g++) {
		dp_desc d = mm_desc(DP_ALGO_LOG, gen[g][0], gen[g][1], gen[g][2],
		                    DP_LOG_EXACT, 0, 0);
		const dp_kernel *k = generated(&d);
		prob p = prob_new(gen[g][0], gen[g][1], gen[g][2], 7 + g);
		double mae = INFINITY, w = k ? check_log_exact(k, &p, &mae) : INFINITY;
		ok(mae < 1e-5 && w <= 1, "seed case, generated %s: mean |err| %.3g, "
		   "worst err/bound %.3g", k ? k->name : "(none)", mae, w);
		prob_free(&p);
	}
}

static const int shapes[][3] = {
	{ 1, 1, 1 }, { 1, 64, 10 }, { 7, 1, 9 }, { 33, 65, 17 },
	{ 128, 128, 128 }, { 512, 784, 512 },
};
enum { NSHAPES = sizeof shapes / sizeof shapes[0] };

static void shapes_vs_reference(void)
{
	for (int s = 0; s < NSHAPES; s++) {
		const int m = shapes[s][0], k = shapes[s][1], n = shapes[s][2];
		const int big = m * k * n > 1 << 22;
		prob p = prob_new(m, k, n, 300 + s);
		double mae = 0, w = check_log_exact(&dp_matmul_log_generic, &p, &mae);
		ok(w <= 1, "log generic exact %dx%dx%d: worst err/bound %.3g (mean "
		   "|err| %.3g)", m, k, n, w, mae);
		if (!big) {
			double wm, wr;
			check_log_fixed(&dp_matmul_log_generic, &p, 8, &wm, &wr);
			ok(wm <= 1 && wr <= 1, "log generic F=8 %dx%dx%d: err/bound "
			   "%.3g vs model, %.3g vs reference", m, k, n, wm, wr);
		}
		/* lns, default variant (F = 4, 32-bit accumulators, exact bins),
		 * against the reference with the derived bound. */
		dp_desc d = mm_desc(DP_ALGO_LNS, m, k, n, 4, 32, 4);
		const dp_kernel *kerns[2] = { &dp_matmul_lns_generic,
		                              big ? NULL : generated(&d) };
		double *sabs = malloc((size_t)m * n * 8);
		abs_sums(&p, sabs, NULL);
		const double g = exp2(1.0 / 16) - 1;
		for (int v = 0; v < (big ? 1 : 2); v++) {
			double worst = INFINITY;
			if (kerns[v] && run(kerns[v], &d, p.a, p.b, p.c)) {
				worst = 0;
				for (size_t i = 0; i < (size_t)m * n; i++) {
					double bound = 1.0001 * g * (2 + g) * sabs[i] +
					               k * ldexp(1.0, -16) + 1e-30;
					double r = fabs(p.c[i] - p.ref[i]) / bound;
					if (!(r <= worst))
						worst = isnan(r) ? INFINITY : r;
				}
			}
			ok(worst <= 1, "lns %s F=4 %dx%dx%d vs reference: worst "
			   "err/bound %.3g", kerns[v] ? kerns[v]->name : "(none)", m, k,
			   n, worst);
		}
		free(sabs);
		prob_free(&p);
	}
	/* Generated log kernels, exact and fixed, on the edge shapes. */
	for (int s = 0; s < 4; s++) {
		const int m = shapes[s][0], k = shapes[s][1], n = shapes[s][2];
		prob p = prob_new(m, k, n, 400 + s);
		dp_desc d = mm_desc(DP_ALGO_LOG, m, k, n, 8, 0, 0);
		const dp_kernel *kern = generated(&d);
		double wm = INFINITY, wr = INFINITY;
		if (kern)
			check_log_fixed(kern, &p, 8, &wm, &wr);
		ok(wm <= 1 && wr <= 1, "log generated F=8 %dx%dx%d: err/bound %.3g "
		   "vs model, %.3g vs reference", m, k, n, wm, wr);
		prob_free(&p);
	}
}

static void lns_vs_model(void)
{
	prob p = prob_new(12, 96, 10, 500);
	int all_bad = 0, all_ties = 0;
	for (int f = 0; f <= 8; f++) {
		int ties, bad = lns_mismatches(&dp_matmul_lns_generic, &p, f, f, 64,
		                               &ties);
		if (bad != 0) {
			diag("F=%d: %d outputs differ from the model", f, bad);
			all_bad++;
		}
		all_ties += ties;
	}
	ok(all_bad == 0, "lns generic, F = 0..8, exact bins, 64-bit "
	   "accumulators: every output is the LNS value nearest the exact bin "
	   "sum (%d near-ties)", all_ties);
	static const int mitchell[][2] = { { 8, 3 }, { 4, 2 }, { 6, 0 } };
	for (int v = 0; v < 3; v++) {
		int f = mitchell[v][0], bb = mitchell[v][1], ties;
		int bad = lns_mismatches(&dp_matmul_lns_generic, &p, f, bb, 64,
		                         &ties);
		ok(bad == 0, "lns generic Mitchell F=%d, %d bin bits: matches the "
		   "model (%d mismatches, %d near-ties)", f, bb, bad, ties);
	}
	static const int gen[][3] = { { 0, 0, 64 }, { 4, 4, 64 }, { 8, 8, 64 },
	                              { 8, 3, 64 } };
	for (int v = 0; v < 4; v++) {
		dp_desc d = mm_desc(DP_ALGO_LNS, p.m, p.k, p.n, gen[v][0],
		                    gen[v][2], gen[v][1]);
		const dp_kernel *kern = generated(&d);
		int ties, bad = kern ? lns_mismatches(kern, &p, gen[v][0], gen[v][1],
		                                      gen[v][2], &ties) : -1;
		ok(bad == 0, "lns generated %s matches the model",
		   kern ? kern->name : "(none)");
	}
	prob_free(&p);
}

static void lns_error_vs_f(void)
{
	prob p = prob_new(32, 128, 32, 600);
	size_t nc = (size_t)p.m * p.n;
	double err[9];
	int decreasing = 1;
	dp_desc nd = mm_desc(DP_ALGO_NAIVE, p.m, p.k, p.n, 0, 0, 0);
	run(&dp_matmul_naive_generic, &nd, p.a, p.b, p.c);
	double fp32 = compare(p.c, p.ref, nc).mean_abs_err;
	for (int f = 0; f <= 8; f++) {
		dp_desc d = mm_desc(DP_ALGO_LNS, p.m, p.k, p.n, f, 32, f);
		err[f] = run(&dp_matmul_lns_generic, &d, p.a, p.b, p.c) ?
			compare(p.c, p.ref, nc).mean_abs_err : INFINITY;
		diag("lns F=%d: mean |err| %.4g (fp32 %.3g)", f, err[f], fp32);
		if (f > 0 && !(err[f] < err[f - 1]))
			decreasing = 0;
	}
	ok(decreasing && err[8] > fp32, "lns error against the reference "
	   "decreases at every step F = 0..8 (%.3g -> %.3g), and stays above "
	   "fp32's (%.3g)", err[0], err[8], fp32);
	prob_free(&p);
}

/* One small case: 1 x K x 1 (or 1 x K x 2) with given values. */
static float one(const dp_kernel *kern, dp_desc d, const float *a,
                 const float *b)
{
	float c[2] = { -7, -7 };
	return run(kern, &d, a, b, c) ? c[0] : -12345;
}

static void specials(void)
{
	const float inf = INFINITY, nan = NAN;
	const float sub = ldexpf(1.0f, -140);   /* subnormal */
	const dp_kernel *kerns[3] = { &dp_matmul_log_generic,
	                              &dp_matmul_log_generic,
	                              &dp_matmul_lns_generic };
	dp_desc ds[3] = { mm_desc(DP_ALGO_LOG, 1, 2, 1, DP_LOG_EXACT, 0, 0),
	                  mm_desc(DP_ALGO_LOG, 1, 2, 1, 8, 0, 0),
	                  mm_desc(DP_ALGO_LNS, 1, 2, 1, 4, 64, 4) };
	const char *what[3] = { "log exact", "log F=8", "lns F=4" };
	for (int v = 0; v < 3; v++) {
		const dp_kernel *k = kerns[v];
		dp_desc d = ds[v];
		float r;
		r = one(k, d, (float[]){ 0, 2 }, (float[]){ 3, 0.5f });
		ok(r == 1.0f, "%s: a zero operand adds exactly nothing (0*3 + "
		   "2*0.5 = %g)", what[v], r);
		r = one(k, d, (float[]){ 0, -0.0f }, (float[]){ 5, 5 });
		ok(r == 0.0f, "%s: all-zero products give 0 (%g)", what[v], r);
		r = one(k, d, (float[]){ -2, 4 }, (float[]){ 1, -0.5f });
		ok(r == -4.0f, "%s: signs are xor-ed (-2*1 + 4*-0.5 = %g)",
		   what[v], r);
		r = one(k, d, (float[]){ sub, 0 }, (float[]){ ldexpf(1, 120), 0 });
		ok(r == ldexpf(1, -20), "%s: a subnormal operand is an ordinary "
		   "value (2^-140 * 2^120 = %g)", what[v], r);
		r = one(k, d, (float[]){ inf, 1 }, (float[]){ 2, 3 });
		ok(r == inf, "%s: Inf * 2 + 3 = +Inf (%g)", what[v], r);
		r = one(k, d, (float[]){ -inf, 1 }, (float[]){ 2, 3 });
		ok(r == -inf, "%s: -Inf * 2 + 3 = -Inf (%g)", what[v], r);
		r = one(k, d, (float[]){ inf, 1 }, (float[]){ 0, 3 });
		ok(isnan(r), "%s: Inf * 0 is NaN (%g)", what[v], r);
		r = one(k, d, (float[]){ inf, -inf }, (float[]){ 1, 1 });
		ok(isnan(r), "%s: Inf - Inf is NaN (%g)", what[v], r);
		r = one(k, d, (float[]){ nan, 0 }, (float[]){ 1, 1 });
		ok(isnan(r), "%s: a NaN operand gives NaN (%g)", what[v], r);
	}
	/* lns accumulator limits: W = 8 bits, O = 4 fractional bits, so the
	 * accumulators hold -8 .. 7.9375 in steps of 1/16. */
	dp_desc d = mm_desc(DP_ALGO_LNS, 1, 2, 1, 0, 8, 0);
	float r = one(&dp_matmul_lns_generic, d, (float[]){ 4, 0 },
	              (float[]){ 4, 0 });
	ok(r == INFINITY, "lns W=8: one product 16 > 7.94 overflows: +Inf, not "
	   "wrapped (%g)", r);
	r = one(&dp_matmul_lns_generic, d, (float[]){ -4, 0 }, (float[]){ 4, 0 });
	ok(r == -INFINITY, "lns W=8: -16 overflows downward: -Inf (%g)", r);
	r = one(&dp_matmul_lns_generic, d, (float[]){ 2, 2 }, (float[]){ 2, 2 });
	ok(r == INFINITY, "lns W=8: 4 + 4 = 8 overflows in the sum: +Inf (%g)",
	   r);
	r = one(&dp_matmul_lns_generic, d, (float[]){ 2, -2 }, (float[]){ 2, 2 });
	ok(r == 0.0f, "lns W=8: 4 - 4 = 0 (%g)", r);
	r = one(&dp_matmul_lns_generic, d, (float[]){ 2, 0.125f },
	        (float[]){ 1, 0.25f });
	ok(r == 2.0f, "lns W=8: 2^-5 is below the resolution 2^-4 and is "
	   "truncated (2 + 2^-5 -> %g)", r);
	r = one(&dp_matmul_lns_generic, mm_desc(DP_ALGO_LNS, 1, 2, 1, 0, 64, 0),
	        (float[]){ 3, 0 }, (float[]){ 1, 0 });
	ok(r == 4.0f, "lns F=0: 3 is stored as 2^2 (log2 3 = 1.58 rounds to 2) "
	   "(%g)", r);
	r = one(&dp_matmul_lns_generic, mm_desc(DP_ALGO_LNS, 1, 2, 1, 0, 64, 0),
	        (float[]){ 2, 1 }, (float[]){ 1, 1 });
	ok(r == 4.0f, "lns F=0: 2 + 1 = 3 rounds to 4, above the midpoint 3 of "
	   "2 and 4 (%g)", r);
	r = one(&dp_matmul_lns_generic, mm_desc(DP_ALGO_LNS, 1, 2, 1, 0, 64, 0),
	        (float[]){ 2, 0.5f }, (float[]){ 1, 1 });
	ok(r == 2.0f, "lns F=0: 2 + 0.5 = 2.5 rounds to 2, below the midpoint "
	   "(%g)", r);
}

/* Generated kernels and the generic ones agree bit for bit. */
static void generated_equals_generic(void)
{
	prob p = prob_new(9, 37, 11, 700);
	p.a[3] = 0;
	p.b[5] = ldexpf(1, -130);
	dp_desc ds[4] = { mm_desc(DP_ALGO_LOG, 9, 37, 11, DP_LOG_EXACT, 0, 0),
	                  mm_desc(DP_ALGO_LOG, 9, 37, 11, 23, 0, 0),
	                  mm_desc(DP_ALGO_LNS, 9, 37, 11, 4, 32, 4),
	                  mm_desc(DP_ALGO_LNS, 9, 37, 11, 7, 8, 2) };
	float *c2 = malloc(99 * 4);
	for (int v = 0; v < 4; v++) {
		const dp_kernel *g = generated(&ds[v]);
		const dp_kernel *gen = ds[v].algo == DP_ALGO_LOG ?
			&dp_matmul_log_generic : &dp_matmul_lns_generic;
		int same = g && run(g, &ds[v], p.a, p.b, p.c) &&
		           run(gen, &ds[v], p.a, p.b, c2);
		for (int i = 0; same && i < 99; i++)
			same = memcmp(&p.c[i], &c2[i], 4) == 0;
		ok(same, "%s equals the generic kernel bit for bit",
		   g ? g->name : "(none)");
	}
	free(c2);
	prob_free(&p);
}

int main(void)
{
	if (!make_temp_dir(tmpdir, sizeof tmpdir)) {
		ok(0, "temporary directory");
		return done_testing();
	}
	seed_case();
	shapes_vs_reference();
	lns_vs_model();
	lns_error_vs_f();
	specials();
	generated_equals_generic();
	remove_tree(tmpdir);
	return done_testing();
}
