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

#endif
