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
 * Not covered: thread counts (the kernels are single-threaded; OpenBLAS,
 * behind im2col-blas, runs its own threads and is deterministic for a
 * fixed thread count), and FFTW across processes: conv_fftw.c plans with
 * FFTW_MEASURE, whose choice of algorithm can differ from one process to
 * the next, so fft-fftw is bitwise reproducible within a process (plans
 * are cached) but only within its error bound across processes. */
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
	remove_tree(dir);
	return done_testing();
}
