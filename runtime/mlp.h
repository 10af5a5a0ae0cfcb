/* mlp.h - the MNIST multilayer perceptron of issue 8 (the seed's model):
 * fully connected layers with ReLU between them and log-softmax at the
 * end, trained with NLL loss, minibatches and Adadelta; each layer either
 * dense or factorized as two rank-k factors (the seed's svd_mnist.py).
 *
 * Layout in memory: the kernel contract's. A layer computes
 *     Y (M x out) = X (M x in) * W^T + b,
 * and keeps B = W^T, in x out (K x N, row-major), so the matmul kernels
 * take it as their "weights" without a transpose. A factorized layer keeps
 *     B = P Q,   P: in x k,   Q: k x out,
 * and computes Y = (X P) Q + b.
 *
 * Layout on disk (dp_mlp_save / dp_mlp_load): a directory with one .npy
 * per tensor, PyTorch's nn.Linear orientation, layers numbered from 1:
 *     w1.npy  out x in   (dense layer; = B^T)
 *     u1.npy  out x k    (factorized layer; = Q^T)
 *     v1.npy  k x in     (factorized layer; = P^T), W = U V
 *     b1.npy  out
 * so torch's Linear.weight.copy_(torch.from_numpy(np.load("w1.npy"))) loads
 * a dense layer as is. The number of layers and their sizes come from the
 * files (b1.npy, b2.npy, ... until one is missing).
 *
 * Forward passes used for timing go through the kernel contract: the
 * generic GEMM (dp_matmul_gemm_generic) for dense products and the
 * generic rank-k svd kernel (dp_matmul_svd_generic) for the fused option.
 * Training runs its forward products through the generic GEMM too
 * (prepared again after every step, since the weights change) and its
 * backward products through cblas_sgemm.
 */
#ifndef DP_MLP_H
#define DP_MLP_H

#include <stddef.h>
#include <stdint.h>

#include "dpgen.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DP_MLP_MAX_LAYERS 8

typedef struct dp_mlp_layer {
	int in, out;
	int rank;      /* 0: dense (w); else factorized (p, q) of this rank */
	float *w;      /* dense: in x out */
	float *p;      /* factorized: in x rank */
	float *q;      /* factorized: rank x out */
	float *b;      /* out */
} dp_mlp_layer;

typedef struct dp_mlp {
	int nlayers;
	dp_mlp_layer layer[DP_MLP_MAX_LAYERS];
} dp_mlp;

/* ---- random numbers (splitmix64 seeded xorshift64*) ---- */
typedef struct dp_rng { uint64_t s; } dp_rng;
void dp_rng_seed(dp_rng *r, uint64_t seed);
uint64_t dp_rng_next(dp_rng *r);
double dp_rng_uniform(dp_rng *r);          /* [0, 1) */

/* ---- the model ---- */

/* A model with nlayers = ndims - 1 layers of sizes dims[0] -> dims[1] ->
 * ...; ranks (NULL: all dense) gives each layer's rank, 0 for dense.
 * Parameters are zero. */
dp_status dp_mlp_alloc(dp_mlp *m, int ndims, const int *dims,
                       const int *ranks);
/* A model of the same shape as src with zero parameters. */
dp_status dp_mlp_alloc_like(dp_mlp *m, const dp_mlp *src);
dp_status dp_mlp_copy(dp_mlp *dst, const dp_mlp *src);
void dp_mlp_free(dp_mlp *m);

/* PyTorch's default nn.Linear initialization, from rng: weights and
 * biases U(-1/sqrt(in), 1/sqrt(in)). A factorized layer is initialized as
 * the two Linear layers it is made of: P (in -> k) U(-1/sqrt(in),
 * 1/sqrt(in)), Q (k -> out) U(-1/sqrt(k), 1/sqrt(k)), bias as the dense
 * layer's. */
void dp_mlp_init(dp_mlp *m, dp_rng *rng);

/* The parameter tensors in a fixed order (per layer: w or p, q; then b):
 * pointers and element counts; returns how many (at most 3 per layer). */
int dp_mlp_tensors(const dp_mlp *m, float **ptr, int64_t *len);
/* Stored parameters: sum of the tensors' element counts. */
int64_t dp_mlp_param_count(const dp_mlp *m);

/* The seed's compression ratio: layer k (in + out + 1) / (in out + out)
 * (a dense layer counts as 1, i.e. in out + out); the whole model's is
 * the sum of the numerators over the sum of the denominators. */
double dp_mlp_layer_ratio(int in, int out, int k);
double dp_mlp_ratio(const dp_mlp *m);
/* The rank for a target ratio r: floor(r (in out + out) / (in + out + 1)),
 * clamped to 1..min(in, out). */
int dp_mlp_rank_for_ratio(int in, int out, double r);

/* dst (allocated here) = src with every layer replaced by its best rank
 * ranks[l] approximation (SVD in double, dp_svd_factors): P = U_k S_k
 * (singular values folded into the input-side factor), Q = V_k^T; rank 0
 * keeps the layer dense. err (may be NULL) gets each layer's relative
 * Frobenius error ||W - W_k|| / ||W||. */
dp_status dp_mlp_truncate(const dp_mlp *src, const int *ranks, dp_mlp *dst,
                          double *err);
/* dst (allocated here) = src with every factorized layer multiplied out
 * (B = P Q). */
dp_status dp_mlp_densify(const dp_mlp *src, dp_mlp *dst);

/* Save into directory dir (created if missing) / load from it; see the
 * layout above. Exact: only transposes. */
dp_status dp_mlp_save(const dp_mlp *m, const char *dir, char *msg,
                      size_t msg_len);
dp_status dp_mlp_load(dp_mlp *m, const char *dir, char *msg, size_t msg_len);

/* ---- data ---- */

/* (x / 255 - 0.1307) / 0.3081, the normalization of mnist.py. */
#define DP_MNIST_MEAN 0.1307
#define DP_MNIST_STD 0.3081

typedef struct dp_dataset {
	int n, dim;       /* images, pixels per image */
	int h, w;         /* image height and width (h w = dim), or 0 when
	                   * the file held N x D vectors */
	float *x;         /* n x dim, normalized */
	int *y;           /* n labels */
	int classes;      /* 1 + the largest label */
} dp_dataset;

/* Images and labels from two IDX files (gzipped or not; if a path does
 * not exist, path + ".gz" is tried): images N x H x W (or N x D) of
 * unsigned bytes, labels N unsigned bytes. */
dp_status dp_dataset_load(dp_dataset *d, const char *images,
                          const char *labels, char *msg, size_t msg_len);
void dp_dataset_free(dp_dataset *d);

/* ---- training ---- */

/* Loss (mean NLL of the log-softmax over the M rows) and its gradient
 * with respect to every parameter of m into g (a dp_mlp_alloc_like of m;
 * overwritten). x is M x in, y the M labels. correct (may be NULL) gets
 * the number of rows whose largest logit is the label. */
dp_status dp_mlp_grad(const dp_mlp *m, const float *x, const int *y, int M,
                      dp_mlp *g, double *loss, int *correct);

typedef struct dp_adadelta {
	double lr, rho, eps;
	dp_mlp sq_grad, sq_delta;   /* running averages E[g^2], E[dx^2] */
} dp_adadelta;

/* PyTorch's torch.optim.Adadelta (no weight decay). */
dp_status dp_adadelta_init(dp_adadelta *o, const dp_mlp *m, double lr,
                           double rho, double eps);
void dp_adadelta_step(dp_adadelta *o, dp_mlp *m, const dp_mlp *g);
void dp_adadelta_free(dp_adadelta *o);

typedef struct dp_epoch_stats {
	double loss;       /* mean training loss over the epoch */
	double accuracy;   /* training accuracy over the epoch, in [0, 1] */
	double seconds;
} dp_epoch_stats;

/* One epoch over d in a random order (from rng), minibatches of `batch`
 * (the last one may be smaller). shift > 0 (images only: d->h > 0)
 * augments the data: each image is moved by a random whole number of
 * pixels in -shift..shift in each direction, the pixels moved in set to
 * the background (a 0 pixel, normalized). progress: NULL or a label; if
 * given, a progress bar with the running loss and accuracy is drawn on
 * stderr. */
dp_status dp_mlp_train_epoch(dp_mlp *m, dp_adadelta *o, const dp_dataset *d,
                             int batch, int shift, dp_rng *rng,
                             const char *progress, dp_epoch_stats *st);

/* ---- inference ---- */

typedef enum dp_mlp_mode {
	DP_MLP_DENSE = 0,  /* every layer as one dense GEMM; factorized
	                    * layers multiplied out once at plan time */
	DP_MLP_REBUILD,    /* factorized layers: W = P Q rebuilt (and packed)
	                    * at every call, then the dense GEMM */
	DP_MLP_FACTORS,    /* factorized layers: the three SVD factors one
	                    * after another: X U, scaled by S, times V^T,
	                    * each product a GEMM, intermediates written out */
	DP_MLP_FUSED       /* factorized layers: the rank-k svd kernel, the
	                    * two products fused in row blocks */
} dp_mlp_mode;

const char *dp_mlp_mode_name(dp_mlp_mode mode);

typedef struct dp_mlp_plan dp_mlp_plan;

/* The prepared kernels that run m on M rows at a time in the given mode.
 * The plan copies what it needs; m may change or go afterwards. */
dp_status dp_mlp_plan_new(const dp_mlp *m, dp_mlp_mode mode, int M,
                          dp_mlp_plan **out);
/* logp (M x classes) = the log-softmax of the model's output for x. */
dp_status dp_mlp_plan_run(dp_mlp_plan *p, const float *x, float *logp);
void dp_mlp_plan_free(dp_mlp_plan *p);

/* Predicted class of each of the n rows of x (n x in), `batch` rows per
 * call of a plan in the given mode. */
dp_status dp_mlp_predict(const dp_mlp *m, dp_mlp_mode mode, const float *x,
                         int n, int batch, int *pred);
/* Fraction of d classified correctly, in [0, 1]; -1 on error. */
double dp_mlp_accuracy(const dp_mlp *m, dp_mlp_mode mode,
                       const dp_dataset *d, int batch);

#ifdef __cplusplus
}
#endif
#endif
