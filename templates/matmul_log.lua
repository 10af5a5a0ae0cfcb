-- matmul_log.lua - the log-domain matmul specialized to one M x K x N and
-- F fractional bits (or exact float logs): each operand becomes a class
-- (zero, finite, inf, nan), a sign and log2|x| (a float, or the integer
-- round(log2|x| * 2^F)); a product is the sum of the logs and the xor of
-- the signs, converted back to linear in double and rounded to float; the
-- products are summed in float in the order p = 0..K-1. The same
-- arithmetic as runtime/matmul_log.c, with the sizes and F built in, so
-- the two agree bit for bit. Special values: see that file.
--
-- M.common(e) emits the helpers matmul_lns.lua shares.
local emit = require("lib.emit")
local kernel = require("lib.kernel")

local M = {}

-- Classes and signs, special values, and the encoding of a matrix.
function M.common(e, exact)
	e:line("/* Class of a value in the low 2 bits, its sign in bit 2. */")
	e:line("enum { CLS_ZERO = 0, CLS_FIN = 1, CLS_INF = 2, CLS_NAN = 3, NEG = 4 };")
	e:line()
	e:line("static uint8_t classify(float x)")
	e:open("{")
	e:line("const uint8_t s = signbit(x) ? NEG : 0;")
	e:line("if (isnan(x))")
	e:line("\treturn CLS_NAN;")
	e:line("if (isinf(x))")
	e:line("\treturn (uint8_t)(CLS_INF | s);")
	e:line("return (uint8_t)((x == 0.0f ? CLS_ZERO : CLS_FIN) | s);")
	e:close("}")
	e:line()
	e:line("/* The class of a product (as IEEE: NaN wins, Inf * 0 is NaN). */")
	e:line("static int product_class(int ca, int cb)")
	e:open("{")
	e:line("if (ca == CLS_NAN || cb == CLS_NAN)")
	e:line("\treturn CLS_NAN;")
	e:line("if (ca == CLS_INF || cb == CLS_INF)")
	e:line("\treturn ca == CLS_ZERO || cb == CLS_ZERO ? CLS_NAN : CLS_INF;")
	e:line("return ca == CLS_ZERO || cb == CLS_ZERO ? CLS_ZERO : CLS_FIN;")
	e:close("}")
	e:line()
	e:line("/* An output reached by NaN, or by +Inf and -Inf, is NaN; else +-Inf. */")
	e:line("static float special_value(int nan, int pos, int neg)")
	e:open("{")
	e:line("if (nan || (pos && neg))")
	e:line("\treturn NAN;")
	e:line("return pos ? INFINITY : -INFINITY;")
	e:close("}")
	e:line()
	e:comment({
		"out[j * rows + p] = the log and class of x[p * stride + j]: B",
		"transposed (so each dot product reads contiguous memory), or one row",
		"of A (rows = 1). " .. (exact and "The log is log2f, its bits kept in an int32."
			or "The log is round(log2|x| * 2^F), computed in double."),
	})
	e:line("static void encode(const float *x, int rows, int cols, int stride,")
	e:line("                   int32_t *out_e, uint8_t *out_c)")
	e:open("{")
	e:open("for (int p = 0; p < rows; p++) {")
	e:open("for (int j = 0; j < cols; j++) {")
	e:line("const float v = x[p * stride + j];")
	e:line("const int o = j * rows + p;")
	e:line("out_c[o] = classify(v);")
	e:line("out_e[o] = 0;")
	e:line("if ((out_c[o] & 3) != CLS_FIN)")
	e:line("\tcontinue;")
	if exact then
		e:line("const float l = log2f(fabsf(v));")
		e:line("memcpy(&out_e[o], &l, sizeof l);")
	else
		e:line("out_e[o] = (int32_t)lrint(ldexp(log2(fabs((double)v)), F));")
	end
	e:close("}")
	e:close("}")
	e:close("}")
	e:line()
end

-- The loop over outputs; body(e) emits the handling of one finite product
-- (cls, neg, ea = ar_e[p], eb = bt_e[p] in scope) and finish(e) the store.
function M.dot_loop(e, body, finish)
	e:open("for (int i = 0; i < MM_M; i++) {")
	e:line("encode(input + i * MM_K, 1, MM_K, 0, ws->e, ws->c);")
	e:open("for (int j = 0; j < MM_N; j++) {")
	e:line("const int32_t *bt_e = st->e + j * MM_K;")
	e:line("const uint8_t *bt_c = st->c + j * MM_K;")
	e:line("int nan = 0, pos = 0, neg_inf = 0;")
	finish.init(e)
	e:open("for (int p = 0; p < MM_K; p++) {")
	e:line("const int cls = product_class(ws->c[p] & 3, bt_c[p] & 3);")
	e:line("const int neg = ((ws->c[p] ^ bt_c[p]) & NEG) != 0;")
	e:open("if (cls == CLS_NAN) {")
	e:line("nan = 1;")
	e:close("} else if (cls == CLS_INF) {")
	e.depth = e.depth + 1
	e:line("*(neg ? &neg_inf : &pos) = 1;")
	e:close("} else if (cls == CLS_FIN) {")
	e.depth = e.depth + 1
	body(e)
	e:close("}")
	e:close("}")
	finish.store(e)
	e:close("}")
	e:close("}")
end

local function emit_state(e, d, exact)
	e:line("enum { MM_M = %d, MM_K = %d, MM_N = %d };", d.m, d.k, d.n)
	if not exact then
		e:line("/* F fractional bits; 2^(r / 2^F) = hi[r >> LO] * lo[r & (2^LO - 1)]. */")
		e:line("enum { F = %d, LO = %d };", d.frac_bits, d.frac_bits // 2)
	end
	e:line()
	e:line("/* Per weights: %sB transposed, as logs and classes. */",
		exact and "" or "the tables of 2^(r / 2^F), ")
	e:open("typedef struct state_t {")
	if not exact then
		e:line("double hi[1 << (F - LO)], lo[1 << LO];")
	end
	e:line("int32_t e[MM_N * MM_K];")
	e:line("uint8_t c[MM_N * MM_K];")
	e:close("} state_t;")
	e:line()
	e:line("/* Per call: one row of A, as logs and classes. */")
	e:open("typedef struct ws_t {")
	e:line("int32_t e[MM_K];")
	e:line("uint8_t c[MM_K];")
	e:close("} ws_t;")
	e:line()
end

local function emit_product(e, exact)
	if exact then
		e:line("/* A product of two finite nonzero values: 2^(la + lb) in float. */")
		e:line("static float product(int32_t ea, int32_t eb)")
		e:open("{")
		e:line("float la, lb;")
		e:line("memcpy(&la, &ea, sizeof la);")
		e:line("memcpy(&lb, &eb, sizeof lb);")
		e:line("return exp2f(la + lb);")
		e:close("}")
		e:line()
		return
	end
	e:comment({
		"A product of two finite nonzero values: e = ea + eb = q 2^F + r, and",
		"2^(e / 2^F) = hi * lo * 2^q in double (2^q from the exponent bits:",
		"|q| <= 298), rounded to float.",
	})
	e:line("static float product(const state_t *st, int32_t ea, int32_t eb)")
	e:open("{")
	e:line("const uint64_t eb1 = (uint64_t)((int64_t)ea + eb + ((int64_t)1024 << F));")
	e:line("const int q = (int)(eb1 >> F) - 1024;")
	e:line("const uint64_t r = eb1 & ((UINT64_C(1) << F) - 1);")
	e:line("const uint64_t bits = (uint64_t)(q + 1023) << 52;")
	e:line("double scale;")
	e:line("memcpy(&scale, &bits, sizeof scale);")
	e:line("return (float)(st->hi[r >> LO] * st->lo[r & ((UINT64_C(1) << LO) - 1)] * scale);")
	e:close("}")
	e:line()
end

local function emit_contract(e, exact)
	e:line("static size_t state_bytes(const dp_desc *d)")
	e:open("{")
	e:line("(void)d;")
	e:line("return sizeof(state_t);")
	e:close("}")
	e:line()
	e:line("static dp_status prepare(const dp_desc *d, const float *weights,")
	e:line("                         const float *bias, void *state)")
	e:open("{")
	e:line("(void)d;")
	e:line("(void)bias;")
	e:line("state_t *st = state;")
	if not exact then
		e:line("for (int r = 0; r < 1 << (F - LO); r++)")
		e:line("\tst->hi[r] = exp2((double)((int64_t)r << LO) * ldexp(1.0, -F));")
		e:line("for (int r = 0; r < 1 << LO; r++)")
		e:line("\tst->lo[r] = exp2((double)r * ldexp(1.0, -F));")
	end
	e:line("encode(weights, MM_K, MM_N, MM_N, st->e, st->c);")
	e:line("return DP_OK;")
	e:close("}")
	e:line()
	e:line("static size_t workspace_bytes(const dp_desc *d)")
	e:open("{")
	e:line("(void)d;")
	e:line("return sizeof(ws_t);")
	e:close("}")
	e:line()
	e:line("static dp_status execute(const dp_desc *d, const void *state,")
	e:line("                         const float *input, float *output,")
	e:line("                         void *workspace)")
	e:open("{")
	e:line("(void)d;")
	e:line("const state_t *st = state;")
	e:line("ws_t *ws = workspace;")
	M.dot_loop(e, function(x)
		x:line("const float v = product(%sws->e[p], bt_e[p]);",
			exact and "" or "st, ")
		x:line("sum += neg ? -v : v;")
	end, {
		init = function(x) x:line("float sum = 0.0f;") end,
		store = function(x)
			x:line("output[i * MM_N + j] = nan || pos || neg_inf ?")
			x:line("\tspecial_value(nan, pos, neg_inf) : sum;")
		end,
	})
	e:line("return DP_OK;")
	e:close("}")
	e:line()
end

function M.generate(d, name)
	local exact = d.frac_bits < 0
	local e = emit.new()
	kernel.banner(e, d, name, exact and
		"log-domain products (float logs), linear sums" or
		string.format("log-domain products (%d fractional bits), linear sums",
			d.frac_bits))
	e:line("#include <math.h>")
	e:line("#include <stdint.h>")
	e:line("#include <string.h>")
	e:line()
	e:line('#include "%s.h"', name)
	e:line()
	emit_state(e, d, exact)
	M.common(e, exact)
	emit_product(e, exact)
	emit_contract(e, exact)
	kernel.object(e, d, name)
	return e:text()
end

return M
