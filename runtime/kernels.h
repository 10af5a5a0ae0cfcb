/* kernels.h - the generic kernels of the runtime (internal). */
#ifndef DP_KERNELS_H
#define DP_KERNELS_H

#include "dpgen.h"

extern const dp_kernel dp_conv_direct_generic;
extern const dp_kernel dp_matmul_naive_generic;
extern const dp_kernel dp_matmul_gemm_generic;
extern const dp_kernel dp_matmul_svd_generic;
extern const dp_kernel dp_matmul_log_generic;
extern const dp_kernel dp_matmul_lns_generic;
extern const dp_kernel dp_conv_winograd_generic;
extern const dp_kernel dp_conv_im2col_generic;
extern const dp_kernel dp_conv_im2col_blas_generic;
extern const dp_kernel dp_conv_fft_generic;
extern const dp_kernel dp_conv_fftw_generic;

/* The column matrix of one image (see conv_im2col.c): (C*R*S) rows of
 * HO*WO values. */
void dp_im2col(const dp_desc *d, const float *img, float *cols);

/* AT (m x alpha), G (alpha x r), BT (alpha x alpha), row-major, for
 * Winograd F(m, r) with the points of `points` ("" = default), derived in
 * double by the same Cook-Toom construction as templates/lib/cooktoom.lua.
 * Returns DP_OK or DP_ERR_ARG. The tests use it to bound the error. */
dp_status dp_winograd_transforms(int m, int r, const char *points,
                                 double *at, double *g, double *bt);

/* SVD helpers (matmul_svd.c, LAPACKE dgesdd in double): the singular
 * values of a rows x cols float matrix; its best rank-k approximation;
 * the factors P = U_k S_k (rows x k) and Q = V_k^T (k x cols); the least
 * k whose singular values hold the fraction `energy` of sum s^2. */
dp_status dp_svd_values(int rows, int cols, const float *x, double *s);
dp_status dp_svd_truncate(int rows, int cols, const float *x, int k,
                          float *out);
dp_status dp_svd_factors(int rows, int cols, const float *x, int k,
                         float *p, float *q);
int dp_svd_energy_rank(const double *s, int mn, double energy);

/* The LNS value with F fractional bits nearest to s (matmul_log.c). */
double dp_lns_round(double s, int f);

/* Emulated precisions (issue 6, docs/PRECISION.md): the runtime kernel of
 * a descriptor whose precision is not fp32, or NULL when the algorithm has
 * no emulation. emul_conv.c and emul_matmul.c. */
const dp_kernel *dp_emul_conv_kernel(const dp_desc *d);
const dp_kernel *dp_emul_matmul_kernel(const dp_desc *d);

#endif
