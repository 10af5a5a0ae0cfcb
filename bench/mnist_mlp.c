/* mnist_mlp.c - the MNIST MLP of issue 8 and its SVD compression, on the
 * command line: the C counterparts of the seed's mnist.py, svd_analysis
 * and svd_mnist.py. Model code: runtime/mlp.c (see runtime/mlp.h).
 *
 *   mnist_mlp train [--dataset digits|fashion] [--data DIR] [--epochs 14]
 *                   [--batch 64] [--lr 1.0] [--gamma 0.7] [--seed 1]
 *                   [--out DIR] [--quiet]
 *   mnist_mlp eval --model DIR [--dataset ...] [--data DIR] [--budget 0.5]
 *   mnist_mlp svd-analysis --model DIR [--ratios LIST] [data, timing opts]
 *   mnist_mlp svd-train [--ratios LIST] [training opts] [timing opts]
 *   mnist_mlp finetune --model DIR [--ratios LIST] [--epochs 1]
 *                      [training opts] [timing opts]
 *
 * Model: 784-512-128-10, ReLU, log-softmax, NLL loss, minibatches of 64,
 * Adadelta (lr 1.0, rho 0.9, eps 1e-6) with the learning rate times 0.7
 * after every epoch (StepLR(step_size=1, gamma=0.7)), as mnist.py;
 * PyTorch's default Linear initialization from a fixed seed; inputs
 * (x / 255 - 0.1307) / 0.3081. Training images are augmented by random
 * shifts of up to --shift pixels (default 1; 0 turns it off): on the
 * 8000 training digits the plain model overfits (99.9% train, 95.5%
 * test after 14 epochs), shifted copies bring the test accuracy above
 * 97%. A progress bar per epoch on stderr; one
 * line per epoch on stdout (train loss and accuracy, test accuracy).
 *
 * Data: --dataset digits reads data/mnist/ (the 8000 / 2000 split of
 * `make data`), fashion reads data/fashion-mnist/ (60000 / 10000);
 * --data DIR points at any directory with train-images-idx3-ubyte,
 * train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte
 * (each may be gzipped, with .gz appended), e.g. the full MNIST files.
 *
 * Saved models: one .npy per tensor in a directory, PyTorch's orientation:
 * w1.npy (512 x 784), b1.npy (512), w2.npy (128 x 512), ... ; factorized
 * layers as u1.npy (out x k) and v1.npy (k x in), W = U V.
 *
 * The SVD commands print CSV on stdout, one row per ratio (and a first row
 * for the dense model), with these columns:
 *   experiment   dense | truncate | scratch | finetune
 *   target       the ratio asked for
 *   ratio        the model's compression ratio as the seed defines it:
 *                sum_l k_l (in_l + out_l + 1) / sum_l (in_l out_l + out_l)
 *                (a dense layer counts in_l out_l + out_l)
 *   ranks        k of each layer, "k1/k2/k3" (0: dense; the last layer
 *                stays dense unless --factor-last); each layer's
 *                k = floor(target (in out + out) / (in + out + 1)),
 *                at least 1, at most min(in, out)
 *   params       floats stored: k (in + out) + out per factorized layer
 *                (singular values folded into one factor), in out + out
 *                per dense one
 *   acc          test accuracy of the fused forward (in %), then
 *   acc_rebuild, acc_factors   the same model through the other options
 *   err          relative Frobenius error ||W - W_k|| / ||W|| of each
 *                layer, "e1/e2/e3" (truncate and finetune: against the
 *                trained dense weights; finetune: after the epoch)
 *   err_all      the same over all weights together
 *   dense_b1, dense_b1000         the dense model (the input model, or
 *                                 the factorized one multiplied out), one
 *                                 generic-GEMM product per layer
 *   rebuild_b1, rebuild_b1000     (a) W = P Q rebuilt, packed, then the
 *                                 dense GEMM, at every call
 *   factors_b1, factors_b1000     (b) X U, times S, times V^T: three
 *                                 steps, two GEMMs, intermediates in memory
 *   fused_b1, fused_b1000         (c) dpgen's rank-k svd kernel
 *                                 (dp_matmul_svd_generic, rank_b = k)
 *   Times are seconds for the whole test set, batch 1 and batch 1000:
 *   the median of at least 5 passes (and --budget seconds) after a
 *   warm-up (median_time of bench/timing.h). rebuild at
 *   batch 1 is slow (a full rebuild per image): it runs on the first
 *   --rebuild-samples images (default 100) and is scaled to the set.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "mlp.h"
#include "timing.h"

#define MSG_LEN 1024
#define MAX_RATIOS 64

/* --factor-last: see rank_list */
static int factor_last;

typedef struct opts {
	const char *cmd;
	const char *dataset;     /* digits | fashion */
	const char *data;        /* directory, or NULL for the dataset's */
	const char *model;       /* input model directory */
	const char *out;         /* output model directory */
	const char *csv;         /* also write the CSV here */
	int epochs, batch, shift, rebuild_samples, quiet;
	double budget;
	int epochs_set, lr_set;
	double lr, gamma;
	unsigned long long seed;
	double ratios[MAX_RATIOS];
	int nratios;
} opts;

static void usage(FILE *f)
{
	fprintf(f,
"usage: mnist_mlp COMMAND [options]\n"
"  train         train the dense 784-512-128-10 model\n"
"  eval          test accuracy and inference time of a saved model\n"
"  svd-analysis  truncate a trained model by SVD at each ratio, evaluate\n"
"  svd-train     train the factorized model from scratch at each ratio\n"
"  finetune      truncate a trained model, then train --epochs (1) more\n"
"options:\n"
"  --dataset digits|fashion   data/mnist or data/fashion-mnist (digits)\n"
"  --data DIR                 IDX files train-*/t10k-* in DIR instead\n"
"  --model DIR                a saved model (eval, svd-analysis, finetune)\n"
"  --out DIR                  save the trained model here (train,\n"
"                             svd-train and finetune: one ratio only)\n"
"  --epochs N                 14 (train, svd-train), 1 (finetune)\n"
"  --batch N                  minibatch, 64\n"
"  --shift N                  augment: random shifts up to N pixels (1)\n"
"  --lr X --gamma X           Adadelta learning rate 1.0 (finetune: 0.3),\n"
"                             times 0.7 after each epoch\n"
"  --seed N                   1\n"
"  --ratios LIST              comma-separated compression ratios, default\n"
"                             1,0.9,0.8,0.7,0.6,0.5,0.4,0.3,0.25,0.2,0.15,"
"0.1,0.05\n"
"  --budget S                 seconds per time measurement (0.5): the\n"
"                             median of at least 5 passes\n"
"  --rebuild-samples N        images timed for rebuild at batch 1 (100)\n"
"  --csv FILE                 also write the CSV rows to FILE\n"
"  --factor-last              factorize the last layer too (default: it\n"
"                             stays dense, rank 0 in the CSV)\n"
"  --quiet                    no progress bar\n");
}

static int bad(const char *arg, const char *what)
{
	fprintf(stderr, "mnist_mlp: %s: %s\n", arg, what);
	return 2;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || end == s || !(v >= lo && v <= hi))
		return -1;
	*out = v;
	return 0;
}

static int parse_ratios(const char *s, opts *o)
{
	char buf[1024];
	if (strlen(s) >= sizeof buf)
		return -1;
	strcpy(buf, s);
	o->nratios = 0;
	for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
		if (o->nratios == MAX_RATIOS ||
		    parse_double(tok, 1e-6, 1e6, &o->ratios[o->nratios]))
			return -1;
		o->nratios++;
	}
	return o->nratios ? 0 : -1;
}

static int parse_args(int argc, char **argv, opts *o)
{
	memset(o, 0, sizeof *o);
	o->dataset = "digits";
	o->epochs = 14;
	o->batch = 64;
	o->shift = 1;
	o->budget = 0.5;
	o->rebuild_samples = 100;
	o->lr = 1.0;
	o->gamma = 0.7;
	o->seed = 1;
	parse_ratios("1,0.9,0.8,0.7,0.6,0.5,0.4,0.3,0.25,0.2,0.15,0.1,0.05",
	             o);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	o->cmd = argv[1];
	if (!strcmp(o->cmd, "--help") || !strcmp(o->cmd, "-h")) {
		usage(stdout);
		return -1;
	}
	if (strcmp(o->cmd, "train") && strcmp(o->cmd, "eval") &&
	    strcmp(o->cmd, "svd-analysis") && strcmp(o->cmd, "svd-train") &&
	    strcmp(o->cmd, "finetune"))
		return bad(o->cmd, "unknown command (allowed: train, eval, "
		           "svd-analysis, svd-train, finetune)");
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--quiet")) {
			o->quiet = 1;
			continue;
		}
		if (!strcmp(a, "--factor-last")) {
			factor_last = 1;
			continue;
		}
		if (!strcmp(a, "--help")) {
			usage(stdout);
			return -1;
		}
		if (i + 1 >= argc)
			return bad(a, "needs a value (or unknown option)");
		const char *v = argv[++i];
		int rc = 0;
		if (!strcmp(a, "--dataset")) {
			if (strcmp(v, "digits") && strcmp(v, "fashion"))
				return bad(a, "allowed: digits, fashion");
			o->dataset = v;
		} else if (!strcmp(a, "--data")) {
			o->data = v;
		} else if (!strcmp(a, "--model")) {
			o->model = v;
		} else if (!strcmp(a, "--out")) {
			o->out = v;
		} else if (!strcmp(a, "--csv")) {
			o->csv = v;
		} else if (!strcmp(a, "--epochs")) {
			rc = parse_int(v, 0, 1000, &o->epochs);
			o->epochs_set = 1;
		} else if (!strcmp(a, "--shift")) {
			rc = parse_int(v, 0, 8, &o->shift);
		} else if (!strcmp(a, "--batch")) {
			rc = parse_int(v, 1, 65536, &o->batch);
		} else if (!strcmp(a, "--budget")) {
			rc = parse_double(v, 0, 1e4, &o->budget);
		} else if (!strcmp(a, "--rebuild-samples")) {
			rc = parse_int(v, 1, 1 << 30, &o->rebuild_samples);
		} else if (!strcmp(a, "--lr")) {
			rc = parse_double(v, 0, 1e6, &o->lr);
			o->lr_set = 1;
		} else if (!strcmp(a, "--gamma")) {
			rc = parse_double(v, 0, 1, &o->gamma);
		} else if (!strcmp(a, "--seed")) {
			int s;
			rc = parse_int(v, 0, 1 << 30, &s);
			o->seed = (unsigned long long)s;
		} else if (!strcmp(a, "--ratios")) {
			rc = parse_ratios(v, o);
		} else {
			return bad(a, "unknown option (see --help)");
		}
		if (rc)
			return bad(a, "bad value (see --help)");
	}
	if (!strcmp(o->cmd, "finetune") && !o->epochs_set)
		o->epochs = 1;
	/* Fine-tuning starts from a good solution: lr 1.0 throws it away
	 * (93.3% at ratio 0.25 on the digits, against 96.75% with 0.3). */
	if (!strcmp(o->cmd, "finetune") && !o->lr_set)
		o->lr = 0.3;
	if (!o->model && (!strcmp(o->cmd, "eval") ||
	                  !strcmp(o->cmd, "svd-analysis") ||
	                  !strcmp(o->cmd, "finetune")))
		return bad(o->cmd, "needs --model DIR");
	return 0;
}

static int load_data(const opts *o, dp_dataset *train, dp_dataset *test)
{
	const char *dir = o->data ? o->data :
	                  !strcmp(o->dataset, "fashion") ? "data/fashion-mnist"
	                                                 : "data/mnist";
	char xi[4096], yi[4096], msg[MSG_LEN];
	memset(test, 0, sizeof *test);
	if (train) {
		memset(train, 0, sizeof *train);
		snprintf(xi, sizeof xi, "%s/train-images-idx3-ubyte", dir);
		snprintf(yi, sizeof yi, "%s/train-labels-idx1-ubyte", dir);
		if (dp_dataset_load(train, xi, yi, msg, sizeof msg) != DP_OK) {
			fprintf(stderr, "mnist_mlp: %s (run `make data`?)\n", msg);
			return 1;
		}
	}
	snprintf(xi, sizeof xi, "%s/t10k-images-idx3-ubyte", dir);
	snprintf(yi, sizeof yi, "%s/t10k-labels-idx1-ubyte", dir);
	if (dp_dataset_load(test, xi, yi, msg, sizeof msg) != DP_OK) {
		fprintf(stderr, "mnist_mlp: %s (run `make data`?)\n", msg);
		dp_dataset_free(train);
		return 1;
	}
	fprintf(stderr, "data: %s: %d train, %d test images of %d pixels\n",
	        dir, train ? train->n : 0, test->n, test->dim);
	return 0;
}

static int save_model(const dp_mlp *m, const char *dir)
{
	char msg[MSG_LEN];
	if (dp_mlp_save(m, dir, msg, sizeof msg) != DP_OK) {
		fprintf(stderr, "mnist_mlp: %s\n", msg);
		return 1;
	}
	fprintf(stderr, "saved %s\n", dir);
	return 0;
}

/* Train m for o->epochs epochs; one line per epoch on stdout (or stderr
 * when stdout carries CSV). */
static int train_model(const opts *o, dp_mlp *m, const dp_dataset *train,
                       const dp_dataset *test, FILE *log)
{
	dp_adadelta opt;
	const int shift = train->h > 0 ? o->shift : 0;
	if (dp_adadelta_init(&opt, m, o->lr, 0.9, 1e-6) != DP_OK)
		return 1;
	dp_rng rng;
	dp_rng_seed(&rng, o->seed * 7919 + 17);
	double total = 0;
	for (int e = 0; e < o->epochs; e++) {
		char label[64];
		dp_epoch_stats st = { 0 };
		snprintf(label, sizeof label, "epoch %2d/%d", e + 1, o->epochs);
		if (dp_mlp_train_epoch(m, &opt, train, o->batch, shift, &rng,
		                       o->quiet ? NULL : label, &st) != DP_OK) {
			fprintf(stderr, "mnist_mlp: training failed\n");
			dp_adadelta_free(&opt);
			return 1;
		}
		total += st.seconds;
		const double acc = dp_mlp_accuracy(m, DP_MLP_DENSE, test, 1000);
		fprintf(log, "epoch %2d lr %.5f loss %.4f train_acc %.2f%% "
		        "test_acc %.2f%% time %.2fs\n", e + 1, opt.lr, st.loss,
		        100 * st.accuracy, 100 * acc, st.seconds);
		fflush(log);
		opt.lr *= o->gamma;
	}
	fprintf(log, "trained %d epochs in %.2fs\n", o->epochs, total);
	dp_adadelta_free(&opt);
	return 0;
}

/* ---- timing ---- */

typedef struct pass_job {
	dp_mlp_plan *full, *rest;
	int batch, n, in, classes;
	const float *x;
	float *logp;
	int failed;
} pass_job;

static void run_pass(void *arg)
{
	pass_job *j = arg;
	for (int s = 0; s < j->n; s += j->batch) {
		dp_mlp_plan *p = j->n - s >= j->batch ? j->full : j->rest;
		if (dp_mlp_plan_run(p, j->x + (size_t)s * j->in, j->logp) != DP_OK)
			j->failed = 1;
	}
}

/* Seconds for the whole of d at this batch in this mode: the median of
 * passes over the first `limit` images (scaled to all), timed by
 * median_time (bench/timing.h: a warm-up, then at least 5 passes and
 * until `budget` seconds are spent). */
static double time_set(const dp_mlp *m, dp_mlp_mode mode,
                       const dp_dataset *d, int batch, double budget,
                       int limit)
{
	pass_job j = { 0 };
	j.n = limit < d->n ? limit : d->n;
	j.batch = batch < j.n ? batch : j.n;
	j.in = d->dim;
	j.classes = m->layer[m->nlayers - 1].out;
	j.x = d->x;
	j.logp = malloc((size_t)j.batch * (size_t)j.classes * sizeof(float));
	double t = NAN;
	if (!j.logp || dp_mlp_plan_new(m, mode, j.batch, &j.full) != DP_OK)
		goto out;
	if (j.n % j.batch &&
	    dp_mlp_plan_new(m, mode, j.n % j.batch, &j.rest) != DP_OK)
		goto out;
	t = median_time(run_pass, &j, budget);
	if (j.failed)
		t = NAN;
	else
		t *= (double)d->n / j.n;
out:
	dp_mlp_plan_free(j.full);
	dp_mlp_plan_free(j.rest);
	free(j.logp);
	return t;
}

/* ---- the CSV ---- */

typedef struct csv_out {
	FILE *f[2];
	int n;
} csv_out;

static void csv_printf(csv_out *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void csv_printf(csv_out *c, const char *fmt, ...)
{
	for (int i = 0; i < c->n; i++) {
		va_list ap;
		va_start(ap, fmt);
		vfprintf(c->f[i], fmt, ap);
		va_end(ap);
		fflush(c->f[i]);
	}
}

static const char CSV_HEADER[] =
	"experiment,target,ratio,ranks,params,acc,acc_rebuild,acc_factors,"
	"err,err_all,dense_b1,dense_b1000,rebuild_b1,rebuild_b1000,"
	"factors_b1,factors_b1000,fused_b1,fused_b1000\n";

typedef struct dense_times {
	double b1, b1000;
} dense_times;

/* Per-layer and overall relative errors of m's weights against ref's. */
static void weight_errors(const dp_mlp *m, const dp_mlp *ref, double *err,
                          double *all)
{
	dp_mlp a, b;
	double num_all = 0, den_all = 0;
	if (dp_mlp_densify(m, &a) != DP_OK)
		return;
	if (dp_mlp_densify(ref, &b) != DP_OK) {
		dp_mlp_free(&a);
		return;
	}
	for (int l = 0; l < m->nlayers; l++) {
		const size_t n = (size_t)a.layer[l].in * (size_t)a.layer[l].out;
		double num = 0, den = 0;
		for (size_t i = 0; i < n; i++) {
			const double d = (double)a.layer[l].w[i] - b.layer[l].w[i];
			num += d * d;
			den += (double)b.layer[l].w[i] * b.layer[l].w[i];
		}
		err[l] = den > 0 ? sqrt(num / den) : 0;
		num_all += num;
		den_all += den;
	}
	*all = den_all > 0 ? sqrt(num_all / den_all) : 0;
	dp_mlp_free(&a);
	dp_mlp_free(&b);
}

/* One CSV row for model m; ref (may be NULL) gives the weights the errors
 * are measured against. */
static void eval_row(csv_out *c, const opts *o, const char *experiment,
                     double target, const dp_mlp *m, const dp_mlp *ref,
                     const dp_dataset *test, const dense_times *dt)
{
	char ranks[128] = "", errs[256] = "";
	double err[DP_MLP_MAX_LAYERS], all = NAN;
	for (int l = 0; l < m->nlayers; l++)
		err[l] = NAN;
	if (ref)
		weight_errors(m, ref, err, &all);
	for (int l = 0; l < m->nlayers; l++) {
		char tmp[48];
		snprintf(tmp, sizeof tmp, "%s%d", l ? "/" : "", m->layer[l].rank);
		strncat(ranks, tmp, sizeof ranks - strlen(ranks) - 1);
		snprintf(tmp, sizeof tmp, "%s%.4g", l ? "/" : "", err[l]);
		strncat(errs, tmp, sizeof errs - strlen(errs) - 1);
	}
	const double acc = dp_mlp_accuracy(m, DP_MLP_FUSED, test, 1000);
	const double acc_r = dp_mlp_accuracy(m, DP_MLP_REBUILD, test, 1000);
	const double acc_f = dp_mlp_accuracy(m, DP_MLP_FACTORS, test, 1000);
	const dp_mlp_mode modes[3] = { DP_MLP_REBUILD, DP_MLP_FACTORS,
	                               DP_MLP_FUSED };
	double t[3][2];
	for (int i = 0; i < 3; i++) {
		const int lim = modes[i] == DP_MLP_REBUILD ? o->rebuild_samples
		                                           : test->n;
		t[i][0] = time_set(m, modes[i], test, 1, o->budget, lim);
		t[i][1] = time_set(m, modes[i], test, 1000, o->budget, test->n);
	}
	csv_printf(c, "%s,%g,%.4f,%s,%lld,%.2f,%.2f,%.2f,%s,%.4g,%.4g,%.4g,"
	           "%.4g,%.4g,%.4g,%.4g,%.4g,%.4g\n", experiment, target,
	           dp_mlp_ratio(m), ranks, (long long)dp_mlp_param_count(m),
	           100 * acc, 100 * acc_r, 100 * acc_f, errs, all, dt->b1,
	           dt->b1000, t[0][0], t[0][1], t[1][0], t[1][1], t[2][0],
	           t[2][1]);
}

/* The last layer (128 x 10: 0.3% of the parameters) stays dense unless
 * --factor-last: at rank 1 or 2 of 10 it alone caps the accuracy near
 * 20% or 40%, for a saving of under 1300 parameters. */

static void rank_list(int nlayers, const int *dims, double ratio,
                      int *ranks)
{
	for (int l = 0; l < nlayers; l++)
		ranks[l] = l == nlayers - 1 && !factor_last ? 0 :
		           dp_mlp_rank_for_ratio(dims[l], dims[l + 1], ratio);
}

static void ranks_for(const dp_mlp *m, double ratio, int *ranks)
{
	int dims[DP_MLP_MAX_LAYERS + 1];
	for (int l = 0; l < m->nlayers; l++) {
		dims[l] = m->layer[l].in;
		dims[l + 1] = m->layer[l].out;
	}
	rank_list(m->nlayers, dims, ratio, ranks);
}

static int load_model(const char *dir, dp_mlp *m, const dp_dataset *test)
{
	char msg[MSG_LEN];
	if (dp_mlp_load(m, dir, msg, sizeof msg) != DP_OK) {
		fprintf(stderr, "mnist_mlp: %s\n", msg);
		return 1;
	}
	if (m->layer[0].in != test->dim ||
	    m->layer[m->nlayers - 1].out < test->classes) {
		fprintf(stderr, "mnist_mlp: %s: the model (%d inputs, %d "
		        "classes) does not fit the data (%d pixels, %d classes)\n",
		        dir, m->layer[0].in, m->layer[m->nlayers - 1].out,
		        test->dim, test->classes);
		dp_mlp_free(m);
		return 1;
	}
	return 0;
}

static const int MNIST_DIMS[4] = { 784, 512, 128, 10 };

static int model_for_data(const dp_dataset *d, int *dims)
{
	memcpy(dims, MNIST_DIMS, sizeof MNIST_DIMS);
	dims[0] = d->dim;
	if (d->classes > dims[3])
		dims[3] = d->classes;
	return 4;
}

int main(int argc, char **argv)
{
	opts o;
	/* One thread, as every dpgen kernel: the backward products too. */
	openblas_set_num_threads(1);
	int rc = parse_args(argc, argv, &o);
	if (rc)
		return rc < 0 ? 0 : rc;
	dp_dataset train = { 0 }, test = { 0 };
	const int need_train = strcmp(o.cmd, "eval") &&
	                       strcmp(o.cmd, "svd-analysis");
	if (load_data(&o, need_train ? &train : NULL, &test))
		return 1;
	csv_out csv = { { stdout, NULL }, 1 };
	if (o.csv) {
		csv.f[1] = fopen(o.csv, "w");
		if (!csv.f[1]) {
			fprintf(stderr, "mnist_mlp: %s: %s\n", o.csv,
			        strerror(errno));
			return 1;
		}
		csv.n = 2;
	}
	dp_mlp m, ref;
	memset(&m, 0, sizeof m);
	memset(&ref, 0, sizeof ref);
	int dims[4];
	rc = 0;
	if (!strcmp(o.cmd, "train")) {
		dp_rng rng;
		dp_rng_seed(&rng, o.seed);
		if (dp_mlp_alloc(&m, model_for_data(&train, dims), dims, NULL)) {
			rc = 1;
			goto out;
		}
		dp_mlp_init(&m, &rng);
		rc = train_model(&o, &m, &train, &test, stdout);
		if (!rc && o.out)
			rc = save_model(&m, o.out);
	} else if (!strcmp(o.cmd, "eval")) {
		if ((rc = load_model(o.model, &m, &test)))
			goto out;
		const double acc = dp_mlp_accuracy(&m, DP_MLP_FUSED, &test, 1000);
		printf("model %s: ratio %.4f, %lld parameters\n", o.model,
		       dp_mlp_ratio(&m), (long long)dp_mlp_param_count(&m));
		printf("test accuracy %.2f%% (%d images)\n", 100 * acc, test.n);
		const dp_mlp_mode modes[2] = { DP_MLP_DENSE, DP_MLP_FUSED };
		for (int i = 0; i < 2; i++) {
			if (i == 1 && dp_mlp_ratio(&m) == 1.0)
				break;
			printf("%-6s batch 1: %.4f s   batch 1000: %.4f s  "
			       "(whole test set, median)\n",
			       dp_mlp_mode_name(modes[i]),
			       time_set(&m, modes[i], &test, 1, o.budget, test.n),
			       time_set(&m, modes[i], &test, 1000, o.budget,
			                test.n));
		}
	} else if (!strcmp(o.cmd, "svd-analysis") ||
	           !strcmp(o.cmd, "finetune")) {
		const int ft = !strcmp(o.cmd, "finetune");
		if ((rc = load_model(o.model, &ref, &test)))
			goto out;
		dense_times dt = {
			time_set(&ref, DP_MLP_DENSE, &test, 1, o.budget, test.n),
			time_set(&ref, DP_MLP_DENSE, &test, 1000, o.budget, test.n)
		};
		csv_printf(&csv, "%s", CSV_HEADER);
		eval_row(&csv, &o, "dense", 1.0, &ref, &ref, &test, &dt);
		for (int r = 0; r < o.nratios; r++) {
			int ranks[DP_MLP_MAX_LAYERS];
			ranks_for(&ref, o.ratios[r], ranks);
			if (dp_mlp_truncate(&ref, ranks, &m, NULL) != DP_OK) {
				fprintf(stderr, "mnist_mlp: SVD failed\n");
				rc = 1;
				goto out;
			}
			if (ft) {
				fprintf(stderr, "finetune at ratio %g\n", o.ratios[r]);
				if ((rc = train_model(&o, &m, &train, &test, stderr)))
					goto out;
			}
			eval_row(&csv, &o, ft ? "finetune" : "truncate",
			         o.ratios[r], &m, &ref, &test, &dt);
			if (o.out && o.nratios == 1)
				rc = save_model(&m, o.out);
			dp_mlp_free(&m);
		}
	} else {   /* svd-train */
		dp_mlp dense;
		dp_rng rng;
		dp_rng_seed(&rng, o.seed);
		if (dp_mlp_alloc(&dense, model_for_data(&train, dims), dims,
		                 NULL)) {
			rc = 1;
			goto out;
		}
		dense_times dt = {
			time_set(&dense, DP_MLP_DENSE, &test, 1, o.budget, test.n),
			time_set(&dense, DP_MLP_DENSE, &test, 1000, o.budget,
			         test.n)
		};
		dp_mlp_free(&dense);
		csv_printf(&csv, "%s", CSV_HEADER);
		for (int r = 0; r < o.nratios; r++) {
			int ranks[DP_MLP_MAX_LAYERS];
			rank_list(3, dims, o.ratios[r], ranks);
			if (dp_mlp_alloc(&m, 4, dims, ranks)) {
				rc = 1;
				goto out;
			}
			dp_rng_seed(&rng, o.seed);
			dp_mlp_init(&m, &rng);
			fprintf(stderr, "svd-train at ratio %g: ranks %d/%d/%d\n",
			        o.ratios[r], ranks[0], ranks[1], ranks[2]);
			if ((rc = train_model(&o, &m, &train, &test, stderr)))
				goto out;
			eval_row(&csv, &o, "scratch", o.ratios[r], &m, NULL, &test,
			         &dt);
			if (o.out && o.nratios == 1)
				rc = save_model(&m, o.out);
			dp_mlp_free(&m);
		}
	}
out:
	dp_mlp_free(&m);
	dp_mlp_free(&ref);
	dp_dataset_free(&train);
	dp_dataset_free(&test);
	if (csv.n == 2 && fclose(csv.f[1]) != 0) {
		fprintf(stderr, "mnist_mlp: %s: write failed\n", o.csv);
		rc = 1;
	}
	return rc;
}
