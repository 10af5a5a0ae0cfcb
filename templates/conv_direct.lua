-- conv_direct.lua - direct convolution specialized to one shape.
--
-- Every size is a constant. Output rows and columns are split into groups
-- whose in-bounds kernel taps are the same; each group gets straight-line
-- code for exactly its taps, so padding costs no test per multiply-add and
-- the interior (all taps in bounds) is one loop over contiguous output
-- width that the compiler vectorizes. The R x S taps are unrolled.
local emit = require("lib.emit")
local cexpr = require("lib.cexpr")
local kernel = require("lib.kernel")

local M = {}

-- Consecutive outputs 0..nout-1 grouped by the range [t0, t1) of taps t
-- (0 <= t < taps) whose input index o*stride + t - pad lies in [0, size).
local function tap_groups(nout, taps, stride, pad, size)
	local groups = {}
	for o = 0, nout - 1 do
		local base = o * stride - pad
		local t0 = math.max(0, -base)
		local t1 = math.min(taps, size - base)
		if t1 < t0 then t1 = t0 end
		local g = groups[#groups]
		if g and g.t0 == t0 and g.t1 == t1 then
			g.last = o
		else
			groups[#groups + 1] = { first = o, last = o, t0 = t0, t1 = t1 }
		end
	end
	return groups
end

-- acc[x] += g_i_j * row[x*stride + j - pad] over the taps of one column group.
local function column_group(e, d, i, g)
	local terms = {}
	for j = g.t0, g.t1 - 1 do
		local idx
		if g.first == g.last then
			idx = cexpr.affine(nil, 0, g.first * d.stride + j - d.pad_w)
		else
			idx = cexpr.affine("x", d.stride, j - d.pad_w)
		end
		terms[#terms + 1] = string.format("g%d_%d * row[%s]", i, j, idx)
	end
	if #terms == 0 then return end
	if g.first == g.last then
		e:line("acc[%d] += %s;", g.first, cexpr.sum(terms))
	else
		e:single(string.format("for (int x = %d; x < %d; x++)", g.first,
			g.last + 1), "acc[x] += " .. cexpr.sum(terms) .. ";")
	end
end

-- One function per distinct range of kernel rows [i0, i1): it adds the
-- contribution of those rows, over all channels, to one output row.
-- One function per distinct range of kernel rows [i0, i1): it adds the
-- contribution of those rows, over all channels, to one output row.
local function rows_function(e, d, i0, i1, cols)
	local head = string.format("static void rows_%d_%d(", i0, i1)
	e:line("/* Kernel rows %d..%d are inside the input for these output rows. */",
		i0, i1 - 1)
	e:line("%sconst float *restrict img, const float *restrict wk,", head)
	e:line("%sfloat *restrict acc, int iy)", string.rep(" ", #head))
	e:open("{")
	e:open("for (int c = 0; c < C; c++) {")
	e:line("const float *restrict plane = img + c * H * W;")
	e:line("const float *restrict g = wk + c * R * S;")
	-- Taps any column group uses: only those are loaded.
	local j0, j1 = d.s, 0
	for _, cg in ipairs(cols) do
		if cg.t1 > cg.t0 then
			j0, j1 = math.min(j0, cg.t0), math.max(j1, cg.t1)
		end
	end
	for i = i0, i1 - 1 do
		e:open("{")
		e:line("const float *restrict row = plane + (%s) * W;",
			cexpr.affine("iy", 1, i))
		for j = j0, j1 - 1 do
			e:line("const float g%d_%d = g[%d];", i, j, i * d.s + j)
		end
		for _, cg in ipairs(cols) do column_group(e, d, i, cg) end
		e:close("}")
	end
	e:close("}")
	e:close("}")
	e:line()
end

local function emit_constants(e, d)
	e:line("/* The problem, as constants. */")
	e:line("enum {")
	e:line("\tN = %d, C = %d, H = %d, W = %d,", d.n, d.c, d.h, d.w)
	e:line("\tK = %d, R = %d, S = %d,", d.k, d.r, d.s)
	e:line("\tHO = %d, WO = %d,", d.ho, d.wo)
	e:line("\tWEIGHTS = K * C * R * S")
	e:line("};")
	e:line()
end

local function emit_state(e)
	e:line("/* State: the weights (KCRS) followed by the bias. */")
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
	e:line("memcpy(st, weights, WEIGHTS * sizeof(float));")
	e:single("if (bias)", "memcpy(st + WEIGHTS, bias, K * sizeof(float));")
	e:single("else", "memset(st + WEIGHTS, 0, K * sizeof(float));")
	e:line("return DP_OK;")
	e:close("}")
	e:line()
	e:line("static size_t workspace_bytes(const dp_desc *d)")
	e:open("{")
	e:line("(void)d;")
	e:line("return 0;")
	e:close("}")
	e:line()
end

local function emit_execute(e, d, rows)
	e:line("/* Each output row starts as the bias and accumulates in place. */")
	e:line("static dp_status execute(const dp_desc *d, const void *state,")
	e:line("                         const float *input, float *output,")
	e:line("                         void *workspace)")
	e:open("{")
	e:line("const float *weights = state;")
	e:line("const float *bias = weights + WEIGHTS;")
	e:line("(void)d;")
	e:line("(void)workspace;")
	e:open("for (int n = 0; n < N; n++) {")
	e:line("const float *img = input + n * C * H * W;")
	e:open("for (int k = 0; k < K; k++) {")
	e:line("const float *wk = weights + k * C * R * S;")
	e:line("float *out = output + (n * K + k) * HO * WO;")
	e:single("for (int i = 0; i < HO * WO; i++)", "out[i] = bias[k];")
	for _, g in ipairs(rows) do
		if g.t1 > g.t0 then
			local iy = cexpr.affine("y", d.stride, -d.pad_h)
			if g.first == g.last then
				iy = cexpr.affine(nil, 0, g.first * d.stride - d.pad_h)
				local dst = g.first == 0 and "out" or
					string.format("out + %d * WO", g.first)
				e:line("rows_%d_%d(img, wk, %s, %s);", g.t0, g.t1, dst, iy)
			else
				e:single(string.format("for (int y = %d; y < %d; y++)",
					g.first, g.last + 1), string.format(
					"rows_%d_%d(img, wk, out + y * WO, %s);", g.t0, g.t1, iy))
			end
		end
	end
	e:close("}")
	e:close("}")
	e:line("return DP_OK;")
	e:close("}")
	e:line()
end

function M.generate(d, name)
	local rows = tap_groups(d.ho, d.r, d.stride, d.pad_h, d.h)
	local cols = tap_groups(d.wo, d.s, d.stride, d.pad_w, d.w)
	local e = emit.new()
	kernel.banner(e, d, name, "direct convolution")
	e:line("#include <string.h>")
	e:line()
	e:line('#include "%s.h"', name)
	e:line()
	emit_constants(e, d)
	emit_state(e)
	local seen = {}
	for _, g in ipairs(rows) do
		local key = g.t0 .. "_" .. g.t1
		if g.t1 > g.t0 and not seen[key] then
			seen[key] = true
			rows_function(e, d, g.t0, g.t1, cols)
		end
	end
	emit_execute(e, d, rows)
	kernel.object(e, d, name)
	return e:text()
end

return M
