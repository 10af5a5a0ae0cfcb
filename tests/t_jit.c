/* t_jit.c - plans of shapes with no built-in kernel: generated in-process,
 * compiled, cached under $XDG_CACHE_HOME/dpgen and loaded from there the
 * next time; results checked against the fp64 reference. A missing or
 * failing compiler, an unusable cache directory and DP_JIT=0 fall back to
 * the generic kernel (with a warning for the failures); damaged or
 * foreign cache files are compiled again; two processes compiling the
 * same kernel at once both succeed. */
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utime.h>

#include "tap.h"
#include "util.h"

static char cache_root[4096];   /* XDG_CACHE_HOME */
static char cache[4200];        /* XDG_CACHE_HOME/dpgen */

static dp_desc conv(dp_algo a, int c, int h, int w, int k, int r, int tile)
{
	dp_desc d;
	memset(&d, 0, sizeof d);
	d.op = DP_OP_CONV;
	d.algo = a;
	d.n = 1;
	d.c = c;
	d.h = h;
	d.w = w;
	d.k = k;
	d.r = d.s = r;
	d.stride = 1;
	d.pad_h = d.pad_w = (r - 1) / 2;
	d.tile = tile;
	return d;
}

/* Files in the cache directory whose name contains part. */
static int count_files(const char *part)
{
	return dir_entries_like(cache, part);
}

/* The path of the one cached object whose name starts with name. */
static int cached_object(const char *name, char *path, size_t len)
{
	DIR *d = opendir(cache);
	struct dirent *e;
	int found = 0;
	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL)
		if (!strncmp(e->d_name, name, strlen(name)) &&
		    strstr(e->d_name, ".so")) {
			snprintf(path, len, "%s/%s", cache, e->d_name);
			found++;
		}
	closedir(d);
	return found == 1;
}

typedef struct data {
	dp_desc d;
	float *in, *w, *b, *out;
	double *ref;
	size_t nout;
} data;

static void data_init(data *x, const dp_desc *d, uint64_t seed)
{
	rng_t r;
	rng_seed(&r, seed);
	x->d = *d;
	size_t nin, nw;
	if (d->op == DP_OP_CONV) {
		nin = (size_t)dp_conv_input_elems(d);
		nw = (size_t)dp_conv_weight_elems(d);
		x->nout = (size_t)dp_conv_output_elems(d);
	} else {
		nin = (size_t)d->mm_m * (size_t)d->mm_k;
		nw = (size_t)d->mm_k * (size_t)d->mm_n;
		x->nout = (size_t)d->mm_m * (size_t)d->mm_n;
	}
	x->in = malloc(nin * sizeof(float));
	x->w = malloc(nw * sizeof(float));
	x->b = malloc((size_t)(d->k > 0 ? d->k : 1) * sizeof(float));
	x->out = malloc(x->nout * sizeof(float));
	x->ref = malloc(x->nout * sizeof(double));
	if (!x->in || !x->w || !x->b || !x->out || !x->ref) {
		fprintf(stderr, "t_jit: out of memory\n");
		exit(1);
	}
	fill_normal(&r, x->in, nin);
	fill_normal(&r, x->w, nw);
	if (d->op == DP_OP_CONV) {
		fill_normal(&r, x->b, (size_t)d->k);
		dp_ref_conv2d(d, x->in, x->w, x->b, x->ref);
	} else {
		dp_ref_matmul(d->mm_m, d->mm_k, d->mm_n, x->in, x->w, x->ref);
	}
}

static void data_free(data *x)
{
	free(x->in);
	free(x->w);
	free(x->b);
	free(x->out);
	free(x->ref);
}

/* Plan x's descriptor as given, run it once; the plan stays open in *pp
 * when pp is not NULL. Returns the plan's source, -1 on failure; the
 * relative error goes to *rel, the warning to warn. */
static int plan_run(data *x, double *rel, char *warn, size_t wlen,
                    dp_plan **pp)
{
	dp_plan *p = NULL;
	dp_status st = x->d.op == DP_OP_CONV ?
		dp_plan_conv(&x->d, DP_CHOOSE_DESC, NULL, x->w, x->b, &p) :
		dp_plan_matmul(&x->d, DP_CHOOSE_DESC, NULL, x->w, &p);
	if (st != DP_OK) {
		diag("plan: %s", dp_status_str(st));
		return -1;
	}
	for (size_t i = 0; i < x->nout; i++)
		x->out[i] = NAN;
	st = dp_execute(p, x->in, x->out, NULL);
	err_stats e = compare(x->out, x->ref, x->nout);
	*rel = st == DP_OK && e.max_ref > 0 ? e.max_abs_err / e.max_ref :
	       INFINITY;
	snprintf(warn, wlen, "%s", dp_plan_warning(p));
	int src = (int)dp_plan_source(p);
	diag("%s: %s in %.3f s, rel err %.2e%s%s", dp_plan_kernel(p)->name,
	     dp_kernel_source_name(dp_plan_source(p)), dp_plan_jit_seconds(p),
	     *rel, warn[0] ? ", warning: " : "", warn);
	if (pp)
		*pp = p;
	else
		dp_destroy(p);
	return src;
}

/* A fresh XDG_CACHE_HOME. */
static void fresh_cache(void)
{
	if (cache_root[0])
		remove_tree(cache_root);
	if (!make_temp_dir(cache_root, sizeof cache_root)) {
		fprintf(stderr, "t_jit: cannot make a temporary directory\n");
		exit(1);
	}
	snprintf(cache, sizeof cache, "%s/dpgen", cache_root);
	setenv("XDG_CACHE_HOME", cache_root, 1);
}

static void test_generate_source(void)
{
	dp_desc d = conv(DP_ALGO_WINOGRAD, 5, 13, 11, 7, 3, 2);
	char *name, *c, *h, msg[256];
	dp_status st = dp_generate_source(&d, &name, &c, &h, msg, sizeof msg);
	ok(st == DP_OK, "dp_generate_source: %s", st == DP_OK ? name : msg);
	if (st != DP_OK)
		return;
	/* The same bytes as `dpgen ... --stdout` (header, newline, source). */
	char args[512], cmd[1024];
	desc_args(&d, args, sizeof args);
	snprintf(cmd, sizeof cmd, "%s %s --stdout", dpgen_path(), args);
	size_t cap = strlen(c) + strlen(h) + 4096;
	char *out = malloc(cap), *want = malloc(cap);
	if (out && want) {
		int rc = sh_capture(cmd, out, cap);
		snprintf(want, cap, "%s\n%s", h, c);
		ok(rc == 0 && strcmp(out, want) == 0, "the library generates what "
		   "dpgen writes, byte for byte (%zu bytes)", strlen(want));
	}
	free(out);
	free(want);
	free(name);
	free(c);
	free(h);
	d.algo = DP_ALGO_FFT_FFTW;
	d.tile = 0;
	st = dp_generate_source(&d, &name, &c, &h, msg, sizeof msg);
	ok(st == DP_ERR_UNSUPPORTED && !name && msg[0],
	   "no template for fft-fftw: %s (%s)", dp_status_str(st), msg);
	d.algo = DP_ALGO_DIRECT;
	d.k = 0;
	st = dp_generate_source(&d, &name, &c, &h, msg, sizeof msg);
	ok(st == DP_ERR_ARG && !name && msg[0], "a bad descriptor: %s (%s)",
	   dp_status_str(st), msg);
}

static void test_compile_and_cache(void)
{
	char warn[256], path[8300], path2[8300];
	double rel, rel2;
	fresh_cache();
	/* Build directories of crashed processes: an old one (removed by
	 * the next compilation) and a recent one (kept: it may be in use). */
	char old_dir[4300], new_dir[4300], file[4400];
	mkdir(cache, 0755);
	snprintf(old_dir, sizeof old_dir, "%s/.build-dp_old-abcdef", cache);
	snprintf(new_dir, sizeof new_dir, "%s/.build-dp_new-abcdef", cache);
	mkdir(old_dir, 0700);
	mkdir(new_dir, 0700);
	snprintf(file, sizeof file, "%s/dp_old.c", old_dir);
	FILE *f = fopen(file, "w");
	if (f)
		fclose(f);
	struct utimbuf day_ago = { time(NULL) - 86400, time(NULL) - 86400 };
	utime(old_dir, &day_ago);

	dp_desc d = conv(DP_ALGO_DIRECT, 5, 13, 11, 7, 3, 0);
	ok(dp_registry_find(&d) == NULL, "direct C5 13x11 K7 is not built in");
	data x;
	data_init(&x, &d, 11);
	int src = plan_run(&x, &rel, warn, sizeof warn, NULL);
	ok(src == DP_SOURCE_JIT_COMPILED && !warn[0],
	   "first plan: compiled (%s)", dp_kernel_source_name(src));
	ok(rel < 1e-5, "compiled kernel: rel err %.2e < 1e-5", rel);
	ok(cached_object("dp_conv_direct_r3s3_n1c5h13w11k7", path, sizeof path),
	   "the object is in the cache: %s", path);
	ok(count_files(".build-dp_old") == 0 &&
	   count_files(".build-dp_new") == 1, "a day-old build directory is "
	   "removed, a recent one kept");
	rmdir(new_dir);
	ok(count_files(".build-") == 0, "no build directory left behind");
	float *first = malloc(x.nout * sizeof(float));
	memcpy(first, x.out, x.nout * sizeof(float));

	dp_plan *keep = NULL;
	src = plan_run(&x, &rel2, warn, sizeof warn, &keep);
	ok(src == DP_SOURCE_JIT_CACHE, "second plan: from the cache (%s)",
	   dp_kernel_source_name(src));
	ok(!memcmp(first, x.out, x.nout * sizeof(float)),
	   "cached kernel: bitwise the same results");
	/* A third plan while the second holds the object open. */
	src = plan_run(&x, &rel2, warn, sizeof warn, NULL);
	ok(src == DP_SOURCE_JIT_CACHE && rel2 < 1e-5,
	   "third plan while the second is open: %s",
	   dp_kernel_source_name(src));
	dp_destroy(keep);

	/* Damaged cache file: garbage of the right name. */
	f = fopen(path, "wb");
	if (f) {
		fputs("this is not an ELF object\n", f);
		fclose(f);
	}
	src = plan_run(&x, &rel, warn, sizeof warn, NULL);
	ok(src == DP_SOURCE_JIT_COMPILED && !warn[0] && rel < 1e-5,
	   "damaged cache file: compiled again (%s), rel err %.2e",
	   dp_kernel_source_name(src), rel);
	src = plan_run(&x, &rel, warn, sizeof warn, NULL);
	ok(src == DP_SOURCE_JIT_CACHE, "and loaded from the cache after that");
	/* An empty file. */
	f = fopen(path, "wb");
	if (f)
		fclose(f);
	src = plan_run(&x, &rel, warn, sizeof warn, NULL);
	ok(src == DP_SOURCE_JIT_COMPILED && rel < 1e-5,
	   "empty cache file: compiled again (%s)",
	   dp_kernel_source_name(src));

	/* A valid object holding another kernel (winograd's) under the
	 * direct kernel's name. */
	dp_desc dw = conv(DP_ALGO_WINOGRAD, 5, 13, 11, 7, 3, 2);
	data xw;
	data_init(&xw, &dw, 12);
	src = plan_run(&xw, &rel, warn, sizeof warn, NULL);
	ok(src == DP_SOURCE_JIT_COMPILED && rel < 1e-5,
	   "winograd F(2,3) compiled, rel err %.2e", rel);
	if (cached_object("dp_conv_winograd_f2r3_n1c5h13w11k7", path2,
	                  sizeof path2)) {
		char cmd[17000], out[512];
		snprintf(cmd, sizeof cmd, "cp '%s' '%s'", path2, path);
		ok(sh_capture(cmd, out, sizeof out) == 0, "copied the winograd "
		   "object over the direct one");
		src = plan_run(&x, &rel, warn, sizeof warn, NULL);
		ok(src == DP_SOURCE_JIT_COMPILED && rel < 1e-5,
		   "foreign object in the cache: compiled again (%s)",
		   dp_kernel_source_name(src));
	} else {
		ok(0, "winograd object in the cache");
	}
	ok(count_files(".so") == 2 && count_files(".build-") == 0,
	   "cache: 2 objects, no build directories (%d entries)",
	   count_files(NULL));
	free(first);
	data_free(&xw);
	data_free(&x);
}

static void test_matmul(void)
{
	char warn[256];
	double rel;
	dp_desc d;
	memset(&d, 0, sizeof d);
	d.op = DP_OP_MATMUL;
	d.algo = DP_ALGO_GEMM;
	d.mm_m = 19;
	d.mm_k = 37;
	d.mm_n = 23;
	data x;
	data_init(&x, &d, 13);
	int src = plan_run(&x, &rel, warn, sizeof warn, NULL);
	ok(src == DP_SOURCE_JIT_COMPILED && rel < 1e-5,
	   "matmul gemm 19x37x23: %s, rel err %.2e",
	   dp_kernel_source_name(src), rel);
	data_free(&x);
}

/* Emulated precisions: the generated kernel is compiled and as accurate
 * as the runtime emulation; an algorithm with no emulated template stays
 * generic, with no warning. */
static void test_emulated(void)
{
	char warn[256];
	double rel;
	dp_desc d = conv(DP_ALGO_DIRECT, 5, 9, 8, 6, 3, 0);
	d.precision = DP_PREC_FP16;
	data x;
	data_init(&x, &d, 18);
	int src = plan_run(&x, &rel, warn, sizeof warn, NULL);
	ok(src == DP_SOURCE_JIT_COMPILED && rel < 1e-2,
	   "fp16 direct: %s, rel err %.2e", dp_kernel_source_name(src), rel);
	float *emul = malloc(x.nout * sizeof(float));
	const dp_kernel *used = NULL;
	dp_status st = dp_conv2d(&d, x.in, x.w, x.b, emul, &used);
	size_t bad = 0;
	for (size_t i = 0; i < x.nout; i++)
		bad += memcmp(&emul[i], &x.out[i], sizeof(float)) != 0;
	/* Bitwise agreement with the emulation is t_precision_gen's to
	 * check; here the JIT only has to run the generated kernel. */
	err_stats e = compare(emul, x.ref, x.nout);
	ok(st == DP_OK && rel <= 2 * e.max_abs_err / e.max_ref + 1e-6,
	   "as accurate as the runtime emulation %s (rel err %.2e; %zu of "
	   "%zu outputs differ in some bit)", used ? used->name : "-",
	   e.max_abs_err / e.max_ref, bad, x.nout);
	free(emul);
	data_free(&x);

	d = conv(DP_ALGO_FFT, 5, 9, 8, 6, 3, 8);
	d.precision = DP_PREC_BF16;
	data_init(&x, &d, 19);
	src = plan_run(&x, &rel, warn, sizeof warn, NULL);
	ok(src == DP_SOURCE_GENERIC && !warn[0] && rel < 5e-2,
	   "bf16 fft (no emulated template): generic, no warning, rel err %.2e",
	   rel);
	data_free(&x);
}

/* Failures that must fall back to the generic kernel. */
static void test_fallbacks(void)
{
	char warn[256];
	double rel;
	dp_desc d = conv(DP_ALGO_DIRECT, 3, 9, 10, 5, 3, 0);
	data x;
	data_init(&x, &d, 14);
	const char *cc = getenv("CC");
	char saved_cc[1024] = "";
	if (cc)
		snprintf(saved_cc, sizeof saved_cc, "%s", cc);

	setenv("CC", "/nonexistent/cc", 1);
	int src = plan_run(&x, &rel, warn, sizeof warn, NULL);
	ok(src == DP_SOURCE_GENERIC && rel < 1e-5,
	   "CC=/nonexistent/cc: generic (%s), rel err %.2e",
	   dp_kernel_source_name(src), rel);
	ok(strstr(warn, "cannot run the compiler") != NULL &&
	   strstr(warn, "generic") != NULL, "with a warning: %s", warn);

	setenv("CC", "false", 1);
	src = plan_run(&x, &rel, warn, sizeof warn, NULL);
	ok(src == DP_SOURCE_GENERIC && rel < 1e-5 &&
	   strstr(warn, "failed (exit 1)") != NULL,
	   "CC=false (a failing compiler): generic with: %s", warn);

	/* A compiler that writes an error and fails (CC with arguments). */
	char script[4200], cc_line[4300];
	snprintf(script, sizeof script, "%s/broken-cc.sh", cache_root);
	FILE *f = fopen(script, "w");
	if (f) {
		fputs("echo \"broken compiler: $*\" >&2\nexit 3\n", f);
		fclose(f);
	}
	snprintf(cc_line, sizeof cc_line, "sh %s", script);
	setenv("CC", cc_line, 1);
	src = plan_run(&x, &rel, warn, sizeof warn, NULL);
	ok(src == DP_SOURCE_GENERIC && strstr(warn, "exit 3") &&
	   strstr(warn, "broken compiler"), "its first line of output is in "
	   "the warning: %s", warn);

	if (saved_cc[0])
		setenv("CC", saved_cc, 1);
	else
		unsetenv("CC");
	ok(count_files(".build-") == 0, "failed builds leave nothing behind");

	/* An unusable cache directory. */
	setenv("XDG_CACHE_HOME", "/proc/no-such-dir", 1);
	src = plan_run(&x, &rel, warn, sizeof warn, NULL);
	ok(src == DP_SOURCE_GENERIC && rel < 1e-5 &&
	   strstr(warn, "cache directory"), "unusable cache directory: "
	   "generic with: %s", warn);
	setenv("XDG_CACHE_HOME", cache_root, 1);

	/* DP_JIT=0 and dp_set_jit. */
	setenv("DP_JIT", "0", 1);
	ok(!dp_jit_enabled(), "DP_JIT=0 turns the JIT off");
	src = plan_run(&x, &rel, warn, sizeof warn, NULL);
	ok(src == DP_SOURCE_GENERIC && !warn[0] && rel < 1e-5,
	   "DP_JIT=0: generic, no warning");
	ok(dp_set_jit(1) == DP_OK && dp_jit_enabled(),
	   "dp_set_jit(1) overrides DP_JIT=0");
	ok(dp_set_jit(2) == DP_ERR_ARG, "dp_set_jit(2): DP_ERR_ARG");
	dp_set_jit(-1);
	unsetenv("DP_JIT");
	ok(dp_jit_enabled(), "on by default");

	/* A built-in kernel is used as before. */
	dp_desc b = conv(DP_ALGO_DIRECT, 3, 28, 28, 16, 3, 0);
	data xb;
	data_init(&xb, &b, 15);
	src = plan_run(&xb, &rel, warn, sizeof warn, NULL);
	ok(src == DP_SOURCE_BUILTIN && rel < 1e-5, "built-in shape: %s",
	   dp_kernel_source_name(src));
	data_free(&xb);
	data_free(&x);
}

/* Two processes plan the same fresh shape at once, on an empty cache. */
static void test_two_processes(void)
{
	fresh_cache();
	dp_desc d = conv(DP_ALGO_IM2COL, 4, 10, 12, 6, 3, 0);
	pid_t pid[2];
	for (int i = 0; i < 2; i++) {
		pid[i] = fork();
		if (pid[i] == 0) {
			char warn[256];
			double rel;
			data x;
			data_init(&x, &d, 16);
			int src = plan_run(&x, &rel, warn, sizeof warn, NULL);
			data_free(&x);
			_exit(src == DP_SOURCE_JIT_COMPILED ||
			      src == DP_SOURCE_JIT_CACHE ? (rel < 1e-5 ? 0 : 3) : 2);
		}
	}
	int good = 0;
	for (int i = 0; i < 2; i++) {
		int status = -1;
		if (pid[i] > 0 && waitpid(pid[i], &status, 0) == pid[i] &&
		    WIFEXITED(status) && WEXITSTATUS(status) == 0)
			good++;
		else
			diag("process %d: status %d", i, status);
	}
	ok(good == 2, "two processes compiling the same kernel at once: both "
	   "succeed");
	ok(count_files(".so") == 1 && count_files(".build-") == 0,
	   "one object in the cache, no build directories (%d entries)",
	   count_files(NULL));
}

/* Two threads of one process plan the same fresh shape at once. */
static void *thread_plan(void *arg)
{
	data *x = arg;
	char warn[256];
	double rel;
	int src = plan_run(x, &rel, warn, sizeof warn, NULL);
	return (void *)(intptr_t)((src == DP_SOURCE_JIT_COMPILED ||
	                           src == DP_SOURCE_JIT_CACHE) && rel < 1e-5);
}

static void test_two_threads(void)
{
	dp_desc d = conv(DP_ALGO_DIRECT, 6, 11, 9, 5, 3, 0);
	data x[2];
	pthread_t t[2];
	int started[2] = { 0, 0 }, good = 0;
	for (int i = 0; i < 2; i++) {
		data_init(&x[i], &d, 17);
		started[i] = pthread_create(&t[i], NULL, thread_plan, &x[i]) == 0;
	}
	for (int i = 0; i < 2; i++) {
		void *r = NULL;
		if (started[i] && pthread_join(t[i], &r) == 0 && r)
			good++;
		data_free(&x[i]);
	}
	ok(good == 2, "two threads planning the same fresh shape at once: both "
	   "get the compiled kernel and correct results");
}

int main(void)
{
	/* The kernels compile with the test suite's flags (the sanitizers
	 * under make check-sanitize), the JIT's own default otherwise. */
	const char *kf = getenv("DP_KERNEL_CFLAGS");
	if (kf && *kf)
		setenv("DP_JIT_CFLAGS", kf, 1);
	unsetenv("DP_JIT");
	test_generate_source();
	test_compile_and_cache();
	test_matmul();
	test_emulated();
	test_fallbacks();
	test_two_processes();
	test_two_threads();
	if (cache_root[0])
		remove_tree(cache_root);
	return done_testing();
}
