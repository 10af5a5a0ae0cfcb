-- lib/gemm.lua - the GEMM emitter: a packed, cache-blocked, register-blocked
-- fp32 matrix product with every size a compile-time constant.
--
-- API
--   local gemm = require("lib.gemm")
--   spec = {
--     name = "gemm",     -- C identifier prefix of everything emitted
--     m = M, n = N, k = K,
--     lda = K, ldb = N, ldc = N,  -- optional row strides (defaults shown)
--     accumulate = false, -- true: C += A*B; false: C = A*B
--     mr = nil, nr = nil, -- optional register block override (nr: 8*j)
--   }
--   gemm.plan(spec)             -> { mr, nr, kc, mc, nc, np, ... } the
--                                  blocking the generator picks for spec
--   gemm.packed_b_floats(spec)  -> floats of the packed B buffer
--   gemm.workspace_floats(spec) -> floats of the packed A buffer (per call)
--   gemm.ALIGN_FLOATS           -> 16: give both buffers 64-byte alignment
--                                  for speed (any float alignment is correct)
--   gemm.emit(e, spec)          -> plan; emits into emitter e (lib.emit)
--                                  static C functions:
--     void NAME_pack_b(const float *b, float *bp)
--         B (K x N, row stride ldb) -> bp; once per weights (prepare).
--     void NAME_run(const float *a, const float *bp, float *c, float *ws)
--         C (M x N, row stride ldc) (+)= A (M x K, row stride lda) * B,
--         with bp from NAME_pack_b and ws the packed-A workspace.
--   The emitted code uses GCC/Clang vector extensions (no intrinsics).
--
-- Design (GotoBLAS/BLIS): B is packed once into NR-column panels, K in
-- blocks of KC rows; per call, an MC x KC block of A is packed into MR-row
-- panels. The micro-kernel keeps an MR x NR block of C in MR * NR/8
-- vector registers (8 floats each) and runs over KC with one broadcast of
-- A per row and NR/8 loads of B per step (default block 6 x 16).
-- Panels are zero-padded to full MR and NR, so
-- the micro-kernel is always full; only the store to C sees the ragged
-- edge. The machine class: 32 KiB L1d, 1 MiB L2 per core, AVX2 + FMA.
local M = {}

M.ALIGN_FLOATS = 16

-- Floats per vector: 8 (32 bytes, AVX2). The machines of this class that
-- were measured expose AVX2 + FMA but not AVX-512 (gcc -march=native says
-- znver3): a 16-lane vector would be split into two halves and, with only
-- 16 vector registers, spilled.
local LANES = 8
local L2_BYTES = 1024 * 1024
local KC_MAX = 256            -- a KC x NR panel of B: 16 KiB, half of L1
local KC_SINGLE = 384         -- up to this depth K is one block

local function ceil_div(a, b) return (a + b - 1) // b end
local function round_up(a, b) return ceil_div(a, b) * b end

-- Relative speed of an MR x 16 block: fewer rows means more loads of B per
-- multiply-add and fewer independent accumulators to hide FMA latency.
-- Rows above 6 would need more than the 16 vector registers (MR x 2
-- accumulators, 2 of B, 1 broadcast).
local MR_SPEED = { 0.3, 0.55, 0.75, 0.9, 0.95, 1.0 }

-- The MR that minimizes (padded rows) / speed; ties go to the larger MR.
local function pick_mr(m)
	local best, best_cost
	for mr = #MR_SPEED, 1, -1 do
		local cost = round_up(m, mr) / MR_SPEED[mr]
		if not best_cost or cost < best_cost - 1e-9 then
			best, best_cost = mr, cost
		end
	end
	return best
end

function M.plan(spec)
	local m, n, k = spec.m, spec.n, spec.k
	assert(m >= 1 and n >= 1 and k >= 1, "gemm: sizes must be >= 1")
	local p = {
		m = m, n = n, k = k,
		lda = spec.lda or k, ldb = spec.ldb or n, ldc = spec.ldc or n,
		accumulate = spec.accumulate and true or false,
	}
	p.mr = spec.mr or pick_mr(m)
	-- Few rows: widen the block so there are still enough accumulators.
	p.nr = spec.nr or (p.mr <= 2 and 4 * LANES or 2 * LANES)
	assert(p.nr % LANES == 0, "gemm: nr must be a multiple of " .. LANES)
	p.nv = p.nr // LANES
	-- KC: K in equal blocks of at most KC_MAX (one block up to KC_SINGLE),
	-- so no block is a short leftover.
	if k <= KC_SINGLE then
		p.kc = k
	else
		p.kc = ceil_div(k, ceil_div(k, KC_MAX))
	end
	-- MC: the packed A block takes at most a quarter of L2, leaving room
	-- for the B block streaming through it; blocks of equal size.
	local mc_max = math.max(p.mr,
		(L2_BYTES // 4) // (p.kc * 4) // p.mr * p.mr)
	local mblocks = ceil_div(m, mc_max)
	p.mc = round_up(ceil_div(m, mblocks), p.mr)
	-- NC: the KC x NC block of B that one A block sweeps stays within
	-- half of L2.
	p.np = round_up(n, p.nr)
	local nc_max = math.max(p.nr,
		(L2_BYTES // 2) // (p.kc * 4) // p.nr * p.nr)
	local nblocks = ceil_div(p.np, nc_max)
	p.nc = round_up(ceil_div(p.np, nblocks), p.nr)
	p.m_ragged = m % p.mr ~= 0
	p.n_ragged = n % p.nr ~= 0
	return p
end

function M.packed_b_floats(spec)
	local p = M.plan(spec)
	return p.k * p.np
end

function M.workspace_floats(spec)
	local p = M.plan(spec)
	return p.mc * p.kc
end

-- A function head whose parameter lines line up after the "(".
local function head(e, first, ...)
	e:line("%s", first)
	local pad = string.rep(" ", first:find("%(") or 0)
	for _, l in ipairs({ ... }) do e:line("%s%s", pad, l) end
end

local function emit_types(e, pre, P, p)
	e:line("/* %s: C[%d x %d] %s A[%d x %d] * B[%d x %d], packed and blocked. */",
		pre, p.m, p.n, p.accumulate and "+=" or "=", p.m, p.k, p.k, p.n)
	e:line("/* gcc contracts a * b + c into one FMA only when told to: in ISO C")
	e:line(" * mode its default is -ffp-contract=off (clang contracts by default). */")
	e:line("#if defined(__GNUC__) && !defined(__clang__)")
	e:line('#pragma GCC optimize("fp-contract=fast")')
	e:line("#endif")
	e:line("typedef float %s_vec __attribute__((vector_size(%d)));", pre,
		LANES * 4)
	e:line("/* The same vector for loads and stores: C rows need not be")
	e:line(" * aligned. */")
	e:line("typedef float %s_uvec __attribute__((vector_size(%d), aligned(4)));",
		pre, LANES * 4)
	e:line()
	e:line("enum {")
	e:line("\t%s_M = %d, %s_N = %d, %s_K = %d,", P, p.m, P, p.n, P, p.k)
	e:line("\t%s_LDA = %d, %s_LDB = %d, %s_LDC = %d,", P, p.lda, P, p.ldb,
		P, p.ldc)
	e:line("\t/* Register block: %d rows (least padding of M for its speed)",
		p.mr)
	e:line("\t * by %d columns (%d vectors): %d accumulators. */", p.nr, p.nv,
		p.mr * p.nv)
	e:line("\t%s_MR = %d, %s_NR = %d,", P, p.mr, P, p.nr)
	e:line("\t/* Depth of a block: a KC x NR panel of B stays in L1. */")
	e:line("\t%s_KC = %d,", P, p.kc)
	e:line("\t/* Rows of A per packed block (at most L2 / 4), columns of B")
	e:line("\t * per sweep (a KC x NC block at most L2 / 2). */")
	e:line("\t%s_MC = %d, %s_NC = %d,", P, p.mc, P, p.nc)
	e:line("\t/* N rounded up to NR: the width of packed B. */")
	e:line("\t%s_NP = %d", P, p.np)
	e:line("};")
	e:line()
	e:line("static inline int %s_min(int x, int y)", pre)
	e:open("{")
	e:line("return x < y ? x : y;")
	e:close("}")
	e:line()
end

local function emit_pack_b(e, pre, P, p)
	e:comment({
		"B (K x N) into panels of NR columns, row by row: block pc of KC",
		"rows starts at bp + pc * NP, its panel j at + j * kc. Columns past N",
		"are zero, so the micro-kernel never tests for the edge.",
	})
	e:line("static void %s_pack_b(const float *restrict b, float *restrict bp)",
		pre)
	e:open("{")
	e:open("for (int pc = 0; pc < %s_K; pc += %s_KC) {", P, P)
	e:line("const int kc = %s_min(%s_KC, %s_K - pc);", pre, P, P)
	e:open("for (int j = 0; j < %s_NP; j += %s_NR) {", P, P)
	if p.n_ragged then
		e:line("const int nr = %s_min(%s_NR, %s_N - j);", pre, P, P)
	end
	e:line("float *restrict dst = bp + pc * %s_NP + j * kc;", P)
	e:open("for (int p = 0; p < kc; p++) {")
	e:line("const float *restrict src = b + (pc + p) * %s_LDB + j;", P)
	if p.n_ragged then
		e:single("for (int x = 0; x < nr; x++)", "dst[x] = src[x];")
		e:single(string.format("for (int x = nr; x < %s_NR; x++)", P),
			"dst[x] = 0.0f;")
	else
		e:single(string.format("for (int x = 0; x < %s_NR; x++)", P),
			"dst[x] = src[x];")
	end
	e:line("dst += %s_NR;", P)
	e:close("}")
	e:close("}")
	e:close("}")
	e:close("}")
	e:line()
end

local function emit_pack_a(e, pre, P, p)
	e:comment({
		"Rows ic.. ic+mc-1 (mc a multiple of MR), columns pc.. pc+kc-1 of A",
		"into panels of MR rows, each kc x MR stored step by step, so the",
		"micro-kernel reads MR consecutive floats per step.",
		p.m_ragged and "Rows past M are zero." or "M is a multiple of MR: no padding rows.",
	})
	head(e, string.format(
		"static void %s_pack_a(const float *restrict a, float *restrict ap,", pre),
		"int ic, int mc, int pc, int kc)")
	e:open("{")
	e:open("for (int i = 0; i < mc; i += %s_MR) {", P)
	e:line("float *restrict dst = ap + i * kc;")
	e:open("for (int r = 0; r < %s_MR; r++) {", P)
	e:line("const int row = ic + i + r;")
	if p.m_ragged then
		e:open("if (row >= %s_M) {", P)
		e:single("for (int q = 0; q < kc; q++)",
			string.format("dst[q * %s_MR + r] = 0.0f;", P))
		e:line("continue;")
		e:close("}")
	end
	e:line("const float *restrict src = a + row * %s_LDA + pc;", P)
	e:single("for (int q = 0; q < kc; q++)",
		string.format("dst[q * %s_MR + r] = src[q];", P))
	e:close("}")
	e:close("}")
	e:close("}")
	e:line()
end

-- Offset of accumulator (r, v) in C: "2 * ldc + 16".
local function c_offset(r, v)
	local col = v * LANES
	if r == 0 then return col == 0 and "" or " + " .. col end
	local row = r == 1 and "ldc" or r .. " * ldc"
	if col == 0 then return " + " .. row end
	return string.format(" + %s + %d", row, col)
end

local function emit_micro(e, pre, P, p)
	local V = pre .. "_vec"
	local U = pre .. "_uvec"
	e:comment({
		string.format("The register block: c[%d x %d] (+)= the kc-step product of",
			p.mr, p.nr),
		"an A panel (kc x MR) and a B panel (kc x NR), all in registers.",
		"A broadcast is written x - (vec){0}: both gcc and clang make it one",
		"broadcast from memory (x + (vec){0} keeps a stray add; filling the",
		"lanes one by one makes gcc emit a broadcast per lane).",
	})
	head(e, string.format("static void %s_micro(int kc, const float *restrict a,",
		pre), "const float *restrict b, float *restrict c,", "int ldc, int add)")
	e:open("{")
	if p.mr == 1 then
		e:line("(void)ldc;   /* a single row */")
	end
	for r = 0, p.mr - 1 do
		local names = {}
		for v = 0, p.nv - 1 do
			names[#names + 1] = string.format("c%d_%d = { 0 }", r, v)
		end
		e:line("%s %s;", V, table.concat(names, ", "))
	end
	e:open("for (int q = 0; q < kc; q++) {")
	for v = 0, p.nv - 1 do
		e:line("const %s b%d = *(const %s *)(b + %d);", V, v, U, v * LANES)
	end
	for r = 0, p.mr - 1 do
		e:line("const %s a%d = a[%d] - (%s){ 0 };", V, r, r, V)
		local fmas = {}
		for v = 0, p.nv - 1 do
			fmas[#fmas + 1] = string.format("c%d_%d += a%d * b%d;", r, v, r, v)
		end
		e:line("%s", table.concat(fmas, " "))
	end
	e:line("a += %s_MR;", P)
	e:line("b += %s_NR;", P)
	e:close("}")
	e:open("if (add) {")
	for r = 0, p.mr - 1 do
		for v = 0, p.nv - 1 do
			e:line("*(%s *)(c%s) += c%d_%d;", U,
				c_offset(r, v), r, v)
		end
	end
	e:close("} else {")
	e.depth = e.depth + 1
	for r = 0, p.mr - 1 do
		for v = 0, p.nv - 1 do
			e:line("*(%s *)(c%s) = c%d_%d;", U,
				c_offset(r, v), r, v)
		end
	end
	e:close("}")
	e:close("}")
	e:line()
end

-- The call of the micro-kernel for tile (i, j) of the current block.
local function emit_tile(e, pre, P, p)
	local function full()
		e:line("%s_micro(kc, ap + i * kc, panel,", pre)
		e:line("%s      c + (ic + i) * %s_LDC + j, %s_LDC, add);",
			string.rep(" ", #pre), P, P)
	end
	if not p.m_ragged and not p.n_ragged then
		full()
		return
	end
	local rows = p.m_ragged and string.format("%s_min(%s_MR, %s_M - ic - i)",
		pre, P, P) or P .. "_MR"
	local cols = p.n_ragged and string.format("%s_min(%s_NR, %s_N - j)",
		pre, P, P) or P .. "_NR"
	e:line("const int rows = %s;", rows)
	e:line("const int cols = %s;", cols)
	e:open("if (rows == %s_MR && cols == %s_NR) {", P, P)
	full()
	e:line("continue;")
	e:close("}")
	e:line("/* The ragged edge: the full block into a scratch tile, then")
	e:line(" * only the part inside C. */")
	e:line("float tile[%s_MR * %s_NR];", P, P)
	e:line("%s_micro(kc, ap + i * kc, panel, tile, %s_NR, 0);", pre, P)
	e:line("float *restrict cij = c + (ic + i) * %s_LDC + j;", P)
	e:open("for (int r = 0; r < rows; r++)")
	e:open("for (int x = 0; x < cols; x++)")
	e:line("cij[r * %s_LDC + x] = tile[r * %s_NR + x] +", P, P)
	e:line("                        (add ? cij[r * %s_LDC + x] : 0.0f);", P)
	e.depth = e.depth - 2
end

local function emit_run(e, pre, P, p)
	e:comment({
		string.format("C %s A * B with B packed by %s_pack_b and ws holding",
			p.accumulate and "+=" or "=", pre),
		"MC x KC floats of packed A. Loops, outer to inner: NC columns of B,",
		"KC steps of depth, MC rows of A (packed here), NR-column panels of",
		"B, MR-row panels of A.",
	})
	head(e, string.format(
		"static void %s_run(const float *restrict a, const float *restrict bp,",
		pre), "float *restrict c, float *restrict ws)")
	e:open("{")
	e:line("float *restrict ap = ws;")
	e:open("for (int jc = 0; jc < %s_NP; jc += %s_NC) {", P, P)
	e:line("const int jend = %s_min(jc + %s_NC, %s_NP);", pre, P, P)
	e:open("for (int pc = 0; pc < %s_K; pc += %s_KC) {", P, P)
	e:line("const int kc = %s_min(%s_KC, %s_K - pc);", pre, P, P)
	if p.accumulate then
		e:line("const int add = 1;   /* C += A * B */")
	else
		e:line("const int add = pc > 0;   /* the first block sets C */")
	end
	e:open("for (int ic = 0; ic < %s_M; ic += %s_MC) {", P, P)
	e:line("const int mc = %s_min(%s_MC, %s_M - ic);", pre, P, P)
	e:line("const int mpad = (mc + %s_MR - 1) / %s_MR * %s_MR;", P, P, P)
	e:line("%s_pack_a(a, ap, ic, mpad, pc, kc);", pre)
	e:open("for (int j = jc; j < jend; j += %s_NR) {", P)
	e:line("const float *restrict panel = bp + pc * %s_NP + j * kc;", P)
	e:open("for (int i = 0; i < mpad; i += %s_MR) {", P)
	emit_tile(e, pre, P, p)
	e:close("}")
	e:close("}")
	e:close("}")
	e:close("}")
	e:close("}")
	e:close("}")
	e:line()
end

function M.emit(e, spec)
	assert(type(spec.name) == "string" and spec.name:match("^[%a_][%w_]*$"),
		"gemm: spec.name must be a C identifier")
	local p = M.plan(spec)
	local pre = spec.name
	local P = string.upper(pre)
	emit_types(e, pre, P, p)
	emit_pack_b(e, pre, P, p)
	emit_pack_a(e, pre, P, p)
	emit_micro(e, pre, P, p)
	emit_run(e, pre, P, p)
	return p
end

return M
