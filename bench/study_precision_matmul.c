/* study_precision_matmul.c - the matmul half of the precision study and
 * the log-domain study (issue 6, make study-precision; the contract:
 * docs/PRECISION.md, section "Matmul"; the log algorithms: docs/LNS.md).
 *
 * (a) Every matmul algorithm - naive, gemm, svd at full rank, log with
 * exact logs and with F = 8, lns (F = 8, exact bins, 32-bit accumulators)
 * - at every precision: fp64, fp32 (the native fp32 kernels), tf32, bf16,
 * fp16, fp8-e4m3, fp8-e5m2 under both policies (all, acc32), int16, int8
 * (runtime/emul_matmul.c). A is standard normal ("normal"), the ReLU of
 * one ("relu") or normal with mean 1 ("mean1"); B is standard normal.
 * Shapes (M x K x N; from the seed assignment's sizes {2, 8, 32, 128},
 * and one MNIST-like K = 784, where gemm splits K into 4 blocks):
 *   32x128x32, 8x128x128, 128x8x32, 2x128x8, 4x784x32.
 * TRIALS trials each (a seed per trial; the same data for every algorithm
 * and precision). Errors against dp_ref_matmul (fp64) on the SAME rounded
 * inputs (the error the algorithm adds, not the inputs' rounding), and
 * against naive at the same precision; statistics over all outputs of all
 * trials: mean |err|, max |err|, relative L2 sqrt(sum err^2 / sum ref^2);
 * non-finite outputs are counted and left out of the sums.
 *   -> docs/data/precision_matmul.csv
 *
 * (b) The log-domain study on the seed assignment's sizes (every M, K, N
 * in {2, 8, 32, 128}: 64 shapes, LOG_TRIALS trials each, standard normal
 * A and B in fp32): log and lns for F = 0 .. 12 fractional bits; lns with
 * exact bins (B = F) at accumulator widths W = 16, 24, 32, 64, and the
 * Mitchell variant at W = 32 with B = F/2 bin bits and with B = 0. Each
 * against fp64 (dp_ref_matmul on the fp32 inputs: the whole error,
 * quantized logs included) and against fp32 (the native naive result).
 * For comparison, the naive matmul at each emulated format on the same
 * fp32 inputs (inputs rounded, so its error includes the inputs'
 * rounding, as the log methods' does). Accumulator width and overflow:
 * lns with exact bins at every width for even F on the same inputs times
 * 16 (input "normal*16": products up to about 2^12, sums beyond the
 * 2^(W/2 - 1) a 16-bit accumulator holds).
 *   -> docs/data/precision_log.csv
 *
 * Tables on stdout. Paths relative to $DP_SRCDIR (default "."). The run
 * takes about 2 minutes of CPU (printed at the end). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dpgen.h"
#include "kernels.h"
#include "precision.h"
#include "util.h"

/* DP_STUDY_TRIALS overrides the counts (quick looks only). */
static int TRIALS = 50;
static int LOG_TRIALS = 3;

typedef struct { int m, k, n; } shape;

static const shape shapes[] = {
	{ 32, 128, 32 }, { 8, 128, 128 }, { 128, 8, 32 }, { 2, 128, 8 },
	{ 4, 784, 32 },
};
#define NSHAPES (int)(sizeof shapes / sizeof shapes[0])

typedef struct {
	const char *name;
	dp_algo algo;
	int frac_bits;   /* log, lns */
} algo_spec;

static const algo_spec algos[] = {
	{ "naive", DP_ALGO_NAIVE, 0 },
	{ "gemm", DP_ALGO_GEMM, 0 },
	{ "svd", DP_ALGO_SVD, 0 },
	{ "log-exact", DP_ALGO_LOG, DP_LOG_EXACT },
	{ "log-F8", DP_ALGO_LOG, 8 },
	{ "lns-F8", DP_ALGO_LNS, 8 },
};
#define NALGOS (int)(sizeof algos / sizeof algos[0])

typedef struct {
	dp_precision p;
	dp_policy pol;
	const char *label;
} prec_spec;

/* The x axis of the plot: fp64, fp32, then the float formats under
 * acc32 and under all, each most precise first, then fixed point. */
static const prec_spec precs[] = {
	{ DP_PREC_FP64, DP_POLICY_ALL, "fp64" },
	{ DP_PREC_FP32, DP_POLICY_ALL, "fp32" },
	{ DP_PREC_TF32, DP_POLICY_ACC32, "tf32:acc32" },
	{ DP_PREC_FP16, DP_POLICY_ACC32, "fp16:acc32" },
	{ DP_PREC_BF16, DP_POLICY_ACC32, "bf16:acc32" },
	{ DP_PREC_FP8_E4M3, DP_POLICY_ACC32, "fp8-e4m3:acc32" },
	{ DP_PREC_FP8_E5M2, DP_POLICY_ACC32, "fp8-e5m2:acc32" },
	{ DP_PREC_TF32, DP_POLICY_ALL, "tf32" },
	{ DP_PREC_FP16, DP_POLICY_ALL, "fp16" },
	{ DP_PREC_BF16, DP_POLICY_ALL, "bf16" },
	{ DP_PREC_FP8_E4M3, DP_POLICY_ALL, "fp8-e4m3" },
	{ DP_PREC_FP8_E5M2, DP_POLICY_ALL, "fp8-e5m2" },
	{ DP_PREC_INT16, DP_POLICY_ALL, "int16" },
	{ DP_PREC_INT8, DP_POLICY_ALL, "int8" },
};
#define NPRECS (int)(sizeof precs / sizeof precs[0])

static const char *const inputs[] = { "normal", "relu", "mean1" };
#define NINPUTS 3

/* ---- statistics ---- */

typedef struct {
	double sum_abs, max_abs, sum_sq, sum_ref_sq, sum_ref_abs;
	double sum_abs_b, max_abs_b;   /* vs the baseline (naive, fp32) */
	long count, nonfinite;
} stats;

static void acc_stats(stats *s, const float *y, const double *ref,
                      const float *base, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!isfinite(y[i])) {
			s->nonfinite++;
			continue;
		}
		double e = fabs((double)y[i] - ref[i]);
		s->sum_abs += e;
		s->sum_sq += e * e;
		s->sum_ref_sq += ref[i] * ref[i];
		s->sum_ref_abs += fabs(ref[i]);
		if (e > s->max_abs)
			s->max_abs = e;
		if (base && isfinite(base[i])) {
			double eb = fabs((double)y[i] - base[i]);
			s->sum_abs_b += eb;
			if (eb > s->max_abs_b)
				s->max_abs_b = eb;
		}
		s->count++;
	}
}

/* The same for a double result (the inputs' rounding alone). */
static void acc_stats_d(stats *s, const double *y, const double *ref,
                        size_t n)
{
	for (size_t i = 0; i < n; i++) {
		double e = fabs(y[i] - ref[i]);
		s->sum_abs += e;
		s->sum_sq += e * e;
		s->sum_ref_sq += ref[i] * ref[i];
		s->sum_ref_abs += fabs(ref[i]);
		if (e > s->max_abs)
			s->max_abs = e;
		s->count++;
	}
}

static double mean_abs(const stats *s)
{
	return s->count ? s->sum_abs / s->count : NAN;
}

static double rel_l2(const stats *s)
{
	return s->sum_ref_sq > 0 ? sqrt(s->sum_sq / s->sum_ref_sq) : NAN;
}

/* One CSV row's statistics; a newline after them if eol. */
static void put_stats(FILE *f, int trials, const stats *s, int eol)
{
	fprintf(f, "%d,%ld,%ld,%.4e,%.4e,%.4e,%.4e,%.4e,%.4e%s", trials,
	        s->count, s->nonfinite, mean_abs(s), s->max_abs, rel_l2(s),
	        s->count ? s->sum_ref_abs / s->count : NAN,
	        s->count ? s->sum_abs_b / s->count : NAN, s->max_abs_b,
	        eol ? "\n" : "");
}

/* ---- data and runs ---- */

static dp_desc mm_desc(dp_algo algo, dp_precision p, dp_policy pol, int m,
                       int k, int n)
{
	dp_desc d = { .op = DP_OP_MATMUL, .algo = algo, .precision = p,
	              .policy = pol, .mm_m = m, .mm_k = k, .mm_n = n };
	return d;
}

static dp_desc algo_desc(const algo_spec *a, const prec_spec *p,
                         const shape *s)
{
	dp_desc d = mm_desc(a->algo, p->p, p->pol, s->m, s->k, s->n);
	if (a->algo == DP_ALGO_SVD)
		d.rank_b = s->k < s->n ? s->k : s->n;
	if (a->algo == DP_ALGO_LOG || a->algo == DP_ALGO_LNS)
		d.frac_bits = a->frac_bits;
	if (a->algo == DP_ALGO_LNS) {
		d.bin_bits = a->frac_bits;
		d.acc_bits = 32;
	}
	return d;
}

/* The runtime's kernel for d (generic or emulated: never a generated
 * exact-shape kernel, so every shape runs the same code), run once. */
static int run(const dp_desc *d, const float *a, const float *b, float *c)
{
	const dp_kernel *k = dp_generic_kernel(d);
	dp_status st = k ? dp_kernel_run(k, d, a, b, NULL, c)
	                 : DP_ERR_UNSUPPORTED;
	if (st != DP_OK) {
		fprintf(stderr, "study_precision_matmul: %s %s %dx%dx%d: %s\n",
		        dp_algo_name(d->algo), dp_precision_name(d->precision),
		        d->mm_m, d->mm_k, d->mm_n, dp_status_str(st));
		return -1;
	}
	return 0;
}

/* ---- output ---- */

static FILE *open_csv(const char *name, char *tmp, size_t len,
                      const char *header)
{
	const char *dir = getenv("DP_SRCDIR");
	snprintf(tmp, len, "%s/docs/data/%s.tmp", dir && *dir ? dir : ".", name);
	FILE *f = fopen(tmp, "w");
	if (!f) {
		perror(tmp);
		return NULL;
	}
	fprintf(f, "%s\n", header);
	return f;
}

static int close_csv(FILE *f, const char *tmp)
{
	char final[4096];
	size_t n = strlen(tmp) - 4;
	snprintf(final, sizeof final, "%.*s", (int)n, tmp);
	if (fclose(f) != 0 || rename(tmp, final) != 0) {
		perror(final);
		return -1;
	}
	printf("wrote %s\n", final);
	return 0;
}

static double cpu_seconds(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

#define STATS_HEADER "trials,outputs,nonfinite,mean_abs_err,max_abs_err," \
	"rel_l2_err,mean_abs_ref"

/* ---- (a) every algorithm at every precision ---- */

static stats main_stats[NSHAPES][NINPUTS][NALGOS][NPRECS];
/* The product of the rounded inputs (exact) against the product of the
 * fp32 inputs: what the inputs' rounding alone costs. */
static stats input_stats[NSHAPES][NINPUTS][NPRECS];
/* Each algorithm against the product of the fp32 inputs (end to end:
 * the inputs' rounding included). */
static stats e2e_stats[NSHAPES][NINPUTS][NALGOS][NPRECS];

static int study_algorithms(void)
{
	size_t na = 0, nb = 0, nc = 0;
	for (int s = 0; s < NSHAPES; s++) {
		size_t a = (size_t)shapes[s].m * shapes[s].k;
		size_t b = (size_t)shapes[s].k * shapes[s].n;
		size_t c = (size_t)shapes[s].m * shapes[s].n;
		na = a > na ? a : na;
		nb = b > nb ? b : nb;
		nc = c > nc ? c : nc;
	}
	float *a = malloc(na * 4), *b = malloc(nb * 4), *ar = malloc(na * 4);
	float *br = malloc(nb * 4), *y = malloc(nc * 4), *yn = malloc(nc * 4);
	double *ref = malloc(nc * 8), *ref0 = malloc(nc * 8);
	int rc = a && b && ar && br && y && yn && ref && ref0 ? 0 : -1;
	for (int s = 0; rc == 0 && s < NSHAPES; s++)
	for (int in = 0; rc == 0 && in < NINPUTS; in++)
	for (int t = 0; rc == 0 && t < TRIALS; t++) {
		const shape *sh = &shapes[s];
		const size_t sa = (size_t)sh->m * sh->k, sb = (size_t)sh->k * sh->n;
		const size_t sc = (size_t)sh->m * sh->n;
		rng_t rng;
		rng_seed(&rng, 1000003u * (s + 1) + 7919u * in + t);
		fill_kind(&rng, in, a, sa);
		fill_normal(&rng, b, sb);
		dp_ref_matmul(sh->m, sh->k, sh->n, a, b, ref0);
		for (int p = 0; rc == 0 && p < NPRECS; p++) {
			dp_precision_round_tensor(precs[p].p, a, ar, sa);
			dp_precision_round_tensor(precs[p].p, b, br, sb);
			dp_ref_matmul(sh->m, sh->k, sh->n, ar, br, ref);
			acc_stats_d(&input_stats[s][in][p], ref, ref0, sc);
			/* naive first: the baseline of the others */
			for (int al = 0; rc == 0 && al < NALGOS; al++) {
				dp_desc d = algo_desc(&algos[al], &precs[p], sh);
				float *out = al == 0 ? yn : y;
				rc = run(&d, a, b, out);
				if (rc == 0) {
					acc_stats(&main_stats[s][in][al][p], out, ref,
					          al == 0 ? NULL : yn, sc);
					acc_stats(&e2e_stats[s][in][al][p], out, ref0, NULL,
					          sc);
				}
			}
		}
	}
	free(a); free(b); free(ar); free(br); free(y); free(yn); free(ref);
	free(ref0);
	if (rc != 0)
		return rc;

	char tmp[4096];
	FILE *f = open_csv("precision_matmul.csv", tmp, sizeof tmp,
	                   "m,k,n,input,algo,precision,prec_rank,format,"
	                   "policy," STATS_HEADER ",mean_abs_vs_naive,"
	                   "max_abs_vs_naive,mean_abs_e2e,max_abs_e2e,"
	                   "rel_l2_e2e");
	if (!f)
		return -1;
	for (int s = 0; s < NSHAPES; s++)
	for (int in = 0; in < NINPUTS; in++)
	for (int al = 0; al <= NALGOS; al++)
	for (int p = 0; p < NPRECS; p++) {
		/* al == NALGOS: the inputs' rounding alone, as an algorithm
		 * whose "end to end" error it is (its own error is 0) */
		const stats *st = al < NALGOS ? &main_stats[s][in][al][p] : NULL;
		const stats *e2e = al < NALGOS ? &e2e_stats[s][in][al][p]
		                               : &input_stats[s][in][p];
		static const stats zero;
		fprintf(f, "%d,%d,%d,%s,%s,%s,%d,%s,%s,", shapes[s].m, shapes[s].k,
		        shapes[s].n, inputs[in],
		        al < NALGOS ? algos[al].name : "input-rounding",
		        precs[p].label, p, dp_precision_name(precs[p].p),
		        dp_policy_name(precs[p].pol));
		put_stats(f, TRIALS, st ? st : &zero, 0);
		fprintf(f, ",%.4e,%.4e,%.4e\n", mean_abs(e2e), e2e->max_abs,
		        rel_l2(e2e));
	}
	if (close_csv(f, tmp) != 0)
		return -1;

	for (int in = 0; in < NINPUTS; in++) {
		printf("\nrelative L2 error vs fp64 on the rounded inputs, "
		       "32x128x32, %s A, %d trials\n%-15s", inputs[in], TRIALS,
		       "precision");
		for (int al = 0; al < NALGOS; al++)
			printf(" %10s", algos[al].name);
		printf("\n");
		for (int p = 0; p < NPRECS; p++) {
			printf("%-15s", precs[p].label);
			for (int al = 0; al < NALGOS; al++) {
				const stats *st = &main_stats[0][in][al][p];
				printf(" %10.2e%s", rel_l2(st), st->nonfinite ? "*" : "");
			}
			printf("\n");
		}
	}
	printf("(*: some outputs not finite)\n");
	printf("\nend to end (vs the product of the fp32 inputs, the inputs' "
	       "rounding included),\nrelative L2, 32x128x32, normal A\n%-15s",
	       "precision");
	for (int al = 0; al < NALGOS; al++)
		printf(" %10s", algos[al].name);
	printf(" %10s\n", "inputs");
	for (int p = 0; p < NPRECS; p++) {
		printf("%-15s", precs[p].label);
		for (int al = 0; al < NALGOS; al++)
			printf(" %10.2e", rel_l2(&e2e_stats[0][0][al][p]));
		printf(" %10.2e\n", rel_l2(&input_stats[0][0][p]));
	}
	printf("\ngemm vs naive at K = 784 (4 blocks of 196), normal A, "
	       "mean |error| vs fp64\n");
	for (int p = 0; p < NPRECS; p++)
		printf("%-15s naive %9.3e  gemm %9.3e\n", precs[p].label,
		       mean_abs(&main_stats[4][0][0][p]),
		       mean_abs(&main_stats[4][0][1][p]));
	return 0;
}

/* ---- (b) the log-domain study ---- */

typedef struct {
	const char *method;   /* log, lns, lns-mitchell, naive */
	const char *variant;
	dp_algo algo;
	int f, bins, w;       /* bins -1: F/2 */
	dp_precision p;
	dp_policy pol;
	int scale;            /* inputs times this (1, or 16: overflow) */
} log_cfg;

#define MAXF 12
static const int widths[] = { 16, 24, 32, 64 };
#define NW 4

/* Per F: log, lns exact at each width, Mitchell B = F/2 and B = 0. */
#define PER_F (1 + NW + 2)

static const struct { dp_precision p; dp_policy pol; const char *label; }
log_base[] = {
	{ DP_PREC_FP32, DP_POLICY_ALL, "fp32" },
	{ DP_PREC_TF32, DP_POLICY_ALL, "tf32" },
	{ DP_PREC_FP16, DP_POLICY_ALL, "fp16" },
	{ DP_PREC_FP16, DP_POLICY_ACC32, "fp16:acc32" },
	{ DP_PREC_BF16, DP_POLICY_ALL, "bf16" },
	{ DP_PREC_BF16, DP_POLICY_ACC32, "bf16:acc32" },
	{ DP_PREC_FP8_E4M3, DP_POLICY_ACC32, "fp8-e4m3:acc32" },
	{ DP_PREC_FP8_E5M2, DP_POLICY_ACC32, "fp8-e5m2:acc32" },
	{ DP_PREC_INT8, DP_POLICY_ALL, "int8" },
};
#define NBASE (int)(sizeof log_base / sizeof log_base[0])
/* and lns exact bins at every width for even F on inputs times 16 */
#define NSCALED ((MAXF / 2 + 1) * NW)
#define NLOGCFG ((MAXF + 1) * PER_F + 1 + NBASE + NSCALED)

static log_cfg log_cfgs[NLOGCFG];
static stats log_stats[NLOGCFG];
static char variants[NLOGCFG][32];

static int make_log_cfgs(void)
{
	int n = 0;
	for (int f = 0; f <= MAXF; f++) {
		log_cfgs[n++] = (log_cfg){ "log", "F", DP_ALGO_LOG, f, 0, 0,
		                           DP_PREC_FP32, DP_POLICY_ALL, 1 };
		for (int w = 0; w < NW; w++)
			log_cfgs[n++] = (log_cfg){ "lns", "exact bins", DP_ALGO_LNS,
			                           f, f, widths[w], DP_PREC_FP32,
			                           DP_POLICY_ALL, 1 };
		log_cfgs[n++] = (log_cfg){ "lns-mitchell", "B=F/2", DP_ALGO_LNS,
		                           f, f / 2, 32, DP_PREC_FP32,
		                           DP_POLICY_ALL, 1 };
		log_cfgs[n++] = (log_cfg){ "lns-mitchell", "B=0", DP_ALGO_LNS, f,
		                           0, 32, DP_PREC_FP32, DP_POLICY_ALL, 1 };
	}
	log_cfgs[n++] = (log_cfg){ "log", "exact", DP_ALGO_LOG, DP_LOG_EXACT, 0,
	                           0, DP_PREC_FP32, DP_POLICY_ALL, 1 };
	for (int i = 0; i < NBASE; i++)
		log_cfgs[n++] = (log_cfg){ "naive", log_base[i].label,
		                           DP_ALGO_NAIVE, -1, 0, 0, log_base[i].p,
		                           log_base[i].pol, 1 };
	for (int f = 0; f <= MAXF; f += 2)
		for (int w = 0; w < NW; w++)
			log_cfgs[n++] = (log_cfg){ "lns", "exact bins", DP_ALGO_LNS,
			                           f, f, widths[w], DP_PREC_FP32,
			                           DP_POLICY_ALL, 16 };
	return n;
}

static int study_log(void)
{
	static const int sz[] = { 2, 8, 32, 128 };
	const int ncfg = make_log_cfgs();
	const size_t big = 128 * 128;
	float *a = malloc(big * 4), *b = malloc(big * 4), *y = malloc(big * 4);
	float *y32 = malloc(big * 4), *a16 = malloc(big * 4);
	float *b16 = malloc(big * 4), *y32s = malloc(big * 4);
	double *ref = malloc(big * 8), *refs = malloc(big * 8);
	int rc = a && b && y && y32 && a16 && b16 && y32s && ref && refs ? 0 : -1;
	for (int t = 0; rc == 0 && t < LOG_TRIALS; t++)
	for (int im = 0; im < 4; im++)
	for (int ik = 0; ik < 4; ik++)
	for (int in = 0; rc == 0 && in < 4; in++) {
		const int m = sz[im], k = sz[ik], n = sz[in];
		rng_t rng;
		rng_seed(&rng, 777u + 1009u * (16 * im + 4 * ik + in) + t);
		fill_normal(&rng, a, (size_t)m * k);
		fill_normal(&rng, b, (size_t)k * n);
		dp_ref_matmul(m, k, n, a, b, ref);
		dp_desc d32 = mm_desc(DP_ALGO_NAIVE, DP_PREC_FP32, DP_POLICY_ALL,
		                      m, k, n);
		rc = run(&d32, a, b, y32);
		for (size_t i = 0; i < (size_t)m * k; i++)
			a16[i] = 16 * a[i];
		for (size_t i = 0; i < (size_t)k * n; i++)
			b16[i] = 16 * b[i];
		dp_ref_matmul(m, k, n, a16, b16, refs);
		if (rc == 0)
			rc = run(&d32, a16, b16, y32s);
		for (int c = 0; rc == 0 && c < ncfg; c++) {
			const log_cfg *lc = &log_cfgs[c];
			const int sc = lc->scale != 1;
			dp_desc d = mm_desc(lc->algo, lc->p, lc->pol, m, k, n);
			if (lc->algo != DP_ALGO_NAIVE)
				d.frac_bits = lc->f;
			if (lc->algo == DP_ALGO_LNS) {
				d.bin_bits = lc->bins;
				d.acc_bits = lc->w;
			}
			rc = run(&d, sc ? a16 : a, sc ? b16 : b, y);
			if (rc == 0)
				acc_stats(&log_stats[c], y, sc ? refs : ref,
				          sc ? y32s : y32, (size_t)m * n);
		}
	}
	free(a); free(b); free(y); free(y32); free(ref);
	free(a16); free(b16); free(y32s); free(refs);
	if (rc != 0)
		return rc;

	char tmp[4096];
	FILE *f = open_csv("precision_log.csv", tmp, sizeof tmp,
	                   "input,method,variant,frac_bits,bin_bits,acc_bits,"
	                   STATS_HEADER ",mean_abs_vs_fp32,max_abs_vs_fp32");
	if (!f)
		return -1;
	/* Rows grouped by series (method, variant, input), F ascending in
	 * each, so that a plot can join them: log_cfgs is F-major. */
	int order[NLOGCFG], no = 0;
	for (int j = 0; j < PER_F; j++)
		for (int fb = 0; fb <= MAXF; fb++)
			order[no++] = fb * PER_F + j;
	for (int c = (MAXF + 1) * PER_F; c < ncfg - NSCALED; c++)
		order[no++] = c;
	for (int w = 0; w < NW; w++)
		for (int c = ncfg - NSCALED + w; c < ncfg; c += NW)
			order[no++] = c;
	for (int o = 0; o < no; o++) {
		const int c = order[o];
		const log_cfg *lc = &log_cfgs[c];
		if (lc->algo == DP_ALGO_LNS && lc->bins != lc->f)
			snprintf(variants[c], sizeof variants[c], "%s", lc->variant);
		else if (lc->algo == DP_ALGO_LNS)
			snprintf(variants[c], sizeof variants[c], "W=%d", lc->w);
		else
			snprintf(variants[c], sizeof variants[c], "%s", lc->variant);
		fprintf(f, "%s,%s,%s,%d,%d,%d,", lc->scale == 1 ? "normal" :
		        "normal*16", lc->method, variants[c],
		        lc->algo == DP_ALGO_NAIVE ? -1 : lc->f,
		        lc->algo == DP_ALGO_LNS ? lc->bins : -1,
		        lc->algo == DP_ALGO_LNS ? lc->w : -1);
		put_stats(f, LOG_TRIALS * 64, &log_stats[c], 1);
	}
	if (close_csv(f, tmp) != 0)
		return -1;

	printf("\nlog domain, M, K, N in {2, 8, 32, 128} (64 shapes x %d "
	       "trials), standard normal:\nmean |error| vs fp64 (nonfinite "
	       "outputs in brackets)\n%3s %10s", LOG_TRIALS, "F", "log");
	for (int w = 0; w < NW; w++)
		printf("   lns W=%-2d", widths[w]);
	printf(" %10s %10s\n", "B=F/2", "B=0");
	for (int fb = 0; fb <= MAXF; fb++) {
		printf("%3d", fb);
		for (int j = 0; j < PER_F; j++) {
			const stats *st = &log_stats[fb * PER_F + j];
			printf(" %10.2e", mean_abs(st));
			if (st->nonfinite)
				printf("[%ld]", st->nonfinite);
		}
		printf("\n");
	}
	for (int c = (MAXF + 1) * PER_F; c < ncfg - NSCALED; c++)
		printf("%-14s %-14s mean |err| %9.3e  rel L2 %9.3e\n",
		       log_cfgs[c].method, variants[c], mean_abs(&log_stats[c]),
		       rel_l2(&log_stats[c]));
	printf("\nlns, exact bins, inputs times 16: relative L2 vs fp64 "
	       "[nonfinite outputs]\n%3s", "F");
	for (int w = 0; w < NW; w++)
		printf("       W=%-2d      ", widths[w]);
	printf("\n");
	for (int c = ncfg - NSCALED; c < ncfg; c += NW) {
		printf("%3d", log_cfgs[c].f);
		for (int w = 0; w < NW; w++)
			printf(" %9.2e [%4ld]", rel_l2(&log_stats[c + w]),
			       log_stats[c + w].nonfinite);
		printf("\n");
	}
	return 0;
}

int main(void)
{
	const char *tr = getenv("DP_STUDY_TRIALS");
	if (tr && atoi(tr) > 0) {
		TRIALS = atoi(tr);
		LOG_TRIALS = TRIALS < LOG_TRIALS ? TRIALS : LOG_TRIALS;
	}
	double t0 = cpu_seconds();
	if (study_algorithms() != 0)
		return 1;
	double t1 = cpu_seconds();
	if (study_log() != 0)
		return 1;
	double t2 = cpu_seconds();
	printf("\nCPU time: %.1f s (algorithms x precisions), %.1f s (log "
	       "domain)\n", t1 - t0, t2 - t1);
	return 0;
}
