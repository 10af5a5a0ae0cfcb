/* t_edge_values.c - numerical edge cases for every algorithm (issue 9):
 * all zeros, NaN and Inf in the input and in the weights, subnormal
 * inputs, and inputs near float overflow, for every generated kernel the
 * library has (small enough to check quickly), the generic kernel on the
 * same shape, and the variants the registry lacks (Winograd F(2,3),
 * F(6,3), F(4,5) built now by dpgen; im2col-blas, fft-fftw, naive, svd,
 * log F=8, lns W=64 generic). Flush-to-zero must not be on: the test
 * checks that MXCSR has neither FTZ nor DAZ, and every subnormal case
 * checks that the kernel did not flush (below).
 *
 * How a poisoned run is judged. Every case runs twice: clean data, then
 * the same data with one value changed. An output that does not depend
 * on the change must be bitwise the clean output (this also shows that
 * nothing leaks); the outputs that may change, and how, follow from the
 * algorithm's arithmetic:
 *
 *   direct, im2col, im2col-blas, naive, gemm (one float dot product per
 *   output): exactly IEEE. The fp64 reference (which skips padding taps)
 *   gives the class of every output: NaN exactly where a NaN meets the
 *   receptive field (or Inf meets a zero, or +Inf meets -Inf), +-Inf
 *   exactly where an Inf meets a nonzero weight, everything else bitwise
 *   clean. One exception, padding: a poisoned weight tap that lands on a
 *   padding zero gives 0 * NaN = 0 * Inf = NaN in a kernel that multiplies
 *   padding (the generated direct kernel copies the input into a zero-padded
 *   buffer; im2col's columns, generated, generic and BLAS, hold the
 *   zeros), and nothing in one that skips it (the generic direct kernel,
 *   the reference). Both are IEEE arithmetic on the convolution's two
 *   usual definitions; the test pins which one each kernel follows.
 *   log, lns: the same, by their own special-value rules (runtime/
 *   matmul_log.c, docs/LNS.md): zero is a class, a NaN product or Inf * 0
 *   gives NaN, Inf * finite +-Inf, +Inf meeting -Inf NaN.
 *   winograd: the input transform mixes the whole alpha x alpha window of
 *   a tile and the output transform the whole tile, so a NaN or Inf input
 *   may poison every output (all filters) of every tile whose window
 *   contains it, and nothing else: the poisoned set is a superset of the
 *   direct one and inside those tiles. The generic kernel multiplies by
 *   the zeros of BT and AT, so 0 * NaN and 0 * Inf = NaN fill exactly all
 *   of those tiles with NaN (Inf too: Inf * 0 and Inf - Inf); the
 *   generated kernel folds the zeros away and poisons a subset, NaN or
 *   +-Inf. A NaN or Inf weight spreads through G g G^T to all of U for
 *   its (filter, channel), and so to every output of that filter.
 *   fft: the same with T x T overlap-save tiles (every DFT coefficient is
 *   nonzero): exactly the whole tiles whose T x T window contains the
 *   value, all filters, NaN for a NaN and (Inf - Inf in the butterflies)
 *   NaN for an Inf; a poisoned weight: every output of its filter.
 *   fft-fftw: one transform per image: the whole image, all filters.
 *   svd: A (P Q): a NaN or Inf in row i of A gives row i of A P all
 *   non-finite, so all of row i of C (for Inf: +-Inf and Inf - Inf NaN);
 *   B must be finite: prepare refuses NaN or Inf in B with DP_ERR_ARG.
 *
 * Zeros: with a zero input (or zero weights) every output is exactly its
 * bias (0 without bias, and 0 for every matmul): every algorithm is
 * linear, every product is +-0 and every transform of zeros is zeros.
 *
 * Subnormals and overflow, linear algorithms (all but log and lns):
 * floating point is exactly equivariant under scaling by 2^e while no
 * operation underflows or overflows (every rounded result just moves its
 * exponent). So each case runs on clean data x (and bias b) and on
 * x 2^e (b 2^e), with x chosen so that x 2^e is exact, and compares the
 * two. Near overflow (e large):
 *   - "headroom": e such that max|x| 2^e G < FLT_MAX, where G bounds every
 *     intermediate of the algorithm relative to max|x| (derived below per
 *     algorithm); nothing can overflow, so every output must be finite and
 *     exactly 2^e times the clean one;
 *   - "near FLT_MAX" (inputs up to ~1e37, positive, filters of both signs
 *     scaled by 2^-2..2^2): every output is exactly 2^e clean or
 *     non-finite (an overflowed intermediate never becomes finite again),
 *     and for the dot-product algorithms, whose partial sums of terms of
 *     one sign grow monotonically to within gamma_n of the result:
 *     +-Inf exactly where the fp64 reference satisfies |ref| (1 - gamma_n)
 *     >= 2^128, finite where |ref| (1 + gamma_n) < FLT_MAX (the few in
 *     between are not judged, and counted).
 *   Subnormal (e = -130, every input below 2^-126): the underflow model
 *   fl(z) = z (1 + d) + h, |h| <= eta = 2^-150 (Higham 2.1) means each
 *   rounding whose result is subnormal differs from 2^e times the clean
 *   rounding by at most 2 eta; to first order the output differs by at
 *   most 2 eta times the sum, over roundings, of the gain from that
 *   rounding to the output (1.01 covers second order). Per algorithm:
 *     dot products of n terms (C R S + 1, or K): 2n roundings, gain 1:
 *       4 n eta;
 *     winograd: per 1-D pass at most 2 alpha + 6 roundings per value
 *       (t_conv_winograd.c counts them), each multiplied afterwards in
 *       the pass by at most max(1, largest |coefficient|); a pass's input
 *       error is multiplied by its matrix's infinity norm: with b =
 *       ||BT||, a = ||AT||, |U| <= Umax,
 *       eV = (b + 1) p_in, eM = C Umax eV + 2 (C + 1) eta,
 *       ey = a (a eM + p_out) + p_out + 2 eta;
 *     fft (T x T tiles, J = 2 log2 T + 2 levels with the real packing,
 *       at most 5 roundings per complex value per level): the 1/T^2
 *       prescale, 2 eta T^2 sum_c |w_kc|_1; each level's rounding
 *       errors (2-norm <= 10 eta T) pass through the levels after it,
 *       whose norm is at most 2T (an unnormalized radix-2 level
 *       multiplies 2-norms by sqrt 2), so ||dX||_2 <= 20 J eta T^2 per
 *       channel, which reaches an output as at most T ||w_kc||_2
 *       ||dX||_2 (t_conv_fft.c maps spectral errors back the same way);
 *       the channel sums, 16 C eta per frequency, T^2 of them; the
 *       inverse, 10 eta per value, at most T^2 values per level, J
 *       levels; the bias, 2 eta;
 *     fft-fftw: the same with T^2 -> L = LH LW, log2 L + 2 stages and
 *       28 roundings per value per stage (FFTW's codelets are not known
 *       here: radix up to 7, 4 per term), and the 1/L scale, which rounds;
 *     svd: A P, 2K roundings per value, then times Q: 4 K eta sum_l |Q_lj|
 *       + 4 k eta.
 *   These bounds are loose for the large transforms (F(6,3), FFTW): the
 *   worst case adds every rounding with the largest coefficients. So a
 *   second check: "not flushed", at least 90% of the outputs keep more
 *   than half of the inputs' contribution 2^e (y_clean - b). With DAZ or
 *   FTZ set around execute every one of these checks fails (tried by
 *   hand), as do the bounds of all but F(6,3) and FFTW. The FFTs lose
 *   log2 T^2 bits of a subnormal input to their 1/T^2 prescale (the
 *   bound allows for it).
 *   log and lns are not linear in this sense: they get powers of two, on
 *   which their logarithms are exact: log must return exactly the fp64
 *   reference rounded (subnormal products, and +Inf where the sum passes
 *   FLT_MAX); lns truncates products below its accumulators' resolution
 *   2^-(W/2) to zero (subnormal inputs give exactly 0) and records a
 *   product above 2^(W/2-1) as overflow (+Inf), as docs/LNS.md says. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

#include "edge_common.h"
#include "kernels.h"

#define U 0x1p-24
#define ETA 0x1p-150

typedef enum { FAM_DOT, FAM_WINO, FAM_FFT, FAM_FFTW, FAM_SVD, FAM_LOG,
               FAM_LNS } family;

static family fam(dp_algo a)
{
	switch (a) {
	case DP_ALGO_WINOGRAD: return FAM_WINO;
	case DP_ALGO_FFT: return FAM_FFT;
	case DP_ALGO_FFT_FFTW: return FAM_FFTW;
	case DP_ALGO_SVD: return FAM_SVD;
	case DP_ALGO_LOG: return FAM_LOG;
	case DP_ALGO_LNS: return FAM_LNS;
	default: return FAM_DOT;
	}
}

/* What an output of a poisoned run may be. */
enum { E_CLEAN, E_NAN, E_PINF, E_NINF, E_NONFIN, E_CLEAN_OR_NAN,
       E_CLEAN_OR_NONFIN };

typedef struct {
	float *x, *w, *b, *y, *y0;
	double *ref, *aux;
	uint8_t *e;
} bufs;

/* The last prepared state, kept while the weights and bias stay the
 * same (prepare is per weights; the SVD's dgesdd is slow). */
static struct {
	const subject *s;
	void *state;
	float *w, *b;
	int has_b;
} prepared;

static void forget_prepared(void)
{
	free(prepared.state);
	free(prepared.w);
	free(prepared.b);
	memset(&prepared, 0, sizeof prepared);
}

static dp_status run(const subject *s, const float *x, const float *w,
                     const float *b, float *y)
{
	dp_status st = DP_OK;
	if (!s->nb)
		b = NULL;
	for (size_t i = 0; i < s->no; i++)
		y[i] = NAN;   /* an output the kernel forgets stays NaN */
	if (prepared.s != s || memcmp(prepared.w, w, s->nw * sizeof *w) ||
	    prepared.has_b != (b != NULL) ||
	    (b && memcmp(prepared.b, b, s->nb * sizeof *b))) {
		forget_prepared();
		prepared.state = malloc(s->k->state_bytes(&s->d) + 1);
		prepared.w = malloc(s->nw * sizeof *w);
		prepared.b = malloc(s->nb * sizeof *b + 1);
		if (!prepared.state || !prepared.w || !prepared.b) {
			forget_prepared();
			return DP_ERR_NOMEM;
		}
		st = s->k->prepare(&s->d, w, b, prepared.state);
		if (st != DP_OK) {
			forget_prepared();
			return st;
		}
		memcpy(prepared.w, w, s->nw * sizeof *w);
		if (b)
			memcpy(prepared.b, b, s->nb * sizeof *b);
		prepared.has_b = b != NULL;
		prepared.s = s;
	}
	void *ws = malloc(s->k->workspace_bytes(&s->d) + 1);
	if (!ws)
		return DP_ERR_NOMEM;
	st = s->k->execute(&s->d, prepared.state, x, y, ws);
	free(ws);
	return st;
}

static void reference(const subject *s, const float *x, const float *w,
                      const float *b, double *ref)
{
	if (s->d.op == DP_OP_MATMUL)
		dp_ref_matmul(s->d.mm_m, s->d.mm_k, s->d.mm_n, x, w, ref);
	else
		dp_ref_conv2d(&s->d, x, w, b, ref);
}

static int same_bits(float a, float b)
{
	return memcmp(&a, &b, sizeof a) == 0;
}

/* ---- geometry ---- */

typedef struct { int n, k, y, x; } opos;

static opos out_pos(const subject *s, size_t i)
{
	opos p;
	if (s->d.op == DP_OP_MATMUL) {
		p.n = 0;
		p.k = 0;
		p.y = (int)(i / (size_t)s->d.mm_n);
		p.x = (int)(i % (size_t)s->d.mm_n);
		return p;
	}
	const size_t ho = (size_t)dp_conv_out_h(&s->d);
	const size_t wo = (size_t)dp_conv_out_w(&s->d);
	p.x = (int)(i % wo);
	p.y = (int)(i / wo % ho);
	p.k = (int)(i / wo / ho % (size_t)s->d.k);
	p.n = (int)(i / wo / ho / (size_t)s->d.k);
	return p;
}

/* Tiles: outputs per tile (step) and the input window of a tile, which
 * starts at tile * step - pad (FFTW: one tile, the whole image). */
static void tile_geom(const subject *s, int *step_y, int *step_x,
                      int *win_y, int *win_x)
{
	const dp_desc *d = &s->d;
	if (fam(d->algo) == FAM_WINO) {
		*step_y = *step_x = d->tile;
		*win_y = *win_x = d->tile + d->r - 1;
	} else if (fam(d->algo) == FAM_FFT) {
		*step_y = d->tile - d->r + 1;
		*step_x = d->tile - d->s + 1;
		*win_y = *win_x = d->tile;
	} else {
		*step_y = dp_conv_out_h(d);
		*step_x = dp_conv_out_w(d);
		*win_y = d->h + 2 * d->pad_h;
		*win_x = d->w + 2 * d->pad_w;
	}
}

/* 1 if output o's tile reads input (py, px) of its image. */
static int tile_reads(const subject *s, opos o, int py, int px)
{
	int sy, sx, wy, wx;
	tile_geom(s, &sy, &sx, &wy, &wx);
	int y0 = o.y / sy * sy - s->d.pad_h, x0 = o.x / sx * sx - s->d.pad_w;
	return py >= y0 && py < y0 + wy && px >= x0 && px < x0 + wx;
}

/* ---- poisoned runs ---- */

typedef struct {
	int weight;        /* 0: the input, 1: the weights */
	size_t at;         /* element index */
	float value;       /* NaN, +Inf or -Inf */
	const char *what;
} poison;

/* The generic direct kernel visits only the taps inside the image; the
 * generated one (a zero-padded copy) and im2col (zeros in the columns)
 * multiply the padding too. */
static int skips_padding(const subject *s)
{
	return !s->generated && s->d.algo == DP_ALGO_DIRECT;
}

/* The expectation of every output, into b->e; from b->ref (the fp64
 * reference of the poisoned data). Returns 0 if the reference puts a
 * non-finite value where the algorithm's region says none can be (a bug
 * in this test). */
static int expectations(const subject *s, const poison *p, bufs *b)
{
	const dp_desc *d = &s->d;
	const family f = fam(d->algo);
	const int is_nan = isnan(p->value);
	int n0 = 0, c0 = 0, y0 = 0, x0 = 0;   /* the poisoned element */
	if (d->op == DP_OP_CONV) {
		const size_t r = (size_t)(p->weight ? d->r : d->h);
		const size_t w = (size_t)(p->weight ? d->s : d->w);
		x0 = (int)(p->at % w);
		y0 = (int)(p->at / w % r);
		c0 = (int)(p->at / w / r % (size_t)d->c);
		n0 = (int)(p->at / w / r / (size_t)d->c);
	} else {
		const size_t cols = (size_t)(p->weight ? d->mm_n : d->mm_k);
		y0 = (int)(p->at / cols);   /* row of A, or row p of B */
		x0 = (int)(p->at % cols);   /* column p of A, or column j of B */
	}
	for (size_t i = 0; i < s->no; i++) {
		const double r = b->ref[i];
		const int cls = isnan(r) ? E_NAN : r == INFINITY ? E_PINF :
		                r == -INFINITY ? E_NINF : E_CLEAN;
		const opos o = out_pos(s, i);
		int region;   /* the outputs the algorithm may poison */
		if (d->op == DP_OP_MATMUL)
			region = p->weight ? o.x == x0 : o.y == y0;
		else if (p->weight)
			region = o.k == n0;   /* n0 holds the filter here */
		else if (f == FAM_DOT)
			region = cls != E_CLEAN;
		else
			region = o.n == n0 && tile_reads(s, o, y0, x0);
		if (cls != E_CLEAN && !region)
			return 0;
		if (f == FAM_DOT || f == FAM_LOG || f == FAM_LNS) {
			b->e[i] = (uint8_t)cls;
			/* a weight tap on padding: 0 * NaN, 0 * Inf, or skipped */
			if (d->op == DP_OP_CONV && p->weight && region &&
			    cls == E_CLEAN) {
				int iy = o.y * d->stride + y0 - d->pad_h;
				int ix = o.x * d->stride + x0 - d->pad_w;
				if (iy < 0 || iy >= d->h || ix < 0 || ix >= d->w)
					b->e[i] = skips_padding(s) ? E_CLEAN : E_NAN;
			}
		} else if (cls != E_CLEAN) {
			b->e[i] = is_nan ? E_NAN : E_NONFIN;
		} else {
			b->e[i] = !region ? E_CLEAN : is_nan ? E_CLEAN_OR_NAN :
			          E_CLEAN_OR_NONFIN;
		}
		(void)c0;
	}
	return 1;
}

typedef struct { size_t nan, inf, clean, region, bad, first_bad; } tally;

static tally judge(const subject *s, const bufs *b)
{
	tally t = { 0, 0, 0, 0, 0, 0 };
	for (size_t i = 0; i < s->no; i++) {
		const float y = b->y[i];
		const int clean = same_bits(y, b->y0[i]);
		int good;
		switch (b->e[i]) {
		case E_CLEAN: good = clean; break;
		case E_NAN: good = isnan(y); break;
		case E_PINF: good = y == INFINITY; break;
		case E_NINF: good = y == -INFINITY; break;
		case E_NONFIN: good = !isfinite(y); break;
		case E_CLEAN_OR_NAN: good = clean || isnan(y); break;
		default: good = clean || !isfinite(y); break;
		}
		if (b->e[i] != E_CLEAN)
			t.region++;
		t.nan += isnan(y) != 0;
		t.inf += isinf(y) != 0;
		t.clean += clean;
		if (!good && !t.bad++)
			t.first_bad = i;
	}
	return t;
}

/* ---- data ---- */

static void fill(rng_t *r, float *x, size_t n)
{
	fill_normal(r, x, n);
}

/* The subject's clean data from seed. */
static void clean_data(const subject *s, uint64_t seed, bufs *b)
{
	rng_t r;
	rng_seed(&r, seed);
	fill(&r, b->x, s->ni);
	fill(&r, b->w, s->nw);
	fill(&r, b->b, s->nb);
}

static void check_zeros(const subject *s, bufs *b)
{
	static const char *const cases[] = {
		"zero input", "zero weights", "zero input, no bias"
	};
	for (int c = 0; c < 3; c++) {
		if (c == 2 && s->d.op == DP_OP_MATMUL)
			continue;
		clean_data(s, 11 + (uint64_t)c, b);
		if (c == 1)
			memset(b->w, 0, s->nw * sizeof(float));
		else
			memset(b->x, 0, s->ni * sizeof(float));
		dp_status st = run(s, b->x, b->w, c == 2 ? NULL : b->b, b->y);
		size_t bad = 0, at = 0;
		for (size_t i = 0; st == DP_OK && i < s->no; i++) {
			float want = c == 2 || !s->nb ? 0.0f :
			             b->b[out_pos(s, i).k];
			if (!(b->y[i] == want) && !bad++)
				at = i;
		}
		if (!ok(st == DP_OK && !bad, "%s: %s: every output exactly its bias"
		        " (0 without)", s->name, cases[c]))
			diag("status %s, %zu wrong, first at %zu: %.9g",
			     dp_status_str(st), bad, at, (double)b->y[at]);
	}
}

/* One poisoned run against b->y0, the clean run of clean_data(s, 21). */
static void check_poison(const subject *s, bufs *b, const poison *p)
{
	const family f = fam(s->d.algo);
	clean_data(s, 21, b);
	(p->weight ? b->w : b->x)[p->at] = p->value;
	dp_status st = run(s, b->x, b->w, b->b, b->y);
	if (f == FAM_SVD && p->weight) {
		ok(st == DP_ERR_ARG, "%s: %s: prepare refuses a non-finite B "
		   "(%s)", s->name, p->what, dp_status_str(st));
		return;
	}
	reference(s, b->x, b->w, b->b, b->ref);
	if (!ok(st == DP_OK && expectations(s, p, b), "%s: %s: runs, and the "
	        "reference's poisoned outputs are inside the algorithm's region",
	        s->name, p->what))
		return;
	tally t = judge(s, b);
	if (!ok(!t.bad, "%s: %s: %zu outputs may change, %zu NaN, %zu Inf, "
	        "the other %zu bitwise clean", s->name, p->what, t.region, t.nan,
	        t.inf, t.clean))
		diag("%zu outputs break the rule, first %zu: got %.9g, clean "
		     "%.9g, reference %.9g, expected class %d", t.bad, t.first_bad,
		     (double)b->y[t.first_bad], (double)b->y0[t.first_bad],
		     b->ref[t.first_bad], b->e[t.first_bad]);
	/* Exact outcomes derived in the header for the generic transform
	 * kernels: the whole region is NaN. */
	if (!s->generated && (f == FAM_WINO || f == FAM_FFT || f == FAM_FFTW)) {
		size_t miss = 0;
		for (size_t i = 0; i < s->no; i++)
			miss += b->e[i] != E_CLEAN && !isnan(b->y[i]);
		ok(!miss, "%s: %s: all %zu outputs of the region are NaN (%zu "
		   "are not)", s->name, p->what, t.region, miss);
	}
}

/* ---- scaling: near overflow and subnormal (linear algorithms) ---- */

/* The smallest 2^a 3^b 5^c 7^d >= n, as conv_fftw.c picks. */
static int fast_size(int n)
{
	for (int m = n > 1 ? n : 1;; m++) {
		int r = m;
		static const int pr[] = { 2, 3, 5, 7 };
		for (int i = 0; i < 4; i++)
			while (r % pr[i] == 0)
				r /= pr[i];
		if (r == 1)
			return m;
	}
}

/* Per filter (conv) or column (matmul) j: the headroom factor g[j] (every
 * intermediate that reaches an output of j is at most g[j] max|x|, inputs
 * and bias at most max|x|) and the subnormal bound sub[j] (see the
 * header). Returns 0 on failure. */
static int bounds(const subject *s, const float *w, double *g, double *sub)
{
	const dp_desc *d = &s->d;
	const family f = fam(d->algo);
	if (d->op == DP_OP_MATMUL) {
		const int K = d->mm_k, N = d->mm_n;
		if (f == FAM_SVD) {
			const int k = d->rank_b;
			float *p = malloc(sizeof(float) * (size_t)K * k);
			float *q = malloc(sizeof(float) * (size_t)k * N);
			int good = p && q &&
				dp_svd_factors(K, N, w, k, p, q) == DP_OK;
			double pmax = 0;   /* |A P| <= max|x| pmax */
			for (int l = 0; good && l < k; l++) {
				double c = 0;
				for (int i = 0; i < K; i++)
					c += fabs(p[(size_t)i * k + l]);
				pmax = fmax(pmax, c);
			}
			for (int j = 0; good && j < N; j++) {
				double q1 = 0;
				for (int l = 0; l < k; l++)
					q1 += fabs(q[(size_t)l * N + j]);
				g[j] = fmax(pmax, pmax * q1);
				sub[j] = 1.01 * (4.0 * K * ETA * q1 + 4.0 * k * ETA);
			}
			free(p);
			free(q);
			return good;
		}
		for (int j = 0; j < N; j++) {
			double c = 0;
			for (int i = 0; i < K; i++)
				c += fabs(w[(size_t)i * N + j]);
			g[j] = c;
			sub[j] = 1.01 * 4.0 * K * ETA;
		}
		return 1;
	}
	const int C = d->c, rs = d->r * d->s;
	for (int k = 0; k < d->k; k++) {
		double w1 = 0, w2 = 0, w1max = 0;   /* sum_c |w|_1, ||w||_2 */
		for (int c = 0; c < C; c++) {
			const float *wc = w + ((size_t)k * C + c) * rs;
			double a1 = 0, a2 = 0;
			for (int i = 0; i < rs; i++) {
				a1 += fabs(wc[i]);
				a2 += (double)wc[i] * wc[i];
			}
			w1 += a1;
			w2 += sqrt(a2);
			w1max = fmax(w1max, a1);
		}
		if (f == FAM_DOT) {
			g[k] = w1 + 1;
			sub[k] = 1.01 * 4.0 * (C * rs + 1) * ETA;
		} else if (f == FAM_FFT || f == FAM_FFTW) {
			double area, levels, per;
			if (f == FAM_FFT) {
				area = (double)d->tile * d->tile;
				levels = 2 * log2((double)d->tile) + 2;
				per = 5;        /* roundings per value per level */
			} else {
				area = (double)fast_size(d->h + 2 * d->pad_h) *
				       fast_size(d->w + 2 * d->pad_w);
				levels = log2(area) + 2;
				per = 28;
			}
			const double root = sqrt(area);
			/* ||dX||_2: each level's errors (2-norm <= per 2 eta root)
			 * times the norm of the levels after it, <= 2 root */
			const double dx = levels * per * 2 * ETA * root * 2 * root;
			const double cone = levels * area;
			g[k] = 2 * area * C * w1max + 1;
			sub[k] = 1.01 * (2 * ETA * area * w1 + root * dx * w2 +
			                 16.0 * C * ETA * area +
			                 2 * per * ETA * cone + 2 * ETA);
		}
	}
	if (f == FAM_WINO) {
		const int m = d->tile, r = d->r, a = m + r - 1;
		double at[64], gg[64], bt[64];
		if (dp_winograd_transforms(m, r, d->points, at, gg, bt) != DP_OK)
			return 0;
		double nb = 0, na = 0, cb = 1, ca = 1;   /* norms, |entries| */
		for (int i = 0; i < a; i++) {
			double row = 0;
			for (int l = 0; l < a; l++) {
				row += fabs(bt[i * a + l]);
				cb = fmax(cb, fabs(bt[i * a + l]));
			}
			nb = fmax(nb, row);
		}
		for (int i = 0; i < m; i++) {
			double row = 0;
			for (int l = 0; l < a; l++) {
				row += fabs(at[i * a + l]);
				ca = fmax(ca, fabs(at[i * a + l]));
			}
			na = fmax(na, row);
		}
		for (int k = 0; k < d->k; k++) {
			double umax = 0;   /* max |G g G^T| over the filter's channels */
			for (int c = 0; c < C; c++) {
				const float *wc = w + ((size_t)k * C + c) * rs;
				for (int i = 0; i < a; i++)
					for (int j = 0; j < a; j++) {
						double u = 0;
						for (int p = 0; p < r; p++)
							for (int q = 0; q < r; q++)
								u += gg[i * r + p] * wc[p * r + q] *
								     gg[j * r + q];
						umax = fmax(umax, fabs(u));
					}
			}
			const double p_in = (2 * a + 6) * 2 * ETA * cb;
			const double p_out = (2 * a + 6) * 2 * ETA * ca;
			const double ev = (nb + 1) * p_in;
			const double em = C * umax * ev + 2.0 * (C + 1) * ETA;
			g[k] = 2 * fmax(nb * nb, na * na * C * umax * nb * nb) + 1;
			sub[k] = 1.01 * (na * (na * em + p_out) + p_out + 2 * ETA);
		}
	}
	return 1;
}

/* The filter (conv) or column (matmul) of output i. */
static int out_group(const subject *s, size_t i)
{
	opos o = out_pos(s, i);
	return s->d.op == DP_OP_MATMUL ? o.x : o.k;
}

/* Positive inputs in [0.5, 1); weights of group j (filter or column)
 * with sign (-1)^j and scale 2^(j mod 5 - 2); bias like its filter. */
static void big_data(const subject *s, uint64_t seed, bufs *b)
{
	rng_t r;
	rng_seed(&r, seed);
	for (size_t i = 0; i < s->ni; i++)
		b->x[i] = (float)(0.5 + 0.5 * rng_uniform(&r));
	const dp_desc *d = &s->d;
	for (size_t i = 0; i < s->nw; i++) {
		int j = d->op == DP_OP_MATMUL ? (int)(i % (size_t)d->mm_n) :
		        (int)(i / ((size_t)d->c * d->r * d->s));
		b->w[i] = (float)((j % 2 ? -1 : 1) * ldexp(0.5 + 0.5 *
		                  rng_uniform(&r), j % 5 - 2));
	}
	for (size_t k = 0; k < s->nb; k++)
		b->b[k] = (float)((k % 2 ? -1 : 1) * rng_uniform(&r));
}

/* x 2^e into xs, and x replaced by xs 2^-e, so that xs = x 2^e exactly. */
static void scale_exact(float *x, float *xs, size_t n, int e)
{
	for (size_t i = 0; i < n; i++) {
		xs[i] = ldexpf(x[i], e);
		x[i] = ldexpf(xs[i], -e);
	}
}

static void check_scaled(const subject *s, bufs *b)
{
	const dp_desc *d = &s->d;
	const family f = fam(d->algo);
	const size_t ngroup = d->op == DP_OP_MATMUL ? (size_t)d->mm_n :
	                      (size_t)d->k;
	double *g = malloc(ngroup * sizeof *g), *sub = malloc(ngroup *
	                                                      sizeof *sub);
	float *xs = malloc(s->ni * sizeof *xs + 1);
	float *bs = malloc(s->nb * sizeof *bs + 1);
	if (!ok(g && sub && xs && bs, "%s: memory for the scaled cases", s->name))
		goto out;
	for (int c = 0; c < 3; c++) {   /* subnormal, headroom, near FLT_MAX */
		if (c == 2)
			big_data(s, 31, b);
		else
			clean_data(s, 31, b);
		if (!ok(bounds(s, b->w, g, sub), "%s: bounds", s->name))
			goto out;
		double gmax = 0;
		for (size_t j = 0; j < ngroup; j++)
			gmax = fmax(gmax, g[j]);
		double xmax = 0;
		for (size_t i = 0; i < s->ni; i++)
			xmax = fmax(xmax, fabs(b->x[i]));
		for (size_t i = 0; i < s->nb; i++)
			xmax = fmax(xmax, fabs(b->b[i]));
		const int terms = d->op == DP_OP_MATMUL ? d->mm_k :
		                  d->c * d->r * d->s;
		int e;
		if (c == 0)
			e = -126 - (int)ceil(log2(xmax)) - 1;
		else if (c == 1)
			e = (int)floor(log2(FLT_MAX / (gmax * xmax))) - 1;
		else
			e = 128 - (int)lround(log2(0.5625 * terms));
		scale_exact(b->x, xs, s->ni, e);
		scale_exact(b->b, bs, s->nb, e);
		dp_status st = run(s, b->x, b->w, b->b, b->y0);
		dp_status st2 = run(s, xs, b->w, bs, b->y);
		if (!ok(st == DP_OK && st2 == DP_OK, "%s: scaled runs", s->name))
			continue;
		double worst = 0;
		size_t bad = 0, at = 0, n_inf = 0, n_fin = 0, n_amb = 0, nonfin = 0;
		const double gam = (terms + 1) * U / (1 - (terms + 1) * U);
		if (c == 2 && f == FAM_DOT)
			reference(s, xs, b->w, bs, b->ref);
		for (size_t i = 0; i < s->no; i++) {
			const double want = ldexp((double)b->y0[i], e);
			const double y = b->y[i];
			int good;
			nonfin += !isfinite(y);
			if (c == 0) {
				double r = fabs(y - want) / sub[out_group(s, i)];
				good = isfinite(b->y0[i]) && r <= 1;
				if (!(r <= worst))
					worst = r;
			} else if (c == 1) {
				good = isfinite(y) && y == want;
			} else {
				good = !isfinite(y) || y == want;
				if (f == FAM_DOT) {
					const double ref = b->ref[i];
					if (fabs(ref) * (1 - gam) >= 0x1p128) {
						good = good && y == copysign(INFINITY, ref);
						n_inf++;
					} else if (fabs(ref) * (1 + gam) < FLT_MAX) {
						good = good && isfinite(y);
						n_fin++;
					} else {
						n_amb++;
					}
				}
			}
			if (!good && !bad++)
				at = i;
		}
		if (c == 0) {
			ok(!bad, "%s: subnormal inputs (x 2^%d): within the underflow "
			   "bound of 2^%d x clean (worst err/bound %.3g)", s->name, e,
			   e, worst);
			/* Not flushed (the bound above is looser than the signal for
			 * the largest transforms): with DAZ or FTZ an output would
			 * lose the inputs' part, want - bias, or be 0. */
			size_t kept = 0;
			for (size_t i = 0; i < s->no; i++) {
				const double want = ldexp((double)b->y0[i], e);
				const double part = want - (s->nb ? bs[out_pos(s, i).k] : 0);
				kept += fabs(b->y[i] - want) < 0.5 * fabs(part);
			}
			ok(kept * 10 >= s->no * 9, "%s: subnormal inputs are not "
			   "flushed: %zu of %zu outputs keep over half of the inputs' "
			   "part", s->name, kept, s->no);
		}
		else if (c == 1)
			ok(!bad, "%s: headroom (x 2^%d, max|x| G < FLT_MAX): every "
			   "output finite and exactly 2^%d x clean", s->name, e, e);
		else if (f == FAM_DOT)
			ok(!bad && (s->no < 4 || (n_inf && n_fin)), "%s: near FLT_MAX (x 2^%d): +-Inf "
			   "exactly where |ref| overflows (%zu), finite and exact "
			   "where it does not (%zu), %zu within gamma_n of FLT_MAX",
			   s->name, e, n_inf, n_fin, n_amb);
		else
			ok(!bad, "%s: near FLT_MAX (x 2^%d): every output exactly "
			   "2^%d x clean or non-finite (%zu non-finite)", s->name, e,
			   e, nonfin);
		if (bad)
			diag("%zu wrong, first output %zu: got %.9g, 2^e clean %.9g",
			     bad, at, (double)b->y[at], ldexp((double)b->y0[at], e));
	}
out:
	free(g);
	free(sub);
	free(xs);
	free(bs);
}

/* ---- log and lns: powers of two ---- */

static void check_log_pow2(const subject *s, bufs *b)
{
	const dp_desc *d = &s->d;
	const int lns = d->algo == DP_ALGO_LNS;
	for (int c = 0; c < 2; c++) {   /* subnormal, overflow */
		rng_t r;
		rng_seed(&r, 41 + (uint64_t)c);
		for (size_t i = 0; i < s->ni; i++) {
			int e = c == 0 ? -140 + (int)(rng_uniform(&r) * 7) - 3 :
			        118 + (int)(rng_uniform(&r) * 4);
			b->x[i] = ldexpf(c == 0 && rng_uniform(&r) < 0.5 ? -1 : 1, e);
		}
		for (size_t i = 0; i < s->nw; i++) {
			int j = (int)(i % (size_t)d->mm_n);
			int e = c == 0 ? (int)(rng_uniform(&r) * 7) - 3 :
			        (int)(rng_uniform(&r) * 4) + j % 6 - 2;
			b->w[i] = ldexpf(c == 0 ? (rng_uniform(&r) < 0.5 ? -1 : 1) :
			                 (j % 2 ? -1 : 1), e);
		}
		dp_status st = run(s, b->x, b->w, NULL, b->y);
		reference(s, b->x, b->w, NULL, b->ref);
		size_t bad = 0, at = 0, n_inf = 0, n_zero = 0;
		for (size_t i = 0; i < s->no; i++) {
			const double ref = b->ref[i];
			float want;
			if (lns)    /* below resolution: 0; above range: +-Inf */
				want = c == 0 ? 0.0f : copysignf(INFINITY, (float)ref);
			else
				want = fabs(ref) >= 0x1p128 ?
				       copysignf(INFINITY, (float)(ref / 0x1p128)) :
				       (float)ref;
			n_inf += isinf(want) != 0;
			n_zero += want == 0;
			if (!(b->y[i] == want) && !bad++)
				at = i;
		}
		if (c == 0 && lns)
			ok(st == DP_OK && !bad, "%s: subnormal powers of two: products "
			   "below 2^-%d truncate, every output exactly 0", s->name,
			   d->acc_bits / 2);
		else if (c == 0)
			ok(st == DP_OK && !bad && !n_zero, "%s: subnormal powers of "
			   "two: every (subnormal) output exactly the reference",
			   s->name);
		else if (lns)
			ok(st == DP_OK && !bad, "%s: powers of two near 2^128: every "
			   "product overflows the %d-bit accumulators, +-Inf", s->name,
			   d->acc_bits);
		else
			ok(st == DP_OK && !bad && n_inf && n_inf < s->no, "%s: powers "
			   "of two near 2^128: +-Inf exactly where the reference passes"
			   " 2^128 (%zu), exact elsewhere", s->name, n_inf);
		if (bad)
			diag("%zu wrong, first output %zu: got %.9g, reference %.9g",
			     bad, at, (double)b->y[at], b->ref[at]);
	}
}

/* ---- the poisons of one subject ---- */

static void poisons(const subject *s, bufs *b)
{
	const dp_desc *d = &s->d;
	poison list[6];
	int n = 0;
	if (d->op == DP_OP_MATMUL) {
		const size_t K = (size_t)d->mm_k, N = (size_t)d->mm_n;
		const size_t mid = (size_t)d->mm_m / 2 * K + K / 2;
		list[n++] = (poison){ 0, mid, NAN, "NaN in A (middle)" };
		list[n++] = (poison){ 0, 0, INFINITY, "+Inf in A[0][0]" };
		list[n++] = (poison){ 0, s->ni - 1, -INFINITY, "-Inf in A (last)" };
		list[n++] = (poison){ 1, N / 2, NAN, "NaN in B[0][N/2]" };
		list[n++] = (poison){ 1, (K - 1) * N, INFINITY, "+Inf in B[K-1][0]" };
	} else {
		const size_t hw = (size_t)d->h * d->w, rs = (size_t)d->r * d->s;
		const size_t mid = ((size_t)(d->n - 1) * d->c + (d->c - 1)) * hw +
		                   (size_t)d->h / 2 * d->w + (size_t)d->w / 2;
		list[n++] = (poison){ 0, mid, NAN, "NaN input (last image, middle)" };
		list[n++] = (poison){ 0, 0, NAN, "NaN input (corner)" };
		list[n++] = (poison){ 0, mid, INFINITY, "+Inf input (middle)" };
		list[n++] = (poison){ 0, hw - 1, -INFINITY, "-Inf input (corner)" };
		list[n++] = (poison){ 1, (size_t)d->k / 2 * d->c * rs, NAN,
		                      "NaN weight (corner tap)" };
		list[n++] = (poison){ 1, ((size_t)d->c - 1) * rs + rs / 2,
		                      INFINITY, "+Inf weight (centre tap)" };
	}
	clean_data(s, 21, b);
	dp_status st = run(s, b->x, b->w, b->b, b->y0);
	size_t nonfinite = 0;
	for (size_t i = 0; i < s->no; i++)
		nonfinite += !isfinite(b->y0[i]);
	if (!ok(st == DP_OK && !nonfinite, "%s: clean run, every output "
	        "finite", s->name))
		return;
	for (int i = 0; i < n; i++)
		check_poison(s, b, &list[i]);
}

static double seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* FTZ (bit 15) and DAZ (bit 6) of MXCSR would turn subnormals into 0. */
static void check_no_ftz(void)
{
#if defined(__x86_64__) || defined(__i386__)
	unsigned csr = _mm_getcsr();
	ok(!(csr & 0x8040), "MXCSR has neither flush-to-zero nor "
	   "denormals-are-zero (0x%04x)", csr);
#endif
	volatile float tiny = 0x1p-140f;
	ok(tiny * 2.0f == 0x1p-139f && tiny != 0, "subnormal arithmetic works");
}

int main(void)
{
	char dir[256];
	subject *subj = calloc(MAX_SUBJECTS, sizeof *subj);
	if (!make_temp_dir(dir, sizeof dir) || !subj) {
		ok(0, "temporary directory");
		return done_testing();
	}
	check_no_ftz();
	const int count = collect_subjects(subj, dir);
	for (int i = 0; i < count; i++) {
		const subject *s = &subj[i];
		const double t0 = seconds();
		bufs b;
		size_t big = s->ni > s->no ? s->ni : s->no;
		b.x = malloc(s->ni * sizeof(float) + 4);
		b.w = malloc(s->nw * sizeof(float) + 4);
		b.b = malloc(s->nb * sizeof(float) + 4);
		b.y = malloc(s->no * sizeof(float));
		b.y0 = malloc(s->no * sizeof(float));
		b.ref = malloc(big * sizeof(double));
		b.aux = NULL;
		b.e = malloc(s->no);
		if (ok(b.x && b.w && b.b && b.y && b.y0 && b.ref && b.e,
		       "%s: memory", s->name)) {
			const family f = fam(s->d.algo);
			check_zeros(s, &b);
			poisons(s, &b);
			if (f == FAM_LOG || f == FAM_LNS)
				check_log_pow2(s, &b);
			else
				check_scaled(s, &b);
		}
		forget_prepared();
		diag("%s: %.2f s", s->name, seconds() - t0);
		free(b.x); free(b.w); free(b.b); free(b.y); free(b.y0);
		free(b.ref); free(b.e);
	}
	free(subj);
	remove_tree(dir);
	return done_testing();
}
