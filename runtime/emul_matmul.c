/* emul_matmul.c - matmul at emulated precisions (docs/PRECISION.md,
 * section "Matmul"): naive, gemm, svd, log and lns at fp64, tf32, bf16,
 * fp16, fp8-e4m3, fp8-e5m2 (policies all and acc32), int16 and int8.
 *
 * Kernel contract as for fp32 matmul: "weights" is B (K x N), prepare
 * rounds it to the format once (and factorizes or encodes it); input is A
 * (M x K), rounded in execute; output is C (M x N), float.
 *
 * What each algorithm computes (the contract; the order is part of it):
 *   naive  c_ij: p = 0 .. K-1 in order, a sum starting at +0.
 *   gemm   the fp32 gemm's blocking of K (runtime/matmul_gemm.c): one
 *          block if K <= 384, else ceil(K / 256) blocks of equal depth
 *          kc = ceil(K / ceil(K / 256)) (the last one shorter); each block
 *          summed in order from +0, the first block sum is C, every later
 *          block sum is added to C in order.
 *   svd    B^ = R(B) factorized in double (LAPACKE_dgesdd): P = U_k S_k,
 *          Q = V_k^T, each rounded to the format once (from double,
 *          correctly); T = A^ P^ and C = R(T) Q^ as two naive products.
 *   log    A^, B^ rounded first; then the fp32 log algorithm's logs and
 *          linear products (runtime/matmul_log.c), each product rounded to
 *          the format (all) or to fp32 (acc32), summed as naive does.
 *   lns    A^, B^ rounded first; then the fp32 lns algorithm exactly (its
 *          integer bins have no floating-point rounding to emulate); the
 *          LNS result is rounded to the format. all and acc32 agree.
 * Floating-point formats: under "all" every product and sum is rounded to
 * the format (the product of two stored values is exact in float, and a
 * float sum of two values of at most 11 significant bits rounded again to
 * the format equals the sum rounded once: 24 >= 2 * 11 + 2); under
 * "acc32" products and sums are float and the output is rounded once.
 * fp64: every operation in double, the output rounded to float once.
 * int16, int8: symmetric fixed point, one scale per tensor (A's over all of
 * A in each execute), exact int64 sums, output acc * (s_a * s_b) in double
 * rounded to float; svd re-quantizes P, Q and T with their own scales;
 * log and lns quantize their inputs and then compute as at fp32.
 *
 * A double is rounded to a format by rounding it to float "to odd"
 * (truncate, set the last bit if inexact) and then to the format: with
 * at least two spare bits this is the correctly rounded result. */
#include <float.h>
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dpgen.h"
#include "emul.h"
#include "kernels.h"
#include "precision.h"

/* No fused multiply-add: every product is rounded before it is added. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

enum { KIND_FP64, KIND_FLOAT, KIND_INT };

typedef struct mode {
	int kind;
	int acc32;            /* policy acc32 (float formats only) */
	dp_format fmt;        /* KIND_FLOAT */
	float (*rnd)(float);  /* KIND_FLOAT: the format's rounding */
	int bits;             /* KIND_INT */
} mode;

static float round_fp32(float x)
{
	return x;
}

static mode mode_of(const dp_desc *d)
{
	mode m = { KIND_FLOAT, d->policy == DP_POLICY_ACC32, DP_FMT_FP32,
	           round_fp32, 0 };
	switch (d->precision) {
	case DP_PREC_FP64: m.kind = KIND_FP64; break;
	case DP_PREC_TF32: m.fmt = DP_FMT_TF32; m.rnd = dp_round_tf32; break;
	case DP_PREC_BF16: m.fmt = DP_FMT_BF16; m.rnd = dp_round_bf16; break;
	case DP_PREC_FP16: m.fmt = DP_FMT_FP16; m.rnd = dp_round_fp16; break;
	case DP_PREC_FP8_E4M3:
		m.fmt = DP_FMT_E4M3; m.rnd = dp_round_e4m3; break;
	case DP_PREC_FP8_E5M2:
		m.fmt = DP_FMT_E5M2; m.rnd = dp_round_e5m2; break;
	case DP_PREC_INT16: m.kind = KIND_INT; m.bits = 16; break;
	case DP_PREC_INT8: m.kind = KIND_INT; m.bits = 8; break;
	default: break;
	}
	if (m.kind != KIND_FLOAT)
		m.acc32 = 0;
	return m;
}

/* x rounded to float toward zero, the last bit set if that was inexact. */
static float float_odd(double x)
{
	float f = (float)x;
	if (isnan(x) || isinf(x) || (double)f == x)
		return f;
	if (isinf(f))   /* beyond FLT_MAX: every narrower format overflows */
		return copysignf(FLT_MAX, (float)x);
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	if (fabs((double)f) > fabs(x))
		u--;   /* one step toward zero (sign-magnitude bits) */
	u |= 1;
	memcpy(&f, &u, sizeof f);
	return f;
}

/* A double rounded to the format of m (float formats), once. */
static float round_d(const mode *m, double x)
{
	return m->rnd(float_odd(x));
}

float dp_emul_round_double(dp_precision p, double x)
{
	dp_desc d = { .precision = p };
	const mode m = mode_of(&d);
	return m.kind == KIND_FLOAT && p != DP_PREC_FP32 ? round_d(&m, x)
	                                                : (float)x;
}

/* ---- rounding and quantizing operands ---- */

/* y = x rounded to the format (float formats), x unchanged (fp64), or
 * dequantized with scale s (int; *scale receives it). */
static void round_array(const mode *m, const float *x, size_t n, float *y,
                        float s)
{
	for (size_t i = 0; i < n; i++)
		y[i] = m->kind == KIND_FLOAT ? m->rnd(x[i]) :
		       m->kind == KIND_INT ? dp_fixed_round(x[i], s, m->bits) :
		       x[i];
}

static float tensor_scale(const mode *m, const float *x, size_t n)
{
	float s = 0;
	if (m->kind == KIND_INT && dp_fixed_scale(x, n, m->bits, &s) != DP_OK)
		s = 0;
	return s;
}

/* Transpose-and-round a rows x cols matrix into cols x rows. */
static void round_t(const mode *m, const float *x, int rows, int cols,
                    float s, float *y)
{
	for (int r = 0; r < rows; r++)
		for (int c = 0; c < cols; c++) {
			float v = x[(size_t)r * cols + c];
			round_array(m, &v, 1, &y[(size_t)c * rows + r], s);
		}
}

static void quantize_t(const float *x, int rows, int cols, float s, int bits,
                       int32_t *q)
{
	for (int r = 0; r < rows; r++)
		for (int c = 0; c < cols; c++)
			q[(size_t)c * rows + r] = dp_fixed_quantize_value(
				x[(size_t)r * cols + c], s, bits, NULL);
}

/* ---- dot products in the documented orders ---- */

static float dot_all(float (*rnd)(float), const float *a, const float *b,
                     int n)
{
	float s = 0.0f;
	for (int p = 0; p < n; p++)
		s = rnd(s + rnd(a[p] * b[p]));
	return s;
}

static float dot_f32(const float *a, const float *b, int n)
{
	float s = 0.0f;
	for (int p = 0; p < n; p++)
		s += a[p] * b[p];
	return s;
}

static double dot_f64(const float *a, const float *b, int n)
{
	double s = 0.0;
	for (int p = 0; p < n; p++)
		s += (double)a[p] * (double)b[p];
	return s;
}

static int64_t dot_int(const int32_t *a, const int32_t *b, int n)
{
	int64_t s = 0;
	for (int p = 0; p < n; p++)
		s += (int64_t)a[p] * b[p];
	return s;
}

/* sum_p a[p] b[p] over n terms in blocks of kc (kc >= n: one block), for
 * a float format or fp64 (operands already rounded); the result as
 * stored (in the format; float for fp64). */
static float blocked_dot(const mode *m, const float *a, const float *b,
                         int n, int kc)
{
	if (m->kind == KIND_FP64) {
		double c = 0;
		for (int p0 = 0; p0 < n; p0 += kc) {
			int len = n - p0 < kc ? n - p0 : kc;
			double t = dot_f64(a + p0, b + p0, len);
			c = p0 ? c + t : t;
		}
		return (float)c;
	}
	float c = 0;
	for (int p0 = 0; p0 < n; p0 += kc) {
		int len = n - p0 < kc ? n - p0 : kc;
		float t = m->acc32 ? dot_f32(a + p0, b + p0, len)
		                   : dot_all(m->rnd, a + p0, b + p0, len);
		c = !p0 ? t : m->acc32 ? c + t : m->rnd(c + t);
	}
	return m->acc32 ? m->rnd(c) : c;
}

/* The gemm's depth of a block of K (matmul_gemm.c's plan). */
static int gemm_kc(int k)
{
	if (k <= 384)
		return k;
	int blocks = (k + 255) / 256;
	return (k + blocks - 1) / blocks;
}

/* ---- state layout helpers ---- */

enum { HDR = 64 };   /* bytes: the scales, then 64-byte aligned arrays */

typedef struct hdr { float sb, sp, sq; } hdr;

static size_t al64(size_t n)
{
	return (n + 63) & ~(size_t)63;
}

/* ==== naive and gemm ==== */

/* State: hdr, then B^T (N x K) rounded (float) or quantized (int32). */
static size_t dense_state_bytes(const dp_desc *d)
{
	return HDR + (size_t)d->mm_k * (size_t)d->mm_n * 4;
}

static dp_status dense_prepare(const dp_desc *d, const float *b,
                               const float *bias, void *state)
{
	(void)bias;
	const mode m = mode_of(d);
	hdr *h = state;
	void *bt = (char *)state + HDR;
	const size_t kn = (size_t)d->mm_k * (size_t)d->mm_n;
	h->sb = tensor_scale(&m, b, kn);
	if (m.kind == KIND_INT)
		quantize_t(b, d->mm_k, d->mm_n, h->sb, m.bits, bt);
	else
		round_t(&m, b, d->mm_k, d->mm_n, 0, bt);
	return DP_OK;
}

static size_t dense_workspace_bytes(const dp_desc *d)
{
	return (size_t)d->mm_k * 4;   /* one row of A^ (float or int32) */
}

static dp_status dense_execute(const dp_desc *d, const void *state,
                               const float *a, float *c, void *workspace)
{
	const mode m = mode_of(d);
	const int mm = d->mm_m, k = d->mm_k, n = d->mm_n;
	const hdr *h = state;
	const void *bt = (const char *)state + HDR;
	const int kc = d->algo == DP_ALGO_GEMM ? gemm_kc(k) : k;
	float sa = tensor_scale(&m, a, (size_t)mm * k);
	const double sab = (double)sa * (double)h->sb;   /* exact */
	for (int i = 0; i < mm; i++) {
		const float *ai = a + (size_t)i * k;
		if (m.kind == KIND_INT) {
			int32_t *qa = workspace;
			for (int p = 0; p < k; p++)
				qa[p] = dp_fixed_quantize_value(ai[p], sa, m.bits,
				                                NULL);
			for (int j = 0; j < n; j++)
				c[(size_t)i * n + j] = (float)((double)dot_int(
					qa, (const int32_t *)bt + (size_t)j * k, k) *
					sab);
			continue;
		}
		float *ar = workspace;
		round_array(&m, ai, (size_t)k, ar, 0);
		for (int j = 0; j < n; j++)
			c[(size_t)i * n + j] = blocked_dot(&m, ar,
				(const float *)bt + (size_t)j * k, k, kc);
	}
	return DP_OK;
}

/* ==== svd ==== */

/* P = U_k S_k (rows x k), Q = V_k^T (k x cols) of x in double. */
static dp_status svd_factors_d(int rows, int cols, const float *x, int k,
                               double *p, double *q)
{
	const int mn = rows < cols ? rows : cols;
	const size_t n = (size_t)rows * cols;
	for (size_t i = 0; i < n; i++)
		if (!isfinite(x[i]))
			return DP_ERR_ARG;
	double *a = malloc(n * sizeof *a), *s = malloc((size_t)mn * sizeof *s);
	double *u = malloc((size_t)rows * mn * sizeof *u);
	double *vt = malloc((size_t)mn * cols * sizeof *vt);
	dp_status st = DP_ERR_NOMEM;
	if (a && s && u && vt) {
		for (size_t i = 0; i < n; i++)
			a[i] = x[i];
		lapack_int info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', rows,
		                                 cols, a, cols, s, u, mn, vt,
		                                 cols);
		st = info < 0 ? DP_ERR_NOMEM :
		     info > 0 ? DP_ERR_UNSUPPORTED : DP_OK;
	}
	if (st == DP_OK) {
		for (int i = 0; i < rows; i++)
			for (int t = 0; t < k; t++)
				p[(size_t)i * k + t] = u[(size_t)i * mn + t] * s[t];
		for (int t = 0; t < k; t++)
			for (int j = 0; j < cols; j++)
				q[(size_t)t * cols + j] = vt[(size_t)t * cols + j];
	}
	free(a);
	free(s);
	free(u);
	free(vt);
	return st;
}

/* State: hdr, P^T (k x K), Q^T (N x k): 8-byte slots (double for fp64,
 * float or int32 in the first half otherwise). */
static size_t svd_state_bytes(const dp_desc *d)
{
	const size_t k = (size_t)d->rank_b;
	return HDR + al64(k * (size_t)d->mm_k * 8) + k * (size_t)d->mm_n * 8;
}

static void svd_ptrs(const dp_desc *d, const void *state, void **pt,
                     void **qt)
{
	char *base = (char *)(uintptr_t)state + HDR;
	*pt = base;
	*qt = base + al64((size_t)d->rank_b * (size_t)d->mm_k * 8);
}

/* x (rows x cols, double) into y (cols x rows) in the mode's storage;
 * *s the int scale. tmp: rows * cols floats. */
static void store_factor(const mode *m, const double *x, int rows, int cols,
                         float *tmp, void *y, float *s)
{
	const size_t n = (size_t)rows * cols;
	if (m->kind == KIND_FP64) {
		double *yd = y;
		for (int r = 0; r < rows; r++)
			for (int c = 0; c < cols; c++)
				yd[(size_t)c * rows + r] = x[(size_t)r * cols + c];
		return;
	}
	if (m->kind == KIND_FLOAT) {
		float *yf = y;
		for (int r = 0; r < rows; r++)
			for (int c = 0; c < cols; c++)
				yf[(size_t)c * rows + r] =
					round_d(m, x[(size_t)r * cols + c]);
		return;
	}
	for (size_t i = 0; i < n; i++)
		tmp[i] = (float)x[i];
	*s = tensor_scale(m, tmp, n);
	quantize_t(tmp, rows, cols, *s, m->bits, y);
}

static dp_status svd_prepare(const dp_desc *d, const float *b,
                             const float *bias, void *state)
{
	(void)bias;
	if (d->rank_a != 0 || d->rank_b < 1)
		return DP_ERR_UNSUPPORTED;
	const mode m = mode_of(d);
	const int k = d->mm_k, n = d->mm_n, r = d->rank_b;
	const size_t kn = (size_t)k * n;
	hdr *h = state;
	void *pt, *qt;
	svd_ptrs(d, state, &pt, &qt);
	float *bh = malloc(kn * sizeof *bh);
	double *p = malloc((size_t)k * r * sizeof *p);
	double *q = malloc((size_t)r * n * sizeof *q);
	float *tmp = malloc((kn > (size_t)r * (k + n) ? kn :
	                     (size_t)r * (k + n)) * sizeof *tmp);
	dp_status st = DP_ERR_NOMEM;
	if (bh && p && q && tmp) {
		h->sb = tensor_scale(&m, b, kn);
		round_array(&m, b, kn, bh, h->sb);
		st = svd_factors_d(k, n, bh, r, p, q);
	}
	if (st == DP_OK) {
		store_factor(&m, p, k, r, tmp, pt, &h->sp);
		store_factor(&m, q, r, n, tmp, qt, &h->sq);
	}
	free(bh);
	free(p);
	free(q);
	free(tmp);
	return st;
}

/* Workspace: a row of A^ (K x 4 bytes, or 8 for fp64 rows of T) and T
 * (M x k, 8-byte slots), and a row of quantized T (k int32). */
static size_t svd_workspace_bytes(const dp_desc *d)
{
	const size_t k = (size_t)d->rank_b;
	return al64((size_t)d->mm_k * 4) + al64((size_t)d->mm_m * k * 8) +
	       k * 4;
}

static dp_status svd_execute(const dp_desc *d, const void *state,
                             const float *a, float *c, void *workspace)
{
	if (d->rank_a != 0 || d->rank_b < 1)
		return DP_ERR_UNSUPPORTED;
	const mode m = mode_of(d);
	const int mm = d->mm_m, kd = d->mm_k, n = d->mm_n, r = d->rank_b;
	const hdr *h = state;
	void *pt, *qt;
	svd_ptrs(d, state, &pt, &qt);
	char *ws = workspace;
	void *arow = ws;
	void *tbuf = ws + al64((size_t)kd * 4);
	int32_t *qrow = (int32_t *)(ws + al64((size_t)kd * 4) +
	                            al64((size_t)mm * r * 8));
	if (m.kind == KIND_FP64) {
		const double *p = pt, *q = qt;
		double *t = tbuf;
		for (int i = 0; i < mm; i++) {
			const float *ai = a + (size_t)i * kd;
			for (int x = 0; x < r; x++) {
				double s = 0;
				for (int y = 0; y < kd; y++)
					s += (double)ai[y] * p[(size_t)x * kd + y];
				t[x] = s;
			}
			for (int j = 0; j < n; j++) {
				double s = 0;
				for (int x = 0; x < r; x++)
					s += t[x] * q[(size_t)j * r + x];
				c[(size_t)i * n + j] = (float)s;
			}
		}
		return DP_OK;
	}
	if (m.kind == KIND_FLOAT) {
		float *ar = arow, *t = tbuf;
		for (int i = 0; i < mm; i++) {
			round_array(&m, a + (size_t)i * kd, (size_t)kd, ar, 0);
			for (int x = 0; x < r; x++)   /* stored: R(T) */
				t[x] = blocked_dot(&m, ar,
					(const float *)pt + (size_t)x * kd, kd, kd);
			for (int j = 0; j < n; j++)
				c[(size_t)i * n + j] = blocked_dot(&m, t,
					(const float *)qt + (size_t)j * r, r, r);
		}
		return DP_OK;
	}
	/* int: T = A^ P^ exactly, dequantized, re-quantized with its own
	 * scale, then C = T^ Q^ exactly. */
	const float sa = tensor_scale(&m, a, (size_t)mm * kd);
	const double sap = (double)sa * (double)h->sp;
	int32_t *qa = arow;
	float *t = tbuf;
	for (int i = 0; i < mm; i++) {
		for (int y = 0; y < kd; y++)
			qa[y] = dp_fixed_quantize_value(a[(size_t)i * kd + y], sa,
			                                m.bits, NULL);
		for (int x = 0; x < r; x++)
			t[(size_t)i * r + x] = (float)((double)dot_int(qa,
				(const int32_t *)pt + (size_t)x * kd, kd) * sap);
	}
	const float st = tensor_scale(&m, t, (size_t)mm * r);
	const double stq = (double)st * (double)h->sq;
	for (int i = 0; i < mm; i++) {
		for (int x = 0; x < r; x++)
			qrow[x] = dp_fixed_quantize_value(t[(size_t)i * r + x], st,
			                                  m.bits, NULL);
		for (int j = 0; j < n; j++)
			c[(size_t)i * n + j] = (float)((double)dot_int(qrow,
				(const int32_t *)qt + (size_t)j * r, r) * stq);
	}
	return DP_OK;
}

/* ==== log and lns: shared encoding ==== */

enum { CLS_ZERO = 0, CLS_FIN = 1, CLS_INF = 2, CLS_NAN = 3, NEG = 4 };

static uint8_t classify(float x)
{
	uint8_t s = signbit(x) ? NEG : 0;
	if (isnan(x))
		return CLS_NAN;
	if (isinf(x))
		return (uint8_t)(CLS_INF | s);
	return (uint8_t)((x == 0.0f ? CLS_ZERO : CLS_FIN) | s);
}

static int product_class(int ca, int cb)
{
	if (ca == CLS_NAN || cb == CLS_NAN)
		return CLS_NAN;
	if (ca == CLS_INF || cb == CLS_INF)
		return ca == CLS_ZERO || cb == CLS_ZERO ? CLS_NAN : CLS_INF;
	return ca == CLS_ZERO || cb == CLS_ZERO ? CLS_ZERO : CLS_FIN;
}

typedef struct special { int nan, pos, neg; } special;

static float special_value(const special *s)
{
	if (s->nan || (s->pos && s->neg))
		return NAN;
	return s->pos ? INFINITY : -INFINITY;
}

/* One encoded operand: the log (fixed point in .e, or float/double log2
 * in .l for exact logs) and the class with the sign. */
typedef struct lval {
	union { double l; int64_t e; } v;
	uint8_t c;
} lval;

static lval encode_one(float x, int f, int fp64)
{
	lval o = { .v.e = 0, .c = classify(x) };
	if ((o.c & 3) != CLS_FIN)
		return o;
	if (f < 0)
		o.v.l = fp64 ? log2(fabs((double)x)) : (double)log2f(fabsf(x));
	else
		o.v.e = (int64_t)lrint(ldexp(log2(fabs((double)x)), f));
	return o;
}

/* The values the log algorithms take: rounded/quantized x (n values)
 * into y. */
static void log_inputs(const mode *m, const float *x, size_t n, float s,
                       float *y)
{
	round_array(m, x, n, y, s);
}

/* Encode B^T (N x K) from B (K x N) already rounded (bh). */
static void encode_bt(const float *bh, int k, int n, int f, int fp64,
                      lval *out)
{
	for (int p = 0; p < k; p++)
		for (int j = 0; j < n; j++)
			out[(size_t)j * k + p] = encode_one(bh[(size_t)p * n + j],
			                                    f, fp64);
}

/* ==== log ==== */

/* 2^(r / 2^F) = hi[r >> LO] * lo[r & (2^LO - 1)], LO = F / 2 (the fp32
 * kernel's tables and product order). */
static size_t tab_doubles(int f)
{
	return f < 0 ? 0 : ((size_t)1 << (f - f / 2)) + ((size_t)1 << (f / 2));
}

static double pow2i(int q)
{
	uint64_t bits = (uint64_t)(q + 1023) << 52;
	double x;
	memcpy(&x, &bits, sizeof x);
	return x;
}

static double fixed_exp2(const double *tab, int f, int64_t e)
{
	const int lo = f / 2;
	const double *hi_t = tab, *lo_t = tab + ((size_t)1 << (f - lo));
	const int64_t bias = (int64_t)1024 << f;
	const uint64_t eb = (uint64_t)(e + bias);
	const int q = (int)(eb >> f) - 1024;
	const uint64_t r = eb & (((uint64_t)1 << f) - 1);
	return hi_t[r >> lo] * lo_t[r & (((uint64_t)1 << lo) - 1)] * pow2i(q);
}

static size_t log_state_bytes(const dp_desc *d)
{
	return HDR + al64(tab_doubles(d->frac_bits) * 8) +
	       (size_t)d->mm_k * (size_t)d->mm_n * sizeof(lval);
}

static dp_status log_prepare(const dp_desc *d, const float *b,
                             const float *bias, void *state)
{
	(void)bias;
	const mode m = mode_of(d);
	const int f = d->frac_bits;
	const size_t kn = (size_t)d->mm_k * (size_t)d->mm_n;
	hdr *h = state;
	double *tab = (double *)((char *)state + HDR);
	lval *bt = (lval *)((char *)state + HDR + al64(tab_doubles(f) * 8));
	if (f >= 0) {
		const int lo = f / 2;
		const double sc = ldexp(1.0, -f);
		for (int r = 0; r < 1 << (f - lo); r++)
			tab[r] = exp2((double)((int64_t)r << lo) * sc);
		for (int r = 0; r < 1 << lo; r++)
			tab[((size_t)1 << (f - lo)) + r] = exp2((double)r * sc);
	}
	float *bh = malloc(kn * sizeof *bh);
	if (!bh)
		return DP_ERR_NOMEM;
	h->sb = tensor_scale(&m, b, kn);
	log_inputs(&m, b, kn, h->sb, bh);
	encode_bt(bh, d->mm_k, d->mm_n, f, m.kind == KIND_FP64, bt);
	free(bh);
	return DP_OK;
}

static size_t log_workspace_bytes(const dp_desc *d)
{
	return (size_t)d->mm_k * sizeof(lval) + 64;
}

static dp_status log_execute(const dp_desc *d, const void *state,
                             const float *a, float *c, void *workspace)
{
	const mode m = mode_of(d);
	const int mm = d->mm_m, k = d->mm_k, n = d->mm_n, f = d->frac_bits;
	const int fp64 = m.kind == KIND_FP64;
	const double *tab = (const double *)((const char *)state + HDR);
	const lval *bt = (const lval *)((const char *)state + HDR +
	                                al64(tab_doubles(f) * 8));
	lval *ar = workspace;
	const float sa = tensor_scale(&m, a, (size_t)mm * k);
	for (int i = 0; i < mm; i++) {
		for (int p = 0; p < k; p++) {
			float v;
			log_inputs(&m, a + (size_t)i * k + p, 1, sa, &v);
			ar[p] = encode_one(v, f, fp64);
		}
		for (int j = 0; j < n; j++) {
			const lval *bj = bt + (size_t)j * k;
			special s = { 0, 0, 0 };
			double sd = 0;   /* fp64 */
			float sf = 0;    /* float formats, int */
			for (int p = 0; p < k; p++) {
				const int cls = product_class(ar[p].c & 3, bj[p].c & 3);
				const int neg = ((ar[p].c ^ bj[p].c) & NEG) != 0;
				if (cls == CLS_NAN) {
					s.nan = 1;
					continue;
				}
				if (cls == CLS_INF) {
					*(neg ? &s.neg : &s.pos) = 1;
					continue;
				}
				if (cls != CLS_FIN)
					continue;
				double v;   /* |product| */
				if (f >= 0)
					v = fixed_exp2(tab, f, ar[p].v.e + bj[p].v.e);
				else if (fp64)
					v = exp2(ar[p].v.l + bj[p].v.l);
				else
					v = exp2f((float)ar[p].v.l + (float)bj[p].v.l);
				if (neg)
					v = -v;
				if (fp64)
					sd += v;
				else if (m.kind == KIND_FLOAT && !m.acc32)
					sf = m.rnd(sf + round_d(&m, v));
				else
					sf += (float)v;
			}
			float out = fp64 ? (float)sd :
			            m.kind == KIND_FLOAT && m.acc32 ? m.rnd(sf) : sf;
			c[(size_t)i * n + j] = s.nan || s.pos || s.neg ?
				special_value(&s) : out;
		}
	}
	return DP_OK;
}

/* ==== lns ==== */

typedef struct lns_acc { int64_t *acc; int up, down; } lns_acc;

/* +-(m << sh) (truncated toward zero for sh < 0) into bin; outside the
 * W-bit range: recorded as an overflow, the bin left as it was. */
static void lns_add(lns_acc *x, int bin, int64_t mant, int sh, int neg,
                    int w)
{
	const int64_t hi = w == 64 ? INT64_MAX : ((int64_t)1 << (w - 1)) - 1;
	const int64_t lo = -hi - 1;
	int64_t v, sum;
	if (sh < 0)
		v = sh <= -63 ? 0 : mant >> -sh;
	else if (64 - __builtin_clzll((unsigned long long)mant) + sh > 63)
		v = -1;
	else
		v = mant << sh;
	if (v < 0 || v > hi ||
	    (neg ? __builtin_sub_overflow(x->acc[bin], v, &sum)
	         : __builtin_add_overflow(x->acc[bin], v, &sum)) ||
	    sum > hi || sum < lo) {
		*(neg ? &x->down : &x->up) = 1;
		return;
	}
	x->acc[bin] = sum;
}

static size_t lns_state_bytes(const dp_desc *d)
{
	return HDR + al64(((size_t)1 << d->bin_bits) * 8) +
	       (size_t)d->mm_k * (size_t)d->mm_n * sizeof(lval);
}

static dp_status lns_prepare(const dp_desc *d, const float *b,
                             const float *bias, void *state)
{
	(void)bias;
	const mode m = mode_of(d);
	const int f = d->frac_bits, bb = d->bin_bits;
	const size_t kn = (size_t)d->mm_k * (size_t)d->mm_n;
	const size_t nb = (size_t)1 << bb;
	hdr *h = state;
	double *tab = (double *)((char *)state + HDR);
	lval *bt = (lval *)((char *)state + HDR + al64(nb * 8));
	for (size_t i = 0; i < nb; i++)
		tab[i] = exp2((double)((int64_t)i << (f - bb)) / ldexp(1.0, f));
	float *bh = malloc(kn * sizeof *bh);
	if (!bh)
		return DP_ERR_NOMEM;
	h->sb = tensor_scale(&m, b, kn);
	log_inputs(&m, b, kn, h->sb, bh);
	encode_bt(bh, d->mm_k, d->mm_n, f, 0, bt);
	free(bh);
	return DP_OK;
}

static size_t lns_workspace_bytes(const dp_desc *d)
{
	return al64(((size_t)1 << d->bin_bits) * 8) +
	       (size_t)d->mm_k * sizeof(lval);
}

static dp_status lns_execute(const dp_desc *d, const void *state,
                             const float *a, float *c, void *workspace)
{
	const mode m = mode_of(d);
	const int mm = d->mm_m, k = d->mm_k, n = d->mm_n;
	const int f = d->frac_bits, bb = d->bin_bits, w = d->acc_bits;
	const int off = w / 2;
	const size_t nb = (size_t)1 << bb;
	const double *tab = (const double *)((const char *)state + HDR);
	const lval *bt = (const lval *)((const char *)state + HDR +
	                                al64(nb * 8));
	lns_acc x = { workspace, 0, 0 };
	lval *ar = (lval *)((char *)workspace + al64(nb * 8));
	const int64_t bias = (int64_t)1024 << f;
	const uint32_t rmask = (1u << f) - 1, lomask = (1u << (f - bb)) - 1;
	const float sa = tensor_scale(&m, a, (size_t)mm * k);
	for (int i = 0; i < mm; i++) {
		for (int p = 0; p < k; p++) {
			float v;
			log_inputs(&m, a + (size_t)i * k + p, 1, sa, &v);
			ar[p] = encode_one(v, f, 0);
		}
		for (int j = 0; j < n; j++) {
			const lval *bj = bt + (size_t)j * k;
			special s = { 0, 0, 0 };
			memset(x.acc, 0, nb * sizeof *x.acc);
			x.up = x.down = 0;
			for (int p = 0; p < k; p++) {
				const int cls = product_class(ar[p].c & 3, bj[p].c & 3);
				const int neg = ((ar[p].c ^ bj[p].c) & NEG) != 0;
				if (cls == CLS_NAN) {
					s.nan = 1;
				} else if (cls == CLS_INF) {
					*(neg ? &s.neg : &s.pos) = 1;
				} else if (cls == CLS_FIN) {
					const uint64_t eb = (uint64_t)(ar[p].v.e +
					                               bj[p].v.e + bias);
					const int q = (int)(eb >> f) - 1024;
					const uint32_t r = (uint32_t)eb & rmask;
					const int64_t mant = ((int64_t)1 << f) + (r & lomask);
					lns_add(&x, (int)(r >> (f - bb)), mant, q + off - f,
					        neg, w);
				}
			}
			s.pos |= x.up;
			s.neg |= x.down;
			float out;
			if (s.nan || s.pos || s.neg) {
				out = special_value(&s);
				if (m.kind == KIND_FLOAT)
					out = m.rnd(out);   /* e4m3: Inf -> NaN */
			} else {
				double sum = 0;
				for (size_t bin = 0; bin < nb; bin++)
					sum += tab[bin] * (double)x.acc[bin];
				double v = dp_lns_round(ldexp(sum, -off), f);
				out = m.kind == KIND_FLOAT ? round_d(&m, v) : (float)v;
			}
			c[(size_t)i * n + j] = out;
		}
	}
	return DP_OK;
}

/* ==== the kernel table ==== */

#define KERNEL(alg, aname, prec, pname, pol, fn)                          \
	{ .name = "dp_matmul_" aname "_generic_" pname,                   \
	  .desc = { .op = DP_OP_MATMUL, .algo = alg, .precision = prec,   \
	            .policy = pol },                                      \
	  .generic = 1, .state_bytes = fn##_state_bytes,                  \
	  .prepare = fn##_prepare, .workspace_bytes = fn##_workspace_bytes, \
	  .execute = fn##_execute }

#define PRECISIONS(alg, aname, fn)                                          \
	KERNEL(alg, aname, DP_PREC_FP64, "fp64", DP_POLICY_ALL, fn),          \
	KERNEL(alg, aname, DP_PREC_TF32, "tf32", DP_POLICY_ALL, fn),          \
	KERNEL(alg, aname, DP_PREC_TF32, "tf32_acc32", DP_POLICY_ACC32, fn),  \
	KERNEL(alg, aname, DP_PREC_BF16, "bf16", DP_POLICY_ALL, fn),          \
	KERNEL(alg, aname, DP_PREC_BF16, "bf16_acc32", DP_POLICY_ACC32, fn),  \
	KERNEL(alg, aname, DP_PREC_FP16, "fp16", DP_POLICY_ALL, fn),          \
	KERNEL(alg, aname, DP_PREC_FP16, "fp16_acc32", DP_POLICY_ACC32, fn),  \
	KERNEL(alg, aname, DP_PREC_FP8_E4M3, "fp8_e4m3", DP_POLICY_ALL, fn),  \
	KERNEL(alg, aname, DP_PREC_FP8_E4M3, "fp8_e4m3_acc32",               \
	       DP_POLICY_ACC32, fn),                                          \
	KERNEL(alg, aname, DP_PREC_FP8_E5M2, "fp8_e5m2", DP_POLICY_ALL, fn),  \
	KERNEL(alg, aname, DP_PREC_FP8_E5M2, "fp8_e5m2_acc32",               \
	       DP_POLICY_ACC32, fn),                                          \
	KERNEL(alg, aname, DP_PREC_INT16, "int16", DP_POLICY_ALL, fn),        \
	KERNEL(alg, aname, DP_PREC_INT8, "int8", DP_POLICY_ALL, fn)

static const dp_kernel emul_kernels[] = {
	PRECISIONS(DP_ALGO_NAIVE, "naive", dense),
	PRECISIONS(DP_ALGO_GEMM, "gemm", dense),
	PRECISIONS(DP_ALGO_SVD, "svd", svd),
	PRECISIONS(DP_ALGO_LOG, "log", log),
	PRECISIONS(DP_ALGO_LNS, "lns", lns),
};

const dp_kernel *dp_emul_matmul_kernel(const dp_desc *d)
{
	if (!d || d->op != DP_OP_MATMUL || d->precision == DP_PREC_FP32)
		return NULL;
	for (size_t i = 0; i < sizeof emul_kernels / sizeof emul_kernels[0];
	     i++) {
		const dp_desc *e = &emul_kernels[i].desc;
		if (e->algo == d->algo && e->precision == d->precision &&
		    e->policy == d->policy)
			return &emul_kernels[i];
	}
	return NULL;
}
