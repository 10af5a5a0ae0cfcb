/* bench_matmul.c - fp32 matmul, one thread: the generated GEMM (one kernel
 * per shape, generated with $DPGEN into build/bench/gen/ and compiled with
 * -O3 -march=native), the generic GEMM, the naive triple loop (up to 512)
 * and OpenBLAS cblas_sgemm, all in the same run. Prints a table and writes
 * docs/data/bench_matmul.csv (temporary file, then rename).
 * Shared machines are noisy: only the ratios within one run mean much.
 *
 * Environment: DPGEN (default build/dpgen), DP_SRCDIR (default .), CC
 * (default cc), BENCH_BUDGET seconds per measurement (default 0.3),
 * BENCH_SHAPES to run only some shapes (see wanted()). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cblas.h>

#include "timing.h"
#include "util.h"

#include "kernels.h"

static const struct { const char *label; int m, k, n; } shapes[] = {
	{ "square", 64, 64, 64 },
	{ "square", 128, 128, 128 },
	{ "square", 256, 256, 256 },
	{ "square", 512, 512, 512 },
	{ "square", 1024, 1024, 1024 },
	{ "mnist-fc1", 1, 784, 512 },
	{ "mnist-fc2", 1, 512, 128 },
	{ "mnist-fc3", 1, 128, 10 },
	{ "mnist-fc1", 64, 784, 512 },
	{ "mnist-fc2", 64, 512, 128 },
	{ "mnist-fc3", 64, 128, 10 },
	{ "mnist-fc1", 1000, 784, 512 },
	{ "mnist-fc2", 1000, 512, 128 },
	{ "mnist-fc3", 1000, 128, 10 },
	/* im2col convolutions: C[K filters x pixels] = W[K x CRS] *
	 * cols[CRS x pixels] (C64 H56 K64, C128 H28 K128, C256 H14 K256,
	 * all 3x3). */
	{ "conv", 64, 576, 3136 },
	{ "conv", 128, 1152, 784 },
	{ "conv", 256, 2304, 196 },
};

/* BENCH_SHAPES: a comma-separated list of labels ("square") or sizes
 * ("1000x784x512", M x K x N); only those shapes run. Unset: all. */
static int wanted(const char *label, int m, int k, int n)
{
	const char *w = getenv("BENCH_SHAPES");
	if (!w || !*w)
		return 1;
	char size[64];
	snprintf(size, sizeof size, "%dx%dx%d", m, k, n);
	const char *s = w;
	while (*s) {
		size_t len = strcspn(s, ",");
		if ((len == strlen(label) && strncmp(s, label, len) == 0) ||
		    (len == strlen(size) && strncmp(s, size, len) == 0))
			return 1;
		s += len;
		if (*s == ',')
			s++;
	}
	return 0;
}

/* The naive loop only up to this size; timing rounds per implementation. */
enum { NAIVE_MAX = 512, ROUNDS = 5 };

static void mkdir_p(const char *path)
{
	char buf[1024];
	snprintf(buf, sizeof buf, "%s", path);
	for (char *s = buf + 1; *s; s++)
		if (*s == '/') {
			*s = '\0';
			mkdir(buf, 0777);
			*s = '/';
		}
	mkdir(buf, 0777);
}

/* Generate the kernel for d into dir and build it as the benchmark is
 * built (-O3 -march=native); NULL with a message in err on failure. */
static const dp_kernel *build_fast(const dp_desc *d, const char *dir,
                                   char *err, size_t len)
{
	setenv("DP_KERNEL_CFLAGS", "-O3 -march=native", 0);
	return build_kernel(d, dir, err, len);
}

/* One prepared kernel: state and workspace allocated once, B packed once;
 * the timed call is execute() alone, as an inference loop would run it. */
typedef struct run_ctx {
	const dp_kernel *kern;
	dp_desc d;
	void *state, *ws;
	const float *a, *b;
	float *c;
} run_ctx;

static void run_kernel(void *arg)
{
	run_ctx *r = arg;
	r->kern->execute(&r->d, r->state, r->a, r->c, r->ws);
}

static void run_openblas(void *arg)
{
	run_ctx *r = arg;
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r->d.mm_m,
	            r->d.mm_n, r->d.mm_k, 1.0f, r->a, r->d.mm_k, r->b,
	            r->d.mm_n, 0.0f, r->c, r->d.mm_n);
}

/* Largest |c - ref| relative to the largest |ref|: a sanity check that
 * each timed implementation computes the product. */
static double rel_err(const float *c, const float *ref, size_t n)
{
	double e = 0, mx = 0;
	for (size_t i = 0; i < n; i++) {
		double d = (double)c[i] - ref[i];
		if (d < 0)
			d = -d;
		if (!(d <= e))
			e = d;
		if (ref[i] > mx || -ref[i] > mx)
			mx = ref[i] > 0 ? ref[i] : -ref[i];
	}
	return mx > 0 ? e / mx : e;
}

typedef struct row {
	const char *label;
	int m, k, n;
	const char *impl;
	double us, gflops, ratio;
} row;

int main(void)
{
	/* One thread for OpenBLAS, set before its first call. */
	setenv("OPENBLAS_NUM_THREADS", "1", 1);
	openblas_set_num_threads(1);
	const char *b = getenv("BENCH_BUDGET");
	double budget = b && *b ? atof(b) : 0.3;
	char gendir[1024], csv[1024], tmp[1100], err[4096];
	snprintf(gendir, sizeof gendir, "%s/build/bench/gen", src_dir());
	mkdir_p(gendir);
	enum { NSHAPES = sizeof shapes / sizeof shapes[0] };
	static row rows[NSHAPES * 4];
	int nrows = 0, failed = 0;

	printf("fp32 matmul C[M x N] = A[M x K] * B[K x N], one thread, "
	       "best of %d interleaved rounds of medians\n", ROUNDS);
	printf("%-10s %5s %5s %5s  %-10s %11s %8s %9s\n", "shape", "M", "K",
	       "N", "impl", "median(us)", "GFLOP/s", "vs OpenBLAS");
	for (int s = 0; s < NSHAPES; s++) {
		const int m = shapes[s].m, k = shapes[s].k, n = shapes[s].n;
		if (!wanted(shapes[s].label, m, k, n))
			continue;
		dp_desc d = { .op = DP_OP_MATMUL, .algo = DP_ALGO_GEMM,
		              .precision = DP_PREC_FP32, .mm_m = m, .mm_k = k,
		              .mm_n = n };
		const dp_kernel *gen = build_fast(&d, gendir, err, sizeof err);
		if (!gen) {
			fprintf(stderr, "bench_matmul: %s\n", err);
			return 1;
		}
		size_t na = (size_t)m * k, nb = (size_t)k * n, nc = (size_t)m * n;
		float *a = malloc(na * 4), *bm = malloc(nb * 4);
		float *c = malloc(nc * 4), *ref = malloc(nc * 4);
		rng_t r;
		rng_seed(&r, 7 + (uint64_t)s);
		fill_normal(&r, a, na);
		fill_normal(&r, bm, nb);
		const double flops = 2.0 * m * k * n;
		struct { const char *impl; const dp_kernel *kern; } impls[] = {
			{ "openblas", NULL }, { "generated", gen },
			{ "generic", &dp_matmul_gemm_generic },
			{ "naive", &dp_matmul_naive_generic },
		};
		/* Prepare every implementation, check each once against
		 * OpenBLAS, then time them in interleaved rounds (each round a
		 * median over budget / ROUNDS seconds) and keep each one's best
		 * round: a burst of load from another process on the shared
		 * machine then hits one round of every implementation alike
		 * instead of all the runs of one of them. */
		enum { NIMPL = 4 };
		run_ctx ctx[NIMPL];
		int use[NIMPL];
		double best[NIMPL];
		for (int i = 0; i < NIMPL; i++) {
			ctx[i] = (run_ctx){ .kern = impls[i].kern, .d = d, .a = a,
			                    .b = bm, .c = c };
			best[i] = 0;
			use[i] = !(impls[i].kern == &dp_matmul_naive_generic &&
			           (m > NAIVE_MAX || k > NAIVE_MAX || n > NAIVE_MAX));
			if (!use[i] || !ctx[i].kern)
				continue;
			ctx[i].d.algo = ctx[i].kern->desc.algo;
			ctx[i].state = malloc(ctx[i].kern->state_bytes(&ctx[i].d) + 1);
			ctx[i].ws = malloc(ctx[i].kern->workspace_bytes(&ctx[i].d) + 1);
			ctx[i].kern->prepare(&ctx[i].d, bm, NULL, ctx[i].state);
		}
		for (int i = 0; i < NIMPL; i++) {
			if (!use[i])
				continue;
			(ctx[i].kern ? run_kernel : run_openblas)(&ctx[i]);
			if (i == 0) {
				memcpy(ref, c, nc * 4);
			} else if (rel_err(c, ref, nc) > 1e-4) {
				fprintf(stderr, "bench_matmul: %s %dx%dx%d differs from "
				        "OpenBLAS (relative error %.3g)\n", impls[i].impl,
				        m, k, n, rel_err(c, ref, nc));
				failed = 1;
			}
		}
		for (int round = 0; round < ROUNDS; round++)
			for (int i = 0; i < NIMPL; i++) {
				if (!use[i])
					continue;
				double t = median_time(ctx[i].kern ? run_kernel :
				                       run_openblas, &ctx[i],
				                       budget / ROUNDS);
				if (round == 0 || t < best[i])
					best[i] = t;
			}
		for (int i = 0; i < NIMPL; i++) {
			free(ctx[i].state);
			free(ctx[i].ws);
			if (!use[i])
				continue;
			const double t = best[i];
			row *w = &rows[nrows++];
			*w = (row){ shapes[s].label, m, k, n, impls[i].impl, t * 1e6,
			            flops / t * 1e-9, best[0] / t };
			printf("%-10s %5d %5d %5d  %-10s %11.1f %8.1f %9.2f\n",
			       w->label, m, k, n, w->impl, w->us, w->gflops, w->ratio);
			fflush(stdout);
		}
		free(a); free(bm); free(c); free(ref);
	}

	const char *only = getenv("BENCH_SHAPES");
	if (only && *only) {
		printf("BENCH_SHAPES set: %s not rewritten\n",
		       "docs/data/bench_matmul.csv");
		return failed;
	}
	snprintf(csv, sizeof csv, "%s/docs/data", src_dir());
	mkdir_p(csv);
	snprintf(csv, sizeof csv, "%s/docs/data/bench_matmul.csv", src_dir());
	snprintf(tmp, sizeof tmp, "%s.tmp", csv);
	FILE *f = fopen(tmp, "w");
	if (!f) {
		fprintf(stderr, "bench_matmul: %s: %s\n", tmp, strerror(errno));
		return 1;
	}
	fprintf(f, "shape,m,k,n,impl,median_us,gflops,ratio_vs_openblas\n");
	for (int i = 0; i < nrows; i++)
		fprintf(f, "%s,%d,%d,%d,%s,%.2f,%.2f,%.3f\n", rows[i].label,
		        rows[i].m, rows[i].k, rows[i].n, rows[i].impl, rows[i].us,
		        rows[i].gflops, rows[i].ratio);
	if (fclose(f) != 0 || rename(tmp, csv) != 0) {
		fprintf(stderr, "bench_matmul: writing %s: %s\n", csv,
		        strerror(errno));
		remove(tmp);
		return 1;
	}
	printf("wrote %s\n", csv);
	return failed;
}
