/* t_find.c - dp_find_conv / dp_find_matmul, dp_plan_*, dp_execute:
 * every applicable algorithm measured, errors consistent with the
 * precision study, sorted by time; choices honour the error budget;
 * plan + execute is bitwise dp_kernel_run of the chosen kernel. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "util.h"

static dp_find_opts quick(void)
{
	dp_find_opts o;
	memset(&o, 0, sizeof o);
	o.min_reps = 5;
	o.min_seconds = 0.002;
	o.max_seconds = 0.02;
	o.seed = 7;
	return o;
}

static dp_desc conv_desc(int h, int c, int k, int r)
{
	dp_desc d;
	memset(&d, 0, sizeof d);
	d.op = DP_OP_CONV;
	d.algo = DP_ALGO_DIRECT;
	d.n = 1;
	d.c = c;
	d.h = d.w = h;
	d.k = k;
	d.r = d.s = r;
	d.stride = 1;
	d.pad_h = d.pad_w = (r - 1) / 2;
	return d;
}

static const dp_find_result *find_row(const dp_find_result *r, int n,
                                      dp_algo a, int tile)
{
	for (int i = 0; i < n; i++)
		if (r[i].desc.algo == a && r[i].desc.tile == tile)
			return &r[i];
	return NULL;
}

static int sorted(const dp_find_result *r, int n)
{
	int seen_bad = 0;
	for (int i = 0; i < n; i++) {
		if (r[i].status != DP_OK) {
			seen_bad = 1;
			continue;
		}
		if (seen_bad || (i > 0 && r[i].seconds < r[i - 1].seconds))
			return 0;
	}
	return 1;
}

/* Every conv algorithm and variant that should apply to a stride-1
 * square layer with kernel r, and its error bound. */
static void check_conv_layer(const char *label, dp_desc d)
{
	dp_find_result res[DP_FIND_MAX];
	int n = 0;
	dp_find_opts o = quick();
	dp_status st = dp_find_conv(&d, &o, res, DP_FIND_MAX, &n);
	ok(st == DP_OK && n > 0, "%s: find returns %d results", label, n);
	for (int i = 0; i < n; i++)
		diag("%-12s %-8s %-9s %9.2f us  rel %.2e  %s",
		     dp_algo_name(res[i].desc.algo), res[i].variant,
		     res[i].generated ? "generated" : "generic",
		     res[i].seconds * 1e6, res[i].rel_err, res[i].message);
	ok(sorted(res, n), "%s: sorted fastest first, not applicable last",
	   label);
	struct { dp_algo a; int tile; double bound; } want[16];
	int nw = 0;
	want[nw].a = DP_ALGO_DIRECT; want[nw].tile = 0; want[nw++].bound = 1e-4;
	want[nw].a = DP_ALGO_IM2COL; want[nw].tile = 0; want[nw++].bound = 1e-4;
	want[nw].a = DP_ALGO_IM2COL_BLAS; want[nw].tile = 0;
	want[nw++].bound = 1e-4;
	want[nw].a = DP_ALGO_FFT_FFTW; want[nw].tile = 0;
	want[nw++].bound = 1e-4;
	for (int m = 2; m <= 6; m += 2)
		if (m + d.r - 1 <= DP_WINOGRAD_MAX_ALPHA) {
			want[nw].a = DP_ALGO_WINOGRAD;
			want[nw].tile = m;
			want[nw++].bound = 1e-3;
		}
	for (int t = DP_FFT_MIN_TILE; t <= DP_FFT_MAX_TILE; t *= 2)
		if (t >= d.r) {
			want[nw].a = DP_ALGO_FFT;
			want[nw].tile = t;
			want[nw++].bound = 1e-4;
		}
	int all = 1, errs = 0;
	for (int i = 0; i < nw; i++) {
		const dp_find_result *r = find_row(res, n, want[i].a, want[i].tile);
		if (!r || r->status != DP_OK || !(r->seconds > 0) ||
		    !r->kernel[0] || r->reps < 5) {
			all = 0;
			diag("missing or failed: %s tile %d",
			     dp_algo_name(want[i].a), want[i].tile);
			continue;
		}
		int good = r->rel_err < want[i].bound && r->max_abs_err > 0 &&
		           r->mean_abs_err <= r->max_abs_err &&
		           r->gflops > 0 && r->workspace_bytes > 0;
		if (!good)
			diag("%s %s: rel %.3g (bound %.0e)",
			     dp_algo_name(r->desc.algo), r->variant, r->rel_err,
			     want[i].bound);
		errs += !good;
	}
	ok(all, "%s: all %d applicable algorithms and variants measured",
	   label, nw);
	ok(errs == 0, "%s: errors within bounds (direct/im2col/fft < 1e-4, "
	   "winograd < 1e-3)", label);
	int napp = 0;
	for (int i = 0; i < n; i++)
		napp += res[i].status == DP_OK;
	ok(napp == nw, "%s: exactly those %d are applicable (%d)", label, nw,
	   napp);
	int why = 1;
	for (int i = 0; i < n; i++)
		if (res[i].status != DP_OK &&
		    strncmp(res[i].message, "not applicable", 14) != 0)
			why = 0;
	ok(why, "%s: not-applicable rows say why", label);
	/* Winograd's largest tile is less accurate than direct. */
	int mbig = d.r == 3 ? 6 : 4;
	const dp_find_result *wb = find_row(res, n, DP_ALGO_WINOGRAD, mbig);
	const dp_find_result *dr = find_row(res, n, DP_ALGO_DIRECT, 0);
	ok(wb && dr && wb->max_abs_err > dr->max_abs_err,
	   "%s: winograd F(%d,%d) error %.2e > direct %.2e", label, mbig, d.r,
	   wb ? wb->max_abs_err : 0, dr ? dr->max_abs_err : 0);
}

static void check_matmul(void)
{
	dp_desc d;
	memset(&d, 0, sizeof d);
	d.op = DP_OP_MATMUL;
	d.algo = DP_ALGO_GEMM;
	d.mm_m = 24;
	d.mm_k = 40;
	d.mm_n = 36;
	dp_find_result res[DP_FIND_MAX];
	int n = 0;
	dp_find_opts o = quick();
	dp_status st = dp_find_matmul(&d, &o, res, DP_FIND_MAX, &n);
	ok(st == DP_OK && n == 2, "matmul: naive and gemm measured (%d "
	   "results)", n);
	int good = sorted(res, n);
	for (int i = 0; i < n; i++)
		good &= res[i].status == DP_OK && res[i].rel_err < 1e-5 &&
		        !res[i].approximate;
	ok(good && find_row(res, n, DP_ALGO_NAIVE, 0) &&
	   find_row(res, n, DP_ALGO_GEMM, 0), "matmul: exact, sorted, "
	   "rel err < 1e-5");
	o.include_approx = 1;
	st = dp_find_matmul(&d, &o, res, DP_FIND_MAX, &n);
	ok(st == DP_OK && n == 5, "matmul with approximate ones: 5 results "
	   "(%d)", n);
	int appr = 0;
	for (int i = 0; i < n; i++) {
		diag("%-6s %-10s %9.2f us  rel %.2e  approx %d %s",
		     dp_algo_name(res[i].desc.algo), res[i].variant,
		     res[i].seconds * 1e6, res[i].rel_err, res[i].approximate,
		     res[i].message);
		appr += res[i].approximate;
	}
	ok(appr == 3 && sorted(res, n), "svd, log, lns marked approximate");
	/* A too small capacity keeps the fastest. */
	dp_find_result one;
	o.include_approx = 0;
	ok(dp_find_matmul(&d, &o, &one, 1, &n) == DP_OK && n == 1 &&
	   one.status == DP_OK, "capacity 1 keeps one result");
	ok(dp_find_matmul(&d, &o, NULL, 4, &n) == DP_ERR_ARG,
	   "NULL results with capacity: DP_ERR_ARG");
	d.op = DP_OP_CONV;
	ok(dp_find_matmul(&d, &o, res, DP_FIND_MAX, &n) == DP_ERR_ARG,
	   "a conv descriptor for dp_find_matmul: DP_ERR_ARG");
}

static void check_plans(void)
{
	dp_desc d = conv_desc(28, 3, 16, 3);
	size_t nx = (size_t)dp_conv_input_elems(&d);
	size_t nw = (size_t)dp_conv_weight_elems(&d);
	size_t ny = (size_t)dp_conv_output_elems(&d);
	float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w);
	float *b = malloc((size_t)d.k * sizeof *b);
	float *y1 = malloc(ny * sizeof *y1), *y2 = malloc(ny * sizeof *y2);
	rng_t rng;
	rng_seed(&rng, 99);
	fill_normal(&rng, x, nx);
	fill_normal(&rng, w, nw);
	fill_normal(&rng, b, (size_t)d.k);

	dp_plan_opts po;
	memset(&po, 0, sizeof po);
	po.find = quick();
	dp_plan *p = NULL;
	ok(dp_plan_conv(&d, DP_FASTEST, &po, w, b, &p) == DP_OK && p,
	   "DP_FASTEST plan");
	if (p) {
		const dp_find_result *r = dp_plan_result(p);
		diag("fastest: %s %s (%s)", dp_algo_name(r->desc.algo),
		     r->variant, r->kernel);
		ok(dp_execute(p, x, y1, NULL) == DP_OK, "execute");
		ok(dp_kernel_run(dp_plan_kernel(p), dp_plan_desc(p), x, w, b,
		                 y2) == DP_OK &&
		   memcmp(y1, y2, ny * sizeof *y1) == 0,
		   "plan + execute is bitwise dp_kernel_run of %s",
		   dp_plan_kernel(p)->name);
		ok(dp_plan_workspace_bytes(p) ==
		   dp_plan_kernel(p)->workspace_bytes(dp_plan_desc(p)),
		   "workspace bytes reported");
	}
	dp_destroy(p);

	po.max_rel_error = 1e-6;
	p = NULL;
	ok(dp_plan_conv(&d, DP_FASTEST_WITHIN, &po, w, b, &p) == DP_OK && p,
	   "budget 1e-6: a plan");
	if (p) {
		const dp_find_result *r = dp_plan_result(p);
		diag("within 1e-6: %s %s rel %.2e", dp_algo_name(r->desc.algo),
		     r->variant, r->rel_err);
		ok(r->rel_err <= 1e-6, "budget 1e-6: chosen rel err %.2e within",
		   r->rel_err);
		ok(!(r->desc.algo == DP_ALGO_WINOGRAD && r->desc.tile >= 6),
		   "budget 1e-6: not Winograd F(6,3) (rel err > 1e-6)");
	}
	dp_destroy(p);
	/* Winograd F(6,3) exceeds 1e-6 on this layer, so the budget excludes
	 * it (F(4,3) sits near 1e-6 with its default points, either side). */
	dp_find_result res[DP_FIND_MAX];
	int n = 0;
	dp_find_opts fo = quick();
	dp_find_conv(&d, &fo, res, DP_FIND_MAX, &n);
	int over = 1;
	for (int i = 0; i < n; i++)
		if (res[i].desc.algo == DP_ALGO_WINOGRAD && res[i].desc.tile >= 6 &&
		    !(res[i].rel_err > 1e-6))
			over = 0;
	ok(over, "winograd F(6,3) has rel err > 1e-6 here");

	po.max_rel_error = 0;
	p = NULL;
	ok(dp_plan_conv(&d, DP_FASTEST_WITHIN, &po, w, b, &p) ==
	   DP_ERR_BUDGET && !p, "budget 0: DP_ERR_BUDGET (%s), no plan",
	   dp_status_str(DP_ERR_BUDGET));
	po.max_rel_error = -1;
	ok(dp_plan_conv(&d, DP_FASTEST_WITHIN, &po, w, b, &p) == DP_ERR_ARG,
	   "negative budget: DP_ERR_ARG");

	/* The descriptor's own algorithm, caller-supplied workspace. */
	dp_desc dw = d;
	dw.algo = DP_ALGO_WINOGRAD;
	dw.tile = 2;
	memset(&po, 0, sizeof po);
	po.caller_workspace = 1;
	p = NULL;
	ok(dp_plan_conv(&dw, DP_CHOOSE_DESC, &po, w, b, &p) == DP_OK && p &&
	   dp_plan_desc(p)->algo == DP_ALGO_WINOGRAD &&
	   dp_plan_desc(p)->tile == 2, "DP_CHOOSE_DESC: winograd F(2,3)");
	if (p) {
		ok(dp_execute(p, x, y1, NULL) == DP_ERR_ARG,
		   "caller_workspace plan without a workspace: DP_ERR_ARG");
		void *ws = malloc(dp_plan_workspace_bytes(p) + 1);
		ok(dp_execute(p, x, y1, ws) == DP_OK &&
		   dp_kernel_run(dp_plan_kernel(p), &dw, x, w, b, y2) == DP_OK &&
		   memcmp(y1, y2, ny * sizeof *y1) == 0,
		   "caller-supplied workspace: same output as dp_kernel_run");
		free(ws);
	}
	dp_destroy(p);
	dp_destroy(NULL);
	dw.tile = 9;
	ok(dp_plan_conv(&dw, DP_CHOOSE_DESC, NULL, w, b, &p) == DP_ERR_ARG &&
	   !p, "an invalid descriptor: DP_ERR_ARG");

	/* Matmul plan. */
	dp_desc m;
	memset(&m, 0, sizeof m);
	m.op = DP_OP_MATMUL;
	m.algo = DP_ALGO_NAIVE;
	m.mm_m = 8;
	m.mm_k = 16;
	m.mm_n = 12;
	memset(&po, 0, sizeof po);
	po.find = quick();
	ok(dp_plan_matmul(&m, DP_FASTEST, &po, w, &p) == DP_OK && p &&
	   dp_execute(p, x, y1, NULL) == DP_OK &&
	   dp_kernel_run(dp_plan_kernel(p), dp_plan_desc(p), x, w, NULL,
	                 y2) == DP_OK &&
	   memcmp(y1, y2, 8 * 12 * sizeof *y1) == 0,
	   "matmul plan: fastest, bitwise dp_kernel_run");
	dp_destroy(p);
	free(x); free(w); free(b); free(y1); free(y2);
}

/* The memory limit: a candidate whose state plus workspace exceeds
 * max_bytes is skipped (not prepared, not run) with a message that says
 * so; the same candidate under a limit it fits is measured. */
static void check_memory_limit(void)
{
	dp_desc d = conv_desc(14, 8, 8, 3);
	d.precision = DP_PREC_FP32;
	dp_find_opts o = quick();
	dp_find_result r[DP_FIND_MAX];
	int n = 0;
	/* The smallest footprint of any candidate, from a normal find. */
	size_t least = (size_t)-1;
	dp_status st = dp_find_conv(&d, &o, r, DP_FIND_MAX, &n);
	ok(st == DP_OK && n > 0, "find under the default limit: %d results",
	   n);
	int measured = 0;
	for (int i = 0; i < n; i++)
		if (r[i].status == DP_OK) {
			measured++;
			size_t b = r[i].state_bytes + r[i].workspace_bytes;
			least = b < least ? b : least;
		}
	ok(measured > 0, "%d candidates measured under the default limit",
	   measured);
	/* A limit below every footprint: all skipped, each saying why. */
	o.max_bytes = least > 1 ? least - 1 : 1;
	int skipped = 0, said = 0;
	st = dp_find_conv(&d, &o, r, DP_FIND_MAX, &n);
	ok(st == DP_OK, "find with max_bytes %zu runs", o.max_bytes);
	for (int i = 0; i < n; i++) {
		if (r[i].status == DP_OK)
			continue;
		if (strstr(r[i].message, "skipped: needs") &&
		    strstr(r[i].message, "max_bytes"))
			said++;
		skipped++;
	}
	ok(skipped == n && said == measured, "max_bytes below every "
	   "footprint: %d of %d skipped, %d with the reason (%d were "
	   "measured before)", skipped, n, said, measured);
	/* Exactly the smallest footprint: that candidate fits again. */
	o.max_bytes = least;
	int back = 0;
	dp_find_conv(&d, &o, r, DP_FIND_MAX, &n);
	for (int i = 0; i < n; i++)
		back += r[i].status == DP_OK;
	ok(back >= 1 && back < measured, "max_bytes = the smallest "
	   "footprint (%zu bytes): %d candidate(s) measured", least, back);
}

int main(void)
{
	check_conv_layer("C3 H28 K16 3x3", conv_desc(28, 3, 16, 3));
	check_conv_layer("C8 H14 K8 5x5", conv_desc(14, 8, 8, 5));
	check_matmul();
	check_plans();
	check_memory_limit();
	return done_testing();
}
