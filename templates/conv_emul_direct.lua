-- conv_emul_direct.lua - direct convolution at an emulated precision
-- (every precision but fp32), specialized to one shape and format.
--
-- The order of the operations is the contract of docs/PRECISION.md, which
-- the runtime emulation follows too, so the two agree bit for bit: for
-- each output, each channel's taps are summed sequentially in (i, j)
-- order with the padding taps skipped, then the channel partials are
-- combined pairwise, then the bias is added. Where a value is rounded
-- depends on the format and policy (lib/emul.lua); fp32 never comes here
-- (conv_direct.lua: no rounding code at all).
--
-- The code is scalar and plain: the point of these kernels is the exact
-- arithmetic of a format, which rounding functions dominate.
local emit = require("lib.emit")
local kernel = require("lib.kernel")
local emul = require("lib.emul")

local M = {}

local function emit_constants(e, d, a)
	e:line("/* The problem, as constants. */")
	e:line("enum {")
	e:line("\tN = %d, C = %d, H = %d, W = %d,", d.n, d.c, d.h, d.w)
	e:line("\tK = %d, R = %d, S = %d, STRIDE = %d, PAD_H = %d, PAD_W = %d,",
		d.k, d.r, d.s, d.stride, d.pad_h, d.pad_w)
	e:line("\tHO = %d, WO = %d, WEIGHTS = K * C * R * S, IMAGE = C * H * W", d.ho, d.wo)
	e:line("};")
	e:line()
	if a.kind == "fixed" then
		e:line("/* State: the weights' scale, the bias, the quantized weights (KCRS). */")
		e:line("typedef struct {")
		e:line("\tfloat scale;")
		e:line("\tfloat bias[K];")
		e:line("\t%s q[WEIGHTS];", a.qty)
		e:line("} state_t;")
		e:line()
	end
end

-- The state: the weights and bias as the kernel uses them.
local function emit_state(e, a)
	e:line("static size_t state_bytes(const dp_desc *d)")
	e:open("{")
	e:line("(void)d;")
	if a.kind == "fixed" then
		e:line("return sizeof(state_t);")
	else
		e:line("return (WEIGHTS + K) * sizeof(float);")
	end
	e:close("}")
	e:line()
	e:line("static dp_status prepare(const dp_desc *d, const float *weights,")
	e:line("                         const float *bias, void *state)")
	e:open("{")
	e:line("(void)d;")
	if a.kind == "fixed" then
		e:line("state_t *st = state;")
		e:line("st->scale = fixed_scale(weights, WEIGHTS);")
		e:single("for (int i = 0; i < WEIGHTS; i++)",
			string.format("st->q[i] = (%s)quantize(weights[i], st->scale);", a.qty))
		e:single("for (int k = 0; k < K; k++)", "st->bias[k] = bias ? bias[k] : 0.0f;")
	else
		e:line("float *w = state, *b = w + WEIGHTS;")
		if a.kind == "float" then
			e:line("/* Weights and bias are stored in %s: rounded once. */", a.precision)
		end
		e:single("for (int i = 0; i < WEIGHTS; i++)",
			string.format("w[i] = %s;", a.store("weights[i]")))
		e:single("for (int k = 0; k < K; k++)",
			string.format("b[k] = bias ? %s : 0.0f;", a.store("bias[k]")))
	end
	e:line("return DP_OK;")
	e:close("}")
	e:line()
	if a.kind == "float" then
		e:line("/* Workspace: one image rounded to %s. */", a.precision)
	elseif a.kind == "fixed" then
		e:line("/* Workspace: one image, quantized. */")
	end
	e:line("static size_t workspace_bytes(const dp_desc *d)")
	e:open("{")
	e:line("(void)d;")
	if a.kind == "float" then
		e:line("return IMAGE * sizeof(float);")
	elseif a.kind == "fixed" then
		e:line("return IMAGE * sizeof(%s);", a.qty)
	else
		e:line("return 0;")
	end
	e:close("}")
	e:line()
end

-- output_at: one output from the window whose top-left input element is
-- at offset o of the image, kernel rows [i0, i1) and columns [j0, j1)
-- inside the input.
local function emit_output_at(e, d, a)
	local xty = a.kind == "fixed" and a.qty or "float"
	local wty = a.kind == "fixed" and a.qty or "float"
	if a.kind == "fixed" then
		e:comment({
			"One output: the exact integer sum of the products of the window's",
			"taps inside the input (window at offset o of the image, kernel rows",
			"i0 .. i1 - 1, columns j0 .. j1 - 1), scaled back, plus the bias.",
		})
		e:line("static float output_at(const %s *restrict x, const %s *restrict w, int o,", xty, wty)
		e:line("                       int i0, int i1, int j0, int j1, float sx, float sw,")
		e:line("                       float bias)")
		e:open("{")
		e:line("int64_t acc = 0;")
		e:single("for (int c = 0; c < C; c++)", "for (int i = i0; i < i1; i++)")
		e.depth = e.depth + 2
		e:single("for (int j = j0; j < j1; j++)",
			"acc += (int32_t)x[o + (c * H + i) * W + j] * w[(c * R + i) * S + j];")
		e.depth = e.depth - 2
		e:line("return (float)((double)acc * sx * sw) + bias;")
		e:close("}")
		e:line()
		return
	end
	local ty = a.ty
	e:comment({
		"One output (window at offset o of the image, kernel rows i0 .. i1 - 1",
		"and columns j0 .. j1 - 1 inside the input): the taps of each channel",
		"summed in (i, j) order from +0, padding taps skipped; the channels",
		"pairwise; then the bias.",
	})
	e:line("static float output_at(const float *restrict x, const float *restrict w, int o,")
	e:line("                       int i0, int i1, int j0, int j1, %s bias)", ty)
	e:open("{")
	e:line("%s t[C];", ty)
	e:open("for (int c = 0; c < C; c++) {")
	e:line("%s acc = 0.0%s;", ty, a.lit)
	local xv, wv = "x[o + (c * H + i) * W + j]", "w[(c * R + i) * S + j]"
	if a.kind == "double" then
		xv, wv = "(double)" .. xv, "(double)" .. wv
	end
	e:single("for (int i = i0; i < i1; i++)", "for (int j = j0; j < j1; j++)")
	e.depth = e.depth + 2
	e:line("acc = %s;", a.add("acc", a.mul(xv, wv)))
	e.depth = e.depth - 2
	e:line("t[c] = acc;")
	e:close("}")
	e:line("return %s;", a.output("channel_sum(t)", "bias"))
	e:close("}")
	e:line()
end

-- C for the range [lo, hi) of kernel rows (or columns) inside the input,
-- for the output index var; plain constants when nothing is clipped.
local function emit_range(e, var, pos, lo, hi, pad, size, taps, n)
	if pad == 0 then
		e:line("const int %s = %s, %s = %s;", lo, "0", hi, taps)
		return
	end
	e:line("const int %s = %s * STRIDE - %s;", pos, var, n)
	e:line("const int %s = %s < 0 ? -%s : 0, %s = %s - %s < %s ? %s - %s : %s;",
		lo, pos, pos, hi, size, pos, taps, size, pos, taps)
end

local function emit_execute(e, d, a)
	e:comment({
		"Per image: the input as the format stores it, then every output.",
	})
	e:line("static dp_status execute(const dp_desc *d, const void *state,")
	e:line("                         const float *input, float *output,")
	e:line("                         void *workspace)")
	e:open("{")
	if a.kind == "fixed" then
		e:line("const state_t *st = state;")
		e:line("%s *x = workspace;", a.qty)
		e:line("/* One scale for the whole input tensor, every image. */")
		e:line("const float sx = fixed_scale(input, (size_t)N * IMAGE);")
	else
		e:line("const float *w = state, *b = w + WEIGHTS;")
		if a.kind == "float" then e:line("float *x = workspace;") end
	end
	e:line("(void)d;")
	if a.kind == "double" then e:line("(void)workspace;") end
	e:open("for (int n = 0; n < N; n++) {")
	e:line("const float *img = input + n * IMAGE;")
	e:line("float *out = output + n * K * HO * WO;")
	if a.kind == "float" then
		e:single("for (int i = 0; i < IMAGE; i++)",
			string.format("x[i] = %s;", a.store("img[i]")))
	elseif a.kind == "fixed" then
		e:single("for (int i = 0; i < IMAGE; i++)",
			string.format("x[i] = (%s)quantize(img[i], sx);", a.qty))
	else
		e:line("const float *x = img;   /* read as it is, in double */")
	end
	e:open("for (int y = 0; y < HO; y++) {")
	e:line("/* Kernel rows i0 .. i1 - 1 and columns j0 .. j1 - 1 lie inside the input. */")
	emit_range(e, "y", "iy", "i0", "i1", d.pad_h, "H", "R", "PAD_H")
	e:open("for (int xo = 0; xo < WO; xo++) {")
	emit_range(e, "xo", "ix", "j0", "j1", d.pad_w, "W", "S", "PAD_W")
	local oy = d.pad_h == 0 and "y * STRIDE" or "iy"
	local ox = d.pad_w == 0 and "xo * STRIDE" or "ix"
	e:line("const int o = %s * W + %s;", oy, ox)
	local call
	if a.kind == "fixed" then
		call = "output_at(x, st->q + k * C * R * S, o, i0, i1, j0, j1, sx, st->scale, st->bias[k])"
	elseif a.kind == "double" then
		call = "output_at(x, w + k * C * R * S, o, i0, i1, j0, j1, (double)b[k])"
	else
		call = "output_at(x, w + k * C * R * S, o, i0, i1, j0, j1, b[k])"
	end
	e:single("for (int k = 0; k < K; k++)",
		string.format("out[(k * HO + y) * WO + xo] = %s;", call))
	e:close("}")
	e:close("}")
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
	if a.kind ~= "fixed" then emul.emit_pairwise(e, a, d.c) end
	emit_output_at(e, d, a)
	emit_state(e, a)
	emit_execute(e, d, a)
	kernel.object(e, d, name)
	return e:text()
end

return M
