-- matmul_lns.lua - log-domain accumulation (US 2021/0056446) specialized
-- to one M x K x N, F fractional bits, accumulator width W and B bin bits.
-- Each product's log e = q 2^F + r (r = e mod 2^F) adds
-- +-(2^F + r_lo) << (q + O - F) (truncated toward zero when the shift is
-- negative) into the W-bit accumulator of bin r_hi = r >> (F - B); with
-- B = F, r_lo = 0 and that is +-1 << (q + O). O = W / 2 is the fixed
-- offset: the accumulators have O fractional bits, so negative q works. At
-- the end sum_bin 2^(bin 2^(F-B) / 2^F) acc[bin] 2^-O is rounded to the
-- nearest LNS value (midpoints in the linear domain) and returned as
-- float. Overflow is detected, never wrapped: the output becomes +-Inf.
-- The same arithmetic as runtime/matmul_log.c, bit for bit; docs/LNS.md
-- explains the method with a worked example.
local emit = require("lib.emit")
local kernel = require("lib.kernel")
local logt = require("matmul_log")

local M = {}

local function emit_state(e, d)
	local w = d.acc_bits
	e:line("enum { MM_M = %d, MM_K = %d, MM_N = %d };", d.m, d.k, d.n)
	e:comment({
		"F fractional bits of the logs; B of them choose one of BINS bins",
		"(B < F: the Mitchell variant, the low F - B bits become a factor",
		"1 + r_lo / 2^F); W-bit accumulators with O = W / 2 fractional bits.",
	})
	e:line("enum { F = %d, B = %d, BINS = 1 << B, W = %d, O = %d };",
		d.frac_bits, d.bin_bits, w, w // 2)
	if w == 64 then
		e:line("#define ACC_MAX INT64_MAX")
	else
		e:line("#define ACC_MAX ((INT64_C(1) << (W - 1)) - 1)")
	end
	e:line("#define ACC_MIN (-ACC_MAX - 1)")
	e:line()
	e:line("/* Per weights: the bin constants, B transposed as logs and classes. */")
	e:open("typedef struct state_t {")
	e:line("double tab[BINS];")
	e:line("int32_t e[MM_N * MM_K];")
	e:line("uint8_t c[MM_N * MM_K];")
	e:close("} state_t;")
	e:line()
	e:line("/* Per call: the accumulators of one output, one row of A. */")
	e:open("typedef struct ws_t {")
	e:line("int64_t acc[BINS];")
	e:line("int32_t e[MM_K];")
	e:line("uint8_t c[MM_K];")
	e:close("} ws_t;")
	e:line()
end

local function emit_helpers(e)
	e:comment({
		"acc[bin] +-= m << sh (m >> -sh, truncated, if sh < 0); 1 <= m < 2^13.",
		"A result outside [ACC_MIN, ACC_MAX] sets *up or *down and leaves the",
		"accumulator as it was: overflow is detected, never wrapped.",
	})
	e:line("static void add(int64_t *acc, int64_t m, int sh, int neg, int *up,")
	e:line("                int *down)")
	e:open("{")
	e:line("int64_t v, sum;")
	e:line("if (sh < 0)")
	e:line("\tv = sh <= -63 ? 0 : m >> -sh;")
	e:line("else if (64 - __builtin_clzll((unsigned long long)m) + sh > 63)")
	e:line("\tv = -1;   /* m << sh >= 2^63: too big for any accumulator */")
	e:line("else")
	e:line("\tv = m << sh;")
	e:line("if (v < 0 || v > ACC_MAX ||")
	e:line("    (neg ? __builtin_sub_overflow(*acc, v, &sum)")
	e:line("         : __builtin_add_overflow(*acc, v, &sum)) ||")
	e:open("    sum > ACC_MAX || sum < ACC_MIN) {")
	e:line("*(neg ? down : up) = 1;")
	e:line("return;")
	e:close("}")
	e:line("*acc = sum;")
	e:close("}")
	e:line()
	e:comment({
		"Round s != 0 to the nearest 2^(E / 2^F): E with 2^(E/2^F) <= |s| <",
		"2^((E+1)/2^F), then |s| against the midpoint of the two, in the",
		"linear domain (a tie goes up).",
	})
	e:line("static double lns_round(double s)")
	e:open("{")
	e:line("if (s == 0)")
	e:line("\treturn s;")
	e:line("const double a = fabs(s), scale = ldexp(1.0, F);")
	e:line("int64_t e = (int64_t)floor(log2(a) * scale);")
	e:line("while (exp2((double)(e + 1) / scale) <= a)")
	e:line("\te++;")
	e:line("while (exp2((double)e / scale) > a)")
	e:line("\te--;")
	e:line("const double lo = exp2((double)e / scale);")
	e:line("const double hi = exp2((double)(e + 1) / scale);")
	e:line("return copysign(a < 0.5 * (lo + hi) ? lo : hi, s);")
	e:close("}")
	e:line()
end

local function emit_contract(e)
	e:line("static size_t state_bytes(const dp_desc *d)")
	e:open("{")
	e:line("(void)d;")
	e:line("return sizeof(state_t);")
	e:close("}")
	e:line()
	e:line("/* The constant of bin i: 2^(r / 2^F) at its lowest remainder r. */")
	e:line("static dp_status prepare(const dp_desc *d, const float *weights,")
	e:line("                         const float *bias, void *state)")
	e:open("{")
	e:line("(void)d;")
	e:line("(void)bias;")
	e:line("state_t *st = state;")
	e:line("for (int i = 0; i < BINS; i++)")
	e:line("\tst->tab[i] = exp2((double)((int64_t)i << (F - B)) / ldexp(1.0, F));")
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
	logt.dot_loop(e, function(x)
		x:line("/* e = q 2^F + r, offset so the shifts see e >= 0 */")
		x:line("const uint64_t eb = (uint64_t)((int64_t)ws->e[p] + bt_e[p] +")
		x:line("                               ((int64_t)1024 << F));")
		x:line("const int q = (int)(eb >> F) - 1024;")
		x:line("const uint32_t r = (uint32_t)eb & ((1u << F) - 1);")
		x:line("const int64_t m = ((int64_t)1 << F) + (r & ((1u << (F - B)) - 1));")
		x:line("add(&ws->acc[r >> (F - B)], m, q + O - F, neg, &up, &down);")
	end, {
		init = function(x)
			x:line("int up = 0, down = 0;")
			x:line("memset(ws->acc, 0, sizeof ws->acc);")
		end,
		store = function(x)
			x:line("pos |= up;")
			x:line("neg_inf |= down;")
			x:open("if (nan || pos || neg_inf) {")
			x:line("output[i * MM_N + j] = special_value(nan, pos, neg_inf);")
			x:line("continue;")
			x:close("}")
			x:line("double sum = 0;")
			x:line("for (int bin = 0; bin < BINS; bin++)")
			x:line("\tsum += st->tab[bin] * (double)ws->acc[bin];")
			x:line("output[i * MM_N + j] = (float)lns_round(ldexp(sum, -O));")
		end,
	})
	e:line("return DP_OK;")
	e:close("}")
	e:line()
end

function M.generate(d, name)
	local e = emit.new()
	kernel.banner(e, d, name, string.format(
		"log-domain accumulation, %d fractional bits, %d-bit bins, %d-bit " ..
		"accumulators", d.frac_bits, d.bin_bits, d.acc_bits))
	e:line("#include <math.h>")
	e:line("#include <stdint.h>")
	e:line("#include <string.h>")
	e:line()
	e:line('#include "%s.h"', name)
	e:line()
	emit_state(e, d)
	logt.common(e, false)
	emit_helpers(e)
	emit_contract(e)
	kernel.object(e, d, name)
	return e:text()
end

return M
