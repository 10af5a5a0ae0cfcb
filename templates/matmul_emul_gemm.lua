-- matmul_emul_gemm.lua - C = A * B at an emulated precision (every
-- precision but fp32), for one M x K x N.
--
-- Summation order (the runtime emulation's contract, runtime/emul_matmul.c,
-- so the two agree bit for bit): the fp32 GEMM's blocking of K, one block
-- when K <= 384, else ceil(K / 256) blocks of equal depth KC (the last one
-- shorter). Each block sums its products in k order from +0; the first
-- block's sum is C, each later one is added to C in order. Products and
-- sums are rounded to the format under policy all; fp32 under acc32 (C
-- rounded once); double at fp64 (C rounded to float once); exact int64 at
-- int8/int16 with one scale per tensor (A per call, B per weights),
-- C = acc * (s_A * s_B) in double, rounded to float.
local emit = require("lib.emit")
local kernel = require("lib.kernel")
local emul = require("lib.emul")

local TM = {}

-- The K depth of the fp32 GEMM's blocks (runtime/matmul_gemm.c's plan).
local function gemm_kc(k)
	if k <= 384 then return k end
	local blocks = (k + 255) // 256
	return (k + blocks - 1) // blocks
end

function TM.generate(d, name)
	local a = emul.arith(d)
	local q = a.kind == "fixed"
	local ety = q and a.qty or "float"
	local e = emit.new()
	kernel.banner(e, d, name, "matrix product, emulated " .. emul.label(d))
	e:line("#include <stddef.h>")
	e:line("#include <stdint.h>")
	e:line("#include <string.h>")
	e:line()
	e:line('#include "%s.h"', name)
	e:line()
	local desc = emul.describe(a)
	if not q then
		desc[#desc + 1] = ""
		desc[#desc + 1] = "C[i][j] sums its K products in k order from +0, in the fp32 GEMM's"
		desc[#desc + 1] = "blocks of K when K > 384 (the order of runtime/emul_matmul.c)."
	end
	e:comment(desc)
	e:line()
	e:line("/* The problem, as constants: C (M x N) = A (M x K) * B (K x N). */")
	if not q and gemm_kc(d.k) < d.k then
		e:line("enum { M = %d, K = %d, N = %d, KC = %d };", d.m, d.k, d.n, gemm_kc(d.k))
	else
		e:line("enum { M = %d, K = %d, N = %d };", d.m, d.k, d.n)
	end
	e:line()
	if q then
		e:line("/* State: B's scale and B quantized, transposed (each output reads a row). */")
		e:line("typedef struct {")
		e:line("\tfloat scale;")
		e:line("\t%s bt[N][K];", ety)
		e:line("} state_t;")
	else
		local how = a.kind == "float" and string.format(" as %s stores it,", a.precision)
			or ","
		e:line("/* State: B%s transposed (each output reads a row). */", how)
		e:line("typedef struct {")
		e:line("\tfloat bt[N][K];")
		e:line("} state_t;")
	end
	e:line()
	emul.emit_prelude(e, a)

	-- dot(a, b): one output.
	if q then
		e:line("/* The exact sum of K integer products. */")
		e:line("static int64_t dot(const %s *restrict x, const %s *restrict y)", ety, ety)
		e:open("{")
		e:line("int64_t acc = 0;")
		e:single("for (int k = 0; k < K; k++)", "acc += (int32_t)x[k] * y[k];")
		e:line("return acc;")
		e:close("}")
	else
		local ty = a.ty
		local xv, yv = "x[k]", "y[k]"
		if a.kind == "double" then xv, yv = "(double)x[k]", "(double)y[k]" end
		local prod = a.mul(xv, yv)
		local kc = gemm_kc(d.k)
		if kc >= d.k then
			e:line("/* One output: the products summed in k order from +0. */")
			e:line("static %s dot(const float *restrict x, const float *restrict y)", ty)
			e:open("{")
			e:line("%s c = 0.0%s;", ty, a.lit)
			e:single("for (int k = 0; k < K; k++)", string.format("c = %s;", a.add("c", prod)))
			e:line("return c;")
			e:close("}")
		else
			e:line("/* The products of one block of n, summed in k order from +0. */")
			e:line("static %s block(const float *restrict x, const float *restrict y, int n)", ty)
			e:open("{")
			e:line("%s c = 0.0%s;", ty, a.lit)
			e:single("for (int k = 0; k < n; k++)", string.format("c = %s;", a.add("c", prod)))
			e:line("return c;")
			e:close("}")
			e:line()
			e:comment({
				string.format("One output: K in blocks of KC = %d, as the fp32 GEMM blocks it;", kc),
				"the block sums added in order.",
			})
			e:line("static %s dot(const float *restrict x, const float *restrict y)", ty)
			e:open("{")
			e:line("%s c = block(x, y, KC);", ty)
			e:single("for (int k0 = KC; k0 < K; k0 += KC)",
				string.format("c = %s;", a.add("c", "block(x + k0, y + k0, K - k0 < KC ? K - k0 : KC)")))
			e:line("return c;")
			e:close("}")
		end
	end
	e:line()

	e:line("static size_t state_bytes(const dp_desc *d)")
	e:open("{")
	e:line("(void)d;")
	e:line("return sizeof(state_t);")
	e:close("}")
	e:line()
	e:line("/* The weights are B (K x N); there is no bias. */")
	e:line("static dp_status prepare(const dp_desc *d, const float *weights,")
	e:line("                         const float *bias, void *state)")
	e:open("{")
	e:line("state_t *st = state;")
	e:line("(void)d;")
	e:line("(void)bias;")
	local val
	if q then
		e:line("st->scale = fixed_scale(weights, (size_t)K * N);")
		val = string.format("(%s)quantize(weights[k * N + j], st->scale)", ety)
	elseif a.kind == "float" then
		val = a.store("weights[k * N + j]")
	else
		val = "weights[k * N + j]"
	end
	e:single("for (int k = 0; k < K; k++)", "for (int j = 0; j < N; j++)")
	e.depth = e.depth + 2
	e:line("st->bt[j][k] = %s;", val)
	e.depth = e.depth - 2
	e:line("return DP_OK;")
	e:close("}")
	e:line()
	if a.kind == "double" then
		e:line("/* No workspace: A is read as it is. */")
	else
		e:line("/* Workspace: A as the format stores it. */")
	end
	e:line("static size_t workspace_bytes(const dp_desc *d)")
	e:open("{")
	e:line("(void)d;")
	if a.kind == "double" then
		e:line("return 0;")
	else
		e:line("return (size_t)M * K * sizeof(%s);", ety)
	end
	e:close("}")
	e:line()
	e:line("static dp_status execute(const dp_desc *d, const void *state,")
	e:line("                         const float *input, float *output,")
	e:line("                         void *workspace)")
	e:open("{")
	e:line("const state_t *st = state;")
	e:line("(void)d;")
	local x
	if q then
		e:line("%s *x = workspace;", ety)
		e:line("const float sa = fixed_scale(input, (size_t)M * K);")
		e:line("const double scale = (double)sa * st->scale;   /* exact */")
		e:single("for (int i = 0; i < M * K; i++)",
			string.format("x[i] = (%s)quantize(input[i], sa);", ety))
		x = "x"
	elseif a.kind == "float" then
		e:line("float *x = workspace;")
		e:single("for (int i = 0; i < M * K; i++)",
			string.format("x[i] = %s;", a.store("input[i]")))
		x = "x"
	else
		e:line("(void)workspace;")
		x = "input"
	end
	local out
	if q then
		out = string.format("(float)((double)dot(%s + i * K, st->bt[j]) * scale)", x)
	elseif a.kind == "double" then
		out = string.format("(float)dot(%s + i * K, st->bt[j])", x)
	elseif a.policy == "acc32" then
		out = a.store(string.format("dot(%s + i * K, st->bt[j])", x))
	else
		out = string.format("dot(%s + i * K, st->bt[j])", x)
	end
	e:single("for (int i = 0; i < M; i++)", "for (int j = 0; j < N; j++)")
	e.depth = e.depth + 2
	e:line("output[i * N + j] = %s;", out)
	e.depth = e.depth - 2
	e:line("return DP_OK;")
	e:close("}")
	e:line()
	kernel.object(e, d, name)
	return e:text()
end

return TM
