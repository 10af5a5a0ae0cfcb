/* precision.h - rounding to narrow number formats, for precision emulation.
 *
 * Floating-point formats (encode: float -> bits, decode: bits -> float,
 * round: decode(encode(x)), the value the emulation uses):
 *
 *   format    bits  sign+exp+man  bias  max finite   min normal  min subnormal
 *   fp32      32    1+8+23        127   3.40e38      2^-126      2^-149
 *   tf32      19    1+8+10        127   3.40e38      2^-126      2^-136
 *   bf16      16    1+8+7         127   3.39e38      2^-126      2^-133
 *   fp16      16    1+5+10        15    65504        2^-14       2^-24
 *   fp8-e4m3   8    1+4+3         7     448          2^-6        2^-9
 *   fp8-e5m2   8    1+5+2         15    57344        2^-14       2^-16
 *
 * Rounding is round-to-nearest, ties-to-even, in every format, with the
 * format's own subnormals (gradual underflow; a value below half the least
 * subnormal rounds to a zero of its sign, exactly half rounds to zero, the
 * even neighbour). Everything is integer bit manipulation: no _Float16, no
 * hardware conversion, no dependence on the floating-point environment
 * (the rounding mode, flush-to-zero, -ffast-math), so results are the same
 * on every C11 platform.
 *
 * Overflow, infinities and NaNs:
 *   - fp32, tf32, bf16, fp16, fp8-e5m2 (IEEE-like): a finite value whose
 *     rounded magnitude exceeds the max finite becomes Inf of its sign
 *     (IEEE 754 round-to-nearest: fp16 rounds |x| >= 65520 to Inf, |x| just
 *     below 65520 to 65504; e5m2: |x| >= 61440 to Inf). Inf stays Inf.
 *   - fp8-e4m3 (OCP "E4M3FN": no infinities, one NaN per sign, S.1111.111):
 *     SATURATING. A finite value whose rounded magnitude exceeds 448
 *     becomes +-448 (OCP's saturation mode, what FP8 hardware does with
 *     "satfinite"). An infinite input becomes NaN (sign kept), NOT +-448:
 *     this deliberately departs from OCP's saturation table (which clamps
 *     Inf too) because in an emulation an Inf input means something has
 *     already overflowed upstream, and clamping it to a plausible finite
 *     448 would hide that failure in the error statistics; NaN propagates
 *     and makes it visible. (It is also what OCP's non-saturating mode does
 *     with Inf.)
 *   - NaN in, NaN out, sign kept. IEEE-like formats keep the top payload
 *     bits that fit and set the quiet bit (the mantissa MSB), as hardware
 *     conversions do; so every quiet NaN pattern round-trips exactly and a
 *     signalling NaN pattern (quiet bit clear) comes back with the quiet bit
 *     set. e4m3 has only S.1111.111. Decoding is exact and bit-preserving,
 *     including NaN payloads (a signalling pattern decodes to a signalling
 *     float NaN). fp32 is the identity: dp_round(DP_FMT_FP32, x) == x,
 *     bit for bit, NaNs included.
 *
 * Fixed point (int8, int16; generally b bits, 2 <= b <= 16): symmetric,
 * one scale per tensor, qmax = 2^(b-1) - 1 (127, 32767; -2^(b-1) is never
 * produced):
 *   scale s = max|x| / qmax over the FINITE elements (NaN and +-Inf are
 *             ignored), rounded UP to a float, so that |x| / s <= qmax for
 *             every finite element: no element of the tensor clamps and
 *             |x - dequantize(quantize(x))| <= s/2 for all of them. (Rounding
 *             up differs from nearest by at most one float ulp, and only when
 *             nearest would have fallen below the exact quotient.)
 *             s = 0 when there is no finite non-zero element (all zeros, an
 *             empty tensor, only NaN/Inf).
 *   quantize  q = round-to-nearest-even(x / s), clamped to [-qmax, qmax].
 *             Exact: the double quotient only guesses q, the decision is
 *             made on the remainder |x| - q*s, computed exactly, so ties
 *             are found exactly whatever the rounding mode or compile
 *             flags (-ffast-math included; flush-to-zero aside).
 *             s == 0: q = 0 for every element, no division.
 *             NaN -> 0, +Inf -> +qmax, -Inf -> -qmax; each non-finite
 *             element is counted in *nonfinite (when given).
 *   dequantize x = q * s, rounded to float (a product beyond FLT_MAX, only
 *             possible for s near FLT_MAX / qmax, is clamped to +-FLT_MAX).
 */
#ifndef DP_PRECISION_H
#define DP_PRECISION_H

#include <stddef.h>
#include <stdint.h>

#include "dpgen.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum dp_format {
	DP_FMT_FP32 = 0,
	DP_FMT_TF32,
	DP_FMT_BF16,
	DP_FMT_FP16,
	DP_FMT_E4M3,
	DP_FMT_E5M2,
	DP_FMT_COUNT
} dp_format;

/* Properties of a format, for the study and for the generator. */
typedef struct dp_format_info {
	const char *name;     /* canonical name, as dp_format_name() */
	int bits;             /* storage width: 32, 19, 16, 16, 8, 8 */
	int exp_bits;         /* exponent field width */
	int man_bits;         /* stored mantissa (fraction) bits */
	int bias;             /* exponent bias */
	int has_inf;          /* 1 if the format has infinities */
	int saturates;        /* 1 if finite overflow clamps to +-max_finite */
	float max_finite;     /* largest finite value */
	float min_normal;     /* smallest positive normal, 2^(1-bias) */
	float min_subnormal;  /* smallest positive subnormal */
	float epsilon;        /* gap between 1 and the next value, 2^-man_bits */
	float unit_roundoff;  /* epsilon / 2, the relative error bound */
	float overflow_threshold; /* smallest |x| whose rounding exceeds
	                       * max_finite, i.e. max + half an ulp (fp16
	                       * 65520, e5m2 61440: rounds to Inf; e4m3 464:
	                       * saturates, though (448, 464) rounds to 448
	                       * anyway; fp32: INFINITY, nothing overflows) */
} dp_format_info;

/* NULL for an out-of-range format. */
const dp_format_info *dp_format_get(dp_format f);
/* "fp32", "tf32", "bf16", "fp16", "fp8-e4m3", "fp8-e5m2"; NULL if unknown. */
const char *dp_format_name(dp_format f);
/* Accepts the canonical names and "e4m3", "e5m2", "fp8_e4m3",
 * "fp8_e5m2" (lower case, exact). DP_ERR_ARG for an unknown name or NULL. */
dp_status dp_format_parse(const char *s, dp_format *out);

/* Table-driven: the bits of x in format f (right-aligned: tf32 uses the
 * low 19 bits, sign at bit 18; fp32 returns the float's bits), and back.
 * Bits above the format's width are ignored by dp_decode. An out-of-range
 * format encodes to 0 and decodes/rounds to NaN. */
uint32_t dp_encode(dp_format f, float x);
float dp_decode(dp_format f, uint32_t bits);
/* decode(encode(x)), computed directly (faster, same result). */
float dp_round(dp_format f, float x);
/* Round every element of x into y (x == y allowed). */
dp_status dp_round_array(dp_format f, const float *x, float *y, size_t n);

/* Per-format functions (same results as the table-driven ones). */
uint32_t dp_encode_tf32(float x);
float dp_decode_tf32(uint32_t bits);
float dp_round_tf32(float x);

uint16_t dp_encode_bf16(float x);
float dp_decode_bf16(uint16_t bits);
float dp_round_bf16(float x);

uint16_t dp_encode_fp16(float x);
float dp_decode_fp16(uint16_t bits);
float dp_round_fp16(float x);

uint8_t dp_encode_e4m3(float x);
float dp_decode_e4m3(uint8_t bits);
float dp_round_e4m3(float x);

uint8_t dp_encode_e5m2(float x);
float dp_decode_e5m2(uint8_t bits);
float dp_round_e5m2(float x);

/* ---- symmetric fixed point (int8, int16) ---- */

#define DP_FIXED_MIN_BITS 2
#define DP_FIXED_MAX_BITS 16

/* 2^(bits-1) - 1, or 0 if bits is outside [2, 16]. */
int32_t dp_fixed_qmax(int bits);
/* The per-tensor scale (see above). DP_ERR_ARG: bad bits, NULL scale,
 * or x NULL with n > 0. */
dp_status dp_fixed_scale(const float *x, size_t n, int bits, float *scale);
/* One value: q in [-qmax, qmax]. *nonfinite (if not NULL) is set to 1 for
 * a NaN or Inf input, else 0. The scale must be finite and >= 0 and bits
 * valid; otherwise the result is 0 and *nonfinite is left alone (use the
 * array functions to get a status). */
int32_t dp_fixed_quantize_value(float x, float scale, int bits,
                                int *nonfinite);
/* dequantize(quantize(x)): the value the emulation uses (NaN -> 0). */
float dp_fixed_round(float x, float scale, int bits);
/* q * scale rounded to float, clamped to +-FLT_MAX. */
float dp_fixed_dequantize_value(int32_t q, float scale);

/* Arrays. nonfinite (may be NULL) receives the number of NaN/Inf inputs.
 * DP_ERR_ARG: NULL arrays with n > 0, scale negative, NaN or Inf. */
dp_status dp_quantize_int8(const float *x, size_t n, float scale, int8_t *q,
                           size_t *nonfinite);
dp_status dp_quantize_int16(const float *x, size_t n, float scale,
                            int16_t *q, size_t *nonfinite);
dp_status dp_dequantize_int8(const int8_t *q, size_t n, float scale,
                             float *x);
dp_status dp_dequantize_int16(const int16_t *q, size_t n, float scale,
                              float *x);

/* ---- a descriptor's precision (dpgen.h's dp_precision) ---- */

/* The floating-point format of an emulated float precision (tf32, bf16,
 * fp16, fp8-e4m3, fp8-e5m2; fp32 is DP_FMT_FP32). DP_ERR_ARG for fp64 and
 * the integer formats, which have none. */
dp_status dp_precision_format(dp_precision p, dp_format *out);
/* The values a tensor takes at precision p, the ones an emulated kernel
 * computes with: rounded to the format (float precisions), quantized and
 * dequantized with the tensor's own scale (int16, int8), unchanged (fp32,
 * fp64). x == y allowed. */
dp_status dp_precision_round_tensor(dp_precision p, const float *x, float *y,
                                    size_t n);

#ifdef __cplusplus
}
#endif

#endif
