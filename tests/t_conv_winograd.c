/* t_conv_winograd.c - Winograd F(m x m, r x r) convolution, generated and
 * generic, against the fp64 reference: F(2,3), F(4,3), F(6,3), F(2,5),
 * F(4,5), F(3,2), F(2,7) on edge shapes (1x1 input, C = K = 1, odd and
 * prime sizes, batch 3, outputs that are not a multiple of m, padding 0,
 * 1, 2 and unequal, kernels as large as the padded input) and custom
 * point sets; the generic kernel's transforms checked against the exact
 * identity; the generated source checked for folded constants; and the
 * seed cases (one channel, no padding, 3x3, H = 3, 7, ..., 47, 100
 * seeds each), whose mean absolute error must stay below 1e-3. Threads
 * (issue 7): generated and generic kernels give the same bits on 1, 2
 * and 3 threads, every parallel-for forced parallel, on shapes that take
 * each of the generated kernel's three product paths (GEMM reading A in
 * place, GEMM packing A into per-slice slots, filter-major), with ragged
 * tiles, batch > 1, C and K not multiples of 8, and a 5x5 kernel.
 *
 * Tolerance, per output, derived from the transforms (not tuned):
 *   |y - y_ref| <= gamma_n * S,   gamma_n = n u / (1 - n u), u = 2^-24,
 *   S = |b| + sum_c |AT| [ (|G| |g_kc| |G|^T) .* (|BT| |d_c| |BT|^T) ] |AT|^T
 * evaluated in double at the output's position in its tile. Every float
 * operation on the way to an output multiplies one term of the exact
 * expansion by at most one factor (1 + delta), |delta| <= u, so the
 * standard argument (Higham, 3.1) bounds the error by gamma_n times the
 * sum of the magnitudes of all terms, which is S, when n is the largest
 * number of roundings along any path from an input to an output:
 *   filter transform, two passes of <= r terms: per pass a rounded
 *     coefficient, a multiply, r - 1 adds and one add for the shared
 *     sums/differences of a point pair: 2r + 4 (the generic rounds once);
 *   input transform, two passes of <= alpha terms, same count plus one
 *     for a shared column pair: 2 alpha + 6;
 *   the product over channels: a multiply and C adds: C + 1;
 *   output transform: 2 alpha + 6; the bias: 1;
 * so n = C + 4 alpha + 2r + 18 (we use that). The largest err/bound
 * ratio seen is printed; a wrong constant or a dropped tap gives errors
 * of the size of the data, orders of magnitude above the bound (checked
 * by breaking a constant in the template by hand). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv_check.h"
#include "kernels.h"
#include "tap.h"
#include "util.h"

#define MAXA DP_WINOGRAD_MAX_ALPHA

typedef conv_result result;

static dp_desc conv_desc(int n, int c, int h, int w, int k, int r, int m,
                         int ph, int pw, const char *points)
{
	dp_desc d = { .op = DP_OP_CONV, .algo = DP_ALGO_WINOGRAD,
	              .precision = DP_PREC_FP32 };
	d.n = n; d.c = c; d.h = h; d.w = w; d.k = k; d.r = r; d.s = r;
	d.stride = 1; d.pad_h = ph; d.pad_w = pw; d.tile = m;
	snprintf(d.points, sizeof d.points, "%s", points);
	return d;
}

/* The bound S of the header for every output, in mag (n*K*HO*WO). */
static int magnitudes(const dp_desc *d, const float *x, const float *wt,
                      const float *b, double *mag)
{
	const int m = d->tile, r = d->r, a = m + r - 1;
	const int ho = dp_conv_out_h(d), wo = dp_conv_out_w(d);
	const int tyn = (ho + m - 1) / m, txn = (wo + m - 1) / m, nt = tyn * txn;
	double at[MAXA * MAXA], g[MAXA * MAXA], bt[MAXA * MAXA];
	if (dp_winograd_transforms(m, r, d->points, at, g, bt) != DP_OK)
		return -1;
	for (int i = 0; i < MAXA * MAXA; i++) {
		at[i] = fabs(at[i]);
		g[i] = fabs(g[i]);
		bt[i] = fabs(bt[i]);
	}
	size_t aa = (size_t)a * a;
	double *ug = malloc(sizeof(double) * aa * d->k * d->c);
	double *vd = malloc(sizeof(double) * aa * d->c * nt);
	if (!ug || !vd) {
		free(ug);
		free(vd);
		return -1;
	}
	for (int k = 0; k < d->k; k++)
	for (int c = 0; c < d->c; c++) {
		const float *w = wt + ((size_t)k * d->c + c) * r * r;
		double t[MAXA][MAXA];
		for (int i = 0; i < a; i++)
			for (int j = 0; j < r; j++) {
				t[i][j] = 0;
				for (int l = 0; l < r; l++)
					t[i][j] += g[i * r + l] * fabs(w[l * r + j]);
			}
		double *u = ug + ((size_t)k * d->c + c) * aa;
		for (int i = 0; i < a; i++)
			for (int j = 0; j < a; j++) {
				u[i * a + j] = 0;
				for (int l = 0; l < r; l++)
					u[i * a + j] += t[i][l] * g[j * r + l];
			}
	}
	for (int n = 0; n < d->n; n++) {
		for (int c = 0; c < d->c; c++)
		for (int tile = 0; tile < nt; tile++) {
			int y0 = tile / txn * m - d->pad_h, x0 = tile % txn * m - d->pad_w;
			double dt[MAXA][MAXA], t[MAXA][MAXA];
			for (int i = 0; i < a; i++)
				for (int j = 0; j < a; j++) {
					int y = y0 + i, xx = x0 + j;
					dt[i][j] = y >= 0 && y < d->h && xx >= 0 && xx < d->w ?
						fabs(x[(((size_t)n * d->c + c) * d->h + y) *
						       d->w + xx]) : 0;
				}
			for (int i = 0; i < a; i++)
				for (int j = 0; j < a; j++) {
					t[i][j] = 0;
					for (int l = 0; l < a; l++)
						t[i][j] += bt[i * a + l] * dt[l][j];
				}
			double *v = vd + ((size_t)c * nt + tile) * aa;
			for (int i = 0; i < a; i++)
				for (int j = 0; j < a; j++) {
					v[i * a + j] = 0;
					for (int l = 0; l < a; l++)
						v[i * a + j] += t[i][l] * bt[j * a + l];
				}
		}
		for (int k = 0; k < d->k; k++)
		for (int tile = 0; tile < nt; tile++) {
			double p[MAXA * MAXA] = { 0 }, t[MAXA][MAXA];
			for (int c = 0; c < d->c; c++) {
				const double *u = ug + ((size_t)k * d->c + c) * aa;
				const double *v = vd + ((size_t)c * nt + tile) * aa;
				for (size_t i = 0; i < aa; i++)
					p[i] += u[i] * v[i];
			}
			for (int i = 0; i < m; i++)
				for (int j = 0; j < a; j++) {
					t[i][j] = 0;
					for (int l = 0; l < a; l++)
						t[i][j] += at[i * a + l] * p[l * a + j];
				}
			int oy = tile / txn * m, ox = tile % txn * m;
			for (int i = 0; i < m && oy + i < ho; i++)
				for (int j = 0; j < m && ox + j < wo; j++) {
					double s = fabs(b[k]);
					for (int l = 0; l < a; l++)
						s += t[i][l] * at[j * a + l];
					mag[(((size_t)n * d->k + k) * ho + oy + i) * wo +
					    ox + j] = s;
				}
		}
	}
	free(ug);
	free(vd);
	return 0;
}

/* The bound of one output: a float dot product of C products plus the
 * transforms' own additions, on the magnitudes above. */
static int bound_of(const dp_desc *d, const float *x, const float *w,
                    const float *b, const double *ref, double *bound)
{
	(void)ref;
	if (magnitudes(d, x, w, b, bound) != 0)
		return -1;
	const int a = d->tile + d->r - 1;
	const int terms = d->c + 4 * a + 2 * d->r + 18;
	size_t no = (size_t)dp_conv_output_elems(d);
	for (size_t i = 0; i < no; i++)
		bound[i] = dot_error_bound(terms, bound[i]);
	return 0;
}

/* Runs kern on N(0,1) data from seed; compares with the reference. */
static result run_case(const dp_kernel *kern, const dp_desc *d,
                       uint64_t seed)
{
	return conv_check_bound(kern, d, seed, bound_of);
}

static int passes(const result *r)
{
	return r->worst >= 0 && r->worst <= 1;
}

static const struct {
	int n, c, h, w, k, r, m, ph, pw;
	const char *points;
	int gen;          /* also build and test the generated kernel */
	const char *why;
} cases[] = {
	{ 1, 3, 28, 28, 16, 3, 2, 1, 1, "", 1, "the demo layer, F(2,3)" },
	{ 1, 3, 28, 28, 16, 3, 4, 1, 1, "", 1, "the demo layer, F(4,3)" },
	{ 1, 3, 28, 28, 16, 3, 6, 1, 1, "", 1, "the demo layer, F(6,3)" },
	{ 1, 1, 1, 1, 1, 3, 2, 1, 1, "", 1, "1x1 input, F(2,3)" },
	{ 1, 1, 1, 1, 1, 5, 4, 2, 2, "", 0, "1x1 input, F(4,5)" },
	{ 1, 2, 1, 1, 3, 7, 2, 3, 3, "", 1, "1x1 input, F(2,7)" },
	{ 1, 1, 13, 11, 1, 3, 4, 1, 1, "", 0, "C = K = 1, 13x11" },
	{ 1, 2, 13, 11, 3, 5, 2, 2, 2, "", 1, "13x11, F(2,5)" },
	{ 1, 2, 17, 17, 3, 3, 6, 1, 1, "", 0, "17x17, F(6,3)" },
	{ 1, 3, 17, 17, 2, 5, 4, 2, 2, "", 1, "17x17, F(4,5)" },
	{ 3, 2, 9, 7, 4, 2, 3, 0, 0, "", 1, "batch 3, F(3,2), pad 0" },
	{ 3, 2, 9, 7, 4, 2, 3, 1, 1, "", 0, "batch 3, F(3,2), pad 1" },
	{ 1, 2, 10, 10, 2, 3, 4, 0, 0, "", 1, "pad 0, output 8 = 2m, no tile sees padding" },
	{ 1, 2, 9, 9, 2, 3, 4, 2, 2, "", 0, "pad 2, output 11" },
	{ 1, 2, 11, 9, 3, 3, 2, 0, 2, "", 1, "pad 0x2" },
	{ 1, 1, 3, 3, 2, 5, 2, 1, 1, "", 1, "kernel = padded input 5x5" },
	{ 1, 2, 7, 7, 1, 7, 2, 0, 0, "", 0, "kernel = input 7x7" },
	{ 1, 1, 2, 2, 1, 6, 3, 2, 2, "", 0, "kernel = padded input 6x6, F(3,6)" },
	{ 1, 3, 23, 19, 5, 3, 6, 1, 1, "", 0, "23x19, F(6,3)" },
	{ 1, 2, 8, 9, 3, 1, 8, 0, 0, "", 0, "1x1 kernel, F(8,1)" },
	{ 2, 4, 15, 15, 3, 7, 2, 3, 3, "", 0, "batch 2, F(2,7)" },
	{ 1, 3, 14, 14, 4, 3, 4, 1, 1, "0,1,-1,1/2,-1/2", 1,
	  "custom points, F(4,3)" },
	{ 1, 3, 14, 14, 4, 3, 6, 1, 1, "0,1,-1,2,-2,1/3,-1/3", 1,
	  "custom points, F(6,3)" },
	{ 1, 2, 13, 13, 2, 3, 4, 1, 1, "-1,0,1/2,1,3", 0,
	  "custom points in any order, F(4,3)" },
};

/* The generic kernel's matrices satisfy the correlation identity
 * sum_k AT[i][k] G[k][j] BT[k][t] = [t == i + j] (up to double rounding),
 * and F(2,3) is Lavin and Gray's exactly. */
static void check_transforms(void)
{
	static const int fr[][2] = { { 2, 3 }, { 4, 3 }, { 6, 3 }, { 2, 5 },
		{ 4, 5 }, { 3, 2 }, { 2, 7 }, { 1, 8 }, { 8, 1 }, { 3, 6 } };
	for (size_t f = 0; f < sizeof fr / sizeof fr[0]; f++) {
		int m = fr[f][0], r = fr[f][1], a = m + r - 1;
		double at[MAXA * MAXA], g[MAXA * MAXA], bt[MAXA * MAXA];
		double worst = dp_winograd_transforms(m, r, "", at, g, bt) ==
			DP_OK ? 0 : INFINITY;
		for (int i = 0; i < m; i++)
			for (int j = 0; j < r; j++)
				for (int t = 0; t < a; t++) {
					double s = 0;
					for (int k = 0; k < a; k++)
						s += at[i * a + k] * g[k * r + j] * bt[k * a + t];
					s -= t == i + j;
					if (!(fabs(s) <= worst))
						worst = fabs(s);
				}
		ok(worst < 1e-12, "generic transforms of F(%d,%d) satisfy the "
		   "identity (largest residual %.2g)", m, r, worst);
	}
	static const double lat[] = { 1, 1, 1, 0, 0, 1, -1, -1 };
	static const double lg[] = { 1, 0, 0, .5, .5, .5, .5, -.5, .5, 0, 0, 1 };
	static const double lbt[] = { 1, 0, -1, 0, 0, 1, 1, 0,
	                              0, -1, 1, 0, 0, 1, 0, -1 };
	double at[MAXA * MAXA], g[MAXA * MAXA], bt[MAXA * MAXA];
	int same = dp_winograd_transforms(2, 3, "", at, g, bt) == DP_OK;
	for (int i = 0; i < 16; i++)   /* == so that -0.0 equals 0.0 */
		same = same && (i >= 8 || at[i] == lat[i]) &&
		       (i >= 12 || g[i] == lg[i]) && bt[i] == lbt[i];
	ok(same, "generic F(2,3) matrices are Lavin and Gray's");
}

/* The generated F(4,3) source: no multiply by 0 or +-1 left. */
static void check_folded(const char *dir)
{
	dp_desc d = conv_desc(1, 3, 28, 28, 16, 3, 4, 1, 1, "");
	char args[512], path[1024], name[256], cmd[2048];
	desc_args(&d, args, sizeof args);
	snprintf(cmd, sizeof cmd, "%s %s --print-name", dpgen_path(), args);
	if (!ok(sh_capture(cmd, name, sizeof name) == 0, "dpgen names F(4,3)"))
		return;
	name[strcspn(name, "\n")] = '\0';
	snprintf(path, sizeof path, "%s/%s.c", dir, name);
	char *src = slurp(path, NULL);
	if (!ok(src != NULL, "read %s", path))
		return;
	static const char *const bad[] = { "* 1.0f", "* -1.0f", "* 0.0f",
		"1.0f *", "0.0f *", "* -0.0f" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ok(strstr(src, bad[i]) == NULL, "generated F(4,3) has no \"%s\"",
		   bad[i]);
	ok(strstr(src, "AT (4x6)") && strstr(src, "BT (6x6)"),
	   "generated F(4,3) shows its matrices");
	free(src);
}

/* ---- threads ---- */

/* kern's output at `threads` threads (tests/util.c: NaN-poisoned first),
 * copied into y; 0 if it ran and wrote every output. */
static int run_threads(const dp_kernel *kern, const dp_desc *d, int threads,
                       const float *x, const float *w, const float *b,
                       float *y, size_t ny)
{
	float *out = run_at_threads(kern, d, threads, x, w, b, ny);
	int rc = out ? 0 : -1;
	for (size_t i = 0; out && i < ny; i++) {
		y[i] = out[i];
		if (isnan(out[i]))
			rc = -1;
	}
	free(out);
	return rc;
}

static const struct {
	int n, c, h, w, k, r, m;
	const char *why;
	const char *path;   /* a constant the generated source must define */
} thread_cases[] = {
	{ 2, 5, 30, 29, 11, 3, 4, "GEMM, A in place, ragged, batch 2", "PACKED_B" },
	{ 2, 9, 13, 14, 256, 3, 2, "GEMM, A packed per slice, batch 2",
	  "SLICES" },
	{ 2, 20, 13, 15, 13, 3, 4, "filter-major, ragged, batch 2", "TPF" },
	{ 1, 3, 17, 17, 2, 5, 4, "5x5, F(4,5), ragged", "PACKED_B" },
};

/* The same bits at 2 and 3 threads as at 1, generated and generic, with
 * every parallel-for made parallel whatever its work. */
static void check_threads(const char *dir)
{
	for (size_t i = 0; i < sizeof thread_cases / sizeof thread_cases[0];
	     i++) {
		dp_desc d = conv_desc(thread_cases[i].n, thread_cases[i].c,
		                      thread_cases[i].h, thread_cases[i].w,
		                      thread_cases[i].k, thread_cases[i].r,
		                      thread_cases[i].m, (thread_cases[i].r - 1) / 2,
		                      (thread_cases[i].r - 1) / 2, "");
		size_t nx = (size_t)dp_conv_input_elems(&d);
		size_t nw = (size_t)dp_conv_weight_elems(&d);
		size_t ny = (size_t)dp_conv_output_elems(&d);
		float *x = malloc(nx * sizeof(float));
		float *w = malloc(nw * sizeof(float));
		float *b = malloc((size_t)d.k * sizeof(float));
		float *y1 = malloc(ny * sizeof(float));
		float *yt = malloc(ny * sizeof(float));
		char note[2048], args[512];
		if (!x || !w || !b || !y1 || !yt) {
			ok(0, "memory for the thread cases");
			free(x); free(w); free(b); free(y1); free(yt);
			return;
		}
		rng_t rng;
		rng_seed(&rng, 900 + i);
		fill_normal(&rng, x, nx);
		fill_normal(&rng, w, nw);
		fill_normal(&rng, b, (size_t)d.k);
		desc_args(&d, args, sizeof args);
		const dp_kernel *kinds[2] = {
			build_kernel(&d, dir, note, sizeof note),
			&dp_conv_winograd_generic,
		};
		if (!ok(kinds[0] != NULL, "generated kernel builds: %s", args))
			diag("%s", note);
		else {
			/* The shape takes the product path it is here for. */
			char path[1024], want[64];
			snprintf(path, sizeof path, "%s/%s.c", dir, kinds[0]->name);
			snprintf(want, sizeof want, "%s = ", thread_cases[i].path);
			char *src = slurp(path, NULL);
			ok(src && strstr(src, want) &&
			   (strcmp(thread_cases[i].path, "PACKED_B") ||
			    !strstr(src, "SLICES = ")),
			   "%s takes the path: %s", kinds[0]->name,
			   thread_cases[i].why);
			free(src);
		}
		for (int g = 0; g < 2; g++) {
			if (!kinds[g])
				continue;
			dp_set_parallel_min_flops(0);
			int good = run_threads(kinds[g], &d, 1, x, w, b, y1, ny) == 0;
			for (int t = 2; t <= 3; t++)
				good = good &&
				       run_threads(kinds[g], &d, t, x, w, b, yt, ny) == 0 &&
				       !memcmp(y1, yt, ny * sizeof(float));
			ok(good, "%s %s: bitwise identical at 1, 2 and 3 threads",
			   g ? "generic  " : "generated", thread_cases[i].why);
			/* And right, on 2 threads. */
			dp_set_num_threads(2);
			result r = run_case(kinds[g], &d, 900 + i);
			ok(passes(&r), "%s %s, 2 threads: %s",
			   g ? "generic  " : "generated", thread_cases[i].why, r.note);
			dp_set_parallel_min_flops(-1);
			dp_set_num_threads(0);
		}
		free(x);
		free(w);
		free(b);
		free(y1);
		free(yt);
	}
}

/* The seed cases: mean absolute error over 100 seeds per size. */
static void seed_cases(const dp_kernel *kern, const dp_desc *d,
                       const char *who)
{
	double sum_mean = 0, max_err = 0, worst = 0;
	int bad = 0;
	for (int seed = 1; seed <= 100; seed++) {
		result r = run_case(kern, d, (uint64_t)seed * 7919 + d->h);
		if (r.worst < 0) {
			bad = 1;
			diag("%s", r.note);
			break;
		}
		sum_mean += r.mean_err;
		if (r.max_err > max_err)
			max_err = r.max_err;
		if (r.worst > worst)
			worst = r.worst;
	}
	double mean = sum_mean / 100;
	ok(!bad && mean < 1e-3 && worst <= 1, "seed cases %s F(%d,3) H = %d: "
	   "mean |err| %.3g over 100 seeds, max %.3g, worst err/bound %.3g",
	   who, d->tile, d->h, mean, max_err, worst);
}

int main(void)
{
	char dir[256], note[2048], args[512];
	if (!make_temp_dir(dir, sizeof dir)) {
		ok(0, "temporary directory");
		return done_testing();
	}
	check_transforms();
	double worst_seen = 0;
	size_t count = sizeof cases / sizeof cases[0];
	for (size_t i = 0; i < count; i++) {
		dp_desc d = conv_desc(cases[i].n, cases[i].c, cases[i].h,
		                      cases[i].w, cases[i].k, cases[i].r,
		                      cases[i].m, cases[i].ph, cases[i].pw,
		                      cases[i].points);
		desc_args(&d, args, sizeof args);
		if (!ok(dp_desc_check(&d, note, sizeof note) == DP_OK,
		        "valid descriptor (%s): %s", cases[i].why, args)) {
			diag("%s", note);
			continue;
		}
		result g = run_case(&dp_conv_winograd_generic, &d, 200 + i);
		ok(passes(&g), "generic   %s: %s", cases[i].why, g.note);
		if (g.worst > worst_seen)
			worst_seen = g.worst;
		if (!cases[i].gen)
			continue;
		const dp_kernel *kern = build_kernel(&d, dir, note, sizeof note);
		if (!ok(kern != NULL, "generated kernel builds: %s", args)) {
			diag("%s", note);
			continue;
		}
		ok(!kern->generic && !memcmp(&kern->desc, &d, sizeof d),
		   "kernel %s describes its own shape", kern->name);
		result e = run_case(kern, &d, 200 + i);
		ok(passes(&e), "generated %s: %s", cases[i].why, e.note);
		if (e.worst > worst_seen)
			worst_seen = e.worst;
	}
	diag("largest err/bound over the shapes: %.3g", worst_seen);
	check_folded(dir);
	check_threads(dir);

	/* Seed cases: C = K = 1, no padding, 3x3, F(4,3) (the default tile). */
	for (int h = 3; h <= 47; h += 4) {
		dp_desc d = conv_desc(1, 1, h, h, 1, 3,
		                      dp_winograd_default_tile(3), 0, 0, "");
		seed_cases(&dp_conv_winograd_generic, &d, "generic  ");
		if (h == 3 || h == 27 || h == 47) {
			const dp_kernel *kern = build_kernel(&d, dir, note,
			                                     sizeof note);
			if (ok(kern != NULL, "generated seed kernel H = %d builds", h))
				seed_cases(kern, &d, "generated");
			else
				diag("%s", note);
		}
	}
	/* Winograd kernels built into the library: dispatch picks them. */
	for (size_t i = 0; i < dp_registry_count; i++) {
		const dp_kernel *kern = dp_registry[i];
		if (kern->desc.algo != DP_ALGO_WINOGRAD ||
		    kern->desc.precision != DP_PREC_FP32) /* t_precision_gen */
			continue;
		ok(dp_registry_find(&kern->desc) == kern, "dispatch finds %s",
		   kern->name);
		result e = run_case(kern, &kern->desc, 300 + i);
		ok(passes(&e), "registered %s: %s", kern->name, e.note);
	}
	remove_tree(dir);
	return done_testing();
}
