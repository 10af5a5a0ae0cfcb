/* conv_check.h - check a convolution kernel against the fp64 reference
 * with a bound derived from the arithmetic, not tuned by hand. */
#ifndef DP_CONV_CHECK_H
#define DP_CONV_CHECK_H

#include "util.h"

/* Runs kern on random N(0,1) data for d and compares every output with
 * dp_ref_conv2d. The bound per output is Higham's for a float sum of
 * C*R*S products plus the bias, n = C*R*S + 1 terms:
 *   |y - y_ref| <= gamma_n * (sum |x*w| + |b|),  gamma_n = n u / (1 - n u),
 * u = 2^-24, with the sum of magnitudes computed by the reference on |x|,
 * |w|, |b|. Returns the largest err/bound ratio (<= 1 passes), or a
 * negative value if the kernel failed; describes the result in note. */
double conv_check(const dp_kernel *kern, const dp_desc *d, uint64_t seed,
                  char *note, size_t note_len);

/* The same run with an algorithm's own per-output bound: bound_fn gets the
 * data, the fp64 reference and fills bound[] (one per output); 0 or -1. */
typedef int (*conv_bound_fn)(const dp_desc *d, const float *x,
                             const float *w, const float *b,
                             const double *ref, double *bound);

typedef struct conv_result {
	double worst;      /* largest err/bound; < 0 if the kernel failed */
	double max_err, mean_err;
	char note[200];
} conv_result;

conv_result conv_check_bound(const dp_kernel *kern, const dp_desc *d,
                             uint64_t seed, conv_bound_fn bound_fn);

#endif
