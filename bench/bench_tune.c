/* bench_tune.c - is the autotuner's choice the fastest? For each layer of
 * the convolution benchmark: time dp_find_conv (its default options, what
 * dp_plan_conv(DP_FASTEST) runs), take its choice (the fastest exact
 * candidate), then measure every candidate it measured again, much
 * longer (except far-off slow ones: see FAR_OFF), interleaved (round after round over all candidates, so a busy
 * spell of the shared machine hits them all alike), and report whether
 * the choice is within 5% of the best median. A miss is measured again,
 * the two candidates head to head, and both ratios are reported.
 * Then, for the chosen algorithm when the library has no kernel for the
 * layer's exact shape: the JIT (runtime/jit.c) compile time into an empty
 * cache, the cache-hit time, and the compiled kernel's time against the
 * generic one.
 *
 * Prints a table per layer and a summary; writes docs/data/bench_tune.csv
 * (one row per layer) and docs/data/bench_tune_candidates.csv (one row
 * per layer and candidate).
 *
 * Environment: BENCH_LAYERS=0,5 to run some layers only (numbers in the
 * order of layers[] below), BENCH_JIT=0 to skip the JIT measurements,
 * BENCH_OUT=DIR for the CSVs (default docs/data). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timing.h"
#include "util.h"

/* The layer list of bench/bench_conv.c (copied, not shared: that file
 * has its own owner; keep the two in step). pad < 0: "same". */
static const struct layer { int c, h, k, r, pad; } layers[] = {
	{ 3, 28, 16, 3, -1 },
	{ 64, 56, 64, 3, -1 },
	{ 128, 28, 128, 3, -1 },
	{ 256, 14, 256, 3, -1 },
	{ 512, 7, 512, 3, -1 },
	{ 32, 28, 32, 5, -1 },
	{ 3, 224, 64, 7, -1 },
	{ 16, 64, 16, 11, -1 },
	{ 8, 128, 8, 15, -1 },
	{ 1, 47, 1, 23, 0 },
};
enum { NLAYERS = sizeof layers / sizeof layers[0] };

/* The exhaustive measurement, in rounds; in each round every candidate
 * runs one untimed warm-up call and then a block of samples back to back
 * (warm caches, as in find, and as when a plan runs many times), so that
 * a slow spell of the machine spreads over all candidates. Every
 * candidate gets ALL_ROUNDS blocks of ALL_BLOCK samples (of one sample,
 * without warm-up, when a call takes more than SLOW_CALL); the contenders
 * (within CONTENDER x of the best median so far) then get blocks of
 * BLOCK samples until each has MIN_SAMPLES samples and MIN_SECONDS are
 * spent, or MAX_SECONDS. Each sample times a batch of calls lasting at
 * least SAMPLE_SECONDS (one call when a call is slower): short, as in
 * find, so that on a loaded machine most samples run without being
 * preempted and the median is the kernel's time, not the machine's load.
 * A miss is measured again: the two candidates alone, HEAD_TO_HEAD_ROUNDS
 * blocks each, alternately. */
#define ALL_ROUNDS 11
#define ALL_BLOCK 5
#define BLOCK 10
#define CONTENDER 1.5
#define MIN_SAMPLES 501
#define MIN_SECONDS 2.0
#define MAX_SECONDS 20.0
#define SAMPLE_SECONDS 50e-6
#define MAX_SAMPLES 4000
#define HEAD_TO_HEAD_ROUNDS 51
#define SLOW_CALL 10e-3
/* Far off: a candidate find timed at more than FAR_OFF x its fastest,
 * with calls of more than FAR_CALL seconds, gets FAR_ROUNDS samples
 * only (on this machine some take seconds a call, and cannot be within
 * 5% of anything). */
#define FAR_OFF 10.0
#define FAR_CALL 0.2
#define FAR_ROUNDS 3
#define TOLERANCE 0.05

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double median(const double *t, int n)
{
	double *s = malloc((size_t)(n > 0 ? n : 1) * sizeof *s);
	if (!s || n == 0) {
		free(s);
		return NAN;
	}
	memcpy(s, t, (size_t)n * sizeof *s);
	qsort(s, (size_t)n, sizeof *s, cmp_double);
	double m = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
	free(s);
	return m;
}

static void layer_desc(int i, dp_desc *d)
{
	const struct layer *l = &layers[i];
	memset(d, 0, sizeof *d);
	d->op = DP_OP_CONV;
	d->precision = DP_PREC_FP32;
	d->n = 1;
	d->c = l->c;
	d->h = d->w = l->h;
	d->k = l->k;
	d->r = d->s = l->r;
	d->stride = 1;
	d->pad_h = d->pad_w = l->pad < 0 ? (l->r - 1) / 2 : l->pad;
}

static void layer_label(int i, char *buf, size_t len)
{
	const struct layer *l = &layers[i];
	int n = snprintf(buf, len, "C%d H%d K%d %dx%d", l->c, l->h, l->k, l->r,
	                 l->r);
	if (l->pad >= 0 && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, " pad %d", l->pad);
}

static int layer_selected(int li, const char *list)
{
	if (!list || !*list)
		return 1;
	for (const char *s = list; *s;) {
		char *end;
		long v = strtol(s, &end, 10);
		if (end == s)
			return 0;
		if (v == li)
			return 1;
		s = *end == ',' ? end + 1 : end;
		if (*end && *end != ',')
			return 0;
	}
	return 0;
}

/* One candidate prepared for timing. */
typedef struct cand {
	dp_find_result find;   /* what find measured */
	const dp_kernel *kern;
	void *state, *ws;
	int batch;             /* calls per sample */
	double call;           /* seconds of one call at calibration */
	double *t;             /* samples, seconds per call */
	int n;
	double med;            /* median of the exhaustive samples */
	int contender;
} cand;

typedef struct layer_data {
	dp_desc d;
	float *in, *w, *b, *out;
} layer_data;

static void sample(const layer_data *x, cand *c);

/* One warm-up call, then k samples; a slow kernel (a call of more than
 * SLOW_CALL seconds: caches do not matter, the time does) gets no warm-up
 * and one sample. */
static void block(const layer_data *x, cand *c, int k)
{
	if (c->call > SLOW_CALL) {
		sample(x, c);
		return;
	}
	c->kern->execute(&c->find.desc, c->state, x->in, x->out, c->ws);
	for (int i = 0; i < k; i++)
		sample(x, c);
}

static void sample(const layer_data *x, cand *c)
{
	double t0 = now_s();
	for (int i = 0; i < c->batch; i++)
		c->kern->execute(&c->find.desc, c->state, x->in, x->out, c->ws);
	double dt = (now_s() - t0) / c->batch;
	if (c->n < MAX_SAMPLES)
		c->t[c->n++] = dt;
}

static int cand_init(cand *c, const dp_find_result *r, const layer_data *x)
{
	memset(c, 0, sizeof *c);
	c->find = *r;
	c->kern = dp_registry_find(&r->desc);
	if (!c->kern)
		c->kern = dp_generic_kernel(&r->desc);
	if (!c->kern)
		return -1;
	c->state = malloc(c->kern->state_bytes(&r->desc) + 1);
	c->ws = malloc(c->kern->workspace_bytes(&r->desc) + 1);
	c->t = malloc(MAX_SAMPLES * sizeof *c->t);
	if (!c->state || !c->ws || !c->t ||
	    c->kern->prepare(&r->desc, x->w, x->b, c->state) != DP_OK)
		return -1;
	/* Warm-up and batch size. */
	c->batch = 1;
	for (;;) {
		double t0 = now_s();
		for (int i = 0; i < c->batch; i++)
			c->kern->execute(&r->desc, c->state, x->in, x->out, c->ws);
		double dt = now_s() - t0;
		c->call = dt / c->batch;
		if (dt >= SAMPLE_SECONDS || c->batch >= (1 << 20))
			break;
		c->batch *= 2;
	}
	return 0;
}

static void cand_free(cand *c)
{
	free(c->state);
	free(c->ws);
	free(c->t);
}

/* The exhaustive measurement of every candidate; returns the seconds. */
static double exhaustive(const layer_data *x, cand *c, int nc)
{
	double start = now_s(), fastest = INFINITY;
	for (int i = 0; i < nc; i++)
		if (c[i].find.seconds < fastest)
			fastest = c[i].find.seconds;
	for (int r = 0; r < ALL_ROUNDS; r++)
		for (int i = 0; i < nc; i++)
			if (r < FAR_ROUNDS || c[i].call <= FAR_CALL ||
			    c[i].find.seconds <= FAR_OFF * fastest)
				block(x, &c[i], ALL_BLOCK);
	double best = INFINITY;
	for (int i = 0; i < nc; i++) {
		c[i].med = median(c[i].t, c[i].n);
		if (c[i].med < best)
			best = c[i].med;
	}
	for (int i = 0; i < nc; i++)
		c[i].contender = c[i].med <= CONTENDER * best;
	double phase = now_s();
	for (;;) {
		int need = 0;
		for (int i = 0; i < nc; i++)
			if (c[i].contender && c[i].n < MIN_SAMPLES)
				need = 1;
		double el = now_s() - phase;
		if ((!need && el >= MIN_SECONDS) || el >= MAX_SECONDS)
			break;
		int full = 0;
		for (int i = 0; i < nc; i++)
			if (c[i].contender) {
				block(x, &c[i], BLOCK);
				full |= c[i].n >= MAX_SAMPLES;
			}
		if (full)
			break;
	}
	for (int i = 0; i < nc; i++)
		c[i].med = median(c[i].t, c[i].n);
	return now_s() - start;
}

/* Head to head: a and b alternately, fresh samples; returns a/b. */
static double head_to_head(const layer_data *x, cand *a, cand *b)
{
	a->n = b->n = 0;
	for (int r = 0; r < HEAD_TO_HEAD_ROUNDS; r++) {
		block(x, a, BLOCK);
		block(x, b, BLOCK);
	}
	return median(a->t, a->n) / median(b->t, b->n);
}

/* Median seconds per execute of a plan, interleaved with the generic
 * kernel's: out[0] plan, out[1] generic. */
static void plan_vs_generic(const layer_data *x, dp_plan *p, cand *g,
                            double out[2])
{
	double tp[101];
	int np = 0;
	g->n = 0;
	int batch = g->batch;
	for (int r = 0; r < 101; r++) {
		double t0 = now_s();
		for (int i = 0; i < batch; i++)
			dp_execute(p, x->in, x->out, NULL);
		tp[np++] = (now_s() - t0) / batch;
		sample(x, g);
	}
	out[0] = median(tp, np);
	out[1] = median(g->t, g->n);
}

typedef struct summary {
	int layer;
	double find_s, exh_s;
	char chosen[96], best[96];
	double chosen_find_us, chosen_us, best_us, ratio, ratio2;
	int within, rank, ncand;
	/* JIT of the chosen candidate when it ran generic, else of the
	 * fastest generic candidate that has a template (jit_state 0: none
	 * measured). */
	int jit_state;           /* 1 measured, 3 failed */
	char jit_of[96], jit_kernel[DP_NAME_LEN], jit_msg[DP_MSG_LEN];
	double jit_compile_s, jit_hit_s, jit_us, generic_us;
} summary;

static void cand_name(const dp_find_result *r, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s", dp_algo_name(r->desc.algo),
	         r->variant[0] ? " " : "", r->variant);
}

static void jit_measure(const layer_data *x, cand *chosen, summary *s,
                        const char *cache)
{
	cand_name(&chosen->find, s->jit_of, sizeof s->jit_of);
	setenv("XDG_CACHE_HOME", cache, 1);
	dp_set_jit(1);
	dp_plan *p = NULL;
	dp_status st = dp_plan_conv(&chosen->find.desc, DP_CHOOSE_DESC, NULL,
	                            x->w, x->b, &p);
	if (st != DP_OK || dp_plan_source(p) != DP_SOURCE_JIT_COMPILED) {
		s->jit_state = 3;
		snprintf(s->jit_msg, sizeof s->jit_msg, "%s",
		         st != DP_OK ? dp_status_str(st) : dp_plan_warning(p));
		dp_destroy(p);
		return;
	}
	s->jit_compile_s = dp_plan_jit_seconds(p);
	snprintf(s->jit_kernel, sizeof s->jit_kernel, "%s",
	         dp_plan_kernel(p)->name);
	dp_destroy(p);
	/* Cache hits: the median of a few plans. */
	double hits[5];
	int nh = 0;
	for (int i = 0; i < 5; i++) {
		p = NULL;
		if (dp_plan_conv(&chosen->find.desc, DP_CHOOSE_DESC, NULL, x->w,
		                 x->b, &p) == DP_OK &&
		    dp_plan_source(p) == DP_SOURCE_JIT_CACHE)
			hits[nh++] = dp_plan_jit_seconds(p);
		if (i < 4)
			dp_destroy(p);
	}
	s->jit_hit_s = median(hits, nh);
	if (p && dp_plan_source(p) == DP_SOURCE_JIT_CACHE) {
		double t[2];
		plan_vs_generic(x, p, chosen, t);
		s->jit_us = t[0] * 1e6;
		s->generic_us = t[1] * 1e6;
		s->jit_state = 1;
	}
	dp_destroy(p);
}

static void run_layer(int li, summary *s, FILE *detail, int do_jit,
                      const char *cache)
{
	layer_data x;
	char label[96];
	layer_desc(li, &x.d);
	layer_label(li, label, sizeof label);
	memset(s, 0, sizeof *s);
	s->layer = li;
	size_t nin = (size_t)dp_conv_input_elems(&x.d);
	size_t nw = (size_t)dp_conv_weight_elems(&x.d);
	size_t nout = (size_t)dp_conv_output_elems(&x.d);
	x.in = malloc(nin * sizeof(float));
	x.w = malloc(nw * sizeof(float));
	x.b = malloc((size_t)x.d.k * sizeof(float));
	x.out = malloc(nout * sizeof(float));
	if (!x.in || !x.w || !x.b || !x.out) {
		fprintf(stderr, "bench_tune: out of memory\n");
		exit(1);
	}
	rng_t r;
	rng_seed(&r, 100 + (uint64_t)li);
	fill_normal(&r, x.in, nin);
	fill_normal(&r, x.w, nw);
	fill_normal(&r, x.b, (size_t)x.d.k);

	fprintf(stderr, "bench_tune: layer %d (%s): find...\n", li, label);
	dp_find_result res[DP_FIND_MAX];
	int n = 0;
	double t0 = now_s();
	dp_status st = dp_find_conv(&x.d, NULL, res, DP_FIND_MAX, &n);
	s->find_s = now_s() - t0;
	if (st != DP_OK) {
		fprintf(stderr, "bench_tune: find failed on layer %d: %s\n", li,
		        dp_status_str(st));
		exit(1);
	}
	cand *c = calloc((size_t)n, sizeof *c);
	int nc = 0, chosen = -1;
	for (int i = 0; i < n; i++) {
		if (res[i].status != DP_OK || res[i].approximate)
			continue;
		if (cand_init(&c[nc], &res[i], &x) != 0) {
			fprintf(stderr, "bench_tune: cannot prepare %s\n",
			        res[i].kernel);
			exit(1);
		}
		if (chosen < 0)
			chosen = nc;   /* find sorts fastest first */
		nc++;
	}
	if (chosen < 0) {
		fprintf(stderr, "bench_tune: nothing measured on layer %d\n", li);
		exit(1);
	}
	fprintf(stderr, "bench_tune: layer %d: find %.1f s; measuring %d "
	        "candidates exhaustively...\n", li, s->find_s, nc);
	s->exh_s = exhaustive(&x, c, nc);
	int best = 0;
	for (int i = 1; i < nc; i++)
		if (c[i].med < c[best].med)
			best = i;
	s->ncand = nc;
	s->rank = 1;
	for (int i = 0; i < nc; i++)
		if (c[i].med < c[chosen].med)
			s->rank++;
	cand_name(&c[chosen].find, s->chosen, sizeof s->chosen);
	cand_name(&c[best].find, s->best, sizeof s->best);
	s->chosen_find_us = c[chosen].find.seconds * 1e6;
	s->chosen_us = c[chosen].med * 1e6;
	s->best_us = c[best].med * 1e6;
	s->ratio = c[chosen].med / c[best].med;
	s->ratio2 = NAN;
	s->within = s->ratio <= 1 + TOLERANCE;

	printf("\nlayer %d: %s   find %.2f s (default options), exhaustive "
	       "%.1f s\n", li, label, s->find_s, s->exh_s);
	printf("  %-16s %-9s %11s %5s %11s %7s %8s\n", "candidate", "kernel",
	       "find(us)", "reps", "exh(us)", "samples", "vs best");
	for (int i = 0; i < nc; i++) {
		char nm[96];
		cand_name(&c[i].find, nm, sizeof nm);
		printf("%s %-16s %-9s %11.2f %5d %11.2f %7d %8.3f%s\n",
		       i == chosen ? "*" : " ", nm,
		       c[i].find.generated ? "generated" : "generic",
		       c[i].find.seconds * 1e6, c[i].find.reps, c[i].med * 1e6,
		       c[i].n, c[i].med / c[best].med,
		       i == best ? "  best" : "");
		fprintf(detail, "%d,%d,%d,%d,%d,%d,%d,%s,\"%s\",%s,%d,%.3f,%d,%.3f,"
		        "%d,%.4f,%d,%d\n", li, x.d.c, x.d.h, x.d.w, x.d.k, x.d.r,
		        x.d.pad_h, dp_algo_name(c[i].find.desc.algo),
		        c[i].find.variant,
		        c[i].find.generated ? "generated" : "generic",
		        c[i].find.desc.tile, c[i].find.seconds * 1e6,
		        c[i].find.reps, c[i].med * 1e6, c[i].n,
		        c[i].med / c[best].med, i == chosen, i == best);
	}
	if (!s->within) {
		/* Noise or a wrong choice? The two alone, alternately. */
		s->ratio2 = head_to_head(&x, &c[chosen], &c[best]);
		printf("  chosen/best %.3f > %.2f: head to head again over %d "
		       "rounds: %.3f\n", s->ratio, 1 + TOLERANCE,
		       HEAD_TO_HEAD_ROUNDS, s->ratio2);
	}
	/* The JIT: of the choice if it ran generic, else of the fastest
	 * generic candidate with a template. */
	int jt = -1;
	for (int i = 0; i < nc; i++)
		if (!c[i].find.generated &&
		    dp_algo_generated(c[i].find.desc.algo) &&
		    (jt < 0 || c[i].med < c[jt].med))
			jt = i;
	if (!c[chosen].find.generated &&
	    dp_algo_generated(c[chosen].find.desc.algo))
		jt = chosen;
	if (do_jit && jt >= 0)
		jit_measure(&x, &c[jt], s, cache);
	if (s->jit_state == 1)
		printf("  JIT of %s: compiled in %.2f s, from the cache in %.1f ms;"
		       " %.2f us vs generic %.2f us (%.1fx)%s\n", s->jit_of,
		       s->jit_compile_s, s->jit_hit_s * 1e3, s->jit_us,
		       s->generic_us, s->generic_us / s->jit_us,
		       s->jit_us < s->best_us ? "; faster than the best "
		       "candidate find saw" : "");
	else if (s->jit_state == 3)
		printf("  JIT of %s failed: %s\n", s->jit_of, s->jit_msg);
	for (int i = 0; i < nc; i++)
		cand_free(&c[i]);
	free(c);
	free(x.in);
	free(x.w);
	free(x.b);
	free(x.out);
}

/* The summary: the CSV (rewritten after every layer, so an interrupted
 * run keeps what it measured) and, with out, the table. */
static void write_summary(const char *path, const summary *sum, int ns,
                          int out)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		perror(path);
		exit(1);
	}
	fprintf(f, "layer,label,candidates,find_seconds,exhaustive_seconds,"
	        "chosen,chosen_find_us,chosen_us,best,best_us,chosen_vs_best,"
	        "rank,within_5pct,head_to_head_ratio,jit_of,jit_kernel,"
	        "jit_compile_seconds,jit_cache_seconds,jit_us,generic_us\n");
	if (out) {
		printf("\nsummary (chosen = dp_find_conv's pick; ratio = its "
		       "exhaustive median / the best one)\n");
		printf("%-22s %6s %-16s %-16s %7s %5s %5s %6s  %-16s %6s %8s "
		       "%8s\n", "layer", "find s", "chosen", "best", "ratio",
		       "rank", "<=5%", "again", "jit of", "jit s", "cache ms",
		       "speedup");
	}
	int good = 0;
	double total_find = 0;
	for (int i = 0; i < ns; i++) {
		const summary *s = &sum[i];
		char label[96], again[16] = "-", js[16] = "-", jh[16] = "-";
		char sp[16] = "-";
		layer_label(s->layer, label, sizeof label);
		if (!isnan(s->ratio2))
			snprintf(again, sizeof again, "%.3f", s->ratio2);
		if (s->jit_state == 1) {
			snprintf(js, sizeof js, "%.2f", s->jit_compile_s);
			snprintf(jh, sizeof jh, "%.1f", s->jit_hit_s * 1e3);
			snprintf(sp, sizeof sp, "%.1fx", s->generic_us / s->jit_us);
		} else if (s->jit_state == 3) {
			snprintf(js, sizeof js, "failed");
		}
		int ok = s->within || (!isnan(s->ratio2) && s->ratio2 <= 1 +
		                       TOLERANCE);
		good += ok;
		total_find += s->find_s;
		if (out)
			printf("%-22s %6.2f %-16s %-16s %7.3f %2d/%-2d %5s %6s  "
			       "%-16s %6s %8s %8s\n", label, s->find_s, s->chosen,
			       s->best, s->ratio, s->rank, s->ncand,
			       s->within ? "yes" : "no", again,
			       s->jit_state ? s->jit_of : "-", js, jh, sp);
		fprintf(f, "%d,\"%s\",%d,%.3f,%.3f,\"%s\",%.3f,%.3f,\"%s\",%.3f,"
		        "%.4f,%d,%d,", s->layer, label, s->ncand, s->find_s,
		        s->exh_s, s->chosen, s->chosen_find_us, s->chosen_us,
		        s->best, s->best_us, s->ratio, s->rank, s->within);
		if (isnan(s->ratio2))
			fprintf(f, ",");
		else
			fprintf(f, "%.4f,", s->ratio2);
		if (s->jit_state == 1)
			fprintf(f, "\"%s\",%s,%.3f,%.4f,%.3f,%.3f\n", s->jit_of,
			        s->jit_kernel, s->jit_compile_s, s->jit_hit_s,
			        s->jit_us, s->generic_us);
		else
			fprintf(f, "\"%s\",%s,,,,\n", s->jit_state ? s->jit_of : "",
			        s->jit_state == 3 ? "failed" : "");
	}
	if (fclose(f) != 0) {
		perror(path);
		exit(1);
	}
	if (out)
		printf("\nchoice within 5%% of the exhaustive best: %d of %d layers "
	       "(first measurement; 'again' = head to head after a miss); find "
	       "took %.1f s in all\n", good, ns, total_find);
}

int main(void)
{
	const char *only = getenv("BENCH_LAYERS");
	const char *jit_env = getenv("BENCH_JIT");
	const char *outdir = getenv("BENCH_OUT");
	int do_jit = !(jit_env && !strcmp(jit_env, "0"));
	if (!outdir || !*outdir)
		outdir = "docs/data";
	char cache[4096] = "";
	if (do_jit && !make_temp_dir(cache, sizeof cache)) {
		fprintf(stderr, "bench_tune: cannot make a temporary directory\n");
		return 1;
	}
	char path[4200], dpath[4200];
	snprintf(path, sizeof path, "%s/bench_tune.csv", outdir);
	snprintf(dpath, sizeof dpath, "%s/bench_tune_candidates.csv", outdir);
	FILE *detail = fopen(dpath, "w");
	if (!detail) {
		perror(dpath);
		return 1;
	}
	fprintf(detail, "layer,c,h,w,k,r,pad,algo,variant,kernel,tile,find_us,"
	        "find_reps,exhaustive_us,exhaustive_samples,vs_best,chosen,"
	        "best\n");
	/* Find and the exhaustive measurement use the library's kernels
	 * only; the JIT is measured on its own below. */
	dp_set_jit(0);
	printf("dpgen %s autotune benchmark: dp_find_conv's choice against an "
	       "exhaustive, interleaved re-measurement of every candidate\n"
	       "(threads: %d; times are medians; compare within a layer)\n",
	       DP_VERSION, dp_get_num_threads());
	summary sum[NLAYERS];
	int ns = 0;
	for (int li = 0; li < NLAYERS; li++) {
		if (!layer_selected(li, only))
			continue;
		run_layer(li, &sum[ns++], detail, do_jit, cache);
		dp_set_jit(0);
		fflush(stdout);
		fflush(detail);
		write_summary(path, sum, ns, 0);
	}
	fclose(detail);
	if (cache[0])
		remove_tree(cache);

	write_summary(path, sum, ns, 1);
	printf("wrote %s and %s\n", path, dpath);
	return 0;
}
