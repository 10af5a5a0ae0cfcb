/* cli.c - parse and check dpgen's command line. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define ERR(...) (snprintf(err, err_len, __VA_ARGS__), -1)

enum kind { STR, FLAG };

static const struct option {
	const char *name;
	const char *alias;
	enum kind kind;
	size_t off;
	int modes;
} options[] = {
#define O(f) offsetof(cli_opts, f)
	{ "--op", NULL, STR, O(op), MODE_GEN | MODE_RUN | MODE_TUNE },
	{ "--algo", NULL, STR, O(algo), MODE_GEN | MODE_RUN },
	{ "--shape", NULL, STR, O(shape), MODE_GEN | MODE_TUNE },
	{ "--filters", NULL, STR, O(filters), MODE_GEN | MODE_TUNE },
	{ "--kernel", NULL, STR, O(kernel), MODE_GEN | MODE_TUNE },
	{ "--stride", NULL, STR, O(stride), MODE_GEN | MODE_RUN | MODE_TUNE },
	{ "--pad", NULL, STR, O(pad), MODE_GEN | MODE_RUN | MODE_TUNE },
	{ "--batch", NULL, STR, O(batch), MODE_GEN | MODE_TUNE },
	{ "--precision", NULL, STR, O(precision), MODE_GEN | MODE_RUN | MODE_TUNE },
	{ "--tile", NULL, STR, O(tile), MODE_GEN | MODE_RUN },
	{ "--points", NULL, STR, O(points), MODE_GEN | MODE_RUN },
	{ "--fft-tile", NULL, STR, O(fft_tile), MODE_GEN | MODE_RUN },
	{ "--output", "-o", STR, O(outdir), MODE_GEN | MODE_MANIFEST },
	{ "--templates", NULL, STR, O(templates), MODE_GEN | MODE_MANIFEST },
	{ "--stdout", NULL, FLAG, O(to_stdout), MODE_GEN },
	{ "--print-name", NULL, FLAG, O(print_name), MODE_GEN },
	{ "--list", NULL, FLAG, O(list), MODE_GEN },
	{ "--input", NULL, STR, O(input), MODE_RUN },
	{ "--weights", NULL, STR, O(weights), MODE_RUN },
	{ "--bias", NULL, STR, O(bias), MODE_RUN },
	{ "--out", NULL, STR, O(out), MODE_RUN },
	{ "--a", NULL, STR, O(a), MODE_RUN },
	{ "--b", NULL, STR, O(b), MODE_RUN },
	{ "--rank-a", NULL, STR, O(rank_a), MODE_GEN | MODE_RUN },
	{ "--rank-b", NULL, STR, O(rank_b), MODE_GEN | MODE_RUN },
	{ "--log-frac-bits", NULL, STR, O(log_frac_bits), MODE_GEN | MODE_RUN },
	{ "--acc-bits", NULL, STR, O(acc_bits), MODE_GEN | MODE_RUN },
	{ "--bin-bits", NULL, STR, O(bin_bits), MODE_GEN | MODE_RUN },
	{ "--help", "-h", FLAG, O(help), MODE_GEN | MODE_RUN | MODE_MANIFEST |
	  MODE_TUNE },
	{ "--max-error", NULL, STR, O(max_error), MODE_TUNE },
	{ "--wisdom", NULL, STR, O(wisdom), MODE_TUNE },
	{ "--csv", NULL, FLAG, O(csv), MODE_TUNE },
	{ "--threads", NULL, STR, O(threads), MODE_RUN | MODE_TUNE },
	{ "--version", NULL, FLAG, O(version), MODE_GEN },
#undef O
};

static const char *mode_name(enum cli_mode m)
{
	return m == MODE_RUN ? "dpgen run" : m == MODE_MANIFEST ?
	       "dpgen manifest" : m == MODE_TUNE ? "dpgen tune" : "dpgen";
}

static const struct option *find_option(const char *arg, size_t len)
{
	for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
		const struct option *o = &options[i];
		if ((strlen(o->name) == len && !strncmp(arg, o->name, len)) ||
		    (o->alias && strlen(o->alias) == len &&
		     !strncmp(arg, o->alias, len)))
			return o;
	}
	return NULL;
}

int cli_parse(int argc, char **argv, enum cli_mode mode, cli_opts *o,
              char *err, size_t err_len)
{
	memset(o, 0, sizeof *o);
	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];
		if (arg[0] != '-' || arg[1] == '\0') {
			if (mode == MODE_MANIFEST && !o->positional) {
				o->positional = arg;
				continue;
			}
			return ERR("unexpected argument '%s' (options start "
			           "with --; see %s --help)", arg, mode_name(mode));
		}
		const char *eq = strchr(arg, '=');
		size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
		const struct option *opt = find_option(arg, len);
		if (!opt || !(opt->modes & mode))
			return ERR("unknown option '%.*s' for %s (see %s --help)",
			           (int)len, arg, mode_name(mode), mode_name(mode));
		char *field = (char *)o + opt->off;
		if (opt->kind == FLAG) {
			if (eq)
				return ERR("option %s takes no value", opt->name);
			if (*(int *)field)
				return ERR("option %s given twice", opt->name);
			*(int *)field = 1;
			continue;
		}
		const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
		if (!val)
			return ERR("option %s needs a value", opt->name);
		if (*(const char **)field)
			return ERR("option %s given twice (first '%s', then '%s')",
			           opt->name, *(const char **)field, val);
		if (val[0] == '\0')
			return ERR("option %s has an empty value", opt->name);
		*(const char **)field = val;
	}
	if (o->outdir && o->to_stdout)
		return ERR("--output and --stdout exclude each other: "
		           "give one of them");
	return 0;
}

int cli_int(const char *what, const char *s, int lo, int hi, int *out,
            char *err, size_t err_len)
{
	const char *p = s;
	if (*p == '-' || *p == '+')
		p++;
	if (*p < '0' || *p > '9')
		return ERR("%s '%s' is not an integer (allowed: %d..%d)",
		           what, s, lo, hi);
	errno = 0;
	char *end;
	long long v = strtoll(s, &end, 10);
	if (*end != '\0')
		return ERR("%s '%s' is not an integer (allowed: %d..%d)",
		           what, s, lo, hi);
	if (errno == ERANGE || v < lo || v > hi)
		return ERR("%s %s is out of range (allowed: %d..%d)",
		           what, s, lo, hi);
	*out = (int)v;
	return 0;
}

/* "AxBxC...": exactly n integers joined by 'x', each in [lo, hi]. */
static int parse_dims(const char *what, const char *form, const char *s,
                      int n, int lo, int hi, int *vals,
                      char *err, size_t err_len)
{
	char buf[128];
	if (strlen(s) >= sizeof buf)
		return ERR("%s '%.40s...' is too long (expected %s)",
		           what, s, form);
	strcpy(buf, s);
	int count = 0;
	char *p = buf;
	for (;;) {
		char *x = strchr(p, 'x');
		if (x)
			*x = '\0';
		if (count == n)
			return ERR("%s '%s' has too many sizes (expected %s)",
			           what, s, form);
		char sub[CLI_ERR_LEN];
		if (cli_int(what, p, lo, hi, &vals[count], sub, sizeof sub)) {
			if (*p == '\0')
				return ERR("%s '%s' is malformed (expected %s)",
				           what, s, form);
			return ERR("%s '%s': size '%s' is not an integer in "
			           "%d..%d (expected %s)", what, s, p, lo, hi, form);
		}
		count++;
		if (!x)
			break;
		p = x + 1;
	}
	if (count != n)
		return ERR("%s '%s' has %d size%s (expected %s)", what, s, count,
		           count == 1 ? "" : "s", form);
	return 0;
}

/* --pad: P, PHxPW, same (keep the size at stride 1), valid (no padding). */
int cli_pad(const char *s, const dp_desc *d, int *ph, int *pw,
            char *err, size_t err_len)
{
	if (!strcmp(s, "valid")) {
		*ph = *pw = 0;
		return 0;
	}
	if (!strcmp(s, "same")) {
		if (d->r % 2 == 0 || d->s % 2 == 0)
			return ERR("--pad same needs an odd kernel size (kernel is "
			           "%dx%d); give --pad P or PHxPW", d->r, d->s);
		*ph = (d->r - 1) / 2;
		*pw = (d->s - 1) / 2;
		return 0;
	}
	int v[2];
	if (!strchr(s, 'x')) {
		if (cli_int("--pad", s, 0, DP_MAX_DIM, &v[0], err, err_len))
			return ERR("--pad '%s' is not valid (allowed: same, valid, "
			           "an integer 0..%d, or PHxPW)", s, DP_MAX_DIM);
		*ph = *pw = v[0];
		return 0;
	}
	if (parse_dims("--pad", "same, valid, P or PHxPW", s, 2, 0, DP_MAX_DIM,
	               v, err, err_len))
		return -1;
	*ph = v[0];
	*pw = v[1];
	return 0;
}

static int parse_names(const cli_opts *o, dp_desc *d, char *err,
                       size_t err_len)
{
	if (!o->op)
		return ERR("missing --op (allowed: conv, matmul)");
	if (dp_op_parse(o->op, &d->op))
		return ERR("--op '%s' is unknown (allowed: conv, matmul)", o->op);
	if (!o->algo)
		return ERR("missing --algo (see dpgen --list)");
	if (dp_algo_parse(o->algo, &d->algo) || dp_algo_op(d->algo) != d->op) {
		char allowed[256] = "";
		for (int a = 0; a < DP_ALGO_COUNT; a++)
			if (dp_algo_op((dp_algo)a) == d->op) {
				strcat(allowed, *allowed ? ", " : "");
				strcat(allowed, dp_algo_name((dp_algo)a));
			}
		return ERR("--algo '%s' is unknown for --op %s (allowed: %s)",
		           o->algo, o->op, allowed);
	}
	d->precision = DP_PREC_FP32;
	d->policy = DP_POLICY_ALL;
	if (o->precision && dp_precision_spec_parse(o->precision,
	                                            &d->precision, &d->policy))
		return ERR("--precision '%s' is unknown (allowed: FORMAT or "
		           "FORMAT:POLICY; formats fp32, fp64, tf32, bf16, fp16, "
		           "fp8-e4m3, fp8-e5m2, int16, int8; policy all, or acc32 "
		           "for tf32/bf16/fp16/fp8 only)", o->precision);
	return 0;
}

/* Options that only convolution takes are an error for matmul. */
static int reject_conv_options(const cli_opts *o, char *err, size_t err_len)
{
	const char *given = o->filters ? "--filters" : o->kernel ? "--kernel" :
		o->stride ? "--stride" : o->pad ? "--pad" :
		o->batch ? "--batch" : o->tile ? "--tile" :
		o->points ? "--points" : o->fft_tile ? "--fft-tile" : NULL;

	if (given)
		return ERR("%s applies to --op conv only", given);
	return 0;
}

static int conv_desc(const cli_opts *o, dp_desc *d, char *err,
                     size_t err_len)
{
	int v[3];
	if (parse_dims("--shape", "HxWxC, e.g. 28x28x3", o->shape, 3, 1,
	               DP_MAX_DIM, v, err, err_len))
		return -1;
	d->h = v[0];
	d->w = v[1];
	d->c = v[2];
	d->k = 16;
	d->r = d->s = 3;
	d->stride = 1;
	d->n = 1;
	if (o->filters && cli_int("--filters", o->filters, 1, DP_MAX_DIM,
	                          &d->k, err, err_len))
		return -1;
	if (o->kernel) {
		if (parse_dims("--kernel", "RxS, e.g. 3x3", o->kernel, 2, 1,
		               DP_MAX_DIM, v, err, err_len))
			return -1;
		d->r = v[0];
		d->s = v[1];
	}
	if (o->stride && cli_int("--stride", o->stride, 1, DP_MAX_DIM,
	                         &d->stride, err, err_len))
		return -1;
	if (o->batch && cli_int("--batch", o->batch, 1, DP_MAX_DIM, &d->n,
	                        err, err_len))
		return -1;
	if (cli_pad(o->pad ? o->pad : "same", d, &d->pad_h, &d->pad_w,
	              err, err_len))
		return -1;
	return 0;
}

int cli_variant(const cli_opts *o, dp_desc *d, char *err, size_t err_len)
{
	if (o->fft_tile && d->algo != DP_ALGO_FFT)
		return ERR("--fft-tile applies to --algo fft only");
	if (d->algo == DP_ALGO_FFT) {
		d->tile = dp_fft_default_tile(d);
		if (o->fft_tile && cli_int("--fft-tile", o->fft_tile,
		                           DP_FFT_MIN_TILE, DP_FFT_MAX_TILE,
		                           &d->tile, err, err_len))
			return -1;
	}
	if (d->algo != DP_ALGO_WINOGRAD) {
		if (o->tile || o->points)
			return ERR("%s applies to --algo winograd only",
			           o->tile ? "--tile" : "--points");
		return 0;
	}
	d->tile = dp_winograd_default_tile(d->r);
	if (o->tile && cli_int("--tile", o->tile, 1, DP_WINOGRAD_MAX_ALPHA,
	                       &d->tile, err, err_len))
		return -1;
	if (o->points) {
		if (strlen(o->points) >= sizeof d->points)
			return ERR("--points is too long (at most %d characters)",
			           (int)sizeof d->points - 1);
		strcpy(d->points, o->points);
	}
	return 0;
}

/* Matmul algorithm options into d (whose algo and shape are set). Ranks
 * are integers here; see cli.h. */
int cli_matmul_variant(const cli_opts *o, dp_desc *d, char *err,
                       size_t err_len)
{
	const char *given = NULL;
	if (d->algo != DP_ALGO_SVD && (o->rank_a || o->rank_b))
		given = o->rank_a ? "--rank-a" : "--rank-b";
	else if (d->algo != DP_ALGO_LOG && d->algo != DP_ALGO_LNS &&
	         o->log_frac_bits)
		given = "--log-frac-bits";
	else if (d->algo != DP_ALGO_LNS && (o->acc_bits || o->bin_bits))
		given = o->acc_bits ? "--acc-bits" : "--bin-bits";
	if (given)
		return ERR("%s does not apply to --algo %s", given,
		           dp_algo_name(d->algo));
	if (d->algo == DP_ALGO_SVD) {
		/* A kernel factorizes only B, the weights, at prepare: A is its
		 * per-call input. `dpgen run`, which has A up front, truncates
		 * A itself and calls this without --rank-a. */
		if (o->rank_a && cli_int("--rank-a", o->rank_a, 0, DP_MAX_DIM,
		                         &d->rank_a, err, err_len))
			return -1;
		if (d->rank_a != 0)   /* "--rank-a 0": A is not factorized */
			return ERR("--rank-a applies to dpgen run only: a kernel "
			           "factorizes B (the weights) once; A is its "
			           "per-call input (use --rank-b K)");
		if (!o->rank_b)
			return ERR("--algo svd needs --rank-b K (or, with dpgen "
			           "run, --rank-a K)");
		/* ratio:R keeps the fraction R of B's K*N parameters in the
		 * factors, k (K + N) = R K N; energy:E needs the singular
		 * values, so only dpgen run (which has B) resolves it. */
		if (strncmp(o->rank_b, "ratio:", 6) == 0) {
			char *end;
			double r = strtod(o->rank_b + 6, &end);
			if (end == o->rank_b + 6 || *end || !(r > 0 && r <= 1))
				return ERR("--rank-b '%s': the ratio must be a number "
				           "in (0, 1]", o->rank_b);
			/* rounded down: the cast truncates a positive k */
			double k = r * d->mm_k * (double)d->mm_n /
			           (d->mm_k + (double)d->mm_n);
			int kmax = d->mm_k < d->mm_n ? d->mm_k : d->mm_n;
			d->rank_b = k < 1 ? 1 : k > kmax ? kmax : (int)k;
		} else if (strncmp(o->rank_b, "energy:", 7) == 0) {
			return ERR("--rank-b '%s': an energy fraction needs the "
			           "matrix B; use dpgen run, or an integer rank or "
			           "ratio:R", o->rank_b);
		} else if (cli_int("--rank-b", o->rank_b, 1, DP_MAX_DIM,
		                   &d->rank_b, err, err_len)) {
			return -1;
		}
	}
	if (d->algo == DP_ALGO_LOG) {
		d->frac_bits = DP_LOG_EXACT;
		if (o->log_frac_bits && strcmp(o->log_frac_bits, "exact") != 0 &&
		    cli_int("--log-frac-bits", o->log_frac_bits, 0,
		            DP_LOG_MAX_FRAC, &d->frac_bits, err, err_len))
			return -1;
	}
	if (d->algo == DP_ALGO_LNS) {
		d->frac_bits = 4;
		d->acc_bits = 32;
		if (o->log_frac_bits && cli_int("--log-frac-bits",
		                                o->log_frac_bits, 0,
		                                DP_LNS_MAX_FRAC, &d->frac_bits,
		                                err, err_len))
			return -1;
		d->bin_bits = d->frac_bits;
		if (o->acc_bits && cli_int("--acc-bits", o->acc_bits, 8, 64,
		                           &d->acc_bits, err, err_len))
			return -1;
		if (o->bin_bits && cli_int("--bin-bits", o->bin_bits, 0,
		                           d->frac_bits, &d->bin_bits, err,
		                           err_len))
			return -1;
	}
	return 0;
}

int cli_gen_desc(const cli_opts *o, dp_desc *d, char *err, size_t err_len)
{
	memset(d, 0, sizeof *d);
	if (parse_names(o, d, err, err_len))
		return -1;
	if (!dp_algo_generated(d->algo))
		return ERR("--algo %s is a runtime baseline with no generated "
		           "kernel (run it with dpgen run; see dpgen --list)",
		           o->algo);
	if (!o->shape)
		return ERR("missing --shape (%s)", d->op == DP_OP_CONV ?
		           "HxWxC, e.g. 28x28x3" : "MxKxN, e.g. 64x784x512");
	if (d->op == DP_OP_CONV) {
		const char *mm = o->rank_a ? "--rank-a" : o->rank_b ?
			"--rank-b" : o->log_frac_bits ? "--log-frac-bits" :
			o->acc_bits ? "--acc-bits" : o->bin_bits ? "--bin-bits" :
			NULL;
		if (mm)
			return ERR("%s applies to --op matmul only", mm);
		if (conv_desc(o, d, err, err_len) ||
		    cli_variant(o, d, err, err_len))
			return -1;
	} else {
		int v[3];
		if (reject_conv_options(o, err, err_len) ||
		    parse_dims("--shape", "MxKxN, e.g. 64x784x512", o->shape, 3,
		               1, DP_MAX_DIM, v, err, err_len))
			return -1;
		d->mm_m = v[0];
		d->mm_k = v[1];
		d->mm_n = v[2];
		if (cli_matmul_variant(o, d, err, err_len))
			return -1;
	}
	char why[CLI_ERR_LEN];
	if (dp_desc_check(d, why, sizeof why) != DP_OK) {
		if (d->op == DP_OP_MATMUL)
			return ERR("--shape %s: %s", o->shape, why);
		return ERR("--shape %s --filters %d --kernel %dx%d --stride %d "
		           "--pad %dx%d --batch %d: %s", o->shape, d->k, d->r,
		           d->s, d->stride, d->pad_h, d->pad_w, d->n, why);
	}
	return 0;
}

void cli_help(enum cli_mode mode)
{
	if (mode == MODE_TUNE) {
		printf(
"usage: dpgen tune --op conv --shape HxWxC [--filters K] [--kernel RxS]\n"
"                  [--stride S] [--pad P|PHxPW|same|valid] [--batch N]\n"
"                  [--precision P] [--max-error E] [--wisdom FILE] [--csv]\n"
"                  [--threads N]\n"
"       dpgen tune --op matmul --shape MxKxN [...]\n"
"\n"
"Measures every algorithm and variant for one problem on random data\n"
"(median time, GFLOP/s, workspace, error against the fp64 reference) and\n"
"prints them fastest first; progress goes to stderr.\n"
"\n"
"  --max-error E       relative error budget (max|err| / max|ref|, E >= 0):\n"
"                      the winner is the fastest within it (default: the\n"
"                      fastest exact algorithm)\n"
"  --wisdom FILE       record the winner in FILE (one line per problem,\n"
"                      stale lines of other machines and builds kept)\n"
"  --csv               comma-separated output for machines\n"
"  --threads N         run the kernels on up to N threads, 1..256 (default:\n"
"                      $DP_NUM_THREADS, else 1); small problems stay on one\n"
"                      thread\n"
"Exit status: 0 done; 1 no algorithm meets --max-error or FILE could not\n"
"be written; 2 bad arguments.\n");
		return;
	}
	if (mode == MODE_RUN) {
		printf(
"usage: dpgen run --op conv --algo ALGO --input X.npy --weights W.npy\n"
"                 [--bias B.npy] [--stride S] [--pad P|PHxPW|same|valid]\n"
"                 [--precision P] [--threads N] --out Y.npy\n"
"       dpgen run --op matmul --algo ALGO --a A.npy --b B.npy --out C.npy\n"
"\n"
"Runs an operator on NumPy .npy files (little-endian float32, C order).\n"
"conv: X is NCHW, W is KCRS, B has K values; defaults: stride 1, pad 0.\n"
"matmul: C[MxN] = A[MxK] * B[KxN].\n"
"Uses the exact-shape generated kernel when one is built in, the generic\n"
"implementation otherwise.\n"
"--threads N: up to N threads, 1..256 (default $DP_NUM_THREADS, else 1);\n"
"the result is bitwise the same for every N.\n");
		return;
	}
	if (mode == MODE_MANIFEST) {
		printf(
"usage: dpgen manifest MANIFEST [-o DIR] [--templates DIR]\n"
"\n"
"Generates every kernel listed in MANIFEST (one dpgen command per line,\n"
"'#' starts a comment) into DIR (default: generated), then DIR/registry.c,\n"
"the table of those kernels the runtime library is built with.\n");
		return;
	}
	printf(
"usage: dpgen --op conv --algo ALGO --shape HxWxC [options]\n"
"       dpgen --op matmul --algo ALGO --shape MxKxN [options]\n"
"       dpgen run ...        run an operator on .npy files (dpgen run --help)\n"
"       dpgen manifest FILE  generate every kernel a manifest lists\n"
"\n"
"Emits a C kernel (NAME.c and NAME.h) specialized to one operator,\n"
"algorithm, shape and precision.\n"
"\n"
"  --op OP             conv or matmul\n"
"  --algo ALGO         algorithm (see --list)\n"
"  --shape S           conv: HxWxC input; matmul: MxKxN\n"
"  --filters K         output channels (default 16)\n"
"  --kernel RxS        kernel size (default 3x3)\n"
"  --stride S          stride in both directions (default 1)\n"
"  --pad P             P, PHxPW, same or valid (default same: (R-1)/2,\n"
"                      which keeps the size at stride 1; odd kernels)\n"
"  --batch N           images per call (default 1)\n"
"  --precision P       numeric precision (default fp32)\n"
"  --tile M            winograd: output tile of F(MxM, RxR) (default 4 while\n"
"                      M + R - 1 <= 8, else 9 - R)\n"
"  --points LIST       winograd: the M + R - 2 finite interpolation points,\n"
"                      e.g. 0,1,-1,1/2,-1/2 (default: the generator's set)\n"
"  --fft-tile T        fft: T x T transforms, T = 8, 16, 32 or 64, at least\n"
"                      the kernel size (default: the least estimated work)\n"
"  -o, --output DIR    where to write NAME.c and NAME.h (default generated)\n"
"  --stdout            print the header then the source instead\n"
"  --print-name        print the kernel's name and write nothing\n"
"  --templates DIR     load the Lua templates from DIR, not the built-in ones\n"
"  --list              list ops, algorithms and precisions\n"
"  --version           print the version\n"
"  -h, --help          this text\n"
"\n"
"Sizes are 1..%d each; no tensor may exceed %lld elements.\n"
"Exit status: 0 done; 1 a template failed or standard output could not be\n"
"written; 2 bad arguments, a bad input file or an output that cannot be\n"
"written (nothing is written then).\n",
	       DP_MAX_DIM, (long long)DP_MAX_ELEMS);
}

void cli_list(void)
{
	printf(
"ops and algorithms:\n"
"  conv    direct   generated: any shape, stride, padding, batch; a zero-\n"
"                   padded copy, 8 filters x 8 outputs in vector registers.\n"
"                   generic: any shape.\n"
"  conv    winograd generated: F(MxM, RxR), stride 1, square kernels,\n"
"                   M + R - 1 <= 8 (--tile, --points); matrices derived by\n"
"                   Cook-Toom in exact rationals; transforms unrolled.\n"
"                   generic: the same, matrices computed at prepare time.\n"
"  conv    im2col   generated: the column matrix built with every tap's\n"
"                   valid range known, then the generated GEMM.\n"
"                   generic: the same with the generic GEMM.\n"
"  conv    im2col-blas  runtime only: the same columns, OpenBLAS sgemm\n"
"                   (the baseline).\n"
"  conv    fft      generated: overlap-save on T x T tiles (--fft-tile),\n"
"                   unrolled split-radix real FFT codelets, 8 channels per\n"
"                   vector, per-frequency channel sums as one real GEMM.\n"
"                   generic: the same with a runtime radix-2 FFT. Stride 1.\n"
"  conv    fft-fftw runtime only: whole-image FFTW3 r2c/c2r plans. Stride 1.\n"
"  matmul  naive    runtime only: the triple loop, the baseline.\n"
"  matmul  gemm     generated: packed, cache-blocked, register-blocked\n"
"                   (vector extensions) GEMM for one M, K, N.\n"
"                   generic: the same design with runtime sizes.\n"
"  matmul  svd      B factorized at prepare (LAPACKE dgesdd), rank\n"
"                   --rank-b K | ratio:R (energy:E in dpgen run); the two\n"
"                   products fused in row blocks. --rank-a: dpgen run only.\n"
"  matmul  log      products in the log domain (sign + log2|x| with\n"
"                   --log-frac-bits F, 0..23 or exact), linear sums.\n"
"  matmul  lns      log-domain accumulation (US 2021/0056446): bins by the\n"
"                   F-bit remainder, --acc-bits W, --bin-bits B < F is the\n"
"                   Mitchell variant. See docs/LNS.md.\n"
"precisions (--precision FORMAT[:POLICY], docs/PRECISION.md):\n"
"  fp32      IEEE single precision, no rounding code emitted\n"
"  fp64      every operation in double, the output rounded once\n"
"  tf32 bf16 fp16 fp8-e4m3 fp8-e5m2   emulated: values rounded to the\n"
"            format (round to nearest even, the format's overflow,\n"
"            subnormal and NaN rules); policy all (default): every\n"
"            arithmetic result, transforms included; acc32: operands\n"
"            and products in the format, sums in fp32\n"
"  int16 int8  symmetric fixed point, one scale per tensor, exact\n"
"            integer accumulation\n"
"  Every precision is generated for conv direct and winograd and matmul\n"
"  gemm (emulated kernels compute in the runtime emulation's order); the\n"
"  other algorithms are generated at fp32 only, and dpgen run and the\n"
"  API emulate them at every precision.\n");
}
