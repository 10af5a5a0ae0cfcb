/* bench_svd.c - the fused svd matmul (generated, rank k of B) against
 * the dense generated GEMM and OpenBLAS sgemm (one thread), on B of
 * 512 x 512 and 784 x 512 with batches of 64 and 512 rows, rank 8 to
 * full. The ideal speedup is the FLOP ratio K N / (k (K + N)); the issue
 * asks for at least 70% of it wherever it is at least 2. Prepare (the
 * SVD, the packing) is outside the timed part. Writes
 * docs/data/bench_svd.csv; times are medians (bench/timing.h), and the
 * machine is shared: compare rows of one run. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>

#include "timing.h"
#include "util.h"

void openblas_set_num_threads(int n);
/* Timed as well; referencing it also links LAPACKE into this program,
 * which the generated kernels (loaded with dlopen) resolve against. */
#include "kernels.h"

typedef struct job {
	const dp_kernel *k;
	dp_desc d;
	void *state, *ws;
	const float *a, *b;
	float *c;
} job;

static void run_kernel(void *p)
{
	job *j = p;
	j->k->execute(&j->d, j->state, j->a, j->c, j->ws);
}

static void run_blas(void *p)
{
	job *j = p;
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, j->d.mm_m,
	            j->d.mm_n, j->d.mm_k, 1.0f, j->a, j->d.mm_k, j->b,
	            j->d.mm_n, 0.0f, j->c, j->d.mm_n);
}

/* Median seconds of one execute of kernel k (prepared once), or -1. */
static double time_kernel(const dp_kernel *k, const dp_desc *d,
                          const float *a, const float *b, float *c)
{
	job j = { k, *d, malloc(k->state_bytes(d) + 1),
	          malloc(k->workspace_bytes(d) + 1), a, b, c };
	double t = -1;
	if (j.state && j.ws && k->prepare(d, b, NULL, j.state) == DP_OK)
		t = median_time(run_kernel, &j, 0.3);
	free(j.state);
	free(j.ws);
	return t;
}

int main(void)
{
	static const int kn[][2] = { { 512, 512 }, { 784, 512 } };
	static const int batch[] = { 64, 512 };
	static const int ranks[] = { 8, 16, 32, 64, 128, 256, 512 };
	char dir[256], err[4096];
	int misses = 0, checked = 0;
	openblas_set_num_threads(1);
	setenv("DP_KERNEL_CFLAGS", "-O3 -march=native", 0);
	if (!make_temp_dir(dir, sizeof dir))
		return 1;
	FILE *csv = fopen("docs/data/bench_svd.csv", "w");
	if (!csv) {
		perror("docs/data/bench_svd.csv");
		return 1;
	}
	fprintf(csv, "m,k,n,rank,ideal,svd_us,svd_generic_us,gemm_us,openblas_us,"
	        "speedup_vs_gemm,speedup_vs_openblas,fraction_of_ideal\n");
	printf("%5s %4s %4s %5s %7s %9s %9s %9s %9s %8s %8s %6s\n", "M", "K",
	       "N", "rank", "ideal", "svd us", "generic", "gemm us", "blas us",
	       "vs gemm",
	       "vs blas", "frac");
	rng_t r;
	rng_seed(&r, 1);
	for (int s = 0; s < 2; s++)
		for (int bi = 0; bi < 2; bi++) {
			const int m = batch[bi], k = kn[s][0], n = kn[s][1];
			float *a = malloc((size_t)m * k * 4), *b = malloc((size_t)k * n * 4),
			      *c = malloc((size_t)m * n * 4);
			fill_normal(&r, a, (size_t)m * k);
			fill_normal(&r, b, (size_t)k * n);
			dp_desc g = { .op = DP_OP_MATMUL, .algo = DP_ALGO_GEMM,
			              .mm_m = m, .mm_k = k, .mm_n = n };
			const dp_kernel *gk = build_kernel(&g, dir, err, sizeof err);
			if (!gk) {
				fprintf(stderr, "%s\n", err);
				return 1;
			}
			double tg = time_kernel(gk, &g, a, b, c);
			job bj = { NULL, g, NULL, NULL, a, b, c };
			double tb = median_time(run_blas, &bj, 0.3);
			for (int ri = 0; ri < 7; ri++) {
				const int rank = ranks[ri];
				if (rank > (k < n ? k : n))
					continue;
				dp_desc d = g;
				d.algo = DP_ALGO_SVD;
				d.rank_b = rank;
				const dp_kernel *sk = build_kernel(&d, dir, err, sizeof err);
				if (!sk) {
					fprintf(stderr, "%s\n", err);
					return 1;
				}
				double ts = time_kernel(sk, &d, a, b, c);
				double tsg = time_kernel(&dp_matmul_svd_generic, &d, a, b, c);
				double ideal = (double)k * n / ((double)rank * (k + n));
				double sp = tg / ts, frac = sp / ideal;
				printf("%5d %4d %4d %5d %7.2f %9.1f %9.1f %9.1f %9.1f %8.2f "
				       "%8.2f %6.2f%s\n", m, k, n, rank, ideal, ts * 1e6,
				       tsg * 1e6, tg * 1e6,
				       tb * 1e6, sp, tb / ts, frac,
				       ideal >= 2 ? (frac >= 0.7 ? "" : "  < 70%") : "");
				fprintf(csv, "%d,%d,%d,%d,%.4f,%.2f,%.2f,%.2f,%.2f,%.4f,%.4f,"
				        "%.4f\n", m, k, n, rank, ideal, ts * 1e6, tsg * 1e6,
				        tg * 1e6, tb * 1e6, sp,
				        tb / ts, frac);
				if (ideal >= 2) {
					checked++;
					misses += frac < 0.7;
				}
			}
			free(a);
			free(b);
			free(c);
		}
	fclose(csv);
	remove_tree(dir);
	printf("%d of %d rows with ideal >= 2 reach 70%% of it\n",
	       checked - misses, checked);
	return 0;
}
