-- conv_direct.lua - direct convolution specialized to one shape.
--
-- Design. Every size is a constant. execute() first copies the input into
-- a zero-padded buffer in the workspace, so every output is an interior
-- output and one mechanism serves all of them: no tests for the border,
-- whatever the padding. With stride st > 1 each padded row is stored as
-- st phase rows (phase p holds padded columns p, p + st, p + 2 st, ...), so
-- the inputs of 8 neighbouring outputs for one kernel tap are again 8
-- consecutive floats.
--
-- The work is vectorized across the output width (8 floats, GCC/Clang
-- vector extensions) and register-blocked: a block computes KB filters x
-- NV vectors of outputs in KB * NV accumulators, the NV vectors taken in
-- turn from the vectors of RB output rows, so a block may run from the end
-- of one row into the next. Per kernel tap it loads NV input vectors and
-- broadcasts KB weights, which prepare() has laid out
-- [filter block][c][i][j][KB] so the broadcasts read consecutive floats.
-- The block shape is chosen for the shape by a small cost model (plan
-- below). An output width that is not a multiple of 8 ends with a tail
-- vector: its lanes past the row read the zero padding, and only the
-- lanes inside the row are stored (memcpy). A tail of at most 4 lanes
-- shares its vector with the next row's tail (two 4-float halves), so a
-- width of 28 costs 3.5 vectors a row, not 4. For large C the channels go
-- in blocks whose weights stay in L1; blocks after the first add to the
-- outputs the previous one stored.
--
-- Threads: the padding copy is shared by channels, the outputs by (filter
-- block, row block) items through dp_parallel_for (dpgen.h), which keeps
-- small layers on the caller's thread. Each item is computed whole by one
-- thread in the serial order, so results are bitwise identical for every
-- thread count; the workspace (the padded image) is shared, read-only.
local emit = require("lib.emit")
local cexpr = require("lib.cexpr")
local kernel = require("lib.kernel")
local parallel = require("lib.parallel")

local M = {}

-- Floats per vector: 8 (AVX2; the machine class has no AVX-512, and 16
-- lanes would be split in two and spilled from the 16 vector registers).
local LANES = 8
local L1_BYTES = 32 * 1024

local function ceil_div(a, b) return (a + b - 1) // b end

-- The output vectors of one row: { x = first column, n = lanes used }:
-- full vectors at 0, 8, 16, ... and, when the width is not a multiple of
-- 8, a tail vector whose lanes past the row are computed from the zero
-- padding and never stored. (Not an overlapping last vector: with the
-- channels in blocks, each vector adds to what the previous block stored,
-- and overlapping outputs would be added twice.)
local function row_vectors(wo)
	local vecs = {}
	for x = 0, wo - 1, LANES do
		vecs[#vecs + 1] = { x = x, n = math.min(LANES, wo - x) }
	end
	return vecs
end

-- Blocks of at most `size` over n items: runs of { first, count, size }
-- (the full blocks, then one shorter block for the remainder).
local function runs(n, size)
	local r = {}
	local full = n // size
	if full > 0 then r[#r + 1] = { first = 0, count = full, size = size } end
	if n % size ~= 0 then
		r[#r + 1] = { first = full * size, count = 1, size = n % size }
	end
	return r
end

-- How a vector appears in block names: "16" (row 0, column 16), "24w4"
-- (a tail of 4 lanes), "24p4" (the tails of rows 0 and 1, 4 lanes each),
-- "y1_m8" (row 1, column -8).
local function vec_key(v)
	local x = v.x < 0 and "m" .. -v.x or tostring(v.x)
	local k = v.n == LANES and x or
		string.format(v.pair and "%sp%d" or "%sw%d", x, v.n)
	if v.dy > 0 then k = string.format("y%d_%s", v.dy, k) end
	return k
end

-- The output vectors of a block of rb rows, { dy, x, n } row by row,
-- split into groups of at most nvc vectors, as equal as possible. A group
-- may run from the end of one row into the next: its vectors need not be
-- neighbours, only each vector's 8 lanes. A tail of at most HALF lanes is
-- paired with the next row's tail ({ pair = true }: lanes 0..HALF-1 hold
-- row dy, lanes HALF.. row dy + 1), and the last row of an odd block keeps
-- a tail vector of its own. Each group is { dy0, x0, offs, key } with offs
-- its vectors relative to (dy0, x0), the first vector's place, and key the
-- name of that relative pattern: groups with the same key are one
-- register block called at different places.
local HALF = LANES // 2

local function row_groups(starts, rb, nvc)
	local all = {}
	for dy = 0, rb - 1 do
		for _, v in ipairs(starts) do
			if v.n > HALF then
				all[#all + 1] = { dy = dy, x = v.x, n = v.n }
			elseif dy % 2 == 0 and dy + 1 < rb then
				-- A tail of at most half a vector, with the next row's.
				all[#all + 1] = { dy = dy, x = v.x, n = v.n, pair = true }
			elseif dy % 2 == 0 then
				all[#all + 1] = { dy = dy, x = v.x, n = v.n }
			end
		end
	end
	local ngroups = ceil_div(#all, nvc)
	local groups, at = {}, 1
	for g = 1, ngroups do
		local take = ceil_div(#all - at + 1, ngroups - g + 1)
		local first = all[at]
		local grp = { dy0 = first.dy, x0 = first.x, offs = {} }
		local names = {}
		for v = at, at + take - 1 do
			local o = { dy = all[v].dy - first.dy, x = all[v].x - first.x,
				n = all[v].n, pair = all[v].pair }
			grp.offs[#grp.offs + 1] = o
			names[#names + 1] = vec_key(o)
		end
		grp.key = table.concat(names, "_")
		groups[#groups + 1] = grp
		at = at + take
	end
	return groups
end

-- Accumulators per register block. Eight is what the FMA latency needs
-- (4 cycles x 2 FMAs per cycle) and leaves gcc room: with 12, gcc 12 runs
-- short of the 16 vector registers and spills accumulators, or turns the
-- input loads into memory operands of every FMA (measured: 12
-- accumulators up to 2x slower than 8 with gcc, equal with clang; with
-- PIN below and no predictive commoning, still 10% slower).
local ACCUMULATORS = 8
local FMA_LATENCY = 4

-- Cycles of one kernel tap of a kb x nv block (npairs of the vectors
-- paired row tails) on the machine class: two FMAs per cycle, two loads
-- per cycle (one input vector per vector, one broadcast per filter; a
-- pair is two loads and a shuffle, counted as a load and an FMA slot),
-- and the FMA latency that each accumulator's chain must wait out. Two
-- loads, not three: the layers of bench_direct whose blocks went from
-- kb = 8, nv = 1 (9 loads per 8 FMAs) to kb = 4, nv = 2 (6 per 8) got
-- 15-30% faster (Zen 3).
local function tap_cycles(kb, nv, npairs)
	return math.max((kb * nv + npairs) / 2, (kb + nv + npairs) / 2,
		FMA_LATENCY)
end

-- Most register blocks (distinct functions) a kernel may have.
local MAX_BLOCKS = 8

-- The blocking for shape d: filters per block, output rows per block, the
-- vectors of a row block in groups of at most nvc; the cheapest by the
-- model above, counting the taps of every block, the loop overhead per
-- (channel, kernel row) and the bias loads and stores per block. Ties go
-- to more filters, then fewer rows and vectors.
local function plan(d)
	local starts = row_vectors(d.wo)
	local taps = d.c * d.r * d.s
	local best
	for kb = math.min(d.k, ACCUMULATORS), 1, -1 do
		for nvc = 1, ACCUMULATORS // kb do
			for rb = 1, math.min(d.ho, ACCUMULATORS) do
				local cost, distinct, nblocks = 0, {}, 0
				local rgroups = {}
				for _, rr in ipairs(runs(d.ho, rb)) do
					rgroups[rr.size] = row_groups(starts, rr.size, nvc)
				end
				for _, kr in ipairs(runs(d.k, kb)) do
					for _, rr in ipairs(runs(d.ho, rb)) do
						for _, g in ipairs(rgroups[rr.size]) do
							local nv, npairs = #g.offs, 0
							for _, o in ipairs(g.offs) do
								if o.pair then npairs = npairs + 1 end
							end
							local calls = kr.count * rr.count
							cost = cost + calls * (taps *
								tap_cycles(kr.size, nv, npairs) +
								d.c * d.r * 2 + kr.size * nv)
							local key = kr.size .. ":" .. g.key
							if not distinct[key] then
								distinct[key] = true
								nblocks = nblocks + 1
							end
						end
					end
				end
				if nblocks <= MAX_BLOCKS and
					(not best or cost < best.cost - 1e-9) then
					best = { cost = cost, kb = kb, rb = rb, nvc = nvc,
						rgroups = rgroups }
				end
			end
		end
	end
	best.starts = starts
	-- Channels per block: the block's weights (CB x R x S x KB floats) in
	-- half of L1, in blocks of equal size.
	local cb_max = math.max(1, (L1_BYTES // 2) // (4 * d.r * d.s * best.kb))
	local nblocks = ceil_div(d.c, cb_max)
	best.cb = ceil_div(d.c, nblocks)
	best.cblocked = nblocks > 1
	return best
end

-- Geometry of the padded, phase-split input.
local function geometry(d, p)
	local g = {}
	local st = d.stride
	-- Padded rows the outputs read.
	g.hp = (d.ho - 1) * st + d.r
	-- Floats per phase row: the last vector's last lane plus the furthest
	-- tap, in phase columns.
	g.wp = p.starts[#p.starts].x + LANES + (d.s - 1) // st
	g.row = st * g.wp
	g.plane = g.hp * g.row
	return g
end

-- The offset of `rows` rows of `unit` floats plus x columns, as it is
-- added to a pointer: "", " + 16", " + ROW - 8", " + 2 * ROW".
local function place(rows, unit, x)
	local parts = {}
	if rows == 1 then
		parts[1] = unit
	elseif rows > 1 then
		parts[1] = string.format("%d * %s", rows, unit)
	end
	local s = table.concat(parts)
	if x > 0 then
		s = s == "" and tostring(x) or string.format("%s + %d", s, x)
	elseif x < 0 then
		s = s == "" and tostring(x) or string.format("%s - %d", s, -x)
	end
	if s == "" then return "" end
	if s:sub(1, 1) == "-" then return " - " .. s:sub(2) end
	return " + " .. s
end

-- The name and body of one register block: kb filters x the vectors
-- offs of a group (row_groups).
local function block_name(kb, offs)
	local parts = {}
	for _, o in ipairs(offs) do parts[#parts + 1] = vec_key(o) end
	return string.format("block_f%d_x%s", kb, table.concat(parts, "_"))
end

local function emit_block(e, d, p, kb, offs)
	local st = d.stride
	local vecs = offs
	local nv = #vecs
	local name = block_name(kb, offs)
	local what = {}
	for _, v in ipairs(vecs) do
		if v.pair then
			what[#what + 1] = string.format("(%d-%d, %d: %d lanes each)",
				v.dy, v.dy + 1, v.x, v.n)
		elseif v.n < LANES then
			what[#what + 1] = string.format("(%d, %d: %d lanes)", v.dy, v.x, v.n)
		else
			what[#what + 1] = string.format("(%d, %d)", v.dy, v.x)
		end
	end
	e:comment({
		string.format("%d filter%s x %d vector%s of outputs at (row, column) %s",
			kb, kb == 1 and "" or "s", nv, nv == 1 and "" or "s",
			table.concat(what, " ")),
		string.format("relative to out: %d accumulators. in: padded input at",
			kb * nv),
		"the block's first row and column; w: the block's weights [c][i][j][f].",
	})
	local head = string.format("static NOINLINE void %s(", name)
	local pad = string.rep(" ", #head)
	e:line("%sconst float *restrict in, const float *restrict w,", head)
	if p.cblocked then
		e:line("%sconst float *restrict bias, float *restrict out,", pad)
		e:line("%sint c0, int c1)", pad)
	else
		e:line("%sconst float *restrict bias, float *restrict out)", pad)
	end
	e:open("{")
	local function dst_of(f, v, ddy)
		local off = cexpr.affine(nil, 0, f * d.ho * d.wo +
			(vecs[v + 1].dy + (ddy or 0)) * d.wo + vecs[v + 1].x)
		return off == "0" and "out" or "out + " .. off
	end
	for f = 0, kb - 1 do
		local names = {}
		for v = 0, nv - 1 do
			if v == 0 then
				names[#names + 1] = string.format("a%d_0 = bias[%d] - (vec){ 0 }",
					f, f)
			else
				names[#names + 1] = string.format("a%d_%d = a%d_0", f, v, f)
			end
		end
		e:line("vec %s;", table.concat(names, ", "))
	end
	if p.cblocked then
		e:line("/* Channels after the first block add to what is in out. */")
		e:open("if (c0 > 0) {")
		for f = 0, kb - 1 do
			for v = 0, nv - 1 do
				if vecs[v + 1].pair then
					e:line("memcpy(&a%d_%d, %s, %d * sizeof(float));", f, v,
						dst_of(f, v), vecs[v + 1].n)
					e:line("memcpy((float *)&a%d_%d + %d, %s, %d * sizeof(float));",
						f, v, HALF, dst_of(f, v, 1), vecs[v + 1].n)
				elseif vecs[v + 1].n < LANES then
					e:line("memcpy(&a%d_%d, %s, %d * sizeof(float));", f, v,
						dst_of(f, v), vecs[v + 1].n)
				else
					e:line("a%d_%d = *(const uvec *)(%s);", f, v, dst_of(f, v))
				end
			end
		end
		e:close("}")
		e:open("for (int c = c0; c < c1; c++) {")
	else
		e:open("for (int c = 0; c < C; c++) {")
	end
	e:open("for (int i = 0; i < R; i++) {")
	e:line("const float *restrict row = in + c * PLANE + i * ROW;")
	e:line("const float *restrict g = w + (c * R + i) * S * %d;", kb)
	-- One tap per loop iteration, the taps of each phase in turn: tap
	-- j = t * STRIDE + ph reads phase row ph from column t.
	for ph = 0, math.min(st, d.s) - 1 do
		local nt = ceil_div(d.s - ph, st)
		if nt > 1 then
			e:open("for (int t = 0; t < %d; t++) {", nt)
		else
			e:open("{")
		end
		local t = nil
		if nt > 1 then t = "t" end
		e:line("const float *restrict x = row + %s;",
			cexpr.affine(t, 1, ph * p.geo.wp))
		e:line("const float *restrict gt = g + %s;",
			cexpr.affine(t, st * kb, ph * kb))
		local function xload(v)
			local o = vecs[v + 1]
			local off = place(o.dy * st, "ROW", o.x)
			if o.pair then
				return string.format("PAIR(x%s, x%s)", off,
					place((o.dy + 1) * st, "ROW", o.x))
			end
			if off == "" then return "*(const uvec *)x" end
			return string.format("*(const uvec *)(x%s)", off)
		end
		local function wload(f)
			return string.format("gt[%d] - (vec){ 0 }", f)
		end
		if nv <= kb then
			-- Input vectors first, then one broadcast at a time.
			local xs = {}
			for v = 0, nv - 1 do
				xs[#xs + 1] = string.format("x%d = %s", v, xload(v))
			end
			if kb > 1 then
				e:line("vec %s;", table.concat(xs, ", "))
				local pins = {}
				for v = 0, nv - 1 do
					pins[#pins + 1] = string.format("PIN(x%d);", v)
				end
				e:line("%s", table.concat(pins, " "))
			else
				e:line("const vec %s;", table.concat(xs, ", "))
			end
			for f = 0, kb - 1 do
				local fmas = {}
				for v = 0, nv - 1 do
					fmas[#fmas + 1] = string.format("a%d_%d += wf * x%d;", f, v, v)
				end
				e:line("%s%s %s", f == 0 and "vec " or "", "wf = " .. wload(f) .. ";",
					table.concat(fmas, " "))
			end
		else
			-- Broadcasts first, then one input vector at a time.
			local ws = {}
			for f = 0, kb - 1 do
				ws[#ws + 1] = string.format("w%d = %s", f, wload(f))
			end
			e:line("const vec %s;", table.concat(ws, ", "))
			for v = 0, nv - 1 do
				local fmas = {}
				for f = 0, kb - 1 do
					fmas[#fmas + 1] = string.format("a%d_%d += w%d * xv;", f, v, f)
				end
				e:line("%sxv = %s;%s %s", v == 0 and "vec " or "", xload(v),
					kb > 1 and " PIN(xv);" or "", table.concat(fmas, " "))
			end
		end
		e:close("}")
	end
	e:close("}")
	e:close("}")
	for f = 0, kb - 1 do
		for v = 0, nv - 1 do
			local dst = dst_of(f, v)
			if vecs[v + 1].pair then
				e:line("memcpy(%s, &a%d_%d, %d * sizeof(float));", dst, f, v,
					vecs[v + 1].n)
				e:line("memcpy(%s, (float *)&a%d_%d + %d, %d * sizeof(float));",
					dst_of(f, v, 1), f, v, HALF, vecs[v + 1].n)
			elseif vecs[v + 1].n < LANES then
				e:line("memcpy(%s, &a%d_%d, %d * sizeof(float));", dst, f, v,
					vecs[v + 1].n)
			else
				e:line("*(uvec *)(%s) = a%d_%d;", dst, f, v)
			end
		end
	end
	e:close("}")
	e:line()
	return name
end

local function emit_constants(e, d, p)
	local g = p.geo
	e:line("/* The problem, as constants. */")
	e:line("enum {")
	e:line("\tN = %d, C = %d, H = %d, W = %d,", d.n, d.c, d.h, d.w)
	e:line("\tK = %d, R = %d, S = %d, STRIDE = %d, PAD_H = %d, PAD_W = %d,",
		d.k, d.r, d.s, d.stride, d.pad_h, d.pad_w)
	e:line("\tHO = %d, WO = %d,", d.ho, d.wo)
	e:line("\tWEIGHTS = K * C * R * S,")
	e:line("\t/* The padded input: HP rows of STRIDE phase rows of WP floats")
	e:line("\t * (phase p holds padded columns p, p + STRIDE, ...); WP reaches")
	e:line("\t * the last lane of the last output vector plus the widest tap. */")
	e:line("\tHP = %d, WP = %d, ROW = STRIDE * WP, PLANE = HP * ROW,", g.hp, g.wp)
	e:line("\t/* Register blocks: KB filters x up to %d vectors of a block of", p.nvc)
	e:line("\t * RB output rows (the cheapest for this shape). */")
	e:line("\tKB = %d, RB = %d,", p.kb, p.rb)
	e:line("\t/* Channels per block (weights of a block in half of L1). */")
	e:line("\tCB = %d", p.cb)
	e:line("};")
	e:line()
end

local function emit_types(e, pairs)
	e:line("/* gcc contracts a * b + c into one FMA only when told to: in ISO C")
	e:line(" * mode its default is -ffp-contract=off (clang contracts by default).")
	e:line(" * Predictive commoning would keep the input vectors of a block's")
	e:line(" * lower rows in registers for the next kernel row, which the 16")
	e:line(" * vector registers cannot afford: the accumulators get spilled. */")
	e:line("#if defined(__GNUC__) && !defined(__clang__)")
	e:line('#pragma GCC optimize("fp-contract=fast", "no-predictive-commoning")')
	e:line("#endif")
	e:line("/* PIN(v): an empty asm that takes v in a vector register (AVX: one")
	e:line(" * ymm register), so that gcc loads an input vector once for all the")
	e:line(" * FMAs that use it instead of making it a memory operand of each.")
	e:line(" * NOINLINE: each register block")
	e:line(" * is compiled alone (inlined into one function, gcc shares the")
	e:line(" * broadcasts of different blocks and spills them). */")
	e:line("#if defined(__GNUC__) && defined(__AVX__)")
	e:line('#define PIN(v) __asm__("" : "+x"(v))')
	e:line("#else")
	e:line("#define PIN(v) ((void)(v))")
	e:line("#endif")
	e:line("#if defined(__GNUC__)")
	e:line("#define NOINLINE __attribute__((noinline))")
	e:line("#else")
	e:line("#define NOINLINE")
	e:line("#endif")
	e:line("typedef float vec __attribute__((vector_size(%d)));", LANES * 4)
	e:line("/* For loads and stores at any float position. */")
	e:line("typedef float uvec __attribute__((vector_size(%d), aligned(4)));",
		LANES * 4)
	if pairs then
		e:line("typedef float uhalf __attribute__((vector_size(%d), aligned(4)));",
			HALF * 4)
		e:line()
		e:line("/* The %d floats at lo, then the %d at hi: the tails of two rows",
			HALF, HALF)
		e:line(" * in one vector (a macro: a function returning a vector would")
		e:line(" * have an ABI that depends on -mavx). */")
		local idx = {}
		for l = 0, LANES - 1 do idx[#idx + 1] = tostring(l) end
		e:line("#define PAIR(lo, hi) __builtin_shufflevector(*(const uhalf *)(lo), \\")
		e:line("                                             *(const uhalf *)(hi), \\")
		e:line("                                             %s)", table.concat(idx, ", "))
	end
	e:line()
end

local function emit_state(e)
	e:comment({
		"State: the weights in blocks of KB filters (the last block may be",
		"shorter), each block [c][i][j][filter], so a block's broadcasts for one",
		"tap are consecutive; then the bias.",
	})
	e:line("static size_t state_bytes(const dp_desc *d)")
	e:open("{")
	e:line("(void)d;")
	e:line("return (WEIGHTS + K) * sizeof(float);")
	e:close("}")
	e:line()
	e:line("static dp_status prepare(const dp_desc *d, const float *weights,")
	e:line("                         const float *bias, void *state)")
	e:open("{")
	e:line("float *st = state;")
	e:line("(void)d;")
	e:open("for (int k0 = 0; k0 < K; k0 += KB) {")
	e:line("const int kb = K - k0 < KB ? K - k0 : KB;")
	e:line("float *blk = st + k0 * C * R * S;")
	e:single("for (int f = 0; f < kb; f++)",
		"for (int t = 0; t < C * R * S; t++)")
	e.depth = e.depth + 1
	e:line("\tblk[t * kb + f] = weights[(k0 + f) * C * R * S + t];")
	e.depth = e.depth - 1
	e:close("}")
	e:single("if (bias)", "memcpy(st + WEIGHTS, bias, K * sizeof(float));")
	e:single("else", "memset(st + WEIGHTS, 0, K * sizeof(float));")
	e:line("return DP_OK;")
	e:close("}")
	e:line()
	e:line("/* Workspace: the padded input of one image. */")
	e:line("static size_t workspace_bytes(const dp_desc *d)")
	e:open("{")
	e:line("(void)d;")
	e:line("return (size_t)C * PLANE * sizeof(float);")
	e:close("}")
	e:line()
end

-- The copy into the padded, phase-split buffer. Every range is worked out
-- here, so the copy has no tests.
local function emit_pad(e, d, p)
	local st, g = d.stride, p.geo
	e:comment({
		"One image into the padded buffer: padded row r, column q is input",
		"row r - PAD_H, column q - PAD_W, or 0 outside the input; it is stored",
		"in phase row q % STRIDE at position q / STRIDE.",
	})
	e:line("struct pad_job { const float *img; float *pad; };")
	e:line()
	e:line("/* Channels [begin, end): copies, shared among threads. */")
	e:line("static void pad_channels(void *ctx, int begin, int end)")
	e:open("{")
	e:line("const struct pad_job *job = ctx;")
	e:line("const float *restrict img = job->img;")
	e:line("float *restrict pad = job->pad;")
	-- Padded rows inside the input.
	local r0 = math.min(d.pad_h, g.hp)
	local r1 = math.max(r0, math.min(g.hp, d.pad_h + d.h))
	e:open("for (int c = begin; c < end; c++) {")
	e:line("float *restrict plane = pad + c * PLANE;")
	if r0 > 0 then
		e:line("memset(plane, 0, %s * sizeof(float));",
			r0 == 1 and "ROW" or string.format("%d * ROW", r0))
	end
	if r1 > r0 then
		e:open("for (int r = %d; r < %d; r++) {", r0, r1)
		e:line("const float *restrict src = img + (c * H + r - PAD_H) * W;")
		e:line("float *restrict dst = plane + r * ROW;")
		for ph = 0, st - 1 do
			-- Positions q of this phase whose input column q*st+ph-pad_w
			-- lies in [0, W).
			local lo = math.max(0, ceil_div(d.pad_w - ph, st))
			local hi = math.max(lo, math.min(g.wp,
				ceil_div(d.w + d.pad_w - ph, st)))
			lo = math.min(lo, g.wp)
			local dst = ph == 0 and "dst" or string.format("dst + %d", ph * g.wp)
			if lo > 0 then
				e:line("memset(%s, 0, %d * sizeof(float));", dst, lo)
			end
			if hi > lo then
				if st == 1 then
					e:line("memcpy(%s + %d, src + %d, %d * sizeof(float));",
						dst, lo, lo - d.pad_w, hi - lo)
				else
					e:single(string.format("for (int q = %d; q < %d; q++)",
						lo, hi), string.format("dst[%s] = src[%s];",
						cexpr.affine("q", 1, ph * g.wp),
						cexpr.affine("q", st, ph - d.pad_w)))
				end
			end
			if g.wp > hi then
				e:line("memset(%s + %d, 0, %d * sizeof(float));", dst, hi,
					g.wp - hi)
			end
		end
		e:close("}")
	end
	if g.hp > r1 then
		e:line("memset(plane + %d * ROW, 0, %d * ROW * sizeof(float));", r1,
			g.hp - r1)
	end
	e:close("}")
	e:close("}")
	e:line()
	e:line("static void pad_input(const float *img, float *pad)")
	e:open("{")
	e:line("struct pad_job job = { img, pad };")
	e:line("par_for(C, (double)C * PLANE, pad_channels, &job);")
	e:close("}")
	e:line()
end

-- The calls of one filter block of kb filters (k, wk, kout set) over the
-- row blocks yb0 .. yb1 - 1: the channel blocks outside (so a block's
-- weights stay in L1 while they serve every row), the row blocks inside.
local function emit_filter_block(e, d, p, blocks, kb)
	local args = ""
	if p.cblocked then
		e:line("/* Channels in blocks of CB: a block's weights stay in L1")
		e:line(" * while they serve every output of the filter block. */")
		e:open("for (int c0 = 0; c0 < C; c0 += CB) {")
		e:line("const int c1 = c0 + CB < C ? c0 + CB : C;")
		args = ", c0, c1"
	end
	e:open("for (int yb = yb0; yb < yb1; yb++) {")
	e:line("const int y = yb * RB;")
	e:line("const float *in = pad + y * STRIDE * ROW;")
	e:line("float *out = kout + y * WO;")
	local rr = runs(d.ho, p.rb)
	local function calls(rb)
		for _, g in ipairs(p.rgroups[rb]) do
			local name = blocks[kb .. ":" .. g.key]
			e:line("%s(in%s, wk, bias + k, out%s%s);", name,
				place(g.dy0 * d.stride, "ROW", g.x0),
				place(g.dy0, "WO", g.x0), args)
		end
	end
	if #rr == 2 then
		e:open("if (y + RB <= HO) {")
		calls(rr[1].size)
		e:close("} else {   /* the last %d row%s */", rr[2].size,
			rr[2].size == 1 and "" or "s")
		e.depth = e.depth + 1
		calls(rr[2].size)
		e:close("}")
	else
		calls(rr[1].size)
	end
	e:close("}")
	if p.cblocked then e:close("}") end
end

local function emit_execute(e, d, p, blocks)
	local nkb, nyb = ceil_div(d.k, p.kb), ceil_div(d.ho, p.rb)
	e:comment({
		string.format("The outputs of one image as %d x %d items: filter block",
			nkb, nyb),
		"it / NYB (KB filters) x row block it % NYB (RB rows), each computed",
		"whole by one thread, in the same order whatever the partition.",
	})
	e:line("enum { NKB = %d, NYB = %d };", nkb, nyb)
	e:line()
	e:line("struct conv_job { const float *pad, *weights, *bias; float *out; };")
	e:line()
	e:line("static void conv_items(void *ctx, int begin, int end)")
	e:open("{")
	e:line("const struct conv_job *job = ctx;")
	e:line("const float *pad = job->pad, *weights = job->weights;")
	e:line("const float *bias = job->bias;")
	e:open("for (int it = begin; it < end; ) {")
	e:line("const int k = it / NYB * KB;")
	e:line("const int yb0 = it % NYB;")
	e:line("const int yb1 = NYB < yb0 + end - it ? NYB : yb0 + end - it;")
	e:line("const float *wk = weights + k * C * R * S;")
	e:line("float *kout = job->out + k * HO * WO;")
	e:line("it += yb1 - yb0;")
	local kr = runs(d.k, p.kb)
	if #kr == 2 then
		e:open("if (k + KB <= K) {")
		emit_filter_block(e, d, p, blocks, kr[1].size)
		e:close("} else {   /* the last %d filter%s */", kr[2].size,
			kr[2].size == 1 and "" or "s")
		e.depth = e.depth + 1
		emit_filter_block(e, d, p, blocks, kr[2].size)
		e:close("}")
	else
		emit_filter_block(e, d, p, blocks, kr[1].size)
	end
	e:close("}")
	e:close("}")
	e:line()
	e:comment({
		"Per image: pad the input, then the filter blocks x row blocks,",
		"shared among threads (dp_parallel_for; small layers stay on the",
		"caller's thread).",
	})
	e:line("static dp_status execute(const dp_desc *d, const void *state,")
	e:line("                         const float *input, float *output,")
	e:line("                         void *workspace)")
	e:open("{")
	e:line("const float *weights = state;")
	e:line("struct conv_job job = { workspace, weights, weights + WEIGHTS, output };")
	e:line("(void)d;")
	e:open("for (int n = 0; n < N; n++) {")
	e:line("pad_input(input + n * C * H * W, workspace);")
	e:line("job.out = output + n * K * HO * WO;")
	e:line("par_for(NKB * NYB, 2.0 * K * C * R * S * HO * WO, conv_items, &job);")
	e:close("}")
	e:line("return DP_OK;")
	e:close("}")
	e:line()
end

function M.generate(d, name)
	local p = plan(d)
	p.geo = geometry(d, p)
	local e = emit.new()
	kernel.banner(e, d, name, "direct convolution")
	e:line("#include <string.h>")
	e:line()
	e:line('#include "%s.h"', name)
	e:line()
	local pairs = false
	for _, groups in next, p.rgroups do
		for _, g in ipairs(groups) do
			for _, o in ipairs(g.offs) do pairs = pairs or o.pair or false end
		end
	end
	emit_types(e, pairs)
	parallel.emit(e)
	emit_constants(e, d, p)
	emit_state(e)
	emit_pad(e, d, p)
	local blocks = {}
	for _, kr in ipairs(runs(d.k, p.kb)) do
		for _, rr in ipairs(runs(d.ho, p.rb)) do
			for _, g in ipairs(p.rgroups[rr.size]) do
				local key = kr.size .. ":" .. g.key
				if not blocks[key] then
					blocks[key] = emit_block(e, d, p, kr.size, g.offs)
				end
			end
		end
	end
	emit_execute(e, d, p, blocks)
	kernel.object(e, d, name)
	return e:text()
end

return M
