-- matmul_emul_gemm.lua - C = A * B at an emulated precision (every
-- precision but fp32), for one M x K x N.
--
-- Summation order (docs/PRECISION.md, Matmul, gemm; the runtime emulation
-- runtime/emul_matmul.c follows it too, so the two agree bit for bit):
-- the fp32 GEMM's blocking of K, one block when K <= 384, else
-- ceil(K / 256) blocks of equal depth KC (the last one shorter). Each
-- block sums its products in k order from +0; the first block's sum is C,
-- each later one is added to C in order. Products and sums are rounded to
-- the format under policy all; fp32 under acc32 (C rounded once); double
-- at fp64 (C rounded to float once); exact int64 at int8/int16 with one
-- scale per tensor (A per call, B per weights), C = acc * (s_A * s_B) in
-- double, rounded to float.
--
-- A row of C at a time: for each k, A[i][k] times row k of B updates the
-- N sums of the row, so the inner loop runs along a row of B and the N
-- independent rounding chains overlap; each sum still sees its products
-- in k order.
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

local function emit_types(e, d, a, blocked)
	local q = a.kind == "fixed"
	if blocked then
		e:line("/* The problem, as constants: C (M x N) = A (M x K) * B (K x N); K in")
		e:line(" * blocks of KC, as the fp32 GEMM splits it. */")
		e:line("enum { M = %d, K = %d, N = %d, KC = %d };", d.m, d.k, d.n, gemm_kc(d.k))
	else
		e:line("/* The problem, as constants: C (M x N) = A (M x K) * B (K x N). */")
		e:line("enum { M = %d, K = %d, N = %d };", d.m, d.k, d.n)
	end
	e:line()
	if q then
		e:line("/* State: B's scale and B quantized. */")
		e:line("typedef struct {")
		e:line("\tfloat scale;")
		e:line("\t%s b[K][N];", a.qty)
		e:line("} state_t;")
		e:line()
		e:line("/* Workspace: the exact sums of one row of C; A quantized. */")
		e:line("typedef struct {")
		e:line("\tint64_t acc[N];")
		e:line("\t%s a[M][K];", a.qty)
		e:line("} work_t;")
	else
		local how = a.kind == "float" and string.format(" as %s stores it", a.precision)
			or ""
		e:line("/* State: B%s. */", how)
		e:line("typedef struct {")
		e:line("\tfloat b[K][N];")
		e:line("} state_t;")
		e:line()
		if a.kind == "float" then
			e:line("/* Workspace: A as %s stores it; the sums of one row of C%s. */",
				a.precision, blocked and " (of a block, and in all)" or "")
		else
			e:line("/* Workspace: the sums of one row of C%s. */",
				blocked and " (of a block, and in all)" or "")
		end
		e:line("typedef struct {")
		if a.kind == "float" then e:line("\tfloat a[M][K];") end
		e:line("\t%s t[N]%s;", a.ty, blocked and ", c[N]" or "")
		e:line("} work_t;")
	end
	e:line()
end

-- block_row: t[j] = the products of row a with columns j of B, k0 <= k < k1,
-- summed in k order from +0.
local function emit_block_row(e, a)
	e:comment({
		"t[j] = sum over k0 <= k < k1 of a[k] B[k][j], in k order from +0, for",
		"the N columns j at once.",
	})
	e:line("static void block_row(const float *restrict a, const float b[K][N], int k0, int k1,")
	e:line("                      %s *restrict t)", a.ty)
	e:open("{")
	e:line("memset(t, 0, N * sizeof *t);   /* +0 */")
	e:open("for (int k = k0; k < k1; k++) {")
	local bv = "b[k][j]"
	if a.kind == "double" then
		e:line("const double ak = a[k];")
		bv = "(double)b[k][j]"
	else
		e:line("const float ak = a[k];")
	end
	e:single("for (int j = 0; j < N; j++)",
		string.format("t[j] = %s;", a.add("t[j]", a.mul("ak", bv))))
	e:close("}")
	e:close("}")
	e:line()
end

local function emit_contract(e, a, blocked)
	local q = a.kind == "fixed"
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
	e:line("%s *b = &st->b[0][0];", q and a.qty or "float")
	e:line("(void)d;")
	e:line("(void)bias;")
	if q then
		e:line("st->scale = fixed_scale(weights, (size_t)K * N);")
		e:single("for (int i = 0; i < K * N; i++)",
			string.format("b[i] = (%s)quantize(weights[i], st->scale);", a.qty))
	else
		e:single("for (int i = 0; i < K * N; i++)",
			string.format("b[i] = %s;", a.kind == "float" and a.store("weights[i]")
				or "weights[i]"))
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
	e:line("static dp_status execute(const dp_desc *d, const void *state,")
	e:line("                         const float *input, float *output,")
	e:line("                         void *workspace)")
	e:open("{")
	e:line("const state_t *st = state;")
	e:line("work_t *ws = workspace;")
	e:line("(void)d;")
	if q then
		e:line("%s *qa = &ws->a[0][0];", a.qty)
		e:line("const float sa = fixed_scale(input, (size_t)M * K);")
		e:line("const double scale = (double)sa * st->scale;   /* exact */")
		e:single("for (int i = 0; i < M * K; i++)",
			string.format("qa[i] = (%s)quantize(input[i], sa);", a.qty))
		e:open("for (int i = 0; i < M; i++) {")
		e:line("memset(ws->acc, 0, sizeof ws->acc);")
		e:open("for (int k = 0; k < K; k++) {")
		e:line("const int32_t ak = ws->a[i][k];")
		e:single("for (int j = 0; j < N; j++)", "ws->acc[j] += ak * st->b[k][j];")
		e:close("}")
		e:single("for (int j = 0; j < N; j++)",
			"output[i * N + j] = (float)((double)ws->acc[j] * scale);")
		e:close("}")
	else
		local arow
		if a.kind == "float" then
			e:line("/* A as %s stores it. */", a.precision)
			e:line("float *as = &ws->a[0][0];")
			e:single("for (int i = 0; i < M * K; i++)",
				string.format("as[i] = %s;", a.store("input[i]")))
			arow = "ws->a[i]"
		else
			arow = "input + i * K"
		end
		local final = function(v)
			if a.kind == "double" then return "(float)" .. v end
			if a.policy == "acc32" then return a.store(v) end
			return v
		end
		e:open("for (int i = 0; i < M; i++) {")
		if blocked then
			e:line("block_row(%s, st->b, 0, KC, ws->c);", arow)
			e:open("for (int k0 = KC; k0 < K; k0 += KC) {")
			e:line("block_row(%s, st->b, k0, k0 + KC < K ? k0 + KC : K, ws->t);", arow)
			e:single("for (int j = 0; j < N; j++)",
				string.format("ws->c[j] = %s;", a.add("ws->c[j]", "ws->t[j]")))
			e:close("}")
			e:single("for (int j = 0; j < N; j++)",
				string.format("output[i * N + j] = %s;", final("ws->c[j]")))
		else
			e:line("block_row(%s, st->b, 0, K, ws->t);", arow)
			e:single("for (int j = 0; j < N; j++)",
				string.format("output[i * N + j] = %s;", final("ws->t[j]")))
		end
		e:close("}")
	end
	e:line("return DP_OK;")
	e:close("}")
	e:line()
end

function TM.generate(d, name)
	local a = emul.arith(d)
	local q = a.kind == "fixed"
	local blocked = not q and gemm_kc(d.k) < d.k
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
		desc[#desc + 1] = "blocks of K when K > 384 (docs/PRECISION.md, Matmul, gemm)."
	end
	e:comment(desc)
	e:line()
	emit_types(e, d, a, blocked)
	emul.emit_prelude(e, a)
	if not q then emit_block_row(e, a) end
	emit_contract(e, a, blocked)
	kernel.object(e, d, name)
	return e:text()
end

return TM
