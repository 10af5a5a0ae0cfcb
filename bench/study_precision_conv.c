/* study_precision_conv.c - the convolution half of the precision study
 * (issue 6, make study-precision; the contract: docs/PRECISION.md).
 *
 * Every convolution algorithm (direct, im2col, Winograd F(2,3), F(4,3),
 * F(6,3) with the default points and with the integer points
 * 0,+-1,+-2,+-3, F(2,5), F(4,5) on the 5x5 layer, the tiled FFT with its
 * default tile, FFTW) at every precision: fp64, fp32 (the native fp32
 * kernels, dp_conv2d), tf32, bf16, fp16, fp8-e4m3, fp8-e5m2 under both
 * policies (all, acc32), int16, int8; emulated through dp_emul_conv2d
 * (runtime/emul_conv.c). Inputs: standard normal ("normal"), ReLU of a
 * standard normal ("relu"), normal with mean 1 ("mean1"); weights standard
 * normal, no bias. Layers (small, so the whole study runs in minutes on
 * one core; K is small because every output is one more sample):
 *   47x47 C1 K1 3x3 pad 0   the case (the seed's: one channel)
 *   16x16 C16 K4 3x3 pad 1
 *   28x28 C3 K4 3x3 pad 1
 *   14x14 C64 K2 3x3 pad 1
 *   12x12 C8 K4 5x5 pad 2   (the F(m,5) layer)
 * TRIALS random trials each (seed per trial, the same data for every
 * algorithm and precision). The error of each output is measured against
 * dp_ref_conv2d (fp64 accumulation) on the SAME rounded inputs (the
 * format's x^ and w^, the dequantized values for the integer formats), so
 * it is the error the algorithm adds, not the input's rounding; and
 * against the direct convolution at the same precision. Statistics over
 * all outputs of all trials: mean |err|, max |err|, relative L2
 * sqrt(sum err^2 / sum ref^2); non-finite outputs (overflow) are counted
 * and left out of the error sums.
 *
 * Outputs (docs/data/, written to a temporary file and renamed; no field
 * contains a comma, so Winograd F(m,r) is spelled F(m;r) in them):
 *   precision_conv.csv       every layer x input x algorithm x precision
 *   precision_points.csv     Winograd F(4,3) and F(6,3) with five point
 *                            sets each, F(2,5)/F(4,5) with three
 *   precision_summation.csv  pairwise vs sequential channel summation
 *                            (direct, Winograd F(4,3), FFT) on long
 *                            reductions
 *   precision_fft_scale.csv  where the tiled FFT puts its 1/T^2 (20
 *                            trials; a 30x30 C16 layer with T = 32 too)
 * and on stdout the tables and the transform constants each format cannot
 * represent exactly. Paths are relative to $DP_SRCDIR (default "."). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dpgen.h"
#include "emul.h"
#include "kernels.h"
#include "precision.h"
#include "util.h"

/* DP_STUDY_TRIALS overrides the count (quick looks only). */
static int TRIALS = 50;
/* The FFT scaling comparison: its differences are large (overflow) or
 * nil, 20 trials show them. */
static int FFT_SCALE_TRIALS = 20;

typedef struct {
	const char *name;
	int n, c, h, w, k, r, pad;
} layer;

static const layer layers[] = {
	{ "47x47 C1 K1 3x3", 1, 1, 47, 47, 1, 3, 0 },
	{ "16x16 C16 K4 3x3", 1, 16, 16, 16, 4, 3, 1 },
	{ "28x28 C3 K4 3x3", 1, 3, 28, 28, 4, 3, 1 },
	{ "14x14 C64 K2 3x3", 1, 64, 14, 14, 2, 3, 1 },
	{ "12x12 C8 K4 5x5", 1, 8, 12, 12, 4, 5, 2 },
};
#define NLAYERS (int)(sizeof layers / sizeof layers[0])

typedef struct {
	const char *name;
	dp_algo algo;
	int tile;             /* winograd m; fft: 0 = default */
	const char *points;
	int r;                /* kernel size it applies to; 0: any */
} algo_spec;

static const algo_spec algos[] = {
	{ "direct", DP_ALGO_DIRECT, 0, "", 0 },
	{ "im2col", DP_ALGO_IM2COL, 0, "", 0 },
	{ "F(2;3)", DP_ALGO_WINOGRAD, 2, "", 3 },
	{ "F(4;3)", DP_ALGO_WINOGRAD, 4, "", 3 },
	{ "F(6;3)", DP_ALGO_WINOGRAD, 6, "", 3 },
	{ "F(6;3)int", DP_ALGO_WINOGRAD, 6, "0,1,-1,2,-2,3,-3", 3 },
	{ "F(2;5)", DP_ALGO_WINOGRAD, 2, "", 5 },
	{ "F(4;5)", DP_ALGO_WINOGRAD, 4, "", 5 },
	{ "fft", DP_ALGO_FFT, 0, "", 0 },
	{ "fftw", DP_ALGO_FFT_FFTW, 0, "", 0 },
};
#define NALGOS (int)(sizeof algos / sizeof algos[0])

typedef struct {
	dp_precision p;
	dp_policy pol;
	const char *label;
} prec_spec;

static const prec_spec precs[] = {
	{ DP_PREC_FP64, DP_POLICY_ALL, "fp64" },
	{ DP_PREC_FP32, DP_POLICY_ALL, "fp32" },
	{ DP_PREC_TF32, DP_POLICY_ALL, "tf32" },
	{ DP_PREC_TF32, DP_POLICY_ACC32, "tf32:acc32" },
	{ DP_PREC_BF16, DP_POLICY_ALL, "bf16" },
	{ DP_PREC_BF16, DP_POLICY_ACC32, "bf16:acc32" },
	{ DP_PREC_FP16, DP_POLICY_ALL, "fp16" },
	{ DP_PREC_FP16, DP_POLICY_ACC32, "fp16:acc32" },
	{ DP_PREC_FP8_E5M2, DP_POLICY_ALL, "fp8-e5m2" },
	{ DP_PREC_FP8_E5M2, DP_POLICY_ACC32, "fp8-e5m2:acc32" },
	{ DP_PREC_FP8_E4M3, DP_POLICY_ALL, "fp8-e4m3" },
	{ DP_PREC_FP8_E4M3, DP_POLICY_ACC32, "fp8-e4m3:acc32" },
	{ DP_PREC_INT16, DP_POLICY_ALL, "int16" },
	{ DP_PREC_INT8, DP_POLICY_ALL, "int8" },
};
#define NPRECS (int)(sizeof precs / sizeof precs[0])

static const char *const inputs[] = { "normal", "relu", "mean1" };
#define NINPUTS 3

/* ---- error accumulation ---- */

typedef struct {
	double sum_abs, max_abs, sum_sq, sum_ref_sq, sum_ref_abs;
	double sum_abs_d, max_abs_d;   /* vs direct at the same precision */
	long count, nonfinite, runs;
} stats;

static void acc_stats(stats *s, const float *y, const double *ref,
                      const float *ydirect, size_t n)
{
	s->runs++;
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
		if (ydirect && isfinite(ydirect[i])) {
			double ed = fabs((double)y[i] - ydirect[i]);
			s->sum_abs_d += ed;
			if (ed > s->max_abs_d)
				s->max_abs_d = ed;
		}
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

/* ---- data ---- */

static dp_desc make_desc(const layer *L, const algo_spec *a,
                         const prec_spec *p)
{
	dp_desc d = { .op = DP_OP_CONV, .algo = a->algo,
	              .precision = p->p, .policy = p->pol };
	d.n = L->n; d.c = L->c; d.h = L->h; d.w = L->w; d.k = L->k;
	d.r = L->r; d.s = L->r; d.stride = 1; d.pad_h = L->pad;
	d.pad_w = L->pad;
	if (a->algo == DP_ALGO_WINOGRAD) {
		d.tile = a->tile;
		snprintf(d.points, sizeof d.points, "%s", a->points);
	} else if (a->algo == DP_ALGO_FFT) {
		d.tile = a->tile ? a->tile : dp_fft_default_tile(&d);
	}
	return d;
}

/* One run: fp32 through the native kernels, the rest emulated. */
static int run_conv(const dp_desc *d, const dp_emul_opts *o,
                    const float *x, const float *w, float *y)
{
	dp_status st = d->precision == DP_PREC_FP32 ?
		dp_conv2d(d, x, w, NULL, y, NULL) :
		dp_emul_conv2d(d, o, x, w, NULL, y);
	if (st != DP_OK) {
		fprintf(stderr, "study_precision_conv: %s %s failed: %s\n",
		        dp_algo_name(d->algo), dp_precision_name(d->precision),
		        dp_status_str(st));
		return -1;
	}
	return 0;
}

/* ---- output ---- */

static FILE *open_csv(const char *name, char *tmp, size_t len,
                      const char *header)
{
	const char *dir = getenv("DP_SRCDIR");
	snprintf(tmp, len, "%s/docs/data/%s.csv.tmp", dir && *dir ? dir : ".",
	         name);
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

#define STATS_HEADER "runs,outputs,nonfinite,mean_abs_err,max_abs_err," \
	"rel_l2_err,mean_abs_ref,mean_abs_vs_direct,max_abs_vs_direct"

static void put_stats(FILE *f, const stats *s)
{
	fprintf(f, "%ld,%ld,%ld,%.4e,%.4e,%.4e,%.4e,%.4e,%.4e\n", s->runs,
	        s->count, s->nonfinite, mean_abs(s), s->max_abs, rel_l2(s),
	        s->count ? s->sum_ref_abs / s->count : NAN,
	        s->count ? s->sum_abs_d / s->count : NAN, s->max_abs_d);
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static const layer sum_layers[] = {
	{ "14x14 C64 K2 3x3", 1, 64, 14, 14, 2, 3, 1 },
	{ "8x8 C256 K2 3x3", 1, 256, 8, 8, 2, 3, 1 },
	{ "30x30 C16 K2 3x3", 1, 16, 30, 30, 2, 3, 1 },  /* fft scaling */
};

/* Buffers big enough for every layer. */
typedef struct {
	float *x, *w, *xr, *wr, *y, *yd;
	double *ref;
} bufs;

static int alloc_bufs(bufs *b)
{
	size_t ni = 0, nw = 0, no = 0;
	for (int i = 0; i < NLAYERS + 3; i++) {
		const layer *L = i < NLAYERS ? &layers[i] : &sum_layers[i - NLAYERS];
		size_t a = (size_t)L->n * L->c * L->h * L->w;
		size_t bw = (size_t)L->k * L->c * L->r * L->r;
		size_t o = (size_t)L->n * L->k * L->h * L->w * 2;
		ni = a > ni ? a : ni;
		nw = bw > nw ? bw : nw;
		no = o > no ? o : no;
	}
	b->x = malloc(ni * 4);
	b->xr = malloc(ni * 4);
	b->w = malloc(nw * 4);
	b->wr = malloc(nw * 4);
	b->y = malloc(no * 4);
	b->yd = malloc(no * 4);
	b->ref = malloc(no * 8);
	return b->x && b->xr && b->w && b->wr && b->y && b->yd && b->ref ?
	       0 : -1;
}

/* ---- 1. every algorithm x precision x layer x input ---- */

static stats main_stats[NLAYERS][NINPUTS][NALGOS][NPRECS];

static int study_main(bufs *b)
{
	char tmp[4096];
	FILE *f = open_csv("precision_conv", tmp, sizeof tmp,
	                   "layer,input,algo,precision,prec_index,"
	                   STATS_HEADER);
	if (!f)
		return -1;
	for (int li = 0; li < NLAYERS; li++) {
		const layer *L = &layers[li];
		double t0 = now();
		for (int ii = 0; ii < NINPUTS; ii++)
			for (int t = 0; t < TRIALS; t++) {
				rng_t rng;
				rng_seed(&rng, 1000003u * (li + 1) + 7919u * ii + t);
				size_t ni = (size_t)L->n * L->c * L->h * L->w;
				size_t nw = (size_t)L->k * L->c * L->r * L->r;
				fill_kind(&rng, ii, b->x, ni);
				fill_normal(&rng, b->w, nw);
				for (int pi = 0; pi < NPRECS; pi++) {
					const prec_spec *p = &precs[pi];
					dp_desc d0 = make_desc(L, &algos[0], p);
					size_t no = (size_t)dp_conv_output_elems(&d0);
					dp_precision_round_tensor(p->p, b->x, b->xr, ni);
					dp_precision_round_tensor(p->p, b->w, b->wr, nw);
					if (dp_ref_conv2d(&d0, b->xr, b->wr, NULL, b->ref))
						return -1;
					for (int ai = 0; ai < NALGOS; ai++) {
						const algo_spec *a = &algos[ai];
						if (a->r && a->r != L->r)
							continue;
						dp_desc d = make_desc(L, a, p);
						float *y = ai == 0 ? b->yd : b->y;
						if (run_conv(&d, NULL, b->x, b->w, y))
							return -1;
						acc_stats(&main_stats[li][ii][ai][pi], y, b->ref,
						          ai == 0 ? NULL : b->yd, no);
					}
				}
			}
		printf("# layer %s: %.1f s\n", L->name, now() - t0);
		fflush(stdout);
	}
	for (int li = 0; li < NLAYERS; li++)
		for (int ii = 0; ii < NINPUTS; ii++)
			for (int ai = 0; ai < NALGOS; ai++)
				for (int pi = 0; pi < NPRECS; pi++) {
					if (algos[ai].r && algos[ai].r != layers[li].r)
						continue;
					fprintf(f, "%s,%s,%s,%s,%d,", layers[li].name,
					        inputs[ii], algos[ai].name, precs[pi].label,
					        pi);
					put_stats(f, &main_stats[li][ii][ai][pi]);
				}
	/* The case: 47x47, 3x3, normal, every op rounded. */
	printf("\nmean |error|, 47x47 C1 K1 3x3, standard normal "
	       "(policy all; fp32 native)\n%-16s", "precision");
	for (int ai = 0; ai < NALGOS; ai++)
		if (algos[ai].r != 5)
			printf(" %10s", algos[ai].name);
	printf("\n");
	for (int pi = 0; pi < NPRECS; pi++) {
		printf("%-16s", precs[pi].label);
		for (int ai = 0; ai < NALGOS; ai++)
			if (algos[ai].r != 5)
				printf(" %10.2e", mean_abs(&main_stats[0][0][ai][pi]));
		printf("\n");
	}
	for (int li = 1; li < NLAYERS; li++) {
		printf("\nrelative L2 error, %s, relu inputs\n%-16s",
		       layers[li].name, "precision");
		for (int ai = 0; ai < NALGOS; ai++)
			if (!algos[ai].r || algos[ai].r == layers[li].r)
				printf(" %10s", algos[ai].name);
		printf("\n");
		for (int pi = 0; pi < NPRECS; pi++) {
			printf("%-16s", precs[pi].label);
			for (int ai = 0; ai < NALGOS; ai++)
				if (!algos[ai].r || algos[ai].r == layers[li].r) {
					const stats *s = &main_stats[li][1][ai][pi];
					if (s->nonfinite)
						printf(" %9.1e!", rel_l2(s));
					else
						printf(" %10.2e", rel_l2(s));
				}
			printf("\n");
		}
	}
	printf("(! = some outputs overflowed to Inf/NaN; error over the "
	       "finite ones)\n");
	return close_csv(f, tmp);
}

/* ---- 2. interpolation points ---- */

typedef struct {
	int m, r;
	const char *points;   /* "" = the default */
	const char *label;
} point_set;

static const point_set point_sets[] = {
	{ 4, 3, "", "0,1,-1,2,-1/2 (default)" },
	{ 4, 3, "0,1,-1,2,-2", "0,1,-1,2,-2 (Lavin-Gray)" },
	{ 4, 3, "0,1,-1,1/2,-1/2", "0,1,-1,1/2,-1/2" },
	{ 4, 3, "0,1,-1,1/2,-2", "0,1,-1,1/2,-2" },
	{ 4, 3, "0,1,-1,3/2,-3/2", "0,1,-1,3/2,-3/2" },
	{ 6, 3, "", "0,1,-1,2,-1/2,1/2,-2 (default)" },
	{ 6, 3, "0,1,-1,2,-2,3,-3", "0,1,-1,2,-2,3,-3" },
	{ 6, 3, "0,1,-1,1/2,-1/2,3/2,-3/2", "0,1,-1,1/2,-1/2,3/2,-3/2" },
	{ 6, 3, "0,1,-1,2,-2,1/4,-1/4", "0,1,-1,2,-2,1/4,-1/4" },
	{ 6, 3, "0,1,-1,3/2,-3/2,2/3,-2/3", "0,1,-1,3/2,-3/2,2/3,-2/3" },
	{ 6, 3, "0,1,-1,1/2,-1/2,2,-3", "0,1,-1,1/2,-1/2,2,-3" },
	{ 2, 5, "", "0,1,-1,2,-1/2 (default)" },
	{ 2, 5, "0,1,-1,2,-2", "0,1,-1,2,-2" },
	{ 2, 5, "0,1,-1,1/2,-1/2", "0,1,-1,1/2,-1/2" },
	{ 2, 5, "0,1,-1,1/2,-2", "0,1,-1,1/2,-2" },
	{ 4, 5, "", "0,1,-1,2,-1/2,1/2,-2 (default)" },
	{ 4, 5, "0,1,-1,2,-2,3,-3", "0,1,-1,2,-2,3,-3" },
	{ 4, 5, "0,1,-1,3/2,-3/2,2/3,-2/3", "0,1,-1,3/2,-3/2,2/3,-2/3" },
};
#define NPOINTS (int)(sizeof point_sets / sizeof point_sets[0])

/* fp64, fp32 and the formats where the choice matters most. */
static const int point_precs[] = { 0, 1, 4, 5, 6, 7, 12, 13 };
#define NPP (int)(sizeof point_precs / sizeof point_precs[0])

static int study_points(bufs *b)
{
	char tmp[4096];
	FILE *f = open_csv("precision_points", tmp, sizeof tmp,
	                   "layer,input,variant,points,precision,prec_index,"
	                   STATS_HEADER);
	if (!f)
		return -1;
	/* the 3x3 sets on the layer and on C16; 5x5 on its layer */
	const int lay3[] = { 0, 1 }, lay5[] = { 4 };
	printf("\nWinograd points: relative L2 error, normal inputs\n");
	for (int si = 0; si < NPOINTS; si++) {
		const point_set *ps = &point_sets[si];
		const int *lays = ps->r == 3 ? lay3 : lay5;
		int nl = ps->r == 3 ? 2 : 1;
		for (int l = 0; l < nl; l++) {
			const layer *L = &layers[lays[l]];
			stats st[NPP];
			memset(st, 0, sizeof st);
			algo_spec a = { "winograd", DP_ALGO_WINOGRAD, ps->m,
			                ps->points, ps->r };
			for (int t = 0; t < TRIALS; t++) {
				rng_t rng;
				rng_seed(&rng, 555u + 7919u * lays[l] + t);
				size_t ni = (size_t)L->n * L->c * L->h * L->w;
				size_t nw = (size_t)L->k * L->c * L->r * L->r;
				fill_kind(&rng, 0, b->x, ni);
				fill_normal(&rng, b->w, nw);
				for (int q = 0; q < NPP; q++) {
					const prec_spec *p = &precs[point_precs[q]];
					dp_desc d = make_desc(L, &a, p);
					size_t no = (size_t)dp_conv_output_elems(&d);
					dp_precision_round_tensor(p->p, b->x, b->xr, ni);
					dp_precision_round_tensor(p->p, b->w, b->wr, nw);
					if (dp_ref_conv2d(&d, b->xr, b->wr, NULL, b->ref) ||
					    run_conv(&d, NULL, b->x, b->w, b->y))
						return -1;
					acc_stats(&st[q], b->y, b->ref, NULL, no);
				}
			}
			printf("F(%d,%d) %-28s %-18s", ps->m, ps->r, ps->label,
			       L->name);
			for (int q = 0; q < NPP; q++) {
				const prec_spec *p = &precs[point_precs[q]];
				char lab[96];
				snprintf(lab, sizeof lab, "%s", ps->label);
				for (char *c = lab; *c; c++)
					if (*c == ',')
						*c = ' ';
				fprintf(f, "%s,normal,F(%d;%d),%s,%s,%d,", L->name, ps->m,
				        ps->r, lab, p->label, point_precs[q]);
				put_stats(f, &st[q]);
				printf(" %s %.2e", p->label, rel_l2(&st[q]));
			}
			printf("\n");
		}
	}
	return close_csv(f, tmp);
}

/* ---- 3. pairwise vs sequential summation over channels ---- */

static int study_summation(bufs *b)
{
	char tmp[4096];
	FILE *f = open_csv("precision_summation", tmp, sizeof tmp,
	                   "layer,input,algo,summation,precision,prec_index,"
	                   STATS_HEADER);
	if (!f)
		return -1;
	static const int sp[] = { 2, 3, 4, 5, 6, 7, 8, 10 };
	const algo_spec sa[] = { algos[0], algos[3], algos[8] };
	float *x = b->x, *xr = b->xr;
	printf("\nchannel summation: relative L2 error, sequential / "
	       "pairwise\n");
	for (int li = 0; li < 2; li++) {
		const layer *L = &sum_layers[li];
		for (int ii = 0; ii < 2; ii++)
			for (int ai = 0; ai < 3; ai++) {
				stats st[8][2];
				memset(st, 0, sizeof st);
				for (int t = 0; t < TRIALS; t++) {
					rng_t rng;
					rng_seed(&rng, 99991u + 7919u * li + 31u * ii + t);
					size_t ni = (size_t)L->n * L->c * L->h * L->w;
					size_t nw = (size_t)L->k * L->c * L->r * L->r;
					fill_kind(&rng, ii, x, ni);
					fill_normal(&rng, b->w, nw);
					for (int q = 0; q < 8; q++) {
						const prec_spec *p = &precs[sp[q]];
						dp_desc d = make_desc(L, &sa[ai], p);
						size_t no = (size_t)dp_conv_output_elems(&d);
						dp_precision_round_tensor(p->p, x, xr, ni);
						dp_precision_round_tensor(p->p, b->w, b->wr, nw);
						if (dp_ref_conv2d(&d, xr, b->wr, NULL, b->ref))
							return -1;
						for (int s = 0; s < 2; s++) {
							dp_emul_opts o = { .sum = s ?
								DP_EMUL_SUM_SEQUENTIAL :
								DP_EMUL_SUM_PAIRWISE };
							if (run_conv(&d, &o, x, b->w, b->y))
								return -1;
							acc_stats(&st[q][s], b->y, b->ref, NULL, no);
						}
					}
				}
				printf("%-17s %-6s %-7s", L->name, inputs[ii], sa[ai].name);
				for (int q = 0; q < 8; q++) {
					for (int s = 0; s < 2; s++) {
						fprintf(f, "%s,%s,%s,%s,%s,%d,", L->name, inputs[ii],
						        sa[ai].name, s ? "sequential" : "pairwise",
						        precs[sp[q]].label, sp[q]);
						put_stats(f, &st[q][s]);
					}
					printf(" %s %.1fx", precs[sp[q]].label,
					       rel_l2(&st[q][1]) / rel_l2(&st[q][0]));
				}
				printf("\n");
			}
	}
	return close_csv(f, tmp);
}

/* ---- 4. where the FFT scales ---- */

static int study_fft_scale(bufs *b)
{
	char tmp[4096];
	FILE *f = open_csv("precision_fft_scale", tmp, sizeof tmp,
	                   "layer,input,scaling,precision,prec_index,"
	                   STATS_HEADER);
	if (!f)
		return -1;
	static const char *const names[] = { "split", "forward", "input",
	                                     "none" };
	static const int sp[] = { 0, 4, 5, 6, 7, 8, 10, 11 };
	/* the default tiles, and a 32 x 32 tile on a wider layer: the
	 * forward growth T^2 = 1024 */
	static const layer fl[] = {
		{ "47x47 C1 K1 3x3", 1, 1, 47, 47, 1, 3, 0 },
		{ "14x14 C64 K2 3x3", 1, 64, 14, 14, 2, 3, 1 },
		{ "30x30 C16 K2 3x3 T32", 1, 16, 30, 30, 2, 3, 1 },
	};
	printf("\nFFT scaling: relative L2 error (nonfinite outputs)\n");
	for (int l = 0; l < 3; l++) {
		const layer *L = &fl[l];
		algo_spec fa = algos[8];
		fa.tile = l == 2 ? 32 : 0;
		for (int ii = 0; ii < NINPUTS; ii += 2)
			for (int sc = 0; sc < 4; sc++) {
				stats st[8];
				memset(st, 0, sizeof st);
				for (int t = 0; t < FFT_SCALE_TRIALS; t++) {
					rng_t rng;
					rng_seed(&rng, 4242u + 7919u * l + 31u * ii + t);
					size_t ni = (size_t)L->n * L->c * L->h * L->w;
					size_t nw = (size_t)L->k * L->c * L->r * L->r;
					fill_kind(&rng, ii, b->x, ni);
					fill_normal(&rng, b->w, nw);
					for (int q = 0; q < 8; q++) {
						const prec_spec *p = &precs[sp[q]];
						dp_desc d = make_desc(L, &fa, p);
						size_t no = (size_t)dp_conv_output_elems(&d);
						dp_precision_round_tensor(p->p, b->x, b->xr, ni);
						dp_precision_round_tensor(p->p, b->w, b->wr, nw);
						dp_emul_opts o = { .fft_scale =
							(dp_emul_fft_scale)sc };
						if (dp_ref_conv2d(&d, b->xr, b->wr, NULL, b->ref) ||
						    run_conv(&d, &o, b->x, b->w, b->y))
							return -1;
						acc_stats(&st[q], b->y, b->ref, NULL, no);
					}
				}
				printf("%-17s %-6s %-8s", L->name, inputs[ii], names[sc]);
				for (int q = 0; q < 8; q++) {
					fprintf(f, "%s,%s,%s,%s,%d,", L->name, inputs[ii],
					        names[sc], precs[sp[q]].label, sp[q]);
					put_stats(f, &st[q]);
					printf(" %s %.1e", precs[sp[q]].label, rel_l2(&st[q]));
					if (st[q].nonfinite)
						printf("(%ld)", st[q].nonfinite);
				}
				printf("\n");
			}
	}
	return close_csv(f, tmp);
}

/* ---- the transform constants a format cannot hold ---- */

static void inexact_constants(void)
{
	static const struct { int m, r; const char *pts, *name; } tr[] = {
		{ 2, 3, "", "F(2,3)" }, { 4, 3, "", "F(4,3)" },
		{ 6, 3, "", "F(6,3)" }, { 6, 3, "0,1,-1,2,-2,3,-3", "F(6,3)int" },
		{ 2, 5, "", "F(2,5)" }, { 4, 5, "", "F(4,5)" },
	};
	static const dp_format fm[] = { DP_FMT_TF32, DP_FMT_BF16, DP_FMT_FP16,
	                                DP_FMT_E5M2, DP_FMT_E4M3 };
	printf("\nWinograd constants not exact in the format (count, worst "
	       "relative error; G, BT, AT together)\n");
	for (size_t i = 0; i < sizeof tr / sizeof tr[0]; i++) {
		double at[64], g[64], bt[64];
		int m = tr[i].m, r = tr[i].r, a = m + r - 1;
		if (dp_winograd_transforms(m, r, tr[i].pts, at, g, bt) != DP_OK)
			continue;
		printf("%-10s", tr[i].name);
		for (size_t fi = 0; fi < 5; fi++) {
			int cnt = 0, nz = 0;
			double worst = 0;
			const double *mats[3] = { g, bt, at };
			int sizes[3] = { a * r, a * a, m * a };
			for (int k = 0; k < 3; k++)
				for (int j = 0; j < sizes[k]; j++) {
					double v = mats[k][j];
					if (v == 0)
						continue;
					nz++;
					double rv = dp_round(fm[fi], (float)v);
					if (rv != v) {
						cnt++;
						double e = fabs(rv - v) / fabs(v);
						worst = e > worst ? e : worst;
					}
				}
			printf("  %s %d/%d %.1e", dp_format_name(fm[fi]), cnt, nz,
			       worst);
		}
		printf("\n");
	}
}

int main(void)
{
	bufs b;
	const char *tr = getenv("DP_STUDY_TRIALS");
	if (tr && atoi(tr) > 0)
		TRIALS = FFT_SCALE_TRIALS = atoi(tr);
	if (alloc_bufs(&b) != 0) {
		fprintf(stderr, "study_precision_conv: out of memory\n");
		return 1;
	}
	double t0 = now();
	inexact_constants();
	if (study_main(&b) || study_points(&b) || study_summation(&b) ||
	    study_fft_scale(&b))
		return 1;
	printf("\nstudy_precision_conv: %.0f s\n", now() - t0);
	free(b.x);
	free(b.xr);
	free(b.w);
	free(b.wr);
	free(b.y);
	free(b.yd);
	free(b.ref);
	return 0;
}
