/* t_run.c - `dpgen run` end to end on .npy files: convolution and matmul
 * against the fp64 reference with Higham's bound, then files that must
 * be refused (status 2, one line naming the option, no --out written). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tap.h"
#include "util.h"

#define MAX_ARGS 40

static char tmp[256];

/* A path inside the temporary directory (static ring of buffers). */
static const char *tpath(const char *name)
{
	static char bufs[16][512];
	static int next;
	char *b = bufs[next++ % 16];
	size_t n = strlen(tmp);
	if (n + 1 + strlen(name) + 1 > sizeof bufs[0])
		return "/nonexistent/too-long";
	memcpy(b, tmp, n);
	b[n] = '/';
	strcpy(b + n + 1, name);
	return b;
}

static int exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

static int one_line(const char *out)
{
	const char *nl = strchr(out, '\n');
	return !strncmp(out, "dpgen: ", 7) && nl && nl[1] == '\0';
}

/* Run dpgen run with NULL-terminated args, output into out. */
static int run_dpgen(const char *const *args, char *out, size_t len)
{
	char *argv[MAX_ARGS + 3];
	int n = 0;
	argv[n++] = (char *)dpgen_path();
	argv[n++] = "run";
	for (int i = 0; args[i] && n < MAX_ARGS + 2; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	return run_capture(argv, out, len);
}

/* Write a float32 .npy file of the given shape. */
static int put(const char *path, const float *data, int ndim, ...)
{
	dp_array a = { .ndim = ndim, .data = (float *)data };
	char msg[512];
	va_list ap;
	va_start(ap, ndim);
	for (int i = 0; i < ndim; i++)
		a.shape[i] = va_arg(ap, int);
	va_end(ap);
	if (dp_npy_write(path, &a, msg, sizeof msg) != DP_OK) {
		diag("dp_npy_write %s: %s", path, msg);
		return -1;
	}
	return 0;
}

static float *random_floats(rng_t *r, size_t n)
{
	float *x = malloc(n * sizeof *x + 1);
	if (x)
		fill_normal(r, x, n);
	return x;
}

static float *abs_copy(const float *x, size_t n)
{
	float *y = malloc(n * sizeof *y + 1);
	for (size_t i = 0; y && i < n; i++)
		y[i] = fabsf(x[i]);
	return y;
}

/* Largest err/bound ratio over n outputs (exact outputs count 0; an
 * error where the bound is 0, or a NaN, is infinite). */
static double worst_ratio(const float *got, const double *ref,
                          const double *mag, size_t n, int terms,
                          size_t *at)
{
	double worst = 0;
	*at = 0;
	for (size_t i = 0; i < n; i++) {
		double e = fabs((double)got[i] - ref[i]);
		double b = dot_error_bound(terms, mag[i]);
		double ratio = e == 0 ? 0 : b > 0 ? e / b : INFINITY;
		if (!(ratio <= worst)) {
			worst = isnan(ratio) ? INFINITY : ratio;
			*at = i;
		}
	}
	return worst;
}

struct conv_case {
	const char *what;
	int n, c, h, w, k, r, s, stride;
	const char *pad;       /* --pad value, NULL: not given (0) */
	int ph, pw;            /* the padding it means */
	int bias;
};

static void conv_case(const struct conv_case *t, uint64_t seed)
{
	dp_desc d = { .op = DP_OP_CONV, .algo = DP_ALGO_DIRECT,
	              .precision = DP_PREC_FP32, .n = t->n, .c = t->c,
	              .h = t->h, .w = t->w, .k = t->k, .r = t->r, .s = t->s,
	              .stride = t->stride, .pad_h = t->ph, .pad_w = t->pw };
	char out[4096], msg[512], stride[16];
	size_t ni = (size_t)dp_conv_input_elems(&d);
	size_t nw = (size_t)dp_conv_weight_elems(&d);
	size_t no = (size_t)dp_conv_output_elems(&d);
	rng_t r;
	rng_seed(&r, seed);
	float *x = random_floats(&r, ni), *w = random_floats(&r, nw);
	float *b = random_floats(&r, (size_t)t->k);
	float *ax = abs_copy(x, ni), *aw = abs_copy(w, nw);
	float *ab = abs_copy(b, (size_t)t->k);
	double *ref = malloc(no * sizeof *ref), *mag = malloc(no * sizeof *mag);
	dp_array y = { 0 };
	const char *xp = tpath("conv_x.npy"), *wp = tpath("conv_w.npy");
	const char *bp = tpath("conv_b.npy"), *yp = tpath("conv_y.npy");
	if (!x || !w || !b || !ax || !aw || !ab || !ref || !mag ||
	    put(xp, x, 4, t->n, t->c, t->h, t->w) ||
	    put(wp, w, 4, t->k, t->c, t->r, t->s) ||
	    put(bp, b, 1, t->k)) {
		ok(0, "%s: cannot prepare the inputs", t->what);
		goto out;
	}
	remove(yp);
	snprintf(stride, sizeof stride, "%d", t->stride);
	const char *args[MAX_ARGS] = { "--op", "conv", "--algo", "direct",
	                               "--input", xp, "--weights", wp,
	                               "--stride", stride, "--out", yp };
	int na = 12;
	if (t->bias) {
		args[na++] = "--bias";
		args[na++] = bp;
	}
	if (t->pad) {
		args[na++] = "--pad";
		args[na++] = t->pad;
	}
	args[na] = NULL;
	int st = run_dpgen(args, out, sizeof out);
	if (!ok(st == 0 && out[0] == '\0', "%s: dpgen run exits 0 silently",
	        t->what)) {
		diag("status %d, output: %s", st, out);
		goto out;
	}
	if (!ok(dp_npy_read(yp, &y, msg, sizeof msg) == DP_OK,
	        "%s: the output reads back", t->what)) {
		diag("%s", msg);
		goto out;
	}
	int ho = dp_conv_out_h(&d), wo = dp_conv_out_w(&d);
	if (!ok(y.ndim == 4 && y.shape[0] == t->n && y.shape[1] == t->k &&
	        y.shape[2] == ho && y.shape[3] == wo,
	        "%s: the output is %dx%dx%dx%d", t->what, t->n, t->k, ho, wo)) {
		diag("got ndim %d, shape %lld %lld %lld %lld", y.ndim,
		     (long long)y.shape[0], (long long)y.shape[1],
		     (long long)y.shape[2], (long long)y.shape[3]);
		goto out;
	}
	dp_ref_conv2d(&d, x, w, t->bias ? b : NULL, ref);
	dp_ref_conv2d(&d, ax, aw, t->bias ? ab : NULL, mag);
	size_t at;
	double worst = worst_ratio(y.data, ref, mag, no,
	                           t->c * t->r * t->s + 1, &at);
	err_stats es = compare(y.data, ref, no);
	if (!ok(worst <= 1.0, "%s: every output within gamma_n * sum|x*w| "
	        "(worst err/bound %.3g)", t->what, worst))
		diag("at output %zu: got %.9g, want %.17g; max err %.3g", at,
		     (double)y.data[at], ref[at], es.max_abs_err);
out:
	dp_array_free(&y);
	free(x); free(w); free(b); free(ax); free(aw); free(ab);
	free(ref); free(mag);
}

static void matmul_case(int m, int k, int n, uint64_t seed)
{
	char out[4096], msg[512];
	rng_t r;
	rng_seed(&r, seed);
	size_t na = (size_t)m * k, nb = (size_t)k * n, nc = (size_t)m * n;
	float *a = random_floats(&r, na), *b = random_floats(&r, nb);
	float *aa = abs_copy(a, na), *ab = abs_copy(b, nb);
	double *ref = malloc(nc * sizeof *ref), *mag = malloc(nc * sizeof *mag);
	dp_array c = { 0 };
	const char *ap = tpath("mm_a.npy"), *bp = tpath("mm_b.npy");
	const char *cp = tpath("mm_c.npy");
	if (!a || !b || !aa || !ab || !ref || !mag ||
	    put(ap, a, 2, m, k) || put(bp, b, 2, k, n)) {
		ok(0, "matmul %dx%dx%d: cannot prepare the inputs", m, k, n);
		goto out;
	}
	remove(cp);
	const char *args[] = { "--op", "matmul", "--algo", "naive", "--a", ap,
	                       "--b", bp, "--out", cp, NULL };
	int st = run_dpgen(args, out, sizeof out);
	if (!ok(st == 0 && out[0] == '\0', "matmul %dx%dx%d: dpgen run exits "
	        "0 silently", m, k, n)) {
		diag("status %d, output: %s", st, out);
		goto out;
	}
	if (!ok(dp_npy_read(cp, &c, msg, sizeof msg) == DP_OK &&
	        c.ndim == 2 && c.shape[0] == m && c.shape[1] == n,
	        "matmul %dx%dx%d: the output is %dx%d", m, k, n, m, n)) {
		diag("%s (ndim %d)", msg, c.ndim);
		goto out;
	}
	dp_ref_matmul(m, k, n, a, b, ref);
	dp_ref_matmul(m, k, n, aa, ab, mag);
	size_t at;
	double worst = worst_ratio(c.data, ref, mag, nc, k, &at);
	if (!ok(worst <= 1.0, "matmul %dx%dx%d: every output within gamma_K "
	        "* sum|a*b| (worst err/bound %.3g)", m, k, n, worst))
		diag("at output %zu: got %.9g, want %.17g", at,
		     (double)c.data[at], ref[at]);
out:
	dp_array_free(&c);
	free(a); free(b); free(aa); free(ab); free(ref); free(mag);
}

static int write_bytes(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	int bad = fwrite(data, 1, len, f) != len;
	bad |= fclose(f) != 0;
	return bad ? -1 : 0;
}

/* A float64 .npy of shape (2,), version 1.0. The 10-byte preamble and
 * the 57-byte dict do not fit in 64 bytes, so the header is padded with
 * spaces and a newline to the next multiple of 64, 128 bytes, as numpy
 * does; 16 data bytes follow. */
static int write_f8(const char *path)
{
	static const char dict[] =
		"{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }";
	enum { TOTAL = 128, HLEN = TOTAL - 10 };
	unsigned char buf[TOTAL + 16];
	_Static_assert(10 + sizeof dict - 1 + 1 <= TOTAL, "header fits");
	memcpy(buf, "\x93NUMPY", 6);
	buf[6] = 1;
	buf[7] = 0;
	buf[8] = (unsigned char)(HLEN & 0xff);
	buf[9] = (unsigned char)(HLEN >> 8);
	memset(buf + 10, ' ', HLEN);
	memcpy(buf + 10, dict, sizeof dict - 1);
	buf[TOTAL - 1] = '\n';
	/* 1.5 and -2.25 as little-endian IEEE doubles, byte by byte. */
	static const unsigned char data[16] = {
		0, 0, 0, 0, 0, 0, 0xf8, 0x3f,
		0, 0, 0, 0, 0, 0, 0x02, 0xc0,
	};
	memcpy(buf + TOTAL, data, sizeof data);
	return write_bytes(path, buf, sizeof buf);
}

/* The first len - cut bytes of src into dst. */
static int truncate_copy(const char *src, const char *dst, size_t cut)
{
	size_t len;
	char *s = slurp(src, &len);
	int rc = s && len > cut ? write_bytes(dst, s, len - cut) : -1;
	free(s);
	return rc;
}

struct bad_case {
	const char *what;
	const char *args[MAX_ARGS];   /* "@name" is tpath("name") */
	const char *want, *want2;
};

static const struct bad_case bad[] = {
	{ "weights with 2 channels, input with 3", { "--op", "conv", "--algo",
	  "direct", "--input", "@x", "--weights", "@w_c2", "--out", "@y" },
	  "--weights", "channels" },
	{ "a 3-D input", { "--op", "conv", "--algo", "direct", "--input",
	  "@x3d", "--weights", "@w", "--out", "@y" }, "--input",
	  "dimensions" },
	{ "a 3-D weights file", { "--op", "conv", "--algo", "direct",
	  "--input", "@x", "--weights", "@x3d", "--out", "@y" }, "--weights",
	  "dimensions" },
	{ "a float64 input", { "--op", "conv", "--algo", "direct", "--input",
	  "@f8", "--weights", "@w", "--out", "@y" }, "--input", "<f8" },
	{ "a truncated input", { "--op", "conv", "--algo", "direct",
	  "--input", "@x_trunc", "--weights", "@w", "--out", "@y" },
	  "--input", "truncated" },
	{ "a truncated header", { "--op", "conv", "--algo", "direct",
	  "--input", "@x_head", "--weights", "@w", "--out", "@y" }, "--input",
	  NULL },
	{ "an empty input file", { "--op", "conv", "--algo", "direct",
	  "--input", "@empty", "--weights", "@w", "--out", "@y" }, "--input",
	  NULL },
	{ "a text file as weights", { "--op", "conv", "--algo", "direct",
	  "--input", "@x", "--weights", "@text", "--out", "@y" },
	  "--weights", NULL },
	{ "a 2-D bias", { "--op", "conv", "--algo", "direct", "--input",
	  "@x", "--weights", "@w", "--bias", "@a34", "--out", "@y" }, "--bias",
	  "dimensions" },
	{ "a bias of the wrong length", { "--op", "conv", "--algo", "direct",
	  "--input", "@x", "--weights", "@w", "--bias", "@b5", "--out", "@y" },
	  "--bias", NULL },
	{ "a kernel larger than the input", { "--op", "conv", "--algo",
	  "direct", "--input", "@x", "--weights", "@w_big", "--out", "@y" },
	  "kernel", NULL },
	{ "A 3x4 times B 5x2", { "--op", "matmul", "--algo", "naive", "--a",
	  "@a34", "--b", "@b52", "--out", "@y" }, "--a", "inner sizes" },
	{ "a 1-D A", { "--op", "matmul", "--algo", "naive", "--a", "@b5",
	  "--b", "@b52", "--out", "@y" }, "--a", "1 dimension" },
	{ "a float64 B", { "--op", "matmul", "--algo", "naive", "--a",
	  "@a34", "--b", "@f8", "--out", "@y" }, "--b", "<f8" },
	{ "a nonexistent B", { "--op", "matmul", "--algo", "naive", "--a",
	  "@a34", "--b", "@missing", "--out", "@y" }, "--b", "missing" },
};

static int make_bad_files(void)
{
	static float zeros[1 << 12];
	int bad_ = 0;
	for (size_t i = 0; i < sizeof zeros / sizeof zeros[0]; i++)
		zeros[i] = (float)(i % 5) - 2.0f;
	bad_ |= put(tpath("x"), zeros, 4, 1, 3, 8, 8);
	bad_ |= put(tpath("w"), zeros, 4, 4, 3, 3, 3);
	bad_ |= put(tpath("w_c2"), zeros, 4, 4, 2, 3, 3);
	bad_ |= put(tpath("w_big"), zeros, 4, 4, 3, 9, 9);
	bad_ |= put(tpath("x3d"), zeros, 3, 3, 8, 8);
	bad_ |= put(tpath("a34"), zeros, 2, 3, 4);
	bad_ |= put(tpath("b52"), zeros, 2, 5, 2);
	bad_ |= put(tpath("b5"), zeros, 1, 5);
	bad_ |= write_f8(tpath("f8"));
	bad_ |= truncate_copy(tpath("x"), tpath("x_trunc"), 10);
	bad_ |= truncate_copy(tpath("x"), tpath("x_head"),
	                      1 * 3 * 8 * 8 * 4 + 20);
	bad_ |= write_bytes(tpath("empty"), "", 0);
	bad_ |= write_bytes(tpath("text"), "hello, world\n", 13);
	return bad_;
}

static void bad_case(const struct bad_case *t)
{
	const char *args[MAX_ARGS];
	char out[4096];
	int n = 0;
	for (; n < MAX_ARGS - 1 && t->args[n]; n++)
		args[n] = t->args[n][0] == '@' ? tpath(t->args[n] + 1)
		                               : t->args[n];
	args[n] = NULL;
	const char *yp = tpath("y");
	remove(yp);
	int st = run_dpgen(args, out, sizeof out);
	int has = strstr(out, t->want) && (!t->want2 || strstr(out, t->want2));
	if (!ok(st == 2 && one_line(out) && has && !exists(yp),
	        "%s: status 2, one line naming '%s'%s%s, no --out", t->what,
	        t->want, t->want2 ? " and " : "", t->want2 ? t->want2 : ""))
		diag("status %d, --out %s, output: %s", st,
		     exists(yp) ? "exists" : "absent", out);
}

/* A failing run leaves an existing --out untouched. */
static void keeps_old_output(void)
{
	const char *yp = tpath("old_y.npy");
	char out[4096];
	if (write_bytes(yp, "old\n", 4)) {
		ok(0, "cannot write %s", yp);
		return;
	}
	const char *args[] = { "--op", "conv", "--algo", "direct", "--input",
	                       tpath("x"), "--weights", tpath("w_c2"), "--out",
	                       yp, NULL };
	int st = run_dpgen(args, out, sizeof out);
	char *s = slurp(yp, NULL);
	ok(st == 2 && s && !strcmp(s, "old\n"), "a failing run leaves an "
	   "existing --out as it was");
	free(s);
}

int main(void)
{
	static const struct conv_case convs[] = {
		{ "1x3x28x28, 16 3x3 filters, pad 1 (registered kernel)",
		  1, 3, 28, 28, 16, 3, 3, 1, "1", 1, 1, 1 },
		{ "2x3x13x9, 4 3x3 filters, stride 2, pad same, no bias",
		  2, 3, 13, 9, 4, 3, 3, 2, "same", 1, 1, 0 },
		{ "2x2x13x11, 3 3x5 filters, stride 2, pad 1x2 (registered)",
		  2, 2, 13, 11, 3, 3, 5, 2, "1x2", 1, 2, 1 },
		{ "1x2x10x7, 2 2x3 filters, stride 3, pad valid",
		  1, 2, 10, 7, 2, 2, 3, 3, "valid", 0, 0, 1 },
		{ "1x1x1x1, one 1x1 filter, no --pad",
		  1, 1, 1, 1, 1, 1, 1, 1, NULL, 0, 0, 1 },
		{ "1x1x5x5, one 5x5 filter, pad 2, stride 5, no bias",
		  1, 1, 5, 5, 1, 5, 5, 5, "2", 2, 2, 0 },
	};
	static const int mms[][3] = { { 1, 1, 1 }, { 7, 13, 5 },
	                              { 16, 33, 9 } };
	if (!make_temp_dir(tmp, sizeof tmp)) {
		ok(0, "make_temp_dir");
		return done_testing();
	}
	dp_desc reg = { .op = DP_OP_CONV, .algo = DP_ALGO_DIRECT,
	                .precision = DP_PREC_FP32, .n = 1, .c = 3, .h = 28,
	                .w = 28, .k = 16, .r = 3, .s = 3, .stride = 1,
	                .pad_h = 1, .pad_w = 1 };
	ok(dp_registry_find(&reg) != NULL, "1x3x28x28 with 16 3x3 filters, "
	   "pad 1 has a registered generated kernel");

	for (size_t i = 0; i < sizeof convs / sizeof convs[0]; i++)
		conv_case(&convs[i], 100 + i);
	for (size_t i = 0; i < sizeof mms / sizeof mms[0]; i++)
		matmul_case(mms[i][0], mms[i][1], mms[i][2], 200 + i);

	if (make_bad_files()) {
		ok(0, "cannot write the bad files");
	} else {
		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
			bad_case(&bad[i]);
		keeps_old_output();
	}
	remove_tree(tmp);
	return done_testing();
}
