/* t_precision_gen.c - the generator's side of the emulated precisions
 * (issue 6, docs/PRECISION.md):
 *   - the rounding function a kernel emits for each format gives the same
 *     bits as libdpgen's dp_round for a large sample of floats and every
 *     special value (NaN payloads, Inf, zeros, subnormals, ties, overflow);
 *   - an emulated direct convolution is bitwise equal to an independent
 *     implementation of the contract's order written here with dp_round,
 *     dp_fixed_scale and dp_fixed_quantize_value, for every format and
 *     policy, and to the runtime's emulation; so is the emulated GEMM
 *     (the order of runtime/emul_matmul.c: sequential over k in the fp32
 *     GEMM's blocks of K);
 *   - emulated Winograd stays within a bound of the fp64 reference;
 *   - fp32 kernels (all of generated/ and fresh ones of every template)
 *     contain no rounding code, and emulated kernels do;
 *   - algorithms without an emulated template fail with a clear message.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "precision.h"
#include "tap.h"
#include "util.h"

static char tmp[256];

/* ---- building kernels ---- */

static int kernel_name(const char *args, char *name, size_t len)
{
	char cmd[4096], out[4096];
	snprintf(cmd, sizeof cmd, "%s %s --print-name", dpgen_path(), args);
	if (sh_capture(cmd, out, sizeof out) != 0) {
		diag("%s: %s", cmd, out);
		return 0;
	}
	snprintf(name, len, "%.*s", (int)strcspn(out, "\n"), out);
	return 1;
}

/* Generate the kernel of args into tmp and return the path of its .c. */
static int generate(const char *args, char *name, size_t len, char *path,
                    size_t plen)
{
	char cmd[4096], out[4096];
	if (!kernel_name(args, name, len))
		return 0;
	snprintf(cmd, sizeof cmd, "%s %s -o %s", dpgen_path(), args, tmp);
	if (sh_capture(cmd, out, sizeof out) != 0) {
		diag("%s: %s", cmd, out);
		return 0;
	}
	snprintf(path, plen, "%s/%s.c", tmp, name);
	return 1;
}

/* Compile src (which may #include kernels of tmp) into a shared object
 * with $CC and $DP_KERNEL_CFLAGS, warnings as errors, and load it. */
static void *load(const char *src, const char *so)
{
	char cmd[8192], out[8192];
	const char *cc = getenv("CC"), *flags = getenv("DP_KERNEL_CFLAGS");
	snprintf(cmd, sizeof cmd, "%s -std=c11 %s -Wall -Wextra -Werror "
	         "-Wshadow -Wstrict-prototypes -fPIC -shared -I%s/runtime -I%s "
	         "%s -o %s", cc && *cc ? cc : "cc",
	         flags && *flags ? flags : "-O2", src_dir(), tmp, src, so);
	if (sh_capture(cmd, out, sizeof out) != 0) {
		diag("%s: %s", cmd, out);
		return NULL;
	}
	void *h = dlopen(so, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		diag("dlopen %s: %s", so, dlerror());
	return h;
}

static const dp_kernel *build(const char *args)
{
	char name[256], path[1024], so[1400];
	if (!generate(args, name, sizeof name, path, sizeof path))
		return NULL;
	snprintf(so, sizeof so, "%s/%s.so", tmp, name);
	void *h = load(path, so);
	const dp_kernel *k = h ? dlsym(h, name) : NULL;
	if (h && !k)
		diag("%s has no symbol %s", so, name);
	return k;
}

static void spec_args(const dp_desc *d, char *buf, size_t len)
{
	char a[512], p[32];
	desc_args(d, a, sizeof a);
	dp_precision_spec_name(d->precision, d->policy, p, sizeof p);
	snprintf(buf, len, "%s --precision %s", a, p);
}

/* ---- the rounding functions ---- */

static const struct {
	const char *prec, *suffix;
	dp_format fmt;
} formats[] = {
	{ "tf32", "tf32", DP_FMT_TF32 },
	{ "bf16", "bf16", DP_FMT_BF16 },
	{ "fp16", "fp16", DP_FMT_FP16 },
	{ "fp8-e4m3", "e4m3", DP_FMT_E4M3 },
	{ "fp8-e5m2", "e5m2", DP_FMT_E5M2 },
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

typedef float (*round_fn)(float);

/* Bits of got vs dp_round for u; counts and reports the first few. */
static long n_checked, n_bad;

static void check_one(round_fn fn, dp_format f, uint32_t u, const char *what)
{
	float x = u2f(u);
	uint32_t got = f2u(fn(x)), want = f2u(dp_round(f, x));
	n_checked++;
	if (got != want && n_bad++ < 5)
		diag("%s: x = 0x%08X: emitted 0x%08X, dp_round 0x%08X", what, u,
		     got, want);
}

static void check_rounding(const char *prec, const char *suffix,
                           dp_format f)
{
	char args[256], name[256], path[1024], src[1400], so[1400];
	snprintf(args, sizeof args, "--op conv --algo direct --shape 4x4x1 "
	         "--filters 1 --precision %s", prec);
	if (!ok(generate(args, name, sizeof name, path, sizeof path),
	        "%s: a kernel generates", prec))
		return;
	/* The kernel's own source, with a way to call its static function. */
	snprintf(src, sizeof src, "%s/round_%s.c", tmp, suffix);
	FILE *fp = fopen(src, "w");
	if (!fp) {
		ok(0, "%s: write %s", prec, src);
		return;
	}
	fprintf(fp, "#include \"%s.c\"\nfloat test_round(float x);\n"
	        "float test_round(float x) { return round_%s(x); }\n", name,
	        suffix);
	fclose(fp);
	snprintf(so, sizeof so, "%s/round_%s.so", tmp, suffix);
	void *h = load(src, so);
	round_fn fn = NULL;
	void *sym = h ? dlsym(h, "test_round") : NULL;
	if (sym)
		memcpy(&fn, &sym, sizeof fn);
	if (!ok(fn != NULL, "%s: the kernel's round_%s compiles and loads",
	        prec, suffix))
		return;
	n_checked = n_bad = 0;
	/* A sweep over every exponent and sign: 2^32 / 131 values. */
	for (uint64_t u = 0; u < ((uint64_t)1 << 32); u += 131)
		check_one(fn, f, (uint32_t)u, "sweep");
	/* For every exponent field and sign, and every position k of the
	 * last kept bit a float format can have (mantissa widths 0..22):
	 * exact ties with both parities of the kept bits, and their
	 * neighbours, over random upper mantissa bits. */
	rng_t r;
	rng_seed(&r, 6);
	for (uint32_t ef = 0; ef < 256; ef++)
		for (uint32_t sign = 0; sign < 2; sign++)
			for (int k = 1; k <= 23; k++)
				for (int rep = 0; rep < 4; rep++) {
					uint32_t hi = (uint32_t)(rng_uniform(&r) * 8388608.0);
					uint32_t m = (hi & ~((1u << k) - 1)) & 0x7FFFFFu;
					m ^= (uint32_t)rep << k & 0x7FFFFFu; /* parity */
					uint32_t base = sign << 31 | ef << 23;
					uint32_t tie = m | 1u << (k - 1);
					for (int dlt = -1; dlt <= 1; dlt++)
						check_one(fn, f, base | ((tie + (uint32_t)dlt) & 0x7FFFFFu),
						          "tie");
					check_one(fn, f, base | m, "kept");
					check_one(fn, f, base | (m | ((1u << k) - 1)), "ones");
				}
	/* Special values: zeros, subnormals, extremes, Inf, NaN payloads. */
	static const uint32_t specials[] = {
		0x00000000u, 0x00000001u, 0x00000002u, 0x00400000u, 0x007FFFFFu,
		0x00800000u, 0x00800001u, 0x7F7FFFFFu, 0x7F7FFFFEu, 0x7F000000u,
		0x7F800000u, 0x7F800001u, 0x7FC00000u, 0x7FFFFFFFu, 0x7FA00000u,
		0x7F800100u, 0x7FC00001u, 0x7FB12345u, 0x3F800000u, 0x3F800001u,
		0x3F7FFFFFu,
	};
	for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++) {
		check_one(fn, f, specials[i], "special");
		check_one(fn, f, specials[i] | 0x80000000u, "special");
	}
	/* Around the format's overflow threshold, its largest finite and
	 * its least normal and subnormal. */
	const dp_format_info *fi = dp_format_get(f);
	const float edges[] = { fi->overflow_threshold, fi->max_finite,
	                        fi->min_normal, fi->min_subnormal,
	                        fi->min_subnormal / 2 };
	for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
		for (int dlt = -3; dlt <= 3; dlt++) {
			uint32_t u = f2u(edges[i]) + (uint32_t)dlt;
			check_one(fn, f, u, "edge");
			check_one(fn, f, u | 0x80000000u, "edge");
		}
	/* Random floats, uniformly over the bits. */
	for (int i = 0; i < 4000000; i++)
		check_one(fn, f, (uint32_t)(rng_uniform(&r) * 4294967296.0),
		          "random");
	ok(n_bad == 0, "%s: round_%s agrees with dp_round on %ld floats "
	   "(%ld differ)", prec, suffix, n_checked, n_bad);
}

/* ---- direct convolution: the contract's order, independently ---- */

typedef struct {
	dp_precision prec;
	dp_policy pol;
} spec;

static dp_format fmt_of(dp_precision p)
{
	switch (p) {
	case DP_PREC_TF32: return DP_FMT_TF32;
	case DP_PREC_BF16: return DP_FMT_BF16;
	case DP_PREC_FP16: return DP_FMT_FP16;
	case DP_PREC_FP8_E4M3: return DP_FMT_E4M3;
	case DP_PREC_FP8_E5M2: return DP_FMT_E5M2;
	default: return DP_FMT_FP32;
	}
}

static int fixed_bits(dp_precision p)
{
	return p == DP_PREC_INT8 ? 8 : p == DP_PREC_INT16 ? 16 : 0;
}

/* R(x) under the format (identity for fp32). */
static float rnd(dp_format f, float x)
{
	return dp_round(f, x);
}

static float pair_float(const float *t, int n, dp_format f, int all)
{
	if (n == 1)
		return t[0];
	int h = n / 2;
	float a = pair_float(t, h, f, all), b = pair_float(t + h, n - h, f, all);
	float s = a + b;
	return all ? rnd(f, s) : s;
}

static double pair_double(const double *t, int n)
{
	if (n == 1)
		return t[0];
	int h = n / 2;
	return pair_double(t, h) + pair_double(t + h, n - h);
}

/* The direct convolution of docs/PRECISION.md, one output at a time. */
static void ref_direct(const dp_desc *d, const float *in, const float *wt,
                       const float *bias, float *out)
{
	const int ho = dp_conv_out_h(d), wo = dp_conv_out_w(d);
	const int C = d->c, H = d->h, W = d->w, R = d->r, S = d->s;
	const dp_format f = fmt_of(d->precision);
	const int all = d->policy == DP_POLICY_ALL, bits = fixed_bits(d->precision);
	float sx = 0, sw = 0;
	if (bits) {
		dp_fixed_scale(in, (size_t)d->n * C * H * W, bits, &sx);
		dp_fixed_scale(wt, (size_t)d->k * C * R * S, bits, &sw);
	}
	float *tf = malloc(sizeof(float) * (size_t)C);
	double *td = malloc(sizeof(double) * (size_t)C);
	for (int n = 0; n < d->n; n++)
		for (int k = 0; k < d->k; k++)
			for (int y = 0; y < ho; y++)
				for (int x = 0; x < wo; x++) {
					int64_t acc = 0;
					for (int c = 0; c < C; c++) {
						float t = 0;      /* each channel's sum from +0 */
						double td_c = 0;
						for (int i = 0; i < R; i++)
							for (int j = 0; j < S; j++) {
								int iy = y * d->stride - d->pad_h + i;
								int ix = x * d->stride - d->pad_w + j;
								if (iy < 0 || iy >= H || ix < 0 || ix >= W)
									continue;
								float xv = in[(((size_t)n * C + c) * H + iy) * W + ix];
								float wv = wt[(((size_t)k * C + c) * R + i) * S + j];
								if (bits) {
									acc += (int64_t)dp_fixed_quantize_value(xv, sx, bits, NULL) *
									       dp_fixed_quantize_value(wv, sw, bits, NULL);
								} else if (d->precision == DP_PREC_FP64) {
									double p = (double)xv * wv;
									td_c = td_c + p;
								} else {
									float p = rnd(f, xv) * rnd(f, wv);
									if (all)
										p = rnd(f, p);
									t = t + p;
									if (all)
										t = rnd(f, t);
								}
							}
						tf[c] = t;
						td[c] = td_c;
					}
					float v;
					if (bits)
						v = (float)((double)acc * sx * sw) + bias[k];
					else if (d->precision == DP_PREC_FP64)
						v = (float)(pair_double(td, C) + (double)bias[k]);
					else
						v = rnd(f, pair_float(tf, C, f, all) + rnd(f, bias[k]));
					out[(((size_t)n * d->k + k) * ho + y) * wo + x] = v;
				}
	free(tf);
	free(td);
}

static dp_desc conv_desc(int n, int c, int h, int w, int k, int r, int s,
                         int stride, int pad, dp_algo algo)
{
	dp_desc d;
	memset(&d, 0, sizeof d);
	d.op = DP_OP_CONV;
	d.algo = algo;
	d.n = n, d.c = c, d.h = h, d.w = w, d.k = k, d.r = r, d.s = s;
	d.stride = stride, d.pad_h = pad, d.pad_w = pad;
	return d;
}

/* Random data of scale `scale`, with a few values that stress the
 * formats: zeros of both signs, and large ones that overflow the narrow
 * formats (Inf in fp16/e5m2, saturation in e4m3). */
static void fill(rng_t *r, float *x, size_t n, float scale)
{
	fill_normal(r, x, n);
	for (size_t i = 0; i < n; i++) {
		x[i] *= scale;
		double u = rng_uniform(r);
		if (u < 0.01)
			x[i] = u < 0.005 ? 0.0f : -0.0f;
	}
}

/* The generated kernel against the runtime's emulation of the same
 * descriptor (dp_generic_kernel): the same order, so the same bits. */
static void cross_check(const dp_desc *d, const float *in, const float *wt,
                        const float *bias, const float *got, size_t n,
                        const char *algo, const char *p, const char *what)
{
	const dp_kernel *rt = dp_generic_kernel(d);
	float *y = malloc(n * sizeof *y);
	dp_status st = rt ? dp_kernel_run(rt, d, in, wt, bias, y) : DP_ERR_UNSUPPORTED;
	size_t bad = 0, first = 0;
	for (size_t i = 0; i < n; i++)
		if (f2u(got[i]) != f2u(y[i]) && bad++ == 0)
			first = i;
	if (!ok(st == DP_OK && bad == 0, "%s %s %s: bitwise equal to the "
	        "runtime emulation %s (%zu of %zu differ)", algo, p, what,
	        rt ? rt->name : "(none)", bad, n) && bad)
		diag("first at %zu: kernel %a, runtime %a", first,
		     (double)got[first], (double)y[first]);
	free(y);
}

static void check_direct(const dp_desc *d, float scale, const char *what)
{
	char args[1024], p[32];
	spec_args(d, args, sizeof args);
	dp_precision_spec_name(d->precision, d->policy, p, sizeof p);
	const dp_kernel *kern = build(args);
	if (!ok(kern != NULL, "direct %s %s builds", p, what))
		return;
	size_t ni = (size_t)dp_conv_input_elems(d);
	size_t nw = (size_t)dp_conv_weight_elems(d);
	size_t no = (size_t)dp_conv_output_elems(d);
	float *in = malloc(ni * sizeof *in), *wt = malloc(nw * sizeof *wt);
	float *b = malloc((size_t)d->k * sizeof *b);
	float *got = malloc(no * sizeof *got), *want = malloc(no * sizeof *want);
	rng_t r;
	rng_seed(&r, 42);
	fill(&r, in, ni, scale);
	fill(&r, wt, nw, 0.3f * scale);
	fill(&r, b, (size_t)d->k, scale);
	dp_status st = dp_kernel_run(kern, d, in, wt, b, got);
	ref_direct(d, in, wt, b, want);
	size_t bad = 0, first = 0;
	for (size_t i = 0; i < no; i++)
		if (f2u(got[i]) != f2u(want[i]) && bad++ == 0)
			first = i;
	if (!ok(st == DP_OK && bad == 0, "direct %s %s: bitwise equal to the "
	        "contract's order (%zu of %zu outputs differ)", p, what, bad, no)
	    && bad)
		diag("first at %zu: kernel %a, reference %a", first,
		     (double)got[first], (double)want[first]);
	cross_check(d, in, wt, b, got, no, "direct", p, what);
	free(in);
	free(wt);
	free(b);
	free(got);
	free(want);
}

/* ---- GEMM: the runtime emulation's order, independently ---- */

/* The order of runtime/emul_matmul.c's contract: K in the fp32 GEMM's
 * blocks (one when K <= 384, else ceil(K / 256) of equal depth), each
 * summed from +0 in k order, the block sums added in order. */
static void ref_gemm(const dp_desc *d, const float *a, const float *b,
                     float *c)
{
	const int M = d->mm_m, K = d->mm_k, N = d->mm_n;
	const int kc = K <= 384 ? K : (K + (K + 255) / 256 - 1) / ((K + 255) / 256);
	const dp_format f = fmt_of(d->precision);
	const int all = d->policy == DP_POLICY_ALL, bits = fixed_bits(d->precision);
	float sa = 0, sb = 0;
	if (bits) {
		dp_fixed_scale(a, (size_t)M * K, bits, &sa);
		dp_fixed_scale(b, (size_t)K * N, bits, &sb);
	}
	for (int i = 0; i < M; i++)
		for (int j = 0; j < N; j++) {
			int64_t acc = 0;
			double sd = 0, bd = 0;
			float sf = 0, bf = 0;
			for (int k = 0; k < K; k++) {
				if (k > 0 && k % kc == 0) {   /* a block ends */
					sd = k == kc ? bd : sd + bd;
					sf = k == kc ? bf : all ? rnd(f, sf + bf) : sf + bf;
					bd = 0;
					bf = 0;
				}
				float x = a[(size_t)i * K + k], y = b[(size_t)k * N + j];
				if (bits) {
					acc += (int64_t)dp_fixed_quantize_value(x, sa, bits, NULL) *
					       dp_fixed_quantize_value(y, sb, bits, NULL);
				} else if (d->precision == DP_PREC_FP64) {
					bd = bd + (double)x * y;
				} else {
					float p = rnd(f, x) * rnd(f, y);
					if (all)
						p = rnd(f, p);
					bf = bf + p;
					if (all)
						bf = rnd(f, bf);
				}
			}
			/* The last block. */
			sd = K <= kc ? bd : sd + bd;
			sf = K <= kc ? bf : all ? rnd(f, sf + bf) : sf + bf;
			float v;
			if (bits)
				v = (float)((double)acc * ((double)sa * sb));
			else if (d->precision == DP_PREC_FP64)
				v = (float)sd;
			else
				v = all ? sf : rnd(f, sf);
			c[(size_t)i * N + j] = v;
		}
}

static void check_gemm(const dp_desc *d, float scale, const char *what)
{
	char args[1024], p[32];
	spec_args(d, args, sizeof args);
	dp_precision_spec_name(d->precision, d->policy, p, sizeof p);
	const dp_kernel *kern = build(args);
	if (!ok(kern != NULL, "gemm %s %s builds", p, what))
		return;
	size_t na = (size_t)d->mm_m * d->mm_k, nb = (size_t)d->mm_k * d->mm_n;
	size_t nc = (size_t)d->mm_m * d->mm_n;
	float *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b);
	float *got = malloc(nc * sizeof *got), *want = malloc(nc * sizeof *want);
	rng_t r;
	rng_seed(&r, 7);
	fill(&r, a, na, scale);
	fill(&r, b, nb, scale);
	dp_status st = dp_kernel_run(kern, d, a, b, NULL, got);
	ref_gemm(d, a, b, want);
	size_t bad = 0, first = 0;
	for (size_t i = 0; i < nc; i++)
		if (f2u(got[i]) != f2u(want[i]) && bad++ == 0)
			first = i;
	if (!ok(st == DP_OK && bad == 0, "gemm %s %s: bitwise equal to the "
	        "blocked order over k (%zu of %zu outputs differ)", p, what,
	        bad, nc) && bad)
		diag("first at %zu: kernel %a, reference %a", first,
		     (double)got[first], (double)want[first]);
	cross_check(d, a, b, NULL, got, nc, "gemm", p, what);
	free(a);
	free(b);
	free(got);
	free(want);
}

/* ---- Winograd: within a bound of the fp64 reference ---- */

/* Relative error max|y - ref| / max|ref| allowed, in units of the
 * format's unit roundoff u (fixed point: 1 / QMAX; fp64: float's u, the
 * output's rounding). Winograd's transforms grow the error with the
 * tile: F(2,3) measures about 3 u on standard normal data, F(4,3) 35 to
 * 55 u at the float formats and about 300 u at the fixed-point ones
 * (V's range is some 100 times the input's: the one scale of V wastes
 * most of its levels); the bounds leave a margin of 2 to 6. At fp8 and
 * int8, F(4,3)'s bound is above 1: its result is noise, as the study
 * shows (docs/REPORT.md). */
static double winograd_bound(const dp_desc *d)
{
	double u, growth = d->tile == 2 ? 16 : 128;
	switch (d->precision) {
	case DP_PREC_FP64: return 2 * ldexp(1.0, -24);
	case DP_PREC_INT16: u = 1.0 / 32767; break;
	case DP_PREC_INT8: u = 1.0 / 127; break;
	default: u = dp_format_get(fmt_of(d->precision))->unit_roundoff;
	}
	if (fixed_bits(d->precision) && d->tile > 2)
		growth = 1024;
	return growth * u;
}

/* Winograd against the runtime emulation: the same arithmetic, but the
 * generated transforms leave out the terms with a zero coefficient, which
 * can only change the sign of a zero. So: equal values (NaN equals NaN). */
static void same_values(const dp_desc *d, const float *in, const float *wt,
                        const float *bias, const float *got, size_t n,
                        const char *p, const char *what)
{
	const dp_kernel *rt = dp_generic_kernel(d);
	float *y = malloc(n * sizeof *y);
	dp_status st = rt ? dp_kernel_run(rt, d, in, wt, bias, y) : DP_ERR_UNSUPPORTED;
	size_t bad = 0, first = 0;
	for (size_t i = 0; i < n; i++)
		if (!(got[i] == y[i] || (isnan(got[i]) && isnan(y[i]))) && bad++ == 0)
			first = i;
	if (!ok(st == DP_OK && bad == 0, "winograd %s %s: equal to the runtime "
	        "emulation %s (%zu of %zu differ)", p, what,
	        rt ? rt->name : "(none)", bad, n) && bad)
		diag("first at %zu: kernel %a, runtime %a", first,
		     (double)got[first], (double)y[first]);
	free(y);
}

static void check_winograd(const dp_desc *d, const char *what)
{
	char args[1024], p[32];
	spec_args(d, args, sizeof args);
	dp_precision_spec_name(d->precision, d->policy, p, sizeof p);
	const dp_kernel *kern = build(args);
	if (!ok(kern != NULL, "winograd %s %s builds", p, what))
		return;
	size_t ni = (size_t)dp_conv_input_elems(d);
	size_t nw = (size_t)dp_conv_weight_elems(d);
	size_t no = (size_t)dp_conv_output_elems(d);
	float *in = malloc(ni * sizeof *in), *wt = malloc(nw * sizeof *wt);
	float *b = malloc((size_t)d->k * sizeof *b), *got = malloc(no * sizeof *got);
	double *ref = malloc(no * sizeof *ref);
	rng_t r;
	rng_seed(&r, 3);
	fill_normal(&r, in, ni);
	fill_normal(&r, wt, nw);
	fill_normal(&r, b, (size_t)d->k);
	dp_status st = dp_kernel_run(kern, d, in, wt, b, got);
	dp_ref_conv2d(d, in, wt, b, ref);
	err_stats e = compare(got, ref, no);
	double rel = e.max_abs_err / e.max_ref, bound = winograd_bound(d);
	ok(st == DP_OK && rel <= bound, "winograd %s %s: relative error %.3g "
	   "<= %.3g (mean |err| %.3g)", p, what, rel, bound, e.mean_abs_err);
	/* The format's rounding is really there: fp32 would be ~1e-7. */
	if (d->precision != DP_PREC_FP64)
		ok(rel > 1e-5, "winograd %s %s: the error is the format's, not "
		   "fp32's", p, what);
	same_values(d, in, wt, b, got, no, p, what);
	free(in);
	free(wt);
	free(b);
	free(got);
	free(ref);
}

/* ---- the emulated kernels built into the library ---- */

/* Dispatch picks them, and they give what the runtime emulation gives:
 * the same bits (direct, gemm) or an error within the bound (Winograd). */
static void check_registered(void)
{
	int n = 0;
	for (size_t i = 0; i < dp_registry_count; i++) {
		const dp_kernel *kern = dp_registry[i];
		const dp_desc *d = &kern->desc;
		if (d->precision == DP_PREC_FP32)
			continue;
		n++;
		ok(dp_registry_find(d) == kern, "dispatch finds %s", kern->name);
		const int conv = d->op == DP_OP_CONV;
		size_t ni = conv ? (size_t)dp_conv_input_elems(d) :
		                   (size_t)d->mm_m * d->mm_k;
		size_t nw = conv ? (size_t)dp_conv_weight_elems(d) :
		                   (size_t)d->mm_k * d->mm_n;
		size_t no = conv ? (size_t)dp_conv_output_elems(d) :
		                   (size_t)d->mm_m * d->mm_n;
		float *in = malloc(ni * sizeof *in), *wt = malloc(nw * sizeof *wt);
		float *b = malloc((size_t)(conv ? d->k : 1) * sizeof *b);
		float *got = malloc(no * sizeof *got);
		rng_t r;
		rng_seed(&r, 11 + i);
		fill_normal(&r, in, ni);
		fill_normal(&r, wt, nw);
		fill_normal(&r, b, (size_t)(conv ? d->k : 1));
		dp_status st = dp_kernel_run(kern, d, in, wt, conv ? b : NULL, got);
		ok(st == DP_OK, "registered %s runs", kern->name);
		char p[32];
		dp_precision_spec_name(d->precision, d->policy, p, sizeof p);
		if (d->algo == DP_ALGO_WINOGRAD) {
			double *ref = malloc(no * sizeof *ref);
			dp_ref_conv2d(d, in, wt, b, ref);
			err_stats e = compare(got, ref, no);
			double rel = e.max_abs_err / e.max_ref;
			ok(rel <= winograd_bound(d), "registered %s: relative error "
			   "%.3g <= %.3g", kern->name, rel, winograd_bound(d));
			same_values(d, in, wt, b, got, no, p, "(registered)");
			free(ref);
		} else {
			cross_check(d, in, wt, conv ? b : NULL, got, no,
			            conv ? "direct" : "gemm", p, "(registered)");
		}
		free(in);
		free(wt);
		free(b);
		free(got);
	}
	ok(n >= 3, "the library has %d emulated kernels built in", n);
}

/* ---- rounding code only where the precision needs it ---- */

/* Identifiers and patterns of the rounding code the emulated templates
 * emit; none may appear in an fp32 kernel. */
static const char *const rounding_marks[] = {
	"round_tf32", "round_bf16", "round_fp16", "round_e4m3", "round_e5m2",
	"float_bits", "bits_float", "quantize", "fixed_scale", "QMAX",
	"0x7FC00000u", "& 1u)) &",
};

static const char *rounding_in(const char *src)
{
	for (size_t i = 0; i < sizeof rounding_marks / sizeof *rounding_marks; i++)
		if (strstr(src, rounding_marks[i]))
			return rounding_marks[i];
	return NULL;
}

static void check_fp32_clean(void)
{
	char gdir[512], path[1024];
	snprintf(gdir, sizeof gdir, "%s/generated", src_dir());
	DIR *dir = opendir(gdir);
	struct dirent *e;
	int n = 0, bad = 0;
	while (dir && (e = readdir(dir)) != NULL) {
		size_t len = strlen(e->d_name);
		if (len < 8 || strcmp(e->d_name + len - 7, "_fp32.c"))
			continue;
		snprintf(path, sizeof path, "%s/%s", gdir, e->d_name);
		char *src = slurp(path, NULL);
		const char *m = src ? rounding_in(src) : "unreadable";
		n++;
		if (m) {
			bad++;
			diag("generated/%s contains %s", e->d_name, m);
		}
		free(src);
	}
	if (dir)
		closedir(dir);
	ok(n > 0 && bad == 0, "none of the %d fp32 kernels of generated/ "
	   "contains rounding code", n);

	static const char *const fresh[] = {
		"--op conv --algo direct --shape 12x10x5 --filters 3",
		"--op conv --algo direct --shape 12x10x5 --filters 3 --precision fp32",
		"--op conv --algo winograd --shape 12x10x5 --filters 3 --tile 2",
		"--op conv --algo winograd --shape 12x10x5 --filters 3 --tile 4",
		"--op conv --algo im2col --shape 12x10x5 --filters 3",
		"--op conv --algo fft --shape 12x10x5 --filters 3",
		"--op matmul --algo gemm --shape 8x12x10",
		"--op matmul --algo svd --shape 8x12x10 --rank-b 4",
		"--op matmul --algo log --shape 8x12x10 --log-frac-bits 6",
		"--op matmul --algo lns --shape 8x12x10 --log-frac-bits 4",
	};
	for (size_t i = 0; i < sizeof fresh / sizeof *fresh; i++) {
		char name[256];
		if (!generate(fresh[i], name, sizeof name, path, sizeof path)) {
			ok(0, "generates: %s", fresh[i]);
			continue;
		}
		char *src = slurp(path, NULL);
		const char *m = src ? rounding_in(src) : "unreadable";
		ok(m == NULL, "fp32 %s has no rounding code%s%s", name,
		   m ? ": found " : "", m ? m : "");
		free(src);
	}

	/* And the emulated ones do: each the rounding of its own format. */
	static const struct { const char *args, *mark; } emulated[] = {
		{ "--op conv --algo direct --shape 12x10x5 --precision bf16", "round_bf16(" },
		{ "--op conv --algo direct --shape 12x10x5 --precision bf16:acc32", "round_bf16(" },
		{ "--op conv --algo winograd --shape 12x10x5 --precision fp16", "round_fp16(" },
		{ "--op matmul --algo gemm --shape 8x12x10 --precision fp8-e4m3", "round_e4m3(" },
		{ "--op conv --algo direct --shape 12x10x5 --precision int8", "quantize(" },
	};
	for (size_t i = 0; i < sizeof emulated / sizeof *emulated; i++) {
		char name[256];
		if (!generate(emulated[i].args, name, sizeof name, path, sizeof path)) {
			ok(0, "generates: %s", emulated[i].args);
			continue;
		}
		char *src = slurp(path, NULL);
		ok(src && strstr(src, emulated[i].mark), "%s rounds: %s", name,
		   emulated[i].mark);
		free(src);
	}
}

/* The same command gives the same bytes, at every kind of precision. */
static void check_determinism(void)
{
	static const char *const args[] = {
		("--op conv --algo direct --shape 17x9x5 --filters 3 --kernel 5x3 "
		 "--stride 2 --pad 2x1 --batch 3 --precision bf16"),
		"--op conv --algo direct --shape 12x10x5 --precision fp64",
		"--op conv --algo winograd --shape 12x10x5 --tile 4 --precision int8",
		"--op conv --algo winograd --shape 12x10x5 --precision fp8-e4m3:acc32",
		"--op matmul --algo gemm --shape 8x400x10 --precision fp8-e5m2",
		"--op matmul --algo gemm --shape 8x12x10 --precision int16",
	};
	const size_t len = 1 << 20;
	char *a = malloc(len), *b = malloc(len), cmd[1024];
	for (size_t i = 0; i < sizeof args / sizeof *args; i++) {
		snprintf(cmd, sizeof cmd, "%s %s --stdout", dpgen_path(), args[i]);
		int ra = sh_capture(cmd, a, len), rb = sh_capture(cmd, b, len);
		ok(ra == 0 && rb == 0 && strlen(a) > 1000 && !strcmp(a, b),
		   "two runs give identical bytes: %s", args[i]);
	}
	free(a);
	free(b);
}

/* Algorithms without an emulated template say so, and name the runtime. */
static void check_unsupported(void)
{
	static const char *const args[] = {
		"--op conv --algo im2col --shape 12x10x5 --precision bf16",
		"--op conv --algo fft --shape 12x10x5 --precision fp16",
		"--op matmul --algo svd --shape 8x12x10 --rank-b 4 --precision int8",
		"--op matmul --algo log --shape 8x12x10 --log-frac-bits 6 --precision fp64",
		"--op matmul --algo lns --shape 8x12x10 --log-frac-bits 4 --precision tf32",
	};
	static const char *const algo[] = { "im2col", "fft", "svd", "log", "lns" };
	for (size_t i = 0; i < sizeof args / sizeof *args; i++) {
		char cmd[2048], out[4096];
		snprintf(cmd, sizeof cmd, "%s %s -o %s", dpgen_path(), args[i], tmp);
		int rc = sh_capture(cmd, out, sizeof out);
		char want[64];
		snprintf(want, sizeof want, "algorithm '%s'", algo[i]);
		if (!ok(rc == 1 && strstr(out, want) && strstr(out, "runtime") &&
		        strstr(out, "dpgen run"), "%s: a clear error naming the "
		        "algorithm and the runtime emulation", args[i]))
			diag("status %d: %s", rc, out);
	}
}

int main(void)
{
	if (!make_temp_dir(tmp, sizeof tmp)) {
		ok(0, "temporary directory");
		return done_testing();
	}
	for (size_t i = 0; i < sizeof formats / sizeof *formats; i++)
		check_rounding(formats[i].prec, formats[i].suffix, formats[i].fmt);

	static const spec specs[] = {
		{ DP_PREC_TF32, DP_POLICY_ALL }, { DP_PREC_TF32, DP_POLICY_ACC32 },
		{ DP_PREC_BF16, DP_POLICY_ALL }, { DP_PREC_BF16, DP_POLICY_ACC32 },
		{ DP_PREC_FP16, DP_POLICY_ALL }, { DP_PREC_FP16, DP_POLICY_ACC32 },
		{ DP_PREC_FP8_E4M3, DP_POLICY_ALL },
		{ DP_PREC_FP8_E4M3, DP_POLICY_ACC32 },
		{ DP_PREC_FP8_E5M2, DP_POLICY_ALL },
		{ DP_PREC_FP8_E5M2, DP_POLICY_ACC32 },
		{ DP_PREC_FP64, DP_POLICY_ALL }, { DP_PREC_INT16, DP_POLICY_ALL },
		{ DP_PREC_INT8, DP_POLICY_ALL },
	};
	for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) {
		dp_desc d = conv_desc(1, 3, 28, 28, 16, 3, 3, 1, 1, DP_ALGO_DIRECT);
		d.precision = specs[i].prec;
		d.policy = specs[i].pol;
		check_direct(&d, 1.0f, "28x28x3");
		/* 20 channels (the recursive pairwise sum), a 5x3 kernel,
		 * stride 2 and padding wider than the kernel, so some windows
		 * lie in the padding only; two images; values that overflow
		 * the 8-bit formats. */
		dp_desc e = conv_desc(2, 20, 9, 7, 3, 5, 3, 2, 5, DP_ALGO_DIRECT);
		e.pad_w = 3;
		e.precision = specs[i].prec;
		e.policy = specs[i].pol;
		check_direct(&e, 40.0f, "9x7x20 5x3 s2 p5x3 n2, large values");
	}

	for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) {
		dp_desc d;
		memset(&d, 0, sizeof d);
		d.op = DP_OP_MATMUL;
		d.algo = DP_ALGO_GEMM;
		d.mm_m = 9, d.mm_k = 37, d.mm_n = 11;
		d.precision = specs[i].prec;
		d.policy = specs[i].pol;
		check_gemm(&d, 1.0f, "9x37x11");
		d.mm_m = 3, d.mm_k = 1, d.mm_n = 5;
		check_gemm(&d, 40.0f, "3x1x5, large values");
		d.mm_m = 2, d.mm_k = 1000, d.mm_n = 3;
		check_gemm(&d, 1.0f, "2x1000x3 (4 blocks of K)");
	}

	for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) {
		dp_desc d = conv_desc(1, 3, 28, 28, 16, 3, 3, 1, 1, DP_ALGO_WINOGRAD);
		d.precision = specs[i].prec;
		d.policy = specs[i].pol;
		d.tile = 4;
		check_winograd(&d, "F(4,3) 28x28x3");
		dp_desc e = conv_desc(2, 20, 13, 11, 5, 3, 3, 1, 1, DP_ALGO_WINOGRAD);
		e.precision = specs[i].prec;
		e.policy = specs[i].pol;
		e.tile = 2;
		check_winograd(&e, "F(2,3) 13x11x20 n2");
	}

	check_registered();
	check_determinism();
	check_fp32_clean();
	check_unsupported();
	remove_tree(tmp);
	return done_testing();
}
