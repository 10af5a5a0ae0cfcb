/* run.c - `dpgen run`: run an operator on .npy files, so dpgen can be
 * checked against NumPy or PyTorch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "emul.h"
#include "kernels.h"

#define SAY(...) snprintf(err, err_len, __VA_ARGS__)
#define ERR(...) (SAY(__VA_ARGS__), -1)

/* Read a .npy file of the given rank; "what" names its option. */
static int load(const char *what, const char *path, int ndim, dp_array *a,
                char *err, size_t err_len)
{
	char msg[CLI_ERR_LEN];
	if (dp_npy_read(path, a, msg, sizeof msg) != DP_OK)
		return ERR("%s: %s", what, msg);
	if (a->ndim != ndim) {
		int got = a->ndim;
		dp_array_free(a);
		return ERR("%s '%s' has %d dimension%s (need %d)", what, path, got,
		           got == 1 ? "" : "s", ndim);
	}
	return 0;
}

static int conv_shapes(const cli_opts *o, const dp_array *x,
                       const dp_array *w, const dp_array *b, dp_desc *d,
                       char *err, size_t err_len)
{
	if (x->shape[1] != w->shape[1])
		return ERR("--weights '%s' has %lld input channels but --input "
		           "'%s' has %lld", o->weights, (long long)w->shape[1],
		           o->input, (long long)x->shape[1]);
	if (b && b->shape[0] != w->shape[0])
		return ERR("--bias '%s' has %lld values but --weights has %lld "
		           "filters", o->bias, (long long)b->shape[0],
		           (long long)w->shape[0]);
	for (int i = 0; i < 4; i++)
		if (x->shape[i] > DP_MAX_DIM || w->shape[i] > DP_MAX_DIM)
			return ERR("a dimension of --input or --weights exceeds %d",
			           DP_MAX_DIM);
	d->n = (int)x->shape[0];
	d->c = (int)x->shape[1];
	d->h = (int)x->shape[2];
	d->w = (int)x->shape[3];
	d->k = (int)w->shape[0];
	d->r = (int)w->shape[2];
	d->s = (int)w->shape[3];
	d->stride = 1;
	if (o->stride && cli_int("--stride", o->stride, 1, DP_MAX_DIM,
	                         &d->stride, err, err_len))
		return -1;
	d->pad_h = d->pad_w = 0;
	return o->pad ? cli_pad(o->pad, d, &d->pad_h, &d->pad_w, err, err_len)
	              : 0;
}

static int run_conv(const cli_opts *o, dp_desc *d, dp_array *y, char *err,
                    size_t err_len)
{
	dp_array x = { 0 }, w = { 0 }, b = { 0 };
	int rc = -1;
	if (!o->input || !o->weights)
		return ERR("conv needs --input X.npy and --weights W.npy");
	if (o->a || o->b || o->rank_a || o->rank_b || o->log_frac_bits ||
	    o->acc_bits || o->bin_bits)
		return ERR("--a, --b, --rank-a, --rank-b, --log-frac-bits, "
		           "--acc-bits and --bin-bits apply to --op matmul");
	if (load("--input", o->input, 4, &x, err, err_len) ||
	    load("--weights", o->weights, 4, &w, err, err_len) ||
	    (o->bias && load("--bias", o->bias, 1, &b, err, err_len)) ||
	    conv_shapes(o, &x, &w, o->bias ? &b : NULL, d, err, err_len) ||
	    cli_variant(o, d, err, err_len))
		goto out;
	char why[CLI_ERR_LEN];
	if (dp_desc_check(d, why, sizeof why) != DP_OK) {
		SAY("convolution of '%s' with '%s': %s", o->input, o->weights,
		    why);
		goto out;
	}
	y->ndim = 4;
	y->shape[0] = d->n;
	y->shape[1] = d->k;
	y->shape[2] = dp_conv_out_h(d);
	y->shape[3] = dp_conv_out_w(d);
	y->data = malloc((size_t)dp_array_elems(y) * sizeof(float));
	if (!y->data) {
		SAY("out of memory");
		goto out;
	}
	dp_status st = dp_conv2d(d, x.data, w.data, o->bias ? b.data : NULL,
	                         y->data, NULL);
	if (st == DP_ERR_UNSUPPORTED && d->precision != DP_PREC_FP32)
		SAY("--algo %s at --precision %s: %s", dp_algo_name(d->algo),
		    dp_precision_name(d->precision),
		    dp_emul_conv_unsupported(d));
	else if (st != DP_OK)
		SAY("convolution failed: %s", dp_status_str(st));
	else
		rc = 0;
out:
	dp_array_free(&x);
	dp_array_free(&w);
	dp_array_free(&b);
	return rc;
}

/* A rank for the rows x cols matrix x: "K", "ratio:R" (the factors keep
 * the fraction R of its parameters: k (rows + cols) = R rows cols) or
 * "energy:E" (the smallest k whose singular values hold the fraction E
 * of sum s_i^2). */
static int resolve_rank(const char *what, const char *spec, int rows,
                        int cols, const float *x, int *k, char *err,
                        size_t err_len)
{
	const int mn = rows < cols ? rows : cols;
	const char *num = strchr(spec, ':') ? strchr(spec, ':') + 1 : NULL;
	if (!num)
		return cli_int(what, spec, 1, mn, k, err, err_len);
	char *end;
	double r = strtod(num, &end);
	if (end == num || *end || !(r > 0 && r <= 1))
		return ERR("%s '%s': the fraction must be a number in (0, 1]",
		           what, spec);
	if (strncmp(spec, "ratio:", 6) == 0) {
		double kk = r * rows * (double)cols / (rows + (double)cols);
		*k = kk < 1 ? 1 : kk > mn ? mn : (int)kk;
		return 0;
	}
	if (strncmp(spec, "energy:", 7) != 0)
		return ERR("%s '%s' is not a rank (allowed: K, ratio:R, "
		           "energy:E)", what, spec);
	double *s = malloc((size_t)mn * sizeof *s);
	dp_status st = s ? dp_svd_values(rows, cols, x, s) : DP_ERR_NOMEM;
	if (st == DP_OK)
		*k = dp_svd_energy_rank(s, mn, r);
	free(s);
	if (st != DP_OK)
		return ERR("%s '%s': the SVD failed: %s", what, spec,
		           dp_status_str(st));
	return 0;
}

/* svd: --rank-a truncates A here, before the product (a kernel prepares
 * only B; A is its per-call input), and energy:E ranks of B are resolved
 * from B's singular values. o2 gets the options the kernel's descriptor
 * is built from: no --rank-a, --rank-b as an integer. With --rank-a alone
 * the product of the truncated A with B is dense (algo gemm). */
static int svd_prepass(const cli_opts *o, cli_opts *o2, char *rank_buf,
                       size_t rank_len, dp_array *a, const dp_array *b,
                       dp_desc *d, char *err, size_t err_len)
{
	*o2 = *o;
	if (d->algo != DP_ALGO_SVD)
		return 0;
	if (o->rank_a) {
		int ka;
		if (resolve_rank("--rank-a", o->rank_a, d->mm_m, d->mm_k, a->data,
		                 &ka, err, err_len))
			return -1;
		dp_status st = dp_svd_truncate(d->mm_m, d->mm_k, a->data, ka,
		                               a->data);
		if (st != DP_OK)
			return ERR("--rank-a: the SVD of --a failed: %s",
			           dp_status_str(st));
		o2->rank_a = NULL;
		if (!o->rank_b)
			d->algo = DP_ALGO_GEMM;
	}
	if (o->rank_b && strncmp(o->rank_b, "energy:", 7) == 0) {
		int kb;
		if (resolve_rank("--rank-b", o->rank_b, d->mm_k, d->mm_n, b->data,
		                 &kb, err, err_len))
			return -1;
		snprintf(rank_buf, rank_len, "%d", kb);
		o2->rank_b = rank_buf;
	}
	return 0;
}

static int run_matmul(const cli_opts *o, dp_desc *d, dp_array *c, char *err,
                      size_t err_len)
{
	dp_array a = { 0 }, b = { 0 };
	cli_opts o2;
	char rank_buf[32];
	int rc = -1;
	if (!o->a || !o->b)
		return ERR("matmul needs --a A.npy and --b B.npy");
	if (o->input || o->weights || o->bias || o->stride || o->pad ||
	    o->tile || o->points || o->fft_tile)
		return ERR("--input, --weights, --bias, --stride, --pad, --tile, "
		           "--points and --fft-tile apply to --op conv");
	if (load("--a", o->a, 2, &a, err, err_len) ||
	    load("--b", o->b, 2, &b, err, err_len))
		goto out;
	if (a.shape[1] != b.shape[0]) {
		SAY("--a '%s' is %lldx%lld but --b '%s' is %lldx%lld: the inner "
		    "sizes differ", o->a, (long long)a.shape[0],
		    (long long)a.shape[1], o->b, (long long)b.shape[0],
		    (long long)b.shape[1]);
		goto out;
	}
	if (a.shape[0] > DP_MAX_DIM || a.shape[1] > DP_MAX_DIM ||
	    b.shape[1] > DP_MAX_DIM) {
		SAY("a matrix dimension exceeds %d", DP_MAX_DIM);
		goto out;
	}
	d->mm_m = (int)a.shape[0];
	d->mm_k = (int)a.shape[1];
	d->mm_n = (int)b.shape[1];
	if (svd_prepass(o, &o2, rank_buf, sizeof rank_buf, &a, &b, d, err,
	                err_len) ||
	    cli_matmul_variant(&o2, d, err, err_len))
		goto out;
	char why[CLI_ERR_LEN];
	if (dp_desc_check(d, why, sizeof why) != DP_OK) {
		SAY("matmul: %s", why);
		goto out;
	}
	c->ndim = 2;
	c->shape[0] = d->mm_m;
	c->shape[1] = d->mm_n;
	c->data = malloc((size_t)dp_array_elems(c) * sizeof(float));
	if (!c->data) {
		SAY("out of memory");
		goto out;
	}
	dp_status st = dp_matmul(d, a.data, b.data, c->data, NULL);
	if (st != DP_OK)
		SAY("matmul failed: %s", dp_status_str(st));
	else
		rc = 0;
out:
	dp_array_free(&a);
	dp_array_free(&b);
	return rc;
}

int cmd_run(int argc, char **argv)
{
	cli_opts o;
	dp_desc d;
	dp_array out = { 0 };
	char err[CLI_ERR_LEN * 2];
	if (cli_parse(argc, argv, MODE_RUN, &o, err, sizeof err))
		return usage_fail(err);
	if (o.help) {
		cli_help(MODE_RUN);
		return 0;
	}
	/* --threads N: the kernels' thread count (else DP_NUM_THREADS, else
	 * 1); results are the same for every count. */
	if (o.threads) {
		int n;
		if (cli_int("--threads", o.threads, 1, DP_MAX_THREADS, &n, err,
		            sizeof err)) {
			char line[sizeof err + 8];
			snprintf(line, sizeof line, "run: %s", err);
			return usage_fail(line);
		}
		dp_set_num_threads(n);
	}
	memset(&d, 0, sizeof d);
	if (!o.op)
		return usage_fail("run: missing --op (allowed: conv, matmul)");
	if (dp_op_parse(o.op, &d.op))
		return usage_fail("run: --op is unknown (allowed: conv, matmul)");
	if (!o.algo || dp_algo_parse(o.algo, &d.algo) ||
	    dp_algo_op(d.algo) != d.op) {
		snprintf(err, sizeof err, "run: --algo '%s' is %s for --op %s "
		         "(allowed: %s)", o.algo ? o.algo : "", o.algo ?
		         "unknown" : "missing", o.op,
		         d.op == DP_OP_CONV ? "direct, im2col, im2col-blas, winograd, fft, fft-fftw" : "naive, gemm, svd, log, lns");
		return usage_fail(err);
	}
	if (o.precision && dp_precision_spec_parse(o.precision, &d.precision,
	                                           &d.policy))
		return usage_fail("run: --precision is unknown (allowed: FORMAT "
		                  "or FORMAT:POLICY; formats fp32, fp64, tf32, "
		                  "bf16, fp16, fp8-e4m3, fp8-e5m2, int16, int8; "
		                  "policy acc32 for tf32/bf16/fp16/fp8)");
	if (!o.out)
		return usage_fail("run: missing --out FILE.npy");
	int rc = d.op == DP_OP_CONV ? run_conv(&o, &d, &out, err, sizeof err)
	                            : run_matmul(&o, &d, &out, err, sizeof err);
	if (rc == 0) {
		char msg[CLI_ERR_LEN];
		if (dp_npy_write(o.out, &out, msg, sizeof msg) != DP_OK) {
			snprintf(err, sizeof err, "--out: %s", msg);
			rc = -1;
		}
	}
	dp_array_free(&out);
	if (rc) {
		char line[sizeof err + 8];
		snprintf(line, sizeof line, "run: %s", err);
		return usage_fail(line);
	}
	return 0;
}
