/* emul.h - internal knobs of the precision emulation (issue 6,
 * docs/PRECISION.md), for the tests and the precision study. Not part of
 * the public API (dpgen.h): the public path is dp_generic_kernel(), which
 * returns dp_emul_conv_kernel(d) / dp_emul_matmul_kernel(d) with the
 * defaults below. */
#ifndef DP_EMUL_H
#define DP_EMUL_H

#include "dpgen.h"

/* How the per-channel terms of one output are combined. */
typedef enum dp_emul_sum {
	DP_EMUL_SUM_PAIRWISE = 0,  /* the contract's order (default): direct
	                            * sums taps per channel sequentially, then
	                            * the channel partials pairwise; winograd
	                            * and fft sum their C products pairwise */
	DP_EMUL_SUM_SEQUENTIAL     /* one running sum: direct over (c, r, s),
	                            * winograd and fft over c */
} dp_emul_sum;

/* Where the tiled FFT puts its 1/T^2 (the forward transform of a T x T
 * tile grows values by up to T^2, the unnormalized inverse again). */
typedef enum dp_emul_fft_scale {
	DP_EMUL_FFT_SPLIT = 0,     /* default: the forward row pass and the
	                            * inverse row pass halve after every
	                            * butterfly stage (1/T each) */
	DP_EMUL_FFT_FORWARD,       /* every forward stage halves (1/T^2) */
	DP_EMUL_FFT_INPUT,         /* the input times 1/T^2 before the
	                            * forward transform (the fp32 kernels) */
	DP_EMUL_FFT_NONE           /* no scaling inside; the output times
	                            * 1/T^2 at the end (overflows fp16) */
} dp_emul_fft_scale;

typedef struct dp_emul_opts {
	dp_emul_sum sum;
	dp_emul_fft_scale fft_scale;
} dp_emul_opts;

/* Convolution at an emulated precision with explicit knobs (opts NULL:
 * the defaults, all-zero). Unlike dp_emul_conv_kernel, d->precision may
 * be DP_PREC_FP32 here: every operation then rounds to fp32, the format's
 * own emulation (no FMA), for comparison with the native kernels.
 * DP_ERR_UNSUPPORTED for an algorithm with no emulation (im2col-blas). */
dp_status dp_emul_conv2d(const dp_desc *d, const dp_emul_opts *opts,
                         const float *in, const float *weights,
                         const float *bias, float *out);

/* Why the descriptor's convolution has no emulated kernel (one line), or
 * NULL if it has one. For the messages of dpgen run / tune. */
const char *dp_emul_conv_unsupported(const dp_desc *d);

/* Matmul (emul_matmul.c): x rounded once, correctly, to the float format
 * of precision p (tf32, bf16, fp16, fp8-e4m3, fp8-e5m2): to float "by
 * odd", then dp_round. How the svd factors, the log products and the lns
 * results are rounded; exposed for the tests. Other precisions: (float)x. */
float dp_emul_round_double(dp_precision p, double x);

#endif
