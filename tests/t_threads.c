/* t_threads.c - threads (issue 7): dp_set_num_threads and DP_NUM_THREADS,
 * the partition of dp_parallel_for, bitwise-identical results at 1, 2 and
 * 3 threads for direct, im2col (generated and generic) and GEMM (generated
 * and generic), each also within its error bound of the fp64 reference,
 * two user threads planning and executing at once, and im2col-blas
 * running OpenBLAS on dpgen's thread count.
 *
 * The work thresholds of dp_parallel_for would keep most test shapes on
 * one thread; dp_set_parallel_min_flops(0) makes every call with more
 * than one item parallel, so the partitions are really exercised. */
#define _GNU_SOURCE   /* RTLD_NEXT */
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conv_check.h"
#include "tap.h"
#include "util.h"

#include "kernels.h"

/* ---- settings ---- */

static int threads_from_env(const char *value)
{
	if (value)
		setenv("DP_NUM_THREADS", value, 1);
	else
		unsetenv("DP_NUM_THREADS");
	dp_set_num_threads(0);  /* reads the environment again */
	return dp_get_num_threads();
}

static void test_settings(void)
{
	ok(threads_from_env(NULL) == 1, "no DP_NUM_THREADS: 1 thread");
	ok(threads_from_env("3") == 3, "DP_NUM_THREADS=3: 3 threads");
	ok(threads_from_env("256") == 256, "DP_NUM_THREADS=256 is allowed");
	static const char bad[][24] = { "abc", "0", "-2", "257", "2x",
	                                 " 2", "", "99999999999999999999" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ok(threads_from_env(bad[i]) == 1, "malformed DP_NUM_THREADS "
		   "'%s' is ignored: 1 thread", bad[i]);
	setenv("DP_NUM_THREADS", "2", 1);
	ok(dp_set_num_threads(5) == DP_OK && dp_get_num_threads() == 5,
	   "dp_set_num_threads(5) overrides DP_NUM_THREADS=2");
	ok(dp_set_num_threads(-1) == DP_ERR_ARG, "dp_set_num_threads(-1): "
	   "DP_ERR_ARG");
	ok(dp_set_num_threads(DP_MAX_THREADS + 1) == DP_ERR_ARG,
	   "dp_set_num_threads(%d): DP_ERR_ARG", DP_MAX_THREADS + 1);
	ok(dp_get_num_threads() == 5, "a rejected value changes nothing");
	ok(dp_set_num_threads(0) == DP_OK && dp_get_num_threads() == 2,
	   "dp_set_num_threads(0): back to DP_NUM_THREADS");
	unsetenv("DP_NUM_THREADS");
	dp_set_num_threads(0);
	ok(dp_set_parallel_min_flops(-2) == DP_ERR_ARG,
	   "dp_set_parallel_min_flops(-2): DP_ERR_ARG");
}

/* ---- the partition ---- */

typedef struct record {
	pthread_mutex_t lock;
	int calls, begin[64], end[64];
	pthread_t who[64];
	int sleep_us;
} record;

static void note_range(void *ctx, int begin, int end)
{
	record *r = ctx;
	pthread_mutex_lock(&r->lock);
	if (r->calls < 64) {
		r->begin[r->calls] = begin;
		r->end[r->calls] = end;
		r->who[r->calls] = pthread_self();
	}
	r->calls++;
	pthread_mutex_unlock(&r->lock);
	if (r->sleep_us) {
		struct timespec ts = { 0, 1000L * r->sleep_us };
		nanosleep(&ts, NULL);
	}
}

/* Runs dp_parallel_for(items) on `threads` threads, 1 ms per call, and
 * checks that the calls are exactly the fixed chunks items*c/n, n =
 * min(items, 4 parts), and that with more than one part more than one
 * thread took some. */
static void test_partition(int threads, int items)
{
	record r = { .lock = PTHREAD_MUTEX_INITIALIZER, .sleep_us = 1000 };
	dp_set_num_threads(threads);
	dp_status st = dp_parallel_for(items, 1e12, note_range, &r);
	int parts = threads < items ? threads : items;
	int n = parts == 1 ? 1 : items < 4 * parts ? items : 4 * parts;
	int good = st == DP_OK && r.calls == n;
	for (int c = 0; good && c < n; c++) {
		int want_b = (int)((long long)items * c / n);
		int want_e = (int)((long long)items * (c + 1) / n);
		int found = 0;
		for (int i = 0; i < r.calls; i++)
			found += r.begin[i] == want_b && r.end[i] == want_e;
		good &= found == 1;
	}
	int distinct = 0;
	for (int i = 0; i < r.calls && i < 64; i++) {
		int seen = 0;
		for (int j = 0; j < i; j++)
			seen |= pthread_equal(r.who[i], r.who[j]);
		distinct += !seen;
	}
	ok(good && distinct <= parts && (parts == 1 || distinct >= 2),
	   "dp_parallel_for(%d items) on %d threads: the %d fixed chunks, "
	   "run by %d threads", items, threads, n, distinct);
}

static int called;
static void count_call(void *ctx, int begin, int end)
{
	(void)ctx;
	called += end - begin + 1;
}

static void test_parallel_for(void)
{
	test_partition(3, 40);
	test_partition(3, 2);
	test_partition(2, 7);
	test_partition(1, 5);
	called = 0;
	ok(dp_parallel_for(0, 1e12, count_call, NULL) == DP_OK && called == 0,
	   "dp_parallel_for(0 items) calls nothing");
	ok(dp_parallel_for(-1, 1e12, count_call, NULL) == DP_ERR_ARG,
	   "dp_parallel_for(-1 items): DP_ERR_ARG");
	ok(dp_parallel_for(4, 1e12, NULL, NULL) == DP_ERR_ARG,
	   "dp_parallel_for(NULL fn): DP_ERR_ARG");
	/* Default thresholds: a tiny job stays on the caller's thread. */
	dp_set_parallel_min_flops(-1);
	record r = { .lock = PTHREAD_MUTEX_INITIALIZER };
	dp_set_num_threads(2);
	dp_parallel_for(100, 1000, note_range, &r);
	ok(r.calls == 1 && r.begin[0] == 0 && r.end[0] == 100 &&
	   pthread_equal(r.who[0], pthread_self()),
	   "1000 flops with the default thresholds: one call on the caller");
	dp_set_parallel_min_flops(0);
}

/* ---- kernels at 1, 2 and 3 threads ---- */

/* Same bits at 2 and 3 threads as at 1 (NaN-poisoned outputs, so a
 * skipped output fails too). */
static void same_bits(const char *what, const dp_kernel *kern,
                      const dp_desc *d, const float *x, const float *w,
                      const float *b, size_t ny)
{
	float *y1 = run_at_threads(kern, d, 1, x, w, b, ny);
	int good = y1 != NULL;
	for (size_t i = 0; good && i < ny; i++)
		good = !isnan(y1[i]);
	for (int t = 2; t <= 3; t++) {
		float *yt = run_at_threads(kern, d, t, x, w, b, ny);
		good &= yt && y1 && memcmp(y1, yt, ny * sizeof *yt) == 0;
		free(yt);
	}
	ok(good, "%s: bitwise identical at 1, 2 and 3 threads", what);
	free(y1);
}

/* ---- OpenBLAS follows dpgen's thread count ----
 * This program defines openblas_set_num_threads itself, so the runtime's
 * calls land here (an executable's definition comes first in symbol
 * lookup); it records the count OpenBLAS is set to and forwards to the
 * real function. cblas_sgemm is wrapped the same way to see the setting
 * in force when the product runs. */
static void (*real_set_threads)(int);
static int blas_threads = -1;      /* last count set through here */
static int sgemm_threads = -2;     /* the count in force at the last sgemm */

void openblas_set_num_threads(int n);
void openblas_set_num_threads(int n)
{
	if (!real_set_threads)
		*(void **)&real_set_threads = dlsym(RTLD_NEXT,
		                                    "openblas_set_num_threads");
	blas_threads = n;
	if (real_set_threads)
		real_set_threads(n);
}

typedef void sgemm_fn(int, int, int, int, int, int, float, const float *,
                      int, const float *, int, float, float *, int);
void cblas_sgemm(int order, int ta, int tb, int m, int n, int k, float alpha,
                 const float *a, int lda, const float *b, int ldb,
                 float beta, float *c, int ldc);
void cblas_sgemm(int order, int ta, int tb, int m, int n, int k, float alpha,
                 const float *a, int lda, const float *b, int ldb,
                 float beta, float *c, int ldc)
{
	static sgemm_fn *real;
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "cblas_sgemm");
	sgemm_threads = blas_threads;
	if (real)
		real(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

int openblas_get_num_threads(void);

static void test_blas_threads(void)
{
	const dp_desc d = { .op = DP_OP_CONV, .algo = DP_ALGO_IM2COL_BLAS,
	                    .precision = DP_PREC_FP32, .n = 1, .c = 16,
	                    .h = 20, .w = 20, .k = 16, .r = 3, .s = 3,
	                    .stride = 1, .pad_h = 1, .pad_w = 1 };
	const size_t nx = 16 * 20 * 20, nw = 16 * 16 * 9, ny = 16 * 20 * 20;
	float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w);
	float *b = calloc(16, sizeof *b);
	for (size_t i = 0; x && i < nx; i++)
		x[i] = (float)(i % 7) - 3;
	for (size_t i = 0; w && i < nw; i++)
		w[i] = (float)(i % 5) - 2;
	openblas_set_num_threads(3);
	for (int t = 1; t <= 2; t++) {
		sgemm_threads = -2;
		float *y = x && w && b ? run_at_threads(&dp_conv_im2col_blas_generic,
		                                        &d, t, x, w, b, ny) : NULL;
		ok(y && sgemm_threads == t, "im2col-blas on %d dpgen thread%s: "
		   "OpenBLAS ran on %d", t, t > 1 ? "s" : "", sgemm_threads);
		ok(blas_threads == 3 && openblas_get_num_threads() == 3,
		   "then the caller's OpenBLAS setting (3) is back: %d",
		   openblas_get_num_threads());
		free(y);
	}
	dp_set_num_threads(1);
	free(x);
	free(w);
	free(b);
}

static const struct cshape { int n, c, h, w, k, r, s, st, ph, pw; } cshapes[] = {
	{ 1, 3, 28, 28, 16, 3, 3, 1, 1, 1 },    /* the demo layer */
	{ 2, 2, 13, 11, 3, 3, 5, 2, 1, 2 },     /* odd, stride 2, batch 2 */
	{ 3, 5, 9, 13, 11, 3, 3, 1, 1, 1 },     /* odd sizes, batch 3 */
	{ 2, 40, 10, 11, 9, 5, 5, 1, 2, 2 },    /* channel blocks (direct) */
	{ 1, 64, 20, 20, 24, 3, 3, 1, 1, 1 },   /* A packed (im2col GEMM) */
};

static void conv_desc(const struct cshape *s, dp_algo algo, dp_desc *d)
{
	memset(d, 0, sizeof *d);
	d->op = DP_OP_CONV;
	d->algo = algo;
	d->precision = DP_PREC_FP32;
	d->n = s->n; d->c = s->c; d->h = s->h; d->w = s->w;
	d->k = s->k; d->r = s->r; d->s = s->s;
	d->stride = s->st;
	d->pad_h = s->ph;
	d->pad_w = s->pw;
}

static void conv_label(const dp_desc *d, const char *kind, char *buf,
                       size_t len)
{
	snprintf(buf, len, "%s %s n%d c%d h%d w%d k%d %dx%d s%d p%dx%d",
	         dp_algo_name(d->algo), kind, d->n, d->c, d->h, d->w, d->k,
	         d->r, d->s, d->stride, d->pad_h, d->pad_w);
}

static void test_conv(const char *dir)
{
	const dp_algo algos[] = { DP_ALGO_DIRECT, DP_ALGO_IM2COL };
	for (size_t i = 0; i < sizeof cshapes / sizeof cshapes[0]; i++)
	for (size_t a = 0; a < 2; a++) {
		dp_desc d;
		conv_desc(&cshapes[i], algos[a], &d);
		size_t nx = (size_t)dp_conv_input_elems(&d);
		size_t nw = (size_t)dp_conv_weight_elems(&d);
		size_t ny = (size_t)dp_conv_output_elems(&d);
		float *x = malloc(nx * 4), *w = malloc(nw * 4);
		float *b = malloc((size_t)d.k * 4);
		rng_t rng;
		rng_seed(&rng, 77 + i);
		fill_normal(&rng, x, nx);
		fill_normal(&rng, w, nw);
		fill_normal(&rng, b, (size_t)d.k);
		char err[4096], label[160], note[256];
		const dp_kernel *kinds[2] = { NULL, dp_generic_kernel(&d) };
		kinds[0] = build_kernel(&d, dir, err, sizeof err);
		if (!kinds[0])
			diag("%s", err);
		for (int g = 0; g < 2; g++) {
			conv_label(&d, g ? "generic" : "generated", label,
			           sizeof label);
			if (!ok(kinds[g] != NULL, "%s: kernel available", label))
				continue;
			same_bits(label, kinds[g], &d, x, w, b, ny);
			/* Against the reference, on 3 threads. */
			dp_set_num_threads(3);
			double worst = conv_check(kinds[g], &d, 5 + i, note,
			                          sizeof note);
			ok(worst >= 0 && worst <= 1, "%s on 3 threads: within the "
			   "fp64 bound (%s)", label, note);
		}
		free(x); free(w); free(b);
	}
}

static const struct { int m, k, n; } gshapes[] = {
	{ 13, 17, 19 }, { 37, 700, 260 }, { 64, 784, 512 }, { 1000, 128, 10 },
	{ 7, 33, 257 },
};

static void test_gemm(const char *dir)
{
	for (size_t i = 0; i < sizeof gshapes / sizeof gshapes[0]; i++) {
		dp_desc d = { .op = DP_OP_MATMUL, .algo = DP_ALGO_GEMM,
		              .precision = DP_PREC_FP32, .mm_m = gshapes[i].m,
		              .mm_k = gshapes[i].k, .mm_n = gshapes[i].n };
		size_t na = (size_t)d.mm_m * d.mm_k, nb = (size_t)d.mm_k * d.mm_n;
		size_t nc = (size_t)d.mm_m * d.mm_n;
		float *a = malloc(na * 4), *bm = malloc(nb * 4);
		float *aa = malloc(na * 4), *ab = malloc(nb * 4);
		double *ref = malloc(nc * 8), *mag = malloc(nc * 8);
		rng_t rng;
		rng_seed(&rng, 300 + i);
		fill_normal(&rng, a, na);
		fill_normal(&rng, bm, nb);
		for (size_t j = 0; j < na; j++)
			aa[j] = fabsf(a[j]);
		for (size_t j = 0; j < nb; j++)
			ab[j] = fabsf(bm[j]);
		dp_ref_matmul(d.mm_m, d.mm_k, d.mm_n, a, bm, ref);
		dp_ref_matmul(d.mm_m, d.mm_k, d.mm_n, aa, ab, mag);
		char err[4096], label[96];
		const dp_kernel *kinds[2] = { NULL, &dp_matmul_gemm_generic };
		kinds[0] = build_kernel(&d, dir, err, sizeof err);
		if (!kinds[0])
			diag("%s", err);
		for (int g = 0; g < 2; g++) {
			snprintf(label, sizeof label, "gemm %s %dx%dx%d",
			         g ? "generic" : "generated", d.mm_m, d.mm_k, d.mm_n);
			if (!ok(kinds[g] != NULL, "%s: kernel available", label))
				continue;
			/* kernel contract: weights = B, input = A */
			same_bits(label, kinds[g], &d, a, bm, NULL, nc);
			float *c = run_at_threads(kinds[g], &d, 3, a, bm, NULL, nc);
			/* Higham: gamma_K * sum |a||b|, any summation order. */
			double worst = c ? 0 : -1;
			for (size_t j = 0; c && j < nc; j++) {
				double bound = dot_error_bound(d.mm_k, mag[j]);
				double e = fabs((double)c[j] - ref[j]);
				if (!(e <= bound * worst) && bound > 0)
					worst = isnan(e) ? INFINITY : e / bound;
			}
			ok(worst >= 0 && worst <= 1, "%s on 3 threads: within "
			   "gamma_K |A||B| of the fp64 product (worst %.3g of the "
			   "bound)", label, worst);
			free(c);
		}
		free(a); free(bm); free(aa); free(ab); free(ref); free(mag);
	}
}

/* ---- dpgen run / tune --threads ---- */

static int write_npy(const char *path, int ndim, const int64_t *shape,
                     float *data)
{
	dp_array a = { .ndim = ndim, .data = data };
	for (int i = 0; i < ndim; i++)
		a.shape[i] = shape[i];
	char msg[256];
	return dp_npy_write(path, &a, msg, sizeof msg) == DP_OK ? 0 : -1;
}

static void test_cli(const char *dir)
{
	char x[300], w[300], y1[300], y2[300], cmd[2048], out[4096];
	snprintf(x, sizeof x, "%s/x.npy", dir);
	snprintf(w, sizeof w, "%s/w.npy", dir);
	snprintf(y1, sizeof y1, "%s/y1.npy", dir);
	snprintf(y2, sizeof y2, "%s/y2.npy", dir);
	/* 1 x 32 x 40 x 40 input, 48 filters 3x3: 53 MFLOP, above the
	 * thresholds, so two threads really run. */
	const int64_t xs[4] = { 1, 32, 40, 40 }, ws[4] = { 48, 32, 3, 3 };
	size_t nx = 32 * 40 * 40, nw = 48 * 32 * 9;
	float *xd = malloc(nx * 4), *wd = malloc(nw * 4);
	rng_t rng;
	rng_seed(&rng, 99);
	fill_normal(&rng, xd, nx);
	fill_normal(&rng, wd, nw);
	int good = write_npy(x, 4, xs, xd) == 0 && write_npy(w, 4, ws, wd) == 0;
	free(xd);
	free(wd);
	for (int i = 0; good && i < 2; i++) {
		snprintf(cmd, sizeof cmd, "%s run --op conv --algo %s --input %s "
		         "--weights %s --pad 1 --threads 1 --out %s && %s run --op "
		         "conv --algo %s --input %s --weights %s --pad 1 --threads 2 "
		         "--out %s", dpgen_path(), i ? "im2col" : "direct", x, w, y1,
		         dpgen_path(), i ? "im2col" : "direct", x, w, y2);
		int rc = sh_capture(cmd, out, sizeof out);
		size_t l1 = 0, l2 = 0;
		char *a = slurp(y1, &l1), *b = slurp(y2, &l2);
		ok(rc == 0 && a && b && l1 == l2 && memcmp(a, b, l1) == 0,
		   "dpgen run --algo %s: the same file with --threads 1 and 2",
		   i ? "im2col" : "direct");
		if (rc)
			diag("%s", out);
		free(a);
		free(b);
	}
	static const char bad[][8] = { "0", "257", "x", "-3", "2.5" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(cmd, sizeof cmd, "%s run --op conv --algo direct --input "
		         "%s --weights %s --threads '%s' --out %s 2>&1", dpgen_path(),
		         x, w, bad[i], y1);
		int rc1 = sh_capture(cmd, out, sizeof out);
		int named = strstr(out, "--threads") != NULL;
		snprintf(cmd, sizeof cmd, "%s tune --op conv --shape 8x8x3 "
		         "--threads '%s' 2>&1", dpgen_path(), bad[i]);
		int rc2 = sh_capture(cmd, out, sizeof out);
		named &= strstr(out, "--threads") != NULL &&
		         strstr(out, "1..256") != NULL;
		ok(rc1 == 2 && rc2 == 2 && named, "dpgen run and tune --threads "
		   "'%s': exit 2, the message names --threads and 1..256", bad[i]);
	}
}

/* ---- two user threads planning and executing at once ---- */

typedef struct user_job {
	dp_desc d;
	float *x, *w, *b;     /* input (A), weights (B), bias */
	double *ref;
	size_t ny;
	double max_ref;
	int reps;
	pthread_barrier_t *start;
	/* results */
	int planned, runs_ok, runs_same;
	double worst;         /* max |y - ref| / max |ref| */
	char kernel[DP_NAME_LEN];
} user_job;

static void *user_thread(void *arg)
{
	user_job *j = arg;
	pthread_barrier_wait(j->start);
	dp_plan *p = NULL;
	dp_status st = j->d.op == DP_OP_CONV ?
		dp_plan_conv(&j->d, DP_CHOOSE_DESC, NULL, j->w, j->b, &p) :
		dp_plan_matmul(&j->d, DP_CHOOSE_DESC, NULL, j->w, &p);
	j->planned = st == DP_OK;
	if (st != DP_OK)
		return NULL;
	snprintf(j->kernel, sizeof j->kernel, "%s", dp_plan_kernel(p)->name);
	float *y = malloc(j->ny * 4), *y0 = malloc(j->ny * 4);
	for (int r = 0; y && y0 && r < j->reps; r++) {
		for (size_t i = 0; i < j->ny; i++)
			y[i] = NAN;
		if (dp_execute(p, j->x, y, NULL) != DP_OK)
			continue;
		j->runs_ok++;
		double e = 0;
		for (size_t i = 0; i < j->ny; i++) {
			double x = fabs((double)y[i] - j->ref[i]);
			if (!(x <= e))
				e = isnan(x) ? INFINITY : x;
		}
		if (e / j->max_ref > j->worst)
			j->worst = e / j->max_ref;
		if (r == 0)
			memcpy(y0, y, j->ny * 4);
		j->runs_same += memcmp(y0, y, j->ny * 4) == 0;
	}
	free(y);
	free(y0);
	dp_destroy(p);
	return NULL;
}

static void user_job_init(user_job *j, const dp_desc *d, uint64_t seed)
{
	memset(j, 0, sizeof *j);
	j->d = *d;
	size_t nx, nw;
	if (d->op == DP_OP_CONV) {
		nx = (size_t)dp_conv_input_elems(d);
		nw = (size_t)dp_conv_weight_elems(d);
		j->ny = (size_t)dp_conv_output_elems(d);
	} else {
		nx = (size_t)d->mm_m * d->mm_k;
		nw = (size_t)d->mm_k * d->mm_n;
		j->ny = (size_t)d->mm_m * d->mm_n;
	}
	j->x = malloc(nx * 4);
	j->w = malloc(nw * 4);
	j->b = malloc(((size_t)d->k + 1) * 4);
	j->ref = malloc(j->ny * 8);
	rng_t rng;
	rng_seed(&rng, seed);
	fill_normal(&rng, j->x, nx);
	fill_normal(&rng, j->w, nw);
	fill_normal(&rng, j->b, (size_t)d->k + 1);
	if (d->op == DP_OP_CONV)
		dp_ref_conv2d(d, j->x, j->w, j->b, j->ref);
	else
		dp_ref_matmul(d->mm_m, d->mm_k, d->mm_n, j->x, j->w, j->ref);
	for (size_t i = 0; i < j->ny; i++)
		if (fabs(j->ref[i]) > j->max_ref)
			j->max_ref = fabs(j->ref[i]);
	j->reps = 20;
}

static void user_job_free(user_job *j)
{
	free(j->x); free(j->w); free(j->b); free(j->ref);
}

/* Relative error allowed of any fp32 algorithm here (direct, im2col, gemm
 * on N(0,1) data with at most 800 terms per output): gamma_n * sum|x w|
 * over max|ref| is below 800 * 2^-24 * (sum|x w| / max|ref|), and the
 * ratio of the magnitude sum to the largest output stays under ~10 for
 * these sizes; 1e-3 leaves a margin and still catches a wrong or
 * half-written output (errors of order 1). */
#define USER_REL_BOUND 1e-3

static void two_users(const char *what, const dp_desc *d1, const dp_desc *d2)
{
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, 2);
	user_job j[2];
	user_job_init(&j[0], d1, 11);
	user_job_init(&j[1], d2, 12);
	pthread_t t[2];
	for (int i = 0; i < 2; i++) {
		j[i].start = &start;
		pthread_create(&t[i], NULL, user_thread, &j[i]);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&start);
	for (int i = 0; i < 2; i++) {
		ok(j[i].planned && j[i].runs_ok == j[i].reps &&
		   j[i].runs_same == j[i].reps && j[i].worst <= USER_REL_BOUND,
		   "%s, user thread %d (%s): planned, %d/%d runs, all identical, "
		   "max rel err %.2e", what, i + 1, j[i].kernel, j[i].runs_ok,
		   j[i].reps, j[i].worst);
		user_job_free(&j[i]);
	}
}

static void test_two_users(void)
{
	dp_set_num_threads(2);
	dp_desc direct, im2col, gemm, generic;
	conv_desc(&cshapes[0], DP_ALGO_DIRECT, &direct);     /* built in */
	conv_desc(&cshapes[0], DP_ALGO_IM2COL, &im2col);     /* built in */
	conv_desc(&cshapes[2], DP_ALGO_DIRECT, &generic);    /* generic */
	gemm = (dp_desc){ .op = DP_OP_MATMUL, .algo = DP_ALGO_GEMM,
	                  .precision = DP_PREC_FP32, .mm_m = 64, .mm_k = 784,
	                  .mm_n = 512 };                     /* built in */
	two_users("same conv shape", &direct, &direct);
	two_users("same matmul shape", &gemm, &gemm);
	two_users("direct and im2col", &direct, &im2col);
	two_users("conv and matmul", &im2col, &gemm);
	two_users("generated and generic", &direct, &generic);
}

int main(void)
{
	/* Shapes nobody generated use the generic kernels here: compiling
	 * them on the fly is not what this test is about. */
	setenv("DP_JIT", "0", 1);
	test_settings();
	dp_set_parallel_min_flops(0);
	test_parallel_for();
	/* Generated kernels loaded with dlopen reach dp_parallel_for only if
	 * this program exports it (-rdynamic); otherwise they load but run
	 * on one thread, and the tests below would prove nothing for them. */
	void *self = dlopen(NULL, RTLD_NOW);
	ok(self && dlsym(self, "dp_parallel_for") != NULL, "dp_parallel_for is "
	   "exported to dlopen'd kernels");
	if (self)
		dlclose(self);
	char dir[256];
	if (!make_temp_dir(dir, sizeof dir)) {
		ok(0, "temporary directory");
		return done_testing();
	}
	test_conv(dir);
	test_gemm(dir);
	test_blas_threads();
	test_cli(dir);
	test_two_users();
	/* With the default thresholds too: the same result as one thread. */
	dp_set_parallel_min_flops(-1);
	two_users("default thresholds", &(dp_desc){ .op = DP_OP_MATMUL,
	          .algo = DP_ALGO_GEMM, .precision = DP_PREC_FP32, .mm_m = 64,
	          .mm_k = 784, .mm_n = 512 }, &(dp_desc){ .op = DP_OP_MATMUL,
	          .algo = DP_ALGO_GEMM, .precision = DP_PREC_FP32, .mm_m = 64,
	          .mm_k = 784, .mm_n = 512 });
	remove_tree(dir);
	return done_testing();
}
