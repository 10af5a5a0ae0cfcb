/* precision.c - rounding to narrow floating-point formats and symmetric
 * fixed point; the rules are stated in precision.h.
 *
 * One parametric encoder serves every float format: it takes the float's
 * integer significand, drops the bits below the format's quantum at that
 * exponent (the quantum is fixed below the format's least normal exponent,
 * which gives the subnormals), rounds to nearest even on the dropped bits
 * and assembles the result with the carry allowed to ripple from the
 * mantissa into the exponent. Type punning goes through memcpy.
 */
#include "precision.h"

#include <float.h>
#include <math.h>
#include <string.h>

typedef struct fmt_param {
	int ebits, mbits, bias;
	int has_inf;         /* else: no Inf, NaN is all ones (e4m3) */
	int saturates;       /* finite overflow clamps to the max finite */
	uint32_t max_mag;    /* encoded magnitude of the largest finite */
	uint32_t inf_mag;    /* encoded magnitude of Inf (has_inf) */
	uint32_t fast_lo;    /* float exponent field of the least normal */
	uint32_t max_fbits;  /* float bits of the largest finite */
} fmt_param;

/* Magnitudes (sign excluded) in the format's own encoding. */
#define MAG_IEEE_MAX(e, m) (((((uint32_t)1 << (e)) - 2) << (m)) | \
                            (((uint32_t)1 << (m)) - 1))
#define MAG_INF(e, m) ((((uint32_t)1 << (e)) - 1) << (m))

static const fmt_param params[DP_FMT_COUNT] = {
	[DP_FMT_FP32] = { 8, 23, 127, 1, 0, MAG_IEEE_MAX(8, 23),
	                  MAG_INF(8, 23), 1, 0x7F7FFFFFu },
	[DP_FMT_TF32] = { 8, 10, 127, 1, 0, MAG_IEEE_MAX(8, 10),
	                  MAG_INF(8, 10), 1, 0x7F7FE000u },
	[DP_FMT_BF16] = { 8, 7, 127, 1, 0, MAG_IEEE_MAX(8, 7),
	                  MAG_INF(8, 7), 1, 0x7F7F0000u },
	[DP_FMT_FP16] = { 5, 10, 15, 1, 0, MAG_IEEE_MAX(5, 10),
	                  MAG_INF(5, 10), 127 - 14, 0x477FE000u },
	/* e4m3: exponent 1111 is normal except S.1111.111 (NaN): max is
	 * S.1111.110 = 1.75 * 2^8 = 448 */
	[DP_FMT_E4M3] = { 4, 3, 7, 0, 1, 0x7Eu, 0, 127 - 6, 0x43E00000u },
	[DP_FMT_E5M2] = { 5, 2, 15, 1, 0, MAG_IEEE_MAX(5, 2),
	                  MAG_INF(5, 2), 127 - 14, 0x47600000u },
};

static const dp_format_info infos[DP_FMT_COUNT] = {
	[DP_FMT_FP32] = { "fp32", 32, 8, 23, 127, 1, 0, FLT_MAX,
	                  0x1p-126f, 0x1p-149f, 0x1p-23f, 0x1p-24f,
	                  INFINITY /* every finite float is representable */ },
	[DP_FMT_TF32] = { "tf32", 19, 8, 10, 127, 1, 0, 0x1.ffcp+127f,
	                  0x1p-126f, 0x1p-136f, 0x1p-10f, 0x1p-11f,
	                  0x1.ffep+127f },
	[DP_FMT_BF16] = { "bf16", 16, 8, 7, 127, 1, 0, 0x1.fep+127f,
	                  0x1p-126f, 0x1p-133f, 0x1p-7f, 0x1p-8f,
	                  0x1.ffp+127f },
	[DP_FMT_FP16] = { "fp16", 16, 5, 10, 15, 1, 0, 65504.0f,
	                  0x1p-14f, 0x1p-24f, 0x1p-10f, 0x1p-11f, 65520.0f },
	[DP_FMT_E4M3] = { "fp8-e4m3", 8, 4, 3, 7, 0, 1, 448.0f,
	                  0x1p-6f, 0x1p-9f, 0x1p-3f, 0x1p-4f, 464.0f },
	[DP_FMT_E5M2] = { "fp8-e5m2", 8, 5, 2, 15, 1, 0, 57344.0f,
	                  0x1p-14f, 0x1p-16f, 0x1p-2f, 0x1p-3f, 61440.0f },
};

static uint32_t f2u(float x)
{
	uint32_t u;
	memcpy(&u, &x, sizeof u);
	return u;
}

static float u2f(uint32_t u)
{
	float x;
	memcpy(&x, &u, sizeof x);
	return x;
}

/* ---- the parametric encoder and decoder ---- */

static inline uint32_t encode_p(const fmt_param *p, float x)
{
	const int m = p->mbits;
	const uint32_t u = f2u(x), a = u & 0x7FFFFFFFu;
	const uint32_t sign = (u >> 31) << (p->ebits + m);

	if (a > 0x7F800000u) { /* NaN */
		if (!p->has_inf)
			return sign | ((((uint32_t)1 << (p->ebits + m)) - 1));
		uint32_t payload = (a & 0x7FFFFFu) >> (23 - m);
		return sign | p->inf_mag | payload | ((uint32_t)1 << (m - 1));
	}
	if (a == 0x7F800000u) { /* Inf */
		if (p->has_inf)
			return sign | p->inf_mag;
		return sign | ((((uint32_t)1 << (p->ebits + m)) - 1)); /* NaN */
	}

	/* value = sig * 2^fe; E = floor(log2 value), or any E < -126 for a
	 * float subnormal (every format's least normal exponent is >= -126) */
	uint32_t ef = a >> 23, sig;
	int e, fe;
	if (ef == 0) {
		sig = a;
		e = -127;
		fe = -149;
	} else {
		sig = (a & 0x7FFFFFu) | 0x800000u;
		e = (int)ef - 127;
		fe = (int)ef - 150;
	}
	const int emin = 1 - p->bias;
	const int eeff = e < emin ? emin : e;
	const int shift = eeff - m - fe; /* low bits of sig below the quantum */
	uint32_t q;
	if (shift > 25) {
		q = 0; /* sig < 2^24 <= half a quantum */
	} else if (shift == 0) {
		q = sig;
	} else {
		const uint32_t half = (uint32_t)1 << (shift - 1);
		const uint32_t rem = sig & (((uint32_t)1 << shift) - 1);
		q = sig >> shift;
		if (rem > half || (rem == half && (q & 1u)))
			q++;
	}
	/* q < 2^m: subnormal (eeff == emin, field 0); q == 2^(m+1) after a
	 * carry: the next binade, mantissa 0. Both fall out of the sum. */
	uint32_t mag = ((uint32_t)(eeff + p->bias - 1) << m) + q;
	if (mag > p->max_mag)
		mag = p->saturates ? p->max_mag : p->inf_mag;
	return sign | mag;
}

static inline float decode_p(const fmt_param *p, uint32_t bits)
{
	const int m = p->mbits;
	const int width = p->ebits + m; /* without the sign */
	const uint32_t mag = bits & (((uint32_t)1 << width) - 1);
	const uint32_t sign = ((bits >> width) & 1u) << 31;

	if (p->ebits == 8) /* float's own exponent: a shift, Inf/NaN included */
		return u2f(sign | (mag << (23 - m)));
	if (!p->has_inf && mag == (((uint32_t)1 << width) - 1))
		return u2f(sign | 0x7FC00000u);
	const uint32_t ef = mag >> m;
	uint32_t mf = mag & (((uint32_t)1 << m) - 1);
	if (p->has_inf && ef == ((uint32_t)1 << p->ebits) - 1)
		return u2f(sign | 0x7F800000u | (mf << (23 - m)));
	if (ef == 0) {
		if (mf == 0)
			return u2f(sign);
		/* subnormal: normalize; every such value is a normal float */
		int e = 1 - p->bias;
		while (!(mf & ((uint32_t)1 << m))) {
			mf <<= 1;
			e--;
		}
		mf &= ((uint32_t)1 << m) - 1;
		return u2f(sign | ((uint32_t)(e + 127) << 23) | (mf << (23 - m)));
	}
	return u2f(sign | ((uint32_t)((int)ef - p->bias + 127) << 23)
	           | (mf << (23 - m)));
}

/* decode(encode(x)) with a fast path for results in the normal range:
 * round the float's bits in place (the carry ripples into the exponent). */
static inline float round_p(const fmt_param *p, float x)
{
	const uint32_t u = f2u(x), a = u & 0x7FFFFFFFu, sign = u & 0x80000000u;
	const uint32_t ef = a >> 23;
	if (ef >= p->fast_lo && ef != 255) {
		const int s = 23 - p->mbits; /* 13..21: the parity bit is in
		                              * the mantissa field */
		uint32_t r = a + (((uint32_t)1 << (s - 1)) - 1) + ((a >> s) & 1u);
		r &= ~(((uint32_t)1 << s) - 1);
		if (r <= p->max_fbits)
			return u2f(sign | r);
		return u2f(sign | (p->saturates ? p->max_fbits : 0x7F800000u));
	}
	return decode_p(p, encode_p(p, x));
}

/* ---- the public float-format API ---- */

static int fmt_ok(dp_format f)
{
	return (int)f >= 0 && f < DP_FMT_COUNT;
}

const dp_format_info *dp_format_get(dp_format f)
{
	return fmt_ok(f) ? &infos[f] : NULL;
}

const char *dp_format_name(dp_format f)
{
	return fmt_ok(f) ? infos[f].name : NULL;
}

dp_status dp_format_parse(const char *s, dp_format *out)
{
	static const struct { const char *name; dp_format f; } alias[] = {
		{ "e4m3", DP_FMT_E4M3 }, { "fp8_e4m3", DP_FMT_E4M3 },
		{ "e5m2", DP_FMT_E5M2 }, { "fp8_e5m2", DP_FMT_E5M2 },
	};
	if (!s || !out)
		return DP_ERR_ARG;
	for (int f = 0; f < DP_FMT_COUNT; f++)
		if (strcmp(s, infos[f].name) == 0) {
			*out = (dp_format)f;
			return DP_OK;
		}
	for (size_t i = 0; i < sizeof alias / sizeof alias[0]; i++)
		if (strcmp(s, alias[i].name) == 0) {
			*out = alias[i].f;
			return DP_OK;
		}
	return DP_ERR_ARG;
}

uint32_t dp_encode(dp_format f, float x)
{
	if (f == DP_FMT_FP32)
		return f2u(x);
	return fmt_ok(f) ? encode_p(&params[f], x) : 0;
}

float dp_decode(dp_format f, uint32_t bits)
{
	if (f == DP_FMT_FP32)
		return u2f(bits);
	return fmt_ok(f) ? decode_p(&params[f], bits) : u2f(0x7FC00000u);
}

float dp_round(dp_format f, float x)
{
	switch (f) {
	case DP_FMT_FP32: return x;
	case DP_FMT_TF32: return round_p(&params[DP_FMT_TF32], x);
	case DP_FMT_BF16: return round_p(&params[DP_FMT_BF16], x);
	case DP_FMT_FP16: return round_p(&params[DP_FMT_FP16], x);
	case DP_FMT_E4M3: return round_p(&params[DP_FMT_E4M3], x);
	case DP_FMT_E5M2: return round_p(&params[DP_FMT_E5M2], x);
	default: return u2f(0x7FC00000u);
	}
}

dp_status dp_round_array(dp_format f, const float *x, float *y, size_t n)
{
	if (!fmt_ok(f) || (n > 0 && (!x || !y)))
		return DP_ERR_ARG;
	if (f == DP_FMT_FP32) {
		if (x != y && n > 0)
			memmove(y, x, n * sizeof *x);
		return DP_OK;
	}
	const fmt_param *p = &params[f];
	for (size_t i = 0; i < n; i++)
		y[i] = round_p(p, x[i]);
	return DP_OK;
}

#define PER_FORMAT(fmt, FMT, T) \
	T dp_encode_##fmt(float x) \
	{ \
		return (T)encode_p(&params[FMT], x); \
	} \
	float dp_decode_##fmt(T bits) \
	{ \
		return decode_p(&params[FMT], bits); \
	} \
	float dp_round_##fmt(float x) \
	{ \
		return round_p(&params[FMT], x); \
	}

PER_FORMAT(tf32, DP_FMT_TF32, uint32_t)
PER_FORMAT(bf16, DP_FMT_BF16, uint16_t)
PER_FORMAT(fp16, DP_FMT_FP16, uint16_t)
PER_FORMAT(e4m3, DP_FMT_E4M3, uint8_t)
PER_FORMAT(e5m2, DP_FMT_E5M2, uint8_t)

/* ---- symmetric fixed point ---- */

static int is_finite_bits(float x)
{
	return (f2u(x) & 0x7F800000u) != 0x7F800000u;
}

int32_t dp_fixed_qmax(int bits)
{
	if (bits < DP_FIXED_MIN_BITS || bits > DP_FIXED_MAX_BITS)
		return 0;
	return ((int32_t)1 << (bits - 1)) - 1;
}

dp_status dp_fixed_scale(const float *x, size_t n, int bits, float *scale)
{
	const int32_t qmax = dp_fixed_qmax(bits);
	if (!qmax || !scale || (n > 0 && !x))
		return DP_ERR_ARG;
	float amax = 0.0f;
	for (size_t i = 0; i < n; i++) {
		if (!is_finite_bits(x[i]))
			continue;
		float v = fabsf(x[i]);
		if (v > amax)
			amax = v;
	}
	if (amax == 0.0f) {
		*scale = 0.0f;
		return DP_OK;
	}
	float s = (float)((double)amax / (double)qmax);
	/* Round up: s * qmax >= amax, so nothing in the tensor clamps. The
	 * product is exact in double (at most 24 + 15 significant bits). */
	while ((double)s * (double)qmax < (double)amax)
		s = u2f(f2u(s) + 1);
	*scale = s;
	return DP_OK;
}

static int scale_ok(float scale)
{
	return is_finite_bits(scale) && !(scale < 0.0f);
}

/* The quantizer once bits and scale are known to be valid. */
static int32_t quantize_one(float x, float scale, int32_t qmax, int *bad)
{
	const uint32_t a = f2u(x) & 0x7FFFFFFFu;
	if (a >= 0x7F800000u) {
		*bad = 1;
		if (a > 0x7F800000u || scale == 0.0f)
			return 0;
		return (f2u(x) >> 31) ? -qmax : qmax;
	}
	*bad = 0;
	if (scale == 0.0f)
		return 0;
	/* Work on |x| (round-to-nearest-even is symmetric). The quotient
	 * only gives a first guess q0 (it may be off by one ulp, or more if
	 * the compiler turns the division into a reciprocal multiply); the
	 * decision is made on the remainder r = |x| - q0 * s, which is exact:
	 * q0 * s has at most 15 + 24 significant bits, and when q0 >= 1, |x|
	 * and q0 * s are multiples of ulp(s) / 2 within 2s of each other, so
	 * the difference needs at most ~27 bits (with q0 = 0, r = |x|). An
	 * FMA contraction gives the same exact r. So ties are found exactly,
	 * whatever the rounding mode or the floating-point compile flags
	 * (except flush-to-zero, which changes subnormal inputs). */
	const double ax = fabs((double)x), sd = scale;
	const double t = ax / sd;
	if (t >= (double)qmax + 1.0)
		return (f2u(x) >> 31) ? -qmax : qmax;
	double q0 = floor(t);
	double r = ax - q0 * sd;
	while (r < 0.0) {
		q0 -= 1.0;
		r += sd;
	}
	while (r >= sd) {
		q0 += 1.0;
		r -= sd;
	}
	int32_t q = (int32_t)q0; /* 0 <= q0 <= qmax + 1 */
	const double r2 = 2.0 * r;
	if (r2 > sd || (r2 == sd && (q & 1)))
		q++;
	if (q > qmax)
		q = qmax;
	return (f2u(x) >> 31) ? -q : q;
}

int32_t dp_fixed_quantize_value(float x, float scale, int bits,
                                int *nonfinite)
{
	const int32_t qmax = dp_fixed_qmax(bits);
	if (!qmax || !scale_ok(scale))
		return 0;
	int bad;
	int32_t q = quantize_one(x, scale, qmax, &bad);
	if (nonfinite)
		*nonfinite = bad;
	return q;
}

float dp_fixed_dequantize_value(int32_t q, float scale)
{
	const double v = (double)q * (double)scale; /* exact */
	if (v > (double)FLT_MAX)
		return FLT_MAX;
	if (v < -(double)FLT_MAX)
		return -FLT_MAX;
	return (float)v;
}

float dp_fixed_round(float x, float scale, int bits)
{
	return dp_fixed_dequantize_value(
		dp_fixed_quantize_value(x, scale, bits, NULL), scale);
}

#define QUANTIZE(name, T, BITS) \
	dp_status name(const float *x, size_t n, float scale, T *q, \
	               size_t *nonfinite) \
	{ \
		const int32_t qmax = dp_fixed_qmax(BITS); \
		if ((n > 0 && (!x || !q)) || !scale_ok(scale)) \
			return DP_ERR_ARG; \
		size_t nbad = 0; \
		for (size_t i = 0; i < n; i++) { \
			int bad; \
			q[i] = (T)quantize_one(x[i], scale, qmax, &bad); \
			nbad += (size_t)bad; \
		} \
		if (nonfinite) \
			*nonfinite = nbad; \
		return DP_OK; \
	}

#define DEQUANTIZE(name, T) \
	dp_status name(const T *q, size_t n, float scale, float *x) \
	{ \
		if ((n > 0 && (!x || !q)) || !scale_ok(scale)) \
			return DP_ERR_ARG; \
		for (size_t i = 0; i < n; i++) \
			x[i] = dp_fixed_dequantize_value(q[i], scale); \
		return DP_OK; \
	}

QUANTIZE(dp_quantize_int8, int8_t, 8)
QUANTIZE(dp_quantize_int16, int16_t, 16)
DEQUANTIZE(dp_dequantize_int8, int8_t)
DEQUANTIZE(dp_dequantize_int16, int16_t)

/* ---- a descriptor's precision ---- */

dp_status dp_precision_format(dp_precision p, dp_format *out)
{
	static const int fmt[DP_PREC_COUNT] = {
		[DP_PREC_FP32] = DP_FMT_FP32 + 1, [DP_PREC_TF32] = DP_FMT_TF32 + 1,
		[DP_PREC_BF16] = DP_FMT_BF16 + 1, [DP_PREC_FP16] = DP_FMT_FP16 + 1,
		[DP_PREC_FP8_E4M3] = DP_FMT_E4M3 + 1,
		[DP_PREC_FP8_E5M2] = DP_FMT_E5M2 + 1,
	};   /* + 1: 0 marks the precisions without a float format */
	if (!out || (unsigned)p >= DP_PREC_COUNT || !fmt[p])
		return DP_ERR_ARG;
	*out = (dp_format)(fmt[p] - 1);
	return DP_OK;
}

dp_status dp_precision_round_tensor(dp_precision p, const float *x, float *y,
                                    size_t n)
{
	dp_format f;
	if ((unsigned)p >= DP_PREC_COUNT || (n && (!x || !y)))
		return DP_ERR_ARG;
	if (p == DP_PREC_INT16 || p == DP_PREC_INT8) {
		const int bits = p == DP_PREC_INT16 ? 16 : 8;
		float s = 0;
		dp_status st = dp_fixed_scale(x, n, bits, &s);
		for (size_t i = 0; st == DP_OK && i < n; i++)
			y[i] = dp_fixed_round(x[i], s, bits);
		return st;
	}
	if (dp_precision_format(p, &f) != DP_OK) {   /* fp64 */
		if (x != y)
			memmove(y, x, n * sizeof *x);
		return DP_OK;
	}
	return dp_round_array(f, x, y, n);
}
