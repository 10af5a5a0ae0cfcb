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
--     packs_b = name,     -- optional: emit no NAME_pack_b; B comes packed
--                         -- by the GEMM `name`, whose layout this one shares
--     a_packed = false,   -- true: A is packed once, by NAME_pack_a_all,
--                         -- and NAME_run reads it packed (ws holds no A)
--     b_panels = fn,      -- optional: B is never packed whole; NAME_run
--                         -- packs it one KC x NC block at a time, just in
--                         -- time, by calling the caller's C function
--         void fn(const void *ctx, float *bp, int pc, int kc, int j0, int j1)
--                         -- which writes panels [j0, j1) (units of NR, of
--                         -- all of N) of rows [pc, pc + kc) of B, panel j at
--                         -- bp + (j - j0) * kc * NR, each kc steps of NR
--                         -- floats, zero past N. It may run on any thread,
--                         -- several at once on disjoint panels.
--     b_rows = false,     -- true (with b_panels): a panel of B need not
--                         -- be packed: fn gets two more parameters,
--             const float **pb, const int **po
--                         -- and sets, for each panel j, pb[j - j0] and
--                         -- po[j - j0]: its row q is the NR floats at
--                         -- pb[..] + po[..][q] (packed: bp + .., q * NR)
--     bias = false,       -- true (with b_panels, accumulate false): C =
--                         -- bias[row] + A*B, the bias the micro-kernels'
--                         -- starting value (NAME_run takes it last)
--   }
--   gemm.plan(spec)             -> { mr, nr, kc, mc, nc, np, ... } the
--                                  blocking the generator picks for spec
--   gemm.packed_b_floats(spec)  -> floats of the packed B buffer
--   gemm.workspace_floats(spec) -> floats of the packed A buffer (per call)
--   gemm.packed_a_floats(spec)  -> floats of A packed by NAME_pack_a_all
--   gemm.ALIGN_FLOATS           -> 16: give both buffers 64-byte alignment
--                                  for speed (any float alignment is correct)
--   With b_panels, packed_b_floats is the SLOTS KC x NC blocks NAME_run
--   packs into (its bp argument, per call), not all of B: one block, or
--   with many blocks one per slot (a fixed count: threads share slots).
--   gemm.emit(e, spec)          -> plan; emits into emitter e (lib.emit)
--                                  static C functions:
--     void NAME_pack_b(const float *b, float *bp)
--         B (K x N, row stride ldb) -> bp; once per weights (prepare).
--     void NAME_run(const float *a, const float *bp, float *c, float *ws)
--         C (M x N, row stride ldc) (+)= A (M x K, row stride lda) * B,
--         with bp from NAME_pack_b and ws the packed-A workspace.
--     void NAME_pack_a_all(const float *a, float *ap)      (a_packed)
--         A (M x K, row stride lda) -> ap, all of it; once per weights.
--     void NAME_run(const float *a, const void *src, float *c, float *bp)
--         (b_panels, which needs a_packed) the same product; B comes
--         from fn(src, ...), bp is its block buffers, a is packed A. With
--         bias, one more parameter: const float *bias (M floats).
--   The emitted code uses GCC/Clang vector extensions (no intrinsics) and
--   dp_parallel_for (dpgen.h, through par_for of lib.parallel): NAME_run
--   shares the panels of C among threads, NAME_pack_b the panels of B; ws
--   is still one MC x KC block of A, packed by the caller's thread and
--   read by all (no per-thread buffers, so workspace sizes do not depend
--   on the thread count).
--
-- Design (GotoBLAS/BLIS): B is packed once into NR-column panels, K in
-- blocks of KC rows; per call, an MC x KC block of A is packed into MR-row
-- panels. The micro-kernel keeps an MR x NR block of C in MR * NR/8
-- vector registers (8 floats each) and runs over KC with one broadcast of
-- A per row and NR/8 loads of B per step (default block 6 x 16).
-- B panels are zero-padded to NR; the leftover rows (M % MR) and columns
-- (N % NR) get micro-kernels of their own size (no scratch tile). Each
-- micro-kernel prefetches its block of C before the k loop. With fewer
-- than PACK_A_MIN_PANELS panels of B per sweep A is not packed: the
-- micro-kernel broadcasts from its rows in place (ws unused).
-- b_panels (implicit B, e.g. im2col's column matrix): A is packed once
-- ahead of time and B one KC x NC block (at most B_JIT_BYTES, to stay in
-- L2) at a time, just before the sweep of A over it. Threads then share
-- fixed slots (runs of NC blocks by parts of the rows of A), each with its
-- own block buffer, so one par_for per call and no per-thread state.
-- With b_rows, panels that exist somewhere already are read there
-- through a row-offset table instead of being copied. None of this
-- changes the emitted code of a spec that does not ask for it.
-- The machine class: 32 KiB L1d, 512 KiB L2 per core, AVX2 + FMA.
local parallel = require("lib.parallel")

local M = {}

M.ALIGN_FLOATS = 16

-- Floats per vector: 8 (32 bytes, AVX2). The machines of this class that
-- were measured expose AVX2 + FMA but not AVX-512 (gcc -march=native says
-- znver3): a 16-lane vector would be split into two halves and, with only
-- 16 vector registers, spilled.
local LANES = 8
local L2_BYTES = 512 * 1024
local A_BLOCK_BYTES = L2_BYTES // 4    -- MC x KC of A: a quarter of L2
local B_BLOCK_BYTES = 8 * 1024 * 1024  -- KC x NC of packed B
local PACK_A_MIN_PANELS = 16           -- see plan()
local KC_MAX = 256            -- a KC x NR panel of B: 16 KiB, half of L1
local KC_SINGLE = 384         -- up to this depth K is one block
-- b_panels: the KC x NC block of B packed just in time stays in L2 next
-- to the A block (A_BLOCK_BYTES) while every panel of it is swept.
local B_JIT_BYTES = 160 * 1024
-- b_panels with at least this many NC blocks: threads share runs of whole
-- blocks, this many runs, each with its own block buffer.
local JIT_SLOTS = 8
-- With fewer blocks than slots, slots also split the rows of A, into
-- parts of at least this many rows (each part packs its own copy of the
-- block of B: cheap next to the product once the part is this tall).
local JIT_SLOT_ROWS = 128
local JIT_NC_MAX = 4096       -- 256 panels of 16

local function ceil_div(a, b) return (a + b - 1) // b end
local function round_up(a, b) return ceil_div(a, b) * b end

-- Relative speed of an MR x 16 block: fewer rows means more loads of B per
-- multiply-add and fewer independent accumulators to hide FMA latency.
-- Rows above 6 would need more than the 16 vector registers (MR x 2
-- accumulators, 2 of B, 1 broadcast).
local MR_SPEED = { 0.3, 0.55, 0.75, 0.9, 0.95, 1.0 }

-- The MR that minimizes the time of M rows: full MR-row panels at the
-- speed of MR plus the M % MR leftover rows, which get a block of their
-- own height (no padding), at its speed. Ties go to the larger MR.
local function pick_mr(m)
	local best, best_cost
	for mr = math.min(#MR_SPEED, m), 1, -1 do
		local tail = m % mr
		local cost = (m - tail) / MR_SPEED[mr] +
			(tail > 0 and tail / MR_SPEED[tail] or 0)
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
	-- Few rows: widen the block so there are still enough accumulators;
	-- at most 8 columns: one vector, no multiply-adds on padding.
	if spec.nr then
		p.nr = spec.nr
	elseif n <= LANES then
		p.nr = LANES
	elseif p.mr <= 2 and n > 2 * LANES then
		p.nr = 4 * LANES
	else
		p.nr = 2 * LANES
	end
	assert(p.nr % LANES == 0, "gemm: nr must be a multiple of " .. LANES)
	p.nv = p.nr // LANES
	-- KC: K in equal blocks of at most KC_MAX (one block up to KC_SINGLE),
	-- so no block is a short leftover.
	if k <= KC_SINGLE then
		p.kc = k
	else
		p.kc = ceil_div(k, ceil_div(k, KC_MAX))
	end
	-- NC: B is packed once, ahead of time, so the only limit on the KC x
	-- NC block one A block sweeps is the outer cache: in practice all of N.
	p.np = round_up(n, p.nr)
	p.b_panels = spec.b_panels
	p.a_packed = spec.a_packed and true or false
	p.bias = spec.bias and true or false
	p.b_rows = spec.b_rows and true or false
	assert(not p.b_rows or (p.b_panels and p.bias),
		"gemm: b_rows comes with b_panels and bias")
	assert(not p.bias or (p.b_panels and not p.accumulate),
		"gemm: bias comes with b_panels and accumulate = false")
	local b_bytes = p.b_panels and B_JIT_BYTES or B_BLOCK_BYTES
	local nc_max = math.max(p.nr, b_bytes // (p.kc * 4) // p.nr * p.nr)
	-- b_rows: a pointer and an offset table per panel on the stack.
	if p.b_panels then nc_max = math.min(nc_max, JIT_NC_MAX) end
	local nblocks = ceil_div(p.np, nc_max)
	p.nc = round_up(ceil_div(p.np, nblocks), p.nr)
	-- b_panels: threads take whole blocks (slots): SN runs of NC blocks
	-- by SM parts of the rows of A (see JIT_SLOTS, JIT_SLOT_ROWS).
	p.slots_n, p.slots_m, p.slot_rows = 1, 1, m
	if p.b_panels then
		local nb = ceil_div(p.np, p.nc)
		if nb >= JIT_SLOTS then
			p.slots_n = JIT_SLOTS
		else
			p.slots_n = nb
			local sm = math.max(1, math.min(m // JIT_SLOT_ROWS, ceil_div(JIT_SLOTS, nb)))
			p.slot_rows = round_up(ceil_div(m, sm), p.mr)
			p.slots_m = ceil_div(m, p.slot_rows)
		end
	end
	p.slots = p.slots_n * p.slots_m
	-- Packing A costs about as much per element as one micro-kernel pass
	-- over it, and buys contiguous reads: worth it only when each packed
	-- block serves several NR-column panels. With few panels the
	-- micro-kernel broadcasts straight from the rows of A.
	if p.a_packed then
		p.pack_a = true
	elseif spec.pack_a ~= nil then
		p.pack_a = spec.pack_a and true or false
	else
		p.pack_a = p.nc // p.nr >= PACK_A_MIN_PANELS
	end
	-- MC: the A block (packed or not) takes at most A_BLOCK_BYTES of L2,
	-- leaving room for the B panels streaming through; equal blocks.
	local mc_max = math.max(p.mr, A_BLOCK_BYTES // (p.kc * 4) // p.mr * p.mr)
	local mblocks = ceil_div(m, mc_max)
	p.mc = round_up(ceil_div(m, mblocks), p.mr)
	p.mp = round_up(m, p.mr)
	-- Leftover rows (the last A block only) and columns (the last panel).
	p.mt = m % p.mr
	p.nt = n % p.nr
	p.m_ragged = p.mt ~= 0
	p.n_ragged = p.nt ~= 0
	return p
end

function M.packed_b_floats(spec)
	local p = M.plan(spec)
	if p.b_panels then return p.slots * p.kc * p.nc end
	return p.k * p.np
end

function M.workspace_floats(spec)
	local p = M.plan(spec)
	return (p.pack_a and not p.a_packed) and p.mc * p.kc or 0
end

function M.packed_a_floats(spec)
	local p = M.plan(spec)
	-- b_rows: the narrow-edge kernels load a step of a panel as a whole
	-- vector, so the last step reads LANES - MR floats past the end.
	return p.mp * p.k + (p.b_rows and LANES or 0)
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
	e:line("\t/* Register block: %d rows (fastest for M, leftover rows apart)",
		p.mr)
	e:line("\t * by %d columns (%d vectors): %d accumulators. */", p.nr, p.nv,
		p.mr * p.nv)
	e:line("\t%s_MR = %d, %s_NR = %d,", P, p.mr, P, p.nr)
	e:line("\t/* Depth of a block: a KC x NR panel of B stays in L1. */")
	e:line("\t%s_KC = %d,", P, p.kc)
	e:line("\t/* Rows of A per block (at most L2 / 4), columns of B per sweep")
	if p.b_panels then
		e:line("\t * (B is packed a KC x NC block at a time, just in time: the")
		e:line("\t * block stays in L2, %d KiB at most).", B_JIT_BYTES // 1024)
		e:line("\t * A is %s. */", p.a_packed and "packed once, ahead of time" or
			(p.pack_a and "packed" or "read in place (few panels of B)"))
	else
		e:line("\t * (B is packed ahead of time: all of N up to 8 MiB).")
		e:line("\t * A is %s. */",
			p.pack_a and "packed" or "read in place (few panels of B)")
	end
	e:line("\t%s_MC = %d, %s_NC = %d,", P, p.mc, P, p.nc)
	if p.a_packed then
		e:line("\t/* M rounded up to MR: the height of packed A. */")
		e:line("\t%s_MP = %d,", P, p.mp)
	end
	if p.b_panels then
		if p.slots > 1 then
			e:line("\t/* Block buffers of B, one per slot: threads share the")
			e:line("\t * slots, SLOTS_N runs of whole NC blocks by SLOTS_M parts")
			e:line("\t * of SLOT_ROWS rows of A. */")
		else
			e:line("\t/* Block buffers of B: one; threads share its panels. */")
		end
		e:line("\t%s_SLOTS_N = %d, %s_SLOTS_M = %d, %s_SLOT_ROWS = %d,", P, p.slots_n,
			P, p.slots_m, P, p.slot_rows)
		e:line("\t%s_SLOTS = %s_SLOTS_N * %s_SLOTS_M,", P, P, P)
	end
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
		"are zero, so the micro-kernel never tests for the edge. Panels",
		"[j0, j1) (in units of NR): a copy, shared among threads.",
	})
	e:line("struct %s_pack_job { const float *b; float *bp; };", pre)
	e:line()
	e:line("static void %s_pack_b_panels(void *ctx, int j0, int j1)", pre)
	e:open("{")
	e:line("const struct %s_pack_job *job = ctx;", pre)
	e:line("const float *restrict b = job->b;")
	e:line("float *restrict bp = job->bp;")
	e:open("for (int pc = 0; pc < %s_K; pc += %s_KC) {", P, P)
	e:line("const int kc = %s_min(%s_KC, %s_K - pc);", pre, P, P)
	e:open("for (int j = j0 * %s_NR; j < j1 * %s_NR; j += %s_NR) {", P, P, P)
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
	e:line("static void %s_pack_b(const float *b, float *bp)", pre)
	e:open("{")
	e:line("struct %s_pack_job job = { b, bp };", pre)
	e:line("par_for(%s_NP / %s_NR, (double)%s_K * %s_NP, %s_pack_b_panels, &job);",
		P, P, P, P, pre)
	e:close("}")
	e:line()
end

-- b_panels: the caller packs B; NAME_run calls it through this job, on
-- the panels of one KC x NC block, shared among threads.
local function emit_pack_b_jit(e, pre, P, p)
	local ind = string.rep(" ", #p.b_panels + 1)
	if p.b_rows then
		e:line("/* B is packed by the caller, one KC x NC block at a time, or its")
		e:line(" * panels read where they are: panel j's row q is the NR floats at")
		e:line(" * pb[j] + po[j][q]. */")
		e:line("static void %s(const void *ctx, float *bp, int pc, int kc, int j0, int j1,",
			p.b_panels)
		e:line("%sconst float **pb, const int **po);", string.rep(" ", #p.b_panels + 13))
		e:line()
		e:line("struct %s_pack_job {", pre)
		e:line("	const void *src;")
		e:line("	float *bp;")
		e:line("	const float **pb;")
		e:line("	const int **po;")
		e:line("	int pc, kc, j0;")
		e:line("};")
	else
		e:line("/* B is packed by the caller, one KC x NC block at a time. */")
		e:line("static void %s(const void *ctx, float *bp, int pc, int kc, int j0, int j1);",
			p.b_panels)
		e:line()
		e:line("struct %s_pack_job { const void *src; float *bp; int pc, kc, j0; };",
			pre)
	end
	e:line()
	e:line("static void %s_pack_b_panels(void *ctx, int begin, int end)", pre)
	e:open("{")
	e:line("const struct %s_pack_job *job = ctx;", pre)
	e:line("%s(job->src, job->bp + begin * job->kc * %s_NR, job->pc, job->kc,",
		p.b_panels, P)
	if p.b_rows then
		e:line("%sjob->j0 + begin, job->j0 + end, job->pb + begin, job->po + begin);",
			ind)
	else
		e:line("%sjob->j0 + begin, job->j0 + end);", ind)
	end
	e:close("}")
	e:line()
end

local function emit_pack_a(e, pre, P, p)
	if not p.pack_a then return end
	e:comment({
		"Rows ic.. ic+mc-1, columns pc.. pc+kc-1 of A into panels of MR rows,",
		"each kc x MR stored step by step, so the micro-kernel reads MR",
		"consecutive floats per step. Written in that order too (the MR rows",
		"are read side by side). A last panel of fewer rows leaves the rest",
		"of its steps unwritten: its micro-kernel reads only its own rows.",
	})
	head(e, string.format(
		"static void %s_pack_a(const float *restrict a, float *restrict ap,", pre),
		"int ic, int mc, int pc, int kc)")
	e:open("{")
	e:open("for (int i = 0; i < mc; i += %s_MR) {", P)
	e:line("float *restrict dst = ap + i * kc;")
	e:line("const float *restrict src = a + (ic + i) * %s_LDA + pc;", P)
	local function body(rows)
		e:open("for (int q = 0; q < kc; q++) {")
		for r = 0, rows - 1 do
			e:line("dst[q * %s_MR + %d] = src[%s + q];", P, r,
				r == 0 and "0" or string.format("%d * %s_LDA", r, P))
		end
		e:close("}")
	end
	if p.m_ragged then
		e:open("if (mc - i < %s_MR) {", P)
		body(p.mt)
		e:line("break;")
		e:close("}")
	end
	body(p.mr)
	e:close("}")
	e:close("}")
	e:line()
	if not p.a_packed then return end
	e:comment({
		"All of A, once (the caller keeps it): block pc of KC columns at",
		"ap + pc * MP, its MR-row panels one after the other, as NAME_pack_a",
		"lays out one block.",
	})
	e:line("static void %s_pack_a_all(const float *restrict a, float *restrict ap)",
		pre)
	e:open("{")
	e:single(string.format("for (int pc = 0; pc < %s_K; pc += %s_KC)", P, P),
		string.format("%s_pack_a(a, ap + pc * %s_MP, 0, %s_M, pc,\n%s%s_min(%s_KC, %s_K - pc));",
			pre, P, P, string.rep("\t", e.depth + 1) .. string.rep(" ", #pre + 8), pre, P, P))
	e:close("}")
	e:line()
end

-- Offset of column col of row r of C: "2 * GEMM_LDC + 16".
local function c_offset(P, r, col)
	local parts = {}
	if r == 1 then
		parts[#parts + 1] = P .. "_LDC"
	elseif r > 1 then
		parts[#parts + 1] = string.format("%d * %s_LDC", r, P)
	end
	if col > 0 then parts[#parts + 1] = tostring(col) end
	if #parts == 0 then return "0" end
	return table.concat(parts, " + ")
end

-- The micro-kernel NAME for a block of rows x cols (rows <= MR, cols <=
-- NR); the full block and the ragged edges each get their own, with the
-- sizes built in, so no block does work on padding rows or stores through
-- a scratch tile.
local function emit_micro(e, pre, P, p, fname, rows, cols)
	local V = pre .. "_vec"
	local U = pre .. "_uvec"
	local nv = ceil_div(cols, LANES)
	-- Row r of A at step q: packed, a[q * MR + r]; in place, a[r * LDA + q].
	local function a_at(r)
		if p.pack_a then return tostring(r) end
		if r == 0 then return "0" end
		return string.format("%d * %s_LDA", r, P)
	end
	if p.b_rows then
		head(e, string.format("static inline void %s(int kc, const float *restrict a,",
			fname), "const float *restrict b, const int *restrict bo,",
			"float *restrict c, int add, const float *restrict bias)")
	elseif p.bias then
		head(e, string.format("static inline void %s(int kc, const float *restrict a,",
			fname), "const float *restrict b, float *restrict c, int add,",
			"const float *restrict bias)")
	else
		head(e, string.format("static inline void %s(int kc, const float *restrict a,",
			fname), "const float *restrict b, float *restrict c, int add)")
	end
	e:open("{")
	-- Start fetching the block of C now: it is needed only after the kc
	-- steps, and it is usually out of L1 and L2.
	for r = 0, rows - 1 do
		for col = 0, cols - 1, 16 do
			e:line("__builtin_prefetch(c + %s, 1);", c_offset(P, r, col))
		end
		if cols - 1 > (cols - 1) // 16 * 16 then
			e:line("__builtin_prefetch(c + %s, 1);", c_offset(P, r, cols - 1))
		end
	end
	for r = 0, rows - 1 do
		local names = {}
		for v = 0, nv - 1 do
			names[#names + 1] = string.format("c%d_%d = { 0 }", r, v)
		end
		e:line("%s %s;", V, table.concat(names, ", "))
	end
	if p.bias then
		-- The first block of depth starts from the bias (and stores).
		e:open("if (!add) {")
		for r = 0, rows - 1 do
			local names = {}
			for v = 0, nv - 1 do
				names[#names + 1] = string.format("c%d_%d = ", r, v)
			end
			e:line("%sbias[%d] - (%s){ 0 };", table.concat(names), r, V)
		end
		e:close("}")
	end
	e:open("for (int q = 0; q < kc; q++) {")
	if p.b_rows then e:line("const float *restrict bq = b + bo[q];") end
	for v = 0, nv - 1 do
		e:line("const %s b%d = *(const %s *)(%s + %d);", V, v, U,
			p.b_rows and "bq" or "b", v * LANES)
	end
	for r = 0, rows - 1 do
		e:line("const %s a%d = a[%s] - (%s){ 0 };", V, r, a_at(r), V)
		local fmas = {}
		for v = 0, nv - 1 do
			fmas[#fmas + 1] = string.format("c%d_%d += a%d * b%d;", r, v, r, v)
		end
		e:line("%s", table.concat(fmas, " "))
	end
	e:line("a += %s;", p.pack_a and P .. "_MR" or "1")
	if not p.b_rows then e:line("b += %s_NR;", P) end
	e:close("}")
	-- The store: whole vectors, then the lanes of a last partial one.
	local function store(op)
		for r = 0, rows - 1 do
			for v = 0, nv - 1 do
				local col = v * LANES
				if col + LANES <= cols then
					e:line("*(%s *)(c + %s) %s c%d_%d;", U, c_offset(P, r, col),
						op, r, v)
				else
					for x = col, cols - 1 do
						e:line("c[%s] %s c%d_%d[%d];", c_offset(P, r, x), op, r, v,
							x - col)
					end
				end
			end
		end
	end
	e:open("if (add) {")
	store("+=")
	e:close("} else {")
	e.depth = e.depth + 1
	store("=")
	e:close("}")
	e:close("}")
	e:line()
end

-- b_rows, the last panel when it is at most NARROW_COLS wide: vectors run
-- down the rows of the block instead (one step of a packed A panel, MR
-- floats, is one vector load; each column's B value one broadcast), so
-- a column costs one multiply-add per step, not one per row. u chains
-- per column (steps q = u' mod u) hide the multiply-add latency; they are
-- summed in a fixed order, so results still do not depend on threads.
local NARROW_COLS = 2   -- measured: 1 column 1.09x faster, 4 columns 0.98x

local function emit_micro_narrow(e, pre, P, p, fname, rows, cols)
	local V = pre .. "_vec"
	local U = pre .. "_uvec"
	local u = math.max(1, 4 // cols)
	head(e, string.format("static inline void %s(int kc, const float *restrict a,",
		fname), "const float *restrict b, const int *restrict bo,",
		"float *restrict c, int add, const float *restrict bias)")
	e:open("{")
	for x = 0, cols - 1 do
		local names = {}
		for k = 0, u - 1 do names[#names + 1] = string.format("s%d_%d = { 0 }", x, k) end
		e:line("%s %s;", V, table.concat(names, ", "))
	end
	e:line("int q = 0;")
	local function step(k)
		local qk = k > 0 and "(q + " .. k .. ")" or "q"
		e:line("const %s a%d = *(const %s *)(a + %s * %s_MR);", V, k, U, qk, P)
		for x = 0, cols - 1 do
			e:line("s%d_%d += a%d * (b[bo[%s]%s] - (%s){ 0 });", x, k, k,
				k > 0 and "q + " .. k or "q", x > 0 and " + " .. x or "", V)
		end
	end
	if u > 1 then
		e:open("for (; q + %d <= kc; q += %d) {", u, u)
		for k = 0, u - 1 do step(k) end
		e:close("}")
	end
	e:open("for (; q < kc; q++) {")
	step(0)
	e:close("}")
	-- The chains in a fixed order, then the bias or C.
	for x = 0, cols - 1 do
		local sum = string.format("s%d_0", x)
		for k = 1, u - 1 do sum = string.format("%s + s%d_%d", sum, x, k) end
		if u > 1 then e:line("s%d_0 = %s;", x, sum) end
	end
	e:open("for (int r = 0; r < %d; r++) {", rows)
	for x = 0, cols - 1 do
		e:line("float *restrict cr%d = c + r * %s_LDC + %d;", x, P, x)
	end
	for x = 0, cols - 1 do
		e:line("*cr%d = (add ? *cr%d : bias[r]) + s%d_0[r];", x, x, x)
	end
	e:close("}")
	e:close("}")
	e:line()
end

local function emit_micros(e, pre, P, p)
	local lines = {
		string.format("The register block: c[%d x %d] (+)= the kc-step product of",
			p.mr, p.nr),
	}
	if p.b_rows then
		lines[#lines + 1] = "a packed A panel (kc x MR) and a B panel (kc x NR) whose row q is"
		lines[#lines + 1] = "the NR floats at b + bo[q], in registers. The first block of depth"
		lines[#lines + 1] = "(add == 0) starts from the bias of each row."
	elseif p.pack_a then
		lines[#lines + 1] = "a packed A panel (kc x MR) and a B panel (kc x NR), in registers."
	else
		lines[#lines + 1] = "MR rows of A, read in place (row stride LDA), and a B panel"
		lines[#lines + 1] = "(kc x NR), in registers."
	end
	for _, l in ipairs({
		"A broadcast is written x - (vec){0}: both gcc and clang make it one",
		"broadcast from memory (x + (vec){0} keeps a stray add; filling the",
		"lanes one by one makes gcc emit a broadcast per lane).",
	}) do lines[#lines + 1] = l end
	e:comment(lines)
	emit_micro(e, pre, P, p, pre .. "_micro", p.mr, p.nr)
	if p.m_ragged then
		emit_micro(e, pre, P, p, pre .. "_micro_mt", p.mt, p.nr)
	end
	local narrow = p.b_rows and p.nt <= NARROW_COLS
	local edge = narrow and emit_micro_narrow or emit_micro
	if narrow and p.n_ragged then
		e:comment({
			string.format("The last panel, %d column%s: vectors down the rows (see", p.nt,
				p.nt > 1 and "s" or ""),
			"emit_micro_narrow in lib/gemm.lua); the sum of each output is",
			"bias + the kc-step products (C + them after the first block).",
		})
	end
	if p.n_ragged then
		edge(e, pre, P, p, pre .. "_micro_nt", p.mr, p.nt)
	end
	if p.m_ragged and p.n_ragged then
		edge(e, pre, P, p, pre .. "_micro_mt_nt", p.mt, p.nt)
	end
end

-- The row loop over one NR-column panel: the MR-row blocks [i0, i1) of
-- full height, then the leftover rows of the last A block if the range
-- reaches them.
local function emit_rows(e, pre, P, p, suffix)
	local a_expr = p.pack_a and "ap + i * kc" or
		string.format("a + (ic + i) * %s_LDA + pc", P)
	local c_expr = string.format("c + (ic + i) * %s_LDC + j", P)
	e:open("for (int i = i0; i < i1; i += %s_MR)", P)
	local bias_arg = p.bias and ", g->bias + ic + i" or ""
	local panel = p.b_rows and "panel, bo" or "panel"
	local function call(fname)
		if p.b_rows then
			e:line("%s(kc, %s, %s,", fname, a_expr, panel)
			e:line("%s%s, add%s);", string.rep(" ", #fname + 1), c_expr, bias_arg)
		else
			e:line("%s(kc, %s, %s, %s, add%s);", fname, a_expr, panel, c_expr,
				bias_arg)
		end
	end
	call(pre .. "_micro" .. suffix)
	e.depth = e.depth - 1
	if p.m_ragged then
		e:open("if (b1 * %s_MR > mfull) {", P)
		e:line("const int i = mfull;")
		call(pre .. "_micro_mt" .. suffix)
		e:close("}")
	end
end

-- One block of the loop nest as a job of dp_parallel_for: item it is the
-- NR-column panel it / mb of the block and its MR-row block it % mb, so
-- threads share packed A and B and each writes its own blocks of C, each
-- by the same micro-kernel call whatever the partition (results do not
-- depend on the thread count).
local function emit_items(e, pre, P, p)
	e:line("struct %s_job {", pre)
	e:line("	const float *a, *bp;")
	if p.b_rows then
		e:line("	const float *const *pb;")
		e:line("	const int *const *po;")
	end
	if p.bias then e:line("	const float *bias;") end
	e:line("	float *c;")
	e:line("	int jc, pc, kc, ic, mc, mfull, add, mb;")
	e:line("};")
	e:line()
	e:line("static void %s_items(void *ctx, int begin, int end)", pre)
	e:open("{")
	e:line("const struct %s_job *g = ctx;", pre)
	e:line("const float *restrict %s = g->a;", p.pack_a and "ap" or "a")
	e:line("float *restrict c = g->c;")
	e:line("const int kc = g->kc, ic = g->ic, add = g->add;")
	if not p.pack_a then e:line("const int pc = g->pc;") end
	if p.m_ragged then e:line("const int mfull = g->mfull;") end
	e:open("for (int it = begin; it < end; ) {")
	e:line("const int j = g->jc + it / g->mb * %s_NR;", P)
	e:line("const int b0 = it % g->mb;")
	e:line("const int b1 = %s_min(g->mb, b0 + end - it);", pre)
	if p.b_rows then
		e:line("const float *restrict panel = g->pb[(j - g->jc) / %s_NR];", P)
		e:line("const int *restrict bo = g->po[(j - g->jc) / %s_NR];", P)
	elseif p.b_panels then
		e:line("const float *restrict panel = g->bp + (j - g->jc) * kc;")
	else
		e:line("const float *restrict panel = g->bp + g->pc * %s_NP + j * kc;", P)
	end
	e:line("const int i0 = b0 * %s_MR, i1 = %s;", P,
		p.m_ragged and string.format("%s_min(b1 * %s_MR, mfull)", pre, P) or
		string.format("b1 * %s_MR", P))
	e:line("it += b1 - b0;")
	if p.n_ragged then
		e:open("if (j + %s_NR > %s_N) {   /* the last, partial panel */", P, P)
		emit_rows(e, pre, P, p, "_nt")
		e:line("continue;")
		e:close("}")
	end
	emit_rows(e, pre, P, p, "")
	e:close("}")
	e:close("}")
	e:line()
end

-- b_panels: per KC x NC block, the caller packs B (threads share the
-- panels), then the blocks of A sweep it as in emit_run. With SLOTS > 1
-- the threads share whole NC blocks instead: SLOTS runs of consecutive
-- blocks, each with a block buffer of its own (a fixed count, so the
-- workspace does not depend on the thread count), and the par_for calls
-- inside a run are nested, so serial.
-- The job of one MC x KC block of A against the panels jc..jend of B:
-- its fields, then one par_for over its (panel, MR-row block) items.
-- Both drivers (packed B ahead of time or just in time) end so.
local function emit_block_job(e, pre, P, p)
	e:line("g.jc = jc;")
	e:line("g.pc = pc;")
	e:line("g.kc = kc;")
	e:line("g.ic = ic;")
	e:line("g.mc = mc;")
	if p.m_ragged then
		e:line("g.mfull = mc / %s_MR * %s_MR;", P, P)
	else
		e:line("g.mfull = mc;")
	end
	e:line("g.add = add;")
	e:line("g.mb = (mc + %s_MR - 1) / %s_MR;", P, P)
	e:line("par_for((jend - jc) / %s_NR * g.mb, 2.0 * mc * kc * (jend - jc),", P)
	e:line("        %s_items, &g);", pre)
end

local function emit_run_jit(e, pre, P, p)
	assert(p.a_packed, "gemm: b_panels needs a_packed")
	e:line("struct %s_args {", pre)
	e:line("	const float *ap;")
	e:line("	const void *src;")
	e:line("	float *c, *bp;")
	if p.bias then e:line("	const float *bias;") end
	e:line("};")
	e:line()
	e:comment({
		string.format("Columns [jc, jc + NC), rows [m0, m1) of C %s A * B, B packed",
			p.accumulate and "+=" or (p.bias and "= bias +" or "=")),
		"here by",
		string.format("%s(src, ...) into bp a KC x NC block at a time, A packed",
			p.b_panels),
		string.format("by %s_pack_a_all. Loops, outer to inner: KC steps of depth", pre),
		"(pack the block of B: its",
		"panels shared among threads), MC rows of A, then the NR-column",
		"panels of B x MR-row blocks of A of the block, shared among threads.",
	})
	head(e, string.format("static void %s_block(const struct %s_args *r, float *bp, int jc,",
		pre, pre), "int m0, int m1)")
	e:open("{")
	e:line("const int jend = %s_min(jc + %s_NC, %s_NP);", pre, P, P)
	if p.bias then
		e:line("struct %s_job g = { .bp = bp, .c = r->c, .bias = r->bias };", pre)
	else
		e:line("struct %s_job g = { .bp = bp, .c = r->c };", pre)
	end
	if p.b_rows then
		e:line("const float *pb[%s_NC / %s_NR];", P, P)
		e:line("const int *po[%s_NC / %s_NR];", P, P)
		e:line("struct %s_pack_job pj = { .src = r->src, .bp = bp, .pb = pb, .po = po,",
			pre)
		e:line("                          .j0 = jc / %s_NR };", P)
		e:line("g.pb = pb;")
		e:line("g.po = po;")
	else
		e:line("struct %s_pack_job pj = { .src = r->src, .bp = bp, .j0 = jc / %s_NR };",
			pre, P)
	end
	e:open("for (int pc = 0; pc < %s_K; pc += %s_KC) {", P, P)
	e:line("const int kc = %s_min(%s_KC, %s_K - pc);", pre, P, P)
	if p.accumulate then
		e:line("const int add = 1;   /* C += A * B */")
	else
		e:line("const int add = pc > 0;   /* the first block sets C */")
	end
	e:line("pj.pc = pc;")
	e:line("pj.kc = kc;")
	e:line("par_for((jend - jc) / %s_NR, (double)kc * (jend - jc), %s_pack_b_panels,",
		P, pre)
	e:line("        &pj);")
	e:open("for (int ic = m0; ic < m1; ic += %s_MC) {", P)
	e:line("const int mc = %s_min(%s_MC, m1 - ic);", pre, P)
	e:line("g.a = r->ap + pc * %s_MP + ic * kc;", P)
	emit_block_job(e, pre, P, p)
	e:close("}")
	e:close("}")
	e:close("}")
	e:line()
	local nblocks = ceil_div(p.np, p.nc)
	if p.slots > 1 then
		e:comment({
			string.format("Slots [begin, end): slot s computes the NC blocks [n * %d / SLOTS_N,",
				nblocks),
			string.format("(n + 1) * %d / SLOTS_N), n = s / SLOTS_M, rows [t * SLOT_ROWS,", nblocks),
			"(t + 1) * SLOT_ROWS), t = s % SLOTS_M, packing B into a block",
			"buffer of its own. The slots are fixed, so each output is computed",
			"the same way whatever the thread count.",
		})
		e:line("static void %s_slots(void *ctx, int begin, int end)", pre)
		e:open("{")
		e:line("const struct %s_args *r = ctx;", pre)
		e:open("for (int s = begin; s < end; s++) {")
		e:line("const int n = s / %s_SLOTS_M, t = s %% %s_SLOTS_M;", P, P)
		e:line("const int m0 = t * %s_SLOT_ROWS, m1 = %s_min(m0 + %s_SLOT_ROWS, %s_M);",
			P, pre, P, P)
		e:line("float *bp = r->bp + s * %s_KC * %s_NC;", P, P)
		e:single(string.format("for (int b = n * %d / %s_SLOTS_N; b < (n + 1) * %d / %s_SLOTS_N; b++)",
				nblocks, P, nblocks, P),
			string.format("%s_block(r, bp, b * %s_NC, m0, m1);", pre, P))
		e:close("}")
		e:close("}")
		e:line()
	end
	e:comment({
		string.format("C %s A * B: see %s_block. bp: %s.",
			p.accumulate and "+=" or (p.bias and "= bias +" or "="), pre,
			p.slots > 1 and "SLOTS block buffers" or "one block buffer"),
	})
	local params = { "float *restrict c, float *restrict bp" }
	if p.bias then
		params[1] = params[1] .. ","
		params[2] = "const float *restrict bias)"
	else
		params[1] = params[1] .. ")"
	end
	head(e, string.format(
		"static void %s_run(const float *restrict ap, const void *src,", pre),
		table.unpack(params))
	e:open("{")
	e:line("struct %s_args r = { ap, src, c, bp%s };", pre,
		p.bias and ", bias" or "")
	if p.slots > 1 then
		e:line("par_for(%s_SLOTS, 2.0 * %s_M * %s_K * %s_NP, %s_slots, &r);",
			P, P, P, P, pre)
	else
		e:single(string.format("for (int jc = 0; jc < %s_NP; jc += %s_NC)", P, P),
			string.format("%s_block(&r, bp, jc, 0, %s_M);", pre, P))
	end
	e:close("}")
	e:line()
end

local function emit_run(e, pre, P, p)
	local lines = {
		string.format("C %s A * B with B packed by %s_pack_b%s",
			p.accumulate and "+=" or "=", pre,
			p.pack_a and " and ws holding MC x KC" or " (ws unused: A is read"),
		p.pack_a and "floats of packed A. Loops, outer to inner: NC columns of B,"
			or "in place). Loops, outer to inner: NC columns of B,",
		"KC steps of depth, MC rows of A" .. (p.pack_a and " (packed here)" or "") ..
			", then the NR-column panels",
		"of B x MR-row blocks of A of the block, shared among threads.",
	}
	e:comment(lines)
	head(e, string.format(
		"static void %s_run(const float *restrict a, const float *restrict bp,",
		pre), "float *restrict c, float *restrict ws)")
	e:open("{")
	if p.pack_a then
		e:line("float *restrict ap = ws;")
		e:line("struct %s_job g = { .a = ap, .bp = bp, .c = c };", pre)
	else
		e:line("struct %s_job g = { .a = a, .bp = bp, .c = c };", pre)
		e:line("(void)ws;")
	end
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
	if p.pack_a then
		e:line("%s_pack_a(a, ap, ic, mc, pc, kc);", pre)
	end
	emit_block_job(e, pre, P, p)
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
	assert(not p.a_packed or p.b_panels, "gemm: a_packed comes with b_panels")
	local pre = spec.name
	local P = string.upper(pre)
	parallel.emit(e)
	emit_types(e, pre, P, p)
	if p.b_panels then
		emit_pack_b_jit(e, pre, P, p)
	elseif spec.packs_b then
		e:line("/* %s packs nothing: it reads what %s_pack_b packed. */",
			pre, spec.packs_b)
		e:line()
	else
		emit_pack_b(e, pre, P, p)
	end
	emit_pack_a(e, pre, P, p)
	emit_micros(e, pre, P, p)
	emit_items(e, pre, P, p)
	if p.b_panels then
		emit_run_jit(e, pre, P, p)
	else
		emit_run(e, pre, P, p)
	end
	return p
end

return M
