/* t_precision.c - tests of the rounding functions (runtime/precision.c).
 *
 * - Exhaustive: every bit pattern of fp16, bf16 (65,536 each), tf32
 *   (2^19), e4m3 and e5m2 (256 each) decodes to the value an independent
 *   decoder (ldexp in double) gives, and encodes back to the same bits.
 *   NaN patterns come back as NaN with sign and payload kept and the quiet
 *   bit set, so exactly the signalling patterns are canonicalised.
 * - Rounding against an independent reference written differently: double
 *   arithmetic (scale by a power of two, nearbyint() in the default
 *   round-to-nearest-even mode, then the format's exponent range and
 *   overflow rule), on a stratified sample (every float exponent, every
 *   cut position with exact ties, tie +- 1 ulp, odd and even kept parts,
 *   every format's boundaries) and on random bit patterns. For fp16 also
 *   against the compiler's _Float16 conversion (when __FLT16_MAX__ is
 *   defined) and the F16C instruction (x86, when the CPU has it).
 * - The fast dp_round path against decode(encode(x)), monotonicity, sign
 *   symmetry, the overflow and saturation rules case by case, the format
 *   table, and the int8/int16 fixed-point functions.
 */
#include <fenv.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dpgen.h"
#include "precision.h"
#include "tap.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_F16C_TEST 1
#endif

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

/* Same value and sign; two NaNs of the same sign match. */
static int same(float a, float b)
{
	if (isnan(a) || isnan(b))
		return isnan(a) && isnan(b) && !signbit(a) == !signbit(b);
	return f2u(a) == f2u(b);
}

/* ---- the formats, described from their definitions ---- */

typedef struct tfmt {
	dp_format f;
	const char *name, *sfx; /* sfx: of dp_round_<sfx> */
	int width, m, emin; /* total bits, mantissa bits, least exponent */
	double max;
	int has_inf, sat;
} tfmt;

static const tfmt fmts[] = {
	{ DP_FMT_TF32, "tf32", "tf32", 19, 10, -126, 0x1.ffcp+127, 1, 0 },
	{ DP_FMT_BF16, "bf16", "bf16", 16, 7, -126, 0x1.fep+127, 1, 0 },
	{ DP_FMT_FP16, "fp16", "fp16", 16, 10, -14, 65504.0, 1, 0 },
	{ DP_FMT_E4M3, "fp8-e4m3", "e4m3", 8, 3, -6, 448.0, 0, 1 },
	{ DP_FMT_E5M2, "fp8-e5m2", "e5m2", 8, 2, -14, 57344.0, 1, 0 },
};
#define NFMT ((int)(sizeof fmts / sizeof fmts[0]))

static int t_ebits(const tfmt *t)
{
	return t->width - 1 - t->m;
}

static int is_nan_pattern(const tfmt *t, uint32_t b)
{
	const uint32_t mag = b & ((1u << (t->width - 1)) - 1);
	const uint32_t emax = (1u << t_ebits(t)) - 1;
	if (t->has_inf)
		return (mag >> t->m) == emax && (mag & ((1u << t->m) - 1));
	return mag == (1u << (t->width - 1)) - 1;
}

static float ref_decode(const tfmt *t, uint32_t b)
{
	const int sign = (int)(b >> (t->width - 1)) & 1;
	const uint32_t mag = b & ((1u << (t->width - 1)) - 1);
	const uint32_t ef = mag >> t->m, mf = mag & ((1u << t->m) - 1);
	const int bias = 1 - t->emin;
	double v;
	if (is_nan_pattern(t, b))
		return sign ? -NAN : NAN;
	if (t->has_inf && ef == (1u << t_ebits(t)) - 1)
		v = INFINITY;
	else if (ef == 0)
		v = ldexp((double)mf, t->emin - t->m);
	else
		v = ldexp((double)((1u << t->m) + mf), (int)ef - bias - t->m);
	return (float)(sign ? -v : v);
}

/* Round to nearest even in double arithmetic: the value's binade fixes the
 * quantum 2^(E - m), E clamped below at emin (the subnormals); nearbyint
 * rounds the scaled value (exact: a float times a power of two). */
static float ref_round(const tfmt *t, float xf)
{
	const double x = xf;
	if (isnan(x))
		return xf;
	if (isinf(x))
		return t->has_inf ? xf : (float)copysign(NAN, x);
	if (x == 0.0)
		return xf;
	int e;
	(void)frexp(fabs(x), &e);
	int E = e - 1;
	if (E < t->emin)
		E = t->emin;
	double r = ldexp(nearbyint(ldexp(fabs(x), t->m - E)), E - t->m);
	if (r > t->max)
		r = t->sat ? t->max : INFINITY;
	return (float)copysign(r, x);
}

/* ---- samples ---- */

typedef struct { uint32_t *v; size_t n, cap; } vec;

static void push(vec *s, uint32_t u)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 4096;
		s->v = realloc(s->v, s->cap * sizeof *s->v);
		if (!s->v) {
			printf("Bail out! out of memory\n");
			exit(1);
		}
	}
	s->v[s->n++] = u;
}

/* x and its float neighbours within k ulps (positive side only). */
static void push_near(vec *s, float x, int k)
{
	uint32_t u = f2u(fabsf(x));
	for (int d = -k; d <= k; d++) {
		int64_t w = (int64_t)u + d;
		if (w >= 0 && w <= 0x7F800000)
			push(s, (uint32_t)w);
	}
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd32(void)
{
	uint64_t x = rng_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return (uint32_t)((x * 0x2545F4914F6CDD1Dull) >> 32);
}

/* Positive floats: every exponent field 0..254 and every cut position
 * s = 1..23 (the number of low mantissa bits a format drops there; this
 * covers every format in its normal and subnormal range), with the kept
 * part even and odd, and the dropped part exactly half (a tie), half +-1,
 * zero and all ones. Then every format's own boundaries. */
static void build_stratified(vec *s)
{
	for (uint32_t ef = 0; ef < 255; ef++) {
		push(s, ef << 23);
		push(s, (ef << 23) | 0x7FFFFF);
		for (int cut = 1; cut <= 23; cut++) {
			const uint32_t low = (1u << cut) - 1, tie = 1u << (cut - 1);
			for (int parity = 0; parity < 2; parity++)
			for (int rep = 0; rep < 2; rep++) {
				uint32_t hi = (rnd32() & 0x7FFFFF) & ~low;
				if (cut < 23)
					hi = (hi & ~(1u << cut))
					     | ((uint32_t)parity << cut);
				else if (parity)
					continue; /* no kept mantissa bit */
				const uint32_t base = (ef << 23) | hi;
				push(s, base | tie);
				push(s, base | (tie + 1));
				push(s, base | (tie - 1));
				push(s, base);
				push(s, base | low);
			}
		}
	}
	for (int i = 0; i < NFMT; i++) {
		const tfmt *t = &fmts[i];
		const double sub = ldexp(1.0, t->emin - t->m);
		const double ulp_max = ldexp(1.0, (int)log2(t->max) - t->m);
		const double pts[] = {
			sub, 0.5 * sub, 1.5 * sub, 2.5 * sub, 2.0 * sub,
			ldexp(1.0, t->m) * sub - sub,          /* largest subnormal */
			ldexp(1.0, t->m) * sub - 0.5 * sub,    /* tie with min normal */
			ldexp(1.0, t->emin),                   /* min normal */
			t->max, t->max + 0.5 * ulp_max,        /* overflow threshold */
			t->max - 0.5 * ulp_max, 2.0 * t->max,
			1.0, 1.0 + ldexp(1.0, -t->m - 1),      /* tie above 1 */
			1.0 + 3 * ldexp(1.0, -t->m - 1),       /* odd tie above 1 */
		};
		for (size_t k = 0; k < sizeof pts / sizeof pts[0]; k++)
			if (pts[k] <= FLT_MAX)
				push_near(s, (float)pts[k], 3);
	}
	push_near(s, FLT_MAX, 3);
	push_near(s, FLT_MIN, 3);
	push_near(s, FLT_TRUE_MIN, 3);
	push(s, 0);
	push(s, 0x7F800000u);            /* Inf */
	push(s, 0x7FC00000u);            /* quiet NaN */
	push(s, 0x7FC00001u);            /* quiet NaN, low payload */
	push(s, 0x7F800001u);            /* signalling, only a low payload */
	push(s, 0x7FBFFFFFu);            /* signalling, full payload */
	push(s, 0x7FFFFFFFu);
	push(s, 0x7FA00000u);            /* signalling, a high payload bit */
}

/* Check one input (and its negation) for every format. Returns the
 * number of mismatches; the first few are printed. */
static size_t check_round(const vec *s, const char *what)
{
	size_t bad_ref[NFMT] = { 0 }, bad_slow[NFMT] = { 0 };
	size_t bad_sym[NFMT] = { 0 }, bad_typed[NFMT] = { 0 }, total = 0;
	for (size_t i = 0; i < s->n; i++)
	for (int sg = 0; sg < 2; sg++) {
		const float x = u2f(s->v[i] ^ (sg ? 0x80000000u : 0));
		for (int k = 0; k < NFMT; k++) {
			const tfmt *t = &fmts[k];
			const float got = dp_round(t->f, x);
			const float want = ref_round(t, x);
			const float slow = dp_decode(t->f, dp_encode(t->f, x));
			float typed = 0;
			switch (t->f) {
			case DP_FMT_TF32: typed = dp_round_tf32(x); break;
			case DP_FMT_BF16: typed = dp_round_bf16(x); break;
			case DP_FMT_FP16: typed = dp_round_fp16(x); break;
			case DP_FMT_E4M3: typed = dp_round_e4m3(x); break;
			case DP_FMT_E5M2: typed = dp_round_e5m2(x); break;
			default: break;
			}
			if (!same(got, want) && bad_ref[k]++ < 3)
				diag("%s %s: x=%a (0x%08x) got %a want %a", what,
				     t->name, (double)x, f2u(x), (double)got,
				     (double)want);
			/* fast path == decode(encode): bit for bit, NaNs too */
			if (f2u(got) != f2u(slow) && bad_slow[k]++ < 3)
				diag("%s %s: x=0x%08x round 0x%08x decode(encode)"
				     " 0x%08x", what, t->name, f2u(x), f2u(got),
				     f2u(slow));
			if (f2u(typed) != f2u(got))
				bad_typed[k]++;
			const float neg = dp_round(t->f, -x);
			if (f2u(neg) != (f2u(got) ^ 0x80000000u))
				bad_sym[k]++;
		}
	}
	for (int k = 0; k < NFMT; k++) {
		ok(bad_ref[k] == 0, "%s: %s rounds as the double reference "
		   "(%zu values, both signs; %zu mismatches)", what,
		   fmts[k].name, s->n, bad_ref[k]);
		ok(bad_slow[k] == 0 && bad_typed[k] == 0,
		   "%s: %s fast dp_round == decode(encode) == dp_round_%s, "
		   "bit for bit", what, fmts[k].name, fmts[k].sfx);
		ok(bad_sym[k] == 0, "%s: %s sign symmetry "
		   "round(-x) == -round(x)", what, fmts[k].name);
		total += bad_ref[k] + bad_slow[k] + bad_sym[k] + bad_typed[k];
	}
	return total;
}

/* ---- exhaustive round trips ---- */

static void exhaustive(const tfmt *t)
{
	const uint32_t n = 1u << t->width;
	const uint32_t sign_bit = 1u << (t->width - 1);
	const uint32_t quiet = t->has_inf ? 1u << (t->m - 1) : 0;
	size_t bad_dec = 0, bad_rt = 0, bad_nan = 0, canon = 0, nans = 0;
	size_t bad_mono = 0, bad_typed = 0, bad_round = 0;
	float prev = 0;
	for (uint32_t b = 0; b < n; b++) {
		const float v = dp_decode(t->f, b);
		const float r = ref_decode(t, b);
		float tv = 0;
		uint32_t tb = 0;
		switch (t->f) {
		case DP_FMT_TF32: tv = dp_decode_tf32(b);
		                  tb = dp_encode_tf32(v); break;
		case DP_FMT_BF16: tv = dp_decode_bf16((uint16_t)b);
		                  tb = dp_encode_bf16(v); break;
		case DP_FMT_FP16: tv = dp_decode_fp16((uint16_t)b);
		                  tb = dp_encode_fp16(v); break;
		case DP_FMT_E4M3: tv = dp_decode_e4m3((uint8_t)b);
		                  tb = dp_encode_e4m3(v); break;
		case DP_FMT_E5M2: tv = dp_decode_e5m2((uint8_t)b);
		                  tb = dp_encode_e5m2(v); break;
		default: break;
		}
		const uint32_t e = dp_encode(t->f, v);
		if (f2u(tv) != f2u(v) || tb != e)
			bad_typed++;
		if (is_nan_pattern(t, b)) {
			nans++;
			/* NaN, sign kept, payload kept (decoding is exact) */
			const uint32_t pay = b & ((1u << t->m) - 1);
			int okk = isnan(v) && !signbit(v) == !(b & sign_bit);
			if (t->has_inf)
				okk = okk && ((f2u(v) >> (23 - t->m))
				              & ((1u << t->m) - 1)) == pay;
			if (!okk)
				bad_nan++;
			if (e != (b | quiet))
				bad_nan++;
			if (e != b)
				canon++;
			continue;
		}
		if (f2u(v) != f2u(r) && bad_dec++ < 3)
			diag("%s: decode(0x%x) = %a, want %a", t->name, b,
			     (double)v, (double)r);
		if (e != b && bad_rt++ < 3)
			diag("%s: encode(decode(0x%x)) = 0x%x", t->name, b, e);
		if (f2u(dp_round(t->f, v)) != f2u(v))
			bad_round++;
		/* positive patterns in increasing order are increasing */
		if (b > 0 && b < sign_bit && !isnan(prev) && !(v > prev))
			bad_mono++;
		prev = v;
	}
	ok(bad_dec == 0, "%s: all %u patterns decode as the ldexp reference",
	   t->name, n);
	ok(bad_rt == 0 && bad_round == 0, "%s: every non-NaN pattern "
	   "encodes back to itself and is a fixed point of dp_round",
	   t->name);
	const size_t want_canon = t->has_inf ? 2 * ((1u << (t->m - 1)) - 1) : 0;
	ok(bad_nan == 0 && canon == want_canon, "%s: %zu NaN patterns stay "
	   "NaN (sign, payload kept); the %zu signalling ones come back with "
	   "the quiet bit set", t->name, nans, canon);
	ok(bad_mono == 0, "%s: positive patterns decode in increasing order",
	   t->name);
	ok(bad_typed == 0, "%s: dp_encode_/dp_decode_%s agree with dp_encode"
	   "/dp_decode", t->name, t->sfx);
}

/* ---- fp16 against the compiler and the hardware ---- */

#ifdef __FLT16_MAX__
static size_t cmp_float16(const vec *s, size_t *nan_payload_diff)
{
	size_t bad = 0;
	for (size_t i = 0; i < s->n; i++)
	for (int sg = 0; sg < 2; sg++) {
		const float x = u2f(s->v[i] ^ (sg ? 0x80000000u : 0));
		volatile _Float16 h = (_Float16)x;
		_Float16 hh = h;
		const float want = (float)hh;
		if (!same(dp_round_fp16(x), want) && bad++ < 3)
			diag("_Float16: x=%a got %a want %a", (double)x,
			     (double)dp_round_fp16(x), (double)want);
		uint16_t hb;
		memcpy(&hb, &hh, sizeof hb);
		if (isnan(x) && hb != dp_encode_fp16(x))
			(*nan_payload_diff)++;
	}
	return bad;
}
#endif

#ifdef HAVE_F16C_TEST
/* F16C is VEX-encoded: it needs the CPU bit and the OS saving YMM state
 * (cpuid instead of __builtin_cpu_supports, which clang 14 lacks "f16c"
 * in). */
static int have_f16c(void)
{
	unsigned a, b, c, d, lo, hi;
	if (!__get_cpuid(1, &a, &b, &c, &d))
		return 0;
	const unsigned need = (1u << 29) | (1u << 28) | (1u << 27);
	if ((c & need) != need) /* F16C, AVX, OSXSAVE */
		return 0;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	(void)hi;
	return (lo & 6u) == 6u; /* XMM and YMM state enabled */
}

__attribute__((target("f16c")))
static uint16_t f16c_encode(float x)
{
	return (uint16_t)_cvtss_sh(x, 0 /* round to nearest even */);
}

static size_t cmp_f16c(const vec *s, size_t *nan_payload_diff)
{
	size_t bad = 0;
	for (size_t i = 0; i < s->n; i++)
	for (int sg = 0; sg < 2; sg++) {
		const float x = u2f(s->v[i] ^ (sg ? 0x80000000u : 0));
		const uint16_t want = f16c_encode(x);
		const uint16_t got = dp_encode_fp16(x);
		if (isnan(x)) {
			if (got != want)
				(*nan_payload_diff)++;
			if (!isnan(dp_decode_fp16(want)))
				bad++;
			continue;
		}
		if (got != want && bad++ < 3)
			diag("F16C: x=%a got 0x%04x want 0x%04x", (double)x, got,
			     want);
	}
	return bad;
}
#endif

static void fp16_hardware(const vec *strat, const vec *rnd)
{
	int any = 0;
	(void)strat;
	(void)rnd;
	(void)any;
#ifdef __FLT16_MAX__
	{
		size_t pd1 = 0, pd2 = 0;
		size_t b1 = cmp_float16(strat, &pd1);
		size_t b2 = cmp_float16(rnd, &pd2);
		ok(b1 == 0, "fp16: dp_round_fp16 == (float)(_Float16)x on the "
		   "stratified sample (%zu values, both signs)", strat->n);
		ok(b2 == 0, "fp16: dp_round_fp16 == (float)(_Float16)x on %zu "
		   "random bit patterns (both signs)", rnd->n);
		ok(pd1 + pd2 == 0, "fp16: NaN bits equal the compiler's "
		   "(payload kept, quiet bit set)");
		any = 1;
	}
#endif
#ifdef HAVE_F16C_TEST
	if (have_f16c()) {
		size_t pd = 0;
		size_t b1 = cmp_f16c(strat, &pd) + cmp_f16c(rnd, &pd);
		ok(b1 == 0, "fp16: dp_encode_fp16 == F16C vcvtps2ph on the "
		   "stratified and random samples");
		ok(pd == 0, "fp16: NaN bits equal F16C's (%zu differ)", pd);
		any = 1;
	} else {
		diag("no F16C on this CPU: that reference is skipped");
	}
#endif
#ifndef __FLT16_MAX__
	diag("this compiler has no _Float16 (__FLT16_MAX__ undefined): "
	     "that reference is skipped");
#endif
	if (!any)
		diag("fp16 is checked against the double reference only");
}

/* ---- monotonicity ---- */

static int cmp_u32(const void *a, const void *b)
{
	const uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}


static void monotonic(void)
{
	vec s = { 0 };
	/* a sweep through every binade, then dense walks near boundaries */
	for (uint32_t u = 0; u < 0x7F800000u; u += 4099)
		push(&s, u);
	for (int i = 0; i < NFMT; i++) {
		const tfmt *t = &fmts[i];
		const float pts[] = {
			(float)ldexp(1.0, t->emin - t->m),
			(float)ldexp(1.0, t->emin), (float)t->max, 1.0f,
		};
		for (size_t k = 0; k < sizeof pts / sizeof pts[0]; k++) {
			const uint32_t c = f2u(pts[k]);
			for (uint32_t d = 0; d < 4000; d++)
				push(&s, c - 2000 + d);
		}
	}
	for (uint32_t d = 0; d < 4000; d++)
		push(&s, d);
	for (uint32_t d = 0; d < 4000; d++)
		push(&s, 0x7F7FFFFFu - d);
	/* positive floats sort like their bits */
	qsort(s.v, s.n, sizeof *s.v, cmp_u32);
	for (int k = 0; k < NFMT; k++) {
		const tfmt *t = &fmts[k];
		size_t bad = 0;
		for (size_t i = 1; i < s.n; i++) {
			float a = dp_round(t->f, u2f(s.v[i - 1]));
			float b = dp_round(t->f, u2f(s.v[i]));
			float na = dp_round(t->f, -u2f(s.v[i - 1]));
			float nb = dp_round(t->f, -u2f(s.v[i]));
			if (!(a <= b) || !(nb <= na))
				bad++;
		}
		ok(bad == 0, "%s: rounding is monotonic over %zu sorted finite "
		   "floats of each sign", t->name, s.n);
	}
	free(s.v);
}

/* ---- explicit overflow, saturation and NaN cases ---- */

typedef struct { dp_format f; float x; uint32_t bits; } enc_case;

static void explicit_cases(void)
{
	const enc_case c[] = {
		/* fp16: IEEE overflow at 65520 = 65504 + half an ulp */
		{ DP_FMT_FP16, 65504.0f, 0x7BFF },
		{ DP_FMT_FP16, 0x1.ffdffep+15f, 0x7BFF }, /* just below 65520 */
		{ DP_FMT_FP16, 65520.0f, 0x7C00 },        /* tie -> even: Inf */
		{ DP_FMT_FP16, -65520.0f, 0xFC00 },
		{ DP_FMT_FP16, 1e10f, 0x7C00 },
		{ DP_FMT_FP16, INFINITY, 0x7C00 },
		{ DP_FMT_FP16, -INFINITY, 0xFC00 },
		{ DP_FMT_FP16, 0x1p-24f, 0x0001 },        /* min subnormal */
		{ DP_FMT_FP16, 0x1p-25f, 0x0000 },        /* tie -> even 0 */
		{ DP_FMT_FP16, 0x1.000002p-25f, 0x0001 },
		{ DP_FMT_FP16, -0x1p-25f, 0x8000 },       /* -0 */
		{ DP_FMT_FP16, 0x1.8p-24f, 0x0002 },      /* 1.5 sub -> 2 */
		{ DP_FMT_FP16, 0x1.ff8p-15f, 0x03FF },    /* largest subnormal */
		{ DP_FMT_FP16, 0x1.ffcp-15f, 0x0400 },    /* tie -> min normal */
		{ DP_FMT_FP16, 1.0f + 0x1p-11f, 0x3C00 }, /* tie -> even */
		{ DP_FMT_FP16, 1.0f + 0x3p-11f, 0x3C02 }, /* tie -> even (up) */
		{ DP_FMT_FP16, 2049.0f, 0x6800 },         /* 2048, tie down */
		{ DP_FMT_FP16, 2051.0f, 0x6802 },         /* 2052, tie up */
		/* bf16 */
		{ DP_FMT_BF16, 0x1.fep+127f, 0x7F7F },
		{ DP_FMT_BF16, 0x1.ffp+127f, 0x7F80 },    /* tie -> Inf */
		{ DP_FMT_BF16, 0x1.fefffep+127f, 0x7F7F },
		{ DP_FMT_BF16, FLT_MAX, 0x7F80 },
		{ DP_FMT_BF16, 0x1p-133f, 0x0001 },
		{ DP_FMT_BF16, 0x1p-134f, 0x0000 },
		{ DP_FMT_BF16, FLT_TRUE_MIN, 0x0000 },
		{ DP_FMT_BF16, 1.0f + 0x1p-8f, 0x3F80 },
		{ DP_FMT_BF16, 1.0f + 0x1p-8f + 0x1p-23f, 0x3F81 },
		/* tf32 (19 bits: sign at bit 18) */
		{ DP_FMT_TF32, 0x1.ffcp+127f, 0x3FBFF },
		{ DP_FMT_TF32, 0x1.ffep+127f, 0x3FC00 },  /* tie -> Inf */
		{ DP_FMT_TF32, -INFINITY, 0x7FC00 },
		{ DP_FMT_TF32, 1.0f + 0x1p-11f, 0x1FC00 },
		{ DP_FMT_TF32, 0x1p-136f, 0x00001 },
		/* e5m2: IEEE-like, max 57344, overflow at 61440 */
		{ DP_FMT_E5M2, 57344.0f, 0x7B },
		{ DP_FMT_E5M2, 61439.996f, 0x7B },
		{ DP_FMT_E5M2, 61440.0f, 0x7C },
		{ DP_FMT_E5M2, -1e6f, 0xFC },
		{ DP_FMT_E5M2, INFINITY, 0x7C },
		{ DP_FMT_E5M2, 0x1p-16f, 0x01 },
		{ DP_FMT_E5M2, 0x1p-17f, 0x00 },
		{ DP_FMT_E5M2, 0x1.8p-16f, 0x02 },
		{ DP_FMT_E5M2, NAN, 0x7E },              /* canonical quiet */
		/* e4m3: saturating; Inf -> NaN; one NaN per sign */
		{ DP_FMT_E4M3, 448.0f, 0x7E },
		{ DP_FMT_E4M3, 463.99997f, 0x7E },       /* rounds to 448 */
		{ DP_FMT_E4M3, 464.0f, 0x7E },           /* would be 480: sat */
		{ DP_FMT_E4M3, 480.0f, 0x7E },
		{ DP_FMT_E4M3, 1e6f, 0x7E },
		{ DP_FMT_E4M3, FLT_MAX, 0x7E },
		{ DP_FMT_E4M3, -1e6f, 0xFE },
		{ DP_FMT_E4M3, INFINITY, 0x7F },         /* NaN, not 448 */
		{ DP_FMT_E4M3, -INFINITY, 0xFF },
		{ DP_FMT_E4M3, NAN, 0x7F },
		{ DP_FMT_E4M3, -NAN, 0xFF },
		{ DP_FMT_E4M3, 256.0f, 0x78 },            /* exp 1111 is finite */
		{ DP_FMT_E4M3, 416.0f, 0x7D },            /* 416 = 1.625*2^8 */
		{ DP_FMT_E4M3, 0x1p-9f, 0x01 },
		{ DP_FMT_E4M3, 0x1p-10f, 0x00 },
		{ DP_FMT_E4M3, 0x1.8p-9f, 0x02 },
		{ DP_FMT_E4M3, 0x1.cp-7f, 0x07 },         /* largest subnormal */
		{ DP_FMT_E4M3, 0x1.ep-7f, 0x08 },         /* tie -> min normal */
	};
	size_t bad = 0;
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		const uint32_t got = dp_encode(c[i].f, c[i].x);
		if (got != c[i].bits) {
			bad++;
			diag("%s: encode(%a) = 0x%x, want 0x%x",
			     dp_format_name(c[i].f), (double)c[i].x, got,
			     c[i].bits);
		}
	}
	ok(bad == 0, "%zu explicit encodings: overflow, saturation, ties, "
	   "subnormal boundaries, Inf and NaN", sizeof c / sizeof c[0]);

	ok(dp_round_fp16(65520.0f) == INFINITY &&
	   dp_round_fp16(0x1.ffdffep+15f) == 65504.0f,
	   "fp16: 65520 rounds to Inf, the float below it to 65504");
	ok(dp_round_e4m3(1e30f) == 448.0f && dp_round_e4m3(-500.0f) == -448.0f,
	   "e4m3: finite overflow saturates to +-448");
	ok(isnan(dp_round_e4m3(INFINITY)) && isnan(dp_round_e4m3(-INFINITY)) &&
	   signbit(dp_round_e4m3(-INFINITY)),
	   "e4m3: +-Inf becomes NaN of the same sign (documented choice)");
	ok(dp_round_e5m2(61440.0f) == INFINITY &&
	   dp_round_e5m2(-61440.0f) == -INFINITY &&
	   dp_round_e5m2(61439.996f) == 57344.0f,
	   "e5m2: overflow to Inf at 61440");
	ok(dp_round_bf16(FLT_MAX) == INFINITY &&
	   dp_round_tf32(FLT_MAX) == INFINITY,
	   "bf16, tf32: FLT_MAX rounds to Inf");
	ok(dp_encode_bf16(u2f(0x7F800001u)) == 0x7FC0 &&
	   dp_encode_fp16(u2f(0xFF800001u)) == 0xFE00 &&
	   dp_encode_fp16(u2f(0x7FBFE000u)) == 0x7FFF,
	   "NaN with only low payload bits stays NaN (quiet), never Inf");
	ok(f2u(dp_round(DP_FMT_FP32, u2f(0x7F800001u))) == 0x7F800001u &&
	   f2u(dp_round(DP_FMT_FP32, 0x1.000001p0f)) == f2u(0x1.000001p0f),
	   "fp32: dp_round is the identity, NaN payloads included");
	ok(isnan(dp_round((dp_format)DP_FMT_COUNT, 1.0f)) &&
	   dp_encode((dp_format)-1, 1.0f) == 0,
	   "an out-of-range format rounds to NaN and encodes to 0");
}

/* ---- the format table ---- */

static void table(void)
{
	size_t bad = 0;
	for (int i = 0; i < NFMT; i++) {
		const tfmt *t = &fmts[i];
		const dp_format_info *fi = dp_format_get(t->f);
		if (!fi) {
			bad++;
			continue;
		}
		const uint32_t maxpat = t->has_inf
			? (((1u << t_ebits(t)) - 1) << t->m) - 1
			: (1u << (t->width - 1)) - 2;
		const float one = 1.0f;
		const float next1 = dp_decode(t->f, dp_encode(t->f, one) + 1);
		const int fine =
			strcmp(fi->name, t->name) == 0 &&
			fi->bits == t->width && fi->man_bits == t->m &&
			fi->exp_bits == t_ebits(t) && fi->bias == 1 - t->emin &&
			fi->has_inf == t->has_inf && fi->saturates == t->sat &&
			fi->max_finite == dp_decode(t->f, maxpat) &&
			(double)fi->max_finite == t->max &&
			fi->min_normal == dp_decode(t->f, 1u << t->m) &&
			fi->min_subnormal == dp_decode(t->f, 1) &&
			fi->epsilon == next1 - one &&
			fi->unit_roundoff == fi->epsilon / 2 &&
			dp_round(t->f, fi->overflow_threshold) ==
				(t->sat ? fi->max_finite : INFINITY) &&
			dp_round(t->f, nextafterf(fi->overflow_threshold, 0)) ==
				fi->max_finite;
		if (!fine) {
			bad++;
			diag("%s: format info disagrees", t->name);
		}
	}
	const dp_format_info *f32 = dp_format_get(DP_FMT_FP32);
	ok(bad == 0 && f32 && f32->max_finite == FLT_MAX &&
	   f32->min_subnormal == FLT_TRUE_MIN && f32->epsilon == FLT_EPSILON &&
	   f32->overflow_threshold == INFINITY,
	   "format table: widths, max finite, min normal, min subnormal, "
	   "epsilon, overflow threshold");

	int names_ok = 1;
	for (int f = 0; f < DP_FMT_COUNT; f++) {
		dp_format g;
		const char *nm = dp_format_name((dp_format)f);
		if (!nm || dp_format_parse(nm, &g) != DP_OK || g != (dp_format)f)
			names_ok = 0;
	}
	dp_format g = DP_FMT_COUNT;
	ok(names_ok, "every format name parses back to its format");
	ok(dp_format_parse("e4m3", &g) == DP_OK && g == DP_FMT_E4M3 &&
	   dp_format_parse("fp8_e5m2", &g) == DP_OK && g == DP_FMT_E5M2 &&
	   dp_format_parse("fp8-e4m3", &g) == DP_OK && g == DP_FMT_E4M3 &&
	   dp_format_parse("fp32", &g) == DP_OK && g == DP_FMT_FP32,
	   "aliases e4m3, fp8_e5m2 parse");
	ok(dp_format_parse("fp8", &g) == DP_ERR_ARG &&
	   dp_format_parse("FP16", &g) == DP_ERR_ARG &&
	   dp_format_parse("", &g) == DP_ERR_ARG &&
	   dp_format_parse(NULL, &g) == DP_ERR_ARG &&
	   dp_format_parse("fp16", NULL) == DP_ERR_ARG &&
	   dp_format_name(DP_FMT_COUNT) == NULL &&
	   dp_format_get(DP_FMT_COUNT) == NULL,
	   "unknown names and NULL are rejected");

	float a[5] = { 1.0f, 65520.0f, 0x1p-25f, -3.14159f, NAN }, b[5];
	int arr = dp_round_array(DP_FMT_FP16, a, b, 5) == DP_OK;
	for (int i = 0; i < 5; i++)
		arr = arr && same(b[i], dp_round_fp16(a[i]));
	arr = arr && dp_round_array(DP_FMT_FP16, a, a, 5) == DP_OK;
	for (int i = 0; i < 5; i++)
		arr = arr && same(a[i], b[i]);
	arr = arr && dp_round_array(DP_FMT_FP32, b, a, 5) == DP_OK &&
	      memcmp(a, b, sizeof a) == 0;
	arr = arr && dp_round_array(DP_FMT_FP16, NULL, b, 5) == DP_ERR_ARG &&
	      dp_round_array(DP_FMT_FP16, NULL, NULL, 0) == DP_OK &&
	      dp_round_array(DP_FMT_COUNT, a, b, 5) == DP_ERR_ARG;
	ok(arr, "dp_round_array: out of place, in place, fp32 copy, errors");
}

/* ---- fixed point ---- */

static int within_half(const float *x, size_t n, float s, int bits,
                       int *clamped)
{
	const int32_t qmax = dp_fixed_qmax(bits);
	int fine = 1;
	*clamped = 0;
	for (size_t i = 0; i < n; i++) {
		int nf = -1;
		const int32_t q = dp_fixed_quantize_value(x[i], s, bits, &nf);
		if (nf != 0 || q < -qmax || q > qmax)
			fine = 0;
		/* exact in double: q has <= 15 bits, s 24 */
		const double err = fabs((double)x[i] - (double)q * (double)s);
		if (!(err <= 0.5 * (double)s))
			fine = 0;
		if ((q == qmax || q == -qmax) &&
		    fabs((double)x[i]) > (double)qmax * s)
			(*clamped)++;
	}
	return fine;
}

static void fixed_point(void)
{
	ok(dp_fixed_qmax(8) == 127 && dp_fixed_qmax(16) == 32767 &&
	   dp_fixed_qmax(2) == 1 && dp_fixed_qmax(1) == 0 &&
	   dp_fixed_qmax(17) == 0, "qmax: 127 for int8, 32767 for int16");

	/* the scale: max over finite values, rounded up to a float */
	const float x1[] = { -3.0f, 1.0f, 2.5f, NAN, INFINITY, -INFINITY };
	float s = -1;
	const int st = dp_fixed_scale(x1, 6, 8, &s);
	const float below = u2f(f2u(s) - 1);
	ok(st == DP_OK && (double)s * 127.0 >= 3.0 &&
	   (double)below * 127.0 < 3.0 && fabs((double)s - 3.0 / 127) < 1e-8,
	   "scale = max|finite x| / 127, the least float with s*127 >= max "
	   "(NaN, Inf ignored): %a", (double)s);

	size_t nf = 99;
	int8_t q8[6];
	ok(dp_quantize_int8(x1, 6, s, q8, &nf) == DP_OK && nf == 3 &&
	   q8[0] == -127 && q8[3] == 0 && q8[4] == 127 && q8[5] == -127,
	   "int8: max|x| -> -127; NaN -> 0, +-Inf -> +-127, 3 counted");

	/* zero, empty, all non-finite: scale 0, q = 0, no division */
	const float z[4] = { 0.0f, -0.0f, 0.0f, 0.0f };
	const float nn[2] = { NAN, INFINITY };
	float sz = -1, se = -1, sn = -1, back[4] = { 1, 1, 1, 1 };
	int16_t q16[4] = { 1, 1, 1, 1 };
	int fine = dp_fixed_scale(z, 4, 16, &sz) == DP_OK && sz == 0.0f &&
		dp_fixed_scale(NULL, 0, 8, &se) == DP_OK && se == 0.0f &&
		dp_fixed_scale(nn, 2, 8, &sn) == DP_OK && sn == 0.0f &&
		dp_quantize_int16(z, 4, 0.0f, q16, &nf) == DP_OK && nf == 0 &&
		dp_dequantize_int16(q16, 4, 0.0f, back) == DP_OK;
	for (int i = 0; i < 4; i++)
		fine = fine && q16[i] == 0 && back[i] == 0.0f;
	fine = fine && dp_quantize_int16(nn, 2, 0.0f, q16, &nf) == DP_OK &&
	       nf == 2 && q16[0] == 0 && q16[1] == 0 &&
	       dp_fixed_quantize_value(5.0f, 0.0f, 8, NULL) == 0;
	ok(fine, "scale 0 (all zero, empty, only NaN/Inf): every q is 0, "
	   "no division");

	/* ties to even, clamping; scale 1 so x / s is x */
	const struct { float x; int bits; int32_t q; } tc[] = {
		{ 0.5f, 8, 0 }, { 1.5f, 8, 2 }, { 2.5f, 8, 2 }, { 3.5f, 8, 4 },
		{ -0.5f, 8, 0 }, { -1.5f, 8, -2 }, { -2.5f, 8, -2 },
		{ -3.5f, 8, -4 }, { 2.5000002f, 8, 3 }, { 2.4999998f, 8, 2 },
		{ 126.5f, 8, 126 }, { -126.5f, 8, -126 }, { 125.5f, 8, 126 },
		{ 127.0f, 8, 127 }, { 127.5f, 8, 127 }, { 128.0f, 8, 127 },
		{ 200.0f, 8, 127 }, { -1e30f, 8, -127 }, { -128.0f, 8, -127 },
		{ 1000.5f, 16, 1000 }, { 1001.5f, 16, 1002 },
		{ 32766.5f, 16, 32766 }, { 32767.5f, 16, 32767 },
		{ -40000.0f, 16, -32767 }, { FLT_MAX, 16, 32767 },
		{ 0x1p-149f, 8, 0 }, { -0.0f, 8, 0 },
	};
	size_t bad = 0;
	for (size_t i = 0; i < sizeof tc / sizeof tc[0]; i++) {
		int32_t q = dp_fixed_quantize_value(tc[i].x, 1.0f, tc[i].bits,
		                                    NULL);
		if (q != tc[i].q && bad++ < 3)
			diag("quantize(%a, s=1, %d bits) = %d, want %d",
			     (double)tc[i].x, tc[i].bits, q, tc[i].q);
	}
	ok(bad == 0, "ties to even, clamping to +-qmax (-128 never appears)");

	/* ties with scales other than 1, detected exactly */
	ok(dp_fixed_quantize_value(0.625f, 0.25f, 8, NULL) == 2 &&
	   dp_fixed_quantize_value(0.875f, 0.25f, 8, NULL) == 4 &&
	   dp_fixed_quantize_value(7.5f, 3.0f, 8, NULL) == 2 &&
	   dp_fixed_quantize_value(10.5f, 3.0f, 8, NULL) == 4 &&
	   dp_fixed_quantize_value(nextafterf(7.5f, 8), 3.0f, 8, NULL) == 3 &&
	   dp_fixed_quantize_value(nextafterf(10.5f, 0), 3.0f, 8, NULL) == 3 &&
	   dp_fixed_quantize_value(-7.5f, 3.0f, 16, NULL) == -2,
	   "ties with scales 0.25 and 3: exact ties to even, 1 ulp off not");

	/* random exact ties: s has 8 significant bits, so (k + 1/2) s is a
	 * float; it must go to the even one of k, k + 1, its neighbours one
	 * ulp away to the nearer */
	size_t tie_bad = 0, ntie = 0;
	for (int i = 0; i < 20000; i++) {
		const int bits = (i & 1) ? 16 : 8;
		const int32_t qmax = dp_fixed_qmax(bits);
		const int e = (int)(rnd32() % 200) - 120;
		const float sc = (float)ldexp(128 + rnd32() % 128, e - 7);
		const int32_t k = (int32_t)(rnd32() % (uint32_t)qmax);
		const float x = (float)((k + 0.5) * sc);
		if ((double)x != (k + 0.5) * sc || !(sc > 0))
			continue;
		ntie++;
		const int32_t want = (k & 1) ? k + 1 : k;
		const int32_t up = k + 1 > qmax ? qmax : k + 1;
		if (dp_fixed_quantize_value(x, sc, bits, NULL) != want ||
		    dp_fixed_quantize_value(-x, sc, bits, NULL) != -want ||
		    dp_fixed_quantize_value(nextafterf(x, INFINITY), sc, bits,
		                            NULL) != up ||
		    dp_fixed_quantize_value(nextafterf(x, 0), sc, bits, NULL)
		    != k)
			tie_bad++;
	}
	ok(tie_bad == 0 && ntie > 10000, "%zu random exact ties (int8, int16, "
	   "scales 2^-120..2^80) go to even, 1 ulp off to the nearer", ntie);

	/* round trip on tensors of many magnitudes: |x - q s| <= s/2 */
	static float t[4096];
	int rt_ok = 1, clamps = 0;
	const float mags[] = { 1.0f, 1e-30f, 1e30f, 3e-39f /* subnormal */,
	                       1e-44f, 0.1f };
	for (size_t mi = 0; mi < sizeof mags / sizeof mags[0]; mi++)
	for (int bits = 8; bits <= 16; bits += 8) {
		for (size_t i = 0; i < 4096; i++) {
			/* signed, roughly normal: sum of uniforms */
			double u = 0;
			for (int k = 0; k < 4; k++)
				u += (double)(rnd32() >> 8) / 16777216.0 - 0.5;
			t[i] = (float)(u * mags[mi]);
		}
		float sc = 0;
		int cl = 0;
		if (dp_fixed_scale(t, 4096, bits, &sc) != DP_OK || !(sc > 0) ||
		    !within_half(t, 4096, sc, bits, &cl)) {
			rt_ok = 0;
			diag("round trip failed: magnitude %g, %d bits",
			     (double)mags[mi], bits);
		}
		clamps += cl;
		/* the array functions agree with the scalar one */
		static int8_t a8[4096];
		static int16_t a16[4096];
		static float deq[4096];
		size_t nbad = 1;
		if (bits == 8) {
			rt_ok = rt_ok &&
				dp_quantize_int8(t, 4096, sc, a8, &nbad) == DP_OK &&
				dp_dequantize_int8(a8, 4096, sc, deq) == DP_OK;
		} else {
			rt_ok = rt_ok &&
				dp_quantize_int16(t, 4096, sc, a16, &nbad) == DP_OK &&
				dp_dequantize_int16(a16, 4096, sc, deq) == DP_OK;
		}
		rt_ok = rt_ok && nbad == 0;
		for (size_t i = 0; i < 4096; i++) {
			int32_t q = bits == 8 ? a8[i] : a16[i];
			rt_ok = rt_ok &&
				q == dp_fixed_quantize_value(t[i], sc, bits, NULL) &&
				f2u(deq[i]) == f2u(dp_fixed_round(t[i], sc, bits)) &&
				deq[i] == (float)((double)q * sc);
		}
	}
	ok(rt_ok && clamps == 0, "int8, int16 round trip: |x - q*s| <= s/2 "
	   "for every element, 6 magnitudes incl. subnormal tensors, no "
	   "element clamps; array and scalar functions agree");

	/* a subnormal tensor where nearest rounding of the scale would clamp:
	 * max = 190 * 2^-149, 190/127 rounds to 1 ulp */
	const float tiny[2] = { 190 * 0x1p-149f, -0x1p-149f };
	float st2;
	int cl2;
	ok(dp_fixed_scale(tiny, 2, 8, &st2) == DP_OK &&
	   st2 == 2 * 0x1p-149f && within_half(tiny, 2, st2, 8, &cl2) &&
	   cl2 == 0 && dp_fixed_quantize_value(tiny[0], st2, 8, NULL) == 95,
	   "subnormal tensor: scale rounded up to 2^-148, max -> 95, no clamp");

	/* extremes: FLT_MAX tensors stay finite */
	const float big[2] = { FLT_MAX, -FLT_MAX };
	float sb;
	ok(dp_fixed_scale(big, 2, 8, &sb) == DP_OK && isfinite(sb) &&
	   dp_fixed_round(FLT_MAX, sb, 8) == FLT_MAX &&
	   dp_fixed_round(-FLT_MAX, sb, 8) == -FLT_MAX &&
	   dp_fixed_dequantize_value(127, FLT_MAX / 100) == FLT_MAX,
	   "FLT_MAX tensor: scale finite, dequantize clamps to FLT_MAX");

	ok(dp_fixed_round(NAN, 1.0f, 8) == 0.0f &&
	   dp_fixed_round(INFINITY, 0.5f, 8) == 63.5f &&
	   dp_fixed_round(0.3f, 0.25f, 8) == 0.25f,
	   "dp_fixed_round: NaN -> 0, Inf -> qmax*s, 0.3 -> 0.25");

	float sc_dummy;
	int8_t o8[1];
	float o[1];
	ok(dp_fixed_scale(x1, 6, 1, &sc_dummy) == DP_ERR_ARG &&
	   dp_fixed_scale(x1, 6, 17, &sc_dummy) == DP_ERR_ARG &&
	   dp_fixed_scale(x1, 6, 8, NULL) == DP_ERR_ARG &&
	   dp_fixed_scale(NULL, 3, 8, &sc_dummy) == DP_ERR_ARG &&
	   dp_quantize_int8(x1, 1, -1.0f, o8, NULL) == DP_ERR_ARG &&
	   dp_quantize_int8(x1, 1, NAN, o8, NULL) == DP_ERR_ARG &&
	   dp_quantize_int8(x1, 1, INFINITY, o8, NULL) == DP_ERR_ARG &&
	   dp_quantize_int8(NULL, 1, 1.0f, o8, NULL) == DP_ERR_ARG &&
	   dp_quantize_int8(x1, 1, 1.0f, NULL, NULL) == DP_ERR_ARG &&
	   dp_dequantize_int8(o8, 1, -2.0f, o) == DP_ERR_ARG &&
	   dp_dequantize_int16(NULL, 1, 1.0f, o) == DP_ERR_ARG &&
	   dp_quantize_int16(NULL, 0, 1.0f, NULL, NULL) == DP_OK &&
	   dp_fixed_quantize_value(1.0f, -1.0f, 8, NULL) == 0 &&
	   dp_fixed_quantize_value(1.0f, 1.0f, 40, NULL) == 0,
	   "bad bits, scales and pointers give DP_ERR_ARG (or 0)");
}

/* dp_precision_round_tensor: each precision's tensor rounding is the
 * format's rounding, the fixed-point round trip with the tensor's own
 * scale, or nothing (fp32, fp64). */
static void precision_tensor(void)
{
	float x[257], y[257], want[257];
	for (int i = 0; i < 257; i++)
		x[i] = (float)((i - 128) * 0.0371 + (i % 7) * 1e-3);
	x[5] = 70000.0f;   /* beyond fp16 and e4m3 */
	for (int p = 0; p < DP_PREC_COUNT; p++) {
		dp_format f;
		int bad = dp_precision_round_tensor((dp_precision)p, x, y, 257) !=
		          DP_OK;
		if (dp_precision_format((dp_precision)p, &f) == DP_OK) {
			for (int i = 0; i < 257; i++)
				want[i] = dp_round(f, x[i]);
		} else if (p == DP_PREC_INT16 || p == DP_PREC_INT8) {
			int bits = p == DP_PREC_INT16 ? 16 : 8;
			float s;
			bad |= dp_fixed_scale(x, 257, bits, &s) != DP_OK;
			for (int i = 0; i < 257; i++)
				want[i] = dp_fixed_round(x[i], s, bits);
		} else {
			memcpy(want, x, sizeof x);
		}
		ok(!bad && !memcmp(y, want, sizeof y), "round_tensor %s: the "
		   "format's rounding, bit for bit", dp_precision_name(p));
	}
	dp_format f;
	ok(dp_precision_format(DP_PREC_FP64, &f) == DP_ERR_ARG &&
	   dp_precision_format(DP_PREC_INT8, &f) == DP_ERR_ARG &&
	   dp_precision_format(DP_PREC_COUNT, &f) == DP_ERR_ARG &&
	   dp_precision_format(DP_PREC_BF16, &f) == DP_OK && f == DP_FMT_BF16,
	   "dp_precision_format: bf16 has one, fp64 and int8 none");
	memcpy(y, x, sizeof x);
	ok(dp_precision_round_tensor(DP_PREC_FP16, y, y, 257) == DP_OK &&
	   isinf(y[5]) && y[6] == dp_round_fp16(x[6]),
	   "round_tensor in place; fp16 overflows 70000 to Inf");
}

int main(void)
{
	ok(fegetround() == FE_TONEAREST,
	   "the reference runs in round-to-nearest-even mode");

	for (int i = 0; i < NFMT; i++)
		exhaustive(&fmts[i]);

	vec strat = { 0 }, rnd = { 0 };
	build_stratified(&strat);
	check_round(&strat, "stratified");
	for (size_t i = 0; i < 1000000; i++)
		push(&rnd, rnd32());
	check_round(&rnd, "random");

	/* fp16 hardware references on more random patterns */
	for (size_t i = 0; i < 3000000; i++)
		push(&rnd, rnd32());
	fp16_hardware(&strat, &rnd);

	monotonic();
	explicit_cases();
	table();
	fixed_point();
	precision_tensor();

	free(strat.v);
	free(rnd.v);
	return done_testing();
}
