/* matmul_log.c - the log-domain matmuls for any shape, fp32 in and out:
 *
 * log: each operand becomes a class (zero, finite, inf, nan), a sign and
 *   log2|x|: a float (frac_bits = DP_LOG_EXACT) or a fixed-point integer
 *   e = round(log2|x| * 2^F). A product is the sum of the logs and the
 *   xor of the signs, converted back to linear (exp2f, or 2^(e/2^F) from
 *   two tables and the exponent bits in double) and rounded to float; the
 *   products are summed in float, p = 0..K-1 in order.
 * lns: the products' logs (fixed point, F bits) are accumulated in the
 *   log domain as in US 2021/0056446: e = q * 2^F + r; each product adds
 *   +-(2^F + r_lo) << (q + O - F) into the W-bit integer accumulator of
 *   its bin r_hi (the top bin_bits bits of r; with bin_bits = F, r_lo = 0
 *   and this is +-1 << (q + O)); O = W / 2 is the fixed offset that makes
 *   negative q work: the accumulators are fixed point with O fractional
 *   bits. At the end sum_bin 2^(r_hi 2^(F-B) / 2^F) acc[bin] 2^-O (a
 *   table, in double) is rounded to the nearest LNS value (midpoints in
 *   the linear domain) and returned as float. docs/LNS.md has the method
 *   and a worked example.
 *
 * Special values (both algorithms, as IEEE multiplication and addition):
 * zero is a class of its own (no log(0), no epsilon): a product with a
 * zero operand is exactly zero and adds nothing. Subnormal inputs are
 * ordinary finite values (their log2 is exact in double). A product with
 * a NaN, or of Inf and zero, is NaN; of Inf and finite or Inf, +-Inf. An
 * output is NaN if a NaN product reaches it or both +Inf and -Inf do,
 * else +-Inf if an infinite product does. lns: an accumulator that would
 * leave its W-bit range is not wrapped: the overflow is recorded and the
 * output becomes +Inf (upward overflow) or -Inf (downward), NaN if both
 * happen or they meet an opposite infinity; a product below the
 * accumulator's resolution 2^-O (shift below zero) is truncated toward
 * zero, like a right shift in hardware. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "dpgen.h"
#include "kernels.h"

enum { CLS_ZERO = 0, CLS_FIN = 1, CLS_INF = 2, CLS_NAN = 3, NEG = 4 };

/* Class and sign of x: the low 2 bits the class, bit 2 the sign. */
static uint8_t classify(float x)
{
	uint8_t s = signbit(x) ? NEG : 0;
	if (isnan(x))
		return CLS_NAN;
	if (isinf(x))
		return (uint8_t)(CLS_INF | s);
	return (uint8_t)((x == 0.0f ? CLS_ZERO : CLS_FIN) | s);
}

/* round(log2|x| * 2^f) for a finite nonzero x; |result| < 2^31 for f <= 23. */
static int32_t fixed_log(float x, int f)
{
	return (int32_t)lrint(ldexp(log2(fabs((double)x)), f));
}

/* The class of a product from the classes of its operands (no sign). */
static int product_class(int ca, int cb)
{
	if (ca == CLS_NAN || cb == CLS_NAN)
		return CLS_NAN;
	if (ca == CLS_INF || cb == CLS_INF)
		return ca == CLS_ZERO || cb == CLS_ZERO ? CLS_NAN : CLS_INF;
	return ca == CLS_ZERO || cb == CLS_ZERO ? CLS_ZERO : CLS_FIN;
}

/* The special-value outcome of an output: NaN, +-Inf, or 0 = none. */
typedef struct special { int nan, pos, neg; } special;

static float special_value(const special *s)
{
	if (s->nan || (s->pos && s->neg))
		return NAN;
	return s->pos ? INFINITY : -INFINITY;
}

/* The state shared by log and lns: B transposed (N x K), so each dot
 * product walks contiguous memory, as logs and classes. */
typedef struct enc {
	int32_t *e;   /* fixed-point logs (float bits for exact log) */
	uint8_t *c;   /* classes and signs */
} enc;

static enc enc_at(void *base, size_t n)
{
	enc x = { base, (uint8_t *)base + n * sizeof(int32_t) };
	return x;
}

/* out[j * rows + p] = the class and log of x[p * stride_in + j]: the
 * transpose of a rows x cols matrix (or one row, with rows = 1). */
static void encode(const float *x, int f, enc out, size_t stride_in,
                   size_t rows, size_t cols)
{
	for (size_t p = 0; p < rows; p++)
		for (size_t j = 0; j < cols; j++) {
			const float v = x[p * stride_in + j];
			const size_t o = j * rows + p;
			out.c[o] = classify(v);
			if ((out.c[o] & 3) != CLS_FIN) {
				out.e[o] = 0;
			} else if (f < 0) {
				float l = log2f(fabsf(v));
				memcpy(&out.e[o], &l, sizeof l);
			} else {
				out.e[o] = fixed_log(v, f);
			}
		}
}

/* ---- log ---- */

/* 2^(r / 2^F) for 0 <= r < 2^F, as hi[r >> LO] * lo[r & (2^LO - 1)] with
 * LO = F / 2: two tables of at most 2^12 doubles even at F = 23. */
typedef struct pow_tables { double *hi, *lo; int f, lo_bits; } pow_tables;

static size_t tables_doubles(int f)
{
	return f < 0 ? 0 : ((size_t)1 << (f - f / 2)) + ((size_t)1 << (f / 2));
}

static pow_tables tables_at(void *base, int f)
{
	pow_tables t = { base, NULL, f, f < 0 ? 0 : f / 2 };
	if (f >= 0)
		t.lo = t.hi + ((size_t)1 << (f - t.lo_bits));
	return t;
}

static void tables_fill(pow_tables t)
{
	if (t.f < 0)
		return;
	const double scale = ldexp(1.0, -t.f);
	for (int r = 0; r < 1 << (t.f - t.lo_bits); r++)
		t.hi[r] = exp2((double)((int64_t)r << t.lo_bits) * scale);
	for (int r = 0; r < 1 << t.lo_bits; r++)
		t.lo[r] = exp2((double)r * scale);
}

/* 2^q for -1022 <= q <= 1023, from the exponent bits. */
static double pow2i(int q)
{
	uint64_t bits = (uint64_t)(q + 1023) << 52;
	double x;
	memcpy(&x, &bits, sizeof x);
	return x;
}

/* 2^(e / 2^F) in double: e = q 2^F + r, |q| <= 298. */
static double fixed_exp2(const pow_tables *t, int64_t e)
{
	const int64_t bias = (int64_t)1024 << t->f;   /* e + bias >= 0 */
	const uint64_t eb = (uint64_t)(e + bias);
	const int q = (int)(eb >> t->f) - 1024;
	const uint64_t r = eb & (((uint64_t)1 << t->f) - 1);
	return t->hi[r >> t->lo_bits] *
	       t->lo[r & (((uint64_t)1 << t->lo_bits) - 1)] * pow2i(q);
}

static size_t enc_bytes(size_t n)
{
	return n * (sizeof(int32_t) + 1);
}

static size_t align8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

static size_t log_state_bytes(const dp_desc *d)
{
	return tables_doubles(d->frac_bits) * sizeof(double) +
	       align8(enc_bytes((size_t)d->mm_k * (size_t)d->mm_n));
}

static dp_status log_prepare(const dp_desc *d, const float *b,
                             const float *bias, void *state)
{
	(void)bias;
	const size_t kn = (size_t)d->mm_k * (size_t)d->mm_n;
	pow_tables t = tables_at(state, d->frac_bits);
	tables_fill(t);
	char *e = (char *)state + tables_doubles(d->frac_bits) * sizeof(double);
	encode(b, d->frac_bits, enc_at(e, kn), (size_t)d->mm_n,
	       (size_t)d->mm_k, (size_t)d->mm_n);
	return DP_OK;
}

static size_t log_workspace_bytes(const dp_desc *d)
{
	return enc_bytes((size_t)d->mm_k);
}

/* The product of two finite nonzero operands, in float. */
static float log_product(const pow_tables *t, int32_t ea, int32_t eb,
                         int neg)
{
	float v;
	if (t->f < 0) {
		float la, lb;
		memcpy(&la, &ea, sizeof la);
		memcpy(&lb, &eb, sizeof lb);
		v = exp2f(la + lb);
	} else {
		v = (float)fixed_exp2(t, (int64_t)ea + eb);
	}
	return neg ? -v : v;
}

static dp_status log_execute(const dp_desc *d, const void *state,
                             const float *a, float *c, void *workspace)
{
	const int m = d->mm_m, k = d->mm_k, n = d->mm_n;
	const size_t kn = (size_t)k * (size_t)n;
	pow_tables t = tables_at((void *)(uintptr_t)state, d->frac_bits);
	const char *eb = (const char *)state +
	                 tables_doubles(d->frac_bits) * sizeof(double);
	const enc bt = enc_at((void *)(uintptr_t)eb, kn);
	const enc ar = enc_at(workspace, (size_t)k);
	for (int i = 0; i < m; i++) {
		encode(a + (size_t)i * k, d->frac_bits, ar, 0, 1,
		       (size_t)k);
		for (int j = 0; j < n; j++) {
			const int32_t *ej = bt.e + (size_t)j * k;
			const uint8_t *cj = bt.c + (size_t)j * k;
			float sum = 0.0f;
			special s = { 0, 0, 0 };
			for (int p = 0; p < k; p++) {
				const int cls = product_class(ar.c[p] & 3, cj[p] & 3);
				const int neg = ((ar.c[p] ^ cj[p]) & NEG) != 0;
				if (cls == CLS_FIN)
					sum += log_product(&t, ar.e[p], ej[p], neg);
				else if (cls == CLS_NAN)
					s.nan = 1;
				else if (cls == CLS_INF)
					*(neg ? &s.neg : &s.pos) = 1;
			}
			c[(size_t)i * n + j] = s.nan || s.pos || s.neg ?
				special_value(&s) : sum;
		}
	}
	return DP_OK;
}

const dp_kernel dp_matmul_log_generic = {
	.name = "dp_matmul_log_generic_fp32",
	.desc = { .op = DP_OP_MATMUL, .algo = DP_ALGO_LOG,
	          .precision = DP_PREC_FP32 },
	.generic = 1,
	.state_bytes = log_state_bytes,
	.prepare = log_prepare,
	.workspace_bytes = log_workspace_bytes,
	.execute = log_execute,
};

/* ---- lns ---- */

/* The bins of one output: 2^B accumulators and the overflow record. */
typedef struct lns_acc {
	int64_t *acc;
	int up, down;   /* an accumulator overflowed upward, downward */
} lns_acc;

/* Round |s| > 0 to the nearest LNS value 2^(E / 2^F): find E with
 * 2^(E/2^F) <= |s| < 2^((E+1)/2^F), then compare |s| with the midpoint
 * of the two in the linear domain (a tie goes up, away from zero). */
double dp_lns_round(double s, int f)
{
	if (s == 0 || !isfinite(s))
		return s;
	const double a = fabs(s), scale = ldexp(1.0, f);
	int64_t e = (int64_t)floor(log2(a) * scale);
	while (exp2((double)(e + 1) / scale) <= a)
		e++;
	while (exp2((double)e / scale) > a)
		e--;
	const double lo = exp2((double)e / scale);
	const double hi = exp2((double)(e + 1) / scale);
	return copysign(a < 0.5 * (lo + hi) ? lo : hi, s);
}

/* Add +-(m shifted left by sh; truncated toward zero if sh < 0) to
 * accumulator `bin`, W bits wide; 1 <= m < 2^13. A result outside
 * [-2^(W-1), 2^(W-1) - 1] is recorded as an overflow, never wrapped, and
 * leaves the accumulator as it was. */
static void lns_add(lns_acc *x, int bin, int64_t m, int sh, int neg, int w)
{
	const int64_t hi = w == 64 ? INT64_MAX : ((int64_t)1 << (w - 1)) - 1;
	const int64_t lo = -hi - 1;
	int64_t v, sum;
	if (sh < 0)
		v = sh <= -63 ? 0 : m >> -sh;
	else if (64 - __builtin_clzll((unsigned long long)m) + sh > 63)
		v = -1;   /* m << sh >= 2^63: too big for any accumulator */
	else
		v = m << sh;
	if (v < 0 || v > hi ||
	    (neg ? __builtin_sub_overflow(x->acc[bin], v, &sum)
	         : __builtin_add_overflow(x->acc[bin], v, &sum)) ||
	    sum > hi || sum < lo) {
		*(neg ? &x->down : &x->up) = 1;
		return;
	}
	x->acc[bin] = sum;
}

static size_t lns_bins(const dp_desc *d)
{
	return (size_t)1 << d->bin_bits;
}

static size_t lns_state_bytes(const dp_desc *d)
{
	return lns_bins(d) * sizeof(double) +
	       align8(enc_bytes((size_t)d->mm_k * (size_t)d->mm_n));
}

static dp_status lns_prepare(const dp_desc *d, const float *b,
                             const float *bias, void *state)
{
	(void)bias;
	const int f = d->frac_bits, bb = d->bin_bits;
	const size_t kn = (size_t)d->mm_k * (size_t)d->mm_n;
	double *tab = state;
	/* bin i holds remainders r = i << (F - B) .. ; its constant is
	 * 2^(r / 2^F) at its lowest r */
	for (size_t i = 0; i < lns_bins(d); i++)
		tab[i] = exp2((double)((int64_t)i << (f - bb)) / ldexp(1.0, f));
	encode(b, f, enc_at(tab + lns_bins(d), kn), (size_t)d->mm_n,
	       (size_t)d->mm_k, (size_t)d->mm_n);
	return DP_OK;
}

static size_t lns_workspace_bytes(const dp_desc *d)
{
	return lns_bins(d) * sizeof(int64_t) +
	       align8(enc_bytes((size_t)d->mm_k));
}

static dp_status lns_execute(const dp_desc *d, const void *state,
                             const float *a, float *c, void *workspace)
{
	const int m = d->mm_m, k = d->mm_k, n = d->mm_n;
	const int f = d->frac_bits, bb = d->bin_bits, w = d->acc_bits;
	const int off = w / 2;   /* O: fractional bits of the accumulators */
	const size_t nb = lns_bins(d), kn = (size_t)k * (size_t)n;
	const double *tab = state;
	const enc bt = enc_at((void *)(uintptr_t)(tab + nb), kn);
	lns_acc x = { workspace, 0, 0 };
	const enc ar = enc_at(x.acc + nb, (size_t)k);
	const int64_t bias = (int64_t)1024 << f;   /* e + bias >= 0 */
	const uint32_t rmask = (1u << f) - 1, lomask = (1u << (f - bb)) - 1;
	for (int i = 0; i < m; i++) {
		encode(a + (size_t)i * k, f, ar, 0, 1, (size_t)k);
		for (int j = 0; j < n; j++) {
			const int32_t *ej = bt.e + (size_t)j * k;
			const uint8_t *cj = bt.c + (size_t)j * k;
			special s = { 0, 0, 0 };
			memset(x.acc, 0, nb * sizeof *x.acc);
			x.up = x.down = 0;
			for (int p = 0; p < k; p++) {
				const int cls = product_class(ar.c[p] & 3, cj[p] & 3);
				const int neg = ((ar.c[p] ^ cj[p]) & NEG) != 0;
				if (cls == CLS_NAN) {
					s.nan = 1;
				} else if (cls == CLS_INF) {
					*(neg ? &s.neg : &s.pos) = 1;
				} else if (cls == CLS_FIN) {
					const uint64_t eb = (uint64_t)((int64_t)ar.e[p] +
					                               ej[p] + bias);
					const int q = (int)(eb >> f) - 1024;
					const uint32_t r = (uint32_t)eb & rmask;
					const int64_t mant = ((int64_t)1 << f) + (r & lomask);
					lns_add(&x, (int)(r >> (f - bb)), mant, q + off - f,
					        neg, w);
				}
			}
			s.pos |= x.up;
			s.neg |= x.down;
			if (s.nan || s.pos || s.neg) {
				c[(size_t)i * n + j] = special_value(&s);
				continue;
			}
			double sum = 0;
			for (size_t bin = 0; bin < nb; bin++)
				sum += tab[bin] * (double)x.acc[bin];
			c[(size_t)i * n + j] =
				(float)dp_lns_round(ldexp(sum, -off), f);
		}
	}
	return DP_OK;
}

const dp_kernel dp_matmul_lns_generic = {
	.name = "dp_matmul_lns_generic_fp32",
	.desc = { .op = DP_OP_MATMUL, .algo = DP_ALGO_LNS,
	          .precision = DP_PREC_FP32 },
	.generic = 1,
	.state_bytes = lns_state_bytes,
	.prepare = lns_prepare,
	.workspace_bytes = lns_workspace_bytes,
	.execute = lns_execute,
};
