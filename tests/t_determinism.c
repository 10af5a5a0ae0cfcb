/* t_determinism.c - the same inputs give bitwise-identical outputs, for
 * every algorithm, generated and generic (the subjects of
 * tests/edge_common.h: every registered kernel small enough, its generic
 * twin, the variants the registry lacks, Winograd tiles built now).
 *
 * Each kernel runs three times on the same data:
 *   1. state and workspace from fresh buffers at a 64-byte boundary,
 *      pre-filled with the byte 0xA5, output pre-filled with 0x5A;
 *   2. fresh buffers at 16 (state) and 48 (workspace) bytes past a 64-byte
 *      boundary (still malloc's 16-byte alignment, which is all the
 *      kernel contract promises), pre-filled with pseudo-random bytes
 *      (NaN and Inf patterns among them), output with other ones;
 *   3. dp_kernel_run, which mallocs its own.
 * The three outputs must be equal with memcmp, and every output of run 1
 * must be finite (N(0,1) data), so an output a kernel forgets to write
 * (it keeps different garbage in each run) or a read of uninitialized
 * state or workspace (different garbage each time) shows up.
 *
 *
 * Across processes: every algorithm runs twice through `dpgen run` (two
 * processes, each planning afresh: FFTW plans, OpenBLAS, the JIT) on the
 * same .npy files, and the two output files must be byte-identical.
 * (conv_fftw.c plans with FFTW_ESTIMATE for this reason: FFTW_MEASURE's
 * choice depends on timings and differed between processes.)
 *
 * Thread counts are t_threads' subject. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "edge_common.h"

static void garbage(unsigned char *p, size_t n, uint64_t seed)
{
	rng_t r;
	rng_seed(&r, seed);
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(rng_uniform(&r) * 256);
}

/* prepare + execute with state and workspace at the given offsets past a
 * 64-byte boundary, pre-filled with `fill` (or pseudo-random if < 0). */
static dp_status run_at(const subject *s, const float *x, const float *w,
                        const float *b, float *y, size_t off_state,
                        size_t off_ws, int fill, uint64_t seed)
{
	const size_t sb = s->k->state_bytes(&s->d) + 1;
	const size_t wb = s->k->workspace_bytes(&s->d) + 1;
	unsigned char *st = aligned_alloc(64, (sb + off_state + 63) / 64 * 64);
	unsigned char *ws = aligned_alloc(64, (wb + off_ws + 63) / 64 * 64);
	dp_status r = DP_ERR_NOMEM;
	if (st && ws) {
		if (fill >= 0) {
			memset(st + off_state, fill, sb);
			memset(ws + off_ws, fill, wb);
			memset(y, fill ^ 0xff, s->no * sizeof *y);
		} else {
			garbage(st + off_state, sb, seed);
			garbage(ws + off_ws, wb, seed + 1);
			garbage((unsigned char *)y, s->no * sizeof *y, seed + 2);
		}
		r = s->k->prepare(&s->d, w, s->nb ? b : NULL, st + off_state);
		if (r == DP_OK)
			r = s->k->execute(&s->d, st + off_state, x, y, ws + off_ws);
	}
	free(st);
	free(ws);
	return r;
}

/* dpgen run with args (NULL-terminated) writing out; 0 on success. */
static int dpgen_run(const char *const *args, const char *out)
{
	char *argv[32], err[1024];
	int n = 0;
	argv[n++] = (char *)dpgen_path();
	argv[n++] = "run";
	for (int i = 0; args[i] && n < 28; i++)
		argv[n++] = (char *)args[i];
	argv[n++] = "--out";
	argv[n++] = (char *)out;
	argv[n] = NULL;
	int rc = run_capture(argv, err, sizeof err);
	if (rc != 0)
		diag("dpgen run: %s", err);
	return rc;
}

static int write_npy(const char *path, const float *x, int d0, int d1,
                     int d2, int d3)
{
	dp_array a = { .ndim = d2 ? 4 : 2, .data = (float *)x,
	               .shape = { d0, d1, d2, d3 } };
	char msg[256];
	return dp_npy_write(path, &a, msg, sizeof msg) == DP_OK ? 0 : -1;
}

/* Every algorithm through two dpgen processes: byte-identical outputs. */
static void across_processes(const char *dir)
{
	static const char *const conv[] = { "direct", "im2col", "im2col-blas",
		"winograd", "fft", "fft-fftw" };
	static const char *const mm[][3] = { { "naive", NULL, NULL },
		{ "gemm", NULL, NULL }, { "svd", "--rank-b", "3" },
		{ "log", "--log-frac-bits", "8" }, { "lns", "--log-frac-bits", "8" } };
	char xp[300], wp[300], ap[300], bp[300], o1[300], o2[300];
	float x[2 * 3 * 11 * 9], w[5 * 3 * 3 * 3], a[6 * 7], b[7 * 5];
	rng_t r;
	rng_seed(&r, 4242);
	fill_normal(&r, x, sizeof x / sizeof *x);
	fill_normal(&r, w, sizeof w / sizeof *w);
	fill_normal(&r, a, sizeof a / sizeof *a);
	fill_normal(&r, b, sizeof b / sizeof *b);
	snprintf(xp, sizeof xp, "%s/x.npy", dir);
	snprintf(wp, sizeof wp, "%s/w.npy", dir);
	snprintf(ap, sizeof ap, "%s/a.npy", dir);
	snprintf(bp, sizeof bp, "%s/b.npy", dir);
	snprintf(o1, sizeof o1, "%s/y1.npy", dir);
	snprintf(o2, sizeof o2, "%s/y2.npy", dir);
	if (!ok(!write_npy(xp, x, 2, 3, 11, 9) && !write_npy(wp, w, 5, 3, 3, 3) &&
	        !write_npy(ap, a, 6, 7, 0, 0) && !write_npy(bp, b, 7, 5, 0, 0),
	        "across processes: input files written"))
		return;
	for (size_t i = 0; i < sizeof conv / sizeof *conv + sizeof mm / sizeof *mm;
	     i++) {
		const int is_conv = i < sizeof conv / sizeof *conv;
		const char *algo = is_conv ? conv[i] : mm[i - 6][0];
		const char *cargs[] = { "--op", "conv", "--algo", algo, "--input",
			xp, "--weights", wp, "--pad", "1", NULL };
		const char *margs[] = { "--op", "matmul", "--algo", algo, "--a", ap,
			"--b", bp, is_conv ? NULL : mm[i - 6][1],
			is_conv ? NULL : mm[i - 6][2], NULL };
		const char *const *args = is_conv ? cargs : margs;
		size_t n1 = 0, n2 = 0;
		char *y1 = NULL, *y2 = NULL;
		if (!dpgen_run(args, o1) && !dpgen_run(args, o2)) {
			y1 = slurp(o1, &n1);
			y2 = slurp(o2, &n2);
		}
		ok(y1 && y2 && n1 == n2 && n1 > 128 && !memcmp(y1, y2, n1),
		   "%s %s: two dpgen processes write byte-identical outputs",
		   is_conv ? "conv" : "matmul", algo);
		free(y1);
		free(y2);
	}
}

int main(void)
{
	char dir[256];
	subject *subj = calloc(MAX_SUBJECTS, sizeof *subj);
	if (!make_temp_dir(dir, sizeof dir) || !subj) {
		ok(0, "temporary directory");
		return done_testing();
	}
	const int count = collect_subjects(subj, dir);
	for (int i = 0; i < count; i++) {
		const subject *s = &subj[i];
		float *x = malloc(s->ni * sizeof *x), *w = malloc(s->nw * sizeof *w);
		float *b = malloc(s->nb * sizeof *b + 4);
		float *y1 = malloc(s->no * sizeof *y1);
		float *y2 = malloc(s->no * sizeof *y2);
		float *y3 = malloc(s->no * sizeof *y3);
		if (ok(x && w && b && y1 && y2 && y3, "%s: memory", s->name)) {
			rng_t r;
			rng_seed(&r, 77 + (uint64_t)i);
			fill_normal(&r, x, s->ni);
			fill_normal(&r, w, s->nw);
			fill_normal(&r, b, s->nb);
			dp_status s1 = run_at(s, x, w, b, y1, 0, 0, 0xA5, 0);
			dp_status s2 = run_at(s, x, w, b, y2, 16, 48, -1,
			                      1000 + (uint64_t)i);
			for (size_t j = 0; j < s->no; j++)
				y3[j] = -1.0f;
			dp_status s3 = dp_kernel_run(s->k, &s->d, x, w,
			                             s->nb ? b : NULL, y3);
			size_t nonfinite = 0;
			for (size_t j = 0; j < s->no; j++)
				nonfinite += !isfinite(y1[j]);
			ok(s1 == DP_OK && s2 == DP_OK && s3 == DP_OK && !nonfinite,
			   "%s: three runs succeed, every output finite", s->name);
			ok(!memcmp(y1, y2, s->no * sizeof *y1), "%s: fresh state and "
			   "workspace, other alignment and garbage: bitwise equal",
			   s->name);
			ok(!memcmp(y1, y3, s->no * sizeof *y1), "%s: dp_kernel_run: "
			   "bitwise equal", s->name);
		}
		free(x); free(w); free(b); free(y1); free(y2); free(y3);
	}
	free(subj);
	across_processes(dir);
	remove_tree(dir);
	return done_testing();
}
