/* find.c - measure every algorithm and variant for one problem: time
 * (median of stable repetitions; the close contenders for the first place
 * again in interleaved rounds, see runoff()) and error against the fp64
 * reference on the same deterministic random data. Never prints. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dpgen.h"
#include "emul.h"
#include "wisdom.h"

enum { MAX_SAMPLES = 1000 };

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void dp_find_opts_resolve(const dp_find_opts *in, dp_find_opts *o)
{
	if (in)
		*o = *in;
	else
		memset(o, 0, sizeof *o);
	if (o->min_reps < 1)
		o->min_reps = 5;
	if (!(o->min_seconds > 0))
		o->min_seconds = 0.02;
	if (!(o->max_seconds > 0))
		o->max_seconds = 1.0;
	if (o->max_seconds < o->min_seconds)
		o->max_seconds = o->min_seconds;
	if (!(o->stable > 0))
		o->stable = 0.05;
	if (!o->seed)
		o->seed = 1;
	if (!o->max_bytes)
		o->max_bytes = (size_t)512 << 20;
}

/* xorshift64*, uniform in [-1, 1). */
static float rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	uint64_t v = *s * 0x2545F4914F6CDD1DULL;
	return (float)((double)(v >> 11) * (2.0 / 9007199254740992.0) - 1.0);
}

static void fill(uint64_t *s, float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] = rnd(s);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(const double *t, int n, double *scratch)
{
	memcpy(scratch, t, (size_t)n * sizeof *t);
	qsort(scratch, (size_t)n, sizeof *scratch, cmp_double);
	return n % 2 ? scratch[n / 2] : 0.5 * (scratch[n / 2 - 1] +
	                                       scratch[n / 2]);
}

/* The data of one problem, shared by every candidate. */
typedef struct problem {
	dp_desc d;
	float *in, *w, *b, *out;
	double *ref;
	size_t nin, nw, nout;
	double flops, max_ref;
	double *t, *scratch;   /* MAX_SAMPLES each */
} problem;

static void problem_free(problem *p)
{
	free(p->in);
	free(p->w);
	free(p->b);
	free(p->out);
	free(p->ref);
	free(p->t);
	free(p->scratch);
}

static dp_status problem_init(problem *p, const dp_desc *d, uint64_t seed)
{
	memset(p, 0, sizeof *p);
	p->d = *d;
	if (d->op == DP_OP_CONV) {
		p->nin = (size_t)dp_conv_input_elems(d);
		p->nw = (size_t)dp_conv_weight_elems(d);
		p->nout = (size_t)dp_conv_output_elems(d);
		p->flops = 2.0 * d->n * d->k * d->c * d->r * d->s *
		           (double)dp_conv_out_h(d) * dp_conv_out_w(d);
	} else {
		p->nin = (size_t)d->mm_m * (size_t)d->mm_k;
		p->nw = (size_t)d->mm_k * (size_t)d->mm_n;
		p->nout = (size_t)d->mm_m * (size_t)d->mm_n;
		p->flops = 2.0 * d->mm_m * (double)d->mm_k * d->mm_n;
	}
	p->in = malloc(p->nin * sizeof(float));
	p->w = malloc(p->nw * sizeof(float));
	p->b = malloc((size_t)(d->op == DP_OP_CONV ? d->k : 1) *
	              sizeof(float));
	p->out = malloc(p->nout * sizeof(float));
	p->ref = malloc(p->nout * sizeof(double));
	p->t = malloc(MAX_SAMPLES * sizeof(double));
	p->scratch = malloc(MAX_SAMPLES * sizeof(double));
	if (!p->in || !p->w || !p->b || !p->out || !p->ref || !p->t ||
	    !p->scratch) {
		problem_free(p);
		return DP_ERR_NOMEM;
	}
	uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 0x1234567ULL;
	if (!s)
		s = 1;
	fill(&s, p->in, p->nin);
	fill(&s, p->w, p->nw);
	dp_status st;
	if (d->op == DP_OP_CONV) {
		fill(&s, p->b, (size_t)d->k);
		st = dp_ref_conv2d(d, p->in, p->w, p->b, p->ref);
	} else {
		st = dp_ref_matmul(d->mm_m, d->mm_k, d->mm_n, p->in, p->w,
		                   p->ref);
	}
	if (st != DP_OK) {
		problem_free(p);
		return st;
	}
	for (size_t i = 0; i < p->nout; i++)
		if (fabs(p->ref[i]) > p->max_ref)
			p->max_ref = fabs(p->ref[i]);
	return DP_OK;
}

static void set_variant_name(dp_find_result *r)
{
	const dp_desc *d = &r->desc;
	r->variant[0] = '\0';
	if (d->algo == DP_ALGO_WINOGRAD)
		snprintf(r->variant, sizeof r->variant, "F(%d,%d)", d->tile, d->r);
	else if (d->algo == DP_ALGO_FFT)
		snprintf(r->variant, sizeof r->variant, "T%d", d->tile);
	else if (d->algo == DP_ALGO_SVD)
		snprintf(r->variant, sizeof r->variant, "rank %d", d->rank_b);
	else if (d->algo == DP_ALGO_LOG)
		snprintf(r->variant, sizeof r->variant, "F=exact");
	else if (d->algo == DP_ALGO_LNS)
		snprintf(r->variant, sizeof r->variant, "F=%d W=%d", d->frac_bits,
		         d->acc_bits);
}

/* The candidates of a problem: every algorithm of its op and each
 * variant. Returns how many. */
static int candidates(const dp_desc *d, int approx, dp_desc *c, int *is_approx)
{
	static const int wino_tiles[] = { 2, 4, 6 };
	int n = 0;
	for (int a = 0; a < DP_ALGO_COUNT && n < DP_FIND_MAX; a++) {
		if (dp_algo_op((dp_algo)a) != d->op)
			continue;
		dp_desc base = *d;
		base.algo = (dp_algo)a;
		base.tile = 0;
		base.points[0] = '\0';
		base.rank_a = base.rank_b = 0;
		base.frac_bits = base.acc_bits = base.bin_bits = 0;
		int appr = a == DP_ALGO_SVD || a == DP_ALGO_LOG ||
		           a == DP_ALGO_LNS;
		if (appr && !approx)
			continue;
		if (a == DP_ALGO_WINOGRAD) {
			for (size_t i = 0; i < sizeof wino_tiles / sizeof *wino_tiles
			     && n < DP_FIND_MAX; i++) {
				c[n] = base;
				c[n].tile = wino_tiles[i];
				is_approx[n++] = 0;
			}
			continue;
		}
		if (a == DP_ALGO_FFT) {
			for (int t = DP_FFT_MIN_TILE; t <= DP_FFT_MAX_TILE &&
			     n < DP_FIND_MAX; t *= 2) {
				c[n] = base;
				c[n].tile = t;
				is_approx[n++] = 0;
			}
			continue;
		}
		if (a == DP_ALGO_SVD) {
			int mx = d->mm_k < d->mm_n ? d->mm_k : d->mm_n;
			base.rank_b = mx / 2 > 0 ? mx / 2 : 1;
		} else if (a == DP_ALGO_LOG) {
			base.frac_bits = DP_LOG_EXACT;
		} else if (a == DP_ALGO_LNS) {
			base.frac_bits = 8;
			base.bin_bits = 8;
			base.acc_bits = 32;
		}
		c[n] = base;
		is_approx[n++] = appr;
	}
	return n;
}

static void errors(const problem *p, dp_find_result *r)
{
	double mx = 0, sum = 0;
	for (size_t i = 0; i < p->nout; i++) {
		double e = fabs((double)p->out[i] - p->ref[i]);
		if (isnan(e))
			e = INFINITY;
		if (e > mx)
			mx = e;
		sum += e;
	}
	r->max_abs_err = mx;
	r->mean_abs_err = p->nout ? sum / (double)p->nout : 0;
	r->rel_err = p->max_ref > 0 ? mx / p->max_ref : mx;
}

/* Time kern->execute: warm-up (a tenth of min_seconds), batches of calls
 * lasting ~50 us each so the clock resolution does not matter, then
 * samples until there are min_reps of them, min_seconds have passed and
 * the median is stable, or max_seconds are spent (with min_reps). */
static dp_status time_kernel(problem *p, const dp_kernel *kern,
                             const dp_desc *d, const void *state, void *ws,
                             const dp_find_opts *o, dp_find_result *r)
{
	dp_status st = DP_OK;
	double start = now_s();
	int batch = 1;
	for (;;) {
		double t0 = now_s();
		for (int i = 0; i < batch && st == DP_OK; i++)
			st = kern->execute(d, state, p->in, p->out, ws);
		double dt = now_s() - t0;
		if (st != DP_OK)
			return st;
		if (dt > 50e-6 || batch >= (1 << 16) || dt > o->max_seconds)
			break;
		batch *= 2;
	}
	while (now_s() - start < o->min_seconds / 10 && st == DP_OK)
		st = kern->execute(d, state, p->in, p->out, ws);
	int n = 0;
	start = now_s();
	while (st == DP_OK && n < MAX_SAMPLES) {
		double t0 = now_s();
		for (int i = 0; i < batch && st == DP_OK; i++)
			st = kern->execute(d, state, p->in, p->out, ws);
		double now = now_s();
		p->t[n++] = (now - t0) / batch;
		double el = now - start;
		if (n >= o->min_reps && el >= o->max_seconds)
			break;
		if (n >= o->min_reps && el >= o->min_seconds) {
			double all = median(p->t, n, p->scratch);
			double half = median(p->t, n / 2 > 0 ? n / 2 : 1, p->scratch);
			if (fabs(all - half) <= o->stable * all)
				break;
		}
	}
	if (st != DP_OK)
		return st;
	r->reps = n;
	r->seconds = median(p->t, n, p->scratch);
	r->gflops = r->seconds > 0 ? p->flops / r->seconds * 1e-9 : 0;
	return DP_OK;
}

/* The kernel of r's descriptor: the exact-shape generated one when
 * registered, else the generic one, or NULL. */
static const dp_kernel *kernel_of(dp_find_result *r)
{
	const dp_kernel *kern = dp_registry_find(&r->desc);
	r->generated = kern != NULL;
	return kern ? kern : dp_generic_kernel(&r->desc);
}

static void measure(problem *p, dp_find_result *r, const dp_find_opts *o)
{
	const dp_desc *d = &r->desc;
	char why[DP_MSG_LEN - 32];
	if (dp_desc_check(d, why, sizeof why) != DP_OK) {
		r->status = DP_ERR_UNSUPPORTED;
		snprintf(r->message, sizeof r->message, "not applicable: %s", why);
		return;
	}
	const dp_kernel *kern = kernel_of(r);
	if (!kern) {
		r->status = DP_ERR_UNSUPPORTED;
		if (d->op == DP_OP_CONV && d->precision != DP_PREC_FP32)
			snprintf(r->message, sizeof r->message, "not applicable: "
			         "%s", dp_emul_conv_unsupported(d));
		else
			snprintf(r->message, sizeof r->message, "not applicable: "
			         "no kernel for %s", dp_algo_name(d->algo));
		return;
	}
	snprintf(r->kernel, sizeof r->kernel, "%s", kern->name);
	r->state_bytes = kern->state_bytes(d);
	r->workspace_bytes = kern->workspace_bytes(d);
	if (r->state_bytes > o->max_bytes ||
	    r->workspace_bytes > o->max_bytes - r->state_bytes) {
		r->status = DP_ERR_UNSUPPORTED;
		snprintf(r->message, sizeof r->message, "skipped: needs %.0f MiB "
		         "of state and workspace, above the limit of %.0f MiB "
		         "(dp_find_opts.max_bytes)", ((double)r->state_bytes +
		         (double)r->workspace_bytes) / 1048576.0,
		         (double)o->max_bytes / 1048576.0);
		return;
	}
	void *state = malloc(r->state_bytes + 1);
	void *ws = malloc(r->workspace_bytes + 1);
	dp_status st = DP_ERR_NOMEM;
	const char *stage = "allocation";
	if (state && ws) {
		stage = "prepare";
		st = kern->prepare(d, p->w, d->op == DP_OP_CONV ? p->b : NULL,
		                   state);
	}
	if (st == DP_OK) {
		stage = "execute";
		for (size_t i = 0; i < p->nout; i++)
			p->out[i] = NAN;
		st = kern->execute(d, state, p->in, p->out, ws);
	}
	if (st == DP_OK) {
		errors(p, r);
		st = time_kernel(p, kern, d, state, ws, o, r);
	}
	if (st != DP_OK) {
		r->status = st;
		snprintf(r->message, sizeof r->message, "%s failed: %s", stage,
		         dp_status_str(st));
	}
	free(state);
	free(ws);
}

/* The run-off. Timed one after another, two candidates a few percent
 * apart can swap places by the machine's drift alone (shared machines
 * drift 5-15% within seconds; measured in bench-tune: find chose generic
 * im2col at 3539 us over im2col-blas at 3882 us, and head to head
 * im2col-blas was 6.5% faster). So the candidates within RUNOFF_BAND of
 * the fastest (at most RUNOFF_MAX of them) are timed again in
 * interleaved rounds, one sample of each per round, and get the median
 * of their samples as their time: drift then hits all of them alike. A
 * sample is one untimed call (the others' data just went through the
 * caches) and then calls for at least RUNOFF_SAMPLE_S. */
enum { RUNOFF_MAX = 4, RUNOFF_ROUNDS = 9 };
#define RUNOFF_BAND 0.10
#define RUNOFF_SAMPLE_S 1e-3

static void runoff(problem *p, dp_find_result *all, int n)
{
	int idx[RUNOFF_MAX], m = 0, best = -1;
	for (int i = 0; i < n; i++)
		if (all[i].status == DP_OK &&
		    (best < 0 || all[i].seconds < all[best].seconds))
			best = i;
	for (int i = 0; best >= 0 && i < n && m < RUNOFF_MAX; i++)
		if (all[i].status == DP_OK &&
		    all[i].seconds <= (1 + RUNOFF_BAND) * all[best].seconds)
			idx[m++] = i;
	if (m < 2)
		return;
	const dp_kernel *kern[RUNOFF_MAX];
	void *state[RUNOFF_MAX] = { 0 }, *ws[RUNOFF_MAX] = { 0 };
	int batch[RUNOFF_MAX];
	double t[RUNOFF_MAX][RUNOFF_ROUNDS];
	int ready = 1;
	for (int j = 0; j < m; j++) {
		dp_find_result *r = &all[idx[j]];
		kern[j] = kernel_of(r);
		state[j] = malloc(r->state_bytes + 1);
		ws[j] = malloc(r->workspace_bytes + 1);
		ready = ready && kern[j] && state[j] && ws[j] &&
		        kern[j]->prepare(&r->desc, p->w, r->desc.op == DP_OP_CONV ?
		                         p->b : NULL, state[j]) == DP_OK;
		batch[j] = r->seconds > 0 && r->seconds < RUNOFF_SAMPLE_S ?
		           (int)(RUNOFF_SAMPLE_S / r->seconds) + 1 : 1;
	}
	dp_status st = DP_OK;
	for (int k = 0; ready && k < RUNOFF_ROUNDS && st == DP_OK; k++)
		for (int j = 0; j < m && st == DP_OK; j++) {
			const dp_desc *d = &all[idx[j]].desc;
			st = kern[j]->execute(d, state[j], p->in, p->out, ws[j]);
			double t0 = now_s();
			for (int i = 0; i < batch[j] && st == DP_OK; i++)
				st = kern[j]->execute(d, state[j], p->in, p->out, ws[j]);
			t[j][k] = (now_s() - t0) / batch[j];
		}
	/* Timed once already, these kernels do not fail now; if one does
	 * (memory), the first pass's times stand. */
	for (int j = 0; j < m; j++) {
		if (ready && st == DP_OK) {
			dp_find_result *r = &all[idx[j]];
			r->seconds = median(t[j], RUNOFF_ROUNDS, p->scratch);
			r->gflops = r->seconds > 0 ? p->flops / r->seconds * 1e-9 : 0;
			r->reps = RUNOFF_ROUNDS;
		}
		free(state[j]);
		free(ws[j]);
	}
}

/* a before b: measured ones by time, then the others in their order. */
static int before(const dp_find_result *a, const dp_find_result *b)
{
	if ((a->status == DP_OK) != (b->status == DP_OK))
		return a->status == DP_OK;
	return a->status == DP_OK && a->seconds < b->seconds;
}

static dp_status find(const dp_desc *desc, dp_op op,
                      const dp_find_opts *opts, dp_find_result *results,
                      int capacity, int *count)
{
	if (count)
		*count = 0;
	if (!desc || !count || capacity < 0 || (capacity && !results) ||
	    desc->op != op)
		return DP_ERR_ARG;
	dp_find_opts o;
	dp_find_opts_resolve(opts, &o);
	/* The problem alone: the variant fields of the caller's algorithm
	 * do not matter. */
	dp_desc prob = *desc;
	prob.algo = op == DP_OP_CONV ? DP_ALGO_DIRECT : DP_ALGO_NAIVE;
	prob.tile = 0;
	prob.points[0] = '\0';
	prob.rank_a = prob.rank_b = 0;
	prob.frac_bits = prob.acc_bits = prob.bin_bits = 0;
	if (dp_desc_check(&prob, NULL, 0) != DP_OK)
		return DP_ERR_ARG;
	dp_desc cand[DP_FIND_MAX];
	int appr[DP_FIND_MAX];
	int n = candidates(&prob, o.include_approx, cand, appr);
	dp_find_result *all = calloc((size_t)n, sizeof *all);
	if (!all)
		return DP_ERR_NOMEM;
	problem p;
	dp_status st = problem_init(&p, &prob, o.seed);
	if (st != DP_OK) {
		free(all);
		return st;
	}
	for (int i = 0; i < n; i++) {
		dp_find_result *r = &all[i];
		r->desc = cand[i];
		r->approximate = appr[i];
		r->status = DP_OK;
		set_variant_name(r);
		if (o.progress) {
			char what[160];
			snprintf(what, sizeof what, "%s%s%s", dp_algo_name(r->desc.algo),
			         r->variant[0] ? " " : "", r->variant);
			o.progress(o.progress_user, i, n, what);
		}
		measure(&p, r, &o);
	}
	runoff(&p, all, n);
	if (o.progress)
		o.progress(o.progress_user, n, n, "done");
	problem_free(&p);
	/* Stable insertion sort: fastest first, not applicable last. */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && before(&all[j], &all[j - 1]); j--) {
			dp_find_result t = all[j];
			all[j] = all[j - 1];
			all[j - 1] = t;
		}
	int m = n < capacity ? n : capacity;
	if (m > 0)
		memcpy(results, all, (size_t)m * sizeof *all);
	*count = m;
	free(all);
	return DP_OK;
}

dp_status dp_find_conv(const dp_desc *desc, const dp_find_opts *opts,
                       dp_find_result *results, int capacity, int *count)
{
	return find(desc, DP_OP_CONV, opts, results, capacity, count);
}

dp_status dp_find_matmul(const dp_desc *desc, const dp_find_opts *opts,
                         dp_find_result *results, int capacity, int *count)
{
	return find(desc, DP_OP_MATMUL, opts, results, capacity, count);
}
