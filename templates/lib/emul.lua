-- lib/emul.lua - what the emulated-precision templates share: the
-- arithmetic of one precision and policy as C expression builders, the
-- file prelude (no FMA contraction, the rounding functions) and the
-- pairwise channel sum of docs/PRECISION.md.
--
--   local emul = require("lib.emul")
--   local a = emul.arith(d)      -- a.kind: "float", "double" or "fixed"
--   a.mul("x", "w")  -> "round_bf16(x * w)" (policy all) or "x * w"
--   a.add("s", "p")  -> "round_bf16(s + p)" (policy all) or "s + p"
--   a.store("x")     -> "round_bf16(x)": an operand as stored
local round = require("lib.round")

local M = {}

-- The arithmetic of d.precision under d.policy.
function M.arith(d)
	local kind = round.kind(d.precision)
	assert(kind ~= "native", "emul: fp32 kernels are not emulated")
	local a = { kind = kind, precision = d.precision, policy = d.policy }
	local function id(x) return x end
	if kind == "float" then
		local f = round.format(d.precision)
		local R = function(x) return string.format("%s(%s)", f.fname, x) end
		a.fmt, a.R, a.ty, a.lit = f, R, "float", "f"
		a.store = R
		if d.policy == "acc32" then
			-- Products of two stored values are exact in fp32 (at most 11
			-- significant bits each); sums are fp32; the output is rounded.
			a.mul = function(x, y) return x .. " * " .. y end
			a.add = function(x, y) return x .. " + " .. y end
			a.transform_result = R
		else
			a.mul = function(x, y) return R(x .. " * " .. y) end
			a.add = function(x, y) return R(x .. " + " .. y) end
			a.sub = function(x, y) return R(x .. " - " .. y) end
			a.transform_result = id
		end
		a.output = function(s, b) return R(s .. " + " .. b) end
	elseif kind == "double" then
		a.ty, a.lit, a.store, a.transform_result = "double", "", id, id
		a.mul = function(x, y) return x .. " * " .. y end
		a.add = function(x, y) return x .. " + " .. y end
		a.output = function(s, b) return string.format("(float)(%s + %s)", s, b) end
	else
		a.bits = round.fixed_bits(d.precision)
		a.qty = string.format("int%d_t", a.bits)
		a.ty, a.lit = "double", ""
		-- Transforms of dequantized values compute in double.
		a.mul = function(x, y) return x .. " * " .. y end
		a.add = function(x, y) return x .. " + " .. y end
	end
	a.sub = a.sub or function(x, y) return x .. " - " .. y end
	return a
end

-- A one-line description of the arithmetic, for the file's comments.
function M.describe(a)
	if a.kind == "double" then
		return {
			"Emulated fp64 (docs/PRECISION.md): every operation in double on the",
			"float inputs, the output rounded to float once.",
		}
	elseif a.kind == "fixed" then
		return {
			string.format("Emulated int%d (docs/PRECISION.md): input and weights quantized,", a.bits),
			"symmetric, one scale per tensor (as dp_fixed_scale and",
			"dp_fixed_quantize_value of libdpgen), products and sums exact in",
			"int64, the output acc * s_x * s_w in double, rounded to float, plus",
			"the float bias.",
		}
	elseif a.policy == "acc32" then
		return {
			string.format("Emulated %s, policy acc32 (docs/PRECISION.md): operands (and", a.precision),
			string.format("transformed operands) are stored in %s, products and sums are", a.precision),
			string.format("fp32, the output is rounded to %s.", a.precision),
		}
	end
	return {
		string.format("Emulated %s, policy all (docs/PRECISION.md): operands are stored in", a.precision),
		string.format("%s and every product and sum is rounded to it.", a.precision),
	}
end

-- What every emulated file has before its constants: the contraction
-- switch and the rounding code. Needs <stdint.h> and <string.h>.
function M.emit_prelude(e, a, with_dequantize)
	e:line("/* Each product and sum is rounded on its own: no fused multiply-add")
	e:line(" * (clang fuses within an expression by default, gcc in GNU C mode). */")
	e:line("#if defined(__clang__)")
	e:line("#pragma STDC FP_CONTRACT OFF")
	e:line("#elif defined(__GNUC__)")
	e:line('#pragma GCC optimize("fp-contract=off")')
	e:line("#endif")
	e:line()
	if a.kind == "float" then
		round.emit_float(e, a.fmt)
	elseif a.kind == "fixed" then
		round.emit_fixed(e, a.bits, with_dequantize)
	end
end

-- static inline T channel_sum(const T *t): the n partial sums combined
-- pairwise, P(c0, n) = P(c0, h) + P(c0 + h, n - h), h = n / 2, each + in
-- the policy's arithmetic. Straight-line for small n, else recursive.
-- stride: a C expression, the distance between the partials (default 1).
function M.emit_pairwise(e, a, n, fname, stride)
	fname = fname or "channel_sum"
	local ty = a.ty
	local function at(c)
		if not stride or c == 0 then return string.format("t[%d]", stride and 0 or c) end
		if c == 1 then return string.format("t[%s]", stride) end
		return string.format("t[%d * %s]", c, stride)
	end
	e:comment({
		string.format("The %d channel partials t[%s] combined pairwise (docs/PRECISION.md):",
			n, stride and ("c * " .. stride) or "c"),
		"P(c0, n) = n == 1 ? t[c0] : P(c0, h) + P(c0 + h, n - h), h = n / 2.",
	})
	if n > 16 then
		local step = stride and ("h * " .. stride) or "h"
		e:line("static %s %s_of(const %s *t, int n)", ty, fname, ty)
		e:open("{")
		e:single("if (n == 1)", "return t[0];")
		e:line("const int h = n / 2;")
		e:line("return %s;", a.add(fname .. "_of(t, h)",
			string.format("%s_of(t + %s, n - h)", fname, step)))
		e:close("}")
		e:line()
		e:line("static inline %s %s(const %s *t)", ty, fname, ty)
		e:open("{")
		e:line("return %s_of(t, %d);", fname, n)
		e:close("}")
		e:line()
		return
	end
	e:line("static inline %s %s(const %s *t)", ty, fname, ty)
	e:open("{")
	if n == 1 then e:line("return t[0];") end
	-- Temporaries p<first>_<count>, in evaluation order (left half first).
	local function tree(c0, cnt)
		if cnt == 1 then return at(c0) end
		local h = cnt // 2
		local l, r = tree(c0, h), tree(c0 + h, cnt - h)
		if c0 == 0 and cnt == n then
			e:line("return %s;", a.add(l, r))
			return nil
		end
		local v = string.format("p%d_%d", c0, cnt)
		e:line("const %s %s = %s;", ty, v, a.add(l, r))
		return v
	end
	if n > 1 then tree(0, n) end
	e:close("}")
	e:line()
end

-- The precision's suffix for file comments: "bf16", "bf16 (acc32)".
function M.label(d)
	if d.policy and d.policy ~= "all" then
		return string.format("%s (%s)", d.precision, d.policy)
	end
	return d.precision
end

return M
