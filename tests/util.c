/* util.c - helpers shared by the tests (see util.h). */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

const char *dpgen_path(void)
{
	const char *p = getenv("DPGEN");
	return p && *p ? p : "build/dpgen";
}

const char *src_dir(void)
{
	const char *p = getenv("DP_SRCDIR");
	return p && *p ? p : ".";
}

static int wait_status(pid_t pid)
{
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Read everything from fd into buf, keep what fits. */
static void drain(int fd, char *buf, size_t len)
{
	size_t n = 0;
	char tmp[4096];
	ssize_t got;
	while ((got = read(fd, tmp, sizeof tmp)) > 0 ||
	       (got < 0 && errno == EINTR))
		for (ssize_t i = 0; i < got; i++)
			if (n + 1 < len)
				buf[n++] = tmp[i];
	if (len)
		buf[n] = '\0';
}

int run_capture(char *const argv[], char *err, size_t err_len)
{
	int p[2];
	if (pipe(p) != 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		close(p[1]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	drain(p[0], err, err_len);
	close(p[0]);
	return wait_status(pid);
}

int sh_capture(const char *cmd, char *out, size_t out_len)
{
	char *const argv[] = { "/bin/sh", "-c", (char *)cmd, NULL };
	return run_capture(argv, out, out_len);
}

char *make_temp_dir(char *buf, size_t len)
{
	const char *t = getenv("TMPDIR");
	snprintf(buf, len, "%s/dpgen-test.XXXXXX", t && *t ? t : "/tmp");
	return mkdtemp(buf);
}

void remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096];
	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		struct stat st;
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
			remove_tree(path);
		else
			unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

int dir_entries_like(const char *dir, const char *part)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
		    (!part || strstr(e->d_name, part)))
			n++;
	closedir(d);
	return n;
}

int dir_entries(const char *dir)
{
	return dir_entries_like(dir, NULL);
}

char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap + 1);
	while (buf) {
		n += fread(buf + n, 1, cap - n, f);
		if (n < cap)
			break;
		char *nb = realloc(buf, cap * 2 + 1);
		if (!nb) {
			free(buf);
			buf = NULL;
			break;
		}
		buf = nb;
		cap *= 2;
	}
	fclose(f);
	if (buf) {
		buf[n] = '\0';
		if (len)
			*len = n;
	}
	return buf;
}

void rng_seed(rng_t *r, uint64_t seed)
{
	r->s = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
	if (!r->s)
		r->s = 1;
}

static uint64_t rng_next(rng_t *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545F4914F6CDD1Dull;
}

double rng_uniform(rng_t *r)
{
	return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Box-Muller; one value per call keeps the stream simple. */
double rng_normal(rng_t *r)
{
	double u1 = rng_uniform(r), u2 = rng_uniform(r);
	if (u1 < 1e-300)
		u1 = 1e-300;
	return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void fill_normal(rng_t *r, float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] = (float)rng_normal(r);
}

void fill_kind(rng_t *r, int kind, float *x, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		double v = rng_normal(r);
		if (kind == 1)
			v = v > 0 ? v : 0;
		else if (kind == 2)
			v += 1.0;
		x[i] = (float)v;
	}
}

err_stats compare(const float *got, const double *want, size_t n)
{
	err_stats s = { 0, 0, 0 };
	double sum = 0;
	for (size_t i = 0; i < n; i++) {
		double e = fabs((double)got[i] - want[i]);
		if (!(e <= s.max_abs_err))   /* NaN counts as the worst error */
			s.max_abs_err = e;
		sum += e;
		if (fabs(want[i]) > s.max_ref)
			s.max_ref = fabs(want[i]);
	}
	s.mean_abs_err = n ? sum / (double)n : 0;
	return s;
}

double dot_error_bound(int terms, double sum_abs_products)
{
	const double u = ldexp(1.0, -24);
	double nu = terms * u;
	return nu / (1.0 - nu) * sum_abs_products;
}

void desc_args(const dp_desc *d, char *buf, size_t len)
{
	if (d->op == DP_OP_MATMUL) {
		int n = snprintf(buf, len, "--op matmul --algo %s --shape "
		                 "%dx%dx%d", dp_algo_name(d->algo), d->mm_m,
		                 d->mm_k, d->mm_n);
		if (n < 0 || (size_t)n >= len)
			return;
		if (d->algo == DP_ALGO_SVD)
			snprintf(buf + n, len - (size_t)n, " --rank-a %d --rank-b %d",
			         d->rank_a, d->rank_b);
		else if (d->algo == DP_ALGO_LOG && d->frac_bits < 0)
			snprintf(buf + n, len - (size_t)n, " --log-frac-bits exact");
		else if (d->algo == DP_ALGO_LOG)
			snprintf(buf + n, len - (size_t)n, " --log-frac-bits %d",
			         d->frac_bits);
		else if (d->algo == DP_ALGO_LNS)
			snprintf(buf + n, len - (size_t)n, " --log-frac-bits %d "
			         "--acc-bits %d --bin-bits %d", d->frac_bits,
			         d->acc_bits, d->bin_bits);
		return;
	}
	int n = snprintf(buf, len, "--op conv --algo %s --shape %dx%dx%d "
	                 "--filters %d --kernel %dx%d --stride %d --pad %dx%d "
	                 "--batch %d", dp_algo_name(d->algo), d->h, d->w, d->c,
	                 d->k, d->r, d->s, d->stride, d->pad_h, d->pad_w, d->n);
	if (d->algo == DP_ALGO_WINOGRAD && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, " --tile %d%s%s", d->tile,
		         d->points[0] ? " --points " : "", d->points);
	else if (d->algo == DP_ALGO_FFT && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, " --fft-tile %d", d->tile);
}

const dp_kernel *build_kernel(const dp_desc *d, const char *dir, char *err,
                              size_t err_len)
{
	char args[512], cmd[4096], out[4096], name[256];
	desc_args(d, args, sizeof args);
	snprintf(cmd, sizeof cmd, "%s %s --print-name", dpgen_path(), args);
	if (sh_capture(cmd, out, sizeof out) != 0) {
		snprintf(err, err_len, "%s: %s", cmd, out);
		return NULL;
	}
	snprintf(name, sizeof name, "%.*s", (int)strcspn(out, "\n"), out);
	snprintf(cmd, sizeof cmd, "%s %s -o %s", dpgen_path(), args, dir);
	if (sh_capture(cmd, out, sizeof out) != 0) {
		snprintf(err, err_len, "%s: %s", cmd, out);
		return NULL;
	}
	const char *cc = getenv("CC"), *flags = getenv("DP_KERNEL_CFLAGS");
	snprintf(cmd, sizeof cmd, "%s -std=c11 %s -Wall -Wextra -Werror "
	         "-fPIC -shared -I%s/runtime -I%s %s/%s.c -o %s/%s.so",
	         cc && *cc ? cc : "cc", flags && *flags ? flags : "-O2",
	         src_dir(), dir, dir, name, dir, name);
	if (sh_capture(cmd, out, sizeof out) != 0) {
		snprintf(err, err_len, "%s: %s", cmd, out);
		return NULL;
	}
	snprintf(cmd, sizeof cmd, "%s/%s.so", dir, name);
	void *h = dlopen(cmd, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(err, err_len, "dlopen %s: %s", cmd, dlerror());
		return NULL;
	}
	/* The handle stays open for the life of the test. */
	const dp_kernel *k = dlsym(h, name);
	if (!k)
		snprintf(err, err_len, "%s has no symbol %s", cmd, name);
	return k;
}

float *run_at_threads(const dp_kernel *kern, const dp_desc *d, int threads,
                      const float *x, const float *w, const float *b,
                      size_t ny)
{
	dp_set_num_threads(threads);
	void *state = malloc(kern->state_bytes(d) + 1);
	void *ws = malloc(kern->workspace_bytes(d) + 1);
	float *y = malloc(ny * sizeof *y);
	dp_status st = DP_ERR_NOMEM;
	if (state && ws && y) {
		for (size_t i = 0; i < ny; i++)
			y[i] = NAN;
		st = kern->prepare(d, w, b, state);
		if (st == DP_OK)
			st = kern->execute(d, state, x, y, ws);
	}
	free(state);
	free(ws);
	dp_set_num_threads(1);
	if (st != DP_OK) {
		free(y);
		return NULL;
	}
	return y;
}

double max_rel_diff(const float *a, const float *b, size_t n)
{
	double e = 0, mx = 0;
	for (size_t i = 0; i < n; i++) {
		double dd = fabs((double)a[i] - b[i]);
		if (!(dd <= e))
			e = isnan(dd) ? INFINITY : dd;
		double m = fabs((double)b[i]);
		mx = m > mx ? m : mx;
	}
	return mx > 0 ? e / mx : e;
}

int parse_int_list(const char *s, int *out, int cap)
{
	int n = 0;
	while (*s && n < cap) {
		char *end;
		long v = strtol(s, &end, 10);
		if (end == s)
			break;
		out[n++] = (int)v;
		s = *end == ',' ? end + 1 : end;
	}
	return n;
}
