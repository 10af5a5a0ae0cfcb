/* bench_im2col.c - fp32 im2col convolution, one thread unless told
 * otherwise: the generated kernel (generated with $DPGEN into a temporary
 * directory, compiled with -O3 -march=native unless DP_KERNEL_CFLAGS says
 * otherwise) against the generic im2col and im2col-blas (OpenBLAS) on
 * bench-conv's layers. With DPGEN_BASE set, the kernel that dpgen
 * generates is timed too ("base"), for before/after comparisons in one run.
 *
 * The candidates are interleaved: each round times every candidate once
 * (the fastest of a few calls), and the table gives the median and the
 * minimum over the rounds; gen/x is x's median over the generated
 * kernel's (> 1: the generated kernel is faster). Shared machines are
 * noisy: only ratios measured in the same run mean much.
 *
 * Usage: bench_im2col [LAYER...]   (indices into the table; default all)
 * Environment: DPGEN, DPGEN_BASE, DP_SRCDIR, CC, DP_KERNEL_CFLAGS,
 * BENCH_ROUNDS (default 7), BENCH_KEEP (keep the generated kernels),
 * BENCH_THREADS (default 1, timed in thread CPU time; more are timed in
 * wall time). OpenBLAS gets as many threads as the others. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "util.h"

static const struct { int c, h, k, r, stride, pad; } layers[] = {
	{ 3, 28, 16, 3, 1, 1 },
	{ 64, 56, 64, 3, 1, 1 },
	{ 128, 28, 128, 3, 1, 1 },
	{ 256, 14, 256, 3, 1, 1 },
	{ 512, 7, 512, 3, 1, 1 },
	{ 32, 28, 32, 5, 1, 2 },
	{ 3, 224, 64, 7, 1, 3 },
	{ 16, 64, 16, 11, 1, 5 },
	{ 8, 128, 8, 15, 1, 7 },
	{ 3, 224, 64, 7, 2, 3 },   /* the stride-2 stem, for information */
};
enum { NLAYERS = sizeof layers / sizeof layers[0], MAXC = 4, MAXR = 64 };

/* With one thread, the CPU time of this thread (time spent descheduled
 * does not count); with more, wall time. */
static clockid_t clock_id = CLOCK_THREAD_CPUTIME_ID;

static double cpu_seconds(void)
{
	struct timespec ts;
	clock_gettime(clock_id, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct cand {
	const char *label;
	const dp_kernel *kern;
	void *state, *ws;
	float *y;
	double t[MAXR];
} cand;

static double one_round(cand *c, const dp_desc *d, const float *x, int calls)
{
	double best = 1e30;
	for (int i = 0; i < calls; i++) {
		double t0 = cpu_seconds();
		c->kern->execute(d, c->state, x, c->y, c->ws);
		double dt = cpu_seconds() - t0;
		best = dt < best ? dt : best;
	}
	return best;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	const char *rs = getenv("BENCH_ROUNDS"), *base = getenv("DPGEN_BASE");
	const char *dpgen = getenv("DPGEN");
	int rounds = rs && *rs ? atoi(rs) : 7;
	char dir[256], bdir[256], err[4096];
	int want[NLAYERS], failed = 0;
	rounds = rounds < 1 ? 1 : rounds > MAXR ? MAXR : rounds;
	for (int i = 0; i < NLAYERS; i++)
		want[i] = argc < 2;
	for (int a = 1; a < argc; a++) {
		int i = atoi(argv[a]);
		if (i >= 0 && i < NLAYERS)
			want[i] = 1;
	}
	setenv("DP_KERNEL_CFLAGS", "-O3 -march=native", 0);
	const char *ts = getenv("BENCH_THREADS");
	int threads = ts && *ts ? atoi(ts) : 1;
	threads = threads < 1 ? 1 : threads;
	if (threads > 1)
		clock_id = CLOCK_MONOTONIC;
	dp_set_num_threads(threads);
	openblas_set_num_threads(threads);
	if (!make_temp_dir(dir, sizeof dir) ||
	    (base && *base && !make_temp_dir(bdir, sizeof bdir))) {
		fprintf(stderr, "bench_im2col: no temporary directory\n");
		return 1;
	}
	printf("fp32 im2col conv, batch 1, %d thread(s), %d interleaved rounds, "
	       "%s time (us)\n", threads, rounds,
	       threads > 1 ? "wall" : "thread CPU");
	printf("%2s %-24s %-9s %10s %10s %8s %8s\n", "#", "layer", "kernel",
	       "median", "min", "gen/x", "GFLOP/s");
	for (int l = 0; l < NLAYERS; l++) {
		if (!want[l])
			continue;
		const int r = layers[l].r;
		dp_desc d = { .op = DP_OP_CONV, .algo = DP_ALGO_IM2COL,
		              .precision = DP_PREC_FP32, .n = 1, .c = layers[l].c,
		              .h = layers[l].h, .w = layers[l].h, .k = layers[l].k,
		              .r = r, .s = r, .stride = layers[l].stride,
		              .pad_h = layers[l].pad, .pad_w = layers[l].pad };
		dp_desc db = d;
		db.algo = DP_ALGO_IM2COL_BLAS;
		cand cs[MAXC];
		int nc = 0;
		cs[nc++] = (cand){ .label = "generated",
		                   .kern = build_kernel(&d, dir, err, sizeof err) };
		if (!cs[0].kern) {
			fprintf(stderr, "bench_im2col: %s\n", err);
			failed = 1;
			continue;
		}
		if (base && *base) {
			setenv("DPGEN", base, 1);
			cs[nc] = (cand){ .label = "base",
			                 .kern = build_kernel(&d, bdir, err, sizeof err) };
			if (dpgen)
				setenv("DPGEN", dpgen, 1);
			else
				unsetenv("DPGEN");
			if (!cs[nc].kern) {
				fprintf(stderr, "bench_im2col: %s\n", err);
				failed = 1;
				continue;
			}
			nc++;
		}
		cs[nc++] = (cand){ .label = "generic", .kern = dp_generic_kernel(&d) };
		cs[nc++] = (cand){ .label = "blas", .kern = dp_generic_kernel(&db) };
		size_t ni = (size_t)dp_conv_input_elems(&d);
		size_t nw = (size_t)dp_conv_weight_elems(&d);
		size_t no = (size_t)dp_conv_output_elems(&d);
		float *x = malloc(ni * 4), *w = malloc(nw * 4);
		float *b = malloc((size_t)d.k * 4);
		rng_t rng;
		rng_seed(&rng, 11 + (uint64_t)l);
		fill_normal(&rng, x, ni);
		fill_normal(&rng, w, nw);
		fill_normal(&rng, b, (size_t)d.k);
		for (int i = 0; i < nc; i++) {
			const dp_desc *di = strcmp(cs[i].label, "blas") ? &d : &db;
			cs[i].state = malloc(cs[i].kern->state_bytes(di) + 64);
			cs[i].ws = malloc(cs[i].kern->workspace_bytes(di) + 64);
			cs[i].y = malloc(no * 4);
			if (!cs[i].state || !cs[i].ws || !cs[i].y ||
			    cs[i].kern->prepare(di, w, b, cs[i].state) != DP_OK ||
			    cs[i].kern->execute(di, cs[i].state, x, cs[i].y,
			                        cs[i].ws) != DP_OK) {
				fprintf(stderr, "bench_im2col: %s failed\n", cs[i].label);
				return 1;
			}
		}
		/* Calls per round: enough for ~20 ms of the slowest. */
		double t1 = one_round(&cs[nc - 2], &d, x, 1);
		int calls = (int)(0.02 / (t1 > 1e-6 ? t1 : 1e-6));
		calls = calls < 2 ? 2 : calls > 200 ? 200 : calls;
		for (int k = 0; k < rounds; k++)
			for (int i = 0; i < nc; i++)
				cs[i].t[k] = one_round(&cs[i], strcmp(cs[i].label, "blas")
				                       ? &d : &db, x, calls);
		char label[64];
		snprintf(label, sizeof label, "C%d H%d K%d %dx%d s%d p%d", d.c,
		         d.h, d.k, r, r, d.stride, d.pad_h);
		double flops = 2.0 * (double)no * d.c * r * r;
		double gmed = 0;
		for (int i = 0; i < nc; i++) {
			qsort(cs[i].t, (size_t)rounds, sizeof(double), cmp);
			double med = cs[i].t[rounds / 2], mn = cs[i].t[0];
			if (i == 0)
				gmed = med;
			double diff = max_rel_diff(cs[i].y, cs[nc - 2].y, no);
			printf("%2d %-24s %-9s %10.1f %10.1f %8.2f %8.1f%s\n", l,
			       i == 0 ? label : "", cs[i].label, med * 1e6, mn * 1e6,
			       med / gmed, flops / mn * 1e-9,
			       diff > 1e-4 ? "  MISMATCH" : "");
			if (diff > 1e-4)
				failed = 1;
		}
		fflush(stdout);
		for (int i = 0; i < nc; i++) {
			free(cs[i].state); free(cs[i].ws); free(cs[i].y);
		}
		free(x); free(w); free(b);
	}
	if (getenv("BENCH_KEEP"))   /* for profilers: the kernels' objects */
		printf("kernels kept in %s\n", dir);
	else
		remove_tree(dir);
	if (base && *base)
		remove_tree(bdir);
	return failed;
}
