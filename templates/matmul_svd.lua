-- matmul_svd.lua - C = A * B_k, B_k the rank-k truncation of B (the
-- weights, K x N), specialized to one M x K x N and rank k = rank_b.
--
-- prepare factorizes B once with LAPACKE_dgesdd in double, keeps the k
-- largest singular triplets and folds S into the left factor:
--     P = U_k S_k (K x k),  Q = V_k^T (k x N),
-- rounds both to float and packs them for two GEMMs of lib.gemm. execute
-- runs the two products fused, a block of MB rows at a time:
--     T = A[rows] * P   (MB x k, in the workspace: it stays in cache)
--     C[rows] = T * Q
-- so the M x k intermediate is never written out. Rows past the last full
-- block (M % MB) get GEMMs of their own height, with the same packed P
-- and Q (the column blocking does not depend on M; asserted below).
--
-- rank_a is refused: A is the per-call input, and every factorization
-- belongs to prepare, which sees only B (`dpgen run` truncates A itself).
local emit = require("lib.emit")
local gemm = require("lib.gemm")
local kernel = require("lib.kernel")

local M = {}

-- The intermediate block T (MB x k floats) gets at most 48 KiB: it is
-- written once and read at once, from L2; rows in multiples of 6 (the
-- GEMM's register block), at most 192 (more rows amortize the sweeps over
-- the packed factors no further).
local T_BYTES = 48 * 1024
local MB_MAX = 192

local function block_rows(m, k)
	local mb = math.min(MB_MAX, T_BYTES // (4 * k)) // 6 * 6
	mb = math.max(mb, 6)
	if m <= mb then return m end
	return mb
end

local function round16(x) return (x + 15) // 16 * 16 end

-- The GEMM specs: A*P and T*Q for full blocks and, if M % MB > 0, for the
-- tail block. The tail uses the full block's register width, so both read
-- the same packed factors.
local function specs(d, mb)
	local k = d.rank_b
	local s = {
		ap = { name = "ap", m = mb, k = d.k, n = k },
		tq = { name = "tq", m = mb, k = k, n = d.n },
	}
	local tail = d.m % mb
	if tail > 0 then
		s.apt = { name = "apt", m = tail, k = d.k, n = k,
			nr = gemm.plan(s.ap).nr }
		s.tqt = { name = "tqt", m = tail, k = k, n = d.n,
			nr = gemm.plan(s.tq).nr }
		for _, pair in ipairs({ { s.ap, s.apt }, { s.tq, s.tqt } }) do
			local full, t = gemm.plan(pair[1]), gemm.plan(pair[2])
			assert(full.np == t.np and full.kc == t.kc and
				full.nr == t.nr and full.nc == t.nc,
				"svd: the tail GEMM must share the packed factor's layout")
		end
	end
	return s, tail
end

local function ws_floats(s, a, b)
	local x = gemm.workspace_floats(s[a])
	if s[b] then x = math.max(x, gemm.workspace_floats(s[b])) end
	return round16(x)
end

local function emit_buffers(e, d, s, mb)
	e:comment({
		"Floats of each buffer. State: packed P, then packed Q. Workspace:",
		"the block T of A P, then the packed-A buffers of the two GEMMs.",
		"Each buffer gets ALIGN floats of slack and is used from its first",
		"64-byte boundary; every part is a multiple of 16 floats.",
	})
	e:line("enum {")
	e:line("\tSVD_M = %d, SVD_K = %d, SVD_N = %d,", d.m, d.k, d.n)
	e:line("\t/* Rank kept, and the smaller size of B (all its triplets). */")
	e:line("\tSVD_R = %d, SVD_KMIN = %d,", d.rank_b, math.min(d.k, d.n))
	e:line("\t/* Rows of A per block: T = MB x R floats stays in L2. */")
	e:line("\tSVD_MB = %d,", mb)
	e:line("\tPACKED_P = %d, PACKED_Q = %d,", round16(gemm.packed_b_floats(s.ap)),
		round16(gemm.packed_b_floats(s.tq)))
	e:line("\tT_FLOATS = %d, WS_AP = %d, WS_TQ = %d,", round16(mb * d.rank_b),
		ws_floats(s, "ap", "apt"), ws_floats(s, "tq", "tqt"))
	e:line("\tALIGN = %d", gemm.ALIGN_FLOATS)
	e:line("};")
	e:line()
	kernel.align_up(e)
end

local function emit_prepare(e)
	e:line("static size_t state_bytes(const dp_desc *d)")
	e:open("{")
	e:line("(void)d;")
	e:line("return (PACKED_P + PACKED_Q + ALIGN) * sizeof(float);")
	e:close("}")
	e:line()
	e:comment({
		"The weights are B (K x N). B = U S V^T in double (dgesdd: the",
		"factorization runs once, and double keeps its own error far below",
		"float rounding); P = U_k S_k and Q = V_k^T, rounded to float, are",
		"packed into the state. B must be finite (DP_ERR_ARG otherwise).",
	})
	e:line("static dp_status prepare(const dp_desc *d, const float *weights,")
	e:line("                         const float *bias, void *state)")
	e:open("{")
	e:line("(void)d;")
	e:line("(void)bias;")
	e:line("const size_t kn = (size_t)SVD_K * SVD_N;")
	e:line("for (size_t i = 0; i < kn; i++)")
	e:line("\tif (!isfinite(weights[i]))")
	e:line("\t\treturn DP_ERR_ARG;")
	e:line("double *b = malloc(kn * sizeof *b);")
	e:line("double *s = malloc(SVD_KMIN * sizeof *s);")
	e:line("double *u = malloc((size_t)SVD_K * SVD_KMIN * sizeof *u);")
	e:line("double *vt = malloc((size_t)SVD_KMIN * SVD_N * sizeof *vt);")
	e:line("float *p = malloc((size_t)SVD_K * SVD_R * sizeof *p);")
	e:line("float *q = malloc((size_t)SVD_R * SVD_N * sizeof *q);")
	e:line("dp_status st = DP_ERR_NOMEM;")
	e:line("if (!b || !s || !u || !vt || !p || !q)")
	e:line("\tgoto out;")
	e:line("for (size_t i = 0; i < kn; i++)")
	e:line("\tb[i] = weights[i];")
	e:line("lapack_int info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', SVD_K, SVD_N,")
	e:line("                                 b, SVD_N, s, u, SVD_KMIN, vt, SVD_N);")
	e:open("if (info != 0) {")
	e:line("/* < 0: LAPACKE could not allocate; > 0: no convergence */")
	e:line("st = info < 0 ? DP_ERR_NOMEM : DP_ERR_UNSUPPORTED;")
	e:line("goto out;")
	e:close("}")
	e:line("for (int x = 0; x < SVD_K; x++)")
	e:line("\tfor (int t = 0; t < SVD_R; t++)")
	e:line("\t\tp[x * SVD_R + t] = (float)(u[(size_t)x * SVD_KMIN + t] * s[t]);")
	e:line("for (int t = 0; t < SVD_R; t++)")
	e:line("\tfor (int j = 0; j < SVD_N; j++)")
	e:line("\t\tq[t * SVD_N + j] = (float)vt[(size_t)t * SVD_N + j];")
	e:line("float *packed = align_up(state);")
	e:line("ap_pack_b(p, packed);")
	e:line("tq_pack_b(q, packed + PACKED_P);")
	e:line("st = DP_OK;")
	e.depth = e.depth - 1
	e:line("out:")
	e.depth = e.depth + 1
	e:line("free(b);")
	e:line("free(s);")
	e:line("free(u);")
	e:line("free(vt);")
	e:line("free(p);")
	e:line("free(q);")
	e:line("return st;")
	e:close("}")
	e:line()
end

local function emit_execute(e, tail)
	e:line("static size_t workspace_bytes(const dp_desc *d)")
	e:open("{")
	e:line("(void)d;")
	e:line("return (T_FLOATS + WS_AP + WS_TQ + ALIGN) * sizeof(float);")
	e:close("}")
	e:line()
	e:comment({
		"C = (A P) Q, MB rows at a time: the block of A P goes to t and is",
		"multiplied by Q at once, while it is still in cache.",
	})
	e:line("static dp_status execute(const dp_desc *d, const void *state,")
	e:line("                         const float *input, float *output,")
	e:line("                         void *workspace)")
	e:open("{")
	e:line("(void)d;")
	e:line("const float *p = align_up(state);")
	e:line("const float *q = p + PACKED_P;")
	e:line("float *t = align_up(workspace);")
	e:line("float *ws_ap = t + T_FLOATS, *ws_tq = ws_ap + WS_AP;")
	e:open("for (int i = 0; i + SVD_MB <= SVD_M; i += SVD_MB) {")
	e:line("ap_run(input + i * SVD_K, p, t, ws_ap);")
	e:line("tq_run(t, q, output + i * SVD_N, ws_tq);")
	e:close("}")
	if tail > 0 then
		e:line("/* The last %d rows. */", tail)
		e:line("const int i = SVD_M - %d;", tail)
		e:line("apt_run(input + i * SVD_K, p, t, ws_ap);")
		e:line("tqt_run(t, q, output + i * SVD_N, ws_tq);")
	end
	e:line("return DP_OK;")
	e:close("}")
	e:line()
end

-- The thin path (k <= THIN_MAX): both products are too narrow for the
-- GEMM emitter's blocks (A P is k <= 16 columns wide: one or two vectors,
-- so at most 6 x 1-2 accumulators, too few to hide the FMA latency), and
-- at k = 8 a few microseconds of work, so fixed costs (packing A, edge
-- tiles) would dominate. They get loops of their own, every size a
-- constant:
--   A P: h rows of A in h x KV accumulators (h up to 13 with one vector
--        of k, 6 with two: with P and the broadcast, at most 15 of the 16
--        vector registers); each step broadcasts A[r][x] straight from
--        the rows of A (no packing) and multiplies by row x of P (K x KP,
--        k padded with zeros to KP = 8 KV floats). A block's rows are
--        split into register blocks of nearly equal height (64 = 13 + 13
--        + 13 + 13 + 12, not 5 x 12 + 4: a block of 4 rows has too few
--        accumulators to keep both FMA pipes busy).
--   T Q: row i of T is k values: C[i][j..] = sum_s t[i][s] Q[s][j..],
--        an outer-product accumulation over 6 rows (or 5, balanced the
--        same way) by 2 vectors of N, Q (k x NQ) read from L1.
-- Rows go in blocks of MB: T = MB x KP floats.
--
-- Storing C dominates T Q's memory traffic (8 or 16 multiply-adds per
-- value stored), and a 32-byte store that straddles two cache lines costs
-- about twice one that does not: with C 16 bytes off (what malloc returns
-- for large blocks) T Q ran 15-20% slower. So when N % 8 == 0 (all rows
-- of C share one alignment) execute finds the first column h where C is
-- 32-byte aligned and the vectors start there; columns [0, h) and the
-- columns past the last aligned block get one unaligned block of 16 each
-- (at 0 and at N - 16), overlapping the aligned ones; they store the same
-- values, since every block is computed by the same loop body.
local THIN_MAX = 16
local LANES = 8

-- Split `rows` into register blocks of at most hmax rows, as even as
-- possible: returns { { height, count }, ... }, taller first.
local function split_rows(rows, hmax)
	local nb = (rows + hmax - 1) // hmax
	local base, extra = rows // nb, rows % nb
	local out = {}
	if extra > 0 then out[#out + 1] = { base + 1, extra } end
	if nb - extra > 0 then out[#out + 1] = { base, nb - extra } end
	return out
end

local function thin_plan(d)
	local r = d.rank_b
	local p = { kv = (r + LANES - 1) // LANES }
	p.kp = p.kv * LANES
	p.rb1 = p.kv == 1 and 13 or 6
	p.rb2, p.nv2 = 6, 2
	p.shift = d.n % LANES == 0 and d.n >= p.nv2 * LANES
	p.nq = (d.n + LANES - 1) // LANES * LANES
	local mb = math.max(12, math.min(MB_MAX, T_BYTES // (4 * p.kp)) // 12 * 12)
	p.mb = d.m <= mb and d.m or mb
	return p
end

-- ap_h: T (h x KP, row stride KP) = A (h rows, stride K) * P. The first
-- step sets the accumulators (a multiply), the others add to them.
local function emit_thin_ap(e, d, p, h)
	e:line("static inline void thin_ap_%d(const float *restrict a,", h)
	e:line("                              const float *restrict p, float *restrict t)")
	e:open("{")
	local function step(x, first)
		for v = 0, p.kv - 1 do
			e:line("const svd_vec p%d = *(const svd_vec *)(p + %s * SVD_KP + %d);",
				v, x, v * LANES)
		end
		for r = 0, h - 1 do
			local fmas = {}
			for v = 0, p.kv - 1 do
				fmas[#fmas + 1] = first and
					string.format("c%d_%d = a%d * p%d;", r, v, r, v) or
					string.format("c%d_%d += a%d * p%d;", r, v, r, v)
			end
			e:line("const svd_vec a%d = a[%d * SVD_K + %s] - (svd_vec){ 0 }; %s",
				r, r, x, table.concat(fmas, " "))
		end
	end
	for r = 0, h - 1 do
		local names = {}
		for v = 0, p.kv - 1 do
			names[#names + 1] = string.format("c%d_%d", r, v)
		end
		e:line("svd_vec %s;", table.concat(names, ", "))
	end
	e:open("{")
	step("0", true)
	e:close("}")
	e:open("for (int x = 1; x < SVD_K; x++) {")
	step("x", false)
	e:close("}")
	for r = 0, h - 1 do
		for v = 0, p.kv - 1 do
			e:line("*(svd_vec *)(t + %d) = c%d_%d;", r * p.kp + v * LANES, r, v)
		end
	end
	e:close("}")
	e:line()
end

-- tq_h: C (h rows, stride N) = T (h x KP) * Q, all N columns: groups of
-- nv2 vectors, then single vectors, then the lanes of a partial one; with
-- p.shift, the vectors start at column h (see above).
local function emit_thin_tq(e, d, p, h)
	e:line("static inline void thin_tq_%d(const float *restrict t,", h)
	e:line("                              const float *restrict q, float *restrict c%s)",
		p.shift and ",\n                              const int *restrict js, int nj" or "")
	e:open("{")
	local function block(nv, jexpr, lanes)
		-- Step s = 0 sets the accumulators (a multiply: zeroing 12
		-- registers per block of 96 multiply-adds cost T Q ~20%).
		local function step(sx, first)
			for v = 0, nv - 1 do
				e:line("const svd_vec q%d = *(const svd_uvec *)(q + %s * SVD_NQ + %s + %d);",
					v, sx, jexpr, v * LANES)
			end
			for r = 0, h - 1 do
				local fmas = {}
				for v = 0, nv - 1 do
					fmas[#fmas + 1] = first and
						string.format("c%d_%d = t%d * q%d; SVD_OPAQUE(c%d_%d);",
							r, v, r, v, r, v) or
						string.format("c%d_%d += t%d * q%d;", r, v, r, v)
				end
				e:line("const svd_vec t%d = t[%d + %s] - (svd_vec){ 0 }; %s", r,
					r * p.kp, sx, table.concat(fmas, " "))
			end
		end
		for r = 0, h - 1 do
			local names = {}
			for v = 0, nv - 1 do
				names[#names + 1] = string.format("c%d_%d", r, v)
			end
			e:line("svd_vec %s;", table.concat(names, ", "))
		end
		e:open("{")
		step("0", true)
		e:close("}")
		if d.rank_b > 1 then
			e:open("for (int s = 1; s < SVD_R; s++) {")
			step("s", false)
			e:close("}")
		end
		for r = 0, h - 1 do
			for v = 0, nv - 1 do
				if lanes then
					e:line("for (int l = 0; l < %d; l++)", lanes)
					e:line("\tc[%d * SVD_N + %s + l] = c%d_%d[l];", r, jexpr, r, v)
				else
					e:line("*(svd_uvec *)(c + %d * SVD_N + %s + %d) = c%d_%d;", r,
						jexpr, v * LANES, r, v)
				end
			end
		end
	end
	if p.shift then
		e:line("/* The blocks of 16 columns start at js[0..nj) (see execute). */")
		e:open("for (int b = 0; b < nj; b++) {")
		e:line("const int j = js[b];")
		block(p.nv2, "j")
		e:close("}")
		e:close("}")
		e:line()
		return
	end
	local nfull = d.n // LANES
	local groups = nfull // p.nv2
	if groups > 0 then
		e:open("for (int j = 0; j < %d; j += %d) {", groups * p.nv2 * LANES,
			p.nv2 * LANES)
		block(p.nv2, "j")
		e:close("}")
	end
	for jv = groups * p.nv2, nfull - 1 do
		e:open("{")
		block(1, tostring(jv * LANES))
		e:close("}")
	end
	if d.n % LANES > 0 then
		e:open("{")
		block(1, tostring(nfull * LANES), d.n % LANES)
		e:close("}")
	end
	e:close("}")
	e:line()
end

-- The calls for the `rows` rows of one block (a, c, t at its first row):
-- the register blocks of each product, balanced (split_rows), each
-- height in a loop.
local function thin_calls(e, p, rows, heights)
	local r0 = 0
	for _, hc in ipairs(split_rows(rows, p.rb1)) do
		local h, n = hc[1], hc[2]
		heights.ap[h] = true
		if n == 1 then
			e:line("thin_ap_%d(a + %d * SVD_K, p, t + %d * SVD_KP);", h, r0, r0)
		else
			e:line("for (int r = %d; r < %d; r += %d)", r0, r0 + h * n, h)
			e:line("\tthin_ap_%d(a + r * SVD_K, p, t + r * SVD_KP);", h)
		end
		r0 = r0 + h * n
	end
	r0 = 0
	local harg = p.shift and ", js, nj" or ""
	for _, hc in ipairs(split_rows(rows, p.rb2)) do
		local h, n = hc[1], hc[2]
		heights.tq[h] = true
		if n == 1 then
			e:line("thin_tq_%d(t + %d * SVD_KP, q, c + %d * SVD_N%s);", h, r0, r0,
				harg)
		else
			e:line("for (int r = %d; r < %d; r += %d)", r0, r0 + h * n, h)
			e:line("\tthin_tq_%d(t + r * SVD_KP, q, c + r * SVD_N%s);", h, harg)
		end
		r0 = r0 + h * n
	end
end

local function generate_thin(d, name)
	local p = thin_plan(d)
	local tail = d.m % p.mb
	-- The execute body first (it decides which heights are needed).
	local heights = { ap = {}, tq = {} }
	local body = emit.new()
	body.depth = 1
	if p.shift then
		body:line("/* The first column where C is 32-byte aligned (a float is")
		body:line(" * 4-byte aligned; N % 8 == 0: the same in every row), and the")
		body:line(" * blocks of 16 columns T Q stores: from h, aligned, plus one at 0")
		body:line(" * and one at N - 16 for the columns before h and after the last")
		body:line(" * aligned block, overlapping it. All go through one loop, so")
		body:line(" * every column is computed by the same code (gcc contracts a * b")
		body:line(" * + c into a multiply-add or not depending on the code around it,")
		body:line(" * and would round unrolled copies differently): C does not depend")
		body:line(" * on its alignment. */")
		body:line("const int h = (int)(((uintptr_t)0 - (uintptr_t)output) % 32 / sizeof(float));")
		body:line("int js[SVD_N / %d + 2], nj = 0;", p.nv2 * LANES)
		body:line("if (h)")
		body:line("	js[nj++] = 0;")
		body:line("for (int j = h; j + %d <= SVD_N; j += %d)", p.nv2 * LANES, p.nv2 * LANES)
		body:line("	js[nj++] = j;")
		body:line("if ((SVD_N - h) %% %d)", p.nv2 * LANES)
		body:line("	js[nj++] = SVD_N - %d;", p.nv2 * LANES)
	end
	body:open("for (int i = 0; i + SVD_MB <= SVD_M; i += SVD_MB) {")
	body:line("const float *a = input + i * SVD_K;")
	body:line("float *c = output + i * SVD_N;")
	thin_calls(body, p, p.mb, heights)
	body:close("}")
	if tail > 0 then
		body:open("{")
		body:line("/* The last %d rows. */", tail)
		body:line("const float *a = input + (SVD_M - %d) * SVD_K;", tail)
		body:line("float *c = output + (SVD_M - %d) * SVD_N;", tail)
		thin_calls(body, p, tail, heights)
		body:close("}")
	end

	local e = emit.new()
	kernel.banner(e, d, name, "rank-" .. d.rank_b ..
		" SVD of B, the two thin products fused")
	e:line("#include <lapacke.h>")
	e:line("#include <math.h>")
	e:line("#include <stdint.h>")
	e:line("#include <stdlib.h>")
	e:line()
	e:line('#include "%s.h"', name)
	e:line()
	e:line("/* gcc contracts a * b + c into one FMA only when told to: in ISO C")
	e:line(" * mode its default is -ffp-contract=off (clang contracts by default). */")
	e:line("#if defined(__GNUC__) && !defined(__clang__)")
	e:line('#pragma GCC optimize("fp-contract=fast")')
	e:line("#endif")
	e:line("typedef float svd_vec __attribute__((vector_size(%d)));", LANES * 4)
	e:line("/* T Q sets its accumulators with a multiply (step 0) and adds the")
	e:line(" * other steps with multiply-adds. gcc (-ffp-contract=fast) may")
	e:line(" * instead fuse the step-0 product into step 1's add, where it")
	e:line(" * unrolls the loop of steps. An empty asm that takes the product in")
	e:line(" * a register and gives it back (no instruction) hides that it is a")
	e:line(" * product, so the rounding is the one the source spells out. Without")
	e:line(" * FMA nothing is fused (and without AVX no register holds a vector).")
	e:line(" */")
	e:line("#if defined(__AVX__) && defined(__FMA__)")
	e:line('#define SVD_OPAQUE(v) __asm__("" : "+x"(v))')
	e:line("#else")
	e:line("#define SVD_OPAQUE(v) ((void)0)")
	e:line("#endif")
	e:line("/* Rows of C and of Q need not be aligned. */")
	e:line("typedef float svd_uvec __attribute__((vector_size(%d), aligned(4)));",
		LANES * 4)
	e:line()
	e:comment({
		"Rank k <= " .. THIN_MAX .. ": both products are thin, and get loops of",
		"their own instead of GEMMs. State: P (K x KP, k padded with zeros",
		"to whole vectors), then Q (k x NQ, N padded likewise" ..
			"). Workspace:",
		"the block T = A[rows] P, MB x KP floats. Every part is a multiple",
		"of 16 floats, used from its first 64-byte boundary.",
	})
	e:line("enum {")
	e:line("\tSVD_M = %d, SVD_K = %d, SVD_N = %d,", d.m, d.k, d.n)
	e:line("\tSVD_R = %d, SVD_KMIN = %d,", d.rank_b, math.min(d.k, d.n))
	e:line("\t/* Row stride of P and T, of Q. */")
	e:line("\tSVD_KP = %d, SVD_NQ = %d,", p.kp, p.nq)
	e:line("\t/* Rows of A per block. */")
	e:line("\tSVD_MB = %d,", p.mb)
	e:line("\tPACKED_P = %d, PACKED_Q = %d, T_FLOATS = %d,",
		round16(d.k * p.kp), round16(d.rank_b * p.nq), round16(p.mb * p.kp))
	e:line("\tALIGN = %d", gemm.ALIGN_FLOATS)
	e:line("};")
	e:line()
	kernel.align_up(e)
	for h = p.rb1, 1, -1 do
		if heights.ap[h] then emit_thin_ap(e, d, p, h) end
	end
	for h = p.rb2, 1, -1 do
		if heights.tq[h] then emit_thin_tq(e, d, p, h) end
	end
	e:line("static void ap_pack_b(const float *restrict p, float *restrict bp)")
	e:open("{")
	e:line("for (int x = 0; x < SVD_K; x++)")
	e:line("\tfor (int s = 0; s < SVD_KP; s++)")
	e:line("\t\tbp[x * SVD_KP + s] = s < SVD_R ? p[x * SVD_R + s] : 0.0f;")
	e:close("}")
	e:line()
	e:line("static void tq_pack_b(const float *restrict q, float *restrict bp)")
	e:open("{")
	e:line("for (int s = 0; s < SVD_R; s++)")
	e:line("\tfor (int j = 0; j < SVD_NQ; j++)")
	e:line("\t\tbp[s * SVD_NQ + j] = j < SVD_N ? q[s * SVD_N + j] : 0.0f;")
	e:close("}")
	e:line()
	emit_prepare(e)
	e:line("static size_t workspace_bytes(const dp_desc *d)")
	e:open("{")
	e:line("(void)d;")
	e:line("return (T_FLOATS + ALIGN) * sizeof(float);")
	e:close("}")
	e:line()
	e:comment({
		"C = (A P) Q, MB rows at a time: the block of A P goes to t and is",
		"multiplied by Q at once, while it is still in cache.",
	})
	e:line("static dp_status execute(const dp_desc *d, const void *state,")
	e:line("                         const float *input, float *output,")
	e:line("                         void *workspace)")
	e:open("{")
	e:line("(void)d;")
	e:line("const float *p = align_up(state);")
	e:line("const float *q = p + PACKED_P;")
	e:line("float *t = align_up(workspace);")
	for _, l in ipairs(body.lines) do e.lines[#e.lines + 1] = l end
	e:line("return DP_OK;")
	e:close("}")
	e:line()
	kernel.object(e, d, name)
	return e:text()
end

function M.generate(d, name)
	if d.rank_a ~= 0 then
		error("svd kernels factorize B only (A is the per-call input): " ..
			"--rank-a is for dpgen run", 0)
	end
	assert(d.rank_b >= 1, "svd: rank_b must be at least 1")
	if d.rank_b <= THIN_MAX then return generate_thin(d, name) end
	local mb = block_rows(d.m, d.rank_b)
	local s, tail = specs(d, mb)
	local e = emit.new()
	kernel.banner(e, d, name, "rank-" .. d.rank_b ..
		" SVD of B, the two products fused")
	e:line("#include <lapacke.h>")
	e:line("#include <math.h>")
	e:line("#include <stdint.h>")
	e:line("#include <stdlib.h>")
	e:line()
	e:line('#include "%s.h"', name)
	e:line()
	gemm.emit(e, s.ap)
	gemm.emit(e, s.tq)
	if tail > 0 then
		s.apt.packs_b = "ap"
		gemm.emit(e, s.apt)
		s.tqt.packs_b = "tq"
		gemm.emit(e, s.tqt)
	end
	emit_buffers(e, d, s, mb)
	emit_prepare(e)
	emit_execute(e, tail)
	kernel.object(e, d, name)
	return e:text()
end

return M
