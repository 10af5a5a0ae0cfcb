/* study_svd.c - the SVD rank study of issue 8 (make study-svd).
 *
 * For each matrix X (rows x cols, float):
 *   - its singular values (LAPACKE dgesdd in double), normalized by the
 *     largest: docs/data/svd_spectrum.csv;
 *   - the relative Frobenius error of the product with a fixed Gaussian
 *     B (cols x 512, seed 2) when X is replaced by its best rank-k
 *     approximation X_k:  e(k) = ||X B - X_k B||_F / ||X B||_F, for every
 *     rank 1..min(rows, cols): docs/data/svd_rank_error.csv.
 *     With X = U S V^T and W = V^T B,  X B - X_k B = U_{>k} S_{>k} W_{>k},
 *     and U has orthonormal columns, so
 *         e(k)^2 = sum_{i>=k} s_i^2 |W_i|^2 / sum_i s_i^2 |W_i|^2
 *     exactly (column rel_error, in double, every rank). On a log grid of
 *     ranks the error is also measured as the library would see it: X_k
 *     formed in double, rounded to float, both products by cblas_sgemm
 *     (column rel_error_float; it has a float rounding floor near 1e-7).
 * Matrices: Gaussian 512x512; rank 32 plus noise 1e-2; U diag(s) V^T with
 * s_i = 0.9^i and s_i = 1/(i+1), U, V random orthogonal (QR of a
 * Gaussian); 512 MNIST training images x 784 pixels in [0, 1]; chelsea.png
 * in grayscale; and, when a trained model is at build/study-mnist/digits
 * (make study-mnist), the 512x512 activations after its first layer and
 * its second-layer weights (128 x 512).
 *
 * Speed (docs/data/svd_speed.csv): C = A B with A = first-layer
 * activations (M x 512, M = 1, 64, 512) and B = W2^T (512 x 128), the
 * generic svd kernel (dp_matmul_svd_generic, rank_b = k) against the
 * generic GEMM (dp_matmul_gemm_generic) and cblas_sgemm (one thread);
 * prepare (the SVD, packing) outside the timing; medians (timing.h).
 * Without the trained model an untrained model (PyTorch's init, seed 1)
 * stands in: times do not depend on the values, the error column does.
 *
 * Paths are relative to $DP_SRCDIR (default "."). Every CSV is written to
 * a temporary file and renamed. The plots: gnuplot bench/plot_svd.gp. */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "idx.h"
#include "kernels.h"
#include "mlp.h"
#include "png_gray.h"
#include "timing.h"
#include "util.h"

void openblas_set_num_threads(int n);

#define NB 512            /* columns of the Gaussian B of the product */
#define MAXMAT 8

typedef struct mat {
	const char *name;
	int rows, cols;
	float *x;
} mat;

static char path_buf[4][1024];

/* $DP_SRCDIR/rel in one of four rotating buffers. */
static const char *src_path(const char *rel)
{
	static int i;
	char *p = path_buf[i++ & 3];
	snprintf(p, sizeof path_buf[0], "%s/%s", src_dir(), rel);
	return p;
}

/* ---- atomic CSV ---- */
typedef struct out_file {
	FILE *f;
	char path[1024], tmp[1100];
} out_file;

static int out_open(out_file *o, const char *rel)
{
	snprintf(o->path, sizeof o->path, "%s", src_path(rel));
	snprintf(o->tmp, sizeof o->tmp, "%s.tmp%ld", o->path, (long)getpid());
	o->f = fopen(o->tmp, "w");
	if (!o->f)
		perror(o->tmp);
	return o->f != NULL;
}

static int out_close(out_file *o)
{
	int bad = ferror(o->f);
	bad |= fclose(o->f) != 0;
	if (bad || rename(o->tmp, o->path) != 0) {
		perror(o->path);
		remove(o->tmp);
		return 0;
	}
	return 1;
}

/* ---- matrices ---- */

/* A random n x n orthogonal matrix (row-major, double): Q of the QR of a
 * Gaussian. */
static int random_orthogonal(rng_t *r, int n, double *q)
{
	double *tau = malloc((size_t)n * sizeof *tau);
	for (size_t i = 0; i < (size_t)n * n; i++)
		q[i] = rng_normal(r);
	int ok = tau && LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, n, n, q, n, tau) == 0 &&
	         LAPACKE_dorgqr(LAPACK_ROW_MAJOR, n, n, n, q, n, tau) == 0;
	free(tau);
	return ok;
}

/* U diag(s) V^T, n x n, into float. */
static float *spectrum_matrix(rng_t *r, int n, const double *s)
{
	double *u = malloc((size_t)n * n * 8), *v = malloc((size_t)n * n * 8),
	       *x = malloc((size_t)n * n * 8);
	float *out = malloc((size_t)n * n * 4);
	if (!u || !v || !x || !out || !random_orthogonal(r, n, u) ||
	    !random_orthogonal(r, n, v)) {
		free(out);
		out = NULL;
	} else {
		for (int i = 0; i < n; i++)
			for (int j = 0; j < n; j++)
				u[(size_t)i * n + j] *= s[j];
		cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0, u,
		            n, v, n, 0.0, x, n);
		for (size_t i = 0; i < (size_t)n * n; i++)
			out[i] = (float)x[i];
	}
	free(u);
	free(v);
	free(x);
	return out;
}

static float *load_mnist(int n, int dim)
{
	dp_idx idx;
	dp_array a;
	char msg[512];
	if (dp_idx_read(src_path("data/mnist/train-images-idx3-ubyte"), &idx, msg,
	                sizeof msg) != DP_OK) {
		fprintf(stderr, "%s\n", msg);
		return NULL;
	}
	dp_status st = dp_idx_to_array(&idx, 1.0 / 255, &a, msg, sizeof msg);
	dp_idx_free(&idx);
	if (st != DP_OK) {
		fprintf(stderr, "%s\n", msg);
		return NULL;
	}
	if (dp_array_elems(&a) < (int64_t)n * dim) {
		fprintf(stderr, "MNIST: fewer than %d images\n", n);
		dp_array_free(&a);
		return NULL;
	}
	float *x = malloc((size_t)n * dim * 4);
	if (x)
		memcpy(x, a.data, (size_t)n * dim * 4);
	dp_array_free(&a);
	return x;
}

/* First-layer activations relu(Xn W1 + b1) of the n images in pix (n x
 * 784, [0, 1]), normalized as mnist.py does. */
static float *activations(const dp_mlp *m, const float *pix, int n)
{
	const dp_mlp_layer *l = &m->layer[0];
	float *xn = malloc((size_t)n * l->in * 4),
	      *h = malloc((size_t)n * l->out * 4);
	if (!xn || !h) {
		free(xn);
		free(h);
		return NULL;
	}
	for (size_t i = 0; i < (size_t)n * l->in; i++)
		xn[i] = (float)((pix[i] - DP_MNIST_MEAN) / DP_MNIST_STD);
	for (int i = 0; i < n; i++)
		memcpy(h + (size_t)i * l->out, l->b, (size_t)l->out * 4);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, l->out, l->in,
	            1.0f, xn, l->in, l->w, l->out, 1.0f, h, l->out);
	for (size_t i = 0; i < (size_t)n * l->out; i++)
		h[i] = h[i] > 0 ? h[i] : 0;
	free(xn);
	return h;
}

/* ---- the study of one matrix ---- */

static int is_grid_rank(int k, int mn)
{
	if (k == 1 || k == mn)
		return 1;
	/* about 8 points per factor of 10 */
	for (double g = 1; g < mn; g *= 1.33)
		if ((int)lround(g) == k)
			return 1;
	return 0;
}

static double rel_fro(const float *a, const float *b, size_t n)
{
	double num = 0, den = 0;
	for (size_t i = 0; i < n; i++) {
		double d = (double)a[i] - b[i];
		num += d * d;
		den += (double)b[i] * b[i];
	}
	return den > 0 ? sqrt(num / den) : 0;
}

/* Rank needed for a relative product error <= tol (from e[0..mn]). */
static int rank_for(const double *e, int mn, double tol)
{
	for (int k = 1; k <= mn; k++)
		if (e[k] <= tol)
			return k;
	return mn;
}

static int study(const mat *m, rng_t *r, FILE *spec, FILE *errf)
{
	const int rows = m->rows, cols = m->cols;
	const int mn = rows < cols ? rows : cols;
	double *a = malloc((size_t)rows * cols * 8), *s = malloc((size_t)mn * 8),
	       *u = malloc((size_t)rows * mn * 8), *vt = malloc((size_t)mn * cols * 8),
	       *w = malloc((size_t)mn * NB * 8), *bd = malloc((size_t)cols * NB * 8),
	       *e = malloc((size_t)(mn + 1) * 8), *xk = malloc((size_t)rows * cols * 8);
	float *b = malloc((size_t)cols * NB * 4), *xkf = malloc((size_t)rows * cols * 4),
	      *c = malloc((size_t)rows * NB * 4), *ck = malloc((size_t)rows * NB * 4);
	int ok = 0;
	if (!a || !s || !u || !vt || !w || !bd || !e || !xk || !b || !xkf || !c ||
	    !ck)
		goto out;
	for (size_t i = 0; i < (size_t)rows * cols; i++)
		a[i] = m->x[i];
	if (LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', rows, cols, a, cols, s, u, mn,
	                   vt, cols) != 0) {
		fprintf(stderr, "%s: dgesdd failed\n", m->name);
		goto out;
	}
	fill_normal(r, b, (size_t)cols * NB);
	for (size_t i = 0; i < (size_t)cols * NB; i++)
		bd[i] = b[i];
	/* W = V^T B; e(k)^2 = tail sums of s_i^2 |W_i|^2 */
	cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, mn, NB, cols, 1.0,
	            vt, cols, bd, NB, 0.0, w, NB);
	e[mn] = 0;
	for (int i = mn - 1; i >= 0; i--) {
		double q = 0;
		for (int j = 0; j < NB; j++)
			q += w[(size_t)i * NB + j] * w[(size_t)i * NB + j];
		e[i] = e[i + 1] + s[i] * s[i] * q;
	}
	const double total = e[0];
	for (int k = 0; k <= mn; k++)
		e[k] = total > 0 ? sqrt(e[k] / total) : 0;
	/* e[k] is now the error of rank k (e[0] = 1). */
	for (int i = 0; i < mn; i++)
		fprintf(spec, "%s,%d,%.10g,%.10g\n", m->name, i + 1, s[i],
		        s[0] > 0 ? s[i] / s[0] : 0);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, NB, cols,
	            1.0f, m->x, cols, b, NB, 0.0f, c, NB);
	double worst = 0;
	for (int k = 1; k <= mn; k++) {
		double ef = NAN;
		if (is_grid_rank(k, mn)) {
			/* X_k = (U_k S_k) V_k^T in double, then float */
			double *us = a;  /* a is free after dgesdd: rows x k */
			for (int i = 0; i < rows; i++)
				for (int j = 0; j < k; j++)
					us[(size_t)i * k + j] = u[(size_t)i * mn + j] * s[j];
			cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, cols,
			            k, 1.0, us, k, vt, cols, 0.0, xk, cols);
			for (size_t i = 0; i < (size_t)rows * cols; i++)
				xkf[i] = (float)xk[i];
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, NB,
			            cols, 1.0f, xkf, cols, b, NB, 0.0f, ck, NB);
			ef = rel_fro(ck, c, (size_t)rows * NB);
			double d = fabs(ef - e[k]);
			if (e[k] > 1e-4 && d / e[k] > worst)
				worst = d / e[k];
		}
		fprintf(errf, "%s,%d,%.8g,", m->name, k, e[k]);
		if (isnan(ef))
			fprintf(errf, "\n");
		else
			fprintf(errf, "%.8g\n", ef);
	}
	printf("%-22s %4dx%-4d %9.3g %9.3g %7d %7d %7d %7d %9.2g\n", m->name,
	       rows, cols, s[0], s[mn - 1] / s[0], rank_for(e, mn, 0.1),
	       rank_for(e, mn, 0.01), rank_for(e, mn, 0.001), mn, worst);
	ok = worst < 1e-2;
	if (!ok)
		fprintf(stderr, "%s: float and exact errors differ by %.3g\n",
		        m->name, worst);
out:
	free(a);
	free(s);
	free(u);
	free(vt);
	free(w);
	free(bd);
	free(e);
	free(xk);
	free(b);
	free(xkf);
	free(c);
	free(ck);
	return ok;
}

/* ---- speed ---- */

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

/* Median seconds of one execute of k (prepared once, outside), or -1. */
static double time_kernel(const dp_kernel *k, const dp_desc *d,
                          const float *a, const float *b, float *c)
{
	job j = { k, *d, malloc(k->state_bytes(d) + 1),
	          malloc(k->workspace_bytes(d) + 1), a, b, c };
	double t = -1;
	if (j.state && j.ws && k->prepare(d, b, NULL, j.state) == DP_OK &&
	    k->execute(d, j.state, a, c, j.ws) == DP_OK)
		t = median_time(run_kernel, &j, 0.2);
	free(j.state);
	free(j.ws);
	return t;
}

static int speed(const dp_mlp *model, const char *source, const float *act,
                 FILE *csv)
{
	static const int batch[] = { 1, 64, 512 };
	static const int ranks[] = { 1, 2, 4, 8, 16, 32, 64, 96, 128 };
	const dp_mlp_layer *l = &model->layer[1];
	const int K = l->in, N = l->out;
	const float *b = l->w;
	float *c = malloc((size_t)512 * N * 4), *cref = malloc((size_t)512 * N * 4);
	if (!c || !cref)
		return 0;
	printf("\nspeed: activations (M x %d) x layer-2 weights^T (%d x %d), "
	       "%s weights, one thread\n", K, K, N, source);
	printf("%4s %5s %8s %9s %9s %9s %8s %8s %9s\n", "M", "rank", "flop x",
	       "svd us", "gemm us", "blas us", "vs gemm", "vs blas", "rel err");
	for (int bi = 0; bi < 3; bi++) {
		const int M = batch[bi];
		dp_desc g = { .op = DP_OP_MATMUL, .algo = DP_ALGO_GEMM, .mm_m = M,
		              .mm_k = K, .mm_n = N };
		double tg = time_kernel(&dp_matmul_gemm_generic, &g, act, b, c);
		job bj = { NULL, g, NULL, NULL, act, b, cref };
		double tb = median_time(run_blas, &bj, 0.2);
		run_blas(&bj);
		if (tg < 0) {
			fprintf(stderr, "generic gemm failed at M=%d\n", M);
			return 0;
		}
		for (size_t ri = 0; ri < sizeof ranks / sizeof ranks[0]; ri++) {
			const int k = ranks[ri];
			if (k > (K < N ? K : N))
				continue;
			dp_desc d = g;
			d.algo = DP_ALGO_SVD;
			d.rank_b = k;
			double ts = time_kernel(&dp_matmul_svd_generic, &d, act, b, c);
			if (ts < 0) {
				fprintf(stderr, "generic svd failed at M=%d rank %d\n", M, k);
				return 0;
			}
			double flop = (double)K * N / ((double)k * (K + N));
			double err = rel_fro(c, cref, (size_t)M * N);
			printf("%4d %5d %8.2f %9.2f %9.2f %9.2f %8.2f %8.2f %9.2e\n", M,
			       k, flop, ts * 1e6, tg * 1e6, tb * 1e6, tg / ts, tb / ts,
			       err);
			fprintf(csv, "%s,%d,%d,%d,%d,%.4f,%.3f,%.3f,%.3f,%.4f,%.4f,%.4g\n",
			        source, M, K, N, k, flop, ts * 1e6, tg * 1e6, tb * 1e6,
			        tg / ts, tb / ts, err);
		}
	}
	free(c);
	free(cref);
	return 1;
}

int main(void)
{
	const int n = 512;
	double t0 = now_seconds();
	openblas_set_num_threads(1);
	rng_t r;
	rng_seed(&r, 1);
	mat m[MAXMAT];
	int nm = 0;
	char msg[512];
	double *sv = malloc((size_t)n * 8);
	float *g = malloc((size_t)n * n * 4);
	if (!sv || !g)
		return 1;

	fill_normal(&r, g, (size_t)n * n);
	m[nm++] = (mat){ "gaussian", n, n, g };

	/* rank 32 (unit-variance entries) plus noise 1e-2 */
	{
		float *p = malloc((size_t)n * 32 * 4), *q = malloc((size_t)32 * n * 4),
		      *x = malloc((size_t)n * n * 4);
		if (!p || !q || !x)
			return 1;
		fill_normal(&r, p, (size_t)n * 32);
		fill_normal(&r, q, (size_t)32 * n);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, 32,
		            1.0f / sqrtf(32.0f), p, 32, q, n, 0.0f, x, n);
		for (size_t i = 0; i < (size_t)n * n; i++)
			x[i] += (float)(1e-2 * rng_normal(&r));
		free(p);
		free(q);
		m[nm++] = (mat){ "lowrank32+noise", n, n, x };
	}
	for (int i = 0; i < n; i++)
		sv[i] = pow(0.9, i);
	m[nm] = (mat){ "exp-decay 0.9^i", n, n, spectrum_matrix(&r, n, sv) };
	if (!m[nm++].x)
		return 1;
	for (int i = 0; i < n; i++)
		sv[i] = 1.0 / (i + 1);
	m[nm] = (mat){ "poly-decay 1/(i+1)", n, n, spectrum_matrix(&r, n, sv) };
	if (!m[nm++].x)
		return 1;

	float *pix = load_mnist(n, 784);
	if (!pix)
		return 1;
	m[nm++] = (mat){ "mnist pixels", n, 784, pix };

	dp_array img;
	if (dp_png_read_gray(src_path("data/chelsea.png"), &img, msg,
	                     sizeof msg) != DP_OK) {
		fprintf(stderr, "%s\n", msg);
		return 1;
	}
	m[nm++] = (mat){ "chelsea.png", (int)img.shape[0], (int)img.shape[1],
	                 img.data };

	/* the trained model, or an untrained stand-in for the speed part */
	dp_mlp model;
	const char *source = "trained";
	const char *mdir = src_path("build/study-mnist/digits");
	if (dp_mlp_load(&model, mdir, msg, sizeof msg) != DP_OK) {
		printf("note: no trained model at %s (make study-mnist): the "
		       "model's matrices are left out of the rank study and an "
		       "untrained model (seed 1) stands in for the speed part\n"
		       "      (%s)\n", mdir, msg);
		static const int dims[] = { 784, 512, 128, 10 };
		dp_rng mr;
		if (dp_mlp_alloc(&model, 4, dims, NULL) != DP_OK)
			return 1;
		dp_rng_seed(&mr, 1);
		dp_mlp_init(&model, &mr);
		source = "untrained";
	}
	if (model.nlayers < 2 || model.layer[0].rank || model.layer[1].rank ||
	    model.layer[0].in != 784) {
		fprintf(stderr, "%s: not a dense 784-... model\n", mdir);
		return 1;
	}
	float *act = activations(&model, pix, n);
	float *w2 = NULL;
	if (!act)
		return 1;
	if (strcmp(source, "trained") == 0) {
		const dp_mlp_layer *l = &model.layer[1];
		m[nm++] = (mat){ "mnist layer-1 activations", n, l->in, act };
		/* W2 in PyTorch's orientation (out x in) = B^T */
		w2 = malloc((size_t)l->in * l->out * 4);
		if (!w2)
			return 1;
		for (int i = 0; i < l->in; i++)
			for (int j = 0; j < l->out; j++)
				w2[(size_t)j * l->in + i] = l->w[(size_t)i * l->out + j];
		m[nm++] = (mat){ "layer-2 weights", l->out, l->in, w2 };
	}

	out_file fs, fe, fsp;
	if (!out_open(&fs, "docs/data/svd_spectrum.csv") ||
	    !out_open(&fe, "docs/data/svd_rank_error.csv") ||
	    !out_open(&fsp, "docs/data/svd_speed.csv"))
		return 1;
	fprintf(fs.f, "matrix,index,sigma,sigma_normalized\n");
	fprintf(fe.f, "matrix,rank,rel_error,rel_error_float\n");
	fprintf(fsp.f, "weights,m,k,n,rank,flop_speedup,svd_us,gemm_us,"
	        "openblas_us,speedup_vs_gemm,speedup_vs_openblas,rel_error\n");

	printf("relative Frobenius error of X B (B Gaussian, %d columns) with X "
	       "replaced by X_k\n", NB);
	printf("%-22s %9s %9s %9s %7s %7s %7s %7s %9s\n", "matrix", "shape",
	       "sigma_1", "s_min/s1", "k@10%", "k@1%", "k@0.1%", "full",
	       "float dif");
	int ok = 1;
	rng_t rb;
	rng_seed(&rb, 2);
	for (int i = 0; i < nm; i++) {
		ok &= study(&m[i], &rb, fs.f, fe.f);
		fflush(stdout);
	}
	ok &= speed(&model, source, act, fsp.f);
	ok &= out_close(&fs);
	ok &= out_close(&fe);
	ok &= out_close(&fsp);

	for (int i = 0; i < nm; i++)
		if (m[i].x != act && m[i].x != img.data)
			free(m[i].x);
	free(act);
	dp_array_free(&img);
	dp_mlp_free(&model);
	free(sv);
	printf("\nwrote docs/data/svd_spectrum.csv, svd_rank_error.csv, "
	       "svd_speed.csv in %.1f s\n", now_seconds() - t0);
	return ok ? 0 : 1;
}
