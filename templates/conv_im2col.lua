-- conv_im2col.lua - convolution as one matrix product per image,
-- specialized to one shape: out[K x P] = W[K x CRS] * cols[CRS x P] + bias,
-- P = HO*WO output pixels, CRS = C*R*S taps.
--
-- The column matrix is built tap by tap: for each kernel tap (i, j) the
-- generator knows which output rows and columns see the image, so the
-- copy is a plain loop over exactly those and the zeros around it are
-- written without a test per element. The product is the generated GEMM
-- of lib.gemm: the columns are packed as its B per call, the weights are
-- its A, and C starts as the bias (the GEMM accumulates).
local emit = require("lib.emit")
local cexpr = require("lib.cexpr")
local gemm = require("lib.gemm")
local kernel = require("lib.kernel")

local M = {}

-- Outputs o in [0, nout) whose input index o*stride + t - pad lies in
-- [0, size): returns the half-open range [lo, hi).
local function valid_range(nout, t, stride, pad, size)
	local lo, hi = nout, 0
	for o = 0, nout - 1 do
		local idx = o * stride + t - pad
		if idx >= 0 and idx < size then
			if o < lo then lo = o end
			hi = o + 1
		end
	end
	if hi <= lo then return 0, 0 end
	return lo, hi
end

-- dst[a..b) = 0, as a loop or nothing.
local function zero(e, dst, a, b)
	if b <= a then return end
	if b - a == 1 then
		e:line("%s[%d] = 0.0f;", dst, a)
	else
		local at = a == 0 and dst or string.format("%s + %d", dst, a)
		e:line("memset(%s, 0, %d * sizeof(float));", at, b - a)
	end
end

-- The rows of the column matrix that tap (i, j) fills, for channel c.
local function emit_tap(e, d, i, j)
	local y0, y1 = valid_range(d.ho, i, d.stride, d.pad_h, d.h)
	local x0, x1 = valid_range(d.wo, j, d.stride, d.pad_w, d.w)
	if x1 <= x0 then y0, y1 = 0, 0 end
	e:open("{")
	e:line("/* Tap (%d, %d): output rows %d..%d, columns %d..%d see the image. */",
		i, j, y0, y1 - 1, x0, x1 - 1)
	e:line("float *dst = cols + (%s) * P;", cexpr.affine("c * R * S", 1,
		i * d.s + j))
	zero(e, "dst", 0, y0 * d.wo)
	if y1 > y0 then
		e:open("for (int y = %d; y < %d; y++) {", y0, y1)
		local iy = cexpr.affine("y", d.stride, i - d.pad_h)
		if iy:find(" ") then iy = "(" .. iy .. ")" end
		e:line("const float *src = plane + %s * W;", iy)
		e:line("float *row = dst + y * WO;")
		zero(e, "row", 0, x0)
		e:single(string.format("for (int x = %d; x < %d; x++)", x0, x1),
			string.format("row[x] = src[%s];",
				cexpr.affine("x", d.stride, j - d.pad_w)))
		zero(e, "row", x1, d.wo)
		e:close("}")
	end
	zero(e, "dst", y1 * d.wo, d.ho * d.wo)
	e:close("}")
end

local function emit_im2col(e, d)
	e:line("/* The column matrix of one image: row (c*R + i)*S + j holds, for")
	e:line(" * every output pixel, the input value tap (i, j) of channel c")
	e:line(" * multiplies (zero where it falls in the padding). */")
	e:line("static void im2col(const float *restrict img, float *restrict cols)")
	e:open("{")
	e:open("for (int c = 0; c < C; c++) {")
	e:line("const float *plane = img + c * H * W;")
	for i = 0, d.r - 1 do
		for j = 0, d.s - 1 do emit_tap(e, d, i, j) end
	end
	e:close("}")
	e:close("}")
	e:line()
end

local function emit_contract(e)
	e:line("/* State: the weights (K x CRS, row-major: KCRS as it comes) and")
	e:line(" * the bias. */")
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
	e:line("/* Workspace: the columns, packed B (the columns again, in GEMM")
	e:line(" * panels) and packed A, each from a 64-byte boundary. */")
	e:line("static size_t workspace_bytes(const dp_desc *d)")
	e:open("{")
	e:line("(void)d;")
	e:line("return (COLS + PACKED_B + PACKED_A + 3 * ALIGN) * sizeof(float);")
	e:close("}")
	e:line()
	e:line("static dp_status execute(const dp_desc *d, const void *state,")
	e:line("                         const float *input, float *output,")
	e:line("                         void *workspace)")
	e:open("{")
	e:line("const float *weights = state;")
	e:line("const float *bias = weights + WEIGHTS;")
	e:line("float *cols = align_up(workspace);")
	e:line("float *packed_b = align_up(cols + COLS);")
	e:line("float *packed_a = align_up(packed_b + PACKED_B);")
	e:line("(void)d;")
	e:open("for (int n = 0; n < N; n++) {")
	e:line("float *out = output + n * K * P;")
	e:line("im2col(input + n * C * H * W, cols);")
	e:line("gemm_pack_b(cols, packed_b);")
	e:open("for (int k = 0; k < K; k++) {")
	e:single("for (int p = 0; p < P; p++)", "out[k * P + p] = bias[k];")
	e:close("}")
	e:line("gemm_run(weights, packed_b, out, packed_a);")
	e:close("}")
	e:line("return DP_OK;")
	e:close("}")
	e:line()
end

function M.generate(d, name)
	local p, crs = d.ho * d.wo, d.c * d.r * d.s
	local spec = { name = "gemm", m = d.k, n = p, k = crs, accumulate = true }
	local e = emit.new()
	kernel.banner(e, d, name, "im2col convolution")
	e:line("#include <stdint.h>")
	e:line("#include <string.h>")
	e:line()
	e:line('#include "%s.h"', name)
	e:line()
	e:line("/* The problem, as constants. */")
	e:line("enum {")
	e:line("\tN = %d, C = %d, H = %d, W = %d,", d.n, d.c, d.h, d.w)
	e:line("\tK = %d, R = %d, S = %d,", d.k, d.r, d.s)
	e:line("\tHO = %d, WO = %d, P = HO * WO,", d.ho, d.wo)
	e:line("\tWEIGHTS = K * C * R * S, COLS = C * R * S * P,")
	e:line("\tPACKED_B = %d, PACKED_A = %d, ALIGN = %d", gemm.packed_b_floats(spec),
		gemm.workspace_floats(spec), gemm.ALIGN_FLOATS)
	e:line("};")
	e:line()
	e:line("/* The first 64-byte boundary at or after p. */")
	e:line("static float *align_up(void *p)")
	e:open("{")
	e:line("const uintptr_t bytes = ALIGN * sizeof(float);")
	e:line("return (float *)(((uintptr_t)p + bytes - 1) & ~(bytes - 1));")
	e:close("}")
	e:line()
	gemm.emit(e, spec)
	emit_im2col(e, d)
	emit_contract(e)
	kernel.object(e, d, name)
	return e:text()
end

return M
