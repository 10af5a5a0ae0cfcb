/* t_cli.c - dpgen's command line under hostile input, and its positive
 * paths (--help, --version, --list, --print-name, writing NAME.c/NAME.h,
 * broken --templates, a full stdout).
 *
 * Every hostile command line runs with a fresh, empty output directory
 * and must: exit with status 2, print exactly one line that starts with
 * "dpgen: " and names the offending argument, and leave the directory
 * empty (no partial or temporary files). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tap.h"
#include "util.h"

#define MAX_ARGV 32

/* snprintf for paths: vsnprintf, so a long $TMPDIR truncates quietly
 * instead of tripping -Wformat-truncation; returns buf. */
static char *fmt(char *buf, size_t len, const char *f, ...)
	__attribute__((format(printf, 3, 4)));
static char *fmt(char *buf, size_t len, const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	vsnprintf(buf, len, f, ap);
	va_end(ap);
	return buf;
}

/* "@D" in an argument or an expected substring stands for the row's
 * fresh output directory, "@A" for the auxiliary directory that holds the
 * files some rows need (manifests, .npy inputs, a regular file). */
static const struct row {
	const char *what;
	const char *argv[MAX_ARGV];
	const char *want, *want2;   /* substrings of the message (want2 opt.) */
} rows[] = {
	/* ---- names ---- */
	{ "unknown op", { "--op", "foo", "--algo", "direct", "--shape",
	  "28x28x3", "-o", "@D" }, "--op", "'foo'" },
	{ "missing op", { "--algo", "direct", "--shape", "28x28x3", "-o",
	  "@D" }, "--op", NULL },
	{ "unknown algo", { "--op", "conv", "--algo", "fast", "--shape",
	  "28x28x3", "-o", "@D" }, "--algo", "'fast'" },
	{ "missing algo", { "--op", "conv", "--shape", "28x28x3", "-o",
	  "@D" }, "--algo", NULL },
	{ "algo of the wrong op (naive with conv)", { "--op", "conv",
	  "--algo", "naive", "--shape", "28x28x3", "-o", "@D" }, "--algo",
	  "naive" },
	{ "algo of the wrong op (direct with matmul)", { "--op", "matmul",
	  "--algo", "direct", "--shape", "8x8x8", "-o", "@D" }, "--algo",
	  "direct" },
	{ "unknown precision", { "--op", "conv", "--algo", "direct",
	  "--shape", "28x28x3", "--precision", "fp12", "-o", "@D" },
	  "--precision", "fp12" },
	{ "acc32 with fp32", { "--op", "conv", "--algo", "direct",
	  "--shape", "28x28x3", "--precision", "fp32:acc32", "-o", "@D" },
	  "--precision", "fp32:acc32" },
	{ "unknown policy", { "--op", "conv", "--algo", "direct",
	  "--shape", "28x28x3", "--precision", "bf16:acc16", "-o", "@D" },
	  "--precision", "bf16:acc16" },
	{ "empty policy", { "--op", "conv", "--algo", "direct",
	  "--shape", "28x28x3", "--precision", "fp16:", "-o", "@D" },
	  "--precision", "fp16:" },
	/* ---- malformed shapes ---- */
	{ "shape with 2 sizes", { "--op", "conv", "--algo", "direct",
	  "--shape", "28x28", "-o", "@D" }, "--shape", "28x28" },
	{ "shape of letters", { "--op", "conv", "--algo", "direct",
	  "--shape", "axbxc", "-o", "@D" }, "--shape", "axbxc" },
	{ "shape with 4 sizes", { "--op", "conv", "--algo", "direct",
	  "--shape", "28x28x3x1", "-o", "@D" }, "--shape", "28x28x3x1" },
	{ "empty shape", { "--op", "conv", "--algo", "direct", "--shape",
	  "", "-o", "@D" }, "--shape", NULL },
	{ "empty shape after =", { "--op", "conv", "--algo", "direct",
	  "--shape=", "-o", "@D" }, "--shape", NULL },
	{ "shape with a leading x", { "--op", "conv", "--algo", "direct",
	  "--shape", "x28x3", "-o", "@D" }, "--shape", "x28x3" },
	{ "shape with a trailing x", { "--op", "conv", "--algo", "direct",
	  "--shape", "28x28x", "-o", "@D" }, "--shape", "28x28x" },
	{ "shape with xx", { "--op", "conv", "--algo", "direct",
	  "--shape", "28xx3", "-o", "@D" }, "--shape", "28xx3" },
	{ "shape with a zero", { "--op", "conv", "--algo", "direct",
	  "--shape", "0x28x3", "-o", "@D" }, "--shape", "0x28x3" },
	{ "negative shape", { "--op", "conv", "--algo", "direct",
	  "--shape", "-28x28x3", "-o", "@D" }, "--shape", "-28x28x3" },
	{ "fractional shape", { "--op", "conv", "--algo", "direct",
	  "--shape", "28x28x3.5", "-o", "@D" }, "--shape", "3.5" },
	{ "shape past int64", { "--op", "conv", "--algo", "direct",
	  "--shape", "99999999999999999999x1x1", "-o", "@D" }, "--shape",
	  "65536" },
	{ "shape past DP_MAX_DIM", { "--op", "conv", "--algo", "direct",
	  "--shape", "65537x1x1", "-o", "@D" }, "--shape", "65537" },
	{ "matmul shape with 2 sizes", { "--op", "matmul", "--algo",
	  "gemm", "--shape", "64x784", "-o", "@D" }, "--shape", "64x784" },
	{ "generating a runtime-only baseline", { "--op", "matmul", "--algo",
	  "naive", "--shape", "8x8x8", "-o", "@D" }, "--algo naive",
	  "baseline" },
	{ "generating im2col-blas", { "--op", "conv", "--algo",
	  "im2col-blas", "--shape", "8x8x3", "-o", "@D" }, "--algo "
	  "im2col-blas", "baseline" },
	/* ---- element limits (the message names the shape value) ---- */
	{ "input of 2^48 elements", { "--op", "conv", "--algo", "direct",
	  "--shape", "65536x65536x65536", "-o", "@D" }, "65536x65536x65536",
	  "elements" },
	{ "input of 3 * 2^28 elements, --filters 16", { "--op", "conv",
	  "--algo", "direct", "--shape", "16384x16384x3", "--filters", "16",
	  "-o", "@D" }, "16384x16384x3", "268435456" },
	/* ---- --filters ---- */
	{ "--filters 0", { "--op", "conv", "--algo", "direct", "--shape",
	  "28x28x3", "--filters", "0", "-o", "@D" }, "--filters", NULL },
	{ "--filters -3", { "--op", "conv", "--algo", "direct", "--shape",
	  "28x28x3", "--filters", "-3", "-o", "@D" }, "--filters", NULL },
	{ "--filters abc", { "--op", "conv", "--algo", "direct", "--shape",
	  "28x28x3", "--filters", "abc", "-o", "@D" }, "--filters", "abc" },
	{ "--filters 1e3", { "--op", "conv", "--algo", "direct", "--shape",
	  "28x28x3", "--filters", "1e3", "-o", "@D" }, "--filters", "1e3" },
	{ "--filters 65537", { "--op", "conv", "--algo", "direct", "--shape",
	  "28x28x3", "--filters", "65537", "-o", "@D" }, "--filters", NULL },
	{ "--filters with matmul", { "--op", "matmul", "--algo", "gemm",
	  "--shape", "8x8x8", "--filters", "4", "-o", "@D" }, "--filters",
	  NULL },
	/* ---- --kernel ---- */
	{ "--kernel 3", { "--op", "conv", "--algo", "direct", "--shape",
	  "28x28x3", "--kernel", "3", "-o", "@D" }, "--kernel", NULL },
	{ "--kernel 3x3x3", { "--op", "conv", "--algo", "direct", "--shape",
	  "28x28x3", "--kernel", "3x3x3", "-o", "@D" }, "--kernel", NULL },
	{ "--kernel 0x3", { "--op", "conv", "--algo", "direct", "--shape",
	  "28x28x3", "--kernel", "0x3", "-o", "@D" }, "--kernel", NULL },
	{ "--kernel 3x", { "--op", "conv", "--algo", "direct", "--shape",
	  "28x28x3", "--kernel", "3x", "-o", "@D" }, "--kernel", NULL },
	{ "kernel larger than the padded input", { "--op", "conv", "--algo",
	  "direct", "--shape", "5x5x1", "--kernel", "9x9", "--pad", "1", "-o",
	  "@D" }, "kernel 9x9", "padded input 7x7" },
	/* ---- --stride, --pad, --batch ---- */
	{ "--stride 0", { "--op", "conv", "--algo", "direct", "--shape",
	  "28x28x3", "--stride", "0", "-o", "@D" }, "--stride", NULL },
	{ "--stride -1", { "--op", "conv", "--algo", "direct", "--shape",
	  "28x28x3", "--stride", "-1", "-o", "@D" }, "--stride", NULL },
	{ "--stride 1.5", { "--op", "conv", "--algo", "direct", "--shape",
	  "28x28x3", "--stride", "1.5", "-o", "@D" }, "--stride", "1.5" },
	{ "--pad -1", { "--op", "conv", "--algo", "direct", "--shape",
	  "28x28x3", "--pad", "-1", "-o", "@D" }, "--pad", NULL },
	{ "--pad bogus", { "--op", "conv", "--algo", "direct", "--shape",
	  "28x28x3", "--pad", "bogus", "-o", "@D" }, "--pad", "bogus" },
	{ "--pad 1x2x3", { "--op", "conv", "--algo", "direct", "--shape",
	  "28x28x3", "--pad", "1x2x3", "-o", "@D" }, "--pad", NULL },
	{ "--pad same with an even kernel", { "--op", "conv", "--algo",
	  "direct", "--shape", "28x28x3", "--kernel", "2x2", "--pad", "same",
	  "-o", "@D" }, "--pad same", "2x2" },
	{ "default pad (same) with an even kernel", { "--op", "conv",
	  "--algo", "direct", "--shape", "28x28x3", "--kernel", "3x4", "-o",
	  "@D" }, "--pad", NULL },
	{ "--batch 0", { "--op", "conv", "--algo", "direct", "--shape",
	  "28x28x3", "--batch", "0", "-o", "@D" }, "--batch", NULL },
	/* ---- option syntax ---- */
	{ "missing value at the end", { "--op", "conv", "--algo", "direct",
	  "-o", "@D", "--shape" }, "--shape", NULL },
	{ "missing shape", { "--op", "conv", "--algo", "direct", "-o",
	  "@D" }, "--shape", NULL },
	{ "--op given twice", { "--op", "conv", "--op", "conv", "--algo",
	  "direct", "--shape", "28x28x3", "-o", "@D" }, "--op", "twice" },
	{ "--print-name given twice", { "--op", "conv", "--algo", "direct",
	  "--shape", "28x28x3", "--print-name", "--print-name", "-o", "@D" },
	  "--print-name", NULL },
	{ "a flag with a value", { "--op", "conv", "--algo", "direct",
	  "--shape", "28x28x3", "--stdout=yes" }, "--stdout", NULL },
	{ "unknown flag", { "--op", "conv", "--algo", "direct", "--shape",
	  "28x28x3", "--frobnicate", "-o", "@D" }, "--frobnicate", NULL },
	{ "run-only option in generation", { "--op", "conv", "--algo",
	  "direct", "--shape", "28x28x3", "--input", "x.npy", "-o", "@D" },
	  "--input", NULL },
	{ "unexpected positional argument", { "--op", "conv", "--algo",
	  "direct", "--shape", "28x28x3", "stray", "-o", "@D" }, "stray",
	  NULL },
	{ "a lone dash", { "--op", "conv", "--algo", "direct", "--shape",
	  "28x28x3", "-", "-o", "@D" }, "'-'", NULL },
	{ "--stdout together with -o", { "--op", "conv", "--algo", "direct",
	  "--shape", "28x28x3", "--stdout", "-o", "@D" }, "--stdout",
	  "--output" },
	/* ---- the output directory ---- */
	{ "output directory does not exist", { "--op", "conv", "--algo",
	  "direct", "--shape", "28x28x3", "-o", "@D/missing/sub" },
	  "@D/missing/sub", "does not exist" },
	{ "output directory is a regular file", { "--op", "conv", "--algo",
	  "direct", "--shape", "28x28x3", "--output", "@A/plain" },
	  "@A/plain", "not a directory" },
	/* ---- dpgen run ---- */
	{ "run: missing --out", { "run", "--op", "conv", "--algo", "direct",
	  "--input", "@A/x.npy", "--weights", "@A/w.npy" }, "--out", NULL },
	{ "run: missing --input", { "run", "--op", "conv", "--algo",
	  "direct", "--weights", "@A/w.npy", "--out", "@D/y.npy" }, "--input",
	  NULL },
	{ "run: nonexistent input file", { "run", "--op", "conv", "--algo",
	  "direct", "--input", "@A/nonexistent.npy", "--weights", "@A/w.npy",
	  "--out", "@D/y.npy" }, "--input", "@A/nonexistent.npy" },
	{ "run: nonexistent weights file", { "run", "--op", "conv", "--algo",
	  "direct", "--input", "@A/x.npy", "--weights", "@A/nonexistent.npy",
	  "--out", "@D/y.npy" }, "--weights", "@A/nonexistent.npy" },
	{ "run: --rank-a with conv", { "run", "--op", "conv", "--algo",
	  "direct", "--input", "@A/x.npy", "--weights", "@A/w.npy",
	  "--rank-a", "2", "--out", "@D/y.npy" }, "--rank-a", NULL },
	{ "run: unknown op", { "run", "--op", "pool", "--algo", "direct",
	  "--input", "@A/x.npy", "--weights", "@A/w.npy", "--out",
	  "@D/y.npy" }, "--op", NULL },
	{ "run: algo of the wrong op", { "run", "--op", "conv", "--algo",
	  "naive", "--input", "@A/x.npy", "--weights", "@A/w.npy", "--out",
	  "@D/y.npy" }, "--algo", "naive" },
	{ "run: im2col-blas has no emulated precision", { "run", "--op",
	  "conv", "--algo", "im2col-blas", "--precision", "bf16", "--input",
	  "@A/x.npy", "--weights", "@A/w.npy", "--out", "@D/y.npy" }, "--algo",
	  "fp32 only" },
	{ "run: unknown precision", { "run", "--op", "conv", "--algo",
	  "direct", "--precision", "bf17", "--input", "@A/x.npy", "--weights",
	  "@A/w.npy", "--out", "@D/y.npy" }, "--precision", NULL },
	{ "run: generation-only option", { "run", "--op", "conv", "--algo",
	  "direct", "--shape", "5x5x2", "--input", "@A/x.npy", "--weights",
	  "@A/w.npy", "--out", "@D/y.npy" }, "--shape", NULL },
	{ "run: --stride 0", { "run", "--op", "conv", "--algo", "direct",
	  "--input", "@A/x.npy", "--weights", "@A/w.npy", "--stride", "0",
	  "--out", "@D/y.npy" }, "--stride", NULL },
	{ "run: --pad bogus", { "run", "--op", "conv", "--algo", "direct",
	  "--input", "@A/x.npy", "--weights", "@A/w.npy", "--pad", "bogus",
	  "--out", "@D/y.npy" }, "--pad", "bogus" },
	{ "run: --pad same with an even kernel", { "run", "--op", "conv",
	  "--algo", "direct", "--input", "@A/x.npy", "--weights",
	  "@A/w_even.npy", "--pad", "same", "--out", "@D/y.npy" }, "--pad",
	  NULL },
	{ "run: bias of the wrong length", { "run", "--op", "conv", "--algo",
	  "direct", "--input", "@A/x.npy", "--weights", "@A/w.npy", "--bias",
	  "@A/b4.npy", "--out", "@D/y.npy" }, "--bias", NULL },
	{ "run: output in a missing directory", { "run", "--op", "conv",
	  "--algo", "direct", "--input", "@A/x.npy", "--weights", "@A/w.npy",
	  "--out", "@D/missing/y.npy" }, "--out", NULL },
	{ "run: matmul without --b", { "run", "--op", "matmul", "--algo",
	  "naive", "--a", "@A/a.npy", "--out", "@D/y.npy" }, "--b", NULL },
	{ "run: matmul with --input", { "run", "--op", "matmul", "--algo",
	  "naive", "--a", "@A/a.npy", "--b", "@A/a.npy", "--input",
	  "@A/x.npy", "--out", "@D/y.npy" }, "--input", NULL },
	/* ---- dpgen manifest ---- */
	{ "manifest: missing manifest file", { "manifest",
	  "@A/no-such-manifest", "-o", "@D" }, "@A/no-such-manifest", NULL },
	{ "manifest: no manifest given", { "manifest", "-o", "@D" },
	  "manifest file", NULL },
	{ "manifest: a bad line", { "manifest", "@A/bad.manifest", "-o",
	  "@D" }, "@A/bad.manifest:2:", "--shape" },
	{ "manifest: a line that is not a dpgen command", { "manifest",
	  "@A/notdpgen.manifest", "-o", "@D" }, "@A/notdpgen.manifest:3:",
	  NULL },
	{ "manifest: good first line, bad second: nothing written",
	  { "manifest", "@A/half.manifest", "-o", "@D" },
	  "@A/half.manifest:2:", "--shape" },
	{ "sizes whose product overflows 64 bits", { "--op", "conv", "--algo",
	  "direct", "--shape", "65536x65536x65536", "--batch", "65536",
	  "--filters", "1", "--kernel", "1x1", "--stride", "65536", "--pad",
	  "0", "-o", "@D" }, "--shape", "too large" },
	{ "winograd with stride 2", { "--op", "conv", "--algo", "winograd",
	  "--shape", "28x28x3", "--stride", "2", "-o", "@D" }, "--stride",
	  "stride 1" },
	{ "winograd tile too large for the kernel", { "--op", "conv", "--algo",
	  "winograd", "--shape", "28x28x3", "--kernel", "5x5", "--tile", "5",
	  "-o", "@D" }, "--shape", "m + r - 1" },
	{ "winograd points repeated", { "--op", "conv", "--algo", "winograd",
	  "--shape", "28x28x3", "--points", "0,1,-1,2,2/2", "-o", "@D" },
	  "points", "distinct" },
	{ "winograd points too few", { "--op", "conv", "--algo", "winograd",
	  "--shape", "28x28x3", "--points", "0,1,-1", "-o", "@D" },
	  "points", "needs" },
	{ "winograd points malformed", { "--op", "conv", "--algo", "winograd",
	  "--shape", "28x28x3", "--points", "0,1,x,2,3", "-o", "@D" },
	  "points", "malformed" },
	{ "--tile with direct", { "--op", "conv", "--algo", "direct",
	  "--shape", "28x28x3", "--tile", "2", "-o", "@D" }, "--tile",
	  "winograd" },
	{ "manifest: two manifest files", { "manifest", "@A/bad.manifest",
	  "extra", "-o", "@D" }, "extra", NULL },
	{ "manifest: generation-only option", { "manifest",
	  "@A/bad.manifest", "--op", "conv", "-o", "@D" }, "--op", NULL },
};

#define NROWS (sizeof rows / sizeof rows[0])

static char aux[512], tmproot[256];

/* s with "@D" replaced by dir and "@A" by aux, into buf. */
static void expand(const char *s, const char *dir, char *buf, size_t len)
{
	size_t n = 0;
	buf[0] = '\0';
	while (*s && n + 1 < len) {
		const char *sub = NULL;
		if (s[0] == '@' && s[1] == 'D')
			sub = dir;
		else if (s[0] == '@' && s[1] == 'A')
			sub = aux;
		if (sub) {
			n += (size_t)snprintf(buf + n, len - n, "%s", sub);
			if (n >= len)
				n = len - 1;
			s += 2;
		} else {
			buf[n++] = *s++;
			buf[n] = '\0';
		}
	}
}

/* The output is exactly one line that starts with "dpgen: ". */
static int one_line(const char *out)
{
	const char *nl = strchr(out, '\n');
	return !strncmp(out, "dpgen: ", 7) && nl && nl[1] == '\0';
}

static int write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	int bad = fputs(text, f) == EOF;
	bad |= fclose(f) != 0;
	return bad ? -1 : 0;
}

static int write_npy(const char *path, int ndim, const int64_t *shape)
{
	dp_array a = { .ndim = ndim };
	char msg[512];
	memcpy(a.shape, shape, (size_t)ndim * sizeof shape[0]);
	int64_t n = dp_array_elems(&a);
	a.data = calloc((size_t)n, sizeof(float));
	if (!a.data)
		return -1;
	for (int64_t i = 0; i < n; i++)
		a.data[i] = (float)(i % 7) - 3.0f;
	dp_status st = dp_npy_write(path, &a, msg, sizeof msg);
	free(a.data);
	if (st != DP_OK)
		diag("dp_npy_write %s: %s", path, msg);
	return st == DP_OK ? 0 : -1;
}

/* The files the rows refer to through "@A". */
static int make_aux(void)
{
	char p[512];
	static const int64_t xs[] = { 1, 2, 5, 5 }, ws[] = { 3, 2, 3, 3 },
		wev[] = { 3, 2, 2, 2 }, b4[] = { 4 }, as[] = { 2, 3 };
	int bad = 0;
#define AUX(name) fmt(p, sizeof p, "%s/%s", aux, name)
	bad |= write_npy(AUX("x.npy"), 4, xs);
	bad |= write_npy(AUX("w.npy"), 4, ws);
	bad |= write_npy(AUX("w_even.npy"), 4, wev);
	bad |= write_npy(AUX("b4.npy"), 1, b4);
	bad |= write_npy(AUX("a.npy"), 2, as);
	bad |= write_text(AUX("plain"), "not a directory\n");
	bad |= write_text(AUX("bad.manifest"),
		"# a manifest whose second line is broken\n"
		"dpgen --op conv --algo direct --shape 28x28\n"
		"dpgen --op conv --algo direct --shape 8x8x1\n");
	bad |= write_text(AUX("half.manifest"),
		"dpgen --op conv --algo direct --shape 8x8x1 --filters 1\n"
		"dpgen --op conv --algo direct --shape 8x8\n");
	bad |= write_text(AUX("notdpgen.manifest"),
		"\n# blank line, comment, then a foreign command\n"
		"gcc -o dpgen dpgen.c\n");
#undef AUX
	return bad;
}

/* Run dpgen with args (NULL-terminated), output into out. */
static int run_dpgen(const char *const *args, char *out, size_t len)
{
	char *argv[MAX_ARGV + 2];
	int n = 0;
	argv[n++] = (char *)dpgen_path();
	for (; args[n - 1] && n < MAX_ARGV + 1; n++)
		argv[n] = (char *)args[n - 1];
	argv[n] = NULL;
	return run_capture(argv, out, len);
}

static void check_row(const struct row *r)
{
	char dir[512], out[4096], want[1024], want2[1024];
	char store[MAX_ARGV][1024];
	const char *args[MAX_ARGV + 1];
	int n = 0;
	fmt(dir, sizeof dir, "%s/out.XXXXXX", tmproot);
	if (!mkdtemp(dir)) {
		ok(0, "%s: mkdtemp", r->what);
		return;
	}
	for (; n < MAX_ARGV && r->argv[n]; n++) {
		expand(r->argv[n], dir, store[n], sizeof store[n]);
		args[n] = store[n];
	}
	args[n] = NULL;
	expand(r->want, dir, want, sizeof want);
	if (r->want2)
		expand(r->want2, dir, want2, sizeof want2);
	int st = run_dpgen(args, out, sizeof out);
	int entries = dir_entries(dir);
	int has = strstr(out, want) != NULL &&
	          (!r->want2 || strstr(out, want2) != NULL);
	if (!ok(st == 2 && one_line(out) && has && entries == 0,
	        "%s: status 2, one line naming '%s', nothing written",
	        r->what, r->want)) {
		diag("status %d, %d entries left in the output directory", st,
		     entries);
		diag("output: %s", out);
		diag("want: '%s'%s%s%s", want, r->want2 ? " and '" : "",
		     r->want2 ? want2 : "", r->want2 ? "'" : "");
	}
	remove_tree(dir);
}

static void test_help(void)
{
	static const char *const opts[] = {
		"--op", "--algo", "--shape", "--filters", "--kernel", "--stride",
		"--pad", "--batch", "--precision", "--output", "--stdout",
		"--templates", "--list", "--version", "--print-name", "--help",
		"default 16", "default 3x3", "default 1", "default same",
		"default fp32", "default generated",
	};
	char out[8192];
	const char *args[] = { "--help", NULL };
	int st = run_dpgen(args, out, sizeof out);
	ok(st == 0, "--help exits 0 (status %d)", st);
	for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
		ok(strstr(out, opts[i]) != NULL, "--help mentions '%s'",
		   opts[i]);
	const char *hargs[] = { "-h", NULL };
	char out2[8192];
	st = run_dpgen(hargs, out2, sizeof out2);
	ok(st == 0 && !strcmp(out, out2), "-h prints the same as --help");
	const char *rargs[] = { "run", "--help", NULL };
	st = run_dpgen(rargs, out, sizeof out);
	ok(st == 0 && strstr(out, "--input") && strstr(out, "--weights") &&
	   strstr(out, "--out"), "run --help exits 0 and lists --input, "
	   "--weights, --out");
	const char *margs[] = { "manifest", "--help", NULL };
	st = run_dpgen(margs, out, sizeof out);
	ok(st == 0 && strstr(out, "manifest"), "manifest --help exits 0");
}

static void test_version_list(void)
{
	char out[4096];
	const char *vargs[] = { "--version", NULL };
	int st = run_dpgen(vargs, out, sizeof out);
	if (!ok(st == 0 && !strcmp(out, "dpgen " DP_VERSION "\n"),
	        "--version prints 'dpgen " DP_VERSION "'"))
		diag("status %d, output: %s", st, out);
	const char *largs[] = { "--list", NULL };
	st = run_dpgen(largs, out, sizeof out);
	ok(st == 0, "--list exits 0");
	static const char *const words[] = { "conv", "matmul", "direct",
	                                     "naive", "fp32" };
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
		ok(strstr(out, words[i]) != NULL, "--list mentions %s", words[i]);
}

/* The kernel name of a command, from --print-name (static buffer). */
static const char *print_name(const char *const *gen_args)
{
	static char name[512];
	const char *args[MAX_ARGV + 1];
	char out[1024];
	int n = 0;
	for (; gen_args[n]; n++)
		args[n] = gen_args[n];
	args[n++] = "--print-name";
	args[n] = NULL;
	if (run_dpgen(args, out, sizeof out) != 0) {
		diag("--print-name failed: %s", out);
		return NULL;
	}
	snprintf(name, sizeof name, "%.*s", (int)strcspn(out, "\n"), out);
	return name;
}

static int file_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static void test_valid(void)
{
	char dir[512], out[4096], path[1024];
	const char *gen[] = { "--op", "conv", "--algo", "direct", "--shape",
	                      "9x7x2", "--filters", "3", "--kernel", "3x5",
	                      "--stride", "2", "--pad", "1x2", "--batch", "2",
	                      NULL };
	const char *name = print_name(gen);
	ok(name && *name && !strchr(name, ' '), "--print-name prints a name "
	   "(%s)", name ? name : "none");
	if (!name)
		return;
	fmt(dir, sizeof dir, "%s/valid.XXXXXX", tmproot);
	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp");
		return;
	}
	const char *args[MAX_ARGV + 1];
	int n = 0;
	for (; gen[n]; n++)
		args[n] = gen[n];
	args[n++] = "-o";
	args[n++] = dir;
	args[n] = NULL;
	int st = run_dpgen(args, out, sizeof out);
	if (!ok(st == 0 && out[0] == '\0', "a valid command exits 0 silently"))
		diag("status %d, output: %s", st, out);
	ok(dir_entries(dir) == 2, "it writes exactly two files (%d)",
	   dir_entries(dir));
	fmt(path, sizeof path, "%s/%s.c", dir, name);
	char *c = slurp(path, NULL);
	ok(c && strstr(c, name), "%s.c exists and defines the kernel", name);
	free(c);
	fmt(path, sizeof path, "%s/%s.h", dir, name);
	ok(file_exists(path), "%s.h exists", name);

	/* Again into the same directory: replaced, still two files. */
	st = run_dpgen(args, out, sizeof out);
	ok(st == 0 && dir_entries(dir) == 2, "regenerating replaces the two "
	   "files, leaves no temporaries");
	remove_tree(dir);

	/* --stdout: header then source on stdout. */
	args[n - 2] = "--stdout";
	args[n - 1] = NULL;
	char big[1 << 16];
	st = run_dpgen(args, big, sizeof big);
	ok(st == 0 && strstr(big, name) && strstr(big, "#include"),
	   "--stdout exits 0 and prints the kernel");

	/* A manifest with a comment and one valid line: the two files and
	 * registry.c. */
	fmt(dir, sizeof dir, "%s/manifest.XXXXXX", tmproot);
	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp");
		return;
	}
	fmt(path, sizeof path, "%s/good.manifest", aux);
	write_text(path, "# one kernel\n\ndpgen --op conv --algo direct "
	           "--shape 9x7x2 --filters 3 --kernel 3x5 --stride 2 "
	           "--pad 1x2 --batch 2   # trailing comment\n");
	const char *margs[] = { "manifest", path, "-o", dir, NULL };
	st = run_dpgen(margs, out, sizeof out);
	char reg[1024];
	fmt(reg, sizeof reg, "%s/registry.c", dir);
	char *r = slurp(reg, NULL);
	if (!ok(st == 0 && dir_entries(dir) == 3 && r && strstr(r, name),
	        "manifest writes NAME.c, NAME.h and registry.c naming it"))
		diag("status %d, %d entries, output: %s", st, dir_entries(dir),
		     out);
	free(r);
	remove_tree(dir);
}

/* A --templates directory whose dpgen.lua holds text. */
static void test_templates(const char *what, const char *lua,
                           const char *want, const char *want2, int print)
{
	char tdir[512], dir[512], path[1024], out[4096];
	fmt(tdir, sizeof tdir, "%s/tmpl.XXXXXX", tmproot);
	fmt(dir, sizeof dir, "%s/out.XXXXXX", tmproot);
	if (!mkdtemp(tdir) || !mkdtemp(dir)) {
		ok(0, "%s: mkdtemp", what);
		return;
	}
	fmt(path, sizeof path, "%s/dpgen.lua", tdir);
	if (lua && write_text(path, lua)) {
		ok(0, "%s: cannot write %s", what, path);
		return;
	}
	const char *args[] = { "--op", "conv", "--algo", "direct", "--shape",
	                       "8x8x1", "--templates", tdir,
	                       print ? "--print-name" : "-o", print ? NULL : dir,
	                       NULL };
	int st = run_dpgen(args, out, sizeof out);
	char w[1024], w2[512];
	fmt(w, sizeof w, "%s%s", tdir, want);
	snprintf(w2, sizeof w2, "%s", want2 ? want2 : "");
	int has = strstr(out, w) && strstr(out, w2);
	/* A missing module's message from Lua spans lines; only the first
	 * line is checked there (see the report). */
	int shape = lua ? one_line(out) : !strncmp(out, "dpgen: ", 7);
	if (!ok(st == 1 && shape && has && dir_entries(dir) == 0,
	        "%s: status 1, a message naming '%s', nothing written", what,
	        want2 ? want2 : "the template"))
		diag("status %d, output: %s", st, out);
	remove_tree(tdir);
	remove_tree(dir);
}

static void test_dev_full(void)
{
	char cmd[1024], out[4096];
	snprintf(cmd, sizeof cmd, "'%s' --op conv --algo direct --shape "
	         "28x28x3 --stdout > /dev/full", dpgen_path());
	char *const argv[] = { "/bin/sh", "-c", cmd, NULL };
	int st = run_capture(argv, out, sizeof out);
	if (!ok(st == 1 && one_line(out) && strstr(out, "standard output"),
	        "--stdout > /dev/full: status 1, one line, no crash"))
		diag("status %d, output: %s", st, out);
	static const char *const quiet[] = {
		"--op conv --algo direct --shape 28x28x3 --print-name",
		"--help", "--list", "--version", "run --help",
	};
	for (size_t i = 0; i < sizeof quiet / sizeof quiet[0]; i++) {
		snprintf(cmd, sizeof cmd, "'%s' %s > /dev/full", dpgen_path(),
		         quiet[i]);
		st = run_capture(argv, out, sizeof out);
		if (!ok(st == 1 && one_line(out) &&
		        strstr(out, "standard output"),
		        "%s > /dev/full: status 1, one line", quiet[i]))
			diag("status %d, output: %s", st, out);
	}
}

int main(void)
{
	if (!make_temp_dir(tmproot, sizeof tmproot)) {
		ok(0, "make_temp_dir");
		return done_testing();
	}
	fmt(aux, sizeof aux, "%s/aux", tmproot);
	if (mkdir(aux, 0700) != 0 || make_aux() != 0) {
		ok(0, "cannot prepare %s", aux);
		remove_tree(tmproot);
		return done_testing();
	}
	diag("%zu hostile command lines, dpgen is %s", NROWS, dpgen_path());
	for (size_t i = 0; i < NROWS; i++)
		check_row(&rows[i]);

	test_help();
	test_version_list();
	test_valid();
	test_templates("template raising error(\"boom\")", "error(\"boom\")\n",
	               "/dpgen.lua:1:", "boom", 0);
	test_templates("template with a syntax error", "local x = = 1\n",
	               "/dpgen.lua:1:", NULL, 0);
	test_templates("template error with --print-name",
	               "\n\nerror(\"boom\")\n", "/dpgen.lua:3:", "boom", 1);
	test_templates("template directory without templates", NULL,
	               "/dpgen.lua", "cannot read template", 0);
	test_dev_full();
	remove_tree(tmproot);
	return done_testing();
}
