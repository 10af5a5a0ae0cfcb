-- conv_emul_direct.lua - direct convolution at an emulated precision
-- (every precision but fp32), specialized to one shape and format.
--
-- The order of the operations is the contract of docs/PRECISION.md, which
-- the runtime emulation (runtime/emul_conv.c) follows too, so the two
-- agree bit for bit: for each output, each channel's taps are summed in
-- (i, j) order from +0, padding taps skipped; then the channel partials
-- are combined pairwise; then the bias is added. Where a value is rounded
-- depends on the format and policy (lib/emul.lua). The integer formats
-- sum exactly in int64 and scale the sum by s_x and s_w. fp32 never comes
-- here (conv_direct.lua: no rounding code at all).
--
-- A row of outputs at a time: the partial sums of one filter's output row
-- are kept per channel, t[c][x], and every tap updates the outputs of the
-- row it reaches, a contiguous run known here (XLO, XHI), so the inner
-- loop has no test and the independent rounding chains of the row
-- overlap. Each t[c][x] still sees its own taps in (i, j) order.
local emit = require("lib.emit")
local kernel = require("lib.kernel")
local emul = require("lib.emul")

local M = {}

local function ceil_div(a, b) return -((-a) // b) end

-- Outputs x of a row whose tap j lies inside the input: [lo, hi).
local function tap_columns(d, j)
	local lo = math.max(0, ceil_div(d.pad_w - j, d.stride))
	local hi = math.min(d.wo, (d.w - 1 + d.pad_w - j) // d.stride + 1)
	return lo, math.max(lo, hi)
end

local function int_list(t) return table.concat(t, ", ") end

local function emit_constants(e, d, a)
	e:line("/* The problem, as constants. */")
	e:line("enum {")
	e:line("\tN = %d, C = %d, H = %d, W = %d,", d.n, d.c, d.h, d.w)
	e:line("\tK = %d, R = %d, S = %d, STRIDE = %d, PAD_H = %d, PAD_W = %d,",
		d.k, d.r, d.s, d.stride, d.pad_h, d.pad_w)
	e:line("\tHO = %d, WO = %d, WEIGHTS = K * C * R * S, IMAGE = C * H * W", d.ho, d.wo)
	e:line("};")
	e:line()
	local lo, hi, full = {}, {}, true
	for j = 0, d.s - 1 do
		lo[#lo + 1], hi[#hi + 1] = tap_columns(d, j)
		if lo[#lo] ~= 0 or hi[#hi] ~= d.wo then full = false end
	end
	e:line("/* The outputs x of a row whose kernel column j lies inside the input:")
	e:line(" * XLO[j] <= x < XHI[j]%s. */", full and " (all of them: no padding in x)" or "")
	e:line("static const int XLO[S] = { %s }, XHI[S] = { %s };", int_list(lo), int_list(hi))
	e:line()
	if a.kind == "fixed" then
		e:line("/* State: the weights' scale, the bias, the quantized weights (KCRS). */")
		e:line("typedef struct {")
		e:line("\tfloat scale;")
		e:line("\tfloat bias[K];")
		e:line("\t%s q[K][C][R][S];", a.qty)
		e:line("} state_t;")
		e:line()
		e:line("/* Workspace: one image quantized; the exact sums of one output row. */")
		e:line("typedef struct {")
		e:line("\tint64_t acc[WO];")
		e:line("\t%s x[C][H][W];", a.qty)
		e:line("} work_t;")
	elseif a.kind == "float" then
		e:line("/* State: the weights and bias as %s stores them. */", a.precision)
		e:line("typedef struct {")
		e:line("\tfloat bias[K];")
		e:line("\tfloat w[K][C][R][S];")
		e:line("} state_t;")
		e:line()
		e:line("/* Workspace: one image as %s stores it; each channel's partial sums", a.precision)
		e:line(" * of one output row. */")
		e:line("typedef struct {")
		e:line("\tfloat x[C][H][W];")
		e:line("\tfloat t[C][WO];")
		e:line("} work_t;")
	else
		e:line("/* State: the weights and bias as given. */")
		e:line("typedef struct {")
		e:line("\tfloat bias[K];")
		e:line("\tfloat w[K][C][R][S];")
		e:line("} state_t;")
		e:line()
		e:line("/* Workspace: each channel's partial sums of one output row. */")
		e:line("typedef struct {")
		e:line("\tdouble t[C][WO];")
		e:line("} work_t;")
	end
	e:line()
end

local function emit_state(e, a)
	e:line("static size_t state_bytes(const dp_desc *d)")
	e:open("{")
	e:line("(void)d;")
	e:line("return sizeof(state_t);")
	e:close("}")
	e:line()
	e:line("static dp_status prepare(const dp_desc *d, const float *weights,")
	e:line("                         const float *bias, void *state)")
	e:open("{")
	e:line("state_t *st = state;")
	if a.kind == "fixed" then
		e:line("%s *q = &st->q[0][0][0][0];", a.qty)
	else
		e:line("float *w = &st->w[0][0][0][0];")
	end
	e:line("(void)d;")
	if a.kind == "fixed" then
		e:line("st->scale = fixed_scale(weights, WEIGHTS);")
		e:single("for (int i = 0; i < WEIGHTS; i++)",
			string.format("q[i] = (%s)quantize(weights[i], st->scale);", a.qty))
		e:single("for (int k = 0; k < K; k++)", "st->bias[k] = bias ? bias[k] : 0.0f;")
	else
		e:single("for (int i = 0; i < WEIGHTS; i++)",
			string.format("w[i] = %s;", a.store("weights[i]")))
		e:single("for (int k = 0; k < K; k++)",
			string.format("st->bias[k] = bias ? %s : 0.0f;", a.store("bias[k]")))
	end
	e:line("return DP_OK;")
	e:close("}")
	e:line()
	e:line("static size_t workspace_bytes(const dp_desc *d)")
	e:open("{")
	e:line("(void)d;")
	e:line("return sizeof(work_t);")
	e:close("}")
	e:line()
end

-- output_row: row y of one filter's outputs.
local function emit_output_row(e, d, a)
	local fixed = a.kind == "fixed"
	local xty = fixed and a.qty or "float"
	local wty = fixed and a.qty or "float"
	local lines
	if fixed then
		lines = {
			"Row y of one filter's outputs: the exact sum of the products of the",
			"taps inside the input, scaled back (acc * s_x * s_w in double, rounded",
			"to float), plus the bias.",
		}
	else
		lines = {
			"Row y of one filter's outputs: for each output x and channel c, the",
			"taps inside the input summed in (i, j) order from +0 into t[c][x];",
			"then the channels pairwise, then the bias.",
		}
	end
	e:comment(lines)
	e:line("static void output_row(const %s x[C][H][W], const %s w[C][R][S], int y,",
		xty, wty)
	if fixed then
		e:line("                       float sx, float sw, float bias, int64_t *restrict acc,")
	else
		e:line("                       %s bias, %s t[C][WO],", a.ty, a.ty)
	end
	e:line("                       float *restrict out)")
	e:open("{")
	if d.pad_h > 0 then
		e:line("/* Kernel rows i0 .. i1 - 1 lie inside the input. */")
		e:line("const int iy = y * STRIDE - PAD_H;")
		e:line("const int i0 = iy < 0 ? -iy : 0, i1 = H - iy < R ? H - iy : R;")
	else
		e:line("const int iy = y * STRIDE, i0 = 0, i1 = R;")
	end
	local xv = "x[c][iy + i][xo * STRIDE + j - PAD_W]"
	local wv = "wv"
	if fixed then
		e:line("memset(acc, 0, WO * sizeof *acc);")
	else
		e:line("memset(t, 0, sizeof(%s[C][WO]));   /* +0 */", a.ty)
	end
	e:open("for (int c = 0; c < C; c++) {")
	e:open("for (int i = i0; i < i1; i++) {")
	e:open("for (int j = 0; j < S; j++) {")
	if fixed then
		e:line("const int32_t wv = w[c][i][j];")
		e:single("for (int xo = XLO[j]; xo < XHI[j]; xo++)",
			string.format("acc[xo] += %s * wv;", xv))
	else
		e:line("const %s wv = w[c][i][j];", a.ty)
		if a.kind == "double" then xv = "(double)" .. xv end
		e:single("for (int xo = XLO[j]; xo < XHI[j]; xo++)",
			string.format("t[c][xo] = %s;", a.add("t[c][xo]", a.mul(xv, wv))))
	end
	e:close("}")
	e:close("}")
	e:close("}")
	if fixed then
		e:single("for (int xo = 0; xo < WO; xo++)",
			"out[xo] = (float)((double)acc[xo] * sx * sw) + bias;")
	else
		e:single("for (int xo = 0; xo < WO; xo++)",
			string.format("out[xo] = %s;", a.output("channel_sum(&t[0][xo])", "bias")))
	end
	e:close("}")
	e:line()
end

local function emit_execute(e, a)
	e:line("static dp_status execute(const dp_desc *d, const void *state,")
	e:line("                         const float *input, float *output,")
	e:line("                         void *workspace)")
	e:open("{")
	e:line("const state_t *st = state;")
	e:line("work_t *ws = workspace;")
	e:line("(void)d;")
	if a.kind == "fixed" then
		e:line("/* One scale for the whole input tensor, every image. */")
		e:line("const float sx = fixed_scale(input, (size_t)N * IMAGE);")
	end
	e:open("for (int n = 0; n < N; n++) {")
	e:line("const float *img = input + n * IMAGE;")
	e:line("float *out = output + n * K * HO * WO;")
	local xarg = "ws->x"
	if a.kind == "float" then
		e:line("/* The image as %s stores it. */", a.precision)
		e:line("float *xs = &ws->x[0][0][0];")
		e:single("for (int i = 0; i < IMAGE; i++)",
			string.format("xs[i] = %s;", a.store("img[i]")))
	elseif a.kind == "fixed" then
		e:line("%s *q = &ws->x[0][0][0];", a.qty)
		e:single("for (int i = 0; i < IMAGE; i++)",
			string.format("q[i] = (%s)quantize(img[i], sx);", a.qty))
	else
		e:line("/* The image as it is: every operation is in double. */")
		e:line("const float (*x)[H][W] = (const float (*)[H][W])img;")
		xarg = "x"
	end
	local call
	if a.kind == "fixed" then
		call = string.format("output_row(%s, st->q[k], y, sx, st->scale, st->bias[k], ws->acc,", xarg)
	else
		call = string.format("output_row(%s, st->w[k], y, st->bias[k], ws->t,", xarg)
	end
	e:single("for (int k = 0; k < K; k++)", "for (int y = 0; y < HO; y++)")
	e.depth = e.depth + 2
	e:line("%s", call)
	e:line("           out + (k * HO + y) * WO);")
	e.depth = e.depth - 2
	e:close("}")
	e:line("return DP_OK;")
	e:close("}")
	e:line()
end

function M.generate(d, name)
	local a = emul.arith(d)
	local e = emit.new()
	kernel.banner(e, d, name, "direct convolution, emulated " .. emul.label(d))
	e:line("#include <stddef.h>")
	e:line("#include <stdint.h>")
	e:line("#include <string.h>")
	e:line()
	e:line('#include "%s.h"', name)
	e:line()
	e:comment(emul.describe(a))
	e:line()
	emit_constants(e, d, a)
	emul.emit_prelude(e, a)
	if a.kind ~= "fixed" then emul.emit_pairwise(e, a, d.c, "channel_sum", "WO") end
	emit_output_row(e, d, a)
	emit_state(e, a)
	emit_execute(e, a)
	kernel.object(e, d, name)
	return e:text()
end

return M
