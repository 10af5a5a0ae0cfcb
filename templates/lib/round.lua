-- lib/round.lua - the rounding code of emulated precisions, emitted as
-- static inline C functions specialized to one format.
--
--   local round = require("lib.round")
--   local f = round.format("bf16")     -- nil for fp32, fp64, int8, int16
--   round.emit_float(e, f)             -- float_bits, bits_float, round_bf16
--   round.emit_fixed(e, 8)             -- fixed_scale, quantize, dequantize
--
-- Every constant is derived here from the format's exponent and mantissa
-- widths; the functions give the same results as runtime/precision.c
-- (dp_round, dp_fixed_scale, dp_fixed_quantize_value, dp_fixed_round) for
-- every input, which tests/t_precision_gen.c checks. The rules (round to
-- nearest even with the format's subnormals, overflow to Inf or, for
-- fp8-e4m3, saturation to +-448, NaN kept and quieted) are those of
-- runtime/precision.h; docs/PRECISION.md says where a kernel rounds.
local M = {}

-- The narrow floating-point formats. `fn`: OCP "E4M3FN" style, no
-- infinities, the all-ones pattern is the only NaN, finite overflow
-- saturates (and an infinite input becomes NaN).
local widths = {
	tf32 = { suffix = "tf32", e = 8, m = 10 },
	bf16 = { suffix = "bf16", e = 8, m = 7 },
	fp16 = { suffix = "fp16", e = 5, m = 10 },
	["fp8-e4m3"] = { suffix = "e4m3", e = 4, m = 3, fn = true },
	["fp8-e5m2"] = { suffix = "e5m2", e = 5, m = 2 },
}

-- The format's properties, all from e and m: what the emitted code and
-- its comments need.
local function derive(name, w)
	local f = { name = name, suffix = w.suffix, e = w.e, m = w.m,
		fn = w.fn or false }
	f.bias = (1 << (w.e - 1)) - 1
	f.emin = 1 - f.bias                 -- exponent of the least normal
	f.emax = ((1 << w.e) - (f.fn and 1 or 2)) - f.bias
	f.drop = 23 - w.m                   -- float mantissa bits below the format's
	f.fast_lo = f.emin + 127            -- float exponent field of 2^emin
	local maxman = (1 << w.m) - (f.fn and 2 or 1)
	f.max_bits = ((f.emax + 127) << 23) | (maxman << f.drop)
	f.fname = "round_" .. w.suffix
	return f
end

-- The format of a precision name, or nil when the precision has no
-- float rounding (fp32: native; fp64: double arithmetic; int8/int16).
function M.format(precision)
	local w = widths[precision]
	return w and derive(precision, w) or nil
end

-- Bits of fixed-point formats, or nil.
function M.fixed_bits(precision)
	return ({ int8 = 8, int16 = 16 })[precision]
end

-- The kind of arithmetic a precision needs: "native" (fp32), "double"
-- (fp64), "float" (a narrow float format, emulated) or "fixed".
function M.kind(precision)
	if precision == "fp32" then return "native" end
	if precision == "fp64" then return "double" end
	if widths[precision] then return "float" end
	if M.fixed_bits(precision) then return "fixed" end
	error("unknown precision " .. tostring(precision), 0)
end

local function hex(v) return string.format("0x%08Xu", v) end
local function hex_small(v) return string.format("0x%Xu", v) end

-- "2^-14": a power of two for comments.
local function pow2(k) return string.format("2^%d", k) end

-- The exact value of float bits, for comments ("65504", "3.3895e+38").
local function bits_value(b)
	local x = string.unpack("<f", string.pack("<I4", b))
	if x == math.floor(x) and x < 1e9 then return string.format("%d", math.floor(x)) end
	return string.format("%.5g", x)
end

-- The value of x (a Lua number) rounded to float, then to format f: the
-- emitted round_<suffix> computed here, on the same bits, so constants
-- can be folded at generation time.
function M.round_number(f, x)
	local a = string.unpack("<I4", string.pack("<f", x))
	local sign = a & 0x80000000
	a = a & 0x7FFFFFFF
	local r
	if a >= 0x7F800000 then
		r = a == 0x7F800000 and not f.fn and a or 0x7FC00000
	else
		local ef = a >> 23
		if ef >= f.fast_lo or f.fast_lo <= 1 then
			local s = f.drop
			r = (a + (1 << (s - 1)) - 1 + ((a >> s) & 1)) & ~((1 << s) - 1)
		elseif ef >= f.fast_lo - f.m then
			local s = f.drop + f.fast_lo - ef
			r = (a + (1 << (s - 1)) - 1 + (((a | 0x800000) >> s) & 1)) & ~((1 << s) - 1)
		else
			local z = f.fast_lo - f.m - 1
			r = (ef == z and a > (z << 23)) and ((z + 1) << 23) or 0
		end
		if r > f.max_bits then r = f.fn and f.max_bits or 0x7F800000 end
	end
	return (string.unpack("<f", string.pack("<I4", sign | r)))
end

-- A C float literal of x rounded to format f: "0.166992188f".
function M.literal(f, x)
	local v = M.round_number(f, x)
	local s = string.format("%.9g", v)
	if not s:find("[%.en]") then s = s .. ".0" end
	return s .. "f"
end

-- float_bits / bits_float: the float's representation through memcpy
-- (no aliasing questions; compiles to a register move). Needs <stdint.h>
-- and <string.h>.
function M.emit_bits(e)
	e:line("/* A float's bits and back, through memcpy (a register move). */")
	e:line("static inline uint32_t float_bits(float x)")
	e:open("{")
	e:line("uint32_t u;")
	e:line("memcpy(&u, &x, sizeof u);")
	e:line("return u;")
	e:close("}")
	e:line()
	e:line("static inline float bits_float(uint32_t u)")
	e:open("{")
	e:line("float x;")
	e:line("memcpy(&x, &u, sizeof x);")
	e:line("return x;")
	e:close("}")
	e:line()
end

-- static inline float round_<suffix>(float x): x rounded to format f.
-- Round to nearest even on the float's bits: add half a quantum minus one
-- plus the parity of the last kept bit, clear the dropped bits; a carry
-- ripples from the mantissa into the exponent, which is what rounding up
-- to the next binade needs. Below the format's least normal the quantum
-- stays 2^(emin - m), so one more bit is dropped per binade (subnormals).
function M.emit_round(e, f)
	local half = (1 << (f.drop - 1)) - 1
	local mask = 0xFFFFFFFF & ~((1 << f.drop) - 1)
	local keep = (((1 << f.m) - 1) << f.drop) & 0x7FFFFF
	local over = f.fn and string.format("saturates to +-%s", bits_value(f.max_bits))
		or "is Inf"
	local lines = {
		string.format("x rounded to %s (1 sign, %d exponent, %d mantissa bits, bias %d),",
			f.name, f.e, f.m, f.bias),
		string.format("as dp_round() of libdpgen: to nearest, ties to even. The %d float",
			f.drop),
		string.format("mantissa bits below %s's last one are dropped, with the carry into",
			f.name),
		"the exponent."
	}
	if f.fast_lo > 1 then
		lines[#lines + 1] = string.format("Below %s (exponent field %d) %s is subnormal, a multiple of %s:",
			pow2(f.emin), f.fast_lo, f.name, pow2(f.emin - f.m))
		lines[#lines + 1] = "one more bit is dropped per binade."
	else
		lines[#lines + 1] = string.format("%s has the float's exponent range, so the float's subnormals",
			f.name)
		lines[#lines + 1] = string.format("round the same way, to multiples of %s.",
			pow2(f.emin - f.m))
	end
	lines[#lines + 1] = string.format("A result above the largest finite, %s (%s), %s.",
		bits_value(f.max_bits), hex(f.max_bits), over)
	if f.fn then
		lines[#lines + 1] = "There is no Inf: Inf and NaN become the NaN S.1111.111 (sign kept)."
	else
		lines[#lines + 1] = string.format("Inf stays Inf; a NaN keeps its top %d payload bits and is quiet.",
			f.m)
	end
	e:comment(lines)
	e:line("static inline float %s(float x)", f.fname)
	e:open("{")
	e:line("const uint32_t u = float_bits(x), a = u & 0x7FFFFFFFu, sign = u & 0x80000000u;")
	if f.fn then
		e:single("if (a >= 0x7F800000u)",
			"return bits_float(sign | 0x7FC00000u);")
	else
		e:single("if (a >= 0x7F800000u)",
			string.format("return a == 0x7F800000u ? x : bits_float(sign | 0x7FC00000u | (a & %s));",
				hex(keep)))
	end
	local normal = string.format("(a + %s + ((a >> %d) & 1u)) & %s",
		hex_small(half), f.drop, hex(mask))
	if f.fast_lo <= 1 then
		e:line("uint32_t r = %s;", normal)
	else
		-- Float exponent fields: fast_lo - m is the binade of the least
		-- subnormal (23 bits dropped), fast_lo - m - 1 the one below, where
		-- only values above its half round up to the least subnormal.
		local sub_lo = f.fast_lo - f.m
		local least = (sub_lo) << 23
		e:line("const uint32_t ef = a >> 23;")
		e:line("uint32_t r;")
		e:open("if (ef >= %d) {", f.fast_lo)
		e:line("r = %s;", normal)
		e:close("} else if (ef >= %d) {", sub_lo)
		e.depth = e.depth + 1
		e:line("/* %d + (%d - ef) bits dropped, at most 23: the parity bit is", f.drop,
			f.fast_lo)
		e:line(" * bit s of the significand (bit 23 is the implicit 1). */")
		e:line("const uint32_t s = %d - ef, half = 1u << (s - 1);", f.drop + f.fast_lo)
		e:line("r = (a + half - 1u + (((a | 0x00800000u) >> s) & 1u)) & ~(2u * half - 1u);")
		e:close("} else {")
		e.depth = e.depth + 1
		e:line("/* Below %s, the least subnormal: zero, or the least subnormal",
			pow2(f.emin - f.m))
		e:line(" * for what lies above its half, %s (exactly half: the even zero). */",
			pow2(f.emin - f.m - 1))
		e:line("r = ef == %d && a > %s ? %s : 0u;", sub_lo - 1, hex((sub_lo - 1) << 23),
			hex(least))
		e:close("}")
	end
	e:single(string.format("if (r > %s)", hex(f.max_bits)),
		string.format("r = %s;", f.fn and hex(f.max_bits) or "0x7F800000u"))
	e:line("return bits_float(sign | r);")
	e:close("}")
	e:line()
end

-- Everything a kernel of format f needs to round: the bit casts and
-- round_<suffix>.
function M.emit_float(e, f)
	M.emit_bits(e)
	M.emit_round(e, f)
end

-- Symmetric fixed point with `bits` bits: fixed_scale (per tensor),
-- quantize, dequantize; the results of dp_fixed_scale,
-- dp_fixed_quantize_value and dp_fixed_dequantize_value (dequantize only
-- when with_dequantize: clang warns about an unused static inline).
function M.emit_fixed(e, bits, with_dequantize)
	local qmax = (1 << (bits - 1)) - 1
	M.emit_bits(e)
	e:line("/* int%d: symmetric, one scale per tensor, values in [-QMAX, QMAX]. */", bits)
	e:line("enum { QMAX = %d };", qmax)
	e:line()
	e:comment({
		"The scale of a tensor of n values, as dp_fixed_scale(): max|x| / QMAX",
		"over the finite values, rounded up to a float so that no value clamps",
		"(s * QMAX >= max|x|; the double product is exact); 0 when no value is",
		"finite and non-zero.",
	})
	e:line("static float fixed_scale(const float *x, size_t n)")
	e:open("{")
	e:line("float amax = 0.0f;")
	e:open("for (size_t i = 0; i < n; i++) {")
	e:line("const uint32_t a = float_bits(x[i]) & 0x7FFFFFFFu;")
	e:single("if (a < 0x7F800000u && bits_float(a) > amax)", "amax = bits_float(a);")
	e:close("}")
	e:single("if (amax == 0.0f)", "return 0.0f;")
	e:line("float s = (float)((double)amax / QMAX);")
	e:single("while ((double)s * QMAX < (double)amax)", "s = bits_float(float_bits(s) + 1u);")
	e:line("return s;")
	e:close("}")
	e:line()
	e:comment({
		"x / s rounded to the nearest integer, ties to even, clamped to",
		"[-QMAX, QMAX], as dp_fixed_quantize_value(): NaN gives 0, +-Inf +-QMAX,",
		"everything 0 when s is 0. The quotient is only a first guess; the",
		"remainder |x| - q s is exact in double, so it decides the ties.",
	})
	e:line("static int32_t quantize(float x, float s)")
	e:open("{")
	e:line("const uint32_t u = float_bits(x), a = u & 0x7FFFFFFFu;")
	e:single("if (a > 0x7F800000u || s == 0.0f)", "return 0;")
	e:line("int32_t q = QMAX;")
	e:open("if (a < 0x7F800000u) {")
	e:line("const double ax = bits_float(a), sd = s, t = ax / sd;")
	e:open("if (t < QMAX + 1.0) {")
	e:line("double q0 = (double)(int32_t)t;   /* floor: t >= 0 */")
	e:line("double r = ax - q0 * sd;")
	e:open("while (r < 0.0) {")
	e:line("q0 -= 1.0;")
	e:line("r += sd;")
	e:close("}")
	e:open("while (r >= sd) {")
	e:line("q0 += 1.0;")
	e:line("r -= sd;")
	e:close("}")
	e:line("q = (int32_t)q0;")
	e:single("if (2.0 * r > sd || (2.0 * r == sd && (q & 1)))", "q++;")
	e:single("if (q > QMAX)", "q = QMAX;")
	e:close("}")
	e:close("}")
	e:line("return u >> 31 ? -q : q;")
	e:close("}")
	e:line()
	if not with_dequantize then return end
	e:line("/* q * s rounded to float, clamped to +-FLT_MAX (dp_fixed_dequantize_value). */")
	e:line("static inline float dequantize(int32_t q, float s)")
	e:open("{")
	e:line("const double v = (double)q * s;   /* exact */")
	e:single("if (v > 0x1.fffffep127)", "return 0x1.fffffep127f;")
	e:single("if (v < -0x1.fffffep127)", "return -0x1.fffffep127f;")
	e:line("return (float)v;")
	e:close("}")
	e:line()
end

return M
