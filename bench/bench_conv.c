/* bench_conv.c - fp32 convolution, batch 1, NCHW, one thread: every dpgen
 * convolution algorithm (found by iterating over dp_algo, so new ones join
 * by themselves; each Winograd tile and FFT tile a variant), as a generated
 * kernel (dpgen + $CC -O3 -march=native, loaded with dlopen, cached in
 * build/bench/gen/) and as the runtime's generic kernel, next to oneDNN
 * direct, Winograd and auto on oneDNN's own blocked layouts, all in one
 * run. Prints a table per layer (fastest first), writes
 * docs/data/bench_conv.csv (one row per layer x implementation) and
 * docs/data/bench_conv_summary.dat (best per family, what
 * bench/plot_conv.gp draws), then runs gnuplot on bench/plot_conv.gp.
 *
 * What is timed: execute() alone, on prepared state; for oneDNN the
 * convolution primitive alone, on input and weights already in its
 * layout. The one-time work (dpgen prepare(), oneDNN's weight reorder) is
 * the "prep" column; oneDNN's per-call layout changes (NCHW input to its
 * layout and its output back to NCHW) are the "reorder" column.
 * Every result is checked against the fp64 reference (dp_ref_conv2d).
 * Shared machines are noisy: only ratios within one run mean much.
 *
 * Environment: DPGEN (default build/dpgen), DP_SRCDIR (default .), CC
 * (default cc), BENCH_BUDGET seconds per measurement (default 0.3),
 * BENCH_REBUILD=1 to rebuild cached kernels, BENCH_PLOT=0 to skip gnuplot,
 * BENCH_LAYERS=0,5 to run some layers only (numbers in the order of
 * layers[] below), ONEDNN_THREADS (default 1; for checking the setting),
 * BENCH_GENDIR (default build/bench/gen) for the kernel cache and
 * BENCH_DATA (default docs/data) for the CSVs, so that a quick subset
 * run need not touch the committed ones.
 *
 * Threads (issue 7): every table is one thread. Then, per layer, the
 * fastest generated kernel and the fastest oneDNN algorithm are measured
 * again on 1 and 2 threads, alternating (the machine has 2 cores and is
 * shared, so the 2-thread numbers depend on the other jobs); the 2-thread
 * output must be bitwise the 1-thread one. The verdict (faster, same,
 * SLOWER) counts a difference only beyond the run's own noise: the spread
 * of the three medians of each side, at least 2%. Printed after each
 * table and as a summary, written to docs/data/bench_conv_threads.csv. */
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cblas.h>

#include "onednn_conv.h"
#include "timing.h"
#include "util.h"

/* pad < 0: "same", (r - 1) / 2 on each side. */
static const struct layer { int c, h, k, r, pad; } layers[] = {
	{ 3, 28, 16, 3, -1 },
	{ 64, 56, 64, 3, -1 },
	{ 128, 28, 128, 3, -1 },
	{ 256, 14, 256, 3, -1 },
	{ 512, 7, 512, 3, -1 },
	{ 32, 28, 32, 5, -1 },
	{ 3, 224, 64, 7, -1 },
	/* large kernels, where FFT convolution should pay */
	{ 16, 64, 16, 11, -1 },
	{ 8, 128, 8, 15, -1 },
	{ 1, 47, 1, 23, 0 },
};
enum { NLAYERS = sizeof layers / sizeof layers[0] };

/* Winograd output tiles tried as variants (those with m + r - 1 <= 8). */
static const int wino_tiles[] = { 2, 4, 6 };

/* A call that takes longer than this is timed 3 times only. */
#define SLOW_CALL 0.5

enum family { FAM_GENERATED, FAM_GENERIC, FAM_IM2COL_BLAS, FAM_ONEDNN };
static const char *const family_names[] = {
	"dpgen generated", "dpgen generic", "im2col-blas", "onednn"
};

typedef struct row {
	int layer;
	char impl[128];
	enum family fam;
	double us;          /* median execute time; < 0: not available */
	double gflops, err, prep_us, reorder_us;
	double vs_blas, vs_onednn;   /* speedups; 0: no reference */
	char note[256];
} row;

enum { MAX_ROWS = 1024 };
static double layer_max_ref[NLAYERS];
static row rows[MAX_ROWS];
static int nrows;

static row *new_row(int layer, enum family fam, const char *impl)
{
	if (nrows == MAX_ROWS) {
		fprintf(stderr, "bench_conv: more than %d rows\n", MAX_ROWS);
		exit(1);
	}
	row *w = &rows[nrows++];
	memset(w, 0, sizeof *w);
	w->layer = layer;
	w->fam = fam;
	w->us = w->prep_us = w->reorder_us = -1;
	w->err = NAN;
	snprintf(w->impl, sizeof w->impl, "%s", impl);
	return w;
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

/* "C64 H56 K64 3x3", with the padding when it is not "same". */
static void layer_label(int i, char *buf, size_t len)
{
	const struct layer *l = &layers[i];
	int n = snprintf(buf, len, "C%d H%d K%d %dx%d", l->c, l->h, l->k, l->r,
	                 l->r);
	if (l->pad >= 0 && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, " p%d", l->pad);
}

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

/* First line of s, at most len - 1 characters, into buf. */
static void first_line(char *buf, size_t len, const char *s)
{
	snprintf(buf, len, "%.*s", (int)strcspn(s, "\n"), s);
}

/* ---- generated kernels, cached on disk ---- */

static double mtime_of(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return -1;
	return (double)st.st_mtim.tv_sec + 1e-9 * (double)st.st_mtim.tv_nsec;
}

/* The generated kernel for d: from gendir when an earlier run built it
 * with the same dpgen binary, compiler and flags (a .stamp file next to
 * the .so records them), else generated and compiled by build_kernel().
 * NULL with a one-line reason in err. */
static const dp_kernel *generated_kernel(const dp_desc *d, const char *gendir,
                                         char *err, size_t len)
{
	char args[512], cmd[4096], out[4096], name[256], so[1400], stamp[1400];
	char want[1200];
	desc_args(d, args, sizeof args);
	snprintf(cmd, sizeof cmd, "%s %s --print-name", dpgen_path(), args);
	if (sh_capture(cmd, out, sizeof out) != 0) {
		first_line(err, len, out);
		return NULL;
	}
	first_line(name, sizeof name, out);
	const char *cc = getenv("CC"), *flags = getenv("DP_KERNEL_CFLAGS");
	snprintf(want, sizeof want, "%s|%s|%s\n", cc && *cc ? cc : "cc",
	         flags ? flags : "", args);
	snprintf(so, sizeof so, "%s/%s.so", gendir, name);
	snprintf(stamp, sizeof stamp, "%s/%s.stamp", gendir, name);
	const char *rebuild = getenv("BENCH_REBUILD");
	snprintf(cmd, sizeof cmd, "%s/runtime/dpgen.h", src_dir());
	double t_so = mtime_of(so), t_stamp = mtime_of(stamp);
	char *have = slurp(stamp, NULL);
	int fresh = !(rebuild && *rebuild && strcmp(rebuild, "0")) &&
	            have && strcmp(have, want) == 0 && t_stamp >= t_so &&
	            t_so > mtime_of(dpgen_path()) && t_so > mtime_of(cmd);
	free(have);
	if (fresh) {
		void *h = dlopen(so, RTLD_NOW | RTLD_LOCAL);
		const dp_kernel *k = h ? dlsym(h, name) : NULL;
		if (k)
			return k;
		/* A damaged cache entry: build it again. */
		if (h)
			dlclose(h);
	}
	remove(stamp);
	char msg[4096];
	const dp_kernel *k = build_kernel(d, gendir, msg, sizeof msg);
	if (!k) {
		first_line(err, len, msg);
		return NULL;
	}
	FILE *f = fopen(stamp, "w");
	if (f) {
		fputs(want, f);
		if (fclose(f) != 0)
			remove(stamp);
	}
	return k;
}

/* ---- timing ---- */

/* Median seconds per call of fn(arg); `first` is how long one call took
 * already. Calls slower than SLOW_CALL are timed 3 times only, so that
 * the slow generic paths on the big layers keep the run short. */
static double time_call(void (*fn)(void *), void *arg, double budget,
                        double first)
{
	if (first <= SLOW_CALL)
		return median_time(fn, arg, budget);
	double t[3];
	for (int i = 0; i < 3; i++) {
		double t0 = now_seconds();
		fn(arg);
		t[i] = now_seconds() - t0;
	}
	qsort(t, 3, sizeof t[0], cmp_double);
	return t[1];
}

/* One untimed-then-timed measurement: a first call (its duration decides
 * how to time the rest), then time_call. */
static double measure(void (*fn)(void *), void *arg, double budget)
{
	double t0 = now_seconds();
	fn(arg);
	return time_call(fn, arg, budget, now_seconds() - t0);
}

/* Largest |got - want|; NaN (an output never written) counts as inf. */
static double max_abs_err(const float *got, const double *want, size_t n)
{
	double e = 0;
	for (size_t i = 0; i < n; i++) {
		double x = fabs((double)got[i] - want[i]);
		if (!(x <= e))
			e = isnan(x) ? INFINITY : x;
	}
	return e;
}

/* The data of one layer. */
typedef struct problem {
	dp_desc d;
	float *x, *w, *b, *y;
	double *ref;
	size_t nx, nw, ny;
	double flops, max_ref;
	double budget;
} problem;

/* ---- dpgen kernels ---- */

typedef struct dp_ctx {
	const dp_kernel *kern;
	const dp_desc *d;
	const problem *p;
	void *state, *ws;
	dp_status st;
} dp_ctx;

static void dp_prepare_fn(void *arg)
{
	dp_ctx *c = arg;
	dp_status st = c->kern->prepare(c->d, c->p->w, c->p->b, c->state);
	if (st != DP_OK)
		c->st = st;
}

static void dp_execute_fn(void *arg)
{
	dp_ctx *c = arg;
	dp_status st = c->kern->execute(c->d, c->state, c->p->x, c->p->y,
	                                c->ws);
	if (st != DP_OK)
		c->st = st;
}

static void fill_nan(float *y, size_t n)
{
	for (size_t i = 0; i < n; i++)
		y[i] = NAN;
}

/* Prepare (timed apart), check one execute against the reference, then
 * time execute. */
static void bench_dpgen(row *w, const dp_kernel *kern, const dp_desc *d,
                        const problem *p)
{
	dp_ctx c = { .kern = kern, .d = d, .p = p, .st = DP_OK };
	c.state = malloc(kern->state_bytes(d) + 1);
	c.ws = malloc(kern->workspace_bytes(d) + 1);
	if (!c.state || !c.ws) {
		snprintf(w->note, sizeof w->note, "out of memory");
		goto out;
	}
	w->prep_us = 1e6 * measure(dp_prepare_fn, &c, p->budget / 4);
	fill_nan(p->y, p->ny);
	double t0 = now_seconds();
	dp_execute_fn(&c);
	double first = now_seconds() - t0;
	if (c.st != DP_OK) {
		snprintf(w->note, sizeof w->note, "%s", dp_status_str(c.st));
		goto out;
	}
	w->err = max_abs_err(p->y, p->ref, p->ny);
	double t = time_call(dp_execute_fn, &c, p->budget, first);
	w->us = 1e6 * t;
	w->gflops = p->flops / t * 1e-9;
out:
	free(c.state);
	free(c.ws);
}

/* ---- oneDNN ---- */

typedef struct dnn_ctx {
	onednn_conv *conv;
	const problem *p;
	int st;
} dnn_ctx;

static void dnn_weights_fn(void *arg)
{
	dnn_ctx *c = arg;
	int st = onednn_conv_set_weights(c->conv, c->p->w, c->p->b);
	if (st)
		c->st = st;
}

static void dnn_input_fn(void *arg)
{
	dnn_ctx *c = arg;
	int st = onednn_conv_set_input(c->conv, c->p->x);
	if (st)
		c->st = st;
}

static void dnn_execute_fn(void *arg)
{
	dnn_ctx *c = arg;
	int st = onednn_conv_execute(c->conv);
	if (st)
		c->st = st;
}

static void dnn_output_fn(void *arg)
{
	dnn_ctx *c = arg;
	int st = onednn_conv_get_output(c->conv, c->p->y);
	if (st)
		c->st = st;
}

static void bench_onednn(int li, onednn_conv_algo algo, const problem *p)
{
	char impl[64], msg[256];
	snprintf(impl, sizeof impl, "onednn %s", onednn_conv_algo_name(algo));
	row *w = new_row(li, FAM_ONEDNN, impl);
	dnn_ctx c = { .p = p };
	c.conv = onednn_conv_create(&p->d, algo, msg, sizeof msg);
	if (!c.conv) {
		snprintf(w->note, sizeof w->note, "%s", msg);
		return;
	}
	snprintf(w->note, sizeof w->note, "%s%s", onednn_conv_impl(c.conv),
	         algo != ONEDNN_CONV_AUTO ? "" :
	         onednn_conv_is_winograd(c.conv) ? ", picked winograd" :
	         ", picked direct");
	w->prep_us = 1e6 * measure(dnn_weights_fn, &c, p->budget / 4);
	double t_in = measure(dnn_input_fn, &c, p->budget / 4);
	double t0 = now_seconds();
	dnn_execute_fn(&c);
	double first = now_seconds() - t0;
	fill_nan(p->y, p->ny);
	dnn_output_fn(&c);
	if (c.st) {
		snprintf(w->note, sizeof w->note, "oneDNN call failed (status "
		         "%d)", c.st);
		onednn_conv_destroy(c.conv);
		return;
	}
	w->err = max_abs_err(p->y, p->ref, p->ny);
	double t = time_call(dnn_execute_fn, &c, p->budget, first);
	double t_out = measure(dnn_output_fn, &c, p->budget / 4);
	w->us = 1e6 * t;
	w->gflops = p->flops / t * 1e-9;
	w->reorder_us = 1e6 * (t_in + t_out);
	onednn_conv_destroy(c.conv);
}

/* oneDNN direct on one layer with n threads: median seconds. */
static double onednn_time_threads(int n, double budget)
{
	problem p = { .budget = budget };
	layer_desc(2, &p.d);
	p.nx = (size_t)dp_conv_input_elems(&p.d);
	p.nw = (size_t)dp_conv_weight_elems(&p.d);
	p.ny = (size_t)dp_conv_output_elems(&p.d);
	p.x = calloc(p.nx, sizeof(float));
	p.w = calloc(p.nw, sizeof(float));
	p.b = calloc((size_t)p.d.k, sizeof(float));
	p.y = calloc(p.ny, sizeof(float));
	double t = -1;
	char msg[256];
	if (onednn_set_threads(n) == n && p.x && p.w && p.b && p.y) {
		dnn_ctx c = { .p = &p };
		c.conv = onednn_conv_create(&p.d, ONEDNN_CONV_DIRECT, msg,
		                            sizeof msg);
		if (c.conv) {
			dnn_weights_fn(&c);
			dnn_input_fn(&c);
			t = measure(dnn_execute_fn, &c, budget);
			onednn_conv_destroy(c.conv);
		}
	}
	free(p.x); free(p.w); free(p.b); free(p.y);
	return t;
}

/* ---- two threads against one ----
 * The machine class has 2 cores, and it is shared: the 2-thread times
 * depend on what else runs. Each side is measured three times, 1 thread
 * and 2 threads alternating, and the best median of each is kept. */

typedef struct thr_row {
	char dp_impl[128], dnn_impl[64];
	double dp_us1, dp_us2, dnn_us1, dnn_us2;   /* < 0: not measured */
	/* The run's own noise: the largest relative spread (slowest /
	 * fastest - 1) of the three 1-thread and three 2-thread medians of
	 * dpgen. A 2-thread time is called slower only beyond it. */
	double dp_noise;
	int identical;     /* dpgen's 2-thread output == its 1-thread output */
} thr_row;
static thr_row thr_rows[NLAYERS];

static void bench_dpgen_threads(thr_row *t, const dp_kernel *kern,
                                const dp_desc *d, const problem *p)
{
	dp_ctx c = { .kern = kern, .d = d, .p = p, .st = DP_OK };
	c.state = malloc(kern->state_bytes(d) + 1);
	c.ws = malloc(kern->workspace_bytes(d) + 1);
	float *y1 = malloc(p->ny * sizeof *y1);
	t->dp_us1 = t->dp_us2 = -1;
	if (c.state && c.ws && y1 && kern->prepare(d, p->w, p->b, c.state) ==
	    DP_OK) {
		dp_set_num_threads(1);
		dp_execute_fn(&c);
		memcpy(y1, p->y, p->ny * sizeof *y1);
		dp_set_num_threads(2);
		fill_nan(p->y, p->ny);
		dp_execute_fn(&c);
		t->identical = c.st == DP_OK &&
		               memcmp(y1, p->y, p->ny * sizeof *y1) == 0;
		double b1 = INFINITY, b2 = INFINITY, w1 = 0, w2 = 0;
		for (int r = 0; r < 3 && c.st == DP_OK; r++) {
			dp_set_num_threads(1);
			double x = measure(dp_execute_fn, &c, p->budget / 2);
			b1 = x < b1 ? x : b1;
			w1 = x > w1 ? x : w1;
			dp_set_num_threads(2);
			x = measure(dp_execute_fn, &c, p->budget / 2);
			b2 = x < b2 ? x : b2;
			w2 = x > w2 ? x : w2;
		}
		if (c.st == DP_OK) {
			t->dp_us1 = 1e6 * b1;
			t->dp_us2 = 1e6 * b2;
			t->dp_noise = w1 / b1 > w2 / b2 ? w1 / b1 - 1 : w2 / b2 - 1;
		}
	}
	dp_set_num_threads(1);
	free(c.state);
	free(c.ws);
	free(y1);
}

/* oneDNN's algorithm with a fresh primitive on n threads (it may choose
 * its blocking by the thread count when it is created): median seconds,
 * or -1. */
static double onednn_time_at(onednn_conv_algo algo, int n, const problem *p)
{
	char msg[256];
	double t = -1;
	if (onednn_set_threads(n) != n)
		return -1;
	dnn_ctx c = { .p = p };
	c.conv = onednn_conv_create(&p->d, algo, msg, sizeof msg);
	if (c.conv) {
		dnn_weights_fn(&c);
		dnn_input_fn(&c);
		t = measure(dnn_execute_fn, &c, p->budget / 2);
		if (c.st)
			t = -1;
		onednn_conv_destroy(c.conv);
	}
	return t;
}

static void bench_onednn_threads(thr_row *t, onednn_conv_algo algo,
                                 const problem *p, int dnn_threads)
{
	double b1 = INFINITY, b2 = INFINITY;
	t->dnn_us1 = t->dnn_us2 = -1;
	snprintf(t->dnn_impl, sizeof t->dnn_impl, "onednn %s",
	         onednn_conv_algo_name(algo));
	for (int r = 0; r < 3; r++) {
		double x = onednn_time_at(algo, 1, p);
		if (x < 0)
			break;
		b1 = x < b1 ? x : b1;
		x = onednn_time_at(algo, 2, p);
		if (x < 0)
			break;
		b2 = x < b2 ? x : b2;
	}
	onednn_set_threads(dnn_threads);
	if (isfinite(b1) && isfinite(b2)) {
		t->dnn_us1 = 1e6 * b1;
		t->dnn_us2 = 1e6 * b2;
	}
}

/* ---- one layer ---- */

/* The variants of algorithm a measured on layer d, as values of
 * dp_desc.tile (0: the algorithm has none); dp_desc_check() later drops
 * those the layer cannot use. Winograd: the tiles m of wino_tiles.
 * Tiled FFT: every allowed T x T tile up to the first one that holds the
 * whole padded image (bigger ones only add zeros), and the library's
 * default. */
static int variants(const dp_desc *d, dp_algo a, int *tiles)
{
	int n = 0;
	if (a == DP_ALGO_WINOGRAD) {
		for (size_t i = 0; i < sizeof wino_tiles / sizeof wino_tiles[0];
		     i++)
			tiles[n++] = wino_tiles[i];
		return n;
	}
#ifdef DP_FFT_MIN_TILE
	dp_algo fft;
	if (dp_algo_parse("fft", &fft) == DP_OK && a == fft) {
		int size = d->h + 2 * d->pad_h > d->w + 2 * d->pad_w ?
		           d->h + 2 * d->pad_h : d->w + 2 * d->pad_w;
		int def = dp_fft_default_tile(d), have_def = 0;
		for (int t = DP_FFT_MIN_TILE; t <= DP_FFT_MAX_TILE && n < 15;
		     t *= 2) {
			if (t >= 2 * size && t != def)
				continue;
			tiles[n++] = t;
			have_def |= t == def;
		}
		if (!have_def)
			tiles[n++] = def;
		return n;
	}
#endif
	(void)d;
	tiles[n++] = 0;
	return n;
}

/* "dpgen winograd F(4,3)", "dpgen fft T16" or "dpgen direct". */
static void variant_name(const dp_desc *d, char *buf, size_t len)
{
	if (d->algo == DP_ALGO_WINOGRAD)
		snprintf(buf, len, "dpgen winograd F(%d,%d)", d->tile, d->r);
	else if (d->tile)
		snprintf(buf, len, "dpgen %s T%d", dp_algo_name(d->algo),
		         d->tile);
	else
		snprintf(buf, len, "dpgen %s", dp_algo_name(d->algo));
}

/* What could not run, and why; notes with the same key share a line,
 * and a name is listed once. */
typedef struct notes {
	int n;
	struct { char key[320], what[512], why[320]; } e[64];
} notes;

static void add_note(notes *ns, const char *key, const char *what,
                     const char *why)
{
	/* A failed dpgen command: its own message says enough. */
	size_t lp = strlen(dpgen_path());
	if (strncmp(why, dpgen_path(), lp) == 0 && strstr(why, ": "))
		why = strstr(why, ": ") + 2;
	if (!key)
		key = why;
	int i = 0;
	while (i < ns->n && strncmp(ns->e[i].key, key,
	                            sizeof ns->e[i].key - 1) != 0)
		i++;
	if (i == ns->n) {
		if (ns->n == (int)(sizeof ns->e / sizeof ns->e[0]))
			return;
		ns->n++;
		snprintf(ns->e[i].key, sizeof ns->e[i].key, "%s", key);
		snprintf(ns->e[i].what, sizeof ns->e[i].what, "%s", what);
		snprintf(ns->e[i].why, sizeof ns->e[i].why, "%s", why);
		return;
	}
	/* Is what already in the comma-separated list? */
	size_t lw = strlen(what);
	for (const char *s = ns->e[i].what; s; s = strstr(s, ", ")) {
		s += *s == ',' ? 2 : 0;
		if (strncmp(s, what, lw) == 0 && (s[lw] == ',' || !s[lw]))
			return;
	}
	size_t n = strlen(ns->e[i].what);
	snprintf(ns->e[i].what + n, sizeof ns->e[i].what - n, ", %s", what);
}

static void print_notes(const notes *ns, const char *prefix)
{
	for (int i = 0; i < ns->n; i++)
		printf("%s%s: %s\n", prefix, ns->e[i].what, ns->e[i].why);
}

/* Kernels missing on every layer (an algorithm without a template or
 * without a generic kernel) are listed once, after the tables. */
static notes missing;

static double t_origin;
/* oneDNN's thread count for the tables (ONEDNN_THREADS, default 1). */
static int dnn_threads_default = 1;
/* Threads of this process after the first layer's 1-thread tables. */
static int threads_one_thread = -1;

/* Progress on stderr: the table on stdout stays clean. */
static void progress(const char *layer, const char *what)
{
	fprintf(stderr, "[%6.1f s] %s: %s\n", now_seconds() - t_origin, layer,
	        what);
}

/* "dpgen fft generated": the algorithm and kind, without the variant. */
static const char *algo_kind(const dp_desc *d, const char *kind, char *buf,
                             size_t len)
{
	snprintf(buf, len, "dpgen %s %s", dp_algo_name(d->algo), kind);
	return buf;
}

static void bench_layer(int li, const char *gendir, double budget)
{
	problem p = { .budget = budget };
	layer_desc(li, &p.d);
	const dp_desc *d = &p.d;
	p.nx = (size_t)dp_conv_input_elems(d);
	p.nw = (size_t)dp_conv_weight_elems(d);
	p.ny = (size_t)dp_conv_output_elems(d);
	p.x = malloc(p.nx * sizeof(float));
	p.w = malloc(p.nw * sizeof(float));
	p.b = malloc((size_t)d->k * sizeof(float));
	p.y = malloc(p.ny * sizeof(float));
	p.ref = malloc(p.ny * sizeof(double));
	if (!p.x || !p.w || !p.b || !p.y || !p.ref) {
		fprintf(stderr, "bench_conv: out of memory\n");
		exit(1);
	}
	rng_t rng;
	rng_seed(&rng, 1000 + (uint64_t)li);
	fill_normal(&rng, p.x, p.nx);
	fill_normal(&rng, p.w, p.nw);
	fill_normal(&rng, p.b, (size_t)d->k);
	if (dp_ref_conv2d(d, p.x, p.w, p.b, p.ref) != DP_OK) {
		fprintf(stderr, "bench_conv: reference failed\n");
		exit(1);
	}
	for (size_t i = 0; i < p.ny; i++)
		if (fabs(p.ref[i]) > p.max_ref)
			p.max_ref = fabs(p.ref[i]);
	layer_max_ref[li] = p.max_ref;
	p.flops = 2.0 * d->n * d->k * d->c * d->r * d->s *
	          dp_conv_out_h(d) * dp_conv_out_w(d);

	char label[64], name[64], full[128], msg[1024];
	layer_label(li, label, sizeof label);
	int first_row = nrows;
	static notes skipped;
	skipped.n = 0;
	/* The fastest generated kernel, measured again on 2 threads. */
	const dp_kernel *best_gen = NULL;
	double best_gen_us = 0;
	dp_desc best_gen_desc = *d;
	thr_row *tr = &thr_rows[li];
	tr->dp_us1 = tr->dp_us2 = tr->dnn_us1 = tr->dnn_us2 = -1;

	/* Every convolution algorithm the library knows, with its variants;
	 * im2col-blas (once the runtime has it) is the baseline family. */
	dp_algo blas;
	int have_blas = dp_algo_parse("im2col-blas", &blas) == DP_OK;
	for (int a = 0; a < DP_ALGO_COUNT; a++) {
		if (!dp_algo_name((dp_algo)a) ||
		    dp_algo_op((dp_algo)a) != DP_OP_CONV)
			continue;
		int is_blas = have_blas && (dp_algo)a == blas;
		int tiles[16];
		int nvar = variants(d, (dp_algo)a, tiles);
		for (int v = 0; v < nvar; v++) {
			dp_desc dd = *d;
			dd.algo = (dp_algo)a;
			dd.tile = tiles[v];
			variant_name(&dd, name, sizeof name);
			if (dp_desc_check(&dd, msg, sizeof msg) != DP_OK) {
				add_note(&skipped, dp_algo_name(dd.algo), name, msg);
				continue;
			}
			progress(label, name);
			const dp_kernel *gen = generated_kernel(&dd, gendir, msg,
			                                        sizeof msg);
			snprintf(full, sizeof full, "%s generated", name);
			if (gen) {
				row *r = new_row(li, is_blas ? FAM_IM2COL_BLAS :
				                 FAM_GENERATED, full);
				bench_dpgen(r, gen, &dd, &p);
				if (r->fam == FAM_GENERATED && r->us > 0 &&
				    (!best_gen || r->us < best_gen_us)) {
					best_gen = gen;
					best_gen_us = r->us;
					best_gen_desc = dd;
					snprintf(thr_rows[li].dp_impl,
					         sizeof thr_rows[li].dp_impl, "%s", name);
				}
			}
			else
				add_note(&missing, NULL, algo_kind(&dd, "generated",
				         full, sizeof full), msg);
			const dp_kernel *gk = dp_generic_kernel(&dd);
			snprintf(full, sizeof full, "%s generic", name);
			if (gk)
				bench_dpgen(new_row(li, is_blas ? FAM_IM2COL_BLAS :
				                    FAM_GENERIC, full), gk, &dd, &p);
			else
				add_note(&missing, NULL, algo_kind(&dd, "generic",
				         full, sizeof full),
				         "the runtime has no generic kernel");
		}
	}
	progress(label, "oneDNN");
	double dnn_best_us = -1;
	onednn_conv_algo dnn_best = ONEDNN_CONV_AUTO;
	for (int a = 0; a < ONEDNN_CONV_ALGO_COUNT; a++) {
		bench_onednn(li, (onednn_conv_algo)a, &p);
		const row *r = &rows[nrows - 1];
		if (r->us > 0 && (dnn_best_us < 0 || r->us < dnn_best_us)) {
			dnn_best_us = r->us;
			dnn_best = (onednn_conv_algo)a;
		}
	}
	if (threads_one_thread < 0)
		threads_one_thread = dir_entries("/proc/self/task");
	if (best_gen) {
		progress(label, "2 threads vs 1");
		bench_dpgen_threads(tr, best_gen, &best_gen_desc, &p);
	}
	if (dnn_best_us > 0)
		bench_onednn_threads(tr, dnn_best, &p, dnn_threads_default);

	/* Ratios against the best im2col-blas and the best oneDNN time. */
	double t_blas = -1, t_dnn = -1;
	for (int i = first_row; i < nrows; i++) {
		const row *w = &rows[i];
		if (w->us <= 0)
			continue;
		if (w->fam == FAM_IM2COL_BLAS && (t_blas < 0 || w->us < t_blas))
			t_blas = w->us;
		if (w->fam == FAM_ONEDNN && (t_dnn < 0 || w->us < t_dnn))
			t_dnn = w->us;
	}
	for (int i = first_row; i < nrows; i++) {
		row *w = &rows[i];
		if (w->us <= 0)
			continue;
		w->vs_blas = t_blas > 0 ? t_blas / w->us : 0;
		w->vs_onednn = t_dnn > 0 ? t_dnn / w->us : 0;
	}

	/* The layer's table: fastest first, unavailable ones last. */
	for (int i = first_row + 1; i < nrows; i++)
		for (int j = i; j > first_row; j--) {
			row *x = &rows[j - 1], *y = &rows[j];
			int swap = x->us <= 0 ? y->us > 0 :
			           y->us > 0 && y->us < x->us;
			if (!swap)
				break;
			row t = *x;
			*x = *y;
			*y = t;
		}
	printf("\n%s, pad %d -> %dx%d output, %.3f GFLOP, max|ref| %.3g\n",
	       label, d->pad_h, dp_conv_out_h(d), dp_conv_out_w(d),
	       p.flops * 1e-9, p.max_ref);
	printf("  %-38s %10s %8s %9s %9s %9s %7s %7s  %s\n", "impl",
	       "median us", "GFLOP/s", "max|err|", "prep us", "reord us",
	       "vs blas", "vs dnnl", "note");
	for (int i = first_row; i < nrows; i++) {
		const row *w = &rows[i];
		char us[32], gf[32], err[32], prep[32], reo[32], vb[32], vd[32];
		snprintf(us, sizeof us, w->us > 0 ? "%.1f" : "n/a", w->us);
		snprintf(gf, sizeof gf, w->us > 0 ? "%.2f" : "-", w->gflops);
		snprintf(err, sizeof err, isnan(w->err) ? "-" : "%.2e", w->err);
		snprintf(prep, sizeof prep, w->prep_us >= 0 ? "%.1f" : "-",
		         w->prep_us);
		snprintf(reo, sizeof reo, w->reorder_us >= 0 ? "%.1f" : "-",
		         w->reorder_us);
		snprintf(vb, sizeof vb, w->vs_blas > 0 ? "%.2f" : "-",
		         w->vs_blas);
		snprintf(vd, sizeof vd, w->vs_onednn > 0 ? "%.2f" : "-",
		         w->vs_onednn);
		printf("  %-38s %10s %8s %9s %9s %9s %7s %7s  %s\n", w->impl, us,
		       gf, err, prep, reo, vb, vd, w->note);
	}
	if (t_blas < 0)
		printf("  (no im2col-blas result: 'vs blas' is empty)\n");
	if (tr->dp_us1 > 0)
		printf("  2 threads (2-core machine, shared): %s %.1f us -> %.1f us "
		       "(x%.2f, %s)", tr->dp_impl, tr->dp_us1, tr->dp_us2,
		       tr->dp_us1 / tr->dp_us2, tr->identical ?
		       "bitwise identical" : "OUTPUT DIFFERS");
	if (tr->dp_us1 > 0 && tr->dnn_us1 > 0)
		printf("; %s %.1f us -> %.1f us (x%.2f)", tr->dnn_impl,
		       tr->dnn_us1, tr->dnn_us2, tr->dnn_us1 / tr->dnn_us2);
	if (tr->dp_us1 > 0)
		printf("\n");
	print_notes(&skipped, "  not applicable: ");
	fflush(stdout);
	free(p.x); free(p.w); free(p.b); free(p.y); free(p.ref);
}

/* ---- output files ---- */

/* A CSV field: quoted, inner quotes doubled. */
static void csv_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void csv_num(FILE *f, const char *fmt, double v, int present)
{
	fputc(',', f);
	if (present)
		fprintf(f, fmt, v);
}

/* Write path through a temporary file and rename; 0 on success. */
static int write_atomic(const char *path, void (*body)(FILE *))
{
	char tmp[1200];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f) {
		fprintf(stderr, "bench_conv: %s: %s\n", tmp, strerror(errno));
		return -1;
	}
	body(f);
	if (ferror(f) | (fclose(f) != 0) || rename(tmp, path) != 0) {
		fprintf(stderr, "bench_conv: writing %s: %s\n", path,
		        strerror(errno));
		remove(tmp);
		return -1;
	}
	printf("wrote %s\n", path);
	return 0;
}

static void write_rows(FILE *f)
{
	fprintf(f, "layer,c,h,w,k,r,s,pad,impl,family,median_us,gflops,"
	        "max_abs_err,prep_us,reorder_us,speedup_vs_im2col_blas,"
	        "speedup_vs_onednn_best,note\n");
	for (int i = 0; i < nrows; i++) {
		const row *w = &rows[i];
		dp_desc d;
		char label[64];
		layer_desc(w->layer, &d);
		layer_label(w->layer, label, sizeof label);
		csv_str(f, label);
		fprintf(f, ",%d,%d,%d,%d,%d,%d,%d,", d.c, d.h, d.w, d.k, d.r, d.s,
		        d.pad_h);
		csv_str(f, w->impl);
		fputc(',', f);
		csv_str(f, family_names[w->fam]);
		int ok = w->us > 0;
		csv_num(f, "%.2f", w->us, ok);
		csv_num(f, "%.3f", w->gflops, ok);
		csv_num(f, "%.3e", w->err, !isnan(w->err));
		csv_num(f, "%.2f", w->prep_us, w->prep_us >= 0);
		csv_num(f, "%.2f", w->reorder_us, w->reorder_us >= 0);
		csv_num(f, "%.3f", w->vs_blas, w->vs_blas > 0);
		csv_num(f, "%.3f", w->vs_onednn, w->vs_onednn > 0);
		fputc(',', f);
		csv_str(f, w->note);
		fputc('\n', f);
	}
}

/* impl without the family's words: "winograd F(4,3)", "direct". */
static void short_impl(const row *w, char *buf, size_t len)
{
	static const char *const drop[] = { "dpgen ", "onednn " };
	static const char *const tail[] = { " generated", " generic" };
	const char *s = w->impl;
	for (size_t i = 0; i < 2; i++)
		if (strncmp(s, drop[i], strlen(drop[i])) == 0)
			s += strlen(drop[i]);
	snprintf(buf, len, "%s", s);
	for (size_t i = 0; i < 2; i++) {
		size_t n = strlen(buf), t = strlen(tail[i]);
		if (n > t && strcmp(buf + n - t, tail[i]) == 0)
			buf[n - t] = '\0';
	}
}

static int layer_ran[NLAYERS];

/* A string for gnuplot's data format: double quotes, none inside. */
static void dat_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++)
		fputc(*s == '"' ? '\'' : *s, f);
	fputc('"', f);
}

/* Per layer, the fastest row of each family: GFLOP/s (NaN when the
 * family has no result), then which implementation it was. In gnuplot's
 * own format (blank-separated, quoted strings), which unlike its CSV
 * reading keeps "winograd F(4,3)" in one piece. */
static void write_summary(FILE *f)
{
	fprintf(f, "layer");
	for (int fam = 0; fam < 4; fam++)
		fprintf(f, " \"%s GFLOP/s\"", family_names[fam]);
	for (int fam = 0; fam < 4; fam++)
		fprintf(f, " \"%s best\"", family_names[fam]);
	fputc('\n', f);
	for (int li = 0; li < NLAYERS; li++) {
		const row *best[4] = { NULL, NULL, NULL, NULL };
		if (!layer_ran[li])
			continue;
		for (int i = 0; i < nrows; i++) {
			const row *w = &rows[i];
			if (w->layer == li && w->us > 0 &&
			    (!best[w->fam] || w->us < best[w->fam]->us))
				best[w->fam] = w;
		}
		char label[64], name[128];
		layer_label(li, label, sizeof label);
		dat_str(f, label);
		for (int fam = 0; fam < 4; fam++) {
			if (best[fam])
				fprintf(f, " %.3f", best[fam]->gflops);
			else
				fprintf(f, " NaN");
		}
		for (int fam = 0; fam < 4; fam++) {
			name[0] = '\0';
			if (best[fam])
				short_impl(best[fam], name, sizeof name);
			fputc(' ', f);
			dat_str(f, name);
		}
		fputc('\n', f);
	}
}

/* BENCH_LAYERS: comma-separated layer numbers (0-based, in the order of
 * layers[]); unset or empty: all. */
static int layer_selected(int li, const char *list)
{
	if (!list || !*list)
		return 1;
	for (const char *s = list; *s; ) {
		char *end;
		long v = strtol(s, &end, 10);
		if (end == s)
			return 0;
		if (v == li)
			return 1;
		s = *end == ',' ? end + 1 : end;
	}
	return 0;
}

/* The noise band of a thread row: the run's own spread, at least 2%
 * (three medians can agree by luck). */
static double thr_band(const thr_row *t)
{
	return t->dp_noise > 0.02 ? t->dp_noise : 0.02;
}

/* dpgen on 2 threads against 1: "faster" or "slower" only beyond the
 * noise band, "same" inside it (a layer small enough to stay on one
 * thread should land here). */
static const char *thr_verdict(const thr_row *t)
{
	const double band = 1 + thr_band(t);
	if (t->dp_us1 > band * t->dp_us2)
		return "faster";
	if (t->dp_us2 > band * t->dp_us1)
		return "SLOWER";
	return "same";
}

/* Per layer: the best generated kernel and the best oneDNN algorithm on 1
 * and 2 threads; speedup = 1-thread time / 2-thread time. */
static void print_threads_table(void)
{
	printf("\n2 threads / 1 thread, same run (the machine has 2 cores and "
	       "is shared with other jobs: a 2-thread time is only as good as "
	       "the second core was free; speedup = 1-thread time / 2-thread "
	       "time, > 1 = faster)\n");
	printf("  %-22s %-24s %10s %10s %7s %6s %-7s %-16s %10s %10s %7s\n",
	       "layer", "best generated", "1t us", "2t us", "speedup", "noise",
	       "verdict", "oneDNN", "1t us", "2t us", "speedup");
	for (int li = 0; li < NLAYERS; li++) {
		const thr_row *t = &thr_rows[li];
		if (!layer_ran[li] || !(t->dp_us1 > 0))
			continue;
		char label[64], d1[32] = "-", d2[32] = "-", ds[32] = "-";
		layer_label(li, label, sizeof label);
		if (t->dnn_us1 > 0) {
			snprintf(d1, sizeof d1, "%.1f", t->dnn_us1);
			snprintf(d2, sizeof d2, "%.1f", t->dnn_us2);
			snprintf(ds, sizeof ds, "%.2f", t->dnn_us1 / t->dnn_us2);
		}
		printf("  %-22s %-24s %10.1f %10.1f %7.2f %5.1f%% %-7s "
		       "%-16s %10s %10s %7s%s\n",
		       label, t->dp_impl + (strncmp(t->dp_impl, "dpgen ", 6) ? 0 :
		       6), t->dp_us1, t->dp_us2, t->dp_us1 / t->dp_us2,
		       100 * thr_band(t), thr_verdict(t),
		       t->dnn_us1 > 0 ? t->dnn_impl : "-", d1, d2, ds,
		       t->identical ? "" : "  OUTPUT DIFFERS");
	}
}

static void write_threads(FILE *f)
{
	fprintf(f, "layer,best_generated,dpgen_1t_us,dpgen_2t_us,dpgen_speedup,"
	        "noise_band,verdict,bitwise_identical,onednn,onednn_1t_us,onednn_2t_us,"
	        "onednn_speedup\n");
	for (int li = 0; li < NLAYERS; li++) {
		const thr_row *t = &thr_rows[li];
		if (!layer_ran[li] || !(t->dp_us1 > 0))
			continue;
		char label[64];
		layer_label(li, label, sizeof label);
		csv_str(f, label);
		fputc(',', f);
		csv_str(f, t->dp_impl);
		fprintf(f, ",%.2f,%.2f,%.3f,%.3f,%s,%d,", t->dp_us1, t->dp_us2,
		        t->dp_us1 / t->dp_us2, thr_band(t), thr_verdict(t),
		        t->identical);
		csv_str(f, t->dnn_us1 > 0 ? t->dnn_impl : "");
		csv_num(f, "%.2f", t->dnn_us1, t->dnn_us1 > 0);
		csv_num(f, "%.2f", t->dnn_us2, t->dnn_us1 > 0);
		csv_num(f, "%.3f", t->dnn_us1 > 0 ? t->dnn_us1 / t->dnn_us2 : 0,
		        t->dnn_us1 > 0);
		fputc('\n', f);
	}
}

int main(void)
{
	/* One thread everywhere, before the first OpenBLAS or oneDNN call.
	 * libgomp and OpenBLAS read their environment when they are loaded,
	 * before main(), so the environment alone is not enough: the
	 * explicit calls are what counts (checked at the end of the run). */
	setenv("OMP_NUM_THREADS", "1", 1);
	setenv("OPENBLAS_NUM_THREADS", "1", 1);
	openblas_set_num_threads(1);
	const char *env = getenv("ONEDNN_THREADS");
	int dnn_threads = env && *env ? atoi(env) : 1;
	dnn_threads_default = dnn_threads;
	/* dpgen's tables on one thread too, whatever DP_NUM_THREADS says;
	 * the 2-thread runs set their count themselves. */
	dp_set_num_threads(1);
	if (onednn_set_threads(dnn_threads) != dnn_threads)
		fprintf(stderr, "bench_conv: warning: could not set oneDNN's "
		        "thread count to %d (it uses %d)\n", dnn_threads,
		        onednn_max_threads());
	setenv("DP_KERNEL_CFLAGS", "-O3 -march=native", 0);
	env = getenv("BENCH_BUDGET");
	double budget = env && *env ? atof(env) : 0.3;
	if (!(budget > 0))
		budget = 0.3;

	char gendir[1024], path[1100], info[256];
	env = getenv("BENCH_GENDIR");
	if (env && *env)
		snprintf(gendir, sizeof gendir, "%s", env);
	else
		snprintf(gendir, sizeof gendir, "%s/build/bench/gen", src_dir());
	mkdir_p(gendir);
	onednn_describe(info, sizeof info);
	const char *flags = getenv("DP_KERNEL_CFLAGS");
	printf("fp32 convolution, batch 1, NCHW, stride 1; one thread "
	       "(oneDNN threads: %d); median of runs, budget %.2g s each\n",
	       onednn_max_threads(), budget);
	printf("generated kernels: %s %s; %s\n",
	       getenv("CC") && *getenv("CC") ? getenv("CC") : "cc",
	       flags ? flags : "", info);
	printf("timed: execute() alone (dpgen) / the convolution primitive "
	       "alone on its own layouts (oneDNN)\n");
	printf("prep us: one-time weight work (dpgen prepare(), oneDNN weight "
	       "reorder); reord us: oneDNN's per-call NCHW->blocked input and "
	       "blocked->NCHW output reorders\n");
	printf("vs blas / vs dnnl: speedup over the best im2col-blas / the "
	       "best oneDNN time of the layer (> 1 = faster)\n");

	double t_start = t_origin = now_seconds();
	const char *only = getenv("BENCH_LAYERS");
	for (int li = 0; li < NLAYERS; li++)
		if ((layer_ran[li] = layer_selected(li, only)))
			bench_layer(li, gendir, budget);

	print_threads_table();

	/* Is oneDNN really on one thread? With one, libgomp never starts a
	 * worker; with two it does (counted before the first 2-thread run,
	 * which starts oneDNN's and dpgen's workers). And the time with 1
	 * and with 2. */
	int threads_run = threads_one_thread > 0 ? threads_one_thread :
	                  dir_entries("/proc/self/task");
	double t1 = onednn_time_threads(1, budget);
	double t2 = onednn_time_threads(2, budget);
	int threads_two = dir_entries("/proc/self/task");
	onednn_set_threads(dnn_threads);
	if (missing.n) {
		printf("\nnot measured on any layer:\n");
		print_notes(&missing, "  ");
	}
	printf("\noneDNN threads: omp_get_max_threads() = %d during the run; "
	       "threads in this process after the 1-thread tables: %d, after a "
	       "2-thread oneDNN run: %d\n", dnn_threads, threads_run,
	       threads_two);
	printf("  oneDNN direct, C128 H28 K128 3x3: 1 thread %.1f us, 2 "
	       "threads %.1f us (speedup %.2f; below 2 when the other core "
	       "is busy)\n", t1 * 1e6, t2 * 1e6, t2 > 0 ? t1 / t2 : 0.0);
	onednn_shutdown();

	char data[1024];
	env = getenv("BENCH_DATA");
	if (env && *env)
		snprintf(data, sizeof data, "%s", env);
	else
		snprintf(data, sizeof data, "%s/docs/data", src_dir());
	mkdir_p(data);
	snprintf(path, sizeof path, "%s/bench_conv.csv", data);
	int failed = write_atomic(path, write_rows) != 0;
	snprintf(path, sizeof path, "%s/bench_conv_summary.dat", data);
	failed |= write_atomic(path, write_summary) != 0;
	snprintf(path, sizeof path, "%s/bench_conv_threads.csv", data);
	failed |= write_atomic(path, write_threads) != 0;
	for (int li = 0; li < NLAYERS; li++)
		if (layer_ran[li] && thr_rows[li].dp_us1 > 0 &&
		    !thr_rows[li].identical) {
			fprintf(stderr, "bench_conv: layer %d: %s gives a different "
			        "output on 2 threads\n", li, thr_rows[li].dp_impl);
			failed = 1;
		}

	/* An error of a percent of the largest output means a broken
	 * implementation, not rounding (fp32 Winograd F(6,3) stays far
	 * below). */
	for (int i = 0; i < nrows; i++) {
		if (!isnan(rows[i].err) &&
		    !(rows[i].err <= 1e-2 * layer_max_ref[rows[i].layer])) {
			fprintf(stderr, "bench_conv: %s on layer %d: max error "
			        "%.3g is too large\n", rows[i].impl,
			        rows[i].layer, rows[i].err);
			failed = 1;
		}
	}
	printf("total %.0f s\n", now_seconds() - t_start);

	env = getenv("BENCH_PLOT");
	if (!failed && !(env && !strcmp(env, "0"))) {
		char cmd[1200];
		snprintf(cmd, sizeof cmd, "cd '%s' && gnuplot bench/plot_conv.gp",
		         src_dir());
		if (system(cmd) != 0) {
			fprintf(stderr, "bench_conv: gnuplot bench/plot_conv.gp "
			        "failed\n");
			failed = 1;
		} else {
			printf("wrote %s/docs/bench_conv.png and .svg\n", src_dir());
		}
	}
	return failed;
}
