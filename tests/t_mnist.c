/* t_mnist.c - tests of the MNIST MLP (runtime/mlp.c): training on a tiny
 * synthetic data set written here as IDX files (no network, no data/),
 * the backward pass against finite differences in double, save/load,
 * SVD truncation at full rank, the inference plans against a double
 * reference, and the seed's compression-ratio formula. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dpgen.h"
#include "idx.h"
#include "mlp.h"
#include "tap.h"
#include "util.h"

#define MSG_LEN 1024

static char tmpdir[256];

/* ---- a synthetic data set: 4 classes of 8 x 8 images, class c bright in
 * quadrant c, dim elsewhere, with noise ---- */

static int write_set(const char *prefix, int n, uint64_t seed)
{
	char path[512], msg[MSG_LEN];
	uint8_t *img = malloc((size_t)n * 64), *lab = malloc((size_t)n);
	rng_t r;
	rng_seed(&r, seed);
	for (int i = 0; i < n; i++) {
		const int c = i % 4;
		lab[i] = (uint8_t)c;
		for (int y = 0; y < 8; y++)
			for (int x = 0; x < 8; x++) {
				const int q = (y >= 4) * 2 + (x >= 4);
				double v = (q == c ? 150 : 40) + 80 * rng_uniform(&r);
				img[i * 64 + y * 8 + x] = (uint8_t)v;
			}
	}
	dp_idx xi = { .type = DP_IDX_U8, .ndim = 3, .dims = { n, 8, 8 },
	              .data = img };
	dp_idx yi = { .type = DP_IDX_U8, .ndim = 1, .dims = { n },
	              .data = lab };
	snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", tmpdir, prefix);
	int ok1 = dp_idx_write(path, &xi, msg, sizeof msg) == DP_OK;
	snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte.gz", tmpdir,
	         prefix);
	int ok2 = dp_idx_write(path, &yi, msg, sizeof msg) == DP_OK;
	free(img);
	free(lab);
	return ok1 && ok2;
}

static int load_set(const char *prefix, dp_dataset *d)
{
	char xi[512], yi[512], msg[MSG_LEN];
	snprintf(xi, sizeof xi, "%s/%s-images-idx3-ubyte", tmpdir, prefix);
	/* no .gz: the loader must find the gzipped file by itself */
	snprintf(yi, sizeof yi, "%s/%s-labels-idx1-ubyte", tmpdir, prefix);
	dp_status st = dp_dataset_load(d, xi, yi, msg, sizeof msg);
	if (st != DP_OK)
		diag("%s", msg);
	return st == DP_OK;
}

/* ---- a double-precision reference of the model ---- */

typedef struct dmodel {
	int nt;
	double *t[3 * DP_MLP_MAX_LAYERS];
	int64_t len[3 * DP_MLP_MAX_LAYERS];
} dmodel;

static void dmodel_from(dmodel *d, const dp_mlp *m)
{
	float *p[3 * DP_MLP_MAX_LAYERS];
	d->nt = dp_mlp_tensors(m, p, d->len);
	for (int i = 0; i < d->nt; i++) {
		d->t[i] = malloc((size_t)d->len[i] * sizeof(double));
		for (int64_t j = 0; j < d->len[i]; j++)
			d->t[i][j] = p[i][j];
	}
}

static void dmodel_free(dmodel *d)
{
	for (int i = 0; i < d->nt; i++)
		free(d->t[i]);
}

/* Mean NLL of the log-softmax over M rows; logp (may be NULL) gets the
 * log-probabilities. Shape from m, values from d. */
static double dforward(const dp_mlp *m, const dmodel *d, const float *x,
                       const int *y, int M, double *logp)
{
	double loss = 0;
	for (int i = 0; i < M; i++) {
		double a[256], z[256], t[256];
		for (int j = 0; j < m->layer[0].in; j++)
			a[j] = x[(size_t)i * m->layer[0].in + j];
		int ti = 0;
		for (int l = 0; l < m->nlayers; l++) {
			const dp_mlp_layer *L = &m->layer[l];
			const int in = L->in, out = L->out, k = L->rank;
			if (k) {
				const double *P = d->t[ti++], *Q = d->t[ti++];
				for (int r = 0; r < k; r++) {
					t[r] = 0;
					for (int c = 0; c < in; c++)
						t[r] += a[c] * P[c * k + r];
				}
				for (int o = 0; o < out; o++) {
					z[o] = 0;
					for (int r = 0; r < k; r++)
						z[o] += t[r] * Q[r * out + o];
				}
			} else {
				const double *W = d->t[ti++];
				for (int o = 0; o < out; o++) {
					z[o] = 0;
					for (int c = 0; c < in; c++)
						z[o] += a[c] * W[c * out + o];
				}
			}
			const double *b = d->t[ti++];
			for (int o = 0; o < out; o++) {
				z[o] += b[o];
				a[o] = l + 1 < m->nlayers && z[o] < 0 ? 0 : z[o];
			}
		}
		const int C = m->layer[m->nlayers - 1].out;
		double mx = a[0], s = 0;
		for (int c = 1; c < C; c++)
			mx = a[c] > mx ? a[c] : mx;
		for (int c = 0; c < C; c++)
			s += exp(a[c] - mx);
		const double lse = mx + log(s);
		if (logp)
			for (int c = 0; c < C; c++)
				logp[(size_t)i * C + c] = a[c] - lse;
		if (y)
			loss += lse - a[y[i]];
	}
	return loss / M;
}

/* ---- the tests ---- */

static void test_gradients(int with_rank)
{
	const int dims[4] = { 6, 5, 4, 3 };
	const int ranks[3] = { 2, 3, 0 };
	const int M = 5;
	dp_mlp m, g;
	dp_rng rng;
	dp_rng_seed(&rng, 42 + (uint64_t)with_rank);
	dp_mlp_alloc(&m, 4, dims, with_rank ? ranks : NULL);
	dp_mlp_alloc_like(&g, &m);
	dp_mlp_init(&m, &rng);
	float x[5 * 6];
	int y[5];
	for (int i = 0; i < M * 6; i++)
		x[i] = (float)(4 * dp_rng_uniform(&rng) - 2);
	for (int i = 0; i < M; i++)
		y[i] = i % 3;
	double loss;
	dp_status st = dp_mlp_grad(&m, x, y, M, &g, &loss, NULL);
	dmodel d;
	dmodel_from(&d, &m);
	const double ref = dforward(&m, &d, x, y, M, NULL);
	ok(st == DP_OK && fabs(loss - ref) <= 1e-5 * fabs(ref),
	   "%s model: loss %.9g = double reference %.9g",
	   with_rank ? "factorized" : "dense", loss, ref);
	float *pg[3 * DP_MLP_MAX_LAYERS];
	int64_t lg[3 * DP_MLP_MAX_LAYERS];
	dp_mlp_tensors(&g, pg, lg);
	double worst = 0;
	int worst_t = -1;
	const double h = 1e-6;
	for (int t = 0; t < d.nt; t++) {
		double num = 0, den = 0;
		for (int64_t j = 0; j < d.len[t]; j++) {
			const double keep = d.t[t][j];
			d.t[t][j] = keep + h;
			const double lp = dforward(&m, &d, x, y, M, NULL);
			d.t[t][j] = keep - h;
			const double lm = dforward(&m, &d, x, y, M, NULL);
			d.t[t][j] = keep;
			const double fd = (lp - lm) / (2 * h);
			num += (fd - pg[t][j]) * (fd - pg[t][j]);
			den += fd * fd;
		}
		const double rel = sqrt(num) / (sqrt(den) > 1e-12 ? sqrt(den)
		                                                  : 1e-12);
		if (rel > worst) {
			worst = rel;
			worst_t = t;
		}
	}
	ok(worst < 1e-3, "%s model: analytic gradients = central differences "
	   "in double (worst relative error %.2e, tensor %d of %d)",
	   with_rank ? "factorized" : "dense", worst, worst_t, d.nt);
	dmodel_free(&d);
	dp_mlp_free(&m);
	dp_mlp_free(&g);
}

static int same_model(const dp_mlp *a, const dp_mlp *b)
{
	if (a->nlayers != b->nlayers)
		return 0;
	for (int l = 0; l < a->nlayers; l++)
		if (a->layer[l].in != b->layer[l].in ||
		    a->layer[l].out != b->layer[l].out ||
		    a->layer[l].rank != b->layer[l].rank)
			return 0;
	float *pa[3 * DP_MLP_MAX_LAYERS], *pb[3 * DP_MLP_MAX_LAYERS];
	int64_t la[3 * DP_MLP_MAX_LAYERS], lb[3 * DP_MLP_MAX_LAYERS];
	int n = dp_mlp_tensors(a, pa, la);
	dp_mlp_tensors(b, pb, lb);
	for (int i = 0; i < n; i++)
		if (la[i] != lb[i] ||
		    memcmp(pa[i], pb[i], (size_t)la[i] * sizeof(float)))
			return 0;
	return 1;
}

static void test_save_load(void)
{
	const int dims[4] = { 7, 6, 5, 3 };
	const int ranks[3] = { 2, 0, 3 };
	char dir[512], msg[MSG_LEN], path[600];
	for (int f = 0; f < 2; f++) {
		dp_mlp m, back;
		dp_rng rng;
		dp_rng_seed(&rng, 7 + (uint64_t)f);
		dp_mlp_alloc(&m, 4, dims, f ? ranks : NULL);
		dp_mlp_init(&m, &rng);
		snprintf(dir, sizeof dir, "%s/model%d", tmpdir, f);
		dp_status s1 = dp_mlp_save(&m, dir, msg, sizeof msg);
		dp_status s2 = dp_mlp_load(&back, dir, msg, sizeof msg);
		ok(s1 == DP_OK && s2 == DP_OK && same_model(&m, &back),
		   "%s model: save and load give the same bits",
		   f ? "factorized" : "dense");
		if (f == 0) {
			/* PyTorch orientation on disk: w1 is out x in */
			dp_array a;
			snprintf(path, sizeof path, "%s/w1.npy", dir);
			dp_status s3 = dp_npy_read(path, &a, msg, sizeof msg);
			ok(s3 == DP_OK && a.ndim == 2 && a.shape[0] == 6 &&
			   a.shape[1] == 7 && a.data[1] == m.layer[0].w[1 * 6 + 0],
			   "w1.npy is out x in (W[0][1] = B[1][0])");
			if (s3 == DP_OK)
				dp_array_free(&a);
		} else {
			snprintf(path, sizeof path, "%s/u1.npy", dir);
			dp_array a;
			dp_status s3 = dp_npy_read(path, &a, msg, sizeof msg);
			ok(s3 == DP_OK && a.ndim == 2 && a.shape[0] == 6 &&
			   a.shape[1] == 2, "u1.npy is out x k");
			if (s3 == DP_OK)
				dp_array_free(&a);
		}
		dp_mlp_free(&m);
		if (s2 == DP_OK)
			dp_mlp_free(&back);
	}
	dp_mlp none;
	snprintf(dir, sizeof dir, "%s/nothing", tmpdir);
	ok(dp_mlp_load(&none, dir, msg, sizeof msg) != DP_OK &&
	   strstr(msg, "b1.npy"), "loading a missing model fails: %s", msg);
}

static void test_ratio(void)
{
	ok(fabs(dp_mlp_layer_ratio(784, 512, 64) - 64.0 * 1297 / 401920) <
	   1e-15, "layer ratio 784x512 k=64: 64*1297/401920");
	ok(dp_mlp_rank_for_ratio(784, 512, 0.25) == 77 &&
	   dp_mlp_rank_for_ratio(512, 128, 1.0) == 102 &&
	   dp_mlp_rank_for_ratio(128, 10, 1.0) == 9 &&
	   dp_mlp_rank_for_ratio(128, 10, 0.001) == 1 &&
	   dp_mlp_rank_for_ratio(784, 512, 5.0) == 512,
	   "ranks for ratios: 77, 102, 9, at least 1, at most min(in, out)");
	const int dims[4] = { 784, 512, 128, 10 };
	const int ranks[3] = { 77, 25, 2 };
	dp_mlp m;
	dp_mlp_alloc(&m, 4, dims, ranks);
	ok(fabs(dp_mlp_ratio(&m) - 116172.0 / 468874.0) < 1e-15,
	   "model ratio (77*1297 + 25*641 + 2*139) / 468874 = %.6f",
	   dp_mlp_ratio(&m));
	ok(dp_mlp_param_count(&m) == 116718,
	   "factorized parameters 77*1296+512 + 25*640+128 + 2*138+10 = %lld",
	   (long long)dp_mlp_param_count(&m));
	dp_mlp_free(&m);
	dp_mlp_alloc(&m, 4, dims, NULL);
	ok(dp_mlp_ratio(&m) == 1.0 && dp_mlp_param_count(&m) == 468874,
	   "dense model: ratio 1, 468874 parameters");
	dp_mlp_free(&m);
}

/* Every plan mode against the double reference. */
static void test_plans(const dp_mlp *m, const dp_dataset *d)
{
	const int n = 37, C = m->layer[m->nlayers - 1].out;
	dmodel dm;
	dmodel_from(&dm, m);
	double *ref = malloc((size_t)n * C * sizeof *ref);
	float *got = malloc((size_t)n * C * sizeof *got);
	dforward(m, &dm, d->x, NULL, n, ref);
	for (int mode = DP_MLP_DENSE; mode <= DP_MLP_FUSED; mode++) {
		dp_mlp_plan *p = NULL;
		dp_status st = dp_mlp_plan_new(m, (dp_mlp_mode)mode, n, &p);
		if (st == DP_OK)
			st = dp_mlp_plan_run(p, d->x, got);
		double worst = 0;
		for (int i = 0; st == DP_OK && i < n * C; i++)
			worst = fmax(worst, fabs(got[i] - ref[i]));
		ok(st == DP_OK && worst < 1e-4, "plan %s (ranks %d/%d/%d) = "
		   "double reference (max |err| %.2e)",
		   dp_mlp_mode_name((dp_mlp_mode)mode), m->layer[0].rank,
		   m->layer[1].rank, m->layer[2].rank, worst);
		dp_mlp_plan_free(p);
	}
	free(ref);
	free(got);
	dmodel_free(&dm);
}

int main(void)
{
	if (!make_temp_dir(tmpdir, sizeof tmpdir)) {
		ok(0, "temporary directory");
		return done_testing();
	}
	test_ratio();
	test_gradients(0);
	test_gradients(1);
	test_save_load();

	ok(write_set("train", 400, 1) && write_set("t10k", 200, 2),
	   "synthetic IDX files written");
	dp_dataset train, test;
	int loaded = load_set("train", &train) && load_set("t10k", &test);
	ok(loaded && train.n == 400 && train.dim == 64 && train.h == 8 &&
	   train.classes == 4 && test.n == 200,
	   "synthetic data loaded (400 + 200 images of 8 x 8, 4 classes)");
	if (!loaded) {
		remove_tree(tmpdir);
		return done_testing();
	}
	const int dims[4] = { 64, 16, 8, 4 };
	dp_mlp m;
	dp_rng rng;
	dp_rng_seed(&rng, 1);
	dp_mlp_alloc(&m, 4, dims, NULL);
	dp_mlp_init(&m, &rng);
	const double acc0 = dp_mlp_accuracy(&m, DP_MLP_DENSE, &test, 64);
	dp_adadelta opt;
	dp_adadelta_init(&opt, &m, 1.0, 0.9, 1e-6);
	dp_epoch_stats es[4];
	dp_status st = DP_OK;
	for (int e = 0; e < 4 && st == DP_OK; e++) {
		st = dp_mlp_train_epoch(&m, &opt, &train, 16, e == 3 ? 1 : 0,
		                        &rng, NULL, &es[e]);
		opt.lr *= 0.7;
	}
	const double acc = dp_mlp_accuracy(&m, DP_MLP_DENSE, &test, 64);
	ok(st == DP_OK && acc >= 0.95 && es[3].loss < es[0].loss,
	   "4 epochs (the last with shifts): test accuracy %.1f%% (from "
	   "%.1f%%), loss %.3f -> %.3f", 100 * acc, 100 * acc0, es[0].loss,
	   es[3].loss);
	dp_adadelta_free(&opt);

	/* truncation at full rank: the same predictions in every mode */
	const int full[3] = { 16, 8, 4 };
	dp_mlp t;
	double err[3];
	st = dp_mlp_truncate(&m, full, &t, err);
	int *p0 = malloc((size_t)test.n * sizeof *p0);
	int *p1 = malloc((size_t)test.n * sizeof *p1);
	dp_mlp_predict(&m, DP_MLP_DENSE, test.x, test.n, 64, p0);
	for (int mode = DP_MLP_DENSE; st == DP_OK && mode <= DP_MLP_FUSED;
	     mode++) {
		dp_status s2 = dp_mlp_predict(&t, (dp_mlp_mode)mode, test.x,
		                              test.n, 64, p1);
		ok(s2 == DP_OK && !memcmp(p0, p1, (size_t)test.n * sizeof *p0),
		   "full-rank truncation, %s: the same %d predictions",
		   dp_mlp_mode_name((dp_mlp_mode)mode), test.n);
	}
	ok(st == DP_OK && err[0] < 1e-6 && err[1] < 1e-6 && err[2] < 1e-6,
	   "full-rank reconstruction errors %.1e %.1e %.1e", err[0], err[1],
	   err[2]);
	test_plans(&m, &test);
	if (st == DP_OK)
		dp_mlp_free(&t);
	const int low[3] = { 3, 2, 0 };
	st = dp_mlp_truncate(&m, low, &t, err);
	ok(st == DP_OK && err[0] > 1e-3 && err[2] == 0.0,
	   "rank 3/2/dense truncation: errors %.3f %.3f %.1f", err[0], err[1],
	   err[2]);
	if (st == DP_OK) {
		test_plans(&t, &test);
		dp_mlp_free(&t);
	}
	free(p0);
	free(p1);

	/* labels that do not match the images */
	char xi[512], yi[512], msg[MSG_LEN];
	dp_dataset bad;
	snprintf(xi, sizeof xi, "%s/train-images-idx3-ubyte", tmpdir);
	snprintf(yi, sizeof yi, "%s/t10k-labels-idx1-ubyte", tmpdir);
	ok(dp_dataset_load(&bad, xi, yi, msg, sizeof msg) == DP_ERR_FORMAT,
	   "400 images with 200 labels: %s", msg);

	dp_mlp_free(&m);
	dp_dataset_free(&train);
	dp_dataset_free(&test);
	remove_tree(tmpdir);
	return done_testing();
}
