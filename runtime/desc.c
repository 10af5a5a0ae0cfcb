/* desc.c - names of ops, algorithms and precisions; descriptor checks. */
#include <stdio.h>
#include <string.h>

#include "dpgen.h"

static const char *const status_names[] = {
	"ok", "invalid argument", "out of memory", "not supported",
	"I/O error", "bad file format", "no algorithm meets the error budget"
};

const char *dp_status_str(dp_status s)
{
	if ((unsigned)s < sizeof status_names / sizeof status_names[0])
		return status_names[s];
	return "unknown status";
}

static const char *const op_names[] = { "conv", "matmul" };
static const char *const algo_names[] = {
	"direct", "naive", "gemm", "winograd", "im2col", "im2col-blas", "fft",
	"fft-fftw", "svd", "log", "lns"
};
static const char *const prec_names[] = {
	"fp32", "fp64", "tf32", "bf16", "fp16", "fp8-e4m3", "fp8-e5m2", "int16",
	"int8"
};
static const char *const policy_names[] = { "all", "acc32" };

/* Which op each algorithm belongs to. */
static const dp_op algo_op[] = {
	DP_OP_CONV, DP_OP_MATMUL, DP_OP_MATMUL, DP_OP_CONV, DP_OP_CONV,
	DP_OP_CONV, DP_OP_CONV, DP_OP_CONV, DP_OP_MATMUL, DP_OP_MATMUL,
	DP_OP_MATMUL
};

/* Which algorithms have a template; the others are runtime baselines. */
static const int algo_generated[] = { 1, 0, 1, 1, 1, 0, 1, 0, 1, 1, 1 };

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int lookup(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; s && i < n; i++)
		if (strcmp(names[i], s) == 0)
			return (int)i;
	return -1;
}

const char *dp_op_name(dp_op op)
{
	return (unsigned)op < COUNT(op_names) ? op_names[op] : NULL;
}

const char *dp_algo_name(dp_algo a)
{
	return (unsigned)a < COUNT(algo_names) ? algo_names[a] : NULL;
}

const char *dp_precision_name(dp_precision p)
{
	return (unsigned)p < COUNT(prec_names) ? prec_names[p] : NULL;
}

const char *dp_policy_name(dp_policy p)
{
	return (unsigned)p < COUNT(policy_names) ? policy_names[p] : NULL;
}

int dp_policy_valid(dp_precision prec, dp_policy policy)
{
	if (!dp_precision_name(prec) || !dp_policy_name(policy))
		return 0;
	if (policy == DP_POLICY_ALL)
		return 1;
	/* acc32 means "narrower than fp32 in storage and products": fp32 and
	 * fp64 have nothing narrower, the integer formats accumulate exactly
	 * in integers anyway. */
	return prec != DP_PREC_FP32 && prec != DP_PREC_FP64 &&
	       prec != DP_PREC_INT16 && prec != DP_PREC_INT8;
}

dp_status dp_precision_spec_parse(const char *s, dp_precision *prec,
                                  dp_policy *policy)
{
	char fmt[16];
	if (!s || !prec || !policy)
		return DP_ERR_ARG;
	const char *colon = strchr(s, ':');
	size_t n = colon ? (size_t)(colon - s) : strlen(s);
	if (n >= sizeof fmt)
		return DP_ERR_ARG;
	memcpy(fmt, s, n);
	fmt[n] = 0;
	int i = lookup(prec_names, COUNT(prec_names), fmt);
	int j = colon ? lookup(policy_names, COUNT(policy_names), colon + 1)
	              : (int)DP_POLICY_ALL;
	if (i < 0 || j < 0 || !dp_policy_valid((dp_precision)i, (dp_policy)j))
		return DP_ERR_ARG;
	*prec = (dp_precision)i;
	*policy = (dp_policy)j;
	return DP_OK;
}

void dp_precision_spec_name(dp_precision prec, dp_policy policy, char *buf,
                            size_t len)
{
	const char *f = dp_precision_name(prec), *p = dp_policy_name(policy);
	if (!buf || !len)
		return;
	if (!f || !p)
		snprintf(buf, len, "?");
	else if (policy == DP_POLICY_ALL)
		snprintf(buf, len, "%s", f);
	else
		snprintf(buf, len, "%s:%s", f, p);
}

dp_status dp_op_parse(const char *s, dp_op *out)
{
	int i = lookup(op_names, COUNT(op_names), s);
	if (i < 0)
		return DP_ERR_ARG;
	*out = (dp_op)i;
	return DP_OK;
}

dp_status dp_algo_parse(const char *s, dp_algo *out)
{
	int i = lookup(algo_names, COUNT(algo_names), s);
	if (i < 0)
		return DP_ERR_ARG;
	*out = (dp_algo)i;
	return DP_OK;
}

dp_status dp_precision_parse(const char *s, dp_precision *out)
{
	int i = lookup(prec_names, COUNT(prec_names), s);
	if (i < 0)
		return DP_ERR_ARG;
	*out = (dp_precision)i;
	return DP_OK;
}

int dp_algo_generated(dp_algo a)
{
	return (unsigned)a < COUNT(algo_generated) ? algo_generated[a] : 0;
}

dp_op dp_algo_op(dp_algo a)
{
	return (unsigned)a < COUNT(algo_op) ? algo_op[a] : DP_OP_CONV;
}

int dp_conv_out_h(const dp_desc *d)
{
	return (d->h + 2 * d->pad_h - d->r) / d->stride + 1;
}

int dp_conv_out_w(const dp_desc *d)
{
	return (d->w + 2 * d->pad_w - d->s) / d->stride + 1;
}

int64_t dp_conv_input_elems(const dp_desc *d)
{
	return (int64_t)d->n * d->c * d->h * d->w;
}

int64_t dp_conv_weight_elems(const dp_desc *d)
{
	return (int64_t)d->k * d->c * d->r * d->s;
}

int64_t dp_conv_output_elems(const dp_desc *d)
{
	return (int64_t)d->n * d->k * dp_conv_out_h(d) * dp_conv_out_w(d);
}

/* Report a failed check: the message names the field and what is allowed. */
#define FAIL(...) do { \
	if (msg && msg_len) snprintf(msg, msg_len, __VA_ARGS__); \
	return DP_ERR_ARG; \
} while (0)

static int dim_ok(int v)
{
	return v >= 1 && v <= DP_MAX_DIM;
}

/* a * b for non-negative sizes, saturating at INT64_MAX so that a
 * product of several sizes can be compared against a limit safely. */
static int64_t mul_sat(int64_t a, int64_t b)
{
	if (a != 0 && b > INT64_MAX / a)
		return INT64_MAX;
	return a * b;
}

static int64_t prod4(int64_t a, int64_t b, int64_t c, int64_t e)
{
	return mul_sat(mul_sat(mul_sat(a, b), c), e);
}

static dp_status check_conv(const dp_desc *d, char *msg, size_t msg_len)
{
	static const struct { const char *name; size_t off; } dims[] = {
		{ "batch", offsetof(dp_desc, n) },
		{ "channels", offsetof(dp_desc, c) },
		{ "height", offsetof(dp_desc, h) },
		{ "width", offsetof(dp_desc, w) },
		{ "filters", offsetof(dp_desc, k) },
		{ "kernel height", offsetof(dp_desc, r) },
		{ "kernel width", offsetof(dp_desc, s) },
		{ "stride", offsetof(dp_desc, stride) },
	};
	for (size_t i = 0; i < COUNT(dims); i++) {
		int v = *(const int *)((const char *)d + dims[i].off);
		if (!dim_ok(v))
			FAIL("%s %d is out of range (allowed: 1..%d)",
			     dims[i].name, v, DP_MAX_DIM);
	}
	if (d->pad_h < 0 || d->pad_h > DP_MAX_DIM ||
	    d->pad_w < 0 || d->pad_w > DP_MAX_DIM)
		FAIL("padding %dx%d is out of range (allowed: 0..%d)",
		     d->pad_h, d->pad_w, DP_MAX_DIM);
	if (d->r > d->h + 2 * d->pad_h || d->s > d->w + 2 * d->pad_w)
		FAIL("kernel %dx%d is larger than the padded input %dx%d",
		     d->r, d->s, d->h + 2 * d->pad_h, d->w + 2 * d->pad_w);
	int64_t ho = dp_conv_out_h(d), wo = dp_conv_out_w(d);
	int64_t in = prod4(d->n, d->c, d->h, d->w);
	int64_t wt = prod4(d->k, d->c, d->r, d->s);
	int64_t out = prod4(d->n, d->k, ho, wo);
	if (in > DP_MAX_ELEMS)
		FAIL("input is too large: %dx%dx%dx%d (NxCxHxW) elements "
		     "(allowed: at most %lld)", d->n, d->c, d->h, d->w,
		     (long long)DP_MAX_ELEMS);
	if (wt > DP_MAX_ELEMS)
		FAIL("weights are too large: %dx%dx%dx%d (KxCxRxS) elements "
		     "(allowed: at most %lld)", d->k, d->c, d->r, d->s,
		     (long long)DP_MAX_ELEMS);
	if (out > DP_MAX_ELEMS)
		FAIL("output is too large: %dx%dx%lldx%lld (NxKxHxW) elements "
		     "(allowed: at most %lld)", d->n, d->k, (long long)ho,
		     (long long)wo, (long long)DP_MAX_ELEMS);
	return DP_OK;
}

int dp_winograd_default_tile(int r)
{
	/* F(4, r) while alpha stays within the limit: F(4,3) is the best
	 * single choice on the layers we measure; r >= 6 shrinks the tile. */
	int m = DP_WINOGRAD_MAX_ALPHA + 1 - r;
	return m > 4 ? 4 : m < 1 ? 1 : m;
}

/* Point list syntax: comma-separated integers or p/q, at most 6 digits
 * each; distinct; exactly `want` of them. Exactness is the generator's
 * job (Cook-Toom checks the identity in rational arithmetic). */
static int parse_point(const char **sp, long *p, long *q)
{
	const char *s = *sp;
	int neg = 0, nd = 0;
	if (*s == '-') {
		neg = 1;
		s++;
	}
	for (*p = 0; *s >= '0' && *s <= '9' && nd < 7; s++, nd++)
		*p = *p * 10 + (*s - '0');
	if (nd == 0 || nd > 6)
		return -1;
	*q = 1;
	if (*s == '/') {
		s++;
		for (*q = 0, nd = 0; *s >= '0' && *s <= '9' && nd < 7; s++, nd++)
			*q = *q * 10 + (*s - '0');
		if (nd == 0 || nd > 6 || *q == 0)
			return -1;
	}
	if (neg)
		*p = -*p;
	*sp = s;
	return 0;
}

static dp_status check_points(const char *pts, int want, char *msg,
                              size_t msg_len)
{
	long p[DP_WINOGRAD_MAX_ALPHA], q[DP_WINOGRAD_MAX_ALPHA];
	int n = 0;
	const char *s = pts;
	if (!memchr(pts, '\0', DP_POINTS_LEN))
		FAIL("points list is too long (at most %d characters)",
		     DP_POINTS_LEN - 1);
	while (*s) {
		if (n == DP_WINOGRAD_MAX_ALPHA || parse_point(&s, &p[n], &q[n]))
			FAIL("points '%s' are malformed (expected %d distinct "
			     "numbers like 0,1,-1,1/2,-1/2 separated by commas)",
			     pts, want);
		for (int i = 0; i < n; i++)
			if (p[i] * q[n] == p[n] * q[i])
				FAIL("points '%s' repeat a value (they must be "
				     "distinct)", pts);
		n++;
		if (*s == ',' && s[1])
			s++;
		else if (*s)
			FAIL("points '%s' are malformed (expected numbers like "
			     "0,1,-1,1/2 separated by commas)", pts);
	}
	if (n != want)
		FAIL("points '%s' are %d values; F(m, r) needs m + r - 2 = %d "
		     "(the last point is infinity)", pts, n, want);
	return DP_OK;
}

static dp_status check_winograd(const dp_desc *d, char *msg, size_t msg_len)
{
	if (d->stride != 1)
		FAIL("winograd needs stride 1 (got %d); use direct or im2col",
		     d->stride);
	if (d->r != d->s)
		FAIL("winograd needs a square kernel (got %dx%d)", d->r, d->s);
	int alpha = d->tile + d->r - 1;
	if (d->tile < 1 || alpha > DP_WINOGRAD_MAX_ALPHA)
		FAIL("winograd tile %d with a %dx%d kernel is out of range "
		     "(allowed: 1..%d, so that m + r - 1 <= %d)", d->tile, d->r,
		     d->r, DP_WINOGRAD_MAX_ALPHA + 1 - d->r,
		     DP_WINOGRAD_MAX_ALPHA);
	if (d->points[0])
		return check_points(d->points, alpha - 1, msg, msg_len);
	return DP_OK;
}

static int is_pow2(int v)
{
	return v > 0 && (v & (v - 1)) == 0;
}

/* Work of a tiled FFT convolution with T x T tiles, up to a constant:
 * tiles times T^2 log2 T (overlap-save: T - r + 1 outputs per tile). */
static double fft_cost(const dp_desc *d, int t)
{
	int oy = t - d->r + 1, ox = t - d->s + 1;
	double tiles = (double)((dp_conv_out_h(d) + oy - 1) / oy) *
	               ((dp_conv_out_w(d) + ox - 1) / ox);
	int lg = 0;
	while ((1 << lg) < t)
		lg++;
	return tiles * t * t * lg;
}

int dp_fft_default_tile(const dp_desc *d)
{
	int best = 0;
	for (int t = DP_FFT_MIN_TILE; t <= DP_FFT_MAX_TILE; t *= 2)
		if (t >= d->r && t >= d->s &&
		    (!best || fft_cost(d, t) < fft_cost(d, best)))
			best = t;
	return best ? best : DP_FFT_MAX_TILE;
}

static dp_status check_fft(const dp_desc *d, char *msg, size_t msg_len)
{
	if (d->stride != 1)
		FAIL("%s needs stride 1 (got %d); use direct or im2col",
		     dp_algo_name(d->algo), d->stride);
	if (d->algo == DP_ALGO_FFT_FFTW) {
		if (d->tile)
			FAIL("fft-fftw transforms the whole image: no tile");
		return DP_OK;
	}
	if (!is_pow2(d->tile) || d->tile < DP_FFT_MIN_TILE ||
	    d->tile > DP_FFT_MAX_TILE)
		FAIL("fft tile %d is not allowed (allowed: 8, 16, 32, 64)",
		     d->tile);
	if (d->tile < d->r || d->tile < d->s)
		FAIL("fft tile %d is smaller than the %dx%d kernel (allowed: a "
		     "power of two from the kernel size to %d)", d->tile, d->r,
		     d->s, DP_FFT_MAX_TILE);
	return DP_OK;
}

static int min_int(int a, int b)
{
	return a < b ? a : b;
}

/* The variant fields each matmul algorithm takes; the others must be 0. */
static dp_status check_matmul_variant(const dp_desc *d, char *msg,
                                      size_t msg_len)
{
	int svd = d->algo == DP_ALGO_SVD, lg = d->algo == DP_ALGO_LOG;
	int lns = d->algo == DP_ALGO_LNS;
	if (!svd && (d->rank_a || d->rank_b))
		FAIL("ranks apply to svd only");
	if (!lg && !lns && d->frac_bits)
		FAIL("fractional bits apply to log and lns only");
	if (!lns && (d->acc_bits || d->bin_bits))
		FAIL("accumulator and bin bits apply to lns only");
	if (svd) {
		int max_a = min_int(d->mm_m, d->mm_k);
		int max_b = min_int(d->mm_k, d->mm_n);
		if (d->rank_a < 0 || d->rank_a > max_a)
			FAIL("rank of A %d is out of range (allowed: 0..%d)",
			     d->rank_a, max_a);
		if (d->rank_b < 0 || d->rank_b > max_b)
			FAIL("rank of B %d is out of range (allowed: 0..%d)",
			     d->rank_b, max_b);
		if (!d->rank_a && !d->rank_b)
			FAIL("svd needs a rank for A or for B (or both)");
	}
	if (lg && (d->frac_bits < DP_LOG_EXACT ||
	           d->frac_bits > DP_LOG_MAX_FRAC))
		FAIL("log fractional bits %d out of range (allowed: 0..%d, or "
		     "exact)", d->frac_bits, DP_LOG_MAX_FRAC);
	if (lns) {
		if (d->frac_bits < 0 || d->frac_bits > DP_LNS_MAX_FRAC)
			FAIL("lns fractional bits %d out of range (allowed: "
			     "0..%d)", d->frac_bits, DP_LNS_MAX_FRAC);
		if (d->bin_bits < 0 || d->bin_bits > d->frac_bits)
			FAIL("lns bin bits %d out of range (allowed: 0..%d, the "
			     "fractional bits)", d->bin_bits, d->frac_bits);
		if (d->acc_bits < 8 || d->acc_bits > 64)
			FAIL("lns accumulator width %d out of range (allowed: "
			     "8..64 bits)", d->acc_bits);
	}
	return DP_OK;
}

static dp_status check_matmul(const dp_desc *d, char *msg, size_t msg_len)
{
	if (!dim_ok(d->mm_m) || !dim_ok(d->mm_k) || !dim_ok(d->mm_n))
		FAIL("matmul shape %dx%dx%d is out of range "
		     "(allowed: each size 1..%d)",
		     d->mm_m, d->mm_k, d->mm_n, DP_MAX_DIM);
	int64_t a = mul_sat(d->mm_m, d->mm_k);
	int64_t b = mul_sat(d->mm_k, d->mm_n);
	int64_t c = mul_sat(d->mm_m, d->mm_n);
	if (a > DP_MAX_ELEMS || b > DP_MAX_ELEMS || c > DP_MAX_ELEMS)
		FAIL("matmul %dx%dx%d has a matrix of more than %lld elements",
		     d->mm_m, d->mm_k, d->mm_n, (long long)DP_MAX_ELEMS);
	return check_matmul_variant(d, msg, msg_len);
}

dp_status dp_desc_check(const dp_desc *d, char *msg, size_t msg_len)
{
	if (!d)
		FAIL("no descriptor");
	if (!dp_op_name(d->op))
		FAIL("unknown op %d", (int)d->op);
	if (!dp_algo_name(d->algo))
		FAIL("unknown algorithm %d", (int)d->algo);
	if (!dp_precision_name(d->precision))
		FAIL("unknown precision %d", (int)d->precision);
	if (!dp_policy_valid(d->precision, d->policy))
		FAIL("precision %s does not take policy %d (acc32 applies to "
		     "tf32, bf16, fp16, fp8-e4m3, fp8-e5m2)",
		     dp_precision_name(d->precision), (int)d->policy);
	if (d->op == DP_OP_MATMUL && (d->tile || d->points[0]))
		FAIL("a tile and points apply to winograd only");
	if (d->op == DP_OP_CONV && (d->rank_a || d->rank_b || d->frac_bits ||
	                            d->acc_bits || d->bin_bits))
		FAIL("ranks and log-domain bits apply to matmul only");
	if (dp_algo_op(d->algo) != d->op)
		FAIL("algorithm '%s' does not compute op '%s'",
		     dp_algo_name(d->algo), dp_op_name(d->op));
	if (d->op == DP_OP_MATMUL)
		return check_matmul(d, msg, msg_len);
	dp_status st = check_conv(d, msg, msg_len);
	if (st != DP_OK)
		return st;
	if (d->algo == DP_ALGO_WINOGRAD)
		return check_winograd(d, msg, msg_len);
	if (d->points[0])
		FAIL("points apply to winograd only");
	if (d->algo == DP_ALGO_FFT || d->algo == DP_ALGO_FFT_FFTW)
		return check_fft(d, msg, msg_len);
	if (d->tile)
		FAIL("a tile applies to winograd and fft only");
	return st;
}

void dp_desc_command(const dp_desc *d, char *buf, size_t len)
{
	char prec[32], variant[160] = "";
	dp_precision_spec_name(d->precision, d->policy, prec, sizeof prec);
	if (d->op == DP_OP_MATMUL) {
		if (d->algo == DP_ALGO_SVD)
			snprintf(variant, sizeof variant, " --rank-a %d --rank-b %d",
			         d->rank_a, d->rank_b);
		else if (d->algo == DP_ALGO_LOG && d->frac_bits == DP_LOG_EXACT)
			snprintf(variant, sizeof variant, " --log-frac-bits exact");
		else if (d->algo == DP_ALGO_LOG)
			snprintf(variant, sizeof variant, " --log-frac-bits %d",
			         d->frac_bits);
		else if (d->algo == DP_ALGO_LNS)
			snprintf(variant, sizeof variant, " --log-frac-bits %d "
			         "--acc-bits %d --bin-bits %d", d->frac_bits,
			         d->acc_bits, d->bin_bits);
		snprintf(buf, len, "dpgen --op matmul --algo %s --shape %dx%dx%d "
		         "--precision %s%s", dp_algo_name(d->algo), d->mm_m,
		         d->mm_k, d->mm_n, prec, variant);
		return;
	}
	char pad[32];
	if (d->pad_h == d->pad_w)
		snprintf(pad, sizeof pad, "%d", d->pad_h);
	else
		snprintf(pad, sizeof pad, "%dx%d", d->pad_h, d->pad_w);
	if (d->algo == DP_ALGO_WINOGRAD)
		snprintf(variant, sizeof variant, " --tile %d%s%s", d->tile,
		         d->points[0] ? " --points " : "", d->points);
	else if (d->algo == DP_ALGO_FFT)
		snprintf(variant, sizeof variant, " --fft-tile %d", d->tile);
	snprintf(buf, len, "dpgen --op conv --algo %s --shape %dx%dx%d "
	         "--filters %d --kernel %dx%d --stride %d --pad %s --batch %d "
	         "--precision %s%s", dp_algo_name(d->algo), d->h, d->w, d->c,
	         d->k, d->r, d->s, d->stride, pad, d->n, prec, variant);
}
