/* matmul_gemm.c - the packed, blocked GEMM for any shape: fp32, on up to
 * dp_get_num_threads() threads (bitwise identical results for any count).
 * The same design as the generator's (templates/lib/gemm.lua), with the
 * sizes read at run time and a fixed 6 x 16 register block.
 *
 * Kernel contract for matmul: "weights" is B (K x N), input is A (M x K),
 * output is C (M x N), all row-major. prepare packs B into the state:
 * panels of NR columns (zero past N), K in blocks of KC rows. execute packs
 * MC x KC blocks of A into the workspace as MR-row panels (zero past M)
 * and runs the micro-kernel over them, so the micro-kernel is always
 * full and only the store to C handles the ragged edge. */
#include <stdint.h>
#include <string.h>

#include "dpgen.h"
#include "kernels.h"

/* gcc contracts a * b + c into one FMA only when told to: in ISO C mode its
 * default is -ffp-contract=off (clang contracts by default). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=fast")
#endif

/* 8 floats: AVX2. The machines of this class expose AVX2 + FMA but not
 * AVX-512; a 16-lane vector would be split in halves and, with only 16
 * vector registers, spilled. */
typedef float vec8 __attribute__((vector_size(32)));
/* The same vector for loads and stores: rows of C need not be aligned. */
typedef float uvec8 __attribute__((vector_size(32), aligned(4)));

enum {
	MR = 6,              /* rows of the register block */
	NR = 16,             /* its columns: two 8-lane vectors */
	KC_MAX = 256,        /* a KC x NR panel of B: 16 KiB, half of L1 */
	KC_SINGLE = 384,     /* up to this depth K is a single block */
	L2_BYTES = 1 << 19,  /* per core (512 KiB; L1d 32 KiB) */
	A_BLOCK_BYTES = L2_BYTES / 4,      /* MC x KC of A */
	B_BLOCK_BYTES = 8 << 20,           /* KC x NC of packed B */
	PACK_A_MIN_PANELS = 16,  /* fewer NR panels per sweep: A in place */
	ALIGN = 16           /* floats: packed buffers start on 64 bytes */
};

/* The blocking of one problem, derived from M, K, N alone, so prepare
 * and execute agree on it. */
typedef struct blocking {
	int m, k, n;
	int kc;   /* depth of a block; K in equal blocks */
	int mc;   /* rows of A per packed block, a multiple of MR */
	int nc;   /* columns of B per sweep, a multiple of NR */
	int np;   /* N rounded up to NR */
	int pack_a;   /* pack blocks of A (else read the rows in place) */
} blocking;

static int ceil_div(int a, int b)
{
	return (a + b - 1) / b;
}

static int round_up(int a, int b)
{
	return ceil_div(a, b) * b;
}

static int min_int(int a, int b)
{
	return a < b ? a : b;
}

static int max_int(int a, int b)
{
	return a > b ? a : b;
}

static blocking plan(const dp_desc *d)
{
	blocking p = { .m = d->mm_m, .k = d->mm_k, .n = d->mm_n };
	p.kc = p.k <= KC_SINGLE ? p.k : ceil_div(p.k, ceil_div(p.k, KC_MAX));
	/* The A block takes at most a quarter of L2. */
	int mc_max = max_int(MR, A_BLOCK_BYTES / (p.kc * 4) / MR * MR);
	p.mc = round_up(ceil_div(p.m, ceil_div(p.m, mc_max)), MR);
	/* B is packed ahead of time: the KC x NC block one A block sweeps
	 * is bounded by the outer cache only, in practice all of N. */
	p.np = round_up(p.n, NR);
	int nc_max = max_int(NR, B_BLOCK_BYTES / (p.kc * 4) / NR * NR);
	p.nc = round_up(ceil_div(p.np, ceil_div(p.np, nc_max)), NR);
	/* Packing A costs about one micro-kernel pass over it: worth it
	 * only when a packed block serves many panels of B. */
	p.pack_a = p.nc / NR >= PACK_A_MIN_PANELS;
	return p;
}

static uintptr_t align_up(const void *ptr)
{
	const uintptr_t bytes = ALIGN * sizeof(float);
	return ((uintptr_t)ptr + bytes - 1) & ~(bytes - 1);
}

static size_t state_bytes(const dp_desc *d)
{
	blocking p = plan(d);
	return ((size_t)p.k * (size_t)p.np + ALIGN) * sizeof(float);
}

/* Block pc of KC rows starts at bp + pc * np; its panel j at + j * kc.
 * Panels [j0, j1) (in units of NR), so that threads can share the work. */
typedef struct pack_b_job {
	const blocking *p;
	const float *b;
	float *bp;
} pack_b_job;

static void pack_b_panels(void *ctx, int j0, int j1)
{
	const pack_b_job *job = ctx;
	const blocking *p = job->p;
	const float *restrict b = job->b;
	float *restrict bp = job->bp;
	for (int pc = 0; pc < p->k; pc += p->kc) {
		const int kc = min_int(p->kc, p->k - pc);
		for (int j = j0 * NR; j < j1 * NR; j += NR) {
			const int nr = min_int(NR, p->n - j);
			float *restrict dst = bp + (int64_t)pc * p->np +
			                      (int64_t)j * kc;
			for (int q = 0; q < kc; q++) {
				const float *restrict src =
					b + (int64_t)(pc + q) * p->n + j;
				for (int x = 0; x < nr; x++)
					dst[x] = src[x];
				for (int x = nr; x < NR; x++)
					dst[x] = 0.0f;
				dst += NR;
			}
		}
	}
}

static void pack_b(const blocking *p, const float *b, float *bp)
{
	pack_b_job job = { .p = p, .b = b, .bp = bp };
	dp_parallel_for(p->np / NR, (double)p->k * p->np, pack_b_panels, &job);
}

static dp_status prepare(const dp_desc *d, const float *b, const float *bias,
                         void *state)
{
	blocking p = plan(d);
	(void)bias;
	pack_b(&p, b, (float *)align_up(state));
	return DP_OK;
}

static size_t workspace_bytes(const dp_desc *d)
{
	blocking p = plan(d);
	return ((size_t)p.mc * (size_t)p.kc + ALIGN) * sizeof(float);
}

/* Rows ic.. ic+mc-1 (mc a multiple of MR), columns pc.. pc+kc-1 of A into
 * MR-row panels, each kc x MR stored step by step (and written in that
 * order, the MR rows read side by side); rows past M are zero. */
static void pack_a(const blocking *p, const float *restrict a,
                   float *restrict ap, int ic, int mc, int pc, int kc)
{
	for (int i = 0; i < mc; i += MR) {
		float *restrict dst = ap + (int64_t)i * kc;
		const float *restrict src = a + (int64_t)(ic + i) * p->k + pc;
		const int rows = min_int(MR, p->m - ic - i);
		if (rows == MR) {
			const int64_t k = p->k;
			for (int q = 0; q < kc; q++) {
				dst[q * MR + 0] = src[q];
				dst[q * MR + 1] = src[k + q];
				dst[q * MR + 2] = src[2 * k + q];
				dst[q * MR + 3] = src[3 * k + q];
				dst[q * MR + 4] = src[4 * k + q];
				dst[q * MR + 5] = src[5 * k + q];
			}
			continue;
		}
		for (int q = 0; q < kc; q++)
			for (int r = 0; r < MR; r++)
				dst[q * MR + r] = r < rows ?
					src[(int64_t)r * p->k + q] : 0.0f;
	}
}

/* c[6 x 16] (+)= the kc-step product of 6 rows of A and a B panel, in 12
 * vector accumulators. Row r of A at step q is a[r * rs + q * step]:
 * packed (rs 1, step MR) or in place (rs the row stride, step 1); both
 * callers pass constants, so each gets its own copy. A broadcast is
 * written x - (vec8){0}: both gcc and clang make it one broadcast from
 * memory (x + (vec8){0} keeps a stray add; filling lanes one by one makes
 * gcc emit a broadcast per lane). The block of C is prefetched first: it
 * is needed only after the kc steps and is usually out of L1 and L2. */
static inline __attribute__((always_inline)) void
micro(int kc, const float *restrict a, int64_t rs, int step,
      const float *restrict b, float *restrict c, int64_t ldc, int add)
{
	for (int r = 0; r < MR; r++) {
		__builtin_prefetch(c + r * ldc, 1);
		__builtin_prefetch(c + r * ldc + NR - 1, 1);
	}
	vec8 c00 = { 0 }, c01 = { 0 }, c10 = { 0 }, c11 = { 0 };
	vec8 c20 = { 0 }, c21 = { 0 }, c30 = { 0 }, c31 = { 0 };
	vec8 c40 = { 0 }, c41 = { 0 }, c50 = { 0 }, c51 = { 0 };
	for (int q = 0; q < kc; q++) {
		const vec8 b0 = *(const uvec8 *)b;
		const vec8 b1 = *(const uvec8 *)(b + 8);
		const vec8 a0 = a[0] - (vec8){ 0 };
		c00 += a0 * b0; c01 += a0 * b1;
		const vec8 a1 = a[rs] - (vec8){ 0 };
		c10 += a1 * b0; c11 += a1 * b1;
		const vec8 a2 = a[2 * rs] - (vec8){ 0 };
		c20 += a2 * b0; c21 += a2 * b1;
		const vec8 a3 = a[3 * rs] - (vec8){ 0 };
		c30 += a3 * b0; c31 += a3 * b1;
		const vec8 a4 = a[4 * rs] - (vec8){ 0 };
		c40 += a4 * b0; c41 += a4 * b1;
		const vec8 a5 = a[5 * rs] - (vec8){ 0 };
		c50 += a5 * b0; c51 += a5 * b1;
		a += step;
		b += NR;
	}
	if (add) {
		c00 += *(uvec8 *)c;             c01 += *(uvec8 *)(c + 8);
		c10 += *(uvec8 *)(c + ldc);     c11 += *(uvec8 *)(c + ldc + 8);
		c20 += *(uvec8 *)(c + 2 * ldc); c21 += *(uvec8 *)(c + 2 * ldc + 8);
		c30 += *(uvec8 *)(c + 3 * ldc); c31 += *(uvec8 *)(c + 3 * ldc + 8);
		c40 += *(uvec8 *)(c + 4 * ldc); c41 += *(uvec8 *)(c + 4 * ldc + 8);
		c50 += *(uvec8 *)(c + 5 * ldc); c51 += *(uvec8 *)(c + 5 * ldc + 8);
	}
	*(uvec8 *)c = c00;             *(uvec8 *)(c + 8) = c01;
	*(uvec8 *)(c + ldc) = c10;     *(uvec8 *)(c + ldc + 8) = c11;
	*(uvec8 *)(c + 2 * ldc) = c20; *(uvec8 *)(c + 2 * ldc + 8) = c21;
	*(uvec8 *)(c + 3 * ldc) = c30; *(uvec8 *)(c + 3 * ldc + 8) = c31;
	*(uvec8 *)(c + 4 * ldc) = c40; *(uvec8 *)(c + 4 * ldc + 8) = c41;
	*(uvec8 *)(c + 5 * ldc) = c50; *(uvec8 *)(c + 5 * ldc + 8) = c51;
}

/* One block of the loop nest (columns [jc, jend) of packed B, depth
 * [pc, pc + kc), rows [ic, ic + mc) of A, A packed or not) as a job of
 * the parallel-for: item it is NR-column panel it / mb of the block and
 * MR-row block it % mb (mb = MR blocks of the rows), so threads share the
 * packed A and B and each writes its own blocks of C. Every block of C is
 * computed by one micro-kernel call with the same operands whatever the
 * partition: results do not depend on the thread count. */
typedef struct gemm_job {
	const blocking *p;
	const float *a, *bp, *ap;
	float *c;
	int jc, pc, kc, ic, mc, mfull, add, mb;
} gemm_job;

static void block_items(void *ctx, int begin, int end)
{
	const gemm_job *g = ctx;
	const blocking p = *g->p;
	const int kc = g->kc, ic = g->ic, pc = g->pc, add = g->add;
	for (int it = begin; it < end; ) {
		const int j = g->jc + it / g->mb * NR;
		const int b0 = it % g->mb;
		const int b1 = min_int(g->mb, b0 + end - it);
		it += b1 - b0;
		const float *panel = g->bp + (int64_t)pc * p.np + (int64_t)j * kc;
		const int cols = min_int(NR, p.n - j);
		for (int i = b0 * MR; i < b1 * MR; i += MR) {
			const int rows = min_int(MR, p.m - ic - i);
			float *cij = g->c + (int64_t)(ic + i) * p.n + j;
			const int inplace = i < g->mfull && !p.pack_a;
			const float *ai = inplace ?
				g->a + (int64_t)(ic + i) * p.k + pc :
				g->ap + (int64_t)(p.pack_a ? i : 0) * kc;
			if (rows == MR && cols == NR) {
				if (inplace)
					micro(kc, ai, p.k, 1, panel, cij, p.n, add);
				else
					micro(kc, ai, 1, MR, panel, cij, p.n, add);
				continue;
			}
			/* The ragged edge: the full block into a scratch tile,
			 * then only the part in C. */
			float tile[MR * NR];
			if (inplace)
				micro(kc, ai, p.k, 1, panel, tile, NR, 0);
			else
				micro(kc, ai, 1, MR, panel, tile, NR, 0);
			for (int r = 0; r < rows; r++)
				for (int x = 0; x < cols; x++)
					cij[(int64_t)r * p.n + x] = tile[r * NR + x] +
						(add ? cij[(int64_t)r * p.n + x] : 0.0f);
		}
	}
}

/* Loops, outer to inner: NC columns of B, KC steps of depth, MC rows of A
 * (packed here, on the caller's thread), then the NR-column panels of B x
 * MR-row panels of A of the block, in parallel (block_items). */
static dp_status execute(const dp_desc *d, const void *state, const float *a,
                         float *c, void *workspace)
{
	const blocking p = plan(d);
	const float *bp = (const float *)align_up(state);
	float *ap = (float *)align_up(workspace);
	gemm_job g = { .p = &p, .a = a, .bp = bp, .ap = ap, .c = c };
	for (int jc = 0; jc < p.np; jc += p.nc) {
		const int jend = min_int(jc + p.nc, p.np);
		for (int pc = 0; pc < p.k; pc += p.kc) {
			const int kc = min_int(p.kc, p.k - pc);
			for (int ic = 0; ic < p.m; ic += p.mc) {
				const int mc = min_int(p.mc, p.m - ic);
				const int mpad = round_up(mc, MR);
				/* In place, the rows of A past M must not be read:
				 * the last, partial MR rows are packed (zero-padded)
				 * at the start of the workspace. */
				const int mfull = p.pack_a ? mpad : mc / MR * MR;
				if (p.pack_a)
					pack_a(&p, a, ap, ic, mpad, pc, kc);
				else if (mfull < mc)
					pack_a(&p, a, ap, ic + mfull, MR, pc, kc);
				g.jc = jc;
				g.pc = pc;
				g.kc = kc;
				g.ic = ic;
				g.mc = mc;
				g.mfull = mfull;
				g.add = pc > 0;   /* the first block sets C */
				g.mb = mpad / MR;
				const int panels = (jend - jc) / NR;
				dp_parallel_for(panels * g.mb, 2.0 * mc * kc * (jend - jc),
				                block_items, &g);
			}
		}
	}
	return DP_OK;
}

const dp_kernel dp_matmul_gemm_generic = {
	.name = "dp_matmul_gemm_generic_fp32",
	.desc = { .op = DP_OP_MATMUL, .algo = DP_ALGO_GEMM,
	          .precision = DP_PREC_FP32 },
	.generic = 1,
	.state_bytes = state_bytes,
	.prepare = prepare,
	.workspace_bytes = workspace_bytes,
	.execute = execute,
};
