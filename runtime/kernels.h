/* kernels.h - the generic kernels of the runtime (internal). */
#ifndef DP_KERNELS_H
#define DP_KERNELS_H

#include "dpgen.h"

extern const dp_kernel dp_conv_direct_generic;
extern const dp_kernel dp_matmul_naive_generic;
extern const dp_kernel dp_matmul_gemm_generic;
extern const dp_kernel dp_conv_winograd_generic;
extern const dp_kernel dp_conv_im2col_generic;
extern const dp_kernel dp_conv_im2col_blas_generic;

/* The column matrix of one image (see conv_im2col.c): (C*R*S) rows of
 * HO*WO values. */
void dp_im2col(const dp_desc *d, const float *img, float *cols);

/* AT (m x alpha), G (alpha x r), BT (alpha x alpha), row-major, for
 * Winograd F(m, r) with the points of `points` ("" = default), derived in
 * double by the same Cook-Toom construction as templates/lib/cooktoom.lua.
 * Returns DP_OK or DP_ERR_ARG. The tests use it to bound the error. */
dp_status dp_winograd_transforms(int m, int r, const char *points,
                                 double *at, double *g, double *bt);

#endif
