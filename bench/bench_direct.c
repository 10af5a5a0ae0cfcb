/* bench_direct.c - fp32 direct convolution, one thread: the generated
 * kernel (generated with $DPGEN into a temporary directory and compiled
 * with -O3 -march=native unless DP_KERNEL_CFLAGS says otherwise) next to
 * the generic one, on the layers of PERF-NOTES plus the stride-2 stem of
 * generated/MANIFEST. Shared machines are noisy: only the ratio measured
 * in the same run means much.
 *
 * Usage: bench_direct [LAYER...]   (indices into the table; default all)
 * Environment: DPGEN, DP_SRCDIR, CC, DP_KERNEL_CFLAGS, BENCH_BUDGET seconds
 * per measurement (default 0.3). With DPGEN_BASE set to another dpgen, the
 * kernel that one generates is timed too, interleaved with DPGEN's
 * (BENCH_ROUNDS rounds, default 5, of one measurement each; the minimum
 * of each is kept): "base/gen" > 1 means DPGEN's kernel is faster. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timing.h"
#include "util.h"

/* pad -1: "same" padding, (r - 1) / 2. */
static const struct { int c, h, k, r, stride, pad; } layers[] = {
	{ 3, 28, 16, 3, 1, -1 },      /* the demo layer */
	{ 64, 56, 64, 3, 1, -1 },
	{ 128, 28, 128, 3, 1, -1 },
	{ 256, 14, 256, 3, 1, -1 },
	{ 512, 7, 512, 3, 1, -1 },
	{ 32, 28, 32, 5, 1, -1 },
	{ 3, 224, 64, 7, 1, -1 },
	{ 3, 224, 64, 7, 2, -1 },     /* the ResNet stem of generated/MANIFEST */
	{ 16, 64, 16, 11, 1, -1 },    /* the large kernels of bench_conv */
	{ 8, 128, 8, 15, 1, -1 },
	{ 1, 47, 1, 23, 1, 0 },
};
enum { NLAYERS = sizeof layers / sizeof layers[0] };

typedef struct run_ctx {
	const dp_kernel *kern;
	const dp_desc *d;
	void *state, *ws;
	const float *x;
	float *y;
} run_ctx;

static void run_kernel(void *arg)
{
	run_ctx *r = arg;
	r->kern->execute(r->d, r->state, r->x, r->y, r->ws);
}

/* CPU time of this thread: time spent descheduled does not count. */
/* The fastest of repeated runs in thread CPU time: on a shared machine
 * the least disturbed run is the best estimate of the code's own speed
 * (the median wall time, from timing.h, is printed too). */
static double min_time(void (*fn)(void *), void *arg, double budget)
{
	double best = 1e30, start = now_seconds();
	int reps = 1;
	for (;;) {
		double t0 = now_seconds();
		for (int i = 0; i < reps; i++)
			fn(arg);
		double dt = now_seconds() - t0;
		if (dt > 20e-6 || reps > (1 << 20))
			break;
		reps *= 2;
	}
	for (int n = 0; n < 5 || now_seconds() - start < budget; n++) {
		double t0 = cpu_seconds();
		for (int i = 0; i < reps; i++)
			fn(arg);
		double dt = (cpu_seconds() - t0) / reps;
		best = dt < best ? dt : best;
	}
	return best;
}

/* Prepare kern for d, time execute() alone (median and minimum), leave
 * its output in y. */
static double time_kernel(const dp_kernel *kern, const dp_desc *d,
                          const float *x, const float *w, const float *b,
                          float *y, double budget, double *tmin)
{
	run_ctx r = { kern, d, malloc(kern->state_bytes(d) + 64),
	              malloc(kern->workspace_bytes(d) + 64), x, y };
	double t = -1;
	if (r.state && r.ws && kern->prepare(d, w, b, r.state) == DP_OK &&
	    kern->execute(d, r.state, x, y, r.ws) == DP_OK) {
		t = median_time(run_kernel, &r, budget);
		*tmin = min_time(run_kernel, &r, budget);
	}
	free(r.state);
	free(r.ws);
	return t;
}

/* The kernel the dpgen at path base generates for d, built in dir (build_
 * kernel reads the generator's path from $DPGEN). */
static const dp_kernel *build_base(const dp_desc *d, const char *base,
                                   const char *dir, char *err, size_t err_len)
{
	const char *own = getenv("DPGEN");
	char *saved = own ? strdup(own) : NULL;
	setenv("DPGEN", base, 1);
	const dp_kernel *k = build_kernel(d, dir, err, err_len);
	if (saved) {
		setenv("DPGEN", saved, 1);
		free(saved);
	} else {
		unsetenv("DPGEN");
	}
	return k;
}

int main(int argc, char **argv)
{
	const char *bs = getenv("BENCH_BUDGET");
	double budget = bs && *bs ? atof(bs) : 0.3;
	char dir[256], err[4096];
	int want[NLAYERS], failed = 0;
	for (int i = 0; i < NLAYERS; i++)
		want[i] = argc < 2;
	for (int a = 1; a < argc; a++) {
		int i = atoi(argv[a]);
		if (i >= 0 && i < NLAYERS)
			want[i] = 1;
	}
	const char *rs = getenv("BENCH_ROUNDS");
	const int rounds = rs && atoi(rs) > 0 ? atoi(rs) : 5;
	const char *base_dpgen = getenv("DPGEN_BASE");
	char base_dir[256];
	if (base_dpgen && !*base_dpgen)
		base_dpgen = NULL;
	setenv("DP_KERNEL_CFLAGS", "-O3 -march=native", 0);
	if (base_dpgen && !make_temp_dir(base_dir, sizeof base_dir)) {
		fprintf(stderr, "bench_direct: no temporary directory\n");
		return 1;
	}
	if (!make_temp_dir(dir, sizeof dir)) {
		fprintf(stderr, "bench_direct: no temporary directory\n");
		return 1;
	}
	printf("fp32 direct conv, batch 1, one thread, median of runs\n");
	printf("%2s %-22s %21s %21s %13s %8s\n", "#", "layer",
	       "generated(us)", "generic(us)", "ratio", "GFLOP/s");
	printf("%2s %-22s %10s %10s %10s %10s %6s %6s %8s\n", "", "", "median",
	       "min", "median", "min", "median", "min", "(min)");
	for (int l = 0; l < NLAYERS; l++) {
		if (!want[l])
			continue;
		const int r = layers[l].r;
		const int pad = layers[l].pad < 0 ? (r - 1) / 2 : layers[l].pad;
		dp_desc d = { .op = DP_OP_CONV, .algo = DP_ALGO_DIRECT,
		              .precision = DP_PREC_FP32, .n = 1, .c = layers[l].c,
		              .h = layers[l].h, .w = layers[l].h, .k = layers[l].k,
		              .r = r, .s = r, .stride = layers[l].stride,
		              .pad_h = pad, .pad_w = pad };
		const dp_kernel *gen = build_kernel(&d, dir, err, sizeof err);
		const dp_kernel *base = NULL;
		if (gen && base_dpgen)
			base = build_base(&d, base_dpgen, base_dir, err, sizeof err);
		if (!gen || (base_dpgen && !base)) {
			fprintf(stderr, "bench_direct: %s\n", err);
			failed = 1;
			continue;
		}
		size_t ni = (size_t)dp_conv_input_elems(&d);
		size_t nw = (size_t)dp_conv_weight_elems(&d);
		size_t no = (size_t)dp_conv_output_elems(&d);
		float *x = malloc(ni * 4), *w = malloc(nw * 4);
		float *b = malloc((size_t)d.k * 4), *y0 = malloc(no * 4);
		float *y1 = malloc(no * 4);
		rng_t rng;
		rng_seed(&rng, 11 + (uint64_t)l);
		fill_normal(&rng, x, ni);
		fill_normal(&rng, w, nw);
		fill_normal(&rng, b, (size_t)d.k);
		double mg, mr;
		double tg = time_kernel(gen, &d, x, w, b, y0, budget, &mg);
		double tr = time_kernel(dp_generic_kernel(&d), &d, x, w, b, y1,
		                        budget, &mr);
		double diff = max_rel_diff(y0, y1, no);
		double bmin = -1;
		if (base) {
			/* Interleaved: gen, base, gen, base, ... */
			float *y2 = malloc(no * 4);
			for (int round = 0; round < rounds && y2; round++) {
				double m, t;
				t = time_kernel(gen, &d, x, w, b, y0, budget / rounds, &m);
				if (t >= 0 && m < mg)
					mg = m;
				t = time_kernel(base, &d, x, w, b, y2, budget / rounds, &m);
				if (t >= 0 && (bmin < 0 || m < bmin))
					bmin = m;
			}
			if (!y2 || max_rel_diff(y2, y1, no) > 1e-4)
				diff = 1;
			free(y2);
		}
		char label[64];
		snprintf(label, sizeof label, "C%d H%d K%d %dx%d s%d", d.c, d.h,
		         d.k, r, r, d.stride);
		double flops = 2.0 * (double)no * d.c * r * r;
		printf("%2d %-22s %10.1f %10.1f %10.1f %10.1f %6.2f %6.2f %8.1f%s\n",
		       l, label, tg * 1e6, mg * 1e6, tr * 1e6, mr * 1e6, tr / tg,
		       mr / mg, flops / mg * 1e-9, diff > 1e-4 ? "  MISMATCH" : "");
		if (base)
			printf("%2s %-22s base (DPGEN_BASE) min %.1f us, base/gen %.3f\n",
			       "", "", bmin * 1e6, bmin / mg);
		fflush(stdout);
		if (tg < 0 || tr < 0 || diff > 1e-4)
			failed = 1;
		free(x); free(w); free(b); free(y0); free(y1);
	}
	remove_tree(dir);
	if (base_dpgen)
		remove_tree(base_dir);
	return failed;
}
