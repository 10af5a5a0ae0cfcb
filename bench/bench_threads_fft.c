/* bench_threads_fft.c - the FFT convolutions on one and two threads
 * (issue 7: two threads never slower than one), wall time, in one run.
 *
 * Candidates per layer: the generated fft kernel (default tile, built
 * with $DPGEN and -O3 -march=native unless DP_KERNEL_CFLAGS says
 * otherwise) on 1 and 2 threads; with $DPGEN_BASE set, the same kernel
 * from that dpgen (the baseline) on 1 and 2 threads too; with --generic,
 * the generic tiled fft and whole-image fft-fftw kernels on 1 and 2
 * threads. They are interleaved: each round times every candidate in
 * turn (a sample: the median of enough execute() calls to last about
 * SAMPLE_MS, after two untimed calls that let the thread pool settle),
 * so that the machine's load drifts across all of them alike. Printed
 * per candidate: the median and the minimum sample over the rounds; per
 * pair (1 thread, 2 threads): the median over rounds of the ratio of the
 * two samples of the same round, and the ratio of the two minima (on a
 * machine shared with other work, the minima are the closest to what
 * free cores give). Each kernel's 2-thread output is also compared with
 * its 1-thread output, bit for bit.
 *
 * --force: every par_for with 2 threads goes parallel
 * (dp_set_parallel_min_flops(0): no thresholds, no back-off after a job
 * that did not gain), to see what the kernel itself can gain.
 *
 * Usage: bench_threads_fft [--generic] [--force] [--rounds N] [--layer I]
 * Environment: DPGEN, DPGEN_BASE, DP_SRCDIR, CC, DP_KERNEL_CFLAGS. Run it
 * under flock /tmp/dpgen-bench.lock on a shared machine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timing.h"
#include "util.h"

#include "kernels.h"

static const struct {
	int c, h, k, r, pad;
} layers[] = {
	{ 16, 64, 16, 11, 5 },
	{ 8, 128, 8, 15, 7 },
	{ 3, 224, 64, 7, 3 },
	{ 1, 47, 1, 23, 0 },
	{ 3, 28, 16, 3, 1 },
};
#define NLAYERS (int)(sizeof layers / sizeof layers[0])

enum { MAX_ROUNDS = 64, MAX_CAND = 8, SAMPLE_MS = 10 };

typedef struct {
	const char *label;
	const dp_kernel *kern;
	const dp_desc *d;
	int threads;
	void *state, *ws;
	float *y;
	double t[MAX_ROUNDS];
} cand;

static const float *g_x;

static void run(void *p)
{
	cand *c = p;
	c->kern->execute(c->d, c->state, g_x, c->y, c->ws);
}

/* One sample: the median of reps calls, seconds per call. */
static double sample(cand *c, int reps)
{
	static double t[256];
	dp_set_num_threads(c->threads);
	run(c);
	run(c);
	for (int i = 0; i < reps; i++) {
		double t0 = now_seconds();
		run(c);
		t[i] = now_seconds() - t0;
	}
	qsort(t, (size_t)reps, sizeof t[0], cmp_double);
	return t[reps / 2];
}

static int setup(cand *c, const char *label, const dp_kernel *kern,
                 const dp_desc *d, int threads, const float *w,
                 const float *b, size_t ny)
{
	c->label = label;
	c->kern = kern;
	c->d = d;
	c->threads = threads;
	c->state = malloc(kern->state_bytes(d) + 64);
	c->ws = malloc(kern->workspace_bytes(d) + 64);
	c->y = malloc(ny * sizeof(float));
	return c->state && c->ws && c->y &&
	       kern->prepare(d, w, b, c->state) == DP_OK;
}

static double median(double *v, int n)
{
	double s[MAX_ROUNDS];
	memcpy(s, v, (size_t)n * sizeof *s);
	qsort(s, (size_t)n, sizeof *s, cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static double minimum(const double *v, int n)
{
	double m = v[0];
	for (int i = 1; i < n; i++)
		m = v[i] < m ? v[i] : m;
	return m;
}

int main(int argc, char **argv)
{
	int generic = 0, rounds = 15, only = -1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--generic"))
			generic = 1;
		else if (!strcmp(argv[i], "--force"))
			dp_set_parallel_min_flops(0);
		else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--layer") && i + 1 < argc)
			only = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: %s [--generic] [--force] "
			        "[--rounds N] [--layer I]\n", argv[0]);
			return 2;
		}
	}
	if (rounds < 1 || rounds > MAX_ROUNDS)
		rounds = 15;
	setenv("DP_KERNEL_CFLAGS", "-O3 -march=native", 0);
	const char *base = getenv("DPGEN_BASE");
	const char *mine = dpgen_path();
	char dir[256], dir_base[300], err[4096];
	if (!make_temp_dir(dir, sizeof dir)) {
		fprintf(stderr, "no temporary directory\n");
		return 1;
	}
	snprintf(dir_base, sizeof dir_base, "%s/base", dir);
	char cmd[400];
	snprintf(cmd, sizeof cmd, "mkdir -p %s", dir_base);
	if (system(cmd) != 0)
		return 1;
	printf("%-26s %-12s %3s %10s %10s %8s %8s\n", "layer", "kernel", "thr",
	       "median us", "min us", "1t/2t", "min/min");
	for (int li = 0; li < NLAYERS; li++) {
		if (only >= 0 && li != only)
			continue;
		dp_desc d = { .op = DP_OP_CONV, .algo = DP_ALGO_FFT,
		              .precision = DP_PREC_FP32, .n = 1 };
		d.c = layers[li].c;
		d.h = d.w = layers[li].h;
		d.k = layers[li].k;
		d.r = d.s = layers[li].r;
		d.stride = 1;
		d.pad_h = d.pad_w = layers[li].pad;
		d.tile = dp_fft_default_tile(&d);
		dp_desc dw = d;
		dw.algo = DP_ALGO_FFT_FFTW;
		dw.tile = 0;
		const size_t nx = (size_t)d.c * d.h * d.w;
		const size_t nw = (size_t)d.k * d.c * d.r * d.s;
		const size_t ny = (size_t)d.k * dp_conv_out_h(&d) * dp_conv_out_w(&d);
		float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w);
		float *b = malloc((size_t)d.k * sizeof *b);
		rng_t rng;
		rng_seed(&rng, 7 + li);
		fill_normal(&rng, x, nx);
		fill_normal(&rng, w, nw);
		fill_normal(&rng, b, (size_t)d.k);
		g_x = x;
		cand c[MAX_CAND];
		int nc = 0, fail = 0;
		const dp_kernel *gen = build_kernel(&d, dir, err, sizeof err);
		if (!gen) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		fail |= !setup(&c[nc++], "generated", gen, &d, 1, w, b, ny);
		fail |= !setup(&c[nc++], "generated", gen, &d, 2, w, b, ny);
		if (base && *base) {
			setenv("DPGEN", base, 1);
			const dp_kernel *old = build_kernel(&d, dir_base, err, sizeof err);
			setenv("DPGEN", mine, 1);
			if (!old) {
				fprintf(stderr, "%s\n", err);
				return 1;
			}
			fail |= !setup(&c[nc++], "baseline", old, &d, 1, w, b, ny);
			fail |= !setup(&c[nc++], "baseline", old, &d, 2, w, b, ny);
		}
		if (generic) {
			fail |= !setup(&c[nc++], "generic fft", &dp_conv_fft_generic,
			               &d, 1, w, b, ny);
			fail |= !setup(&c[nc++], "generic fft", &dp_conv_fft_generic,
			               &d, 2, w, b, ny);
			fail |= !setup(&c[nc++], "fftw", &dp_conv_fftw_generic, &dw,
			               1, w, b, ny);
			fail |= !setup(&c[nc++], "fftw", &dp_conv_fftw_generic, &dw,
			               2, w, b, ny);
		}
		if (fail) {
			fprintf(stderr, "layer %d: setup failed\n", li);
			return 1;
		}
		/* Bitwise: 2 threads against 1, every kernel. */
		int same[MAX_CAND / 2];
		for (int i = 0; i < nc; i += 2) {
			dp_set_num_threads(1);
			run(&c[i]);
			dp_set_num_threads(2);
			for (int r = 0; r < 3; r++)
				run(&c[i + 1]);
			same[i / 2] = !memcmp(c[i].y, c[i + 1].y, ny * sizeof(float));
		}
		/* Calls per sample: about SAMPLE_MS each, from a first estimate. */
		int reps[MAX_CAND];
		for (int i = 0; i < nc; i++) {
			dp_set_num_threads(c[i].threads);
			double t0 = now_seconds();
			run(&c[i]);
			double t = now_seconds() - t0;
			reps[i] = (int)(SAMPLE_MS * 1e-3 / (t > 1e-6 ? t : 1e-6));
			reps[i] = reps[i] < 5 ? 5 : reps[i] > 201 ? 201 : reps[i];
		}
		for (int r = 0; r < rounds; r++)
			for (int i = 0; i < nc; i++)
				c[i].t[r] = sample(&c[i], reps[i]);
		char name[64];
		snprintf(name, sizeof name, "C%d H%d K%d %dx%d T%d", d.c, d.h, d.k,
		         d.r, d.s, d.tile);
		for (int i = 0; i < nc; i++) {
			char ratio[32] = "", mins[32] = "";
			if (i % 2) {
				double q[MAX_ROUNDS];
				for (int r = 0; r < rounds; r++)
					q[r] = c[i - 1].t[r] / c[i].t[r];
				snprintf(ratio, sizeof ratio, "%.2fx", median(q, rounds));
				snprintf(mins, sizeof mins, "%.2fx%s",
				         minimum(c[i - 1].t, rounds) / minimum(c[i].t, rounds),
				         same[i / 2] ? "" : " DIFFERS");
			}
			printf("%-26s %-12s %3d %10.1f %10.1f %8s %8s\n", i ? "" : name,
			       c[i].label, c[i].threads, 1e6 * median(c[i].t, rounds),
			       1e6 * minimum(c[i].t, rounds), ratio, mins);
		}
		if (base && *base) {
			double q[MAX_ROUNDS];
			for (int r = 0; r < rounds; r++)
				q[r] = c[2].t[r] / c[0].t[r];
			printf("%-26s 1 thread, baseline / this: %.2fx (min/min %.2fx)\n",
			       "", median(q, rounds),
			       minimum(c[2].t, rounds) / minimum(c[0].t, rounds));
		}
		fflush(stdout);
		for (int i = 0; i < nc; i++) {
			free(c[i].state);
			free(c[i].ws);
			free(c[i].y);
		}
		free(x);
		free(w);
		free(b);
	}
	dp_set_num_threads(1);
	remove_tree(dir);
	return 0;
}
