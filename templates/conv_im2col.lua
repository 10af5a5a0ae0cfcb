-- conv_im2col.lua - convolution as one matrix product per image,
-- specialized to one shape: out[K x P] = W[K x CRS] * cols[CRS x P] + bias,
-- P = HO*WO output pixels, CRS = C*R*S taps.
--
-- The column matrix is built tap by tap: for each kernel tap (i, j) the
-- generator knows which output rows and columns see the image, so the
-- copy is a plain loop over exactly those and the zeros around it are
-- written without a test per element. The product is the generated GEMM
-- of lib.gemm: the columns are packed as its B per call, the weights are
-- its A, and C starts as the bias (the GEMM accumulates). Threads
-- (dp_parallel_for) share the rows of the column matrix, the panels of
-- its packing and the blocks of the product; each output is computed by
-- one thread in the same order, so results do not depend on the count.
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

local function emit_im2col(e, d)
	e:line("/* For each tap t = i*S + j, the output rows [y0, y1) and columns")
	e:line(" * [x0, x1) whose input pixel lies inside the image (known here, so")
	e:line(" * the copy tests nothing per element); the rest is zero padding. */")
	e:line("static const struct { int y0, y1, x0, x1; } TAPS[R * S] = {")
	for i = 0, d.r - 1 do
		local row = {}
		for j = 0, d.s - 1 do
			local y0, y1 = valid_range(d.ho, i, d.stride, d.pad_h, d.h)
			local x0, x1 = valid_range(d.wo, j, d.stride, d.pad_w, d.w)
			if x1 <= x0 or y1 <= y0 then y0, y1, x0, x1 = 0, 0, 0, 0 end
			row[#row + 1] = string.format("{ %d, %d, %d, %d }", y0, y1, x0, x1)
		end
		e:line("\t%s,", table.concat(row, ", "))
	end
	e:line("};")
	e:line()
	e:line("/* The column matrix of one image: row c*R*S + t holds, for every")
	e:line(" * output pixel, the input value tap t of channel c multiplies.")
	e:line(" * Rows [begin, end) of it: copies only, shared among threads. */")
	e:line("struct im2col_job { const float *img; float *cols; };")
	e:line()
	e:line("static void im2col_rows(void *ctx, int begin, int end)")
	e:open("{")
	e:line("const struct im2col_job *job = ctx;")
	e:line("const float *restrict img = job->img;")
	e:line("float *restrict cols = job->cols;")
	e:open("for (int ct = begin; ct < end; ct++) {")
	e:line("const int c = ct / (R * S), t = ct % (R * S);")
	e:line("const float *plane = img + c * H * W;")
	e:line("const int i = t / S, j = t % S;")
	e:line("const int y0 = TAPS[t].y0, y1 = TAPS[t].y1;")
	e:line("const int x0 = TAPS[t].x0, x1 = TAPS[t].x1;")
	e:line("float *dst = cols + ct * P;")
	e:line("memset(dst, 0, (size_t)y0 * WO * sizeof(float));")
	e:open("for (int y = y0; y < y1; y++) {")
	e:line("const float *src = plane + (%s) * W;",
		cexpr.affine("y", d.stride, 0) .. " + i - PAD_H")
	e:line("float *row = dst + y * WO;")
	e:line("memset(row, 0, (size_t)x0 * sizeof(float));")
	if d.stride == 1 then
		e:line("memcpy(row + x0, src + x0 + j - PAD_W, (size_t)(x1 - x0) * sizeof(float));")
	else
		e:single("for (int x = x0; x < x1; x++)",
			string.format("row[x] = src[%s + j - PAD_W];", cexpr.affine("x", d.stride, 0)))
	end
	e:line("memset(row + x1, 0, (size_t)(WO - x1) * sizeof(float));")
	e:close("}")
	e:line("memset(dst + y1 * WO, 0, (size_t)(HO - y1) * WO * sizeof(float));")
	e:close("}")
	e:close("}")
	e:line()
	e:line("static void im2col(const float *img, float *cols)")
	e:open("{")
	e:line("struct im2col_job job = { img, cols };")
	e:line("par_for(C * R * S, (double)COLS, im2col_rows, &job);")
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
	e:line("\tSTRIDE = %d, PAD_H = %d, PAD_W = %d,", d.stride, d.pad_h, d.pad_w)
	e:line("\tHO = %d, WO = %d, P = HO * WO,", d.ho, d.wo)
	e:line("\tWEIGHTS = K * C * R * S, COLS = C * R * S * P,")
	e:line("\tPACKED_B = %d, PACKED_A = %d, ALIGN = %d", gemm.packed_b_floats(spec),
		gemm.workspace_floats(spec), gemm.ALIGN_FLOATS)
	e:line("};")
	e:line()
	kernel.align_up(e)
	gemm.emit(e, spec)
	emit_im2col(e, d)
	emit_contract(e)
	kernel.object(e, d, name)
	return e:text()
end

return M
