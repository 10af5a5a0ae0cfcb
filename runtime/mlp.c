/* mlp.c - the MNIST multilayer perceptron of issue 8: model, SVD
 * truncation, .npy save/load, IDX data, training (NLL loss, Adadelta) and
 * inference plans through the kernel contract. See mlp.h. */
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "idx.h"
#include "kernels.h"
#include "mlp.h"

static void set_msg(char *msg, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_msg(char *msg, size_t len, const char *fmt, ...)
{
	va_list ap;
	if (!msg || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
}

static double seconds_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int min_int(int a, int b)
{
	return a < b ? a : b;
}

/* ---- random numbers ---- */

void dp_rng_seed(dp_rng *r, uint64_t seed)
{
	uint64_t z = seed + 0x9E3779B97F4A7C15ull;   /* splitmix64 */
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	z ^= z >> 31;
	r->s = z ? z : 0x2545F4914F6CDD1Dull;
}

uint64_t dp_rng_next(dp_rng *r)
{
	uint64_t x = r->s;   /* xorshift64* */
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

double dp_rng_uniform(dp_rng *r)
{
	return (double)(dp_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* ---- the model ---- */

static float *zalloc(size_t n)
{
	return calloc(n ? n : 1, sizeof(float));
}

void dp_mlp_free(dp_mlp *m)
{
	if (!m)
		return;
	for (int l = 0; l < m->nlayers; l++) {
		free(m->layer[l].w);
		free(m->layer[l].p);
		free(m->layer[l].q);
		free(m->layer[l].b);
	}
	memset(m, 0, sizeof *m);
}

dp_status dp_mlp_alloc(dp_mlp *m, int ndims, const int *dims,
                       const int *ranks)
{
	memset(m, 0, sizeof *m);
	if (ndims < 2 || ndims - 1 > DP_MLP_MAX_LAYERS || !dims)
		return DP_ERR_ARG;
	for (int i = 0; i < ndims; i++)
		if (dims[i] < 1 || dims[i] > DP_MAX_DIM)
			return DP_ERR_ARG;
	m->nlayers = ndims - 1;
	for (int l = 0; l < m->nlayers; l++) {
		dp_mlp_layer *L = &m->layer[l];
		L->in = dims[l];
		L->out = dims[l + 1];
		L->rank = ranks ? ranks[l] : 0;
		if (L->rank < 0 || L->rank > min_int(L->in, L->out)) {
			dp_mlp_free(m);
			return DP_ERR_ARG;
		}
		size_t in = (size_t)L->in, out = (size_t)L->out;
		size_t k = (size_t)L->rank;
		if (k) {
			L->p = zalloc(in * k);
			L->q = zalloc(k * out);
		} else {
			L->w = zalloc(in * out);
		}
		L->b = zalloc(out);
		if ((k ? !L->p || !L->q : !L->w) || !L->b) {
			dp_mlp_free(m);
			return DP_ERR_NOMEM;
		}
	}
	return DP_OK;
}

static void shape_of(const dp_mlp *m, int *dims, int *ranks)
{
	for (int l = 0; l < m->nlayers; l++) {
		dims[l] = m->layer[l].in;
		dims[l + 1] = m->layer[l].out;
		ranks[l] = m->layer[l].rank;
	}
}

dp_status dp_mlp_alloc_like(dp_mlp *m, const dp_mlp *src)
{
	int dims[DP_MLP_MAX_LAYERS + 1], ranks[DP_MLP_MAX_LAYERS];
	shape_of(src, dims, ranks);
	return dp_mlp_alloc(m, src->nlayers + 1, dims, ranks);
}

int dp_mlp_tensors(const dp_mlp *m, float **ptr, int64_t *len)
{
	int n = 0;
	for (int l = 0; l < m->nlayers; l++) {
		const dp_mlp_layer *L = &m->layer[l];
		const int64_t in = L->in, out = L->out, k = L->rank;
		if (k) {
			ptr[n] = L->p;
			len[n++] = in * k;
			ptr[n] = L->q;
			len[n++] = k * out;
		} else {
			ptr[n] = L->w;
			len[n++] = in * out;
		}
		ptr[n] = L->b;
		len[n++] = out;
	}
	return n;
}

dp_status dp_mlp_copy(dp_mlp *dst, const dp_mlp *src)
{
	dp_status st = dp_mlp_alloc_like(dst, src);
	if (st != DP_OK)
		return st;
	float *ps[3 * DP_MLP_MAX_LAYERS], *pd[3 * DP_MLP_MAX_LAYERS];
	int64_t ls[3 * DP_MLP_MAX_LAYERS], ld[3 * DP_MLP_MAX_LAYERS];
	int n = dp_mlp_tensors(src, ps, ls);
	dp_mlp_tensors(dst, pd, ld);
	for (int i = 0; i < n; i++)
		memcpy(pd[i], ps[i], (size_t)ls[i] * sizeof(float));
	return DP_OK;
}

int64_t dp_mlp_param_count(const dp_mlp *m)
{
	float *p[3 * DP_MLP_MAX_LAYERS];
	int64_t len[3 * DP_MLP_MAX_LAYERS], s = 0;
	int n = dp_mlp_tensors(m, p, len);
	for (int i = 0; i < n; i++)
		s += len[i];
	return s;
}

static void fill_uniform(dp_rng *rng, float *x, size_t n, double bound)
{
	for (size_t i = 0; i < n; i++)
		x[i] = (float)((2.0 * dp_rng_uniform(rng) - 1.0) * bound);
}

void dp_mlp_init(dp_mlp *m, dp_rng *rng)
{
	for (int l = 0; l < m->nlayers; l++) {
		dp_mlp_layer *L = &m->layer[l];
		const size_t in = (size_t)L->in, out = (size_t)L->out;
		const size_t k = (size_t)L->rank;
		const double bound = 1.0 / sqrt((double)L->in);
		if (k) {
			fill_uniform(rng, L->p, in * k, bound);
			fill_uniform(rng, L->q, k * out, 1.0 / sqrt((double)k));
		} else {
			fill_uniform(rng, L->w, in * out, bound);
		}
		fill_uniform(rng, L->b, out, bound);
	}
}

double dp_mlp_layer_ratio(int in, int out, int k)
{
	const double full = (double)in * out + out;
	if (k == 0)
		return 1.0;
	return (double)k * (in + out + 1) / full;
}

double dp_mlp_ratio(const dp_mlp *m)
{
	double num = 0, den = 0;
	for (int l = 0; l < m->nlayers; l++) {
		const dp_mlp_layer *L = &m->layer[l];
		const double full = (double)L->in * L->out + L->out;
		num += L->rank ? (double)L->rank * (L->in + L->out + 1) : full;
		den += full;
	}
	return num / den;
}

int dp_mlp_rank_for_ratio(int in, int out, double r)
{
	const double k = floor(r * ((double)in * out + out) /
	                       (double)(in + out + 1) + 1e-9);
	const int mn = min_int(in, out);
	if (!(k >= 1))
		return 1;
	return k > mn ? mn : (int)k;
}

/* c (m x n) = a (m x k) b (k x n), all row-major, cblas. */
static void sgemm_nn(int m, int k, int n, const float *a, const float *b,
                     float *c)
{
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f,
	            a, k, b, n, 0.0f, c, n);
}

dp_status dp_mlp_densify(const dp_mlp *src, dp_mlp *dst)
{
	int dims[DP_MLP_MAX_LAYERS + 1], ranks[DP_MLP_MAX_LAYERS];
	shape_of(src, dims, ranks);
	dp_status st = dp_mlp_alloc(dst, src->nlayers + 1, dims, NULL);
	if (st != DP_OK)
		return st;
	for (int l = 0; l < src->nlayers; l++) {
		const dp_mlp_layer *S = &src->layer[l];
		dp_mlp_layer *D = &dst->layer[l];
		const size_t in = (size_t)S->in, out = (size_t)S->out;
		if (S->rank)
			sgemm_nn(S->in, S->rank, S->out, S->p, S->q, D->w);
		else
			memcpy(D->w, S->w, in * out * sizeof(float));
		memcpy(D->b, S->b, out * sizeof(float));
	}
	return DP_OK;
}

dp_status dp_mlp_truncate(const dp_mlp *src, const int *ranks, dp_mlp *dst,
                          double *err)
{
	int dims[DP_MLP_MAX_LAYERS + 1], r0[DP_MLP_MAX_LAYERS];
	shape_of(src, dims, r0);
	dp_mlp dense;
	dp_status st = dp_mlp_densify(src, &dense);
	if (st != DP_OK)
		return st;
	st = dp_mlp_alloc(dst, src->nlayers + 1, dims, ranks);
	for (int l = 0; st == DP_OK && l < src->nlayers; l++) {
		const dp_mlp_layer *S = &dense.layer[l];
		dp_mlp_layer *D = &dst->layer[l];
		const size_t in = (size_t)S->in, out = (size_t)S->out;
		memcpy(D->b, S->b, out * sizeof(float));
		if (!D->rank) {
			memcpy(D->w, S->w, in * out * sizeof(float));
			if (err)
				err[l] = 0.0;
			continue;
		}
		st = dp_svd_factors(S->in, S->out, S->w, D->rank, D->p, D->q);
		if (st != DP_OK || !err)
			continue;
		float *wk = malloc(in * out * sizeof *wk);
		if (!wk) {
			st = DP_ERR_NOMEM;
			continue;
		}
		sgemm_nn(S->in, D->rank, S->out, D->p, D->q, wk);
		double num = 0, den = 0;
		for (size_t i = 0; i < in * out; i++) {
			const double d = (double)S->w[i] - wk[i];
			num += d * d;
			den += (double)S->w[i] * S->w[i];
		}
		err[l] = den > 0 ? sqrt(num / den) : 0.0;
		free(wk);
	}
	dp_mlp_free(&dense);
	if (st != DP_OK)
		dp_mlp_free(dst);
	return st;
}

/* ---- save / load ---- */

static void transpose(int rows, int cols, const float *src, float *dst)
{
	for (int i = 0; i < rows; i++)
		for (int j = 0; j < cols; j++)
			dst[(size_t)j * rows + i] = src[(size_t)i * cols + j];
}

/* Write rows x cols x^T (x is cols x rows in memory) as path. */
static dp_status write_t(const char *dir, const char *name, int l,
                         int rows, int cols, const float *x, int transposed,
                         char *msg, size_t msg_len)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s%d.npy", dir, name, l + 1);
	dp_array a = { .ndim = rows ? 2 : 1 };
	if (rows) {
		a.shape[0] = rows;
		a.shape[1] = cols;
	} else {
		a.shape[0] = cols;
	}
	const size_t n = (size_t)(rows ? rows : 1) * (size_t)cols;
	a.data = malloc(n * sizeof(float));
	if (!a.data)
		return DP_ERR_NOMEM;
	if (transposed)
		transpose(cols, rows, x, a.data);
	else
		memcpy(a.data, x, n * sizeof(float));
	dp_status st = dp_npy_write(path, &a, msg, msg_len);
	free(a.data);
	return st;
}

dp_status dp_mlp_save(const dp_mlp *m, const char *dir, char *msg,
                      size_t msg_len)
{
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		set_msg(msg, msg_len, "%s: cannot create the directory: %s",
		        dir, strerror(errno));
		return DP_ERR_IO;
	}
	dp_status st = DP_OK;
	for (int l = 0; st == DP_OK && l < m->nlayers; l++) {
		const dp_mlp_layer *L = &m->layer[l];
		if (L->rank) {
			st = write_t(dir, "u", l, L->out, L->rank, L->q, 1, msg,
			             msg_len);
			if (st == DP_OK)
				st = write_t(dir, "v", l, L->rank, L->in, L->p, 1,
				             msg, msg_len);
		} else {
			st = write_t(dir, "w", l, L->out, L->in, L->w, 1, msg,
			             msg_len);
		}
		if (st == DP_OK)
			st = write_t(dir, "b", l, 0, L->out, L->b, 0, msg, msg_len);
	}
	return st;
}

static int exists(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0;
}

static dp_status read_2d(const char *dir, const char *name, int l,
                         dp_array *a, char *msg, size_t msg_len)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s%d.npy", dir, name, l + 1);
	dp_status st = dp_npy_read(path, a, msg, msg_len);
	if (st == DP_OK && a->ndim != 2) {
		set_msg(msg, msg_len, "%s: expected a 2-d array", path);
		dp_array_free(a);
		return DP_ERR_FORMAT;
	}
	return st;
}

dp_status dp_mlp_load(dp_mlp *m, const char *dir, char *msg, size_t msg_len)
{
	memset(m, 0, sizeof *m);
	dp_array b[DP_MLP_MAX_LAYERS], w[DP_MLP_MAX_LAYERS][2];
	int n = 0, dense[DP_MLP_MAX_LAYERS];
	int dims[DP_MLP_MAX_LAYERS + 1], ranks[DP_MLP_MAX_LAYERS];
	dp_status st = DP_OK;
	memset(b, 0, sizeof b);
	memset(w, 0, sizeof w);
	char path[4096];
	for (;;) {
		snprintf(path, sizeof path, "%s/b%d.npy", dir, n + 1);
		if (!exists(path))
			break;
		if (n == DP_MLP_MAX_LAYERS) {
			set_msg(msg, msg_len, "%s: more than %d layers", dir,
			        DP_MLP_MAX_LAYERS);
			st = DP_ERR_FORMAT;
			goto out;
		}
		st = dp_npy_read(path, &b[n], msg, msg_len);
		if (st != DP_OK)
			goto out;
		snprintf(path, sizeof path, "%s/w%d.npy", dir, n + 1);
		dense[n] = exists(path);
		if (dense[n]) {
			st = read_2d(dir, "w", n, &w[n][0], msg, msg_len);
		} else {
			st = read_2d(dir, "u", n, &w[n][0], msg, msg_len);
			if (st == DP_OK)
				st = read_2d(dir, "v", n, &w[n][1], msg, msg_len);
		}
		n++;
		if (st != DP_OK)
			goto out;
	}
	if (n == 0) {
		set_msg(msg, msg_len, "%s: no model here (b1.npy is missing)",
		        dir);
		st = DP_ERR_IO;
		goto out;
	}
	for (int l = 0; l < n; l++) {
		const int64_t out = b[l].shape[0];
		int64_t in, k = 0;
		if (dense[l]) {
			in = w[l][0].shape[1];
			if (w[l][0].shape[0] != out)
				goto shape;
		} else {
			k = w[l][0].shape[1];
			in = w[l][1].shape[1];
			if (w[l][0].shape[0] != out || w[l][1].shape[0] != k)
				goto shape;
		}
		if (b[l].ndim != 1 || (l > 0 && in != dims[l]))
			goto shape;
		if (in > DP_MAX_DIM || out > DP_MAX_DIM || k > DP_MAX_DIM)
			goto shape;
		dims[l] = (int)in;
		dims[l + 1] = (int)out;
		ranks[l] = (int)k;
	}
	st = dp_mlp_alloc(m, n + 1, dims, ranks);
	if (st != DP_OK) {
		set_msg(msg, msg_len, "%s: bad layer sizes or out of memory",
		        dir);
		goto out;
	}
	for (int l = 0; l < n; l++) {
		dp_mlp_layer *L = &m->layer[l];
		if (dense[l]) {
			transpose(L->out, L->in, w[l][0].data, L->w);
		} else {
			transpose(L->out, L->rank, w[l][0].data, L->q);
			transpose(L->rank, L->in, w[l][1].data, L->p);
		}
		memcpy(L->b, b[l].data, (size_t)L->out * sizeof(float));
	}
	goto out;
shape:
	set_msg(msg, msg_len, "%s: the tensors' shapes do not fit together "
	        "(w: out x in, u: out x k, v: k x in, b: out)", dir);
	st = DP_ERR_FORMAT;
out:
	for (int l = 0; l < DP_MLP_MAX_LAYERS; l++) {
		dp_array_free(&b[l]);
		dp_array_free(&w[l][0]);
		dp_array_free(&w[l][1]);
	}
	return st;
}

/* ---- data ---- */

void dp_dataset_free(dp_dataset *d)
{
	if (!d)
		return;
	free(d->x);
	free(d->y);
	memset(d, 0, sizeof *d);
}

static dp_status read_idx_gz(const char *path, dp_idx *a, char *msg,
                             size_t msg_len)
{
	char alt[4096];
	if (!exists(path)) {
		snprintf(alt, sizeof alt, "%s.gz", path);
		if (exists(alt))
			path = alt;
	}
	return dp_idx_read(path, a, msg, msg_len);
}

dp_status dp_dataset_load(dp_dataset *d, const char *images,
                          const char *labels, char *msg, size_t msg_len)
{
	dp_idx xi = { 0 }, yi = { 0 };
	dp_array xa = { 0 }, ya = { 0 };
	memset(d, 0, sizeof *d);
	dp_status st = read_idx_gz(images, &xi, msg, msg_len);
	if (st == DP_OK)
		st = read_idx_gz(labels, &yi, msg, msg_len);
	if (st != DP_OK)
		goto out;
	if (xi.ndim < 2 || yi.ndim != 1 || xi.dims[0] != yi.dims[0]) {
		set_msg(msg, msg_len, "%s, %s: expected N images and N labels",
		        images, labels);
		st = DP_ERR_FORMAT;
		goto out;
	}
	st = dp_idx_to_array(&xi, 1.0 / 255.0, &xa, msg, msg_len);
	if (st == DP_OK)
		st = dp_idx_to_array(&yi, 1.0, &ya, msg, msg_len);
	if (st != DP_OK)
		goto out;
	const int64_t n = xi.dims[0], dim = dp_idx_elems(&xi) / n;
	d->y = malloc((size_t)n * sizeof *d->y);
	if (!d->y) {
		st = DP_ERR_NOMEM;
		goto out;
	}
	for (int64_t i = 0; i < n; i++) {
		const float v = ya.data[i];
		if (!(v >= 0 && v <= 255) || v != floorf(v)) {
			set_msg(msg, msg_len, "%s: label %lld is %g, not a class "
			        "number 0..255", labels, (long long)i, (double)v);
			st = DP_ERR_FORMAT;
			goto out;
		}
		d->y[i] = (int)v;
		if (d->y[i] + 1 > d->classes)
			d->classes = d->y[i] + 1;
	}
	for (int64_t i = 0; i < n * dim; i++)
		xa.data[i] = (float)((xa.data[i] - DP_MNIST_MEAN) /
		                     DP_MNIST_STD);
	d->x = xa.data;
	xa.data = NULL;
	d->n = (int)n;
	d->dim = (int)dim;
	if (xi.ndim == 3) {
		d->h = (int)xi.dims[1];
		d->w = (int)xi.dims[2];
	}
out:
	dp_idx_free(&xi);
	dp_idx_free(&yi);
	dp_array_free(&xa);
	dp_array_free(&ya);
	if (st != DP_OK)
		dp_dataset_free(d);
	return st;
}

/* ---- buffers that grow ---- */

typedef struct buf {
	void *p;
	size_t n;
} buf;

static void *grow(buf *b, size_t bytes)
{
	if (bytes == 0)
		bytes = 1;
	if (bytes > b->n) {
		free(b->p);
		b->p = malloc(bytes);
		b->n = b->p ? bytes : 0;
	}
	return b->p;
}

/* ---- training ---- */

typedef struct grad_ctx {
	buf act[DP_MLP_MAX_LAYERS + 1]; /* act[l]: input of layer l (M x in);
	                                 * act[L]: logits */
	buf t[DP_MLP_MAX_LAYERS];       /* X P of factorized layers */
	buf d1, d2, dt;                 /* deltas */
	buf state, ws;                  /* the GEMM kernel's */
} grad_ctx;

static void ctx_free(grad_ctx *c)
{
	for (int l = 0; l <= DP_MLP_MAX_LAYERS; l++)
		free(c->act[l].p);
	for (int l = 0; l < DP_MLP_MAX_LAYERS; l++)
		free(c->t[l].p);
	free(c->d1.p);
	free(c->d2.p);
	free(c->dt.p);
	free(c->state.p);
	free(c->ws.p);
}

/* C (M x N) = A (M x K) B (K x N) through the generic GEMM kernel,
 * prepared for B on the spot. */
static dp_status kernel_gemm(grad_ctx *c, int M, int K, int N,
                             const float *a, const float *b, float *out)
{
	dp_desc d;
	memset(&d, 0, sizeof d);
	d.op = DP_OP_MATMUL;
	d.algo = DP_ALGO_GEMM;
	d.precision = DP_PREC_FP32;
	d.mm_m = M;
	d.mm_k = K;
	d.mm_n = N;
	const dp_kernel *k = &dp_matmul_gemm_generic;
	void *st = grow(&c->state, k->state_bytes(&d));
	void *ws = grow(&c->ws, k->workspace_bytes(&d));
	if (!st || !ws)
		return DP_ERR_NOMEM;
	dp_status s = k->prepare(&d, b, NULL, st);
	return s == DP_OK ? k->execute(&d, st, a, out, ws) : s;
}

static void add_bias_relu(float *z, const float *b, int M, int N, int relu)
{
	for (int i = 0; i < M; i++) {
		float *r = z + (size_t)i * N;
		for (int j = 0; j < N; j++) {
			const float v = r[j] + b[j];
			r[j] = relu && v < 0.0f ? 0.0f : v;
		}
	}
}

static dp_status grad_impl(grad_ctx *c, const dp_mlp *m, const float *x,
                           const int *y, int M, dp_mlp *g, double *loss,
                           int *correct)
{
	const int L = m->nlayers;
	const float *a = x;
	int maxdim = m->layer[0].in;
	for (int l = 0; l < L; l++) {
		const dp_mlp_layer *ly = &m->layer[l];
		float *z = grow(&c->act[l + 1],
		                (size_t)M * (size_t)ly->out * sizeof(float));
		if (!z)
			return DP_ERR_NOMEM;
		dp_status st;
		if (ly->rank) {
			float *t = grow(&c->t[l], (size_t)M * (size_t)ly->rank *
			                          sizeof(float));
			if (!t)
				return DP_ERR_NOMEM;
			st = kernel_gemm(c, M, ly->in, ly->rank, a, ly->p, t);
			if (st == DP_OK)
				st = kernel_gemm(c, M, ly->rank, ly->out, t, ly->q, z);
		} else {
			st = kernel_gemm(c, M, ly->in, ly->out, a, ly->w, z);
		}
		if (st != DP_OK)
			return st;
		add_bias_relu(z, ly->b, M, ly->out, l + 1 < L);
		a = z;
		if (ly->out > maxdim)
			maxdim = ly->out;
	}
	/* log-softmax, NLL, and the delta of the logits */
	const int C = m->layer[L - 1].out;
	float *dz = grow(&c->d1, (size_t)M * (size_t)maxdim * sizeof(float));
	float *da = grow(&c->d2, (size_t)M * (size_t)maxdim * sizeof(float));
	if (!dz || !da)
		return DP_ERR_NOMEM;
	double sum = 0;
	int hits = 0;
	for (int i = 0; i < M; i++) {
		const float *zi = a + (size_t)i * C;
		int best = 0;
		for (int j = 1; j < C; j++)
			if (zi[j] > zi[best])
				best = j;
		if (y[i] < 0 || y[i] >= C)
			return DP_ERR_ARG;
		hits += best == y[i];
		double s = 0;
		for (int j = 0; j < C; j++)
			s += exp((double)zi[j] - zi[best]);
		const double lse = zi[best] + log(s);
		sum += lse - zi[y[i]];
		for (int j = 0; j < C; j++)
			dz[(size_t)i * C + j] = (float)((exp(zi[j] - lse) -
			                                 (j == y[i])) / M);
	}
	if (loss)
		*loss = sum / M;
	if (correct)
		*correct = hits;
	/* backward */
	for (int l = L - 1; l >= 0; l--) {
		const dp_mlp_layer *ly = &m->layer[l];
		dp_mlp_layer *gl = &g->layer[l];
		const int in = ly->in, out = ly->out, k = ly->rank;
		const float *al = l ? c->act[l].p : x;
		for (int j = 0; j < out; j++)
			gl->b[j] = 0.0f;
		for (int i = 0; i < M; i++)
			for (int j = 0; j < out; j++)
				gl->b[j] += dz[(size_t)i * out + j];
		if (k) {
			float *dt = grow(&c->dt, (size_t)M * (size_t)k *
			                         sizeof(float));
			if (!dt)
				return DP_ERR_NOMEM;
			const float *t = c->t[l].p;
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, out,
			            M, 1.0f, t, k, dz, out, 0.0f, gl->q, out);
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, k,
			            out, 1.0f, dz, out, ly->q, out, 0.0f, dt, k);
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, in, k,
			            M, 1.0f, al, in, dt, k, 0.0f, gl->p, k);
			if (l > 0)
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M,
				            in, k, 1.0f, dt, k, ly->p, k, 0.0f, da,
				            in);
		} else {
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, in, out,
			            M, 1.0f, al, in, dz, out, 0.0f, gl->w, out);
			if (l > 0)
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M,
				            in, out, 1.0f, dz, out, ly->w, out, 0.0f,
				            da, in);
		}
		if (l == 0)
			break;
		/* through the ReLU: act[l] is its output */
		for (size_t i = 0; i < (size_t)M * (size_t)in; i++)
			if (!(al[i] > 0.0f))
				da[i] = 0.0f;
		float *tmp = dz;
		dz = da;
		da = tmp;
	}
	return DP_OK;
}

dp_status dp_mlp_grad(const dp_mlp *m, const float *x, const int *y, int M,
                      dp_mlp *g, double *loss, int *correct)
{
	grad_ctx c;
	memset(&c, 0, sizeof c);
	if (M < 1 || m->nlayers < 1 || g->nlayers != m->nlayers)
		return DP_ERR_ARG;
	dp_status st = grad_impl(&c, m, x, y, M, g, loss, correct);
	ctx_free(&c);
	return st;
}

dp_status dp_adadelta_init(dp_adadelta *o, const dp_mlp *m, double lr,
                           double rho, double eps)
{
	memset(o, 0, sizeof *o);
	o->lr = lr;
	o->rho = rho;
	o->eps = eps;
	dp_status st = dp_mlp_alloc_like(&o->sq_grad, m);
	if (st == DP_OK)
		st = dp_mlp_alloc_like(&o->sq_delta, m);
	if (st != DP_OK)
		dp_adadelta_free(o);
	return st;
}

void dp_adadelta_free(dp_adadelta *o)
{
	dp_mlp_free(&o->sq_grad);
	dp_mlp_free(&o->sq_delta);
}

/* torch.optim.Adadelta: v = rho v + (1 - rho) g^2;
 * d = sqrt(u + eps) / sqrt(v + eps) g; u = rho u + (1 - rho) d^2;
 * x -= lr d. */
void dp_adadelta_step(dp_adadelta *o, dp_mlp *m, const dp_mlp *g)
{
	float *px[3 * DP_MLP_MAX_LAYERS], *pg[3 * DP_MLP_MAX_LAYERS];
	float *pv[3 * DP_MLP_MAX_LAYERS], *pu[3 * DP_MLP_MAX_LAYERS];
	int64_t len[3 * DP_MLP_MAX_LAYERS], l2[3 * DP_MLP_MAX_LAYERS];
	const int n = dp_mlp_tensors(m, px, len);
	dp_mlp_tensors(g, pg, l2);
	dp_mlp_tensors(&o->sq_grad, pv, l2);
	dp_mlp_tensors(&o->sq_delta, pu, l2);
	const float rho = (float)o->rho, eps = (float)o->eps;
	const float lr = (float)o->lr;
	for (int t = 0; t < n; t++) {
		float *x = px[t], *v = pv[t], *u = pu[t];
		const float *gr = pg[t];
		for (int64_t i = 0; i < len[t]; i++) {
			const float gi = gr[i];
			v[i] = rho * v[i] + (1.0f - rho) * gi * gi;
			const float d = sqrtf(u[i] + eps) / sqrtf(v[i] + eps) * gi;
			u[i] = rho * u[i] + (1.0f - rho) * d * d;
			x[i] -= lr * d;
		}
	}
}

static void draw_bar(const char *label, int done, int total, double loss,
                     double acc, double secs, int final)
{
	enum { WIDTH = 30 };
	char bar[WIDTH + 1];
	const int fill = total ? (int)((long long)done * WIDTH / total) : WIDTH;
	for (int i = 0; i < WIDTH; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[WIDTH] = '\0';
	fprintf(stderr, "\r%s [%s] %d/%d loss %.4f acc %6.2f%% %.1fs%s",
	        label, bar, done, total, loss, 100.0 * acc, secs,
	        final ? "\n" : "");
	fflush(stderr);
}

/* dst = image src (h x w) moved by (dy, dx), background bg. */
static void shift_image(const float *src, float *dst, int h, int w, int dy,
                        int dx, float bg)
{
	for (int y = 0; y < h; y++) {
		const int sy = y - dy;
		for (int x = 0; x < w; x++) {
			const int sx = x - dx;
			dst[y * w + x] = sy >= 0 && sy < h && sx >= 0 && sx < w ?
			                 src[sy * w + sx] : bg;
		}
	}
}

dp_status dp_mlp_train_epoch(dp_mlp *m, dp_adadelta *o, const dp_dataset *d,
                             int batch, int shift, dp_rng *rng,
                             const char *progress, dp_epoch_stats *stats)
{
	if (batch < 1 || d->n < 1 || d->dim != m->layer[0].in || shift < 0 ||
	    (shift && (d->h < 1 || (int64_t)d->h * d->w != d->dim)))
		return DP_ERR_ARG;
	const float bg = (float)((0.0 - DP_MNIST_MEAN) / DP_MNIST_STD);
	const double t0 = seconds_now();
	const int n = d->n, dim = d->dim;
	int *order = malloc((size_t)n * sizeof *order);
	float *xb = malloc((size_t)batch * (size_t)dim * sizeof *xb);
	int *yb = malloc((size_t)batch * sizeof *yb);
	dp_mlp g;
	memset(&g, 0, sizeof g);
	dp_status st = order && xb && yb ? dp_mlp_alloc_like(&g, m)
	                                 : DP_ERR_NOMEM;
	grad_ctx c;
	memset(&c, 0, sizeof c);
	double loss_sum = 0;
	long long hits = 0, seen = 0;
	const int nb = (n + batch - 1) / batch;
	const int every = nb / 40 > 1 ? nb / 40 : 1;
	if (st == DP_OK) {
		for (int i = 0; i < n; i++)
			order[i] = i;
		for (int i = n - 1; i > 0; i--) {
			const int j = (int)(dp_rng_next(rng) % (uint64_t)(i + 1));
			const int tmp = order[i];
			order[i] = order[j];
			order[j] = tmp;
		}
	}
	for (int bi = 0; st == DP_OK && bi < nb; bi++) {
		const int start = bi * batch;
		const int M = min_int(batch, n - start);
		for (int i = 0; i < M; i++) {
			const float *src = d->x + (size_t)order[start + i] * dim;
			if (shift) {
				const uint64_t span = 2 * (uint64_t)shift + 1;
				const int dy = (int)(dp_rng_next(rng) % span) - shift;
				const int dx = (int)(dp_rng_next(rng) % span) - shift;
				shift_image(src, xb + (size_t)i * dim, d->h, d->w, dy,
				            dx, bg);
			} else {
				memcpy(xb + (size_t)i * dim, src,
				       (size_t)dim * sizeof *xb);
			}
			yb[i] = d->y[order[start + i]];
		}
		double loss;
		int correct;
		st = grad_impl(&c, m, xb, yb, M, &g, &loss, &correct);
		if (st != DP_OK)
			break;
		dp_adadelta_step(o, m, &g);
		loss_sum += loss * M;
		hits += correct;
		seen += M;
		if (progress && (bi % every == 0 || bi == nb - 1))
			draw_bar(progress, bi + 1, nb, loss_sum / seen,
			         (double)hits / seen, seconds_now() - t0,
			         bi == nb - 1);
	}
	if (stats && seen) {
		stats->loss = loss_sum / seen;
		stats->accuracy = (double)hits / seen;
		stats->seconds = seconds_now() - t0;
	}
	ctx_free(&c);
	dp_mlp_free(&g);
	free(order);
	free(xb);
	free(yb);
	return st;
}

/* ---- inference plans ---- */

enum { K_MAIN, K_SECOND, K_REBUILD, K_COUNT };

typedef struct plan_layer {
	int in, out, rank;
	int kind;           /* dp_mlp_mode for this layer: DENSE for a
	                     * dense layer whatever the plan's mode */
	dp_desc d[K_COUNT];
	const dp_kernel *k[K_COUNT];
	void *state[K_COUNT];
	float *bias;
	float *p;           /* REBUILD: P (in x k), the rebuild's A */
	float *w;           /* REBUILD: W = P Q (in x out) */
	float *sigma;       /* FACTORS: the k singular values */
} plan_layer;

struct dp_mlp_plan {
	int M, nlayers, in, classes;
	plan_layer layer[DP_MLP_MAX_LAYERS];
	void *ws;
	float *h[2];
	float *t;
};

const char *dp_mlp_mode_name(dp_mlp_mode mode)
{
	switch (mode) {
	case DP_MLP_DENSE: return "dense";
	case DP_MLP_REBUILD: return "rebuild";
	case DP_MLP_FACTORS: return "factors";
	case DP_MLP_FUSED: return "fused";
	}
	return "?";
}

void dp_mlp_plan_free(dp_mlp_plan *p)
{
	if (!p)
		return;
	for (int l = 0; l < p->nlayers; l++) {
		plan_layer *L = &p->layer[l];
		for (int i = 0; i < K_COUNT; i++)
			free(L->state[i]);
		free(L->bias);
		free(L->p);
		free(L->w);
		free(L->sigma);
	}
	free(p->ws);
	free(p->h[0]);
	free(p->h[1]);
	free(p->t);
	free(p);
}

static dp_desc mm_desc(dp_algo algo, int M, int K, int N, int rank_b)
{
	dp_desc d;
	memset(&d, 0, sizeof d);
	d.op = DP_OP_MATMUL;
	d.algo = algo;
	d.precision = DP_PREC_FP32;
	d.mm_m = M;
	d.mm_k = K;
	d.mm_n = N;
	d.rank_b = rank_b;
	return d;
}

/* Set up kernel slot i of L for d, and prepare it with weights b (NULL:
 * prepared at run time). *ws_max grows to its workspace. */
typedef struct kernel_src {
	dp_mlp_kernel_fn find;   /* NULL: dp_generic_kernel */
	void *ctx;
} kernel_src;

static dp_status slot(plan_layer *L, int i, dp_desc d, const float *b,
                      const kernel_src *src, size_t *ws_max)
{
	L->d[i] = d;
	if (dp_desc_check(&d, NULL, 0) != DP_OK)
		return DP_ERR_UNSUPPORTED;
	L->k[i] = src->find ? src->find(&d, src->ctx) : dp_generic_kernel(&d);
	if (!L->k[i])
		return DP_ERR_UNSUPPORTED;
	const size_t sb = L->k[i]->state_bytes(&d);
	L->state[i] = malloc(sb ? sb : 1);
	if (!L->state[i])
		return DP_ERR_NOMEM;
	const size_t wb = L->k[i]->workspace_bytes(&d);
	if (wb > *ws_max)
		*ws_max = wb;
	return b ? L->k[i]->prepare(&d, b, NULL, L->state[i]) : DP_OK;
}

static dp_status plan_layer_init(plan_layer *L, const dp_mlp_layer *ly,
                                 dp_mlp_mode mode, int M,
                                 const kernel_src *src, size_t *ws_max)
{
	const int in = ly->in, out = ly->out;
	const size_t nw = (size_t)in * (size_t)out;
	L->in = in;
	L->out = out;
	L->rank = ly->rank;
	L->kind = ly->rank ? (int)mode : DP_MLP_DENSE;
	L->bias = malloc((size_t)out * sizeof(float));
	if (!L->bias)
		return DP_ERR_NOMEM;
	memcpy(L->bias, ly->b, (size_t)out * sizeof(float));
	/* B = W^T in x out: the layer's own, or P Q multiplied out */
	float *bw = NULL;
	const float *bconst = ly->w;
	if (ly->rank && L->kind != DP_MLP_REBUILD) {
		bw = malloc(nw * sizeof *bw);
		if (!bw)
			return DP_ERR_NOMEM;
		sgemm_nn(in, ly->rank, out, ly->p, ly->q, bw);
		bconst = bw;
	}
	const int k = ly->rank;
	dp_status st = DP_OK;
	switch (L->kind) {
	case DP_MLP_DENSE:
		st = slot(L, K_MAIN, mm_desc(DP_ALGO_GEMM, M, in, out, 0),
		          bconst, src, ws_max);
		break;
	case DP_MLP_REBUILD:
		L->p = malloc((size_t)in * (size_t)k * sizeof(float));
		L->w = malloc(nw * sizeof(float));
		if (!L->p || !L->w) {
			st = DP_ERR_NOMEM;
			break;
		}
		memcpy(L->p, ly->p, (size_t)in * (size_t)k * sizeof(float));
		st = slot(L, K_REBUILD, mm_desc(DP_ALGO_GEMM, in, k, out, 0),
		          ly->q, src, ws_max);
		if (st == DP_OK)
			st = slot(L, K_MAIN, mm_desc(DP_ALGO_GEMM, M, in, out, 0),
			          NULL, src, ws_max);
		break;
	case DP_MLP_FACTORS: {
		/* B = U S V^T: U (in x k) and V^T (k x out) as two GEMMs, S
		 * between them. dp_svd_factors gives U S; S_j is the norm of
		 * its column j (U has orthonormal columns). */
		float *us = malloc((size_t)in * (size_t)k * sizeof *us);
		float *vt = malloc((size_t)k * (size_t)out * sizeof *vt);
		L->sigma = malloc((size_t)k * sizeof(float));
		if (!us || !vt || !L->sigma)
			st = DP_ERR_NOMEM;
		if (st == DP_OK)
			st = dp_svd_factors(in, out, bconst, k, us, vt);
		if (st == DP_OK) {
			for (int j = 0; j < k; j++) {
				double s = 0;
				for (int i = 0; i < in; i++)
					s += (double)us[(size_t)i * k + j] *
					     us[(size_t)i * k + j];
				s = sqrt(s);
				L->sigma[j] = (float)s;
				const float inv = s > 0 ? (float)(1.0 / s) : 0.0f;
				for (int i = 0; i < in; i++)
					us[(size_t)i * k + j] *= inv;
			}
			st = slot(L, K_MAIN, mm_desc(DP_ALGO_GEMM, M, in, k, 0),
			          us, src, ws_max);
		}
		if (st == DP_OK)
			st = slot(L, K_SECOND, mm_desc(DP_ALGO_GEMM, M, k, out, 0),
			          vt, src, ws_max);
		free(us);
		free(vt);
		break;
	}
	case DP_MLP_FUSED:
		st = slot(L, K_MAIN, mm_desc(DP_ALGO_SVD, M, in, out, k), bconst,
		          src, ws_max);
		break;
	}
	free(bw);
	return st;
}

dp_status dp_mlp_plan_new(const dp_mlp *m, dp_mlp_mode mode, int M,
                          dp_mlp_plan **out)
{
	return dp_mlp_plan_new_with(m, mode, M, NULL, NULL, out);
}

void dp_mlp_plan_kernels(const dp_mlp_plan *p, char *names, size_t len)
{
	/* in the order they run: REBUILD, MAIN, SECOND */
	static const int order[K_COUNT] = { K_REBUILD, K_MAIN, K_SECOND };
	if (!len)
		return;
	names[0] = '\0';
	for (int l = 0; l < p->nlayers; l++)
		for (int i = 0; i < K_COUNT; i++) {
			const dp_kernel *k = p->layer[l].k[order[i]];
			const size_t n = strlen(names);
			if (k)
				snprintf(names + n, len - n, "%s%s", n ? "," : "",
				         k->name);
		}
}

dp_status dp_mlp_plan_new_with(const dp_mlp *m, dp_mlp_mode mode, int M,
                               dp_mlp_kernel_fn find, void *ctx,
                               dp_mlp_plan **out)
{
	const kernel_src src = { find, ctx };
	*out = NULL;
	if (M < 1 || m->nlayers < 1 || (int)mode < 0 || mode > DP_MLP_FUSED)
		return DP_ERR_ARG;
	dp_mlp_plan *p = calloc(1, sizeof *p);
	if (!p)
		return DP_ERR_NOMEM;
	p->M = M;
	p->in = m->layer[0].in;
	p->classes = m->layer[m->nlayers - 1].out;
	size_t ws_max = 0;
	int hmax = 1, tmax = 1;
	dp_status st = DP_OK;
	for (int l = 0; l < m->nlayers && st == DP_OK; l++) {
		p->nlayers = l + 1;
		st = plan_layer_init(&p->layer[l], &m->layer[l], mode, M, &src,
		                     &ws_max);
		if (m->layer[l].out > hmax)
			hmax = m->layer[l].out;
		if (m->layer[l].rank > tmax)
			tmax = m->layer[l].rank;
	}
	if (st == DP_OK) {
		p->ws = malloc(ws_max ? ws_max : 1);
		p->h[0] = malloc((size_t)M * (size_t)hmax * sizeof(float));
		p->h[1] = malloc((size_t)M * (size_t)hmax * sizeof(float));
		p->t = malloc((size_t)M * (size_t)tmax * sizeof(float));
		if (!p->ws || !p->h[0] || !p->h[1] || !p->t)
			st = DP_ERR_NOMEM;
	}
	if (st != DP_OK) {
		dp_mlp_plan_free(p);
		return st;
	}
	*out = p;
	return DP_OK;
}

static dp_status run_slot(dp_mlp_plan *p, plan_layer *L, int i,
                          const float *a, float *c)
{
	return L->k[i]->execute(&L->d[i], L->state[i], a, c, p->ws);
}

dp_status dp_mlp_plan_run(dp_mlp_plan *p, const float *x, float *logp)
{
	const int M = p->M;
	const float *a = x;
	for (int l = 0; l < p->nlayers; l++) {
		plan_layer *L = &p->layer[l];
		const int last = l + 1 == p->nlayers;
		float *z = last ? logp : p->h[l & 1];
		dp_status st = DP_OK;
		switch (L->kind) {
		case DP_MLP_DENSE:
		case DP_MLP_FUSED:
			st = run_slot(p, L, K_MAIN, a, z);
			break;
		case DP_MLP_REBUILD:
			st = run_slot(p, L, K_REBUILD, L->p, L->w);
			if (st == DP_OK)
				st = L->k[K_MAIN]->prepare(&L->d[K_MAIN], L->w, NULL,
				                           L->state[K_MAIN]);
			if (st == DP_OK)
				st = run_slot(p, L, K_MAIN, a, z);
			break;
		case DP_MLP_FACTORS:
			st = run_slot(p, L, K_MAIN, a, p->t);
			if (st != DP_OK)
				break;
			for (int i = 0; i < M; i++) {
				float *ti = p->t + (size_t)i * L->rank;
				for (int j = 0; j < L->rank; j++)
					ti[j] *= L->sigma[j];
			}
			st = run_slot(p, L, K_SECOND, p->t, z);
			break;
		}
		if (st != DP_OK)
			return st;
		add_bias_relu(z, L->bias, M, L->out, !last);
		a = z;
	}
	const int C = p->classes;
	for (int i = 0; i < M; i++) {
		float *zi = logp + (size_t)i * C;
		float mx = zi[0];
		for (int j = 1; j < C; j++)
			mx = zi[j] > mx ? zi[j] : mx;
		double s = 0;
		for (int j = 0; j < C; j++)
			s += exp((double)zi[j] - mx);
		const float lse = mx + (float)log(s);
		for (int j = 0; j < C; j++)
			zi[j] -= lse;
	}
	return DP_OK;
}

dp_status dp_mlp_predict(const dp_mlp *m, dp_mlp_mode mode, const float *x,
                         int n, int batch, int *pred)
{
	if (n < 1 || batch < 1)
		return DP_ERR_ARG;
	const int in = m->layer[0].in, C = m->layer[m->nlayers - 1].out;
	if (batch > n)
		batch = n;
	dp_mlp_plan *full = NULL, *rest = NULL;
	float *logp = malloc((size_t)batch * (size_t)C * sizeof *logp);
	dp_status st = logp ? dp_mlp_plan_new(m, mode, batch, &full)
	                    : DP_ERR_NOMEM;
	if (st == DP_OK && n % batch)
		st = dp_mlp_plan_new(m, mode, n % batch, &rest);
	for (int s = 0; st == DP_OK && s < n; s += batch) {
		const int M = min_int(batch, n - s);
		st = dp_mlp_plan_run(M == batch ? full : rest,
		                     x + (size_t)s * in, logp);
		for (int i = 0; st == DP_OK && i < M; i++) {
			const float *zi = logp + (size_t)i * C;
			int best = 0;
			for (int j = 1; j < C; j++)
				if (zi[j] > zi[best])
					best = j;
			pred[s + i] = best;
		}
	}
	dp_mlp_plan_free(full);
	dp_mlp_plan_free(rest);
	free(logp);
	return st;
}

double dp_mlp_accuracy(const dp_mlp *m, dp_mlp_mode mode,
                       const dp_dataset *d, int batch)
{
	if (d->dim != m->layer[0].in)
		return -1;
	int *pred = malloc((size_t)d->n * sizeof *pred);
	if (!pred)
		return -1;
	dp_status st = dp_mlp_predict(m, mode, d->x, d->n, batch, pred);
	int hits = 0;
	for (int i = 0; st == DP_OK && i < d->n; i++)
		hits += pred[i] == d->y[i];
	free(pred);
	return st == DP_OK ? (double)hits / d->n : -1;
}
